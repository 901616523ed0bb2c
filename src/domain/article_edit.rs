//! Editing articles: the writable fields as clients send them, the rules
//! they follow on create and update, and the figures derived from the body
//! (word count, reading time).

use pulldown_cmark::{Event, Parser};

use super::{
    article::ArticleContent,
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
        "comment_count",
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
