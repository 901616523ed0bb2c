//! `newsdesk.v1.ArticleService`: the trait implementation, which only routes
//! each RPC to its handler (`crud` for the standard methods, `workflow` for
//! status changes, `revisions` for the history).

mod crud;
mod revisions;
mod workflow;

use tonic::{Request, Response, Status};

use super::respond;
use crate::{
    proto::{self as pb, article_service_server::ArticleService},
    store::Store,
};

/// Serves ArticleService from the store.
#[derive(Debug, Clone)]
pub struct ArticleApi {
    store: Store,
}

impl ArticleApi {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl ArticleService for ArticleApi {
    async fn create_article(
        &self,
        request: Request<pb::CreateArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        respond(self.create(request.into_inner()).await)
    }

    async fn get_article(
        &self,
        request: Request<pb::GetArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        respond(self.get(request.into_inner()).await)
    }

    async fn list_articles(
        &self,
        request: Request<pb::ListArticlesRequest>,
    ) -> Result<Response<pb::ListArticlesResponse>, Status> {
        respond(self.list(request.into_inner()).await)
    }

    async fn update_article(
        &self,
        request: Request<pb::UpdateArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        respond(self.update(request.into_inner()).await)
    }

    async fn delete_article(
        &self,
        request: Request<pb::DeleteArticleRequest>,
    ) -> Result<Response<()>, Status> {
        respond(self.delete(request.into_inner()).await)
    }

    async fn undelete_article(
        &self,
        request: Request<pb::UndeleteArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        respond(self.undelete(request.into_inner()).await)
    }

    async fn submit_article(
        &self,
        request: Request<pb::SubmitArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        respond(self.submit(request.into_inner()).await)
    }

    async fn return_article(
        &self,
        request: Request<pb::ReturnArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        respond(self.send_back(request.into_inner()).await)
    }

    async fn publish_article(
        &self,
        request: Request<pb::PublishArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        respond(self.publish(request.into_inner()).await)
    }

    async fn unpublish_article(
        &self,
        request: Request<pb::UnpublishArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        respond(self.unpublish(request.into_inner()).await)
    }

    async fn archive_article(
        &self,
        request: Request<pb::ArchiveArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        respond(self.archive(request.into_inner()).await)
    }

    async fn list_article_revisions(
        &self,
        request: Request<pb::ListArticleRevisionsRequest>,
    ) -> Result<Response<pb::ListArticleRevisionsResponse>, Status> {
        respond(self.list_revisions(request.into_inner()).await)
    }

    async fn get_article_revision(
        &self,
        request: Request<pb::GetArticleRevisionRequest>,
    ) -> Result<Response<pb::ArticleRevision>, Status> {
        respond(self.get_revision(request.into_inner()).await)
    }

    async fn restore_article_revision(
        &self,
        request: Request<pb::RestoreArticleRevisionRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        respond(self.restore_revision(request.into_inner()).await)
    }
}
