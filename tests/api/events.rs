//! The event log: one event per change, written with the change or not at
//! all, and a feed that readers page through without missing an event while
//! writers commit concurrently, in any order.

use std::collections::HashSet;

use futures::future::join_all;
use newsdesk::proto as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::support::{FrozenClock, TestApp, assert_code, assert_invalid, draft};

async fn events_after(app: &TestApp, after_sequence: i64, types: &[&str]) -> Vec<pb::Event> {
    app.events
        .clone()
        .list_events(pb::ListEventsRequest {
            after_sequence,
            page_size: 100,
            types: types.iter().map(|t| t.to_string()).collect(),
        })
        .await
        .expect("list events")
        .into_inner()
        .events
}

#[tokio::test]
async fn every_change_writes_one_event_carrying_the_resource_after_it() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let stray = app.author("مؤلف عابر", pb::AuthorKind::Person).await;
    let mut authors = app.authors.clone();
    authors
        .update_author(pb::UpdateAuthorRequest {
            author: Some(pb::Author {
                id: stray.id.clone(),
                bio: "سيرة".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["bio".into()],
            }),
        })
        .await
        .expect("update author");
    authors
        .delete_author(pb::DeleteAuthorRequest {
            id: stray.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("delete author");
    let article = app.article(draft("خبر", &desk)).await;
    let mut articles = app.articles.clone();
    articles
        .publish_article(pb::PublishArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
            publish_time: None,
        })
        .await
        .expect("publish");
    articles
        .archive_article(pb::ArchiveArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("archive");
    articles
        .delete_article(pb::DeleteArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("delete");
    articles
        .undelete_article(pb::UndeleteArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("undelete");

    let events = events_after(&app, 0, &[]).await;
    let types: Vec<&str> = events.iter().map(|event| event.r#type.as_str()).collect();
    assert_eq!(
        types,
        [
            "author.created",
            "author.created",
            "author.updated",
            "author.deleted",
            "article.created",
            "article.published",
            "article.archived",
            "article.deleted",
            "article.undeleted",
        ]
    );
    assert!(
        events
            .windows(2)
            .all(|pair| pair[0].sequence < pair[1].sequence)
    );
    match &events[3].payload {
        Some(pb::event::Payload::Author(author)) => {
            assert_eq!(author.id, stray.id);
            assert_eq!(
                author.bio, "سيرة",
                "a deletion carries the author as it was last"
            );
        }
        other => panic!("author.deleted carries the author, not {other:?}"),
    }
    assert_eq!(events[3].author_id, stray.id);
    match &events[5].payload {
        Some(pb::event::Payload::Article(published)) => {
            assert_eq!(published.id, article.id);
            assert_eq!(published.status(), pb::ArticleStatus::Published);
            assert_eq!(published.body, article.body);
        }
        other => panic!("article.published carries the article, not {other:?}"),
    }
    assert_eq!(events[5].article_id, article.id);

    let only_published = events_after(&app, 0, &["article.published"]).await;
    assert_eq!(only_published.len(), 1);
    assert_eq!(only_published[0].sequence, events[5].sequence);
    assert!(events_after(&app, events[8].sequence, &[]).await.is_empty());
}

#[tokio::test]
async fn a_change_whose_transaction_fails_leaves_no_event() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let taken = app.article(draft("خبر", &desk)).await;
    let before = events_after(&app, 0, &[]).await;

    // The request id is claimed inside the transaction, then the slug clash
    // rolls everything back: no article, no event, no claim.
    let request_id = "5c0e9f0a-8f4b-4b8e-9a3c-1d2e3f4a5b6c";
    let clash = app
        .articles
        .clone()
        .create_article(pb::CreateArticleRequest {
            article: Some(pb::Article {
                slug: taken.slug.clone(),
                ..draft("آخر", &desk)
            }),
            request_id: request_id.into(),
        })
        .await;
    assert_code(clash, Code::AlreadyExists);
    // Refused inside its transaction: still credited.
    assert_code(
        app.authors
            .clone()
            .delete_author(pb::DeleteAuthorRequest {
                id: desk.id.clone(),
                etag: String::new(),
            })
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(events_after(&app, 0, &[]).await, before);

    let retried = app
        .articles
        .clone()
        .create_article(pb::CreateArticleRequest {
            article: Some(draft("آخر", &desk)),
            request_id: request_id.into(),
        })
        .await
        .expect("the request id is free again")
        .into_inner();
    assert_ne!(retried.id, taken.id);
    assert_eq!(events_after(&app, 0, &[]).await.len(), before.len() + 1);
}

const WRITERS: usize = 8;
const CHANGES_PER_WRITER: usize = 250;
const SHARERS: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_paging_during_8_writers_and_2_sharers_sees_every_event_once_in_order() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let shared = crate::comments::published(&app, "خبر يتناقله القراء").await;
    let setup_events = events_after(&app, 0, &[]).await.len();

    // Each writer creates an article and then edits it: 250 changes apiece;
    // beside them readers share a story 250 times apiece (on PostgreSQL
    // writes commit side by side, batches of shares among them: the reader
    // must see every kind in one order).
    let sharers = (0..SHARERS).map(|sharer| {
        let mut shares = app.shares.clone();
        let article_id = shared.id.clone();
        tokio::spawn(async move {
            for share in 0..CHANGES_PER_WRITER {
                shares
                    .record_share(pb::RecordShareRequest {
                        article_id: article_id.clone(),
                        channel: pb::ShareChannel::Whatsapp.into(),
                        client_id: format!("قارئ-{sharer}-{share}"),
                        referrer: String::new(),
                    })
                    .await
                    .expect("share");
            }
        })
    });
    let writers = (0..WRITERS).map(|writer| {
        let mut articles = app.articles.clone();
        let desk = desk.clone();
        tokio::spawn(async move {
            let article = articles
                .create_article(pb::CreateArticleRequest {
                    article: Some(draft(&format!("خبر الكاتب {writer}"), &desk)),
                    request_id: String::new(),
                })
                .await
                .expect("create")
                .into_inner();
            for change in 1..CHANGES_PER_WRITER {
                articles
                    .update_article(pb::UpdateArticleRequest {
                        article: Some(pb::Article {
                            id: article.id.clone(),
                            subtitle: format!("التعديل {change}"),
                            ..Default::default()
                        }),
                        update_mask: Some(FieldMask {
                            paths: vec!["subtitle".into()],
                        }),
                    })
                    .await
                    .expect("update");
            }
        })
    });
    let expected = setup_events + (WRITERS + SHARERS) * CHANGES_PER_WRITER;

    let reader = {
        let mut events = app.events.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut after_sequence = 0;
            while seen.len() < expected {
                let page = events
                    .list_events(pb::ListEventsRequest {
                        after_sequence,
                        page_size: 100,
                        types: vec![],
                    })
                    .await
                    .expect("list events")
                    .into_inner()
                    .events;
                if let Some(last) = page.last() {
                    after_sequence = last.sequence;
                }
                seen.extend(page.into_iter().map(|event| event.sequence));
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    let (writers, sharers) = futures::join!(join_all(writers), join_all(sharers));
    for task in writers.into_iter().chain(sharers) {
        task.expect("writer task");
    }
    let seen = tokio::time::timeout(std::time::Duration::from_secs(60), reader)
        .await
        .expect("the reader catches up")
        .expect("reader task");

    assert_eq!(seen.len(), expected, "every change has exactly one event");
    assert!(
        seen.windows(2).all(|pair| pair[0] < pair[1]),
        "strictly increasing, no repeats"
    );
    let everything: Vec<i64> = {
        let mut all = Vec::new();
        let mut after_sequence = 0;
        loop {
            let page = events_after(&app, after_sequence, &[]).await;
            let Some(last) = page.last() else { break };
            after_sequence = last.sequence;
            all.extend(page.into_iter().map(|event| event.sequence));
        }
        all
    };
    assert_eq!(
        seen, everything,
        "the concurrent reader saw exactly what is stored"
    );
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), expected);
}

#[tokio::test]
async fn bad_feed_requests_name_the_field() {
    let app = TestApp::spawn().await;
    let mut events = app.events.clone();
    for (field, request) in [
        (
            "after_sequence",
            pb::ListEventsRequest {
                after_sequence: -1,
                ..Default::default()
            },
        ),
        (
            "page_size",
            pb::ListEventsRequest {
                page_size: -1,
                ..Default::default()
            },
        ),
        (
            "types[1]",
            pb::ListEventsRequest {
                types: vec!["article.published".into(), "article.exploded".into()],
                ..Default::default()
            },
        ),
    ] {
        let status = events.list_events(request).await.expect_err(field);
        assert_invalid(&status, field);
    }
}

#[tokio::test]
async fn an_event_is_stamped_with_the_time_of_its_change() {
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-29T08:00:00Z")
        .expect("timestamp")
        .to_utc();
    let clock = FrozenClock::at(start);
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let author = app.author("مؤلف", pb::AuthorKind::Person).await;
    clock.advance(chrono::Duration::hours(2));
    app.authors
        .clone()
        .delete_author(pb::DeleteAuthorRequest {
            id: author.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("delete");
    let events = events_after(&app, 0, &[]).await;
    let times: Vec<i64> = events
        .iter()
        .map(|event| event.occur_time.expect("occur_time").seconds)
        .collect();
    assert_eq!(
        times,
        [
            start.timestamp(),
            (start + chrono::Duration::hours(2)).timestamp()
        ]
    );
}
