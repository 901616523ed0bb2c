//! Slug allocation, shared by every resource with a unique slug: an explicit
//! slug is used as given or refused; a derived one takes the first free of
//! `base`, `base-2`, `base-3`...

use sea_orm::DbErr;

use crate::domain::slug::{SlugChoice, slug_candidates};

/// Candidates checked per query while looking for a free derived slug.
const CANDIDATES_PER_QUERY: u32 = 20;

/// Where a new row's slug ended up.
pub(super) enum SlugPlacement {
    /// The row was inserted under this slug.
    Placed(String),
    /// The explicitly requested slug belongs to another row.
    Taken(String),
}

/// A table whose rows have a unique slug.
pub(super) trait SlugTable {
    /// Which of `candidates` are in use (one indexed query).
    async fn taken(&self, candidates: &[String]) -> Result<Vec<String>, DbErr>;
    /// Inserts the new row under `slug` with ON CONFLICT DO NOTHING, and
    /// says whether it went in.
    async fn try_insert(&self, slug: &str) -> Result<bool, DbErr>;
}

/// Inserts a row under the slug `choice` gives. A concurrent writer taking
/// the same slug just moves this row on to the next candidate. An empty
/// derived slug (a title of only punctuation) falls back to `fallback`, the
/// row's id.
pub(super) async fn place_slug(
    table: &impl SlugTable,
    choice: SlugChoice,
    fallback: &str,
) -> Result<SlugPlacement, DbErr> {
    let base = match choice {
        SlugChoice::Explicit(slug) => {
            return Ok(if table.try_insert(&slug).await? {
                SlugPlacement::Placed(slug)
            } else {
                SlugPlacement::Taken(slug)
            });
        }
        SlugChoice::Derived(base) if !base.is_empty() => base,
        SlugChoice::Derived(_) | SlugChoice::Keep => fallback.to_owned(),
    };
    // Most derived slugs are free, so the base goes in first: one statement
    // instead of two, and no lookup among the candidates whose cost hangs on
    // the query planner's view of the table (on a PostgreSQL that is never
    // analysed, a plan prepared while the table was small scans every
    // article of the language, and creating articles grew quadratically).
    if table.try_insert(&base).await? {
        return Ok(SlugPlacement::Placed(base));
    }
    let mut first = 2;
    loop {
        let candidates = slug_candidates(&base, first, CANDIDATES_PER_QUERY);
        let in_use = table.taken(&candidates).await?;
        for candidate in candidates.iter().filter(|c| !in_use.contains(c)) {
            if table.try_insert(candidate).await? {
                return Ok(SlugPlacement::Placed(candidate.clone()));
            }
        }
        first += CANDIDATES_PER_QUERY;
    }
}
