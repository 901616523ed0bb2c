//! The tower layers every request passes through; `server.rs` stacks them in
//! one `ServiceBuilder`, in the order they must run.

pub mod auth;
pub mod observe;
pub mod origin;
pub mod rate_limit;
