//! Applying the event log to the kept answers: an article's event drops its
//! entry, a comment's sets the article's comment count in it.

use std::{
    collections::{HashMap, HashSet},
    sync::atomic::{AtomicU64, Ordering},
};

use uuid::Uuid;

use super::{PublishedArticles, entry_key};
use crate::{
    api::convert::count_to_pb,
    domain::event::{changes_only_comment_count, may_change_listings},
    error::Error,
};

impl PublishedArticles {
    /// Applies the log's changes to the entries: those this process
    /// committed since the last pass, or (`everyone`) all there are.
    pub(super) async fn apply_log(&self, everyone: bool) -> Result<(), Error> {
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

    /// Drops the entries of the articles with an article's event among
    /// `changed` (article ids and event types), and returns those kept whose
    /// only events are comments', for [`Self::recount`].
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
                tracing::warn!(
                    %error,
                    "reading changed comment counts failed; dropping the articles from memory"
                );
                HashMap::new()
            }
        };
        for (key, id) in &articles {
            let recounted = counts.get(id).and_then(|&count| {
                Some(
                    self.inner
                        .entries
                        .get(key)?
                        .with_comment_count(count_to_pb(count)),
                )
            });
            match recounted {
                Some(entry) => self.inner.entries.insert(*key, entry),
                None => {
                    self.inner.entries.remove(key);
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use std::{
        future::Future,
        pin::pin,
        task::{Context, Poll, Waker},
    };

    use super::*;

    #[test]
    fn a_pass_cut_off_while_it_waits_leaves_the_epoch_even() {
        let epoch = AtomicU64::new(4);
        {
            // Stands for a pass awaiting its counts when its reader is cut off.
            let mut pass = pin!(async {
                let _pass = PassUnderWay::begin(&epoch);
                std::future::pending::<()>().await;
            });
            let mut context = Context::from_waker(Waker::noop());
            assert_eq!(pass.as_mut().poll(&mut context), Poll::Pending);
            assert_eq!(epoch.load(Ordering::SeqCst), 5, "odd while under way");
        }
        assert_eq!(epoch.load(Ordering::SeqCst), 6);
    }
}
