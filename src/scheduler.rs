//! The publishing scheduler: a task inside the server that publishes every
//! SCHEDULED article whose time has come, once a tick, and at start-up any
//! that fell due while no server was running. Several servers on one
//! database can all run it: the store's conditional update lets exactly one
//! of them publish each article.

use std::time::Duration;

use tokio::sync::watch;

use crate::store::{DuePublication, Store};

/// Publishes due articles every `tick` until `stop` changes or is dropped.
pub async fn run_scheduler(store: Store, tick: Duration, mut stop: watch::Receiver<()>) {
    loop {
        match store.publish_due_articles().await {
            Ok(published) => {
                for DuePublication {
                    article_id,
                    late_by,
                } in published
                {
                    metrics::histogram!("scheduler_publish_lag_seconds")
                        .record(late_by.as_secs_f64());
                    tracing::info!(%article_id, ?late_by, "published on schedule");
                }
            }
            // The next tick tries again: nothing was half done, each publish
            // is its own transaction.
            Err(error) => tracing::warn!(%error, "publishing scheduled articles failed"),
        }
        // What is still due after the pass: zero normally; growing while
        // publishing fails or another server holds the articles up.
        match store.oldest_due_wait().await {
            Ok(wait) => metrics::gauge!("scheduler_overdue_seconds").set(wait.as_secs_f64()),
            Err(error) => tracing::warn!(%error, "reading the scheduling backlog failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            _ = stop.changed() => return,
        }
    }
}
