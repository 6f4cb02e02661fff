//! The archive: the [`Archive`] trait every storage backend implements, the query model shared by
//! the CLI, the REST API and the web UI, and the evidence scheme (record hashes, sealed batches,
//! the hash chain) that makes tampering visible.
//!
//! Backends live in their own crates (`archive-sqlite`, `archive-postgres`), each with its own
//! migrations, and all pass the behaviour suite in [`suite`] (feature `suite`).

pub mod access;
pub mod changes;
pub mod columns;
pub mod evidence;
pub mod query;
pub mod queue;
#[cfg(feature = "suite")]
pub mod suite;
#[cfg(feature = "suite")]
pub mod suite_changes;
#[cfg(feature = "suite")]
pub mod suite_ops;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use access::{
    AccessEntry, AccessStore, Account, AccountChange, ApiToken, NewAccount, Role, Session,
    SqlConsole, SqlLimits, SqlResult,
};
pub use changes::{
    ChangeBatch, ChangeReceipt, ChangeSource, ChangeStore, ChangeSummary, IncomingChange,
    StoredChange,
};
pub use evidence::{Finding, VerifyReport};
pub use query::{Bucket, Dimension, Order, PageCursor, PageRequest, RecordQuery};
pub use queue::{
    AnnouncedBlob, BlobGap, BlobLease, BlobQueue, BlobState, Discovery, QueueStatus, Settlement,
};

/// One record to keep: its verbatim bytes as received and its parsed form.
#[derive(Debug, Clone)]
pub struct IncomingRecord {
    pub raw: Vec<u8>,
    pub record: record::ActivityRecord,
}

/// Input that could not be parsed, kept with its bytes so nothing is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    /// Where it came from: a file and line, a content blob id, ...
    pub source: String,
    /// Why it was refused, in words a person can act on.
    pub reason: String,
    pub raw: Vec<u8>,
}

/// Everything one ingest transaction writes. All of it lands, or none of it does.
#[derive(Debug, Clone, Default)]
pub struct IngestBatch {
    pub records: Vec<IncomingRecord>,
    pub quarantined: Vec<Quarantined>,
    /// Named positions (e.g. a listing cursor, an import file's offset) that advance with the
    /// records they cover.
    pub cursors: Vec<(String, String)>,
}

/// What an ingest transaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReceipt {
    /// Records stored for the first time.
    pub inserted: u64,
    /// Records whose `Id` was already stored (Microsoft duplicates by design).
    pub duplicates: u64,
    /// Of the duplicates, those whose bytes differ from the stored record's: the first stays
    /// the record, the variant's bytes are kept beside it as evidence.
    pub variants: u64,
    pub quarantined: u64,
    /// The seal this batch received, if it inserted anything.
    pub sealed_batch: Option<u64>,
}

/// How a record matched a `record:` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The event is about the record (`EntityId`).
    Entity,
    /// The record was in the results of a RetrieveMultiple / export (`QueryResults`).
    QueryResults,
}

/// One row of a search result: the normalized columns an auditor scans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSummary {
    /// Archive sequence number (insertion order).
    pub seq: i64,
    pub id: String,
    pub time: DateTime<Utc>,
    pub record_type: u16,
    pub workload: String,
    pub operation: String,
    /// The person or account, as auditors read it (UPN when known).
    pub user: String,
    pub system_user_id: Option<Uuid>,
    pub organization: Option<String>,
    pub entity: Option<String>,
    pub entity_id: Option<Uuid>,
    pub message: Option<String>,
    pub access: String,
    pub categories: Vec<String>,
    pub client_ip: Option<String>,
    pub primary_field_value: Option<String>,
    pub correlation_id: Option<Uuid>,
    pub result_status: Option<String>,
    pub item_url: Option<String>,
    /// Set when the query had a `record:` filter.
    pub via: Option<Via>,
}

/// A record in full: the summary, the detail columns, and the verbatim bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    pub summary: RecordSummary,
    pub fields: Vec<(String, String)>,
    pub query: Option<String>,
    pub query_results: Vec<String>,
    pub user_agent: Option<String>,
    pub ingested_at: DateTime<Utc>,
    pub batch: u64,
    /// BLAKE3 of `raw`, hex.
    pub hash: String,
    pub raw: Vec<u8>,
}

/// A page of results and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub next: Option<PageCursor>,
}

/// The verbatim bytes of one record, for exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub id: String,
    pub time: DateTime<Utc>,
    pub raw: Vec<u8>,
}

/// Totals for `status` and the UI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveSummary {
    pub records: u64,
    pub quarantined: u64,
    pub batches: u64,
    pub earliest: Option<DateTime<Utc>>,
    pub latest: Option<DateTime<Utc>>,
    /// Sum of the verbatim records' sizes.
    pub raw_bytes: u64,
    /// What the archive occupies on disk (or in the database), indexes included.
    pub stored_bytes: u64,
}

/// Why an archive operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The query cannot run as written; the message says what to change.
    #[error(transparent)]
    InvalidQuery(#[from] query::QueryError),
    /// The archive cannot be reached or opened; retrying may help.
    #[error("the archive is unavailable: {message}")]
    Unavailable { message: String },
    /// The archive's schema is newer than this program or otherwise unusable.
    #[error("the archive cannot be used: {message}")]
    Incompatible { message: String },
    /// Stored data is inconsistent (e.g. a record that does not decompress).
    #[error("the archive holds inconsistent data: {message}")]
    Corrupt { message: String },
    /// Any other storage failure.
    #[error("storage failed while {doing}: {message}")]
    Storage { doing: String, message: String },
}

impl ArchiveError {
    /// Whether the same call may succeed later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, ArchiveError::Unavailable { .. })
    }
}

/// An archive of Dynamics 365 activity records. Implementations are cheap to clone handles.
#[async_trait]
pub trait Archive: Send + Sync + std::fmt::Debug {
    /// Stores a batch in one transaction. Records whose `Id` is already stored are counted as
    /// duplicates and not stored again; the inserted ones are sealed into the hash chain.
    async fn ingest(&self, batch: IngestBatch) -> Result<IngestReceipt, ArchiveError>;

    /// One page of records matching `query`.
    async fn search(
        &self,
        query: &RecordQuery,
        page: &PageRequest,
    ) -> Result<Page<RecordSummary>, ArchiveError>;

    /// How many records match `query`.
    async fn count(&self, query: &RecordQuery) -> Result<u64, ArchiveError>;

    /// Counts of matching records grouped by `by`, largest first (time dimensions in time
    /// order), at most `limit` buckets.
    async fn aggregate(
        &self,
        query: &RecordQuery,
        by: Dimension,
        limit: u32,
    ) -> Result<Vec<Bucket>, ArchiveError>;

    /// One record in full by its `Id`.
    async fn record(&self, id: &str) -> Result<Option<StoredRecord>, ArchiveError>;

    /// One page of verbatim records matching `query`, for exports.
    async fn raw_page(
        &self,
        query: &RecordQuery,
        page: &PageRequest,
    ) -> Result<Page<RawRecord>, ArchiveError>;

    /// Quarantined input, newest first.
    async fn quarantined(&self, limit: u32) -> Result<Vec<Quarantined>, ArchiveError>;

    /// The value of a named cursor written by [`IngestBatch::cursors`].
    async fn cursor(&self, name: &str) -> Result<Option<String>, ArchiveError>;

    /// Re-reads every record and seal and reports what does not match.
    async fn verify(&self) -> Result<VerifyReport, ArchiveError>;

    async fn summary(&self) -> Result<ArchiveSummary, ArchiveError>;
}
