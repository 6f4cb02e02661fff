//! Dataverse classic auditing: the Web API client for the `audit` table and
//! `RetrieveAuditDetails`, the incremental sync into the archive's [`archive::ChangeStore`], the
//! decoding of on-premises `AuditBase` rows (`AttributeMask`, `ChangeData`), and restore plans.

pub mod auditbase;
pub mod client;
pub mod restore;
pub mod sync;
