//! The normalized columns every backend stores and indexes for one record, derived from the
//! `record` crate's domain type in one place so that all backends index the same things.
//!
//! Only what a query filters, sorts or groups on becomes a column. Everything else a detail view
//! shows (fields' full list, query text, user agent, item URL, unknown fields) is read back from
//! the verbatim bytes, which every backend keeps anyway.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The indexed projection of one activity record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordColumns {
    /// The record's `Id` as Microsoft sent it (lower-cased when it is a GUID).
    pub id: String,
    pub time: DateTime<Utc>,
    pub record_type: u16,
    pub workload: String,
    pub operation: String,
    /// The tenant (`OrganizationId`).
    pub tenant_id: Option<Uuid>,
    /// The person or account as auditors read it.
    pub user: String,
    pub system_user_id: Option<Uuid>,
    /// Organization unique name, else the instance host.
    pub organization: Option<String>,
    pub entity: Option<String>,
    pub entity_id: Option<Uuid>,
    pub message: Option<String>,
    /// `read`, `read_multiple`, `create`, `update`, `delete` or `other`.
    pub access: &'static str,
    /// Bit set of [`CATEGORIES`].
    pub categories: u32,
    pub client_ip: Option<String>,
    pub primary_field_value: Option<String>,
    pub correlation_id: Option<Uuid>,
    pub result_status: Option<String>,
    /// Records listed in `QueryResults` (GUIDs only; other tokens stay in the verbatim bytes).
    pub listed: Vec<Uuid>,
    /// Fields created or updated: (name, value).
    pub fields: Vec<(String, String)>,
}

/// Access kinds in storage order: the stored code is the index.
pub const ACCESS_KINDS: &[&str] = &["other", "read", "read_multiple", "create", "update", "delete"];

/// Purview report categories; bit `i` of [`RecordColumns::categories`] is `CATEGORIES[i]`.
pub const CATEGORIES: &[&str] = &[
    "out_of_box_entity",
    "custom_entity",
    "admin_entity",
    "bulk_actions",
    "other_entity_type",
    "admin_center",
    "internal_management_tool",
    "sign_in_out",
    "process_or_plugin_activation",
];

/// The stored code of an access kind.
pub fn access_code(kind: &str) -> i64 {
    ACCESS_KINDS.iter().position(|k| *k == kind).unwrap_or(0) as i64
}

/// The access kind of a stored code.
pub fn access_name(code: i64) -> &'static str {
    usize::try_from(code).ok().and_then(|i| ACCESS_KINDS.get(i)).copied().unwrap_or("other")
}

/// The bit of a category name, if it is one.
pub fn category_bit(name: &str) -> Option<u32> {
    CATEGORIES.iter().position(|c| *c == name).map(|i| 1 << i)
}

/// The names of the categories in a bit set.
pub fn category_names(bits: u32) -> Vec<String> {
    CATEGORIES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, name)| (*name).to_string())
        .collect()
}

/// Derives the indexed columns of a parsed record. GUID-valued fields that do not parse as
/// GUIDs are left out of the columns (they stay in the verbatim bytes).
pub fn from_activity(record: &record::ActivityRecord) -> RecordColumns {
    let dynamics = record.dynamics.as_ref();
    let guid = |text: Option<&str>| text.and_then(|t| Uuid::parse_str(t.trim()).ok());
    let non_empty =
        |text: Option<&str>| text.map(str::trim).filter(|t| !t.is_empty()).map(str::to_string);
    let organization = dynamics.and_then(|d| {
        non_empty(d.organization_unique_name.as_deref())
            .or_else(|| d.instance_url.as_deref().and_then(instance_host))
    });
    let mut categories = 0u32;
    for category in record.report_categories().iter() {
        categories |= 1 << (category as u32);
    }
    RecordColumns {
        id: normalize_id(&record.id),
        time: record.creation_time,
        record_type: record.record_type.0,
        workload: record.workload.clone(),
        operation: record.operation.clone(),
        tenant_id: guid(record.organization_id.as_deref()),
        user: record.actor().to_string(),
        system_user_id: guid(dynamics.and_then(|d| d.system_user_id.as_deref())),
        organization,
        entity: record.entity_name().map(|e| e.trim().to_ascii_lowercase()),
        entity_id: guid(record.entity_id()).filter(|id| !id.is_nil()),
        message: non_empty(record.sdk_message()),
        access: access_str(record.access_kind()),
        categories,
        client_ip: record.client_ip.addr.map(|ip| ip.to_string()),
        primary_field_value: non_empty(dynamics.and_then(|d| d.primary_field_value.as_deref())),
        correlation_id: guid(record.correlation_id()).filter(|id| !id.is_nil()),
        result_status: non_empty(record.result_status.as_deref()),
        listed: record.query_result_ids().iter().filter_map(|id| guid(Some(id))).collect(),
        fields: record
            .fields()
            .iter()
            .map(|f| (f.name.clone(), f.value.clone().unwrap_or_default()))
            .collect(),
    }
}

/// Record ids are GUIDs in practice; one GUID in any case or brace style is one record.
pub fn normalize_id(id: &str) -> String {
    let trimmed = id.trim();
    match Uuid::parse_str(trimmed.trim_matches(|c| c == '{' || c == '}')) {
        Ok(guid) => guid.to_string(),
        Err(_) => trimmed.to_string(),
    }
}

fn access_str(kind: record::AccessKind) -> &'static str {
    match kind {
        record::AccessKind::Read => "read",
        record::AccessKind::ReadMultiple => "read_multiple",
        record::AccessKind::Create => "create",
        record::AccessKind::Update => "update",
        record::AccessKind::Delete => "delete",
        record::AccessKind::Other => "other",
    }
}

fn instance_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next()?.trim();
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}
