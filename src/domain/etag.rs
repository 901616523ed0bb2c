//! Etags for optimistic concurrency. A resource's etag is a fingerprint of its
//! id and version, so an etag copied from another resource never matches.

use super::fingerprint::fingerprint;

/// The etag of version `version` of the resource `id`.
pub fn etag(id: &str, version: i64) -> String {
    fingerprint(&[id, &version.to_string()])
}

/// Whether a client's etag allows a write to version `version` of `id`: an
/// empty etag skips the check, any other must match exactly.
pub fn etag_allows(given: &str, id: &str, version: i64) -> bool {
    given.is_empty() || given == etag(id, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_change_with_the_version_and_differ_between_resources() {
        assert_ne!(etag("a", 1), etag("a", 2));
        assert_ne!(etag("a", 1), etag("b", 1));
        assert!(etag_allows("", "a", 3));
        assert!(etag_allows(&etag("a", 3), "a", 3));
        assert!(!etag_allows(&etag("a", 2), "a", 3));
        assert!(!etag_allows("garbage", "a", 3));
    }
}
