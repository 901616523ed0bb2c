//! Revisions: every change appends one, history is never rewritten, and an
//! old revision's content can be restored as a new revision.

use newsdesk::proto as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::support::{TestApp, assert_code, assert_invalid, draft};

async fn update(app: &TestApp, id: &str, article: pb::Article, paths: &[&str]) -> pb::Article {
    app.articles
        .clone()
        .update_article(pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: id.into(),
                ..article
            }),
            update_mask: Some(FieldMask {
                paths: paths.iter().map(|p| p.to_string()).collect(),
            }),
        })
        .await
        .expect("update")
        .into_inner()
}

async fn revisions(app: &TestApp, id: &str, page_size: i32) -> Vec<pb::ArticleRevision> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .articles
            .clone()
            .list_article_revisions(pb::ListArticleRevisionsRequest {
                article_id: id.into(),
                page_size,
                page_token,
            })
            .await
            .expect("list revisions")
            .into_inner();
        all.extend(page.revisions);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test]
async fn every_change_appends_a_numbered_revision_with_its_action_fields_and_content() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = app.article(draft("العنوان الأول", &desk)).await;
    assert_eq!(article.revision, 1);
    update(
        &app,
        &article.id,
        pb::Article {
            title: "العنوان الثاني".into(),
            ..Default::default()
        },
        &["title"],
    )
    .await;
    let mut articles = app.articles.clone();
    articles
        .submit_article(pb::SubmitArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("submit");
    articles
        .return_article(pb::ReturnArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
            note: "أضف مصدرًا للاقتباس".into(),
        })
        .await
        .expect("return");
    update(
        &app,
        &article.id,
        pb::Article {
            body: "نص منقح".into(),
            tags: vec!["روسيا".into()],
            ..Default::default()
        },
        &["body", "tags"],
    )
    .await;
    articles
        .publish_article(pb::PublishArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
            publish_time: None,
        })
        .await
        .expect("publish");
    // An update that changes nothing is not a change: no revision.
    let unchanged = update(
        &app,
        &article.id,
        pb::Article {
            body: "نص منقح".into(),
            ..Default::default()
        },
        &["body"],
    )
    .await;
    assert_eq!(unchanged.revision, 6);

    let history = revisions(&app, &article.id, 2).await;
    let numbers: Vec<i32> = history.iter().map(|revision| revision.revision).collect();
    assert_eq!(
        numbers,
        [6, 5, 4, 3, 2, 1],
        "newest first, paged two at a time"
    );
    let actions: Vec<pb::RevisionAction> =
        history.iter().map(|revision| revision.action()).collect();
    assert_eq!(
        actions,
        [
            pb::RevisionAction::Published,
            pb::RevisionAction::Updated,
            pb::RevisionAction::Returned,
            pb::RevisionAction::Submitted,
            pb::RevisionAction::Updated,
            pb::RevisionAction::Created,
        ]
    );
    assert_eq!(history[1].changed_fields, ["body", "tags"]);
    assert_eq!(history[4].changed_fields, ["title"]);
    assert_eq!(history[0].changed_fields, ["status"]);
    assert_eq!(history[2].note, "أضف مصدرًا للاقتباس");
    assert_eq!(history[2].status(), pb::ArticleStatus::Draft);
    assert_eq!(history[0].status(), pb::ArticleStatus::Published);
    let first = history[5].snapshot.as_ref().expect("snapshot");
    assert_eq!(first.title, "العنوان الأول");
    assert_eq!(first.author_ids, vec![desk.id.clone()]);
    let latest = history[0].snapshot.as_ref().expect("snapshot");
    assert_eq!(
        (latest.title.as_str(), latest.body.as_str()),
        ("العنوان الثاني", "نص منقح")
    );

    let one = articles
        .get_article_revision(pb::GetArticleRevisionRequest {
            article_id: article.id.clone(),
            revision: 3,
        })
        .await
        .expect("get revision 3")
        .into_inner();
    assert_eq!(one, history[3]);
}

#[tokio::test]
async fn restoring_revision_1_of_5_makes_revision_6_with_revision_1s_content() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let reporter = app.author("مراسل", pb::AuthorKind::Person).await;
    let article = app
        .article(pb::Article {
            subtitle: "العنوان الفرعي الأول".into(),
            tags: vec!["أول".into()],
            ..draft("العنوان الأول", &desk)
        })
        .await;
    for i in 2..=5 {
        update(
            &app,
            &article.id,
            pb::Article {
                title: format!("العنوان رقم {i}"),
                body: format!("النص رقم {i}"),
                author_ids: vec![reporter.id.clone()],
                tags: vec![format!("وسم {i}")],
                ..Default::default()
            },
            &["title", "body", "author_ids", "tags"],
        )
        .await;
    }
    let current = app.get_article(&article.id).await.expect("get");
    assert_eq!(current.revision, 5);

    let restored = app
        .articles
        .clone()
        .restore_article_revision(pb::RestoreArticleRevisionRequest {
            article_id: article.id.clone(),
            revision: 1,
            etag: current.etag.clone(),
        })
        .await
        .expect("restore")
        .into_inner();
    assert_eq!(restored.revision, 6);
    assert_eq!(restored.title, article.title);
    assert_eq!(restored.subtitle, article.subtitle);
    assert_eq!(restored.body, article.body);
    assert_eq!(restored.author_ids, article.author_ids);
    assert_eq!(restored.tags, article.tags);
    assert_eq!(restored.slug, article.slug);

    let history = revisions(&app, &article.id, 0).await;
    assert_eq!(history.len(), 6, "history is appended to, never rewritten");
    assert_eq!(history[0].action(), pb::RevisionAction::Restored);
    assert_eq!(
        history[4].snapshot.as_ref().map(|s| s.title.as_str()),
        Some("العنوان رقم 2")
    );
    assert_eq!(
        history[0].snapshot.as_ref().map(|s| s.title.as_str()),
        history[5].snapshot.as_ref().map(|s| s.title.as_str())
    );

    // Restoring what the article already says is still a restore someone
    // asked for, and history records it.
    let again = app
        .articles
        .clone()
        .restore_article_revision(pb::RestoreArticleRevisionRequest {
            article_id: article.id.clone(),
            revision: 6,
            etag: String::new(),
        })
        .await
        .expect("restore the current content")
        .into_inner();
    assert_eq!(again.revision, 7);

    // The etag was used: the same request again is stale.
    let again = app
        .articles
        .clone()
        .restore_article_revision(pb::RestoreArticleRevisionRequest {
            article_id: article.id.clone(),
            revision: 1,
            etag: current.etag,
        })
        .await;
    assert_code(again, Code::Aborted);
}

#[tokio::test]
async fn restoring_into_a_published_article_changes_only_the_working_copy() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = app.article(draft("العنوان الأول", &desk)).await;
    update(
        &app,
        &article.id,
        pb::Article {
            title: "العنوان المنشور".into(),
            ..Default::default()
        },
        &["title"],
    )
    .await;
    let mut articles = app.articles.clone();
    articles
        .publish_article(pb::PublishArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
            publish_time: None,
        })
        .await
        .expect("publish");
    let restored = articles
        .restore_article_revision(pb::RestoreArticleRevisionRequest {
            article_id: article.id.clone(),
            revision: 1,
            etag: String::new(),
        })
        .await
        .expect("restore")
        .into_inner();
    assert!(restored.has_unpublished_changes);
    let live = articles
        .get_article(pb::GetArticleRequest {
            id: article.id.clone(),
            view: pb::ArticleView::Published.into(),
            ..Default::default()
        })
        .await
        .expect("published view")
        .into_inner();
    assert_eq!(live.title, "العنوان المنشور");
}

#[tokio::test]
async fn missing_revisions_and_articles_are_not_found_and_bad_numbers_invalid() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = app.article(draft("خبر", &desk)).await;
    let mut articles = app.articles.clone();
    assert_code(
        articles
            .get_article_revision(pb::GetArticleRevisionRequest {
                article_id: article.id.clone(),
                revision: 9,
            })
            .await,
        Code::NotFound,
    );
    let status = articles
        .get_article_revision(pb::GetArticleRevisionRequest {
            article_id: article.id.clone(),
            revision: 0,
        })
        .await
        .expect_err("revision 0");
    assert_invalid(&status, "revision");
    assert_code(
        articles
            .list_article_revisions(pb::ListArticleRevisionsRequest {
                article_id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        articles
            .restore_article_revision(pb::RestoreArticleRevisionRequest {
                article_id: article.id.clone(),
                revision: 7,
                etag: String::new(),
            })
            .await,
        Code::NotFound,
    );
}
