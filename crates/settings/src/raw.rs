//! The configuration file's layout as serde reads it: every setting optional, unknown keys
//! refused (so a misspelt setting is an error, not a silently ignored line). Validation and
//! defaults are in the crate root.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub(crate) version: Option<i64>,
    pub(crate) archive: Option<String>,
    #[serde(default)]
    pub(crate) collector: RawCollector,
    #[serde(default)]
    pub(crate) webhook: RawWebhook,
    #[serde(default)]
    pub(crate) tenants: BTreeMap<String, RawTenant>,
    #[serde(default)]
    pub(crate) dataverse: BTreeMap<String, RawDataverse>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDataverse {
    pub(crate) url: Option<String>,
    pub(crate) tenant: Option<String>,
    pub(crate) interval: Option<String>,
    pub(crate) overlap: Option<String>,
    pub(crate) page_size: Option<i64>,
    pub(crate) detail_concurrency: Option<i64>,
    pub(crate) since: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCollector {
    pub(crate) poll_interval: Option<String>,
    pub(crate) overlap: Option<String>,
    pub(crate) backfill: Option<String>,
    pub(crate) workers: Option<i64>,
    pub(crate) lease: Option<String>,
    pub(crate) backlog_warning_age: Option<String>,
    pub(crate) max_attempts: Option<i64>,
    pub(crate) retry_delay: Option<String>,
    pub(crate) retry_delay_max: Option<String>,
    pub(crate) shutdown_grace: Option<String>,
    pub(crate) request_attempts: Option<i64>,
    pub(crate) request_backoff: Option<String>,
    pub(crate) request_backoff_max: Option<String>,
    pub(crate) request_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    pub(crate) public_address: Option<String>,
    pub(crate) auth_id_env: Option<String>,
    pub(crate) auth_id_file: Option<String>,
    /// Refused: the authId is a shared secret and never written in the file.
    pub(crate) auth_id: Option<toml::Value>,
    pub(crate) listen: Option<String>,
    pub(crate) max_body_bytes: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTenant {
    pub(crate) tenant_id: Option<String>,
    pub(crate) cloud: Option<String>,
    pub(crate) login_base: Option<String>,
    pub(crate) api_base: Option<String>,
    pub(crate) resource: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret_env: Option<String>,
    pub(crate) client_secret_file: Option<String>,
    /// Refused: secrets are never written in the file.
    pub(crate) client_secret: Option<toml::Value>,
    pub(crate) certificate_file: Option<String>,
    pub(crate) private_key_file: Option<String>,
    pub(crate) certificate_assertion: Option<String>,
    pub(crate) token_endpoint: Option<String>,
    pub(crate) publisher_id: Option<String>,
    pub(crate) content_types: Option<Vec<String>>,
    pub(crate) workloads: Option<RawWorkloads>,
    pub(crate) requests_per_minute: Option<i64>,
    pub(crate) request_burst: Option<i64>,
}

/// `workloads = "all"` or `workloads = ["CRM", "PowerApps"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawWorkloads {
    One(String),
    Many(Vec<String>),
}
