//! Browser origins: requests that carry an `Origin` header (browsers, through
//! gRPC-Web) are served only for the origins on the allow-list. Other gRPC
//! clients send no `Origin` and are not affected.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{HeaderValue, Request, Response};
use tonic::body::Body;
use tower::{Layer, Service};

/// Adds [`Origin`] to a service.
#[derive(Debug, Clone)]
pub struct OriginLayer {
    allowed: Arc<[HeaderValue]>,
}

impl OriginLayer {
    /// Serves browsers from exactly these origins (none, by default).
    pub fn new(allowed: Vec<HeaderValue>) -> Self {
        Self {
            allowed: allowed.into(),
        }
    }
}

impl<S> Layer<S> for OriginLayer {
    type Service = Origin<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Origin {
            inner,
            allowed: self.allowed.clone(),
        }
    }
}

/// Refuses requests from origins not on the allow-list.
#[derive(Debug, Clone)]
pub struct Origin<S> {
    inner: S,
    allowed: Arc<[HeaderValue]>,
}

impl<S> Service<Request<Body>> for Origin<S>
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
        let refused = request
            .headers()
            .get(http::header::ORIGIN)
            .is_some_and(|origin| !self.allowed.contains(origin));
        if refused {
            return Box::pin(async {
                Ok(
                    tonic::Status::permission_denied("requests from this origin are not allowed")
                        .into_http(),
                )
            });
        }
        Box::pin(self.inner.call(request))
    }
}
