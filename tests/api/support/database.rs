//! Test databases: a fresh SQLite file or PostgreSQL database per test,
//! dropped with the last server on it, and a write lock held from outside
//! the server for tests that need its writes to wait.

use sea_orm::ConnectionTrait;

/// A database that lives as long as the test.
pub struct TestDatabase {
    pub url: String,
    kind: DatabaseKind,
}

enum DatabaseKind {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    pub(super) async fn create() -> TestDatabase {
        match std::env::var("DATABASE_URL") {
            Ok(admin_url) if admin_url.starts_with("postgres") => {
                let name = format!("newsdesk_test_{}", uuid::Uuid::now_v7().simple());
                let admin = sea_orm::Database::connect(&admin_url)
                    .await
                    .expect("connect to DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create the test database");
                admin.close().await.expect("close the admin connection");
                TestDatabase {
                    url: with_database_name(&admin_url, &name),
                    kind: DatabaseKind::Postgres { admin_url, name },
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("newsdesk.db").display()
                );
                TestDatabase {
                    url,
                    kind: DatabaseKind::Sqlite(dir),
                }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.kind, DatabaseKind::Postgres { .. })
    }

    /// Drops the PostgreSQL database now, with the server still connected
    /// (for the tests of an unreachable database).
    pub async fn drop_now(&self) {
        if let DatabaseKind::Postgres { admin_url, name } = &self.kind {
            drop_postgres_database(admin_url, name).await;
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let DatabaseKind::Postgres { admin_url, name } = &self.kind {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime, which cannot be blocked on;
            // a thread with a runtime of its own does the work.
            let dropper = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(drop_postgres_database(&admin_url, &name));
            });
            let _ = dropper.join();
        }
    }
}

async fn drop_postgres_database(admin_url: &str, name: &str) {
    if let Ok(admin) = sea_orm::Database::connect(admin_url).await {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
        let _ = admin.close().await;
    }
}

/// `url` pointing at the database `name` instead of its own.
fn with_database_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    format!("{server}/{name}{query}")
}

/// A write lock held on a test database from outside the server, so that
/// the server's writes wait: SQLite's write lock (`BEGIN IMMEDIATE`), or on
/// PostgreSQL the lock that orders the event log, which every write that
/// records an event takes (shared) after its first statements, so a write
/// cut short while it waits has something to roll back. Held here, it also
/// holds up readers of the log.
pub struct WriteLock {
    connection: sea_orm::DatabaseConnection,
    postgres: bool,
}

/// The key of the server's event-order advisory lock ("news"), which the
/// trigger of migration `m20261204_000009_overlap_event_commits` takes
/// shared (as 1852143475): held here, writes wait at their events' insert.
const EVENT_ORDER_LOCK: i64 = 0x6e65_7773;

impl WriteLock {
    pub async fn hold(database: &TestDatabase) -> WriteLock {
        let mut options = sea_orm::ConnectOptions::new(database.url.clone());
        // One connection, so that the lock and its release share it.
        options
            .max_connections(1)
            .min_connections(1)
            .sqlx_logging(false);
        let connection = sea_orm::Database::connect(options)
            .await
            .expect("connect to hold a lock");
        let postgres = database.is_postgres();
        let take = if postgres {
            format!("SELECT pg_advisory_lock({EVENT_ORDER_LOCK})")
        } else {
            "BEGIN IMMEDIATE".to_owned()
        };
        connection
            .execute_unprepared(&take)
            .await
            .expect("take the write lock");
        WriteLock {
            connection,
            postgres,
        }
    }

    /// On PostgreSQL, waits until no write of this database still waits
    /// for the lock (a write cut off at its deadline must stop waiting on
    /// its own) and says whether that came within `patience`. Writes take the
    /// lock shared; readers of the log, which wait for it exclusively, are
    /// not counted. On SQLite, which shows no one who waits (a write waits
    /// out its busy timeout in its connection's thread), true.
    pub async fn no_write_waits_within(&self, patience: std::time::Duration) -> bool {
        if !self.postgres {
            return true;
        }
        let waiting = sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS waiting FROM pg_locks WHERE locktype = 'advisory' \
             AND mode = 'ShareLock' AND NOT granted AND database = \
             (SELECT oid FROM pg_database WHERE datname = current_database())",
        );
        let until = tokio::time::Instant::now() + patience;
        loop {
            let row = self
                .connection
                .query_one_raw(waiting.clone())
                .await
                .expect("read the lock's waiters")
                .expect("a count");
            let count: i64 = row.try_get("", "waiting").expect("a count");
            if count == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn release(self) {
        let release = if self.postgres {
            format!("SELECT pg_advisory_unlock({EVENT_ORDER_LOCK})")
        } else {
            "ROLLBACK".to_owned()
        };
        self.connection
            .execute_unprepared(&release)
            .await
            .expect("release the write lock");
        self.connection.close().await.expect("close");
    }
}
