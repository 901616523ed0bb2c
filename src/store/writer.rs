//! Write transactions and group commit. On SQLite, writes take turns on the
//! one writer connection, each in a savepoint of a transaction its group
//! shares, and one commit (one fsync) makes the whole group durable before
//! any member answers. On PostgreSQL each write is a transaction of its own
//! on the pool, and PostgreSQL groups concurrent commits' flushes itself.
//!
//! Savepoints are named and run here rather than through sea-orm's nested
//! transactions: a nested transaction cut off while it begins queues a
//! rollback that sqlx runs one level too high, on the group's transaction.

use std::sync::{
    Arc, Weak,
    atomic::{AtomicUsize, Ordering},
};

use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, QueryResult, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait, prelude::async_trait,
};
use tokio::{
    sync::{Mutex, Notify, OwnedMutexGuard, watch},
    task::JoinHandle,
};

use super::direct::{DirectConn, DirectWriter};
use crate::error::Error;

// At most one savepoint is open at a time (a write releases the last one as
// it opens its own), so one name serves them all, and these statements stay
// the same strings: sqlx prepares and caches each string it sees, and names
// numbered per write would push the writes' own statements out of its cache.
const OPEN_SAVEPOINT: &str = "SAVEPOINT write";
const RELEASE_AND_OPEN_SAVEPOINT: &str = "RELEASE write; SAVEPOINT write";
const UNDO_SAVEPOINT: &str = "ROLLBACK TO write; RELEASE write";

/// Where write transactions begin, and who hears of their commits.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    mode: Mode,
    /// Counts committed changes, so that the change feed and the reader
    /// cache can wait for the next one instead of polling.
    commits: Arc<watch::Sender<u64>>,
}

#[derive(Debug, Clone)]
enum Mode {
    /// PostgreSQL: a transaction of its own per write, on the pool.
    Pool(DatabaseConnection),
    /// SQLite: savepoints in a shared transaction on one connection.
    Group(Arc<GroupCommit>),
}

impl Writer {
    /// Each write a transaction of its own on `pool`.
    pub(super) fn on_pool(pool: DatabaseConnection, commits: Arc<watch::Sender<u64>>) -> Self {
        Self {
            mode: Mode::Pool(pool),
            commits,
        }
    }

    /// Writes grouped on `connection`, a pool of one SQLite connection,
    /// opened again from `reopen` if a failed commit or rollback leaves its
    /// state in doubt (never for an in-memory database, which would come
    /// back empty).
    pub(super) fn grouped(
        connection: DatabaseConnection,
        reopen: Option<ConnectOptions>,
        direct: Option<DirectWriter>,
        commits: Arc<watch::Sender<u64>>,
    ) -> Self {
        let due = Arc::new(Notify::new());
        let group = Arc::new(GroupCommit {
            connection: std::sync::Mutex::new(connection),
            reopen,
            direct,
            group: Arc::new(Mutex::new(Group::default())),
            queued: AtomicUsize::new(0),
            due: due.clone(),
            commits: commits.clone(),
        });
        tokio::spawn(commit_groups(Arc::downgrade(&group), due));
        Self {
            mode: Mode::Group(group),
            commits,
        }
    }

    /// The connection writes use, for pool metrics and closing.
    pub(super) fn connection(&self) -> DatabaseConnection {
        match &self.mode {
            Mode::Pool(pool) => pool.clone(),
            Mode::Group(group) => group.connection(),
        }
    }

    /// Starts a write. On SQLite this waits for the writer connection's
    /// turn, then opens the group's transaction, or leaves the savepoint in
    /// it for the write's first statement to open (see [`Savepoint`]). The
    /// transaction takes the write lock at BEGIN (IMMEDIATE), since a
    /// deferred transaction that read first could not upgrade to a writer
    /// once another process had committed, and would fail at once instead
    /// of waiting out the busy timeout.
    pub(super) async fn begin(&self) -> Result<WriteTxn, DbErr> {
        let writer = match &self.mode {
            Mode::Pool(pool) => {
                return Ok(WriteTxn {
                    backend: pool.get_database_backend(),
                    scope: Some(Scope::Own(pool.begin().await?)),
                    turn: None,
                    commits: self.commits.clone(),
                    savepoint: std::sync::Mutex::new(Savepoint::Open),
                });
            }
            Mode::Group(writer) => writer,
        };
        let mut turn = writer.turn().await;
        if !matches!(turn.guard.unsettled, Unsettled::Nothing) {
            turn = turn.settle().await?;
        }
        let connection = writer.connection();
        let backend = connection.get_database_backend();
        if turn.guard.open.is_none() {
            // The group's first write needs no savepoint: if it fails, the
            // whole transaction, which holds nothing else, is rolled back.
            let open = connection
                .begin_with_options(TransactionOptions {
                    sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                    ..TransactionOptions::default()
                })
                .await?;
            turn.guard.open = Some(open);
            return Ok(WriteTxn {
                backend,
                scope: Some(Scope::First),
                turn: Some(turn),
                commits: self.commits.clone(),
                savepoint: std::sync::Mutex::new(Savepoint::Open),
            });
        }
        // The savepoint is opened by the write's first read, in the same
        // call (releasing the last write's savepoint too): that saves every
        // write a hand-off to the connection's thread and back.
        let released_last = std::mem::take(&mut turn.guard.unreleased);
        Ok(WriteTxn {
            backend,
            scope: Some(Scope::Savepoint),
            turn: Some(turn),
            commits: self.commits.clone(),
            savepoint: std::sync::Mutex::new(Savepoint::Unsent { released_last }),
        })
    }

    /// Whether [`Writer::on_own_thread`] can run a write: SQLite on a file.
    pub(super) fn has_own_thread(&self) -> bool {
        matches!(&self.mode, Mode::Group(group) if group.direct.is_some())
    }

    /// Runs `work` as a transaction of its own on SQLite's direct connection
    /// (see `direct`), in the writer's turn once the group before it has
    /// committed, and answers once it is durable. Without a direct
    /// connection, UNAVAILABLE.
    pub(super) async fn on_own_thread<T: Send + 'static>(
        &self,
        work: impl FnOnce(&DirectConn<'_>) -> Result<T, DbErr> + Send + 'static,
    ) -> Result<T, Error> {
        let Mode::Group(group) = &self.mode else {
            return Err(no_own_thread());
        };
        let direct = group.direct.clone().ok_or_else(no_own_thread)?;
        // The direct connection could not take the write lock while the
        // group holds it.
        let turn = group.turn_between_groups("a write").await?;
        let commits = self.commits.clone();
        // The turn goes with the transaction to the thread, which lets it go
        // once the transaction has ended: a caller cut off must not let the
        // next group begin while the thread still writes.
        direct
            .transaction(work, move |committed| {
                if committed {
                    commits.send_modify(|count| *count += 1);
                }
                drop(turn);
            })
            .await
            .map_err(Error::from)
    }

    /// A handle that pauses this process's writes on SQLite (none on
    /// PostgreSQL); it holds the writer only while a pause lasts.
    pub(super) fn pauser(&self) -> Option<Pauser> {
        match &self.mode {
            Mode::Pool(_) => None,
            Mode::Group(group) => Some(Pauser(Arc::downgrade(group))),
        }
    }

    /// Writes waiting for the writer's turn (SQLite; always 0 on
    /// PostgreSQL, where writes do not take turns).
    pub(super) fn waiting(&self) -> usize {
        match &self.mode {
            Mode::Pool(_) => 0,
            Mode::Group(group) => group.queued.load(Ordering::SeqCst),
        }
    }

    /// Stops the SQLite thread once the writes sent to it have committed (a
    /// write on it after this one is UNAVAILABLE), and commits the open
    /// group, if any, so that nothing waits on a pool about to close.
    pub(super) async fn close(&self) {
        if let Mode::Group(writer) = &self.mode {
            // First: a close cut short (the caller's timeout) still leaves the
            // thread taking no more writes.
            if let Some(direct) = &writer.direct {
                direct.close().await;
            }
            let guard = writer.group.clone().lock_owned().await;
            let turn = Turn {
                guard,
                writer: writer.clone(),
            };
            if let Err(error) = turn.finish_group().await {
                tracing::error!(%error, "committing the last group of writes failed");
            }
        }
    }
}

/// The SQLite writer connection and the group writing on it.
struct GroupCommit {
    /// A pool of one connection. std's mutex: held only to clone or swap.
    connection: std::sync::Mutex<DatabaseConnection>,
    reopen: Option<ConnectOptions>,
    /// The connection whole transactions run on in one hand-off (a file's
    /// database; an in-memory one has only `connection`).
    direct: Option<DirectWriter>,
    group: Arc<Mutex<Group>>,
    /// Writes waiting for the turn.
    queued: AtomicUsize,
    /// Wakes the committer: the group's transaction is open and nobody
    /// holds the turn.
    due: Arc<Notify>,
    commits: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        // The committer holds only a weak reference: woken, it finds this
        // gone and stops.
        self.due.notify_one();
    }
}

/// The group of writes that will commit together.
struct Group {
    /// The transaction the group's writes are in, while it is open.
    open: Option<DatabaseTransaction>,
    /// How the open group's commit went, for the members waiting on it.
    outcome: watch::Sender<Option<Result<(), Error>>>,
    /// Writes that are done and wait for the group's commit.
    members: usize,
    /// Whether the last write done left its savepoint open, for the next
    /// write to release as it opens its own (COMMIT releases it otherwise).
    unreleased: bool,
    /// What the last holder of the turn left undone, settled before the
    /// connection does anything else.
    unsettled: Unsettled,
}

impl Default for Group {
    fn default() -> Self {
        Self {
            open: None,
            outcome: watch::channel(None).0,
            members: 0,
            unreleased: false,
            unsettled: Unsettled::Nothing,
        }
    }
}

/// What a write that left the turn without finishing leaves to undo.
#[derive(Debug, PartialEq, Eq)]
enum Unsettled {
    Nothing,
    /// A write in this savepoint failed or was cancelled: its changes are
    /// rolled back, and the writes before it stay.
    Savepoint,
    /// The group's first write failed or was cancelled: the transaction
    /// holds only its changes, and is rolled back.
    FirstWrite,
    /// A write was cut off (or failed, short of breaking a constraint) in
    /// the call that opened its savepoint, or undoing one failed: what the
    /// transaction holds is unknown, so the whole group is rolled back and
    /// its members hear an error.
    Unknown,
}

impl GroupCommit {
    fn connection(&self) -> DatabaseConnection {
        match self.connection.lock() {
            Ok(connection) => connection.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    async fn turn(self: &Arc<Self>) -> Turn {
        let queued = Queued::join(&self.queued);
        let guard = self.group.clone().lock_owned().await;
        drop(queued);
        Turn {
            guard,
            writer: self.clone(),
        }
    }

    /// The turn, once the open group, if any, has committed (its members
    /// hear how the commit went), for `what` to run outside any group.
    async fn turn_between_groups(self: &Arc<Self>, what: &str) -> Result<Turn, Error> {
        let turn = self.turn().await;
        if turn.guard.open.is_none() && turn.guard.unsettled == Unsettled::Nothing {
            return Ok(turn);
        }
        turn.finish_group().await.map_err(|error| {
            Error::Internal(format!(
                "committing the group before {what} failed: {error}"
            ))
        })
    }

    /// Undoes what the last holder of the turn left undone.
    async fn settle(&self, group: &mut Group) {
        match std::mem::replace(&mut group.unsettled, Unsettled::Unknown) {
            Unsettled::Nothing => group.unsettled = Unsettled::Nothing,
            Unsettled::Savepoint => {
                let undone = match &group.open {
                    Some(open) => open.execute_unprepared(UNDO_SAVEPOINT).await.map(drop),
                    None => Err(DbErr::Custom("the group's transaction is not open".into())),
                };
                match undone {
                    Ok(()) => group.unsettled = Unsettled::Nothing,
                    Err(error) => {
                        tracing::error!(%error, "undoing a failed write's savepoint failed");
                        self.give_up(group).await;
                    }
                }
            }
            Unsettled::FirstWrite | Unsettled::Unknown => self.give_up(group).await,
        }
    }

    /// Rolls the group back; its members hear that nothing was written.
    async fn give_up(&self, group: &mut Group) {
        if let Some(open) = group.open.take()
            && let Err(error) = open.rollback().await
        {
            tracing::error!(%error, "rolling back a group of writes failed");
            self.reopen().await;
        }
        group.unsettled = Unsettled::Nothing;
        answer(
            group,
            Err(Error::Unavailable(
                "a write committed with this one was cut off, and neither was made; retry".into(),
            )),
        );
    }

    /// Commits the open group and tells its members how that went.
    async fn finish(&self, group: &mut Group) {
        self.settle(group).await;
        let Some(open) = group.open.take() else {
            return;
        };
        let result = open.commit().await.map_err(Error::from);
        match &result {
            Ok(()) => {
                self.commits.send_modify(|count| *count += 1);
                metrics::histogram!("db_commit_group_writes").record(group.members as f64);
            }
            Err(error) => {
                // Each member logs it once more as it answers.
                tracing::error!(%error, "committing a group of writes failed");
                self.reopen().await;
            }
        }
        answer(group, result);
    }

    /// Replaces the writer connection after a failed commit or rollback:
    /// SQLite may have ended the transaction itself (a full disk, an I/O
    /// error), and sqlx would go on treating the connection as inside it,
    /// turning the next BEGIN into a savepoint that never commits.
    async fn reopen(&self) {
        let Some(options) = &self.reopen else {
            return;
        };
        match sea_orm::Database::connect(options.clone()).await {
            Ok(fresh) => {
                let stale = match self.connection.lock() {
                    Ok(mut connection) => std::mem::replace(&mut *connection, fresh),
                    Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), fresh),
                };
                tokio::spawn(async move {
                    if let Err(error) = stale.close().await {
                        tracing::warn!(%error, "closing the replaced writer connection failed");
                    }
                });
            }
            Err(error) => tracing::error!(%error, "opening a new writer connection failed"),
        }
    }
}

/// Tells the group's members how it ended, and starts the next group.
fn answer(group: &mut Group, result: Result<(), Error>) {
    group.members = 0;
    group.unreleased = false;
    let outcome = std::mem::replace(&mut group.outcome, watch::channel(None).0);
    outcome.send_replace(Some(result));
}

/// The committer: whenever the group's transaction is left open with
/// nobody holding the turn, it queues for the turn and commits. Writes
/// that queued before it join the group first, so under load a group grows
/// to the queue's length and one fsync serves all of it. (A write that
/// finds nobody queued behind it commits its group itself.)
async fn commit_groups(writer: Weak<GroupCommit>, due: Arc<Notify>) {
    loop {
        due.notified().await;
        let Some(writer) = writer.upgrade() else {
            return;
        };
        let guard = writer.group.clone().lock_owned().await;
        let turn = Turn { guard, writer };
        if let Err(error) = turn.finish_group().await {
            tracing::error!(%error, "the group committer failed");
        }
    }
}

/// A place in the queue for the turn, given up when dropped (also when the
/// waiting write is cancelled).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn join(queued: &'a AtomicUsize) -> Self {
        queued.fetch_add(1, Ordering::SeqCst);
        Self(queued)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Pauses SQLite's writes in this process (see [`Writer::pauser`]).
#[derive(Debug, Clone)]
pub(super) struct Pauser(Weak<GroupCommit>);

impl Pauser {
    /// Runs `work` on the writer's connection while no write of this
    /// process runs: in the writers' turn, once the open group, if any, has
    /// committed. None once the writer is gone.
    pub(super) async fn between_writes<T, F: Future<Output = T>>(
        &self,
        work: impl FnOnce(DatabaseConnection) -> F,
    ) -> Result<Option<T>, Error> {
        let Some(group) = self.0.upgrade() else {
            return Ok(None);
        };
        let turn = group.turn_between_groups("a pause").await?;
        let done = work(group.connection()).await;
        drop(turn);
        Ok(Some(done))
    }
}

/// The writer connection's turn, held by one write at a time.
struct Turn {
    guard: OwnedMutexGuard<Group>,
    writer: Arc<GroupCommit>,
}

impl Turn {
    /// Settles what the last holder left undone, in a task of its own (see
    /// [`Turn::finish_group`]), and hands the turn back.
    async fn settle(mut self) -> Result<Turn, DbErr> {
        tokio::spawn(async move {
            let writer = self.writer.clone();
            writer.settle(&mut self.guard).await;
            self
        })
        .await
        .map_err(|error| DbErr::Custom(format!("settling the writer connection failed: {error}")))
    }

    /// Commits the open group in a task of its own, so that cancelling the
    /// caller cannot cut the commit short: a commit cut short would leave
    /// its group's members without an answer. The task hands the turn
    /// back, or drops it if nobody awaits it.
    fn finish_group(mut self) -> JoinHandle<Turn> {
        tokio::spawn(async move {
            let writer = self.writer.clone();
            writer.finish(&mut self.guard).await;
            self
        })
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        // Whoever leaves the group's transaction open, or something to
        // undo, calls the committer, so that it never stays so (holding
        // SQLite's write lock) with nobody coming.
        if self.guard.open.is_some() || self.guard.unsettled != Unsettled::Nothing {
            self.writer.due.notify_one();
        }
    }
}

/// A write in progress: a transaction (PostgreSQL), or on SQLite the
/// group's transaction or a savepoint in it, with the writer's turn.
/// Dropped without [`WriteTxn::commit`], it is rolled back.
pub(super) struct WriteTxn {
    backend: DbBackend,
    scope: Option<Scope>,
    turn: Option<Turn>,
    commits: Arc<watch::Sender<u64>>,
    /// Whether the savepoint (SQLite, after the group's first write) is
    /// open yet. std's mutex: held only to read or swap.
    savepoint: std::sync::Mutex<Savepoint>,
}

/// A write's savepoint: opened in the same call as the write's first query,
/// as sqlx runs the statements of one query in turn. A statement whose rows
/// affected are read (an insert, an update) opens it in a call of its own:
/// SQLite's count after SAVEPOINT is the last write's, which sqlx would add
/// to the statement's.
#[derive(Debug, Clone, Copy)]
enum Savepoint {
    /// Nothing sent yet: the opening goes with the first statement.
    Unsent {
        /// Whether the opening releases the last write's savepoint, which
        /// stays unreleased if this write sends nothing.
        released_last: bool,
    },
    /// Sent, and not known to have run: the call failed or was cut off.
    InDoubt,
    /// Open (or none needed: PostgreSQL, or the group's first write).
    Open,
}

/// Where a write's statements run.
enum Scope {
    /// PostgreSQL: a transaction of its own.
    Own(DatabaseTransaction),
    /// SQLite: the group's transaction, which this write opened: nothing
    /// else is in it yet.
    First,
    /// SQLite: the savepoint in the group's transaction.
    Savepoint,
}

impl std::fmt::Debug for WriteTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTxn")
            .field("grouped", &self.turn.is_some())
            .finish_non_exhaustive()
    }
}

impl WriteTxn {
    fn txn(&self) -> Result<&DatabaseTransaction, DbErr> {
        match &self.scope {
            Some(Scope::Own(txn)) => Some(txn),
            Some(Scope::First | Scope::Savepoint) => {
                self.turn.as_ref().and_then(|turn| turn.guard.open.as_ref())
            }
            None => None,
        }
        .ok_or_else(|| DbErr::Custom("the write has ended".into()))
    }

    fn savepoint(&self) -> std::sync::MutexGuard<'_, Savepoint> {
        self.savepoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The savepoint's opening, if nothing has sent it yet, to send with
    /// the next statement; until that succeeds the savepoint is in doubt,
    /// and no other statement may run (it could run outside the savepoint).
    fn take_opening(&self) -> Result<Option<&'static str>, DbErr> {
        let mut savepoint = self.savepoint();
        match *savepoint {
            Savepoint::Open => Ok(None),
            Savepoint::InDoubt => Err(DbErr::Custom(
                "the write's savepoint is in doubt: the write cannot go on".into(),
            )),
            Savepoint::Unsent { released_last } => {
                *savepoint = Savepoint::InDoubt;
                Ok(Some(if released_last {
                    RELEASE_AND_OPEN_SAVEPOINT
                } else {
                    OPEN_SAVEPOINT
                }))
            }
        }
    }

    /// Opens the savepoint in a call of its own, if nothing has yet: for
    /// statements that cannot carry it.
    async fn open_savepoint_alone(&self) -> Result<(), DbErr> {
        if let Some(opening) = self.take_opening()? {
            self.txn()?.execute_unprepared(opening).await?;
            *self.savepoint() = Savepoint::Open;
        }
        Ok(())
    }

    /// Runs `query` with the savepoint's opening before it, if unsent.
    async fn with_opening<T>(
        &self,
        stmt: Statement,
        query: impl AsyncFnOnce(&DatabaseTransaction, Statement) -> Result<T, DbErr>,
    ) -> Result<T, DbErr> {
        let txn = self.txn()?;
        let Some(opening) = self.take_opening()? else {
            return query(txn, stmt).await;
        };
        let stmt = Statement {
            sql: format!("{opening}; {}", stmt.sql),
            ..stmt
        };
        let result = query(txn, stmt).await;
        // The opening cannot break a constraint: when a statement after it
        // did, the opening ran, and undoing the savepoint undoes the write.
        let opened = match &result {
            Ok(_) => true,
            Err(error) => error.sql_err().is_some(),
        };
        if opened {
            *self.savepoint() = Savepoint::Open;
        }
        result
    }

    /// Commits the write and returns once it is durable: on SQLite, once
    /// its group has committed.
    pub(super) async fn commit(mut self) -> Result<(), Error> {
        let savepoint = *self.savepoint();
        if let Savepoint::InDoubt = savepoint {
            // Dropped, the write gives its group up (see `Drop`).
            return Err(Error::Internal(
                "a write committed after a statement of it failed".into(),
            ));
        }
        let scope = self.scope.take().ok_or_else(ended)?;
        let Some(mut turn) = self.turn.take() else {
            if let Scope::Own(txn) = scope {
                txn.commit().await?;
            }
            self.commits.send_modify(|count| *count += 1);
            return Ok(());
        };
        if let Scope::Savepoint = scope {
            turn.guard.unreleased = match savepoint {
                // A write that sent nothing leaves the last one's as it was.
                Savepoint::Unsent { released_last } => released_last,
                Savepoint::InDoubt | Savepoint::Open => true,
            };
        }
        turn.guard.members += 1;
        let mut outcome = turn.guard.outcome.subscribe();
        if turn.writer.queued.load(Ordering::SeqCst) == 0 {
            // Nobody waits to join the group: the committer would only
            // come to do the same.
            drop(turn.finish_group());
        } else {
            drop(turn);
        }
        let committed = outcome
            .wait_for(Option::is_some)
            .await
            .map_err(|_| Error::Unavailable("the writer stopped before committing".into()))?
            .clone();
        committed.unwrap_or_else(|| Err(ended()))
    }

    /// Undoes the write. On SQLite the undoing is left to whoever holds the
    /// turn next, before anything else: nothing else can see the write
    /// meanwhile, nor write.
    pub(super) async fn rollback(mut self) -> Result<(), Error> {
        if let Some(Scope::Own(_)) = self.scope
            && let Some(Scope::Own(txn)) = self.scope.take()
        {
            txn.rollback().await?;
        }
        // On SQLite, dropped with its scope: see `Drop`.
        Ok(())
    }
}

fn no_own_thread() -> Error {
    Error::Unavailable("this database has no SQLite writer thread".into())
}

fn ended() -> Error {
    Error::Internal("a write was used after it ended".into())
}

impl Drop for WriteTxn {
    fn drop(&mut self) {
        let (Some(scope), Some(turn)) = (self.scope.take(), &mut self.turn) else {
            return;
        };
        let savepoint = *self
            .savepoint
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        turn.guard.unsettled = match scope {
            Scope::Savepoint => match savepoint {
                Savepoint::Unsent { released_last } => {
                    turn.guard.unreleased = released_last;
                    Unsettled::Nothing
                }
                // Cut off or failed while the call that opens the savepoint
                // (and releases the last) ran: nobody knows what it did.
                Savepoint::InDoubt => Unsettled::Unknown,
                Savepoint::Open => Unsettled::Savepoint,
            },
            Scope::First => Unsettled::FirstWrite,
            Scope::Own(_) => Unsettled::Nothing,
        };
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.backend
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.open_savepoint_alone().await?;
        self.txn()?.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.open_savepoint_alone().await?;
        self.txn()?.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.with_opening(stmt, async |txn, stmt| txn.query_one_raw(stmt).await)
            .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.with_opening(stmt, async |txn, stmt| txn.query_all_raw(stmt).await)
            .await
    }

    fn support_returning(&self) -> bool {
        self.txn().is_ok_and(ConnectionTrait::support_returning)
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    use super::super::{Store, StoreOptions};

    /// A store on a fresh SQLite file, with a table to write rows to.
    async fn scratch() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
        let store = Store::connect(&StoreOptions {
            url,
            max_connections: 2,
            acquire_timeout: Duration::from_secs(5),
        })
        .await
        .expect("open the store");
        store
            .db
            .execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .await
            .expect("create the table");
        (store, dir)
    }

    async fn insert(txn: &super::WriteTxn, id: i64) {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO t (id) VALUES (?)",
            [id.into()],
        ))
        .await
        .expect("insert");
    }

    async fn stored(store: &Store) -> Vec<i64> {
        store
            .db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT id FROM t ORDER BY id",
            ))
            .await
            .expect("read the table")
            .into_iter()
            .map(|row| row.try_get::<i64>("", "id").expect("an id"))
            .collect()
    }

    /// Lets other tasks run until `n` writes queue for the turn.
    async fn until_queued(store: &Store, n: usize) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while store.writes_waiting() < n {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the writes queue");
    }

    /// Starts a write that runs `write` once it has the turn, and waits
    /// until it queues for it, behind the writes queued already.
    async fn queue_write<T, F>(
        store: &Store,
        write: impl FnOnce(super::WriteTxn) -> F + Send + 'static,
    ) -> tokio::task::JoinHandle<T>
    where
        F: Future<Output = T> + Send,
        T: Send + 'static,
    {
        let queued = store.writes_waiting() + 1;
        let handle = tokio::spawn({
            let store = store.clone();
            async move { write(store.writer.begin().await.expect("begin")).await }
        });
        until_queued(store, queued).await;
        handle
    }

    async fn count(txn: &super::WriteTxn) -> i64 {
        txn.query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT count(*) AS n FROM t",
        ))
        .await
        .expect("count")
        .expect("a row")
        .try_get::<i64>("", "n")
        .expect("a count")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pause_runs_after_the_open_group_commits_and_before_the_next_write() {
        let (store, _dir) = scratch().await;
        let pauser = store.writer.pauser().expect("SQLite's writes pause");
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let first = store.writer.begin().await.expect("begin");
        insert(&first, 1).await;
        let (resume, resumed) = tokio::sync::oneshot::channel::<()>();
        let pause = tokio::spawn({
            let store = store.clone();
            let order = order.clone();
            async move {
                pauser
                    .between_writes(|_| async move {
                        // A reading connection: it sees only what committed.
                        let seen = stored(&store).await;
                        resumed.await.expect("resumed");
                        order.lock().expect("the order").push("the pause ends");
                        seen
                    })
                    .await
            }
        });
        until_queued(&store, 1).await;
        tokio::time::timeout(Duration::from_secs(5), first.commit())
            .await
            .expect("the pause let the group before it commit")
            .expect("the first write commits");
        let next = queue_write(&store, {
            let order = order.clone();
            |txn| async move {
                order
                    .lock()
                    .expect("the order")
                    .push("the next write begins");
                insert(&txn, 2).await;
                txn.commit().await
            }
        })
        .await;
        // Time for the next write to take the turn, were the pause to let it.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(store.writes_waiting(), 1, "a write ran during the pause");
        resume.send(()).expect("the pause waits");
        let seen = pause
            .await
            .expect("the pause")
            .expect("the group before it committed")
            .expect("the writer is open");
        assert_eq!(seen, [1], "the write before the pause was not committed");
        next.await
            .expect("the next write")
            .expect("the next write commits");
        assert_eq!(stored(&store).await, [1, 2]);
        assert_eq!(
            *order.lock().expect("the order"),
            ["the pause ends", "the next write begins"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_leaves_its_group_and_the_others_commit_together() {
        let (store, _dir) = scratch().await;
        let commits_before = store.local_commits();
        let first = store.writer.begin().await.expect("begin");
        insert(&first, 1).await;
        // Queued behind the first, in this order: a write that inserts
        // (opening its savepoint in a call of its own) and is rolled back;
        // one that reads (opening it in the same call), inserts and fails
        // (is dropped); one whose first statement, a query, breaks a
        // constraint; one that sends nothing; one that reads and inserts.
        let failing_insert = queue_write(&store, |txn| async move {
            insert(&txn, 2).await;
            txn.rollback().await.expect("roll back");
        })
        .await;
        let failing_read = queue_write(&store, |txn| async move {
            let seen = count(&txn).await;
            insert(&txn, 3).await;
            seen
        })
        .await;
        let breaking = queue_write(&store, |txn| async move {
            txn.query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "INSERT INTO t (id) VALUES (1) RETURNING id",
            ))
            .await
            .map(drop)
        })
        .await;
        let empty = queue_write(&store, |txn| txn.commit()).await;
        let last = queue_write(&store, |txn| async move {
            let seen = count(&txn).await;
            insert(&txn, 5).await;
            txn.commit().await.map(|()| seen)
        })
        .await;

        first.commit().await.expect("the first write commits");
        failing_insert.await.expect("the first failing write");
        assert_eq!(failing_read.await.expect("the second failing write"), 1);
        breaking
            .await
            .expect("the write that breaks a constraint")
            .expect_err("id 1 is taken");
        empty
            .await
            .expect("the empty write")
            .expect("the empty write commits");
        let seen = last
            .await
            .expect("the last write")
            .expect("the last write commits");
        assert_eq!(
            seen, 1,
            "the failed writes were undone before the last read"
        );
        assert_eq!(stored(&store).await, [1, 5]);
        assert_eq!(
            store.local_commits() - commits_before,
            1,
            "one commit for all"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_cut_off_anywhere_never_take_an_acknowledged_one_with_them() {
        let (store, _dir) = scratch().await;
        let mut acknowledged = Vec::new();
        let mut cut_off = 0;
        // Waves of writes with a fixed sequence of deadlines, from none to
        // a few milliseconds, cutting writes off at every stage: queued,
        // opening their savepoint (releasing the last) alone or with a read,
        // inserting, waiting for the commit.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for wave in 0..40_i64 {
            let mut writes = tokio::task::JoinSet::new();
            for n in 0..10_i64 {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let deadline = Duration::from_micros((seed >> 33) % 4_000);
                let id = wave * 10 + n;
                let store = store.clone();
                writes.spawn(async move {
                    let write = async {
                        let txn = store.writer.begin().await?;
                        if id % 2 == 0 {
                            // A read first: it carries the savepoint's opening.
                            txn.query_one_raw(Statement::from_string(
                                DbBackend::Sqlite,
                                "SELECT count(*) AS n FROM t",
                            ))
                            .await?;
                        }
                        insert(&txn, id).await;
                        tokio::task::yield_now().await;
                        txn.commit()
                            .await
                            .map_err(|error| sea_orm::DbErr::Custom(error.to_string()))
                    };
                    match tokio::time::timeout(deadline, write).await {
                        Ok(Ok(())) => Some(id),
                        _ => None,
                    }
                });
            }
            while let Some(joined) = writes.join_next().await {
                match joined.expect("a write's task") {
                    Some(id) => acknowledged.push(id),
                    None => cut_off += 1,
                }
            }
        }
        assert!(
            acknowledged.len() >= 20 && cut_off >= 20,
            "the deadlines should cut some writes off and let others finish: \
             {} acknowledged, {cut_off} cut off",
            acknowledged.len()
        );
        // The writer goes on working, and then everything settles.
        let after = store.writer.begin().await.expect("a write after them");
        insert(&after, 1_000).await;
        after.commit().await.expect("the write after them commits");
        let stored = stored(&store).await;
        for id in &acknowledged {
            assert!(
                stored.contains(id),
                "write {id} was acknowledged but is not stored"
            );
        }
        assert!(stored.contains(&1_000));
    }
}
