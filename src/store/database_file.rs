//! The SQLite database file's sync, for the checkpointer to run beside the
//! writes. A checkpoint that stops short of the log's end copies pages into
//! the file without syncing it; the one that reaches the end syncs them all
//! at once, and the checkpointer runs that one while writes wait.

use std::{
    path::Path,
    sync::{Arc, Mutex, PoisonError},
};

use rusqlite::{Connection, OpenFlags, ffi};
use sea_orm::DbErr;

use super::direct::sqlite_err;

/// A database file, synced through a connection of SQLite's that runs no
/// statements. Not a descriptor of our own: closing any descriptor of a
/// file drops every POSIX lock the process holds on it, SQLite's included,
/// and SQLite defers closing its own while it holds locks.
#[derive(Debug, Clone)]
pub(super) struct DatabaseFile(Arc<Mutex<Connection>>);

impl DatabaseFile {
    /// Opens the existing database at `path`.
    pub(super) fn open(path: &Path) -> Result<Self, DbErr> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite_err)?;
        Ok(Self(Arc::new(Mutex::new(connection))))
    }

    /// Writes the file's pages out to the disk (as SQLite syncs it), on a
    /// blocking thread.
    pub(super) async fn sync(&self) -> Result<(), DbErr> {
        let connection = self.0.clone();
        tokio::task::spawn_blocking(move || {
            sync_main_file(&connection.lock().unwrap_or_else(PoisonError::into_inner))
        })
        .await
        .map_err(|error| DbErr::Custom(format!("syncing the SQLite database file: {error}")))?
    }
}

/// Calls the VFS's own sync on `connection`'s main database file.
fn sync_main_file(connection: &Connection) -> Result<(), DbErr> {
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: the handle is `connection`'s, open, and used by this thread
    // alone (the caller holds the mutex). FILE_POINTER stores a pointer to
    // the main database's file object, which the connection owns, in `file`.
    let code = unsafe {
        ffi::sqlite3_file_control(
            connection.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&raw mut file).cast(),
        )
    };
    check(code)?;
    // SAFETY: `file` is null or the connection's file object, which lives
    // as long as the connection; its methods are the VFS's.
    let sync = unsafe {
        file.as_ref()
            .and_then(|file| file.pMethods.as_ref())
            .and_then(|methods| methods.xSync)
    };
    let Some(sync) = sync else {
        return Err(DbErr::Custom("the SQLite database file is not open".into()));
    };
    // SAFETY: as above; a sync takes no lock and changes nothing SQLite
    // keeps in memory, so it is safe beside the other connections' work.
    check(unsafe { sync(file, ffi::SQLITE_SYNC_NORMAL) })
}

fn check(code: std::ffi::c_int) -> Result<(), DbErr> {
    if code == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlite_err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(code),
            None,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::DatabaseFile;

    #[tokio::test]
    async fn syncs_a_database_file_that_another_connection_writes() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("news.db");
        let writer = rusqlite::Connection::open(&path).expect("create the database");
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER); \
                 INSERT INTO t VALUES (1); PRAGMA wal_checkpoint(PASSIVE);",
            )
            .expect("write and checkpoint");
        let file = DatabaseFile::open(&path).expect("open the database file");
        file.sync()
            .await
            .expect("sync while another connection has it open");
        let count: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .expect("read after the sync");
        assert_eq!(count, 1);
    }

    #[test]
    fn a_missing_database_is_not_created() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("missing.db");
        assert!(DatabaseFile::open(&path).is_err());
        assert!(!path.exists());
    }
}
