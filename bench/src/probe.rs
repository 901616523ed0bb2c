//! Readers' calls decoded lightly: the benchmark checks an article's id,
//! slug and that it has a body, so it decodes just those fields and leaves
//! the body's bytes unvalidated. On a two-core machine the load generator
//! shares the CPU with the server; decoding every 3 KB body in full would
//! measure the client as much as the server.

use bytes::Bytes;
use http::uri::PathAndQuery;
use newsdesk::proto as pb;
use tonic::{Request, Status, client::Grpc, transport::Channel};
use tonic_prost::ProstCodec;

/// The fields of `newsdesk.v1.Article` the checks read.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ArticleProbe {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub slug: String,
    #[prost(bytes = "bytes", tag = "6")]
    pub body: Bytes,
}

/// The fields of `newsdesk.v1.ListArticlesResponse` the checks read.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListProbe {
    #[prost(message, repeated, tag = "1")]
    pub articles: Vec<ArticleProbe>,
    #[prost(string, tag = "2")]
    pub next_page_token: String,
}

/// `ArticleService.GetArticle`, answered as a probe.
pub async fn get_article(
    channel: Channel,
    request: pb::GetArticleRequest,
) -> Result<ArticleProbe, Status> {
    call(channel, "/newsdesk.v1.ArticleService/GetArticle", request).await
}

/// `ArticleService.ListArticles`, answered as a probe.
pub async fn list_articles(
    channel: Channel,
    request: pb::ListArticlesRequest,
) -> Result<ListProbe, Status> {
    call(channel, "/newsdesk.v1.ArticleService/ListArticles", request).await
}

async fn call<Q, A>(channel: Channel, path: &'static str, request: Q) -> Result<A, Status>
where
    Q: prost::Message + Send + Sync + 'static,
    A: prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    grpc.unary(
        Request::new(request),
        PathAndQuery::from_static(path),
        ProstCodec::<Q, A>::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}
