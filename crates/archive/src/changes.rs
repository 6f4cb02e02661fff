//! Dataverse audit changes in the archive: the [`ChangeStore`] trait every backend implements
//! beside [`crate::Archive`], for field-level history (old -> new values) from the Dataverse
//! Web API sync and from on-premises `AuditBase` imports.
//!
//! Same rules as activity records: a change is identified by its `auditid`, ingest is
//! idempotent, its verbatim source bytes are kept with their BLAKE3 hash, and named cursors
//! advance in the same transaction as the changes they cover.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{ArchiveError, Quarantined};

/// Where an audit change came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeSource {
    /// The Dataverse Web API of an environment, by its URL (`https://contoso.crm4.dynamics.com`).
    Dataverse { environment: String },
    /// An on-premises `AuditBase` export file (its name and the row's line number).
    AuditBase { file: String, line: u64 },
}

/// One audit change to keep: its verbatim bytes and its decoded form.
#[derive(Debug, Clone)]
pub struct IncomingChange {
    /// The audit row exactly as received (a Web API `audits` element, an `AuditBase` CSV row).
    pub raw_row: Vec<u8>,
    /// The `RetrieveAuditDetails` response exactly as received, when one was fetched.
    pub raw_detail: Option<Vec<u8>>,
    pub source: ChangeSource,
    pub change: record::AuditChange,
}

/// Everything one change-ingest transaction writes. All of it lands, or none of it does.
#[derive(Debug, Clone, Default)]
pub struct ChangeBatch {
    pub changes: Vec<IncomingChange>,
    pub quarantined: Vec<Quarantined>,
    /// Named positions (a Dataverse environment's `createdon` watermark, an import file's
    /// line) that advance with the changes they cover; read back with [`crate::Archive::cursor`].
    pub cursors: Vec<(String, String)>,
}

/// What a change-ingest transaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeReceipt {
    /// Changes stored for the first time.
    pub inserted: u64,
    /// Changes whose `auditid` was already stored (overlap re-scans, re-imports).
    pub duplicates: u64,
    pub quarantined: u64,
}

/// A change as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredChange {
    pub change: record::AuditChange,
    pub source: ChangeSource,
    pub ingested_at: DateTime<Utc>,
    /// BLAKE3 of the raw row followed by the raw detail (when present), hex.
    pub hash: String,
    pub raw_row: Vec<u8>,
    pub raw_detail: Option<Vec<u8>>,
}

/// Totals for `status` and the UI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSummary {
    pub changes: u64,
    pub earliest: Option<DateTime<Utc>>,
    pub latest: Option<DateTime<Utc>>,
}

/// Field-level audit history of Dataverse records.
#[async_trait]
pub trait ChangeStore: Send + Sync + std::fmt::Debug {
    /// Stores a batch in one transaction. Changes whose `auditid` is already stored are counted
    /// as duplicates and not stored again.
    async fn ingest_changes(&self, batch: ChangeBatch) -> Result<ChangeReceipt, ArchiveError>;

    /// Every change of one record (by `objectid`), oldest first (`createdon`, then `auditid`).
    /// With `field`, only changes whose detail names that column (case-insensitive).
    async fn record_changes(
        &self,
        object_id: Uuid,
        field: Option<&str>,
    ) -> Result<Vec<StoredChange>, ArchiveError>;

    /// One change by its `auditid`.
    async fn change(&self, audit_id: Uuid) -> Result<Option<StoredChange>, ArchiveError>;

    async fn change_summary(&self) -> Result<ChangeSummary, ArchiveError>;
}
