//! Comments: threads on the seed article, the moderation policy and the
//! moderators, tombstones, and everything a stranger might send.

use newsdesk::proto as pb;
use prost_types::FieldMask;
use tonic::{Code, Status};

use crate::support::{TestApp, assert_code, assert_invalid, draft, seed_article};

/// A published article by a desk, with comments open.
pub(crate) async fn published(app: &TestApp, title: &str) -> pb::Article {
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = app.article(draft(title, &desk)).await;
    app.articles
        .clone()
        .publish_article(pb::PublishArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
            publish_time: None,
        })
        .await
        .expect("publish")
        .into_inner()
}

pub(crate) fn comment(article_id: &str, parent_id: &str, name: &str, body: &str) -> pb::Comment {
    pb::Comment {
        article_id: article_id.into(),
        parent_id: parent_id.into(),
        author_name: name.into(),
        body: body.into(),
        ..Default::default()
    }
}

pub(crate) async fn post(app: &TestApp, comment: pb::Comment) -> Result<pb::Comment, Status> {
    app.comments
        .clone()
        .create_comment(pb::CreateCommentRequest {
            comment: Some(comment),
            request_id: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

pub(crate) async fn thread(
    app: &TestApp,
    article_id: &str,
    order: pb::CommentOrder,
    page_size: i32,
) -> Vec<pb::Comment> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .comments
            .clone()
            .list_comments(pb::ListCommentsRequest {
                article_id: article_id.into(),
                page_size,
                page_token,
                order: order.into(),
            })
            .await
            .expect("list comments")
            .into_inner();
        all.extend(page.comments);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

pub(crate) async fn moderate(
    app: &TestApp,
    id: &str,
    decision: pb::ModerationDecision,
) -> pb::Comment {
    app.comments
        .clone()
        .moderate_comment(pb::ModerateCommentRequest {
            id: id.into(),
            decision: decision.into(),
            reason: "قرار المشرف".into(),
            etag: String::new(),
        })
        .await
        .expect("moderate")
        .into_inner()
}

#[tokio::test]
async fn a_threaded_arabic_discussion_nests_three_deep_and_keeps_tombstones() {
    let app = TestApp::spawn().await;
    let seed = seed_article();
    let desk = app.author(&seed.byline, pb::AuthorKind::Desk).await;
    let article = app
        .article(pb::Article {
            title: seed.title,
            body: seed.body,
            author_ids: vec![desk.id.clone()],
            ..Default::default()
        })
        .await;
    app.articles
        .clone()
        .publish_article(pb::PublishArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
            publish_time: None,
        })
        .await
        .expect("publish");

    let a = post(
        &app,
        comment(
            &article.id,
            "",
            "سارة",
            "هل هناك موعد لجولة المحادثات القادمة؟",
        ),
    )
    .await
    .expect("a");
    let b = post(
        &app,
        comment(&article.id, &a.id, "خالد", "لم يعلن عنه بعد."),
    )
    .await
    .expect("b");
    let c = post(
        &app,
        comment(&article.id, &b.id, "سارة", "شكرا على التوضيح."),
    )
    .await
    .expect("c");
    let d = post(&app, comment(&article.id, &c.id, "منى", "رد رابع المستوى."))
        .await
        .expect("d");
    let e = post(&app, comment(&article.id, "", "يوسف", "تحليل ممتاز."))
        .await
        .expect("e");
    assert_eq!(
        [a.depth, b.depth, c.depth, d.depth, e.depth],
        [1, 2, 3, 3, 1]
    );
    assert_eq!(
        d.parent_id, b.id,
        "a reply to a depth-3 comment sits beside it"
    );
    assert!(
        a.status() == pb::CommentStatus::Approved
            && a.body_html == "<p>هل هناك موعد لجولة المحادثات القادمة؟</p>"
    );

    let ids = |comments: &[pb::Comment]| comments.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    let oldest = thread(&app, &article.id, pb::CommentOrder::OldestFirst, 2).await;
    assert_eq!(
        ids(&oldest),
        [
            a.id.clone(),
            b.id.clone(),
            c.id.clone(),
            d.id.clone(),
            e.id.clone()
        ]
    );
    let newest = thread(&app, &article.id, pb::CommentOrder::NewestFirst, 2).await;
    assert_eq!(
        ids(&newest),
        [
            e.id.clone(),
            a.id.clone(),
            b.id.clone(),
            c.id.clone(),
            d.id.clone()
        ]
    );
    assert_eq!(
        app.get_article(&article.id)
            .await
            .expect("get")
            .comment_count,
        5
    );

    // B has replies: deleted, it stays as a tombstone. E has none: it goes.
    let mut comments = app.comments.clone();
    for id in [&b.id, &e.id] {
        comments
            .delete_comment(pb::DeleteCommentRequest {
                id: id.clone(),
                etag: String::new(),
            })
            .await
            .expect("delete");
    }
    let after = thread(&app, &article.id, pb::CommentOrder::OldestFirst, 20).await;
    assert_eq!(
        ids(&after),
        [a.id.clone(), b.id.clone(), c.id.clone(), d.id.clone()]
    );
    let tombstone = &after[1];
    assert!(tombstone.tombstone);
    assert!(
        tombstone.author_name.is_empty()
            && tombstone.body.is_empty()
            && tombstone.body_html.is_empty()
    );
    assert_eq!(
        app.get_article(&article.id)
            .await
            .expect("get")
            .comment_count,
        3
    );
    let shown = comments
        .get_comment(pb::GetCommentRequest { id: b.id.clone() })
        .await
        .expect("a tombstone can be fetched")
        .into_inner();
    assert!(shown.tombstone);
    assert_code(
        comments
            .get_comment(pb::GetCommentRequest { id: e.id.clone() })
            .await,
        Code::NotFound,
    );

    // Hiding the last visible replies leaves nothing to hold B's place.
    moderate(&app, &c.id, pb::ModerationDecision::Reject).await;
    moderate(&app, &d.id, pb::ModerationDecision::Reject).await;
    let left = thread(&app, &article.id, pb::CommentOrder::OldestFirst, 20).await;
    assert_eq!(ids(&left), vec![a.id.clone()]);
    assert_eq!(
        app.get_article(&article.id)
            .await
            .expect("get")
            .comment_count,
        1
    );
}

#[tokio::test]
async fn comments_open_only_on_published_articles_that_take_them() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let draft_article = app.article(draft("مسودة", &desk)).await;
    assert_code(
        post(&app, comment(&draft_article.id, "", "قارئ", "نص")).await,
        Code::FailedPrecondition,
    );

    let closed = published(&app, "التعليقات مغلقة").await;
    app.articles
        .clone()
        .update_article(pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: closed.id.clone(),
                comments_enabled: Some(false),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["comments_enabled".into()],
            }),
        })
        .await
        .expect("close comments");
    assert_code(
        post(&app, comment(&closed.id, "", "قارئ", "نص")).await,
        Code::FailedPrecondition,
    );

    let archived = published(&app, "أرشيف").await;
    let on_archived = post(&app, comment(&archived.id, "", "قارئ", "قبل الأرشفة"))
        .await
        .expect("comment");
    app.articles
        .clone()
        .archive_article(pb::ArchiveArticleRequest {
            id: archived.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("archive");
    assert_code(
        post(&app, comment(&archived.id, "", "قارئ", "بعد الأرشفة")).await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        thread(&app, &archived.id, pb::CommentOrder::OldestFirst, 20)
            .await
            .len(),
        1,
        "still readable"
    );

    let other = published(&app, "خبر آخر").await;
    let status = post(
        &app,
        comment(&other.id, &on_archived.id, "قارئ", "رد في غير مكانه"),
    )
    .await
    .expect_err("cross-article reply");
    assert_invalid(&status, "comment.parent_id");
    assert_code(
        post(
            &app,
            comment("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "", "قارئ", "نص"),
        )
        .await,
        Code::NotFound,
    );
}

#[tokio::test]
async fn bad_comments_are_invalid_argument_and_store_nothing() {
    let app = TestApp::spawn().await;
    let article = published(&app, "خبر").await;
    let id = article.id.as_str();
    let cases = [
        ("comment.author_name", comment(id, "", "", "نص")),
        (
            "comment.author_name",
            comment(id, "", &"ا".repeat(81), "نص"),
        ),
        (
            "comment.author_name",
            comment(id, "", "اسم\u{202E}مقلوب", "نص"),
        ),
        ("comment.body", comment(id, "", "قارئ", "   ")),
        ("comment.body", comment(id, "", "قارئ", &"ب".repeat(5_001))),
        ("comment.body", comment(id, "", "قارئ", "نص\u{202D}مخفي")),
        ("comment.body", comment(id, "", "قارئ", "nul\u{0}byte")),
        (
            "comment.author_email",
            pb::Comment {
                author_email: "not-an-email".into(),
                ..comment(id, "", "قارئ", "نص")
            },
        ),
        ("comment.parent_id", comment(id, "not-an-id", "قارئ", "نص")),
        ("comment.article_id", comment("", "", "قارئ", "نص")),
    ];
    for (field, bad) in cases {
        let status = post(&app, bad).await.expect_err(field);
        assert_invalid(&status, field);
    }
    let queue = app
        .comments
        .clone()
        .list_comments_for_moderation(pb::ListCommentsForModerationRequest {
            status: pb::CommentStatus::Approved.into(),
            ..Default::default()
        })
        .await
        .expect("queue")
        .into_inner();
    assert!(queue.comments.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn comment_changes_are_announced_in_the_feed() {
    let app = TestApp::spawn().await;
    let article = published(&app, "خبر").await;
    let posted = post(&app, comment(&article.id, "", "قارئ", "تعليق"))
        .await
        .expect("post");
    moderate(&app, &posted.id, pb::ModerationDecision::Reject).await;
    app.comments
        .clone()
        .delete_comment(pb::DeleteCommentRequest {
            id: posted.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("delete");
    let events = app
        .events
        .clone()
        .list_events(pb::ListEventsRequest {
            types: vec![
                "comment.created".into(),
                "comment.moderated".into(),
                "comment.deleted".into(),
            ],
            ..Default::default()
        })
        .await
        .expect("events")
        .into_inner()
        .events;
    let types: Vec<&str> = events.iter().map(|event| event.r#type.as_str()).collect();
    assert_eq!(
        types,
        ["comment.created", "comment.moderated", "comment.deleted"]
    );
    match &events[1].payload {
        Some(pb::event::Payload::Comment(moderated)) => {
            assert_eq!(moderated.decision(), pb::ModerationDecision::Reject);
            assert_eq!(moderated.reason, "قرار المشرف");
            assert_eq!(
                moderated.comment.as_ref().map(|c| c.status()),
                Some(pb::CommentStatus::Rejected)
            );
        }
        other => panic!("comment.moderated carries a CommentEvent, not {other:?}"),
    }
    assert!(events.iter().all(|event| event.article_id == article.id));
}
