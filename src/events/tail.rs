//! The tail of the event log: one task per server follows the log. While
//! anyone watches it wakes on this process's own commits at once; it polls
//! for events other processes commit to the same database, reads each new
//! event once and hands it to every watcher that has caught up, through a
//! broadcast channel.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use tokio::sync::{Notify, broadcast, watch};

use super::PAGE;
use crate::{domain::event::Event, error::Error, store::Store};

/// Failed polls in a row, the database being unavailable, after which the
/// watchers following the tail are told.
const STUCK_AFTER: u32 = 4;
/// The tail's position before it has read where the log ends.
pub(super) const NOT_STARTED: i64 = -1;
/// Events the broadcast holds for watchers that are behind; a watcher
/// further behind than this reads the database again. Only watchers that
/// have caught up hold a receiver, so it fills only behind slow clients.
const BROADCAST_BUFFER: usize = 1_024;

/// Where the tail is, and what it hands out.
#[derive(Debug, Clone)]
pub(super) struct Tail {
    /// Every later event will be broadcast: the tail moves it before it
    /// sends (or, with nobody subscribed, past events it skips), so that a
    /// watcher who subscribed and then read it finds every later event in
    /// the broadcast.
    position: Arc<AtomicI64>,
    events: broadcast::Sender<Tailed>,
    /// Changes when the tail moves (and closes when it stops).
    pub(super) moved: watch::Receiver<i64>,
    /// Held while a watcher subscribes and reads the position, and while
    /// the tail, with nobody subscribed, skips ahead without broadcasting:
    /// so a watcher never subscribes in between and misses what was skipped.
    subscribing: Arc<Mutex<()>>,
    /// Wakes the tail when a watcher subscribes: with nobody subscribed it
    /// does not follow this process's commits (see [`follow_the_log`]).
    subscribed: Arc<Notify>,
}

/// What the tail broadcasts.
#[derive(Debug, Clone)]
pub(super) enum Tailed {
    Event(Arc<Event>),
    /// The tail could not read the log past here: watchers following it
    /// end their streams, so that clients resume rather than wait.
    Stuck,
}

impl Tail {
    /// Starts following the log; the task stops, and the broadcast closes,
    /// when `stop` changes or is dropped.
    pub(super) fn start(store: Store, poll_interval: Duration, stop: watch::Receiver<()>) -> Self {
        let (moved_sender, moved) = watch::channel(NOT_STARTED);
        let tail = Tail {
            position: Arc::new(AtomicI64::new(NOT_STARTED)),
            events: broadcast::Sender::new(BROADCAST_BUFFER),
            moved,
            subscribing: Arc::new(Mutex::new(())),
            subscribed: Arc::new(Notify::new()),
        };
        tokio::spawn(follow_the_log(
            store,
            tail.clone(),
            moved_sender,
            poll_interval,
            stop,
        ));
        tail
    }

    /// A receiver of every event after the returned position.
    pub(super) fn subscribe(&self) -> (broadcast::Receiver<Tailed>, i64) {
        let _held = self
            .subscribing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let receiver = self.events.subscribe();
        let position = self.position.load(Ordering::SeqCst);
        self.subscribed.notify_one();
        (receiver, position)
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

/// The tail: reads every new event once and broadcasts it. With nobody
/// watching it only keeps its place, at the poll interval rather than at
/// every commit: reading where the log ends costs a database round trip,
/// and a watcher who subscribes wakes it. A position left behind is still
/// right, only older: the tail broadcasts everything after it.
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
    // Failed reads in a row: warned once, and watchers told when it lasts.
    let mut failures = 0u32;
    loop {
        let read = match store.last_event_sequence().await {
            Ok(newest) => {
                metrics::gauge!("event_feed_newest_sequence").set(newest as f64);
                let broadcast = if newest > position {
                    broadcast_up_to(&store, &tail, &mut position, newest).await
                } else {
                    Ok(())
                };
                moved.send_replace(position);
                broadcast
            }
            Err(error) => Err(error),
        };
        match read {
            Ok(()) => failures = 0,
            Err(error) => {
                if failures == 0 {
                    tracing::warn!(%error, "the change feed cannot read the log");
                } else {
                    tracing::debug!(%error, "the change feed still cannot read the log");
                }
                failures += 1;
                // A database that is briefly busy gets a few polls; anything
                // else (an event that cannot be read) will not pass by itself.
                let passing = matches!(error, Error::Unavailable(_));
                if !passing || failures == STUCK_AFTER {
                    // No receiver is not an error: nobody is waiting.
                    let _ = tail.events.send(Tailed::Stuck);
                }
            }
        }
        let watched = tail.events.receiver_count() > 0;
        tokio::select! {
            changed = commits.changed(), if watched => if changed.is_err() { return },
            () = tail.subscribed.notified() => {}
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
            let _ = tail.events.send(Tailed::Event(Arc::new(event)));
        }
        // Every event up to `newest` is settled (see
        // `Store::last_event_sequence`), so a short page has read all of them.
        if complete {
            *position = newest;
            tail.position.store(newest, Ordering::SeqCst);
        }
    }
    Ok(())
}
