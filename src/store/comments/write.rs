//! Writing comments: posting under the moderation policy, moderating and
//! deleting, each with the article's comment count and the event in the same
//! transaction.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, QueryTrait, Set, Statement,
    sea_query::{Alias, Expr, ExprTrait, LockType, Query, SelectStatement, SubQueryStatement},
};

use super::{
    super::{
        Store, WriteTxn,
        entities::{articles, comments},
        events::{ChangeWrites, NewEvent, execute_then_append},
        request_ids::Creation,
    },
    comment_from_row, comment_not_found,
};
use crate::{
    domain::{
        access::Actor,
        article::ArticleStatus,
        comment::{Comment, CommentStatus, ModerationDecision, NewComment, reply_position},
        etag::etag_allows,
        event::{CommentChange, EventPayload},
        moderation::{
            AuthorHistory, ModerationPolicy, body_fingerprint, commenter_key, initial_verdict,
            repeat_window,
        },
        validation::Violations,
    },
    error::Error,
};

const REQUEST_SCOPE: &str = "comments";

impl Store {
    /// Posts a comment on a published article that takes comments. The
    /// moderation policy decides its first status; with a `request_id`
    /// already used, the first comment is returned instead.
    pub async fn insert_comment(
        &self,
        actor: &Actor,
        article_id: &str,
        new: NewComment,
        policy: &ModerationPolicy,
        request_id: Option<&str>,
    ) -> Result<Comment, Error> {
        let (txn, id, now) = match self.begin_create(REQUEST_SCOPE, actor, request_id).await? {
            Creation::New { txn, id, now } => (txn, id, now),
            Creation::Retry(existing) => return self.find_comment(&existing).await,
        };
        let author_key = commenter_key(&new.author_name, &new.author_email);
        let fingerprint = body_fingerprint(&new.body);
        let history = lock_commentable_article(
            &txn,
            article_id,
            Commenter {
                key: &author_key,
                fingerprint: &fingerprint,
                since: now - repeat_window(),
                // Only an address identifies a commenter well enough to hold
                // their later comments as spam: a name alone is anyone's.
                identified: !new.author_email.is_empty(),
            },
        )
        .await?;
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
            moderator: String::new(),
        };
        let insert =
            comments::Entity::insert(comments::ActiveModel::from(row.clone())).into_query();
        let comment = comment_from_row(row)?;
        let counted = i32::from(comment.status == CommentStatus::Approved);
        let event = comment_event(actor, &comment, CommentChange::Created, None, "", now);
        record_comment_change(
            &txn,
            CommentWrite::New(Box::new(insert.into())),
            (article_id, counted),
            event,
        )
        .await?;
        txn.commit().await?;
        Ok(comment)
    }

    /// A moderator's decision: the comment's new status and its reason, and
    /// the article's count of approved comments moved to match.
    pub async fn moderate_comment(
        &self,
        actor: &Actor,
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
        update.moderator = Set(actor.0.clone());
        update.update_time = Set(now);
        update.version = Set(version);
        let comment = comment_from_row(update.update(&txn).await?)?;
        let is_approved = status == CommentStatus::Approved;
        let event = comment_event(
            actor,
            &comment,
            CommentChange::Moderated,
            Some(decision),
            reason,
            now,
        );
        let count_delta = i32::from(is_approved) - i32::from(was_approved);
        record_comment_change(&txn, CommentWrite::Done, (&article_id, count_delta), event).await?;
        txn.commit().await?;
        Ok(comment)
    }

    /// Soft-deletes a comment. One with visible replies stays in its thread
    /// as a tombstone.
    pub async fn delete_comment(&self, actor: &Actor, id: &str, etag: &str) -> Result<(), Error> {
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
        let event = comment_event(actor, &comment, CommentChange::Deleted, None, "", now);
        record_comment_change(
            &txn,
            CommentWrite::Done,
            (&article_id, -i32::from(was_approved)),
            event,
        )
        .await?;
        txn.commit().await?;
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
    txn: &WriteTxn,
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

/// Who is posting, as the moderation policy's history looks them up.
struct Commenter<'a> {
    key: &'a str,
    fingerprint: &'a str,
    /// The start of the repeat window.
    since: DateTime<Utc>,
    /// Whether the commenter gave an address (see [`AuthorHistory`]).
    identified: bool,
}

/// Locks the article row if comments may be posted on it now: it exists and
/// is not deleted (NOT_FOUND), is published and takes comments
/// (FAILED_PRECONDITION otherwise); returns the commenter's history. The
/// history is read once the lock is held: a query that waited for the lock
/// would still see the comments of its snapshot, from before the writer it
/// waited for committed (a double post would count as new). On SQLite,
/// whose writers take turns, both come in one query; on PostgreSQL in one
/// call of a function (migration 8) whose statements each take a new
/// snapshot.
async fn lock_commentable_article(
    txn: &WriteTxn,
    article_id: &str,
    commenter: Commenter<'_>,
) -> Result<AuthorHistory, Error> {
    let article = match txn.get_database_backend() {
        DbBackend::Postgres => {
            txn.query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT status, comments_enabled, delete_time, repeated, spam \
                 FROM newsdesk_lock_article_for_comment($1, $2, $3, $4)",
                [
                    article_id.into(),
                    commenter.key.into(),
                    commenter.fingerprint.into(),
                    commenter.since.into(),
                ],
            ))
            .await?
        }
        _ => {
            txn.query_one(&article_and_history(article_id, &commenter))
                .await?
        }
    };
    let not_found = || Error::NotFound(format!("article {article_id} does not exist"));
    let article = article.ok_or_else(not_found)?;
    if article
        .try_get::<Option<DateTime<Utc>>>("", "delete_time")?
        .is_some()
    {
        return Err(not_found());
    }
    let (status, comments_enabled) = (
        article.try_get::<String>("", "status")?,
        article.try_get::<bool>("", "comments_enabled")?,
    );
    let (repeated, spam) = (
        article.try_get::<bool>("", "repeated")?,
        article.try_get::<bool>("", "spam")?,
    );
    let refuse = |description: &str| Error::FailedPrecondition {
        kind: "COMMENTS_CLOSED",
        subject: format!("articles/{article_id}"),
        description: description.to_owned(),
    };
    match ArticleStatus::parse(&status) {
        Some(ArticleStatus::Published) if comments_enabled => Ok(AuthorHistory {
            repeated_recently: repeated,
            marked_spam_before: commenter.identified && spam,
        }),
        Some(ArticleStatus::Published) => Err(refuse("comments are disabled on this article")),
        Some(ArticleStatus::Archived) => {
            Err(refuse("comments are closed: the article is archived"))
        }
        _ => Err(refuse("comments open when the article is published")),
    }
}

/// On SQLite: the article's row, locked, with the commenter's history
/// (migration 8 has PostgreSQL's).
fn article_and_history(article_id: &str, commenter: &Commenter<'_>) -> SelectStatement {
    let repeated = Query::select()
        .expr(Expr::val(1))
        .from(comments::Entity)
        .and_where(comments::Column::AuthorKey.eq(commenter.key))
        .and_where(comments::Column::BodyFingerprint.eq(commenter.fingerprint))
        .and_where(comments::Column::CreateTime.gt(commenter.since))
        .to_owned();
    // Spelled out rather than bound, so that the partial index of spam
    // (migration 8) serves the prepared statement.
    let spam = Query::select()
        .expr(Expr::val(1))
        .from(comments::Entity)
        .and_where(comments::Column::AuthorKey.eq(commenter.key))
        .and_where(
            Expr::col(comments::Column::Status)
                .eq(Expr::Constant(CommentStatus::Spam.as_str().into())),
        )
        .to_owned();
    Query::select()
        .expr_as(Expr::exists(repeated), Alias::new("repeated"))
        .expr_as(Expr::exists(spam), Alias::new("spam"))
        .columns([
            articles::Column::Status,
            articles::Column::CommentsEnabled,
            articles::Column::DeleteTime,
        ])
        .from(articles::Entity)
        .and_where(articles::Column::Id.eq(article_id))
        .lock(LockType::NoKeyUpdate)
        .to_owned()
}

/// The comment row, locked, if it exists, is not deleted, and `etag` is
/// current.
async fn lock_current_comment(
    txn: &WriteTxn,
    id: &str,
    etag: &str,
) -> Result<comments::Model, Error> {
    let row = comments::Entity::find_by_id(id.to_owned())
        .lock(LockType::NoKeyUpdate)
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

/// What a change to a comment still has to write besides its count and
/// event.
enum CommentWrite {
    /// A new comment's insert; the change holds the article's row.
    New(Box<SubQueryStatement>),
    /// Nothing (a moderation or deletion, written already); the change holds
    /// only the comment's row.
    Done,
}

/// Writes `write`, moves the article's count of approved comments by
/// `count_delta`, and appends the change's event (the transaction's last
/// statement). For a new comment all of it is one round trip. A moderation
/// or deletion updates the count first: folded into the events' insert, the
/// update would wait for the article's row while the insert holds the log's
/// order lock, which readers of the log wait for, and writers behind them.
async fn record_comment_change(
    conn: &impl ConnectionTrait,
    write: CommentWrite,
    (article_id, count_delta): (&str, i32),
    event: NewEvent<'_>,
) -> Result<(), sea_orm::DbErr> {
    let count = (count_delta != 0).then(|| {
        articles::Entity::update_many()
            .col_expr(
                articles::Column::CommentCount,
                Expr::col(articles::Column::CommentCount).add(count_delta),
            )
            .filter(articles::Column::Id.eq(article_id))
            .into_query()
    });
    let writes = match write {
        // The comment and the article's row: two tables, apart.
        CommentWrite::New(insert) => {
            ChangeWrites::apart([*insert].into_iter().chain(count.map(Into::into)).collect())
        }
        CommentWrite::Done => ChangeWrites::in_order(
            count
                .map(|count| conn.get_database_backend().build(&count))
                .into_iter()
                .collect(),
        ),
    };
    execute_then_append(conn, writes, &[event]).await
}

/// The event of a change to `comment`.
fn comment_event<'a>(
    actor: &'a Actor,
    comment: &Comment,
    change: CommentChange,
    decision: Option<ModerationDecision>,
    reason: &str,
    occur_time: DateTime<Utc>,
) -> NewEvent<'a> {
    NewEvent {
        event_type: change.event_type(),
        occur_time,
        payload: EventPayload::Comment {
            comment: Box::new(comment.clone()),
            decision,
            reason: reason.to_owned(),
        },
        actor,
    }
}
