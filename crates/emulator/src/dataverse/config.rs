//! Settings of the emulated Dataverse environment (listener, which organization of the world it
//! is, audit volume, Gap choices, service protection limits) and its run-time faults.

use std::net::{Ipv4Addr, SocketAddr};

use chrono::Duration;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::durations::{chrono_text, std_text};

/// The Dataverse environment the emulator serves on its own listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataverseConfig {
    /// Where the environment listens (default `127.0.0.1:0`, a fresh port).
    pub listen: SocketAddr,
    /// The tenant whose world the environment belongs to (default: the first tenant).
    pub tenant: Option<Uuid>,
    /// Which organization of that tenant's world the environment is (index, default 0).
    pub organization: usize,
    /// Mean audited changes (creates, updates, deletes, shares, associations) per person on a
    /// working day. Admin, user-access and settings rows come on top.
    pub changes_per_user_day: f64,
    /// Gap (log storage): an audit row becomes visible in `audits` only this long after its
    /// `createdon`, so collectors must re-read an overlap window. Default 0 (visible at once);
    /// real environments show delays of minutes.
    #[serde(with = "chrono_text")]
    pub storage_delay: Duration,
    /// Gap: whether a Delete row's `OldValue` carries the record's last values (default true);
    /// when false, both `OldValue` and `NewValue` are empty. A Create row always has an empty
    /// `OldValue` (just `@odata.type`) and the created columns in `NewValue`.
    pub delete_keeps_old_values: bool,
    /// `organizations.isauditenabled`.
    pub audit_enabled: bool,
    /// `organizations.auditretentionperiodv2` at the start of the history (days, -1 = forever);
    /// "Audit Change at Org Level" rows change it later.
    pub retention_days: i32,
    /// `organizations.useraccessauditinginterval` (hours): at most one "User Access via Web" row
    /// per user per interval.
    pub user_access_interval_hours: i32,
    /// Largest page (`Prefer: odata.maxpagesize`, documented maximum 5000, also the default).
    pub max_page_size: usize,
    pub limits: ServiceProtection,
}

impl Default for DataverseConfig {
    fn default() -> Self {
        DataverseConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tenant: None,
            organization: 0,
            changes_per_user_day: 30.0,
            storage_delay: Duration::zero(),
            delete_keeps_old_values: true,
            audit_enabled: true,
            retention_days: 30,
            user_access_interval_hours: 4,
            max_page_size: 5000,
            limits: ServiceProtection::default(),
        }
    }
}

/// Service protection limits (reference §5.7), per user (application user = client id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceProtection {
    /// Requests per sliding window (documented default 6000).
    pub requests_per_window: u32,
    /// The sliding window, in emulated time (documented 300 s).
    #[serde(with = "chrono_text")]
    pub window: Duration,
    /// Requests in flight at once (documented default 52).
    pub concurrent_requests: u32,
    /// Gap: `Retry-After` of a concurrency 429 (the service does not document it); default 1 s.
    pub concurrency_retry_after_seconds: u64,
}

impl Default for ServiceProtection {
    fn default() -> Self {
        ServiceProtection {
            requests_per_window: 6000,
            window: Duration::seconds(300),
            concurrent_requests: 52,
            concurrency_retry_after_seconds: 1,
        }
    }
}

/// Faults of the Dataverse environment, switchable at run time as `Faults::dataverse`
/// (`PUT /_emulator/faults` with `{"dataverse": {...}}`). Revoked tokens: use
/// `RunningEmulator::revoke_tokens` / `POST /_emulator/revoke-tokens` (answered 401).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataverseFaults {
    /// The next N requests get 429 `0x80072322` with `Retry-After: throttle_retry_after_seconds`.
    pub throttle_next: u32,
    pub throttle_retry_after_seconds: u64,
    /// The next N requests get 500 `0x80040216` ("An unexpected error occurred.").
    pub server_error_next: u32,
    /// The next N requests that carry a `$skiptoken` (following `@odata.nextLink`) get 500;
    /// repeating the same link afterwards works.
    pub next_link_failures: u32,
    /// `RetrieveAuditDetails` of these audit ids answers 200 with truncated JSON.
    pub malformed_detail_ids: Vec<Uuid>,
    /// Share of audit ids (chosen from the seed and the id) whose detail is truncated JSON.
    pub malformed_detail_fraction: f64,
    /// Every request takes at least this long in real time (to provoke the concurrency limit).
    #[serde(with = "std_text")]
    pub response_delay: std::time::Duration,
}

impl Default for DataverseFaults {
    fn default() -> Self {
        DataverseFaults {
            throttle_next: 0,
            throttle_retry_after_seconds: 5,
            server_error_next: 0,
            next_link_failures: 0,
            malformed_detail_ids: Vec::new(),
            malformed_detail_fraction: 0.0,
            response_delay: std::time::Duration::ZERO,
        }
    }
}
