//! Status changes: the workflow methods, and the scheduler's publish of due
//! articles. Going live copies the working copy into the live version in the
//! same transaction as the status change, its revision and its event.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set, Statement, sea_query::Expr,
};

use super::{
    super::{
        Store,
        entities::{article_live, articles},
        events::ChangeWrites,
    },
    Bylines, Edition, count_to_column, list_statements, record_change,
    write::lock_current_article,
};
use crate::{
    domain::{
        access::{Actor, WriteScope},
        article::{Article, ArticleStatus},
        revision::RevisionAction,
        workflow::{WorkflowAction, transition},
    },
    error::Error,
};

/// How many due articles one scheduler pass publishes at most.
const DUE_BATCH: u64 = 100;

/// An article the scheduler published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePublication {
    pub article_id: String,
    /// How long after its scheduled time it went live.
    pub late_by: std::time::Duration,
}

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
        actor: &Actor,
        scope: &WriteScope,
        id: &str,
        etag: &str,
        request: WorkflowRequest,
    ) -> Result<Article, Error> {
        let txn = self.begin_write().await?;
        let row = lock_current_article(&txn, id, etag).await?;
        let now = self.now();
        let current = Bylines::load(&txn, Edition::Working, std::slice::from_ref(&row.id))
            .await?
            .working(row.clone())?;
        scope
            .admits(&current.content.author_ids, current.status)
            .map_err(|denial| Error::refused(denial, &format!("article {id}")))?;
        // Stored times have microsecond precision; so must the schedule be,
        // or the scheduler's conditional update would never match it.
        let at = match &request {
            WorkflowRequest::Publish { at } => at.map(|at| at.trunc_subsecs(6)),
            _ => None,
        };
        let action = match &request {
            WorkflowRequest::Submit => WorkflowAction::Submit,
            WorkflowRequest::Return { .. } => WorkflowAction::Return,
            WorkflowRequest::Publish { .. } => WorkflowAction::Publish {
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
            require_complete(&current, action.method())?;
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
        let scheduled_for = if to == ArticleStatus::Scheduled {
            at
        } else {
            None
        };
        let backend = txn.get_database_backend();
        let lists = (
            current.content.author_ids.clone(),
            current.content.tags.clone(),
        );
        let (update, article) = self.row_change(row, lists, |update| {
            update.status = Set(to.as_str().to_owned());
            update.scheduled_publish_time = Set(scheduled_for);
            match revision_action {
                RevisionAction::Published => mark_live(update, current.publish_time, now),
                RevisionAction::Unpublished => update.has_unpublished_changes = Set(false),
                _ => {}
            }
        })?;
        let mut writes = ChangeWrites::apart(vec![update.into()]);
        match revision_action {
            RevisionAction::Published => writes.in_order = go_live(backend, &article)?,
            // A withdrawn story leaves nothing for readers, and its live
            // bylines no longer hold its authors.
            RevisionAction::Unpublished => {
                writes
                    .in_order
                    .push(article_live::Entity::delete_by_id(article.id.clone()).build(backend));
            }
            _ => {}
        }
        record_change(
            &txn,
            writes,
            actor,
            &article,
            revision_action,
            &["status"],
            &note,
        )
        .await?;
        txn.commit().await?;
        Ok(article)
    }

    /// Publishes every SCHEDULED article whose time has come, and returns
    /// which, with how late each went live. Each publish is a conditional update that only one server
    /// can win: the row must still be SCHEDULED for the same time, so two
    /// servers never both publish it, and an article unscheduled or
    /// rescheduled in the meantime is left alone. One article failing does
    /// not hold up the others.
    pub async fn publish_due_articles(&self) -> Result<Vec<DuePublication>, Error> {
        let mut published = Vec::new();
        loop {
            let due: Vec<(String, Option<DateTime<Utc>>)> = articles::Entity::find()
                .select_only()
                .column(articles::Column::Id)
                .column(articles::Column::ScheduledPublishTime)
                .filter(articles::Column::Status.eq(ArticleStatus::Scheduled.as_str()))
                .filter(articles::Column::ScheduledPublishTime.lte(self.now()))
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
                match self.publish_if_still_due(&id, scheduled_for).await {
                    Ok(true) => published.push(DuePublication {
                        article_id: id,
                        late_by: (self.now() - scheduled_for).to_std().unwrap_or_default(),
                    }),
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(article_id = %id, %error, "publishing a due article failed");
                    }
                }
            }
            // Another batch may be due; but a pass in which other servers
            // won every article must not spin.
            if !full_batch || published.len() == before {
                return Ok(published);
            }
        }
    }

    /// How long the longest-waiting article that is due has been waiting
    /// (zero when none is): stays up when publishing stalls.
    pub async fn oldest_due_wait(&self) -> Result<std::time::Duration, Error> {
        let now = self.now();
        let oldest: Option<Option<DateTime<Utc>>> = articles::Entity::find()
            .select_only()
            .column(articles::Column::ScheduledPublishTime)
            .filter(articles::Column::Status.eq(ArticleStatus::Scheduled.as_str()))
            .filter(articles::Column::ScheduledPublishTime.lte(now))
            .filter(articles::Column::DeleteTime.is_null())
            .order_by_asc(articles::Column::ScheduledPublishTime)
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(oldest
            .flatten()
            .and_then(|due| (now - due).to_std().ok())
            .unwrap_or_default())
    }

    async fn publish_if_still_due(
        &self,
        id: &str,
        scheduled_for: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let to = transition(ArticleStatus::Scheduled, WorkflowAction::PublishDue, false)
            .map_err(|refused| Error::Internal(refused.to_string()))?;
        let txn = self.begin_write().await?;
        // The claim: only the server whose update finds the article still
        // scheduled for this time goes on. On PostgreSQL a second server's
        // update waits for the first to commit, then matches nothing.
        let claimed = articles::Entity::update_many()
            .col_expr(articles::Column::Status, Expr::value(to.as_str()))
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
        let first_publish = row.publish_time;
        let lists = Bylines::working_lists(&txn, id).await?;
        let now = self.now();
        let backend = txn.get_database_backend();
        let (update, article) = self.row_change(row, lists, |update| {
            update.scheduled_publish_time = Set(None);
            mark_live(update, first_publish, now);
        })?;
        let writes = ChangeWrites {
            in_order: go_live(backend, &article)?,
            apart: vec![update.into()],
        };
        let scheduler = Actor::system("scheduler");
        record_change(
            &txn,
            writes,
            &scheduler,
            &article,
            RevisionAction::Published,
            &["status"],
            "",
        )
        .await?;
        txn.commit().await?;
        Ok(true)
    }
}

/// FAILED_PRECONDITION unless `article` has what going to readers needs.
pub(super) fn require_complete(article: &Article, method: &str) -> Result<(), Error> {
    let missing = article.content.missing_for_publication();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::FailedPrecondition {
        kind: "INCOMPLETE_ARTICLE",
        subject: format!("articles/{}", article.id),
        description: format!(
            "{method} needs a title, a body and at least one author; missing: {}",
            missing.join(", ")
        ),
    })
}

/// The row changes of going live at `now`: the first publish time stays
/// once set, the last one moves, and no edit is pending any more.
fn mark_live(
    update: &mut articles::ActiveModel,
    first_publish: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) {
    update.publish_time = Set(Some(first_publish.unwrap_or(now)));
    update.last_publish_time = Set(Some(now));
    update.has_unpublished_changes = Set(false);
}

/// The statements that make `article`'s working copy its live version.
fn go_live(backend: DbBackend, article: &Article) -> Result<Vec<Statement>, DbErr> {
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
    let mut statements = vec![
        article_live::Entity::delete_by_id(article.id.clone()).build(backend),
        article_live::Entity::insert(live).build(backend),
    ];
    statements.extend(list_statements(
        backend,
        Edition::Live,
        &article.id,
        &article.content.author_ids,
        &article.content.tags,
    )?);
    Ok(statements)
}
