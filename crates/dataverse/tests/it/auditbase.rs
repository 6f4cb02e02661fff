//! Decoding of on-premises `AuditBase` rows: masks, `ChangeData` escapes and values, problems
//! that are reported instead of dropped, and the reconstruction of new values.

#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use dataverse::auditbase::{
    AuditBaseRow, CurrentValues, Metadata, Problem, Reconstruction, decode_row, decode_value,
    parse_attribute_mask, parse_created_on, reconstruct_new_values, split_change_data, unescape,
};
use record::{AuditChange, ChangeDetail, FieldChange, FieldValue};
use serde_json::json;
use uuid::Uuid;

const ACCOUNT: i32 = 1;
const RECORD: &str = "0e76dc8a-41b5-ec11-983f-0022482bf046";
const OWNER: &str = "4026be43-6b69-e111-8f65-78e7d1620f5e";

fn metadata() -> Metadata {
    let mut metadata = Metadata::new();
    metadata.add_table(ACCOUNT, "account");
    metadata.add_column(ACCOUNT, 45, "name");
    metadata.add_column(ACCOUNT, 47, "telephone1");
    metadata.add_column(ACCOUNT, 42, "ownerid");
    metadata.add_column(ACCOUNT, 26, "donotemail");
    metadata.add_column(ACCOUNT, 12, "industrycode");
    metadata
}

fn row(audit_id: &str, created_on: &str, action: i32, mask: &str, data: &str) -> AuditBaseRow {
    AuditBaseRow {
        audit_id: Some(audit_id.to_owned()),
        created_on: Some(created_on.to_owned()),
        action: Some(action.to_string()),
        operation: Some(if action == 1 { "1" } else { "2" }.to_owned()),
        object_id: Some(RECORD.to_owned()),
        object_type_code: Some(ACCOUNT.to_string()),
        user_id: Some(OWNER.to_uppercase()),
        calling_user_id: Some("00000000-0000-0000-0000-000000000000".to_owned()),
        attribute_mask: Some(mask.to_owned()),
        change_data: Some(data.to_owned()),
        transaction_id: Some("00000000-0000-0000-0000-000000000000".to_owned()),
        user_name: Some("Alice Example".to_owned()),
        object_name: None,
    }
}

fn text(value: &str) -> Option<FieldValue> {
    Some(FieldValue { value: json!(value), formatted: None, lookup_table: None })
}

fn changes(change: &AuditChange) -> &[FieldChange] {
    match &change.detail {
        ChangeDetail::Attributes { changes, .. } => changes,
        other => panic!("expected attributes, got {other:?}"),
    }
}

#[test]
fn escapes_are_undone_in_one_pass() {
    assert_eq!(unescape("a^sb"), "a~b");
    assert_eq!(unescape("a^eb"), "a^b");
    // `^e` then `s`: a caret followed by an s, not a tilde.
    assert_eq!(unescape("^es"), "^s");
    // `^s` then `^e`, adjacent.
    assert_eq!(unescape("^s^e"), "~^");
    assert_eq!(unescape("^e^s"), "^~");
    // An unknown escape stays as written.
    assert_eq!(unescape("x^y^"), "x^y^");
    assert_eq!(split_change_data("one^stwo~3^e4~"), ["one~two", "3^4", ""]);
    assert_eq!(split_change_data(""), [""]);
}

#[test]
fn values_lookups_booleans_numbers_and_empty() {
    assert_eq!(decode_value(""), None);
    assert_eq!(decode_value("True").unwrap().value, json!(true));
    assert_eq!(decode_value("False").unwrap().value, json!(false));
    // Numbers stay the text as written (an option set value, or a text column holding digits).
    assert_eq!(decode_value("007"), text("007"));
    assert_eq!(decode_value("100000001"), text("100000001"));
    let lookup = decode_value(&format!("systemuser,{}", OWNER.to_uppercase())).unwrap();
    assert_eq!(lookup.value, json!(OWNER));
    assert_eq!(lookup.lookup_table.as_deref(), Some("systemuser"));
    // Text with a comma is not a lookup.
    assert_eq!(decode_value("Contoso, Ltd"), text("Contoso, Ltd"));
    assert_eq!(decode_value("Account,not-a-guid"), text("Account,not-a-guid"));
}

#[test]
fn masks_with_leading_and_trailing_commas() {
    assert_eq!(parse_attribute_mask(",47,45,42,"), (vec![47, 45, 42], vec![]));
    assert_eq!(parse_attribute_mask("47"), (vec![47], vec![]));
    assert_eq!(parse_attribute_mask(",,"), (vec![], vec![]));
    assert_eq!(parse_attribute_mask(",4x,5,"), (vec![5], vec!["4x".to_owned()]));
}

#[test]
fn dates_as_sql_server_and_iso_write_them() {
    let expected =
        Utc.with_ymd_and_hms(2019, 3, 4, 10, 11, 12).unwrap() + chrono::Duration::milliseconds(123);
    assert_eq!(parse_created_on("2019-03-04 10:11:12.123"), Some(expected));
    assert_eq!(parse_created_on("2019-03-04T10:11:12.1230000Z"), Some(expected));
    assert_eq!(parse_created_on("2019-03-04T11:11:12.123+01:00"), Some(expected));
    assert_eq!(
        parse_created_on("2019-03-04 10:11:12"),
        Some(Utc.with_ymd_and_hms(2019, 3, 4, 10, 11, 12).unwrap())
    );
    assert_eq!(parse_created_on("3/4/2019 10:11 AM"), None);
}

#[test]
fn a_row_decodes_with_names_old_values_and_ids() {
    let decoded = decode_row(
        &row(
            "8e1b6f43-2a8a-4d0c-9d1e-5f2f3a4b5c6d",
            "2019-03-04 10:11:12.123",
            2,
            ",47,45,42,26,",
            &format!("+1 555^s0100~A^eB~systemuser,{OWNER}~False"),
        ),
        &metadata(),
    )
    .unwrap();
    assert_eq!(decoded.problems, []);
    let change = &decoded.change;
    assert_eq!(change.table, "account");
    assert_eq!(change.object_id, Some(Uuid::parse_str(RECORD).unwrap()));
    assert_eq!(change.user_id, Some(Uuid::parse_str(OWNER).unwrap()));
    assert_eq!(change.user_name.as_deref(), Some("Alice Example"));
    assert_eq!(change.calling_user_id, None, "the all-zero GUID is no caller");
    assert_eq!(change.transaction_id, None);
    assert_eq!(change.attribute_mask, [47, 45, 42, 26]);
    let fields = changes(change);
    let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(names, ["telephone1", "name", "ownerid", "donotemail"]);
    assert_eq!(fields[0].old, text("+1 555~0100"));
    assert_eq!(fields[1].old, text("A^B"));
    assert_eq!(fields[2].old.as_ref().unwrap().lookup_table.as_deref(), Some("systemuser"));
    assert_eq!(fields[3].old.as_ref().unwrap().value, json!(false));
    assert!(fields.iter().all(|f| f.new.is_none()));
}

#[test]
fn unknown_columns_and_count_mismatches_are_reported_not_dropped() {
    let decoded = decode_row(
        &row(
            "8e1b6f43-2a8a-4d0c-9d1e-5f2f3a4b5c6d",
            "2019-03-04 10:11:12",
            2,
            ",47,999,45,",
            "a~b",
        ),
        &metadata(),
    )
    .unwrap();
    assert_eq!(
        decoded.problems,
        [
            Problem::CountMismatch { columns: 3, values: 2 },
            Problem::UnknownColumn { object_type_code: ACCOUNT, column_number: 999 },
        ]
    );
    let fields = changes(&decoded.change);
    assert_eq!(fields.len(), 3, "the row keeps every masked column");
    assert_eq!(fields[1].field, "column_999");
    assert_eq!(fields[1].old, text("b"));
    assert_eq!(fields[2].old, None, "no value left for the third column");

    // A trailing `~` is a terminator, not a value.
    let trailing = decode_row(
        &row("8e1b6f43-2a8a-4d0c-9d1e-5f2f3a4b5c6e", "2019-03-04 10:11:12", 2, ",47,45,", "a~b~"),
        &metadata(),
    )
    .unwrap();
    assert_eq!(trailing.problems, []);

    // An unknown table keeps its number.
    let mut other = row("8e1b6f43-2a8a-4d0c-9d1e-5f2f3a4b5c6f", "2019-03-04 10:11:12", 2, "5", "x");
    other.object_type_code = Some("10023".to_owned());
    let decoded = decode_row(&other, &metadata()).unwrap();
    assert_eq!(decoded.change.table, "10023");
    assert!(decoded.problems.contains(&Problem::UnknownTable { object_type_code: 10023 }));
}

#[test]
fn rows_that_cannot_be_decoded_say_why() {
    let bad_id = decode_row(&row("nope", "2019-03-04 10:11:12", 2, "", ""), &metadata());
    assert!(bad_id.unwrap_err().to_string().contains("AuditId"));
    let bad_date = decode_row(
        &row("8e1b6f43-2a8a-4d0c-9d1e-5f2f3a4b5c6d", "yesterday", 2, "", ""),
        &metadata(),
    );
    assert!(bad_date.unwrap_err().to_string().contains("CreatedOn"));
    let mut no_action =
        row("8e1b6f43-2a8a-4d0c-9d1e-5f2f3a4b5c6d", "2019-03-04 10:11:12", 2, "", "");
    no_action.action = None;
    assert!(decode_row(&no_action, &metadata()).unwrap_err().to_string().contains("Action"));
}

#[test]
fn new_values_come_from_the_next_newer_row_then_the_current_values() {
    let metadata = metadata();
    let decode = |id: &str, at: &str, action, mask, data| {
        let decoded = decode_row(&row(id, at, action, mask, data), &metadata).unwrap();
        assert_eq!(decoded.problems, [], "{id}");
        decoded.change
    };
    // Created with name "Contoso" and phone 111; then three updates.
    let mut history = [
        decode("00000000-0000-0000-0000-000000000001", "2019-01-01 09:00:00", 1, ",45,47,", ""),
        decode("00000000-0000-0000-0000-000000000002", "2019-01-02 09:00:00", 2, ",45,", "Contoso"),
        decode("00000000-0000-0000-0000-000000000003", "2019-01-03 09:00:00", 2, ",47,12,", "111~"),
        decode(
            "00000000-0000-0000-0000-000000000004",
            "2019-01-04 09:00:00",
            2,
            ",45,47,",
            "Contoso Ltd~222",
        ),
    ];
    let mut current = CurrentValues::new();
    current.insert(Uuid::parse_str(RECORD).unwrap(), "Name", "Contoso Group");
    current.insert(Uuid::parse_str(RECORD).unwrap(), "telephone1", "");
    let stats = reconstruct_new_values(history.iter_mut(), &current);

    let field = |index: usize, name: &str| history[index].field(name).unwrap().clone();
    // The create: new values are the old values of the next rows touching each column.
    assert_eq!(field(0, "name").old, None);
    assert_eq!(field(0, "name").new, text("Contoso"));
    assert_eq!(field(0, "telephone1").new, text("111"));
    // Update 1: name Contoso -> Contoso Ltd (old value of update 3).
    assert_eq!(field(1, "name").old, text("Contoso"));
    assert_eq!(field(1, "name").new, text("Contoso Ltd"));
    // Update 2: phone 111 -> 222; industrycode empty -> unknown (nothing newer, no current).
    assert_eq!(field(2, "telephone1").new, text("222"));
    assert_eq!(field(2, "industrycode").old, None);
    assert_eq!(field(2, "industrycode").new, None);
    // Update 3, the newest: new values from the current values (an empty one stays empty).
    assert_eq!(field(3, "name").new, text("Contoso Group"));
    assert_eq!(field(3, "telephone1").old, text("222"));
    assert_eq!(field(3, "telephone1").new, None);
    assert_eq!(stats, Reconstruction { from_history: 4, from_current: 2, unknown: 1 });
}
