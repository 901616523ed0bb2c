//! Revisions: the immutable history of an article. Every change to its
//! content or its state appends one, numbered 1, 2, 3..., with a full
//! snapshot of the content as it was after the change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::article::{ArticleContent, ArticleStatus};

/// What a revision recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevisionAction {
    Created,
    Updated,
    Submitted,
    Returned,
    Scheduled,
    Published,
    Unpublished,
    Archived,
    Restored,
    Deleted,
    Undeleted,
}

impl RevisionAction {
    /// Every action, for exhaustive checks.
    pub const ALL: [RevisionAction; 11] = [
        RevisionAction::Created,
        RevisionAction::Updated,
        RevisionAction::Submitted,
        RevisionAction::Returned,
        RevisionAction::Scheduled,
        RevisionAction::Published,
        RevisionAction::Unpublished,
        RevisionAction::Archived,
        RevisionAction::Restored,
        RevisionAction::Deleted,
        RevisionAction::Undeleted,
    ];

    /// The value stored in the database; also the verb of the article's
    /// event (`article.<verb>`).
    pub fn as_str(self) -> &'static str {
        match self {
            RevisionAction::Created => "created",
            RevisionAction::Updated => "updated",
            RevisionAction::Submitted => "submitted",
            RevisionAction::Returned => "returned",
            RevisionAction::Scheduled => "scheduled",
            RevisionAction::Published => "published",
            RevisionAction::Unpublished => "unpublished",
            RevisionAction::Archived => "archived",
            RevisionAction::Restored => "restored",
            RevisionAction::Deleted => "deleted",
            RevisionAction::Undeleted => "undeleted",
        }
    }

    /// The action a stored value names.
    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|action| action.as_str() == stored)
    }
}

/// One entry of an article's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleRevision {
    pub article_id: String,
    /// 1 for the creation, then one more for each change.
    pub revision: i32,
    pub action: RevisionAction,
    pub create_time: DateTime<Utc>,
    /// The content fields the change touched (`status` for state changes).
    pub changed_fields: Vec<String>,
    /// The editor's note, for a returned article.
    pub note: String,
    /// The article's status after the change.
    pub status: ArticleStatus,
    /// The whole content after the change.
    pub content: ArticleContent,
    /// Who made the change (see `access::Actor`).
    pub actor: String,
}
