//! Articles in the database. An article has a working copy (the `articles`
//! row with `article_authors` and `article_tags`) and, once it has gone live,
//! a live version readers see (`article_live` with its own bylines and tags).
//! Reads are in `read`, edits in `write`, status changes in `workflow`; every
//! change appends a revision and an event in the change's transaction.

mod read;
mod slug_rows;
mod workflow;
mod write;

use std::collections::HashMap;

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, Order, Statement,
    sea_query::{Alias, Expr, ExprTrait, Query, UnionType},
};

use super::{
    entities::{article_live, articles},
    events::{ChangeWrites, NewEvent, execute_then_append},
    revisions::revision_statement,
};
use crate::{
    domain::{
        access::Actor,
        article::{Article, ArticleContent, ArticleStatus},
        event::{EventPayload, article_event_type},
        paging::Cursor,
        revision::RevisionAction,
    },
    error::Error,
};

pub use workflow::{DuePublication, WorkflowRequest};

/// What ListArticles filters on; `None` and `false` filter nothing.
#[derive(Debug, Clone, Default)]
pub struct ArticleFilter {
    pub author_id: Option<String>,
    pub tag: Option<String>,
    pub section: Option<String>,
    pub language: Option<String>,
    /// Only this status. Without one, archived articles are left out: they
    /// have left the listings, though their permalinks still work.
    pub status: Option<ArticleStatus>,
    pub show_deleted: bool,
}

/// The orders ListArticles can page in. Ties on the timestamp are broken by
/// id, so every order is total and keyset paging never skips or repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArticleOrder {
    CreateTimeDesc,
    CreateTimeAsc,
    UpdateTimeDesc,
    UpdateTimeAsc,
    /// By first publication: only for the published view, where every
    /// article has one.
    PublishTimeDesc,
    PublishTimeAsc,
}

impl ArticleOrder {
    /// A stable name, for page-token fingerprints.
    pub fn as_str(self) -> &'static str {
        match self {
            ArticleOrder::CreateTimeDesc => "create_time desc",
            ArticleOrder::CreateTimeAsc => "create_time asc",
            ArticleOrder::UpdateTimeDesc => "update_time desc",
            ArticleOrder::UpdateTimeAsc => "update_time asc",
            ArticleOrder::PublishTimeDesc => "publish_time desc",
            ArticleOrder::PublishTimeAsc => "publish_time asc",
        }
    }

    /// The cursor that continues this order after `article`.
    pub fn cursor_after(self, article: &Article) -> Cursor {
        let time = match self {
            ArticleOrder::CreateTimeDesc | ArticleOrder::CreateTimeAsc => Some(article.create_time),
            ArticleOrder::UpdateTimeDesc | ArticleOrder::UpdateTimeAsc => Some(article.update_time),
            ArticleOrder::PublishTimeDesc | ArticleOrder::PublishTimeAsc => article.publish_time,
        };
        Cursor {
            time_micros: time.map(|time| time.timestamp_micros()),
            number: None,
            key: None,
            id: article.id.clone(),
        }
    }

    fn column_and_direction(self) -> (articles::Column, Order) {
        match self {
            ArticleOrder::CreateTimeDesc => (articles::Column::CreateTime, Order::Desc),
            ArticleOrder::CreateTimeAsc => (articles::Column::CreateTime, Order::Asc),
            ArticleOrder::UpdateTimeDesc => (articles::Column::UpdateTime, Order::Desc),
            ArticleOrder::UpdateTimeAsc => (articles::Column::UpdateTime, Order::Asc),
            ArticleOrder::PublishTimeDesc => (articles::Column::PublishTime, Order::Desc),
            ArticleOrder::PublishTimeAsc => (articles::Column::PublishTime, Order::Asc),
        }
    }
}

/// One page of articles, and whether another follows.
#[derive(Debug)]
pub struct ArticlePage {
    pub articles: Vec<Article>,
    pub has_more: bool,
}

/// Which edition of an article's bylines and tags: the working copy's, or the
/// live version's. Both sets of tables have the same columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edition {
    Working,
    Live,
}

impl Edition {
    fn authors_table(self) -> &'static str {
        match self {
            Edition::Working => "article_authors",
            Edition::Live => "article_live_authors",
        }
    }

    fn tags_table(self) -> &'static str {
        match self {
            Edition::Working => "article_tags",
            Edition::Live => "article_live_tags",
        }
    }
}

/// Author ids and tags of some articles, each list in its stored order.
struct Bylines {
    author_ids: HashMap<String, Vec<String>>,
    tags: HashMap<String, Vec<String>>,
}

impl Bylines {
    /// Reads the bylines and tags of `copy` of the articles `ids`, in one
    /// query.
    async fn load(
        conn: &impl ConnectionTrait,
        copy: Edition,
        ids: &[String],
    ) -> Result<Self, DbErr> {
        let mut bylines = Bylines {
            author_ids: HashMap::new(),
            tags: HashMap::new(),
        };
        if ids.is_empty() {
            return Ok(bylines);
        }
        let list = |table: &str, column: &str, kind: i32| {
            Query::select()
                .column(Alias::new("article_id"))
                .expr_as(Expr::col(Alias::new(column)), Alias::new("value"))
                .expr_as(Expr::val(kind), Alias::new("kind"))
                .column(Alias::new("position"))
                .from(Alias::new(table))
                .and_where(Expr::col(Alias::new("article_id")).is_in(ids.iter().cloned()))
                .to_owned()
        };
        let query = list(copy.authors_table(), "author_id", AUTHOR_ROW)
            .union(UnionType::All, list(copy.tags_table(), "tag", TAG_ROW))
            .to_owned();
        let mut rows = Vec::new();
        for row in conn.query_all(&query).await? {
            let article_id: String = row.try_get("", "article_id")?;
            let value: String = row.try_get("", "value")?;
            let kind: i32 = row.try_get("", "kind")?;
            let position: i32 = row.try_get("", "position")?;
            rows.push((kind, article_id, position, value));
        }
        rows.sort_unstable();
        for (kind, article_id, _, value) in rows {
            let lists = if kind == AUTHOR_ROW {
                &mut bylines.author_ids
            } else {
                &mut bylines.tags
            };
            lists.entry(article_id).or_default().push(value);
        }
        Ok(bylines)
    }

    /// The working copy's author ids and tags of the article `id`.
    async fn working_lists(
        conn: &impl ConnectionTrait,
        id: &str,
    ) -> Result<(Vec<String>, Vec<String>), DbErr> {
        let ids = [id.to_owned()];
        Ok(Self::load(conn, Edition::Working, &ids).await?.take(id))
    }

    /// The author ids and tags of `article_id`, taken out of `self`.
    fn take(&mut self, article_id: &str) -> (Vec<String>, Vec<String>) {
        (
            self.author_ids.remove(article_id).unwrap_or_default(),
            self.tags.remove(article_id).unwrap_or_default(),
        )
    }

    /// The working copy of the article in `row`.
    fn working(&mut self, row: articles::Model) -> Result<Article, Error> {
        let (author_ids, tags) = self.take(&row.id);
        article_from_row(row, author_ids, tags)
    }
}

/// What a row of [`Bylines::load`]'s query holds: a byline or a tag.
const AUTHOR_ROW: i32 = 0;
const TAG_ROW: i32 = 1;

/// The statements that replace `copy`'s bylines and tags of an article,
/// keeping their order (for [`record_change`] to run).
fn list_statements(
    backend: DbBackend,
    copy: Edition,
    article_id: &str,
    author_ids: &[String],
    tags: &[String],
) -> Result<Vec<Statement>, DbErr> {
    let mut statements = Vec::with_capacity(4);
    for (table, column, values) in [
        (copy.authors_table(), "author_id", author_ids),
        (copy.tags_table(), "tag", tags),
    ] {
        let delete = Query::delete()
            .from_table(Alias::new(table))
            .and_where(Expr::col(Alias::new("article_id")).eq(article_id))
            .to_owned();
        statements.push(backend.build(&delete));
        if values.is_empty() {
            continue;
        }
        let mut insert = Query::insert()
            .into_table(Alias::new(table))
            .columns([
                Alias::new("article_id"),
                Alias::new(column),
                Alias::new("position"),
            ])
            .to_owned();
        for (value, position) in values.iter().zip(0_i32..) {
            insert
                .values([article_id.into(), value.clone().into(), position.into()])
                .map_err(|error| DbErr::Custom(error.to_string()))?;
        }
        statements.push(backend.build(&insert));
    }
    Ok(statements)
}

/// Records a change to `article` (as it is after the change) in the same
/// transaction: runs `writes` (the change itself, when not written yet),
/// then appends its revision and its event: on SQLite all in one hand-off,
/// on PostgreSQL one round trip with the writes apart, after one for each
/// write in order.
async fn record_change(
    conn: &impl ConnectionTrait,
    mut writes: ChangeWrites,
    actor: &Actor,
    article: &Article,
    action: RevisionAction,
    changed_fields: &[&str],
    note: &str,
) -> Result<(), DbErr> {
    // The revision is a table of its own, and reads nothing.
    writes
        .apart
        .push(revision_statement(actor, article, action, changed_fields, note)?.into());
    execute_then_append(
        conn,
        writes,
        &[NewEvent {
            event_type: article_event_type(action),
            occur_time: article.update_time,
            payload: EventPayload::Article(Box::new(article.clone())),
            actor,
        }],
    )
    .await
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
        publish_time,
        last_publish_time,
        scheduled_publish_time,
        has_unpublished_changes,
        revision,
        comment_count,
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
        word_count: count_from_column(word_count),
        reading_time_minutes: count_from_column(reading_time_minutes),
        create_time,
        update_time,
        delete_time,
        publish_time,
        last_publish_time,
        scheduled_publish_time,
        has_unpublished_changes,
        revision,
        comment_count: count_from_column(comment_count),
        version,
    })
}

/// The article as readers see it: the live version's content under the
/// article's identity (slug, language), state and settings. The newsroom's
/// pending edits do not show, not even as a flag.
fn live_article_from_rows(
    row: articles::Model,
    live: article_live::Model,
    author_ids: Vec<String>,
    tags: Vec<String>,
) -> Result<Article, Error> {
    let article_live::Model {
        article_id: _,
        title,
        subtitle,
        body,
        section,
        word_count,
        reading_time_minutes,
        revision,
    } = live;
    let last_publish_time = row.last_publish_time;
    let mut article = article_from_row(row, author_ids, tags)?;
    article.content.title = title;
    article.content.subtitle = subtitle;
    article.content.body = body;
    article.content.section = section;
    article.word_count = count_from_column(word_count);
    article.reading_time_minutes = count_from_column(reading_time_minutes);
    article.revision = revision;
    article.has_unpublished_changes = false;
    article.update_time = last_publish_time.unwrap_or(article.update_time);
    Ok(article)
}

pub(super) fn count_from_column(count: i32) -> u32 {
    u32::try_from(count).unwrap_or_default()
}

/// Counts fit a 32-bit column: a 1 MiB body has far fewer than 2^31 words.
fn count_to_column(count: u32) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

fn article_not_found(id: &str) -> Error {
    Error::NotFound(format!("article {id} does not exist"))
}
