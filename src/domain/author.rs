//! Authors: the people and desks that articles credit, and the rules their
//! fields follow on create and update.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    slug::{SlugChoice, derive_slug, requested_slug},
    text::{LineRule, multi_line},
    update_mask::MaskField,
    validation::Violations,
};

const DISPLAY_NAME: LineRule = LineRule {
    field: "display_name",
    required: true,
    max_chars: 200,
};
const EMAIL: LineRule = LineRule {
    field: "email",
    required: false,
    max_chars: 254,
};
const MAX_BIO_BYTES: usize = 40_000;
const MAX_BIO_CHARS: usize = 10_000;

/// Whether a byline is a person or a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorKind {
    /// A single person.
    Person,
    /// A desk: a team byline such as «فريق التحرير».
    Desk,
}

impl AuthorKind {
    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorKind::Person => "person",
            AuthorKind::Desk => "desk",
        }
    }

    /// The kind a stored value names.
    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "person" => Some(AuthorKind::Person),
            "desk" => Some(AuthorKind::Desk),
            _ => None,
        }
    }
}

/// An author as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    pub id: String,
    pub display_name: String,
    pub slug: String,
    pub kind: AuthorKind,
    pub bio: String,
    pub email: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    /// Incremented by every change; the etag is derived from it.
    pub version: i64,
}

/// An author's writable fields as a client sent them, not yet checked.
#[derive(Debug, Clone, Default)]
pub struct AuthorInput {
    pub display_name: String,
    pub slug: String,
    /// `None` when the client left the kind unspecified.
    pub kind: Option<AuthorKind>,
    pub bio: String,
    pub email: String,
}

/// Checked, normalised fields, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorFields {
    pub display_name: String,
    pub slug: SlugChoice,
    pub kind: AuthorKind,
    pub bio: String,
    pub email: String,
}

/// The fields an update mask can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorField {
    DisplayName,
    Slug,
    Kind,
    Bio,
    Email,
}

impl MaskField for AuthorField {
    const WRITABLE: &'static [Self] = &[
        AuthorField::DisplayName,
        AuthorField::Slug,
        AuthorField::Kind,
        AuthorField::Bio,
        AuthorField::Email,
    ];
    const OUTPUT_ONLY: &'static [&'static str] = &["id", "create_time", "update_time", "etag"];

    fn path(self) -> &'static str {
        match self {
            AuthorField::DisplayName => "display_name",
            AuthorField::Slug => "slug",
            AuthorField::Kind => "kind",
            AuthorField::Bio => "bio",
            AuthorField::Email => "email",
        }
    }
}

/// Checks a new author. An empty slug is derived from the display name.
pub fn validate_new_author(input: AuthorInput) -> Result<AuthorFields, Violations> {
    let mut violations = Violations::new();
    let display_name = DISPLAY_NAME.apply(&input.display_name, &mut violations);
    let slug = match requested_slug(&input.slug, &mut violations) {
        Some(slug) => SlugChoice::Explicit(slug),
        None => SlugChoice::Derived(derive_slug(&display_name)),
    };
    let fields = AuthorFields {
        display_name,
        slug,
        kind: input.kind.unwrap_or(AuthorKind::Person),
        bio: bio(&input.bio, &mut violations),
        email: email(&input.email, &mut violations),
    };
    violations.into_result(fields)
}

/// The fields `current` has after an update that changes `fields` to the
/// values in `input`. An empty slug or an unspecified kind keeps the current one.
pub fn apply_author_update(
    current: &Author,
    input: AuthorInput,
    fields: &[AuthorField],
) -> Result<AuthorFields, Violations> {
    let mut violations = Violations::new();
    let mut next = AuthorFields {
        display_name: current.display_name.clone(),
        slug: SlugChoice::Keep,
        kind: current.kind,
        bio: current.bio.clone(),
        email: current.email.clone(),
    };
    for field in fields {
        match field {
            AuthorField::DisplayName => {
                next.display_name = DISPLAY_NAME.apply(&input.display_name, &mut violations);
            }
            AuthorField::Slug => {
                if let Some(slug) = requested_slug(&input.slug, &mut violations)
                    && slug != current.slug
                {
                    next.slug = SlugChoice::Explicit(slug);
                }
            }
            AuthorField::Kind => next.kind = input.kind.unwrap_or(current.kind),
            AuthorField::Bio => next.bio = bio(&input.bio, &mut violations),
            AuthorField::Email => next.email = email(&input.email, &mut violations),
        }
    }
    violations.into_result(next)
}

fn bio(raw: &str, violations: &mut Violations) -> String {
    let bio = multi_line("bio", raw, MAX_BIO_BYTES, violations);
    if bio.chars().count() > MAX_BIO_CHARS {
        violations.add("bio", format!("must be at most {MAX_BIO_CHARS} characters"));
    }
    bio
}

fn email(raw: &str, violations: &mut Violations) -> String {
    let email = EMAIL.apply(raw, violations);
    if !email.is_empty() && !is_plain_email(&email) {
        violations.add(
            "email",
            "must be an e-mail address such as desk@example.com",
        );
    }
    email
}

/// A deliberately plain check of an e-mail address: one `@`, a non-empty
/// local part, and a domain with a dot. Deliverability is the mail system's
/// business, not ours.
pub fn is_plain_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(display_name: &str) -> AuthorInput {
        AuthorInput {
            display_name: display_name.into(),
            ..AuthorInput::default()
        }
    }

    #[test]
    fn a_new_author_gets_a_derived_slug_and_defaults_to_a_person() {
        let fields = validate_new_author(input("فريق التحرير")).expect("valid");
        assert_eq!(fields.slug, SlugChoice::Derived("فريق-التحرير".into()));
        assert_eq!(fields.kind, AuthorKind::Person);
    }

    #[test]
    fn bad_fields_are_all_reported() {
        let violations = validate_new_author(AuthorInput {
            display_name: String::new(),
            slug: "Not A Slug".into(),
            kind: None,
            bio: "ok".into(),
            email: "nobody".into(),
        })
        .expect_err("invalid");
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["display_name", "slug", "email"]);
    }

    #[test]
    fn emails_are_checked_plainly() {
        for good in ["desk@example.com", "a.b+c@news.example.org"] {
            assert!(
                validate_new_author(AuthorInput {
                    email: good.into(),
                    ..input("x")
                })
                .is_ok()
            );
        }
        for bad in ["@example.com", "a@b", "a@@b.com", "a b@c.com", "a@.com"] {
            assert!(
                validate_new_author(AuthorInput {
                    email: bad.into(),
                    ..input("x")
                })
                .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_update_changes_only_the_masked_fields_and_keeps_the_slug_when_empty() {
        let now = Utc::now();
        let current = Author {
            id: "id".into(),
            display_name: "Old".into(),
            slug: "old".into(),
            kind: AuthorKind::Desk,
            bio: "bio".into(),
            email: String::new(),
            create_time: now,
            update_time: now,
            version: 1,
        };
        let next = apply_author_update(
            &current,
            AuthorInput {
                display_name: "New".into(),
                bio: "ignored".into(),
                ..AuthorInput::default()
            },
            &[
                AuthorField::DisplayName,
                AuthorField::Slug,
                AuthorField::Kind,
            ],
        )
        .expect("valid");
        assert_eq!(next.display_name, "New");
        assert_eq!(next.slug, SlugChoice::Keep);
        assert_eq!(next.kind, AuthorKind::Desk);
        assert_eq!(next.bio, "bio");
    }
}
