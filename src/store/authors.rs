//! Queries on authors: create (with idempotency and slug allocation), read,
//! list, update under etags, and delete unless still credited. Every change
//! writes its event in its own transaction.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, sea_query::LockType,
};

use super::{
    Store,
    entities::{article_authors, article_live_authors, authors},
    events::{NewEvent, append_event},
    insert_unless_taken,
    request_ids::{Creation, forget_request_ids},
    slugs::{SlugPlacement, SlugTable, place_slug},
};
use crate::{
    domain::{
        access::Actor,
        author::{Author, AuthorField, AuthorFields, AuthorInput, AuthorKind, apply_author_update},
        etag::etag_allows,
        event::{AuthorChange, EventPayload},
        slug::SlugChoice,
    },
    error::Error,
};

const REQUEST_SCOPE: &str = "authors";

/// One page of authors, and whether another follows.
#[derive(Debug)]
pub struct AuthorPage {
    pub authors: Vec<Author>,
    pub has_more: bool,
}

impl Store {
    /// Creates an author; with a `request_id` already used, returns the author
    /// that request created instead.
    pub async fn insert_author(
        &self,
        actor: &Actor,
        fields: AuthorFields,
        request_id: Option<&str>,
    ) -> Result<Author, Error> {
        let (txn, id, now) = match self.begin_create(REQUEST_SCOPE, actor, request_id).await? {
            Creation::New { txn, id, now } => (txn, id, now),
            Creation::Retry(existing) => return self.find_author(&existing).await,
        };
        let AuthorFields {
            display_name,
            slug,
            kind,
            bio,
            email,
        } = fields;
        let row = authors::Model {
            id: id.clone(),
            display_name,
            slug: String::new(),
            kind: kind.as_str().to_owned(),
            bio,
            email,
            create_time: now,
            update_time: now,
            version: 1,
        };
        let author = author_from_row(insert_with_slug(&txn, row, slug).await?)?;
        record_author_change(&txn, actor, &author, AuthorChange::Created, now).await?;
        txn.commit().await?;
        Ok(author)
    }

    /// The author with this id.
    pub async fn find_author(&self, id: &str) -> Result<Author, Error> {
        let row = authors::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| author_not_found(id))?;
        author_from_row(row)
    }

    /// The author with this slug.
    pub async fn find_author_by_slug(&self, slug: &str) -> Result<Author, Error> {
        let row = authors::Entity::find()
            .filter(authors::Column::Slug.eq(slug))
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no author has the slug `{slug}`")))?;
        author_from_row(row)
    }

    /// Up to `size` authors after the one with id `after`, oldest first,
    /// only of `kind` when given.
    pub async fn list_authors(
        &self,
        kind: Option<AuthorKind>,
        after: Option<&str>,
        size: u64,
    ) -> Result<AuthorPage, Error> {
        let mut query = authors::Entity::find();
        if let Some(kind) = kind {
            query = query.filter(authors::Column::Kind.eq(kind.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(authors::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(authors::Column::Id)
            .limit(size + 1)
            .all(&self.db)
            .await?;
        let (rows, has_more) = crate::domain::paging::split_page(rows, size);
        Ok(AuthorPage {
            authors: rows
                .into_iter()
                .map(author_from_row)
                .collect::<Result<_, _>>()?,
            has_more,
        })
    }

    /// Applies an update to the fields in `mask`, refusing a stale `etag`.
    pub async fn update_author(
        &self,
        actor: &Actor,
        id: &str,
        etag: &str,
        input: AuthorInput,
        mask: &[AuthorField],
    ) -> Result<Author, Error> {
        let txn = self.begin_write().await?;
        let row = lock_author(&txn, id).await?;
        if !etag_allows(etag, &row.id, row.version) {
            return Err(stale_author(id));
        }
        let current = author_from_row(row.clone())?;
        let AuthorFields {
            display_name,
            slug,
            kind,
            bio,
            email,
        } = apply_author_update(&current, input, mask)?;
        let slug = match slug {
            SlugChoice::Keep | SlugChoice::Derived(_) => row.slug.clone(),
            SlugChoice::Explicit(slug) => {
                if !slugs_taken(&txn, std::slice::from_ref(&slug))
                    .await?
                    .is_empty()
                {
                    return Err(author_slug_taken(&slug));
                }
                slug
            }
        };
        let mut update: authors::ActiveModel = row.clone().into();
        update.display_name = Set(display_name);
        update.slug = Set(slug.clone());
        update.kind = Set(kind.as_str().to_owned());
        update.bio = Set(bio);
        update.email = Set(email);
        update.update_time = Set(self.now());
        update.version = Set(row.version + 1);
        let updated = update
            .update(&txn)
            .await
            .map_err(|error| match error.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => author_slug_taken(&slug),
                _ => error.into(),
            })?;
        let author = author_from_row(updated)?;
        let updated_at = author.update_time;
        record_author_change(&txn, actor, &author, AuthorChange::Updated, updated_at).await?;
        txn.commit().await?;
        Ok(author)
    }

    /// Deletes an author that no article credits.
    pub async fn delete_author(&self, actor: &Actor, id: &str, etag: &str) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        let row = lock_author(&txn, id).await?;
        if !etag_allows(etag, &row.id, row.version) {
            return Err(stale_author(id));
        }
        // Live bylines count too: a story readers see may still credit an
        // author its working copy no longer does.
        let credits = article_authors::Entity::find()
            .filter(article_authors::Column::AuthorId.eq(id))
            .count(&txn)
            .await?
            + article_live_authors::Entity::find()
                .filter(article_live_authors::Column::AuthorId.eq(id))
                .count(&txn)
                .await?;
        if credits > 0 {
            return Err(Error::FailedPrecondition {
                kind: "AUTHOR_CREDITED",
                subject: format!("authors/{id}"),
                description: format!(
                    "author {id} is credited {credits} time(s) in articles (drafts, live versions and deleted articles included); remove those bylines first"
                ),
            });
        }
        let author = author_from_row(row)?;
        authors::Entity::delete_by_id(id.to_owned())
            .exec(&txn)
            .await?;
        forget_request_ids(&txn, REQUEST_SCOPE, id).await?;
        record_author_change(&txn, actor, &author, AuthorChange::Deleted, self.now()).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// Writes the event of a change to `author` (as it is after the change, or
/// was last, for a deletion), made at `occur_time`, in the change's
/// transaction.
async fn record_author_change(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    author: &Author,
    change: AuthorChange,
    occur_time: DateTime<Utc>,
) -> Result<(), DbErr> {
    append_event(
        conn,
        NewEvent {
            event_type: change.event_type(),
            occur_time,
            payload: EventPayload::Author(author.clone()),
            actor,
        },
    )
    .await
}

/// Which of `ids` name no author, in the order given.
pub(super) async fn missing_authors(
    conn: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<String>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<String> = authors::Entity::find()
        .select_only()
        .column(authors::Column::Id)
        .filter(authors::Column::Id.is_in(ids.iter().cloned()))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(ids
        .iter()
        .filter(|id| !found.contains(id))
        .cloned()
        .collect())
}

/// A new author row looking for its slug.
struct NewAuthorRow<'a, C> {
    conn: &'a C,
    row: &'a authors::Model,
}

impl<C: ConnectionTrait> SlugTable for NewAuthorRow<'_, C> {
    async fn taken(&self, candidates: &[String]) -> Result<Vec<String>, DbErr> {
        slugs_taken(self.conn, candidates).await
    }

    async fn try_insert(&self, slug: &str) -> Result<bool, DbErr> {
        let mut candidate: authors::ActiveModel = self.row.clone().into();
        candidate.slug = Set(slug.to_owned());
        insert_unless_taken(
            self.conn,
            authors::Entity::insert(candidate),
            [authors::Column::Slug],
        )
        .await
    }
}

/// Inserts `row` under the slug `choice` gives (see [`place_slug`]).
async fn insert_with_slug(
    conn: &impl ConnectionTrait,
    row: authors::Model,
    choice: SlugChoice,
) -> Result<authors::Model, Error> {
    let table = NewAuthorRow { conn, row: &row };
    match place_slug(&table, choice, &row.id).await? {
        SlugPlacement::Placed(slug) => Ok(authors::Model { slug, ..row }),
        SlugPlacement::Taken(slug) => Err(author_slug_taken(&slug)),
    }
}

/// Which of `candidates` authors already use.
async fn slugs_taken(
    conn: &impl ConnectionTrait,
    candidates: &[String],
) -> Result<Vec<String>, DbErr> {
    authors::Entity::find()
        .select_only()
        .column(authors::Column::Slug)
        .filter(authors::Column::Slug.is_in(candidates.iter().cloned()))
        .into_tuple()
        .all(conn)
        .await
}

/// The author row, locked for the rest of the transaction on PostgreSQL
/// (SQLite's write transaction already excludes other writers).
async fn lock_author(conn: &impl ConnectionTrait, id: &str) -> Result<authors::Model, Error> {
    authors::Entity::find_by_id(id.to_owned())
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await?
        .ok_or_else(|| author_not_found(id))
}

fn author_from_row(row: authors::Model) -> Result<Author, Error> {
    let authors::Model {
        id,
        display_name,
        slug,
        kind,
        bio,
        email,
        create_time,
        update_time,
        version,
    } = row;
    let kind = AuthorKind::parse(&kind)
        .ok_or_else(|| Error::Internal(format!("author {id} has the unknown kind `{kind}`")))?;
    Ok(Author {
        id,
        display_name,
        slug,
        kind,
        bio,
        email,
        create_time,
        update_time,
        version,
    })
}

fn author_not_found(id: &str) -> Error {
    Error::NotFound(format!("author {id} does not exist"))
}

fn author_slug_taken(slug: &str) -> Error {
    Error::AlreadyExists(format!("an author with the slug `{slug}` already exists"))
}

fn stale_author(id: &str) -> Error {
    Error::Aborted(format!(
        "author {id} was changed since its etag was read; get it again and retry"
    ))
}
