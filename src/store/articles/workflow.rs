//! Status changes: the workflow methods, and the scheduler's publish of due
//! articles. Going live copies the working copy into the live version in the
//! same transaction as the status change, its revision and its event.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
    sea_query::{Expr, ExprTrait},
};

use super::{
    super::{
        Store,
        entities::{article_live, articles},
    },
    Bylines, Edition, count_to_column, record_change,
    write::{check_etag, lock_article},
    write_lists,
};
use crate::{
    domain::{
        article::{Article, ArticleStatus},
        revision::RevisionAction,
        workflow::{WorkflowAction, transition},
    },
    error::Error,
};

/// How many due articles one scheduler pass publishes at most.
const DUE_BATCH: u64 = 100;

/// A workflow method's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowRequest {
    Submit,
    Return {
        note: String,
    },
    /// Publish now, or at `at` when it is in the future.
    Publish {
        at: Option<DateTime<Utc>>,
    },
    Unpublish,
    Archive,
}

impl Store {
    /// Moves an article through the workflow, refusing a stale `etag`, a
    /// transition the workflow does not allow, and a Submit or Publish of an
    /// article without a title, a body and a byline.
    pub async fn change_article_status(
        &self,
        id: &str,
        etag: &str,
        request: WorkflowRequest,
    ) -> Result<Article, Error> {
        let txn = self.begin_write().await?;
        let row = lock_article(&txn, id).await?;
        if row.delete_time.is_some() {
            return Err(Error::NotFound(format!("article {id} does not exist")));
        }
        check_etag(&row, etag)?;
        let now = self.now();
        let current = Bylines::load(&txn, Edition::Working, std::slice::from_ref(&row.id))
            .await?
            .working(row.clone())?;
        let action = match &request {
            WorkflowRequest::Submit => WorkflowAction::Submit,
            WorkflowRequest::Return { .. } => WorkflowAction::Return,
            WorkflowRequest::Publish { at } => WorkflowAction::Publish {
                scheduled: at.is_some_and(|at| at > now),
            },
            WorkflowRequest::Unpublish => WorkflowAction::Unpublish,
            WorkflowRequest::Archive => WorkflowAction::Archive,
        };
        let to = transition(current.status, action, current.has_unpublished_changes).map_err(
            |refused| Error::FailedPrecondition {
                kind: "ARTICLE_STATUS",
                subject: format!("articles/{id}"),
                description: refused.to_string(),
            },
        )?;
        if matches!(
            action,
            WorkflowAction::Submit | WorkflowAction::Publish { .. }
        ) {
            let missing = current.content.missing_for_publication();
            if !missing.is_empty() {
                return Err(Error::FailedPrecondition {
                    kind: "INCOMPLETE_ARTICLE",
                    subject: format!("articles/{id}"),
                    description: format!(
                        "{} needs a title, a body and at least one author; missing: {}",
                        action.method(),
                        missing.join(", ")
                    ),
                });
            }
        }
        let (revision_action, note) = match (&request, to) {
            (WorkflowRequest::Submit, _) => (RevisionAction::Submitted, String::new()),
            (WorkflowRequest::Return { note }, _) => (RevisionAction::Returned, note.clone()),
            (WorkflowRequest::Publish { .. }, ArticleStatus::Scheduled) => {
                (RevisionAction::Scheduled, String::new())
            }
            (WorkflowRequest::Publish { .. }, _) => (RevisionAction::Published, String::new()),
            (WorkflowRequest::Unpublish, _) => (RevisionAction::Unpublished, String::new()),
            (WorkflowRequest::Archive, _) => (RevisionAction::Archived, String::new()),
        };
        let scheduled_for = match &request {
            WorkflowRequest::Publish { at } if to == ArticleStatus::Scheduled => *at,
            _ => None,
        };
        let goes_live = revision_action == RevisionAction::Published;
        let article = self
            .write_row(&txn, row, |update| {
                update.status = Set(to.as_str().to_owned());
                update.scheduled_publish_time = Set(scheduled_for);
                if goes_live {
                    update.publish_time = Set(Some(current.publish_time.unwrap_or(now)));
                    update.last_publish_time = Set(Some(now));
                    update.has_unpublished_changes = Set(false);
                }
                if revision_action == RevisionAction::Unpublished {
                    update.has_unpublished_changes = Set(false);
                }
            })
            .await?;
        match revision_action {
            RevisionAction::Published => go_live(&txn, &article).await?,
            // A withdrawn story leaves nothing for readers, and its live
            // bylines no longer hold its authors.
            RevisionAction::Unpublished => {
                article_live::Entity::delete_by_id(article.id.clone())
                    .exec(&txn)
                    .await?;
            }
            _ => {}
        }
        record_change(&txn, &article, revision_action, &["status"], &note).await?;
        self.commit(txn).await?;
        Ok(article)
    }

    /// Publishes every SCHEDULED article whose time has come, and returns
    /// their ids. Each publish is a conditional update that only one server
    /// can win: the row must still be SCHEDULED for the same time, so two
    /// servers never both publish it, and an article unscheduled or
    /// rescheduled in the meantime is left alone.
    pub async fn publish_due_articles(&self) -> Result<Vec<String>, Error> {
        let now = self.now();
        let mut published = Vec::new();
        loop {
            let due: Vec<(String, Option<DateTime<Utc>>)> = articles::Entity::find()
                .select_only()
                .column(articles::Column::Id)
                .column(articles::Column::ScheduledPublishTime)
                .filter(articles::Column::Status.eq(ArticleStatus::Scheduled.as_str()))
                .filter(articles::Column::ScheduledPublishTime.lte(now))
                .filter(articles::Column::DeleteTime.is_null())
                .order_by_asc(articles::Column::ScheduledPublishTime)
                .limit(DUE_BATCH)
                .into_tuple()
                .all(&self.db)
                .await?;
            let full_batch = due.len() as u64 == DUE_BATCH;
            let before = published.len();
            for (id, scheduled_for) in due {
                let Some(scheduled_for) = scheduled_for else {
                    continue;
                };
                if self.publish_if_still_due(&id, scheduled_for, now).await? {
                    published.push(id);
                }
            }
            // Another batch may be due; but a pass in which other servers
            // won every article must not spin.
            if !full_batch || published.len() == before {
                return Ok(published);
            }
        }
    }

    async fn publish_if_still_due(
        &self,
        id: &str,
        scheduled_for: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let txn = self.begin_write().await?;
        let claimed = articles::Entity::update_many()
            .col_expr(
                articles::Column::Status,
                Expr::value(ArticleStatus::Published.as_str()),
            )
            .col_expr(
                articles::Column::PublishTime,
                Expr::col(articles::Column::PublishTime).if_null(now),
            )
            .col_expr(articles::Column::LastPublishTime, Expr::value(now))
            .col_expr(
                articles::Column::ScheduledPublishTime,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(articles::Column::HasUnpublishedChanges, Expr::value(false))
            .col_expr(articles::Column::UpdateTime, Expr::value(now))
            .col_expr(
                articles::Column::Version,
                Expr::col(articles::Column::Version).add(1),
            )
            .col_expr(
                articles::Column::Revision,
                Expr::col(articles::Column::Revision).add(1),
            )
            .filter(articles::Column::Id.eq(id))
            .filter(articles::Column::Status.eq(ArticleStatus::Scheduled.as_str()))
            .filter(articles::Column::ScheduledPublishTime.eq(scheduled_for))
            .filter(articles::Column::DeleteTime.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if claimed == 0 {
            txn.rollback().await?;
            return Ok(false);
        }
        let row = articles::Entity::find_by_id(id.to_owned())
            .one(&txn)
            .await?
            .ok_or_else(|| Error::Internal(format!("article {id} vanished while publishing")))?;
        let article = Bylines::load(&txn, Edition::Working, std::slice::from_ref(&row.id))
            .await?
            .working(row)?;
        go_live(&txn, &article).await?;
        record_change(&txn, &article, RevisionAction::Published, &["status"], "").await?;
        self.commit(txn).await?;
        Ok(true)
    }
}

/// Makes `article`'s working copy its live version.
async fn go_live(txn: &DatabaseTransaction, article: &Article) -> Result<(), DbErr> {
    let live = article_live::ActiveModel {
        article_id: Set(article.id.clone()),
        title: Set(article.content.title.clone()),
        subtitle: Set(article.content.subtitle.clone()),
        body: Set(article.content.body.clone()),
        section: Set(article.content.section.clone()),
        word_count: Set(count_to_column(article.word_count)),
        reading_time_minutes: Set(count_to_column(article.reading_time_minutes)),
        revision: Set(article.revision),
    };
    article_live::Entity::delete_by_id(article.id.clone())
        .exec(txn)
        .await?;
    article_live::Entity::insert(live)
        .exec_without_returning(txn)
        .await?;
    write_lists(
        txn,
        Edition::Live,
        &article.id,
        &article.content.author_ids,
        &article.content.tags,
    )
    .await
}
