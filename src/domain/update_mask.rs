//! Update masks (AIP-134): which fields an Update changes. An empty mask (or
//! `*`) means every writable field; a path naming an output-only or unknown
//! field is refused.

use super::validation::Violations;

/// The writable fields of a resource, and the names of its output-only ones.
pub trait MaskField: Sized + Copy + PartialEq + 'static {
    /// Every writable field, in declaration order.
    const WRITABLE: &'static [Self];
    /// Fields that exist but only the server sets.
    const OUTPUT_ONLY: &'static [&'static str];
    /// The field's path in an update mask.
    fn path(self) -> &'static str;
}

/// The fields `paths` name, without repeats; every writable field when empty.
pub fn parse_update_mask<F: MaskField>(paths: &[String]) -> Result<Vec<F>, Violations> {
    if paths.is_empty() || (paths.len() == 1 && paths[0] == "*") {
        return Ok(F::WRITABLE.to_vec());
    }
    let mut fields = Vec::with_capacity(paths.len());
    let mut violations = Violations::new();
    for (i, path) in paths.iter().enumerate() {
        let location = format!("update_mask.paths[{i}]");
        match F::WRITABLE.iter().find(|field| field.path() == path) {
            Some(field) if !fields.contains(field) => fields.push(*field),
            Some(_) => {}
            None if F::OUTPUT_ONLY.contains(&path.as_str()) => {
                violations.add(location, format!("`{path}` is output only"));
            }
            None => violations.add(
                location,
                format!("`{path}` is not a field that can be updated"),
            ),
        }
    }
    violations.into_result(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Field {
        Title,
        Body,
    }

    impl MaskField for Field {
        const WRITABLE: &'static [Self] = &[Field::Title, Field::Body];
        const OUTPUT_ONLY: &'static [&'static str] = &["etag"];
        fn path(self) -> &'static str {
            match self {
                Field::Title => "title",
                Field::Body => "body",
            }
        }
    }

    fn paths(paths: &[&str]) -> Vec<String> {
        paths.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn empty_and_wildcard_masks_mean_every_writable_field() {
        assert_eq!(
            parse_update_mask::<Field>(&[]),
            Ok(vec![Field::Title, Field::Body])
        );
        assert_eq!(
            parse_update_mask::<Field>(&paths(&["*"])),
            Ok(vec![Field::Title, Field::Body])
        );
    }

    #[test]
    fn named_fields_are_kept_once_in_mask_order() {
        assert_eq!(
            parse_update_mask::<Field>(&paths(&["body", "title", "body"])),
            Ok(vec![Field::Body, Field::Title])
        );
    }

    #[test]
    fn output_only_and_unknown_paths_are_refused_by_position() {
        let violations = parse_update_mask::<Field>(&paths(&["title", "etag", "colour", "*"]))
            .expect_err("bad paths");
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "update_mask.paths[1]",
                "update_mask.paths[2]",
                "update_mask.paths[3]"
            ]
        );
    }
}
