//! ArticleService: the seed article, slugs, masks, soft delete, retries,
//! filters.

use newsdesk::proto as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::support::{TestApp, assert_code, draft, seed_article};

const SEED_SLUG: &str = "مبعوث-الولايات-المتحدة-ويتكوف-يلتقي-بوتين-في-روسيا-لمحادثات-حرب-أوكرانيا";

#[tokio::test]
async fn the_seed_article_round_trips_byte_for_byte_with_the_desk_as_author() {
    let app = TestApp::spawn().await;
    let seed = seed_article();
    assert_eq!(seed.byline, "فريق التحرير");
    let desk = app.author(&seed.byline, pb::AuthorKind::Desk).await;

    let created = app
        .article(pb::Article {
            title: seed.title.clone(),
            body: seed.body.clone(),
            author_ids: vec![desk.id.clone()],
            tags: vec!["روسيا".into(), "أوكرانيا".into()],
            section: "سياسة".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(created.slug, SEED_SLUG);
    assert_eq!(created.language, "ar");
    assert_eq!(created.status(), pb::ArticleStatus::Draft);
    assert_eq!(created.comments_enabled, Some(true));
    assert!(
        created.word_count > 500,
        "word count {}",
        created.word_count
    );
    assert_eq!(
        created.reading_time_minutes,
        (created.word_count + 199) / 200
    );

    let by_id = app.get_article(&created.id).await.expect("get by id");
    let by_slug = app
        .articles
        .clone()
        .get_article(pb::GetArticleRequest {
            slug: SEED_SLUG.into(),
            ..Default::default()
        })
        .await
        .expect("get by slug in the default language")
        .into_inner();
    for read in [&by_id, &by_slug] {
        assert_eq!(read.title.as_bytes(), seed.title.as_bytes());
        assert_eq!(read.body.as_bytes(), seed.body.as_bytes());
        assert_eq!(read.author_ids, vec![desk.id.clone()]);
        assert_eq!(read.tags, ["روسيا", "أوكرانيا"]);
        assert_eq!(read, &created);
    }
}

#[tokio::test]
async fn update_with_a_mask_changes_only_the_named_fields() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let original = app
        .article(pb::Article {
            subtitle: "عنوان فرعي".into(),
            tags: vec!["روسيا".into()],
            ..draft("العنوان الأول", &desk)
        })
        .await;

    let updated = app
        .articles
        .clone()
        .update_article(pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: original.id.clone(),
                etag: original.etag.clone(),
                title: "العنوان الجديد".into(),
                body: "not in the mask".into(),
                comments_enabled: Some(false),
                status: pb::ArticleStatus::Draft.into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["title".into(), "comments_enabled".into()],
            }),
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.title, "العنوان الجديد");
    assert_eq!(updated.comments_enabled, Some(false));
    assert_eq!(updated.body, original.body);
    assert_eq!(updated.subtitle, original.subtitle);
    assert_eq!(updated.tags, original.tags);
    assert_eq!(updated.author_ids, original.author_ids);
    assert_eq!(
        updated.slug, original.slug,
        "a permalink does not follow the title"
    );
    assert_eq!(updated.create_time, original.create_time);
    let seconds_and_nanos =
        |article: &pb::Article| article.update_time.map(|t| (t.seconds, t.nanos));
    assert!(seconds_and_nanos(&updated) > seconds_and_nanos(&original));
    assert_ne!(updated.etag, original.etag);
    assert_eq!(app.get_article(&original.id).await.expect("get"), updated);
}

#[tokio::test]
async fn an_empty_mask_replaces_every_writable_field() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let reporter = app.author("مراسل", pb::AuthorKind::Person).await;
    let original = app
        .article(pb::Article {
            subtitle: "سيختفي".into(),
            tags: vec!["قديم".into()],
            section: "سياسة".into(),
            ..draft("عنوان", &desk)
        })
        .await;

    let replaced = app
        .articles
        .clone()
        .update_article(pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: original.id.clone(),
                title: "عنوان جديد".into(),
                body: "## فرعي\n\nنص جديد من أربع كلمات".into(),
                author_ids: vec![reporter.id.clone(), desk.id.clone()],
                tags: vec!["جديد".into()],
                slug: "عنوان-جديد".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect("replace")
        .into_inner();
    assert_eq!(replaced.title, "عنوان جديد");
    assert_eq!(replaced.subtitle, "");
    assert_eq!(replaced.section, "");
    assert_eq!(replaced.tags, ["جديد"]);
    assert_eq!(replaced.author_ids, [reporter.id.clone(), desk.id.clone()]);
    assert_eq!(replaced.slug, "عنوان-جديد");
    assert_eq!(replaced.word_count, 6);
    assert_eq!(
        replaced.language, "ar",
        "an empty language keeps the current one"
    );
    assert_eq!(
        replaced.comments_enabled,
        Some(true),
        "an unset comments_enabled keeps the current value"
    );
}

#[tokio::test]
async fn soft_deleted_articles_leave_get_and_list_until_undeleted() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let kept = app.article(draft("يبقى", &desk)).await;
    let doomed = app.article(draft("يحذف", &desk)).await;
    let mut articles = app.articles.clone();
    let list = |show_deleted| pb::ListArticlesRequest {
        show_deleted,
        ..Default::default()
    };
    let ids = |response: pb::ListArticlesResponse| -> Vec<String> {
        response
            .articles
            .into_iter()
            .map(|article| article.id)
            .collect()
    };

    articles
        .delete_article(pb::DeleteArticleRequest {
            id: doomed.id.clone(),
            etag: doomed.etag.clone(),
        })
        .await
        .expect("delete");
    assert_code(app.get_article(&doomed.id).await, Code::NotFound);
    assert_code(
        articles
            .get_article(pb::GetArticleRequest {
                slug: doomed.slug.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    let deleted = articles
        .get_article(pb::GetArticleRequest {
            id: doomed.id.clone(),
            show_deleted: true,
            ..Default::default()
        })
        .await
        .expect("get with show_deleted")
        .into_inner();
    assert!(deleted.delete_time.is_some());
    assert_eq!(
        ids(articles
            .list_articles(list(false))
            .await
            .expect("list")
            .into_inner()),
        vec![kept.id.clone()]
    );
    assert_eq!(
        ids(articles
            .list_articles(list(true))
            .await
            .expect("list deleted")
            .into_inner()),
        [doomed.id.clone(), kept.id.clone()]
    );

    // Deleted articles keep their permalink, and cannot be edited or deleted again.
    assert_code(
        app.try_article(pb::Article {
            slug: doomed.slug.clone(),
            ..draft("x", &desk)
        })
        .await,
        Code::AlreadyExists,
    );
    assert_code(
        articles
            .delete_article(pb::DeleteArticleRequest {
                id: doomed.id.clone(),
                etag: String::new(),
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        articles
            .update_article(pb::UpdateArticleRequest {
                article: Some(pb::Article {
                    id: doomed.id.clone(),
                    title: "x".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["title".into()],
                }),
            })
            .await,
        Code::NotFound,
    );

    assert_code(
        articles
            .undelete_article(pb::UndeleteArticleRequest {
                id: doomed.id.clone(),
                etag: doomed.etag.clone(),
            })
            .await,
        Code::Aborted,
    );
    let restored = articles
        .undelete_article(pb::UndeleteArticleRequest {
            id: doomed.id.clone(),
            etag: deleted.etag.clone(),
        })
        .await
        .expect("undelete")
        .into_inner();
    assert!(restored.delete_time.is_none());
    assert_eq!(restored.slug, doomed.slug);
    assert_eq!(
        app.get_article(&doomed.id)
            .await
            .expect("get after undelete"),
        restored
    );
    assert_code(
        articles
            .undelete_article(pb::UndeleteArticleRequest {
                id: doomed.id.clone(),
                etag: String::new(),
            })
            .await,
        Code::AlreadyExists,
    );
}

#[tokio::test]
async fn create_article_with_the_same_request_id_returns_the_first_article() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let request = pb::CreateArticleRequest {
        article: Some(draft("خبر مرة واحدة", &desk)),
        request_id: "0b6f6c1e-8a58-4c1b-9f0e-7d1a2b3c4d5e".into(),
    };
    let mut articles = app.articles.clone();
    let first = articles
        .create_article(request.clone())
        .await
        .expect("first")
        .into_inner();
    let retry = articles
        .create_article(request.clone())
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, retry);

    // Another request id makes another article.
    let other = articles
        .create_article(pb::CreateArticleRequest {
            request_id: String::new(),
            ..request
        })
        .await
        .expect("new request")
        .into_inner();
    assert_ne!(other.id, first.id);
    assert_eq!(other.slug, format!("{}-2", first.slug));
}

#[tokio::test]
async fn list_articles_filters_by_author_tag_section_language_and_status() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let reporter = app.author("مراسل", pb::AuthorKind::Person).await;
    let politics = app
        .article(pb::Article {
            section: "سياسة".into(),
            tags: vec!["روسيا".into(), "أوكرانيا".into()],
            ..draft("سياسة", &desk)
        })
        .await;
    let sport = app
        .article(pb::Article {
            section: "رياضة".into(),
            tags: vec!["كرة".into()],
            author_ids: vec![reporter.id.clone(), desk.id.clone()],
            ..draft("رياضة", &desk)
        })
        .await;
    let english = app
        .article(pb::Article {
            language: "en".into(),
            tags: vec!["روسيا".into()],
            ..draft("Politics", &reporter)
        })
        .await;

    let mut articles = app.articles.clone();
    let mut ids = async |request: pb::ListArticlesRequest| -> Vec<String> {
        articles
            .list_articles(request)
            .await
            .expect("list")
            .into_inner()
            .articles
            .into_iter()
            .map(|article| article.id)
            .collect()
    };
    let all = pb::ListArticlesRequest::default;
    assert_eq!(
        ids(pb::ListArticlesRequest {
            author_id: desk.id.clone(),
            ..all()
        })
        .await,
        [sport.id.clone(), politics.id.clone()]
    );
    assert_eq!(
        ids(pb::ListArticlesRequest {
            author_id: reporter.id.clone(),
            ..all()
        })
        .await,
        [english.id.clone(), sport.id.clone()]
    );
    assert_eq!(
        ids(pb::ListArticlesRequest {
            tag: "روسيا".into(),
            ..all()
        })
        .await,
        [english.id.clone(), politics.id.clone()]
    );
    assert_eq!(
        ids(pb::ListArticlesRequest {
            section: "رياضة".into(),
            ..all()
        })
        .await,
        vec![sport.id.clone()]
    );
    assert_eq!(
        ids(pb::ListArticlesRequest {
            language: "EN".into(),
            ..all()
        })
        .await,
        vec![english.id.clone()]
    );
    assert_eq!(
        ids(pb::ListArticlesRequest {
            language: "ar".into(),
            tag: "روسيا".into(),
            ..all()
        })
        .await,
        vec![politics.id.clone()]
    );
    assert_eq!(
        ids(pb::ListArticlesRequest {
            status: pb::ArticleStatus::Draft.into(),
            ..all()
        })
        .await
        .len(),
        3
    );
    assert!(
        ids(pb::ListArticlesRequest {
            tag: "لا يوجد".into(),
            ..all()
        })
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn deleting_with_a_stale_etag_is_aborted_and_deletes_nothing() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = app.article(draft("خبر", &desk)).await;
    let mut articles = app.articles.clone();
    articles
        .update_article(pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: article.id.clone(),
                subtitle: "جديد".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["subtitle".into()],
            }),
        })
        .await
        .expect("update");
    let stale = articles
        .delete_article(pb::DeleteArticleRequest {
            id: article.id.clone(),
            etag: article.etag.clone(),
        })
        .await;
    assert_code(stale, Code::Aborted);
    assert!(app.get_article(&article.id).await.is_ok(), "still there");
}
