//! SQLite's WAL checkpoints, off the write path: a task copies the log back
//! into the database shortly after writes, and once the log is long, syncs
//! the database file beside the writes, then copies the log once more
//! between two writes so that the writer can start it anew.

use std::{ops::ControlFlow, time::Duration};

use sea_orm::{ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio::sync::watch;

use super::{database_file::DatabaseFile, writer::Pauser};

/// Pages the log may hold before the writer checkpoints on its own: the
/// backstop for a checkpointer that falls behind (about 240 MB of 4 KB
/// pages). Left to SQLite, the commit that fills the log past its threshold
/// copies the log into the database file itself, and every write queued
/// behind it waits (measured: group commits took twice as long).
pub(super) const WRITER_CHECKPOINT_PAGES: u32 = 60_000;

/// Pages the log may hold before the checkpointer copies its end between
/// two writes. The writer starts the log anew only once all of it is
/// copied, which a checkpoint beside a steady stream of writes never
/// manages: the log grew to the writer's threshold every third of a second,
/// and the writer's own checkpoint then synced the database file while
/// shares waited (48 ms each time, 15% of the share thread's time). Below
/// the writer's threshold, so that the writer never reaches it, with room
/// for the log to grow while the database file is synced before the pause
/// (about 150 ms under load, some 5,000 pages; see "The share thread's
/// checkpoints" in BENCHMARKS.md).
const RESTART_AT: i64 = 40_000;
const _: () = assert!(RESTART_AT < WRITER_CHECKPOINT_PAGES as i64);

/// How long the checkpointer lets writes gather between checkpoints.
const PAUSE: Duration = Duration::from_millis(50);

/// Checkpoints `db`'s log after commits (as `commits` counts them), and
/// once the log is long, syncs `file`, the database file, and checkpoints
/// between writes (paused by `writes`); until the pool closes or every
/// sender of `commits` is gone.
pub(super) async fn checkpoint_after_commits(
    db: DatabaseConnection,
    file: DatabaseFile,
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
        if let Some(writes) = writes.as_ref().filter(|_| pages >= RESTART_AT)
            && restart_log(&db, &file, writes).await.is_break()
        {
            return;
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// Syncs `file` beside the writes, then checkpoints `db`'s log between two
/// writes, so that the next write starts the log anew. Break once the pool
/// has closed or the writer is gone.
async fn restart_log(
    db: &DatabaseConnection,
    file: &DatabaseFile,
    writes: &Pauser,
) -> ControlFlow<()> {
    match sync_beside_writes(db, file).await {
        Ok(()) => {}
        Err(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)) => {
            return ControlFlow::Break(());
        }
        // A kernel that reports a failed sync to one descriptor only could
        // let SQLite's own sync in the pause succeed, and the log start anew
        // over pages that are not on disk. The writer's own checkpoints
        // still bound the log.
        Err(error) => {
            tracing::error!(%error, "preparing to checkpoint the SQLite log between writes failed");
            return ControlFlow::Continue(());
        }
    }
    // On the writer's own connection, idle in the pause: a reading
    // connection might have to be waited for while writes wait.
    let paused = writes
        .between_writes(|writer| async move { checkpoint(&writer).await })
        .await;
    match paused {
        Ok(Some(Ok(_))) => {}
        Ok(None | Some(Err(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)))) => {
            return ControlFlow::Break(());
        }
        Ok(Some(Err(error))) => {
            tracing::warn!(%error, "checkpointing the SQLite log between writes failed");
        }
        Err(error) => tracing::error!(%error, "pausing writes to checkpoint failed"),
    }
    ControlFlow::Continue(())
}

/// Syncs `file` while writes go on, so that the pause's checkpoint finds
/// little left to sync: a checkpoint that stops short of the log's end does
/// not sync the file, and the one that reaches it syncs every page copied
/// since the log began anew (110-130 ms while writes waited). Twice, with
/// the log's pages written during the first copied in between: the pause
/// is left 10-20 ms (see "The pause's sync" in BENCHMARKS.md).
async fn sync_beside_writes(db: &DatabaseConnection, file: &DatabaseFile) -> Result<(), DbErr> {
    file.sync().await?;
    checkpoint(db).await?;
    file.sync().await
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
