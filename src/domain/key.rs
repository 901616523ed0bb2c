//! API keys: tokens with a recognisable prefix, of which only a SHA-256 is
//! ever stored; checking one compares hashes in constant time.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{access::Role, text::LineRule, validation::Violations};

/// Every token starts with this, so that a leaked one is recognisable (and
/// secret scanners can find it).
pub const TOKEN_PREFIX: &str = "nd_";
/// Random bytes in a token: 256 bits.
const TOKEN_BYTES: usize = 32;
const NAME: LineRule = LineRule {
    field: "name",
    required: true,
    max_chars: 100,
};

/// An API key, as listed: never its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The author a writer's key acts as.
    pub author_id: Option<String>,
    /// Who made the key.
    pub creator: String,
    pub create_time: DateTime<Utc>,
    pub revoke_time: Option<DateTime<Utc>>,
}

/// A key to create, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub name: String,
    pub role: Role,
    pub author_id: Option<String>,
}

impl NewKey {
    /// Checks a key's name and its author: a writer's key needs one (it is who
    /// the writer writes as), other roles take none.
    pub fn new(name: &str, role: Role, author_id: Option<String>) -> Result<Self, Violations> {
        let mut violations = Violations::new();
        let name = NAME.apply(name, &mut violations);
        match (role, &author_id) {
            (Role::Writer, None) => {
                violations.add("author_id", "is required for a writer's key");
            }
            (Role::Admin | Role::Editor | Role::Subscriber, Some(_)) => {
                violations.add("author_id", "is only for a writer's key");
            }
            _ => {}
        }
        violations.into_result(NewKey {
            name,
            role,
            author_id,
        })
    }
}

/// A freshly made token and the hash stored in its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub token: String,
    pub hash: String,
}

/// A new random token from the operating system's generator.
pub fn new_token() -> Result<NewToken, getrandom::Error> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = token_hash(&token);
    Ok(NewToken { token, hash })
}

/// The hash a token is stored and looked up under.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether `token` has the shape of a token this service issues; anything
/// else is refused without a lookup.
pub fn is_well_formed_token(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|random| {
        random.len() == URL_SAFE_NO_PAD.encode([0u8; TOKEN_BYTES]).len()
            && random
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    })
}

/// Whether two hashes are equal, in time that does not depend on where they
/// differ.
pub fn hashes_match(stored: &str, presented: &str) -> bool {
    stored.as_bytes().ct_eq(presented.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_stored_only_as_hashes() {
        let first = new_token().expect("random");
        let second = new_token().expect("random");
        assert_ne!(first.token, second.token);
        assert!(first.token.starts_with("nd_"));
        assert!(is_well_formed_token(&first.token));
        assert_eq!(first.hash, token_hash(&first.token));
        assert!(!first.hash.contains(&first.token[3..]));
        assert!(hashes_match(&first.hash, &token_hash(&first.token)));
        assert!(!hashes_match(&first.hash, &second.hash));
    }

    #[test]
    fn malformed_tokens_are_recognised_without_a_lookup() {
        for bad in [
            "",
            "nd_",
            "xx_abc",
            "nd_short",
            &format!("nd_{}", "a".repeat(42)),
            &format!("nd_{}!", "a".repeat(42)),
        ] {
            assert!(!is_well_formed_token(bad), "{bad}");
        }
        assert!(is_well_formed_token(&format!("nd_{}", "a".repeat(43))));
    }

    #[test]
    fn only_writers_keys_name_an_author() {
        assert!(NewKey::new("ops", Role::Admin, None).is_ok());
        assert!(NewKey::new("ops", Role::Admin, Some("a".into())).is_err());
        assert!(NewKey::new("sara", Role::Writer, None).is_err());
        assert!(NewKey::new("sara", Role::Writer, Some("a".into())).is_ok());
        assert!(NewKey::new("", Role::Editor, None).is_err());
    }
}
