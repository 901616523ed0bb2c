//! API keys through the real server: made once with their token, listed
//! without it, revoked with immediate effect; every token that is not a live
//! key refused; and every change recording the key that made it.

use newsdesk::proto as pb;
use prost::Message;
use sha2::{Digest, Sha256};
use tonic::Code;

use crate::support::{Clients, TestApp, assert_code, assert_invalid, draft};

/// The calls a token is tried on: one that needs a key, and one that
/// anonymous readers may make (a bad token is refused there too, rather than
/// quietly treated as no token).
async fn refused_everywhere(clients: &Clients, what: &str) {
    let needs_key = clients
        .events
        .clone()
        .list_events(pb::ListEventsRequest::default())
        .await;
    assert_eq!(
        needs_key.as_ref().map_err(|status| status.code()).err(),
        Some(Code::Unauthenticated),
        "{what} on ListEvents: {needs_key:?}"
    );
    let public = clients
        .authors
        .clone()
        .list_authors(pb::ListAuthorsRequest::default())
        .await;
    assert_eq!(
        public.as_ref().map_err(|status| status.code()).err(),
        Some(Code::Unauthenticated),
        "{what} on ListAuthors: {public:?}"
    );
}

#[tokio::test]
async fn every_token_that_is_not_a_live_key_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let subscriber = app.token(pb::Role::Subscriber, None).await;
    let revoked = app.key(pb::Role::Subscriber, None).await;
    app.keys
        .clone()
        .revoke_api_key(pb::RevokeApiKeyRequest {
            id: revoked.key.expect("key").id,
        })
        .await
        .expect("revoke");

    // The live key works, so that the refusals below are about the tokens.
    app.as_token(&subscriber)
        .events
        .list_events(pb::ListEventsRequest::default())
        .await
        .expect("a live subscriber key reads the feed");

    let random = subscriber.strip_prefix("nd_").expect("the nd_ prefix");
    let hash_hex: String = Sha256::digest(subscriber.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let mut altered = subscriber.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("ASCII");
    let headers = [
        ("an empty header".to_owned(), String::new()),
        ("a scheme without a token".to_owned(), "Bearer".to_owned()),
        ("another scheme".to_owned(), format!("Basic {subscriber}")),
        ("a bare token".to_owned(), subscriber.clone()),
        ("a wrong prefix".to_owned(), format!("Bearer xx_{random}")),
        ("no prefix".to_owned(), format!("Bearer {random}")),
        (
            "a truncated token".to_owned(),
            format!("Bearer {}", &subscriber[..subscriber.len() - 1]),
        ),
        (
            "a token one character longer".to_owned(),
            format!("Bearer {subscriber}A"),
        ),
        (
            "one character changed".to_owned(),
            format!("Bearer {altered}"),
        ),
        (
            "a revoked key".to_owned(),
            format!("Bearer {}", revoked.token),
        ),
        (
            "the key's stored hash".to_owned(),
            format!("Bearer {hash_hex}"),
        ),
        (
            "the key's stored hash with the prefix".to_owned(),
            format!("Bearer nd_{hash_hex}"),
        ),
        (
            "a made-up token of the right shape".to_owned(),
            format!("Bearer nd_{}", "A".repeat(random.len())),
        ),
    ];
    for (what, header) in headers {
        refused_everywhere(
            &Clients::with_authorization(&app.channel, Some(&header)),
            &what,
        )
        .await;
    }
}

#[tokio::test]
async fn a_key_is_shown_once_listed_without_its_token_and_revoked_at_once() {
    let app = TestApp::spawn().await;
    let writer_author = app.author("كاتب", pb::AuthorKind::Person).await;
    let created = app
        .keys
        .clone()
        .create_api_key(pb::CreateApiKeyRequest {
            name: "  مكتب الأخبار  ".into(),
            role: pb::Role::Writer.into(),
            author_id: writer_author.id.clone(),
        })
        .await
        .expect("create a writer key")
        .into_inner();
    let key = created.key.expect("the key's metadata");
    assert!(created.token.starts_with("nd_"), "{}", created.token);
    assert_eq!(key.name, "مكتب الأخبار");
    assert_eq!(key.role(), pb::Role::Writer);
    assert_eq!(key.author_id, writer_author.id);
    assert!(key.creator.starts_with("keys/"), "{}", key.creator);
    assert!(key.create_time.is_some() && key.revoke_time.is_none());

    let listed = app
        .keys
        .clone()
        .list_api_keys(pb::ListApiKeysRequest::default())
        .await
        .expect("list keys")
        .into_inner();
    assert!(listed.keys.iter().any(|listed| listed.id == key.id));
    let wire = String::from_utf8_lossy(&listed.encode_to_vec()).into_owned();
    assert!(
        !wire.contains(&created.token) && !wire.contains(&created.token[3..]),
        "a listing carries a token"
    );

    let writer = app.as_token(&created.token);
    writer
        .articles
        .clone()
        .create_article(pb::CreateArticleRequest {
            article: Some(draft("قبل الإلغاء", &writer_author)),
            request_id: String::new(),
        })
        .await
        .expect("the writer's key works before it is revoked");
    let revoked = app
        .keys
        .clone()
        .revoke_api_key(pb::RevokeApiKeyRequest { id: key.id.clone() })
        .await
        .expect("revoke")
        .into_inner()
        .key
        .expect("the revoked key");
    assert!(revoked.revoke_time.is_some());
    let status = assert_code(
        writer
            .articles
            .clone()
            .create_article(pb::CreateArticleRequest {
                article: Some(draft("بعد الإلغاء", &writer_author)),
                request_id: String::new(),
            })
            .await,
        Code::Unauthenticated,
    );
    assert!(!status.message().contains(&created.token));

    // Revoking again changes nothing; an unknown key does not exist.
    let again = app
        .keys
        .clone()
        .revoke_api_key(pb::RevokeApiKeyRequest { id: key.id.clone() })
        .await
        .expect("revoke again")
        .into_inner()
        .key
        .expect("the key");
    assert_eq!(again.revoke_time, revoked.revoke_time);
    assert_code(
        app.keys
            .clone()
            .revoke_api_key(pb::RevokeApiKeyRequest {
                id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
            })
            .await,
        Code::NotFound,
    );
}

/// A server trusts a key it looked up for a moment (a query per call
/// otherwise); one revoked through another server stops working there soon
/// after, not never.
#[tokio::test]
async fn a_key_revoked_through_another_server_stops_working_there_too() {
    let a = TestApp::spawn().await;
    let b = a.another_server_in_real_time().await;
    let created = a.key(pb::Role::Subscriber, None).await;
    let (token, key_id) = (created.token, created.key.expect("the key").id);
    let on_b = b.as_token(&token);
    let list = || async {
        on_b.events
            .clone()
            .list_events(pb::ListEventsRequest::default())
            .await
    };
    list().await.expect("the key works on the other server");
    a.keys
        .clone()
        .revoke_api_key(pb::RevokeApiKeyRequest { id: key_id })
        .await
        .expect("revoke");
    refused_everywhere(&a.as_token(&token), "a key revoked here").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match list().await {
            Err(status) if status.code() == Code::Unauthenticated => break,
            Ok(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => panic!("the revoked key still answers on the other server: {other:?}"),
        }
    }
    refused_everywhere(&on_b, "a key revoked through another server").await;
}

#[tokio::test]
async fn a_key_request_that_does_not_make_sense_names_the_field() {
    let app = TestApp::spawn().await;
    let author = app.author("كاتب", pb::AuthorKind::Person).await;
    let mut keys = app.keys.clone();
    let mut create = async |name: &str, role: pb::Role, author_id: &str| {
        keys.create_api_key(pb::CreateApiKeyRequest {
            name: name.into(),
            role: role.into(),
            author_id: author_id.into(),
        })
        .await
    };
    let cases = [
        ("", pb::Role::Editor, "", "name"),
        ("k", pb::Role::Unspecified, "", "role"),
        ("k", pb::Role::Writer, "", "author_id"),
        ("k", pb::Role::Editor, author.id.as_str(), "author_id"),
        ("k", pb::Role::Writer, "not-an-id", "author_id"),
        (
            "k",
            pb::Role::Writer,
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "author_id",
        ),
    ];
    for (name, role, author_id, field) in cases {
        let status = create(name, role, author_id)
            .await
            .expect_err("an invalid key request");
        assert_invalid(&status, field);
    }
    let status = app
        .keys
        .clone()
        .create_api_key(pb::CreateApiKeyRequest {
            name: "k".into(),
            role: 42,
            author_id: String::new(),
        })
        .await
        .expect_err("an unknown role");
    assert_invalid(&status, "role");
}

#[tokio::test]
async fn revisions_events_and_moderation_record_the_key_that_made_them() {
    let app = TestApp::spawn().await;
    let author = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let editor_key = app
        .keys
        .clone()
        .create_api_key(pb::CreateApiKeyRequest {
            name: "desk editor".into(),
            role: pb::Role::Editor.into(),
            author_id: String::new(),
        })
        .await
        .expect("create key")
        .into_inner();
    let editor_actor = format!("keys/{}", editor_key.key.expect("key").id);
    let editor = app.as_token(&editor_key.token);

    let article = editor
        .articles
        .clone()
        .create_article(pb::CreateArticleRequest {
            article: Some(draft("خبر", &author)),
            request_id: String::new(),
        })
        .await
        .expect("create")
        .into_inner();
    editor
        .articles
        .clone()
        .publish_article(pb::PublishArticleRequest {
            id: article.id.clone(),
            ..Default::default()
        })
        .await
        .expect("publish");
    let comment = app
        .as_anonymous()
        .comments
        .create_comment(pb::CreateCommentRequest {
            comment: Some(pb::Comment {
                article_id: article.id.clone(),
                author_name: "قارئ".into(),
                body: "تعليق".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("an anonymous comment")
        .into_inner();
    let moderated = editor
        .comments
        .clone()
        .moderate_comment(pb::ModerateCommentRequest {
            id: comment.id.clone(),
            decision: pb::ModerationDecision::Reject.into(),
            reason: "خارج الموضوع".into(),
            etag: String::new(),
        })
        .await
        .expect("moderate")
        .into_inner();
    assert_eq!(moderated.moderator, editor_actor);

    let revisions = app
        .articles
        .clone()
        .list_article_revisions(pb::ListArticleRevisionsRequest {
            article_id: article.id.clone(),
            ..Default::default()
        })
        .await
        .expect("revisions")
        .into_inner()
        .revisions;
    assert!(!revisions.is_empty());
    for revision in &revisions {
        assert_eq!(
            revision.actor, editor_actor,
            "revision {}",
            revision.revision
        );
    }

    let events = app
        .events
        .clone()
        .list_events(pb::ListEventsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("events")
        .into_inner()
        .events;
    let actor_of = |event_type: &str| -> Vec<String> {
        events
            .iter()
            .filter(|event| event.r#type == event_type)
            .map(|event| event.actor.clone())
            .collect()
    };
    assert_eq!(
        actor_of("author.created"),
        [format!("keys/{}", admin_key_id(&app).await)]
    );
    assert_eq!(actor_of("article.created"), [editor_actor.as_str()]);
    assert_eq!(actor_of("article.published"), [editor_actor.as_str()]);
    assert_eq!(actor_of("comment.created"), ["anonymous"]);
    assert_eq!(actor_of("comment.moderated"), [editor_actor.as_str()]);
}

/// The id of the key the test app's own clients carry.
async fn admin_key_id(app: &TestApp) -> String {
    app.keys
        .clone()
        .list_api_keys(pb::ListApiKeysRequest::default())
        .await
        .expect("list keys")
        .into_inner()
        .keys
        .into_iter()
        .find(|key| key.name == "test admin")
        .expect("the test admin key")
        .id
}

#[tokio::test]
async fn revoking_a_key_ends_the_change_feed_streams_it_opened() {
    let app = TestApp::spawn().await;
    let created = app
        .keys
        .clone()
        .create_api_key(pb::CreateApiKeyRequest {
            name: "indexer".into(),
            role: pb::Role::Subscriber.into(),
            author_id: String::new(),
        })
        .await
        .expect("create key")
        .into_inner();
    let mut stream = app
        .as_token(&created.token)
        .events
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .expect("watch")
        .into_inner();
    // The stream is live: it carries the next change.
    let author = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let delivered = loop {
        let item = stream
            .message()
            .await
            .expect("the stream works")
            .expect("the stream is open");
        if let Some(pb::watch_events_response::Kind::Event(event)) = item.kind {
            break event;
        }
    };
    assert_eq!(delivered.author_id, author.id);

    app.keys
        .clone()
        .revoke_api_key(pb::RevokeApiKeyRequest {
            id: created.key.expect("key").id,
        })
        .await
        .expect("revoke");
    let ended = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the stream ends once its key is revoked");
    let status = ended.expect_err("the stream ends with a status");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}
