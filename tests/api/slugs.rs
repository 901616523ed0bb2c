//! Article slugs through the API: derived from Arabic titles, counted up on
//! clashes, unique per language, refused when malformed.

use newsdesk::proto as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::support::{TestApp, assert_code, draft};

#[tokio::test]
async fn derived_article_slugs_count_up_per_language_and_explicit_clashes_are_already_exists() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let title = "ترامب يحث روسيا على «التحرك»؟";
    let mut slugs = Vec::new();
    for _ in 0..3 {
        slugs.push(app.article(draft(title, &desk)).await.slug);
    }
    assert_eq!(
        slugs,
        [
            "ترامب-يحث-روسيا-على-التحرك",
            "ترامب-يحث-روسيا-على-التحرك-2",
            "ترامب-يحث-روسيا-على-التحرك-3"
        ]
    );

    let english = app
        .article(pb::Article {
            language: "EN".into(),
            ..draft(title, &desk)
        })
        .await;
    assert_eq!(english.language, "en");
    assert_eq!(
        english.slug, "ترامب-يحث-روسيا-على-التحرك",
        "slugs are unique per language"
    );

    let clash = app
        .try_article(pb::Article {
            slug: "ترامب-يحث-روسيا-على-التحرك-2".into(),
            ..draft("عنوان آخر", &desk)
        })
        .await;
    assert_code(clash, Code::AlreadyExists);

    let punctuation_only = app.article(draft("؟!…", &desk)).await;
    assert_eq!(
        punctuation_only.slug, punctuation_only.id,
        "a title without words falls back to the id"
    );
}

#[tokio::test]
async fn updating_to_a_slug_taken_in_the_language_is_already_exists() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let taken = app.article(draft("خبر أول", &desk)).await;
    let english = app
        .article(pb::Article {
            language: "en".into(),
            ..draft("خبر أول", &desk)
        })
        .await;
    let other = app.article(draft("خبر آخر", &desk)).await;
    assert_eq!(english.slug, taken.slug);
    let mut articles = app.articles.clone();
    let update = |article: pb::Article, path: &str| pb::UpdateArticleRequest {
        article: Some(article),
        update_mask: Some(FieldMask {
            paths: vec![path.into()],
        }),
    };

    // Moving the English article into Arabic would give Arabic two of one slug.
    let moved = articles
        .update_article(update(
            pb::Article {
                id: english.id.clone(),
                language: "ar".into(),
                ..Default::default()
            },
            "language",
        ))
        .await;
    assert_code(moved, Code::AlreadyExists);
    let renamed = articles
        .update_article(update(
            pb::Article {
                id: other.id.clone(),
                slug: taken.slug.clone(),
                ..Default::default()
            },
            "slug",
        ))
        .await;
    assert_code(renamed, Code::AlreadyExists);
    assert_eq!(app.get_article(&english.id).await.expect("get"), english);
    assert_eq!(app.get_article(&other.id).await.expect("get"), other);

    // A slug of one's own, or one free in the new language, is fine.
    let kept = articles
        .update_article(update(
            pb::Article {
                id: other.id.clone(),
                slug: other.slug.clone(),
                ..Default::default()
            },
            "slug",
        ))
        .await
        .expect("same slug")
        .into_inner();
    assert_eq!(kept.slug, other.slug);
    let french = articles
        .update_article(update(
            pb::Article {
                id: english.id.clone(),
                language: "fr".into(),
                ..Default::default()
            },
            "language",
        ))
        .await
        .expect("free in French")
        .into_inner();
    assert_eq!(
        (french.language.as_str(), french.slug.as_str()),
        ("fr", taken.slug.as_str())
    );
}

#[tokio::test]
async fn malformed_slugs_and_filters_are_refused_before_the_database() {
    let app = TestApp::spawn().await;
    let mut articles = app.articles.clone();
    for slug in ["bad\u{0}slug", "Upper-Case", "two--hyphens"] {
        let lookup = articles
            .get_article(pb::GetArticleRequest {
                slug: slug.into(),
                ..Default::default()
            })
            .await;
        assert_code(lookup, Code::NotFound);
    }
    let status = articles
        .list_articles(pb::ListArticlesRequest {
            tag: "nul\u{0}tag".into(),
            ..Default::default()
        })
        .await
        .expect_err("NUL in a filter");
    crate::support::assert_invalid(&status, "tag");
    let status = articles
        .list_articles(pb::ListArticlesRequest {
            section: "a\nb".into(),
            ..Default::default()
        })
        .await
        .expect_err("newline in a filter");
    crate::support::assert_invalid(&status, "section");
}
