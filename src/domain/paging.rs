//! Keyset pagination, the one way every List method pages: `page_size` rules
//! from API.md, and opaque page tokens that carry the last row's sort key and
//! a fingerprint of the query they were issued for.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{fingerprint::fingerprint, validation::Violations};

/// Page size when the request says 0.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// Larger requested page sizes are clamped to this.
pub const MAX_PAGE_SIZE: u64 = 100;

/// The page size a request asked for, with the defaults applied.
pub fn page_size(requested: i32) -> Result<u64, Violations> {
    match requested {
        ..0 => Err(Violations::single("page_size", "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok(u64::try_from(n).map_or(MAX_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE))),
    }
}

/// The latest time a token may carry (the end of year 9999), so that a forged
/// token cannot ask the database for a timestamp it cannot represent.
const MAX_TIME_MICROS: i64 = 253_402_300_799_999_999;

/// Where the previous page ended: the sort key of its last row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The timestamp the list is ordered by, in microseconds since the epoch,
    /// when it is ordered by one.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub time_micros: Option<i64>,
    /// The number the list is ordered by, when it is ordered by one (such as
    /// a revision number).
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub number: Option<i64>,
    /// A further sort key after the id, when the order has one (such as a
    /// comment's place in its thread).
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The last row's id, which breaks ties between equal timestamps.
    #[serde(rename = "i")]
    pub id: String,
}

impl Cursor {
    /// The timestamp the list is ordered by, when it is ordered by one.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        self.time_micros.and_then(DateTime::from_timestamp_micros)
    }

    /// Whether the cursor could have been issued by this server: a UUID id
    /// and, if any, a time in range. Tokens are not signed, so this keeps a
    /// forged one from reaching the database with values it would refuse.
    fn is_well_formed(&self) -> bool {
        uuid::Uuid::try_parse(&self.id).is_ok()
            && self
                .time_micros
                .is_none_or(|micros| (0..=MAX_TIME_MICROS).contains(&micros))
            && self.key.as_deref().is_none_or(|key| {
                key.len() <= 1_000
                    && key
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() || c == '-' || c == '/')
            })
    }
}

#[derive(Serialize, Deserialize)]
struct Token {
    /// Fingerprint of the query (filters and order) the token belongs to.
    #[serde(rename = "q")]
    query: String,
    #[serde(rename = "c")]
    cursor: Cursor,
}

/// Identifies one query (a List method with its filters and order), so that a
/// token issued for one query is refused by another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryKey(String);

impl QueryKey {
    /// The key for a method and the canonical values of its filters and order.
    pub fn new(method: &str, filters: &[&str]) -> Self {
        let mut parts = Vec::with_capacity(filters.len() + 1);
        parts.push(method);
        parts.extend_from_slice(filters);
        Self(fingerprint(&parts))
    }

    /// A fingerprint of the query (method, filters and order), the same
    /// for every page of it.
    pub fn fingerprint(&self) -> &str {
        &self.0
    }

    /// The token that continues this query after `cursor`.
    pub fn token(&self, cursor: Cursor) -> String {
        let token = Token {
            query: self.0.clone(),
            cursor,
        };
        // Serialising a struct of strings and integers cannot fail.
        let json = serde_json::to_vec(&token).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// The cursor in `token` (`None` for the first page), refusing tokens that
    /// are malformed or were issued for another query.
    pub fn cursor(&self, token: &str) -> Result<Option<Cursor>, Violations> {
        if token.is_empty() {
            return Ok(None);
        }
        let decoded: Token = URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|json| serde_json::from_slice::<Token>(&json).ok())
            .filter(|token| token.cursor.is_well_formed())
            .ok_or_else(|| Violations::single("page_token", "is malformed"))?;
        if decoded.query != self.0 {
            return Err(Violations::single(
                "page_token",
                "was issued for a different query; keep the filters and order of the first page",
            ));
        }
        Ok(Some(decoded.cursor))
    }
}

/// One page of rows: `rows` were fetched with a limit of `size + 1`, so an
/// extra row means there is a next page, starting after the last row kept.
pub fn split_page<T>(mut rows: Vec<T>, size: u64) -> (Vec<T>, bool) {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let has_more = rows.len() > size;
    rows.truncate(size);
    (rows, has_more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_follow_the_api_rules() {
        assert_eq!(page_size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(7), Ok(7));
        assert_eq!(page_size(1000), Ok(MAX_PAGE_SIZE));
        assert_eq!(page_size(i32::MAX), Ok(MAX_PAGE_SIZE));
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn tokens_round_trip_for_their_own_query_only() {
        let query = QueryKey::new("articles", &["section=politics"]);
        let cursor = Cursor {
            time_micros: Some(1_764_000_000_000_000),
            number: None,
            key: None,
            id: "0190a1b2-0000-7000-8000-000000000000".into(),
        };
        let token = query.token(cursor.clone());
        assert_eq!(query.cursor(&token), Ok(Some(cursor)));
        assert_eq!(query.cursor(""), Ok(None));

        let other = QueryKey::new("articles", &["section=sport"]);
        assert!(other.cursor(&token).is_err());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let query = QueryKey::new("authors", &[]);
        for bad in ["%%%", "bm90IGpzb24", "e30"] {
            let violations = query.cursor(bad).expect_err(bad);
            assert_eq!(
                violations.iter().next().map(|v| v.field.as_str()),
                Some("page_token")
            );
        }
    }

    #[test]
    fn tokens_with_impossible_cursors_are_refused() {
        let query = QueryKey::new("articles", &[]);
        let forge = |cursor: Cursor| query.token(cursor);
        let id = "0190a1b2-0000-7000-8000-000000000000".to_owned();
        for cursor in [
            Cursor {
                time_micros: None,
                number: None,
                key: None,
                id: "x\u{0}y".into(),
            },
            Cursor {
                time_micros: Some(-1),
                number: None,
                key: None,
                id: id.clone(),
            },
            Cursor {
                time_micros: Some(MAX_TIME_MICROS + 1),
                number: None,
                key: None,
                id: id.clone(),
            },
        ] {
            assert!(query.cursor(&forge(cursor.clone())).is_err(), "{cursor:?}");
        }
        let fine = Cursor {
            time_micros: Some(MAX_TIME_MICROS),
            number: None,
            key: None,
            id,
        };
        assert_eq!(query.cursor(&forge(fine.clone())), Ok(Some(fine)));
    }

    #[test]
    fn split_page_reports_whether_a_next_page_exists() {
        assert_eq!(split_page(vec![1, 2, 3], 2), (vec![1, 2], true));
        assert_eq!(split_page(vec![1, 2], 2), (vec![1, 2], false));
    }
}
