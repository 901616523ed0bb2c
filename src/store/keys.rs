//! API keys in the database: made, listed, revoked, and looked up by the hash
//! of a presented token, with the keys looked up in the last second kept in
//! memory.

use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::{Store, entities::api_keys, new_id};
use crate::{
    domain::{
        access::{Actor, Principal, Role},
        key::{ApiKey, NewKey, hashes_match, new_token, token_hash},
        paging::split_page,
    },
    error::Error,
};

/// How long this process trusts a key it looked up without asking the
/// database again: every authenticated call would otherwise cost a query.
/// A key revoked through this process stops working at once; one revoked
/// through another server process stops working here within this long.
pub(super) const KEY_TRUST: Duration = Duration::from_secs(1);

/// Principals by the hash of their token, each with when it was read.
#[derive(Debug)]
pub(super) struct KnownKeys(Cache<String, (Principal, Instant)>);

impl KnownKeys {
    pub(super) fn new() -> Self {
        Self(Cache::new(1_024))
    }
}

/// One page of keys, and whether another follows.
#[derive(Debug)]
pub struct KeyPage {
    pub keys: Vec<ApiKey>,
    pub has_more: bool,
}

impl Store {
    /// Makes a key and returns it with its token; only the token's hash is
    /// stored. A writer's key must name an existing author.
    pub async fn insert_key(
        &self,
        creator: &Actor,
        new: NewKey,
    ) -> Result<(ApiKey, String), Error> {
        if let Some(author_id) = &new.author_id {
            self.find_author(author_id)
                .await
                .map_err(|error| match error {
                    Error::NotFound(_) => {
                        Error::from(crate::domain::validation::Violations::single(
                            "author_id",
                            format!("author {author_id} does not exist"),
                        ))
                    }
                    other => other,
                })?;
        }
        let token = new_token()
            .map_err(|error| Error::Internal(format!("the random generator failed: {error}")))?;
        let row = api_keys::Model {
            id: new_id(),
            name: new.name,
            role: new.role.as_str().to_owned(),
            author_id: new.author_id,
            token_hash: token.hash,
            creator: creator.0.clone(),
            create_time: self.now(),
            revoke_time: None,
        };
        let txn = self.begin_write().await?;
        api_keys::Entity::insert(api_keys::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok((key_from_row(row)?, token.token))
    }

    /// Up to `size` keys after the one with id `after`, oldest first.
    pub async fn list_keys(&self, after: Option<&str>, size: u64) -> Result<KeyPage, Error> {
        let mut query = api_keys::Entity::find();
        if let Some(after) = after {
            query = query.filter(api_keys::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(api_keys::Column::Id)
            .limit(size + 1)
            .all(&self.db)
            .await?;
        let (rows, has_more) = split_page(rows, size);
        Ok(KeyPage {
            keys: rows
                .into_iter()
                .map(key_from_row)
                .collect::<Result<_, _>>()?,
            has_more,
        })
    }

    /// Revokes a key: its token stops working with the next request. Revoking
    /// a revoked key changes nothing.
    pub async fn revoke_key(&self, id: &str) -> Result<ApiKey, Error> {
        let row = api_keys::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::NotFound(format!("key {id} does not exist")))?;
        if row.revoke_time.is_some() {
            return key_from_row(row);
        }
        let mut update: api_keys::ActiveModel = row.into();
        update.revoke_time = Set(Some(self.now()));
        let txn = self.begin_write().await?;
        let revoked = key_from_row(update.update(&txn).await?)?;
        txn.commit().await?;
        // Counted before the keys are forgotten: a lookup that read the key
        // before the revocation then sees the count move and keeps nothing.
        self.revocations.send_modify(|count| *count += 1);
        self.known_keys.0.clear();
        Ok(revoked)
    }

    /// Whether the key with `key_id` exists and is not revoked.
    pub async fn key_is_live(&self, key_id: &str) -> Result<bool, Error> {
        let live = api_keys::Entity::find_by_id(key_id.to_owned())
            .filter(api_keys::Column::RevokeTime.is_null())
            .count(&self.db)
            .await?;
        Ok(live > 0)
    }

    /// The principal a presented token stands for: `None` when no working
    /// key has it. Keys are found by the token's hash, which is compared
    /// again in constant time.
    pub async fn principal_for_token(&self, token: &str) -> Result<Option<Principal>, Error> {
        let presented = token_hash(token);
        if let Some((principal, read)) = self.known_keys.0.get(&presented)
            && read.elapsed() < KEY_TRUST
        {
            return Ok(Some(principal));
        }
        let revocations = *self.revocations.borrow();
        let read = Instant::now();
        let row = api_keys::Entity::find()
            .filter(api_keys::Column::TokenHash.eq(&presented))
            .filter(api_keys::Column::RevokeTime.is_null())
            .one(&self.db)
            .await?;
        let Some(row) = row.filter(|row| hashes_match(&row.token_hash, &presented)) else {
            return Ok(None);
        };
        let key = key_from_row(row)?;
        let principal = Principal::Key {
            key_id: key.id,
            role: key.role,
            author_id: key.author_id,
        };
        // Unknown tokens are not kept: a key just made works at once.
        self.known_keys
            .0
            .insert(presented.clone(), (principal.clone(), read));
        // A revocation that began while the key was read may have cleared
        // the keys before this insert: then it is forgotten again.
        if *self.revocations.borrow() != revocations {
            self.known_keys.0.remove(&presented);
        }
        Ok(Some(principal))
    }
}

fn key_from_row(row: api_keys::Model) -> Result<ApiKey, Error> {
    let api_keys::Model {
        id,
        name,
        role,
        author_id,
        token_hash: _,
        creator,
        create_time,
        revoke_time,
    } = row;
    let role = Role::parse(&role)
        .ok_or_else(|| Error::Internal(format!("key {id} has the unknown role `{role}`")))?;
    Ok(ApiKey {
        id,
        name,
        role,
        author_id,
        creator,
        create_time,
        revoke_time,
    })
}
