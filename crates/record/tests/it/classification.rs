//! Classification against the documentation's tables and examples: the prefix table, the 25
//! never-logged messages, and the Purview report categories for typical records.

use record::{
    AccessKind, ActivityRecord, EntityKind, NEVER_LOGGED_MESSAGES, ReportCategory, access_kind,
    is_never_logged, parse_blob,
};
use serde_json::json;

use crate::support::{
    AAD_LOGON_BLOB, COMPOSED_UPDATE, ISSUE_134, PP_LEAD_CONVERSION, PP_RETRIEVE,
    PP_RETRIEVE_MULTIPLE, composed, parse_ok,
};

/// A CRM record with the given message, table and extra fields.
fn crm(message: &str, entity: &str, extra: serde_json::Value) -> ActivityRecord {
    let mut map = composed();
    map.insert("Message".into(), json!(message));
    map.insert("EntityName".into(), json!(entity));
    if let serde_json::Value::Object(extra) = extra {
        map.extend(extra);
    }
    parse_ok(&serde_json::to_vec(&map).expect("serializes"))
}

fn categories(record: &ActivityRecord) -> Vec<ReportCategory> {
    record.report_categories().iter().collect()
}

#[test]
fn documented_prefix_table_on_records() {
    let table = [
        ("RetrieveMultiple", AccessKind::ReadMultiple),
        ("ExportToExcel", AccessKind::ReadMultiple),
        ("RollUp", AccessKind::ReadMultiple),
        ("RetrieveEntitiesForAggregateQuery", AccessKind::ReadMultiple),
        ("RetrieveRecordWall", AccessKind::ReadMultiple),
        ("RetrievePersonalWall", AccessKind::ReadMultiple),
        ("ExecuteFetch", AccessKind::ReadMultiple),
        ("Retrieve", AccessKind::Read),
        ("Search", AccessKind::Read),
        ("Get", AccessKind::Read),
        ("Export", AccessKind::Read),
    ];
    for (message, expected) in table {
        assert_eq!(access_kind(message), expected, "{message}");
        assert_eq!(crm(message, "account", json!({})).access_kind(), expected, "{message}");
    }
}

#[test]
fn documented_examples_classify_as_documented() {
    assert_eq!(parse_ok(PP_RETRIEVE).access_kind(), AccessKind::Read);
    assert_eq!(parse_ok(PP_RETRIEVE_MULTIPLE).access_kind(), AccessKind::ReadMultiple);
    let conversion: Vec<AccessKind> = parse_blob(PP_LEAD_CONVERSION)
        .expect("valid")
        .iter()
        .map(|raw| raw.parse().expect("valid").access_kind())
        .collect();
    assert_eq!(conversion.iter().filter(|kind| **kind == AccessKind::Create).count(), 2);
    assert_eq!(conversion.iter().filter(|kind| **kind == AccessKind::Update).count(), 3);
}

#[test]
fn never_logged_messages_are_the_documented_25() {
    assert_eq!(NEVER_LOGGED_MESSAGES.len(), 25);
    for message in NEVER_LOGGED_MESSAGES {
        assert!(is_never_logged(message), "{message}");
        let record = crm(message, "Unknown", json!({}));
        assert_eq!(record.sdk_message(), Some(message));
    }
    for message in ["Retrieve", "RetrieveMultiple", "ExportToExcel", "UpdateRibbonClientMetadata"] {
        assert!(!is_never_logged(message), "{message}");
    }
}

#[test]
fn entity_access_reports() {
    assert_eq!(categories(&parse_ok(COMPOSED_UPDATE)), [ReportCategory::OutOfBoxEntityAccess]);
    assert_eq!(
        categories(&crm("Retrieve", "new_project", json!({}))),
        [ReportCategory::CustomEntityAccess]
    );
    assert_eq!(
        categories(&crm("Retrieve", "msdyn_workorder", json!({}))),
        [ReportCategory::OutOfBoxEntityAccess]
    );
    assert_eq!(
        categories(&crm("Update", "systemuser", json!({}))),
        [ReportCategory::AdminEntityAccess]
    );
    assert_eq!(categories(&parse_ok(ISSUE_134)), [ReportCategory::OtherEntityType]);
}

#[test]
fn bulk_actions_also_count_as_entity_access() {
    let export = crm("ExportToExcel", "account", json!({}));
    assert_eq!(export.access_kind(), AccessKind::ReadMultiple);
    assert!(export.is_bulk());
    assert_eq!(
        categories(&export),
        [ReportCategory::OutOfBoxEntityAccess, ReportCategory::BulkActions]
    );
    let bulk_delete = crm("BulkDelete", "bulkdeleteoperation", json!({}));
    assert_eq!(
        categories(&bulk_delete),
        [ReportCategory::AdminEntityAccess, ReportCategory::BulkActions]
    );
    assert!(crm("ImportRecordsImport", "import", json!({})).is_bulk());
    assert!(!crm("Delete", "account", json!({})).is_bulk());
}

#[test]
fn process_and_plug_in_activation() {
    for (message, entity) in [
        ("SetState", "workflow"),
        ("Update", "sdkmessageprocessingstep"),
        ("Create", "pluginassembly"),
        ("ExecuteWorkflow", "account"),
    ] {
        let record = crm(message, entity, json!({}));
        assert!(
            record.report_categories().contains(ReportCategory::ProcessOrPluginActivation),
            "{message} on {entity}"
        );
    }
    let activation = crm("SetState", "workflow", json!({}));
    assert_eq!(
        categories(&activation),
        [ReportCategory::AdminEntityAccess, ReportCategory::ProcessOrPluginActivation]
    );
    let read = crm("Retrieve", "workflow", json!({}));
    assert!(!read.report_categories().contains(ReportCategory::ProcessOrPluginActivation));
}

#[test]
fn internal_tool_admin_center_and_sign_in() {
    let support_engineer = crm("Retrieve", "account", json!({"UserType": 3}));
    assert_eq!(
        categories(&support_engineer),
        [ReportCategory::OutOfBoxEntityAccess, ReportCategory::InternalManagementTool]
    );

    let admin_center = parse_ok(
        br#"{"Id":"a","CreationTime":"2026-06-01T10:00:00","RecordType":256,
            "Operation":"EnvironmentPropertyChange","Workload":"PowerPlatform","UserId":"admin@contoso.com"}"#,
    );
    assert_eq!(admin_center.dynamics, None);
    assert_eq!(categories(&admin_center), [ReportCategory::AdminCenter]);

    let aad = parse_blob(AAD_LOGON_BLOB).expect("valid")[0].parse().expect("valid");
    assert_eq!(categories(&aad), [ReportCategory::SignInOut]);
    let sts = parse_ok(
        br#"{"Id":"b","CreationTime":"2026-06-01T10:00:00","RecordType":15,
            "Operation":"UserLoggedIn","Workload":"AzureActiveDirectory"}"#,
    );
    assert!(sts.is_sign_in_or_out());
}

#[test]
fn every_crm_record_is_in_exactly_one_entity_report() {
    let entity_reports = [
        ReportCategory::OutOfBoxEntityAccess,
        ReportCategory::CustomEntityAccess,
        ReportCategory::AdminEntityAccess,
        ReportCategory::OtherEntityType,
    ];
    let mut records = vec![
        parse_ok(ISSUE_134),
        parse_ok(PP_RETRIEVE),
        parse_ok(PP_RETRIEVE_MULTIPLE),
        parse_ok(COMPOSED_UPDATE),
    ];
    for entity in ["account", "new_x", "role", "Unknown", "workflow", "adx_webpage"] {
        records.push(crm("Update", entity, json!({})));
    }
    for record in &records {
        let set = record.report_categories();
        let count = entity_reports.iter().filter(|category| set.contains(**category)).count();
        assert_eq!(count, 1, "{} {:?}", record.id, record.entity_name());
        let expected_kind = record.entity_kind();
        let expected = match expected_kind {
            Some(EntityKind::OutOfBox) => ReportCategory::OutOfBoxEntityAccess,
            Some(EntityKind::Custom) => ReportCategory::CustomEntityAccess,
            Some(EntityKind::Admin) => ReportCategory::AdminEntityAccess,
            None => ReportCategory::OtherEntityType,
        };
        assert!(set.contains(expected));
    }
}
