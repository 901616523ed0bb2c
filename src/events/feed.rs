//! The live change feed's watchers. Each one first reads what it has not
//! seen from the database, page by page, at its own pace; once it has caught
//! up with the tail (see `tail`) it takes events from the tail's broadcast.
//! A watcher that falls too far behind the broadcast (a slow client) goes
//! back to the database, so it never loses an event, and the tail never
//! waits for it.

use std::{sync::Arc, time::Duration};

use tokio::{
    sync::{Semaphore, broadcast, mpsc, watch},
    time::Instant,
};
use tokio_stream::wrappers::ReceiverStream;

use super::{
    PAGE,
    tail::{NOT_STARTED, Tail, Tailed},
};
use crate::{domain::event::Event, error::Error, store::Store};

/// Messages waiting for one watcher's client; the watcher waits beyond it.
const WATCHER_BUFFER: usize = 32;
/// Watchers reading the database at once. However many watchers there are,
/// they never take more pooled connections than this from requests.
const CONCURRENT_READS: usize = 2;

/// One message of a watch stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    /// Shared by every watcher the tail handed it to.
    Event(Arc<Event>),
    /// Nothing new for a while; the feed has been read up to here.
    Heartbeat { read_sequence: i64 },
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
    tail: Tail,
    heartbeat_interval: Duration,
    reads: Arc<Semaphore>,
}

impl EventFeed {
    /// Starts the tail; it stops, and every watch stream ends, when `stop`
    /// changes or is dropped.
    pub fn start(store: Store, options: FeedOptions, stop: watch::Receiver<()>) -> Self {
        let tail = Tail::start(store.clone(), options.poll_interval, stop);
        Self {
            store,
            tail,
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
                tail: self.tail.clone(),
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

/// What one watch stream needs.
struct Watcher {
    store: Store,
    tail: Tail,
    reads: Arc<Semaphore>,
    heartbeat_interval: Duration,
    types: Vec<String>,
    /// The key the stream was opened with, checked again on revocations.
    key_id: Option<String>,
    sender: mpsc::Sender<Result<FeedItem, Error>>,
}

impl Watcher {
    fn wants(&self, event: &Event) -> bool {
        self.types.is_empty() || self.types.contains(&event.event_type)
    }

    /// Sends `item`; `false` when the client is gone.
    async fn send(&self, item: FeedItem) -> bool {
        self.sender.send(Ok(item)).await.is_ok()
    }
}

/// Why a watcher stopped reading from the broadcast.
enum Live {
    /// The client is gone, or the stream was ended with an error.
    Ended,
    /// The broadcast moved on without it: catch up from the database.
    FellBehind,
}

/// Streams the feed to one watcher from `cursor` on.
async fn serve_watcher(watcher: Watcher, mut cursor: i64) {
    let _counted = WatcherGauge::new();
    let mut revocations = watcher.store.subscribe_revocations();
    let mut moved = watcher.tail.moved.clone();
    // The tail starts once the database answers; a client is not kept
    // waiting in silence for longer than a heartbeat.
    let starting = tokio::time::sleep(watcher.heartbeat_interval);
    tokio::pin!(starting);
    while *moved.borrow_and_update() == NOT_STARTED {
        tokio::select! {
            changed = moved.changed() => if changed.is_err() {
                shutting_down(&watcher, cursor).await;
                return;
            },
            () = &mut starting => {
                let _ = watcher
                    .sender
                    .send(Err(Error::Unavailable(format!(
                        "the change feed cannot read the log yet; resume after sequence {cursor}"
                    ))))
                    .await;
                return;
            }
            () = watcher.sender.closed() => return,
        }
    }
    // A heartbeat goes out when nothing was sent for a whole interval, however
    // busy the feed is with events this watcher's filter skips.
    let mut last_sent = Instant::now();
    loop {
        // Every event after `reached` reaches this receiver.
        let (mut live, reached) = watcher.tail.subscribe();
        if reached > cursor {
            // Only a watcher that follows the broadcast holds a receiver, so
            // that the broadcast keeps nothing for one reading the database.
            drop(live);
            // How far behind the tail this watcher is.
            metrics::histogram!("event_feed_lag_events").record((reached - cursor) as f64);
            match catch_up(&watcher, &mut cursor, reached, &mut last_sent).await {
                Ok(true) => continue,
                Ok(false) => return,
                Err(error) => {
                    let _ = watcher.sender.send(Err(error)).await;
                    return;
                }
            }
        }
        match follow(
            &watcher,
            &mut live,
            &mut cursor,
            &mut last_sent,
            &mut revocations,
            &mut moved,
        )
        .await
        {
            Live::Ended => return,
            Live::FellBehind => {}
        }
    }
}

/// Reads one page of missed events from the database; `Ok(false)` when the
/// client is gone.
async fn catch_up(
    watcher: &Watcher,
    cursor: &mut i64,
    until: i64,
    last_sent: &mut Instant,
) -> Result<bool, Error> {
    let page = {
        let Ok(_permit) = watcher.reads.acquire().await else {
            return Ok(false);
        };
        watcher
            .store
            .list_events_until(*cursor, until, &watcher.types, PAGE)
            .await?
    };
    let complete = (page.len() as u64) < PAGE;
    for event in page {
        *cursor = event.sequence;
        // Waits while the client is slow; fails once it is gone.
        if !watcher.send(FeedItem::Event(Arc::new(event))).await {
            return Ok(false);
        }
        *last_sent = Instant::now();
    }
    // A short page has read everything up to `until`, including what the
    // type filter skipped.
    if complete {
        *cursor = until;
    }
    Ok(true)
}

/// Hands the broadcast's events to the client until it falls behind or
/// the stream ends, with heartbeats and revocation checks on the way.
async fn follow(
    watcher: &Watcher,
    live: &mut broadcast::Receiver<Tailed>,
    cursor: &mut i64,
    last_sent: &mut Instant,
    revocations: &mut watch::Receiver<u64>,
    moved: &mut watch::Receiver<i64>,
) -> Live {
    loop {
        tokio::select! {
            received = live.recv() => match received {
                Ok(Tailed::Stuck) => {
                    let _ = watcher
                        .sender
                        .send(Err(Error::Unavailable(format!(
                            "the change feed cannot read the log; resume after sequence {cursor}"
                        ))))
                        .await;
                    return Live::Ended;
                }
                Ok(Tailed::Event(event)) => {
                    // Already sent from the database.
                    if event.sequence <= *cursor {
                        continue;
                    }
                    *cursor = event.sequence;
                    if watcher.wants(&event) {
                        if !watcher.send(FeedItem::Event(event)).await {
                            return Live::Ended;
                        }
                        *last_sent = Instant::now();
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => return Live::FellBehind,
                Err(broadcast::error::RecvError::Closed) => {
                    shutting_down(watcher, *cursor).await;
                    return Live::Ended;
                }
            },
            // The tail stopped (the server is shutting down).
            changed = moved.changed() => if changed.is_err() {
                shutting_down(watcher, *cursor).await;
                return Live::Ended;
            },
            Ok(()) = revocations.changed() => {
                if !key_still_live(&watcher.store, watcher.key_id.as_deref(), &watcher.sender).await {
                    return Live::Ended;
                }
            }
            () = tokio::time::sleep_until(*last_sent + watcher.heartbeat_interval) => {
                // Keys revoked by other processes are noticed here.
                if !key_still_live(&watcher.store, watcher.key_id.as_deref(), &watcher.sender).await {
                    return Live::Ended;
                }
                let beat = FeedItem::Heartbeat { read_sequence: *cursor };
                if !watcher.send(beat).await {
                    return Live::Ended;
                }
                *last_sent = Instant::now();
            }
            () = watcher.sender.closed() => return Live::Ended,
        }
    }
}

async fn shutting_down(watcher: &Watcher, cursor: i64) {
    let _ = watcher
        .sender
        .send(Err(Error::Unavailable(format!(
            "the server is shutting down; resume after sequence {cursor}"
        ))))
        .await;
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
