//! Reading articles, in either view: by id, by slug, and keyset-paged lists.
//! Each read runs in one read-only transaction, so that an article's row, its
//! live version and its bylines come from the same moment even while a
//! publish commits.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, ExprTrait, Query, SelectStatement},
};

use super::{
    super::{
        Store,
        entities::{
            article_authors, article_live, article_live_authors, article_live_tags, article_tags,
            articles,
        },
    },
    ArticleFilter, ArticleOrder, ArticlePage, Bylines, Edition, article_not_found,
    count_from_column, live_article_from_rows,
};
use crate::{
    domain::{
        article::{Article, ArticleStatus, ArticleView},
        paging::{Cursor, split_page},
        validation::Violations,
    },
    error::Error,
};

impl Store {
    /// The article with this id in `view`; a deleted one only when
    /// `show_deleted`, and never in the published view.
    pub async fn find_article(
        &self,
        id: &str,
        view: ArticleView,
        show_deleted: bool,
    ) -> Result<Article, Error> {
        let txn = self.begin_read().await?;
        let row = articles::Entity::find_by_id(id.to_owned())
            .one(&txn)
            .await?;
        let article = present_one(&txn, row, view, show_deleted).await?;
        txn.commit().await?;
        article.ok_or_else(|| article_not_found(id))
    }

    /// The article with this slug in this language, in `view`; a deleted one
    /// only when `show_deleted`.
    pub async fn find_article_by_slug(
        &self,
        language: &str,
        slug: &str,
        view: ArticleView,
        show_deleted: bool,
    ) -> Result<Article, Error> {
        let txn = self.begin_read().await?;
        let row = articles::Entity::find()
            .filter(articles::Column::Language.eq(language))
            .filter(articles::Column::Slug.eq(slug))
            .one(&txn)
            .await?;
        let article = present_one(&txn, row, view, show_deleted).await?;
        txn.commit().await?;
        article.ok_or_else(|| {
            Error::NotFound(format!("no article in `{language}` has the slug `{slug}`"))
        })
    }

    /// Up to `size` articles matching `filter` in `view`, in `order`, after
    /// `cursor`. In the published view, filters apply to what readers see.
    pub async fn list_articles(
        &self,
        view: ArticleView,
        filter: &ArticleFilter,
        order: ArticleOrder,
        cursor: Option<&Cursor>,
        size: u64,
    ) -> Result<ArticlePage, Error> {
        let status = match (view, filter.status) {
            (ArticleView::Published, Some(status)) if !status.is_readable() => {
                return Ok(ArticlePage {
                    articles: Vec::new(),
                    has_more: false,
                });
            }
            (ArticleView::Published, None) => {
                Condition::all().add(articles::Column::Status.eq(ArticleStatus::Published.as_str()))
            }
            (_, Some(status)) => Condition::all().add(articles::Column::Status.eq(status.as_str())),
            (ArticleView::Latest, None) => {
                Condition::all().add(articles::Column::Status.ne(ArticleStatus::Archived.as_str()))
            }
        };
        let mut query = articles::Entity::find().filter(status);
        // Readers never see deleted articles, whatever the request says.
        if !filter.show_deleted || view == ArticleView::Published {
            query = query.filter(articles::Column::DeleteTime.is_null());
        }
        if let Some(language) = &filter.language {
            query = query.filter(articles::Column::Language.eq(language));
        }
        let edition = match view {
            ArticleView::Latest => Edition::Working,
            ArticleView::Published => Edition::Live,
        };
        if let Some(section) = &filter.section {
            query = match edition {
                Edition::Working => query.filter(articles::Column::Section.eq(section)),
                Edition::Live => query.filter(articles::Column::Id.in_subquery(ids_where(
                    article_live::Entity,
                    article_live::Column::ArticleId,
                    article_live::Column::Section.eq(section),
                ))),
            };
        }
        if let Some(author_id) = &filter.author_id {
            query = query.filter(articles::Column::Id.in_subquery(match edition {
                Edition::Working => ids_where(
                    article_authors::Entity,
                    article_authors::Column::ArticleId,
                    article_authors::Column::AuthorId.eq(author_id),
                ),
                Edition::Live => ids_where(
                    article_live_authors::Entity,
                    article_live_authors::Column::ArticleId,
                    article_live_authors::Column::AuthorId.eq(author_id),
                ),
            }));
        }
        if let Some(tag) = &filter.tag {
            query = query.filter(articles::Column::Id.in_subquery(match edition {
                Edition::Working => ids_where(
                    article_tags::Entity,
                    article_tags::Column::ArticleId,
                    article_tags::Column::Tag.eq(tag),
                ),
                Edition::Live => ids_where(
                    article_live_tags::Entity,
                    article_live_tags::Column::ArticleId,
                    article_live_tags::Column::Tag.eq(tag),
                ),
            }));
        }
        let (column, direction) = order.column_and_direction();
        if let Some(cursor) = cursor {
            query = query.filter(after_cursor(column, &direction, cursor)?);
        }
        let txn = self.begin_read().await?;
        let rows = query
            .order_by(column, direction.clone())
            .order_by(articles::Column::Id, direction)
            .limit(size + 1)
            .all(&txn)
            .await?;
        let (rows, has_more) = split_page(rows, size);
        let articles = present(&txn, rows, view).await?;
        txn.commit().await?;
        Ok(ArticlePage { articles, has_more })
    }

    /// The comment counts of those of `ids` that exist and are not deleted.
    pub async fn comment_counts(&self, ids: &[String]) -> Result<HashMap<String, u32>, Error> {
        // Well under SQLite's and PostgreSQL's limits on bound values.
        const IDS_A_QUERY: usize = 500;
        let mut counts = HashMap::with_capacity(ids.len());
        for some in ids.chunks(IDS_A_QUERY) {
            let rows: Vec<(String, i32)> = articles::Entity::find()
                .select_only()
                .column(articles::Column::Id)
                .column(articles::Column::CommentCount)
                .filter(articles::Column::Id.is_in(some))
                .filter(articles::Column::DeleteTime.is_null())
                .into_tuple()
                .all(&self.db)
                .await?;
            counts.extend(
                rows.into_iter()
                    .map(|(id, count)| (id, count_from_column(count))),
            );
        }
        Ok(counts)
    }
}

/// The article in `row`, if there is one and `view` shows it.
async fn present_one(
    conn: &impl ConnectionTrait,
    row: Option<articles::Model>,
    view: ArticleView,
    show_deleted: bool,
) -> Result<Option<Article>, Error> {
    let show_deleted = show_deleted && view == ArticleView::Latest;
    let Some(row) = row.filter(|row| show_deleted || row.delete_time.is_none()) else {
        return Ok(None);
    };
    Ok(present(conn, vec![row], view).await?.pop())
}

/// The articles in `rows` as `view` shows them, in the same order; in the
/// published view, articles readers cannot see are left out.
async fn present(
    conn: &impl ConnectionTrait,
    rows: Vec<articles::Model>,
    view: ArticleView,
) -> Result<Vec<Article>, Error> {
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    match view {
        ArticleView::Latest => {
            let mut bylines = Bylines::load(conn, Edition::Working, &ids).await?;
            rows.into_iter().map(|row| bylines.working(row)).collect()
        }
        ArticleView::Published => {
            let mut live: HashMap<String, article_live::Model> = article_live::Entity::find()
                .filter(article_live::Column::ArticleId.is_in(ids.iter().cloned()))
                .all(conn)
                .await?
                .into_iter()
                .map(|live| (live.article_id.clone(), live))
                .collect();
            let mut bylines = Bylines::load(conn, Edition::Live, &ids).await?;
            let mut articles = Vec::with_capacity(rows.len());
            for row in rows {
                let status = ArticleStatus::parse(&row.status);
                if !status.is_some_and(ArticleStatus::is_readable) {
                    continue;
                }
                let Some(live) = live.remove(&row.id) else {
                    continue;
                };
                let (author_ids, tags) = bylines.take(&row.id);
                articles.push(live_article_from_rows(row, live, author_ids, tags)?);
            }
            Ok(articles)
        }
    }
}

/// `SELECT article_id FROM table WHERE condition`, for `id IN (...)` filters.
fn ids_where<E: EntityTrait>(entity: E, article_id: E::Column, condition: Expr) -> SelectStatement {
    Query::select()
        .column(article_id)
        .from(entity)
        .and_where(condition)
        .to_owned()
}

/// Rows after `cursor` in the order of (`column`, id) going `direction`. A
/// row-value comparison, which both PostgreSQL and SQLite turn into an index
/// range: page 1,000 costs what page 1 costs. (The equivalent `t < T OR (t = T
/// AND id < I)` makes PostgreSQL walk and discard every earlier row.)
fn after_cursor(
    column: articles::Column,
    direction: &Order,
    cursor: &Cursor,
) -> Result<Expr, Error> {
    let time = cursor
        .time()
        .ok_or_else(|| Violations::single("page_token", "is malformed"))?;
    let key = Expr::tuple([Expr::col(column), Expr::col(articles::Column::Id)]);
    let after = Expr::tuple([Expr::val(time), Expr::val(cursor.id.clone())]);
    Ok(match direction {
        Order::Asc => key.gt(after),
        _ => key.lt(after),
    })
}
