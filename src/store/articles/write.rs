//! Writing articles: create (with idempotency and slug allocation), edits of
//! the working copy under etags, restoring a revision, soft delete and
//! undelete. Every write locks the article row (PostgreSQL) or holds the
//! write lock (SQLite) from read to commit, and records its revision and event.

use sea_orm::{
    ConnectionTrait, DbErr, EntityTrait, QuerySelect, QueryTrait, Set, TryIntoModel,
    sea_query::{LockType, UpdateStatement},
};

use super::{
    super::{
        Store, WriteTxn,
        authors::missing_authors,
        entities::{article_live, articles},
        events::ChangeWrites,
        request_ids::Creation,
        revisions::find_revision,
    },
    Bylines, Edition, article_from_row, article_not_found, count_to_column, list_statements,
    record_change,
    slug_rows::{article_slug_taken, insert_with_slug, slug_in_use},
    workflow::require_complete,
};
use crate::{
    domain::{
        access::{Actor, WriteScope},
        article::{Article, ArticleContent, ArticleStatus, ArticleView},
        article_edit::{
            ArticleField, ArticleFields, ArticleInput, apply_article_update, restored_fields,
        },
        etag::etag_allows,
        revision::RevisionAction,
        slug::SlugChoice,
        validation::Violations,
    },
    error::Error,
};

const REQUEST_SCOPE: &str = "articles";

impl Store {
    /// Creates a draft (revision 1); with a `request_id` already used,
    /// returns the article that request created instead. Unknown author ids
    /// are INVALID_ARGUMENT naming `author_ids[i]`.
    pub async fn insert_article(
        &self,
        actor: &Actor,
        fields: ArticleFields,
        request_id: Option<&str>,
    ) -> Result<Article, Error> {
        let (txn, id, now) = match self.begin_create(REQUEST_SCOPE, actor, request_id).await? {
            Creation::New { txn, id, now } => (txn, id, now),
            Creation::Retry(existing) => {
                return self
                    .find_article(&existing, ArticleView::Latest, true)
                    .await;
            }
        };
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
            publish_time: None,
            last_publish_time: None,
            scheduled_publish_time: None,
            has_unpublished_changes: false,
            revision: 1,
            comment_count: 0,
        };
        let row = insert_with_slug(&txn, row, slug).await?;
        let lists = list_statements(
            txn.get_database_backend(),
            Edition::Working,
            &id,
            &author_ids,
            &tags,
        )?;
        let article = article_from_row(row, author_ids, tags)?;
        record_change(
            &txn,
            ChangeWrites::in_order(lists),
            actor,
            &article,
            RevisionAction::Created,
            &[],
            "",
        )
        .await?;
        txn.commit().await?;
        Ok(article)
    }

    /// Edits the working copy: the fields in `mask`, refusing a stale `etag`.
    /// On a published article readers keep seeing the live version until the
    /// next publish. An edit that changes nothing writes nothing.
    pub async fn update_article(
        &self,
        actor: &Actor,
        scope: &WriteScope,
        id: &str,
        etag: &str,
        input: ArticleInput,
        mask: &[ArticleField],
    ) -> Result<Article, Error> {
        let txn = self.begin_write().await?;
        let (row, current) = lock_editable_article(&txn, scope, id, etag).await?;
        let fields = apply_article_update(&current.content, input, mask)?;
        scope
            .keeps_credit(&fields.author_ids)
            .map_err(|denial| Error::refused(denial, &format!("article {id}")))?;
        let article = self
            .write_content(&txn, actor, row, current, fields, RevisionAction::Updated)
            .await?;
        txn.commit().await?;
        Ok(article)
    }

    /// Copies revision `revision`'s content into the working copy, as a new
    /// revision; history is never rewritten. The slug and language stay.
    pub async fn restore_article_revision(
        &self,
        actor: &Actor,
        scope: &WriteScope,
        id: &str,
        revision: i32,
        etag: &str,
    ) -> Result<Article, Error> {
        let txn = self.begin_write().await?;
        let (row, current) = lock_editable_article(&txn, scope, id, etag).await?;
        let snapshot = find_revision(&txn, id, revision).await?.content;
        // Restoring an old byline must not hand a writer's draft to others.
        scope
            .keeps_credit(&snapshot.author_ids)
            .map_err(|denial| Error::refused(denial, &format!("article {id}")))?;
        let missing = missing_authors(&txn, &snapshot.author_ids).await?;
        if let Some(author_id) = missing.first() {
            return Err(Error::FailedPrecondition {
                kind: "AUTHOR_DELETED",
                subject: format!("authors/{author_id}"),
                description: format!(
                    "revision {revision} credits author {author_id}, who no longer exists"
                ),
            });
        }
        let fields = restored_fields(&current.content, snapshot);
        let article = self
            .write_content(&txn, actor, row, current, fields, RevisionAction::Restored)
            .await?;
        txn.commit().await?;
        Ok(article)
    }

    /// Soft-deletes an article: it keeps its row, slug, bylines and history.
    pub async fn delete_article(&self, actor: &Actor, id: &str, etag: &str) -> Result<(), Error> {
        let txn = self.begin_write().await?;
        let row = lock_current_article(&txn, id, etag).await?;
        let lists = Bylines::working_lists(&txn, id).await?;
        let now = self.now();
        let (update, article) = self.row_change(row, lists, |update| {
            update.delete_time = Set(Some(now));
        })?;
        record_change(
            &txn,
            ChangeWrites::apart(vec![update.into()]),
            actor,
            &article,
            RevisionAction::Deleted,
            &[],
            "",
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Brings back a soft-deleted article. One that is not deleted is
    /// ALREADY_EXISTS, as AIP-164 has it.
    pub async fn undelete_article(
        &self,
        actor: &Actor,
        id: &str,
        etag: &str,
    ) -> Result<Article, Error> {
        let txn = self.begin_write().await?;
        let row = lock_article(&txn, id).await?;
        if row.delete_time.is_none() {
            return Err(Error::AlreadyExists(format!("article {id} is not deleted")));
        }
        check_etag(&row, etag)?;
        let lists = Bylines::working_lists(&txn, id).await?;
        let (update, article) = self.row_change(row, lists, |update| {
            update.delete_time = Set(None);
        })?;
        let writes = ChangeWrites::apart(vec![update.into()]);
        record_change(
            &txn,
            writes,
            actor,
            &article,
            RevisionAction::Undeleted,
            &[],
            "",
        )
        .await?;
        txn.commit().await?;
        Ok(article)
    }

    /// Writes new content into the working copy of `current` (locked as
    /// `row`), with its revision and event. Readers' view is untouched: on a
    /// published article this only decides whether edits are pending.
    async fn write_content(
        &self,
        txn: &WriteTxn,
        actor: &Actor,
        row: articles::Model,
        current: Article,
        fields: ArticleFields,
        action: RevisionAction,
    ) -> Result<Article, Error> {
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
        let next = ArticleContent {
            slug: match slug {
                SlugChoice::Explicit(slug) => slug,
                SlugChoice::Keep | SlugChoice::Derived(_) => current.content.slug.clone(),
            },
            language,
            title,
            subtitle,
            body,
            author_ids,
            tags,
            section,
            comments_enabled,
        };
        let changed = next.changed_fields(&current.content);
        // An edit that changes nothing is not a change; a restore is, even of
        // the content the article already has, because someone asked for it.
        if changed.is_empty() && action != RevisionAction::Restored {
            return Ok(current);
        }
        let moves = changed
            .iter()
            .any(|field| matches!(*field, "slug" | "language"));
        if moves && current.publish_time.is_some() {
            return Err(Error::FailedPrecondition {
                kind: "PERMALINK",
                subject: format!("articles/{}", current.id),
                description: "the slug and language of an article that has been published are its permalink and cannot change".into(),
            });
        }
        if moves && slug_in_use(txn, &next.language, &next.slug).await? {
            return Err(article_slug_taken(&next.language, &next.slug));
        }
        if next.author_ids != current.content.author_ids {
            check_authors_exist(txn, &next.author_ids).await?;
        }
        // The scheduler publishes what the working copy holds when the time
        // comes, with nobody there to check it: a scheduled article must stay
        // publishable.
        if current.status == ArticleStatus::Scheduled {
            let edited = Article {
                content: next.clone(),
                ..current.clone()
            };
            require_complete(&edited, "a scheduled article")?;
        }
        let backend = txn.get_database_backend();
        let mut list_writes = Vec::new();
        if next.author_ids != current.content.author_ids || next.tags != current.content.tags {
            list_writes = list_statements(
                backend,
                Edition::Working,
                &current.id,
                &next.author_ids,
                &next.tags,
            )?;
        }
        let has_unpublished_changes = match current.status {
            ArticleStatus::Published => match live_content(txn, &row).await? {
                Some(live) => next.differs_for_readers(&live),
                None => true,
            },
            _ => false,
        };
        let (language, slug) = (next.language.clone(), next.slug.clone());
        let lists = (next.author_ids.clone(), next.tags.clone());
        let (update, written) = self.row_change(row, lists, |update| {
            update.slug = Set(next.slug.clone());
            update.language = Set(next.language.clone());
            update.title = Set(next.title.clone());
            update.subtitle = Set(next.subtitle.clone());
            update.body = Set(next.body.clone());
            update.section = Set(next.section.clone());
            update.comments_enabled = Set(next.comments_enabled);
            update.word_count = Set(count_to_column(word_count));
            update.reading_time_minutes = Set(count_to_column(reading_time_minutes));
            update.has_unpublished_changes = Set(has_unpublished_changes);
        })?;
        // The bylines and tags are replaced in order (their rows are
        // deleted, then inserted); the article's row is a table apart.
        let writes = ChangeWrites {
            in_order: list_writes,
            apart: vec![update.into()],
        };
        let article = Article {
            content: next,
            ..written
        };
        record_change(txn, writes, actor, &article, action, &changed, "")
            .await
            .map_err(|error| match Error::from(error) {
                // The check above reads; a concurrent writer can still take
                // the slug before this write, and the unique index decides
                // (only a moved article can meet it).
                Error::AlreadyExists(_) if moves => article_slug_taken(&language, &slug),
                other => other,
            })?;
        Ok(article)
    }

    /// Applies `change` to `row` and stamps it as a new version and revision
    /// at the current time. Returns the UPDATE that writes it, for the
    /// caller to run with the change's revision and event (see
    /// [`record_change`]), and the article as it then is, with `lists` (its
    /// working bylines and tags, which the row's update leaves as they are).
    pub(super) fn row_change(
        &self,
        row: articles::Model,
        (author_ids, tags): (Vec<String>, Vec<String>),
        change: impl FnOnce(&mut articles::ActiveModel),
    ) -> Result<(UpdateStatement, Article), Error> {
        let (version, revision) = (row.version + 1, row.revision + 1);
        let mut update: articles::ActiveModel = row.into();
        change(&mut update);
        update.update_time = Set(self.now());
        update.version = Set(version);
        update.revision = Set(revision);
        let statement = articles::Entity::update(update.clone())
            .validate()?
            .into_query();
        let article = article_from_row(update.try_into_model()?, author_ids, tags)?;
        Ok((statement, article))
    }
}

/// INVALID_ARGUMENT naming each `author_ids[i]` that names no author.
async fn check_authors_exist(
    conn: &impl ConnectionTrait,
    author_ids: &[String],
) -> Result<(), Error> {
    let missing = missing_authors(conn, author_ids).await?;
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

/// The content readers see of the article in `row`, if it has gone live.
async fn live_content(
    conn: &impl ConnectionTrait,
    row: &articles::Model,
) -> Result<Option<ArticleContent>, DbErr> {
    let Some(live) = article_live::Entity::find_by_id(row.id.clone())
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let mut bylines = Bylines::load(conn, Edition::Live, std::slice::from_ref(&row.id)).await?;
    let (author_ids, tags) = bylines.take(&row.id);
    Ok(Some(ArticleContent {
        slug: row.slug.clone(),
        language: row.language.clone(),
        title: live.title,
        subtitle: live.subtitle,
        body: live.body,
        author_ids,
        tags,
        section: live.section,
        comments_enabled: row.comments_enabled,
    }))
}

/// The article row, locked for the rest of the transaction on PostgreSQL
/// (SQLite's write transaction already excludes other writers).
async fn lock_article(conn: &impl ConnectionTrait, id: &str) -> Result<articles::Model, Error> {
    articles::Entity::find_by_id(id.to_owned())
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await?
        .ok_or_else(|| article_not_found(id))
}

/// ABORTED unless `etag` is empty or current.
fn check_etag(row: &articles::Model, etag: &str) -> Result<(), Error> {
    if etag_allows(etag, &row.id, row.version) {
        Ok(())
    } else {
        Err(Error::Aborted(format!(
            "article {} was changed since its etag was read; get it again and retry",
            row.id
        )))
    }
}

/// The locked row of an article that a write may change: not deleted
/// (NOT_FOUND), and `etag` current (ABORTED).
pub(super) async fn lock_current_article(
    conn: &impl ConnectionTrait,
    id: &str,
    etag: &str,
) -> Result<articles::Model, Error> {
    let row = lock_article(conn, id).await?;
    if row.delete_time.is_some() {
        return Err(article_not_found(id));
    }
    check_etag(&row, etag)?;
    Ok(row)
}

/// The locked row and working copy of an article that may be edited:
/// current (see [`lock_current_article`]), within the caller's `scope`, and
/// not archived.
async fn lock_editable_article(
    txn: &WriteTxn,
    scope: &WriteScope,
    id: &str,
    etag: &str,
) -> Result<(articles::Model, Article), Error> {
    let row = lock_current_article(txn, id, etag).await?;
    let mut bylines = Bylines::load(txn, Edition::Working, std::slice::from_ref(&row.id)).await?;
    let current = bylines.working(row.clone())?;
    scope
        .admits(&current.content.author_ids, current.status)
        .map_err(|denial| Error::refused(denial, &format!("article {id}")))?;
    if current.status == ArticleStatus::Archived {
        return Err(Error::FailedPrecondition {
            kind: "ARTICLE_STATUS",
            subject: format!("articles/{id}"),
            description: format!(
                "the article is {}; an archived article is not edited",
                ArticleStatus::Archived.api_name()
            ),
        });
    }
    Ok((row, current))
}
