//! Reading articles: by id, by slug, and keyset-paged lists.

use sea_orm::{
    ColumnTrait, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Query},
};

use super::{
    super::{
        Store,
        entities::{article_authors, article_tags, articles},
    },
    ArticleFilter, ArticleOrder, ArticlePage, Bylines, article_not_found,
};
use crate::{
    domain::{
        article::Article,
        paging::{Cursor, split_page},
        validation::Violations,
    },
    error::Error,
};

impl Store {
    /// The article with this id; a deleted one only when `show_deleted`.
    pub async fn find_article(&self, id: &str, show_deleted: bool) -> Result<Article, Error> {
        let row = articles::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .filter(|row| show_deleted || row.delete_time.is_none())
            .ok_or_else(|| article_not_found(id))?;
        let mut bylines = Bylines::load(&self.db, std::slice::from_ref(&row.id)).await?;
        bylines.article(row)
    }

    /// The article with this slug in this language; a deleted one only when
    /// `show_deleted`.
    pub async fn find_article_by_slug(
        &self,
        language: &str,
        slug: &str,
        show_deleted: bool,
    ) -> Result<Article, Error> {
        let row = articles::Entity::find()
            .filter(articles::Column::Language.eq(language))
            .filter(articles::Column::Slug.eq(slug))
            .one(&self.db)
            .await?
            .filter(|row| show_deleted || row.delete_time.is_none())
            .ok_or_else(|| {
                Error::NotFound(format!("no article in `{language}` has the slug `{slug}`"))
            })?;
        let mut bylines = Bylines::load(&self.db, std::slice::from_ref(&row.id)).await?;
        bylines.article(row)
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
        let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
        let mut bylines = Bylines::load(&self.db, &ids).await?;
        Ok(ArticlePage {
            articles: rows
                .into_iter()
                .map(|row| bylines.article(row))
                .collect::<Result<_, _>>()?,
            has_more,
        })
    }
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
