//! Dynamics 365 / Dataverse activity records from the Office 365 Management Activity API:
//! tolerant parsing of every record shape seen in the wild, normalization into the domain types
//! the rest of d365audit uses, classification (Read / ReadMultiple / Create / Update / Delete,
//! never-logged messages, Purview report categories, entity kinds), and the grouping of records
//! Microsoft split at 3 KB into one logical event.
//!
//! This crate is pure: no I/O, no clock, no async. It is the only crate that knows Microsoft's
//! record shapes. Input that cannot be read becomes an error value carrying its exact bytes
//! ([`MalformedBlob`], [`MalformedRecord`]); nothing here panics on input.
//!
//! Typical ingest of a content blob:
//!
//! ```
//! let blob = br#"[{"Id":"80c76bd2-9d81-4c57-a97a-accfc3443dca","CreationTime":"2019-12-24T06:01:09",
//!   "RecordType":21,"Operation":"CrmDefaultActivity","Workload":"CRM","UserId":"alice@contoso.com",
//!   "Message":"Retrieve","EntityName":"account","ClientIP":"52.163.88.69:50749"}]"#;
//! for raw in record::parse_blob(blob)? {
//!     match raw.parse() {
//!         Ok(record) => {
//!             assert_eq!(record.actor(), "alice@contoso.com");
//!             assert_eq!(record.access_kind(), record::AccessKind::Read);
//!             // store raw.bytes() verbatim beside the normalized record
//!         }
//!         Err(malformed) => { /* quarantine malformed.bytes with malformed.reason() */ }
//!     }
//! }
//! # Ok::<(), record::MalformedBlob>(())
//! ```

mod activity;
mod change;
mod change_codes;
mod change_wire;
mod classify;
mod client_ip;
mod error;
mod ids;
mod raw;
mod schema;
mod search;
mod split;
mod timestamp;
mod wire;

pub use activity::{
    ActivityRecord, CRM_DEFAULT_ACTIVITY, DynamicsActivity, Field, ParseNote, UNKNOWN_ACTOR,
    parse_record,
};
pub use change::{
    AuditAction, AuditChange, AuditOperation, ChangeDetail, EntityRef, FieldChange, FieldValue,
    RolePrivilege,
};
pub use change_codes::AuditCategory;
pub use change_wire::{AuditPage, parse_audit_detail, parse_audit_row, split_audit_page};
pub use classify::{
    ADMIN_ENTITIES, AccessKind, BULK_MESSAGE_PREFIXES, BULK_MESSAGES, CREATE_MESSAGES,
    DELETE_MESSAGES, EntityKind, MICROSOFT_PUBLISHER_PREFIXES, NEVER_LOGGED_MESSAGES,
    READ_MULTIPLE_PREFIXES, READ_PREFIXES, ReportCategories, ReportCategory, UPDATE_MESSAGES,
    access_kind, entity_kind, is_bulk_message, is_never_logged, report_categories,
};
pub use client_ip::ClientIp;
pub use error::{MalformedBlob, MalformedKind, MalformedRecord, SourcePosition};
pub use raw::{RawRecord, parse_blob, parse_json_lines};
pub use schema::{RecordType, UserType};
pub use split::{LogicalEvent, SPLIT_WINDOW, group_split_records, group_split_records_within};
pub use timestamp::parse_creation_time;
