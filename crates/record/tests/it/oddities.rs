//! Every field oddity seen in the wild, one field at a time, on an otherwise complete record:
//! `ClientIP` forms, `CreationTime` forms, `Fields` as a string, `QueryResults` forms, zero ids,
//! numbers as strings, key case, unknown fields.

use record::{Field, ParseNote, RecordType, UserType, parse_blob};
use serde_json::{Value, json};

use crate::support::{composed_with, composed_without, parse_ok};

/// A `ClientIP` value and the expected original text, address and port.
type ClientIpCase = (Value, Option<&'static str>, Option<&'static str>, Option<u16>);

#[test]
fn client_ip_forms() {
    let cases: [ClientIpCase; 8] = [
        (
            json!("52.163.88.69:50749"),
            Some("52.163.88.69:50749"),
            Some("52.163.88.69"),
            Some(50749),
        ),
        (json!("[2001:db8::1]:443"), Some("[2001:db8::1]:443"), Some("2001:db8::1"), Some(443)),
        (json!("2001:db8::1"), Some("2001:db8::1"), Some("2001:db8::1"), None),
        (json!("203.0.113.24"), Some("203.0.113.24"), Some("203.0.113.24"), None),
        (json!("::ffff:203.0.113.24"), Some("::ffff:203.0.113.24"), Some("203.0.113.24"), None),
        (json!(""), None, None, None),
        (json!("  "), None, None, None),
        (Value::Null, None, None, None),
    ];
    for (value, original, addr, port) in cases {
        let record = parse_ok(&composed_with("ClientIP", value.clone()));
        assert_eq!(record.client_ip.original.as_deref(), original, "{value}");
        assert_eq!(record.client_ip.addr.map(|a| a.to_string()).as_deref(), addr, "{value}");
        assert_eq!(record.client_ip.port, port, "{value}");
        assert!(record.notes.is_empty(), "{value}: {:?}", record.notes);
    }
    let absent = parse_ok(&composed_without("ClientIP"));
    assert_eq!(absent.client_ip, record::ClientIp::default());
}

#[test]
fn client_ip_key_in_other_case() {
    let mut map = crate::support::composed();
    map.remove("ClientIP");
    map.insert("ClientIp".into(), json!("198.51.100.7"));
    let record = parse_ok(&serde_json::to_vec(&map).expect("serializes"));
    assert_eq!(record.client_ip.addr.map(|a| a.to_string()).as_deref(), Some("198.51.100.7"));
}

#[test]
fn creation_time_forms() {
    let expected = "2026-06-01T09:14:22+00:00";
    for form in [
        "2026-06-01T09:14:22",
        "2026-06-01T09:14:22Z",
        "2026-06-01T09:14:22.0000000",
        "2026-06-01T09:14:22.0000000Z",
        "2026-06-01T11:14:22+02:00",
        "2026-06-01T04:14:22-0500",
        "2026-06-01 09:14:22",
    ] {
        let record = parse_ok(&composed_with("CreationTime", json!(form)));
        assert_eq!(record.creation_time.to_rfc3339(), expected, "{form}");
    }
    let fraction = parse_ok(&composed_with("CreationTime", json!("2026-06-01T09:14:22.1234567Z")));
    assert_eq!(fraction.creation_time.timestamp_subsec_nanos(), 123_456_700);
}

fn fields_of(value: Value) -> (Vec<Field>, Vec<ParseNote>) {
    let record = parse_ok(&composed_with("Fields", value));
    (record.fields().to_vec(), record.notes)
}

fn field(name: &str, value: Option<&str>) -> Field {
    Field { name: name.to_owned(), value: value.map(str::to_owned) }
}

#[test]
fn fields_as_array_string_or_object() {
    let expected = vec![field("name", Some("Fabrikam")), field("telephone1", Some("*"))];
    let array = json!([{"Name":"name","Value":"Fabrikam"},{"Name":"telephone1","Value":"*"}]);
    let string = json!(array.to_string());
    let object = json!({"name":"Fabrikam","telephone1":"*"});
    let object_string = json!(object.to_string());
    for value in [array, string, object, object_string] {
        assert_eq!(fields_of(value.clone()), (expected.clone(), vec![]), "{value}");
    }
}

#[test]
fn fields_values_of_every_type() {
    let (fields, notes) = fields_of(json!([
        {"Name":"revenue","Value":1200.5},
        {"Name":"donotcall","Value":true},
        {"Name":"description","Value":null},
        {"Name":"parentaccountid","Value":{"Id":"5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b","LogicalName":"account"}},
        {"Name":"numberofemployees","Value":"42"}
    ]));
    assert_eq!(
        fields,
        [
            field("revenue", Some("1200.5")),
            field("donotcall", Some("true")),
            field("description", None),
            field(
                "parentaccountid",
                Some(r#"{"Id":"5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b","LogicalName":"account"}"#)
            ),
            field("numberofemployees", Some("42")),
        ]
    );
    assert!(notes.is_empty());
}

#[test]
fn fields_that_cannot_be_read_are_noted() {
    for value in [json!("name=Fabrikam"), json!(12), json!([1, "two"])] {
        let (fields, notes) = fields_of(value.clone());
        assert!(fields.is_empty(), "{value}");
        assert_eq!(notes, [ParseNote::Uninterpreted { field: "Fields" }], "{value}");
    }
    for value in [json!(""), json!("[]"), Value::Null, json!([])] {
        assert_eq!(fields_of(value.clone()), (vec![], vec![]), "{value}");
    }
}

#[test]
fn query_results_forms() {
    let a = "00aa00aa-bb11-cc22-dd33-44ee44ee44ee";
    let b = "dc136b61-6c1e-e811-a952-000d3a732d76";
    let cases: [(Value, Vec<&str>); 9] = [
        (json!(format!("{a}, {b}")), vec![a, b]),
        (json!(format!("{a},{b}")), vec![a, b]),
        (json!(format!(" {} , {} ", a.to_uppercase(), b)), vec![a, b]),
        (json!(""), vec![]),
        (json!("N/A"), vec![]),
        (Value::Null, vec![]),
        (json!([a, b]), vec![a, b]),
        (json!(json!([a, b]).to_string()), vec![a, b]),
        (json!(format!("{a}, not-a-guid, 42")), vec![a, "not-a-guid", "42"]),
    ];
    for (value, expected) in cases {
        let record = parse_ok(&composed_with("QueryResults", value.clone()));
        assert_eq!(record.query_result_ids(), expected, "{value}");
        assert!(record.notes.is_empty(), "{value}");
    }
}

#[test]
fn entity_id_zero_absent_or_placeholder_is_none() {
    for value in [
        json!("00000000-0000-0000-0000-000000000000"),
        json!("0000000-0000-0000-0000-000000000000"),
        json!("N/A"),
        json!(""),
        Value::Null,
    ] {
        assert_eq!(
            parse_ok(&composed_with("EntityId", value.clone())).entity_id(),
            None,
            "{value}"
        );
    }
    assert_eq!(parse_ok(&composed_without("EntityId")).entity_id(), None);
    let upper = parse_ok(&composed_with("EntityId", json!("5F3B0B3E-1C2D-4E5F-9A8B-7C6D5E4F3A2B")));
    assert_eq!(upper.entity_id(), Some("5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b"));
}

#[test]
fn numbers_as_strings() {
    for (value, expected) in
        [(json!(2), 2), (json!("2"), 2), (json!("Admin"), 2), (json!(" 4 "), 4)]
    {
        let record = parse_ok(&composed_with("UserType", value.clone()));
        assert_eq!(record.user_type, Some(UserType(expected)), "{value}");
    }
    for (value, expected) in [(json!(1), Some(1)), (json!("1"), Some(1)), (Value::Null, None)] {
        assert_eq!(parse_ok(&composed_with("Version", value.clone())).version, expected, "{value}");
    }
    for (value, expected) in [
        (json!(21), 21),
        (json!("21"), 21),
        (json!("CRM"), 21),
        (json!(463), 463),
        (json!(9999), 9999),
    ] {
        let record = parse_ok(&composed_with("RecordType", value.clone()));
        assert_eq!(record.record_type, RecordType(expected), "{value}");
    }
}

#[test]
fn unknown_fields_are_ignored_but_kept_in_the_raw_bytes() {
    let plain = parse_ok(&composed_with("ClientIP", json!("203.0.113.24")));
    let extra =
        composed_with("AppAccessContext", json!({"AADSessionId":"x","Nested":[1,{"a":null}]}));
    let blob = [b"[".as_slice(), extra.as_slice(), b"]".as_slice()].concat();
    let raws = parse_blob(&blob).expect("valid blob");
    assert!(raws[0].as_str().contains("AADSessionId"));
    assert_eq!(raws[0].parse().expect("valid"), plain);
}

#[test]
fn text_is_trimmed_and_entity_names_lower_cased() {
    let record = parse_ok(&composed_with("EntityName", json!(" Account ")));
    assert_eq!(record.entity_name(), Some("account"));
    let message = parse_ok(&composed_with("Message", json!("Retrieve ")));
    assert_eq!(message.sdk_message(), Some("Retrieve"));
}
