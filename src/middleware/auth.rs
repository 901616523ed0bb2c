//! Authentication and the first authorisation check: the layer finds who is
//! calling from `authorization: Bearer <token>` and refuses, before the
//! request runs, a caller whose role the RPC's rule does not admit
//! (`domain::access`). It leaves the caller in the request's extensions for
//! the handlers' object-level checks.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{HeaderMap, Request, Response};
use tonic::body::Body;
use tower::{Layer, Service};

use crate::{
    domain::{
        access::{Denial, Principal, REFLECTION_PREFIX, admit, rule_for},
        key::is_well_formed_token,
    },
    error::Error,
    store::Store,
};

/// Adds [`Auth`] to a service.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    store: Store,
}

impl AuthLayer {
    /// Looks keys up in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            store: self.store.clone(),
        }
    }
}

/// Finds the caller and refuses what the caller's role may not call.
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    store: Store,
}

impl<S> Service<Request<Body>> for Auth<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The service that was polled ready goes into the future, and a fresh
        // clone stays for the next poll_ready (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let store = self.store.clone();
        Box::pin(async move {
            let principal = match authenticate(&store, request.headers()).await {
                Ok(principal) => principal,
                Err(status) => return Ok(status.into_http()),
            };
            let path = request.uri().path();
            match rule_for(path) {
                Some(rule) => {
                    if let Err(denial) = admit(rule, &principal) {
                        return Ok(refusal(denial).into_http());
                    }
                }
                // Reflection describes the API and is public when served.
                None if path.starts_with(REFLECTION_PREFIX) => {}
                // Fail closed: an RPC nobody wrote a rule for is not served.
                None => {
                    return Ok(
                        tonic::Status::unimplemented(format!("{path} is not served")).into_http(),
                    );
                }
            }
            request.extensions_mut().insert(principal);
            inner.call(request).await
        })
    }
}

/// The caller a request's headers name: anonymous without `authorization`,
/// a key's principal with a valid bearer token, and UNAUTHENTICATED for
/// anything else: a malformed header, a token of the wrong shape, an unknown
/// or revoked key.
async fn authenticate(store: &Store, headers: &HeaderMap) -> Result<Principal, tonic::Status> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(Principal::Anonymous);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| is_well_formed_token(token));
    let refused = || {
        tonic::Status::from(Error::Unauthenticated(
            "the bearer token is not a valid API key".into(),
        ))
    };
    let Some(token) = token else {
        return Err(refused());
    };
    match store.principal_for_token(token).await {
        Ok(Some(principal)) => Ok(principal),
        Ok(None) => Err(refused()),
        Err(error) => Err(tonic::Status::from(error)),
    }
}

/// The answer to a caller the rule does not admit. The rule alone never
/// hides a resource (object checks do, later), so NOT_FOUND does not arise.
fn refusal(denial: Denial) -> tonic::Status {
    tonic::Status::from(Error::refused(denial, "the resource"))
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use crate::{domain::access::RULES, proto};

    /// Every method of every service the server registers, as a gRPC path.
    fn served_paths() -> Vec<String> {
        let mut paths = Vec::new();
        for encoded in [
            proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ] {
            let set = prost_types::FileDescriptorSet::decode(encoded).expect("a descriptor set");
            for file in set.file {
                for service in &file.service {
                    for method in &service.method {
                        paths.push(format!(
                            "/{}.{}/{}",
                            file.package(),
                            service.name(),
                            method.name()
                        ));
                    }
                }
            }
        }
        paths.sort();
        paths
    }

    #[test]
    fn the_rule_table_names_every_served_rpc_and_nothing_else() {
        let mut ruled: Vec<String> = RULES.iter().map(|(path, _)| (*path).to_owned()).collect();
        ruled.sort();
        assert_eq!(ruled, served_paths());
    }
}
