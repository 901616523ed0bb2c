//! The live change feed: a watch stream sends the backlog, then every new
//! event as it commits, with no gap and no repeat; watchers that reconnect
//! or read slowly lose nothing; idle streams get heartbeats; and a watcher on
//! one server sees what another server writes.

use std::time::Duration;

use futures::{StreamExt as _, future::join_all};
use newsdesk::proto as pb;
use prost_types::FieldMask;
use tonic::Streaming;

use crate::{
    comments::{comment, post, published},
    support::{TestApp, draft, test_options},
};

async fn watch(
    app: &TestApp,
    after_sequence: i64,
    types: &[&str],
) -> Streaming<pb::WatchEventsResponse> {
    app.events
        .clone()
        .watch_events(pb::WatchEventsRequest {
            after_sequence,
            types: types.iter().map(|t| t.to_string()).collect(),
        })
        .await
        .expect("watch")
        .into_inner()
}

/// The next event on `stream`, skipping heartbeats; panics after a while.
async fn next_event(stream: &mut Streaming<pb::WatchEventsResponse>) -> pb::Event {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), stream.message())
            .await
            .expect("an event within 30 s")
            .expect("the stream is healthy")
            .expect("the stream is open");
        match message.kind {
            Some(pb::watch_events_response::Kind::Event(event)) => return event,
            Some(pb::watch_events_response::Kind::Heartbeat(_)) => continue,
            None => panic!("an empty message"),
        }
    }
}

/// Every stored event's sequence, read page by page.
async fn stored_sequences(app: &TestApp) -> Vec<i64> {
    let events = app.events_paged(&[]).await;
    events.into_iter().map(|event| event.sequence).collect()
}

#[tokio::test]
async fn a_watch_sends_the_backlog_then_live_events_with_no_gap_and_no_repeat() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let before = app.article(draft("قبل المراقبة", &desk)).await;
    let mut stream = watch(&app, 0, &[]).await;
    assert_eq!(next_event(&mut stream).await.r#type, "author.created");
    let backlog = next_event(&mut stream).await;
    assert_eq!(
        (backlog.r#type.as_str(), backlog.article_id.as_str()),
        ("article.created", before.id.as_str())
    );

    let live = app.article(draft("أثناء المراقبة", &desk)).await;
    let event = next_event(&mut stream).await;
    assert_eq!(
        (event.r#type.as_str(), event.article_id.as_str()),
        ("article.created", live.id.as_str())
    );
    assert!(event.sequence > backlog.sequence);

    // Resuming after the last sequence seen picks up exactly there.
    drop(stream);
    let missed = app.article(draft("أثناء الانقطاع", &desk)).await;
    let mut resumed = watch(&app, event.sequence, &[]).await;
    let next = next_event(&mut resumed).await;
    assert_eq!(next.article_id, missed.id);

    // A type filter skips the rest.
    let mut published_only = watch(&app, 0, &["article.published"]).await;
    app.articles
        .clone()
        .publish_article(pb::PublishArticleRequest {
            id: live.id.clone(),
            etag: String::new(),
            publish_time: None,
        })
        .await
        .expect("publish");
    let published = next_event(&mut published_only).await;
    assert_eq!(
        (published.r#type.as_str(), published.article_id.as_str()),
        ("article.published", live.id.as_str())
    );
}

#[tokio::test]
async fn an_idle_watch_gets_heartbeats_that_say_how_far_it_has_read() {
    let app = TestApp::spawn().await;
    app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let mut stream = watch(&app, 0, &[]).await;
    let first = next_event(&mut stream).await;
    let message = tokio::time::timeout(Duration::from_secs(30), stream.message())
        .await
        .expect("a heartbeat within 30 s")
        .expect("healthy")
        .expect("open");
    match message.kind {
        Some(pb::watch_events_response::Kind::Heartbeat(beat)) => {
            assert_eq!(beat.read_sequence, first.sequence)
        }
        other => panic!("expected a heartbeat, got {other:?}"),
    }
}

const WRITERS: usize = 8;
const CHANGES_PER_WRITER: usize = 250;

/// One writer's share of the mixed load: an article published, then edits,
/// comments and shares in turn.
async fn write_mixed(app: &TestApp, writer: usize) {
    let article = published(app, &format!("خبر الكاتب {writer}")).await;
    let mut articles = app.articles.clone();
    let mut shares = app.shares.clone();
    // `published` made three changes: an author, the article, its publish.
    for change in 3..CHANGES_PER_WRITER {
        match change % 3 {
            0 => {
                articles
                    .update_article(pb::UpdateArticleRequest {
                        article: Some(pb::Article {
                            id: article.id.clone(),
                            subtitle: format!("تحديث {change}"),
                            ..Default::default()
                        }),
                        update_mask: Some(FieldMask {
                            paths: vec!["subtitle".into()],
                        }),
                    })
                    .await
                    .expect("update");
            }
            1 => {
                post(
                    app,
                    comment(
                        &article.id,
                        "",
                        &format!("قارئ {writer}"),
                        &format!("تعليق رقم {change}"),
                    ),
                )
                .await
                .expect("comment");
            }
            _ => {
                shares
                    .record_share(pb::RecordShareRequest {
                        article_id: article.id.clone(),
                        channel: pb::ShareChannel::Whatsapp.into(),
                        client_id: String::new(),
                        referrer: String::new(),
                    })
                    .await
                    .expect("share");
            }
        }
    }
}

/// Reads `count` events from the start, reconnecting after every
/// `reconnect_every` events when set, and pausing `pause` after each event.
async fn watch_until(
    app: &TestApp,
    count: usize,
    reconnect_every: Option<usize>,
    pause: Duration,
) -> Vec<i64> {
    let mut seen: Vec<i64> = Vec::with_capacity(count);
    let mut stream = watch(app, 0, &[]).await;
    while seen.len() < count {
        let event = next_event(&mut stream).await;
        seen.push(event.sequence);
        if reconnect_every.is_some_and(|every| seen.len().is_multiple_of(every)) {
            stream = watch(app, event.sequence, &[]).await;
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_watchers_see_every_one_of_2000_concurrent_changes_once_in_order() {
    let app = TestApp::spawn().await;
    let expected = WRITERS * CHANGES_PER_WRITER;
    let watchers = join_all([
        watch_until(&app, expected, None, Duration::ZERO),
        // Reconnects at irregular points: after 97, 194, ... events.
        watch_until(&app, expected, Some(97), Duration::ZERO),
        // Reads slowly while the writers run; the stream waits for it.
        watch_until(&app, expected, None, Duration::from_millis(1)),
    ]);
    let writers = join_all((0..WRITERS).map(|writer| write_mixed(&app, writer)));
    let (seen, ()) = tokio::join!(watchers, async {
        writers.await;
    });
    let stored = stored_sequences(&app).await;
    assert_eq!(stored.len(), expected, "one event per change");
    for (watcher, sequences) in seen.iter().enumerate() {
        assert_eq!(
            sequences, &stored,
            "watcher {watcher} saw every event once, in order"
        );
    }
}

/// With nobody watching, the tail does not read the log after each of
/// this server's commits; a watcher who subscribes wakes it. The poll here
/// is an hour away, so only that wake-up can bring the events.
#[tokio::test]
async fn a_watcher_who_comes_after_unwatched_writes_gets_them_without_waiting_for_a_poll() {
    let mut options = test_options();
    options.feed.poll_interval = Duration::from_secs(3_600);
    let app = TestApp::spawn_with_options(options).await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let unwatched = app.article(draft("قبل أن يراقب أحد", &desk)).await;

    let mut stream = watch(&app, 0, &[]).await;
    // Heartbeats keep the stream busy, so the wait is bounded as a whole.
    let (first, second) = tokio::time::timeout(Duration::from_secs(30), async {
        (next_event(&mut stream).await, next_event(&mut stream).await)
    })
    .await
    .expect("the unwatched writes' events within 30 s, long before the poll");
    assert_eq!(
        (first.r#type.as_str(), first.author_id.as_str()),
        ("author.created", desk.id.as_str())
    );
    assert_eq!(
        (second.r#type.as_str(), second.article_id.as_str()),
        ("article.created", unwatched.id.as_str())
    );

    // Watched now: the next commit reaches the watcher at once.
    let watched = app.article(draft("تحت المراقبة", &desk)).await;
    let third = next_event(&mut stream).await;
    assert_eq!(third.article_id, watched.id);
    assert!(third.sequence > second.sequence && second.sequence > first.sequence);
}

#[tokio::test]
async fn a_watcher_on_one_server_sees_events_written_through_another() {
    let a = TestApp::spawn().await;
    let b = a.another_server_in_real_time().await;
    let mut stream = watch(&a, 0, &[]).await;
    let desk = b.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let event = next_event(&mut stream).await;
    assert_eq!(
        (event.r#type.as_str(), event.author_id.as_str()),
        ("author.created", desk.id.as_str())
    );
    let article = b.article(draft("من الخادم الثاني", &desk)).await;
    let event = next_event(&mut stream).await;
    assert_eq!(event.article_id, article.id);
}

#[tokio::test]
async fn a_filtered_watch_finds_its_events_past_pages_of_others_and_still_gets_heartbeats() {
    let app = TestApp::spawn().await;
    let article = published(&app, "خبر يكثر تداوله").await;
    let mut shares = app.shares.clone();
    let article_id = article.id.clone();
    let share = move || pb::RecordShareRequest {
        article_id: article_id.clone(),
        channel: pb::ShareChannel::X.into(),
        client_id: String::new(),
        referrer: String::new(),
    };
    // More than a page of events the filter skips, then the one it wants.
    for _ in 0..150 {
        shares.record_share(share()).await.expect("share");
    }
    let wanted = post(&app, comment(&article.id, "", "قارئ", "تعليق"))
        .await
        .expect("comment");
    let mut stream = watch(&app, 0, &["comment.created"]).await;
    let event = next_event(&mut stream).await;
    assert_eq!(event.r#type, "comment.created");
    match event.payload {
        Some(pb::event::Payload::Comment(created)) => {
            assert_eq!(created.comment.map(|c| c.id), Some(wanted.id));
        }
        other => panic!("a comment event, not {other:?}"),
    }

    // Shares keep the feed busy, but none pass the filter: heartbeats do.
    let busy = tokio::spawn(async move {
        for _ in 0..40 {
            let _ = shares.record_share(share()).await;
        }
    });
    let message = tokio::time::timeout(Duration::from_secs(30), stream.message())
        .await
        .expect("a message within 30 s")
        .expect("healthy")
        .expect("open");
    assert!(
        matches!(
            message.kind,
            Some(pb::watch_events_response::Kind::Heartbeat(_))
        ),
        "{message:?}"
    );
    busy.await.expect("sharer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watcher_that_stops_reading_while_thousands_of_events_pass_loses_none() {
    let app = TestApp::spawn().await;
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
    let mut stream = watch(&app, 0, &["share.recorded"]).await;

    // More shares than the live feed holds for a watcher that is behind, all
    // while this one reads nothing.
    const SHARES: usize = 6_000;
    let shares = (0..SHARES).map(|n| {
        let mut shares = app.shares.clone();
        let article_id = article.id.clone();
        async move {
            shares
                .record_share(pb::RecordShareRequest {
                    article_id,
                    channel: pb::ShareChannel::Whatsapp.into(),
                    client_id: format!("reader-{n}"),
                    referrer: String::new(),
                })
                .await
                .expect("share");
        }
    });
    let mut pending = futures::stream::iter(shares).buffer_unordered(64);
    while pending.next().await.is_some() {}

    let mut seen = Vec::with_capacity(SHARES);
    while seen.len() < SHARES {
        seen.push(next_event(&mut stream).await.sequence);
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, seen, "in order, each once");
    assert_eq!(seen.len(), SHARES);
}

#[tokio::test]
async fn a_watcher_is_told_when_the_feed_cannot_read_past_an_event() {
    use sea_orm::ConnectionTrait as _;

    let app = TestApp::spawn().await;
    app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let mut stream = watch(&app, 0, &[]).await;
    next_event(&mut stream).await;

    // An event another process wrote that cannot be read (its payload is
    // not the feed's): the feed must not go quiet on the watcher.
    let outside = sea_orm::Database::connect(app.database.url.as_str())
        .await
        .expect("connect beside the server");
    outside
        .execute_unprepared(
            "INSERT INTO events (event_type, occur_time, payload, actor) \
             VALUES ('author.created', '2026-12-01T12:00:00Z', 'not an event', 'test')",
        )
        .await
        .expect("insert an unreadable event");

    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.message().await {
                Ok(Some(pb::WatchEventsResponse {
                    kind: Some(pb::watch_events_response::Kind::Heartbeat(_)),
                })) => continue,
                other => break other,
            }
        }
    })
    .await
    .expect("the stream ends within 30 s, not only heartbeats");
    let status = ended.expect_err("the stream ends with an error");
    // The client resumes after the last sequence it saw.
    assert_eq!(status.code(), tonic::Code::Unavailable);
}
