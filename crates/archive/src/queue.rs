//! The durable blob queue: content blobs learnt about by polling or webhook wait here until a
//! worker has fetched them and their records are stored. It lives in the archive so that a blob's
//! records and its "done" mark are written in one transaction, and so that several collectors
//! sharing one PostgreSQL archive share one queue.
//!
//! A blob's life: `pending` -> claimed by a worker (a lease with a deadline) -> `done` with its
//! records, or back to `pending` with a later `next_attempt` after a transient failure, or a
//! final gap state (`expired`, `quarantined`, `failed`). A lease that runs out (a worker died)
//! makes the blob claimable again: work is redone, never skipped.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{ArchiveError, IngestBatch, IngestReceipt};

/// A content blob as a listing or a notification announced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncedBlob {
    pub tenant_id: Uuid,
    pub content_type: String,
    /// Microsoft's opaque id; the queue's key together with the tenant.
    pub content_id: String,
    pub content_uri: String,
    pub content_created: DateTime<Utc>,
    pub content_expiration: DateTime<Utc>,
    pub source: Discovery,
}

/// How the collector learnt about a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum Discovery {
    /// Found by listing the window that starts at `window_start` (kept: resuming from the same
    /// window start avoids the partial-blob pitfall).
    Poll {
        window_start: DateTime<Utc>,
    },
    Webhook,
}

/// Where a blob is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobState {
    /// Waiting for a worker (possibly after failed attempts, see `next_attempt`).
    Pending,
    /// Claimed by a worker until its lease runs out.
    Leased,
    /// Fetched and its records stored.
    Done,
    /// Gap: it expired (7 days) before it could be fetched.
    Expired,
    /// Gap: it was fetched but does not parse; its bytes are in quarantine.
    Quarantined,
    /// Gap: it kept failing and was given up.
    Failed,
}

impl BlobState {
    pub const ALL: [BlobState; 6] = [
        BlobState::Pending,
        BlobState::Leased,
        BlobState::Done,
        BlobState::Expired,
        BlobState::Quarantined,
        BlobState::Failed,
    ];

    /// Whether this state is a loss that `status` and the UI must show.
    pub fn is_gap(self) -> bool {
        matches!(self, BlobState::Expired | BlobState::Quarantined | BlobState::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BlobState::Pending => "pending",
            BlobState::Leased => "leased",
            BlobState::Done => "done",
            BlobState::Expired => "expired",
            BlobState::Quarantined => "quarantined",
            BlobState::Failed => "failed",
        }
    }
}

/// A blob a worker has claimed. Only the holder of the lease may settle it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobLease {
    pub blob: AnnouncedBlob,
    /// Attempts before this one.
    pub attempts: u32,
    /// Proves the holder: settling with a stale lease (it ran out and someone else took the
    /// blob) changes nothing (see [`BlobQueue::settle`]).
    pub lease_token: Uuid,
    pub leased_until: DateTime<Utc>,
}

/// How a claimed blob ends this attempt.
#[derive(Debug, Clone)]
pub enum Settlement {
    /// Its records (in scope) are in `batch`; out-of-scope and malformed counts for the record.
    Done { batch: IngestBatch, out_of_scope: u64 },
    /// Try again at `next_attempt`.
    Retry { error: String, next_attempt: DateTime<Utc> },
    /// Give up with a gap state (`Expired`, `Quarantined`, `Failed`). For `Quarantined`, put the
    /// blob's bytes in `batch.quarantined`.
    Gap { state: BlobState, error: String, batch: IngestBatch },
}

/// Per tenant and content type: the queue's shape right now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStatus {
    pub tenant_id: Uuid,
    pub content_type: String,
    /// Blob counts by state name.
    pub counts: Vec<(String, u64)>,
    /// `contentCreated` of the oldest blob not yet done: the backlog's age.
    pub oldest_waiting: Option<DateTime<Utc>>,
    /// Records stored from this tenant and content type's blobs.
    pub records: u64,
    pub last_error: Option<String>,
}

/// A blob that is a gap, for `status` and the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobGap {
    pub tenant_id: Uuid,
    pub content_type: String,
    pub content_id: String,
    pub content_created: DateTime<Utc>,
    pub state: BlobState,
    pub attempts: u32,
    pub error: String,
    pub at: DateTime<Utc>,
}

/// The blob queue. Implemented by every archive backend, tested by the behaviour suite.
#[async_trait]
pub trait BlobQueue: Send + Sync {
    /// Adds the blobs not yet known (by tenant and `content_id`; a known blob is left as it is,
    /// whatever its state) and writes `cursors`, in one transaction. Returns how many were new.
    async fn announce(
        &self,
        blobs: Vec<AnnouncedBlob>,
        cursors: Vec<(String, String)>,
    ) -> Result<u64, ArchiveError>;

    /// Claims up to `limit` blobs that are pending and due (`next_attempt <= now`) or whose
    /// lease ran out, oldest `contentCreated` first, leasing them until `now + lease`. Safe to
    /// call from several processes at once: no blob is handed to two live leases.
    async fn claim(
        &self,
        limit: u32,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Vec<BlobLease>, ArchiveError>;

    /// Ends an attempt. `Done` stores the records and marks the blob done in one transaction.
    /// Returns `None` and changes nothing when the lease is no longer the holder's.
    async fn settle(
        &self,
        lease: &BlobLease,
        settlement: Settlement,
        now: DateTime<Utc>,
    ) -> Result<Option<IngestReceipt>, ArchiveError>;

    /// The queue per tenant and content type.
    async fn queue_status(&self) -> Result<Vec<QueueStatus>, ArchiveError>;

    /// Blobs in a gap state, newest first.
    async fn blob_gaps(&self, limit: u32) -> Result<Vec<BlobGap>, ArchiveError>;
}
