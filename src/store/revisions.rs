//! Article revisions: appended in the transaction of every change, read back
//! newest first.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Set, sea_query::InsertStatement,
};

use super::{
    Store, encode_json,
    entities::{article_revisions, articles},
};
use crate::{
    domain::{
        access::Actor,
        article::{Article, ArticleStatus},
        paging::split_page,
        revision::{ArticleRevision, RevisionAction},
    },
    error::Error,
};

/// One page of revisions, newest first, and whether older ones follow.
#[derive(Debug)]
pub struct RevisionPage {
    pub revisions: Vec<ArticleRevision>,
    pub has_more: bool,
}

/// The statement that appends `article`'s current revision (its `revision`
/// number, content and status) to its history, inside the transaction of
/// the change.
pub(super) fn revision_statement(
    actor: &Actor,
    article: &Article,
    action: RevisionAction,
    changed_fields: &[&str],
    note: &str,
) -> Result<InsertStatement, DbErr> {
    Ok(
        article_revisions::Entity::insert(article_revisions::ActiveModel {
            article_id: Set(article.id.clone()),
            revision: Set(article.revision),
            action: Set(action.as_str().to_owned()),
            create_time: Set(article.update_time),
            changed_fields: Set(encode_json("a revision's fields", &changed_fields)?),
            note: Set(note.to_owned()),
            status: Set(article.status.as_str().to_owned()),
            content: Set(encode_json("a revision's content", &article.content)?),
            actor: Set(actor.0.clone()),
        })
        .into_query(),
    )
}

impl Store {
    /// Up to `size` revisions of an article older than `before` (all when
    /// `None`), newest first. A deleted article keeps its history readable.
    pub async fn list_revisions(
        &self,
        article_id: &str,
        before: Option<i32>,
        size: u64,
    ) -> Result<RevisionPage, Error> {
        self.require_article(article_id).await?;
        let mut query = article_revisions::Entity::find()
            .filter(article_revisions::Column::ArticleId.eq(article_id));
        if let Some(before) = before {
            query = query.filter(article_revisions::Column::Revision.lt(before));
        }
        let rows = query
            .order_by_desc(article_revisions::Column::Revision)
            .limit(size + 1)
            .all(&self.db)
            .await?;
        let (rows, has_more) = split_page(rows, size);
        Ok(RevisionPage {
            revisions: rows
                .into_iter()
                .map(revision_from_row)
                .collect::<Result<_, _>>()?,
            has_more,
        })
    }

    /// One revision of an article.
    pub async fn find_revision(
        &self,
        article_id: &str,
        revision: i32,
    ) -> Result<ArticleRevision, Error> {
        find_revision(&self.db, article_id, revision).await
    }

    /// NOT_FOUND unless the article exists (deleted or not).
    async fn require_article(&self, article_id: &str) -> Result<(), Error> {
        let found = articles::Entity::find_by_id(article_id.to_owned())
            .select_only()
            .column(articles::Column::Id)
            .into_tuple::<String>()
            .one(&self.db)
            .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(format!(
                "article {article_id} does not exist"
            ))),
        }
    }
}

/// One revision, read with `conn` (a transaction, when restoring).
pub(super) async fn find_revision(
    conn: &impl ConnectionTrait,
    article_id: &str,
    revision: i32,
) -> Result<ArticleRevision, Error> {
    let row = article_revisions::Entity::find_by_id((article_id.to_owned(), revision))
        .one(conn)
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!("article {article_id} has no revision {revision}"))
        })?;
    revision_from_row(row)
}

fn revision_from_row(row: article_revisions::Model) -> Result<ArticleRevision, Error> {
    let article_revisions::Model {
        article_id,
        revision,
        action,
        create_time,
        changed_fields,
        note,
        status,
        content,
        actor,
    } = row;
    let corrupt = |what: &str| {
        Error::Internal(format!(
            "revision {revision} of article {article_id} has an unreadable {what}"
        ))
    };
    Ok(ArticleRevision {
        action: RevisionAction::parse(&action).ok_or_else(|| corrupt("action"))?,
        status: ArticleStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        changed_fields: serde_json::from_str(&changed_fields).map_err(|_| corrupt("field list"))?,
        content: serde_json::from_str(&content).map_err(|_| corrupt("content"))?,
        article_id,
        revision,
        create_time,
        note,
        actor,
    })
}
