//! Articles: the content model (what an article says, and where it is in
//! the workflow), and the views it is read in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an article is in the editorial workflow (see `workflow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArticleStatus {
    /// Being written; not visible to readers.
    Draft,
    /// Submitted to an editor.
    InReview,
    /// Will go live at its scheduled publish time.
    Scheduled,
    /// Live: readers see its published version.
    Published,
    /// Withdrawn from listings, still readable at its permalink.
    Archived,
}

impl ArticleStatus {
    /// Every status, for exhaustive tests.
    pub const ALL: [ArticleStatus; 5] = [
        ArticleStatus::Draft,
        ArticleStatus::InReview,
        ArticleStatus::Scheduled,
        ArticleStatus::Published,
        ArticleStatus::Archived,
    ];

    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ArticleStatus::Draft => "draft",
            ArticleStatus::InReview => "in_review",
            ArticleStatus::Scheduled => "scheduled",
            ArticleStatus::Published => "published",
            ArticleStatus::Archived => "archived",
        }
    }

    /// The status a stored value names.
    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == stored)
    }

    /// The name clients know the status by, for error messages.
    pub fn api_name(self) -> &'static str {
        match self {
            ArticleStatus::Draft => "ARTICLE_STATUS_DRAFT",
            ArticleStatus::InReview => "ARTICLE_STATUS_IN_REVIEW",
            ArticleStatus::Scheduled => "ARTICLE_STATUS_SCHEDULED",
            ArticleStatus::Published => "ARTICLE_STATUS_PUBLISHED",
            ArticleStatus::Archived => "ARTICLE_STATUS_ARCHIVED",
        }
    }

    /// Whether readers can see the article's published version.
    pub fn is_readable(self) -> bool {
        matches!(self, ArticleStatus::Published | ArticleStatus::Archived)
    }
}

/// Which version of an article a read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArticleView {
    /// The working copy, as the newsroom edits it.
    Latest,
    /// What readers see: the last published version of a published or
    /// archived article; any other article does not exist in this view.
    Published,
}

/// What an article says and how it is filed: everything a writer edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleContent {
    pub slug: String,
    pub language: String,
    pub title: String,
    pub subtitle: String,
    pub body: String,
    /// Credited authors in byline order.
    pub author_ids: Vec<String>,
    pub tags: Vec<String>,
    pub section: String,
    pub comments_enabled: bool,
}

/// An article as stored: its working copy (or, read in the published view,
/// its live version) and its workflow state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    pub id: String,
    pub content: ArticleContent,
    pub status: ArticleStatus,
    pub word_count: u32,
    pub reading_time_minutes: u32,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub delete_time: Option<DateTime<Utc>>,
    /// When the article first went live.
    pub publish_time: Option<DateTime<Utc>>,
    /// When the article last went live (its first or a later publish).
    pub last_publish_time: Option<DateTime<Utc>>,
    /// When a SCHEDULED article is due to go live.
    pub scheduled_publish_time: Option<DateTime<Utc>>,
    /// Whether the working copy differs from what readers see.
    pub has_unpublished_changes: bool,
    /// The number of the latest revision.
    pub revision: i32,
    /// Approved comments that are not deleted.
    pub comment_count: u32,
    /// Incremented by every change; the etag is derived from it.
    pub version: i64,
}

impl ArticleContent {
    /// The content fields in which `self` and `other` differ, by API name.
    pub fn changed_fields(&self, other: &ArticleContent) -> Vec<&'static str> {
        let ArticleContent {
            slug,
            language,
            title,
            subtitle,
            body,
            author_ids,
            tags,
            section,
            comments_enabled,
        } = self;
        [
            ("slug", slug != &other.slug),
            ("language", language != &other.language),
            ("title", title != &other.title),
            ("subtitle", subtitle != &other.subtitle),
            ("body", body != &other.body),
            ("author_ids", author_ids != &other.author_ids),
            ("tags", tags != &other.tags),
            ("section", section != &other.section),
            (
                "comments_enabled",
                comments_enabled != &other.comments_enabled,
            ),
        ]
        .into_iter()
        .filter_map(|(field, changed)| changed.then_some(field))
        .collect()
    }

    /// Whether readers would see a difference between `self` and `live`:
    /// everything but the article's identity (slug, language) and
    /// `comments_enabled`, which take effect at once.
    pub fn differs_for_readers(&self, live: &ArticleContent) -> bool {
        self.changed_fields(live)
            .iter()
            .any(|field| !matches!(*field, "slug" | "language" | "comments_enabled"))
    }

    /// What a Submit or a Publish needs: a title, a body and a byline. Each
    /// missing one, by field name.
    pub fn missing_for_publication(&self) -> Vec<&'static str> {
        [
            ("title", self.title.is_empty()),
            ("body", self.body.trim().is_empty()),
            ("author_ids", self.author_ids.is_empty()),
        ]
        .into_iter()
        .filter_map(|(field, missing)| missing.then_some(field))
        .collect()
    }
}
