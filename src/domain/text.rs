//! Text rules from API.md: everything is stored in NFC; single-line fields
//! refuse control characters and bidi overrides; bodies keep the marks Arabic
//! needs (ZWNJ, ZWJ, RLM, LRM, ALM) but refuse control characters other than
//! tab and newlines.

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use super::validation::Violations;

/// `text` in Unicode Normalization Form C, without copying text already in NFC.
pub fn nfc(text: &str) -> String {
    match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => text.to_owned(),
        IsNormalized::No | IsNormalized::Maybe => text.nfc().collect(),
    }
}

/// Characters a single-line field refuses: control characters (line breaks
/// included), the Unicode line and paragraph separators, and the bidi
/// embedding, override and isolate controls, invisible characters that can
/// make a title display as something other than what it says.
fn breaks_a_single_line(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Limits for one single-line field.
#[derive(Debug, Clone, Copy)]
pub struct LineRule {
    /// The field's path, for violations.
    pub field: &'static str,
    /// Whether an empty value is a violation.
    pub required: bool,
    /// Maximum length in characters (Unicode scalar values) after NFC.
    pub max_chars: usize,
}

impl LineRule {
    /// Checks `raw` against the rule and returns it trimmed and in NFC; records
    /// a violation (and returns what it has) when the value is bad.
    pub fn apply(self, raw: &str, violations: &mut Violations) -> String {
        self.apply_at(self.field, raw, violations)
    }

    /// As `apply`, naming the field `field` (for list items such as `tags[3]`).
    pub fn apply_at(self, field: &str, raw: &str, violations: &mut Violations) -> String {
        let value = nfc(raw.trim());
        if let Some(bad) = value.chars().find(|&c| breaks_a_single_line(c)) {
            violations.add(
                field,
                format!(
                    "must be a single line without control or bidi override characters (found U+{:04X})",
                    u32::from(bad)
                ),
            );
        } else if value.is_empty() && self.required {
            violations.add(field, "must not be empty");
        } else if value.chars().count() > self.max_chars {
            violations.add(
                field,
                format!("must be at most {} characters", self.max_chars),
            );
        }
        value
    }
}

/// Checks a multi-line text (an article body, a bio) of at most `max_bytes` of
/// UTF-8 and returns it in NFC. Line breaks and tabs are kept as they are.
pub fn multi_line(field: &str, raw: &str, max_bytes: usize, violations: &mut Violations) -> String {
    if raw.len() > max_bytes {
        violations.add(
            field,
            format!(
                "must be at most {max_bytes} bytes of UTF-8 (got {})",
                raw.len()
            ),
        );
        return String::new();
    }
    if let Some(bad) = raw
        .chars()
        .find(|&c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        violations.add(
            field,
            format!(
                "must not contain control characters other than tab and line breaks (found U+{:04X})",
                u32::from(bad)
            ),
        );
    }
    let value = nfc(raw);
    if value.len() > max_bytes {
        violations.add(
            field,
            format!("must be at most {max_bytes} bytes of UTF-8 once normalised to NFC"),
        );
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    const TITLE: LineRule = LineRule {
        field: "title",
        required: true,
        max_chars: 5,
    };

    fn check(rule: LineRule, raw: &str) -> (String, Violations) {
        let mut violations = Violations::new();
        let value = rule.apply(raw, &mut violations);
        (value, violations)
    }

    #[test]
    fn single_lines_are_trimmed_and_normalised_to_nfc() {
        // U+0627 ALEF + U+0654 HAMZA ABOVE composes to U+0623.
        let (value, violations) = check(TITLE, "  \u{0627}\u{0654}ب ");
        assert!(violations.is_empty());
        assert_eq!(value, "\u{0623}ب");
    }

    #[test]
    fn single_lines_refuse_controls_bidi_overrides_emptiness_and_length() {
        for bad in [
            "a\nb",
            "a\u{2028}b",
            "a\u{202E}b",
            "\u{2066}ab",
            "",
            "   ",
            "abcdef",
        ] {
            let (_, violations) = check(TITLE, bad);
            assert!(!violations.is_empty(), "{bad:?} should be refused");
        }
        // Characters, not bytes, are counted: five Arabic letters fit.
        assert!(check(TITLE, "فريقا").1.is_empty());
    }

    #[test]
    fn bodies_keep_arabic_marks_and_refuse_other_controls() {
        let mut violations = Violations::new();
        let body = "سطر\u{200C}أول\u{200F}\n\tسطر\u{061C} ثان\r\n";
        assert_eq!(multi_line("body", body, 1024, &mut violations), body);
        assert!(violations.is_empty());
        multi_line("body", "a\u{0000}b", 1024, &mut violations);
        multi_line("body", "abcdef", 5, &mut violations);
        assert_eq!(violations.iter().count(), 2);
    }
}
