//! The event log (a transactional outbox): every change writes its event in
//! its own transaction, and readers page through events by sequence without
//! ever skipping one, even when transactions commit out of order.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, sea_query::Expr,
};

use super::{Store, entities::events};
use crate::{
    domain::event::{Event, EventPayload},
    error::Error,
};

/// Appends an event to the log, inside the transaction of the change.
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
    /// of `types` when it is not empty.
    ///
    /// On PostgreSQL a sequence number is taken at insert but becomes visible
    /// at commit, so a later number can commit first. Returning it would let
    /// a reader page past the earlier one for good; instead only events of
    /// transactions older than every transaction still running are returned
    /// (the `txid` the migration adds), and the rest follow as soon as the
    /// transactions before them finish. On SQLite writers are serialised, so
    /// sequence order is commit order already.
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
        if self.db.get_database_backend() == DbBackend::Postgres {
            query = query.filter(Expr::cust("txid < pg_snapshot_xmin(pg_current_snapshot())"));
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
