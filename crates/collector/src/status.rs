//! The collection status as the archive holds it, per feed: how far it is listed, the lag, the
//! backlog and its age, gaps (blobs and lost windows), the last error, and notices such as "no
//! content yet". Read without API clients or credentials, so `d365audit status` works wherever
//! the archive can be opened.

use std::collections::{BTreeMap, BTreeSet};

use archive::{ArchiveError, BlobGap, BlobState, QueueStatus};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use settings::{CollectorSettings, TenantSettings};
use uuid::Uuid;

use crate::QueuedArchive;
use crate::feed::{FeedKey, ListingState, LostWindow, parse_cursor};

/// Microsoft takes up to this long to show the first blobs of a new subscription.
const FIRST_CONTENT_DELAY: Duration = Duration::hours(12);

/// The state of one feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedStatus {
    /// The configured name, or the tenant id for a tenant no longer configured.
    pub tenant: String,
    pub tenant_id: Uuid,
    pub content_type: String,
    pub configured: bool,
    /// How far `contentCreated` is listed completely.
    pub listed_until: Option<DateTime<Utc>>,
    pub lag_seconds: Option<i64>,
    /// Blob counts by state (`pending`, `leased`, `done`, `expired`, `quarantined`, `failed`).
    pub blobs: BTreeMap<String, u64>,
    /// Blobs not yet settled (pending or leased).
    pub backlog: u64,
    /// `contentCreated` of the oldest blob not yet settled.
    pub oldest_waiting: Option<DateTime<Utc>>,
    pub backlog_age_seconds: Option<i64>,
    /// The backlog is older than the warning age (blobs expire after 7 days).
    pub backlog_warning: bool,
    /// Records stored from this feed's blobs.
    pub records: u64,
    /// Blobs in a gap state.
    pub blob_gaps: u64,
    /// Ranges that could no longer be listed.
    pub lost_windows: Vec<LostWindow>,
    /// Listing has been failing since then (the window is retried every round).
    pub failing_since: Option<DateTime<Utc>>,
    /// The last listing error (kept after recovery, for the record).
    pub listing_error: Option<String>,
    /// The last error of a blob of this feed.
    pub blob_error: Option<String>,
    /// Something to know that is not an error (e.g. waiting for the first content).
    pub notice: Option<String>,
}

impl FeedStatus {
    /// Gaps of this feed: blobs lost and windows no longer listable.
    pub fn gaps(&self) -> u64 {
        self.blob_gaps + self.lost_windows.len() as u64
    }

    /// A one-word health for tables: `ok`, `waiting`, `backlog`, `failing`, `gaps`.
    pub fn health(&self) -> &'static str {
        if self.failing_since.is_some() {
            "failing"
        } else if self.gaps() > 0 {
            "gaps"
        } else if self.backlog_warning {
            "backlog"
        } else if self.notice.is_some() {
            "waiting"
        } else {
            "ok"
        }
    }
}

/// Every feed, plus the most recent blob gaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectionStatus {
    pub at: DateTime<Utc>,
    pub feeds: Vec<FeedStatus>,
    /// Most recent first.
    pub recent_gaps: Vec<BlobGap>,
}

impl CollectionStatus {
    /// Gaps over every feed.
    pub fn gaps(&self) -> u64 {
        self.feeds.iter().map(FeedStatus::gaps).sum()
    }

    /// Whether a feed is failing, has gaps, or has an old backlog.
    pub fn needs_attention(&self) -> bool {
        self.feeds.iter().any(|f| matches!(f.health(), "failing" | "gaps" | "backlog"))
    }
}

/// Reads the status of the configured feeds (and of any feed the queue holds blobs for).
pub async fn collection_status(
    archive: &dyn QueuedArchive,
    tenants: &[TenantSettings],
    settings: &CollectorSettings,
    now: DateTime<Utc>,
    gap_limit: u32,
) -> Result<CollectionStatus, ArchiveError> {
    let queue: Vec<QueueStatus> = archive.queue_status().await?;
    let mut keys: BTreeSet<FeedKey> = BTreeSet::new();
    for tenant in tenants {
        for ct in &tenant.content_types {
            keys.insert(FeedKey::new(tenant.tenant_id, ct.as_str()));
        }
    }
    for status in &queue {
        keys.insert(FeedKey::new(status.tenant_id, status.content_type.clone()));
    }
    let mut feeds = Vec::with_capacity(keys.len());
    for key in keys {
        let configured_tenant = tenants.iter().find(|t| t.tenant_id == key.tenant_id);
        let configured = configured_tenant
            .is_some_and(|t| t.content_types.iter().any(|ct| ct.as_str() == key.content_type));
        let listed_until =
            archive.cursor(&key.cursor_name()).await?.as_deref().and_then(parse_cursor);
        let state = archive
            .cursor(&key.state_name())
            .await?
            .map(|text| ListingState::from_json(&text))
            .unwrap_or_default();
        let queued = queue
            .iter()
            .find(|s| s.tenant_id == key.tenant_id && s.content_type == key.content_type);
        let blobs: BTreeMap<String, u64> =
            queued.map(|q| q.counts.iter().cloned().collect()).unwrap_or_default();
        let count = |state: BlobState| blobs.get(state.as_str()).copied().unwrap_or(0);
        let backlog = count(BlobState::Pending) + count(BlobState::Leased);
        let blob_gaps = BlobState::ALL.iter().filter(|s| s.is_gap()).map(|s| count(*s)).sum();
        let oldest_waiting = queued.and_then(|q| q.oldest_waiting);
        let backlog_age = oldest_waiting.map(|oldest| now - oldest);
        let notice = if configured && listed_until.is_none() && state.first_listed_at.is_none() {
            Some("not listed yet".to_owned())
        } else if configured && state.awaiting_first_content() {
            let since = state.subscribed_at.or(state.first_listed_at);
            match since {
                Some(since) if now - since > FIRST_CONTENT_DELAY => Some(format!(
                    "no content since {since}: more than the 12 hours a new subscription can \
                     take; check that audit logging is on in Microsoft Purview and that the \
                     workload has activity"
                )),
                _ => Some(
                    "no content yet: a new subscription can take up to 12 hours to show its \
                     first blobs"
                        .to_owned(),
                ),
            }
        } else if !configured {
            Some("not configured any more: blobs already queued are still collected".to_owned())
        } else {
            None
        };
        feeds.push(FeedStatus {
            tenant: configured_tenant.map_or_else(|| key.tenant_id.to_string(), |t| t.name.clone()),
            tenant_id: key.tenant_id,
            content_type: key.content_type.clone(),
            configured,
            listed_until,
            lag_seconds: listed_until.map(|until| (now - until).num_seconds().max(0)),
            blobs,
            backlog,
            oldest_waiting,
            backlog_age_seconds: backlog_age.map(|age| age.num_seconds().max(0)),
            backlog_warning: backlog_age.is_some_and(|age| age > settings.backlog_warning_age),
            records: queued.map_or(0, |q| q.records),
            blob_gaps,
            lost_windows: state.lost,
            failing_since: state.failing_since,
            listing_error: state.last_error,
            blob_error: queued.and_then(|q| q.last_error.clone()),
            notice,
        });
    }
    feeds.sort_by(|a, b| (&a.tenant, &a.content_type).cmp(&(&b.tenant, &b.content_type)));
    let recent_gaps = archive.blob_gaps(gap_limit).await?;
    Ok(CollectionStatus { at: now, feeds, recent_gaps })
}
