//! The history methods of ArticleService: list and get revisions, and
//! restore an old one's content.

use super::{
    super::{
        convert::{article_to_pb, revision_to_pb},
        resource_id,
    },
    ArticleApi,
};
use crate::{
    domain::{
        access::{Principal, Rule, WriteScope},
        paging::{Cursor, QueryKey, page_size},
        validation::Violations,
    },
    error::Error,
    proto as pb,
};

impl ArticleApi {
    pub(super) async fn list_revisions(
        &self,
        principal: &Principal,
        request: pb::ListArticleRevisionsRequest,
    ) -> Result<pb::ListArticleRevisionsResponse, Error> {
        let pb::ListArticleRevisionsRequest {
            article_id,
            page_size: requested_size,
            page_token,
        } = request;
        let article_id = resource_id("article_id", &article_id)?;
        self.check_writer(principal, Rule::ReadHistory, &article_id)
            .await?;
        let size = page_size(requested_size)?;
        let query = QueryKey::new("ListArticleRevisions", &[&article_id]);
        let before = match query.cursor(&page_token)? {
            None => None,
            Some(cursor) => Some(
                cursor
                    .number
                    .and_then(|number| i32::try_from(number).ok())
                    .ok_or_else(|| Violations::single("page_token", "is malformed"))?,
            ),
        };
        let page = self.store.list_revisions(&article_id, before, size).await?;
        let next_page_token = match page.revisions.last() {
            Some(last) if page.has_more => query.token(Cursor {
                time_micros: None,
                number: Some(i64::from(last.revision)),
                key: None,
                id: article_id.clone(),
            }),
            _ => String::new(),
        };
        Ok(pb::ListArticleRevisionsResponse {
            revisions: page.revisions.into_iter().map(revision_to_pb).collect(),
            next_page_token,
        })
    }

    pub(super) async fn get_revision(
        &self,
        principal: &Principal,
        request: pb::GetArticleRevisionRequest,
    ) -> Result<pb::ArticleRevision, Error> {
        let pb::GetArticleRevisionRequest {
            article_id,
            revision,
        } = request;
        let article_id = resource_id("article_id", &article_id)?;
        self.check_writer(principal, Rule::ReadHistory, &article_id)
            .await?;
        let revision = self
            .store
            .find_revision(&article_id, revision_number(revision)?)
            .await?;
        Ok(revision_to_pb(revision))
    }

    pub(super) async fn restore_revision(
        &self,
        principal: &Principal,
        request: pb::RestoreArticleRevisionRequest,
    ) -> Result<pb::Article, Error> {
        let pb::RestoreArticleRevisionRequest {
            article_id,
            revision,
            etag,
        } = request;
        let article_id = resource_id("article_id", &article_id)?;
        let revision = revision_number(revision)?;
        self.check_writer(principal, Rule::EditDraft, &article_id)
            .await?;
        let article = self
            .store
            .restore_article_revision(
                &principal.actor(),
                &WriteScope::of(principal),
                &article_id,
                revision,
                &etag,
            )
            .await?;
        Ok(article_to_pb(article))
    }
}

fn revision_number(revision: i32) -> Result<i32, Violations> {
    if revision >= 1 {
        Ok(revision)
    } else {
        Err(Violations::single("revision", "must be 1 or more"))
    }
}
