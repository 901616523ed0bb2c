//! Articles: the content model, the rules its fields follow on create and
//! update, and the figures derived from the body (word count, reading time).

use chrono::{DateTime, Utc};
use pulldown_cmark::{Event, Parser};
use serde::{Deserialize, Serialize};

use super::{
    language::{DEFAULT_LANGUAGE, parse_language},
    slug::{SlugChoice, derive_slug, requested_slug},
    text::{LineRule, multi_line, nfc},
    update_mask::MaskField,
    validation::Violations,
};

const TITLE: LineRule = LineRule {
    field: "title",
    required: true,
    max_chars: 300,
};
const SUBTITLE: LineRule = LineRule {
    field: "subtitle",
    required: false,
    max_chars: 500,
};
const SECTION: LineRule = LineRule {
    field: "section",
    required: false,
    max_chars: 100,
};
const TAG: LineRule = LineRule {
    field: "tags",
    required: true,
    max_chars: 64,
};
/// The largest body: 1 MiB of UTF-8.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
const MAX_AUTHORS: usize = 20;
const MAX_TAGS: usize = 50;
/// Reading speed used for `reading_time_minutes`.
const WORDS_PER_MINUTE: u32 = 200;

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

/// An article's writable fields as a client sent them, not yet checked.
#[derive(Debug, Clone, Default)]
pub struct ArticleInput {
    pub slug: String,
    pub language: String,
    pub title: String,
    pub subtitle: String,
    pub body: String,
    pub author_ids: Vec<String>,
    pub tags: Vec<String>,
    pub section: String,
    /// `None` when the client did not say.
    pub comments_enabled: Option<bool>,
}

/// Checked, normalised fields, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleFields {
    pub slug: SlugChoice,
    pub language: String,
    pub title: String,
    pub subtitle: String,
    pub body: String,
    pub author_ids: Vec<String>,
    pub tags: Vec<String>,
    pub section: String,
    pub comments_enabled: bool,
    pub word_count: u32,
    pub reading_time_minutes: u32,
}

/// The fields an update mask can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArticleField {
    Slug,
    Language,
    Title,
    Subtitle,
    Body,
    AuthorIds,
    Tags,
    Section,
    CommentsEnabled,
}

impl MaskField for ArticleField {
    const WRITABLE: &'static [Self] = &[
        ArticleField::Slug,
        ArticleField::Language,
        ArticleField::Title,
        ArticleField::Subtitle,
        ArticleField::Body,
        ArticleField::AuthorIds,
        ArticleField::Tags,
        ArticleField::Section,
        ArticleField::CommentsEnabled,
    ];
    const OUTPUT_ONLY: &'static [&'static str] = &[
        "id",
        "status",
        "create_time",
        "update_time",
        "delete_time",
        "etag",
        "word_count",
        "reading_time_minutes",
        "publish_time",
        "last_publish_time",
        "scheduled_publish_time",
        "has_unpublished_changes",
        "revision",
    ];

    fn path(self) -> &'static str {
        match self {
            ArticleField::Slug => "slug",
            ArticleField::Language => "language",
            ArticleField::Title => "title",
            ArticleField::Subtitle => "subtitle",
            ArticleField::Body => "body",
            ArticleField::AuthorIds => "author_ids",
            ArticleField::Tags => "tags",
            ArticleField::Section => "section",
            ArticleField::CommentsEnabled => "comments_enabled",
        }
    }
}

/// Checks a new article. An empty slug is derived from the title, an empty
/// language is `ar`, and comments are enabled unless the client says not.
pub fn validate_new_article(input: ArticleInput) -> Result<ArticleFields, Violations> {
    let mut violations = Violations::new();
    let title = TITLE.apply(&input.title, &mut violations);
    let slug = match requested_slug(&input.slug, &mut violations) {
        Some(slug) => SlugChoice::Explicit(slug),
        None => SlugChoice::Derived(derive_slug(&title)),
    };
    let language = parse_language("language", &input.language, &mut violations)
        .unwrap_or_else(|| DEFAULT_LANGUAGE.to_owned());
    let body = multi_line("body", &input.body, MAX_BODY_BYTES, &mut violations);
    let words = word_count(&body);
    let fields = ArticleFields {
        slug,
        language,
        title,
        subtitle: SUBTITLE.apply(&input.subtitle, &mut violations),
        word_count: words,
        reading_time_minutes: reading_time_minutes(words),
        body,
        author_ids: author_ids(&input.author_ids, &mut violations),
        tags: tags(&input.tags, &mut violations),
        section: SECTION.apply(&input.section, &mut violations),
        comments_enabled: input.comments_enabled.unwrap_or(true),
    };
    violations.into_result(fields)
}

/// The fields `current` has after an update that changes `fields` to the
/// values in `input`. An empty slug or language, or an unset
/// `comments_enabled`, keeps the current value.
pub fn apply_article_update(
    current: &ArticleContent,
    input: ArticleInput,
    fields: &[ArticleField],
) -> Result<ArticleFields, Violations> {
    let mut violations = Violations::new();
    let mut next = current.clone();
    let mut slug = SlugChoice::Keep;
    for field in fields {
        match field {
            ArticleField::Slug => {
                if let Some(explicit) = requested_slug(&input.slug, &mut violations)
                    && explicit != current.slug
                {
                    slug = SlugChoice::Explicit(explicit);
                }
            }
            ArticleField::Language => {
                if let Some(language) = parse_language("language", &input.language, &mut violations)
                {
                    next.language = language;
                }
            }
            ArticleField::Title => next.title = TITLE.apply(&input.title, &mut violations),
            ArticleField::Subtitle => {
                next.subtitle = SUBTITLE.apply(&input.subtitle, &mut violations);
            }
            ArticleField::Body => {
                next.body = multi_line("body", &input.body, MAX_BODY_BYTES, &mut violations);
            }
            ArticleField::AuthorIds => {
                next.author_ids = author_ids(&input.author_ids, &mut violations);
            }
            ArticleField::Tags => next.tags = tags(&input.tags, &mut violations),
            ArticleField::Section => next.section = SECTION.apply(&input.section, &mut violations),
            ArticleField::CommentsEnabled => {
                next.comments_enabled = input.comments_enabled.unwrap_or(current.comments_enabled);
            }
        }
    }
    let words = word_count(&next.body);
    let ArticleContent {
        slug: _,
        language,
        title,
        subtitle,
        body,
        author_ids,
        tags,
        section,
        comments_enabled,
    } = next;
    violations.into_result(ArticleFields {
        slug,
        language,
        title,
        subtitle,
        body,
        author_ids,
        tags,
        section,
        comments_enabled,
        word_count: words,
        reading_time_minutes: reading_time_minutes(words),
    })
}

/// The fields a working copy takes when an old revision's `snapshot` is
/// restored: its content, under the article's current identity (slug and
/// language), with the figures computed afresh.
pub fn restored_fields(current: &ArticleContent, snapshot: ArticleContent) -> ArticleFields {
    let ArticleContent {
        slug: _,
        language: _,
        title,
        subtitle,
        body,
        author_ids,
        tags,
        section,
        comments_enabled,
    } = snapshot;
    let words = word_count(&body);
    ArticleFields {
        slug: SlugChoice::Keep,
        language: current.language.clone(),
        title,
        subtitle,
        body,
        author_ids,
        tags,
        section,
        comments_enabled,
        word_count: words,
        reading_time_minutes: reading_time_minutes(words),
    }
}

/// Author ids in canonical form: each must be a UUID, and none may repeat.
/// Whether they name existing authors is the store's question.
fn author_ids(raw: &[String], violations: &mut Violations) -> Vec<String> {
    if raw.len() > MAX_AUTHORS {
        violations.add(
            "author_ids",
            format!("must list at most {MAX_AUTHORS} authors"),
        );
    }
    let mut ids: Vec<String> = Vec::with_capacity(raw.len());
    for (i, id) in raw.iter().enumerate() {
        match uuid::Uuid::try_parse(id.trim()) {
            Ok(uuid) => {
                let id = uuid.hyphenated().to_string();
                if ids.contains(&id) {
                    violations.add(
                        format!("author_ids[{i}]"),
                        "repeats an author already listed",
                    );
                }
                ids.push(id);
            }
            Err(_) => violations.add(format!("author_ids[{i}]"), "is not a valid author id"),
        }
    }
    ids
}

/// Tags trimmed and in NFC, each once, in the order given.
fn tags(raw: &[String], violations: &mut Violations) -> Vec<String> {
    if raw.len() > MAX_TAGS {
        violations.add("tags", format!("must list at most {MAX_TAGS} tags"));
    }
    let mut tags: Vec<String> = Vec::with_capacity(raw.len());
    for (i, tag) in raw.iter().enumerate() {
        let tag = TAG.apply_at(&format!("tags[{i}]"), tag, violations);
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    tags
}

/// The number of words in a Markdown body's text: Markdown syntax, HTML and
/// link targets do not count, and a word needs at least one letter or digit.
pub fn word_count(markdown: &str) -> u32 {
    let mut text = String::with_capacity(markdown.len());
    for event in Parser::new(markdown) {
        match event {
            Event::Text(chunk) | Event::Code(chunk) => text.push_str(&chunk),
            // Block ends and line breaks separate words that the source kept
            // on separate lines; inline markup (emphasis) does not.
            Event::SoftBreak | Event::HardBreak | Event::End(_) | Event::Rule => text.push(' '),
            _ => {}
        }
    }
    let words = nfc(&text)
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .count();
    u32::try_from(words).unwrap_or(u32::MAX)
}

/// Minutes to read `words` words, rounded up; 0 for an empty body.
pub fn reading_time_minutes(words: u32) -> u32 {
    words.div_ceil(WORDS_PER_MINUTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titled(title: &str) -> ArticleInput {
        ArticleInput {
            title: title.into(),
            ..ArticleInput::default()
        }
    }

    #[test]
    fn a_new_article_defaults_to_arabic_with_comments_and_a_derived_slug() {
        let fields = validate_new_article(titled("خبر عاجل")).expect("valid");
        assert_eq!(fields.language, "ar");
        assert!(fields.comments_enabled);
        assert_eq!(fields.slug, SlugChoice::Derived("خبر-عاجل".into()));
    }

    #[test]
    fn every_bad_field_is_named() {
        let violations = validate_new_article(ArticleInput {
            slug: "Bad Slug".into(),
            language: "arabic!".into(),
            title: "x".repeat(301),
            subtitle: "two\nlines".into(),
            body: "a\u{0}b".into(),
            author_ids: vec!["not-a-uuid".into()],
            tags: vec!["ok".into(), " ".into()],
            section: "\u{202E}evil".into(),
            comments_enabled: None,
        })
        .expect_err("invalid");
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "title",
                "slug",
                "language",
                "body",
                "subtitle",
                "author_ids[0]",
                "tags[1]",
                "section"
            ]
        );
    }

    #[test]
    fn author_ids_are_canonical_and_may_not_repeat() {
        let id = "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B";
        let violations = validate_new_article(ArticleInput {
            author_ids: vec![id.into(), id.to_lowercase()],
            ..titled("t")
        })
        .expect_err("repeat");
        assert_eq!(
            violations.iter().next().map(|v| v.field.as_str()),
            Some("author_ids[1]")
        );

        let fields = validate_new_article(ArticleInput {
            author_ids: vec![id.into()],
            ..titled("t")
        })
        .expect("valid");
        assert_eq!(fields.author_ids, [id.to_lowercase()]);
    }

    #[test]
    fn tags_are_kept_once_in_order() {
        let fields = validate_new_article(ArticleInput {
            tags: vec!["روسيا".into(), " أوكرانيا ".into(), "روسيا".into()],
            ..titled("t")
        })
        .expect("valid");
        assert_eq!(fields.tags, ["روسيا", "أوكرانيا"]);
    }

    #[test]
    fn words_are_counted_in_the_text_not_the_markup() {
        assert_eq!(word_count(""), 0);
        assert_eq!(word_count("## عنوان فرعي\n\nفقرة من *ثلاث* كلمات."), 6);
        assert_eq!(word_count("[رابط](https://example.com/a/b) - نص"), 2);
        assert_eq!(word_count("سطر\nثان"), 2);
        assert_eq!(reading_time_minutes(0), 0);
        assert_eq!(reading_time_minutes(1), 1);
        assert_eq!(reading_time_minutes(200), 1);
        assert_eq!(reading_time_minutes(201), 2);
    }

    #[test]
    fn an_update_keeps_unmasked_fields_and_recomputes_the_figures() {
        let current = ArticleContent {
            slug: "old".into(),
            language: "ar".into(),
            title: "قديم".into(),
            subtitle: "sub".into(),
            body: "كلمة".into(),
            author_ids: vec![],
            tags: vec!["t".into()],
            section: "s".into(),
            comments_enabled: false,
        };
        let next = apply_article_update(
            &current,
            ArticleInput {
                body: "كلمتان هنا".into(),
                title: "ignored".into(),
                ..ArticleInput::default()
            },
            &[
                ArticleField::Body,
                ArticleField::Slug,
                ArticleField::Language,
                ArticleField::CommentsEnabled,
            ],
        )
        .expect("valid");
        assert_eq!(next.title, "قديم");
        assert_eq!(next.slug, SlugChoice::Keep);
        assert_eq!(next.language, "ar");
        assert!(!next.comments_enabled);
        assert_eq!(next.word_count, 2);
    }
}
