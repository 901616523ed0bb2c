//! Shares: where a reader shared an article, and which shares count. The
//! reader's client id is kept only as a one-way hash, for counting repeats.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{access::Actor, text::LineRule, validation::Violations};

const CLIENT_ID: LineRule = LineRule {
    field: "client_id",
    required: false,
    max_chars: 200,
};
const REFERRER: LineRule = LineRule {
    field: "referrer",
    required: false,
    max_chars: 2_000,
};

/// The same client sharing the same article on the same channel within this
/// long of its last counted share counts once.
pub fn repeat_window() -> Duration {
    Duration::minutes(10)
}

/// Where a reader shared an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareChannel {
    Facebook,
    X,
    WhatsApp,
    Telegram,
    LinkedIn,
    Email,
    CopyLink,
    Other,
}

impl ShareChannel {
    /// Every channel.
    pub const ALL: [ShareChannel; 8] = [
        ShareChannel::Facebook,
        ShareChannel::X,
        ShareChannel::WhatsApp,
        ShareChannel::Telegram,
        ShareChannel::LinkedIn,
        ShareChannel::Email,
        ShareChannel::CopyLink,
        ShareChannel::Other,
    ];

    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ShareChannel::Facebook => "facebook",
            ShareChannel::X => "x",
            ShareChannel::WhatsApp => "whatsapp",
            ShareChannel::Telegram => "telegram",
            ShareChannel::LinkedIn => "linkedin",
            ShareChannel::Email => "email",
            ShareChannel::CopyLink => "copy_link",
            ShareChannel::Other => "other",
        }
    }

    /// The channel a stored value names.
    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|channel| channel.as_str() == stored)
    }
}

/// A share to record, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShare {
    pub article_id: String,
    pub channel: ShareChannel,
    /// A SHA-256 of the client id, when there was one.
    pub client_hash: Option<String>,
    pub referrer: String,
    /// Who shared (a reader is `anonymous`).
    pub actor: Actor,
}

impl NewShare {
    /// Checks a share's free-text fields; the article and channel are
    /// checked by the caller, which knows their wire forms.
    pub fn new(
        article_id: String,
        channel: ShareChannel,
        client_id: &str,
        referrer: &str,
        actor: Actor,
    ) -> Result<Self, Violations> {
        let mut violations = Violations::new();
        let client_id = CLIENT_ID.apply(client_id, &mut violations);
        let referrer = REFERRER.apply(referrer, &mut violations);
        violations.into_result(NewShare {
            article_id,
            channel,
            client_hash: (!client_id.is_empty()).then(|| hash_client_id(&client_id)),
            referrer,
            actor,
        })
    }
}

/// What recording a share did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareOutcome {
    pub counted: bool,
    pub time: DateTime<Utc>,
}

/// A share as the change feed tells it: never the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareRecord {
    pub article_id: String,
    pub channel: ShareChannel,
    pub time: DateTime<Utc>,
    pub counted: bool,
}

/// An article's share counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShareStats {
    pub total: i64,
    pub by_channel: Vec<(ShareChannel, i64)>,
    pub first_share_time: Option<DateTime<Utc>>,
    pub last_share_time: Option<DateTime<Utc>>,
}

fn hash_client_id(client_id: &str) -> String {
    let digest = Sha256::digest(client_id.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_kept_only_as_hashes() {
        let share = NewShare::new(
            "a".into(),
            ShareChannel::X,
            "browser-42",
            "",
            Actor::anonymous(),
        )
        .expect("valid");
        let hash = share.client_hash.expect("hashed");
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains("browser"));
        let anonymous = NewShare::new("a".into(), ShareChannel::X, "  ", "", Actor::anonymous())
            .expect("valid");
        assert_eq!(anonymous.client_hash, None);
    }

    #[test]
    fn long_or_multi_line_fields_are_refused() {
        assert!(
            NewShare::new(
                "a".into(),
                ShareChannel::X,
                &"c".repeat(201),
                "",
                Actor::anonymous()
            )
            .is_err()
        );
        assert!(
            NewShare::new(
                "a".into(),
                ShareChannel::X,
                "",
                "https://x.example/\nSet-Cookie",
                Actor::anonymous(),
            )
            .is_err()
        );
    }

    #[test]
    fn channels_round_trip_through_storage() {
        for channel in ShareChannel::ALL {
            assert_eq!(ShareChannel::parse(channel.as_str()), Some(channel));
        }
    }
}
