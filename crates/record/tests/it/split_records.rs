//! Split records: a `RetrieveMultiple` whose result ids exceeded 3 KB arrives as several records
//! sharing a `CorrelationId`; grouping gives one logical event with the union of the ids.

use record::{ActivityRecord, group_split_records, group_split_records_within, parse_blob};
use serde_json::{Value, json};

use crate::support::composed;

const CORRELATION: &str = "7d2c1b0a-9f8e-4d7c-a6b5-c4d3e2f1a0b9";

/// One part of a split `RetrieveMultiple`, as JSON.
fn part(id: &str, time: &str, ids: &[String], fields: Value) -> Value {
    let mut map = composed();
    map.insert("Id".into(), json!(id));
    map.insert("CreationTime".into(), json!(time));
    map.insert("Message".into(), json!("RetrieveMultiple"));
    map.insert("EntityId".into(), json!("00000000-0000-0000-0000-000000000000"));
    map.insert("CorrelationId".into(), json!(CORRELATION));
    map.insert("QueryResults".into(), json!(ids.join(", ")));
    map.insert("Fields".into(), fields);
    Value::Object(map)
}

fn result_ids(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|n| format!("{n:08x}-0000-4000-8000-000000000000")).collect()
}

fn parse_all(values: &[Value]) -> Vec<ActivityRecord> {
    let blob = serde_json::to_vec(values).expect("serializes");
    parse_blob(&blob).expect("valid").iter().map(|raw| raw.parse().expect("valid")).collect()
}

#[test]
fn split_retrieve_multiple_is_one_event_with_all_ids() {
    let lone = {
        let mut map = composed();
        map.insert("Id".into(), json!("lone"));
        map.insert("CorrelationId".into(), json!("00000000-0000-0000-0000-000000000000"));
        Value::Object(map)
    };
    let records = parse_all(&[
        part(
            "part-2",
            "2026-06-01T09:14:22",
            &result_ids(40..80),
            json!([{"Name":"b","Value":"2"}]),
        ),
        lone,
        part(
            "part-1",
            "2026-06-01T09:14:22",
            &result_ids(0..40),
            json!([{"Name":"a","Value":"1"}]),
        ),
        part(
            "part-3",
            "2026-06-01T09:14:23",
            &result_ids(78..100),
            json!([{"Name":"a","Value":"1"}]),
        ),
        part("part-1", "2026-06-01T09:14:22", &result_ids(0..40), json!([])),
    ]);
    let events = group_split_records(&records);
    assert_eq!(events.len(), 2);

    let split = &events[0];
    assert_eq!(split.part_ids().collect::<Vec<_>>(), ["part-2", "part-1", "part-3"]);
    assert_eq!(split.correlation_id(), Some(CORRELATION));
    let expected: Vec<String> = result_ids(40..80)
        .into_iter()
        .chain(result_ids(0..40))
        .chain(result_ids(80..100))
        .collect();
    assert_eq!(split.query_result_ids, expected, "union in part order, first occurrence kept");
    let fields: Vec<&str> = split.fields.iter().map(|field| field.name.as_str()).collect();
    assert_eq!(fields, ["b", "a"]);

    assert_eq!(events[1].part_ids().collect::<Vec<_>>(), ["lone"]);
    assert_eq!(events[1].correlation_id(), None);
}

#[test]
fn window_separates_reused_correlation_ids() {
    let records = parse_all(&[
        part("early", "2026-06-01T09:00:00", &result_ids(0..1), json!([])),
        part("late", "2026-06-01T10:00:00", &result_ids(1..2), json!([])),
    ]);
    assert_eq!(group_split_records(&records).len(), 2);
    assert_eq!(group_split_records_within(&records, chrono::TimeDelta::hours(2)).len(), 1);
}
