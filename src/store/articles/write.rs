//! Writing articles: create (with idempotency and slug allocation), updates
//! under etags, soft delete and undelete. Every write locks the article row
//! (PostgreSQL) or holds the write lock (SQLite) from read to commit.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    Set,
};

use super::{
    super::{
        Store,
        authors::missing_authors,
        entities::{article_authors, article_tags, articles},
        inserted,
        request_ids::Creation,
        slugs::{SlugPlacement, SlugTable, place_slug},
    },
    Bylines, article_from_row, article_not_found,
};
use crate::{
    domain::{
        article::{
            Article, ArticleField, ArticleFields, ArticleInput, ArticleStatus, apply_article_update,
        },
        etag::etag_allows,
        slug::SlugChoice,
        validation::Violations,
    },
    error::Error,
};

const REQUEST_SCOPE: &str = "articles";

impl Store {
    /// Creates a draft; with a `request_id` already used, returns the article
    /// that request created instead. Unknown author ids are INVALID_ARGUMENT
    /// naming `author_ids[i]`.
    pub async fn insert_article(
        &self,
        fields: ArticleFields,
        request_id: Option<&str>,
    ) -> Result<Article, Error> {
        let (txn, id, now) = match self.begin_create(REQUEST_SCOPE, request_id).await? {
            Creation::New { txn, id, now } => (txn, id, now),
            Creation::Retry(existing) => return self.find_article(&existing, true).await,
        };
        check_authors_exist(&txn, &fields.author_ids).await?;
        let ArticleFields {
            slug,
            language,
            title,
            subtitle,
            body,
            author_ids,
            tags,
            section,
            comments_enabled,
            word_count,
            reading_time_minutes,
        } = fields;
        let row = articles::Model {
            id: id.clone(),
            slug: String::new(),
            language,
            title,
            subtitle,
            body,
            section,
            status: ArticleStatus::Draft.as_str().to_owned(),
            comments_enabled,
            word_count: count_to_column(word_count),
            reading_time_minutes: count_to_column(reading_time_minutes),
            create_time: now,
            update_time: now,
            delete_time: None,
            version: 1,
        };
        let row = insert_with_slug(&txn, row, slug).await?;
        write_bylines(&txn, &id, &author_ids).await?;
        write_tags(&txn, &id, &tags).await?;
        txn.commit().await?;
        article_from_row(row, author_ids, tags)
    }

    /// Applies an update to the fields in `mask`, refusing a stale `etag`.
    pub async fn update_article(
        &self,
        id: &str,
        etag: &str,
        input: ArticleInput,
        mask: &[ArticleField],
    ) -> Result<Article, Error> {
        let txn = self.begin_write().await?;
        let row = lock_live_article(&txn, id, etag).await?;
        let current = Bylines::load(&txn, std::slice::from_ref(&row.id))
            .await?
            .article(row.clone())?
            .content;
        let ArticleFields {
            slug,
            language,
            title,
            subtitle,
            body,
            author_ids,
            tags,
            section,
            comments_enabled,
            word_count,
            reading_time_minutes,
        } = apply_article_update(&current, input, mask)?;
        let slug = match slug {
            SlugChoice::Explicit(slug) => slug,
            SlugChoice::Keep | SlugChoice::Derived(_) => row.slug.clone(),
        };
        if (slug != row.slug || language != row.language)
            && !slugs_taken(&txn, &language, std::slice::from_ref(&slug))
                .await?
                .is_empty()
        {
            return Err(article_slug_taken(&language, &slug));
        }
        if author_ids != current.author_ids {
            check_authors_exist(&txn, &author_ids).await?;
            write_bylines(&txn, id, &author_ids).await?;
        }
        if tags != current.tags {
            write_tags(&txn, id, &tags).await?;
        }
        let version = row.version + 1;
        let mut update: articles::ActiveModel = row.into();
        update.slug = Set(slug.clone());
        update.language = Set(language.clone());
        update.title = Set(title);
        update.subtitle = Set(subtitle);
        update.body = Set(body);
        update.section = Set(section);
        update.comments_enabled = Set(comments_enabled);
        update.word_count = Set(count_to_column(word_count));
        update.reading_time_minutes = Set(count_to_column(reading_time_minutes));
        update.update_time = Set(self.now());
        update.version = Set(version);
        // The check above reads; a concurrent writer can still take the slug
        // between it and this write, and the unique index has the last word.
        let updated = update
            .update(&txn)
            .await
            .map_err(|error| match error.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                    article_slug_taken(&language, &slug)
                }
                _ => error.into(),
            })?;
        txn.commit().await?;
        article_from_row(updated, author_ids, tags)
    }

    /// Soft-deletes an article: it keeps its row, slug and bylines.
    pub async fn delete_article(&self, id: &str, etag: &str) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        let row = lock_live_article(&txn, id, etag).await?;
        let now = self.now();
        let version = row.version + 1;
        let mut update: articles::ActiveModel = row.into();
        update.delete_time = Set(Some(now));
        update.update_time = Set(now);
        update.version = Set(version);
        update.update(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Brings back a soft-deleted article. One that is not deleted is
    /// ALREADY_EXISTS, as AIP-164 has it.
    pub async fn undelete_article(&self, id: &str, etag: &str) -> Result<Article, Error> {
        let txn = self.begin_write().await?;
        let row = lock_article(&txn, id).await?;
        if row.delete_time.is_none() {
            return Err(Error::AlreadyExists(format!("article {id} is not deleted")));
        }
        if !etag_allows(etag, &row.id, row.version) {
            return Err(stale_article(id));
        }
        let version = row.version + 1;
        let mut update: articles::ActiveModel = row.into();
        update.delete_time = Set(None);
        update.update_time = Set(self.now());
        update.version = Set(version);
        let restored = update.update(&txn).await?;
        let article = Bylines::load(&txn, std::slice::from_ref(&restored.id))
            .await?
            .article(restored)?;
        txn.commit().await?;
        Ok(article)
    }
}

/// INVALID_ARGUMENT naming each `author_ids[i]` that names no author.
async fn check_authors_exist(
    conn: &impl ConnectionTrait,
    author_ids: &[String],
) -> Result<(), Error> {
    let missing = missing_authors(conn, author_ids).await?;
    let mut violations = Violations::new();
    for (i, id) in author_ids.iter().enumerate() {
        if missing.contains(id) {
            violations.add(
                format!("author_ids[{i}]"),
                format!("author {id} does not exist"),
            );
        }
    }
    violations.into_result(()).map_err(Error::from)
}

/// A new article row looking for its slug, unique within its language.
struct NewArticleRow<'a, C> {
    conn: &'a C,
    row: &'a articles::Model,
}

impl<C: ConnectionTrait> SlugTable for NewArticleRow<'_, C> {
    async fn taken(&self, candidates: &[String]) -> Result<Vec<String>, DbErr> {
        slugs_taken(self.conn, &self.row.language, candidates).await
    }

    async fn try_insert(&self, slug: &str) -> Result<bool, DbErr> {
        let mut candidate: articles::ActiveModel = self.row.clone().into();
        candidate.slug = Set(slug.to_owned());
        let result = articles::Entity::insert(candidate)
            .on_conflict_do_nothing_on([articles::Column::Language, articles::Column::Slug])
            .exec_without_returning(self.conn)
            .await?;
        Ok(inserted(result))
    }
}

/// Inserts `row` under the slug `choice` gives (see [`place_slug`]).
async fn insert_with_slug(
    conn: &impl ConnectionTrait,
    row: articles::Model,
    choice: SlugChoice,
) -> Result<articles::Model, Error> {
    let table = NewArticleRow { conn, row: &row };
    match place_slug(&table, choice, &row.id).await? {
        SlugPlacement::Placed(slug) => Ok(articles::Model { slug, ..row }),
        SlugPlacement::Taken(slug) => Err(article_slug_taken(&row.language, &slug)),
    }
}

/// Which of `candidates` articles in `language` already use.
async fn slugs_taken(
    conn: &impl ConnectionTrait,
    language: &str,
    candidates: &[String],
) -> Result<Vec<String>, DbErr> {
    articles::Entity::find()
        .select_only()
        .column(articles::Column::Slug)
        .filter(articles::Column::Language.eq(language))
        .filter(articles::Column::Slug.is_in(candidates.iter().cloned()))
        .into_tuple()
        .all(conn)
        .await
}

/// Replaces an article's bylines with `author_ids`, in order.
async fn write_bylines(
    conn: &impl ConnectionTrait,
    article_id: &str,
    author_ids: &[String],
) -> Result<(), DbErr> {
    article_authors::Entity::delete_many()
        .filter(article_authors::Column::ArticleId.eq(article_id))
        .exec(conn)
        .await?;
    if author_ids.is_empty() {
        return Ok(());
    }
    let rows =
        author_ids
            .iter()
            .zip(0..)
            .map(|(author_id, position)| article_authors::ActiveModel {
                article_id: Set(article_id.to_owned()),
                author_id: Set(author_id.clone()),
                position: Set(position),
            });
    article_authors::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Replaces an article's tags with `tags`, in order.
async fn write_tags(
    conn: &impl ConnectionTrait,
    article_id: &str,
    tags: &[String],
) -> Result<(), DbErr> {
    article_tags::Entity::delete_many()
        .filter(article_tags::Column::ArticleId.eq(article_id))
        .exec(conn)
        .await?;
    if tags.is_empty() {
        return Ok(());
    }
    let rows = tags
        .iter()
        .zip(0..)
        .map(|(tag, position)| article_tags::ActiveModel {
            article_id: Set(article_id.to_owned()),
            tag: Set(tag.clone()),
            position: Set(position),
        });
    article_tags::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The article row, locked for the rest of the transaction on PostgreSQL
/// (SQLite's write transaction already excludes other writers).
async fn lock_article(conn: &impl ConnectionTrait, id: &str) -> Result<articles::Model, Error> {
    articles::Entity::find_by_id(id.to_owned())
        .lock_exclusive()
        .one(conn)
        .await?
        .ok_or_else(|| article_not_found(id))
}

/// As [`lock_article`], for a write that needs the article not deleted and
/// `etag` current: a deleted article is NOT_FOUND, a stale etag ABORTED.
async fn lock_live_article(
    conn: &impl ConnectionTrait,
    id: &str,
    etag: &str,
) -> Result<articles::Model, Error> {
    let row = lock_article(conn, id).await?;
    if row.delete_time.is_some() {
        return Err(article_not_found(id));
    }
    if !etag_allows(etag, &row.id, row.version) {
        return Err(stale_article(id));
    }
    Ok(row)
}

/// Counts fit a 32-bit column: a 1 MiB body has far fewer than 2^31 words.
fn count_to_column(count: u32) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

fn article_slug_taken(language: &str, slug: &str) -> Error {
    Error::AlreadyExists(format!(
        "an article in `{language}` already has the slug `{slug}`"
    ))
}

fn stale_article(id: &str) -> Error {
    Error::Aborted(format!(
        "article {id} was changed since its etag was read; get it again and retry"
    ))
}
