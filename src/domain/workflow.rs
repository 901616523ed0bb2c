//! The editorial workflow: which action may move an article from which status
//! to which. One pure function holds the whole table, so that every rule is
//! in one place and tested exhaustively.

use std::fmt;

use super::article::ArticleStatus;

/// Something that changes an article's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowAction {
    /// SubmitArticle: ask an editor to review a draft.
    Submit,
    /// ReturnArticle: send a draft in review back to its writers.
    Return,
    /// PublishArticle: go live now (`scheduled: false`) or at a future time.
    Publish { scheduled: bool },
    /// The scheduler publishing a SCHEDULED article whose time has come.
    PublishDue,
    /// UnpublishArticle: withdraw a live or scheduled story.
    Unpublish,
    /// ArchiveArticle: take a live story out of listings.
    Archive,
}

impl WorkflowAction {
    /// Every action, for exhaustive tests.
    pub const ALL: [WorkflowAction; 7] = [
        WorkflowAction::Submit,
        WorkflowAction::Return,
        WorkflowAction::Publish { scheduled: false },
        WorkflowAction::Publish { scheduled: true },
        WorkflowAction::PublishDue,
        WorkflowAction::Unpublish,
        WorkflowAction::Archive,
    ];

    /// The method clients call for this action.
    pub fn method(self) -> &'static str {
        match self {
            WorkflowAction::Submit => "SubmitArticle",
            WorkflowAction::Return => "ReturnArticle",
            WorkflowAction::Publish { scheduled: false } => "PublishArticle",
            WorkflowAction::Publish { scheduled: true } => {
                "PublishArticle with a future publish_time"
            }
            WorkflowAction::PublishDue => "the scheduled publish",
            WorkflowAction::Unpublish => "UnpublishArticle",
            WorkflowAction::Archive => "ArchiveArticle",
        }
    }
}

/// A refused transition: `action` is not allowed from `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionError {
    pub from: ArticleStatus,
    pub action: WorkflowAction,
    /// Whether the article had edits waiting to go live.
    pub has_unpublished_changes: bool,
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = self.from.api_name();
        let method = self.action.method();
        match (self.from, self.action) {
            (ArticleStatus::Published, WorkflowAction::Publish { scheduled: false }) => write!(
                f,
                "the article is {from} and has no unpublished changes to publish"
            ),
            (ArticleStatus::Published, WorkflowAction::Publish { scheduled: true }) => write!(
                f,
                "the article is {from}: its edits go live when published, they cannot be scheduled"
            ),
            _ => write!(f, "{method} is not allowed: the article is {from}"),
        }
    }
}

/// The status an article in `from` moves to under `action`. A published
/// article can be published again only to make pending edits live.
pub fn transition(
    from: ArticleStatus,
    action: WorkflowAction,
    has_unpublished_changes: bool,
) -> Result<ArticleStatus, TransitionError> {
    use ArticleStatus::{Archived, Draft, InReview, Published, Scheduled};
    use WorkflowAction::{Archive, Publish, PublishDue, Return, Submit, Unpublish};
    match (from, action) {
        (Draft, Submit) => Ok(InReview),
        (InReview, Return) => Ok(Draft),
        (Draft | InReview | Scheduled, Publish { scheduled: false }) => Ok(Published),
        (Draft | InReview | Scheduled, Publish { scheduled: true }) => Ok(Scheduled),
        (Published, Publish { scheduled: false }) if has_unpublished_changes => Ok(Published),
        (Scheduled, PublishDue) => Ok(Published),
        (Published | Scheduled, Unpublish) => Ok(Draft),
        (Published, Archive) => Ok(Archived),
        (Draft | InReview | Scheduled | Published | Archived, _) => Err(TransitionError {
            from,
            action,
            has_unpublished_changes,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ArticleStatus::{Archived, Draft, InReview, Published, Scheduled};
    use WorkflowAction::{Archive, Publish, PublishDue, Return, Submit, Unpublish};

    /// The whole table, written out: every (status, action, pending edits)
    /// that is allowed, and where it leads. Everything else is refused.
    const ALLOWED: &[(ArticleStatus, WorkflowAction, bool, ArticleStatus)] = &[
        (Draft, Submit, false, InReview),
        (Draft, Submit, true, InReview),
        (InReview, Return, false, Draft),
        (InReview, Return, true, Draft),
        (Draft, Publish { scheduled: false }, false, Published),
        (Draft, Publish { scheduled: false }, true, Published),
        (InReview, Publish { scheduled: false }, false, Published),
        (InReview, Publish { scheduled: false }, true, Published),
        (Scheduled, Publish { scheduled: false }, false, Published),
        (Scheduled, Publish { scheduled: false }, true, Published),
        (Draft, Publish { scheduled: true }, false, Scheduled),
        (Draft, Publish { scheduled: true }, true, Scheduled),
        (InReview, Publish { scheduled: true }, false, Scheduled),
        (InReview, Publish { scheduled: true }, true, Scheduled),
        (Scheduled, Publish { scheduled: true }, false, Scheduled),
        (Scheduled, Publish { scheduled: true }, true, Scheduled),
        (Published, Publish { scheduled: false }, true, Published),
        (Scheduled, PublishDue, false, Published),
        (Scheduled, PublishDue, true, Published),
        (Published, Unpublish, false, Draft),
        (Published, Unpublish, true, Draft),
        (Scheduled, Unpublish, false, Draft),
        (Scheduled, Unpublish, true, Draft),
        (Published, Archive, false, Archived),
        (Published, Archive, true, Archived),
    ];

    #[test]
    fn every_status_action_pair_is_allowed_exactly_as_the_table_says() {
        let mut checked = 0;
        for from in ArticleStatus::ALL {
            for action in WorkflowAction::ALL {
                for pending in [false, true] {
                    let expected = ALLOWED
                        .iter()
                        .find(|(f, a, p, _)| *f == from && *a == action && *p == pending)
                        .map(|(_, _, _, to)| *to);
                    let actual = transition(from, action, pending).ok();
                    assert_eq!(
                        actual, expected,
                        "{from:?} --{action:?} (pending {pending})-->"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 5 * 7 * 2);
    }

    #[test]
    fn refusals_name_the_current_status() {
        let error = transition(Archived, Submit, false).expect_err("archived cannot be submitted");
        assert_eq!(
            error.to_string(),
            "SubmitArticle is not allowed: the article is ARTICLE_STATUS_ARCHIVED"
        );
        let error = transition(Published, Publish { scheduled: false }, false)
            .expect_err("nothing to publish");
        assert!(error.to_string().contains("ARTICLE_STATUS_PUBLISHED"));
    }
}
