//! Comments: threads on the seed article, the moderation policy and the
//! moderators, tombstones, and everything a stranger might send.

use newsdesk::proto as pb;
use prost::Message;
use prost_types::FieldMask;
use tonic::{Code, Status};

use crate::support::{BLOCKED_TERM, TestApp, assert_code, assert_invalid, draft, seed_article};

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

async fn thread(
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

async fn moderate(app: &TestApp, id: &str, decision: pb::ModerationDecision) -> pb::Comment {
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

/// Script injection attempts a stranger might send.
fn xss_corpus() -> Vec<String> {
    let payloads = [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=http://x.example/x.js></SCRIPT>",
        "<img src=x onerror=alert(1)>",
        "<svg onload=alert(1)>",
        "<body onload=alert('x')>",
        "<iframe src=\"javascript:alert(1)\"></iframe>",
        "<a href=\"javascript:alert(1)\">click</a>",
        "<a href='data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=='>x</a>",
        "javascript:alert(document.cookie)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "\"><script>alert(1)</script>",
        "'><img src=x onerror=alert(1)>",
        "<div style=\"background:url(javascript:alert(1))\">",
        "<input autofocus onfocus=alert(1)>",
        "<details open ontoggle=alert(1)>",
        "<marquee onstart=alert(1)>",
        "<video><source onerror=\"alert(1)\">",
        "<object data=\"javascript:alert(1)\">",
        "<embed src=\"javascript:alert(1)\">",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "<scr<script>ipt>alert(1)</scr</script>ipt>",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "<<script>script>alert(1)<</script>/script>",
        "<a href=\"https://ok.example\" onclick=\"alert(1)\">x</a>",
        "https://example.com/\"onmouseover=\"alert(1)",
        "https://example.com/<script>alert(1)</script>",
        "http://example.com/'><svg/onload=alert(1)>",
        "https://example.com/?q=\"><img src=x onerror=alert(1)>",
        "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
        "<link rel=stylesheet href=javascript:alert(1)>",
        "<form action=javascript:alert(1)><button>x</button></form>",
        "<button formaction=javascript:alert(1)>x</button>",
        "<isindex action=javascript:alert(1) type=image>",
        "<table background=\"javascript:alert(1)\">",
        "<base href=\"javascript:alert(1)//\">",
        "<textarea onfocus=alert(1) autofocus>",
        "<keygen autofocus onfocus=alert(1)>",
        "<audio src=x onerror=alert(1)>",
        "<style>@import 'javascript:alert(1)';</style>",
        "<img src=\"x\" alt=\"`\" onerror=\"alert(1)\">",
        "<img src=x:alert(alt) onerror=eval(src) alt=0>",
        "<svg><script>alert(1)</script></svg>",
        "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
        "<template><script>alert(1)</script></template>",
        "\u{003C}script\u{003E}alert(1)\u{003C}/script\u{003E}",
        "<a href=\"vbscript:msgbox(1)\">x</a>",
        "<img src=\"jav&#x09;ascript:alert(1)\">",
        "<a href=\"&#106;avascript:alert(1)\">x</a>",
        "<svg><a xlink:href=\"javascript:alert(1)\"><text>x</text></a></svg>",
        "<x onclick=alert(1)>click",
        "<img src=1 onerror=alert(1)//",
        "تعليق عربي <script>alert('مرحبا')</script> مع نص",
        "https://example.com/path?a=1&b=<b>2</b>",
    ];
    payloads.iter().map(|payload| payload.to_string()).collect()
}

#[tokio::test]
async fn no_markup_from_a_stranger_survives_into_body_html() {
    let app = TestApp::spawn().await;
    let article = published(&app, "خبر للاختبار").await;
    let corpus = xss_corpus();
    assert!(corpus.len() >= 50);
    for (i, payload) in corpus.iter().enumerate() {
        let posted = post(
            &app,
            comment(&article.id, "", &format!("قارئ {i}"), payload),
        )
        .await
        .unwrap_or_else(|status| panic!("{payload}: {status:?}"));
        assert_eq!(
            &posted.body, payload,
            "the body is kept as the plain text it was"
        );
        let html = posted.body_html.to_lowercase();
        assert!(!html.contains("<script"), "{payload} -> {html}");
        assert!(
            !html.contains("<img") && !html.contains("<svg") && !html.contains("<iframe"),
            "{payload} -> {html}"
        );
        // No attribute but href and rel survives on any tag.
        for tag in html.split('<').skip(1) {
            let tag = tag.split('>').next().unwrap_or_default();
            let name = tag.split_whitespace().next().unwrap_or_default();
            assert!(
                ["p", "/p", "br", "a", "/a"].contains(&name),
                "{payload}: unexpected tag <{tag}>"
            );
            if name == "a" {
                // The only link a comment gets: an http(s) href, then the rel,
                // and nothing else.
                let (url, rest) = tag
                    .strip_prefix("a href=\"")
                    .and_then(|rest| rest.split_once('"'))
                    .unwrap_or_else(|| panic!("{payload}: link {tag}"));
                assert!(
                    url.starts_with("http://") || url.starts_with("https://"),
                    "{payload}: link {tag}"
                );
                assert_eq!(
                    rest, " rel=\"ugc nofollow noopener\"",
                    "{payload}: link {tag}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_commenters_email_is_never_returned_and_retries_create_once() {
    let app = TestApp::spawn().await;
    let article = published(&app, "خبر").await;
    let email = "reader.private@example.com";
    let request = pb::CreateCommentRequest {
        comment: Some(pb::Comment {
            author_email: email.into(),
            ..comment(&article.id, "", "قارئ", "تعليق")
        }),
        request_id: "7d9f7a3e-2b1c-4d5e-8f90-a1b2c3d4e5f6".into(),
    };
    let mut comments = app.comments.clone();
    let first = comments
        .create_comment(request.clone())
        .await
        .expect("first")
        .into_inner();
    let retry = comments
        .create_comment(request)
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, retry);

    let mut bytes = first.encode_to_vec();
    bytes.extend(
        comments
            .get_comment(pb::GetCommentRequest {
                id: first.id.clone(),
            })
            .await
            .expect("get")
            .into_inner()
            .encode_to_vec(),
    );
    bytes.extend(
        comments
            .list_comments(pb::ListCommentsRequest {
                article_id: article.id.clone(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner()
            .encode_to_vec(),
    );
    bytes.extend(
        comments
            .list_comments_for_moderation(pb::ListCommentsForModerationRequest {
                status: pb::CommentStatus::Approved.into(),
                ..Default::default()
            })
            .await
            .expect("queue")
            .into_inner()
            .encode_to_vec(),
    );
    bytes.extend(
        app.events
            .clone()
            .list_events(pb::ListEventsRequest {
                types: vec!["comment.created".into()],
                ..Default::default()
            })
            .await
            .expect("events")
            .into_inner()
            .encode_to_vec(),
    );
    let needle = email.as_bytes();
    assert!(
        !bytes.windows(needle.len()).any(|window| window == needle),
        "the e-mail address leaked"
    );
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
