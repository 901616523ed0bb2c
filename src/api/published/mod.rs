//! Published articles as readers get them, kept in memory so that opening a
//! story or a listing does not reach the database. Each article is kept as
//! its encoded answer, compressed (a whole 100,000-article corpus fits in
//! about 150 MB); listing pages are kept as the ids on them and, within a
//! small share of the budget, as whole encoded answers (`page` puts them
//! together). Answers leave as bytes (see `encoded`): nothing is decoded to
//! be encoded again.
//!
//! The event log says what changed: before answering, a reader makes sure
//! every change this process committed has been applied (so a publish is
//! seen by the very next read), and a task applies other processes' changes
//! every poll interval. An article's event drops that article's entry; a
//! comment's, which changes only the article's comment count, sets the count
//! in the entry (reading the article again costs many times more, and a
//! story that draws comments is the one readers open). Whole pages are then
//! put together again from the entries; an article's event also makes every
//! page's list of ids be read again, since the article may have moved in or
//! out of it. Shares change nothing readers see of an article.

mod entry;
mod event_log;
mod page;

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use prost::Message;
use quick_cache::{Weighter, sync::Cache};
use tokio::sync::{Mutex, watch};
use uuid::Uuid;

use self::{
    entry::Entry,
    page::{SlugOf, put_page_together},
};
use super::{convert::article_in_view, encoded::Encoded, lookup_slug};
use crate::{
    domain::{article::ArticleView, slug::is_valid_slug},
    error::Error,
    proto as pb,
    store::Store,
};

/// What an entry costs besides its bytes (key, bookkeeping, allocation).
const ENTRY_OVERHEAD: u64 = 96;

/// The share of the budget that whole encoded pages may take (at most
/// [`MAX_PAGE_BUDGET`]); the rest is for articles.
const PAGE_SHARE: u64 = 16;
/// About 230 pages of twenty articles.
const MAX_PAGE_BUDGET: u64 = 16 * 1024 * 1024;

/// The share of the budget that listing pages' ids may take.
const LIST_SHARE: u64 = 64;

/// The cache of published articles; cheap to clone.
#[derive(Clone)]
pub struct PublishedArticles {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// Article id to its compressed, encoded published answer.
    entries: Cache<Uuid, Entry, Weight>,
    /// A hash of (language, slug) to the id it was last found under. The
    /// entry it leads to is checked for the slug, so that two slugs with
    /// one hash cost a database read, not a wrong answer; and a hash takes
    /// a tenth of the memory of the strings.
    slugs: Cache<u64, Uuid>,
    /// Readers' listing pages: a query and page to the ids on it.
    lists: Cache<String, ListEntry, Weight>,
    /// The same pages' whole encoded answers, within their share of the
    /// budget.
    pages: Cache<String, PageEntry, Weight>,
    /// Moves before and after each pass that drops entries or sets their
    /// counts: odd while one is under way (see [`PassUnderWay`]). A reader
    /// who read the database before a change cannot keep the old answer
    /// after it, and a page put together from entries is kept only if no
    /// pass ran meanwhile (one might have been about to change an entry it
    /// used).
    epoch: AtomicU64,
    /// Moves before each pass that may have changed which articles a
    /// listing holds.
    lists_epoch: AtomicU64,
    /// Local commits already applied (read without taking `applied`).
    applied_commits: AtomicU64,
    /// Whether `applied` knows where the log stands (the database may have
    /// been down at start).
    synced: AtomicBool,
    /// Where the log has been applied up to; held by one pass at a time.
    applied: Mutex<Applied>,
}

#[derive(Debug, Clone, Copy)]
struct Applied {
    /// `None` until the log's end was first read.
    sequence: Option<i64>,
    commits: u64,
}

/// A listing page as it was read, valid while `lists_epoch` stays where it
/// was.
#[derive(Clone)]
struct ListEntry {
    lists_epoch: u64,
    ids: Arc<[Uuid]>,
    next_page_token: Arc<str>,
}

/// A listing page's whole answer, put together when the epochs were these.
#[derive(Clone)]
struct PageEntry {
    lists_epoch: u64,
    epoch: u64,
    page: Bytes,
}

/// Weighs entries by their bytes, so that the budget is one of memory.
#[derive(Clone)]
struct Weight;

impl Weighter<Uuid, Entry> for Weight {
    fn weight(&self, _: &Uuid, entry: &Entry) -> u64 {
        entry.size() as u64 + ENTRY_OVERHEAD
    }
}

impl Weighter<String, ListEntry> for Weight {
    fn weight(&self, key: &String, entry: &ListEntry) -> u64 {
        (key.len() + entry.ids.len() * size_of::<Uuid>() + entry.next_page_token.len()) as u64
            + ENTRY_OVERHEAD
    }
}

impl Weighter<String, PageEntry> for Weight {
    fn weight(&self, key: &String, entry: &PageEntry) -> u64 {
        (key.len() + entry.page.len()) as u64 + ENTRY_OVERHEAD
    }
}

/// What a listing lookup found.
pub enum ListLookup {
    /// The page, from memory.
    Hit(Encoded<pb::ListArticlesResponse>),
    /// Not in memory: read it, then hand it to [`PublishedArticles::keep_list`]
    /// with this ticket.
    Miss(ListTicket),
}

/// A page to read from the database, and where the epochs stood when the
/// reading started.
pub struct ListTicket {
    key: String,
    epoch: u64,
    lists_epoch: u64,
}

impl PublishedArticles {
    /// An empty cache over `store` holding up to `budget_bytes`, which
    /// follows the log from its current end (or, with the database down,
    /// from wherever it stands when it is back). `refresh` is how often
    /// other processes' changes are applied; the task stops with `stop`.
    pub async fn start(
        store: Store,
        budget_bytes: u64,
        refresh: Duration,
        mut stop: watch::Receiver<()>,
    ) -> Self {
        let commits = store.local_commits();
        let sequence = store.last_event_sequence().await.ok();
        let page_budget = (budget_bytes / PAGE_SHARE).min(MAX_PAGE_BUDGET);
        let list_budget = budget_bytes / LIST_SHARE;
        let article_budget = budget_bytes - page_budget - list_budget;
        // About 1.5 KB an entry, compressed; the estimate only sizes tables.
        let estimated_items = usize::try_from(article_budget / 1_536)
            .unwrap_or(usize::MAX)
            .max(16);
        let cache = Self {
            inner: Arc::new(Inner {
                store,
                entries: Cache::with_weighter(estimated_items, article_budget, Weight),
                slugs: Cache::new(estimated_items),
                // A list of twenty ids is about 500 bytes.
                lists: Cache::with_weighter(
                    usize::try_from(list_budget / 512).unwrap_or(16).max(16),
                    list_budget,
                    Weight,
                ),
                // A page of twenty articles is about 70 KB.
                pages: Cache::with_weighter(
                    usize::try_from(page_budget / 65_536).unwrap_or(16).max(16),
                    page_budget,
                    Weight,
                ),
                epoch: AtomicU64::new(0),
                lists_epoch: AtomicU64::new(0),
                applied_commits: AtomicU64::new(commits),
                synced: AtomicBool::new(sequence.is_some()),
                applied: Mutex::new(Applied { sequence, commits }),
            }),
        };
        let refresher = cache.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(refresh) => {}
                    _ = stop.changed() => return,
                }
                // The health monitor reports a database that is down.
                if let Err(error) = refresher.apply_log(true).await {
                    tracing::debug!(%error, "applying the event log to the article cache failed");
                }
            }
        });
        cache
    }

    /// The published article with `id`, as readers get it.
    pub async fn by_id(&self, id: &str) -> Result<Encoded<pb::Article>, Error> {
        self.apply_log(false).await?;
        if let Some(article) = entry_key(id).and_then(|key| self.cached(&key)) {
            return Ok(Encoded::trusted(article));
        }
        let epoch = self.inner.epoch.load(Ordering::SeqCst);
        let article = self
            .inner
            .store
            .find_article(id, ArticleView::Published, false)
            .await?;
        let article = article_in_view(article, ArticleView::Published);
        let encoded = Encoded::of(&article);
        self.keep(epoch, &article, encoded.bytes());
        Ok(encoded)
    }

    /// The published article with the slug `raw` (as the reader sent it) in
    /// `language`, as readers get it. Memory maps only valid slugs, which
    /// are in NFC, so memory is asked with `raw` as it is (trimmed) first:
    /// normalising and checking it took about 6% of the server's CPU in reads
    /// by slug from memory.
    pub async fn by_slug(&self, language: &str, raw: &str) -> Result<Encoded<pb::Article>, Error> {
        self.apply_log(false).await?;
        let trimmed = raw.trim();
        if let Some(article) = self.remembered_slug(language, trimmed) {
            return Ok(article);
        }
        let slug = lookup_slug("article", raw)?;
        if slug != trimmed
            && let Some(article) = self.remembered_slug(language, &slug)
        {
            return Ok(article);
        }
        let epoch = self.inner.epoch.load(Ordering::SeqCst);
        let article = self
            .inner
            .store
            .find_article_by_slug(language, &slug, ArticleView::Published, false)
            .await?;
        let article = article_in_view(article, ArticleView::Published);
        let encoded = Encoded::of(&article);
        self.keep(epoch, &article, encoded.bytes());
        Ok(encoded)
    }

    /// The article memory has under `slug` in `language`, if it still has
    /// that slug.
    fn remembered_slug(&self, language: &str, slug: &str) -> Option<Encoded<pb::Article>> {
        let id = self.inner.slugs.get(&slug_key(language, slug))?;
        let article = self.cached(&id)?;
        // The slug may have moved to another article since.
        SlugOf::decode(article.clone())
            .is_ok_and(|found| found.slug == slug && found.language == language)
            .then(|| Encoded::trusted(article))
    }

    /// The readers' listing page under `key` (a query's fingerprint, page
    /// size and token), if memory has it as it stands.
    pub async fn list(&self, key: String) -> Result<ListLookup, Error> {
        self.apply_log(false).await?;
        let lists_epoch = self.inner.lists_epoch.load(Ordering::SeqCst);
        let epoch = self.inner.epoch.load(Ordering::SeqCst);
        if let Some(page) = self.inner.pages.get(&key)
            && page.lists_epoch == lists_epoch
            && page.epoch == epoch
        {
            metrics::counter!("article_cache_lookups_total", "of" => "pages", "result" => "hit")
                .increment(1);
            return Ok(ListLookup::Hit(Encoded::trusted(page.page)));
        }
        if let Some(entry) = self.inner.lists.get(&key)
            && entry.lists_epoch == lists_epoch
        {
            // The same articles, some of them changed since (or the whole
            // answer was not kept): put the page together from memory.
            let articles: Option<Vec<Bytes>> = entry.ids.iter().map(|id| self.cached(id)).collect();
            // An article may have been evicted: the page is read again.
            if let Some(articles) = articles {
                metrics::counter!(
                    "article_cache_lookups_total",
                    "of" => "pages",
                    "result" => "assembled"
                )
                .increment(1);
                let page = put_page_together(&articles, &entry.next_page_token);
                if self.no_pass_since(epoch) {
                    self.keep_page(key, lists_epoch, epoch, &page);
                }
                return Ok(ListLookup::Hit(page));
            }
        }
        metrics::counter!("article_cache_lookups_total", "of" => "pages", "result" => "miss")
            .increment(1);
        Ok(ListLookup::Miss(ListTicket {
            key,
            epoch,
            lists_epoch,
        }))
    }

    /// Keeps a page read from the database for its ticket, and returns its
    /// answer.
    pub fn keep_list(
        &self,
        ticket: ListTicket,
        page: &pb::ListArticlesResponse,
    ) -> Encoded<pb::ListArticlesResponse> {
        let articles: Vec<Bytes> = page
            .articles
            .iter()
            .map(|article| {
                let encoded = Bytes::from(article.encode_to_vec());
                self.keep(ticket.epoch, article, &encoded);
                encoded
            })
            .collect();
        let ids: Option<Arc<[Uuid]>> = page
            .articles
            .iter()
            .map(|article| entry_key(&article.id))
            .collect();
        let answer = put_page_together(&articles, &page.next_page_token);
        // An entry from an older epoch is never served, so a late insert
        // does no harm.
        if let Some(ids) = ids {
            let entry = ListEntry {
                lists_epoch: ticket.lists_epoch,
                ids,
                next_page_token: page.next_page_token.as_str().into(),
            };
            self.inner.lists.insert(ticket.key.clone(), entry);
        }
        if self.no_pass_since(ticket.epoch) {
            self.keep_page(ticket.key, ticket.lists_epoch, ticket.epoch, &answer);
        }
        answer
    }

    fn keep_page(
        &self,
        key: String,
        lists_epoch: u64,
        epoch: u64,
        page: &Encoded<pb::ListArticlesResponse>,
    ) {
        let entry = PageEntry {
            lists_epoch,
            epoch,
            page: page.bytes().clone(),
        };
        self.inner.pages.insert(key, entry);
    }

    /// Whether no pass has changed entries since the epoch was `epoch`, nor
    /// was one under way then.
    fn no_pass_since(&self, epoch: u64) -> bool {
        epoch.is_multiple_of(2) && self.inner.epoch.load(Ordering::SeqCst) == epoch
    }

    /// The encoded published answer for `id`, if memory has it.
    fn cached(&self, id: &Uuid) -> Option<Bytes> {
        let encoded = self.inner.entries.get(id).and_then(|entry| entry.answer());
        metrics::counter!(
            "article_cache_lookups_total",
            "of" => "articles",
            "result" => if encoded.is_some() { "hit" } else { "miss" }
        )
        .increment(1);
        encoded.map(Bytes::from)
    }

    /// Keeps `encoded`, the answer `article` read from the database when the
    /// epoch was `epoch`, unless a pass ran since (it may have been read
    /// before a change the pass applied) or was under way then (the pass
    /// may have read a count older than the answer); and remembers its
    /// slug, so that a read by slug finds it too.
    fn keep(&self, epoch: u64, article: &pb::Article, encoded: &[u8]) {
        let Some(id) = entry_key(&article.id) else {
            return;
        };
        // Where the slug led is checked against the entry it finds, so a
        // mapping kept out of turn does no harm. Only a valid slug is
        // mapped: a reader's lookup trusts memory's slugs as checked (a row
        // written by other rules may hold one that is not).
        if is_valid_slug(&article.slug) {
            self.inner
                .slugs
                .insert(slug_key(&article.language, &article.slug), id);
        }
        let Some(entry) = Entry::of(article, encoded) else {
            return;
        };
        if !self.no_pass_since(epoch) {
            return;
        }
        self.inner.entries.insert(id, entry);
        // A pass that began between the check and the insert may not have
        // seen this entry: then it goes again, to be read afresh.
        if self.inner.epoch.load(Ordering::SeqCst) != epoch {
            self.inner.entries.remove(&id);
        }
    }
}

/// An article id as entries are keyed: ids are UUIDs (anything else names
/// no article, and is not kept).
fn entry_key(id: &str) -> Option<Uuid> {
    Uuid::try_parse(id).ok()
}

/// Where the slugs map keeps `slug` in `language`.
fn slug_key(language: &str, slug: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    (language, slug).hash(&mut hasher);
    hasher.finish()
}
