//! Moderation: the policy that decides a new comment's status, the
//! moderators' queue, and their decisions.

use futures::future::join_all;
use newsdesk::proto as pb;
use tonic::Code;

use crate::{
    comments::{comment, moderate, post, published, thread},
    support::{BLOCKED_TERM, TestApp, assert_code, assert_invalid},
};

#[tokio::test]
async fn the_moderation_policy_holds_links_blocked_terms_repeats_and_spammers() {
    let app = TestApp::spawn().await;
    let article = published(&app, "خبر للتعليق").await;
    let id = article.id.as_str();
    let ok = post(
        &app,
        comment(id, "", "قارئ", "تعليق عادي مع رابط https://example.com"),
    )
    .await
    .expect("ok");
    assert_eq!(ok.status(), pb::CommentStatus::Approved);

    let links = post(
        &app,
        comment(
            id,
            "",
            "قارئ",
            "https://a.example https://b.example https://c.example",
        ),
    )
    .await
    .expect("links");
    assert_eq!(links.status(), pb::CommentStatus::Pending);
    let blocked = post(
        &app,
        comment(id, "", "قارئ", &format!("اربح الآن في {BLOCKED_TERM}")),
    )
    .await
    .expect("blocked");
    assert_eq!(blocked.status(), pb::CommentStatus::Pending);
    let first = post(&app, comment(id, "", "مكرر", "نفس الكلام"))
        .await
        .expect("first");
    assert_eq!(first.status(), pb::CommentStatus::Approved);
    let repeat = post(&app, comment(id, "", "مكرر", "نفسُ  الكلامِ"))
        .await
        .expect("repeat");
    assert_eq!(
        repeat.status(),
        pb::CommentStatus::Pending,
        "the same words again within the hour"
    );
    assert!(
        ok.moderation_reason.is_empty() && links.moderation_reason.is_empty(),
        "the poster never sees reasons"
    );

    // A moderator marks a commenter as a spammer: their next comment is spam.
    let spammer = pb::Comment {
        author_email: "Spam@Example.com".into(),
        ..comment(id, "", "بائع", "عرض خاص")
    };
    let spam = post(&app, spammer.clone()).await.expect("spam");
    moderate(&app, &spam.id, pb::ModerationDecision::Spam).await;
    let next = post(
        &app,
        pb::Comment {
            author_email: "spam@example.com".into(),
            body: "عرض آخر".into(),
            ..spammer
        },
    )
    .await
    .expect("next");
    assert_eq!(next.status(), pb::CommentStatus::Spam);

    let queue = app
        .comments
        .clone()
        .list_comments_for_moderation(pb::ListCommentsForModerationRequest {
            article_id: id.into(),
            ..Default::default()
        })
        .await
        .expect("queue")
        .into_inner()
        .comments;
    let queued: Vec<&str> = queue.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        queued,
        [links.id.as_str(), blocked.id.as_str(), repeat.id.as_str()]
    );
    assert!(
        queue.iter().all(|c| !c.moderation_reason.is_empty()),
        "moderators see why"
    );
    assert!(queue[0].moderation_reason.contains("links"));

    let visible = thread(&app, id, pb::CommentOrder::OldestFirst, 20).await;
    assert_eq!(visible.len(), 2, "held and spam comments are not shown");
    let approved = moderate(&app, &links.id, pb::ModerationDecision::Approve).await;
    assert_eq!(approved.status(), pb::CommentStatus::Approved);
    assert_eq!(
        thread(&app, id, pb::CommentOrder::OldestFirst, 20)
            .await
            .len(),
        3
    );
    assert_eq!(app.get_article(id).await.expect("get").comment_count, 3);
}

/// The same words posted several times at once on one article: each post
/// reads the commenter's history once it holds the article, after the one
/// before it committed, so only the first is approved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_double_post_sent_at_once_is_approved_once() {
    const POSTS: usize = 6;
    let app = TestApp::spawn().await;
    let article = published(&app, "خبر يتسابق عليه المعلقون").await;
    let posts = (0..POSTS).map(|_| {
        let mut comments = app.comments.clone();
        let request = pb::CreateCommentRequest {
            comment: Some(comment(&article.id, "", "متعجل", "أرسلتُه مرتين")),
            request_id: String::new(),
        };
        tokio::spawn(async move { comments.create_comment(request).await })
    });
    let mut statuses = Vec::new();
    for posted in join_all(posts).await {
        statuses.push(
            posted
                .expect("joined")
                .expect("posted")
                .into_inner()
                .status(),
        );
    }
    let approved = statuses
        .iter()
        .filter(|&&status| status == pb::CommentStatus::Approved)
        .count();
    assert_eq!(approved, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|&status| matches!(
            status,
            pb::CommentStatus::Approved | pb::CommentStatus::Pending
        )),
        "{statuses:?}"
    );
    assert_eq!(
        app.get_article(&article.id)
            .await
            .expect("get")
            .comment_count,
        1
    );
}

#[tokio::test]
async fn moderation_and_deletion_check_the_etag_and_skip_deleted_comments() {
    let app = TestApp::spawn().await;
    let article = published(&app, "خبر").await;
    let posted = post(&app, comment(&article.id, "", "قارئ", "تعليق"))
        .await
        .expect("post");
    let mut comments = app.comments.clone();
    let moderated = moderate(&app, &posted.id, pb::ModerationDecision::Reject).await;
    let stale = comments
        .moderate_comment(pb::ModerateCommentRequest {
            id: posted.id.clone(),
            decision: pb::ModerationDecision::Approve.into(),
            reason: String::new(),
            etag: posted.etag.clone(),
        })
        .await;
    assert_code(stale, Code::Aborted);
    assert_code(
        comments
            .delete_comment(pb::DeleteCommentRequest {
                id: posted.id.clone(),
                etag: posted.etag.clone(),
            })
            .await,
        Code::Aborted,
    );
    comments
        .delete_comment(pb::DeleteCommentRequest {
            id: posted.id.clone(),
            etag: moderated.etag.clone(),
        })
        .await
        .expect("delete with the current etag");
    assert_code(
        comments
            .moderate_comment(pb::ModerateCommentRequest {
                id: posted.id.clone(),
                decision: pb::ModerationDecision::Approve.into(),
                reason: String::new(),
                etag: String::new(),
            })
            .await,
        Code::NotFound,
    );
    let status = comments
        .moderate_comment(pb::ModerateCommentRequest {
            id: posted.id.clone(),
            decision: 0,
            reason: String::new(),
            etag: String::new(),
        })
        .await
        .expect_err("no decision");
    assert_invalid(&status, "decision");
}

#[tokio::test]
async fn the_moderation_queue_pages_and_refuses_tokens_of_another_queue() {
    let app = TestApp::spawn().await;
    let article = published(&app, "خبر").await;
    for i in 0..5 {
        let body = format!("عرض {i} https://a.example https://b.example https://c.example");
        let held = post(&app, comment(&article.id, "", &format!("قارئ {i}"), &body))
            .await
            .expect("post");
        assert_eq!(held.status(), pb::CommentStatus::Pending);
    }
    let mut comments = app.comments.clone();
    let first = comments
        .list_comments_for_moderation(pb::ListCommentsForModerationRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .expect("page 1")
        .into_inner();
    assert_eq!(first.comments.len(), 2);
    let second = comments
        .list_comments_for_moderation(pb::ListCommentsForModerationRequest {
            page_size: 3,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .expect("page 2")
        .into_inner();
    assert_eq!(second.comments.len(), 3);
    assert!(second.next_page_token.is_empty());
    let status = comments
        .list_comments_for_moderation(pb::ListCommentsForModerationRequest {
            status: pb::CommentStatus::Spam.into(),
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .expect_err("a token for the pending queue");
    assert_invalid(&status, "page_token");
}
