//! Persistence: the connection pool, migrations, and every query. This is the
//! only module that sees sea_orm; the rest of the crate talks to [`Store`].

mod articles;
mod authors;
mod checkpoint;
mod comments;
mod database_file;
pub mod deadline;
mod direct;
mod entities;
mod events;
mod keys;
mod request_ids;
mod revisions;
mod shares;
mod slugs;
mod writer;

use std::{str::FromStr, sync::Arc, time::Duration};

use tokio::sync::watch;

use writer::{WriteTxn, Writer};

use chrono::{DateTime, SubsecRound, Utc};
use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    AccessMode, ActiveModelTrait, ConnectOptions, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, Insert, IsolationLevel, QueryTrait, RuntimeErr,
    Statement, TransactionTrait,
    sea_query::{Expr, IntoIden, OnConflict, Query},
    sqlx,
};

use crate::{
    domain::clock::{Clock, SystemClock},
    error::Error,
};

pub use articles::{ArticleFilter, ArticleOrder, ArticlePage, DuePublication, WorkflowRequest};
pub use authors::AuthorPage;
pub use comments::{CommentPage, ThreadOrder};
pub use keys::KeyPage;
pub use revisions::RevisionPage;
pub use shares::ShareResult;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://file.db?mode=rwc` or `postgres://user@host/db`.
    pub url: String,
    /// Upper bound on pooled connections.
    pub max_connections: u32,
    /// How long a request waits for a connection before UNAVAILABLE.
    pub acquire_timeout: Duration,
}

/// The database, behind the queries newsdesk needs.
#[derive(Debug, Clone)]
pub struct Store {
    /// Reads and migrations, and every write on PostgreSQL.
    db: DatabaseConnection,
    /// Where write transactions run. On SQLite, one connection beside
    /// `db`: SQLite has one writer at a time, and writers that competed for
    /// its lock from several connections would wait in SQLite's busy
    /// handler, which sleeps for milliseconds at a time; here they queue for
    /// the connection in order, none sleeps, and a group of them shares one
    /// commit. Other processes' writers still meet the busy timeout. On
    /// PostgreSQL, `db`.
    writer: Writer,
    clock: Arc<dyn Clock>,
    /// Counts this process's committed changes, so that readers of the
    /// change feed can wait for the next one instead of polling.
    commits: Arc<watch::Sender<u64>>,
    /// Counts this process's key revocations, so that open streams can end
    /// the moment their key is revoked.
    revocations: Arc<watch::Sender<u64>>,
    /// Keys recently looked up (see [`keys::KEY_TRUST`]).
    known_keys: Arc<keys::KnownKeys>,
}

impl Store {
    /// Opens the pools on `options.url` (see `writer`). SQLite runs in WAL
    /// mode with foreign keys on, a busy timeout, and full fsync on commit:
    /// an acknowledged write survives a power cut.
    pub async fn connect(options: &StoreOptions) -> Result<Self, Error> {
        let connect = |max_connections: u32, checkpoint_pages: u32| {
            let mut connect = ConnectOptions::new(options.url.clone());
            connect
                .max_connections(max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_timeout(options.acquire_timeout)
                // A ping on every checkout costs a round trip per query; a
                // connection that sat idle may have been dropped by the
                // server or a proxy, a busy one has just been used.
                .test_before_acquire_if_idle_for(Duration::from_secs(30))
                // Statement logging at INFO would log every query with its
                // arguments, article bodies included.
                .sqlx_logging(false)
                .map_sqlx_sqlite_opts(move |sqlite| {
                    sqlite
                        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                        .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
                        .foreign_keys(true)
                        .busy_timeout(Duration::from_secs(5))
                        // Statement journals (upserts, multi-row inserts) in
                        // memory, not in temporary files.
                        .pragma("temp_store", "memory")
                        .pragma("wal_autocheckpoint", checkpoint_pages.to_string())
                });
            connect
        };
        if is_in_memory_sqlite(&options.url) {
            // Every connection to `:memory:` is a database of its own; one
            // connection, kept for the life of the pool, is the database.
            let mut only = connect(1, SQLITE_CHECKPOINT_PAGES);
            only.min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
            let db = sea_orm::Database::connect(only).await?;
            return Ok(Self::over(db.clone(), Some((db, None, None))));
        }
        let db =
            sea_orm::Database::connect(connect(options.max_connections, SQLITE_CHECKPOINT_PAGES))
                .await?;
        let (writer, database_file) = match db.get_database_backend() {
            DbBackend::Sqlite => {
                // Kept open: the first write after a quiet spell should not
                // pay for opening it.
                let mut writer = connect(1, checkpoint::WRITER_CHECKPOINT_PAGES);
                writer.min_connections(1);
                let connection = sea_orm::Database::connect(writer.clone()).await?;
                let path = sqlx::sqlite::SqliteConnectOptions::from_str(&options.url)
                    .map_err(|error| DbErr::Custom(format!("the SQLite URL: {error}")))?;
                let direct = direct::DirectWriter::open(
                    path.get_filename(),
                    checkpoint::WRITER_CHECKPOINT_PAGES,
                )?;
                let file = database_file::DatabaseFile::open(path.get_filename())?;
                (Some((connection, Some(writer), Some(direct))), Some(file))
            }
            _ => (None, None),
        };
        let store = Self::over(db, writer);
        if let Some(file) = database_file {
            tokio::spawn(checkpoint::checkpoint_after_commits(
                store.db.clone(),
                file,
                store.writer.pauser(),
                store.subscribe_commits(),
            ));
        }
        Ok(store)
    }

    /// The store on `db`, grouping writes on `sqlite_writer` when given
    /// (with the options to open it again, see [`Writer::grouped`]).
    fn over(
        db: DatabaseConnection,
        sqlite_writer: Option<(
            DatabaseConnection,
            Option<ConnectOptions>,
            Option<direct::DirectWriter>,
        )>,
    ) -> Self {
        let commits = Arc::new(watch::Sender::new(0));
        let writer = match sqlite_writer {
            Some((connection, reopen, direct)) => {
                Writer::grouped(connection, reopen, direct, commits.clone())
            }
            None => Writer::on_pool(db.clone(), commits.clone()),
        };
        Self {
            db,
            writer,
            clock: Arc::new(SystemClock),
            commits,
            revocations: Arc::new(watch::Sender::new(0)),
            known_keys: Arc::new(keys::KnownKeys::new()),
        }
    }

    /// A receiver that changes whenever this process commits a change
    /// (every change writes an event). Changes committed by other processes
    /// on the same database do not show here.
    pub fn subscribe_commits(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// How many changes this process has committed so far.
    pub fn local_commits(&self) -> u64 {
        *self.commits.borrow()
    }

    /// Writes queued for SQLite's one writer connection (0 on PostgreSQL).
    pub fn writes_waiting(&self) -> usize {
        self.writer.waiting()
    }

    /// A receiver that changes whenever this process revokes a key. Keys
    /// revoked by other processes do not show here.
    pub fn subscribe_revocations(&self) -> watch::Receiver<u64> {
        self.revocations.subscribe()
    }

    /// The same store, stamping writes with `clock`'s time.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self }
    }

    /// The current time as writes store it (see [`stored_now`]).
    fn now(&self) -> DateTime<Utc> {
        stored_now(self.clock.as_ref())
    }

    /// Applies every migration not yet applied.
    pub async fn migrate(&self) -> Result<(), Error> {
        Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), Error> {
        self.db.ping().await?;
        Ok(())
    }

    /// Closes the pools, waiting for connections in use to be returned, and
    /// stops SQLite's share thread once its batches have committed.
    pub async fn close(&self) {
        self.writer.close().await;
        if let Err(error) = self.db.close_by_ref().await {
            tracing::warn!(%error, "closing the database pool failed");
        }
        if let Err(error) = self.writer.connection().close_by_ref().await {
            tracing::warn!(%error, "closing the writer's pool failed");
        }
    }

    /// The pools' connections: open, and idle among them (for metrics).
    pub fn pool_use(&self) -> (u32, u32) {
        // Each getter panics for the other backend; the match picks the one
        // this store has.
        let (size, idle) = match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            DbBackend::Sqlite => {
                let writer = self.writer.connection();
                let (pool, writer) = (
                    self.db.get_sqlite_connection_pool(),
                    writer.get_sqlite_connection_pool(),
                );
                (
                    pool.size() + writer.size(),
                    pool.num_idle() + writer.num_idle(),
                )
            }
            _ => (0, 0),
        };
        (size, u32::try_from(idle).unwrap_or(u32::MAX))
    }

    /// `sqlite` or `postgres`, for logs.
    pub fn backend_name(&self) -> &'static str {
        match self.db.get_database_backend() {
            DbBackend::Sqlite => "sqlite",
            DbBackend::Postgres => "postgres",
            DbBackend::MySql => "mysql",
            _ => "unknown",
        }
    }

    /// Starts a write (see [`Writer::begin`]); [`WriteTxn::commit`] returns
    /// once it is durable.
    async fn begin_write(&self) -> Result<WriteTxn, DbErr> {
        self.writer.begin().await
    }

    /// Starts a transaction that only reads, so that several queries see one
    /// snapshot (an article row, its live version and its bylines from the
    /// same moment). PostgreSQL needs REPEATABLE READ for that; a SQLite
    /// transaction reads one snapshot from its first statement on.
    async fn begin_read(&self) -> Result<DatabaseTransaction, DbErr> {
        match self.db.get_database_backend() {
            DbBackend::Postgres => {
                self.db
                    .begin_with_config(
                        Some(IsolationLevel::RepeatableRead),
                        Some(AccessMode::ReadOnly),
                    )
                    .await
            }
            _ => self.db.begin().await,
        }
    }
}

/// `clock`'s time at the precision both databases store (microseconds), so
/// that what a write returns equals what a later read returns.
fn stored_now(clock: &dyn Clock) -> DateTime<Utc> {
    clock.now().trunc_subsecs(6)
}

/// SQLite's own threshold (in log pages) for the checkpoint a commit runs:
/// kept for the connections that are not the writer's (they commit only
/// migrations) and for an in-memory database.
const SQLITE_CHECKPOINT_PAGES: u32 = 1_000;

/// A row whose text columns are read by name: sea-orm's, or one read on
/// the SQLite thread (see `direct`).
trait TextRow {
    fn text(&self, column: &str) -> Result<String, DbErr>;
}

impl TextRow for sea_orm::QueryResult {
    fn text(&self, column: &str) -> Result<String, DbErr> {
        self.try_get("", column)
    }
}

/// `value` as JSON text, for a column or a statement's parameter; `what`
/// names it in the error.
fn encode_json(what: &str, value: &impl serde::Serialize) -> Result<String, DbErr> {
    serde_json::to_string(value)
        .map_err(|error| DbErr::Custom(format!("cannot encode {what} as JSON: {error}")))
}

fn is_in_memory_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:") && (url.contains(":memory:") || url.contains("mode=memory"))
}

/// A new resource id: a UUIDv7, which sorts by creation time.
fn new_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// Runs writes whose results nobody reads, in order. On SQLite they reach
/// the connection's thread as one multi-statement query (the arguments bind
/// across the statements in order): every statement sent on its own costs
/// two hand-offs between threads, more than SQLite's own work on a small
/// write, and the writer's turn is held meanwhile.
async fn execute_in_order(
    conn: &impl ConnectionTrait,
    statements: Vec<Statement>,
) -> Result<(), DbErr> {
    if conn.get_database_backend() != DbBackend::Sqlite || statements.len() < 2 {
        for statement in statements {
            conn.execute_raw(statement).await?;
        }
        return Ok(());
    }
    let mut sql = String::new();
    let mut values = Vec::new();
    for statement in statements {
        // The values bind in order only to anonymous `?` placeholders,
        // which is all the store writes for SQLite.
        debug_assert!(
            !statement.sql.contains("?1") && !statement.sql.contains('$'),
            "a numbered placeholder in {}",
            statement.sql
        );
        sql.push_str(&statement.sql);
        sql.push_str(";\n");
        values.extend(statement.values.map(|bound| bound.0).unwrap_or_default());
    }
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        values,
    ))
    .await?;
    Ok(())
}

/// Inserts `insert`'s row unless one with the same `key` exists (ON
/// CONFLICT DO NOTHING); whether it was written. The insert returns a row
/// if it wrote one, rather than counting rows affected: as a query it can
/// open the write's savepoint on SQLite in the same call (see `writer`),
/// where rows affected would count the savepoint's statements in.
async fn insert_unless_taken<A, K>(
    conn: &impl ConnectionTrait,
    insert: Insert<A>,
    key: impl IntoIterator<Item = K>,
) -> Result<bool, DbErr>
where
    A: ActiveModelTrait,
    K: IntoIden,
{
    let mut insert = insert
        .on_conflict(OnConflict::columns(key).do_nothing().to_owned())
        .into_query();
    insert.returning(Query::returning().expr(Expr::cust("1")));
    let backend = conn.get_database_backend();
    Ok(conn.query_one_raw(backend.build(&insert)).await?.is_some())
}

impl From<DbErr> for Error {
    fn from(error: DbErr) -> Self {
        if is_unavailable(&error) {
            return Error::Unavailable(error.to_string());
        }
        if is_lock_wait_cut_off(&error) && deadline::write_time_left().is_some() {
            return Error::DeadlineExceeded(
                "the request's deadline came while its write waited for a lock; nothing of it was kept"
                    .into(),
            );
        }
        if is_concurrency_conflict(&error) {
            return Error::Aborted(
                "the change collided with a concurrent one and was not made; retry".into(),
            );
        }
        match database_error(&error).map(|database| database.kind()) {
            // Writes that can clash handle their unique keys where they know
            // which key it is; this is the backstop.
            Some(sqlx::error::ErrorKind::UniqueViolation) => {
                Error::AlreadyExists("a resource with the same unique key already exists".into())
            }
            Some(sqlx::error::ErrorKind::ForeignKeyViolation) => Error::FailedPrecondition {
                kind: "REFERENCE_CHANGED",
                subject: String::new(),
                description: "a resource this change refers to was changed at the same time; retry"
                    .into(),
            },
            _ => Error::Internal(error.to_string()),
        }
    }
}

/// Whether PostgreSQL gave up waiting for a lock (55P03): a write that was
/// still waiting for one when its request's time ran out (see
/// [`deadline`]), so the transaction rolled back.
fn is_lock_wait_cut_off(error: &DbErr) -> bool {
    database_code(error).as_deref() == Some("55P03")
}

/// Whether PostgreSQL gave up on the transaction to resolve a conflict with a
/// concurrent one (a deadlock, 40P01, or a serialisation failure, 40001):
/// nothing was written, and the same request may well succeed again.
fn is_concurrency_conflict(error: &DbErr) -> bool {
    matches!(database_code(error).as_deref(), Some("40P01" | "40001"))
}

/// The database's own code for the error that refused a statement.
fn database_code(error: &DbErr) -> Option<String> {
    database_error(error)?.code().map(|code| code.into_owned())
}

/// The error the database gave for a statement it refused, from sqlx or
/// from the SQLite thread (which gives its refusals in sqlx's form).
fn database_error(error: &DbErr) -> Option<&dyn sqlx::error::DatabaseError> {
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                sqlx::Error::Database(database) => Some(database.as_ref()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether `error` means the database cannot be reached (or is too busy to
/// take the request), as opposed to a bug or a refused statement.
fn is_unavailable(error: &DbErr) -> bool {
    let sqlx_error = match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx_error.as_ref() {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => {
            let code = database.code().unwrap_or_default();
            if database
                .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                .is_some()
            {
                // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended
                // codes: another writer held the lock past the busy timeout.
                code.parse::<i32>()
                    .is_ok_and(|sqlite| matches!(sqlite & 0xff, 5 | 6))
            } else {
                // PostgreSQL: connection exceptions (08xxx), shutdown and
                // cannot-connect-now (57P0x), the database gone (3D000).
                code.starts_with("08") || code.starts_with("57P0") || code == "3D000"
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    /// The vendored sqlx-core releases PostgreSQL's connections without a
    /// ping by this name (vendor/README.md): were sqlx to rename the driver,
    /// the ping would come back unnoticed.
    #[test]
    fn the_vendored_pool_knows_postgresql_by_its_name() {
        use sea_orm::sqlx::{Database, Postgres};
        assert_eq!(Postgres::NAME, "PostgreSQL");
    }
}
