//! The event log (a transactional outbox): every change writes its event in
//! the change's own transaction, and readers page through events by sequence without
//! ever skipping one, even when transactions start in one order and commit in
//! another.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::{Store, entities::events};
use crate::{
    domain::event::{Event, EventPayload},
    error::Error,
};

/// Key of the PostgreSQL advisory lock that orders event commits ("news").
const EVENT_ORDER_LOCK: i64 = 0x6e65_7773;

/// Appends an event to the log, inside the transaction of the change; it
/// must be the transaction's last statement before commit.
///
/// A sequence number is taken at insert but becomes visible at commit. If
/// two transactions could commit in the other order, a reader could see
/// number 11, page past it, and never see 10. On PostgreSQL the insert
/// therefore takes a transaction-scoped advisory lock, which PostgreSQL
/// releases only once the commit is visible: whoever inserts next gets a
/// higher number and commits later. Writers only queue for the final insert
/// and commit; everything before runs concurrently. On SQLite writers are
/// serialised already.
pub(super) async fn append_event(
    conn: &impl ConnectionTrait,
    event_type: &str,
    occur_time: DateTime<Utc>,
    payload: &EventPayload,
) -> Result<(), DbErr> {
    let (article_id, author_id) = match payload {
        EventPayload::Article(article) => (Some(article.id.clone()), None),
        EventPayload::Author(author) => (None, Some(author.id.clone())),
    };
    let payload = serde_json::to_string(payload)
        .map_err(|error| DbErr::Custom(format!("cannot encode an event payload: {error}")))?;
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({EVENT_ORDER_LOCK})"))
            .await?;
    }
    events::Entity::insert(events::ActiveModel {
        event_type: Set(event_type.to_owned()),
        occur_time: Set(occur_time),
        article_id: Set(article_id),
        author_id: Set(author_id),
        payload: Set(payload),
        ..Default::default()
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

impl Store {
    /// Up to `limit` events after `after_sequence`, in sequence order, only
    /// of `types` when it is not empty. Sequence order is commit order (see
    /// [`append_event`]), so a reader that pages with the last sequence it
    /// saw never misses an event.
    pub async fn list_events(
        &self,
        after_sequence: i64,
        types: &[String],
        limit: u64,
    ) -> Result<Vec<Event>, Error> {
        let mut query = events::Entity::find().filter(events::Column::Sequence.gt(after_sequence));
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
}

fn event_from_row(row: events::Model) -> Result<Event, Error> {
    let events::Model {
        sequence,
        event_type,
        occur_time,
        article_id,
        author_id,
        payload,
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
    })
}
