//! How audit rows and their details look on the wire: rows of `GET audits` (with or without
//! annotations, `$select` applied) and `RetrieveAuditDetailsResponse` bodies (reference §5.1,
//! §5.3). Public through `dataverse::row_json` / `dataverse::detail_json` so tests can compare
//! what a client stored with what the service sent.

use serde_json::{Map, Value, json};

use super::history::{AuditDetail, AuditRow, AuditValue, RecordRef, RolePrivilege, formatted_time};
use super::schema;

pub(crate) const FORMATTED: &str = "OData.Community.Display.V1.FormattedValue";
pub(crate) const LOOKUP_TABLE: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";
pub(crate) const NAVIGATION: &str = "Microsoft.Dynamics.CRM.associatednavigationproperty";
pub(crate) const TOTAL_COUNT: &str = "Microsoft.Dynamics.CRM.totalrecordcount";
pub(crate) const TOTAL_COUNT_EXCEEDED: &str =
    "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded";

/// The columns of the `audit` entity type the emulator serves (`changedata` is not exposed by
/// the Web API).
pub(crate) const AUDIT_COLUMNS: &[&str] = &[
    "auditid",
    "action",
    "operation",
    "attributemask",
    "createdon",
    "objecttypecode",
    "_objectid_value",
    "_userid_value",
    "_callinguserid_value",
    "_regardingobjectid_value",
    "transactionid",
    "useradditionalinfo",
];

/// Which instance annotations a request asked for (`Prefer: odata.include-annotations=...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Annotations {
    patterns: Vec<String>,
}

impl Annotations {
    /// All annotations (`"*"`) or none.
    pub(crate) fn all(on: bool) -> Annotations {
        Annotations { patterns: if on { vec!["*".to_owned()] } else { Vec::new() } }
    }

    /// From the value of `odata.include-annotations` (comma-separated names, `*` and `ns.*`
    /// wildcards; a leading `-` excludes and is ignored here).
    pub(crate) fn from_preference(value: &str) -> Annotations {
        let patterns = value
            .trim_matches('"')
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty() && !p.starts_with('-'))
            .map(str::to_owned)
            .collect();
        Annotations { patterns }
    }

    pub(crate) fn any(&self) -> bool {
        !self.patterns.is_empty()
    }

    /// The preference as `Preference-Applied` echoes it.
    pub(crate) fn preference(&self) -> String {
        format!("odata.include-annotations=\"{}\"", self.patterns.join(","))
    }

    pub(crate) fn wants(&self, name: &str) -> bool {
        self.patterns.iter().any(|p| {
            p == "*"
                || p.eq_ignore_ascii_case(name)
                || p.strip_suffix(".*").is_some_and(|ns| {
                    name.len() > ns.len()
                        && name[..ns.len()].eq_ignore_ascii_case(ns)
                        && name.as_bytes()[ns.len()] == b'.'
                })
        })
    }
}

fn annotate(map: &mut Map<String, Value>, ann: &Annotations, key: &str, name: &str, value: Value) {
    if ann.wants(name) {
        map.insert(format!("{key}@{name}"), value);
    }
}

/// One row of `GET audits`: the selected columns (all when `select` is empty; `auditid`
/// always) with the requested annotations.
pub(crate) fn row_object(row: &AuditRow, select: &[String], ann: &Annotations) -> Value {
    let wanted = |column: &str| {
        column == "auditid" || select.is_empty() || select.iter().any(|s| s == column)
    };
    let mut map = Map::new();
    for &column in AUDIT_COLUMNS {
        if !wanted(column) {
            continue;
        }
        match column {
            "auditid" => {
                map.insert(column.into(), json!(row.audit_id));
            }
            "action" => {
                map.insert(column.into(), json!(row.action));
                let label = schema::action_label(row.action);
                annotate(&mut map, ann, column, FORMATTED, json!(label));
            }
            "operation" => {
                map.insert(column.into(), json!(row.operation));
                let label = schema::operation_label(row.operation);
                annotate(&mut map, ann, column, FORMATTED, json!(label));
            }
            "attributemask" => {
                let mask = (!row.attribute_mask.is_empty()).then(|| {
                    row.attribute_mask.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
                });
                map.insert(column.into(), json!(mask));
            }
            "createdon" => {
                map.insert(
                    column.into(),
                    json!(row.created_on.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                );
                annotate(&mut map, ann, column, FORMATTED, json!(formatted_time(row.created_on)));
            }
            "objecttypecode" => {
                map.insert(column.into(), json!(row.table));
                let display = schema::display_name(&row.table);
                annotate(&mut map, ann, column, FORMATTED, json!(display));
            }
            "_objectid_value" => {
                map.insert(column.into(), json!(row.object_id));
                annotate(&mut map, ann, column, LOOKUP_TABLE, json!(row.table));
            }
            "_userid_value" => {
                map.insert(column.into(), json!(row.user_id));
                annotate(&mut map, ann, column, LOOKUP_TABLE, json!("systemuser"));
                annotate(&mut map, ann, column, FORMATTED, json!(row.user_name));
            }
            "_callinguserid_value" => {
                map.insert(column.into(), json!(row.calling_user_id));
                if row.calling_user_id.is_some() {
                    annotate(&mut map, ann, column, LOOKUP_TABLE, json!("systemuser"));
                }
            }
            "transactionid" => {
                map.insert(column.into(), json!(row.transaction_id));
            }
            _ => {
                map.insert(column.into(), Value::Null);
            }
        }
    }
    Value::Object(map)
}

/// The navigation property Dataverse names for a lookup column.
fn navigation_property(column: &str) -> String {
    match column {
        "customerid" | "parentcustomerid" => format!("{column}_account"),
        other => other.to_owned(),
    }
}

/// An entity object of `OldValue` / `NewValue`.
fn entity_object(table: &str, values: &[(String, AuditValue)], ann: &Annotations) -> Value {
    let mut map = Map::new();
    map.insert("@odata.type".into(), json!(format!("#Microsoft.Dynamics.CRM.{table}")));
    for (column, value) in values {
        let key = match value {
            AuditValue::Lookup(_) => format!("_{column}_value"),
            _ => column.clone(),
        };
        map.insert(key.clone(), value.json());
        if let Some(formatted) = value.formatted() {
            annotate(&mut map, ann, &key, FORMATTED, json!(formatted));
        }
        if let Some(target) = value.lookup_table() {
            annotate(&mut map, ann, &key, NAVIGATION, json!(navigation_property(column)));
            annotate(&mut map, ann, &key, LOOKUP_TABLE, json!(target));
        }
    }
    Value::Object(map)
}

fn reference(target: &RecordRef) -> Value {
    json!({
        "@odata.type": format!("#Microsoft.Dynamics.CRM.{}", target.table),
        format!("{}id", target.table): target.id,
    })
}

fn privileges(list: &[RolePrivilege]) -> Value {
    Value::Array(
        list.iter()
            .map(|p| {
                json!({
                    "BusinessUnitId": p.business_unit_id,
                    "Depth": p.depth,
                    "PrivilegeId": p.privilege_id,
                    "PrivilegeName": p.name,
                })
            })
            .collect(),
    )
}

/// The `AuditDetail` object of a row.
pub(crate) fn detail_object(row: &AuditRow, ann: &Annotations) -> Value {
    match &row.detail {
        AuditDetail::Attributes { old, new } => json!({
            "@odata.type": "#Microsoft.Dynamics.CRM.AttributeAuditDetail",
            "InvalidNewValueAttributes": [],
            "LocLabelLanguageCode": 0,
            "DeletedAttributes": {"Count": 0, "Keys": [], "Values": []},
            "OldValue": entity_object(&row.table, old, ann),
            "NewValue": entity_object(&row.table, new, ann),
        }),
        AuditDetail::Share { principal, old_privileges, new_privileges } => json!({
            "@odata.type": "#Microsoft.Dynamics.CRM.ShareAuditDetail",
            "Principal": reference(principal),
            "OldPrivileges": old_privileges,
            "NewPrivileges": new_privileges,
        }),
        AuditDetail::Relationship { relationship, targets } => json!({
            "@odata.type": "#Microsoft.Dynamics.CRM.RelationshipAuditDetail",
            "RelationshipName": relationship,
            "TargetRecords": targets.iter().map(reference).collect::<Vec<_>>(),
        }),
        AuditDetail::RolePrivileges { old, new } => json!({
            "@odata.type": "#Microsoft.Dynamics.CRM.RolePrivilegeAuditDetail",
            "OldRolePrivileges": privileges(old),
            "NewRolePrivileges": privileges(new),
            "InvalidNewPrivileges": [],
        }),
        AuditDetail::UserAccess { access_time, interval_hours } => json!({
            "@odata.type": "#Microsoft.Dynamics.CRM.UserAccessAuditDetail",
            "AccessTime": access_time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "Interval": interval_hours,
        }),
        AuditDetail::Plain => json!({"@odata.type": "#Microsoft.Dynamics.CRM.AuditDetail"}),
    }
}

/// A whole `RetrieveAuditDetailsResponse` body.
pub(crate) fn detail_response(row: &AuditRow, api_root: &str, ann: &Annotations) -> Value {
    json!({
        "@odata.context":
            format!("{api_root}$metadata#Microsoft.Dynamics.CRM.RetrieveAuditDetailsResponse"),
        "AuditDetail": detail_object(row, ann),
    })
}
