//! The deadline of the request a write serves, as far as the database must
//! know it. On PostgreSQL a change's last statement, the events' insert, can
//! wait for locks (the log's order lock, and the rows of writes folded into
//! it), and a request cut off at its deadline must leave nothing behind and
//! hold nothing: so that statement is told to stop waiting, and roll back,
//! before the request's time is up.

use std::{
    future::Future,
    time::{Duration, Instant},
};

tokio::task_local! {
    static DEADLINE: Instant;
}

/// How long before the deadline the database stops waiting: time for a
/// write that did finish to be answered before the request is cut off.
const ANSWER_MARGIN: Duration = Duration::from_millis(20);

/// Runs `request` with writes held to `deadline` (the request layer's).
pub async fn within<F: Future>(deadline: Instant, request: F) -> F::Output {
    DEADLINE.scope(deadline, request).await
}

/// How long a write in the current request may still wait, at the least a
/// millisecond; `None` outside a request (the scheduler's writes,
/// which have no deadline).
pub(super) fn write_time_left() -> Option<Duration> {
    DEADLINE
        .try_with(|deadline| {
            deadline
                .saturating_duration_since(Instant::now())
                .saturating_sub(ANSWER_MARGIN)
                .max(Duration::from_millis(1))
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_outside_any_request_has_no_deadline() {
        assert_eq!(write_time_left(), None);
    }

    #[tokio::test]
    async fn a_write_in_a_request_leaves_the_margin_to_answer() {
        let deadline = Instant::now() + Duration::from_secs(2);
        let left = within(deadline, async { write_time_left() })
            .await
            .expect("a deadline inside the request");
        assert!(left <= Duration::from_secs(2) - ANSWER_MARGIN, "{left:?}");
        assert!(left > Duration::from_secs(1), "{left:?}");
    }

    #[tokio::test]
    async fn a_request_past_its_deadline_gives_the_commit_a_millisecond() {
        let passed = Instant::now();
        let left = within(passed, async { write_time_left() }).await;
        assert_eq!(left, Some(Duration::from_millis(1)));
    }
}
