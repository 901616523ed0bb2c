//! The moderation policy: the status a new comment starts in, decided from
//! the comment and its author's history, as one pure function.

use chrono::Duration;

use super::{
    comment::{CommentStatus, NewComment, count_links, fold_for_matching},
    fingerprint::fingerprint,
};

/// More links than this hold a comment for a moderator.
pub const MAX_LINKS: usize = 2;

/// The same body from the same author within this long is held.
pub fn repeat_window() -> Duration {
    Duration::hours(1)
}

/// The configurable part of the policy: terms that hold a comment.
#[derive(Debug, Clone, Default)]
pub struct ModerationPolicy {
    /// Folded for matching (see `fold_for_matching`).
    blocked_terms: Vec<String>,
}

impl ModerationPolicy {
    /// A policy holding comments that contain any of `blocked_terms`
    /// (matched without regard to case or Arabic diacritics).
    pub fn new(blocked_terms: impl IntoIterator<Item = String>) -> Self {
        Self {
            blocked_terms: blocked_terms
                .into_iter()
                .map(|term| fold_for_matching(term.trim()))
                .filter(|term| !term.is_empty())
                .collect(),
        }
    }

    fn blocked_term_in(&self, body: &str) -> Option<&str> {
        let folded = fold_for_matching(body);
        self.blocked_terms
            .iter()
            .find(|term| folded.contains(term.as_str()))
            .map(String::as_str)
    }
}

/// What the store knows about the comment's author.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthorHistory {
    /// The author posted the same body within the repeat window.
    pub repeated_recently: bool,
    /// A moderator marked one of the author's earlier comments as spam.
    pub marked_spam_before: bool,
}

/// The policy's decision, with the reason the moderators will see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: CommentStatus,
    pub reason: String,
}

/// The status a new comment starts in: SPAM for an author already marked as
/// a spammer; PENDING for more than two links, a blocked term, or a repeat
/// of the same body within the hour; APPROVED otherwise.
pub fn initial_verdict(
    policy: &ModerationPolicy,
    comment: &NewComment,
    history: AuthorHistory,
) -> Verdict {
    let held = |reason: String| Verdict {
        status: CommentStatus::Pending,
        reason,
    };
    if history.marked_spam_before {
        return Verdict {
            status: CommentStatus::Spam,
            reason: "the author's earlier comments were marked as spam".into(),
        };
    }
    let links = count_links(&comment.body);
    if links > MAX_LINKS {
        return held(format!("{links} links (more than {MAX_LINKS})"));
    }
    if let Some(term) = policy.blocked_term_in(&comment.body) {
        return held(format!("contains the blocked term «{term}»"));
    }
    if history.repeated_recently {
        return held("the same comment again within the hour".into());
    }
    Verdict {
        status: CommentStatus::Approved,
        reason: String::new(),
    }
}

/// Who a comment is by, for the author's history: the e-mail address when
/// there is one, otherwise the folded name.
pub fn commenter_key(author_name: &str, author_email: &str) -> String {
    if author_email.is_empty() {
        format!("name:{}", fold_for_matching(author_name))
    } else {
        format!("email:{}", author_email.to_lowercase())
    }
}

/// A fingerprint of what a body says, for spotting repeats: the same words
/// with other case or diacritics are the same body.
pub fn body_fingerprint(body: &str) -> String {
    let folded = fold_for_matching(body);
    fingerprint(&[folded
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .as_str()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::comment::render_comment_html;

    fn comment(body: &str) -> NewComment {
        NewComment {
            parent_id: None,
            author_name: "قارئ".into(),
            author_email: String::new(),
            body: body.into(),
            body_html: render_comment_html(body),
        }
    }

    fn policy() -> ModerationPolicy {
        ModerationPolicy::new(["كازينو".to_owned(), "Viagra".to_owned()])
    }

    #[test]
    fn an_ordinary_comment_is_approved() {
        let verdict = initial_verdict(
            &policy(),
            &comment("مقال ممتاز، شكرا"),
            AuthorHistory::default(),
        );
        assert_eq!(verdict.status, CommentStatus::Approved);
    }

    #[test]
    fn more_than_two_links_are_held() {
        let two = comment("انظر https://a.example و https://b.example");
        assert_eq!(
            initial_verdict(&policy(), &two, AuthorHistory::default()).status,
            CommentStatus::Approved
        );
        let three = comment("https://a.example https://b.example http://c.example");
        let verdict = initial_verdict(&policy(), &three, AuthorHistory::default());
        assert_eq!(verdict.status, CommentStatus::Pending);
        assert!(verdict.reason.contains("3 links"));
    }

    #[test]
    fn blocked_terms_are_held_whatever_their_case_or_diacritics() {
        for body in ["ربح سريع في الكَازِينُو", "cheap VIAGRA here"] {
            let verdict = initial_verdict(&policy(), &comment(body), AuthorHistory::default());
            assert_eq!(verdict.status, CommentStatus::Pending, "{body}");
        }
    }

    #[test]
    fn repeats_within_the_hour_are_held_and_known_spammers_go_to_spam() {
        let repeated = AuthorHistory {
            repeated_recently: true,
            marked_spam_before: false,
        };
        assert_eq!(
            initial_verdict(&policy(), &comment("نص"), repeated).status,
            CommentStatus::Pending
        );
        let spammer = AuthorHistory {
            repeated_recently: true,
            marked_spam_before: true,
        };
        assert_eq!(
            initial_verdict(&policy(), &comment("نص"), spammer).status,
            CommentStatus::Spam
        );
    }

    #[test]
    fn the_same_words_are_the_same_body_and_authors_are_keyed_by_email_first() {
        assert_eq!(body_fingerprint("نص  مكرر"), body_fingerprint("نَصّ مكرر"));
        assert_ne!(body_fingerprint("نص مكرر"), body_fingerprint("نص آخر"));
        assert_eq!(commenter_key("Ali", "A@Example.com"), "email:a@example.com");
        assert_eq!(commenter_key("ALI", ""), "name:ali");
    }
}
