//! Rate limits (governor): per API key, and per client IP for anonymous
//! writes (CreateComment, RecordShare), the public internet's way in. A
//! refusal is RESOURCE_EXHAUSTED with a `google.rpc.RetryInfo` saying when
//! to try again. Runs after authentication, which names the caller.

use std::{
    future::Future,
    net::IpAddr,
    num::NonZeroU32,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use http::{Request, Response};
use tonic::{
    body::Body,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};
use tower::{Layer, Service};

use crate::{domain::access::Principal, error::Error};

/// The RPCs anonymous callers write with, limited per client IP.
const ANONYMOUS_WRITES: [&str; 2] = [
    "/newsdesk.v1.CommentService/CreateComment",
    "/newsdesk.v1.ShareService/RecordShare",
];

/// How fast callers may go; `None` turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitOptions {
    /// Requests per second for each API key (the burst is one second's worth).
    pub per_key_per_second: Option<NonZeroU32>,
    /// Anonymous writes per minute for each client IP (the burst is one
    /// minute's worth).
    pub anonymous_writes_per_minute: Option<NonZeroU32>,
}

/// Adds [`RateLimit`] to a service. The limiters are shared by every
/// connection's copy of the service.
#[derive(Clone)]
pub struct RateLimitLayer {
    per_key: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    anonymous_writes: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
}

impl RateLimitLayer {
    pub fn new(options: RateLimitOptions) -> Self {
        Self {
            per_key: options
                .per_key_per_second
                .map(|rate| Arc::new(RateLimiter::keyed(Quota::per_second(rate)))),
            anonymous_writes: options
                .anonymous_writes_per_minute
                .map(|rate| Arc::new(RateLimiter::keyed(Quota::per_minute(rate)))),
        }
    }
}

impl std::fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("per_key", &self.per_key.is_some())
            .field("anonymous_writes", &self.anonymous_writes.is_some())
            .finish()
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            limits: self.clone(),
        }
    }
}

/// Refuses callers over their limit.
#[derive(Debug, Clone)]
pub struct RateLimit<S> {
    inner: S,
    limits: RateLimitLayer,
}

impl<S> Service<Request<Body>> for RateLimit<S>
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
        if let Some(refusal) = self.limits.refusal(&request) {
            return Box::pin(async move { Ok(tonic::Status::from(refusal).into_http()) });
        }
        Box::pin(self.inner.call(request))
    }
}

impl RateLimitLayer {
    /// The error for a request over its caller's limit, if it is.
    fn refusal(&self, request: &Request<Body>) -> Option<Error> {
        let outcome = match request.extensions().get::<Principal>() {
            Some(Principal::Key { key_id, .. }) => self.per_key.as_ref()?.check_key(key_id),
            _ if ANONYMOUS_WRITES.contains(&request.uri().path()) => self
                .anonymous_writes
                .as_ref()?
                .check_key(&peer_ip(request)?),
            _ => return None,
        };
        let not_until = outcome.err()?;
        Some(Error::ResourceExhausted {
            message: "too many requests; slow down".into(),
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
    }
}

/// The client's address, over plain TCP or TLS.
fn peer_ip(request: &Request<Body>) -> Option<IpAddr> {
    let extensions = request.extensions();
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|tls| tls.get_ref().remote_addr())
        })
        .map(|address| address.ip())
}
