//! Concurrent writers: etags let exactly one of them win, request ids make
//! parallel retries create once, and derived slugs never collide.

use std::collections::HashSet;

use futures::future::join_all;
use newsdesk::proto as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::support::{TestApp, draft};

const WRITERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_with_the_same_etag_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let article = app.article(draft("خبر يتنازع عليه المحررون", &desk)).await;

    let writes = (0..WRITERS).map(|writer| {
        let mut articles = app.articles.clone();
        let request = pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: article.id.clone(),
                etag: article.etag.clone(),
                title: format!("نسخة المحرر {writer}"),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["title".into()],
            }),
        };
        tokio::spawn(async move {
            articles
                .update_article(request)
                .await
                .map(tonic::Response::into_inner)
        })
    });
    let results: Vec<_> = join_all(writes)
        .await
        .into_iter()
        .map(|joined| joined.expect("writer task"))
        .collect();

    let winners: Vec<&pb::Article> = results
        .iter()
        .filter_map(|result| result.as_ref().ok())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one writer wins: {results:?}");
    for result in &results {
        if let Err(status) = result {
            assert_eq!(status.code(), Code::Aborted, "{status:?}");
        }
    }
    let stored = app.get_article(&article.id).await.expect("get");
    assert_eq!(&stored, winners[0], "the winner's write is the one stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_retries_with_one_request_id_create_one_article() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let request = pb::CreateArticleRequest {
        article: Some(draft("خبر يرسل مرات عدة", &desk)),
        request_id: "9a1d6c1e-0b8f-4e7a-a1b2-c3d4e5f60718".into(),
    };
    let retries = (0..WRITERS).map(|_| {
        let mut articles = app.articles.clone();
        let request = request.clone();
        tokio::spawn(async move {
            articles
                .create_article(request)
                .await
                .map(tonic::Response::into_inner)
        })
    });
    let ids: HashSet<String> = join_all(retries)
        .await
        .into_iter()
        .map(|joined| {
            joined
                .expect("retry task")
                .expect("every retry succeeds")
                .id
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let listed = app
        .articles
        .clone()
        .list_articles(pb::ListArticlesRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.articles.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_creates_with_one_title_get_distinct_slugs() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let creates = (0..WRITERS).map(|_| {
        let mut articles = app.articles.clone();
        let request = pb::CreateArticleRequest {
            article: Some(draft("عاجل", &desk)),
            request_id: String::new(),
        };
        tokio::spawn(async move {
            articles
                .create_article(request)
                .await
                .map(tonic::Response::into_inner)
        })
    });
    let mut slugs: Vec<String> = join_all(creates)
        .await
        .into_iter()
        .map(|joined| {
            joined
                .expect("create task")
                .expect("every create succeeds")
                .slug
        })
        .collect();
    slugs.sort();
    let mut expected: Vec<String> = std::iter::once("عاجل".to_owned())
        .chain((2..=WRITERS).map(|n| format!("عاجل-{n}")))
        .collect();
    expected.sort();
    assert_eq!(slugs, expected);
}
