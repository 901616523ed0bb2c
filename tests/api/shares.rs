//! Shares: counted once per client, channel and article in ten minutes;
//! durable when acknowledged, also under a crowd; counts, top lists, and a
//! feed that never names the client.

use futures::future::join_all;
use newsdesk::proto as pb;
use prost::Message;
use prost_types::Timestamp;
use tonic::{Code, Status};

use crate::{
    comments::published,
    support::{FrozenClock, TestApp, assert_code, assert_invalid, draft},
};

async fn share(
    app: &TestApp,
    article_id: &str,
    channel: pb::ShareChannel,
    client_id: &str,
) -> Result<pb::RecordShareResponse, Status> {
    app.shares
        .clone()
        .record_share(pb::RecordShareRequest {
            article_id: article_id.into(),
            channel: channel.into(),
            client_id: client_id.into(),
            referrer: "https://news.example/".into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn stats(app: &TestApp, article_id: &str) -> pb::ShareStats {
    app.shares
        .clone()
        .get_share_stats(pb::GetShareStatsRequest {
            article_id: article_id.into(),
        })
        .await
        .expect("stats")
        .into_inner()
}

#[tokio::test]
async fn a_client_counts_once_per_article_and_channel_in_ten_minutes() {
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z")
        .expect("time")
        .to_utc();
    let clock = FrozenClock::at(start);
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let article = published(&app, "خبر للمشاركة").await;
    let id = article.id.as_str();
    use pb::ShareChannel::{CopyLink, Whatsapp, X};

    assert!(
        share(&app, id, Whatsapp, "browser-1")
            .await
            .expect("1")
            .counted
    );
    assert!(
        !share(&app, id, Whatsapp, "browser-1")
            .await
            .expect("repeat")
            .counted
    );
    assert!(
        share(&app, id, X, "browser-1")
            .await
            .expect("other channel")
            .counted
    );
    assert!(
        share(&app, id, Whatsapp, "browser-2")
            .await
            .expect("other client")
            .counted
    );
    assert!(
        share(&app, id, CopyLink, "")
            .await
            .expect("anonymous")
            .counted
    );
    assert!(
        share(&app, id, CopyLink, "")
            .await
            .expect("anonymous again")
            .counted
    );
    clock.advance(chrono::Duration::minutes(9));
    assert!(
        !share(&app, id, Whatsapp, "browser-1")
            .await
            .expect("still within")
            .counted
    );
    clock.advance(chrono::Duration::minutes(1) + chrono::Duration::seconds(1));
    let later = share(&app, id, Whatsapp, "browser-1")
        .await
        .expect("after the window");
    assert!(later.counted);

    let counts = stats(&app, id).await;
    assert_eq!(counts.total, 6);
    let by_channel: Vec<(pb::ShareChannel, i64)> = counts
        .by_channel
        .iter()
        .map(|count| (count.channel(), count.count))
        .collect();
    assert_eq!(by_channel, [(X, 1), (Whatsapp, 3), (CopyLink, 2)]);
    assert_eq!(
        counts.first_share_time,
        Some(Timestamp {
            seconds: start.timestamp(),
            nanos: 0
        })
    );
    assert_eq!(counts.last_share_time, later.record_time);
}

#[tokio::test]
async fn a_stored_share_found_by_its_key_is_a_repeat_only_if_its_client_is_the_same() {
    use sea_orm::ConnectionTrait as _;

    let app = TestApp::spawn().await;
    let article = published(&app, "خبر للمشاركة").await;
    let id = article.id.as_str();
    assert!(
        share(&app, id, pb::ShareChannel::Whatsapp, "browser-1")
            .await
            .expect("first")
            .counted
    );
    // Two triples may share a repeat key: the stored share now names another
    // client and keeps browser-1's key, as a share of another client whose
    // key were the same would.
    let outside = sea_orm::Database::connect(app.database.url.as_str())
        .await
        .expect("connect beside the server");
    outside
        .execute_unprepared(&format!(
            "UPDATE shares SET client_hash = 'another client' WHERE article_id = '{id}'"
        ))
        .await
        .expect("rename the share's client outside the server");
    assert!(
        share(&app, id, pb::ShareChannel::Whatsapp, "browser-1")
            .await
            .expect("same key, another client")
            .counted
    );
    assert!(
        !share(&app, id, pb::ShareChannel::Whatsapp, "browser-1")
            .await
            .expect("a repeat")
            .counted
    );
}

#[tokio::test]
async fn only_published_articles_are_shared_and_bad_shares_name_their_field() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let unpublished = app.article(draft("مسودة", &desk)).await;
    assert_code(
        share(&app, &unpublished.id, pb::ShareChannel::X, "").await,
        Code::FailedPrecondition,
    );
    assert_code(
        share(
            &app,
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            pb::ShareChannel::X,
            "",
        )
        .await,
        Code::NotFound,
    );
    let article = published(&app, "خبر").await;
    for (field, request) in [
        (
            "channel",
            pb::RecordShareRequest {
                article_id: article.id.clone(),
                channel: 0,
                ..Default::default()
            },
        ),
        (
            "channel",
            pb::RecordShareRequest {
                article_id: article.id.clone(),
                channel: 99,
                ..Default::default()
            },
        ),
        (
            "article_id",
            pb::RecordShareRequest {
                article_id: "x".into(),
                channel: 1,
                ..Default::default()
            },
        ),
        (
            "client_id",
            pb::RecordShareRequest {
                article_id: article.id.clone(),
                channel: 1,
                client_id: "c".repeat(201),
                ..Default::default()
            },
        ),
        (
            "referrer",
            pb::RecordShareRequest {
                article_id: article.id.clone(),
                channel: 1,
                referrer: "a\nb".into(),
                ..Default::default()
            },
        ),
    ] {
        let status = app
            .shares
            .clone()
            .record_share(request)
            .await
            .expect_err(field);
        assert_invalid(&status, field);
    }
    assert_eq!(
        stats(&app, &article.id).await.total,
        0,
        "nothing was recorded"
    );
    assert_code(
        app.shares
            .clone()
            .get_share_stats(pb::GetShareStatsRequest {
                article_id: unpublished.id.clone(),
            })
            .await,
        Code::NotFound,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_share_of_a_crowd_is_committed_and_announced_without_its_client() {
    let app = TestApp::spawn().await;
    let article = published(&app, "خبر ينتشر").await;
    let crowd = 500;
    let shares = (0..crowd).map(|i| {
        let mut client = app.shares.clone();
        let article_id = article.id.clone();
        tokio::spawn(async move {
            client
                .record_share(pb::RecordShareRequest {
                    article_id,
                    channel: pb::ShareChannel::Telegram.into(),
                    client_id: format!("secret-client-{i}"),
                    referrer: String::new(),
                })
                .await
                .map(tonic::Response::into_inner)
        })
    });
    let acknowledged = join_all(shares)
        .await
        .into_iter()
        .map(|joined| joined.expect("task").expect("share"))
        .filter(|response| response.counted)
        .count();
    assert_eq!(acknowledged, crowd);
    assert_eq!(stats(&app, &article.id).await.total, crowd as i64);

    let events = app.events_paged(&["share.recorded"]).await;
    assert_eq!(events.len(), crowd);
    match &events[0].payload {
        Some(pb::event::Payload::Share(share)) => {
            assert_eq!(share.article_id, article.id);
            assert_eq!(share.channel(), pb::ShareChannel::Telegram);
            assert!(share.counted);
        }
        other => panic!("share.recorded carries a ShareEvent, not {other:?}"),
    }
    let bytes: Vec<u8> = events.iter().flat_map(Message::encode_to_vec).collect();
    assert!(
        !bytes
            .windows(b"secret-client".len())
            .any(|w| w == b"secret-client"),
        "a client id leaked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crowd_mixing_anonymous_readers_and_repeating_clients_counts_each_client_once() {
    let app = TestApp::spawn().await;
    let mut articles = Vec::new();
    for title in ["خبر أول", "خبر ثان", "خبر ثالث"] {
        articles.push(published(&app, title).await.id);
    }
    use pb::ShareChannel::{Whatsapp, X};
    // Batches mix shares with and without a client, repeats of a client
    // inside one batch, and several totals' rows.
    let crowd: Vec<(String, pb::ShareChannel, String)> = (0..400)
        .map(|i| {
            let article = articles[i % 3].clone();
            let channel = if (i / 3) % 2 == 0 { Whatsapp } else { X };
            let client = if i % 5 == 0 {
                String::new()
            } else {
                format!("reader-{}", i % 40)
            };
            (article, channel, client)
        })
        .collect();
    let answers = join_all(
        crowd
            .iter()
            .cloned()
            .map(|(article_id, channel, client_id)| {
                let mut client = app.shares.clone();
                tokio::spawn(async move {
                    client
                        .record_share(pb::RecordShareRequest {
                            article_id,
                            channel: channel.into(),
                            client_id,
                            referrer: String::new(),
                        })
                        .await
                        .map(tonic::Response::into_inner)
                })
            }),
    )
    .await;
    let mut counted_answers = 0;
    for answer in answers {
        if answer.expect("task").expect("share").counted {
            counted_answers += 1;
        }
    }

    let mut expected_total = 0;
    for article in &articles {
        let mut by_channel = Vec::new();
        for channel in [X, Whatsapp] {
            let shares: Vec<&str> = crowd
                .iter()
                .filter(|(a, c, _)| a == article && *c == channel)
                .map(|(_, _, client)| client.as_str())
                .collect();
            let anonymous = shares.iter().filter(|client| client.is_empty()).count();
            let clients: std::collections::HashSet<&str> = shares
                .iter()
                .copied()
                .filter(|client| !client.is_empty())
                .collect();
            assert!(anonymous > 0 && clients.len() < shares.len() - anonymous);
            by_channel.push((channel, (anonymous + clients.len()) as i64));
        }
        let counts = stats(&app, article).await;
        let stored: Vec<(pb::ShareChannel, i64)> = counts
            .by_channel
            .iter()
            .map(|count| (count.channel(), count.count))
            .collect();
        assert_eq!(stored, by_channel, "article {article}");
        expected_total += counts.total;
    }
    assert_eq!(counted_answers, expected_total);

    let events = app.events_paged(&["share.recorded"]).await;
    let mut counted_events = 0;
    for event in &events {
        match &event.payload {
            Some(pb::event::Payload::Share(share)) => {
                assert!(articles.contains(&share.article_id));
                counted_events += i64::from(share.counted);
            }
            other => panic!("share.recorded carries a ShareEvent, not {other:?}"),
        }
    }
    assert_eq!(events.len(), crowd.len());
    assert_eq!(counted_events, expected_total);
}

#[tokio::test]
async fn the_top_shared_list_ranks_published_articles_in_a_window() {
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
        .expect("time")
        .to_utc();
    let clock = FrozenClock::at(start);
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let old = published(&app, "خبر قديم").await;
    for _ in 0..5 {
        share(&app, &old.id, pb::ShareChannel::Facebook, "")
            .await
            .expect("share");
    }
    clock.advance(chrono::Duration::hours(2));
    let since = Timestamp {
        seconds: (start + chrono::Duration::hours(1)).timestamp(),
        nanos: 0,
    };
    let a = published(&app, "خبر أ").await;
    let b = published(&app, "خبر ب").await;
    for _ in 0..3 {
        share(&app, &b.id, pb::ShareChannel::X, "")
            .await
            .expect("share");
    }
    share(&app, &a.id, pb::ShareChannel::X, "")
        .await
        .expect("share");
    share(&app, &old.id, pb::ShareChannel::X, "")
        .await
        .expect("share");
    share(&app, &a.id, pb::ShareChannel::X, "")
        .await
        .expect("share");

    let top = app
        .shares
        .clone()
        .list_top_shared(pb::ListTopSharedRequest {
            since: Some(since),
            ..Default::default()
        })
        .await
        .expect("top")
        .into_inner()
        .articles;
    let ranked: Vec<(String, i64)> = top
        .iter()
        .map(|entry| {
            (
                entry
                    .article
                    .as_ref()
                    .map(|a| a.id.clone())
                    .unwrap_or_default(),
                entry.shares,
            )
        })
        .collect();
    assert_eq!(
        ranked,
        [(b.id.clone(), 3), (a.id.clone(), 2), (old.id.clone(), 1)]
    );

    app.articles
        .clone()
        .unpublish_article(pb::UnpublishArticleRequest {
            id: b.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("unpublish");
    let top = app
        .shares
        .clone()
        .list_top_shared(pb::ListTopSharedRequest {
            since: Some(since),
            limit: 1,
            language: "ar".into(),
            ..Default::default()
        })
        .await
        .expect("top")
        .into_inner()
        .articles;
    assert_eq!(top.len(), 1);
    assert_eq!(
        top[0].article.as_ref().map(|a| a.id.as_str()),
        Some(a.id.as_str()),
        "withdrawn stories leave the list"
    );

    let status = app
        .shares
        .clone()
        .list_top_shared(pb::ListTopSharedRequest::default())
        .await
        .expect_err("since is required");
    assert_invalid(&status, "since");
}

#[tokio::test]
async fn a_repeat_through_another_server_does_not_count_and_sections_filter_the_top_list() {
    let a = TestApp::spawn().await;
    let b = a.another_server_in_real_time().await;
    let article = published(&a, "خبر على خادمين").await;
    assert!(
        share(&a, &article.id, pb::ShareChannel::Email, "browser-7")
            .await
            .expect("first")
            .counted
    );
    assert!(
        !share(&b, &article.id, pb::ShareChannel::Email, "browser-7")
            .await
            .expect("repeat")
            .counted
    );
    assert_eq!(stats(&b, &article.id).await.total, 1);

    let sport = {
        let desk = a.author("قسم الرياضة", pb::AuthorKind::Desk).await;
        let draft = a
            .article(pb::Article {
                section: "رياضة".into(),
                ..crate::support::draft("مباراة", &desk)
            })
            .await;
        a.articles
            .clone()
            .publish_article(pb::PublishArticleRequest {
                id: draft.id.clone(),
                etag: String::new(),
                publish_time: None,
            })
            .await
            .expect("publish")
            .into_inner()
    };
    share(&a, &sport.id, pb::ShareChannel::X, "")
        .await
        .expect("share");
    let since = Timestamp {
        seconds: 0,
        nanos: 0,
    };
    let top = a
        .shares
        .clone()
        .list_top_shared(pb::ListTopSharedRequest {
            since: Some(since),
            section: "رياضة".into(),
            ..Default::default()
        })
        .await
        .expect("top in a section")
        .into_inner()
        .articles;
    let ids: Vec<&str> = top
        .iter()
        .filter_map(|entry| entry.article.as_ref().map(|a| a.id.as_str()))
        .collect();
    assert_eq!(ids, [sport.id.as_str()]);
}
