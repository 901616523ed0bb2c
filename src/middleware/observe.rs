//! One span and one log line per RPC (method, peer, request id, status code,
//! latency), and the request metrics: counts by method and code, latency
//! histograms, requests in flight.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use http::{Request, Response};
use tonic::body::Body;
use tower::{Layer, Service};
use tracing::Instrument;

use super::peer_address;
use crate::domain::access::{REFLECTION_PREFIX, rule_for};

/// Adds [`Observe`] to a service.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObserveLayer;

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe { inner }
    }
}

/// Traces and measures every request.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
}

impl<S> Service<Request<Body>> for Observe<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let method = method_label(request.uri().path());
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(|id| id.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let peer = peer_address(&request)
            .map(|address| address.to_string())
            .unwrap_or_default();
        let span = tracing::info_span!("rpc", %method, %peer, %request_id);
        let mut in_flight = InFlight::start(method);
        let response = self.inner.call(request);
        Box::pin(
            async move {
                let result = response.await;
                // Errors come back trailers-only, with `grpc-status` in the
                // headers; a success carries it in the trailers, after the
                // body, so no status header means OK (or a stream under way).
                let code = match &result {
                    Ok(response) => response
                        .headers()
                        .get("grpc-status")
                        .and_then(|code| code.to_str().ok())
                        .and_then(|code| code.parse::<i32>().ok())
                        .map_or("OK", |code| code_name(tonic::Code::from_i32(code))),
                    Err(_) => "INTERNAL",
                };
                in_flight.finish(code);
                result
            }
            .instrument(span),
        )
    }
}

/// One request from start to answer. A request dropped before it is
/// answered (its deadline passed, or the client went away) is counted and
/// logged as CANCELLED when the guard drops, so that nothing leaks from the
/// in-flight gauge.
struct InFlight {
    method: String,
    started: Instant,
    finished: bool,
}

impl InFlight {
    fn start(method: String) -> Self {
        metrics::gauge!("grpc_requests_in_flight").increment(1.0);
        Self {
            method,
            started: Instant::now(),
            finished: false,
        }
    }

    fn finish(&mut self, code: &'static str) {
        self.finished = true;
        let latency = self.started.elapsed();
        metrics::gauge!("grpc_requests_in_flight").decrement(1.0);
        metrics::counter!("grpc_requests_total", "method" => self.method.clone(), "code" => code)
            .increment(1);
        metrics::histogram!("grpc_request_duration_seconds", "method" => self.method.clone())
            .record(latency.as_secs_f64());
        tracing::info!(
            code,
            latency_ms = latency.as_secs_f64() * 1e3,
            "rpc finished"
        );
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.finished {
            self.finish("CANCELLED");
        }
    }
}

/// The method a request calls, as logs and metrics name it: a path the
/// server serves, or `unknown`, so that made-up paths cannot grow the
/// metrics without bound.
fn method_label(path: &str) -> String {
    if rule_for(path).is_some() || path.starts_with(REFLECTION_PREFIX) {
        path.to_owned()
    } else {
        "unknown".to_owned()
    }
}

/// The gRPC name of a code, as logs and metrics label it.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
