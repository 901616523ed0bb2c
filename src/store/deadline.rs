//! The deadline of the request a write serves, as far as the database must
//! know it. On PostgreSQL a write's COMMIT can wait for its turn in the event
//! log's order (migration 7 numbers events inside COMMIT), and a request cut
//! off at its deadline must leave nothing behind: so the COMMIT (and the
//! change's last statement, which may wait for row locks) is told to stop
//! waiting, and roll back, before the request's time is up. (One that
//! got its turn just in time can still finish just after, as any COMMIT in
//! flight can.)

use std::{
    future::Future,
    time::{Duration, Instant},
};

tokio::task_local! {
    static DEADLINE: Instant;
}

/// How long before the deadline the database stops waiting: time for a
/// COMMIT that did finish to be answered before the request is cut off.
const ANSWER_MARGIN: Duration = Duration::from_millis(20);

/// Runs `request` with writes held to `deadline` (the request layer's).
pub async fn within<F: Future>(deadline: Instant, request: F) -> F::Output {
    DEADLINE.scope(deadline, request).await
}

/// How long the COMMIT of a write in the current request may take, at the
/// least a millisecond; `None` outside a request (the scheduler's writes,
/// which have no deadline).
pub(super) fn commit_time_left() -> Option<Duration> {
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
        assert_eq!(commit_time_left(), None);
    }

    #[tokio::test]
    async fn a_write_in_a_request_leaves_the_margin_to_answer() {
        let deadline = Instant::now() + Duration::from_secs(2);
        let left = within(deadline, async { commit_time_left() })
            .await
            .expect("a deadline inside the request");
        assert!(left <= Duration::from_secs(2) - ANSWER_MARGIN, "{left:?}");
        assert!(left > Duration::from_secs(1), "{left:?}");
    }

    #[tokio::test]
    async fn a_request_past_its_deadline_gives_the_commit_a_millisecond() {
        let passed = Instant::now();
        let left = within(passed, async { commit_time_left() }).await;
        assert_eq!(left, Some(Duration::from_millis(1)));
    }
}
