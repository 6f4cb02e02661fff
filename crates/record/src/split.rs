//! Stitching records that Microsoft split. Office audit records are limited to 3 KB, so one
//! Dataverse operation (typically a `RetrieveMultiple` or `ExportToExcel` with many result ids)
//! arrives as several records that share a `CorrelationId`. The archive keeps every part; queries
//! see one [`LogicalEvent`].
//!
//! The rule: records are parts of one event when they share a non-zero `CorrelationId`, the same
//! actor ([`ActivityRecord::actor`]), the same SDK message (else the same `Operation`), and their
//! `CreationTime`s lie within [`SPLIT_WINDOW`] of the event's earliest part. A record without a
//! correlation id (absent or all-zero, as for entity-less system events) is an event on its own.
//! A part whose `Id` already belongs to the event (Microsoft delivers duplicates by design) is
//! not added twice. The event's `QueryResults` ids and `Fields` are the union of its parts', in
//! part order, first occurrence kept.

use std::collections::{HashMap, HashSet};

use chrono::TimeDelta;
use serde::Serialize;

use crate::activity::{ActivityRecord, Field};

/// How far apart in `CreationTime` the parts of one split record may be. Parts are cut from one
/// source record, so they normally share the same second; the margin absorbs rounding.
pub const SPLIT_WINDOW: TimeDelta = TimeDelta::seconds(60);

/// One operation as the user performed it: one record, or the parts of a record Microsoft split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogicalEvent<'a> {
    /// The parts, ordered by `CreationTime`, then by their order in the input. Never empty.
    pub parts: Vec<&'a ActivityRecord>,
    /// Union of the parts' `QueryResults` ids, in order, without repeats.
    pub query_result_ids: Vec<&'a str>,
    /// Union of the parts' `Fields`, in order, without exact repeats.
    pub fields: Vec<&'a Field>,
}

impl<'a> LogicalEvent<'a> {
    /// The first part: its id, time, actor and message stand for the event.
    pub fn first(&self) -> &'a ActivityRecord {
        self.parts[0]
    }

    /// Whether the event was split into several records.
    pub fn is_split(&self) -> bool {
        self.parts.len() > 1
    }

    /// The shared correlation id, when the event has one.
    pub fn correlation_id(&self) -> Option<&'a str> {
        self.first().correlation_id()
    }

    /// The `Id`s of the parts, in part order.
    pub fn part_ids(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.parts.iter().map(|part| part.id.as_str())
    }

    fn from_parts(parts: Vec<&'a ActivityRecord>) -> Self {
        let mut seen_ids = HashSet::new();
        let mut query_result_ids = Vec::new();
        let mut seen_fields = HashSet::new();
        let mut fields = Vec::new();
        for part in &parts {
            for id in part.query_result_ids() {
                if seen_ids.insert(id.as_str()) {
                    query_result_ids.push(id.as_str());
                }
            }
            for field in part.fields() {
                if seen_fields.insert(field) {
                    fields.push(field);
                }
            }
        }
        Self { parts, query_result_ids, fields }
    }
}

/// Groups records into logical events with [`SPLIT_WINDOW`]; see the module documentation for
/// the rule. Events come out in the order of their first part in the input.
pub fn group_split_records(records: &[ActivityRecord]) -> Vec<LogicalEvent<'_>> {
    group_split_records_within(records, SPLIT_WINDOW)
}

/// [`group_split_records`] with a chosen time window.
pub fn group_split_records_within(
    records: &[ActivityRecord],
    window: TimeDelta,
) -> Vec<LogicalEvent<'_>> {
    // Groups of input indices; each starts at its first member's input index.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut correlated: HashMap<(&str, &str, &str), Vec<usize>> = HashMap::new();
    for (index, record) in records.iter().enumerate() {
        match record.correlation_id() {
            Some(correlation_id) => {
                let message = record.sdk_message().unwrap_or(&record.operation);
                correlated
                    .entry((correlation_id, record.actor(), message))
                    .or_default()
                    .push(index);
            }
            None => groups.push(vec![index]),
        }
    }
    for (_, mut members) in correlated {
        members.sort_by_key(|&index| (records[index].creation_time, index));
        let mut current: Vec<usize> = Vec::new();
        let mut ids: HashSet<&str> = HashSet::new();
        for index in members {
            let record = &records[index];
            let within = current.first().is_some_and(|&start| {
                record.creation_time - records[start].creation_time <= window
            });
            if !within && !current.is_empty() {
                groups.push(std::mem::take(&mut current));
                ids.clear();
            }
            if ids.insert(record.id.as_str()) {
                current.push(index);
            }
        }
        if !current.is_empty() {
            groups.push(current);
        }
    }
    groups.sort_by_key(|members| members.iter().copied().min().unwrap_or(usize::MAX));
    groups
        .into_iter()
        .map(|members| {
            LogicalEvent::from_parts(members.into_iter().map(|index| &records[index]).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::parse_record;

    fn record(
        id: &str,
        correlation: &str,
        time: &str,
        ids: &str,
        user: &str,
        message: &str,
    ) -> ActivityRecord {
        let json = format!(
            r#"{{"Id":"{id}","CreationTime":"{time}","RecordType":21,"Operation":"CrmDefaultActivity",
                "Workload":"CRM","UserId":"{user}","Message":"{message}","EntityName":"account",
                "CorrelationId":"{correlation}","QueryResults":"{ids}"}}"#
        );
        parse_record(json.as_bytes()).expect("valid test record")
    }

    const C1: &str = "2b7c1d0e-3f4a-4b5c-8d9e-0f1a2b3c4d5e";
    const ZERO: &str = "00000000-0000-0000-0000-000000000000";

    #[test]
    fn parts_with_one_correlation_id_become_one_event() {
        let records = [
            record("p2", C1, "2026-06-01T09:00:01", "c, d", "alice", "RetrieveMultiple"),
            record("solo", ZERO, "2026-06-01T09:00:00", "x", "alice", "RetrieveMultiple"),
            record("p1", C1, "2026-06-01T09:00:00", "a, b, c", "alice", "RetrieveMultiple"),
        ];
        let events = group_split_records(&records);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].part_ids().collect::<Vec<_>>(), ["p1", "p2"], "time order");
        assert_eq!(events[0].query_result_ids, ["a", "b", "c", "d"]);
        assert!(events[0].is_split());
        assert_eq!(events[0].correlation_id(), Some(C1));
        assert_eq!(events[1].part_ids().collect::<Vec<_>>(), ["solo"]);
        assert!(!events[1].is_split());
    }

    #[test]
    fn different_actor_message_or_time_are_separate_events() {
        let records = [
            record("a", C1, "2026-06-01T09:00:00", "1", "alice", "RetrieveMultiple"),
            record("b", C1, "2026-06-01T09:00:00", "2", "bob", "RetrieveMultiple"),
            record("c", C1, "2026-06-01T09:00:00", "3", "alice", "ExportToExcel"),
            record("d", C1, "2026-06-01T09:05:00", "4", "alice", "RetrieveMultiple"),
            record("e", C1, "2026-06-01T09:00:30", "5", "alice", "RetrieveMultiple"),
        ];
        let events = group_split_records(&records);
        let parts: Vec<Vec<&str>> = events.iter().map(|e| e.part_ids().collect()).collect();
        assert_eq!(parts, [vec!["a", "e"], vec!["b"], vec!["c"], vec!["d"]]);
    }

    #[test]
    fn duplicate_deliveries_are_not_parts_twice() {
        let records = [
            record("p1", C1, "2026-06-01T09:00:00", "a", "alice", "RetrieveMultiple"),
            record("p1", C1, "2026-06-01T09:00:00", "a", "alice", "RetrieveMultiple"),
            record("p2", C1, "2026-06-01T09:00:00", "b", "alice", "RetrieveMultiple"),
        ];
        let events = group_split_records(&records);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].part_ids().collect::<Vec<_>>(), ["p1", "p2"]);
        assert_eq!(events[0].query_result_ids, ["a", "b"]);
    }

    #[test]
    fn records_without_correlation_stay_alone_in_input_order() {
        let records = [
            record("x", ZERO, "2026-06-01T09:00:00", "", "alice", "Retrieve"),
            record("y", ZERO, "2026-06-01T09:00:00", "", "alice", "Retrieve"),
        ];
        let events = group_split_records(&records);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].first().id, "x");
        assert_eq!(events[1].first().id, "y");
        assert!(group_split_records(&[]).is_empty());
    }
}
