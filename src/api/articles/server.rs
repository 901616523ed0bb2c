//! ArticleService as the server mounts it: GetArticle and ListArticles are
//! answered with bytes encoded ahead of time (see `encoded`), through the
//! same handlers; every other method goes to the generated server.

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use tonic::{
    Status,
    body::Body,
    codec::CompressionEncoding,
    codegen::BoxFuture,
    server::{Grpc, NamedService, UnaryService},
};
use tower::Service;

use super::{
    super::{
        encoded::{Encoded, EncodedCodec},
        principal, respond,
    },
    ArticleApi,
};
use crate::proto::{self as pb, article_service_server::ArticleServiceServer};

const GET_ARTICLE: &str = "/newsdesk.v1.ArticleService/GetArticle";
const LIST_ARTICLES: &str = "/newsdesk.v1.ArticleService/ListArticles";

/// How messages travel, the same for every service and method: applied to
/// the generated servers (`configured!` in `server::stack`) and to the
/// calls `ArticleServer` answers itself, so a field added here goes in both.
#[derive(Debug, Clone, Copy)]
pub struct Wire {
    /// The largest request message, in bytes.
    pub max_message_size: usize,
    /// Compressions accepted from clients, and used for clients that accept
    /// them.
    pub compressions: &'static [CompressionEncoding],
}

/// ArticleService, with its two readers' methods answered from bytes.
#[derive(Clone)]
pub struct ArticleServer {
    api: Arc<ArticleApi>,
    generated: ArticleServiceServer<ArticleApi>,
    wire: Wire,
}

impl ArticleServer {
    /// The service over `api`: GetArticle and ListArticles answered here,
    /// the rest by `generated` (configured for the same `wire`).
    pub fn new(
        api: Arc<ArticleApi>,
        generated: ArticleServiceServer<ArticleApi>,
        wire: Wire,
    ) -> Self {
        Self {
            api,
            generated,
            wire,
        }
    }

    /// A unary call's machinery, set up as the generated server sets up its
    /// own.
    fn grpc<Req, Resp>(&self) -> Grpc<EncodedCodec<Req, Resp>>
    where
        Req: prost::Message + Default + Send + 'static,
        Resp: 'static,
    {
        let mut grpc = Grpc::new(EncodedCodec::default())
            .max_decoding_message_size(self.wire.max_message_size);
        for &encoding in self.wire.compressions {
            grpc = grpc.accept_compressed(encoding).send_compressed(encoding);
        }
        grpc
    }
}

impl NamedService for ArticleServer {
    const NAME: &'static str = <ArticleServiceServer<ArticleApi> as NamedService>::NAME;
}

impl Service<Request<Body>> for ArticleServer {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        match request.uri().path() {
            GET_ARTICLE => {
                let mut grpc = self.grpc();
                let method = GetArticle(self.api.clone());
                Box::pin(async move { Ok(grpc.unary(method, request).await) })
            }
            LIST_ARTICLES => {
                let mut grpc = self.grpc();
                let method = ListArticles(self.api.clone());
                Box::pin(async move { Ok(grpc.unary(method, request).await) })
            }
            _ => self.generated.call(request),
        }
    }
}

struct GetArticle(Arc<ArticleApi>);

impl UnaryService<pb::GetArticleRequest> for GetArticle {
    type Response = Encoded<pb::Article>;
    type Future = BoxFuture<tonic::Response<Self::Response>, Status>;

    fn call(&mut self, request: tonic::Request<pb::GetArticleRequest>) -> Self::Future {
        let api = self.0.clone();
        Box::pin(async move {
            let principal = principal(&request);
            respond(api.get(&principal, request.into_inner()).await)
        })
    }
}

struct ListArticles(Arc<ArticleApi>);

impl UnaryService<pb::ListArticlesRequest> for ListArticles {
    type Response = Encoded<pb::ListArticlesResponse>;
    type Future = BoxFuture<tonic::Response<Self::Response>, Status>;

    fn call(&mut self, request: tonic::Request<pb::ListArticlesRequest>) -> Self::Future {
        let api = self.0.clone();
        Box::pin(async move {
            let principal = principal(&request);
            respond(api.list(&principal, request.into_inner()).await)
        })
    }
}
