//! Malformed input: every failure is an error value carrying the exact bytes and a reason that
//! names the problem; nothing panics and one bad record never hides its neighbours.

use record::{MalformedKind, SourcePosition, parse_blob, parse_json_lines, parse_record};
use serde_json::json;

use crate::support::{PP_LEAD_CONVERSION, composed_with, composed_without};

#[test]
fn not_json_at_all() {
    for input in [&b"hello"[..], b"<html><body>Service Unavailable</body></html>", b"{\"Id\":", b""]
    {
        let error = parse_record(input).expect_err("not a record");
        assert!(matches!(error.kind, MalformedKind::InvalidJson { .. }), "{error}");
        assert_eq!(error.bytes, input);
    }
    let blob_error = parse_blob(b"<html>").expect_err("not a blob");
    assert_eq!(blob_error.bytes, b"<html>");
    assert!(blob_error.to_string().contains("not a JSON array of activity records"));
}

#[test]
fn missing_id_is_named() {
    let bytes = composed_without("Id");
    let error = parse_record(&bytes).expect_err("Id is mandatory");
    assert_eq!(error.kind, MalformedKind::MissingField { field: "Id" });
    assert_eq!(error.bytes, bytes);
    assert!(error.to_string().contains("mandatory field `Id` is missing"), "{error}");
}

#[test]
fn id_that_is_not_a_string() {
    for (value, found) in [
        (json!(42), "number"),
        (json!({"a":1}), "object"),
        (json!(["x"]), "array"),
        (json!(true), "boolean"),
    ] {
        let bytes = composed_with("Id", value);
        let error = parse_record(&bytes).expect_err("Id must be a string");
        assert_eq!(
            error.kind,
            MalformedKind::WrongType { field: "Id", found, expected: "a string" }
        );
        assert_eq!(error.bytes, bytes);
    }
    let null = parse_record(&composed_with("Id", json!(null))).expect_err("null Id");
    assert_eq!(null.kind, MalformedKind::MissingField { field: "Id" });
    let blank = parse_record(&composed_with("Id", json!("  "))).expect_err("blank Id");
    assert_eq!(blank.kind, MalformedKind::EmptyField { field: "Id" });
}

#[test]
fn every_mandatory_field_is_named_when_missing() {
    for field in ["Id", "CreationTime", "RecordType", "Operation", "Workload"] {
        let error = parse_record(&composed_without(field)).expect_err("mandatory");
        assert_eq!(error.reason(), format!("mandatory field `{field}` is missing or null"));
    }
}

#[test]
fn array_of_non_objects_gives_one_error_per_element() {
    let blob = br#"[1, "text", null, [], {"nested":{}}, true]"#;
    let raws = parse_blob(blob).expect("the blob itself is valid JSON");
    assert_eq!(raws.len(), 6);
    let expected = [
        MalformedKind::NotAnObject { found: "number" },
        MalformedKind::NotAnObject { found: "string" },
        MalformedKind::NotAnObject { found: "null" },
        MalformedKind::NotAnObject { found: "array" },
        MalformedKind::MissingField { field: "Id" },
        MalformedKind::NotAnObject { found: "boolean" },
    ];
    for (index, (raw, kind)) in raws.iter().zip(expected).enumerate() {
        let error = raw.parse().expect_err("not a record");
        assert_eq!(error.kind, kind);
        assert_eq!(error.bytes, raw.bytes());
        assert_eq!(error.position, Some(SourcePosition::BlobElement(index)));
    }
}

#[test]
fn one_bad_element_does_not_hide_the_others() {
    let good = composed_with("Id", json!("good"));
    let bad = composed_without("CreationTime");
    let blob = [b"[", good.as_slice(), b",", bad.as_slice(), b",", good.as_slice(), b"]"].concat();
    let results: Vec<_> =
        parse_blob(&blob).expect("valid blob").iter().map(|raw| raw.parse()).collect();
    assert!(results[0].is_ok());
    let error = results[1].as_ref().expect_err("missing CreationTime");
    assert_eq!(error.bytes, bad);
    assert_eq!(error.position, Some(SourcePosition::BlobElement(1)));
    assert!(error.to_string().starts_with("malformed activity record at blob element 1"));
    assert!(results[2].is_ok());
}

#[test]
fn truncated_blob_is_an_error_with_all_its_bytes() {
    let full = PP_LEAD_CONVERSION.trim_ascii();
    for cut in [1, 2, 10, full.len() / 2, full.len() - 2, full.len() - 1] {
        let truncated = &full[..cut];
        let error = parse_blob(truncated).expect_err("truncated");
        assert_eq!(error.bytes, truncated, "cut at {cut}");
        assert!(error.reason.contains("EOF"), "cut at {cut}: {}", error.reason);
        assert!(error.to_string().contains("fetch it again"));
    }
}

#[test]
fn invalid_creation_time_and_record_type_values() {
    let error = parse_record(&composed_with("CreationTime", json!("3/2/2018 11:25:56 PM")))
        .expect_err("bad time");
    assert_eq!(
        error.kind,
        MalformedKind::InvalidValue { field: "CreationTime", value: "3/2/2018 11:25:56 PM".into() }
    );
    let error =
        parse_record(&composed_with("RecordType", json!("Dataverse"))).expect_err("bad type");
    assert_eq!(
        error.kind,
        MalformedKind::InvalidValue { field: "RecordType", value: "Dataverse".into() }
    );
}

#[test]
fn json_lines_with_bad_lines() {
    let good = composed_with("Id", json!("line-record"));
    let file = [
        good.as_slice(),
        b"\r\n\r\n{\"Id\": truncated\n".as_slice(),
        good.as_slice(),
        b"\n[1,2]\n".as_slice(),
    ]
    .concat();
    let lines = parse_json_lines(&file);
    assert_eq!(lines.len(), 4);
    let first = lines[0].as_ref().expect("line 1 is JSON");
    assert_eq!(first.bytes(), good.as_slice());
    assert_eq!(first.parse().expect("valid").id, "line-record");
    let bad = lines[1].as_ref().expect_err("line 3 is not JSON");
    assert_eq!(bad.position, Some(SourcePosition::Line(3)));
    assert_eq!(bad.bytes, b"{\"Id\": truncated");
    assert_eq!(lines[2].as_ref().expect("line 4").position(), SourcePosition::Line(4));
    let array = lines[3].as_ref().expect("line 5 is JSON").parse().expect_err("not an object");
    assert_eq!(array.kind, MalformedKind::NotAnObject { found: "array" });
    assert_eq!(array.position, Some(SourcePosition::Line(5)));
}
