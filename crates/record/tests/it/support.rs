//! Shared fixtures and helpers: the fixture files, a record builder that changes one field of a
//! complete record, and the view of a record that snapshots show.

use record::{AccessKind, ActivityRecord, EntityKind, ReportCategories};
use serde::Serialize;
use serde_json::{Map, Value};

/// MicrosoftDocs/office-365-management-api issue #134 (masked production record). The published
/// copy ends after `Message`; the tail here (`PrimaryFieldValue` .. `UserUpn`) is completed
/// plausibly and its values are invented: empty text, all-zero GUIDs, `ServiceName`
/// `CrmBackgroundJobs`, `UserUpn` `Unknown`.
pub(crate) const ISSUE_134: &[u8] = include_bytes!("fixtures/issue_134.json");
/// PP-ACTLOG "Example 1": a user reads an Account record (documented as a table; turned into
/// JSON with the documented values, plus `RecordType` 21 and `Workload` `CRM`).
pub(crate) const PP_RETRIEVE: &[u8] = include_bytes!("fixtures/pp_actlog_retrieve.json");
/// PP-ACTLOG "Example 2": a user sees Account records in a grid.
pub(crate) const PP_RETRIEVE_MULTIPLE: &[u8] =
    include_bytes!("fixtures/pp_actlog_retrieve_multiple.json");
/// PP-ACTLOG "Example 3": the five records of a lead conversion, as one blob (times composed).
pub(crate) const PP_LEAD_CONVERSION: &[u8] =
    include_bytes!("fixtures/pp_actlog_lead_conversion.json");
/// Wazuh ruleset test "Office 365 CRM" (`ruleset/testing/tests/office365.ini`): sanitized,
/// `RecordType` as a string, and no `Operation`.
pub(crate) const WAZUH_CRM: &[u8] = include_bytes!("fixtures/wazuh_office365_crm.json");
/// The Management Activity API reference's sample blob (Entra ID logon).
pub(crate) const AAD_LOGON_BLOB: &[u8] = include_bytes!("fixtures/aad_logon_blob.json");
/// The complete CRM record composed in the reference (§3.5) from the documented field list.
pub(crate) const COMPOSED_UPDATE: &[u8] = include_bytes!("fixtures/composed_update.json");

/// The composed complete record as a JSON object, to change one field at a time.
pub(crate) fn composed() -> Map<String, Value> {
    match serde_json::from_slice(COMPOSED_UPDATE).expect("fixture is JSON") {
        Value::Object(map) => map,
        _ => panic!("fixture is an object"),
    }
}

/// The composed record with `key` set to `value`, as bytes.
pub(crate) fn composed_with(key: &str, value: Value) -> Vec<u8> {
    let mut map = composed();
    map.insert(key.to_owned(), value);
    serde_json::to_vec(&map).expect("serializes")
}

/// The composed record without `key`, as bytes.
pub(crate) fn composed_without(key: &str) -> Vec<u8> {
    let mut map = composed();
    map.remove(key);
    serde_json::to_vec(&map).expect("serializes")
}

/// Parses bytes that must be a valid record.
pub(crate) fn parse_ok(bytes: &[u8]) -> ActivityRecord {
    record::parse_record(bytes).unwrap_or_else(|error| panic!("{error}"))
}

/// What a snapshot shows: the normalized record and everything derived from it.
#[derive(Serialize)]
pub(crate) struct Normalized<'a> {
    actor: &'a str,
    sdk_message: Option<&'a str>,
    access_kind: AccessKind,
    entity_kind: Option<EntityKind>,
    report_categories: ReportCategories,
    never_logged: bool,
    search_text: String,
    record: &'a ActivityRecord,
}

/// The snapshot view of a record.
pub(crate) fn normalized(record: &ActivityRecord) -> Normalized<'_> {
    Normalized {
        actor: record.actor(),
        sdk_message: record.sdk_message(),
        access_kind: record.access_kind(),
        entity_kind: record.entity_kind(),
        report_categories: record.report_categories(),
        never_logged: record.sdk_message().is_some_and(record::is_never_logged),
        search_text: record.search_text(),
        record,
    }
}
