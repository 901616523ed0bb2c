//! Idempotency keys (AIP-155): the first Create with a `request_id` claims it
//! for the resource it creates; a retry by the same caller finds the claim
//! and returns that resource instead of creating another.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};

use super::{Store, WriteTxn, entities::request_ids, insert_unless_taken, new_id};
use crate::{domain::access::Actor, error::Error};

/// How a Create goes on after its idempotency key is looked at.
pub(super) enum Creation {
    /// A new resource: write it under `id`, stamped `now`, in `txn`, which
    /// also holds the request id's claim.
    New {
        txn: WriteTxn,
        id: String,
        now: DateTime<Utc>,
    },
    /// A retry: the first request with this request id created this resource.
    Retry(String),
}

impl Store {
    /// Opens the write transaction of a Create in `scope` and claims its
    /// `request_id` (when it has one) inside it. Claims are the caller's own:
    /// someone else's request id finds nothing, so that it cannot fetch what
    /// another caller created.
    pub(super) async fn begin_create(
        &self,
        scope: &str,
        caller: &Actor,
        request_id: Option<&str>,
    ) -> Result<Creation, Error> {
        let scope = &format!("{scope} by {caller}");
        let now = self.now();
        let id = new_id();
        let txn = self.begin_write().await?;
        if let Some(request_id) = request_id
            && let Claim::Existing(existing) =
                claim_request_id(&txn, scope, request_id, &id, now).await?
        {
            // Committed rather than rolled back, though it wrote nothing:
            // on SQLite the first request may sit in the same group, and its
            // resource is readable (and durable) only once the group commits.
            txn.commit().await?;
            return Ok(Creation::Retry(existing));
        }
        Ok(Creation::New { txn, id, now })
    }
}

/// What claiming a request id found.
enum Claim {
    /// The id was free and now belongs to the new resource.
    New,
    /// An earlier request claimed the id for this resource.
    Existing(String),
}

/// Claims `request_id` within `scope` for `resource_id`, inside the write
/// transaction that creates the resource, so that the claim and the resource
/// commit or vanish together.
async fn claim_request_id(
    conn: &impl ConnectionTrait,
    scope: &str,
    request_id: &str,
    resource_id: &str,
    now: DateTime<Utc>,
) -> Result<Claim, DbErr> {
    let claim = request_ids::ActiveModel {
        scope: Set(scope.to_owned()),
        request_id: Set(request_id.to_owned()),
        resource_id: Set(resource_id.to_owned()),
        create_time: Set(now),
    };
    // On PostgreSQL, DO NOTHING waits for a concurrent claim of the same key
    // to commit or roll back, so the SELECT below sees the winner.
    if insert_unless_taken(
        conn,
        request_ids::Entity::insert(claim),
        [request_ids::Column::Scope, request_ids::Column::RequestId],
    )
    .await?
    {
        return Ok(Claim::New);
    }
    let existing = request_ids::Entity::find()
        .select_only()
        .column(request_ids::Column::ResourceId)
        .filter(request_ids::Column::Scope.eq(scope))
        .filter(request_ids::Column::RequestId.eq(request_id))
        .into_tuple::<String>()
        .one(conn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("request id {request_id} in {scope}")))?;
    Ok(Claim::Existing(existing))
}

/// Forgets the claims on a resource that no longer exists, so that a retry
/// of its Create makes a new one rather than pointing at nothing.
pub(super) async fn forget_request_ids(
    conn: &impl ConnectionTrait,
    scope: &str,
    resource_id: &str,
) -> Result<(), DbErr> {
    request_ids::Entity::delete_many()
        .filter(request_ids::Column::Scope.eq(scope))
        .filter(request_ids::Column::ResourceId.eq(resource_id))
        .exec(conn)
        .await?;
    Ok(())
}
