//! Readers' copies come from memory, and are never kept past a change: a
//! change made through this server shows in the very next read, one made
//! through another server on the same database within the feed's poll
//! interval, and nothing a reader sees is older than the event log says.

use std::{future::Future, time::Duration};

use newsdesk::proto as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::{
    comments::{comment, moderate, post},
    support::{Clients, TestApp, draft},
};

/// Waits until `check` holds, looking again every few milliseconds: the
/// other server's change arrives on this one's refresh timer, not with a
/// commit here. Panics after 30 s.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let waiting = async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .is_err()
    {
        panic!("waited 30 s for {what}");
    }
}

async fn read(reader: &Clients, id: &str) -> Result<pb::Article, tonic::Status> {
    get(
        reader,
        pb::GetArticleRequest {
            id: id.to_owned(),
            ..Default::default()
        },
    )
    .await
}

/// The article with `slug` in Arabic, as a reader gets it.
async fn read_by_slug(reader: &Clients, slug: &str) -> Result<pb::Article, tonic::Status> {
    get(
        reader,
        pb::GetArticleRequest {
            slug: slug.to_owned(),
            language: "ar".into(),
            ..Default::default()
        },
    )
    .await
}

async fn get(
    reader: &Clients,
    request: pb::GetArticleRequest,
) -> Result<pb::Article, tonic::Status> {
    reader
        .articles
        .clone()
        .get_article(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn first_page(reader: &Clients) -> Vec<String> {
    reader
        .articles
        .clone()
        .list_articles(pb::ListArticlesRequest::default())
        .await
        .expect("a readers' listing")
        .into_inner()
        .articles
        .into_iter()
        .map(|article| article.title)
        .collect()
}

async fn publish(app: &TestApp, id: &str) {
    app.articles
        .clone()
        .publish_article(pb::PublishArticleRequest {
            id: id.to_owned(),
            ..Default::default()
        })
        .await
        .expect("publish");
}

async fn retitle(app: &TestApp, id: &str, title: &str) {
    app.articles
        .clone()
        .update_article(pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: id.to_owned(),
                title: title.to_owned(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["title".into()],
            }),
        })
        .await
        .expect("update");
}

#[tokio::test]
async fn a_change_through_this_server_shows_in_the_next_read() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = app.article(draft("العنوان الأول", &desk)).await;
    publish(&app, &article.id).await;
    let reader = app.as_anonymous();
    // Read twice, so that the second comes from memory.
    for _ in 0..2 {
        assert_eq!(
            read(&reader, &article.id).await.expect("read").title,
            "العنوان الأول"
        );
        assert_eq!(first_page(&reader).await, ["العنوان الأول"]);
    }

    // An edit of the working copy stays out of the readers' copy...
    retitle(&app, &article.id, "العنوان الثاني").await;
    assert_eq!(
        read(&reader, &article.id).await.expect("read").title,
        "العنوان الأول"
    );
    // ...until it is published, and then it is there at once.
    publish(&app, &article.id).await;
    assert_eq!(
        read(&reader, &article.id).await.expect("read").title,
        "العنوان الثاني"
    );
    assert_eq!(first_page(&reader).await, ["العنوان الثاني"]);

    // A new comment changes the count readers see.
    app.comments
        .clone()
        .create_comment(pb::CreateCommentRequest {
            comment: Some(pb::Comment {
                article_id: article.id.clone(),
                author_name: "قارئ".into(),
                body: "تعليق".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("comment");
    assert_eq!(
        read(&reader, &article.id)
            .await
            .expect("read")
            .comment_count,
        1
    );

    // Withdrawn, it is gone from the next read and the next page.
    app.articles
        .clone()
        .unpublish_article(pb::UnpublishArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("unpublish");
    let status = read(&reader, &article.id).await.expect_err("withdrawn");
    assert_eq!(status.code(), Code::NotFound);
    assert!(first_page(&reader).await.is_empty());
}

#[tokio::test]
async fn a_change_through_another_server_reaches_this_ones_readers() {
    let a = TestApp::spawn().await;
    let b = a.another_server_in_real_time().await;
    let desk = a.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = a.article(draft("قبل", &desk)).await;
    publish(&a, &article.id).await;
    let reader = a.as_anonymous();
    assert_eq!(read(&reader, &article.id).await.expect("read").title, "قبل");
    assert_eq!(first_page(&reader).await, ["قبل"]);

    retitle(&b, &article.id, "بعد").await;
    publish(&b, &article.id).await;
    until(
        "the other server's publish to reach this one's readers",
        || async {
            read(&reader, &article.id)
                .await
                .is_ok_and(|article| article.title == "بعد")
        },
    )
    .await;
    until(
        "the other server's publish to reach this one's listing",
        || async { first_page(&reader).await == ["بعد"] },
    )
    .await;

    b.articles
        .clone()
        .delete_article(pb::DeleteArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("delete through the other server");
    until(
        "the other server's delete to reach this one's readers",
        || async {
            read(&reader, &article.id)
                .await
                .is_err_and(|status| status.code() == Code::NotFound)
        },
    )
    .await;
    assert!(first_page(&reader).await.is_empty());
}

#[tokio::test]
async fn a_read_by_slug_follows_the_article_it_names() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = app.article(draft("خبر", &desk)).await;
    let reader = app.as_anonymous();
    let by_slug = || read_by_slug(&reader, &article.slug);
    // A draft's slug finds nothing, and that is not remembered.
    assert_eq!(by_slug().await.expect_err("a draft").code(), Code::NotFound);
    publish(&app, &article.id).await;
    assert_eq!(by_slug().await.expect("published").title, "خبر");
    assert_eq!(by_slug().await.expect("again, from memory").title, "خبر");
    retitle(&app, &article.id, "خبر محدث").await;
    publish(&app, &article.id).await;
    let found = by_slug().await.expect("republished");
    assert_eq!(
        (found.id.as_str(), found.title.as_str()),
        (article.id.as_str(), "خبر محدث")
    );
}

#[tokio::test]
async fn a_slug_typed_with_spaces_or_decomposed_finds_its_article_from_memory_too() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = app.article(draft("آخر خبر", &desk)).await;
    publish(&app, &article.id).await;
    assert!(article.slug.contains('آ'), "{}", article.slug);
    // As a reader may type it: spaced, with alef madda as alef and madda.
    let typed = format!(" {} ", article.slug.replace('آ', "\u{0627}\u{0653}"));
    let reader = app.as_anonymous();
    // The first read fills memory; the ones after are answered from it.
    for slug in [&typed, &article.slug, &typed] {
        let found = read_by_slug(&reader, slug).await.expect("found");
        assert_eq!(found.id, article.id);
    }
    let unknown = read_by_slug(&reader, &format!("{}-x", article.slug)).await;
    assert_eq!(unknown.expect_err("no such slug").code(), Code::NotFound);
}

#[tokio::test]
async fn a_comment_shows_on_the_listing_page_at_once_and_a_new_story_joins_it() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let older = app.article(draft("الخبر الأقدم", &desk)).await;
    publish(&app, &older.id).await;
    let newer = app.article(draft("الخبر الأحدث", &desk)).await;
    publish(&app, &newer.id).await;
    let reader = app.as_anonymous();
    let page = || async {
        reader
            .articles
            .clone()
            .list_articles(pb::ListArticlesRequest::default())
            .await
            .expect("a readers' listing")
            .into_inner()
            .articles
            .into_iter()
            .map(|article| (article.title, article.comment_count))
            .collect::<Vec<_>>()
    };
    // Twice, so that the second page is the whole answer from memory.
    for _ in 0..2 {
        assert_eq!(
            page().await,
            [("الخبر الأحدث".to_owned(), 0), ("الخبر الأقدم".to_owned(), 0)]
        );
    }

    // A comment changes one article on the page, and only its count.
    app.comments
        .clone()
        .create_comment(pb::CreateCommentRequest {
            comment: Some(pb::Comment {
                article_id: older.id.clone(),
                author_name: "قارئ".into(),
                body: "تعليق على الخبر".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("comment");
    assert_eq!(
        page().await,
        [("الخبر الأحدث".to_owned(), 0), ("الخبر الأقدم".to_owned(), 1)]
    );

    // A story published now heads the page.
    let newest = app.article(draft("خبر عاجل", &desk)).await;
    publish(&app, &newest.id).await;
    assert_eq!(
        page().await,
        [
            ("خبر عاجل".to_owned(), 0),
            ("الخبر الأحدث".to_owned(), 0),
            ("الخبر الأقدم".to_owned(), 1)
        ]
    );
}

#[tokio::test]
async fn a_comment_sets_the_count_in_the_copy_in_memory_and_leaves_the_rest_of_it() {
    use sea_orm::ConnectionTrait as _;

    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = app.article(draft("العنوان كما نشر", &desk)).await;
    publish(&app, &article.id).await;
    let reader = app.as_anonymous();
    read(&reader, &article.id).await.expect("read into memory");

    // A change behind the server's back, with no event: only a read of the
    // database would show it, and a comment's event does not read the
    // article again, only its count.
    let outside = sea_orm::Database::connect(app.database.url.as_str())
        .await
        .expect("connect beside the server");
    outside
        .execute_unprepared(&format!(
            "UPDATE article_live SET title = 'عنوان من خارج السجل' WHERE article_id = '{}'",
            article.id
        ))
        .await
        .expect("retitle the live version outside the server");
    let seen = |article: pb::Article| (article.title, article.comment_count);

    let posted = post(&app, comment(&article.id, "", "قارئ", "تعليق"))
        .await
        .expect("comment");
    assert_eq!(
        seen(read(&reader, &article.id).await.expect("read")),
        ("العنوان كما نشر".to_owned(), 1)
    );
    moderate(&app, &posted.id, pb::ModerationDecision::Reject).await;
    assert_eq!(
        seen(read(&reader, &article.id).await.expect("read")),
        ("العنوان كما نشر".to_owned(), 0)
    );

    // An article's own event (here an edit of its working copy) drops the
    // copy: the next read is the database's.
    retitle(&app, &article.id, "عنوان المسودة التالية").await;
    assert_eq!(
        seen(read(&reader, &article.id).await.expect("read")),
        ("عنوان من خارج السجل".to_owned(), 0)
    );

    // A comment through another server sets the count here too, on this
    // server's refresh, and leaves the rest of the copy as it was.
    outside
        .execute_unprepared(&format!(
            "UPDATE article_live SET title = 'عنوان ثالث من خارج السجل' WHERE article_id = '{}'",
            article.id
        ))
        .await
        .expect("retitle the live version outside the servers again");
    let other = app.another_server_in_real_time().await;
    post(&other, comment(&article.id, "", "قارئ آخر", "تعليق آخر"))
        .await
        .expect("comment through the other server");
    until(
        "the other server's comment to reach this one's readers",
        || async {
            read(&reader, &article.id)
                .await
                .is_ok_and(|article| article.comment_count == 1)
        },
    )
    .await;
    assert_eq!(
        seen(read(&reader, &article.id).await.expect("read")),
        ("عنوان من خارج السجل".to_owned(), 1)
    );
}

#[tokio::test]
async fn readers_get_whole_answers_when_memory_holds_almost_nothing() {
    let mut options = crate::support::test_options();
    // Room for about one article: every read evicts another.
    options.article_cache_bytes = 4 * 1024;
    let app = TestApp::spawn_with_options(options).await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let body = "فقرة من نص طويل عن المفاوضات.\n\n"
        .repeat(100)
        .trim_end()
        .to_owned();
    let mut ids = Vec::new();
    for n in 0..5 {
        let mut article = draft(&format!("خبر رقم {n}"), &desk);
        article.body = body.clone();
        let article = app.article(article).await;
        publish(&app, &article.id).await;
        ids.push(article.id);
    }
    let reader = app.as_anonymous();
    for round in 0..3 {
        for (n, id) in ids.iter().enumerate() {
            let article = read(&reader, id).await.expect("read");
            assert_eq!(article.title, format!("خبر رقم {n}"), "round {round}");
            assert_eq!(article.body, body);
        }
        let titles = first_page(&reader).await;
        assert_eq!(titles.len(), 5, "round {round}");
        assert_eq!(titles[0], "خبر رقم 4");
    }
}
