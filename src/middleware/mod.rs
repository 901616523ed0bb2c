//! The tower layers every request passes through; `server/stack.rs` stacks
//! them in one `ServiceBuilder`, in the order they must run.

pub mod auth;
pub mod deadline;
pub mod observe;
pub mod origin;
pub mod rate_limit;

use std::net::SocketAddr;

use http::Request;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// The client's address, over plain TCP or TLS.
fn peer_address<B>(request: &Request<B>) -> Option<SocketAddr> {
    let extensions = request.extensions();
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|tls| tls.get_ref().remote_addr())
        })
}
