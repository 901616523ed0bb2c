//! The live change feed. One task per server, the tail, follows the log: it
//! wakes on this process's own commits at once, polls for events other
//! processes commit to the same database, reads each new event once and
//! hands it to every watcher through a broadcast channel. A watcher first
//! reads what it has not seen from the database, page by page, at its own
//! pace; once it has caught up with the tail it takes events from the
//! broadcast. A watcher that falls too far behind the broadcast (a slow
//! client) goes back to the database, so it never loses an event, and the
//! tail never waits for it.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use tokio::{
    sync::{Semaphore, broadcast, mpsc, watch},
    time::Instant,
};
use tokio_stream::wrappers::ReceiverStream;

use crate::{domain::event::Event, error::Error, store::Store};

/// Events read from the database at a time, by a watcher or the tail.
const PAGE: u64 = 100;
/// Messages waiting for one watcher's client; the watcher waits beyond it.
const WATCHER_BUFFER: usize = 32;
/// The tail's position before it has read where the log ends.
const NOT_STARTED: i64 = -1;
/// Events the broadcast holds for watchers that are behind; a watcher
/// further behind than this reads the database again.
const BROADCAST_BUFFER: usize = 4_096;
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
    tail: Tail,
    heartbeat_interval: Duration,
    reads: Arc<Semaphore>,
}

/// Where the tail is, and what it hands out.
#[derive(Debug, Clone)]
struct Tail {
    /// Every event up to here has been broadcast, or is about to be: the
    /// tail moves it before it sends, so that a watcher who subscribed and
    /// then read it finds every later event in the broadcast.
    position: Arc<AtomicI64>,
    events: broadcast::Sender<Arc<Event>>,
    /// Changes when the tail moves (and closes when it stops).
    moved: watch::Receiver<i64>,
    /// Held while a watcher subscribes and reads the position, and while
    /// the tail, with nobody subscribed, skips ahead without broadcasting:
    /// so a watcher never subscribes in between and misses what was skipped.
    subscribing: Arc<Mutex<()>>,
}

impl Tail {
    /// A receiver of every event after the returned position.
    fn subscribe(&self) -> (broadcast::Receiver<Arc<Event>>, i64) {
        let _held = self
            .subscribing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let receiver = self.events.subscribe();
        (receiver, self.position.load(Ordering::SeqCst))
    }

    /// With nobody subscribed, moves to `newest` without reading the
    /// events in between; `false` when somebody is subscribed.
    fn skip_if_unwatched(&self, newest: i64) -> bool {
        let _held = self
            .subscribing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.events.receiver_count() > 0 {
            return false;
        }
        self.position.store(newest, Ordering::SeqCst);
        true
    }
}

impl EventFeed {
    /// Starts the tail; it stops, and every watch stream ends, when `stop`
    /// changes or is dropped.
    pub fn start(store: Store, options: FeedOptions, stop: watch::Receiver<()>) -> Self {
        let (moved_sender, moved) = watch::channel(NOT_STARTED);
        let tail = Tail {
            position: Arc::new(AtomicI64::new(NOT_STARTED)),
            events: broadcast::Sender::new(BROADCAST_BUFFER),
            moved,
            subscribing: Arc::new(Mutex::new(())),
        };
        tokio::spawn(follow_the_log(
            store.clone(),
            tail.clone(),
            moved_sender,
            options.poll_interval,
            stop,
        ));
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

/// The tail: reads every new event once and broadcasts it. With nobody
/// watching it only keeps its place.
async fn follow_the_log(
    store: Store,
    tail: Tail,
    moved: watch::Sender<i64>,
    poll_interval: Duration,
    mut stop: watch::Receiver<()>,
) {
    let mut commits = store.subscribe_commits();
    // Watchers wait until the tail knows where the log ends: one that
    // followed the broadcast before would miss what the tail starts past.
    let mut position = loop {
        match store.last_event_sequence().await {
            Ok(last) => break last,
            Err(error) => tracing::warn!(%error, "reading the newest event failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(poll_interval) => {}
            _ = stop.changed() => return,
        }
    };
    tail.position.store(position, Ordering::SeqCst);
    moved.send_replace(position);
    loop {
        match store.last_event_sequence().await {
            Ok(newest) => {
                metrics::gauge!("event_feed_newest_sequence").set(newest as f64);
                if newest > position {
                    if let Err(error) = broadcast_up_to(&store, &tail, &mut position, newest).await
                    {
                        tracing::warn!(%error, "reading new events failed");
                    }
                    moved.send_replace(position);
                }
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

/// Broadcasts the events in `(position, newest]`, moving `position` along
/// (so that after a failed read the tail goes on from where it got to).
async fn broadcast_up_to(
    store: &Store,
    tail: &Tail,
    position: &mut i64,
    newest: i64,
) -> Result<(), Error> {
    // Nobody to hand events to: watchers who come later read these from
    // the database.
    if tail.skip_if_unwatched(newest) {
        *position = newest;
        return Ok(());
    }
    while *position < newest {
        let page = store
            .list_events_until(*position, newest, &[], PAGE)
            .await?;
        let complete = (page.len() as u64) < PAGE;
        for event in page {
            *position = event.sequence;
            tail.position.store(*position, Ordering::SeqCst);
            // No receiver left is not an error: they read the database.
            let _ = tail.events.send(Arc::new(event));
        }
        // Every event up to `newest` is committed (sequence order is commit
        // order), so a short page has read all of them.
        if complete {
            *position = newest;
            tail.position.store(newest, Ordering::SeqCst);
        }
    }
    Ok(())
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
    while *moved.borrow_and_update() == NOT_STARTED {
        tokio::select! {
            changed = moved.changed() => if changed.is_err() {
                shutting_down(&watcher, cursor).await;
                return;
            },
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
        if !watcher.send(FeedItem::Event(Box::new(event))).await {
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
    live: &mut broadcast::Receiver<Arc<Event>>,
    cursor: &mut i64,
    last_sent: &mut Instant,
    revocations: &mut watch::Receiver<u64>,
    moved: &mut watch::Receiver<i64>,
) -> Live {
    loop {
        tokio::select! {
            received = live.recv() => match received {
                Ok(event) => {
                    // Already sent from the database.
                    if event.sequence <= *cursor {
                        continue;
                    }
                    *cursor = event.sequence;
                    if watcher.wants(&event) {
                        if !watcher.send(FeedItem::Event(Box::new((*event).clone()))).await {
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
