//! The validation vocabulary: a list of field violations that becomes one
//! INVALID_ARGUMENT with a `google.rpc.BadRequest` naming every bad field.

use std::fmt;

/// One bad field: its path (`title`, `author_ids[2]`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Dot-separated path of the field in the request.
    pub field: String,
    /// A short sentence saying what is wrong.
    pub description: String,
}

/// Every violation found in one input, in the order they were found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// An empty list, to collect violations into.
    pub fn new() -> Self {
        Self::default()
    }

    /// A list of exactly one violation.
    pub fn single(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = Self::new();
        violations.add(field, description);
        violations
    }

    /// Records that `field` is bad.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Records every violation in `other` too.
    pub fn merge(&mut self, other: Violations) {
        self.0.extend(other.0);
    }

    /// Whether no violation was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, the violations otherwise.
    pub fn into_result<T>(self, value: T) -> Result<T, Violations> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// The violations with every field path prefixed by `prefix.`.
    pub fn within(self, prefix: &str) -> Self {
        Self(
            self.0
                .into_iter()
                .map(|violation| FieldViolation {
                    field: format!("{prefix}.{}", violation.field),
                    ..violation
                })
                .collect(),
        )
    }

    /// The violations, in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, violation) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", violation.field, violation.description)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_prefixes_every_field_and_display_lists_them_all() {
        let mut violations = Violations::new();
        violations.add("title", "must not be empty");
        violations.add("author_ids[1]", "is not a valid id");
        let violations = violations.within("article");
        assert_eq!(
            violations.to_string(),
            "article.title: must not be empty; article.author_ids[1]: is not a valid id"
        );
    }

    #[test]
    fn into_result_is_ok_only_without_violations() {
        assert_eq!(Violations::new().into_result(7), Ok(7));
        assert!(Violations::single("x", "bad").into_result(7).is_err());
    }
}
