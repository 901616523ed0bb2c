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
pub(crate) enum Act {
    Submit,
    Return,
    PublishNow,
    PublishLater,
    Unpublish,
    Archive,
}

pub(crate) const ACTS: [Act; 6] = [
    Act::Submit,
    Act::Return,
    Act::PublishNow,
    Act::PublishLater,
    Act::Unpublish,
    Act::Archive,
];

pub(crate) async fn act(app: &TestApp, id: &str, act: Act) -> Result<pb::Article, Status> {
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

pub(crate) fn in_an_hour() -> Timestamp {
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    Timestamp {
        seconds: later.timestamp(),
        nanos: 0,
    }
}

/// A complete article (title, body, byline) brought to `status` through the API.
pub(crate) async fn article_in(
    app: &TestApp,
    desk: &pb::Author,
    status: pb::ArticleStatus,
) -> pb::Article {
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

pub(crate) async fn edit_title(app: &TestApp, id: &str, title: &str) -> pb::Article {
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

pub(crate) async fn get_in(
    app: &TestApp,
    id: &str,
    view: pb::ArticleView,
) -> Result<pb::Article, Status> {
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

pub(crate) async fn list_in(
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
