//! Writes that arrive together: on SQLite they share transactions and
//! commits, each in a savepoint of its own. A write that fails among them
//! leaves nothing behind, and every other one is stored.

use std::collections::HashSet;

use newsdesk::proto as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::{
    comments::{comment, published},
    support::{TestApp, WriteLock, draft},
};

/// Calls sent while the database's write lock is held elsewhere.
const CALLS: usize = 12;
const REQUEST_ID: &str = "5b0c7a3e-2f1d-4c6b-9e8a-7d6c5b4a3f21";
const UNKNOWN_AUTHOR: &str = "0193a5b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_that_fail_beside_others_leave_nothing_and_the_others_are_all_stored() {
    let app = TestApp::spawn().await;
    let open = published(&app, "خبر مفتوح للتعليقات").await;
    let desk = app.author("مكتب الأخبار", pb::AuthorKind::Desk).await;
    let unpublished = app.article(draft("مسودة بلا تعليقات", &desk)).await;
    let stale_etag = unpublished.etag.clone();
    let unpublished = app
        .articles
        .clone()
        .update_article(title_change(
            &unpublished.id,
            &unpublished.etag,
            "مسودة منقحة",
        ))
        .await
        .expect("an edit that makes the first etag stale")
        .into_inner();
    let events_before = app.all_events().await.len();
    let commits_before = app.commits();

    let lock = WriteLock::hold(&app.database).await;
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..6 {
        let mut comments = app.comments.clone();
        let request = pb::CreateCommentRequest {
            comment: Some(comment(&open.id, "", "قارئ", &format!("تعليق رقم {n}"))),
            request_id: String::new(),
        };
        calls.spawn(async move { ("comment", comments.create_comment(request).await.map(drop)) });
    }
    for n in 0..2 {
        // Refused after the article is read: nothing was written yet.
        let mut comments = app.comments.clone();
        let request = pb::CreateCommentRequest {
            comment: Some(comment(&unpublished.id, "", "قارئ", &format!("مرفوض {n}"))),
            request_id: String::new(),
        };
        calls.spawn(async move { ("closed", comments.create_comment(request).await.map(drop)) });
    }
    {
        // Refused after its request id was claimed: the claim must go too,
        // or a retry would find it and point at nothing.
        let mut articles = app.articles.clone();
        let mut article = draft("بقلم مجهول", &desk);
        article.author_ids = vec![UNKNOWN_AUTHOR.into()];
        let request = pb::CreateArticleRequest {
            article: Some(article),
            request_id: REQUEST_ID.into(),
        };
        calls.spawn(async move {
            (
                "unknown author",
                articles.create_article(request).await.map(drop),
            )
        });
    }
    {
        let mut articles = app.articles.clone();
        let request = title_change(&unpublished.id, &stale_etag, "تعديل متأخر");
        calls.spawn(async move {
            (
                "stale etag",
                articles.update_article(request).await.map(drop),
            )
        });
    }
    for n in 0..2 {
        let mut shares = app.shares.clone();
        let request = pb::RecordShareRequest {
            article_id: open.id.clone(),
            channel: pb::ShareChannel::Whatsapp.into(),
            client_id: format!("قارئ-{n}"),
            referrer: String::new(),
        };
        calls.spawn(async move { ("share", shares.record_share(request).await.map(drop)) });
    }
    assert_eq!(calls.len(), CALLS);
    wait_until_queued(&app).await;
    lock.release().await;

    let mut outcomes: Vec<(&str, Option<Code>)> = Vec::new();
    while let Some(joined) = calls.join_next().await {
        let (call, answer) = joined.expect("call task");
        outcomes.push((call, answer.err().map(|status| status.code())));
    }
    outcomes.sort_by_key(|(call, code)| (*call, code.map(|code| code as i32)));
    let expected: Vec<(&str, Option<Code>)> = [
        [("closed", Some(Code::FailedPrecondition))].repeat(2),
        [("comment", None)].repeat(6),
        [("share", None)].repeat(2),
        vec![("stale etag", Some(Code::Aborted))],
        vec![("unknown author", Some(Code::InvalidArgument))],
    ]
    .concat();
    assert_eq!(outcomes, expected);

    let stored = app.get_article(&open.id).await.expect("the open article");
    assert_eq!(stored.comment_count, 6);
    let bodies: HashSet<String> =
        crate::comments::thread(&app, &open.id, pb::CommentOrder::OldestFirst, 50)
            .await
            .into_iter()
            .map(|comment| comment.body)
            .collect();
    assert_eq!(bodies, (0..6).map(|n| format!("تعليق رقم {n}")).collect());
    let stats = app
        .shares
        .clone()
        .get_share_stats(pb::GetShareStatsRequest {
            article_id: open.id.clone(),
        })
        .await
        .expect("share stats")
        .into_inner();
    assert_eq!(stats.total, 2);
    assert_eq!(
        app.get_article(&unpublished.id)
            .await
            .expect("the draft")
            .title,
        unpublished.title
    );
    // An event for each stored write, and none for the refused ones.
    assert_eq!(app.all_events().await.len(), events_before + 8);
    if !app.database.is_postgres() {
        let commits = app.commits() - commits_before;
        assert!(
            commits < 8,
            "the 8 stored writes shared commits, but took {commits}"
        );
    }

    // The refused create's request id is free: a retry with a real byline
    // creates the article.
    let retried = app
        .articles
        .clone()
        .create_article(pb::CreateArticleRequest {
            article: Some(draft("بقلم مجهول", &desk)),
            request_id: REQUEST_ID.into(),
        })
        .await
        .expect("the retry creates the article")
        .into_inner();
    app.get_article(&retried.id)
        .await
        .expect("the retried article is stored");
}

fn title_change(id: &str, etag: &str, title: &str) -> pb::UpdateArticleRequest {
    pb::UpdateArticleRequest {
        article: Some(pb::Article {
            id: id.into(),
            etag: etag.into(),
            title: title.into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["title".into()],
        }),
    }
}

/// Returns once the calls that write wait for the database: on SQLite, one
/// waits for the lock holding the writer's turn, and the rest queue for the
/// turn (all but the second share, which waits for the first's batch), so
/// that they form one group once the lock is released. PostgreSQL has no
/// groups: each write waits for the lock in its own transaction, and the
/// assertions hold for whatever has reached it.
async fn wait_until_queued(app: &TestApp) {
    if app.database.is_postgres() {
        return;
    }
    let queued = async {
        // The queue changes without any commit to wait on: look again
        // after every other task has had its turn.
        while app.writes_waiting() < CALLS - 2 {
            tokio::task::yield_now().await;
        }
    };
    // Within SQLite's busy timeout (5 s), which the write holding the turn
    // is waiting out.
    tokio::time::timeout(std::time::Duration::from_secs(4), queued)
        .await
        .expect("every write queues for the writer");
}
