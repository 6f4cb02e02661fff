//! The emulated Dataverse environment for classic audit collection (reference §5): `GET audits`
//! with `$select`, `$filter`, `$orderby`, `$top`, server-driven paging and annotations,
//! `RetrieveAuditDetails`, `GET organizations` and `WhoAmI`, served on its own loopback listener
//! (the environment URL, like `https://contoso.crm.dynamics.com/` in real life), behind the
//! emulated Entra ID (tokens for `resource` = the environment URL), with the service protection
//! limits of §5.7 and switchable faults.
//!
//! The audit rows come from [`AuditHistory`], generated deterministically from the seed over the
//! same world (people, organization, tables, record ids) as the Purview activity; tests use it as
//! the ground truth of a sync.
//!
//! Gap choices (all configurable in [`DataverseConfig`] where they are emulator behaviour):
//! - Log-storage delay: a row is visible `storage_delay` after `createdon` (default 0).
//! - Create rows: empty `OldValue` (only `@odata.type`), created columns in `NewValue`; Delete
//!   rows: last values in `OldValue` (`delete_keeps_old_values`), empty `NewValue`.
//! - `operation` of Share, Associate, role and privilege rows: 2 (Update); of Audit Log
//!   Deletion: 3; user access rows: 4 (documented).
//! - `$orderby` default and ties: `createdon asc`, ties by `auditid` (lowercase hex order).
//! - `$top`: returns at most that many rows (capped at the page size) and no next link.
//! - Annotations on `RetrieveAuditDetails` follow `Prefer: odata.include-annotations` as on
//!   `audits` (none without it).
//! - Error codes: unknown property / unsupported query `0x0` (400, documented for unknown
//!   properties); edited `$skiptoken` `0x80040203` (400); bad or wrong-audience token `0x0`
//!   (401, with `WWW-Authenticate: Bearer authorization_uri=…, resource_id=…`); unknown audit
//!   id and unknown segment `0x8006088a` (404); injected server error `0x80040216` (500).
//! - Service protection: the request window counts admitted requests only, in emulated time;
//!   a concurrency 429 says `Retry-After: 1`.

mod config;
mod history;
mod query;
mod schema;
mod server;
mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use url::Url;

pub use config::{DataverseConfig, DataverseFaults, ServiceProtection};
pub use history::{
    AuditDetail, AuditHistory, AuditRow, AuditValue, EnvironmentInfo, RecordRef, RolePrivilege,
};
pub(crate) use server::dispatch;

/// The path prefix of the Web API (`{environment}api/data/v9.2/`).
pub const API_PATH: &str = "api/data/v9.2/";

/// A row of `GET audits` as the environment sends it with every column (`annotations`: as with
/// `Prefer: odata.include-annotations="*"`).
pub fn row_json(row: &AuditRow, annotations: bool) -> serde_json::Value {
    wire::row_object(row, &[], &wire::Annotations::all(annotations))
}

/// The `RetrieveAuditDetails` response body of a row, for the environment at `environment_url`.
pub fn detail_json(row: &AuditRow, environment_url: &Url, annotations: bool) -> serde_json::Value {
    let root = format!("{environment_url}{API_PATH}");
    wire::detail_response(row, &root, &wire::Annotations::all(annotations))
}

/// The served environment: where it listens, its history and the per-user load.
#[derive(Debug)]
pub(crate) struct Environment {
    /// The environment URL (`http://127.0.0.1:PORT/`), with the trailing slash.
    pub(crate) base: Url,
    pub(crate) history: Arc<AuditHistory>,
    pub(crate) load: Mutex<HashMap<String, server::UserLoad>>,
}

impl Environment {
    pub(crate) fn new(base: Url, history: Arc<AuditHistory>) -> Environment {
        Environment { base, history, load: Mutex::new(HashMap::new()) }
    }

    /// `{base}api/data/v9.2/`.
    pub(crate) fn api_root(&self) -> String {
        format!("{}{API_PATH}", self.base)
    }
}
