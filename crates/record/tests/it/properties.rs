//! Property tests: parsing never panics, whatever the bytes; every error keeps the exact input;
//! any JSON value in an optional field leaves the record readable.

use proptest::prelude::*;
use record::{MalformedKind, parse_blob, parse_json_lines, parse_record};
use serde_json::Value;

use crate::support::{COMPOSED_UPDATE, ISSUE_134, composed_with};

/// Arbitrary JSON values, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |n| n.is_finite()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip(at, byte)),
        (any::<usize>(), 0usize..64).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match mutation {
        Mutation::Flip(at, byte) => {
            let at = at % bytes.len();
            bytes[at] = *byte;
        }
        Mutation::Delete(at, len) => {
            let at = at % bytes.len();
            let end = (at + len).min(bytes.len());
            bytes.drain(at..end);
        }
        Mutation::Insert(at, inserted) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, inserted.iter().copied());
        }
        Mutation::Truncate(at) => bytes.truncate(at % bytes.len()),
    }
}

/// Keys normalization reads that are not mandatory.
const OPTIONAL_KEYS: [&str; 26] = [
    "OrganizationId",
    "UserType",
    "UserKey",
    "UserId",
    "ResultStatus",
    "ObjectId",
    "ClientIP",
    "Version",
    "CrmOrganizationUniqueName",
    "InstanceUrl",
    "ItemUrl",
    "ItemType",
    "UserAgent",
    "Message",
    "EntityId",
    "EntityName",
    "PrimaryFieldValue",
    "Query",
    "QueryResults",
    "Fields",
    "CorrelationId",
    "SystemUserId",
    "UserUpn",
    "ServiceName",
    "ServiceContextId",
    "ServiceContextIdType",
];

const MANDATORY_KEYS: [&str; 5] = ["Id", "CreationTime", "RecordType", "Operation", "Workload"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_record_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(error) = parse_record(&bytes) {
            prop_assert_eq!(error.bytes, bytes);
        }
    }

    #[test]
    fn blob_and_lines_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        match parse_blob(&bytes) {
            Ok(raws) => for raw in raws {
                let _ = raw.parse();
            },
            Err(error) => prop_assert_eq!(error.bytes, bytes.clone()),
        }
        for raw in parse_json_lines(&bytes).into_iter().flatten() {
            let _ = raw.parse();
        }
    }

    #[test]
    fn parse_record_never_panics_on_mutated_records(
        base in prop_oneof![Just(COMPOSED_UPDATE), Just(ISSUE_134)],
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut bytes = base.to_vec();
        for mutation in &mutations {
            apply(&mut bytes, mutation);
        }
        if let Err(error) = parse_record(&bytes) {
            prop_assert_eq!(error.bytes, bytes.clone());
        }
        let blob = [b"[".as_slice(), bytes.as_slice(), b"]".as_slice()].concat();
        if let Ok(raws) = parse_blob(&blob) {
            for raw in raws {
                let _ = raw.parse();
            }
        }
    }

    #[test]
    fn any_value_in_an_optional_field_keeps_the_record_readable(
        key in prop::sample::select(OPTIONAL_KEYS.as_slice()),
        value in json_value(),
    ) {
        let record = parse_record(&composed_with(key, value));
        let record = record.map_err(|error| TestCaseError::fail(error.to_string()))?;
        prop_assert_eq!(record.id.as_str(), "6f1d2a3b-0c4d-4e5f-8a9b-0c1d2e3f4a5b");
        let _ = (record.actor(), record.access_kind(), record.report_categories(), record.search_text());
    }

    #[test]
    fn any_value_in_a_mandatory_field_is_read_or_named(
        key in prop::sample::select(MANDATORY_KEYS.as_slice()),
        value in json_value(),
    ) {
        if let Err(error) = parse_record(&composed_with(key, value)) {
            let field = match error.kind {
                MalformedKind::MissingField { field }
                | MalformedKind::EmptyField { field }
                | MalformedKind::WrongType { field, .. }
                | MalformedKind::InvalidValue { field, .. } => field,
                other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
            };
            prop_assert_eq!(field, key);
        }
    }

    #[test]
    fn client_ip_keeps_any_text(text in ".{0,60}") {
        let record = parse_record(&composed_with("ClientIP", Value::String(text.clone())))
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        let trimmed = text.trim();
        prop_assert_eq!(record.client_ip.original.as_deref(), (!trimmed.is_empty()).then_some(trimmed));
    }

    #[test]
    fn creation_time_round_trips_through_every_written_form(
        seconds in 0i64..4_102_444_800,
        nanos in 0u32..1_000_000_000,
        offset_minutes in -14i32 * 60..=14 * 60,
    ) {
        let instant = chrono::DateTime::from_timestamp(seconds, nanos).expect("in range");
        let offset = chrono::FixedOffset::east_opt(offset_minutes * 60).expect("in range");
        let forms = [
            instant.format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
            instant.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string(),
            instant.with_timezone(&offset).format("%Y-%m-%dT%H:%M:%S%.f%:z").to_string(),
            instant.with_timezone(&offset).format("%Y-%m-%d %H:%M:%S%.f%z").to_string(),
        ];
        for form in forms {
            prop_assert_eq!(record::parse_creation_time(&form), Some(instant), "{}", form);
        }
    }
}
