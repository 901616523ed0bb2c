//! Keyset paging through ListArticles: every order, no duplicates, no gaps,
//! even while articles are created between pages.

use std::collections::HashSet;

use newsdesk::proto as pb;
use prost_types::FieldMask;

use crate::support::{FrozenClock, TestApp, draft};

const ARTICLES: usize = 250;
const PAGE_SIZE: i32 = 17;

async fn seed(app: &TestApp, count: usize) -> (pb::Author, Vec<pb::Article>) {
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let mut articles = Vec::with_capacity(count);
    for i in 0..count {
        articles.push(app.article(draft(&format!("خبر رقم {i}"), &desk)).await);
    }
    (desk, articles)
}

/// Pages through the whole list in `order`, creating `extra_per_page`
/// articles after each page; returns what was seen, in order.
async fn page_through(
    app: &TestApp,
    desk: &pb::Author,
    order: pb::ArticleOrderBy,
    extra_per_page: usize,
) -> Vec<pb::Article> {
    let mut client = app.articles.clone();
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_articles(pb::ListArticlesRequest {
                page_size: PAGE_SIZE,
                page_token,
                order_by: order.into(),
                ..Default::default()
            })
            .await
            .expect("list page")
            .into_inner();
        assert!(page.articles.len() <= PAGE_SIZE as usize);
        seen.extend(page.articles);
        if page.next_page_token.is_empty() {
            return seen;
        }
        page_token = page.next_page_token;
        for i in 0..extra_per_page {
            app.article(draft(&format!("خبر أثناء التصفح {}-{i}", seen.len()), desk))
                .await;
        }
    }
}

fn assert_sorted_without_repeats(seen: &[pb::Article], order: pb::ArticleOrderBy) {
    let ids: HashSet<&str> = seen.iter().map(|article| article.id.as_str()).collect();
    assert_eq!(ids.len(), seen.len(), "no article appears twice");
    let key = |article: &pb::Article| {
        let time = match order {
            pb::ArticleOrderBy::UpdateTimeAsc | pb::ArticleOrderBy::UpdateTimeDesc => {
                article.update_time
            }
            _ => article.create_time,
        }
        .expect("timestamp");
        (time.seconds, time.nanos, article.id.clone())
    };
    for pair in seen.windows(2) {
        let (a, b) = (key(&pair[0]), key(&pair[1]));
        match order {
            pb::ArticleOrderBy::CreateTimeAsc | pb::ArticleOrderBy::UpdateTimeAsc => {
                assert!(a < b, "{a:?} before {b:?}")
            }
            _ => assert!(a > b, "{a:?} before {b:?}"),
        }
    }
}

#[tokio::test]
async fn paging_through_250_articles_in_every_order_sees_each_once_even_while_articles_are_created()
{
    let app = TestApp::spawn().await;
    let (desk, originals) = seed(&app, ARTICLES).await;
    let original_ids: HashSet<String> =
        originals.iter().map(|article| article.id.clone()).collect();

    for order in [
        pb::ArticleOrderBy::CreateTimeDesc,
        pb::ArticleOrderBy::CreateTimeAsc,
        pb::ArticleOrderBy::UpdateTimeDesc,
        pb::ArticleOrderBy::UpdateTimeAsc,
    ] {
        let seen = page_through(&app, &desk, order, 1).await;
        assert_sorted_without_repeats(&seen, order);
        let seen_ids: HashSet<String> = seen.iter().map(|article| article.id.clone()).collect();
        assert!(
            original_ids.is_subset(&seen_ids),
            "{order:?}: {} of the original articles were skipped",
            original_ids.difference(&seen_ids).count()
        );
    }
}

#[tokio::test]
async fn newest_first_is_the_default_and_page_sizes_are_clamped() {
    let app = TestApp::spawn().await;
    let (_, originals) = seed(&app, 120).await;
    let mut client = app.articles.clone();

    let default_page = client
        .list_articles(pb::ListArticlesRequest::default())
        .await
        .expect("default page")
        .into_inner();
    assert_eq!(default_page.articles.len(), 20);
    let newest: Vec<&str> = originals
        .iter()
        .rev()
        .take(20)
        .map(|article| article.id.as_str())
        .collect();
    let listed: Vec<&str> = default_page
        .articles
        .iter()
        .map(|article| article.id.as_str())
        .collect();
    assert_eq!(listed, newest);

    let clamped = client
        .list_articles(pb::ListArticlesRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("clamped page")
        .into_inner();
    assert_eq!(clamped.articles.len(), 100);
    assert!(!clamped.next_page_token.is_empty());

    let last = client
        .list_articles(pb::ListArticlesRequest {
            page_size: 100,
            page_token: clamped.next_page_token,
            ..Default::default()
        })
        .await
        .expect("last page")
        .into_inner();
    assert_eq!(last.articles.len(), 20);
    assert!(
        last.next_page_token.is_empty(),
        "the last page has no next token"
    );
}

#[tokio::test]
async fn an_article_updated_while_paging_by_update_time_moves_to_the_end_without_repeating_others()
{
    let app = TestApp::spawn().await;
    let (_, originals) = seed(&app, 30).await;
    let mut client = app.articles.clone();
    let request = |page_token: String| pb::ListArticlesRequest {
        page_size: 10,
        page_token,
        order_by: pb::ArticleOrderBy::UpdateTimeAsc.into(),
        ..Default::default()
    };
    let first = client
        .list_articles(request(String::new()))
        .await
        .expect("page 1")
        .into_inner();
    // Touch an article from a later page: it moves past the end of the list.
    let touched = &originals[20];
    client
        .update_article(pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: touched.id.clone(),
                subtitle: "محدث".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["subtitle".into()],
            }),
        })
        .await
        .expect("update");
    let mut seen: Vec<String> = first
        .articles
        .into_iter()
        .map(|article| article.id)
        .collect();
    let mut token = first.next_page_token;
    while !token.is_empty() {
        let page = client
            .list_articles(request(token))
            .await
            .expect("page")
            .into_inner();
        seen.extend(page.articles.into_iter().map(|article| article.id));
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 30, "{seen:?}");
    assert_eq!(seen.last(), Some(&touched.id));
}

#[tokio::test]
async fn articles_stamped_at_the_same_instant_page_by_id_without_skips_or_repeats() {
    let instant = chrono::DateTime::parse_from_rfc3339("2026-11-29T09:00:00.123456Z")
        .expect("timestamp")
        .to_utc();
    let app = TestApp::spawn_with_clock(FrozenClock::at(instant)).await;
    let (desk, originals) = seed(&app, 45).await;
    assert!(
        originals
            .iter()
            .all(|article| article.create_time == originals[0].create_time)
    );
    let mut expected: Vec<String> = originals.iter().map(|article| article.id.clone()).collect();
    expected.sort();

    for order in [
        pb::ArticleOrderBy::CreateTimeAsc,
        pb::ArticleOrderBy::CreateTimeDesc,
        pb::ArticleOrderBy::UpdateTimeAsc,
        pb::ArticleOrderBy::UpdateTimeDesc,
    ] {
        let seen: Vec<String> = page_through(&app, &desk, order, 0)
            .await
            .into_iter()
            .map(|article| article.id)
            .collect();
        let mut in_order = expected.clone();
        if matches!(
            order,
            pb::ArticleOrderBy::CreateTimeDesc | pb::ArticleOrderBy::UpdateTimeDesc
        ) {
            in_order.reverse();
        }
        assert_eq!(
            seen, in_order,
            "{order:?}: ties on the timestamp are broken by id"
        );
    }
}
