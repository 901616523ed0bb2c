//! SQLite's WAL checkpoints, off the write path. Left to SQLite, the commit
//! that fills the log past its threshold copies the log into the database
//! file itself, and every write queued behind it waits (measured: group
//! commits took twice as long). Here a task on a reading connection copies
//! the log back shortly after writes; a PASSIVE checkpoint waits for nobody.
//!
//! The writer reuses the log from its start only once all of it is copied,
//! and under a steady stream of writes a checkpoint beside them never
//! catches up: the log grew to the writer's threshold every third of a
//! second, and the writer's own checkpoint then synced the database file
//! while shares waited (48 ms each time, 15% of the share thread's time).
//! So once the log is long, the task copies it once beside the writes and
//! then once more between two writes, for the writer to start it anew. That
//! pause costs about one sync of the database file however little is left
//! to copy, so it comes seldom: at 40,000 pages (about 160 MB of log) it came
//! every 1.3 s under the benchmark's shares, whose p99 fell from 57 ms to
//! 11 ms and whose rate rose by 8-10% (see BENCHMARKS.md). The log is
//! removed when the last connection closes; after a crash, the next start
//! reads it back.

use std::time::Duration;

use sea_orm::{ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio::sync::watch;

use super::writer::Pauser;

/// Pages the log may hold before the writer checkpoints on its own: the
/// backstop for a checkpointer that falls behind (about 240 MB of 4 KB
/// pages).
pub(super) const WRITER_CHECKPOINT_PAGES: u32 = 60_000;

/// Pages the log may hold before the checkpointer copies its end between
/// two writes, so that the writer starts it anew (see the module's note).
const RESTART_AT: i64 = 40_000;

/// How long the checkpointer lets writes gather between checkpoints.
const PAUSE: Duration = Duration::from_millis(50);

/// Checkpoints `db`'s log after commits (as `commits` counts them), between
/// writes (paused by `writes`) once the log is long, until the pool closes
/// or every sender of `commits` is gone.
pub(super) async fn checkpoint_after_commits(
    db: DatabaseConnection,
    writes: Option<Pauser>,
    mut commits: watch::Receiver<u64>,
) {
    while commits.changed().await.is_ok() {
        let pages = match checkpoint(&db).await {
            Ok(pages) => pages,
            Err(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)) => return,
            // The writer's own checkpoints still bound the log.
            Err(error) => {
                tracing::warn!(%error, "checkpointing the SQLite log failed");
                0
            }
        };
        if let Some(writes) = writes.as_ref().filter(|_| pages >= RESTART_AT) {
            match writes.between_writes(checkpoint(&db)).await {
                Ok(Ok(_)) => {}
                Ok(Err(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))) => return,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "checkpointing the SQLite log between writes failed");
                }
                Err(error) => tracing::warn!(%error, "pausing writes to checkpoint failed"),
            }
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// A PASSIVE checkpoint of `db`'s log; the pages the log holds.
async fn checkpoint(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA wal_checkpoint(PASSIVE)",
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get_by_index::<i64>(1)?,
        None => 0,
    })
}
