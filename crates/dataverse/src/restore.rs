//! Restore plans: from a record's audit history, the Web API request that would put its audited
//! columns back as they were at a point in time. The plan is printed for a person to review and
//! send; d365audit never sends it.
//!
//! The value of a column at time `t` is the old value of the first change of that column after
//! `t`; columns nobody changed after `t` are already right and are left out. A record created
//! after `t` did not exist then; a record deleted after `t` needs a `POST` with the values its
//! delete audit kept, not a `PATCH`.

use chrono::{DateTime, Utc};
use record::{AuditChange, ChangeDetail, FieldValue};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

/// `action` value of a Create audit row.
const CREATE: i32 = 1;
/// `action` value of a Delete audit row.
const DELETE: i32 = 3;

/// What it takes to put a record back as it was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestorePlan {
    pub table: String,
    pub object_id: Uuid,
    pub at: DateTime<Utc>,
    /// The request to send, when one is needed and possible.
    pub request: Option<PlannedRequest>,
    /// Each column that differs from how it was at `at`, with the value to put back.
    pub fields: Vec<RestoredField>,
    /// What a person must check before sending (guessed entity set names, unknown values).
    pub warnings: Vec<String>,
    /// In one sentence, what the plan does.
    pub verdict: Verdict,
}

/// The kind of plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing audited changed after the point in time.
    AlreadyAsItWas,
    /// A `PATCH` puts the changed columns back.
    Patch,
    /// The record was deleted after the point in time: a `POST` re-creates it with the values
    /// its history knows (a new record gets a new id unless the id is sent too, which it is).
    Recreate,
    /// The record was created after the point in time: it did not exist then.
    DidNotExist,
    /// The history has no change of this record.
    NoHistory,
}

/// A Web API request, relative to `{environment}/api/data/v9.2/`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedRequest {
    pub method: &'static str,
    pub path: String,
    pub body: Map<String, Value>,
}

/// One column to put back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoredField {
    pub field: String,
    /// The value it had at the point in time (`None`: it was empty).
    pub restored: Option<FieldValue>,
    /// The value after the last audited change (`None`: empty or unknown).
    pub current: Option<FieldValue>,
    /// Who changed it first after the point in time, and when.
    pub first_changed_by: Option<String>,
    pub first_changed_on: DateTime<Utc>,
}

/// Builds the plan for one record from its changes (any order) and a point in time.
/// `entity_set` overrides the guessed entity set name of the record's table.
pub fn restore_plan(
    object_id: Uuid,
    changes: &[AuditChange],
    at: DateTime<Utc>,
    entity_set: Option<&str>,
) -> RestorePlan {
    let mut changes: Vec<&AuditChange> =
        changes.iter().filter(|c| c.object_id == Some(object_id)).collect();
    changes.sort_by_key(|c| (c.created_on, c.audit_id));
    let table = changes.first().map(|c| c.table.clone()).unwrap_or_default();
    let mut plan = RestorePlan {
        table: table.clone(),
        object_id,
        at,
        request: None,
        fields: Vec::new(),
        warnings: Vec::new(),
        verdict: Verdict::NoHistory,
    };
    if changes.is_empty() {
        return plan;
    }
    let (before, after): (Vec<&AuditChange>, Vec<&AuditChange>) =
        changes.iter().partition(|c| c.created_on <= at);
    if after.is_empty() {
        plan.verdict = Verdict::AlreadyAsItWas;
        return plan;
    }
    if before.is_empty() && after.iter().any(|c| c.action.0 == CREATE) {
        plan.verdict = Verdict::DidNotExist;
        return plan;
    }
    let deleted_after = after.iter().any(|c| c.action.0 == DELETE);

    // Column -> (value at `at`, first change after `at`), in first-change order.
    let mut restored: Vec<RestoredField> = Vec::new();
    for change in &after {
        let ChangeDetail::Attributes { changes: fields, .. } = &change.detail else {
            continue;
        };
        for field in fields {
            if restored.iter().any(|r| r.field.eq_ignore_ascii_case(&field.field)) {
                continue;
            }
            restored.push(RestoredField {
                field: field.field.clone(),
                restored: field.old.clone(),
                current: None,
                first_changed_by: change
                    .user_name
                    .clone()
                    .or(change.user_id.map(|u| u.to_string())),
                first_changed_on: change.created_on,
            });
        }
    }
    for field in &mut restored {
        field.current =
            after.iter().rev().find_map(|c| c.field(&field.field)).and_then(|f| f.new.clone());
    }
    let unknown = after
        .iter()
        .filter(|c| matches!(c.detail, ChangeDetail::None) && c.action.0 != DELETE)
        .count();
    if unknown > 0 {
        plan.warnings.push(format!(
            "{unknown} change(s) after {at} have no old and new values in the archive (details \
             not retrieved); columns they touched may be missing from this plan"
        ));
    }

    let set = entity_set.map(str::to_owned).unwrap_or_else(|| {
        plan.warnings.push(format!(
            "the entity set name `{}` is guessed from the table name `{table}`; pass \
             --entity-set if the table's EntitySetName differs",
            guess_entity_set(&table)
        ));
        guess_entity_set(&table)
    });
    if deleted_after {
        // Re-create with everything known as of `at`: the delete row's old values, corrected
        // by the restored values of columns changed after `at`.
        let mut known: Vec<RestoredField> = restored.clone();
        for change in changes.iter().filter(|c| c.created_on <= at).rev() {
            if let ChangeDetail::Attributes { changes: fields, .. } = &change.detail {
                for field in fields {
                    if !known.iter().any(|k| k.field.eq_ignore_ascii_case(&field.field)) {
                        known.push(RestoredField {
                            field: field.field.clone(),
                            restored: field.new.clone(),
                            current: None,
                            first_changed_by: None,
                            first_changed_on: change.created_on,
                        });
                    }
                }
            }
        }
        let mut body = request_body(&known, &mut plan.warnings);
        body.insert(format!("{table}id"), Value::String(object_id.to_string()));
        plan.request = Some(PlannedRequest { method: "POST", path: set, body });
        plan.fields = known;
        plan.verdict = Verdict::Recreate;
        plan.warnings.push(
            "the record was deleted after that time: this re-creates it with its old id and the \
             audited values known then; columns that were never audited are not restored"
                .to_string(),
        );
        return plan;
    }
    if restored.is_empty() {
        plan.verdict = Verdict::AlreadyAsItWas;
        return plan;
    }
    let body = request_body(&restored, &mut plan.warnings);
    plan.request =
        Some(PlannedRequest { method: "PATCH", path: format!("{set}({object_id})"), body });
    plan.fields = restored;
    plan.verdict = Verdict::Patch;
    plan
}

/// The Web API body setting each column to its restored value.
fn request_body(fields: &[RestoredField], warnings: &mut Vec<String>) -> Map<String, Value> {
    let mut body = Map::new();
    for field in fields {
        match &field.restored {
            Some(FieldValue { value, lookup_table: Some(target), .. }) => {
                let id = value.as_str().unwrap_or_default();
                body.insert(
                    format!("{}@odata.bind", field.field),
                    Value::String(format!("/{}({id})", guess_entity_set(target))),
                );
                warnings.push(format!(
                    "`{}` is a lookup: its navigation property is assumed to be named like the \
                     column and its target set `{}`",
                    field.field,
                    guess_entity_set(target)
                ));
            }
            Some(value) => {
                body.insert(field.field.clone(), value.value.clone());
            }
            None => {
                body.insert(field.field.clone(), Value::Null);
            }
        }
    }
    body
}

/// Dataverse's usual EntitySetName for a table: the logical name made plural the English way
/// (`account` -> `accounts`, `opportunity` -> `opportunities`, `customeraddress` ->
/// `customeraddresses`). Custom tables may differ; callers can override it.
pub fn guess_entity_set(table: &str) -> String {
    let consonant_y = table.ends_with('y')
        && !table.ends_with("ay")
        && !table.ends_with("ey")
        && !table.ends_with("oy")
        && !table.ends_with("uy");
    if consonant_y {
        format!("{}ies", &table[..table.len() - 1])
    } else if ["s", "x", "z", "ch", "sh"].iter().any(|end| table.ends_with(end)) {
        format!("{table}es")
    } else {
        format!("{table}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use record::{AuditAction, AuditOperation, FieldChange};
    use serde_json::json;

    fn at(hour: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-06-01T{hour:02}:00:00Z")).unwrap().into()
    }

    fn value(v: Value) -> Option<FieldValue> {
        Some(FieldValue { value: v, formatted: None, lookup_table: None })
    }

    fn change(n: u128, hour: u32, action: i32, fields: Vec<FieldChange>) -> AuditChange {
        AuditChange {
            audit_id: Uuid::from_u128(n),
            created_on: at(hour),
            action: AuditAction(action),
            operation: AuditOperation(action.min(3)),
            table: "account".to_string(),
            object_id: Some(Uuid::from_u128(7)),
            object_name: None,
            user_id: None,
            user_name: Some(format!("user {n}")),
            calling_user_id: None,
            transaction_id: None,
            attribute_mask: Vec::new(),
            detail: ChangeDetail::Attributes {
                changes: fields,
                deleted: Vec::new(),
                invalid_new: Vec::new(),
            },
        }
    }

    fn set(field: &str, old: Option<FieldValue>, new: Option<FieldValue>) -> FieldChange {
        FieldChange { field: field.to_string(), old, new }
    }

    fn history() -> Vec<AuditChange> {
        let parent = FieldValue {
            value: json!("d249d106-38b5-ec11-983f-002248296cd0"),
            formatted: Some("A. Datum".to_string()),
            lookup_table: Some("account".to_string()),
        };
        vec![
            change(1, 8, CREATE, vec![set("name", None, value(json!("Contoso")))]),
            change(2, 9, 2, vec![set("telephone1", None, value(json!("555-0100")))]),
            change(
                3,
                11,
                2,
                vec![
                    set("telephone1", value(json!("555-0100")), value(json!("555-0199"))),
                    set("parentaccountid", Some(parent), None),
                ],
            ),
            change(4, 12, 2, vec![set("telephone1", value(json!("555-0199")), value(json!("x")))]),
            change(5, 13, 2, vec![set("name", value(json!("Contoso")), value(json!("Fabrikam")))]),
        ]
    }

    #[test]
    fn patch_puts_back_the_first_old_value_of_each_column_changed_later() {
        let plan = restore_plan(Uuid::from_u128(7), &history(), at(10), None);
        assert_eq!(plan.verdict, Verdict::Patch);
        let request = plan.request.unwrap();
        assert_eq!(request.method, "PATCH");
        assert_eq!(request.path, format!("accounts({})", Uuid::from_u128(7)));
        assert_eq!(
            Value::Object(request.body),
            json!({
                "telephone1": "555-0100",
                "parentaccountid@odata.bind": "/accounts(d249d106-38b5-ec11-983f-002248296cd0)",
                "name": "Contoso",
            })
        );
        let phone = plan.fields.iter().find(|f| f.field == "telephone1").unwrap();
        assert_eq!(phone.current, value(json!("x")));
        assert_eq!(phone.first_changed_by.as_deref(), Some("user 3"));
    }

    #[test]
    fn an_empty_old_value_is_restored_as_null() {
        let plan = restore_plan(Uuid::from_u128(7), &history(), at(8), None);
        let body = plan.request.unwrap().body;
        assert_eq!(body.get("telephone1"), Some(&Value::Null));
        assert_eq!(body.get("name"), Some(&json!("Contoso")));
    }

    #[test]
    fn before_creation_and_after_the_last_change_need_no_patch() {
        assert_eq!(
            restore_plan(Uuid::from_u128(7), &history(), at(7), None).verdict,
            Verdict::DidNotExist
        );
        let late = restore_plan(Uuid::from_u128(7), &history(), at(14), None);
        assert_eq!(late.verdict, Verdict::AlreadyAsItWas);
        assert!(late.request.is_none());
        assert_eq!(
            restore_plan(Uuid::from_u128(8), &history(), at(10), None).verdict,
            Verdict::NoHistory
        );
    }

    #[test]
    fn a_deleted_record_is_recreated_with_the_values_known_then() {
        let mut changes = history();
        changes.push(change(
            6,
            15,
            DELETE,
            vec![
                set("name", value(json!("Fabrikam")), None),
                set("telephone1", value(json!("x")), None),
            ],
        ));
        let plan = restore_plan(Uuid::from_u128(7), &changes, at(10), Some("accounts"));
        assert_eq!(plan.verdict, Verdict::Recreate);
        let request = plan.request.unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "accounts");
        assert_eq!(request.body.get("name"), Some(&json!("Contoso")));
        assert_eq!(request.body.get("telephone1"), Some(&json!("555-0100")));
        assert_eq!(request.body.get("accountid"), Some(&json!(Uuid::from_u128(7).to_string())));
    }

    #[test]
    fn entity_set_names_follow_dataverse_plurals() {
        assert_eq!(guess_entity_set("account"), "accounts");
        assert_eq!(guess_entity_set("opportunity"), "opportunities");
        assert_eq!(guess_entity_set("customeraddress"), "customeraddresses");
        assert_eq!(guess_entity_set("systemuser"), "systemusers");
        assert_eq!(guess_entity_set("new_survey"), "new_surveys");
    }
}
