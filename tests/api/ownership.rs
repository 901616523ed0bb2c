//! What the matrix cannot show: writers keeping to their own drafts through
//! every way in (bylines, restores, request ids, slugs, submission), and
//! anonymous readers getting the published view and no private details.

use newsdesk::proto as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::support::{TestApp, assert_code, draft};

#[tokio::test]
async fn a_writer_cannot_hand_a_draft_away_or_edit_it_once_submitted() {
    let app = TestApp::spawn().await;
    let me = app.author("كاتب", pb::AuthorKind::Person).await;
    let colleague = app.author("كاتبة أخرى", pb::AuthorKind::Person).await;
    let writer = app.as_token(&app.token(pb::Role::Writer, Some(&me.id)).await);
    let mut articles = writer.articles.clone();

    let mut shared = draft("مقال مشترك", &colleague);
    shared.author_ids.push(me.id.clone());
    let article = articles
        .create_article(pb::CreateArticleRequest {
            article: Some(shared),
            request_id: String::new(),
        })
        .await
        .expect("a writer creates an article crediting them and a colleague")
        .into_inner();

    // Dropping their own credit would hand the draft to the colleague.
    let status = assert_code(
        articles
            .update_article(pb::UpdateArticleRequest {
                article: Some(pb::Article {
                    id: article.id.clone(),
                    author_ids: vec![colleague.id.clone()],
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["author_ids".into()],
                }),
            })
            .await,
        Code::PermissionDenied,
    );
    assert!(status.message().contains("credit"), "{status:?}");

    // So would restoring a revision that did not credit them, made by an
    // editor in between.
    app.articles
        .clone()
        .update_article(pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: article.id.clone(),
                author_ids: vec![colleague.id.clone()],
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["author_ids".into()],
            }),
        })
        .await
        .expect("an editor changes the byline");
    let status = assert_code(
        articles
            .get_article(pb::GetArticleRequest {
                id: article.id.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    assert!(!status.message().contains(&colleague.id));
    app.articles
        .clone()
        .restore_article_revision(pb::RestoreArticleRevisionRequest {
            article_id: article.id.clone(),
            revision: 1,
            etag: String::new(),
        })
        .await
        .expect("an editor restores the writer's byline");
    let status = assert_code(
        articles
            .restore_article_revision(pb::RestoreArticleRevisionRequest {
                article_id: article.id.clone(),
                revision: 2,
                etag: String::new(),
            })
            .await,
        Code::PermissionDenied,
    );
    assert!(status.message().contains("credit"), "{status:?}");

    // Submitted, the draft is the editors' until it comes back.
    articles
        .submit_article(pb::SubmitArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("the writer submits their draft");
    assert_code(
        articles
            .update_article(pb::UpdateArticleRequest {
                article: Some(pb::Article {
                    id: article.id.clone(),
                    subtitle: "تعديل بعد الإرسال".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["subtitle".into()],
                }),
            })
            .await,
        Code::PermissionDenied,
    );
    let read = articles
        .get_article(pb::GetArticleRequest {
            id: article.id.clone(),
            ..Default::default()
        })
        .await
        .expect("the writer still reads their submitted article")
        .into_inner();
    assert_eq!(read.status(), pb::ArticleStatus::InReview);
    assert_code(
        articles
            .publish_article(pb::PublishArticleRequest {
                id: article.id.clone(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
    );
}

#[tokio::test]
async fn anonymous_readers_get_the_published_view_and_nothing_else() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let live = app.article(draft("خبر منشور", &desk)).await;
    app.articles
        .clone()
        .publish_article(pb::PublishArticleRequest {
            id: live.id.clone(),
            ..Default::default()
        })
        .await
        .expect("publish");
    let unpublished = app.article(draft("مسودة", &desk)).await;
    let reader = app.as_anonymous();

    // Asking for no view gets a reader the published one.
    let listed = reader
        .articles
        .clone()
        .list_articles(pb::ListArticlesRequest::default())
        .await
        .expect("an anonymous listing")
        .into_inner()
        .articles;
    let ids: Vec<&str> = listed.iter().map(|article| article.id.as_str()).collect();
    assert_eq!(ids, [live.id.as_str()]);
    let read = reader
        .articles
        .clone()
        .get_article(pb::GetArticleRequest {
            id: live.id.clone(),
            ..Default::default()
        })
        .await
        .expect("an anonymous read")
        .into_inner();
    assert_eq!(read.title, "خبر منشور");
    assert_code(
        reader
            .articles
            .clone()
            .get_article(pb::GetArticleRequest {
                id: unpublished.id.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        reader
            .articles
            .clone()
            .list_articles(pb::ListArticlesRequest {
                view: pb::ArticleView::Latest.into(),
                ..Default::default()
            })
            .await,
        Code::Unauthenticated,
    );
}

#[tokio::test]
async fn request_ids_are_each_callers_own() {
    let app = TestApp::spawn().await;
    let first = app.author("كاتب", pb::AuthorKind::Person).await;
    let second = app.author("كاتبة", pb::AuthorKind::Person).await;
    let first_writer = app.as_token(&app.token(pb::Role::Writer, Some(&first.id)).await);
    let second_writer = app.as_token(&app.token(pb::Role::Writer, Some(&second.id)).await);
    let request_id = "0190a1b2-c3d4-7e5f-8a9b-000000000001".to_owned();
    let create = |author: &pb::Author| pb::CreateArticleRequest {
        article: Some(draft("مسودة سرية", author)),
        request_id: request_id.clone(),
    };

    let mine = first_writer
        .articles
        .clone()
        .create_article(create(&first))
        .await
        .expect("the first writer's draft")
        .into_inner();
    let retried = first_writer
        .articles
        .clone()
        .create_article(create(&first))
        .await
        .expect("the first writer's retry")
        .into_inner();
    assert_eq!(retried.id, mine.id, "a retry returns the first result");

    // Someone else's request id is just a new request for them.
    let theirs = second_writer
        .articles
        .clone()
        .create_article(create(&second))
        .await
        .expect("the second writer's draft")
        .into_inner();
    assert_ne!(theirs.id, mine.id);
    assert_eq!(theirs.author_ids, [second.id.as_str()]);
}

#[tokio::test]
async fn a_writer_asking_for_another_writers_slug_hears_it_does_not_exist() {
    let app = TestApp::spawn().await;
    let me = app.author("كاتب", pb::AuthorKind::Person).await;
    let colleague = app.author("كاتبة", pb::AuthorKind::Person).await;
    let writer = app.as_token(&app.token(pb::Role::Writer, Some(&me.id)).await);
    let hidden = app.article(draft("خبر حصري", &colleague)).await;

    let by_slug = |slug: &str| pb::GetArticleRequest {
        slug: slug.to_owned(),
        language: "ar".into(),
        ..Default::default()
    };
    let taken = assert_code(
        writer
            .articles
            .clone()
            .get_article(by_slug(&hidden.slug))
            .await,
        Code::NotFound,
    );
    let free = assert_code(
        writer
            .articles
            .clone()
            .get_article(by_slug("لا-يوجد-مثله"))
            .await,
        Code::NotFound,
    );
    assert_eq!(
        taken.message().replace(&hidden.slug, "<slug>"),
        free.message().replace("لا-يوجد-مثله", "<slug>"),
        "a taken slug and a free one answer alike"
    );
    assert!(!taken.message().contains(&hidden.id));
}

#[tokio::test]
async fn authors_addresses_are_for_the_newsroom_only() {
    let app = TestApp::spawn().await;
    let created = app
        .authors
        .clone()
        .create_author(pb::CreateAuthorRequest {
            author: Some(pb::Author {
                display_name: "مراسلة".into(),
                kind: pb::AuthorKind::Person.into(),
                email: "reporter@news.example".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("create author")
        .into_inner();
    let get = pb::GetAuthorRequest {
        id: created.id.clone(),
        ..Default::default()
    };

    let reader = app.as_anonymous();
    let read = reader
        .authors
        .clone()
        .get_author(get.clone())
        .await
        .expect("an anonymous read")
        .into_inner();
    assert_eq!(read.display_name, "مراسلة");
    assert_eq!(read.email, "");
    let listed = reader
        .authors
        .clone()
        .list_authors(pb::ListAuthorsRequest::default())
        .await
        .expect("an anonymous listing")
        .into_inner()
        .authors;
    assert!(listed.iter().all(|author| author.email.is_empty()));

    let subscriber = app.as_token(&app.token(pb::Role::Subscriber, None).await);
    let read = subscriber
        .authors
        .clone()
        .get_author(get)
        .await
        .expect("a key's read")
        .into_inner();
    assert_eq!(read.email, "reporter@news.example");
}
