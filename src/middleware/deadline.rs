//! Deadlines: a request runs until the client's `grpc-timeout` or the
//! server's maximum, whichever comes first. Past it the request is dropped,
//! so its open transaction rolls back and nothing of it is written, and the
//! answer is DEADLINE_EXCEEDED, with the request id like every other answer.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use http::{HeaderMap, Request, Response};
use tonic::body::Body;
use tower::{Layer, Service};

use crate::store::deadline;

/// Adds [`Deadline`] to a service.
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    max: Duration,
}

impl DeadlineLayer {
    /// Requests without a shorter `grpc-timeout` get `max`.
    pub fn new(max: Duration) -> Self {
        Self { max }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline {
            inner,
            max: self.max,
        }
    }
}

/// Cuts a request off at its deadline.
#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    max: Duration,
}

impl<S> Service<Request<Body>> for Deadline<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let budget = time_allowed(request.headers(), self.max);
        let deadline = std::time::Instant::now() + budget;
        // The database learns the deadline too: a write still waiting for a
        // lock then stops waiting and rolls back, instead of holding its
        // locks after the answer said nothing was kept.
        let response = deadline::within(deadline, self.inner.call(request));
        Box::pin(async move {
            match tokio::time::timeout(budget, response).await {
                Ok(answered) => answered,
                Err(_) => Ok(tonic::Status::deadline_exceeded(format!(
                    "the request did not finish within {budget:?}; nothing of it was kept"
                ))
                .into_http()),
            }
        })
    }
}

/// How long a request with `headers` may run. tonic's server also watches
/// `grpc-timeout`, outside this layer, and answers CANCELLED when it passes;
/// finishing a millisecond sooner makes the answer this layer's.
fn time_allowed(headers: &HeaderMap, max: Duration) -> Duration {
    match headers
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_grpc_timeout)
    {
        Some(asked) if asked < max => asked.saturating_sub(Duration::from_millis(1)),
        _ => max,
    }
}

/// A `grpc-timeout` value: up to eight digits and a unit (gRPC over HTTP/2).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let split = value.len().checked_sub(1)?;
    let (digits, unit) = value.split_at(split);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_are_read_in_every_unit_and_nonsense_is_ignored() {
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_grpc_timeout("9n"), Some(Duration::from_nanos(9)));
        for bad in ["", "S", "123456789S", "5s", "-5S", "5 S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_shorter_of_the_client_and_server_limits_applies() {
        let max = Duration::from_secs(30);
        let mut headers = HeaderMap::new();
        assert_eq!(time_allowed(&headers, max), max);
        headers.insert("grpc-timeout", "300m".parse().expect("a header value"));
        assert_eq!(time_allowed(&headers, max), Duration::from_millis(299));
        headers.insert("grpc-timeout", "1H".parse().expect("a header value"));
        assert_eq!(time_allowed(&headers, max), max);
    }
}
