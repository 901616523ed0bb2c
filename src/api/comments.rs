//! `newsdesk.v1.CommentService`: readers' comments and their moderation.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    convert::{Audience, comment_to_pb},
    principal, request_id, required, resource_id, respond,
};
use crate::{
    domain::{
        access::Actor,
        comment::{CommentInput, CommentStatus, ModerationDecision, validate_new_comment},
        moderation::ModerationPolicy,
        paging::{QueryKey, page_size},
        text::LineRule,
        validation::Violations,
    },
    error::Error,
    proto::{self as pb, comment_service_server::CommentService},
    store::{CommentPage, Store, ThreadOrder},
};

const REASON: LineRule = LineRule {
    field: "reason",
    required: false,
    max_chars: 500,
};

/// Serves CommentService from the store, under a moderation policy.
#[derive(Debug, Clone)]
pub struct CommentApi {
    store: Store,
    policy: Arc<ModerationPolicy>,
}

impl CommentApi {
    /// The service, over `store`, under `policy`.
    pub fn new(store: Store, policy: ModerationPolicy) -> Self {
        Self {
            store,
            policy: Arc::new(policy),
        }
    }

    async fn create(
        &self,
        actor: &Actor,
        request: pb::CreateCommentRequest,
    ) -> Result<pb::Comment, Error> {
        let pb::CreateCommentRequest {
            comment,
            request_id: raw_request_id,
        } = request;
        let request_id = request_id(&raw_request_id)?;
        let pb::Comment {
            article_id,
            parent_id,
            author_name,
            author_email,
            body,
            id: _,
            depth: _,
            body_html: _,
            status: _,
            create_time: _,
            update_time: _,
            etag: _,
            tombstone: _,
            moderation_reason: _,
            moderator: _,
        } = required(comment, "comment")?;
        let article_id = resource_id("comment.article_id", &article_id)?;
        let new = validate_new_comment(CommentInput {
            parent_id,
            author_name,
            author_email,
            body,
        })
        .map_err(|violations| violations.within("comment"))?;
        let comment = self
            .store
            .insert_comment(actor, &article_id, new, &self.policy, request_id.as_deref())
            .await
            .map_err(|error| error.within("comment"))?;
        // The poster sees what became of their comment (held or not), but
        // never the moderators' reasons.
        Ok(pb::Comment {
            moderation_reason: String::new(),
            ..comment_to_pb(comment, Audience::Moderators)
        })
    }

    async fn get(&self, request: pb::GetCommentRequest) -> Result<pb::Comment, Error> {
        let pb::GetCommentRequest { id } = request;
        let comment = self
            .store
            .find_visible_comment(&resource_id("id", &id)?)
            .await?;
        Ok(comment_to_pb(comment, Audience::Readers))
    }

    async fn list(
        &self,
        request: pb::ListCommentsRequest,
    ) -> Result<pb::ListCommentsResponse, Error> {
        let pb::ListCommentsRequest {
            article_id,
            page_size: requested_size,
            page_token,
            order,
        } = request;
        let article_id = resource_id("article_id", &article_id)?;
        let size = page_size(requested_size)?;
        let order = match pb::CommentOrder::try_from(order) {
            Ok(pb::CommentOrder::Unspecified | pb::CommentOrder::OldestFirst) => {
                ThreadOrder::OldestFirst
            }
            Ok(pb::CommentOrder::NewestFirst) => ThreadOrder::NewestFirst,
            Err(_) => return Err(Violations::single("order", "is not a known order").into()),
        };
        let query = QueryKey::new(
            "ListComments",
            &[
                &article_id,
                match order {
                    ThreadOrder::OldestFirst => "oldest",
                    ThreadOrder::NewestFirst => "newest",
                },
            ],
        );
        let cursor = query.cursor(&page_token)?;
        let CommentPage { comments, next } = self
            .store
            .list_comments(&article_id, order, cursor.as_ref(), size)
            .await?;
        Ok(pb::ListCommentsResponse {
            comments: comments
                .into_iter()
                .map(|comment| comment_to_pb(comment, Audience::Readers))
                .collect(),
            next_page_token: next.map(|next| query.token(next)).unwrap_or_default(),
        })
    }

    async fn list_for_moderation(
        &self,
        request: pb::ListCommentsForModerationRequest,
    ) -> Result<pb::ListCommentsForModerationResponse, Error> {
        let pb::ListCommentsForModerationRequest {
            status,
            article_id,
            page_size: requested_size,
            page_token,
        } = request;
        let status = match pb::CommentStatus::try_from(status) {
            Ok(pb::CommentStatus::Unspecified | pb::CommentStatus::Pending) => {
                CommentStatus::Pending
            }
            Ok(pb::CommentStatus::Approved) => CommentStatus::Approved,
            Ok(pb::CommentStatus::Rejected) => CommentStatus::Rejected,
            Ok(pb::CommentStatus::Spam) => CommentStatus::Spam,
            Err(_) => return Err(Violations::single("status", "is not a known status").into()),
        };
        let article_id = match article_id.trim() {
            "" => None,
            raw => Some(resource_id("article_id", raw)?),
        };
        let size = page_size(requested_size)?;
        let query = QueryKey::new(
            "ListCommentsForModeration",
            &[status.as_str(), article_id.as_deref().unwrap_or_default()],
        );
        let cursor = query.cursor(&page_token)?;
        let CommentPage { comments, next } = self
            .store
            .list_comments_for_moderation(status, article_id.as_deref(), cursor.as_ref(), size)
            .await?;
        Ok(pb::ListCommentsForModerationResponse {
            comments: comments
                .into_iter()
                .map(|comment| comment_to_pb(comment, Audience::Moderators))
                .collect(),
            next_page_token: next.map(|next| query.token(next)).unwrap_or_default(),
        })
    }

    async fn moderate(
        &self,
        actor: &Actor,
        request: pb::ModerateCommentRequest,
    ) -> Result<pb::Comment, Error> {
        let pb::ModerateCommentRequest {
            id,
            decision,
            reason,
            etag,
        } = request;
        let id = resource_id("id", &id)?;
        let mut violations = Violations::new();
        let decision = match pb::ModerationDecision::try_from(decision) {
            Ok(pb::ModerationDecision::Approve) => Some(ModerationDecision::Approve),
            Ok(pb::ModerationDecision::Reject) => Some(ModerationDecision::Reject),
            Ok(pb::ModerationDecision::Spam) => Some(ModerationDecision::Spam),
            Ok(pb::ModerationDecision::Unspecified) | Err(_) => {
                violations.add("decision", "must be APPROVE, REJECT or SPAM");
                None
            }
        };
        let reason = REASON.apply(&reason, &mut violations);
        let decision = violations.into_result(decision)?.ok_or_else(|| {
            Error::Internal("a moderation decision passed validation without a value".into())
        })?;
        let comment = self
            .store
            .moderate_comment(actor, &id, &etag, decision, &reason)
            .await?;
        Ok(comment_to_pb(comment, Audience::Moderators))
    }

    async fn delete(&self, actor: &Actor, request: pb::DeleteCommentRequest) -> Result<(), Error> {
        let pb::DeleteCommentRequest { id, etag } = request;
        self.store
            .delete_comment(actor, &resource_id("id", &id)?, &etag)
            .await
    }
}

#[tonic::async_trait]
impl CommentService for CommentApi {
    async fn create_comment(
        &self,
        request: Request<pb::CreateCommentRequest>,
    ) -> Result<Response<pb::Comment>, Status> {
        let actor = principal(&request).actor();
        respond(self.create(&actor, request.into_inner()).await)
    }

    async fn get_comment(
        &self,
        request: Request<pb::GetCommentRequest>,
    ) -> Result<Response<pb::Comment>, Status> {
        respond(self.get(request.into_inner()).await)
    }

    async fn list_comments(
        &self,
        request: Request<pb::ListCommentsRequest>,
    ) -> Result<Response<pb::ListCommentsResponse>, Status> {
        respond(self.list(request.into_inner()).await)
    }

    async fn list_comments_for_moderation(
        &self,
        request: Request<pb::ListCommentsForModerationRequest>,
    ) -> Result<Response<pb::ListCommentsForModerationResponse>, Status> {
        respond(self.list_for_moderation(request.into_inner()).await)
    }

    async fn moderate_comment(
        &self,
        request: Request<pb::ModerateCommentRequest>,
    ) -> Result<Response<pb::Comment>, Status> {
        let actor = principal(&request).actor();
        respond(self.moderate(&actor, request.into_inner()).await)
    }

    async fn delete_comment(
        &self,
        request: Request<pb::DeleteCommentRequest>,
    ) -> Result<Response<()>, Status> {
        let actor = principal(&request).actor();
        respond(self.delete(&actor, request.into_inner()).await)
    }
}
