//! The tower stack through the real server: rate limits, load shedding,
//! deadlines, request ids, message sizes and compression, and reflection
//! that can be switched off (gRPC-Web has its own module).

use std::{num::NonZeroU32, time::Duration};

use newsdesk::{middleware::rate_limit::RateLimitOptions, proto as pb, server::ServerOptions};
use tonic::{Code, Request, codec::CompressionEncoding, metadata::MetadataValue};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};
use tonic_types::StatusExt;

use crate::support::{TestApp, WriteLock, assert_code, draft, test_options};

/// How long a test waits for answers that must come while the database is
/// locked; a liveness guard, not a speed target.
const AT_ONCE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_key_over_its_rate_is_told_when_to_retry_and_other_keys_are_unaffected() {
    let app = TestApp::spawn_with_options(ServerOptions {
        rate_limits: RateLimitOptions {
            per_key_per_second: NonZeroU32::new(5),
            anonymous_writes_per_minute: None,
        },
        ..test_options()
    })
    .await;
    let busy = app.as_token(&app.token(pb::Role::Subscriber, None).await);
    let calm = app.as_token(&app.token(pb::Role::Subscriber, None).await);

    // A burst of five is allowed at once; the next calls, made faster than
    // one per 200 ms, run out of the quota.
    let mut results = Vec::new();
    for _ in 0..30 {
        results.push(
            busy.authors
                .clone()
                .list_authors(pb::ListAuthorsRequest::default())
                .await,
        );
    }
    assert!(
        results[..5].iter().all(Result::is_ok),
        "the burst is served"
    );
    let refusal = results
        .into_iter()
        .find_map(Result::err)
        .expect("a burst beyond the limit is refused");
    assert_eq!(refusal.code(), Code::ResourceExhausted, "{refusal:?}");
    let retry = refusal
        .get_details_retry_info()
        .expect("a google.rpc.RetryInfo");
    let delay = retry.retry_delay.expect("a retry delay");
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_secs(1),
        "{delay:?}"
    );

    calm.authors
        .clone()
        .list_authors(pb::ListAuthorsRequest::default())
        .await
        .expect("another key is not limited by the first");
}

#[tokio::test]
async fn anonymous_writes_are_limited_per_address_and_reads_and_keys_are_not() {
    let app = TestApp::spawn_with_options(ServerOptions {
        rate_limits: RateLimitOptions {
            per_key_per_second: None,
            anonymous_writes_per_minute: NonZeroU32::new(3),
        },
        ..test_options()
    })
    .await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = app.article(draft("خبر", &desk)).await;
    app.articles
        .clone()
        .publish_article(pb::PublishArticleRequest {
            id: article.id.clone(),
            ..Default::default()
        })
        .await
        .expect("publish");
    let comment = |n: usize| pb::CreateCommentRequest {
        comment: Some(pb::Comment {
            article_id: article.id.clone(),
            author_name: "قارئ".into(),
            body: format!("تعليق رقم {n}"),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let reader = app.as_anonymous();
    for n in 0..3 {
        reader
            .comments
            .clone()
            .create_comment(comment(n))
            .await
            .expect("within the limit");
    }
    let refusal = assert_code(
        reader.comments.clone().create_comment(comment(3)).await,
        Code::ResourceExhausted,
    );
    assert!(refusal.get_details_retry_info().is_some(), "{refusal:?}");
    assert_code(
        reader
            .shares
            .clone()
            .record_share(pb::RecordShareRequest {
                article_id: article.id.clone(),
                channel: pb::ShareChannel::X.into(),
                ..Default::default()
            })
            .await,
        Code::ResourceExhausted,
    );

    reader
        .comments
        .clone()
        .list_comments(pb::ListCommentsRequest {
            article_id: article.id.clone(),
            ..Default::default()
        })
        .await
        .expect("reads are not limited");
    app.comments
        .clone()
        .create_comment(comment(4))
        .await
        .expect("a key's writes count against the key, not the address");
}

#[tokio::test]
async fn past_the_concurrency_limit_calls_are_refused_at_once_and_admitted_ones_succeed() {
    let app = TestApp::spawn_with_options(ServerOptions {
        max_concurrent_requests: 4,
        ..test_options()
    })
    .await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    // Every admitted write waits on this lock, so that four calls hold the
    // server's four places while the rest arrive.
    let lock = WriteLock::hold(&app.database).await;

    let (sender, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for n in 0..50 {
        let mut articles = app.articles.clone();
        let article = draft(&format!("خبر رقم {n}"), &desk);
        let sender = sender.clone();
        tokio::spawn(async move {
            let answer = articles
                .create_article(pb::CreateArticleRequest {
                    article: Some(article),
                    request_id: String::new(),
                })
                .await;
            let _ = sender.send(answer);
        });
    }
    drop(sender);

    // The 46 refusals come back while the lock is still held: nothing
    // queued them behind the slow calls.
    let mut refused = 0;
    while refused < 46 {
        let answer = tokio::time::timeout(AT_ONCE, answers.recv())
            .await
            .expect("refusals come back while the admitted calls wait")
            .expect("an answer");
        let status = answer.expect_err("no call finishes while the lock is held");
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.get_details_retry_info().is_some());
        refused += 1;
    }
    lock.release().await;

    let mut admitted = Vec::new();
    while let Some(answer) = answers.recv().await {
        admitted.push(answer.expect("an admitted call succeeds").into_inner());
    }
    assert_eq!(admitted.len(), 4);
    for article in admitted {
        app.get_article(&article.id)
            .await
            .expect("an admitted article was stored");
    }
}

#[tokio::test]
async fn a_request_cut_off_by_its_deadline_leaves_no_write_behind() {
    let app = TestApp::spawn_with_options(ServerOptions {
        request_timeout: Duration::from_secs(1),
        ..test_options()
    })
    .await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let events_before = app.all_events().await.len();
    let lock = WriteLock::hold(&app.database).await;

    // The client's deadline, and (with none) the server's maximum.
    let mut asked = Request::new(pb::CreateArticleRequest {
        article: Some(draft("لن يُحفظ", &desk)),
        request_id: String::new(),
    });
    asked.set_timeout(Duration::from_millis(300));
    let unasked = Request::new(pb::CreateArticleRequest {
        article: Some(draft("ولا هذا", &desk)),
        request_id: String::new(),
    });
    let status = app
        .articles
        .clone()
        .create_article(asked)
        .await
        .expect_err("the client's deadline passes while the write waits");
    assert_cut_off_at_the_clients_deadline(&status);
    let status = app
        .articles
        .clone()
        .create_article(unasked)
        .await
        .expect_err("the server's maximum passes while the write waits");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.metadata().get("x-request-id").is_some(),
        "{status:?}"
    );
    // A change whose event's insert carries no other write.
    let mut author = Request::new(pb::CreateAuthorRequest {
        author: Some(pb::Author {
            display_name: "لن يُضاف".into(),
            kind: pb::AuthorKind::Person.into(),
            ..Default::default()
        }),
        request_id: String::new(),
    });
    author.set_timeout(Duration::from_millis(300));
    let status = app
        .authors
        .clone()
        .create_author(author)
        .await
        .expect_err("the client's deadline passes while the author's write waits");
    assert_cut_off_at_the_clients_deadline(&status);
    // Cut off, the writes hold nothing: none still waits for the lock
    // (generous patience: the database ends their waits at the deadline).
    assert!(
        lock.no_write_waits_within(Duration::from_secs(10)).await,
        "a write cut off at its deadline still waits for the log's lock"
    );
    lock.release().await;

    // The server writes again, and what was cut off is nowhere.
    app.article(draft("يُحفظ", &desk)).await;
    let titles: Vec<String> = app
        .articles
        .clone()
        .list_articles(pb::ListArticlesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .articles
        .into_iter()
        .map(|article| article.title)
        .collect();
    assert_eq!(titles, ["يُحفظ"]);
    assert_eq!(app.all_events().await.len(), events_before + 1);
}

/// A call cut off at the deadline its client set: tonic's client gives up at
/// its own deadline too (CANCELLED), at the same moment the server does.
fn assert_cut_off_at_the_clients_deadline(status: &tonic::Status) {
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
}

#[tokio::test]
async fn every_answer_carries_the_request_id_given_or_made() {
    let app = TestApp::spawn().await;
    let mut request = Request::new(pb::ListAuthorsRequest::default());
    request
        .metadata_mut()
        .insert("x-request-id", MetadataValue::from_static("desk-42"));
    let response = app
        .authors
        .clone()
        .list_authors(request)
        .await
        .expect("list");
    assert_eq!(
        response
            .metadata()
            .get("x-request-id")
            .and_then(|value| value.to_str().ok()),
        Some("desk-42")
    );

    let response = app
        .authors
        .clone()
        .list_authors(pb::ListAuthorsRequest::default())
        .await
        .expect("list");
    let made = response
        .metadata()
        .get("x-request-id")
        .expect("a request id made by the server")
        .to_str()
        .expect("ASCII");
    assert!(uuid::Uuid::parse_str(made).is_ok(), "{made}");

    // An id that is not fit for a log line is replaced, not echoed.
    for unfit in ["two words", &"x".repeat(200)] {
        let mut request = Request::new(pb::ListAuthorsRequest::default());
        request.metadata_mut().insert(
            "x-request-id",
            MetadataValue::try_from(unfit).expect("an ASCII value"),
        );
        let response = app
            .authors
            .clone()
            .list_authors(request)
            .await
            .expect("list");
        let given = response
            .metadata()
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .expect("a request id");
        assert!(uuid::Uuid::parse_str(given).is_ok(), "{given}");
    }

    // Refusals too, including those made before a handler runs.
    let status = assert_code(
        app.as_anonymous()
            .events
            .list_events(pb::ListEventsRequest::default())
            .await,
        Code::Unauthenticated,
    );
    assert!(
        status.metadata().get("x-request-id").is_some(),
        "{status:?}"
    );
}

#[tokio::test]
async fn messages_over_the_size_limit_are_refused_and_compression_works() {
    let app = TestApp::spawn_with_options(ServerOptions {
        max_message_size: 64 * 1024,
        ..test_options()
    })
    .await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let mut large = draft("خبر طويل", &desk);
    large.body = "كلمة ".repeat(20_000);
    let status = assert_code(
        app.articles
            .clone()
            .create_article(pb::CreateArticleRequest {
                article: Some(large.clone()),
                request_id: String::new(),
            })
            .await,
        Code::OutOfRange,
    );
    assert!(status.message().contains("too large"), "{status:?}");

    // Compressed, it is small on the wire, but the limit is on the message:
    // it is refused as it is decompressed (tonic says RESOURCE_EXHAUSTED
    // there). A smaller one goes through compressed both ways.
    let mut compressed = app
        .articles
        .clone()
        .send_compressed(CompressionEncoding::Zstd)
        .accept_compressed(CompressionEncoding::Gzip);
    let status = assert_code(
        compressed
            .create_article(pb::CreateArticleRequest {
                article: Some(large),
                request_id: String::new(),
            })
            .await,
        Code::ResourceExhausted,
    );
    assert!(status.message().contains("size limit"), "{status:?}");
    let mut fits = draft("خبر", &desk);
    fits.body = "كلمة ".repeat(2_000);
    let created = compressed
        .create_article(pb::CreateArticleRequest {
            article: Some(fits.clone()),
            request_id: String::new(),
        })
        .await
        .expect("a compressed request within the limit");
    assert_eq!(
        created
            .metadata()
            .get("grpc-encoding")
            .and_then(|value| value.to_str().ok()),
        Some("gzip"),
        "the answer comes back compressed"
    );
    assert_eq!(created.into_inner().body, fits.body);
}

/// The services reflection lists, or the status it answers with.
async fn reflected_services(app: &TestApp) -> Result<Vec<String>, tonic::Status> {
    let mut reflection = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::once(request))
        .await?
        .into_inner();
    let answer = answers
        .message()
        .await?
        .and_then(|answer| answer.message_response);
    match answer {
        Some(MessageResponse::ListServicesResponse(list)) => Ok(list
            .service
            .into_iter()
            .map(|service| service.name)
            .collect()),
        other => panic!("not a service list: {other:?}"),
    }
}

#[tokio::test]
async fn reflection_is_public_when_on_and_gone_when_off() {
    let app = TestApp::spawn().await;
    let services = reflected_services(&app)
        .await
        .expect("reflection, without a key");
    assert!(
        services.contains(&"newsdesk.v1.ArticleService".to_owned()),
        "{services:?}"
    );

    let closed = TestApp::spawn_with_options(ServerOptions {
        reflection: false,
        ..test_options()
    })
    .await;
    let status = reflected_services(&closed)
        .await
        .expect_err("no reflection");
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
}
