//! Dataverse audit data from the Web API: the reference's example `audits` row and
//! `RetrieveAuditDetails` response, every detail type (composed from the documented shapes),
//! annotations, lookups, nulls, deleted columns, malformed input, page splitting with exact
//! bytes, and the `action` / `operation` code tables.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use record::{
    AuditAction, AuditCategory, AuditChange, AuditOperation, ChangeDetail, EntityRef, FieldChange,
    FieldValue, MalformedKind, RolePrivilege, parse_audit_detail, parse_audit_row,
    split_audit_page,
};
use serde_json::json;
use uuid::Uuid;

fn guid(text: &str) -> Uuid {
    Uuid::parse_str(text).expect("test GUID")
}

/// The one row of the reference's example response (§5.1), verbatim.
const REFERENCE_ROW: &str = r#"{"_objectid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"contact",
   "_objectid_value":"0e76dc8a-41b5-ec11-983f-0022482bf046",
   "objecttypecode@OData.Community.Display.V1.FormattedValue":"Contact","objecttypecode":"contact",
   "createdon@OData.Community.Display.V1.FormattedValue":"5/12/2022 3:19 PM","createdon":"2022-05-12T22:19:12Z",
   "_userid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"systemuser",
   "_userid_value@OData.Community.Display.V1.FormattedValue":"FirstName LastName",
   "_userid_value":"4026be43-6b69-e111-8f65-78e7d1620f5e",
   "transactionid":"00000000-0000-0000-0000-000000000000",
   "attributemask":"47,45,42,298,96,..."}"#;

/// The reference's example `RetrieveAuditDetails` response (§5.3), verbatim.
const REFERENCE_DETAIL: &str = r##"{"@odata.context":"[Org URI]/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.RetrieveAuditDetailsResponse",
 "AuditDetail":{"@odata.type":"#Microsoft.Dynamics.CRM.AttributeAuditDetail",
   "InvalidNewValueAttributes":[],"LocLabelLanguageCode":0,
   "DeletedAttributes":{"Count":0,"Keys":[],"Values":[]},
   "OldValue":{"@odata.type":"#Microsoft.Dynamics.CRM.account"},
   "NewValue":{"@odata.type":"#Microsoft.Dynamics.CRM.account",
     "_parentaccountid_value@OData.Community.Display.V1.FormattedValue":"A. Datum Corporation",
     "_parentaccountid_value@Microsoft.Dynamics.CRM.associatednavigationproperty":"parentaccountid",
     "_parentaccountid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"account",
     "_parentaccountid_value":"d249d106-38b5-ec11-983f-002248296cd0"}}}"##;

/// A complete row as the sync requests it (all columns, annotations on).
const FULL_ROW: &str = r#"{
  "@odata.etag": "W/\"1234\"",
  "auditid": "7a8d1c1e-5d2f-ec11-b6e6-000d3a5b1234",
  "action": 2, "action@OData.Community.Display.V1.FormattedValue": "Update",
  "operation": 2, "operation@OData.Community.Display.V1.FormattedValue": "Update",
  "createdon": "2024-03-01T09:15:30.1234567+01:00",
  "objecttypecode": "account",
  "_objectid_value": "D249D106-38B5-EC11-983F-002248296CD0",
  "_objectid_value@OData.Community.Display.V1.FormattedValue": "A. Datum Corporation",
  "_objectid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "account",
  "_userid_value": "4026be43-6b69-e111-8f65-78e7d1620f5e",
  "_userid_value@OData.Community.Display.V1.FormattedValue": "Alice Example",
  "_callinguserid_value": "{11111111-2222-3333-4444-555555555555}",
  "transactionid": "9f0e7c3a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
  "attributemask": ",47, 45,,42,",
  "useradditionalinfo": null,
  "_regardingobjectid_value": null
}"#;

#[test]
fn reference_row_without_auditid_is_refused() {
    // The documented example is trimmed to the four selected columns, so it has no `auditid`
    // (Dataverse returns the primary key with every row): without it the archive cannot dedupe.
    let error = parse_audit_row(REFERENCE_ROW.as_bytes()).expect_err("no auditid");
    assert_eq!(error.kind, MalformedKind::MissingField { field: "auditid" });
    assert_eq!(error.bytes, REFERENCE_ROW.as_bytes());
}

fn reference_row_with_id() -> String {
    REFERENCE_ROW.replacen('{', r#"{"auditid":"4b6f1a3e-5d2f-ec11-b6e6-000d3a5b9999","#, 1)
}

#[test]
fn reference_example_row_with_its_id() {
    let change = parse_audit_row(reference_row_with_id().as_bytes()).expect("documented row");
    assert_eq!(change.audit_id, guid("4b6f1a3e-5d2f-ec11-b6e6-000d3a5b9999"));
    assert_eq!(change.created_on, Utc.with_ymd_and_hms(2022, 5, 12, 22, 19, 12).unwrap());
    assert_eq!(change.action, AuditAction(0));
    assert_eq!(change.action.label(), "Unknown");
    assert_eq!(change.operation, AuditOperation(0));
    assert_eq!(change.table, "contact");
    assert_eq!(change.object_id, Some(guid("0e76dc8a-41b5-ec11-983f-0022482bf046")));
    assert_eq!(change.object_name, None);
    assert_eq!(change.user_id, Some(guid("4026be43-6b69-e111-8f65-78e7d1620f5e")));
    assert_eq!(change.user_name.as_deref(), Some("FirstName LastName"));
    assert_eq!(change.calling_user_id, None);
    assert_eq!(change.transaction_id, None, "the all-zero GUID means none");
    assert_eq!(change.attribute_mask, [47, 45, 42, 298, 96], "the `...` part is skipped");
    assert_eq!(change.detail, ChangeDetail::None);
}

#[test]
fn full_row_with_annotations() {
    let change = parse_audit_row(FULL_ROW.as_bytes()).expect("complete row");
    assert_eq!(
        change,
        AuditChange {
            audit_id: guid("7a8d1c1e-5d2f-ec11-b6e6-000d3a5b1234"),
            created_on: Utc.with_ymd_and_hms(2024, 3, 1, 8, 15, 30).unwrap()
                + chrono::Duration::nanoseconds(123_456_700),
            action: AuditAction(2),
            operation: AuditOperation(2),
            table: "account".into(),
            object_id: Some(guid("d249d106-38b5-ec11-983f-002248296cd0")),
            object_name: Some("A. Datum Corporation".into()),
            user_id: Some(guid("4026be43-6b69-e111-8f65-78e7d1620f5e")),
            user_name: Some("Alice Example".into()),
            calling_user_id: Some(guid("11111111-2222-3333-4444-555555555555")),
            transaction_id: Some(guid("9f0e7c3a-1b2c-4d5e-8f90-a1b2c3d4e5f6")),
            attribute_mask: vec![47, 45, 42],
            detail: ChangeDetail::None,
        }
    );
    assert_eq!(change.category(), AuditCategory::RowEvent);
}

#[test]
fn row_without_annotations_or_table() {
    let plain =
        br#"{"auditid":"7a8d1c1e-5d2f-ec11-b6e6-000d3a5b1234","createdon":"2024-03-01T09:15:30Z",
        "action":64,"operation":4,"_objectid_value":"4026be43-6b69-e111-8f65-78e7d1620f5e",
        "_userid_value":"4026be43-6b69-e111-8f65-78e7d1620f5e","_callinguserid_value":null,
        "transactionid":null,"attributemask":null}"#;
    let change = parse_audit_row(plain).expect("plain row");
    assert_eq!(change.table, "");
    assert_eq!(change.action.category(), AuditCategory::UserAccess);
    assert_eq!(change.operation.label(), "Access");
    assert_eq!(change.object_name, None);
    assert_eq!(change.user_name, None);
    assert_eq!(change.calling_user_id, None);
    assert_eq!(change.transaction_id, None);
    assert!(change.attribute_mask.is_empty());

    // Without `objecttypecode` the lookup annotation names the table.
    let annotated =
        br#"{"auditid":"7a8d1c1e-5d2f-ec11-b6e6-000d3a5b1234","createdon":"2024-03-01T09:15:30Z",
        "_objectid_value":"0e76dc8a-41b5-ec11-983f-0022482bf046",
        "_objectid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"contact"}"#;
    assert_eq!(parse_audit_row(annotated).expect("row").table, "contact");
}

#[test]
fn choice_values_as_strings_or_null_and_odd_guids() {
    let row =
        br#"{"auditid":"{7A8D1C1E-5D2F-EC11-B6E6-000D3A5B1234}","createdon":"2024-03-01 09:15:30",
        "action":"14","operation":null,"_objectid_value":"not a guid","_userid_value":42}"#;
    let change = parse_audit_row(row).expect("tolerated");
    assert_eq!(change.audit_id, guid("7a8d1c1e-5d2f-ec11-b6e6-000d3a5b1234"));
    assert_eq!(change.created_on, Utc.with_ymd_and_hms(2024, 3, 1, 9, 15, 30).unwrap());
    assert_eq!(change.action, AuditAction(14));
    assert_eq!(change.action.category(), AuditCategory::Sharing);
    assert_eq!(change.operation, AuditOperation(0));
    assert_eq!(change.object_id, None);
    assert_eq!(change.user_id, None);
}

fn row_with(key: &str, value: serde_json::Value) -> Vec<u8> {
    let mut row: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(FULL_ROW).expect("fixture");
    row.insert(key.to_owned(), value);
    serde_json::to_vec(&row).expect("serializable")
}

fn row_without(key: &str) -> Vec<u8> {
    let mut row: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(FULL_ROW).expect("fixture");
    row.remove(key);
    serde_json::to_vec(&row).expect("serializable")
}

#[test]
fn malformed_rows_keep_their_bytes_and_say_why() {
    let cases: Vec<(Vec<u8>, MalformedKind)> = vec![
        (row_without("auditid"), MalformedKind::MissingField { field: "auditid" }),
        (row_with("auditid", json!(null)), MalformedKind::MissingField { field: "auditid" }),
        (
            row_with("auditid", json!(12)),
            MalformedKind::WrongType { field: "auditid", found: "number", expected: "a string" },
        ),
        (row_with("auditid", json!("  ")), MalformedKind::EmptyField { field: "auditid" }),
        (
            row_with("auditid", json!("12345")),
            MalformedKind::InvalidValue { field: "auditid", value: "12345".into() },
        ),
        (row_without("createdon"), MalformedKind::MissingField { field: "createdon" }),
        (
            row_with("createdon", json!("5/12/2022 3:19 PM")),
            MalformedKind::InvalidValue { field: "createdon", value: "5/12/2022 3:19 PM".into() },
        ),
        (
            row_with("createdon", json!("2022-02-30T10:00:00Z")),
            MalformedKind::InvalidValue {
                field: "createdon",
                value: "2022-02-30T10:00:00Z".into(),
            },
        ),
        (
            row_with("action", json!({"Value": 2})),
            MalformedKind::WrongType { field: "action", found: "object", expected: "an integer" },
        ),
        (
            row_with("operation", json!(2.5)),
            MalformedKind::InvalidValue { field: "operation", value: "2.5".into() },
        ),
        (
            row_with("action", json!("Update")),
            MalformedKind::InvalidValue { field: "action", value: "\"Update\"".into() },
        ),
        (b"[1,2]".to_vec(), MalformedKind::NotAnObject { found: "array" }),
        (b" \"text\" ".to_vec(), MalformedKind::NotAnObject { found: "string" }),
        (b"null".to_vec(), MalformedKind::NotAnObject { found: "null" }),
    ];
    for (bytes, kind) in cases {
        let error = parse_audit_row(&bytes).expect_err("malformed");
        assert_eq!(error.kind, kind, "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(error.bytes, bytes);
        assert_eq!(error.position, None);
    }
    for bytes in [
        &b"<html>Service Unavailable</html>"[..],
        b"",
        b"{\"auditid\":",
        b"{\"auditid\":\"a\"} trailing",
        b"{\"x\":\"\xff\"}",
    ] {
        let error = parse_audit_row(bytes).expect_err("not JSON");
        assert!(matches!(error.kind, MalformedKind::InvalidJson { .. }), "{error}");
        assert_eq!(error.bytes, bytes);
    }
}

#[test]
fn reference_example_detail() {
    let detail = parse_audit_detail(REFERENCE_DETAIL.as_bytes()).expect("documented detail");
    assert_eq!(
        detail,
        ChangeDetail::Attributes {
            changes: vec![FieldChange {
                field: "parentaccountid".into(),
                old: None,
                new: Some(FieldValue {
                    value: json!("d249d106-38b5-ec11-983f-002248296cd0"),
                    formatted: Some("A. Datum Corporation".into()),
                    lookup_table: Some("account".into()),
                }),
            }],
            deleted: vec![],
            invalid_new: vec![],
        }
    );
}

/// An update of five columns, composed from the documented shapes: a text, an option set with
/// its label, a lookup changed, a column emptied (`null`), a column only in the new value; one
/// column deleted from the table since; one new value that could not be shown.
const UPDATE_DETAIL: &str = r##"{"@odata.context":"https://contoso.crm.dynamics.com/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.RetrieveAuditDetailsResponse",
 "AuditDetail":{"@odata.type":"#Microsoft.Dynamics.CRM.AttributeAuditDetail",
   "InvalidNewValueAttributes":["new_secret"],"LocLabelLanguageCode":1033,
   "DeletedAttributes":{"Count":2,"Keys":["new_legacycode","new_oldflag"],"Values":["L-17",null]},
   "OldValue":{"@odata.type":"#Microsoft.Dynamics.CRM.account",
     "telephone1":"555-0100",
     "industrycode@OData.Community.Display.V1.FormattedValue":"Accounting","industrycode":1,
     "_primarycontactid_value@OData.Community.Display.V1.FormattedValue":"Yvonne McKay",
     "_primarycontactid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"contact",
     "_primarycontactid_value":"465b158c-541c-e511-80d3-3863bb347ba8",
     "description":"Old text",
     "donotphone@OData.Community.Display.V1.FormattedValue":"Allow","donotphone":false},
   "NewValue":{"@odata.type":"#Microsoft.Dynamics.CRM.account",
     "revenue@OData.Community.Display.V1.FormattedValue":"$1,000.50","revenue":1000.5,
     "telephone1":"555-0199",
     "industrycode@OData.Community.Display.V1.FormattedValue":"Consulting","industrycode":7,
     "_primarycontactid_value":"49a0e5b9-88df-e311-b8e5-6c3be5a8b200",
     "description":null,
     "donotphone@OData.Community.Display.V1.FormattedValue":"Do Not Allow","donotphone":true}}}"##;

fn value(value: serde_json::Value, formatted: Option<&str>, table: Option<&str>) -> FieldValue {
    FieldValue { value, formatted: formatted.map(Into::into), lookup_table: table.map(Into::into) }
}

#[test]
fn attribute_detail_with_every_kind_of_column() {
    let ChangeDetail::Attributes { changes, deleted, invalid_new } =
        parse_audit_detail(UPDATE_DETAIL.as_bytes()).expect("composed detail")
    else {
        panic!("an attribute detail");
    };
    let fields: Vec<&str> = changes.iter().map(|change| change.field.as_str()).collect();
    assert_eq!(
        fields,
        ["telephone1", "industrycode", "primarycontactid", "description", "donotphone", "revenue"],
        "old value order first, then columns only in the new value"
    );
    assert_eq!(
        changes[0],
        FieldChange {
            field: "telephone1".into(),
            old: Some(value(json!("555-0100"), None, None)),
            new: Some(value(json!("555-0199"), None, None)),
        }
    );
    assert_eq!(changes[1].old, Some(value(json!(1), Some("Accounting"), None)));
    assert_eq!(changes[1].new, Some(value(json!(7), Some("Consulting"), None)));
    assert_eq!(
        changes[2].old,
        Some(value(
            json!("465b158c-541c-e511-80d3-3863bb347ba8"),
            Some("Yvonne McKay"),
            Some("contact")
        ))
    );
    assert_eq!(
        changes[2].new,
        Some(value(json!("49a0e5b9-88df-e311-b8e5-6c3be5a8b200"), None, None)),
        "annotations are optional"
    );
    assert_eq!(changes[3].old, Some(value(json!("Old text"), None, None)));
    assert_eq!(changes[3].new, None, "null is an empty value");
    assert_eq!(changes[4].new, Some(value(json!(true), Some("Do Not Allow"), None)));
    assert_eq!(changes[4].new.as_ref().map(FieldValue::display).as_deref(), Some("Do Not Allow"));
    assert_eq!(changes[5].old, None);
    assert_eq!(changes[5].new, Some(value(json!(1000.5), Some("$1,000.50"), None)));
    assert_eq!(
        deleted,
        [
            FieldChange {
                field: "new_legacycode".into(),
                old: Some(value(json!("L-17"), None, None)),
                new: None
            },
            FieldChange { field: "new_oldflag".into(), old: None, new: None },
        ]
    );
    assert_eq!(invalid_new, ["new_secret"]);

    // Put on a row, the columns are found by name.
    let mut change = parse_audit_row(FULL_ROW.as_bytes()).expect("row");
    change.detail = parse_audit_detail(UPDATE_DETAIL.as_bytes()).expect("detail");
    assert_eq!(
        change.field("TELEPHONE1").and_then(|c| c.new.as_ref()).map(FieldValue::display).as_deref(),
        Some("555-0199")
    );
    // And the whole change survives the archive's JSON round trip.
    let stored = serde_json::to_string(&change).expect("serializable");
    assert_eq!(serde_json::from_str::<AuditChange>(&stored).expect("readable"), change);
}

#[test]
fn bare_detail_type_without_hash_and_without_type() {
    let bare = br#"{"@odata.type":"Microsoft.Dynamics.CRM.AttributeAuditDetail",
        "OldValue":{"name":"Contoso"},"NewValue":null}"#;
    let expected = ChangeDetail::Attributes {
        changes: vec![FieldChange {
            field: "name".into(),
            old: Some(value(json!("Contoso"), None, None)),
            new: None,
        }],
        deleted: vec![],
        invalid_new: vec![],
    };
    assert_eq!(parse_audit_detail(bare).expect("bare detail"), expected);
    let untyped = br#"{"OldValue":{"name":"Contoso"}}"#;
    assert_eq!(parse_audit_detail(untyped).expect("inferred"), expected);
    let short =
        br#"{"AuditDetail":{"@odata.type":"AttributeAuditDetail","OldValue":{"name":"Contoso"}}}"#;
    assert_eq!(parse_audit_detail(short).expect("short type name"), expected);
}

#[test]
fn deleted_attributes_as_a_plain_object() {
    let detail = br##"{"@odata.type":"#Microsoft.Dynamics.CRM.AttributeAuditDetail",
        "DeletedAttributes":{"Count":1,"new_code":"A-1"}}"##;
    let ChangeDetail::Attributes { deleted, changes, .. } =
        parse_audit_detail(detail).expect("detail")
    else {
        panic!("an attribute detail");
    };
    assert!(changes.is_empty());
    assert_eq!(
        deleted,
        [FieldChange {
            field: "new_code".into(),
            old: Some(value(json!("A-1"), None, None)),
            new: None
        }]
    );
}

#[test]
fn share_details() {
    // The reference's composed example.
    let user = br##"{"AuditDetail":{"@odata.type":"#Microsoft.Dynamics.CRM.ShareAuditDetail",
      "Principal":{"@odata.type":"#Microsoft.Dynamics.CRM.systemuser","systemuserid":"4026be43-6b69-e111-8f65-78e7d1620f5e"},
      "OldPrivileges":null,"NewPrivileges":"ReadAccess, WriteAccess"}}"##;
    assert_eq!(
        parse_audit_detail(user).expect("share"),
        ChangeDetail::Share {
            principal: EntityRef {
                table: "systemuser".into(),
                id: Some(guid("4026be43-6b69-e111-8f65-78e7d1620f5e")),
                name: None,
            },
            old_privileges: None,
            new_privileges: Some("ReadAccess, WriteAccess".into()),
        }
    );
    let team = br##"{"@odata.type":"#Microsoft.Dynamics.CRM.ShareAuditDetail",
      "Principal":{"@odata.type":"#Microsoft.Dynamics.CRM.team","teamid":"5a9e1c2b-0000-4000-8000-00000000abcd",
        "teamid@OData.Community.Display.V1.FormattedValue":"Sales Team"},
      "OldPrivileges":"ReadAccess","NewPrivileges":"ReadAccess, WriteAccess, ShareAccess"}"##;
    assert_eq!(
        parse_audit_detail(team).expect("share with a team"),
        ChangeDetail::Share {
            principal: EntityRef {
                table: "team".into(),
                id: Some(guid("5a9e1c2b-0000-4000-8000-00000000abcd")),
                name: Some("Sales Team".into()),
            },
            old_privileges: Some("ReadAccess".into()),
            new_privileges: Some("ReadAccess, WriteAccess, ShareAccess".into()),
        }
    );
    // Without `@odata.type` on the principal, the id's key names the table.
    let untyped = br##"{"@odata.type":"#Microsoft.Dynamics.CRM.ShareAuditDetail",
      "Principal":{"teamid":"5a9e1c2b-0000-4000-8000-00000000abcd","name":"Sales Team"},
      "OldPrivileges":"ReadAccess, WriteAccess","NewPrivileges":null}"##;
    let ChangeDetail::Share { principal, new_privileges, .. } =
        parse_audit_detail(untyped).expect("share")
    else {
        panic!("a share detail");
    };
    assert_eq!(principal.table, "team");
    assert_eq!(principal.name.as_deref(), Some("Sales Team"));
    assert_eq!(new_privileges, None, "access revoked");
}

#[test]
fn relationship_detail() {
    let detail = br##"{"AuditDetail":{"@odata.type":"#Microsoft.Dynamics.CRM.RelationshipAuditDetail",
      "RelationshipName":"systemuserroles_association",
      "TargetRecords":[
        {"@odata.type":"#Microsoft.Dynamics.CRM.role","roleid":"8d1c3e4f-1111-4222-8333-944455556666",
         "name":"Salesperson"},
        {"@odata.type":"#Microsoft.Dynamics.CRM.role","roleid":"8d1c3e4f-1111-4222-8333-944455557777"}]}}"##;
    assert_eq!(
        parse_audit_detail(detail).expect("relationship"),
        ChangeDetail::Relationship {
            relationship: "systemuserroles_association".into(),
            targets: vec![
                EntityRef {
                    table: "role".into(),
                    id: Some(guid("8d1c3e4f-1111-4222-8333-944455556666")),
                    name: Some("Salesperson".into()),
                },
                EntityRef {
                    table: "role".into(),
                    id: Some(guid("8d1c3e4f-1111-4222-8333-944455557777")),
                    name: None,
                },
            ],
        }
    );
}

#[test]
fn role_privilege_detail() {
    let detail =
        br##"{"AuditDetail":{"@odata.type":"#Microsoft.Dynamics.CRM.RolePrivilegeAuditDetail",
      "OldRolePrivileges":[
        {"PrivilegeId":"a1b2c3d4-0000-4000-8000-000000000001","Depth":"Basic",
         "BusinessUnitId":"00000000-0000-0000-0000-000000000000"}],
      "NewRolePrivileges":[
        {"PrivilegeId":"a1b2c3d4-0000-4000-8000-000000000001","Depth":"Global",
         "BusinessUnitId":"b0b0b0b0-0000-4000-8000-000000000002"},
        {"PrivilegeId":"A1B2C3D4-0000-4000-8000-000000000003","Depth":2}],
      "InvalidNewPrivileges":["a1b2c3d4-0000-4000-8000-000000000009","not-a-guid"]}}"##;
    assert_eq!(
        parse_audit_detail(detail).expect("role privileges"),
        ChangeDetail::RolePrivileges {
            old: vec![RolePrivilege {
                privilege_id: guid("a1b2c3d4-0000-4000-8000-000000000001"),
                depth: "Basic".into(),
                business_unit_id: None,
            }],
            new: vec![
                RolePrivilege {
                    privilege_id: guid("a1b2c3d4-0000-4000-8000-000000000001"),
                    depth: "Global".into(),
                    business_unit_id: Some(guid("b0b0b0b0-0000-4000-8000-000000000002")),
                },
                RolePrivilege {
                    privilege_id: guid("a1b2c3d4-0000-4000-8000-000000000003"),
                    depth: "2".into(),
                    business_unit_id: None,
                },
            ],
            invalid_new: vec![guid("a1b2c3d4-0000-4000-8000-000000000009")],
        }
    );
}

#[test]
fn user_access_detail() {
    let detail =
        br##"{"AuditDetail":{"@odata.type":"#Microsoft.Dynamics.CRM.UserAccessAuditDetail",
      "AccessTime":"2024-03-01T07:59:12.5Z","Interval":4}}"##;
    assert_eq!(
        parse_audit_detail(detail).expect("user access"),
        ChangeDetail::UserAccess {
            access_time: Some(
                Utc.with_ymd_and_hms(2024, 3, 1, 7, 59, 12).unwrap()
                    + chrono::Duration::milliseconds(500)
            ),
            interval_hours: Some(4),
        }
    );
    let sparse =
        br##"{"@odata.type":"#Microsoft.Dynamics.CRM.UserAccessAuditDetail","AccessTime":null}"##;
    assert_eq!(
        parse_audit_detail(sparse).expect("user access"),
        ChangeDetail::UserAccess { access_time: None, interval_hours: None }
    );
}

#[test]
fn other_and_empty_details() {
    let firewall =
        br##"{"AuditDetail":{"@odata.type":"#Microsoft.Dynamics.CRM.IPFirewallAccessAuditDetail",
      "IpAddress":"203.0.113.7"}}"##;
    assert_eq!(
        parse_audit_detail(firewall).expect("other"),
        ChangeDetail::Other {
            odata_type: "#Microsoft.Dynamics.CRM.IPFirewallAccessAuditDetail".into()
        }
    );
    let base = br##"{"AuditDetail":{"@odata.type":"#Microsoft.Dynamics.CRM.AuditDetail"}}"##;
    assert_eq!(parse_audit_detail(base).expect("base type"), ChangeDetail::None);
    let null = br#"{"@odata.context":"x","AuditDetail":null}"#;
    assert_eq!(parse_audit_detail(null).expect("no detail"), ChangeDetail::None);
}

#[test]
fn malformed_details_keep_their_bytes_and_say_why() {
    let cases: Vec<(&[u8], MalformedKind)> = vec![
        (b"[]", MalformedKind::NotAnObject { found: "array" }),
        (br#"{"@odata.context":"x"}"#, MalformedKind::MissingField { field: "@odata.type" }),
        (
            br#"{"AuditDetail":"text"}"#,
            MalformedKind::WrongType { field: "AuditDetail", found: "string", expected: "an object" },
        ),
        (
            br##"{"@odata.type":"#Microsoft.Dynamics.CRM.AttributeAuditDetail","OldValue":"x"}"##,
            MalformedKind::WrongType { field: "OldValue", found: "string", expected: "an object" },
        ),
        (
            br##"{"@odata.type":"#Microsoft.Dynamics.CRM.AttributeAuditDetail","InvalidNewValueAttributes":{}}"##,
            MalformedKind::WrongType {
                field: "InvalidNewValueAttributes",
                found: "object",
                expected: "an array",
            },
        ),
        (
            br##"{"@odata.type":"#Microsoft.Dynamics.CRM.ShareAuditDetail","NewPrivileges":"ReadAccess"}"##,
            MalformedKind::MissingField { field: "Principal" },
        ),
        (
            br##"{"@odata.type":"#Microsoft.Dynamics.CRM.RelationshipAuditDetail","TargetRecords":[1]}"##,
            MalformedKind::WrongType { field: "TargetRecords", found: "number", expected: "an object" },
        ),
        (
            br##"{"@odata.type":"#Microsoft.Dynamics.CRM.RolePrivilegeAuditDetail","NewRolePrivileges":[{"Depth":"Global"}]}"##,
            MalformedKind::MissingField { field: "PrivilegeId" },
        ),
        (
            br##"{"@odata.type":"#Microsoft.Dynamics.CRM.RolePrivilegeAuditDetail","OldRolePrivileges":[{"PrivilegeId":"x"}]}"##,
            MalformedKind::InvalidValue { field: "PrivilegeId", value: "x".into() },
        ),
        (
            br##"{"@odata.type":"#Microsoft.Dynamics.CRM.UserAccessAuditDetail","AccessTime":"yesterday"}"##,
            MalformedKind::InvalidValue { field: "AccessTime", value: "yesterday".into() },
        ),
    ];
    for (bytes, kind) in cases {
        let error = parse_audit_detail(bytes).expect_err("malformed");
        assert_eq!(error.kind, kind, "{}", String::from_utf8_lossy(bytes));
        assert_eq!(error.bytes, bytes);
    }
    let cut = &REFERENCE_DETAIL.as_bytes()[..200];
    let error = parse_audit_detail(cut).expect_err("cut off");
    assert!(matches!(error.kind, MalformedKind::InvalidJson { .. }), "{error}");
    assert_eq!(error.bytes, cut);
}

#[test]
fn page_rows_keep_their_exact_bytes() {
    let row_one = reference_row_with_id();
    let row_two = r#"{ "auditid" : "7a8d1c1e-5d2f-ec11-b6e6-000d3a5b1234",
        "createdon":"2024-03-01T09:15:30Z", "note":"caf\u00e9 \"quoted\"" }"#;
    let next = "https://contoso.crm.dynamics.com/api/data/v9.2/audits?$skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E";
    let page = format!(
        "\u{feff}{{\"@odata.context\":\"https://contoso.crm.dynamics.com/api/data/v9.2/$metadata#audits\",\n\
         \"value\":[ {row_one} ,\n  {row_two}, 7],\"@odata.nextLink\":\"{next}\"}}\n"
    );
    let split = split_audit_page(page.as_bytes()).expect("page");
    let texts: Vec<&str> = split.rows.iter().map(|row| row.get()).collect();
    assert_eq!(texts, [row_one.as_str(), row_two, "7"]);
    assert_eq!(split.next_link.as_deref(), Some(next));

    let first = parse_audit_row(split.rows[0].get().as_bytes()).expect("row one");
    assert_eq!(first.table, "contact");
    let second = parse_audit_row(split.rows[1].get().as_bytes()).expect("row two");
    assert_eq!(second.audit_id, guid("7a8d1c1e-5d2f-ec11-b6e6-000d3a5b1234"));
    let third = parse_audit_row(split.rows[2].get().as_bytes()).expect_err("not a row");
    assert_eq!(third.kind, MalformedKind::NotAnObject { found: "number" });
    assert_eq!(third.bytes, b"7");
}

#[test]
fn last_and_empty_pages() {
    let last = split_audit_page(br#"{"value":[{"a":1}]}"#).expect("last page");
    assert_eq!(last.rows.len(), 1);
    assert_eq!(last.next_link, None);
    let empty = split_audit_page(br#"{"@odata.context":"x","value":[],"@odata.nextLink":null}"#)
        .expect("empty page");
    assert!(empty.rows.is_empty());
    assert_eq!(empty.next_link, None);
    let blank = split_audit_page(br#"{"value":[],"@odata.nextLink":" "}"#).expect("blank link");
    assert_eq!(blank.next_link, None);
}

#[test]
fn malformed_pages_keep_their_bytes() {
    for (bytes, says) in [
        (&b"<html>Bad Gateway</html>"[..], "expected value"),
        (b"[{\"auditid\":1}]", "it is a JSON array"),
        (
            br#"{"error":{"code":"0x80072322","message":"Number of requests exceeded"}}"#,
            "`value` is missing",
        ),
        (br#"{"value":{"a":1}}"#, "invalid type: map"),
        (br#"{"value":[{"a":1},"#, "EOF"),
        (b"  ", "empty"),
    ] {
        let error = split_audit_page(bytes).expect_err("not a page");
        assert_eq!(error.bytes, bytes);
        assert!(error.reason.contains(says), "{} does not say {says}", error.reason);
    }
}

#[test]
fn action_and_operation_code_tables() {
    assert_eq!(AuditAction(64).name(), Some("User Access via Web"));
    assert_eq!(AuditAction(64).category(), AuditCategory::UserAccess);
    assert_eq!(AuditAction(65).label(), "User Access via Web Services");
    assert_eq!(AuditAction(118).name(), Some("IPFirewallAcccesDenied"));
    assert_eq!(AuditAction(118).to_string(), "IPFirewallAcccesDenied");
    assert_eq!(AuditAction(999).name(), None);
    assert_eq!(AuditAction(999).label(), "action 999");
    assert_eq!(AuditAction(999).to_string(), "action 999");
    assert_eq!(AuditAction(999).category(), AuditCategory::Other);
    assert_eq!(AuditAction(55).label(), "Assign Role To User");
    assert_eq!(AuditAction::from_name("assign role to user"), Some(AuditAction(55)));
    assert_eq!(AuditAction::from_name(" ipfirewallacccesdenied "), Some(AuditAction(118)));
    assert_eq!(AuditAction::from_name("Add Privileges To Role"), Some(AuditAction(57)));
    assert_eq!(AuditAction::from_name("No Such Action"), None);

    let categories = [
        (1, AuditCategory::RowEvent),
        (2, AuditCategory::RowEvent),
        (3, AuditCategory::RowEvent),
        (12, AuditCategory::RowEvent),
        (13, AuditCategory::RowEvent),
        (41, AuditCategory::RowEvent),
        (14, AuditCategory::Sharing),
        (48, AuditCategory::Sharing),
        (49, AuditCategory::Sharing),
        (33, AuditCategory::Relationship),
        (34, AuditCategory::Relationship),
        (53, AuditCategory::Relationship),
        (56, AuditCategory::Relationship),
        (112, AuditCategory::UserAccess),
        (113, AuditCategory::UserAccess),
        (100, AuditCategory::Metadata),
        (104, AuditCategory::Metadata),
        (105, AuditCategory::AuditSettings),
        (111, AuditCategory::AuditSettings),
        (57, AuditCategory::SecurityRole),
        (59, AuditCategory::SecurityRole),
        (24, AuditCategory::Other),
        (0, AuditCategory::Other),
    ];
    for (value, category) in categories {
        assert_eq!(AuditAction(value).category(), category, "action {value}");
    }

    for (value, name) in [
        (1, "Create"),
        (2, "Update"),
        (3, "Delete"),
        (4, "Access"),
        (5, "Upsert"),
        (115, "Archive"),
        (116, "Retain"),
        (117, "RollbackRetain"),
        (118, "Restore"),
        (200, "CustomOperation"),
    ] {
        assert_eq!(AuditOperation(value).name(), Some(name));
        assert_eq!(AuditOperation(value).to_string(), name);
    }
    assert_eq!(AuditOperation(999).label(), "operation 999");
    assert_eq!(serde_json::to_string(&AuditCategory::AuditSettings).unwrap(), "\"audit_settings\"");
}

#[test]
fn deeply_nested_input_does_not_crash() {
    let depth = 100_000;
    let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    // A member the row does not read is skipped however deep it is (its bytes stay archived).
    let row = format!(
        r#"{{"auditid":"7a8d1c1e-5d2f-ec11-b6e6-000d3a5b1234","createdon":"2024-03-01T09:15:30Z","x":{nested}}}"#
    );
    let change = parse_audit_row(row.as_bytes()).expect("the deep member is not read");
    assert_eq!(change.audit_id, guid("7a8d1c1e-5d2f-ec11-b6e6-000d3a5b1234"));
    // A column value that deep cannot be decoded: an error, not a stack overflow.
    let detail = format!(r#"{{"OldValue":{{"name":{nested}}}}}"#);
    let error = parse_audit_detail(detail.as_bytes()).expect_err("too deep to decode");
    assert!(matches!(error.kind, MalformedKind::InvalidJson { .. }), "{error}");
    let page = format!(r#"{{"value":[{nested}]}}"#);
    assert_eq!(split_audit_page(page.as_bytes()).expect("rows are not decoded").rows.len(), 1);
}

proptest! {
    #[test]
    fn nothing_panics_on_arbitrary_input(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_audit_row(&bytes);
        let _ = parse_audit_detail(&bytes);
        let _ = split_audit_page(&bytes);
    }

    #[test]
    fn cut_rows_fail_with_their_bytes(cut in 0usize..FULL_ROW.len()) {
        let bytes = &FULL_ROW.as_bytes()[..cut];
        let error = parse_audit_row(bytes).expect_err("a cut row is not a row");
        prop_assert_eq!(error.bytes, bytes);
    }
}
