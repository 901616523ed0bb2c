//! SQLite's WAL checkpoints, off the write path. Left to SQLite, the commit
//! that fills the log past its threshold copies the log into the database
//! file itself, and every write queued behind it waits (measured: group
//! commits took twice as long). Here a task on a reading connection copies
//! the log back shortly after writes; a PASSIVE checkpoint waits for nobody,
//! and the writer reuses the log from its start once it is all copied.

use std::time::Duration;

use sea_orm::{ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbErr};
use tokio::sync::watch;

/// Pages the log may hold before the writer checkpoints on its own: the
/// backstop for a checkpointer that falls behind (about 40 MB of 4 KB pages).
pub(super) const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// How long the checkpointer lets writes gather between checkpoints.
const PAUSE: Duration = Duration::from_millis(50);

/// Checkpoints `db`'s log after commits (as `commits` counts them) until
/// the pool closes or every sender of `commits` is gone.
pub(super) async fn checkpoint_after_commits(
    db: DatabaseConnection,
    mut commits: watch::Receiver<u64>,
) {
    while commits.changed().await.is_ok() {
        match db
            .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
            .await
        {
            Ok(_) => {}
            Err(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)) => return,
            // The writer's own checkpoints still bound the log.
            Err(error) => tracing::warn!(%error, "checkpointing the SQLite log failed"),
        }
        tokio::time::sleep(PAUSE).await;
    }
}
