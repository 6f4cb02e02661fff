//! Dataverse classic auditing: the Web API client for the `audit` table and
//! `RetrieveAuditDetails`, the incremental sync into the archive's [`archive::ChangeStore`], the
//! decoding of on-premises `AuditBase` rows (`AttributeMask`, `ChangeData`), and restore plans.

pub mod auditbase;
pub mod client;
pub mod error;
pub mod restore;
pub mod sync;

pub use client::{
    API_VERSION, AUDIT_COLUMNS, AuditDetails, AuditQuery, AuditsPage, DataverseClient,
    DataverseSettings, MAX_CONCURRENCY, MAX_PAGE_SIZE, OrganizationSettings,
};
pub use error::{DataverseError, Operation, ServiceMessage};
pub use sync::{
    DetailPolicy, SyncCounts, SyncError, SyncOptions, SyncProgress, SyncSummary, cursor_name,
    no_progress, sync_environment, sync_every, wants_detail,
};
/// Re-exported so callers can cancel syncs without depending on `tokio-util` themselves.
pub use tokio_util::sync::CancellationToken;
