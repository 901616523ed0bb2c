//! The router: every service, behind one tower stack whose order is the
//! order requests meet its layers.

use std::{future::Future, sync::Arc, time::Duration};

use http::{HeaderName, HeaderValue, Method, Response};
use tokio::net::TcpListener;
use tonic::{
    body::Body,
    codec::CompressionEncoding,
    transport::{Server, server::TcpIncoming},
};
use tonic_health::pb::health_server::{Health, HealthServer};
use tower::{
    BoxError, ServiceBuilder, limit::GlobalConcurrencyLimitLayer, load_shed::LoadShedLayer,
};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
};

use super::ServerOptions;
use crate::{
    api::{
        ArticleApi, ArticleServer, AuthorApi, CommentApi, EventApi, KeyApi, PublishedArticles,
        ShareApi, Wire,
    },
    domain::moderation::ModerationPolicy,
    error::Error,
    events::feed::EventFeed,
    middleware::{
        auth::AuthLayer, deadline::DeadlineLayer, observe::ObserveLayer, origin::OriginLayer,
        rate_limit::RateLimitLayer,
    },
    proto::{
        self, article_service_server::ArticleServiceServer,
        author_service_server::AuthorServiceServer, comment_service_server::CommentServiceServer,
        event_service_server::EventServiceServer, key_service_server::KeyServiceServer,
        share_service_server::ShareServiceServer,
    },
    shares::ShareWriter,
    store::Store,
};

/// What the API services need besides the store.
pub(super) struct Services<H> {
    pub published: PublishedArticles,
    pub feed: EventFeed,
    pub share_writer: ShareWriter,
    pub policy: ModerationPolicy,
    pub health: HealthServer<H>,
}

/// The compressions every service accepts, and answers in when the client
/// accepts them.
const COMPRESSIONS: [CompressionEncoding; 2] =
    [CompressionEncoding::Gzip, CompressionEncoding::Zstd];

/// Each generated server with the wire's message-size limit and
/// compressions (`ArticleServer` applies the same to the calls it answers
/// itself).
macro_rules! configured {
    ($server:expr, $wire:expr) => {{
        let wire: &Wire = &$wire;
        let mut server = $server.max_decoding_message_size(wire.max_message_size);
        for &encoding in wire.compressions {
            server = server.accept_compressed(encoding).send_compressed(encoding);
        }
        server
    }};
}

/// Serves every service, behind the stack, on `listener` until `signal`
/// completes and the connections have drained.
pub(super) async fn serve_stack<H: Health>(
    store: &Store,
    options: &ServerOptions,
    services: Services<H>,
    listener: TcpListener,
    signal: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let mut server = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        // gRPC-Web from browsers comes over HTTP/1.1 too.
        .accept_http1(true);
    if let Some(tls) = &options.tls {
        server = server.tls_config(tls.clone())?;
    }
    let layers = ServiceBuilder::new()
        // First, so that every later layer and log line has the request id,
        // and the answer carries it back.
        .map_request(drop_unusable_request_id)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        // Before anything can refuse a request, so that refusals are logged
        // and counted too.
        .layer(ObserveLayer)
        // Browsers: CORS answers preflights here; requests from origins not
        // on the allow-list go no further; gRPC-Web becomes gRPC.
        .layer(cors(&options.cors_origins))
        .layer(OriginLayer::new(options.cors_origins.clone()))
        .layer(tonic_web::GrpcWebLayer::new())
        // The client's `grpc-timeout` or the server's maximum: a request cut
        // off is dropped, its open transaction rolls back, and the answer
        // (DEADLINE_EXCEEDED) still passes the layers above.
        .layer(DeadlineLayer::new(options.request_timeout))
        // Overload: past the limit a request is refused at once, before it
        // costs a database lookup, instead of queueing without bound.
        .map_result(shed_to_status)
        .layer(LoadShedLayer::new())
        .layer(GlobalConcurrencyLimitLayer::new(
            options.max_concurrent_requests,
        ))
        // Who is calling, and whether their role may call this at all; then
        // whether they are within their rate. Rate limits need the caller.
        .layer(AuthLayer::new(store.clone()))
        .layer(RateLimitLayer::new(options.rate_limits));

    let wire = Wire {
        max_message_size: options.max_message_size,
        compressions: &COMPRESSIONS,
    };
    let Services {
        published,
        feed,
        share_writer,
        policy,
        health,
    } = services;
    let articles = Arc::new(ArticleApi::new(store.clone(), published));
    let (reflection_v1, reflection_v1alpha) = if options.reflection {
        // grpcurl up to 1.8 asks v1alpha; newer clients ask v1.
        (
            Some(reflection().build_v1()?),
            Some(reflection().build_v1alpha()?),
        )
    } else {
        (None, None)
    };
    server
        .layer(layers)
        .add_service(health)
        .add_optional_service(reflection_v1)
        .add_optional_service(reflection_v1alpha)
        .add_service(configured!(
            AuthorServiceServer::new(AuthorApi::new(store.clone())),
            wire
        ))
        .add_service(ArticleServer::new(
            articles.clone(),
            configured!(ArticleServiceServer::from_arc(articles), wire),
            wire,
        ))
        .add_service(configured!(
            EventServiceServer::new(EventApi::new(store.clone(), feed)),
            wire
        ))
        .add_service(configured!(
            CommentServiceServer::new(CommentApi::new(store.clone(), policy)),
            wire
        ))
        .add_service(configured!(
            ShareServiceServer::new(ShareApi::new(store.clone(), share_writer)),
            wire
        ))
        .add_service(configured!(
            KeyServiceServer::new(KeyApi::new(store.clone())),
            wire
        ))
        .serve_with_incoming_shutdown(
            // Without Nagle: an answer written in several pieces (headers,
            // a 3 KB article, trailers) would otherwise wait for the
            // client's delayed ACK, 40 ms a call. (The builder's
            // `tcp_nodelay` applies only to listeners tonic binds itself.)
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            signal,
        )
        .await?;
    Ok(())
}

/// The longest client request id kept.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Removes a client's `x-request-id` that is too long or holds more than
/// letters, digits and `-_.:`, so that a made-up id gets replaced with a
/// fresh one instead of reaching every log line.
fn drop_unusable_request_id(mut request: http::Request<Body>) -> http::Request<Body> {
    let usable = request.headers().get("x-request-id").is_none_or(|id| {
        let id = id.as_bytes();
        !id.is_empty()
            && id.len() <= MAX_REQUEST_ID_LEN
            && id
                .iter()
                .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(byte))
    });
    if !usable {
        request.headers_mut().remove("x-request-id");
    }
    request
}

/// CORS for the allowed browser origins: gRPC-Web posts with its headers,
/// and reads the gRPC status and the request id back.
fn cors(origins: &[HeaderValue]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([Method::POST])
        .allow_headers([
            http::header::CONTENT_TYPE,
            http::header::AUTHORIZATION,
            HeaderName::from_static("x-grpc-web"),
            HeaderName::from_static("x-user-agent"),
            HeaderName::from_static("grpc-timeout"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            HeaderName::from_static("grpc-status"),
            HeaderName::from_static("grpc-message"),
            HeaderName::from_static("grpc-status-details-bin"),
            HeaderName::from_static("x-request-id"),
        ])
}

/// The load shedder's refusal as a gRPC answer: RESOURCE_EXHAUSTED, with a
/// hint to retry shortly.
fn shed_to_status(result: Result<Response<Body>, BoxError>) -> Result<Response<Body>, BoxError> {
    match result {
        Err(error) if error.is::<tower::load_shed::error::Overloaded>() => {
            let refusal = Error::ResourceExhausted {
                message: "the server is at capacity; retry shortly".into(),
                retry_after: Duration::from_secs(1),
            };
            Ok(tonic::Status::from(refusal).into_http())
        }
        other => other,
    }
}

/// Reflection over the API, health, and the `google.rpc` error details, so
/// that grpcurl needs no proto files, even to print a BadRequest.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
}
