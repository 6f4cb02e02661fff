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

use crate::evidence::Digest;
use crate::{ArchiveError, Finding, Quarantined};

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

    /// The changes one user made (by `_userid_value`) with `since <= createdon < until`, oldest
    /// first (`createdon`, then `auditid`), at most `limit` of them. Backends that cannot
    /// answer it refuse with [`ArchiveError::Storage`].
    async fn user_changes(
        &self,
        user_id: Uuid,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<StoredChange>, ArchiveError> {
        let _ = (user_id, since, until, limit);
        Err(ArchiveError::Storage {
            doing: "listing a user's changes".into(),
            message: "this archive backend does not list changes by user".into(),
        })
    }
}

/// The hash kept with a change: BLAKE3 of the raw row followed by the raw detail (when present).
pub fn change_hash(raw_row: &[u8], raw_detail: Option<&[u8]>) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(raw_row);
    if let Some(detail) = raw_detail {
        hasher.update(detail);
    }
    Digest(*hasher.finalize().as_bytes())
}

/// How a column name is stored and compared by [`ChangeStore::record_changes`]: trimmed, in
/// lower case.
pub fn field_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The columns a change's detail names ([`record::ChangeDetail::Attributes`]: changed, deleted
/// and invalid new-value columns), each once as a [`field_key`], in first-seen order: what
/// [`ChangeStore::record_changes`] filters on.
pub fn changed_fields(change: &record::AuditChange) -> Vec<String> {
    let record::ChangeDetail::Attributes { changes, deleted, invalid_new } = &change.detail else {
        return Vec::new();
    };
    let mut fields: Vec<String> = Vec::new();
    let names = changes
        .iter()
        .chain(deleted)
        .map(|c| c.field.as_str())
        .chain(invalid_new.iter().map(String::as_str));
    for name in names {
        let key = field_key(name);
        if !key.is_empty() && !fields.contains(&key) {
            fields.push(key);
        }
    }
    fields
}

/// The [`Finding`] `verify` reports for a change whose stored bytes no longer match its hash.
pub fn altered_change_finding(audit_id: Uuid) -> Finding {
    Finding::ChangeAltered { audit_id }
}

#[cfg(test)]
mod tests {
    use super::*;
    use record::{AuditAction, AuditChange, AuditOperation, ChangeDetail, FieldChange};

    fn with_detail(detail: ChangeDetail) -> AuditChange {
        AuditChange {
            audit_id: Uuid::from_u128(1),
            created_on: DateTime::from_timestamp(1_780_300_800, 0).unwrap_or_default(),
            action: AuditAction(2),
            operation: AuditOperation(2),
            table: "contact".into(),
            object_id: Some(Uuid::from_u128(2)),
            object_name: None,
            user_id: None,
            user_name: None,
            calling_user_id: None,
            transaction_id: None,
            attribute_mask: vec![],
            detail,
        }
    }

    fn changed(field: &str) -> FieldChange {
        FieldChange { field: field.into(), old: None, new: None }
    }

    #[test]
    fn the_hash_covers_the_row_then_the_detail() {
        let expected = blake3::hash(b"{\"row\":1}{\"detail\":2}");
        assert_eq!(change_hash(b"{\"row\":1}", Some(b"{\"detail\":2}")).0, *expected.as_bytes());
        assert_eq!(change_hash(b"row", None).0, *blake3::hash(b"row").as_bytes());
        // Plain concatenation: the stored lengths tell where the row ends.
        assert_eq!(change_hash(b"ro", Some(b"w")), change_hash(b"row", None));
    }

    #[test]
    fn changed_fields_are_lower_case_once_each_in_order() {
        let detail = ChangeDetail::Attributes {
            changes: vec![changed("Telephone1"), changed("jobtitle"), changed("TELEPHONE1")],
            deleted: vec![changed("new_Legacy")],
            invalid_new: vec!["new_secret".into(), " ".into()],
        };
        assert_eq!(
            changed_fields(&with_detail(detail)),
            ["telephone1", "jobtitle", "new_legacy", "new_secret"]
        );
        assert!(changed_fields(&with_detail(ChangeDetail::None)).is_empty());
        assert_eq!(field_key(" JobTitle "), "jobtitle");
    }
}
