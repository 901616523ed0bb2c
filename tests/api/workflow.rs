//! The editorial workflow through the API: every transition allowed and
//! refused, what a publish needs, and the live version that stays put while
//! the next edit is prepared.

use newsdesk::proto as pb;
use prost_types::{FieldMask, Timestamp};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::support::{TestApp, assert_code, draft};

/// A workflow method call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Submit,
    Return,
    PublishNow,
    PublishLater,
    Unpublish,
    Archive,
}

const ACTS: [Act; 6] = [
    Act::Submit,
    Act::Return,
    Act::PublishNow,
    Act::PublishLater,
    Act::Unpublish,
    Act::Archive,
];

async fn act(app: &TestApp, id: &str, act: Act) -> Result<pb::Article, Status> {
    let mut articles = app.articles.clone();
    let id = id.to_owned();
    let etag = String::new();
    let response = match act {
        Act::Submit => {
            articles
                .submit_article(pb::SubmitArticleRequest { id, etag })
                .await
        }
        Act::Return => {
            articles
                .return_article(pb::ReturnArticleRequest {
                    id,
                    etag,
                    note: "الفقرة الثانية تحتاج إلى مصدر".into(),
                })
                .await
        }
        Act::PublishNow => {
            articles
                .publish_article(pb::PublishArticleRequest {
                    id,
                    etag,
                    publish_time: None,
                })
                .await
        }
        Act::PublishLater => {
            articles
                .publish_article(pb::PublishArticleRequest {
                    id,
                    etag,
                    publish_time: Some(in_an_hour()),
                })
                .await
        }
        Act::Unpublish => {
            articles
                .unpublish_article(pb::UnpublishArticleRequest { id, etag })
                .await
        }
        Act::Archive => {
            articles
                .archive_article(pb::ArchiveArticleRequest { id, etag })
                .await
        }
    };
    response.map(tonic::Response::into_inner)
}

fn in_an_hour() -> Timestamp {
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    Timestamp {
        seconds: later.timestamp(),
        nanos: 0,
    }
}

/// A complete article (title, body, byline) brought to `status` through the API.
async fn article_in(app: &TestApp, desk: &pb::Author, status: pb::ArticleStatus) -> pb::Article {
    let article = app.article(draft("خبر في سير العمل", desk)).await;
    let path: &[Act] = match status {
        pb::ArticleStatus::Draft => &[],
        pb::ArticleStatus::InReview => &[Act::Submit],
        pb::ArticleStatus::Scheduled => &[Act::PublishLater],
        pb::ArticleStatus::Published => &[Act::PublishNow],
        pb::ArticleStatus::Archived => &[Act::PublishNow, Act::Archive],
        pb::ArticleStatus::Unspecified => unreachable!("not a status an article can be in"),
    };
    let mut article = article;
    for step in path {
        article = act(app, &article.id, *step)
            .await
            .expect("reach the status");
    }
    assert_eq!(article.status(), status);
    article
}

/// Where each act leads from each status (for a published article without
/// pending edits); `None` is refused.
fn expected(from: pb::ArticleStatus, act: Act) -> Option<pb::ArticleStatus> {
    use pb::ArticleStatus::{Archived, Draft, InReview, Published, Scheduled};
    match (from, act) {
        (Draft, Act::Submit) => Some(InReview),
        (InReview, Act::Return) => Some(Draft),
        (Draft | InReview | Scheduled, Act::PublishNow) => Some(Published),
        (Draft | InReview | Scheduled, Act::PublishLater) => Some(Scheduled),
        (Published | Scheduled, Act::Unpublish) => Some(Draft),
        (Published, Act::Archive) => Some(Archived),
        _ => None,
    }
}

#[tokio::test]
async fn every_transition_is_allowed_or_refused_as_the_workflow_says() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let statuses = [
        pb::ArticleStatus::Draft,
        pb::ArticleStatus::InReview,
        pb::ArticleStatus::Scheduled,
        pb::ArticleStatus::Published,
        pb::ArticleStatus::Archived,
    ];
    for from in statuses {
        for step in ACTS {
            let article = article_in(&app, &desk, from).await;
            let result = act(&app, &article.id, step).await;
            match expected(from, step) {
                Some(to) => {
                    let moved =
                        result.unwrap_or_else(|status| panic!("{from:?} {step:?}: {status:?}"));
                    assert_eq!(moved.status(), to, "{from:?} {step:?}");
                    assert_eq!(moved.revision, article.revision + 1, "{from:?} {step:?}");
                }
                None => {
                    let status = result.expect_err(&format!("{from:?} {step:?} should be refused"));
                    assert_eq!(
                        status.code(),
                        Code::FailedPrecondition,
                        "{from:?} {step:?}: {status:?}"
                    );
                    let details = status.get_error_details();
                    let failure = details
                        .precondition_failure()
                        .expect("a PreconditionFailure");
                    let named = format!("{:?}", from).to_uppercase();
                    assert!(
                        failure.violations[0]
                            .description
                            .replace('_', "")
                            .contains(&named),
                        "{from:?} {step:?}: {:?} should name the current status",
                        failure.violations[0].description
                    );
                    let unchanged = app.get_article(&article.id).await.expect("get");
                    assert_eq!(unchanged.status(), from);
                }
            }
        }
    }
}

#[tokio::test]
async fn a_published_article_is_published_again_only_with_pending_edits() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = article_in(&app, &desk, pb::ArticleStatus::Published).await;
    assert!(!article.has_unpublished_changes);
    assert_code(
        act(&app, &article.id, Act::PublishNow).await,
        Code::FailedPrecondition,
    );
    edit_title(&app, &article.id, "عنوان منقح").await;
    let republished = act(&app, &article.id, Act::PublishNow)
        .await
        .expect("republish");
    assert_eq!(republished.status(), pb::ArticleStatus::Published);
    assert!(!republished.has_unpublished_changes);
}

#[tokio::test]
async fn submit_and_publish_need_a_title_a_body_and_an_author() {
    let app = TestApp::spawn().await;
    let bare = app
        .article(pb::Article {
            title: "عنوان فقط".into(),
            ..Default::default()
        })
        .await;
    for step in [Act::Submit, Act::PublishNow, Act::PublishLater] {
        let status = assert_code(act(&app, &bare.id, step).await, Code::FailedPrecondition);
        assert!(
            status.message().contains("body") && status.message().contains("author_ids"),
            "{status:?}"
        );
    }
    assert_eq!(
        app.get_article(&bare.id).await.expect("get").status(),
        pb::ArticleStatus::Draft
    );
}

#[tokio::test]
async fn return_needs_a_note_and_workflow_methods_check_the_etag() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = article_in(&app, &desk, pb::ArticleStatus::InReview).await;
    let mut articles = app.articles.clone();
    let status = articles
        .return_article(pb::ReturnArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
            note: "  ".into(),
        })
        .await
        .expect_err("a note is required");
    crate::support::assert_invalid(&status, "note");

    let stale = articles
        .publish_article(pb::PublishArticleRequest {
            id: article.id.clone(),
            etag: "0000000000000000".into(),
            publish_time: None,
        })
        .await;
    assert_code(stale, Code::Aborted);
    let published = articles
        .publish_article(pb::PublishArticleRequest {
            id: article.id.clone(),
            etag: article.etag.clone(),
            publish_time: None,
        })
        .await
        .expect("publish with the current etag")
        .into_inner();
    assert_eq!(published.status(), pb::ArticleStatus::Published);
}

async fn edit_title(app: &TestApp, id: &str, title: &str) -> pb::Article {
    app.articles
        .clone()
        .update_article(pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: id.into(),
                title: title.into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["title".into()],
            }),
        })
        .await
        .expect("edit title")
        .into_inner()
}

async fn get_in(app: &TestApp, id: &str, view: pb::ArticleView) -> Result<pb::Article, Status> {
    app.articles
        .clone()
        .get_article(pb::GetArticleRequest {
            id: id.into(),
            view: view.into(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn list_in(
    app: &TestApp,
    view: pb::ArticleView,
    status: pb::ArticleStatus,
) -> Vec<pb::Article> {
    app.articles
        .clone()
        .list_articles(pb::ListArticlesRequest {
            view: view.into(),
            status: status.into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .articles
}

#[tokio::test]
async fn edits_to_a_published_article_stay_out_of_the_published_view_until_republished() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let published = article_in(&app, &desk, pb::ArticleStatus::Published).await;
    let first_publish = published.publish_time;
    assert!(first_publish.is_some());
    assert_eq!(published.publish_time, published.last_publish_time);

    let edited = edit_title(&app, &published.id, "عنوان جديد لم ينشر بعد").await;
    assert!(edited.has_unpublished_changes);
    assert_eq!(edited.status(), pb::ArticleStatus::Published);

    let live = get_in(&app, &published.id, pb::ArticleView::Published)
        .await
        .expect("published view");
    assert_eq!(
        live.title, published.title,
        "readers still see the published title"
    );
    assert!(
        !live.has_unpublished_changes,
        "the published view never shows pending edits"
    );
    let latest = get_in(&app, &published.id, pb::ArticleView::Latest)
        .await
        .expect("latest view");
    assert_eq!(latest.title, "عنوان جديد لم ينشر بعد");
    let listed = list_in(
        &app,
        pb::ArticleView::Published,
        pb::ArticleStatus::Unspecified,
    )
    .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].title, published.title);
    let by_slug = app
        .articles
        .clone()
        .get_article(pb::GetArticleRequest {
            slug: published.slug.clone(),
            view: pb::ArticleView::Published.into(),
            ..Default::default()
        })
        .await
        .expect("published view by slug")
        .into_inner();
    assert_eq!(by_slug.title, published.title);

    // Reverting the edit by hand leaves nothing to publish.
    let reverted = edit_title(&app, &published.id, &published.title).await;
    assert!(!reverted.has_unpublished_changes);
    edit_title(&app, &published.id, "عنوان جديد لم ينشر بعد").await;

    let republished = act(&app, &published.id, Act::PublishNow)
        .await
        .expect("republish");
    assert!(!republished.has_unpublished_changes);
    assert_eq!(
        republished.publish_time, first_publish,
        "a republish keeps the first publish time"
    );
    let times = |article: &pb::Article| article.last_publish_time.map(|t| (t.seconds, t.nanos));
    assert!(
        times(&republished) > times(&published),
        "last_publish_time moves on"
    );
    let live = get_in(&app, &published.id, pb::ArticleView::Published)
        .await
        .expect("published view");
    assert_eq!(live.title, "عنوان جديد لم ينشر بعد");

    let published_events = app
        .events
        .clone()
        .list_events(pb::ListEventsRequest {
            types: vec!["article.published".into()],
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("events")
        .into_inner()
        .events;
    assert_eq!(published_events.len(), 2, "the republish is announced too");

    let revisions = app
        .articles
        .clone()
        .list_article_revisions(pb::ListArticleRevisionsRequest {
            article_id: published.id.clone(),
            ..Default::default()
        })
        .await
        .expect("revisions")
        .into_inner()
        .revisions;
    let actions: Vec<pb::RevisionAction> =
        revisions.iter().map(|revision| revision.action()).collect();
    assert_eq!(
        actions,
        [
            pb::RevisionAction::Published,
            pb::RevisionAction::Updated,
            pb::RevisionAction::Updated,
            pb::RevisionAction::Updated,
            pb::RevisionAction::Published,
            pb::RevisionAction::Created,
        ]
    );
}

#[tokio::test]
async fn the_published_view_knows_nothing_of_drafts_reviews_and_schedules() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let mut hidden = Vec::new();
    for status in [
        pb::ArticleStatus::Draft,
        pb::ArticleStatus::InReview,
        pb::ArticleStatus::Scheduled,
    ] {
        hidden.push(article_in(&app, &desk, status).await);
    }
    let live = article_in(&app, &desk, pb::ArticleStatus::Published).await;
    for article in &hidden {
        assert_code(
            get_in(&app, &article.id, pb::ArticleView::Published).await,
            Code::NotFound,
        );
        assert!(
            get_in(&app, &article.id, pb::ArticleView::Latest)
                .await
                .is_ok()
        );
    }
    let listed = list_in(
        &app,
        pb::ArticleView::Published,
        pb::ArticleStatus::Unspecified,
    )
    .await;
    assert_eq!(
        listed.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        [live.id.as_str()]
    );
    assert!(
        list_in(&app, pb::ArticleView::Published, pb::ArticleStatus::Draft)
            .await
            .is_empty()
    );

    // Withdrawn, the story leaves the published view; its slug stays taken.
    let withdrawn = act(&app, &live.id, Act::Unpublish)
        .await
        .expect("unpublish");
    assert_eq!(withdrawn.status(), pb::ArticleStatus::Draft);
    assert_code(
        get_in(&app, &live.id, pb::ArticleView::Published).await,
        Code::NotFound,
    );
    let clash = app
        .try_article(pb::Article {
            slug: live.slug.clone(),
            ..draft("آخر", &desk)
        })
        .await;
    assert_code(clash, Code::AlreadyExists);
}

#[tokio::test]
async fn archived_articles_stay_readable_at_their_permalink_but_leave_listings() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let archived = article_in(&app, &desk, pb::ArticleStatus::Archived).await;
    let live = article_in(&app, &desk, pb::ArticleStatus::Published).await;

    let read = get_in(&app, &archived.id, pb::ArticleView::Published)
        .await
        .expect("permalink by id");
    assert_eq!(read.status(), pb::ArticleStatus::Archived);
    let by_slug = app
        .articles
        .clone()
        .get_article(pb::GetArticleRequest {
            slug: archived.slug.clone(),
            view: pb::ArticleView::Published.into(),
            ..Default::default()
        })
        .await
        .expect("permalink by slug")
        .into_inner();
    assert_eq!(by_slug.id, archived.id);

    for view in [pb::ArticleView::Published, pb::ArticleView::Latest] {
        let listed = list_in(&app, view, pb::ArticleStatus::Unspecified).await;
        assert!(
            listed.iter().all(|article| article.id != archived.id),
            "{view:?} default listing"
        );
        assert!(
            listed.iter().any(|article| article.id == live.id),
            "{view:?} default listing"
        );
        let only_archived = list_in(&app, view, pb::ArticleStatus::Archived).await;
        assert_eq!(
            only_archived
                .iter()
                .map(|a| a.id.as_str())
                .collect::<Vec<_>>(),
            [archived.id.as_str()]
        );
    }
    assert_code(
        app.articles
            .clone()
            .update_article(pb::UpdateArticleRequest {
                article: Some(pb::Article {
                    id: archived.id.clone(),
                    title: "x".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["title".into()],
                }),
            })
            .await,
        Code::FailedPrecondition,
    );
}

#[tokio::test]
async fn a_published_permalink_cannot_change() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let published = article_in(&app, &desk, pb::ArticleStatus::Published).await;
    for (path, article) in [
        (
            "slug",
            pb::Article {
                id: published.id.clone(),
                slug: "رابط-جديد".into(),
                ..Default::default()
            },
        ),
        (
            "language",
            pb::Article {
                id: published.id.clone(),
                language: "en".into(),
                ..Default::default()
            },
        ),
    ] {
        let moved = app
            .articles
            .clone()
            .update_article(pb::UpdateArticleRequest {
                article: Some(article),
                update_mask: Some(FieldMask {
                    paths: vec![path.into()],
                }),
            })
            .await;
        assert_code(moved, Code::FailedPrecondition);
    }
}

#[tokio::test]
async fn list_orders_belong_to_their_view() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let first = article_in(&app, &desk, pb::ArticleStatus::Published).await;
    let second = article_in(&app, &desk, pb::ArticleStatus::Published).await;
    let mut articles = app.articles.clone();
    let oldest_first = articles
        .list_articles(pb::ListArticlesRequest {
            view: pb::ArticleView::Published.into(),
            order_by: pb::ArticleOrderBy::PublishTimeAsc.into(),
            ..Default::default()
        })
        .await
        .expect("published, oldest first")
        .into_inner()
        .articles;
    assert_eq!(
        oldest_first
            .iter()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>(),
        [first.id.as_str(), second.id.as_str()]
    );
    for (view, order) in [
        (pb::ArticleView::Latest, pb::ArticleOrderBy::PublishTimeDesc),
        (
            pb::ArticleView::Published,
            pb::ArticleOrderBy::UpdateTimeDesc,
        ),
    ] {
        let status = articles
            .list_articles(pb::ListArticlesRequest {
                view: view.into(),
                order_by: order.into(),
                ..Default::default()
            })
            .await
            .expect_err("order from the other view");
        crate::support::assert_invalid(&status, "order_by");
    }
}
