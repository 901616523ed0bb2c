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
//! in the entry (reading the article again costs a hundred times more, and a
//! story that draws comments is the one readers open). Whole pages are then
//! put together again from the entries; an article's event also makes every
//! page's list of ids be read again, since the article may have moved in or
//! out of it. Shares change nothing readers see of an article.

mod page;

use std::{
    cell::RefCell,
    collections::{HashMap, HashSet},
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

use self::page::{SlugOf, put_page_together};
use super::{
    convert::{article_in_view, count_to_pb},
    encoded::Encoded,
};
use crate::{
    domain::{
        article::ArticleView,
        event::{changes_only_comment_count, may_change_listings},
    },
    error::Error,
    proto as pb,
    store::Store,
};

thread_local! {
    /// One decompression context a thread: making one costs more than the
    /// decompression itself.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        RefCell::new(zstd::bulk::Decompressor::new().ok());
    /// The same for compression, where a new context cost more than the
    /// compression in a profile of the server.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        RefCell::new(zstd::bulk::Compressor::new(COMPRESSION_LEVEL).ok());
}

/// What an entry costs besides its bytes (key, bookkeeping, allocation).
const ENTRY_OVERHEAD: u64 = 96;

/// How hard entries are compressed: level 3 saves only 2% over 1 for twice
/// the time, which shows when a restarted server fills its memory.
const COMPRESSION_LEVEL: i32 = 1;

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

#[derive(Clone)]
struct Entry {
    compressed: Arc<[u8]>,
    encoded_len: usize,
}

impl Entry {
    /// `encoded`, compressed (`None` if compression failed).
    fn of(encoded: &[u8]) -> Option<Self> {
        let compressed =
            COMPRESSOR.with_borrow_mut(|compressor| compressor.as_mut()?.compress(encoded).ok())?;
        Some(Self {
            compressed: compressed.into(),
            encoded_len: encoded.len(),
        })
    }

    /// The encoded answer (`None` if decompression failed).
    fn decompress(&self) -> Option<Vec<u8>> {
        DECOMPRESSOR.with_borrow_mut(|decompressor| {
            decompressor
                .as_mut()?
                .decompress(&self.compressed, self.encoded_len)
                .ok()
        })
    }
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
        entry.compressed.len() as u64 + ENTRY_OVERHEAD
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

    /// The published article with `slug` in `language`, as readers get it.
    pub async fn by_slug(&self, language: &str, slug: &str) -> Result<Encoded<pb::Article>, Error> {
        self.apply_log(false).await?;
        if let Some(id) = self.inner.slugs.get(&slug_key(language, slug))
            && let Some(article) = self.cached(&id)
            // The slug may have moved to another article since.
            && SlugOf::decode(article.clone())
                .is_ok_and(|found| found.slug == slug && found.language == language)
        {
            return Ok(Encoded::trusted(article));
        }
        let epoch = self.inner.epoch.load(Ordering::SeqCst);
        let article = self
            .inner
            .store
            .find_article_by_slug(language, slug, ArticleView::Published, false)
            .await?;
        let article = article_in_view(article, ArticleView::Published);
        let encoded = Encoded::of(&article);
        self.keep(epoch, &article, encoded.bytes());
        Ok(encoded)
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
        self.keep_page(ticket.key, ticket.lists_epoch, ticket.epoch, &answer);
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

    /// Drops the entries of the articles `changed` (article id and event
    /// type) names, but those whose only changes are comments' and that are
    /// kept: their ids are returned, for their counts to be set.
    fn drop_changed(&self, changed: &[(String, String)]) -> Vec<(Uuid, String)> {
        let mut only_counts: HashMap<Uuid, &str> = HashMap::new();
        let mut dropped = HashSet::new();
        for (id, event_type) in changed {
            let Some(key) = entry_key(id) else {
                continue;
            };
            if changes_only_comment_count(event_type) && !dropped.contains(&key) {
                only_counts.insert(key, id);
            } else {
                only_counts.remove(&key);
                dropped.insert(key);
                self.inner.entries.remove(&key);
            }
        }
        only_counts
            .into_iter()
            .filter(|(key, _)| self.inner.entries.contains_key(key))
            .map(|(key, id)| (key, id.to_owned()))
            .collect()
    }

    /// Sets the comment count in the entries of `articles`, as the database
    /// has it now. An entry whose count cannot be read or set is dropped.
    async fn recount(&self, articles: Vec<(Uuid, String)>) {
        if articles.is_empty() {
            return;
        }
        let ids: Vec<String> = articles.iter().map(|(_, id)| id.clone()).collect();
        let counts = match self.inner.store.comment_counts(&ids).await {
            Ok(counts) => counts,
            Err(error) => {
                tracing::warn!(%error, "reading changed comment counts failed; dropping the articles from memory");
                HashMap::new()
            }
        };
        for (key, id) in &articles {
            let recounted = counts.get(id).and_then(|&count| {
                let entry = self.inner.entries.get(key)?;
                let mut article = pb::Article::decode(entry.decompress()?.as_slice()).ok()?;
                article.comment_count = count_to_pb(count);
                Entry::of(&article.encode_to_vec())
            });
            match recounted {
                Some(entry) => self.inner.entries.insert(*key, entry),
                None => {
                    self.inner.entries.remove(key);
                }
            }
        }
    }

    /// The encoded published answer for `id`, if memory has it.
    fn cached(&self, id: &Uuid) -> Option<Bytes> {
        let encoded = self
            .inner
            .entries
            .get(id)
            .and_then(|entry| entry.decompress());
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
        // mapping kept out of turn does no harm.
        self.inner
            .slugs
            .insert(slug_key(&article.language, &article.slug), id);
        let Some(entry) = Entry::of(encoded) else {
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

    /// Applies the log's changes to the entries: those this process
    /// committed since the last pass, or (`everyone`) all there are.
    async fn apply_log(&self, everyone: bool) -> Result<(), Error> {
        // Read before the log, so that a commit after it is not missed.
        let commits = self.inner.store.local_commits();
        let up_to_date = |applied_commits: u64| {
            !everyone && self.inner.synced.load(Ordering::SeqCst) && applied_commits >= commits
        };
        if up_to_date(self.inner.applied_commits.load(Ordering::SeqCst)) {
            return Ok(());
        }
        let mut applied = self.inner.applied.lock().await;
        if up_to_date(applied.commits) {
            return Ok(());
        }
        let newest = self.inner.store.last_event_sequence().await?;
        match applied.sequence {
            Some(sequence) => {
                let changed = self
                    .inner
                    .store
                    .articles_changed_between(sequence, newest)
                    .await?;
                if !changed.is_empty() {
                    if changed
                        .iter()
                        .any(|(_, event_type)| may_change_listings(event_type))
                    {
                        self.inner.lists_epoch.fetch_add(1, Ordering::SeqCst);
                    }
                    let pass = PassUnderWay::begin(&self.inner.epoch);
                    let recount = self.drop_changed(&changed);
                    self.recount(recount).await;
                    drop(pass);
                }
            }
            // Nothing was cached without knowing where the log stood.
            None => {
                self.inner.lists_epoch.fetch_add(1, Ordering::SeqCst);
                let pass = PassUnderWay::begin(&self.inner.epoch);
                self.inner.entries.clear();
                drop(pass);
            }
        }
        applied.sequence = Some(applied.sequence.map_or(newest, |known| known.max(newest)));
        applied.commits = applied.commits.max(commits);
        self.inner
            .applied_commits
            .store(applied.commits, Ordering::SeqCst);
        self.inner.synced.store(true, Ordering::SeqCst);
        metrics::gauge!("article_cache_bytes", "of" => "articles")
            .set(self.inner.entries.weight() as f64);
        metrics::gauge!("article_cache_bytes", "of" => "pages")
            .set(self.inner.pages.weight() as f64);
        metrics::gauge!("article_cache_bytes", "of" => "lists")
            .set(self.inner.lists.weight() as f64);
        Ok(())
    }
}

/// A pass under way: the epoch is odd from `begin` until this is dropped,
/// also when a reader that was applying the log is cut off while the pass
/// reads counts (the pass is then applied again by the next reader, as the
/// log's position was not moved).
struct PassUnderWay<'a>(&'a AtomicU64);

impl<'a> PassUnderWay<'a> {
    fn begin(epoch: &'a AtomicU64) -> Self {
        epoch.fetch_add(1, Ordering::SeqCst);
        Self(epoch)
    }
}

impl Drop for PassUnderWay<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
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
