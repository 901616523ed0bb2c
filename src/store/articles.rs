//! Queries on articles: create (with idempotency and slug allocation), read by
//! id or slug, keyset-paged lists, updates under etags, soft delete and
//! undelete. Bylines and tags live in their own tables and are written in the
//! same transaction as the article.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, Order,
    QueryFilter, QueryOrder, QuerySelect, Set, sea_query::Query,
};

use super::{
    Store,
    entities::{article_authors, article_tags, articles},
    inserted, new_id, now,
    request_ids::{Claim, claim_request_id},
    slugs::{SlugPlacement, SlugTable, place_slug},
};
use crate::{
    domain::{
        article::{
            Article, ArticleContent, ArticleField, ArticleFields, ArticleInput, ArticleStatus,
            apply_article_update,
        },
        etag::etag_allows,
        paging::{Cursor, split_page},
        slug::SlugChoice,
        validation::Violations,
    },
    error::Error,
};

const REQUEST_SCOPE: &str = "articles";

/// What ListArticles filters on; `None` and `false` filter nothing.
#[derive(Debug, Clone, Default)]
pub struct ArticleFilter {
    pub author_id: Option<String>,
    pub tag: Option<String>,
    pub section: Option<String>,
    pub language: Option<String>,
    pub status: Option<ArticleStatus>,
    pub show_deleted: bool,
}

/// The orders ListArticles can page in. Ties on the timestamp are broken by
/// id, so every order is total and keyset paging never skips or repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArticleOrder {
    #[default]
    CreateTimeDesc,
    CreateTimeAsc,
    UpdateTimeDesc,
    UpdateTimeAsc,
}

impl ArticleOrder {
    /// A stable name, for page-token fingerprints.
    pub fn as_str(self) -> &'static str {
        match self {
            ArticleOrder::CreateTimeDesc => "create_time desc",
            ArticleOrder::CreateTimeAsc => "create_time asc",
            ArticleOrder::UpdateTimeDesc => "update_time desc",
            ArticleOrder::UpdateTimeAsc => "update_time asc",
        }
    }

    /// The cursor that continues this order after `article`.
    pub fn cursor_after(self, article: &Article) -> Cursor {
        let time = match self {
            ArticleOrder::CreateTimeDesc | ArticleOrder::CreateTimeAsc => article.create_time,
            ArticleOrder::UpdateTimeDesc | ArticleOrder::UpdateTimeAsc => article.update_time,
        };
        Cursor {
            time_micros: Some(time.timestamp_micros()),
            id: article.id.clone(),
        }
    }

    fn column_and_direction(self) -> (articles::Column, Order) {
        match self {
            ArticleOrder::CreateTimeDesc => (articles::Column::CreateTime, Order::Desc),
            ArticleOrder::CreateTimeAsc => (articles::Column::CreateTime, Order::Asc),
            ArticleOrder::UpdateTimeDesc => (articles::Column::UpdateTime, Order::Desc),
            ArticleOrder::UpdateTimeAsc => (articles::Column::UpdateTime, Order::Asc),
        }
    }
}

/// One page of articles, and whether another follows.
#[derive(Debug)]
pub struct ArticlePage {
    pub articles: Vec<Article>,
    pub has_more: bool,
}

impl Store {
    /// Creates a draft; with a `request_id` already used, returns the article
    /// that request created instead. Unknown author ids are INVALID_ARGUMENT
    /// naming `author_ids[i]`.
    pub async fn insert_article(
        &self,
        fields: ArticleFields,
        request_id: Option<&str>,
    ) -> Result<Article, Error> {
        let now = now();
        let id = new_id();
        let txn = self.begin_write().await?;
        if let Some(request_id) = request_id
            && let Claim::Existing(existing) =
                claim_request_id(&txn, REQUEST_SCOPE, request_id, &id, now).await?
        {
            txn.rollback().await?;
            return self.find_article(&existing, true).await;
        }
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

    /// The article with this id; a deleted one only when `show_deleted`.
    pub async fn find_article(&self, id: &str, show_deleted: bool) -> Result<Article, Error> {
        let row = articles::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .filter(|row| show_deleted || row.delete_time.is_none())
            .ok_or_else(|| article_not_found(id))?;
        self.with_bylines(vec![row])
            .await?
            .pop()
            .ok_or_else(|| article_not_found(id))
    }

    /// The article with this slug in this language; a deleted one only when
    /// `show_deleted`.
    pub async fn find_article_by_slug(
        &self,
        language: &str,
        slug: &str,
        show_deleted: bool,
    ) -> Result<Article, Error> {
        let not_found =
            || Error::NotFound(format!("no article in `{language}` has the slug `{slug}`"));
        let row = articles::Entity::find()
            .filter(articles::Column::Language.eq(language))
            .filter(articles::Column::Slug.eq(slug))
            .one(&self.db)
            .await?
            .filter(|row| show_deleted || row.delete_time.is_none())
            .ok_or_else(not_found)?;
        self.with_bylines(vec![row])
            .await?
            .pop()
            .ok_or_else(not_found)
    }

    /// Up to `size` articles matching `filter`, in `order`, after `cursor`.
    pub async fn list_articles(
        &self,
        filter: &ArticleFilter,
        order: ArticleOrder,
        cursor: Option<&Cursor>,
        size: u64,
    ) -> Result<ArticlePage, Error> {
        let mut query = articles::Entity::find();
        if !filter.show_deleted {
            query = query.filter(articles::Column::DeleteTime.is_null());
        }
        if let Some(language) = &filter.language {
            query = query.filter(articles::Column::Language.eq(language));
        }
        if let Some(section) = &filter.section {
            query = query.filter(articles::Column::Section.eq(section));
        }
        if let Some(status) = filter.status {
            query = query.filter(articles::Column::Status.eq(status.as_str()));
        }
        if let Some(author_id) = &filter.author_id {
            query = query.filter(
                articles::Column::Id.in_subquery(
                    Query::select()
                        .column(article_authors::Column::ArticleId)
                        .from(article_authors::Entity)
                        .and_where(article_authors::Column::AuthorId.eq(author_id))
                        .to_owned(),
                ),
            );
        }
        if let Some(tag) = &filter.tag {
            query = query.filter(
                articles::Column::Id.in_subquery(
                    Query::select()
                        .column(article_tags::Column::ArticleId)
                        .from(article_tags::Entity)
                        .and_where(article_tags::Column::Tag.eq(tag))
                        .to_owned(),
                ),
            );
        }
        let (column, direction) = order.column_and_direction();
        if let Some(cursor) = cursor {
            query = query.filter(after_cursor(column, &direction, cursor)?);
        }
        let rows = query
            .order_by(column, direction.clone())
            .order_by(articles::Column::Id, direction)
            .limit(size + 1)
            .all(&self.db)
            .await?;
        let (rows, has_more) = split_page(rows, size);
        Ok(ArticlePage {
            articles: self.with_bylines(rows).await?,
            has_more,
        })
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
        let row = lock_article(&txn, id).await?;
        if row.delete_time.is_some() {
            return Err(article_not_found(id));
        }
        if !etag_allows(etag, &row.id, row.version) {
            return Err(stale_article(id));
        }
        let (mut author_ids, mut tags) = load_bylines(&txn, std::slice::from_ref(&row.id)).await?;
        let current = content_from_row(
            &row,
            author_ids.remove(&row.id).unwrap_or_default(),
            tags.remove(&row.id).unwrap_or_default(),
        );
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
            && slug_in_use(&txn, &language, &slug).await?
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
        let mut update: articles::ActiveModel = row.clone().into();
        update.slug = Set(slug.clone());
        update.language = Set(language.clone());
        update.title = Set(title);
        update.subtitle = Set(subtitle);
        update.body = Set(body);
        update.section = Set(section);
        update.comments_enabled = Set(comments_enabled);
        update.word_count = Set(count_to_column(word_count));
        update.reading_time_minutes = Set(count_to_column(reading_time_minutes));
        update.update_time = Set(now());
        update.version = Set(row.version + 1);
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
        let row = lock_article(&txn, id).await?;
        if row.delete_time.is_some() {
            return Err(article_not_found(id));
        }
        if !etag_allows(etag, &row.id, row.version) {
            return Err(stale_article(id));
        }
        let now = now();
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
        update.update_time = Set(now());
        update.version = Set(version);
        let restored = update.update(&txn).await?;
        txn.commit().await?;
        self.find_article(&restored.id, false).await
    }

    /// Articles for `rows`, with their bylines and tags, in the same order.
    async fn with_bylines(&self, rows: Vec<articles::Model>) -> Result<Vec<Article>, Error> {
        let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
        let (mut author_ids, mut tags) = load_bylines(&self.db, &ids).await?;
        rows.into_iter()
            .map(|row| {
                let authors = author_ids.remove(&row.id).unwrap_or_default();
                let tags = tags.remove(&row.id).unwrap_or_default();
                article_from_row(row, authors, tags)
            })
            .collect()
    }
}

/// INVALID_ARGUMENT naming each `author_ids[i]` that names no author.
async fn check_authors_exist(
    conn: &impl ConnectionTrait,
    author_ids: &[String],
) -> Result<(), Error> {
    let missing = Store::missing_authors(conn, author_ids).await?;
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

/// The keyset condition for rows after `cursor` in the order of `column`
/// (then id) going `direction`.
fn after_cursor(
    column: articles::Column,
    direction: &Order,
    cursor: &Cursor,
) -> Result<Condition, Error> {
    let invalid = || Error::from(Violations::single("page_token", "is malformed"));
    let time = cursor
        .time_micros
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .ok_or_else(invalid)?;
    let id = cursor.id.clone();
    let (past_time, past_id) = match direction {
        Order::Asc => (column.gt(time), articles::Column::Id.gt(id)),
        _ => (column.lt(time), articles::Column::Id.lt(id)),
    };
    Ok(Condition::any()
        .add(past_time)
        .add(Condition::all().add(column.eq(time)).add(past_id)))
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

async fn slug_in_use(
    conn: &impl ConnectionTrait,
    language: &str,
    slug: &str,
) -> Result<bool, DbErr> {
    Ok(
        !slugs_taken(conn, language, std::slice::from_ref(&slug.to_owned()))
            .await?
            .is_empty(),
    )
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

/// Author ids and tags of the articles `ids`, each list in its stored order.
async fn load_bylines(
    conn: &impl ConnectionTrait,
    ids: &[String],
) -> Result<(HashMap<String, Vec<String>>, HashMap<String, Vec<String>>), DbErr> {
    let mut author_ids: HashMap<String, Vec<String>> = HashMap::new();
    let mut tags: HashMap<String, Vec<String>> = HashMap::new();
    if ids.is_empty() {
        return Ok((author_ids, tags));
    }
    let bylines = article_authors::Entity::find()
        .filter(article_authors::Column::ArticleId.is_in(ids.iter().cloned()))
        .order_by_asc(article_authors::Column::ArticleId)
        .order_by_asc(article_authors::Column::Position)
        .all(conn)
        .await?;
    for byline in bylines {
        author_ids
            .entry(byline.article_id)
            .or_default()
            .push(byline.author_id);
    }
    let tag_rows = article_tags::Entity::find()
        .filter(article_tags::Column::ArticleId.is_in(ids.iter().cloned()))
        .order_by_asc(article_tags::Column::ArticleId)
        .order_by_asc(article_tags::Column::Position)
        .all(conn)
        .await?;
    for tag in tag_rows {
        tags.entry(tag.article_id).or_default().push(tag.tag);
    }
    Ok((author_ids, tags))
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

fn content_from_row(
    row: &articles::Model,
    author_ids: Vec<String>,
    tags: Vec<String>,
) -> ArticleContent {
    ArticleContent {
        slug: row.slug.clone(),
        language: row.language.clone(),
        title: row.title.clone(),
        subtitle: row.subtitle.clone(),
        body: row.body.clone(),
        author_ids,
        tags,
        section: row.section.clone(),
        comments_enabled: row.comments_enabled,
    }
}

fn article_from_row(
    row: articles::Model,
    author_ids: Vec<String>,
    tags: Vec<String>,
) -> Result<Article, Error> {
    let articles::Model {
        id,
        slug,
        language,
        title,
        subtitle,
        body,
        section,
        status,
        comments_enabled,
        word_count,
        reading_time_minutes,
        create_time,
        update_time,
        delete_time,
        version,
    } = row;
    let status = ArticleStatus::parse(&status).ok_or_else(|| {
        Error::Internal(format!("article {id} has the unknown status `{status}`"))
    })?;
    Ok(Article {
        id,
        content: ArticleContent {
            slug,
            language,
            title,
            subtitle,
            body,
            author_ids,
            tags,
            section,
            comments_enabled,
        },
        status,
        word_count: u32::try_from(word_count).unwrap_or_default(),
        reading_time_minutes: u32::try_from(reading_time_minutes).unwrap_or_default(),
        create_time,
        update_time,
        delete_time,
        version,
    })
}

/// Counts fit a 32-bit column: a 1 MiB body has far fewer than 2^31 words.
fn count_to_column(count: u32) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

fn article_not_found(id: &str) -> Error {
    Error::NotFound(format!("article {id} does not exist"))
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
