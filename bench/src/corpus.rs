//! The corpus the scenarios read and write: Arabic articles with ~3 KB
//! bodies by several authors and desks, across tags and sections, most of
//! them published and the rest drafts. Seeded through the API (so every
//! article has its revisions and events), or found again in a database
//! seeded before.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use anyhow::{Context, bail};
use newsdesk::proto::{
    self as pb, article_service_client::ArticleServiceClient,
    author_service_client::AuthorServiceClient,
};
use tokio::task::JoinSet;
use tonic::transport::Channel;

use crate::{
    client::{Authorized, authorized},
    rng::Rng,
};

/// The sample article the bodies are cut from (title, byline, paragraphs).
const SAMPLE: &str = include_str!("../../tests/fixtures/witkoff-putin-talks.ar.txt");

/// Bodies are made this long, in bytes, give or take a paragraph.
const BODY_BYTES: usize = 3_000;

/// One in this many articles stays a draft.
const DRAFT_EVERY: usize = 10;

const SECTIONS: [&str; 6] = ["سياسة", "اقتصاد", "رياضة", "ثقافة", "علوم", "العالم"];
const TAGS: [&str; 10] = [
    "روسيا",
    "أوكرانيا",
    "الولايات-المتحدة",
    "النفط",
    "الانتخابات",
    "كرة-القدم",
    "الذكاء-الاصطناعي",
    "المناخ",
    "الصحة",
    "التعليم",
];

/// A published article, as readers find it.
#[derive(Debug, Clone)]
pub struct Published {
    pub id: String,
    pub slug: String,
    pub language: String,
}

/// What the scenarios need to know about the corpus.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub published: Vec<Published>,
    /// Drafts, for working-copy edits.
    pub drafts: Vec<String>,
    /// The page size of the published listing and the token of its page
    /// 1,000 (`None` when the corpus is too small to have one).
    pub deep_page: Option<DeepPage>,
}

/// Where page 1,000 of the published listing starts.
#[derive(Debug, Clone)]
pub struct DeepPage {
    pub page_size: i32,
    pub token: String,
}

/// The page `list-deep` reads.
pub const DEEP_PAGE: usize = 1_000;

/// Seeds `count` articles (unless the database has articles already, which
/// are then used as they are) and learns the corpus.
pub async fn prepare(
    channel: &Channel,
    token: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Corpus> {
    let articles = ArticleServiceClient::new(authorized(channel.clone(), token)?);
    let existing = articles
        .clone()
        .list_articles(pb::ListArticlesRequest {
            page_size: 1,
            view: pb::ArticleView::Latest.into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .articles;
    if existing.is_empty() {
        seed(channel, token, count, concurrency).await?;
    } else {
        eprintln!("the database has articles already: using them as they are");
    }
    learn(channel, token).await
}

async fn seed(
    channel: &Channel,
    token: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let mut authors = AuthorServiceClient::new(authorized(channel.clone(), token)?);
    let mut author_ids = Vec::new();
    for n in 0..24 {
        let (name, kind) = if n % 6 == 0 {
            (format!("فريق التحرير {n}"), pb::AuthorKind::Desk)
        } else {
            (format!("الكاتب رقم {n}"), pb::AuthorKind::Person)
        };
        let author = authors
            .create_author(pb::CreateAuthorRequest {
                author: Some(pb::Author {
                    display_name: name,
                    kind: kind.into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .context("creating an author")?
            .into_inner();
        author_ids.push(author.id);
    }
    let author_ids = Arc::new(author_ids);
    let paragraphs: Arc<Vec<&'static str>> = Arc::new(
        SAMPLE
            .split("\n\n")
            .skip(2)
            .filter(|block| !block.starts_with("شارك المقال"))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let mut workers = JoinSet::new();
    for worker in 0..concurrency.max(1) {
        let articles = ArticleServiceClient::new(authorized(channel.clone(), token)?);
        let (author_ids, paragraphs, next) = (author_ids.clone(), paragraphs.clone(), next.clone());
        workers.spawn(async move {
            let mut rng = Rng::new(worker as u64 + 1);
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return anyhow::Ok(());
                }
                let article = make_article(n, &mut rng, &author_ids, &paragraphs);
                let created = articles
                    .clone()
                    .create_article(pb::CreateArticleRequest {
                        article: Some(article),
                        request_id: String::new(),
                    })
                    .await
                    .with_context(|| format!("creating article {n}"))?
                    .into_inner();
                if n % DRAFT_EVERY != 0 {
                    articles
                        .clone()
                        .publish_article(pb::PublishArticleRequest {
                            id: created.id,
                            ..Default::default()
                        })
                        .await
                        .with_context(|| format!("publishing article {n}"))?;
                }
                if n > 0 && n % 5_000 == 0 {
                    eprintln!("seeded {n} articles in {:.0?}", started.elapsed());
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    eprintln!("seeded {count} articles in {:.1?}", started.elapsed());
    Ok(())
}

/// Article `n`: a unique title, a ~3 KB body of the sample's paragraphs
/// from a varying start, one or two authors, tags and a section.
fn make_article(
    n: usize,
    rng: &mut Rng,
    author_ids: &[String],
    paragraphs: &[&str],
) -> pb::Article {
    let mut body = String::new();
    let start = rng.below(paragraphs.len());
    for paragraph in paragraphs.iter().cycle().skip(start) {
        if body.len() >= BODY_BYTES {
            break;
        }
        if !body.is_empty() {
            body.push_str("\n\n");
        }
        body.push_str(paragraph);
    }
    let mut byline = vec![author_ids[rng.below(author_ids.len())].clone()];
    let second = author_ids[rng.below(author_ids.len())].clone();
    if n.is_multiple_of(3) && second != byline[0] {
        byline.push(second);
    }
    pb::Article {
        title: format!("تقرير رقم {n}: محادثات السلام وآفاقها"),
        subtitle: "ما الذي تغيّر هذا الأسبوع".into(),
        body,
        author_ids: byline,
        tags: vec![
            TAGS[rng.below(TAGS.len())].to_owned(),
            TAGS[rng.below(TAGS.len())].to_owned(),
        ],
        section: SECTIONS[n % SECTIONS.len()].to_owned(),
        comments_enabled: Some(true),
        ..Default::default()
    }
}

/// Reads back the published articles, the drafts, and the deep page.
async fn learn(channel: &Channel, token: &str) -> anyhow::Result<Corpus> {
    let articles = ArticleServiceClient::new(authorized(channel.clone(), token)?);
    let mut published = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = articles
            .clone()
            .list_articles(pb::ListArticlesRequest {
                page_size: 100,
                page_token: page_token.clone(),
                view: pb::ArticleView::Published.into(),
                ..Default::default()
            })
            .await?
            .into_inner();
        published.extend(page.articles.into_iter().map(|article| Published {
            id: article.id,
            slug: article.slug,
            language: article.language,
        }));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let mut drafts = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = articles
            .clone()
            .list_articles(pb::ListArticlesRequest {
                page_size: 100,
                page_token: page_token.clone(),
                view: pb::ArticleView::Latest.into(),
                status: pb::ArticleStatus::Draft.into(),
                ..Default::default()
            })
            .await?
            .into_inner();
        drafts.extend(page.articles.into_iter().map(|article| article.id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    if published.is_empty() {
        bail!("the corpus has no published article");
    }
    let deep_page = deep_page(&articles, published.len()).await?;
    Ok(Corpus {
        published,
        drafts,
        deep_page,
    })
}

/// Walks the published listing to page 1,000, with pages as large as the
/// corpus allows (at most 20 articles).
async fn deep_page(
    articles: &ArticleServiceClient<Authorized>,
    published: usize,
) -> anyhow::Result<Option<DeepPage>> {
    let page_size = (published / DEEP_PAGE).min(20);
    if page_size == 0 {
        return Ok(None);
    }
    let page_size = i32::try_from(page_size)?;
    let mut token = String::new();
    for _ in 1..DEEP_PAGE {
        token = articles
            .clone()
            .list_articles(pb::ListArticlesRequest {
                page_size,
                page_token: token,
                view: pb::ArticleView::Published.into(),
                ..Default::default()
            })
            .await?
            .into_inner()
            .next_page_token;
        if token.is_empty() {
            return Ok(None);
        }
    }
    Ok(Some(DeepPage { page_size, token }))
}
