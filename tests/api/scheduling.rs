//! Scheduled publishing: on time, never for a schedule withdrawn or moved,
//! overdue articles after downtime, and exactly once with two servers on one
//! database. The servers' clocks are frozen and moved by hand; their
//! schedulers tick every 20 ms.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use newsdesk::proto as pb;
use prost_types::Timestamp;

use crate::support::{FrozenClock, TestApp, draft};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T06:00:00Z")
        .expect("timestamp")
        .to_utc()
}

fn at(time: DateTime<Utc>) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: time.timestamp(),
        nanos: 0,
    })
}

async fn schedule(app: &TestApp, id: &str, time: DateTime<Utc>) -> pb::Article {
    app.articles
        .clone()
        .publish_article(pb::PublishArticleRequest {
            id: id.into(),
            etag: String::new(),
            publish_time: at(time),
        })
        .await
        .expect("schedule")
        .into_inner()
}

async fn status_of(app: &TestApp, id: &str) -> pb::ArticleStatus {
    app.get_article(id).await.expect("get").status()
}

/// Every `article.published` event, by article id.
async fn published_events(app: &TestApp) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for event in app.events_paged(&["article.published"]).await {
        *counts.entry(event.article_id).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn a_scheduled_article_goes_live_at_its_time_and_not_before() {
    let clock = FrozenClock::at(start());
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = app.article(draft("خبر مجدول", &desk)).await;
    let scheduled = schedule(&app, &article.id, start() + Duration::minutes(10)).await;
    assert_eq!(scheduled.status(), pb::ArticleStatus::Scheduled);
    assert_eq!(
        scheduled.scheduled_publish_time,
        at(start() + Duration::minutes(10))
    );
    assert!(scheduled.publish_time.is_none());

    // A sentinel due a minute earlier proves the scheduler has looked past
    // 06:09 before the article's own time comes.
    let sentinel = app.article(draft("خبر الحارس", &desk)).await;
    schedule(&app, &sentinel.id, start() + Duration::minutes(9)).await;
    clock.advance(Duration::minutes(9) + Duration::seconds(59));
    TestApp::eventually(&[&app], "the sentinel to go live", || async {
        status_of(&app, &sentinel.id).await == pb::ArticleStatus::Published
    })
    .await;
    assert_eq!(
        status_of(&app, &article.id).await,
        pb::ArticleStatus::Scheduled
    );

    clock.advance(Duration::seconds(1));
    TestApp::eventually(&[&app], "the article to go live", || async {
        status_of(&app, &article.id).await == pb::ArticleStatus::Published
    })
    .await;
    let live = app.get_article(&article.id).await.expect("get");
    assert_eq!(live.publish_time, at(start() + Duration::minutes(10)));
    assert!(live.scheduled_publish_time.is_none());
    assert_eq!(published_events(&app).await.get(&article.id), Some(&1));
}

#[tokio::test]
async fn a_schedule_withdrawn_or_moved_before_its_time_never_publishes() {
    let clock = FrozenClock::at(start());
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let withdrawn = app.article(draft("خبر سحب", &desk)).await;
    let moved = app.article(draft("خبر أجل", &desk)).await;
    let sentinel = app.article(draft("خبر الحارس", &desk)).await;
    schedule(&app, &withdrawn.id, start() + Duration::minutes(5)).await;
    schedule(&app, &moved.id, start() + Duration::minutes(5)).await;
    schedule(&app, &sentinel.id, start() + Duration::minutes(6)).await;

    app.articles
        .clone()
        .unpublish_article(pb::UnpublishArticleRequest {
            id: withdrawn.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("unschedule");
    schedule(&app, &moved.id, start() + Duration::minutes(30)).await;

    clock.advance(Duration::minutes(6));
    TestApp::eventually(&[&app], "the sentinel to go live", || async {
        status_of(&app, &sentinel.id).await == pb::ArticleStatus::Published
    })
    .await;
    assert_eq!(
        status_of(&app, &withdrawn.id).await,
        pb::ArticleStatus::Draft
    );
    assert_eq!(
        status_of(&app, &moved.id).await,
        pb::ArticleStatus::Scheduled
    );
    let events = published_events(&app).await;
    assert!(!events.contains_key(&withdrawn.id) && !events.contains_key(&moved.id));

    clock.advance(Duration::minutes(24));
    TestApp::eventually(&[&app], "the moved article to go live", || async {
        status_of(&app, &moved.id).await == pb::ArticleStatus::Published
    })
    .await;
    assert_eq!(
        status_of(&app, &withdrawn.id).await,
        pb::ArticleStatus::Draft
    );
}

#[tokio::test]
async fn articles_that_fell_due_while_no_server_ran_are_published_once_at_start_up() {
    let clock = FrozenClock::at(start());
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = app.article(draft("خبر فات موعده", &desk)).await;
    schedule(&app, &article.id, start() + Duration::minutes(1)).await;

    let database = app.database.clone();
    app.stop().await.expect("stop");

    // Down for an hour: the article's time passes with no server running.
    clock.advance(Duration::hours(1));
    let restarted = TestApp::on_database(database, clock.clone()).await;
    TestApp::eventually(&[&restarted], "the overdue article to go live", || async {
        status_of(&restarted, &article.id).await == pb::ArticleStatus::Published
    })
    .await;
    let live = restarted.get_article(&article.id).await.expect("get");
    assert_eq!(
        live.publish_time,
        at(start() + Duration::hours(1)),
        "it went live when a server could publish it"
    );
    assert_eq!(
        published_events(&restarted).await.get(&article.id),
        Some(&1)
    );
}

#[tokio::test]
async fn two_servers_publish_200_articles_due_at_one_instant_exactly_once() {
    let clock_a = FrozenClock::at(start());
    let clock_b = FrozenClock::at(start());
    let a = TestApp::spawn_with_clock(clock_a.clone()).await;
    let b = a.another_server(clock_b.clone()).await;
    let desk = a.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let due = start() + Duration::minutes(1);
    let mut ids = Vec::new();
    for i in 0..200 {
        // Half the articles are made through each server.
        let server = if i % 2 == 0 { &a } else { &b };
        let article = server.article(draft(&format!("خبر رقم {i}"), &desk)).await;
        schedule(server, &article.id, due).await;
        ids.push(article.id);
    }
    clock_a.advance(Duration::minutes(1));
    clock_b.advance(Duration::minutes(1));
    TestApp::eventually(&[&a, &b], "all 200 articles to go live", || async {
        a.articles
            .clone()
            .list_articles(pb::ListArticlesRequest {
                status: pb::ArticleStatus::Scheduled.into(),
                ..Default::default()
            })
            .await
            .expect("list scheduled")
            .into_inner()
            .articles
            .is_empty()
    })
    .await;

    let events = published_events(&a).await;
    for id in &ids {
        assert_eq!(
            events.get(id),
            Some(&1),
            "article {id} was published {:?} times",
            events.get(id)
        );
    }
    assert_eq!(events.values().sum::<usize>(), 200);
    let revisions = join_all(ids.iter().map(|id| {
        let mut articles = a.articles.clone();
        let id = id.clone();
        async move {
            articles
                .list_article_revisions(pb::ListArticleRevisionsRequest {
                    article_id: id,
                    ..Default::default()
                })
                .await
                .expect("revisions")
                .into_inner()
                .revisions
                .len()
        }
    }))
    .await;
    assert!(
        revisions.iter().all(|count| *count == 3),
        "created, scheduled, published: {revisions:?}"
    );
}
