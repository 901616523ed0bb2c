//! The live change feed. One task per server tracks the newest committed
//! event: it wakes on this process's own commits at once, and polls for
//! events other processes commit to the same database. Each watcher reads
//! the events it has not seen from the database, page by page, at its own
//! pace, and waits when it has caught up. Nothing is buffered per watcher
//! beyond a small channel, so a slow watcher costs nothing but its cursor,
//! and it never loses an event: it catches up from the database.

use std::{sync::Arc, time::Duration};

use tokio::{
    sync::{Semaphore, mpsc, watch},
    time::Instant,
};
use tokio_stream::wrappers::ReceiverStream;

use crate::{domain::event::Event, error::Error, store::Store};

/// Events read from the database at a time by one watcher.
const PAGE: u64 = 100;
/// Messages waiting for one watcher's client; the reader waits beyond it.
const WATCHER_BUFFER: usize = 32;
/// Watchers reading the database at once. However many watchers there are,
/// they never take more pooled connections than this from requests.
const CONCURRENT_READS: usize = 2;

/// One message of a watch stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    Event(Box<Event>),
    /// Nothing new for a while; the feed has been read up to here.
    Heartbeat {
        read_sequence: i64,
    },
}

/// How the feed behaves.
#[derive(Debug, Clone, Copy)]
pub struct FeedOptions {
    /// How often to look for events committed by other processes.
    pub poll_interval: Duration,
    /// How long a watch stream may stay silent before a heartbeat.
    pub heartbeat_interval: Duration,
}

/// The live feed of one server; cheap to clone.
#[derive(Debug, Clone)]
pub struct EventFeed {
    store: Store,
    newest: watch::Receiver<i64>,
    heartbeat_interval: Duration,
    reads: Arc<Semaphore>,
}

impl EventFeed {
    /// Starts tracking the newest event; the tracking stops, and every watch
    /// stream ends, when `stop` changes or is dropped.
    pub fn start(store: Store, options: FeedOptions, stop: watch::Receiver<()>) -> Self {
        let (newest_sender, newest) = watch::channel(0);
        tokio::spawn(track_newest(
            store.clone(),
            newest_sender,
            options.poll_interval,
            stop,
        ));
        Self {
            store,
            newest,
            heartbeat_interval: options.heartbeat_interval,
            reads: Arc::new(Semaphore::new(CONCURRENT_READS)),
        }
    }

    /// Every event after `after_sequence` (of `types`, when not empty), then
    /// each new one as it commits: in sequence order, no gap, no repeat.
    /// The stream ends with an error when the server stops or the database
    /// fails; a client resumes after the last sequence it saw.
    ///
    /// A stream opened with a key (`key_id`) ends with UNAUTHENTICATED once
    /// the key is revoked: at once when this process revoked it, and within
    /// a heartbeat interval when another did.
    pub fn watch(
        &self,
        after_sequence: i64,
        types: Vec<String>,
        key_id: Option<String>,
    ) -> ReceiverStream<Result<FeedItem, Error>> {
        let (sender, receiver) = mpsc::channel(WATCHER_BUFFER);
        tokio::spawn(serve_watcher(
            Watcher {
                store: self.store.clone(),
                newest: self.newest.clone(),
                reads: self.reads.clone(),
                heartbeat_interval: self.heartbeat_interval,
                types,
                key_id,
                sender,
            },
            after_sequence,
        ));
        ReceiverStream::new(receiver)
    }
}

/// Keeps `newest` at the newest committed sequence number.
async fn track_newest(
    store: Store,
    newest: watch::Sender<i64>,
    poll_interval: Duration,
    mut stop: watch::Receiver<()>,
) {
    let mut commits = store.subscribe_commits();
    loop {
        match store.last_event_sequence().await {
            Ok(last) => {
                metrics::gauge!("event_feed_newest_sequence").set(last as f64);
                newest.send_if_modified(|known| {
                    let moved = last > *known;
                    *known = (*known).max(last);
                    moved
                });
            }
            Err(error) => tracing::warn!(%error, "reading the newest event failed"),
        }
        tokio::select! {
            changed = commits.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(poll_interval) => {}
            _ = stop.changed() => return,
        }
    }
}

/// What one watch stream needs.
struct Watcher {
    store: Store,
    newest: watch::Receiver<i64>,
    reads: Arc<Semaphore>,
    heartbeat_interval: Duration,
    types: Vec<String>,
    /// The key the stream was opened with, checked again on revocations.
    key_id: Option<String>,
    sender: mpsc::Sender<Result<FeedItem, Error>>,
}

/// Streams the feed to one watcher from `cursor` on.
async fn serve_watcher(watcher: Watcher, mut cursor: i64) {
    let Watcher {
        store,
        mut newest,
        reads,
        heartbeat_interval,
        types,
        key_id,
        sender,
    } = watcher;
    let mut revocations = store.subscribe_revocations();
    let _counted = WatcherGauge::new();
    // A heartbeat goes out when nothing was sent for a whole interval, however
    // busy the feed is with events this watcher's filter skips.
    let mut last_sent = Instant::now();
    loop {
        let known = *newest.borrow_and_update();
        if known > cursor {
            // How far behind the newest commit this watcher is: events the
            // server has that it has not yet read for it.
            metrics::histogram!("event_feed_lag_events").record((known - cursor) as f64);
            let page = {
                let Ok(_permit) = reads.acquire().await else {
                    return;
                };
                store.list_events_until(cursor, known, &types, PAGE).await
            };
            let page = match page {
                Ok(page) => page,
                Err(error) => {
                    let _ = sender.send(Err(error)).await;
                    return;
                }
            };
            let complete = (page.len() as u64) < PAGE;
            for event in page {
                cursor = event.sequence;
                // Waits while the client is slow; fails once it is gone.
                let item = FeedItem::Event(Box::new(event));
                if sender.send(Ok(item)).await.is_err() {
                    return;
                }
                last_sent = Instant::now();
            }
            // Every event up to `known` is committed (sequence order is
            // commit order), so a short page has read all of them, including
            // those the type filter skipped.
            if complete {
                cursor = known;
            }
            continue;
        }
        tokio::select! {
            changed = newest.changed() => {
                if changed.is_err() {
                    let _ = sender
                        .send(Err(Error::Unavailable(format!(
                            "the server is shutting down; resume after sequence {cursor}"
                        ))))
                        .await;
                    return;
                }
            }
            Ok(()) = revocations.changed() => {
                if !key_still_live(&store, key_id.as_deref(), &sender).await {
                    return;
                }
            }
            () = tokio::time::sleep_until(last_sent + heartbeat_interval) => {
                // Keys revoked by other processes are noticed here.
                if !key_still_live(&store, key_id.as_deref(), &sender).await {
                    return;
                }
                let beat = FeedItem::Heartbeat { read_sequence: cursor };
                if sender.send(Ok(beat)).await.is_err() {
                    return;
                }
                last_sent = Instant::now();
            }
            () = sender.closed() => return,
        }
    }
}

/// Whether the stream's key (if it has one) still works; when it does not,
/// the stream is told why.
async fn key_still_live(
    store: &Store,
    key_id: Option<&str>,
    sender: &mpsc::Sender<Result<FeedItem, Error>>,
) -> bool {
    let Some(key_id) = key_id else {
        return true;
    };
    let refusal = match store.key_is_live(key_id).await {
        Ok(true) => return true,
        Ok(false) => {
            Error::Unauthenticated("the key this stream was opened with was revoked".into())
        }
        Err(error) => error,
    };
    let _ = sender.send(Err(refusal)).await;
    false
}

/// Counts a watch stream in `event_feed_watchers` while it lives.
struct WatcherGauge;

impl WatcherGauge {
    fn new() -> Self {
        metrics::gauge!("event_feed_watchers").increment(1.0);
        WatcherGauge
    }
}

impl Drop for WatcherGauge {
    fn drop(&mut self) {
        metrics::gauge!("event_feed_watchers").decrement(1.0);
    }
}
