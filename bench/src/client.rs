//! Clients that carry the benchmark's admin key (writes and the newsroom's
//! view); readers' calls go without one, as the public's do.

use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

/// A connection whose calls carry a bearer token.
pub type Authorized = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer <token>` to each call.
#[derive(Debug, Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

impl Bearer {
    /// The header for `token`.
    pub fn new(token: &str) -> anyhow::Result<Self> {
        Ok(Self(MetadataValue::try_from(format!("Bearer {token}"))?))
    }
}

/// `channel`, with `token` on every call.
pub fn authorized(channel: Channel, token: &str) -> anyhow::Result<Authorized> {
    Ok(InterceptedService::new(channel, Bearer::new(token)?))
}
