//! The request-answer scenarios: one call each, made the way its callers make
//! it (readers without a key, the newsroom with one), and every answer
//! checked: its status and a field of its payload.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use newsdesk::proto::{
    self as pb, article_service_client::ArticleServiceClient,
    comment_service_client::CommentServiceClient, share_service_client::ShareServiceClient,
};
use prost_types::FieldMask;
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    client::Bearer,
    corpus::{Corpus, DeepPage},
    load::{Call, CallResult, Scenario},
    probe,
    rng::Rng,
};

/// A failed call or a wrong answer, as the report shows it.
fn failed(what: &str, status: tonic::Status) -> String {
    format!("{what}: {:?} {}", status.code(), status.message())
}

/// Health Check: the framework's ceiling, through the same stack.
pub struct Health;

impl Scenario for Health {
    fn call(&self, channel: Channel, _rng: &mut Rng) -> Call {
        Box::pin(async move {
            let answer = HealthClient::new(channel)
                .check(HealthCheckRequest::default())
                .await
                .map_err(|status| failed("Check", status))?;
            match answer.into_inner().status() {
                ServingStatus::Serving => Ok(()),
                other => Err(format!("Check: {other:?}")),
            }
        })
    }
}

/// A reader opening a published article by id.
pub struct Get(pub Arc<Corpus>);

impl Scenario for Get {
    fn call(&self, channel: Channel, rng: &mut Rng) -> Call {
        let article = &self.0.published[rng.below(self.0.published.len())];
        let id = article.id.clone();
        Box::pin(get_by_id(channel, id))
    }
}

async fn get_by_id(channel: Channel, id: String) -> CallResult {
    let article = probe::get_article(
        channel,
        pb::GetArticleRequest {
            id: id.clone(),
            ..Default::default()
        },
    )
    .await
    .map_err(|status| failed("GetArticle", status))?;
    if article.id == id && !article.body.is_empty() {
        Ok(())
    } else {
        Err(format!("GetArticle {id}: another article or no body"))
    }
}

/// Every published article read once by id, `concurrency` at a time over
/// `connections`, every answer checked: the readers' first visits after a
/// start, which fill the server's memory. Returns how long it took.
pub async fn read_each_once(
    connections: &[Channel],
    corpus: &Corpus,
    concurrency: usize,
) -> anyhow::Result<std::time::Duration> {
    let started = std::time::Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let ids: Arc<Vec<String>> = Arc::new(corpus.published.iter().map(|a| a.id.clone()).collect());
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency.max(1) {
        let channel = connections[worker % connections.len()].clone();
        let (next, ids) = (next.clone(), ids.clone());
        workers.spawn(async move {
            loop {
                let n = usize::try_from(next.fetch_add(1, Ordering::Relaxed)).unwrap_or(usize::MAX);
                let Some(id) = ids.get(n) else {
                    return Ok::<(), String>(());
                };
                get_by_id(channel.clone(), id.clone()).await?;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done?.map_err(|error| anyhow::anyhow!("reading each article once: {error}"))?;
    }
    Ok(started.elapsed())
}

/// A reader opening a published article by its slug.
pub struct GetSlug(pub Arc<Corpus>);

impl Scenario for GetSlug {
    fn call(&self, channel: Channel, rng: &mut Rng) -> Call {
        let article = self.0.published[rng.below(self.0.published.len())].clone();
        Box::pin(async move {
            let found = probe::get_article(
                channel,
                pb::GetArticleRequest {
                    slug: article.slug.clone(),
                    language: article.language.clone(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|status| failed("GetArticle by slug", status))?;
            if found.id == article.id && found.slug == article.slug {
                Ok(())
            } else {
                Err(format!(
                    "GetArticle by slug {}: another article",
                    article.slug
                ))
            }
        })
    }
}

/// The first page of the published listing, as a home page shows it.
pub struct ListFirst {
    pub page_size: i32,
}

impl Scenario for ListFirst {
    fn call(&self, channel: Channel, _rng: &mut Rng) -> Call {
        let page_size = self.page_size;
        Box::pin(async move {
            let page = probe::list_articles(
                channel,
                pb::ListArticlesRequest {
                    page_size,
                    ..Default::default()
                },
            )
            .await
            .map_err(|status| failed("ListArticles", status))?;
            check_page(&page, page_size)
        })
    }
}

/// Page 1,000 of the published listing, from its page token.
pub struct ListDeep(pub DeepPage);

impl Scenario for ListDeep {
    fn call(&self, channel: Channel, _rng: &mut Rng) -> Call {
        let DeepPage { page_size, token } = self.0.clone();
        Box::pin(async move {
            let page = probe::list_articles(
                channel,
                pb::ListArticlesRequest {
                    page_size,
                    page_token: token,
                    ..Default::default()
                },
            )
            .await
            .map_err(|status| failed("ListArticles (deep)", status))?;
            check_page(&page, page_size)
        })
    }
}

fn check_page(page: &probe::ListProbe, page_size: i32) -> CallResult {
    let full = usize::try_from(page_size).unwrap_or_default();
    if page.articles.len() == full && page.articles.iter().all(|article| !article.id.is_empty()) {
        Ok(())
    } else {
        Err(format!(
            "ListArticles: {} articles, not {full}",
            page.articles.len()
        ))
    }
}

/// A reader posting a comment (each one's own words, so that the policy
/// approves it).
pub struct CreateComment {
    pub corpus: Arc<Corpus>,
    pub posted: AtomicU64,
}

impl Scenario for CreateComment {
    fn call(&self, channel: Channel, rng: &mut Rng) -> Call {
        let article_id = self.corpus.published[rng.below(self.corpus.published.len())]
            .id
            .clone();
        let n = self.posted.fetch_add(1, Ordering::Relaxed);
        Box::pin(post_comment(channel, article_id, n, rng.next_u64()))
    }
}

async fn post_comment(channel: Channel, article_id: String, n: u64, salt: u64) -> CallResult {
    let comment = CommentServiceClient::new(channel)
        .create_comment(pb::CreateCommentRequest {
            comment: Some(pb::Comment {
                article_id: article_id.clone(),
                author_name: format!("قارئ {}", n % 5_000),
                body: format!("تعليق رقم {n} ({salt:x}): تحليل مفيد، شكرًا للفريق."),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .map_err(|status| failed("CreateComment", status))?
        .into_inner();
    if comment.article_id == article_id && comment.status() == pb::CommentStatus::Approved {
        Ok(())
    } else {
        Err(format!(
            "CreateComment: {:?} on {}",
            comment.status(),
            comment.article_id
        ))
    }
}

/// A reader sharing an article (each share from its own client, so that
/// every one counts).
pub struct RecordShare(pub Arc<Corpus>);

impl Scenario for RecordShare {
    fn call(&self, channel: Channel, rng: &mut Rng) -> Call {
        let article_id = self.0.published[rng.below(self.0.published.len())]
            .id
            .clone();
        Box::pin(share(channel, article_id, rng.next_u64()))
    }
}

pub async fn share(channel: Channel, article_id: String, client: u64) -> CallResult {
    const CHANNELS: [pb::ShareChannel; 4] = [
        pb::ShareChannel::Whatsapp,
        pb::ShareChannel::X,
        pb::ShareChannel::Facebook,
        pb::ShareChannel::Telegram,
    ];
    let answer = ShareServiceClient::new(channel)
        .record_share(pb::RecordShareRequest {
            article_id,
            channel: CHANNELS[(client % 4) as usize].into(),
            client_id: format!("bench-{client:016x}"),
            referrer: String::new(),
        })
        .await
        .map_err(|status| failed("RecordShare", status))?
        .into_inner();
    if answer.counted {
        Ok(())
    } else {
        Err("RecordShare: a new client's share did not count".into())
    }
}

/// An editor saving a change to a draft's working copy: a new revision and
/// an event each time.
pub struct Update {
    pub drafts: Arc<Vec<String>>,
    pub bearer: Bearer,
    pub saved: AtomicU64,
}

impl Scenario for Update {
    fn call(&self, channel: Channel, rng: &mut Rng) -> Call {
        let id = self.drafts[rng.below(self.drafts.len())].clone();
        let n = self.saved.fetch_add(1, Ordering::Relaxed);
        let client =
            ArticleServiceClient::new(InterceptedService::new(channel, self.bearer.clone()));
        Box::pin(async move {
            let subtitle = format!("تحديث رقم {n}");
            let saved = client
                .clone()
                .update_article(pb::UpdateArticleRequest {
                    article: Some(pb::Article {
                        id: id.clone(),
                        subtitle: subtitle.clone(),
                        ..Default::default()
                    }),
                    update_mask: Some(FieldMask {
                        paths: vec!["subtitle".into()],
                    }),
                })
                .await
                .map_err(|status| failed("UpdateArticle", status))?
                .into_inner();
            if saved.id == id && saved.subtitle == subtitle {
                Ok(())
            } else {
                Err(format!(
                    "UpdateArticle {id}: the change is not in the answer"
                ))
            }
        })
    }
}

/// The public's mix: 90% reads (by id, by slug, the home page), 8% shares,
/// 2% comments.
pub struct Mixed {
    pub corpus: Arc<Corpus>,
    pub comments: CreateComment,
}

impl Scenario for Mixed {
    fn call(&self, channel: Channel, rng: &mut Rng) -> Call {
        match rng.below(100) {
            0..60 => Get(self.corpus.clone()).call(channel, rng),
            60..75 => GetSlug(self.corpus.clone()).call(channel, rng),
            75..90 => ListFirst { page_size: 20 }.call(channel, rng),
            90..98 => RecordShare(self.corpus.clone()).call(channel, rng),
            _ => self.comments.call(channel, rng),
        }
    }
}
