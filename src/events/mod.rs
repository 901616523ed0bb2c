//! The change feed beyond the store: the live stream that WatchEvents
//! serves, fed by this process's commits and by polling for other
//! processes' events.

pub mod feed;
