//! A feed is one tenant × content type: what the poller lists, what `status` reports on. Its
//! persisted state lives in the archive as two named cursors, written in the same transaction
//! as the blobs a listing found: the listing cursor (how far `contentCreated` has been listed
//! completely) and the listing state (failures, first-run emptiness, windows that could no
//! longer be listed), a small versioned JSON document.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One tenant × content type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeedKey {
    pub tenant_id: Uuid,
    /// The content type as the API spells it, e.g. `Audit.General`.
    pub content_type: String,
}

impl FeedKey {
    pub fn new(tenant_id: Uuid, content_type: impl Into<String>) -> FeedKey {
        FeedKey { tenant_id, content_type: content_type.into() }
    }

    /// The archive cursor holding how far the feed was listed (RFC 3339 time).
    pub fn cursor_name(&self) -> String {
        format!("o365/{}/{}/listed_until", self.tenant_id, self.content_type)
    }

    /// The archive cursor holding the feed's [`ListingState`] (JSON).
    pub fn state_name(&self) -> String {
        format!("o365/{}/{}/listing", self.tenant_id, self.content_type)
    }
}

impl fmt::Display for FeedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.tenant_id, self.content_type)
    }
}

/// The listing cursor's text form.
pub(crate) fn format_cursor(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Reads a listing cursor; `None` when it does not parse (treated as never listed).
pub(crate) fn parse_cursor(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.with_timezone(&Utc))
}

/// The version of the [`ListingState`] document this program writes.
pub const LISTING_STATE_VERSION: u32 = 1;

/// What the poller remembers about a feed besides its cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListingState {
    pub version: u32,
    /// When the feed was listed for the first time.
    pub first_listed_at: Option<DateTime<Utc>>,
    /// When a listing round last completed (caught up to its start time).
    pub last_success_at: Option<DateTime<Utc>>,
    /// Blobs listed over the feed's life (0 = no content seen yet).
    pub blobs_listed: u64,
    /// When this collector last started the subscription (after AF20022 / AF20023).
    pub subscribed_at: Option<DateTime<Utc>>,
    /// When this collector last sent a subscription start, whatever its outcome (Microsoft
    /// allows one every 15 minutes).
    pub last_start_at: Option<DateTime<Utc>>,
    /// Set while listing fails; cleared by a complete round.
    pub failing_since: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Ranges of `contentCreated` that can no longer be listed (older than 7 days before they
    /// could be listed): gaps.
    pub lost: Vec<LostWindow>,
}

/// A range of `contentCreated` that was never listed and no longer can be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reason: String,
    pub recorded_at: DateTime<Utc>,
}

impl ListingState {
    /// Reads the stored document; an unreadable one starts over (it holds no evidence, only
    /// diagnostics), a newer version is kept as far as it is understood.
    pub fn from_json(text: &str) -> ListingState {
        serde_json::from_str(text).unwrap_or_else(|error| {
            tracing::warn!(%error, "the stored listing state is unreadable; starting it over");
            ListingState::default()
        })
    }

    pub fn to_json(&self) -> String {
        let mut state = self.clone();
        state.version = LISTING_STATE_VERSION;
        // Serializing plain data cannot fail; an empty document would only lose diagnostics.
        serde_json::to_string(&state).unwrap_or_default()
    }

    /// Whether the feed has never listed a blob.
    pub fn awaiting_first_content(&self) -> bool {
        self.blobs_listed == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_round_trips() {
        let key = FeedKey::new(Uuid::nil(), "Audit.General");
        assert_eq!(
            key.cursor_name(),
            "o365/00000000-0000-0000-0000-000000000000/Audit.General/listed_until"
        );
        let at = DateTime::parse_from_rfc3339("2026-06-01T10:30:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_cursor(&format_cursor(at)), Some(at));
        assert_eq!(parse_cursor("yesterday"), None);

        let state = ListingState {
            blobs_listed: 3,
            lost: vec![LostWindow { start: at, end: at, reason: "r".into(), recorded_at: at }],
            ..ListingState::default()
        };
        let json = state.to_json();
        assert!(json.contains("\"version\":1"), "{json}");
        let back = ListingState::from_json(&json);
        assert_eq!(back.blobs_listed, 3);
        assert_eq!(back.lost, state.lost);
        assert_eq!(ListingState::from_json("{nope"), ListingState::default());
        // Unknown fields of a newer writer are ignored, known ones kept.
        assert_eq!(
            ListingState::from_json(r#"{"version":2,"blobs_listed":7,"x":1}"#).blobs_listed,
            7
        );
    }
}
