//! A SQLite connection on a thread of its own, for the write that runs most
//! often: a batch of shares. Through sqlx every statement is a hand-off to
//! its connection's thread and back (measured: about a third of a batch's
//! time); here the whole transaction, BEGIN to COMMIT, is one hand-off. The
//! statements are the ones the store sends through sea-orm on the other
//! paths.

use std::{
    path::Path,
    sync::{Arc, Mutex, PoisonError, mpsc},
    thread::JoinHandle,
    time::Duration,
};

use chrono::SecondsFormat;
use rusqlite::{
    Connection,
    fallible_iterator::FallibleIterator,
    types::{ToSqlOutput, Value as SqliteValue, ValueRef},
};
use sea_orm::{DbErr, RuntimeErr, Statement, Value, sqlx};
use tokio::sync::oneshot;

/// Statements the connection keeps prepared, the least used dropped first.
/// A batch's writes are one text a row, the same for any batch; its two
/// lookups' texts change with its size (a placeholder a value), and parsing
/// them took a tenth of the thread's time before they were kept; under load
/// the same sizes recur (batches of about 20 to 45 shares with 64 calls in
/// flight).
const PREPARED_STATEMENTS: usize = 256;

/// A job for the connection's thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The handle to the connection's thread; the thread ends once it is
/// closed, or the last handle is dropped, and the jobs sent before have run.
#[derive(Debug, Clone)]
pub(super) struct DirectWriter {
    /// None once closed. std's mutex: held only to clone or take.
    jobs: Arc<Mutex<Option<mpsc::Sender<Job>>>>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl DirectWriter {
    /// Opens `path` as the writer connections are opened (WAL, full fsync
    /// on commit, foreign keys, a busy timeout) and starts its thread.
    pub(super) fn open(path: &Path, checkpoint_pages: u32) -> Result<Self, DbErr> {
        let connection = Connection::open(path).map_err(sqlite_err)?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(sqlite_err)?;
        connection.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
        connection
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                 PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
                 PRAGMA wal_autocheckpoint = {checkpoint_pages};"
            ))
            .map_err(sqlite_err)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("sqlite-direct".into())
            .spawn(move || {
                let mut connection = connection;
                for job in queue {
                    // A job that panics fails its caller (its reply is
                    // dropped), not every batch after it.
                    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        job(&mut connection);
                    }));
                    if ran.is_err() {
                        tracing::error!("a write on the SQLite thread panicked");
                        roll_back_if_open(&connection);
                    }
                }
            })
            .map_err(|error| DbErr::Custom(format!("cannot start the SQLite thread: {error}")))?;
        Ok(Self {
            jobs: Arc::new(Mutex::new(Some(jobs))),
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// Takes no more jobs, and returns once those sent before have run and
    /// the connection is closed: a write after this one is UNAVAILABLE. The
    /// thread takes no more jobs from the first poll on, even if the caller
    /// stops waiting.
    pub(super) async fn close(&self) {
        drop(lock(&self.jobs).take());
        let Some(thread) = lock(&self.thread).take() else {
            return;
        };
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(())) => {}
            _ => tracing::error!("the SQLite thread did not end cleanly"),
        }
    }

    /// Runs `work` in a transaction (BEGIN IMMEDIATE) on the connection's
    /// thread and commits it, or rolls it back if `work` fails; then calls
    /// `after` there with whether it committed, whether or not the caller
    /// still waits. The caller must hold the writer's turn, with no group
    /// open.
    pub(super) async fn transaction<T: Send + 'static>(
        &self,
        work: impl FnOnce(&DirectConn<'_>) -> Result<T, DbErr> + Send + 'static,
        after: impl FnOnce(bool) + Send + 'static,
    ) -> Result<T, DbErr> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            let result = in_transaction(connection, work);
            after(result.is_ok());
            let _ = reply.send(result);
        });
        let stopped = || DbErr::Conn(RuntimeErr::Internal("the SQLite thread has stopped".into()));
        lock(&self.jobs)
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        // Jobs sent run even once the thread is closed: an unanswered one
        // panicked, which is a bug to report, not a reason to retry.
        answer
            .await
            .map_err(|_| DbErr::Custom("a write on the SQLite thread failed to answer".into()))?
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn in_transaction<T>(
    connection: &mut Connection,
    work: impl FnOnce(&DirectConn<'_>) -> Result<T, DbErr>,
) -> Result<T, DbErr> {
    // A transaction left open (a ROLLBACK that failed) would make BEGIN
    // fail from now on.
    roll_back_if_open(connection);
    connection
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(sqlite_err)?;
    let result = work(&DirectConn { connection });
    let ended = match &result {
        Ok(_) => connection.execute_batch("COMMIT").map_err(sqlite_err),
        Err(_) => Ok(()),
    };
    // A failed COMMIT (a full disk, an I/O error) may leave the transaction
    // open; nothing of it may stay for the next job.
    roll_back_if_open(connection);
    ended?;
    result
}

fn roll_back_if_open(connection: &Connection) {
    if !connection.is_autocommit()
        && let Err(error) = connection.execute_batch("ROLLBACK")
    {
        tracing::error!(%error, "rolling back a direct SQLite transaction failed");
    }
}

/// The connection inside a transaction: statements the store builds for
/// sea-orm, run at once on this thread.
pub(super) struct DirectConn<'a> {
    connection: &'a Connection,
}

/// A row read on the SQLite thread: its statement's column names, shared
/// by all its rows, and its values in their order.
pub(super) struct DirectRow {
    names: Arc<[String]>,
    values: Vec<SqliteValue>,
}

impl DirectConn<'_> {
    /// Runs `statements` in order.
    pub(super) fn execute(&self, statements: Vec<Statement>) -> Result<(), DbErr> {
        for statement in &statements {
            self.run(statement, |_| Ok(()))?;
        }
        Ok(())
    }

    /// The rows `statement` returns.
    pub(super) fn query(&self, statement: &Statement) -> Result<Vec<DirectRow>, DbErr> {
        let mut rows = Vec::new();
        self.run(statement, |row| {
            rows.push(row);
            Ok(())
        })?;
        Ok(rows)
    }

    /// Runs `statement`, binding its values in order to its anonymous
    /// placeholders (as sqlx does), and hands each row returned to
    /// `each_row`. A text of one statement is prepared once and kept (see
    /// [`PREPARED_STATEMENTS`]); a text of several runs each in turn.
    fn run(
        &self,
        statement: &Statement,
        mut each_row: impl FnMut(DirectRow) -> Result<(), DbErr>,
    ) -> Result<(), DbErr> {
        let sql = statement.sql.as_str();
        let mut values = statement
            .values
            .as_ref()
            .map(|values| values.0.as_slice())
            .unwrap_or_default()
            .iter();
        if let Ok(mut prepared) = self.connection.prepare_cached(sql) {
            run_prepared(&mut prepared, sql, &mut values, &mut each_row)?;
        } else {
            // Several statements (whose later ones may need the earlier ones
            // run before they can be prepared), or a statement that fails to
            // prepare, which fails here again with its own error.
            let mut statements = rusqlite::Batch::new(self.connection, sql);
            while let Some(mut prepared) = statements.next().map_err(sqlite_err)? {
                run_prepared(&mut prepared, sql, &mut values, &mut each_row)?;
            }
        }
        if values.next().is_some() {
            return Err(DbErr::Custom(format!(
                "too many values for the statement {sql}"
            )));
        }
        Ok(())
    }
}

/// Binds the next of `values` to each of `prepared`'s placeholders and runs
/// it, handing each row returned to `each_row`.
fn run_prepared<'v>(
    prepared: &mut rusqlite::Statement<'_>,
    sql: &str,
    values: &mut impl Iterator<Item = &'v Value>,
    each_row: &mut impl FnMut(DirectRow) -> Result<(), DbErr>,
) -> Result<(), DbErr> {
    for index in 1..=prepared.parameter_count() {
        let value = values
            .next()
            .ok_or_else(|| DbErr::Custom(format!("too few values for the statement {sql}")))?;
        prepared
            .raw_bind_parameter(index, bound(value)?)
            .map_err(sqlite_err)?;
    }
    if prepared.column_count() == 0 {
        prepared.raw_execute().map_err(sqlite_err)?;
        return Ok(());
    }
    let names: Arc<[String]> = prepared
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut rows = prepared.raw_query();
    while let Some(row) = rows.next().map_err(sqlite_err)? {
        let values = (0..names.len())
            .map(|index| row.get(index).map_err(sqlite_err))
            .collect::<Result<_, _>>()?;
        each_row(DirectRow {
            names: names.clone(),
            values,
        })?;
    }
    Ok(())
}

impl super::TextRow for DirectRow {
    fn text(&self, column: &str) -> Result<String, DbErr> {
        let value = self
            .names
            .iter()
            .position(|name| name == column)
            .and_then(|index| self.values.get(index));
        match value {
            Some(SqliteValue::Text(text)) => Ok(text.clone()),
            other => Err(DbErr::Type(format!(
                "column {column} is {other:?}, where text was expected"
            ))),
        }
    }
}

/// `value` as sqlx binds it for SQLite, so that both connections store the
/// same text (times as RFC 3339 with `+00:00`, booleans as 0 and 1).
fn bound(value: &Value) -> Result<ToSqlOutput<'_>, DbErr> {
    let owned = |value: SqliteValue| Ok(ToSqlOutput::Owned(value));
    match value {
        Value::Bool(Some(flag)) => owned(SqliteValue::Integer(i64::from(*flag))),
        Value::TinyInt(Some(n)) => owned(SqliteValue::Integer(i64::from(*n))),
        Value::SmallInt(Some(n)) => owned(SqliteValue::Integer(i64::from(*n))),
        Value::Int(Some(n)) => owned(SqliteValue::Integer(i64::from(*n))),
        Value::BigInt(Some(n)) => owned(SqliteValue::Integer(*n)),
        Value::TinyUnsigned(Some(n)) => owned(SqliteValue::Integer(i64::from(*n))),
        Value::SmallUnsigned(Some(n)) => owned(SqliteValue::Integer(i64::from(*n))),
        Value::Unsigned(Some(n)) => owned(SqliteValue::Integer(i64::from(*n))),
        Value::Double(Some(n)) => owned(SqliteValue::Real(*n)),
        Value::Float(Some(n)) => owned(SqliteValue::Real(f64::from(*n))),
        Value::String(Some(text)) => Ok(ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes()))),
        Value::Bytes(Some(bytes)) => Ok(ToSqlOutput::Borrowed(ValueRef::Blob(bytes))),
        Value::ChronoDateTimeUtc(Some(time)) => owned(SqliteValue::Text(
            time.to_rfc3339_opts(SecondsFormat::AutoSi, false),
        )),
        value if !value.is_some() => owned(SqliteValue::Null),
        value => Err(DbErr::Custom(format!(
            "{value:?} cannot be bound on the SQLite thread"
        ))),
    }
}

/// SQLite's error; busy or locked past the busy timeout (another process
/// writing) is a connection's error, and a refused constraint the database
/// error sqlx would give, so that `From<DbErr> for Error` maps both as it
/// maps sqlx's (sea-orm's `sql_err()` does not know this type: only
/// rusqlite's connections give it).
pub(super) fn sqlite_err(error: rusqlite::Error) -> DbErr {
    let message = format!("SQLite: {error}");
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                DbErr::Conn(RuntimeErr::Internal(message))
            }
            rusqlite::ErrorCode::ConstraintViolation => DbErr::Exec(RuntimeErr::SqlxError(
                Arc::new(sqlx::Error::Database(Box::new(ConstraintRefused {
                    extended_code: failure.extended_code,
                    message,
                }))),
            )),
            _ => DbErr::Custom(message),
        },
        _ => DbErr::Custom(message),
    }
}

/// A statement on the thread that SQLite refused for a constraint, told
/// apart by its extended code as sqlx tells its own apart.
#[derive(Debug)]
struct ConstraintRefused {
    extended_code: std::ffi::c_int,
    message: String,
}

impl std::fmt::Display for ConstraintRefused {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for ConstraintRefused {}

impl sqlx::error::DatabaseError for ConstraintRefused {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.extended_code.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        use sqlx::error::ErrorKind;
        match self.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

    use super::{DirectRow, DirectWriter, lock};
    use crate::store::TextRow;

    fn insert(table: &str, values: Vec<sea_orm::Value>) -> Statement {
        Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("INSERT INTO {table} (at, flag, n) VALUES (?, ?, ?)"),
            values,
        )
    }

    /// A row's three columns, as text.
    fn columns(row: &impl TextRow) -> (String, String, String) {
        let text = |column| row.text(column).expect("a text column");
        (text("at"), text("flag"), text("n"))
    }

    #[tokio::test]
    async fn the_thread_stores_what_sqlx_stores_and_a_failed_transaction_nothing() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("d.db");
        let sqlx = Database::connect(format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .expect("open with sqlx");
        for table in ["by_sqlx", "by_thread"] {
            sqlx.execute_unprepared(&format!(
                "CREATE TABLE {table} (at TEXT, flag BOOLEAN, n INTEGER)"
            ))
            .await
            .expect("create a table");
        }
        let at = Utc
            .timestamp_opt(1_764_000_000, 123_456_000)
            .single()
            .expect("a time");
        let values = || vec![at.into(), true.into(), 7i64.into()];
        sqlx.execute_raw(insert("by_sqlx", values()))
            .await
            .expect("insert with sqlx");
        let direct = DirectWriter::open(&path, 1_000).expect("open the thread's connection");
        let statement = insert("by_thread", values());
        direct
            .transaction(move |conn| conn.execute(vec![statement]), |_| {})
            .await
            .expect("insert on the thread");

        let failing = insert("by_thread", values());
        let failed = direct
            .transaction(
                move |conn| {
                    conn.execute(vec![failing])?;
                    conn.execute(vec![Statement::from_string(
                        DbBackend::Sqlite,
                        "SELECT * FROM missing",
                    )])
                },
                |committed| assert!(!committed, "a failed transaction reported as committed"),
            )
            .await;
        assert!(failed.is_err(), "a statement on a missing table succeeded");

        let read = |table: &str| {
            Statement::from_string(
                DbBackend::Sqlite,
                format!("SELECT at, CAST(flag AS TEXT) AS flag, CAST(n AS TEXT) AS n FROM {table}"),
            )
        };
        let by_sqlx: Vec<(String, String, String)> = sqlx
            .query_all_raw(read("by_sqlx"))
            .await
            .expect("read sqlx's row")
            .iter()
            .map(columns)
            .collect();
        let query = read("by_thread");
        let by_thread: Vec<DirectRow> = direct
            .transaction(move |conn| conn.query(&query), |_| {})
            .await
            .expect("read the thread's rows");
        let by_thread: Vec<(String, String, String)> = by_thread.iter().map(columns).collect();
        assert_eq!(by_sqlx.len(), 1);
        assert_eq!(
            by_thread, by_sqlx,
            "the rolled-back row stayed, or the text differs"
        );
    }

    #[tokio::test]
    async fn texts_of_one_or_several_statements_bind_their_values_in_order() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let direct =
            DirectWriter::open(&dir.path().join("m.db"), 1_000).expect("open the connection");
        let sql = |sql: &str, values: Vec<sea_orm::Value>| {
            Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
        };
        // The second needs the first run before it can be prepared.
        let create_then_insert = sql(
            "CREATE TABLE t (n INTEGER, s TEXT); INSERT INTO t VALUES (?, ?), (?, ?)",
            vec![1i64.into(), "one".into(), 2i64.into(), "two".into()],
        );
        // Both can be prepared at once; each takes its own values.
        let two_inserts = sql(
            "INSERT INTO t VALUES (?, ?); INSERT INTO t VALUES (?, ?)",
            vec![3i64.into(), "three".into(), 4i64.into(), "four".into()],
        );
        let one = |n: i64| {
            sql(
                "INSERT INTO t VALUES (?, ?)",
                vec![n.into(), format!("n{n}").into()],
            )
        };
        let (five, seven) = (one(5), one(7));
        let short = sql("INSERT INTO t VALUES (?, ?)", vec![6i64.into()]);
        let rows = direct
            .transaction(
                move |conn| {
                    conn.execute(vec![create_then_insert, two_inserts, five])?;
                    let refused = conn.execute(vec![short]).is_err();
                    // The text kept prepared after the refusal binds anew.
                    conn.execute(vec![seven])?;
                    let rows = conn.query(&Statement::from_string(
                        DbBackend::Sqlite,
                        "SELECT group_concat(v, ',') AS rows FROM (SELECT n || s AS v FROM t ORDER BY n)",
                    ))?;
                    Ok((refused, rows))
                },
                |_| {},
            )
            .await
            .expect("the statements ran");
        let (refused, rows) = rows;
        assert!(refused, "a statement short of values ran");
        assert_eq!(
            rows.first()
                .map(|row| row.text("rows").expect("a text column")),
            Some("1one,2two,3three,4four,5n5,7n7".to_owned())
        );
    }

    #[tokio::test]
    async fn closing_lets_the_write_under_way_commit_and_refuses_the_next_as_unavailable() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("c.db");
        let direct = DirectWriter::open(&path, 1_000).expect("open the connection");
        let create = Statement::from_string(DbBackend::Sqlite, "CREATE TABLE t (n INTEGER)");
        direct
            .transaction(move |conn| conn.execute(vec![create]), |_| {})
            .await
            .expect("a write before closing");

        // A write that is on the thread when closing begins, held there
        // until closing has begun.
        let (started, on_thread) = std::sync::mpsc::channel();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let insert = Statement::from_string(DbBackend::Sqlite, "INSERT INTO t VALUES (1)");
        let under_way = tokio::spawn({
            let direct = direct.clone();
            async move {
                direct
                    .transaction(
                        move |conn| {
                            let _ = started.send(());
                            let _ = wait.recv();
                            conn.execute(vec![insert])
                        },
                        |_| {},
                    )
                    .await
            }
        });
        tokio::task::spawn_blocking(move || on_thread.recv())
            .await
            .expect("the waiting task")
            .expect("the write reached the thread");
        let closing = tokio::spawn({
            let direct = direct.clone();
            async move { direct.close().await }
        });
        let later = Statement::from_string(DbBackend::Sqlite, "INSERT INTO t VALUES (2)");
        // The first poll of closing takes the thread's queue away; give it
        // that poll before the next write is sent.
        tokio::task::yield_now().await;
        while !closing.is_finished() && lock(&direct.jobs).is_some() {
            tokio::task::yield_now().await;
        }
        let refused = direct
            .transaction(move |conn| conn.execute(vec![later]), |_| {})
            .await
            .expect_err("a write after closing began ran");
        assert!(
            matches!(
                crate::error::Error::from(refused),
                crate::error::Error::Unavailable(_)
            ),
            "a write after closing was not UNAVAILABLE"
        );
        go.send(()).expect("release the write under way");
        under_way
            .await
            .expect("the write's task")
            .expect("the write under way when closing began did not commit");
        closing.await.expect("closing");

        let reopened = rusqlite::Connection::open(&path).expect("reopen the database");
        let kept: Vec<i64> = reopened
            .prepare("SELECT n FROM t ORDER BY n")
            .and_then(|mut rows| rows.query_map([], |row| row.get(0))?.collect())
            .expect("read the table");
        assert_eq!(
            kept,
            vec![1],
            "the write under way was lost, or the later one kept"
        );
    }

    #[tokio::test]
    async fn refused_constraints_map_as_sqlx_refusals_do() {
        use crate::error::Error;

        let dir = tempfile::tempdir().expect("a temporary directory");
        let direct =
            DirectWriter::open(&dir.path().join("c.db"), 1_000).expect("open the connection");
        let sql = |sql: &str| Statement::from_string(DbBackend::Sqlite, sql);
        let schema = sql("CREATE TABLE parent (id INTEGER PRIMARY KEY); \
             CREATE TABLE child (id INTEGER PRIMARY KEY, \
             parent INTEGER NOT NULL REFERENCES parent (id), name TEXT UNIQUE); \
             INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1, 'a')");
        direct
            .transaction(move |conn| conn.execute(vec![schema]), |_| {})
            .await
            .expect("create the tables");
        let refusal = async |statement: &str| {
            let statement = sql(statement);
            let refused = direct
                .transaction(move |conn| conn.execute(vec![statement]), |_| {})
                .await
                .expect_err("a statement breaking a constraint ran");
            Error::from(refused)
        };

        for clash in [
            "INSERT INTO child VALUES (1, 1, 'b')",
            "INSERT INTO child VALUES (2, 1, 'a')",
        ] {
            let error = refusal(clash).await;
            assert!(
                matches!(error, Error::AlreadyExists(_)),
                "{clash}: {error:?}"
            );
        }
        let error = refusal("INSERT INTO child VALUES (3, 2, 'c')").await;
        assert!(
            matches!(
                error,
                Error::FailedPrecondition {
                    kind: "REFERENCE_CHANGED",
                    ..
                }
            ),
            "a missing parent: {error:?}"
        );
        let error = refusal("INSERT INTO child VALUES (4, NULL, 'd')").await;
        assert!(matches!(error, Error::Internal(_)), "a NULL: {error:?}");
    }
}
