//! The change feed's vocabulary: what happened (the event type) and the
//! resource as it was afterwards. Events are written in the same transaction
//! as the change they describe.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    article::Article,
    author::Author,
    comment::{Comment, ModerationDecision},
    revision::RevisionAction,
    share::ShareRecord,
};

/// Every event type, as clients name them.
pub const EVENT_TYPES: [&str; 18] = [
    "author.created",
    "author.updated",
    "author.deleted",
    "article.created",
    "article.updated",
    "article.submitted",
    "article.returned",
    "article.scheduled",
    "article.published",
    "article.unpublished",
    "article.archived",
    "article.deleted",
    "article.undeleted",
    "article.restored",
    "comment.created",
    "comment.moderated",
    "comment.deleted",
    "share.recorded",
];

/// The event type of a recorded share.
pub const SHARE_RECORDED: &str = "share.recorded";

/// Whether an event of `event_type` changes nothing readers see of its
/// article but the article's comment count: a comment's events do.
pub fn changes_only_comment_count(event_type: &str) -> bool {
    event_type.starts_with("comment.")
}

/// Whether an event of `event_type` may change which published articles a
/// listing holds, or their order: an article's event may publish, withdraw
/// or move it; a comment's changes only a count.
pub fn may_change_listings(event_type: &str) -> bool {
    !changes_only_comment_count(event_type)
}

/// What happened to a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentChange {
    Created,
    Moderated,
    Deleted,
}

impl CommentChange {
    /// The event type.
    pub fn event_type(self) -> &'static str {
        match self {
            CommentChange::Created => "comment.created",
            CommentChange::Moderated => "comment.moderated",
            CommentChange::Deleted => "comment.deleted",
        }
    }
}

/// What happened to an author.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorChange {
    Created,
    Updated,
    Deleted,
}

impl AuthorChange {
    /// The event type.
    pub fn event_type(self) -> &'static str {
        match self {
            AuthorChange::Created => "author.created",
            AuthorChange::Updated => "author.updated",
            AuthorChange::Deleted => "author.deleted",
        }
    }
}

/// The event type of an article change recorded as `action`.
pub fn article_event_type(action: RevisionAction) -> &'static str {
    match action {
        RevisionAction::Created => "article.created",
        RevisionAction::Updated => "article.updated",
        RevisionAction::Submitted => "article.submitted",
        RevisionAction::Returned => "article.returned",
        RevisionAction::Scheduled => "article.scheduled",
        RevisionAction::Published => "article.published",
        RevisionAction::Unpublished => "article.unpublished",
        RevisionAction::Archived => "article.archived",
        RevisionAction::Restored => "article.restored",
        RevisionAction::Deleted => "article.deleted",
        RevisionAction::Undeleted => "article.undeleted",
    }
}

/// The resource an event carries, as it was after the change (for a
/// deletion, as it was last).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventPayload {
    Article(Box<Article>),
    Author(Author),
    /// A comment (never its author's e-mail), with the moderator's decision
    /// and reason for a `comment.moderated`.
    Comment {
        comment: Box<Comment>,
        decision: Option<ModerationDecision>,
        reason: String,
    },
    /// A share (never its client).
    Share(ShareRecord),
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Position in the feed: strictly increasing, and final once readable
    /// up to where the log is settled (none appears below one read).
    pub sequence: i64,
    pub event_type: String,
    pub occur_time: DateTime<Utc>,
    pub article_id: Option<String>,
    pub author_id: Option<String>,
    pub payload: EventPayload,
    /// Who made the change (see `access::Actor`).
    pub actor: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_article_action_has_a_known_event_type() {
        for action in RevisionAction::ALL {
            let event_type = article_event_type(action);
            assert!(EVENT_TYPES.contains(&event_type), "{event_type}");
            assert_eq!(event_type, format!("article.{}", action.as_str()));
        }
        for change in [
            AuthorChange::Created,
            AuthorChange::Updated,
            AuthorChange::Deleted,
        ] {
            assert!(EVENT_TYPES.contains(&change.event_type()));
        }
        for change in [
            CommentChange::Created,
            CommentChange::Moderated,
            CommentChange::Deleted,
        ] {
            assert!(EVENT_TYPES.contains(&change.event_type()));
        }
        assert!(EVENT_TYPES.contains(&SHARE_RECORDED));
    }
}
