//! newsdesk: a gRPC content-management service for newsrooms.
//!
//! - `api/`: thin tonic handlers (validate, convert proto <-> domain, call the store).
//! - `domain/`: pure rules: who may do what, the workflow, text normalisation, slugs,
//!   validation, paging tokens, etags.
//! - `store/`: sea-orm entities and queries; the only module that sees sea_orm.
//! - `server/`: the tonic server, its tower stack, health and reflection; `config`: the
//!   command line; `keys`: `newsdesk keys`, API keys made straight in the database.
//! - `scheduler`: the task that publishes scheduled articles when they fall due.
//! - `events/`: the live change feed behind WatchEvents; `shares`: group commit for shares.
//! - `middleware/`: the tower layers (authentication, rate limits, deadlines, tracing and
//!   metrics, origins); `telemetry`: log output.
//! - `error`: the one error type and its mapping to `tonic::Status`.

pub mod api;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod keys;
pub mod middleware;
pub mod proto;
pub mod scheduler;
pub mod server;
pub mod shares;
pub mod store;
pub mod telemetry;

pub use error::Error;
