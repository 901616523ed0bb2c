//! `newsdesk.v1.ArticleService`: the trait implementation, which only routes
//! each RPC to its handler (`crud` for the standard methods, `workflow` for
//! status changes, `revisions` for the history), and the service as the
//! server mounts it (`server`).

mod crud;
mod revisions;
mod server;
mod workflow;

pub use server::{ArticleServer, Wire};

use tonic::{Request, Response, Status};

use super::{denied, principal, published::PublishedArticles, respond};
use crate::{
    domain::{
        access::{ArticleFacts, Principal, Rule, article_access},
        article::ArticleView,
    },
    error::Error,
    proto::{self as pb, article_service_server::ArticleService},
    store::Store,
};

/// Serves ArticleService from the store, and readers' copies from memory.
#[derive(Clone)]
pub struct ArticleApi {
    store: Store,
    published: PublishedArticles,
}

impl ArticleApi {
    /// The service, over `store`, with readers' copies from `published`.
    pub fn new(store: Store, published: PublishedArticles) -> Self {
        Self { store, published }
    }

    /// The object-level check for writers under `rule` on article `id`: it
    /// must credit them (otherwise it does not exist for them), and under
    /// `EditDraft` be a draft. Other callers were settled by the auth layer.
    async fn check_writer(&self, principal: &Principal, rule: Rule, id: &str) -> Result<(), Error> {
        if !principal.is_writer() {
            return Ok(());
        }
        let article = self
            .store
            .find_article(id, ArticleView::Latest, true)
            .await?;
        let facts = ArticleFacts {
            credits_caller: principal.writer_author().is_some_and(|me| {
                article
                    .content
                    .author_ids
                    .iter()
                    .any(|credited| credited == me)
            }),
            status: article.status,
        };
        article_access(rule, principal, facts)
            .map_err(|denial| denied(denial, &format!("article {id}")))
    }
}

#[tonic::async_trait]
impl ArticleService for ArticleApi {
    async fn create_article(
        &self,
        request: Request<pb::CreateArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let principal = principal(&request);
        respond(self.create(&principal, request.into_inner()).await)
    }

    // `ArticleServer` answers GetArticle and ListArticles with the encoded
    // bytes and never calls these two; they stay correct for the generated
    // server on its own, at the cost of decoding.
    async fn get_article(
        &self,
        request: Request<pb::GetArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let principal = principal(&request);
        let answer = self.get(&principal, request.into_inner()).await;
        respond(answer.and_then(|article| article.decode()))
    }

    async fn list_articles(
        &self,
        request: Request<pb::ListArticlesRequest>,
    ) -> Result<Response<pb::ListArticlesResponse>, Status> {
        let principal = principal(&request);
        let answer = self.list(&principal, request.into_inner()).await;
        respond(answer.and_then(|page| page.decode()))
    }

    async fn update_article(
        &self,
        request: Request<pb::UpdateArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let principal = principal(&request);
        respond(self.update(&principal, request.into_inner()).await)
    }

    async fn delete_article(
        &self,
        request: Request<pb::DeleteArticleRequest>,
    ) -> Result<Response<()>, Status> {
        let principal = principal(&request);
        respond(self.delete(&principal, request.into_inner()).await)
    }

    async fn undelete_article(
        &self,
        request: Request<pb::UndeleteArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let principal = principal(&request);
        respond(self.undelete(&principal, request.into_inner()).await)
    }

    async fn submit_article(
        &self,
        request: Request<pb::SubmitArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let principal = principal(&request);
        respond(self.submit(&principal, request.into_inner()).await)
    }

    async fn return_article(
        &self,
        request: Request<pb::ReturnArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let principal = principal(&request);
        respond(self.send_back(&principal, request.into_inner()).await)
    }

    async fn publish_article(
        &self,
        request: Request<pb::PublishArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let principal = principal(&request);
        respond(self.publish(&principal, request.into_inner()).await)
    }

    async fn unpublish_article(
        &self,
        request: Request<pb::UnpublishArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let principal = principal(&request);
        respond(self.unpublish(&principal, request.into_inner()).await)
    }

    async fn archive_article(
        &self,
        request: Request<pb::ArchiveArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let principal = principal(&request);
        respond(self.archive(&principal, request.into_inner()).await)
    }

    async fn list_article_revisions(
        &self,
        request: Request<pb::ListArticleRevisionsRequest>,
    ) -> Result<Response<pb::ListArticleRevisionsResponse>, Status> {
        let principal = principal(&request);
        respond(self.list_revisions(&principal, request.into_inner()).await)
    }

    async fn get_article_revision(
        &self,
        request: Request<pb::GetArticleRevisionRequest>,
    ) -> Result<Response<pb::ArticleRevision>, Status> {
        let principal = principal(&request);
        respond(self.get_revision(&principal, request.into_inner()).await)
    }

    async fn restore_article_revision(
        &self,
        request: Request<pb::RestoreArticleRevisionRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let principal = principal(&request);
        respond(
            self.restore_revision(&principal, request.into_inner())
                .await,
        )
    }
}
