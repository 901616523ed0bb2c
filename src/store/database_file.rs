//! Syncs the SQLite database file through SQLite's own file object, for
//! the checkpointer to run beside the writes.

use std::{
    path::Path,
    sync::{Arc, Mutex, PoisonError},
};

use rusqlite::{Connection, OpenFlags, ffi};
use sea_orm::DbErr;

use super::direct::sqlite_err;

/// A database file, synced through a connection of SQLite's that runs no
/// statements and so takes no lock. Not a descriptor of our own: closing
/// any descriptor of a file drops every POSIX lock the process holds on
/// it, the pools' connections' included, and SQLite defers closing its own
/// while any connection of the process holds a lock on the file (rusqlite
/// and sqlx link the one SQLite library, so they share that bookkeeping).
/// Not the share thread's connection either: a sync there would hold up
/// the shares it is meant to run beside.
/// std's mutex: held only on a blocking thread, for one sync.
#[derive(Debug)]
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
    sqlite_result(code)?;
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
    // SAFETY: as above. The sync touches this connection's own file object
    // only, never the per-file record of locks that the process's
    // connections share, so it is safe beside their work.
    sqlite_result(unsafe { sync(file, ffi::SQLITE_SYNC_NORMAL) })
}

fn sqlite_result(code: std::ffi::c_int) -> Result<(), DbErr> {
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
    use std::path::Path;

    use super::DatabaseFile;

    fn create_in_wal_mode(path: &Path) -> rusqlite::Connection {
        let connection = rusqlite::Connection::open(path).expect("create the database");
        connection
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER);")
            .expect("create a table in WAL mode");
        connection
    }

    #[tokio::test]
    async fn syncs_a_file_whose_log_is_still_removed_when_the_last_writer_closes() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("news.db");
        let writer = create_in_wal_mode(&path);
        writer
            .execute("INSERT INTO t VALUES (1)", [])
            .expect("write to the log");
        let file = DatabaseFile::open(&path).expect("open the database file");
        file.sync().await.expect("sync beside an open writer");
        // Closing copies the log in and removes it only if no other
        // connection holds a lock: this one takes none.
        drop(writer);
        assert!(!dir.path().join("news.db-wal").exists());
        drop(file);
        let reopened = rusqlite::Connection::open(&path).expect("reopen the database");
        let count: i64 = reopened
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .expect("read the row back");
        assert_eq!(count, 1);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_other_connections_locks_outlive_the_file() {
        use std::os::unix::fs::MetadataExt;

        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("news.db");
        let reader = create_in_wal_mode(&path);
        let _: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .expect("read, taking WAL mode's lock on the database file");
        let inode = std::fs::metadata(&path).expect("the file's metadata").ino();
        let held = posix_locks_on(inode);
        assert!(
            held > 0,
            "a connection in WAL mode holds a lock on the file"
        );
        let file = DatabaseFile::open(&path).expect("open the database file");
        file.sync().await.expect("sync");
        drop(file);
        assert_eq!(posix_locks_on(inode), held);
    }

    /// This process's POSIX locks on the file `inode`, as the kernel lists
    /// them.
    #[cfg(target_os = "linux")]
    fn posix_locks_on(inode: u64) -> usize {
        let pid = std::process::id().to_string();
        let device_and_inode = format!(":{inode}");
        std::fs::read_to_string("/proc/locks")
            .expect("read /proc/locks")
            .lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .filter(|fields| {
                fields.get(1) == Some(&"POSIX")
                    && fields.get(4) == Some(&pid.as_str())
                    && fields
                        .get(5)
                        .is_some_and(|field| field.ends_with(&device_and_inode))
            })
            .count()
    }

    #[test]
    fn a_missing_database_is_not_created() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("missing.db");
        assert!(DatabaseFile::open(&path).is_err());
        assert!(!path.exists());
    }
}
