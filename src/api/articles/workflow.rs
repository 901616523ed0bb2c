//! The workflow methods of ArticleService: submit, return, publish,
//! unpublish and archive. The rules live in `domain::workflow`.

use super::{
    super::{
        convert::{article_to_pb, time_from_pb},
        resource_id,
    },
    ArticleApi,
};
use crate::{
    domain::{
        access::{Principal, Rule, WriteScope},
        text::multi_line,
        validation::Violations,
    },
    error::Error,
    proto as pb,
    store::WorkflowRequest,
};

/// The longest note an editor can return an article with, in characters.
const MAX_NOTE_CHARS: usize = 2_000;

impl ArticleApi {
    pub(super) async fn submit(
        &self,
        principal: &Principal,
        request: pb::SubmitArticleRequest,
    ) -> Result<pb::Article, Error> {
        let pb::SubmitArticleRequest { id, etag } = request;
        self.check_writer(principal, Rule::EditDraft, &resource_id("id", &id)?)
            .await?;
        self.change_status(principal, &id, &etag, WorkflowRequest::Submit)
            .await
    }

    pub(super) async fn send_back(
        &self,
        principal: &Principal,
        request: pb::ReturnArticleRequest,
    ) -> Result<pb::Article, Error> {
        let pb::ReturnArticleRequest { id, etag, note } = request;
        let mut violations = Violations::new();
        // Four bytes a character at most: the byte bound only guards the
        // normalisation, the character count is the rule.
        let note = multi_line("note", note.trim(), MAX_NOTE_CHARS * 4, &mut violations);
        if note.is_empty() && violations.is_empty() {
            violations.add("note", "is required: tell the writers what to change");
        } else if note.chars().count() > MAX_NOTE_CHARS {
            violations.add(
                "note",
                format!("must be at most {MAX_NOTE_CHARS} characters"),
            );
        }
        violations.into_result(())?;
        self.change_status(principal, &id, &etag, WorkflowRequest::Return { note })
            .await
    }

    pub(super) async fn publish(
        &self,
        principal: &Principal,
        request: pb::PublishArticleRequest,
    ) -> Result<pb::Article, Error> {
        let pb::PublishArticleRequest {
            id,
            etag,
            publish_time,
        } = request;
        let at =
            match publish_time {
                None => None,
                Some(timestamp) => Some(time_from_pb(&timestamp).ok_or_else(|| {
                    Violations::single("publish_time", "is not a valid timestamp")
                })?),
            };
        self.change_status(principal, &id, &etag, WorkflowRequest::Publish { at })
            .await
    }

    pub(super) async fn unpublish(
        &self,
        principal: &Principal,
        request: pb::UnpublishArticleRequest,
    ) -> Result<pb::Article, Error> {
        let pb::UnpublishArticleRequest { id, etag } = request;
        self.change_status(principal, &id, &etag, WorkflowRequest::Unpublish)
            .await
    }

    pub(super) async fn archive(
        &self,
        principal: &Principal,
        request: pb::ArchiveArticleRequest,
    ) -> Result<pb::Article, Error> {
        let pb::ArchiveArticleRequest { id, etag } = request;
        self.change_status(principal, &id, &etag, WorkflowRequest::Archive)
            .await
    }

    async fn change_status(
        &self,
        principal: &Principal,
        id: &str,
        etag: &str,
        request: WorkflowRequest,
    ) -> Result<pb::Article, Error> {
        let id = resource_id("id", id)?;
        let article = self
            .store
            .change_article_status(
                &principal.actor(),
                &WriteScope::of(principal),
                &id,
                etag,
                request,
            )
            .await?;
        Ok(article_to_pb(article))
    }
}
