//! Readers' comments: what a stranger may post, how a thread nests, and how a
//! plain-text body becomes safe HTML. Nothing a commenter types is ever
//! rendered as markup: the body is escaped, and only the paragraphs, line
//! breaks and links made here survive, through a strict sanitiser besides.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    text::{LineRule, multi_line, nfc},
    validation::Violations,
};

/// Replies nest this deep at most; a reply to a comment at this depth joins
/// its parent's level instead of nesting further.
pub const MAX_DEPTH: u8 = 3;
const AUTHOR_NAME: LineRule = LineRule {
    field: "author_name",
    required: true,
    max_chars: 80,
};
const AUTHOR_EMAIL: LineRule = LineRule {
    field: "author_email",
    required: false,
    max_chars: 254,
};
const MAX_BODY_CHARS: usize = 5_000;
/// The `rel` every link in a comment carries: user-generated, not endorsed,
/// and no window.opener for the target.
pub const LINK_REL: &str = "ugc nofollow noopener";

/// Where a comment stands with the moderators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentStatus {
    Pending,
    Approved,
    Rejected,
    Spam,
}

impl CommentStatus {
    /// Every status.
    pub const ALL: [CommentStatus; 4] = [
        CommentStatus::Pending,
        CommentStatus::Approved,
        CommentStatus::Rejected,
        CommentStatus::Spam,
    ];

    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            CommentStatus::Pending => "pending",
            CommentStatus::Approved => "approved",
            CommentStatus::Rejected => "rejected",
            CommentStatus::Spam => "spam",
        }
    }

    /// The status a stored value names.
    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == stored)
    }
}

/// A moderator's decision on a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModerationDecision {
    Approve,
    Reject,
    Spam,
}

impl ModerationDecision {
    /// The status the decision gives a comment.
    pub fn status(self) -> CommentStatus {
        match self {
            ModerationDecision::Approve => CommentStatus::Approved,
            ModerationDecision::Reject => CommentStatus::Rejected,
            ModerationDecision::Spam => CommentStatus::Spam,
        }
    }
}

/// A comment as stored. `author_email` is kept for moderation and never
/// leaves the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: String,
    pub article_id: String,
    pub parent_id: Option<String>,
    /// 1 for a top-level comment, up to `MAX_DEPTH`.
    pub depth: u8,
    pub author_name: String,
    #[serde(skip)]
    pub author_email: String,
    pub body: String,
    pub body_html: String,
    pub status: CommentStatus,
    /// Why the moderation policy or a moderator chose the status.
    pub moderation_reason: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub delete_time: Option<DateTime<Utc>>,
    pub version: i64,
    /// The key that last moderated the comment (empty until then).
    pub moderator: String,
}

impl Comment {
    /// Whether readers see the comment itself (not just its place in the
    /// thread).
    pub fn is_visible(&self) -> bool {
        self.status == CommentStatus::Approved && self.delete_time.is_none()
    }

    /// The comment as a placeholder that keeps a thread together: its place
    /// and times, without author or body.
    pub fn into_tombstone(self) -> Comment {
        Comment {
            author_name: String::new(),
            author_email: String::new(),
            body: String::new(),
            body_html: String::new(),
            moderation_reason: String::new(),
            moderator: String::new(),
            ..self
        }
    }
}

/// A comment as a stranger sent it, not yet checked.
#[derive(Debug, Clone, Default)]
pub struct CommentInput {
    pub parent_id: String,
    pub author_name: String,
    pub author_email: String,
    pub body: String,
}

/// A checked, normalised comment, ready for the moderation policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComment {
    pub parent_id: Option<String>,
    pub author_name: String,
    /// Lowercased, so that one address is one commenter.
    pub author_email: String,
    pub body: String,
    pub body_html: String,
}

/// Checks a new comment and renders its body.
pub fn validate_new_comment(input: CommentInput) -> Result<NewComment, Violations> {
    let mut violations = Violations::new();
    let parent_id = match input.parent_id.trim() {
        "" => None,
        raw => match uuid::Uuid::try_parse(raw) {
            Ok(id) => Some(id.hyphenated().to_string()),
            Err(_) => {
                violations.add("parent_id", "must be a comment id (a UUID)");
                None
            }
        },
    };
    let author_name = AUTHOR_NAME.apply(&input.author_name, &mut violations);
    let author_email = AUTHOR_EMAIL
        .apply(&input.author_email, &mut violations)
        .to_lowercase();
    if !author_email.is_empty() && !super::author::is_plain_email(&author_email) {
        violations.add(
            "author_email",
            "must be an e-mail address such as reader@example.com",
        );
    }
    let body = multi_line(
        "body",
        input.body.trim(),
        MAX_BODY_CHARS * 4,
        &mut violations,
    );
    if let Some(bad) = body
        .chars()
        .find(|&c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
    {
        violations.add(
            "body",
            format!(
                "must not contain bidi override characters (found U+{:04X})",
                u32::from(bad)
            ),
        );
    }
    let chars = body.chars().count();
    if chars == 0 {
        violations.add("body", "must not be empty");
    } else if chars > MAX_BODY_CHARS {
        violations.add(
            "body",
            format!("must be at most {MAX_BODY_CHARS} characters"),
        );
    }
    let body_html = render_comment_html(&body);
    violations.into_result(NewComment {
        parent_id,
        author_name,
        author_email,
        body,
        body_html,
    })
}

/// The depth and parent a reply gets under `parent` (of depth
/// `parent_depth` whose own parent is `grandparent`): one level deeper, or
/// beside its parent once the thread is `MAX_DEPTH` deep.
pub fn reply_position<'a>(
    parent_id: &'a str,
    parent_depth: u8,
    grandparent_id: Option<&'a str>,
) -> (Option<&'a str>, u8) {
    if parent_depth < MAX_DEPTH {
        (Some(parent_id), parent_depth + 1)
    } else {
        (grandparent_id, MAX_DEPTH)
    }
}

/// The HTML for a plain-text comment body: every character escaped,
/// paragraphs (blank-line separated) in `<p>`, line breaks as `<br>`, and
/// bare http(s) links as `<a rel="ugc nofollow noopener">`. The result then
/// goes through ammonia allowing only those, so that a bug here could not
/// let markup through either.
pub fn render_comment_html(body: &str) -> String {
    let mut html = String::with_capacity(body.len() + 16);
    let normalised = body.replace("\r\n", "\n").replace('\r', "\n");
    for paragraph in normalised
        .split("\n\n")
        .map(str::trim)
        .filter(|paragraph| !paragraph.is_empty())
    {
        html.push_str("<p>");
        for (i, line) in paragraph.lines().enumerate() {
            if i > 0 {
                html.push_str("<br>");
            }
            push_line(&mut html, line);
        }
        html.push_str("</p>");
    }
    COMMENT_SANITIZER.clean(&html).to_string()
}

/// The sanitizer of comments' HTML, made once: making one builds ammonia's
/// default rules and clears them, which cost as much as the cleaning in a
/// profile of posting comments.
static COMMENT_SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::empty();
    builder
        .add_tags(["p", "br", "a"])
        .add_tag_attributes("a", ["href"])
        .url_schemes(["http", "https"].into())
        .link_rel(Some(LINK_REL));
    builder
});

/// Escapes `line` into `html`, turning bare http(s) URLs into links.
fn push_line(html: &mut String, line: &str) {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    for span in finder.spans(line) {
        let text = span.as_str();
        let is_web_link =
            span.kind().is_some() && (text.starts_with("http://") || text.starts_with("https://"));
        if is_web_link {
            html.push_str("<a href=\"");
            push_escaped(html, text);
            html.push_str("\" rel=\"");
            html.push_str(LINK_REL);
            html.push_str("\">");
            push_escaped(html, text);
            html.push_str("</a>");
        } else {
            push_escaped(html, text);
        }
    }
}

fn push_escaped(html: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            c => html.push(c),
        }
    }
}

/// How many http(s) links `body` holds.
pub fn count_links(body: &str) -> usize {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    finder
        .links(body)
        .filter(|link| {
            let url = link.as_str();
            url.starts_with("http://") || url.starts_with("https://")
        })
        .count()
}

/// `text` folded for matching: NFC, lowercase, Arabic diacritics and tatweel
/// dropped, so that «سَلَام» matches a blocked «سلام».
pub fn fold_for_matching(text: &str) -> String {
    nfc(text)
        .chars()
        .filter(|&c| {
            !(c == '\u{0640}' || ('\u{064B}'..='\u{065F}').contains(&c) || c == '\u{0670}')
        })
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(body: &str) -> CommentInput {
        CommentInput {
            author_name: "قارئ".into(),
            body: body.into(),
            ..CommentInput::default()
        }
    }

    #[test]
    fn bodies_are_escaped_with_paragraphs_breaks_and_links() {
        let html = render_comment_html(
            "مرحبا <b>أيها</b> القراء & \"الأصدقاء\"\nسطر ثان\n\nفقرة مع رابط https://example.com/a?b=1&c=2 هنا",
        );
        assert_eq!(
            html,
            "<p>مرحبا &lt;b&gt;أيها&lt;/b&gt; القراء &amp; \"الأصدقاء\"<br>سطر ثان</p>\
             <p>فقرة مع رابط <a href=\"https://example.com/a?b=1&amp;c=2\" rel=\"ugc nofollow noopener\">https://example.com/a?b=1&amp;c=2</a> هنا</p>"
        );
    }

    #[test]
    fn only_http_links_become_anchors() {
        for body in [
            "javascript:alert(1)",
            "data:text/html,<script>x</script>",
            "ftp://example.com/x",
        ] {
            let html = render_comment_html(body);
            assert!(!html.contains("<a"), "{body} gave {html}");
            assert!(!html.contains("<script"), "{body} gave {html}");
        }
        assert_eq!(
            count_links("a https://x.example b http://y.example c javascript:void(0)"),
            2
        );
    }

    #[test]
    fn comments_need_a_name_and_a_body_and_refuse_bidi_overrides() {
        let violations = validate_new_comment(CommentInput::default()).expect_err("empty");
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["author_name", "body"]);
        assert!(validate_new_comment(input("نص\u{202E}مقلوب")).is_err());
        assert!(validate_new_comment(input(&"ب".repeat(5_001))).is_err());
        assert!(validate_new_comment(input(&"ب".repeat(5_000))).is_ok());
        let bad_email = CommentInput {
            author_email: "nope".into(),
            ..input("نص")
        };
        assert!(validate_new_comment(bad_email).is_err());
    }

    #[test]
    fn replies_nest_three_deep_then_stay_level() {
        assert_eq!(reply_position("p", 1, None), (Some("p"), 2));
        assert_eq!(reply_position("p", 2, Some("g")), (Some("p"), 3));
        assert_eq!(reply_position("p", 3, Some("g")), (Some("g"), 3));
    }

    #[test]
    fn matching_ignores_case_and_arabic_diacritics() {
        assert_eq!(fold_for_matching("SPAM سَلَامـ"), "spam سلام");
    }
}
