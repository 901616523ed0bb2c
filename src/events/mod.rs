//! The change feed beyond the store: the live stream that WatchEvents
//! serves, fed by this process's commits and by polling for other
//! processes' events.

pub mod feed;
mod tail;

/// Events read from the database at a time, by a watcher or the tail.
const PAGE: u64 = 100;
