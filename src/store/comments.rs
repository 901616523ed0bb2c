//! Comments in the database: posting (with the moderation policy's verdict
//! and the author's history read in the same transaction), threaded reads for
//! readers, the moderation queue, moderation and deletion. The article's
//! count of approved comments moves in the same transaction as the comment.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait},
};

use super::{
    Store,
    entities::{articles, comments},
    events::append_event,
    request_ids::Creation,
};
use crate::{
    domain::{
        article::ArticleStatus,
        comment::{Comment, CommentStatus, ModerationDecision, NewComment, reply_position},
        etag::etag_allows,
        event::{CommentChange, EventPayload},
        moderation::{
            AuthorHistory, ModerationPolicy, body_fingerprint, commenter_key, initial_verdict,
            repeat_window,
        },
        paging::{Cursor, split_page},
        validation::Violations,
    },
    error::Error,
};

const REQUEST_SCOPE: &str = "comments";

/// The orders a thread list can take: threads oldest or newest first, each
/// thread's replies always after it, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadOrder {
    OldestFirst,
    NewestFirst,
}

/// One page of comments, and where the next one starts (`None` on the last
/// page).
#[derive(Debug)]
pub struct CommentPage {
    pub comments: Vec<Comment>,
    pub next: Option<Cursor>,
}

impl Store {
    /// Posts a comment on a published article that takes comments. The
    /// moderation policy decides its first status; with a `request_id`
    /// already used, the first comment is returned instead.
    pub async fn insert_comment(
        &self,
        article_id: &str,
        new: NewComment,
        policy: &ModerationPolicy,
        request_id: Option<&str>,
    ) -> Result<Comment, Error> {
        let (txn, id, now) = match self.begin_create(REQUEST_SCOPE, request_id).await? {
            Creation::New { txn, id, now } => (txn, id, now),
            Creation::Retry(existing) => return self.find_comment(&existing).await,
        };
        lock_commentable_article(&txn, article_id).await?;
        let own_key = sort_key(now, &id);
        let (parent_id, depth, thread_id, thread_time, path) = match &new.parent_id {
            None => (None, 1, id.clone(), now, own_key),
            Some(parent_id) => {
                let place = reply_parent(&txn, article_id, parent_id).await?;
                let path = format!("{}/{own_key}", place.path);
                (
                    place.id,
                    place.depth,
                    place.thread_id,
                    place.thread_time,
                    path,
                )
            }
        };
        let author_key = commenter_key(&new.author_name, &new.author_email);
        let fingerprint = body_fingerprint(&new.body);
        let history = AuthorHistory {
            repeated_recently: comments::Entity::find()
                .filter(comments::Column::AuthorKey.eq(&author_key))
                .filter(comments::Column::BodyFingerprint.eq(&fingerprint))
                .filter(comments::Column::CreateTime.gt(now - repeat_window()))
                .count(&txn)
                .await?
                > 0,
            marked_spam_before: comments::Entity::find()
                .filter(comments::Column::AuthorKey.eq(&author_key))
                .filter(comments::Column::Status.eq(CommentStatus::Spam.as_str()))
                .count(&txn)
                .await?
                > 0,
        };
        let verdict = initial_verdict(policy, &new, history);
        let NewComment {
            parent_id: _,
            author_name,
            author_email,
            body,
            body_html,
        } = new;
        let row = comments::Model {
            id,
            article_id: article_id.to_owned(),
            parent_id,
            depth: i32::from(depth),
            thread_id,
            thread_time,
            path,
            author_name,
            author_email,
            author_key,
            body,
            body_html,
            body_fingerprint: fingerprint,
            status: verdict.status.as_str().to_owned(),
            moderation_reason: verdict.reason,
            create_time: now,
            update_time: now,
            delete_time: None,
            version: 1,
        };
        comments::Entity::insert(comments::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await?;
        let comment = comment_from_row(row)?;
        if comment.status == CommentStatus::Approved {
            adjust_comment_count(&txn, article_id, 1).await?;
        }
        record_comment_change(&txn, &comment, CommentChange::Created, None, "", now).await?;
        self.commit(txn).await?;
        Ok(comment)
    }

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

    /// A moderator's decision: the comment's new status and its reason, and
    /// the article's count of approved comments moved to match.
    pub async fn moderate_comment(
        &self,
        id: &str,
        etag: &str,
        decision: ModerationDecision,
        reason: &str,
    ) -> Result<Comment, Error> {
        let txn = self.begin_write().await?;
        let row = lock_current_comment(&txn, id, etag).await?;
        let now = self.now();
        let was_approved = row.status == CommentStatus::Approved.as_str();
        let status = decision.status();
        let article_id = row.article_id.clone();
        let version = row.version + 1;
        let mut update: comments::ActiveModel = row.into();
        update.status = Set(status.as_str().to_owned());
        update.moderation_reason = Set(reason.to_owned());
        update.update_time = Set(now);
        update.version = Set(version);
        let comment = comment_from_row(update.update(&txn).await?)?;
        let is_approved = status == CommentStatus::Approved;
        if was_approved != is_approved {
            adjust_comment_count(&txn, &article_id, if is_approved { 1 } else { -1 }).await?;
        }
        record_comment_change(
            &txn,
            &comment,
            CommentChange::Moderated,
            Some(decision),
            reason,
            now,
        )
        .await?;
        self.commit(txn).await?;
        Ok(comment)
    }

    /// Soft-deletes a comment. One with visible replies stays in its thread
    /// as a tombstone.
    pub async fn delete_comment(&self, id: &str, etag: &str) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        let row = lock_current_comment(&txn, id, etag).await?;
        let now = self.now();
        let was_approved = row.status == CommentStatus::Approved.as_str();
        let article_id = row.article_id.clone();
        let version = row.version + 1;
        let mut update: comments::ActiveModel = row.into();
        update.delete_time = Set(Some(now));
        update.update_time = Set(now);
        update.version = Set(version);
        let comment = comment_from_row(update.update(&txn).await?)?;
        if was_approved {
            adjust_comment_count(&txn, &article_id, -1).await?;
        }
        record_comment_change(&txn, &comment, CommentChange::Deleted, None, "", now).await?;
        self.commit(txn).await?;
        Ok(())
    }
}

/// Where a reply goes: its parent, depth, thread, and the path its own key
/// is appended to.
struct ReplyParent {
    id: Option<String>,
    depth: u8,
    thread_id: String,
    thread_time: DateTime<Utc>,
    path: String,
}

/// The place of a reply to `parent_id` on `article_id`: one level under the
/// parent, or beside it when the parent is already three deep. The parent
/// must be a visible comment on the same article.
async fn reply_parent(
    txn: &DatabaseTransaction,
    article_id: &str,
    parent_id: &str,
) -> Result<ReplyParent, Error> {
    let parent = comments::Entity::find_by_id(parent_id.to_owned())
        .one(txn)
        .await?
        .filter(|parent| parent.article_id == article_id)
        .ok_or_else(|| Violations::single("parent_id", "names no comment on this article"))?;
    if parent.status != CommentStatus::Approved.as_str() || parent.delete_time.is_some() {
        return Err(Error::FailedPrecondition {
            kind: "COMMENT_HIDDEN",
            subject: format!("comments/{parent_id}"),
            description: "the comment replied to is not shown to readers".into(),
        });
    }
    let depth = u8::try_from(parent.depth).unwrap_or(u8::MAX);
    match reply_position(&parent.id, depth, parent.parent_id.as_deref()) {
        (Some(attach_to), new_depth) if attach_to == parent.id => Ok(ReplyParent {
            id: Some(parent.id.clone()),
            depth: new_depth,
            thread_id: parent.thread_id,
            thread_time: parent.thread_time,
            path: parent.path,
        }),
        (attach_to, new_depth) => {
            // Beside the parent: under its own parent, at the parent's depth,
            // so the path is the grandparent's.
            let grandparent_path = parent
                .path
                .rsplit_once('/')
                .map(|(path, _)| path.to_owned())
                .unwrap_or_default();
            Ok(ReplyParent {
                id: attach_to.map(str::to_owned),
                depth: new_depth,
                thread_id: parent.thread_id,
                thread_time: parent.thread_time,
                path: grandparent_path,
            })
        }
    }
}

/// A comment's sort key within its thread: its time (fixed width, so that
/// keys sort as text) and its id.
fn sort_key(time: DateTime<Utc>, id: &str) -> String {
    format!("{:016x}-{id}", Ord::max(time.timestamp_micros(), 0))
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

/// The article row, locked, if comments may be posted on it now: it exists
/// and is not deleted (NOT_FOUND), is published and takes comments
/// (FAILED_PRECONDITION otherwise).
async fn lock_commentable_article(
    txn: &DatabaseTransaction,
    article_id: &str,
) -> Result<(), Error> {
    let article = articles::Entity::find_by_id(article_id.to_owned())
        .lock_exclusive()
        .one(txn)
        .await?
        .filter(|article| article.delete_time.is_none())
        .ok_or_else(|| Error::NotFound(format!("article {article_id} does not exist")))?;
    let refuse = |description: &str| Error::FailedPrecondition {
        kind: "COMMENTS_CLOSED",
        subject: format!("articles/{article_id}"),
        description: description.to_owned(),
    };
    match ArticleStatus::parse(&article.status) {
        Some(ArticleStatus::Published) if article.comments_enabled => Ok(()),
        Some(ArticleStatus::Published) => Err(refuse("comments are disabled on this article")),
        Some(ArticleStatus::Archived) => {
            Err(refuse("comments are closed: the article is archived"))
        }
        _ => Err(refuse("comments open when the article is published")),
    }
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

/// The comment row, locked, if it exists, is not deleted, and `etag` is
/// current.
async fn lock_current_comment(
    txn: &DatabaseTransaction,
    id: &str,
    etag: &str,
) -> Result<comments::Model, Error> {
    let row = comments::Entity::find_by_id(id.to_owned())
        .lock_exclusive()
        .one(txn)
        .await?
        .filter(|row| row.delete_time.is_none())
        .ok_or_else(|| comment_not_found(id))?;
    if !etag_allows(etag, &row.id, row.version) {
        return Err(Error::Aborted(format!(
            "comment {id} was changed since its etag was read; get it again and retry"
        )));
    }
    Ok(row)
}

/// Moves an article's count of approved comments by `delta`.
async fn adjust_comment_count(
    conn: &impl ConnectionTrait,
    article_id: &str,
    delta: i32,
) -> Result<(), sea_orm::DbErr> {
    articles::Entity::update_many()
        .col_expr(
            articles::Column::CommentCount,
            Expr::col(articles::Column::CommentCount).add(delta),
        )
        .filter(articles::Column::Id.eq(article_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Writes a comment change's event, the transaction's last statement.
async fn record_comment_change(
    conn: &impl ConnectionTrait,
    comment: &Comment,
    change: CommentChange,
    decision: Option<ModerationDecision>,
    reason: &str,
    occur_time: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    append_event(
        conn,
        change.event_type(),
        occur_time,
        &EventPayload::Comment {
            comment: Box::new(comment.clone()),
            decision,
            reason: reason.to_owned(),
        },
    )
    .await
}

fn comment_from_row(row: comments::Model) -> Result<Comment, Error> {
    let comments::Model {
        id,
        article_id,
        parent_id,
        depth,
        thread_id: _,
        thread_time: _,
        path: _,
        author_name,
        author_email,
        author_key: _,
        body,
        body_html,
        body_fingerprint: _,
        status,
        moderation_reason,
        create_time,
        update_time,
        delete_time,
        version,
    } = row;
    let status = CommentStatus::parse(&status).ok_or_else(|| {
        Error::Internal(format!("comment {id} has the unknown status `{status}`"))
    })?;
    Ok(Comment {
        id,
        article_id,
        parent_id,
        depth: u8::try_from(depth).unwrap_or(u8::MAX),
        author_name,
        author_email,
        body,
        body_html,
        status,
        moderation_reason,
        create_time,
        update_time,
        delete_time,
        version,
    })
}

fn comment_not_found(id: &str) -> Error {
    Error::NotFound(format!("comment {id} does not exist"))
}
