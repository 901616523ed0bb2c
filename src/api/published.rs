//! Published articles as readers get them, kept in memory so that opening a
//! story does not reach the database. Each entry is the encoded answer,
//! compressed (a whole 100,000-article corpus fits in about a hundred
//! megabytes), within a byte budget.
//!
//! The event log says what changed: before answering, a reader makes sure
//! every change this process committed has been applied (so a publish is
//! seen by the very next read), and a task applies other processes' changes
//! every poll interval. Any event that names an article, shares aside,
//! drops that article's entry.

use std::{
    cell::RefCell,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use prost::Message;
use quick_cache::{Weighter, sync::Cache};
use tokio::sync::{Mutex, watch};

use super::convert::article_in_view;
use crate::{domain::article::ArticleView, error::Error, proto as pb, store::Store};

thread_local! {
    /// One decompression context a thread: making one costs more than the
    /// decompression itself.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        RefCell::new(zstd::bulk::Decompressor::new().ok());
}

/// What an entry costs besides its bytes (keys, bookkeeping).
const ENTRY_OVERHEAD: u64 = 128;

/// The cache of published articles; cheap to clone.
#[derive(Clone)]
pub struct PublishedArticles {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// Article id to its compressed, encoded published answer.
    entries: Cache<String, Entry, EntryWeight>,
    /// (language, slug) to the id it was last found under.
    slugs: Cache<(String, String), String>,
    /// Readers' list pages: a query and page to its articles' ids.
    lists: Cache<String, ListEntry>,
    /// Moves before each pass that drops entries, so that a reader who read
    /// the database before a change cannot put the old answer back after it.
    epoch: AtomicU64,
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

/// A list page as it was read, valid while the epoch stays where it was
/// (any change to any article may move an article in or out of a page).
#[derive(Clone)]
struct ListEntry {
    epoch: u64,
    ids: Arc<[String]>,
    next_page_token: String,
}

/// How many list pages are kept.
const LIST_PAGES: usize = 4_096;

/// What a list lookup found.
pub enum ListLookup {
    /// The page, from memory.
    Hit(pb::ListArticlesResponse),
    /// Not in memory: read it, then hand it to [`PublishedArticles::keep_list`]
    /// with this ticket.
    Miss(ListTicket),
}

/// A page to read from the database, and when the reading started.
pub struct ListTicket {
    key: String,
    epoch: u64,
}

#[derive(Clone)]
struct Entry {
    compressed: Arc<[u8]>,
    encoded_len: usize,
}

#[derive(Clone)]
struct EntryWeight;

impl Weighter<String, Entry> for EntryWeight {
    fn weight(&self, key: &String, entry: &Entry) -> u64 {
        (key.len() + entry.compressed.len()) as u64 + ENTRY_OVERHEAD
    }
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
        // About 1.5 KB an entry, compressed; the estimate only sizes tables.
        let estimated_items = usize::try_from(budget_bytes / 1_536)
            .unwrap_or(usize::MAX)
            .max(16);
        let cache = Self {
            inner: Arc::new(Inner {
                store,
                entries: Cache::with_weighter(estimated_items, budget_bytes, EntryWeight),
                slugs: Cache::new(estimated_items),
                lists: Cache::new(LIST_PAGES),
                epoch: AtomicU64::new(0),
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
    pub async fn by_id(&self, id: &str) -> Result<pb::Article, Error> {
        self.apply_log(false).await?;
        if let Some(article) = self.cached(id) {
            return Ok(article);
        }
        let epoch = self.inner.epoch.load(Ordering::SeqCst);
        let article = self
            .inner
            .store
            .find_article(id, ArticleView::Published, false)
            .await?;
        let article = article_in_view(article, ArticleView::Published);
        self.keep(epoch, &article);
        Ok(article)
    }

    /// The published article with `slug` in `language`, as readers get it.
    pub async fn by_slug(&self, language: &str, slug: &str) -> Result<pb::Article, Error> {
        self.apply_log(false).await?;
        let key = (language.to_owned(), slug.to_owned());
        if let Some(id) = self.inner.slugs.get(&key)
            && let Some(article) = self.cached(&id)
            // The slug may have moved to another article since.
            && article.slug == slug
            && article.language == language
        {
            return Ok(article);
        }
        let epoch = self.inner.epoch.load(Ordering::SeqCst);
        let article = self
            .inner
            .store
            .find_article_by_slug(language, slug, ArticleView::Published, false)
            .await?;
        let article = article_in_view(article, ArticleView::Published);
        self.inner.slugs.insert(key, article.id.clone());
        self.keep(epoch, &article);
        Ok(article)
    }

    /// The readers' list page under `key` (a query's fingerprint, page size
    /// and token), if memory has it as it stands.
    pub async fn list(&self, key: String) -> Result<ListLookup, Error> {
        self.apply_log(false).await?;
        let epoch = self.inner.epoch.load(Ordering::SeqCst);
        if let Some(entry) = self.inner.lists.get(&key)
            && entry.epoch == epoch
        {
            let articles: Option<Vec<pb::Article>> =
                entry.ids.iter().map(|id| self.cached(id)).collect();
            // An article may have been evicted: the page is read again.
            if let Some(articles) = articles {
                return Ok(ListLookup::Hit(pb::ListArticlesResponse {
                    articles,
                    next_page_token: entry.next_page_token.clone(),
                }));
            }
        }
        Ok(ListLookup::Miss(ListTicket { key, epoch }))
    }

    /// Keeps a page read from the database for its ticket.
    pub fn keep_list(&self, ticket: ListTicket, page: &pb::ListArticlesResponse) {
        for article in &page.articles {
            self.keep(ticket.epoch, article);
        }
        let entry = ListEntry {
            epoch: ticket.epoch,
            ids: page
                .articles
                .iter()
                .map(|article| article.id.clone())
                .collect(),
            next_page_token: page.next_page_token.clone(),
        };
        // An entry from an older epoch is never served, so a late insert
        // does no harm.
        self.inner.lists.insert(ticket.key, entry);
    }

    fn cached(&self, id: &str) -> Option<pb::Article> {
        let entry = self.inner.entries.get(id)?;
        DECOMPRESSOR.with_borrow_mut(|decompressor| {
            let decompressor = decompressor.as_mut()?;
            let encoded = decompressor
                .decompress(&entry.compressed, entry.encoded_len)
                .ok()?;
            pb::Article::decode(encoded.as_slice()).ok()
        })
    }

    /// Keeps `article`, read from the database when the epoch was `epoch`,
    /// unless a pass dropped entries since (it may have been read before a
    /// change the pass applied).
    fn keep(&self, epoch: u64, article: &pb::Article) {
        let encoded = article.encode_to_vec();
        let Ok(compressed) = zstd::bulk::compress(&encoded, 1) else {
            return;
        };
        if self.inner.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        let entry = Entry {
            compressed: compressed.into(),
            encoded_len: encoded.len(),
        };
        self.inner.entries.insert(article.id.clone(), entry);
        // A pass that began between the check and the insert may not have
        // seen this entry: then it goes again, to be read afresh.
        if self.inner.epoch.load(Ordering::SeqCst) != epoch {
            self.inner.entries.remove(&article.id);
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
                    self.inner.epoch.fetch_add(1, Ordering::SeqCst);
                    for id in &changed {
                        self.inner.entries.remove(id);
                    }
                }
            }
            // Nothing was cached without knowing where the log stood.
            None => {
                self.inner.epoch.fetch_add(1, Ordering::SeqCst);
                self.inner.entries.clear();
            }
        }
        applied.sequence = Some(applied.sequence.map_or(newest, |known| known.max(newest)));
        applied.commits = applied.commits.max(commits);
        self.inner
            .applied_commits
            .store(applied.commits, Ordering::SeqCst);
        self.inner.synced.store(true, Ordering::SeqCst);
        Ok(())
    }
}
