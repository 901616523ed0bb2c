//! Write transactions and group commit. On SQLite, writes take turns on the
//! one writer connection, each in a savepoint of a transaction its group
//! shares, and one commit (one fsync) makes the whole group durable before
//! any member answers. On PostgreSQL each write is a transaction of its own
//! on the pool, and PostgreSQL groups concurrent commits' flushes itself.

use std::sync::{
    Arc, Weak,
    atomic::{AtomicUsize, Ordering},
};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
    prelude::async_trait,
};
use tokio::{
    sync::{Mutex, Notify, OwnedMutexGuard, watch},
    task::JoinHandle,
};

use crate::error::Error;

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

    /// Writes grouped on `connection`, a pool of one SQLite connection.
    pub(super) fn grouped(
        connection: DatabaseConnection,
        commits: Arc<watch::Sender<u64>>,
    ) -> Self {
        let due = Arc::new(Notify::new());
        let group = Arc::new(GroupCommit {
            connection,
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
    pub(super) fn connection(&self) -> &DatabaseConnection {
        match &self.mode {
            Mode::Pool(pool) => pool,
            Mode::Group(group) => &group.connection,
        }
    }

    /// Starts a write. On SQLite this waits for the writer connection's
    /// turn and opens a savepoint; the group's transaction takes the write
    /// lock at BEGIN (IMMEDIATE), since a deferred transaction that read
    /// first could not upgrade to a writer once another process had
    /// committed, and would fail at once instead of waiting out the busy
    /// timeout.
    pub(super) async fn begin(&self) -> Result<WriteTxn, DbErr> {
        match &self.mode {
            Mode::Pool(pool) => Ok(WriteTxn {
                backend: pool.get_database_backend(),
                scope: Some(Scope::Own(pool.begin().await?)),
                turn: None,
                commits: self.commits.clone(),
            }),
            Mode::Group(group) => {
                let mut turn = group.turn().await;
                if turn.guard.broken {
                    turn = turn.finish_group().await.map_err(|error| {
                        DbErr::Custom(format!("committing a group of writes failed: {error}"))
                    })?;
                }
                if turn.guard.open.is_none() {
                    // The group's first write needs no savepoint: if it
                    // fails, the whole transaction, which holds nothing
                    // else, is rolled back.
                    let open = group
                        .connection
                        .begin_with_options(TransactionOptions {
                            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                            ..TransactionOptions::default()
                        })
                        .await?;
                    turn.guard.open = Some(open);
                    return Ok(WriteTxn {
                        backend: group.connection.get_database_backend(),
                        scope: Some(Scope::Group),
                        turn: Some(turn),
                        commits: self.commits.clone(),
                    });
                }
                let savepoint = match &turn.guard.open {
                    Some(open) => open.begin().await,
                    None => Err(DbErr::Custom("the group's transaction is not open".into())),
                };
                match savepoint {
                    Ok(savepoint) => Ok(WriteTxn {
                        backend: group.connection.get_database_backend(),
                        scope: Some(Scope::Own(savepoint)),
                        turn: Some(turn),
                        commits: self.commits.clone(),
                    }),
                    Err(error) => {
                        turn.guard.broken = true;
                        Err(error)
                    }
                }
            }
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

    /// Commits the open group, if any, so that nothing waits on a pool
    /// about to close.
    pub(super) async fn flush(&self) {
        if let Mode::Group(group) = &self.mode {
            let mut guard = group.group.clone().lock_owned().await;
            group.finish(&mut guard).await;
        }
    }
}

/// The SQLite writer connection and the group writing on it.
struct GroupCommit {
    connection: DatabaseConnection,
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
    /// The transaction the members' savepoints live in, while it is open.
    open: Option<DatabaseTransaction>,
    /// How the open group's commit went, for the members waiting on it.
    outcome: watch::Sender<Option<Result<(), Error>>>,
    /// Writes that released their savepoint into the open group.
    members: usize,
    /// A member left its savepoint neither released nor rolled back (its
    /// request failed or was cancelled): the queued rollback to the
    /// savepoint may not have restored a sound transaction, so the group
    /// commits what its members released before anyone writes in it again.
    broken: bool,
}

impl Default for Group {
    fn default() -> Self {
        Self {
            open: None,
            outcome: watch::channel(None).0,
            members: 0,
            broken: false,
        }
    }
}

impl GroupCommit {
    async fn turn(self: &Arc<Self>) -> Turn {
        let queued = Queued::join(&self.queued);
        let guard = self.group.clone().lock_owned().await;
        drop(queued);
        Turn {
            guard,
            writer: self.clone(),
        }
    }

    /// Commits the open group and tells its members how that went.
    async fn finish(&self, group: &mut Group) {
        group.broken = false;
        let Some(open) = group.open.take() else {
            return;
        };
        let result = open.commit().await.map_err(Error::from);
        match &result {
            Ok(()) => {
                self.commits.send_modify(|count| *count += 1);
                metrics::histogram!("db_commit_group_writes").record(group.members as f64);
            }
            // Each member logs it once more as it answers.
            Err(error) => tracing::error!(%error, "committing a group of writes failed"),
        }
        group.members = 0;
        let outcome = std::mem::replace(&mut group.outcome, watch::channel(None).0);
        outcome.send_replace(Some(result));
    }
}

/// The committer: whenever the group's transaction is left open with
/// nobody holding the turn, it queues for the turn and commits. Writers
/// that queued before it join the group first, so under load a group grows
/// to the queue's length and one fsync serves all of it. (A write that
/// finds nobody queued behind it commits its group itself.)
async fn commit_groups(writer: Weak<GroupCommit>, due: Arc<Notify>) {
    loop {
        due.notified().await;
        let Some(writer) = writer.upgrade() else {
            return;
        };
        let mut guard = writer.group.clone().lock_owned().await;
        writer.finish(&mut guard).await;
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

/// The writer connection's turn, held by one write at a time.
struct Turn {
    guard: OwnedMutexGuard<Group>,
    writer: Arc<GroupCommit>,
}

impl Turn {
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
        // Whoever leaves the group's transaction open calls the committer,
        // so that it never stays open (holding SQLite's write lock) with
        // nobody coming.
        if self.guard.open.is_some() {
            self.writer.due.notify_one();
        }
    }
}

/// A write in progress: a transaction (PostgreSQL), or on SQLite the
/// group's transaction or a savepoint in it, with the writer's turn.
/// Dropped without [`WriteTxn::commit`], it is rolled back.
pub(super) struct WriteTxn {
    backend: DbBackend,
    /// Declared before `turn`: dropped first, its rollback is queued on the
    /// connection before the next writer gets the turn.
    scope: Option<Scope>,
    turn: Option<Turn>,
    commits: Arc<watch::Sender<u64>>,
}

/// Where a write's statements run.
enum Scope {
    /// A transaction (PostgreSQL) or savepoint (SQLite) of its own.
    Own(DatabaseTransaction),
    /// The group's transaction itself, which the write opened: nothing else
    /// is in it yet.
    Group,
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
            Some(Scope::Group) => self.turn.as_ref().and_then(|turn| turn.guard.open.as_ref()),
            None => None,
        }
        .ok_or_else(|| DbErr::Custom("the write has ended".into()))
    }

    /// Commits the write and returns once it is durable: on SQLite, once
    /// its group has committed.
    pub(super) async fn commit(mut self) -> Result<(), Error> {
        let scope = self.scope.take().ok_or_else(ended)?;
        let Some(mut turn) = self.turn.take() else {
            if let Scope::Own(txn) = scope {
                txn.commit().await?;
            }
            self.commits.send_modify(|count| *count += 1);
            return Ok(());
        };
        if let Scope::Own(savepoint) = scope
            && let Err(error) = savepoint.commit().await
        {
            turn.guard.broken = true;
            return Err(error.into());
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

    /// Undoes the write.
    pub(super) async fn rollback(mut self) -> Result<(), Error> {
        let scope = self.scope.take().ok_or_else(ended)?;
        let result = match scope {
            Scope::Own(txn) => txn.rollback().await,
            Scope::Group => match self.turn.as_mut().and_then(|turn| turn.guard.open.take()) {
                Some(open) => open.rollback().await,
                None => Ok(()),
            },
        };
        if result.is_err()
            && let Some(turn) = &mut self.turn
        {
            turn.guard.broken = true;
        }
        Ok(result?)
    }
}

fn ended() -> Error {
    Error::Internal("a write was used after it ended".into())
}

impl Drop for WriteTxn {
    fn drop(&mut self) {
        let (Some(scope), Some(turn)) = (&self.scope, &mut self.turn) else {
            return;
        };
        match scope {
            // Its rollback to the savepoint is queued as the savepoint
            // drops; whether that leaves a sound transaction is unknown.
            Scope::Own(_) => turn.guard.broken = true,
            // Dropped, the group's transaction queues its rollback: it
            // held this write alone.
            Scope::Group => drop(turn.guard.open.take()),
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.backend
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn()?.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn()?.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn()?.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn()?.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn().is_ok_and(ConnectionTrait::support_returning)
    }
}
