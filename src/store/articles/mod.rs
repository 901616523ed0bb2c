//! Articles in the database: the query types ListArticles pages with, and the
//! conversion from rows. Reads are in `read`, writes in `write`; bylines and
//! tags live in their own tables and are written in the same transaction as
//! the article.

mod read;
mod write;

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, Order, QueryFilter, QueryOrder};

use super::entities::{article_authors, article_tags, articles};
use crate::{
    domain::{
        article::{Article, ArticleContent, ArticleStatus},
        paging::Cursor,
    },
    error::Error,
};

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

/// Author ids and tags of each article, each list in its stored order.
struct Bylines {
    author_ids: HashMap<String, Vec<String>>,
    tags: HashMap<String, Vec<String>>,
}

impl Bylines {
    /// Reads the bylines and tags of the articles `ids` (two queries).
    async fn load(conn: &impl ConnectionTrait, ids: &[String]) -> Result<Self, DbErr> {
        let mut bylines = Bylines {
            author_ids: HashMap::new(),
            tags: HashMap::new(),
        };
        if ids.is_empty() {
            return Ok(bylines);
        }
        let credits = article_authors::Entity::find()
            .filter(article_authors::Column::ArticleId.is_in(ids.iter().cloned()))
            .order_by_asc(article_authors::Column::ArticleId)
            .order_by_asc(article_authors::Column::Position)
            .all(conn)
            .await?;
        for credit in credits {
            bylines
                .author_ids
                .entry(credit.article_id)
                .or_default()
                .push(credit.author_id);
        }
        let tags = article_tags::Entity::find()
            .filter(article_tags::Column::ArticleId.is_in(ids.iter().cloned()))
            .order_by_asc(article_tags::Column::ArticleId)
            .order_by_asc(article_tags::Column::Position)
            .all(conn)
            .await?;
        for tag in tags {
            bylines
                .tags
                .entry(tag.article_id)
                .or_default()
                .push(tag.tag);
        }
        Ok(bylines)
    }

    /// The article for `row`, taking its bylines and tags out of `self`.
    fn article(&mut self, row: articles::Model) -> Result<Article, Error> {
        let author_ids = self.author_ids.remove(&row.id).unwrap_or_default();
        let tags = self.tags.remove(&row.id).unwrap_or_default();
        article_from_row(row, author_ids, tags)
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

fn article_not_found(id: &str) -> Error {
    Error::NotFound(format!("article {id} does not exist"))
}
