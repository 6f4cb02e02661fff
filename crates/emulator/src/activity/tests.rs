//! Tests of the activity generator: determinism, record shapes, splitting, oddities, working
//! hours, volume, and agreement with the world's truth.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::*;

const TENANT: Uuid = Uuid::from_u128(0x4146_3f53_8812_40f4_890f_865b_f6e3_5190);

fn world() -> TenantWorld {
    TenantWorld::new(7, TENANT, "contoso.com", &ActivityProfile::default())
}

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().expect("valid time")
}

fn parse(records: &[String]) -> Vec<Map<String, Value>> {
    records
        .iter()
        .map(|r| match serde_json::from_str::<Value>(r) {
            Ok(Value::Object(map)) => map,
            other => panic!("not a JSON object: {other:?} from {r}"),
        })
        .collect()
}

fn text<'a>(record: &'a Map<String, Value>, key: &str) -> &'a str {
    record.get(key).and_then(Value::as_str).unwrap_or("")
}

fn is_crm(record: &Map<String, Value>) -> bool {
    text(record, "Workload") == "CRM"
}

/// One logical event per CorrelationId group of split parts, else per record.
fn events(records: &[Map<String, Value>]) -> usize {
    let mut groups: HashMap<&str, usize> = HashMap::new();
    let mut single = 0;
    for record in records {
        let correlation = text(record, "CorrelationId");
        if correlation.is_empty() || correlation == "00000000-0000-0000-0000-000000000000" {
            single += 1;
        } else {
            *groups.entry(correlation).or_default() += 1;
        }
    }
    single + groups.len()
}

// 2026-06-02 is a Tuesday.
fn tuesday() -> DateTime<Utc> {
    at(2026, 6, 2, 0, 0)
}

#[test]
fn same_inputs_give_identical_bytes_and_slots_differ() {
    let a = world().records("Audit.General", at(2026, 6, 2, 9, 0), at(2026, 6, 2, 9, 5));
    let b = world().records("Audit.General", at(2026, 6, 2, 9, 0), at(2026, 6, 2, 9, 5));
    assert!(!a.is_empty());
    assert_eq!(a, b);
    let next = world().records("Audit.General", at(2026, 6, 2, 9, 5), at(2026, 6, 2, 9, 10));
    let ids = |records: &[String]| -> HashSet<String> {
        parse(records).iter().map(|r| text(r, "Id").to_owned()).collect()
    };
    assert!(ids(&a).is_disjoint(&ids(&next)));
    let other_seed = TenantWorld::new(8, TENANT, "contoso.com", &ActivityProfile::default())
        .records("Audit.General", at(2026, 6, 2, 9, 0), at(2026, 6, 2, 9, 5));
    assert_ne!(a, other_seed);
}

#[test]
fn windows_of_whole_minutes_concatenate() {
    let world = world();
    let whole = world.records("Audit.General", at(2026, 6, 2, 9, 0), at(2026, 6, 2, 9, 10));
    let mut pieces = world.records("Audit.General", at(2026, 6, 2, 9, 0), at(2026, 6, 2, 9, 3));
    pieces.extend(world.records("Audit.General", at(2026, 6, 2, 9, 3), at(2026, 6, 2, 9, 10)));
    assert_eq!(whole, pieces);
    // Unaligned windows hold exactly the records whose time falls inside them.
    let from = at(2026, 6, 2, 9, 2) + Duration::seconds(17);
    let to = at(2026, 6, 2, 9, 7) + Duration::milliseconds(30_500);
    let part = world.records("Audit.General", from, to);
    let expected: Vec<String> = whole
        .iter()
        .filter(|r| {
            let record: Map<String, Value> = serde_json::from_str(r).expect("json");
            let time = creation_time(&record);
            time >= from && time < to
        })
        .cloned()
        .collect();
    assert_eq!(part, expected);
}

fn creation_time(record: &Map<String, Value>) -> DateTime<Utc> {
    let raw = text(record, "CreationTime").trim_end_matches('Z');
    let raw = raw.split('.').next().unwrap_or(raw);
    chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S").expect("time").and_utc()
}

#[test]
fn every_record_has_the_common_schema() {
    let world = world();
    for content_type in CONTENT_TYPES {
        let records =
            parse(&world.records(content_type, at(2026, 6, 2, 8, 0), at(2026, 6, 2, 9, 0)));
        assert!(records.len() >= 60, "{content_type}: {}", records.len());
        for record in &records {
            for key in [
                "CreationTime",
                "Id",
                "Operation",
                "OrganizationId",
                "RecordType",
                "UserKey",
                "UserType",
                "Workload",
                "UserId",
                "ClientIP",
                "Version",
            ] {
                assert!(
                    record.contains_key(key),
                    "{content_type} record without {key}: {record:?}"
                );
            }
            Uuid::parse_str(text(record, "Id")).expect("Id is a GUID");
            assert_eq!(text(record, "OrganizationId"), TENANT.to_string());
            let record_type = match &record["RecordType"] {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            };
            assert!(record_type.is_some(), "RecordType {:?}", record["RecordType"]);
        }
    }
}

#[test]
fn minutes_are_never_empty() {
    let world = world();
    // A Sunday night, the quietest time there is.
    let start = at(2026, 6, 7, 3, 0);
    for minute in 0..30 {
        let from = start + Duration::minutes(minute);
        for content_type in CONTENT_TYPES {
            let records = world.records(content_type, from, from + Duration::minutes(1));
            assert!(!records.is_empty(), "{content_type} empty at {from}");
        }
    }
    // Any minute-long window, aligned or not.
    let from = start + Duration::seconds(31);
    assert!(!world.records("Audit.General", from, from + Duration::minutes(1)).is_empty());
}

#[test]
fn crm_records_carry_the_dynamics_fields() {
    let world = world();
    let records =
        parse(&world.records("Audit.General", at(2026, 6, 2, 7, 0), at(2026, 6, 2, 12, 0)));
    let crm: Vec<_> = records.iter().filter(|r| is_crm(r)).collect();
    assert!(crm.len() > 1000, "{}", crm.len());
    let orgs: HashSet<&str> =
        world.organizations().iter().map(|o| o.unique_name.as_str()).collect();
    let mut messages: HashMap<&str, usize> = HashMap::new();
    for record in &crm {
        assert_eq!(text(record, "Operation"), "CrmDefaultActivity");
        assert!(
            matches!(&record["RecordType"], Value::Number(n) if n.as_u64() == Some(21))
                || text(record, "RecordType") == "21"
        );
        for key in [
            "CrmOrganizationUniqueName",
            "InstanceUrl",
            "ItemType",
            "ItemUrl",
            "UserAgent",
            "CorrelationId",
            "EntityId",
            "EntityName",
            "Message",
            "Fields",
            "Query",
            "QueryResults",
            "PrimaryFieldValue",
            "SystemUserId",
            "UserUpn",
            "ServiceName",
        ] {
            assert!(record.contains_key(key), "CRM record without {key}: {record:?}");
        }
        assert!(orgs.contains(text(record, "CrmOrganizationUniqueName")));
        assert!(text(record, "InstanceUrl").ends_with(".dynamics.com/"));
        assert!(text(record, "ItemUrl").starts_with(text(record, "InstanceUrl")));
        let entity_id = text(record, "EntityId");
        Uuid::parse_str(entity_id).expect("EntityId is a GUID");
        if text(record, "EntityName") == "Unknown" {
            assert_eq!(entity_id, "00000000-0000-0000-0000-000000000000");
            assert_eq!(text(record, "ItemType"), "Dynamics365");
        }
        match &record["Fields"] {
            Value::Array(fields) => {
                for field in fields {
                    assert!(field.get("Name").is_some() && field.get("Value").is_some());
                }
            }
            Value::String(fields) => {
                let parsed: Value = serde_json::from_str(fields).expect("stringly Fields");
                assert!(parsed.is_array());
            }
            other => panic!("Fields {other:?}"),
        }
        *messages.entry(text(record, "Message")).or_default() += 1;
    }
    for message in ["Retrieve", "RetrieveMultiple", "Update", "Create", "UserSignIn"] {
        assert!(messages.get(message).copied().unwrap_or(0) > 0, "no {message}: {messages:?}");
    }
    // Retrieve is the most common message.
    let top = messages.iter().max_by_key(|(_, count)| **count).map(|(m, _)| *m);
    assert_eq!(top, Some("Retrieve"), "{messages:?}");
}

#[test]
fn read_records_point_at_rows_of_the_world() {
    let world = world();
    let records =
        parse(&world.records("Audit.General", at(2026, 6, 2, 8, 0), at(2026, 6, 2, 10, 0)));
    let org_index: HashMap<&str, usize> =
        world.organizations().iter().map(|o| (o.unique_name.as_str(), o.index)).collect();
    let mut pools: HashMap<(usize, String), HashSet<String>> = HashMap::new();
    let mut pool = |org: usize, entity: &str| -> HashSet<String> {
        pools
            .entry((org, entity.to_owned()))
            .or_insert_with(|| world.rows(org, entity).iter().map(|r| r.id.to_string()).collect())
            .clone()
    };
    let mut checked = 0;
    for record in records.iter().filter(|r| is_crm(r) && text(r, "UserId") != "Unknown") {
        let org = org_index[text(record, "CrmOrganizationUniqueName")];
        let entity = text(record, "EntityName");
        if world.entities().iter().all(|e| e.logical_name != entity) {
            continue;
        }
        match text(record, "Message") {
            "Retrieve" if !text(record, "PrimaryFieldValue").is_empty() => {
                // Reloads after Create point at new rows; everything else is in the pool.
                let id = text(record, "EntityId");
                if pool(org, entity).contains(id) {
                    checked += 1;
                }
            }
            "RetrieveMultiple" => {
                for id in
                    text(record, "QueryResults").split(',').map(str::trim).filter(|s| !s.is_empty())
                {
                    assert!(pool(org, entity).contains(id), "{id} not a row of {entity}");
                    checked += 1;
                }
            }
            _ => {}
        }
    }
    assert!(checked > 1000, "{checked}");
    // Popular rows are read by many different people.
    let mut readers: HashMap<&str, HashSet<&str>> = HashMap::new();
    for record in records.iter().filter(|r| is_crm(r)) {
        let user = text(record, "UserId");
        let results = text(record, "QueryResults").split(',').map(str::trim);
        for id in results.chain([text(record, "EntityId")]) {
            if !id.is_empty() && id != "00000000-0000-0000-0000-000000000000" {
                readers.entry(id).or_default().insert(user);
            }
        }
    }
    let most = readers.values().map(HashSet::len).max().unwrap_or(0);
    assert!(most >= 5, "the most popular row has {most} readers");
}

#[test]
fn large_records_are_split_into_parts_sharing_a_correlation_id() {
    let world = world();
    let raw = world.records("Audit.General", tuesday(), tuesday() + Duration::days(1));
    let records = parse(&raw);
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, record) in records.iter().enumerate() {
        let correlation = text(record, "CorrelationId");
        if is_crm(record) && correlation != "00000000-0000-0000-0000-000000000000" {
            groups.entry(correlation).or_default().push(index);
        }
    }
    let split: Vec<&Vec<usize>> = groups.values().filter(|g| g.len() > 1).collect();
    assert!(!split.is_empty());
    for group in &split {
        let first = &records[group[0]];
        let mut ids = HashSet::new();
        for &index in group.iter() {
            assert!(raw[index].len() <= json::RECORD_LIMIT, "part of {} bytes", raw[index].len());
            let part = &records[index];
            assert!(ids.insert(text(part, "Id")), "parts share an Id");
            for key in ["Message", "CreationTime", "EntityName", "UserId"] {
                assert_eq!(part[key], first[key], "{key} differs between parts");
            }
        }
    }
    for (index, record) in raw.iter().enumerate() {
        let in_split = split.iter().any(|g| g.contains(&index));
        if !in_split {
            assert!(
                record.len() <= json::RECORD_LIMIT + 2048,
                "unsplit record of {}",
                record.len()
            );
        }
    }
    let crm: Vec<_> = records.iter().filter(|r| is_crm(r)).cloned().collect();
    let fraction = split.len() as f64 / events(&crm) as f64;
    assert!((0.002..0.015).contains(&fraction), "split fraction {fraction}");
}

#[test]
fn export_to_excel_follows_its_query() {
    let profile = ActivityProfile { users: 200, ..ActivityProfile::default() };
    let world = TenantWorld::new(11, TENANT, "contoso.com", &profile);
    let records = parse(&world.records("Audit.General", tuesday(), tuesday() + Duration::days(1)));
    let mut exports = 0;
    for (index, record) in records.iter().enumerate() {
        if text(record, "Message") != "ExportToExcel" {
            continue;
        }
        exports += 1;
        assert!(record["Query"].is_null());
        let time = creation_time(record);
        let found = records[..index].iter().rev().take(400).any(|earlier| {
            text(earlier, "Message") == "RetrieveMultiple"
                && text(earlier, "UserId") == text(record, "UserId")
                && text(earlier, "EntityName") == text(record, "EntityName")
                && creation_time(earlier) == time - Duration::seconds(1)
                && !text(earlier, "Query").is_empty()
        });
        assert!(found, "ExportToExcel without its RetrieveMultiple: {record:?}");
    }
    assert!(exports > 0);
}

#[test]
fn oddity_fractions_are_respected() {
    let oddities = ShapeOddities {
        record_type_as_string: 0.1,
        client_ip_with_port: 0.2,
        creation_time_with_zone: 0.1,
        fields_as_string: 0.15,
        object_id_trailing_space: 0.05,
        result_status_variants: 0.1,
    };
    let profile = ActivityProfile { oddities, ..ActivityProfile::default() };
    let world = TenantWorld::new(5, TENANT, "contoso.com", &profile);
    let records = parse(&world.records("Audit.General", tuesday(), tuesday() + Duration::days(1)));
    let n = records.len() as f64;
    let share = |f: &dyn Fn(&Map<String, Value>) -> bool| {
        records.iter().filter(|r| f(r)).count() as f64 / n
    };
    let close = |measured: f64, expected: f64, what: &str| {
        assert!((measured - expected).abs() < expected * 0.25, "{what}: {measured} vs {expected}");
    };
    close(share(&|r| r["RecordType"].is_string()), 0.1, "RecordType as string");
    close(
        share(&|r| {
            let ip = text(r, "ClientIP");
            ip.starts_with('[') || (ip.matches(':').count() == 1)
        }),
        0.2,
        "ClientIP with port",
    );
    close(share(&|r| text(r, "CreationTime").ends_with('Z')), 0.1, "CreationTime with zone");
    close(share(&|r| text(r, "ObjectId").ends_with(' ')), 0.05, "ObjectId trailing space");
    close(
        share(&|r| !matches!(text(r, "ResultStatus"), "Success" | "Succeeded" | "Failed")),
        0.05,
        "lowercase status",
    );
    let crm: Vec<_> = records.iter().filter(|r| is_crm(r)).collect();
    let stringly = crm.iter().filter(|r| r["Fields"].is_string()).count() as f64 / crm.len() as f64;
    close(stringly, 0.15, "Fields as string");
}

#[test]
fn default_profile_has_the_documented_shape_mostly() {
    let records =
        parse(&world().records("Audit.General", tuesday(), tuesday() + Duration::hours(12)));
    let plain = records
        .iter()
        .filter(|r| r["RecordType"].is_number() && !text(r, "CreationTime").ends_with('Z'))
        .count();
    assert!(plain as f64 > records.len() as f64 * 0.95);
}

/// Person CRM records by (local weekday, local hour) of the acting user.
fn local_histogram(
    world: &TenantWorld,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> HashMap<(u32, u32), usize> {
    let records = parse(&world.records("Audit.General", from, to));
    let mut histogram = HashMap::new();
    for record in records.iter().filter(|r| is_crm(r)) {
        let Some(user) = world.user_by_upn(text(record, "UserId")) else { continue };
        if !user.is_person() {
            continue;
        }
        let local = creation_time(record) + Duration::minutes(i64::from(user.utc_offset_minutes));
        use chrono::{Datelike, Timelike};
        let key = (local.weekday().num_days_from_monday(), local.hour());
        *histogram.entry(key).or_default() += 1;
    }
    histogram
}

#[test]
fn working_hours_shape_the_activity() {
    let world = world();
    // Whole local Tuesdays (2026-06-02) and weekends (2026-06-06/07) in every time zone.
    let mut histogram = local_histogram(&world, at(2026, 6, 1, 12, 0), at(2026, 6, 3, 12, 0));
    for (key, count) in local_histogram(&world, at(2026, 6, 5, 12, 0), at(2026, 6, 8, 0, 0)) {
        *histogram.entry(key).or_default() += count;
    }
    let tuesday_ten = histogram.get(&(1, 10)).copied().unwrap_or(0);
    let sunday_three = histogram.get(&(6, 3)).copied().unwrap_or(0);
    assert!(tuesday_ten > 20 * sunday_three.max(1), "{tuesday_ten} vs {sunday_three}");
    let saturday: usize = (0..24).map(|h| histogram.get(&(5, h)).copied().unwrap_or(0)).sum();
    let tuesday: usize = (0..24).map(|h| histogram.get(&(1, h)).copied().unwrap_or(0)).sum();
    assert!(tuesday > 5 * saturday, "{tuesday} vs {saturday}");
    // Someone is up at 3 a.m. now and then: the outside-working-hours report has data.
    let small_hours: usize = (0..7)
        .flat_map(|d| (1..=4).map(move |h| (d, h)))
        .map(|key| histogram.get(&key).copied().unwrap_or(0))
        .sum();
    assert!(small_hours > 0);
}

#[test]
fn volume_follows_the_profile() {
    let world = world();
    // Wednesday, a full UTC day: neighbours are working days in every time zone.
    let from = at(2026, 6, 3, 0, 0);
    let records = parse(&world.records("Audit.General", from, from + Duration::days(1)));
    let people = world.users().iter().filter(|u| u.is_person()).count() as f64;
    let person_records = records
        .iter()
        .filter(|r| is_crm(r) && world.user_by_upn(text(r, "UserId")).is_some_and(User::is_person))
        .count() as f64;
    let per_user = person_records / people;
    let expected = ActivityProfile::default().crm_records_per_user_day;
    assert!((per_user - expected).abs() < expected * 0.25, "{per_user} per user-day");
    let other = records.iter().filter(|r| !is_crm(r)).count() as f64 / records.len() as f64;
    assert!((other - 0.15).abs() < 0.04, "other workloads {other}");
}

#[test]
fn other_content_types_hold_no_crm_records() {
    let world = world();
    for content_type in CONTENT_TYPES.iter().filter(|c| **c != "Audit.General") {
        let records =
            parse(&world.records(content_type, tuesday(), tuesday() + Duration::hours(3)));
        assert!(records.len() >= 180);
        for record in &records {
            assert_ne!(text(record, "Workload"), "CRM");
            assert!(!record.contains_key("CrmOrganizationUniqueName"));
            assert_ne!(record["RecordType"].as_u64(), Some(21));
        }
    }
    let general = parse(&world.records("Audit.General", tuesday(), tuesday() + Duration::hours(3)));
    let workloads: HashSet<&str> = general.iter().map(|r| text(r, "Workload")).collect();
    for workload in ["CRM", "PowerApps", "MicrosoftFlow", "PowerBI", "PowerPlatform"] {
        assert!(workloads.contains(workload), "{workloads:?}");
    }
    assert!(world.records("Audit.Nonsense", tuesday(), tuesday() + Duration::hours(1)).is_empty());
}

#[test]
fn the_world_is_exposed_for_tests() {
    let world = world();
    assert_eq!(world.organizations().len(), 3);
    assert!(world.users().iter().any(|u| u.kind == UserKind::System && u.upn == "Unknown"));
    assert!(world.users().iter().any(|u| u.kind == UserKind::Admin));
    let kinds: HashSet<EntityKind> = world.entities().iter().map(|e| e.kind).collect();
    assert_eq!(kinds.len(), 4);
    let rows = world.rows(1, "contact");
    assert_eq!(rows.len(), 8000);
    assert_eq!(world.row(1, "contact", 17).as_ref(), rows.get(17));
    let user = &world.users()[0];
    assert_eq!(world.user_by_upn(&user.upn).map(|u| u.index), Some(0));
}

/// Not a test of behaviour: prints generation speed (run with `--release --ignored --nocapture`).
#[test]
#[ignore = "timing report, run explicitly"]
fn generation_speed() {
    let profile = ActivityProfile { users: 400, ..ActivityProfile::default() };
    let world = TenantWorld::new(1, TENANT, "contoso.com", &profile);
    let started = std::time::Instant::now();
    let mut count = 0usize;
    let mut bytes = 0usize;
    let mut from = tuesday();
    while count < 1_000_000 {
        let records = world.records("Audit.General", from, from + Duration::hours(1));
        count += records.len();
        bytes += records.iter().map(String::len).sum::<usize>();
        from += Duration::hours(1);
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{count} records, {:.0} records/s, {:.1} MB/s, mean {} bytes",
        count as f64 / seconds,
        bytes as f64 / seconds / 1e6,
        bytes / count
    );
}

/// Prints one record per interesting message (run with `--ignored --nocapture`).
#[test]
#[ignore = "sample printer, run explicitly"]
fn print_samples() {
    let records = world().records("Audit.General", at(2026, 6, 2, 9, 0), at(2026, 6, 2, 10, 0));
    let mut seen = HashSet::new();
    for raw in &records {
        let record: Map<String, Value> = serde_json::from_str(raw).expect("json");
        let key = format!("{}:{}", text(&record, "Workload"), text(&record, "Message"));
        if seen.insert(key) {
            println!("{raw}\n");
        }
    }
}
