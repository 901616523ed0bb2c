//! BCP-47 language tags, checked for shape and put in canonical case
//! (`ar`, `en-GB`, `zh-Hant-TW`), so that `AR` and `ar` name one language.

use super::validation::Violations;

/// The language of an article that does not say.
pub const DEFAULT_LANGUAGE: &str = "ar";

/// The canonical form of the tag in `raw`, or `None` when `raw` is empty; a
/// malformed tag is recorded against `field`.
pub fn parse_language(field: &str, raw: &str, violations: &mut Violations) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let canonical = canonical_language(raw);
    if canonical.is_none() {
        violations.add(
            field,
            "must be a BCP-47 language tag such as `ar` or `en-GB`",
        );
    }
    canonical
}

/// The canonical form of a well-formed tag, or `None` when `tag` is not one.
pub fn canonical_language(tag: &str) -> Option<String> {
    let mut subtags = tag.split('-');
    let primary = subtags.next()?;
    if !(2..=8).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let mut canonical = primary.to_ascii_lowercase();
    for subtag in subtags {
        if subtag.is_empty()
            || subtag.len() > 8
            || !subtag.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return None;
        }
        canonical.push('-');
        let is_alpha = subtag.chars().all(|c| c.is_ascii_alphabetic());
        match subtag.len() {
            // Script subtag: title case (Hant, Latn, Arab).
            4 if is_alpha => {
                let (first, rest) = subtag.split_at(1);
                canonical.push_str(&first.to_ascii_uppercase());
                canonical.push_str(&rest.to_ascii_lowercase());
            }
            // Region subtag: upper case (GB, EG).
            2 if is_alpha => canonical.push_str(&subtag.to_ascii_uppercase()),
            _ => canonical.push_str(&subtag.to_ascii_lowercase()),
        }
    }
    Some(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_tags_get_canonical_case() {
        assert_eq!(canonical_language("ar").as_deref(), Some("ar"));
        assert_eq!(canonical_language("AR-eg").as_deref(), Some("ar-EG"));
        assert_eq!(
            canonical_language("zh-hant-tw").as_deref(),
            Some("zh-Hant-TW")
        );
        assert_eq!(canonical_language("es-419").as_deref(), Some("es-419"));
    }

    #[test]
    fn malformed_tags_are_refused() {
        for bad in [
            "",
            "a",
            "ar-",
            "ar--eg",
            "ar_EG",
            "عربي",
            "toolongprimary",
            "ar-EG!",
        ] {
            assert_eq!(canonical_language(bad), None, "{bad:?}");
        }
    }
}
