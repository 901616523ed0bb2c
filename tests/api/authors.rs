//! AuthorService: people and desks, slugs, masks, etags, deletion rules.

use newsdesk::proto as pb;
use prost_types::FieldMask;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{TestApp, assert_code, draft};

#[tokio::test]
async fn a_desk_author_round_trips_with_its_arabic_name_and_derived_slug() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    assert_eq!(desk.display_name, "فريق التحرير");
    assert_eq!(desk.slug, "فريق-التحرير");
    assert_eq!(desk.kind(), pb::AuthorKind::Desk);
    assert!(!desk.etag.is_empty());
    assert!(desk.create_time.is_some() && desk.create_time == desk.update_time);

    let mut authors = app.authors.clone();
    let by_id = authors
        .get_author(pb::GetAuthorRequest {
            id: desk.id.clone(),
            ..Default::default()
        })
        .await
        .expect("get by id")
        .into_inner();
    let by_slug = authors
        .get_author(pb::GetAuthorRequest {
            slug: "فريق-التحرير".into(),
            ..Default::default()
        })
        .await
        .expect("get by slug")
        .into_inner();
    assert_eq!(by_id, desk);
    assert_eq!(by_slug, desk);
}

#[tokio::test]
async fn an_unspecified_kind_makes_a_person() {
    let app = TestApp::spawn().await;
    let person = app.author("ستيف ويتكوف", pb::AuthorKind::Unspecified).await;
    assert_eq!(person.kind(), pb::AuthorKind::Person);
}

#[tokio::test]
async fn derived_author_slugs_count_up_and_explicit_clashes_are_already_exists() {
    let app = TestApp::spawn().await;
    let first = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let second = app.author("فريقُ التحريرِ", pb::AuthorKind::Desk).await;
    assert_eq!(first.slug, "فريق-التحرير");
    assert_eq!(second.slug, "فريق-التحرير-2");

    let clash = app
        .authors
        .clone()
        .create_author(pb::CreateAuthorRequest {
            author: Some(pb::Author {
                display_name: "Another desk".into(),
                slug: "فريق-التحرير".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await;
    assert_code(clash, Code::AlreadyExists);
}

#[tokio::test]
async fn update_author_changes_only_the_masked_fields_and_refuses_a_stale_etag() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let mut authors = app.authors.clone();

    let updated = authors
        .update_author(pb::UpdateAuthorRequest {
            author: Some(pb::Author {
                id: desk.id.clone(),
                etag: desk.etag.clone(),
                bio: "مكتب الأخبار في الدوحة".into(),
                display_name: "ignored: not in the mask".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["bio".into()],
            }),
        })
        .await
        .expect("update bio")
        .into_inner();
    assert_eq!(updated.bio, "مكتب الأخبار في الدوحة");
    assert_eq!(updated.display_name, desk.display_name);
    assert_eq!(updated.slug, desk.slug);
    assert_eq!(updated.kind(), pb::AuthorKind::Desk);
    assert_ne!(updated.etag, desk.etag);
    assert_eq!(updated.create_time, desk.create_time);

    let stale = authors
        .update_author(pb::UpdateAuthorRequest {
            author: Some(pb::Author {
                id: desk.id.clone(),
                etag: desk.etag.clone(),
                bio: "lost update".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["bio".into()],
            }),
        })
        .await;
    assert_code(stale, Code::Aborted);

    let renamed = authors
        .update_author(pb::UpdateAuthorRequest {
            author: Some(pb::Author {
                id: desk.id.clone(),
                slug: "newsroom".into(),
                email: "desk@example.com".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["slug".into(), "email".into()],
            }),
        })
        .await
        .expect("an empty etag skips the check")
        .into_inner();
    assert_eq!(renamed.slug, "newsroom");
    assert_eq!(renamed.email, "desk@example.com");
    assert_eq!(renamed.bio, "مكتب الأخبار في الدوحة");
}

#[tokio::test]
async fn an_author_credited_on_any_article_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let other = app.author("مراسل", pb::AuthorKind::Person).await;
    let article = app.article(draft("خبر", &desk)).await;
    let mut authors = app.authors.clone();
    let mut articles = app.articles.clone();
    let delete = |id: &str| pb::DeleteAuthorRequest {
        id: id.into(),
        etag: String::new(),
    };

    let refused = assert_code(
        authors.delete_author(delete(&desk.id)).await,
        Code::FailedPrecondition,
    );
    let details = refused.get_error_details();
    let failure = details
        .precondition_failure()
        .expect("a google.rpc.PreconditionFailure");
    assert_eq!(failure.violations[0].r#type, "AUTHOR_CREDITED");
    assert_eq!(
        failure.violations[0].subject,
        format!("authors/{}", desk.id)
    );

    // A soft-deleted article can come back, so it still holds its bylines.
    articles
        .delete_article(pb::DeleteArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("delete article");
    assert_code(
        authors.delete_author(delete(&desk.id)).await,
        Code::FailedPrecondition,
    );

    articles
        .undelete_article(pb::UndeleteArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("undelete article");
    articles
        .update_article(pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: article.id.clone(),
                author_ids: vec![other.id.clone()],
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["author_ids".into()],
            }),
        })
        .await
        .expect("move the byline");
    authors
        .delete_author(delete(&desk.id))
        .await
        .expect("delete uncredited author");
    assert_code(
        authors
            .get_author(pb::GetAuthorRequest {
                id: desk.id.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        authors.delete_author(delete(&desk.id)).await,
        Code::NotFound,
    );
}

#[tokio::test]
async fn create_author_with_the_same_request_id_returns_the_first_author() {
    let app = TestApp::spawn().await;
    let request = pb::CreateAuthorRequest {
        author: Some(pb::Author {
            display_name: "فريق التحرير".into(),
            ..Default::default()
        }),
        request_id: "6f1c8f4e-3a0b-4c8e-9d7a-2b1e5f0c9a11".into(),
    };
    let mut authors = app.authors.clone();
    let first = authors
        .create_author(request.clone())
        .await
        .expect("first")
        .into_inner();
    let retry = authors
        .create_author(request)
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, retry);

    let listed = authors
        .list_authors(pb::ListAuthorsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.authors.len(), 1);
}

#[tokio::test]
async fn list_authors_pages_in_creation_order_and_filters_by_kind() {
    let app = TestApp::spawn().await;
    let mut created = Vec::new();
    for i in 0..7 {
        let kind = if i % 2 == 0 {
            pb::AuthorKind::Desk
        } else {
            pb::AuthorKind::Person
        };
        created.push(app.author(&format!("كاتب {i}"), kind).await);
    }
    let mut authors = app.authors.clone();
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = authors
            .list_authors(pb::ListAuthorsRequest {
                page_size: 3,
                page_token,
                kind: 0,
            })
            .await
            .expect("list page")
            .into_inner();
        assert!(page.authors.len() <= 3);
        seen.extend(page.authors.into_iter().map(|author| author.id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let ids: Vec<String> = created.iter().map(|author| author.id.clone()).collect();
    assert_eq!(seen, ids);

    let desks = authors
        .list_authors(pb::ListAuthorsRequest {
            kind: pb::AuthorKind::Desk.into(),
            ..Default::default()
        })
        .await
        .expect("list desks")
        .into_inner();
    assert_eq!(desks.authors.len(), 4);
    assert!(
        desks
            .authors
            .iter()
            .all(|author| author.kind() == pb::AuthorKind::Desk)
    );
}

#[tokio::test]
async fn author_slug_clashes_and_stale_deletes_are_refused() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let reporter = app.author("مراسل", pb::AuthorKind::Person).await;
    let mut authors = app.authors.clone();

    let clash = authors
        .update_author(pb::UpdateAuthorRequest {
            author: Some(pb::Author {
                id: reporter.id.clone(),
                slug: desk.slug.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["slug".into()],
            }),
        })
        .await;
    assert_code(clash, Code::AlreadyExists);

    let renamed = authors
        .update_author(pb::UpdateAuthorRequest {
            author: Some(pb::Author {
                id: reporter.id.clone(),
                display_name: "مراسل الدوحة".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .expect("rename")
        .into_inner();
    assert_eq!(
        renamed.slug, reporter.slug,
        "a slug does not follow the name"
    );
    let stale = authors
        .delete_author(pb::DeleteAuthorRequest {
            id: reporter.id.clone(),
            etag: reporter.etag.clone(),
        })
        .await;
    assert_code(stale, Code::Aborted);
    authors
        .delete_author(pb::DeleteAuthorRequest {
            id: reporter.id.clone(),
            etag: renamed.etag.clone(),
        })
        .await
        .expect("delete with the current etag");
}

#[tokio::test]
async fn list_authors_refuses_tokens_it_did_not_issue_for_the_query() {
    let app = TestApp::spawn().await;
    for name in ["أ", "ب", "ج"] {
        app.author(name, pb::AuthorKind::Desk).await;
    }
    let mut authors = app.authors.clone();
    let first = authors
        .list_authors(pb::ListAuthorsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("first page")
        .into_inner();
    for request in [
        pb::ListAuthorsRequest {
            page_token: "%%%".into(),
            ..Default::default()
        },
        pb::ListAuthorsRequest {
            page_token: first.next_page_token.clone(),
            kind: pb::AuthorKind::Desk.into(),
            ..Default::default()
        },
    ] {
        let status = authors
            .list_authors(request)
            .await
            .expect_err("foreign token");
        crate::support::assert_invalid(&status, "page_token");
    }
}
