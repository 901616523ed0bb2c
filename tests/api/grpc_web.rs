//! gRPC-Web through the real server, over HTTP/1.1 as a browser sends it: a
//! page on an allowed origin reads the published view and comments; a page
//! on another origin gets nothing.

use std::net::SocketAddr;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use newsdesk::{proto as pb, server::ServerOptions};
use prost::Message;
use tokio::net::TcpStream;

use crate::support::{TestApp, draft, test_options};

const ALLOWED_ORIGIN: &str = "https://news.example";

/// One HTTP/1.1 request, as a browser sends it, and the whole answer.
async fn http1(
    address: SocketAddr,
    request: http::Request<Full<Bytes>>,
) -> (http::response::Parts, Bytes) {
    let stream = TcpStream::connect(address).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    let response = sender.send_request(request).await.expect("an answer");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("the body").to_bytes();
    (parts, body)
}

/// A gRPC-Web call from a page on `origin`.
fn grpc_web_request(
    address: SocketAddr,
    path: &str,
    origin: &str,
    message: &impl Message,
) -> http::Request<Full<Bytes>> {
    let encoded = message.encode_to_vec();
    let mut frame = BytesMut::new();
    frame.put_u8(0);
    frame.put_u32(u32::try_from(encoded.len()).expect("a small message"));
    frame.put_slice(&encoded);
    http::Request::post(format!("http://{address}{path}"))
        .header(http::header::HOST, address.to_string())
        .header(http::header::ORIGIN, origin)
        .header(http::header::CONTENT_TYPE, "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(Full::new(frame.freeze()))
        .expect("a request")
}

/// A gRPC-Web answer's message (if any) and trailers.
fn grpc_web_frames(mut body: Bytes) -> (Option<Bytes>, String) {
    let mut message = None;
    let mut trailers = String::new();
    while body.remaining() >= 5 {
        let flag = body.get_u8();
        let length = body.get_u32() as usize;
        let frame = body.split_to(length);
        if flag & 0x80 == 0 {
            message = Some(frame);
        } else {
            trailers = String::from_utf8_lossy(&frame).into_owned();
        }
    }
    (message, trailers)
}

#[tokio::test]
async fn a_browser_page_on_an_allowed_origin_reads_and_comments_over_grpc_web() {
    let app = TestApp::spawn_with_options(ServerOptions {
        cors_origins: vec![http::HeaderValue::from_static(ALLOWED_ORIGIN)],
        ..test_options()
    })
    .await;
    let address = app.address;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = app.article(draft("خبر للقراء", &desk)).await;
    app.articles
        .clone()
        .publish_article(pb::PublishArticleRequest {
            id: article.id.clone(),
            ..Default::default()
        })
        .await
        .expect("publish");

    // The preflight a browser sends before its first call.
    let preflight = http::Request::options(format!("http://{address}/"))
        .header(http::header::HOST, address.to_string())
        .header(http::header::ORIGIN, ALLOWED_ORIGIN)
        .header(http::header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            http::header::ACCESS_CONTROL_REQUEST_HEADERS,
            "content-type,x-grpc-web",
        )
        .body(Full::new(Bytes::new()))
        .expect("a preflight");
    let (parts, _) = http1(address, preflight).await;
    assert_eq!(
        parts.headers.get(http::header::ACCESS_CONTROL_ALLOW_ORIGIN),
        Some(&http::HeaderValue::from_static(ALLOWED_ORIGIN))
    );

    let read = grpc_web_request(
        address,
        "/newsdesk.v1.ArticleService/GetArticle",
        ALLOWED_ORIGIN,
        &pb::GetArticleRequest {
            id: article.id.clone(),
            view: pb::ArticleView::Published.into(),
            ..Default::default()
        },
    );
    let (parts, body) = http1(address, read).await;
    assert_eq!(parts.status, http::StatusCode::OK);
    assert_eq!(
        parts.headers.get(http::header::ACCESS_CONTROL_ALLOW_ORIGIN),
        Some(&http::HeaderValue::from_static(ALLOWED_ORIGIN))
    );
    let (message, trailers) = grpc_web_frames(body);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    let read = pb::Article::decode(message.expect("the article")).expect("an article");
    assert_eq!(read.title, "خبر للقراء");

    let post = grpc_web_request(
        address,
        "/newsdesk.v1.CommentService/CreateComment",
        ALLOWED_ORIGIN,
        &pb::CreateCommentRequest {
            comment: Some(pb::Comment {
                article_id: article.id.clone(),
                author_name: "قارئة".into(),
                body: "شكرًا على الخبر".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        },
    );
    let (_, body) = http1(address, post).await;
    let (message, trailers) = grpc_web_frames(body);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    let comment = pb::Comment::decode(message.expect("the comment")).expect("a comment");
    assert_eq!(comment.body, "شكرًا على الخبر");
}

#[tokio::test]
async fn a_page_on_another_origin_is_refused() {
    let app = TestApp::spawn_with_options(ServerOptions {
        cors_origins: vec![http::HeaderValue::from_static(ALLOWED_ORIGIN)],
        ..test_options()
    })
    .await;
    let address = app.address;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let evil = "https://evil.example";

    let preflight = http::Request::options(format!("http://{address}/"))
        .header(http::header::HOST, address.to_string())
        .header(http::header::ORIGIN, evil)
        .header(http::header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .body(Full::new(Bytes::new()))
        .expect("a preflight");
    let (parts, _) = http1(address, preflight).await;
    assert!(
        parts
            .headers
            .get(http::header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none(),
        "{parts:?}"
    );

    let read = grpc_web_request(
        address,
        "/newsdesk.v1.AuthorService/GetAuthor",
        evil,
        &pb::GetAuthorRequest {
            id: desk.id.clone(),
            ..Default::default()
        },
    );
    let (parts, body) = http1(address, read).await;
    assert!(
        parts
            .headers
            .get(http::header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    assert_eq!(
        parts
            .headers
            .get("grpc-status")
            .map(|value| value.as_bytes()),
        Some(&b"7"[..]),
        "PERMISSION_DENIED: {parts:?}"
    );
    let (message, _) = grpc_web_frames(body);
    assert!(message.is_none(), "nothing is served to another origin");
}
