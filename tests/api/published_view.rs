//! The published view: what readers see of a live story while the newsroom
//! prepares the next edit, which articles exist in it at all, and how it is
//! listed, paged and filtered.

use newsdesk::proto as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::{
    support::{TestApp, assert_code, draft},
    workflow::{Act, act, article_in, edit_title, get_in, list_in},
};

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
    // Created first, published second: publish order is not creation order.
    let second = app.article(draft("كتب أولا ونشر ثانيا", &desk)).await;
    let first = article_in(&app, &desk, pb::ArticleStatus::Published).await;
    act(&app, &second.id, Act::PublishNow)
        .await
        .expect("publish");
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

#[tokio::test]
async fn the_published_view_pages_and_filters_by_what_readers_see() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let reporter = app.author("مراسل", pb::AuthorKind::Person).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let article = app
            .article(pb::Article {
                section: "سياسة".into(),
                tags: vec!["روسيا".into()],
                ..draft(&format!("خبر منشور {i}"), &desk)
            })
            .await;
        act(&app, &article.id, Act::PublishNow)
            .await
            .expect("publish");
        ids.push(article.id);
    }
    // Pending edits move the working copy elsewhere; readers' filters must
    // still see the live section, tag and byline.
    let moved = &ids[0];
    app.articles
        .clone()
        .update_article(pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: moved.clone(),
                section: "رياضة".into(),
                tags: vec!["كرة".into()],
                author_ids: vec![reporter.id.clone()],
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["section".into(), "tags".into(), "author_ids".into()],
            }),
        })
        .await
        .expect("edit the working copy");

    let mut articles = app.articles.clone();
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = articles
            .list_articles(pb::ListArticlesRequest {
                view: pb::ArticleView::Published.into(),
                section: "سياسة".into(),
                tag: "روسيا".into(),
                author_id: desk.id.clone(),
                page_size: 3,
                page_token,
                ..Default::default()
            })
            .await
            .expect("published page")
            .into_inner();
        assert!(
            page.articles.iter().all(|article| article.etag.is_empty()),
            "readers get no etags"
        );
        seen.extend(page.articles.into_iter().map(|article| article.id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(
        seen, newest_first,
        "every live article once, most recently published first"
    );

    for (field, request) in [
        (
            "section",
            pb::ListArticlesRequest {
                section: "رياضة".into(),
                ..Default::default()
            },
        ),
        (
            "tag",
            pb::ListArticlesRequest {
                tag: "كرة".into(),
                ..Default::default()
            },
        ),
        (
            "author_id",
            pb::ListArticlesRequest {
                author_id: reporter.id.clone(),
                ..Default::default()
            },
        ),
    ] {
        let published = articles
            .list_articles(pb::ListArticlesRequest {
                view: pb::ArticleView::Published.into(),
                ..request.clone()
            })
            .await
            .expect("published view")
            .into_inner()
            .articles;
        assert!(
            published.is_empty(),
            "{field}: the pending edit is not live"
        );
        let latest = articles
            .list_articles(request)
            .await
            .expect("latest view")
            .into_inner()
            .articles;
        assert_eq!(
            latest.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
            [moved.as_str()],
            "{field}"
        );
    }
}

#[tokio::test]
async fn a_scheduled_article_cannot_be_edited_into_one_that_could_not_be_published() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let scheduled = article_in(&app, &desk, pb::ArticleStatus::Scheduled).await;
    let emptied = app
        .articles
        .clone()
        .update_article(pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: scheduled.id.clone(),
                body: String::new(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["body".into()],
            }),
        })
        .await;
    assert_code(emptied, Code::FailedPrecondition);
    let edited = edit_title(&app, &scheduled.id, "عنوان معدل قبل الموعد").await;
    assert_eq!(edited.status(), pb::ArticleStatus::Scheduled);
}
