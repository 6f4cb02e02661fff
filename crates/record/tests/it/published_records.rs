//! The real records published by Microsoft and others (reference §3.5 and §1.8), parsed end to
//! end, checked field by field and snapshotted.

use std::net::IpAddr;

use record::{
    AccessKind, EntityKind, MalformedKind, ParseNote, RecordType, ReportCategory, UserType,
    parse_blob, parse_record,
};

use crate::support::{
    AAD_LOGON_BLOB, COMPOSED_UPDATE, ISSUE_134, PP_LEAD_CONVERSION, PP_RETRIEVE,
    PP_RETRIEVE_MULTIPLE, WAZUH_CRM, normalized, parse_ok,
};

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().expect("test literal"))
}

#[test]
fn issue_134_masked_production_record() {
    let record = parse_ok(ISSUE_134);
    assert_eq!(record.id, "11111111-42f2-43ca-a38c-1b4c737453c2");
    assert_eq!(record.record_type, RecordType::CRM);
    assert_eq!(record.creation_time.to_rfc3339(), "2019-12-24T06:01:09+00:00");
    assert_eq!(record.operation, "CrmDefaultActivity");
    assert_eq!(record.result_status.as_deref(), Some("Success"));
    assert_eq!(record.user_type, Some(UserType::REGULAR));
    assert_eq!(record.version, Some(1));
    assert_eq!(record.object_id.as_deref(), Some("UpdateRibbonClientMetadata"), "trailing space");
    assert_eq!(record.client_ip.addr, ip("52.163.88.69"));
    assert_eq!(record.client_ip.port, Some(50749));
    assert_eq!(record.client_ip.original.as_deref(), Some("52.163.88.69:50749"));
    assert_eq!(record.actor(), "Unknown");
    assert_eq!(record.sdk_message(), Some("UpdateRibbonClientMetadata"));
    assert_eq!(record.access_kind(), AccessKind::Other);
    assert_eq!(record.entity_name(), None, "EntityName Unknown");
    assert_eq!(record.entity_id(), None, "all-zero EntityId");
    assert_eq!(record.correlation_id(), None, "all-zero CorrelationId");
    assert!(record.fields().is_empty());
    assert!(record.notes.is_empty());
    let dynamics = record.dynamics.as_ref().expect("CRM record");
    assert_eq!(dynamics.organization_unique_name.as_deref(), Some("orgc111a6c1"));
    assert_eq!(dynamics.user_agent.as_deref(), Some("crm-bts-jobs/1.0"));
    assert_eq!(dynamics.item_type.as_deref(), Some("Dynamics365"));
    assert_eq!(
        record.report_categories().iter().collect::<Vec<_>>(),
        [ReportCategory::OtherEntityType]
    );
    insta::assert_json_snapshot!("issue_134", normalized(&record));
}

#[test]
fn documented_example_read_of_an_account() {
    let record = parse_ok(PP_RETRIEVE);
    assert_eq!(record.id, "50e01c88-2e43-4005-8be8-9ceb172e2e90");
    assert_eq!(record.creation_time.to_rfc3339(), "2018-03-02T23:25:56+00:00");
    assert_eq!(record.sdk_message(), Some("Retrieve"));
    assert_eq!(record.access_kind(), AccessKind::Read);
    assert_eq!(record.entity_name(), Some("account"));
    assert_eq!(record.entity_id(), Some("00aa00aa-bb11-cc22-dd33-44ee44ee44ee"));
    assert_eq!(record.entity_kind(), Some(EntityKind::OutOfBox));
    assert!(record.query_result_ids().is_empty(), "QueryResults N/A");
    assert_eq!(record.dynamics.as_ref().and_then(|d| d.query.as_deref()), None, "Query N/A");
    assert_eq!(record.client_ip.original.as_deref(), Some("131.107.XXX.XX"));
    assert_eq!(record.client_ip.addr, None, "masked address");
    assert_eq!(record.notes, [ParseNote::Uninterpreted { field: "ClientIP" }]);
    assert_eq!(
        record.report_categories().iter().collect::<Vec<_>>(),
        [ReportCategory::OutOfBoxEntityAccess]
    );
    insta::assert_json_snapshot!("pp_actlog_retrieve", normalized(&record));
}

#[test]
fn documented_example_grid_of_accounts() {
    let record = parse_ok(PP_RETRIEVE_MULTIPLE);
    assert_eq!(record.access_kind(), AccessKind::ReadMultiple);
    assert_eq!(
        record.query_result_ids(),
        ["00aa00aa-bb11-cc22-dd33-44ee44ee44ee", "dc136b61-6c1e-e811-a952-000d3a732d76"]
    );
    assert_eq!(record.entity_id(), None, "EntityId N/A");
    let dynamics = record.dynamics.as_ref().expect("CRM record");
    assert_eq!(dynamics.item_url, None, "ItemUrl N/A");
    assert!(dynamics.query.as_deref().is_some_and(|query| query.contains("eq-userid")));
    insta::assert_json_snapshot!("pp_actlog_retrieve_multiple", normalized(&record));
}

#[test]
fn documented_example_lead_conversion_blob() {
    let raws = parse_blob(PP_LEAD_CONVERSION).expect("valid blob");
    let records: Vec<_> = raws.iter().map(|raw| raw.parse().expect("valid record")).collect();
    let kinds: Vec<AccessKind> = records.iter().map(|record| record.access_kind()).collect();
    assert_eq!(
        kinds,
        [
            AccessKind::Create,
            AccessKind::Create,
            AccessKind::Update,
            AccessKind::Update,
            AccessKind::Update
        ]
    );
    let entities: Vec<_> = records.iter().map(|record| record.entity_name()).collect();
    assert_eq!(
        entities,
        [Some("contact"), Some("opportunity"), Some("opportunity"), Some("lead"), Some("lead")]
    );
    assert!(records.iter().all(|record| record.entity_kind() == Some(EntityKind::OutOfBox)));
    let views: Vec<_> = records.iter().map(normalized).collect();
    insta::assert_json_snapshot!("pp_actlog_lead_conversion", views);
}

#[test]
fn wazuh_fixture_lacks_operation_and_carries_record_type_as_string() {
    // The sanitized Wazuh fixture has no `Operation`: as published it is not a complete record.
    let error = parse_record(WAZUH_CRM).expect_err("Operation is mandatory");
    assert_eq!(error.kind, MalformedKind::MissingField { field: "Operation" });
    assert_eq!(error.bytes, WAZUH_CRM);

    // With an operation added, everything else in it is readable.
    let text = std::str::from_utf8(WAZUH_CRM).expect("UTF-8");
    let completed = text.replacen('{', r#"{"Operation":"CrmDefaultActivity","#, 1);
    let record = parse_ok(completed.as_bytes());
    assert_eq!(record.record_type, RecordType::CRM, "\"21\" as a string");
    assert_eq!(record.id, "sanitized");
    assert_eq!(record.organization_id.as_deref(), Some("sanitized"));
    assert_eq!(record.actor(), "wazuh@wazuh.com");
    assert_eq!(record.client_ip.addr, None);
    assert_eq!(record.notes, [ParseNote::Uninterpreted { field: "ClientIP" }]);
    insta::assert_json_snapshot!("wazuh_with_operation", normalized(&record));
}

#[test]
fn management_api_reference_sample_logon() {
    let raws = parse_blob(AAD_LOGON_BLOB).expect("valid blob");
    assert_eq!(raws.len(), 1);
    let record = raws[0].parse().expect("valid record");
    assert_eq!(record.record_type, RecordType::AZURE_ACTIVE_DIRECTORY_ACCOUNT_LOGON);
    assert_eq!(record.workload, "AzureActiveDirectory");
    assert_eq!(record.dynamics, None);
    assert_eq!(record.sdk_message(), None);
    assert_eq!(record.access_kind(), AccessKind::Other);
    assert_eq!(record.result_status.as_deref(), Some("failed"));
    assert_eq!(record.client_ip.addr, ip("134.170.188.221"));
    assert_eq!(record.actor(), "admin@contoso.onmicrosoft.com");
    assert!(record.is_sign_in_or_out());
    assert_eq!(record.report_categories().iter().collect::<Vec<_>>(), [ReportCategory::SignInOut]);
    insta::assert_json_snapshot!("aad_logon", normalized(&record));
}

#[test]
fn composed_complete_update() {
    let record = parse_ok(COMPOSED_UPDATE);
    assert_eq!(record.actor(), "alice@contoso.com");
    assert_eq!(record.access_kind(), AccessKind::Update);
    assert_eq!(record.correlation_id(), Some("2b7c1d0e-3f4a-4b5c-8d9e-0f1a2b3c4d5e"));
    let fields: Vec<(&str, Option<&str>)> =
        record.fields().iter().map(|field| (field.name.as_str(), field.value.as_deref())).collect();
    assert_eq!(fields, [("name", Some("Fabrikam")), ("telephone1", Some("*"))]);
    let dynamics = record.dynamics.as_ref().expect("CRM record");
    assert_eq!(dynamics.service_context_id, None, "all-zero");
    assert_eq!(dynamics.service_context_id_type, None, "empty");
    assert_eq!(dynamics.system_user_id.as_deref(), Some("0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"));
    assert_eq!(dynamics.query, None, "null");
    assert!(record.notes.is_empty());
    insta::assert_json_snapshot!("composed_update", normalized(&record));
}

#[test]
fn blob_of_published_records_keeps_each_record_verbatim() {
    let members = [ISSUE_134, PP_RETRIEVE, COMPOSED_UPDATE];
    let mut blob = b"[\n  ".to_vec();
    for (index, member) in members.iter().enumerate() {
        if index > 0 {
            blob.extend_from_slice(b" ,\n\t");
        }
        blob.extend_from_slice(member.trim_ascii());
    }
    blob.extend_from_slice(b"\n]");
    let raws = parse_blob(&blob).expect("valid blob");
    assert_eq!(raws.len(), 3);
    for (raw, member) in raws.iter().zip(members) {
        assert_eq!(raw.bytes(), member.trim_ascii(), "byte-for-byte");
        assert_eq!(raw.parse().expect("valid"), parse_ok(member));
    }
}
