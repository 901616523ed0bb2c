//! Reading comments: one comment, an article's threads as readers see them,
//! and the moderation queue.

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, ExprTrait},
};

use super::{
    super::{
        Store,
        entities::{articles, comments},
    },
    CommentPage, ThreadOrder, comment_from_row, comment_not_found,
};
use crate::{
    domain::{
        article::ArticleStatus,
        comment::{Comment, CommentStatus},
        paging::{Cursor, split_page},
        validation::Violations,
    },
    error::Error,
};

impl Store {
    /// A comment, whatever its status (for the moderators, and for a retried
    /// create).
    pub async fn find_comment(&self, id: &str) -> Result<Comment, Error> {
        let row = comments::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| comment_not_found(id))?;
        comment_from_row(row)
    }

    /// A comment as readers may see it: approved and not deleted, or a
    /// tombstone holding visible replies together, on a readable article.
    pub async fn find_visible_comment(&self, id: &str) -> Result<Comment, Error> {
        let row = comments::Entity::find_by_id(id.to_owned())
            .filter(shown_to_readers())
            .one(&self.db)
            .await?
            .ok_or_else(|| comment_not_found(id))?;
        require_readable_article(&self.db, &row.article_id).await?;
        comment_from_row(row)
    }

    /// Up to `size` of an article's comments as readers see them, in thread
    /// order after `cursor`: approved comments, and tombstones for hidden ones
    /// that still have visible replies.
    pub async fn list_comments(
        &self,
        article_id: &str,
        order: ThreadOrder,
        cursor: Option<&Cursor>,
        size: u64,
    ) -> Result<CommentPage, Error> {
        require_readable_article(&self.db, article_id).await?;
        let thread_direction = match order {
            ThreadOrder::OldestFirst => Order::Asc,
            ThreadOrder::NewestFirst => Order::Desc,
        };
        let mut query = comments::Entity::find()
            .filter(comments::Column::ArticleId.eq(article_id))
            .filter(shown_to_readers());
        if let Some(cursor) = cursor {
            query = query.filter(after_thread_cursor(order, cursor)?);
        }
        let rows = query
            .order_by(comments::Column::ThreadTime, thread_direction.clone())
            .order_by(comments::Column::ThreadId, thread_direction)
            .order_by(comments::Column::Path, Order::Asc)
            .limit(size + 1)
            .all(&self.db)
            .await?;
        let (rows, has_more) = split_page(rows, size);
        let next = rows.last().filter(|_| has_more).map(|last| Cursor {
            time_micros: Some(last.thread_time.timestamp_micros()),
            number: None,
            id: last.thread_id.clone(),
            key: Some(last.path.clone()),
        });
        Ok(CommentPage {
            comments: rows
                .into_iter()
                .map(comment_from_row)
                .collect::<Result<_, _>>()?,
            next,
        })
    }

    /// Up to `size` comments in `status` (on one article, when given), oldest
    /// first after `cursor`, for the moderators. Deleted comments are gone
    /// from the queue.
    pub async fn list_comments_for_moderation(
        &self,
        status: CommentStatus,
        article_id: Option<&str>,
        cursor: Option<&Cursor>,
        size: u64,
    ) -> Result<CommentPage, Error> {
        let mut query = comments::Entity::find()
            .filter(comments::Column::Status.eq(status.as_str()))
            .filter(comments::Column::DeleteTime.is_null());
        if let Some(article_id) = article_id {
            query = query.filter(comments::Column::ArticleId.eq(article_id));
        }
        if let Some(cursor) = cursor {
            let time = cursor
                .time()
                .ok_or_else(|| Violations::single("page_token", "is malformed"))?;
            query = query.filter(
                Expr::tuple([
                    Expr::col(comments::Column::CreateTime),
                    Expr::col(comments::Column::Id),
                ])
                .gt(Expr::tuple([Expr::val(time), Expr::val(cursor.id.clone())])),
            );
        }
        let rows = query
            .order_by_asc(comments::Column::CreateTime)
            .order_by_asc(comments::Column::Id)
            .limit(size + 1)
            .all(&self.db)
            .await?;
        let (rows, has_more) = split_page(rows, size);
        let next = rows.last().filter(|_| has_more).map(|last| Cursor {
            time_micros: Some(last.create_time.timestamp_micros()),
            number: None,
            id: last.id.clone(),
            key: None,
        });
        Ok(CommentPage {
            comments: rows
                .into_iter()
                .map(comment_from_row)
                .collect::<Result<_, _>>()?,
            next,
        })
    }
}

/// Comments readers see: approved and not deleted, or hidden (deleted, or
/// not approved) but with a visible reply somewhere below, as a tombstone.
fn shown_to_readers() -> Condition {
    let visible = Condition::all()
        .add(comments::Column::Status.eq(CommentStatus::Approved.as_str()))
        .add(comments::Column::DeleteTime.is_null());
    // A descendant's path starts with this comment's path and a `/`; the
    // keys in paths are hex, `-` and `/`, none of them LIKE wildcards.
    Condition::any().add(visible).add(Expr::cust(format!(
        "EXISTS (SELECT 1 FROM comments AS reply \
         WHERE reply.thread_id = comments.thread_id \
         AND reply.path LIKE comments.path || '/%' \
         AND reply.status = '{approved}' AND reply.delete_time IS NULL)",
        approved = CommentStatus::Approved.as_str()
    )))
}

/// Comments after `cursor` in thread order: threads in `order`, then the
/// path within a thread, always ascending.
fn after_thread_cursor(order: ThreadOrder, cursor: &Cursor) -> Result<Condition, Error> {
    let malformed = || Error::from(Violations::single("page_token", "is malformed"));
    let time = cursor.time().ok_or_else(malformed)?;
    let path = cursor.key.clone().ok_or_else(malformed)?;
    let thread = || {
        Expr::tuple([
            Expr::col(comments::Column::ThreadTime),
            Expr::col(comments::Column::ThreadId),
        ])
    };
    let at = || Expr::tuple([Expr::val(time), Expr::val(cursor.id.clone())]);
    let later_thread = match order {
        ThreadOrder::OldestFirst => thread().gt(at()),
        ThreadOrder::NewestFirst => thread().lt(at()),
    };
    Ok(Condition::any().add(later_thread).add(
        Condition::all()
            .add(thread().eq(at()))
            .add(comments::Column::Path.gt(path)),
    ))
}

/// NOT_FOUND unless readers can see the article (published or archived,
/// not deleted).
async fn require_readable_article(
    conn: &impl ConnectionTrait,
    article_id: &str,
) -> Result<(), Error> {
    let readable = articles::Entity::find_by_id(article_id.to_owned())
        .one(conn)
        .await?
        .filter(|article| article.delete_time.is_none())
        .and_then(|article| ArticleStatus::parse(&article.status))
        .is_some_and(ArticleStatus::is_readable);
    if readable {
        Ok(())
    } else {
        Err(Error::NotFound(format!(
            "article {article_id} does not exist"
        )))
    }
}
