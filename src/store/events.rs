//! The event log (a transactional outbox): every change writes its event in
//! the change's own transaction, and readers page through events by sequence without
//! ever skipping one, even when transactions start in one order and commit in
//! another.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
    sea_query::{
        Alias, CommonTableExpression, Expr, ExprTrait, InsertStatement, Query, SubQueryStatement,
        WithClause,
    },
};
use serde::Serialize;

use super::{Store, deadline, encode_json, entities::events, execute_in_order};
use crate::{
    domain::{
        access::Actor,
        event::{Event, EventPayload, SHARE_RECORDED},
    },
    error::Error,
};

/// Appends an event to the log, inside the transaction of the change; it
/// must be the transaction's last statement before commit.
///
/// A sequence number becomes visible at commit. If two transactions commit
/// in the other order than they drew their numbers, a reader could see
/// number 11, page past it, and never see 10. On PostgreSQL triggers on the
/// log draw each event's number at its insert under a transaction-scoped
/// advisory lock, taken shared, that PostgreSQL releases only once the
/// transaction has ended; a reader reads only up to where the log is
/// settled, which the database tells by taking that lock exclusively
/// (migration 9, and [`Store::last_event_sequence`]). Writers' commits
/// overlap, so PostgreSQL flushes them to disk together. On SQLite writers
/// are serialised already.
pub(super) async fn append_event(
    conn: &impl ConnectionTrait,
    event: NewEvent<'_>,
) -> Result<(), DbErr> {
    execute_then_append(conn, ChangeWrites::default(), &[event]).await
}

/// What a change writes before its events.
#[derive(Default)]
pub(super) struct ChangeWrites {
    /// Writes that may replace or read what one before them wrote, run
    /// first, one after another (see [`execute_in_order`]).
    pub in_order: Vec<Statement>,
    /// Writes that each touch a table no other write of the change touches,
    /// and whose values depend on nothing the change writes (foreign-key
    /// checks aside: they run once all of them have). On PostgreSQL they run
    /// as data-modifying CTEs of the events' insert, which all see the same
    /// snapshot, in no set order, after the insert itself; the round trip
    /// each would take is time a writer holds its locks. The insert numbers
    /// its events under the log's order lock, which readers of the log wait
    /// for (and writers behind them): so a write folded in must not wait for
    /// a row lock (the change holds its rows already), and a batch of
    /// shares, whose writes are many, folds none.
    pub apart: Vec<SubQueryStatement>,
}

impl ChangeWrites {
    /// Writes that must run one after another (see [`ChangeWrites::in_order`]).
    pub fn in_order(in_order: Vec<Statement>) -> Self {
        Self {
            in_order,
            apart: Vec::new(),
        }
    }

    /// Writes that depend on none of each other (see [`ChangeWrites::apart`]).
    pub fn apart(apart: Vec<SubQueryStatement>) -> Self {
        Self {
            in_order: Vec::new(),
            apart,
        }
    }
}

/// Runs `writes` and then appends `events`, the transaction's last
/// statement. On PostgreSQL the events' insert is built only once the
/// in-order writes have run: it carries how long the writes folded into it
/// may wait, measured from the request's deadline.
pub(super) async fn execute_then_append(
    conn: &impl ConnectionTrait,
    writes: ChangeWrites,
    events: &[NewEvent<'_>],
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    debug_assert!(
        writes.apart.is_empty()
            || events
                .iter()
                .all(|event| event.event_type != SHARE_RECORDED),
        "a batch of shares folded into the insert that holds the log's order lock"
    );
    if backend != DbBackend::Postgres {
        return execute_in_order(conn, sqlite_statements(writes, events)?).await;
    }
    let ChangeWrites { in_order, apart } = writes;
    execute_in_order(conn, in_order).await?;
    if apart.is_empty() {
        if let Some(insert) = events_insert_postgres(events)? {
            conn.execute_raw(insert).await?;
        }
        return Ok(());
    }
    let Some(insert) = events_insert(events)? else {
        return execute_in_order(
            conn,
            apart.iter().map(|write| build(backend, write)).collect(),
        )
        .await;
    };
    let mut with = WithClause::new();
    for (write, number) in apart.into_iter().zip(1..) {
        with.cte(
            CommonTableExpression::new()
                .table_name(Alias::new(format!("write_{number}")))
                .query(write)
                .to_owned(),
        );
    }
    conn.execute_raw(backend.build(&with.query(insert))).await?;
    Ok(())
}

/// On SQLite, the statements that store `writes` and `events`, in the
/// order they run: what [`execute_then_append`] sends there.
pub(super) fn sqlite_statements(
    writes: ChangeWrites,
    events: &[NewEvent<'_>],
) -> Result<Vec<Statement>, DbErr> {
    let backend = DbBackend::Sqlite;
    let ChangeWrites {
        mut in_order,
        apart,
    } = writes;
    in_order.extend(apart.iter().map(|write| build(backend, write)));
    for event in events {
        let row = EventRow::of(event)?;
        in_order.push(Statement::from_sql_and_values(
            backend,
            SQLITE_EVENT_INSERT,
            [
                row.event_type.into(),
                row.occur_time.into(),
                row.article_id.map(str::to_owned).into(),
                row.author_id.map(str::to_owned).into(),
                row.payload.into(),
                row.actor.into(),
            ],
        ));
    }
    Ok(in_order)
}

/// On SQLite an event is a statement of its own: one text whatever the
/// batch, prepared once, and a statement that writes one row needs no
/// statement journal (a write of several rows that fails halfway has
/// SQLite copy every page it changed first, to undo that statement alone).
const SQLITE_EVENT_INSERT: &str = "INSERT INTO events \
     (event_type, occur_time, article_id, author_id, payload, actor) VALUES (?, ?, ?, ?, ?, ?)";

fn build(backend: DbBackend, write: &SubQueryStatement) -> Statement {
    match write {
        SubQueryStatement::SelectStatement(statement) => backend.build(statement),
        SubQueryStatement::InsertStatement(statement) => backend.build(statement),
        SubQueryStatement::UpdateStatement(statement) => backend.build(statement),
        SubQueryStatement::DeleteStatement(statement) => backend.build(statement),
        SubQueryStatement::WithStatement(statement) => backend.build(statement),
    }
}

/// An event to append: what happened, when, to what, and who did it.
pub(super) struct NewEvent<'a> {
    pub event_type: &'a str,
    pub occur_time: DateTime<Utc>,
    pub payload: EventPayload,
    pub actor: &'a Actor,
}

/// An event as the log stores it, its payload encoded: the row of every
/// insert of events here, which name its columns each in its own way.
#[derive(Serialize)]
struct EventRow<'a> {
    event_type: &'a str,
    occur_time: DateTime<Utc>,
    article_id: Option<&'a str>,
    author_id: Option<&'a str>,
    payload: String,
    actor: &'a str,
}

impl<'a> EventRow<'a> {
    fn of(event: &'a NewEvent<'a>) -> Result<Self, DbErr> {
        let (article_id, author_id) = match &event.payload {
            EventPayload::Article(article) => (Some(article.id.as_str()), None),
            EventPayload::Author(author) => (None, Some(author.id.as_str())),
            EventPayload::Comment { comment, .. } => (Some(comment.article_id.as_str()), None),
            EventPayload::Share(share) => (Some(share.article_id.as_str()), None),
        };
        Ok(Self {
            event_type: event.event_type,
            // As sqlx binds a time; PostgreSQL would round the digits a
            // time in JSON carries past microseconds.
            occur_time: event.occur_time.trunc_subsecs(6),
            article_id,
            author_id,
            payload: encode_json("an event's payload", &event.payload)?,
            actor: &event.actor.0,
        })
    }
}

/// On PostgreSQL, the insert that appends `events` when writes are folded
/// into it as CTEs (otherwise see [`events_insert_postgres`]); none for no
/// events.
fn events_insert(events: &[NewEvent<'_>]) -> Result<Option<InsertStatement>, DbErr> {
    if events.is_empty() {
        return Ok(None);
    }
    let mut insert = Query::insert();
    insert.into_table(events::Entity).columns([
        events::Column::EventType,
        events::Column::OccurTime,
        events::Column::ArticleId,
        events::Column::AuthorId,
        events::Column::Payload,
        events::Column::Actor,
    ]);
    let mut deadline = lock_timeout_left();
    for event in events {
        let row = EventRow::of(event)?;
        let event_type = match deadline.take() {
            // A scalar subquery is run as the first row is made, before that
            // row's trigger waits for the log's order lock.
            Some(left) => Expr::cust_with_values(
                "(SELECT $1::text WHERE set_config('lock_timeout', $2, true) IS NOT NULL)",
                [row.event_type.to_owned(), left],
            ),
            None => Expr::val(row.event_type),
        };
        insert
            .values([
                event_type,
                Expr::val(row.occur_time),
                Expr::val(row.article_id.map(str::to_owned)),
                Expr::val(row.author_id.map(str::to_owned)),
                Expr::val(row.payload),
                Expr::val(row.actor),
            ])
            .map_err(|error| DbErr::Custom(format!("the events' insert: {error}")))?;
    }
    Ok(Some(insert))
}

/// On PostgreSQL, the insert that appends `events` (see [`append_event`]),
/// none for no events, with the events as one JSON value: its text is the
/// same however many events it carries, so that each connection prepares
/// it once (why that matters is in `store::shares::batch`). The events are
/// inserted, and so numbered, in their order.
fn events_insert_postgres(events: &[NewEvent<'_>]) -> Result<Option<Statement>, DbErr> {
    if events.is_empty() {
        return Ok(None);
    }
    let rows = events
        .iter()
        .map(EventRow::of)
        .collect::<Result<Vec<_>, _>>()?;
    let rows = encode_json("events", &rows)?;
    let mut sql = String::from(
        "INSERT INTO events (event_type, occur_time, article_id, author_id, payload, actor) \
         SELECT e.event_type, e.occur_time, e.article_id, e.author_id, e.payload, e.actor \
         FROM ROWS FROM (json_to_recordset($1::json) AS (event_type text, \
         occur_time timestamptz, article_id text, author_id text, payload text, actor text)) \
         WITH ORDINALITY AS e(event_type, occur_time, article_id, author_id, payload, actor, n)",
    );
    let mut values = vec![sea_orm::Value::from(rows)];
    if let Some(left) = lock_timeout_left() {
        // Read by the filter, so made before the join yields its first row,
        // and so before that row's trigger waits for the log's order lock.
        sql.push_str(
            " CROSS JOIN (SELECT set_config('lock_timeout', $2, true) AS lock_timeout) AS deadline \
             WHERE deadline.lock_timeout IS NOT NULL",
        );
        values.push(left.into());
    }
    sql.push_str(" ORDER BY e.n");
    Ok(Some(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    )))
}

/// How long the events' insert may wait for locks, as PostgreSQL's
/// `lock_timeout` (none without a deadline): its rows' wait for the log's
/// order lock, and the writes folded into it (run after its rows, see
/// [`ChangeWrites::apart`]). Set before the first row is inserted, so a
/// write whose request is cut off stops waiting, and holding its locks, at
/// the deadline and rolls back. It is a bound value, so that the
/// statement's text stays the same for sqlx's cache.
fn lock_timeout_left() -> Option<String> {
    let left = deadline::write_time_left()?;
    // PostgreSQL takes at most INT_MAX milliseconds.
    Some(format!("{}ms", left.as_millis().min(i32::MAX as u128)))
}

impl Store {
    /// Up to `limit` events after `after_sequence`, in sequence order, only
    /// of `types` when it is not empty, up to where the log is settled (see
    /// [`Store::last_event_sequence`]), so a reader that pages with the last
    /// sequence it saw never misses an event.
    pub async fn list_events(
        &self,
        after_sequence: i64,
        types: &[String],
        limit: u64,
    ) -> Result<Vec<Event>, Error> {
        // SQLite's writers take turns: every event it shows is settled.
        let settled = match self.db.get_database_backend() {
            DbBackend::Postgres => self.last_event_sequence().await?,
            _ => i64::MAX,
        };
        self.list_events_until(after_sequence, settled, types, limit)
            .await
    }

    /// As [`Store::list_events`], only up to sequence `until` (inclusive).
    pub async fn list_events_until(
        &self,
        after_sequence: i64,
        until: i64,
        types: &[String],
        limit: u64,
    ) -> Result<Vec<Event>, Error> {
        let mut query = events::Entity::find()
            .filter(events::Column::Sequence.gt(after_sequence))
            .filter(events::Column::Sequence.lte(until));
        if !types.is_empty() {
            query = query.filter(events::Column::EventType.is_in(types.iter().cloned()));
        }
        let rows = query
            .order_by_asc(events::Column::Sequence)
            .limit(limit)
            .all(&self.db)
            .await?;
        rows.into_iter().map(event_from_row).collect()
    }

    /// Where the log is settled: every event up to this sequence number that
    /// will ever exist is readable now (0 for an empty log). On SQLite,
    /// whose writers take turns, that is the newest event. On PostgreSQL
    /// commits overlap, and an event numbered before one already visible may
    /// still be committing: the database answers once no writer holds a
    /// number it has not made visible (migration 9).
    pub async fn last_event_sequence(&self) -> Result<i64, Error> {
        if self.db.get_database_backend() == DbBackend::Postgres {
            let settled: Option<i64> = self
                .db
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT newsdesk_settled_event_sequence() AS settled",
                ))
                .await?
                .map(|row| row.try_get::<i64>("", "settled"))
                .transpose()?;
            return Ok(settled.unwrap_or(0));
        }
        let last: Option<Option<i64>> = events::Entity::find()
            .select_only()
            .column_as(Expr::col(events::Column::Sequence).max(), "last")
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(last.flatten().unwrap_or(0))
    }
}

impl Store {
    /// The articles whose events fall in `(after, until]`, shares aside
    /// (a share changes no article), each with the types of its events:
    /// what a cache of articles must forget. A range up to where the log is
    /// settled ([`Store::last_event_sequence`]), read once, is complete.
    pub async fn articles_changed_between(
        &self,
        after: i64,
        until: i64,
    ) -> Result<Vec<(String, String)>, Error> {
        if until <= after {
            return Ok(Vec::new());
        }
        let changes: Vec<(Option<String>, String)> = events::Entity::find()
            .select_only()
            .column(events::Column::ArticleId)
            .column(events::Column::EventType)
            .distinct()
            .filter(events::Column::Sequence.gt(after))
            .filter(events::Column::Sequence.lte(until))
            .filter(events::Column::EventType.ne(SHARE_RECORDED))
            .filter(events::Column::ArticleId.is_not_null())
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(changes
            .into_iter()
            .filter_map(|(id, event_type)| Some((id?, event_type)))
            .collect())
    }
}

fn event_from_row(row: events::Model) -> Result<Event, Error> {
    let events::Model {
        sequence,
        event_type,
        occur_time,
        article_id,
        author_id,
        payload,
        actor,
    } = row;
    let payload = serde_json::from_str(&payload).map_err(|error| {
        Error::Internal(format!(
            "event {sequence} has an unreadable payload: {error}"
        ))
    })?;
    Ok(Event {
        sequence,
        event_type,
        occur_time,
        article_id,
        author_id,
        payload,
        actor,
    })
}
