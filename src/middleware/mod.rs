//! The tower layers every request passes through; `server/stack.rs` stacks
//! them in one `ServiceBuilder`, in the order they must run.

pub mod auth;
pub mod deadline;
pub mod observe;
pub mod origin;
pub mod rate_limit;
