//! Rate limits (governor): per API key, and per client IP for anonymous
//! writes (CreateComment, RecordShare), the public internet's way in. A
//! refusal is RESOURCE_EXHAUSTED with a `google.rpc.RetryInfo` saying when
//! to try again. Runs after authentication, which names the caller.

use std::{
    future::Future,
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    pin::Pin,
    sync::{Arc, Weak},
    task::{Context, Poll},
    time::Duration,
};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use http::{Request, Response};
use tonic::body::Body;
use tower::{Layer, Service};

use super::peer_address;
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
    /// Limiters for `options`. Must be called within a Tokio runtime: a task
    /// forgets callers whose quota has refilled, so that the limiters' memory
    /// follows the callers of the last minute, not every caller ever seen.
    pub fn new(options: RateLimitOptions) -> Self {
        let layer = Self {
            per_key: options
                .per_key_per_second
                .map(|rate| Arc::new(RateLimiter::keyed(Quota::per_second(rate)))),
            anonymous_writes: options
                .anonymous_writes_per_minute
                .map(|rate| Arc::new(RateLimiter::keyed(Quota::per_minute(rate)))),
        };
        let per_key = layer.per_key.as_ref().map(Arc::downgrade);
        let anonymous_writes = layer.anonymous_writes.as_ref().map(Arc::downgrade);
        if per_key.is_some() || anonymous_writes.is_some() {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(FORGET_INTERVAL);
                loop {
                    tick.tick().await;
                    let per_key = per_key.as_ref().map(Weak::upgrade);
                    let anonymous_writes = anonymous_writes.as_ref().map(Weak::upgrade);
                    // Ends once the server, and with it the layer, is gone.
                    if matches!(per_key, Some(None)) || matches!(anonymous_writes, Some(None)) {
                        return;
                    }
                    if let Some(Some(limiter)) = per_key {
                        limiter.retain_recent();
                    }
                    if let Some(Some(limiter)) = anonymous_writes {
                        limiter.retain_recent();
                    }
                }
            });
        }
        layer
    }
}

/// How often the limiters forget callers whose quota is full again.
const FORGET_INTERVAL: Duration = Duration::from_secs(60);

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
                .check_key(&client_network(peer_address(request)?.ip())),
            _ => return None,
        };
        let not_until = outcome.err()?;
        Some(Error::ResourceExhausted {
            message: "too many requests; slow down".into(),
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
    }
}

/// Whom an address limits: an IPv4 address, or an IPv6 address's /64 (one
/// subscriber's network hands out a whole /64, so single addresses would
/// give one client 2^64 quotas).
fn client_network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_limited_by_its_network_and_ipv4_by_its_address() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("an address");
        let same_network: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("an address");
        let other_network: IpAddr = "2001:db8:1:3::1".parse().expect("an address");
        assert_eq!(client_network(one), client_network(same_network));
        assert_ne!(client_network(one), client_network(other_network));
        let v4: IpAddr = "203.0.113.7".parse().expect("an address");
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().expect("an address");
        assert_eq!(client_network(v4), v4);
        assert_eq!(client_network(mapped), v4);
    }
}
