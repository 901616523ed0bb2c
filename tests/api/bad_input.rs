//! Every rule a request can break answers with its own code, and
//! INVALID_ARGUMENT names the offending field in a google.rpc.BadRequest.

use newsdesk::proto as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::support::{TestApp, assert_code, assert_invalid, draft};

#[tokio::test]
async fn bad_article_fields_are_invalid_argument_naming_the_field() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let unknown_author = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    let cases: Vec<(&str, pb::Article)> = vec![
        (
            "article.title",
            pb::Article {
                title: String::new(),
                ..draft("", &desk)
            },
        ),
        (
            "article.title",
            pb::Article {
                title: "   ".into(),
                ..draft("", &desk)
            },
        ),
        ("article.title", draft(&"ع".repeat(301), &desk)),
        ("article.title", draft("سطر\nثان", &desk)),
        ("article.title", draft("عنوان\u{202E}مقلوب", &desk)),
        (
            "article.subtitle",
            pb::Article {
                subtitle: "\u{2067}عزل".into(),
                ..draft("t", &desk)
            },
        ),
        (
            "article.section",
            pb::Article {
                section: "a\u{0007}b".into(),
                ..draft("t", &desk)
            },
        ),
        (
            "article.tags[1]",
            pb::Article {
                tags: vec!["ok".into(), "\u{202D}x".into()],
                ..draft("t", &desk)
            },
        ),
        (
            "article.body",
            pb::Article {
                body: "ب".repeat(600_000),
                ..draft("t", &desk)
            },
        ),
        (
            "article.body",
            pb::Article {
                body: "nul\u{0000}byte".into(),
                ..draft("t", &desk)
            },
        ),
        (
            "article.author_ids[0]",
            pb::Article {
                author_ids: vec![unknown_author.into()],
                ..draft("t", &desk)
            },
        ),
        (
            "article.author_ids[1]",
            pb::Article {
                author_ids: vec![desk.id.clone(), "not-an-id".into()],
                ..draft("t", &desk)
            },
        ),
        (
            "article.author_ids[1]",
            pb::Article {
                author_ids: vec![desk.id.clone(), desk.id.clone()],
                ..draft("t", &desk)
            },
        ),
        (
            "article.language",
            pb::Article {
                language: "arabic language".into(),
                ..draft("t", &desk)
            },
        ),
        (
            "article.slug",
            pb::Article {
                slug: "Not A Slug".into(),
                ..draft("t", &desk)
            },
        ),
    ];
    for (field, article) in cases {
        let status = app.try_article(article).await.expect_err(field);
        assert_invalid(&status, field);
    }
    // Nothing was written by the refused requests.
    let listed = app
        .articles
        .clone()
        .list_articles(pb::ListArticlesRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.articles.is_empty());
}

#[tokio::test]
async fn a_body_of_exactly_one_mebibyte_is_accepted() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    // Two bytes per Arabic letter: 524,288 letters are 1 MiB.
    let body = "ب".repeat(512 * 1024);
    let article = app
        .article(pb::Article {
            body: body.clone(),
            ..draft("طويل", &desk)
        })
        .await;
    assert_eq!(app.get_article(&article.id).await.expect("get").body, body);
}

#[tokio::test]
async fn bad_author_fields_are_invalid_argument_naming_the_field() {
    let app = TestApp::spawn().await;
    let cases = [
        ("author.display_name", pb::Author::default()),
        (
            "author.display_name",
            pb::Author {
                display_name: "ا".repeat(201),
                ..Default::default()
            },
        ),
        (
            "author.display_name",
            pb::Author {
                display_name: "\u{202E}فريق".into(),
                ..Default::default()
            },
        ),
        (
            "author.email",
            pb::Author {
                display_name: "x".into(),
                email: "not an email".into(),
                ..Default::default()
            },
        ),
        (
            "author.kind",
            pb::Author {
                display_name: "x".into(),
                kind: 42,
                ..Default::default()
            },
        ),
    ];
    let mut authors = app.authors.clone();
    for (field, author) in cases {
        let status = authors
            .create_author(pb::CreateAuthorRequest {
                author: Some(author),
                request_id: String::new(),
            })
            .await
            .expect_err(field);
        assert_invalid(&status, field);
    }
    let status = authors
        .create_author(pb::CreateAuthorRequest {
            author: None,
            request_id: String::new(),
        })
        .await
        .expect_err("missing author");
    assert_invalid(&status, "author");
    let status = authors
        .create_author(pb::CreateAuthorRequest {
            author: Some(pb::Author {
                display_name: "x".into(),
                ..Default::default()
            }),
            request_id: "not-a-uuid".into(),
        })
        .await
        .expect_err("bad request id");
    assert_invalid(&status, "request_id");
}

#[tokio::test]
async fn bad_list_requests_are_invalid_argument_naming_the_field() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    for i in 0..3 {
        app.article(pb::Article {
            section: "سياسة".into(),
            ..draft(&format!("خبر {i}"), &desk)
        })
        .await;
    }
    let mut articles = app.articles.clone();
    let first = articles
        .list_articles(pb::ListArticlesRequest {
            page_size: 1,
            section: "سياسة".into(),
            ..Default::default()
        })
        .await
        .expect("first page")
        .into_inner();
    assert!(!first.next_page_token.is_empty());

    let cases = [
        (
            "page_size",
            pb::ListArticlesRequest {
                page_size: -1,
                ..Default::default()
            },
        ),
        (
            "page_token",
            pb::ListArticlesRequest {
                page_token: "not a token".into(),
                ..Default::default()
            },
        ),
        (
            "page_token",
            pb::ListArticlesRequest {
                page_token: "eyJxIjoxfQ".into(),
                ..Default::default()
            },
        ),
        // A real token, but for another query (other filters, other order).
        (
            "page_token",
            pb::ListArticlesRequest {
                page_token: first.next_page_token.clone(),
                ..Default::default()
            },
        ),
        (
            "page_token",
            pb::ListArticlesRequest {
                page_token: first.next_page_token.clone(),
                section: "سياسة".into(),
                order_by: pb::ArticleOrderBy::CreateTimeAsc.into(),
                ..Default::default()
            },
        ),
        (
            "author_id",
            pb::ListArticlesRequest {
                author_id: "nobody".into(),
                ..Default::default()
            },
        ),
        (
            "language",
            pb::ListArticlesRequest {
                language: "???".into(),
                ..Default::default()
            },
        ),
        (
            "status",
            pb::ListArticlesRequest {
                status: 99,
                ..Default::default()
            },
        ),
        (
            "order_by",
            pb::ListArticlesRequest {
                order_by: 99,
                ..Default::default()
            },
        ),
    ];
    for (field, request) in cases {
        let status = articles.list_articles(request).await.expect_err(field);
        assert_invalid(&status, field);
    }
    let status = app
        .authors
        .clone()
        .list_authors(pb::ListAuthorsRequest {
            page_size: -5,
            ..Default::default()
        })
        .await
        .expect_err("negative page size");
    assert_invalid(&status, "page_size");
}

#[tokio::test]
async fn update_masks_naming_output_only_or_unknown_fields_are_refused() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = app.article(draft("خبر", &desk)).await;
    let mut articles = app.articles.clone();
    for (path, field) in [
        ("status", "update_mask.paths[0]"),
        ("etag", "update_mask.paths[0]"),
        ("word_count", "update_mask.paths[0]"),
        ("colour", "update_mask.paths[0]"),
    ] {
        let status = articles
            .update_article(pb::UpdateArticleRequest {
                article: Some(pb::Article {
                    id: article.id.clone(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec![path.into()],
                }),
            })
            .await
            .expect_err(path);
        assert_invalid(&status, field);
    }
    let status = app
        .authors
        .clone()
        .update_author(pb::UpdateAuthorRequest {
            author: Some(pb::Author {
                id: desk.id.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["display_name".into(), "create_time".into()],
            }),
        })
        .await
        .expect_err("output-only author field");
    assert_invalid(&status, "update_mask.paths[1]");

    let status = articles
        .update_article(pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: article.id.clone(),
                title: String::new(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["title".into()],
            }),
        })
        .await
        .expect_err("empty title");
    assert_invalid(&status, "article.title");

    let status = articles
        .update_article(pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: article.id.clone(),
                author_ids: vec!["0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into()],
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["author_ids".into()],
            }),
        })
        .await
        .expect_err("unknown author on update");
    assert_invalid(&status, "article.author_ids[0]");
    assert_eq!(
        app.get_article(&article.id).await.expect("unchanged"),
        article
    );
}

#[tokio::test]
async fn ids_are_checked_and_unknown_ones_are_not_found() {
    let app = TestApp::spawn().await;
    let unknown = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    assert_code(app.get_article(unknown).await, Code::NotFound);
    assert_invalid(
        &app.get_article("42").await.expect_err("malformed id"),
        "id",
    );
    let mut articles = app.articles.clone();
    assert_invalid(
        &articles
            .get_article(pb::GetArticleRequest::default())
            .await
            .expect_err("neither id nor slug"),
        "id",
    );
    assert_invalid(
        &articles
            .get_article(pb::GetArticleRequest {
                id: unknown.into(),
                slug: "x".into(),
                ..Default::default()
            })
            .await
            .expect_err("both id and slug"),
        "id",
    );
    assert_code(
        articles
            .get_article(pb::GetArticleRequest {
                slug: "لا-يوجد".into(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        articles
            .update_article(pb::UpdateArticleRequest {
                article: Some(pb::Article {
                    id: unknown.into(),
                    title: "x".into(),
                    ..Default::default()
                }),
                update_mask: None,
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        articles
            .delete_article(pb::DeleteArticleRequest {
                id: unknown.into(),
                etag: String::new(),
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        app.authors
            .clone()
            .get_author(pb::GetAuthorRequest {
                id: unknown.into(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
}
