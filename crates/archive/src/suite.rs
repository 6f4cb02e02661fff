//! The behaviour suite every archive backend passes: idempotent ingest, atomic batches, every
//! query filter, timelines, pagination, aggregations, verbatim bytes, verification and totals.
//!
//! Expectations come from a reference evaluator over [`crate::columns::from_activity`] (the same
//! columns every backend stores), plus hand-written answers for the questions auditors ask, so
//! the reference itself is checked too. Records are realistic Management Activity API JSON
//! written here, parsed with the `record` crate, and, for volume, produced by the emulator's
//! activity generator.
//!
//! A backend's test calls [`run_all`] with a function that opens a fresh, empty archive:
//!
//! ```ignore
//! archive::suite::run_all(|| async { open_a_fresh_archive().await }).await;
//! ```
//!
//! Conventions the suite fixes for every backend:
//! - aggregation keys: days `2026-06-01`, hours `00`..`23`, weekdays `Monday`..`Sunday` (all
//!   UTC); users, organizations, entities and messages as stored, `""` when a record has none;
//!   access kinds and categories by their snake_case names. Time dimensions come in time order,
//!   the others largest first, ties by key. A record counts once in every category it has.
//! - `users` match a UPN ignoring ASCII case, or a Dataverse system user id.
//! - `text` matches, ignoring ASCII case, a part of the user, entity, message or primary field
//!   value.
//! - An unknown access kind or category is [`ArchiveError::InvalidQuery`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::columns::{CATEGORIES, RecordColumns, category_bit, category_names, from_activity};
use crate::evidence::record_hash;
use crate::query::{FieldFilter, MAX_PAGE};
use crate::{
    Archive, ArchiveError, Bucket, Dimension, IncomingRecord, IngestBatch, Order, PageRequest,
    Quarantined, RawRecord, RecordQuery, RecordSummary, Via,
};

/// Runs every check, each on a fresh archive from `make`. Panics, naming the check, on the
/// first failure.
pub async fn run_all<A, F, Fut>(make: F)
where
    A: Archive,
    F: Fn() -> Fut,
    Fut: Future<Output = A>,
{
    ingest_is_idempotent(&make().await).await;
    duplicates_inside_one_batch_are_counted(&make().await).await;
    a_conflicting_variant_is_counted_and_the_first_is_kept(&make().await).await;
    quarantine_and_cursors_land_with_the_records(&make().await).await;
    every_filter_matches_the_reference(&make().await).await;
    record_timeline_includes_query_results(&make().await).await;
    a_record_timeline_over_years_pages_in_order(&make().await).await;
    user_timeline_matches_upn_and_system_user(&make().await).await;
    pages_have_no_gaps_or_repeats_in_both_orders(&make().await).await;
    aggregates_by_every_dimension(&make().await).await;
    record_returns_the_verbatim_bytes_and_details(&make().await).await;
    raw_pages_reproduce_the_input(&make().await).await;
    verify_is_intact_after_many_batches(&make().await).await;
    summary_totals_add_up(&make().await).await;
    emulator_volume_round_trips(&make().await).await;
}

fn start(check: &str) {
    eprintln!("archive suite: {check}");
}

// ---------------------------------------------------------------------------------------------
// Test data: a small, realistic tenant.

const TENANT: &str = "41463f53-8812-40f4-890f-865bf6e35190";
const ORG1: (&str, &str) = ("org1a2b3c4d", "https://contoso.crm4.dynamics.com/");
const ORG2: (&str, &str) = ("orgfab7e6d5", "https://contoso-sales.crm.dynamics.com/");

/// Account "Fabrikam".
pub const ACCOUNT_A: &str = "5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b";
const ACCOUNT_B: &str = "dc136b61-6c1e-e811-a952-000d3a732d76";
const ACCOUNT_C: &str = "00aa00aa-bb11-cc22-dd33-44ee44ee44ee";
/// Contact "Dana Smith".
pub const CONTACT_X: &str = "7a9e3c2d-5b4f-4e1a-8c6d-2f0b1a3e5d7c";
const CONTACT_Y: &str = "9c8b7a6d-1e2f-4a3b-9c4d-5e6f7a8b9c0d";
const WORKFLOW: &str = "3e2d1c0b-4a5f-4b6c-8d7e-9f0a1b2c3d4e";
const PROJECT: &str = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e";

const ALICE_ORG1: &str = "0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d";
const ALICE_ORG2: &str = "1b2c3d4e-5f6a-4b8c-9d0e-1f2a3b4c5d6e";
const BOB: &str = "2c3d4e5f-6a7b-4c9d-8e1f-2a3b4c5d6e7f";
const CAROL: &str = "3d4e5f6a-7b8c-4d0e-9f2a-3b4c5d6e7f80";

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).single().unwrap_or_default()
}

fn record_id(n: u32) -> String {
    format!("{n:08x}-5e1d-4c2b-9a8f-{:012x}", u64::from(n) * 7919)
}

/// One Dynamics 365 activity record, written in the field order Microsoft sends.
#[derive(Debug, Clone)]
struct Crm {
    id: String,
    time: DateTime<Utc>,
    user: &'static str,
    system_user: &'static str,
    org: (&'static str, &'static str),
    message: &'static str,
    entity: &'static str,
    entity_id: &'static str,
    primary: &'static str,
    fields: Vec<(&'static str, &'static str)>,
    query: Option<&'static str>,
    results: Option<&'static str>,
    ip: &'static str,
    correlation: &'static str,
    user_type: u32,
}

impl Crm {
    fn new(n: u32, minutes: i64, user: &'static str, system_user: &'static str) -> Crm {
        Crm {
            id: record_id(n),
            time: base() + Duration::minutes(minutes),
            user,
            system_user,
            org: ORG1,
            message: "Retrieve",
            entity: "account",
            entity_id: ACCOUNT_A,
            primary: "Fabrikam",
            fields: vec![],
            query: None,
            results: None,
            ip: "203.0.113.24",
            correlation: "00000000-0000-0000-0000-000000000000",
            user_type: 0,
        }
    }

    fn json(&self) -> Vec<u8> {
        let item_url = format!(
            "{}main.aspx?etn={}&pagetype=entityrecord&id={}",
            self.org.1, self.entity, self.entity_id
        );
        let fields: Vec<serde_json::Value> =
            self.fields.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect();
        let pairs: Vec<(&str, serde_json::Value)> = vec![
            ("CreationTime", json!(self.time.format("%Y-%m-%dT%H:%M:%S").to_string())),
            ("Id", json!(self.id)),
            ("Operation", json!("CrmDefaultActivity")),
            ("OrganizationId", json!(TENANT)),
            ("RecordType", json!(21)),
            ("ResultStatus", json!("Success")),
            ("UserKey", json!("10037FFE91510806")),
            ("UserType", json!(self.user_type)),
            ("Version", json!(1)),
            ("Workload", json!("CRM")),
            ("ClientIP", json!(self.ip)),
            ("ObjectId", json!(item_url)),
            ("UserId", json!(self.user)),
            ("CrmOrganizationUniqueName", json!(self.org.0)),
            ("Fields", json!(fields)),
            ("InstanceUrl", json!(self.org.1)),
            ("ItemType", json!(self.entity)),
            ("ItemUrl", json!(item_url)),
            ("UserAgent", json!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/126.0")),
            ("CorrelationId", json!(self.correlation)),
            ("EntityId", json!(self.entity_id)),
            ("EntityName", json!(self.entity)),
            ("Message", json!(self.message)),
            ("Query", json!(self.query)),
            ("QueryResults", json!(self.results)),
            ("PrimaryFieldValue", json!(self.primary)),
            ("ServiceContextId", json!("00000000-0000-0000-0000-000000000000")),
            ("ServiceContextIdType", json!("")),
            ("ServiceName", json!("CrmCore")),
            ("SystemUserId", json!(self.system_user)),
            ("UserUpn", json!(self.user)),
        ];
        object(&pairs)
    }
}

/// A JSON object with keys in the given order.
fn object(pairs: &[(&str, serde_json::Value)]) -> Vec<u8> {
    let body: Vec<String> =
        pairs.iter().map(|(k, v)| format!("{}:{}", serde_json::Value::from(*k), v)).collect();
    format!("{{{}}}", body.join(",")).into_bytes()
}

/// The small tenant's records, in the order they are ingested. Several share a second; one has
/// an `Id` that is not a GUID; two are the parts of a split record.
fn sample_records() -> Vec<Vec<u8>> {
    const ALICE: &str = "alice@contoso.com";
    const BOB_UPN: &str = "bob@contoso.com";
    const CAROL_UPN: &str = "carol@contoso.com";
    let mut out = Vec::new();
    let split = "6d5c4b3a-2f1e-4d0c-9b8a-7f6e5d4c3b2a";
    // Day 1, 09:00:00: three records in the same second.
    out.push(Crm::new(1, 0, ALICE, ALICE_ORG1).json());
    out.push(
        Crm {
            message: "RetrieveMultiple",
            entity_id: "00000000-0000-0000-0000-000000000000",
            primary: "",
            query: Some(
                r#"<filter type="and"><condition column="statecode" operator="eq" value="0" /></filter>"#,
            ),
            results: Some("5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b, dc136b61-6c1e-e811-a952-000d3a732d76, 00aa00aa-bb11-cc22-dd33-44ee44ee44ee"),
            ..Crm::new(2, 0, ALICE, ALICE_ORG1)
        }
        .json(),
    );
    out.push(
        Crm {
            message: "Update",
            primary: "Fabrikam Inc",
            fields: vec![("name", "Fabrikam Inc"), ("telephone1", "*")],
            ip: "198.51.100.7",
            ..Crm::new(3, 0, BOB_UPN, BOB)
        }
        .json(),
    );
    out.push(
        Crm {
            message: "ExportToExcel",
            entity: "contact",
            entity_id: "00000000-0000-0000-0000-000000000000",
            primary: "",
            results: Some(
                "7a9e3c2d-5b4f-4e1a-8c6d-2f0b1a3e5d7c, 9c8b7a6d-1e2f-4a3b-9c4d-5e6f7a8b9c0d",
            ),
            ip: "198.51.100.7:50749",
            ..Crm::new(4, 5, BOB_UPN, BOB)
        }
        .json(),
    );
    out.push(
        Crm {
            message: "Create",
            entity: "contact",
            entity_id: CONTACT_X,
            primary: "Dana Smith",
            fields: vec![("firstname", "Dana"), ("lastname", "Smith"), ("telephone1", "555 0100")],
            ip: "192.0.2.10",
            ..Crm::new(5, 90, CAROL_UPN, CAROL)
        }
        .json(),
    );
    // Day 2.
    out.push(
        Crm {
            message: "Delete",
            entity: "contact",
            entity_id: CONTACT_Y,
            primary: "Lee Chen",
            ip: "192.0.2.10",
            ..Crm::new(6, 24 * 60 + 285, CAROL_UPN, CAROL)
        }
        .json(),
    );
    out.push(
        Crm {
            entity: "contact",
            entity_id: CONTACT_X,
            primary: "Dana Smith",
            org: ORG2,
            ip: "203.0.113.99",
            ..Crm::new(7, 24 * 60 + 300, "Alice@Contoso.com", ALICE_ORG2)
        }
        .json(),
    );
    out.push(object(&[
        ("CreationTime", json!("2026-06-02T14:00:00")),
        ("Id", json!(record_id(8))),
        ("Operation", json!("LaunchPowerApp")),
        ("OrganizationId", json!(TENANT)),
        ("RecordType", json!(45)),
        ("ResultStatus", json!("Succeeded")),
        ("UserKey", json!("10037FFE91510806")),
        ("UserType", json!(0)),
        ("Version", json!(1)),
        ("Workload", json!("PowerApps")),
        ("ClientIP", json!("203.0.113.24")),
        ("ObjectId", json!("/providers/Microsoft.PowerApps/apps/3a5f1e0c")),
        ("UserId", json!(ALICE)),
        ("AppName", json!("Field Inspections")),
    ]));
    // Day 3.
    out.push(object(&[
        ("CreationTime", json!("2026-06-03T08:00:00")),
        ("Id", json!(record_id(9))),
        ("Operation", json!("UserLoggedIn")),
        ("OrganizationId", json!(TENANT)),
        ("RecordType", json!(15)),
        ("ResultStatus", json!("Success")),
        ("UserKey", json!("10033FFF8A2B1C9D")),
        ("UserType", json!(0)),
        ("Version", json!(1)),
        ("Workload", json!("AzureActiveDirectory")),
        ("ClientIP", json!("198.51.100.7")),
        ("ObjectId", json!("00000007-0000-0000-c000-000000000000")),
        ("UserId", json!(BOB_UPN)),
    ]));
    out.push(
        Crm {
            message: "Update",
            entity_id: ACCOUNT_B,
            primary: "Northwind",
            fields: vec![("description", "Long description, part one")],
            correlation: split,
            ..Crm::new(10, 2 * 24 * 60 + 10, CAROL_UPN, CAROL)
        }
        .json(),
    );
    out.push(
        Crm {
            message: "Update",
            entity_id: ACCOUNT_B,
            primary: "Northwind",
            fields: vec![("description", "part two"), ("revenue", "125000")],
            correlation: split,
            ..Crm::new(11, 2 * 24 * 60 + 10, CAROL_UPN, CAROL)
        }
        .json(),
    );
    // A re-shipped record: `Id` not a GUID, `RecordType` as a string, no user.
    out.push(object(&[
        ("CreationTime", json!("2026-06-03T09:10:00Z")),
        ("Id", json!("sanitized-0012")),
        ("Operation", json!("CrmDefaultActivity")),
        ("OrganizationId", json!(TENANT)),
        ("RecordType", json!("21")),
        ("UserKey", json!("Unknown")),
        ("UserType", json!(0)),
        ("Workload", json!("CRM")),
        ("ClientIP", json!("52.163.88.69:50749")),
        ("ObjectId", json!("UpdateRibbonClientMetadata ")),
        ("UserId", json!("Unknown")),
        ("CrmOrganizationUniqueName", json!(ORG1.0)),
        ("Fields", json!([])),
        ("InstanceUrl", json!(ORG1.1)),
        ("EntityId", json!("00000000-0000-0000-0000-000000000000")),
        ("EntityName", json!("Unknown")),
        ("Message", json!("UpdateRibbonClientMetadata")),
    ]));
    out.push(
        Crm {
            message: "BulkDelete",
            entity: "contact",
            entity_id: "00000000-0000-0000-0000-000000000000",
            primary: "",
            results: Some("7a9e3c2d-5b4f-4e1a-8c6d-2f0b1a3e5d7c, 12345"),
            ..Crm::new(13, 2 * 24 * 60 + 899, BOB_UPN, BOB)
        }
        .json(),
    );
    out.push(
        Crm {
            message: "SetState",
            entity: "workflow",
            entity_id: WORKFLOW,
            primary: "Notify owner on close",
            user_type: 3,
            ..Crm::new(14, 2 * 24 * 60 + 900, "admin@contoso.com", CAROL)
        }
        .json(),
    );
    out.push(
        Crm {
            entity: "contoso_project",
            entity_id: PROJECT,
            primary: "Fabrikam rollout",
            ..Crm::new(15, 2 * 24 * 60 + 901, ALICE, ALICE_ORG1)
        }
        .json(),
    );
    out
}

fn incoming(raw: &[u8]) -> IncomingRecord {
    match record::parse_record(raw) {
        Ok(record) => IncomingRecord { raw: raw.to_vec(), record },
        Err(e) => {
            panic!("suite record does not parse: {}: {}", e.reason(), String::from_utf8_lossy(raw))
        }
    }
}

fn batch_of(raws: &[Vec<u8>]) -> IngestBatch {
    IngestBatch { records: raws.iter().map(|r| incoming(r)).collect(), ..IngestBatch::default() }
}

// ---------------------------------------------------------------------------------------------
// The reference: what a backend must answer, computed over the columns in memory.

#[derive(Debug, Clone)]
struct Stored {
    /// Insertion order.
    order: usize,
    raw: Vec<u8>,
    columns: RecordColumns,
}

#[derive(Debug, Default)]
struct Reference {
    records: Vec<Stored>,
    ids: HashSet<String>,
}

impl Reference {
    fn ingest(&mut self, raws: &[Vec<u8>]) {
        for raw in raws {
            let columns = from_activity(&incoming(raw).record);
            if self.ids.insert(columns.id.clone()) {
                let order = self.records.len();
                self.records.push(Stored { order, raw: raw.clone(), columns });
            }
        }
    }

    fn get(&self, id: &str) -> &Stored {
        match self.records.iter().find(|s| s.columns.id == id) {
            Some(stored) => stored,
            None => panic!("the reference has no record {id}"),
        }
    }

    /// Matching records with `via`, oldest first.
    fn select(&self, q: &RecordQuery) -> Vec<(&Stored, Option<Via>)> {
        let mut out: Vec<(&Stored, Option<Via>)> = self
            .records
            .iter()
            .filter_map(|s| matches(q, &s.columns).map(|via| (s, via)))
            .collect();
        out.sort_by_key(|(s, _)| (s.columns.time, s.order));
        out
    }

    fn ids(&self, q: &RecordQuery, order: Order) -> Vec<(String, Option<Via>)> {
        let mut ids: Vec<(String, Option<Via>)> =
            self.select(q).into_iter().map(|(s, via)| (s.columns.id.clone(), via)).collect();
        if order == Order::NewestFirst {
            ids.reverse();
        }
        ids
    }

    fn buckets(&self, q: &RecordQuery, by: Dimension, limit: u32) -> Vec<Bucket> {
        let rows = self.select(q);
        let mut counts: BTreeMap<(i64, String), u64> = BTreeMap::new();
        for (s, _) in &rows {
            let c = &s.columns;
            let keys: Vec<(i64, String)> = match by {
                Dimension::Day => vec![(
                    i64::from(c.time.date_naive().num_days_from_ce()),
                    c.time.format("%Y-%m-%d").to_string(),
                )],
                Dimension::HourOfDay => {
                    vec![(i64::from(c.time.hour()), format!("{:02}", c.time.hour()))]
                }
                Dimension::Weekday => {
                    let day = c.time.weekday().num_days_from_monday();
                    vec![(i64::from(day), WEEKDAYS[day as usize].to_string())]
                }
                Dimension::User => vec![(0, c.user.clone())],
                Dimension::Organization => vec![(0, c.organization.clone().unwrap_or_default())],
                Dimension::Entity => vec![(0, c.entity.clone().unwrap_or_default())],
                Dimension::Message => vec![(0, c.message.clone().unwrap_or_default())],
                Dimension::Access => vec![(0, c.access.to_string())],
                Dimension::Category => {
                    category_names(c.categories).into_iter().map(|n| (0, n)).collect()
                }
            };
            for key in keys {
                *counts.entry(key).or_default() += 1;
            }
        }
        let mut buckets: Vec<((i64, String), u64)> = counts.into_iter().collect();
        if !matches!(by, Dimension::Day | Dimension::HourOfDay | Dimension::Weekday) {
            buckets.sort_by(|(a, ca), (b, cb)| cb.cmp(ca).then_with(|| a.1.cmp(&b.1)));
        }
        buckets
            .into_iter()
            .take(limit as usize)
            .map(|((_, key), count)| Bucket { key, count })
            .collect()
    }
}

const WEEKDAYS: [&str; 7] =
    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

fn parse_guid(text: &str) -> Option<Uuid> {
    Uuid::try_parse(text.trim().trim_matches(|c| c == '{' || c == '}')).ok()
}

fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Whether a record matches; `Some(via)` when it does.
fn matches(q: &RecordQuery, c: &RecordColumns) -> Option<Option<Via>> {
    let ok = q.from.is_none_or(|from| c.time >= from)
        && q.to.is_none_or(|to| c.time < to)
        && (q.users.is_empty()
            || q.users.iter().any(|u| {
                same(u, &c.user) || (parse_guid(u).is_some() && parse_guid(u) == c.system_user_id)
            }))
        && q.organization
            .as_ref()
            .is_none_or(|o| c.organization.as_deref().is_some_and(|x| same(o, x)))
        && q.entity.as_ref().is_none_or(|e| c.entity.as_deref().is_some_and(|x| same(e, x)))
        && (q.messages.is_empty()
            || q.messages.iter().any(|m| c.message.as_deref().is_some_and(|x| same(m, x))))
        && (q.access.is_empty() || q.access.iter().any(|a| same(a, c.access)))
        && q.category
            .as_ref()
            .is_none_or(|cat| category_bit(cat).is_some_and(|bit| c.categories & bit != 0))
        && q.field.as_ref().is_none_or(|f| {
            c.fields.iter().any(|(name, value)| {
                same(name, &f.name) && f.value.as_ref().is_none_or(|v| v == value)
            })
        })
        && q.client_ip.as_ref().is_none_or(|ip| c.client_ip.as_deref() == Some(ip.as_str()))
        && q.correlation_id.is_none_or(|id| c.correlation_id == Some(id))
        && (q.workloads.is_empty() || q.workloads.iter().any(|w| same(w, &c.workload)))
        && q.text.as_ref().is_none_or(|text| {
            let needle = text.trim().to_ascii_lowercase();
            [
                Some(c.user.as_str()),
                c.entity.as_deref(),
                c.message.as_deref(),
                c.primary_field_value.as_deref(),
            ]
            .into_iter()
            .flatten()
            .any(|hay| hay.to_ascii_lowercase().contains(&needle))
        });
    if !ok {
        return None;
    }
    match q.record_id {
        None => Some(None),
        Some(id) if c.entity_id == Some(id) => Some(Some(Via::Entity)),
        Some(id) if c.listed.contains(&id) => Some(Some(Via::QueryResults)),
        Some(_) => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers that read everything through the trait.

async fn all_ids<A: Archive>(
    archive: &A,
    q: &RecordQuery,
    order: Order,
) -> Vec<(String, Option<Via>)> {
    let page = PageRequest { limit: MAX_PAGE, after: None, order };
    let found = archive.search(q, &page).await.unwrap_or_else(|e| panic!("search {q:?}: {e}"));
    assert!(
        found.next.is_none(),
        "a full page of {} rows for {q:?} says more follow",
        found.rows.len()
    );
    found.rows.into_iter().map(|r| (r.id, r.via)).collect()
}

async fn paged_ids<A: Archive>(
    archive: &A,
    q: &RecordQuery,
    order: Order,
    limit: u32,
) -> Vec<(String, Option<Via>)> {
    let mut out = Vec::new();
    let mut after = None;
    for _ in 0..10_000 {
        let page = PageRequest { limit, after, order };
        let found = archive.search(q, &page).await.unwrap_or_else(|e| panic!("search {q:?}: {e}"));
        assert!(found.rows.len() <= limit as usize, "page longer than its limit for {q:?}");
        out.extend(found.rows.into_iter().map(|r| (r.id, r.via)));
        match found.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
    panic!("pagination of {q:?} does not end");
}

/// Every verbatim record `q` matches, read `limit` to a page.
async fn paged_raw<A: Archive>(
    archive: &A,
    q: &RecordQuery,
    order: Order,
    limit: u32,
) -> Vec<RawRecord> {
    let mut out = Vec::new();
    let mut after = None;
    for _ in 0..10_000 {
        let page = PageRequest { limit, after, order };
        let found = archive.raw_page(q, &page).await.unwrap_or_else(|e| panic!("{q:?}: {e}"));
        out.extend(found.rows);
        match found.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
    panic!("verbatim pages of {q:?} do not end");
}

async fn ingest_ok<A: Archive>(archive: &A, batch: IngestBatch) -> crate::IngestReceipt {
    archive.ingest(batch).await.unwrap_or_else(|e| panic!("ingest failed: {e}"))
}

/// Ingests the sample tenant in three batches and returns the reference.
async fn loaded<A: Archive>(archive: &A) -> Reference {
    let raws = sample_records();
    let mut reference = Reference::default();
    for chunk in [&raws[..4], &raws[4..9], &raws[9..]] {
        ingest_ok(archive, batch_of(chunk)).await;
        reference.ingest(chunk);
    }
    reference
}

fn guid(text: &str) -> Uuid {
    Uuid::try_parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Queries covering every filter alone and in combination.
fn queries() -> Vec<(&'static str, RecordQuery)> {
    let q = RecordQuery::default;
    let day = |d: u32| Utc.with_ymd_and_hms(2026, 6, d, 0, 0, 0).single().unwrap_or_default();
    vec![
        ("everything", q()),
        ("from", RecordQuery { from: Some(day(2)), ..q() }),
        ("to", RecordQuery { to: Some(day(2)), ..q() }),
        ("from at a record's exact time", RecordQuery { from: Some(base()), ..q() }),
        ("to at a record's exact time", RecordQuery { to: Some(base()), ..q() }),
        ("from and to", RecordQuery { from: Some(day(2)), to: Some(day(3)), ..q() }),
        ("user by upn", RecordQuery { users: vec!["alice@contoso.com".into()], ..q() }),
        (
            "user by upn, from and to",
            RecordQuery {
                users: vec!["alice@contoso.com".into()],
                from: Some(base()),
                to: Some(day(3)),
                ..q()
            },
        ),
        (
            "user by upn in other case",
            RecordQuery { users: vec!["ALICE@contoso.COM".into()], ..q() },
        ),
        ("user by system user id", RecordQuery { users: vec![ALICE_ORG2.into()], ..q() }),
        (
            "users, any of",
            RecordQuery { users: vec!["bob@contoso.com".into(), CAROL.into()], ..q() },
        ),
        ("user unknown", RecordQuery { users: vec!["mallory@contoso.com".into()], ..q() }),
        ("user actor unknown", RecordQuery { users: vec!["unknown".into()], ..q() }),
        ("organization by unique name", RecordQuery { organization: Some(ORG2.0.into()), ..q() }),
        (
            "organization in other case",
            RecordQuery { organization: Some("ORG1A2B3C4D".into()), ..q() },
        ),
        ("entity", RecordQuery { entity: Some("contact".into()), ..q() }),
        ("entity custom", RecordQuery { entity: Some("contoso_project".into()), ..q() }),
        ("entity unknown", RecordQuery { entity: Some("invoice".into()), ..q() }),
        ("record", RecordQuery { record_id: Some(guid(ACCOUNT_A)), ..q() }),
        ("record listed only", RecordQuery { record_id: Some(guid(ACCOUNT_C)), ..q() }),
        ("record never seen", RecordQuery { record_id: Some(guid(TENANT)), ..q() }),
        (
            "messages, any of, any case",
            RecordQuery { messages: vec!["retrieve".into(), "ExportToExcel".into()], ..q() },
        ),
        ("access read", RecordQuery { access: vec!["read".into()], ..q() }),
        (
            "access several",
            RecordQuery { access: vec!["update".into(), "delete".into(), "create".into()], ..q() },
        ),
        ("access other", RecordQuery { access: vec!["other".into()], ..q() }),
        ("category bulk", RecordQuery { category: Some("bulk_actions".into()), ..q() }),
        ("category custom", RecordQuery { category: Some("custom_entity".into()), ..q() }),
        ("category sign-in", RecordQuery { category: Some("sign_in_out".into()), ..q() }),
        (
            "category process",
            RecordQuery { category: Some("process_or_plugin_activation".into()), ..q() },
        ),
        (
            "field by name",
            RecordQuery {
                field: Some(FieldFilter { name: "telephone1".into(), value: None }),
                ..q()
            },
        ),
        (
            "field by value",
            RecordQuery {
                field: Some(FieldFilter {
                    name: "telephone1".into(),
                    value: Some("555 0100".into()),
                }),
                ..q()
            },
        ),
        (
            "field masked value",
            RecordQuery {
                field: Some(FieldFilter { name: "TELEPHONE1".into(), value: Some("*".into()) }),
                ..q()
            },
        ),
        (
            "field value not set",
            RecordQuery {
                field: Some(FieldFilter { name: "name".into(), value: Some("Contoso".into()) }),
                ..q()
            },
        ),
        ("client ip", RecordQuery { client_ip: Some("198.51.100.7".into()), ..q() }),
        (
            "correlation",
            RecordQuery {
                correlation_id: Some(guid("6d5c4b3a-2f1e-4d0c-9b8a-7f6e5d4c3b2a")),
                ..q()
            },
        ),
        (
            "workloads",
            RecordQuery {
                workloads: vec!["powerapps".into(), "AzureActiveDirectory".into()],
                ..q()
            },
        ),
        ("text in primary value", RecordQuery { text: Some("fabrikam".into()), ..q() }),
        ("text in user", RecordQuery { text: Some("CAROL@".into()), ..q() }),
        ("text in message", RecordQuery { text: Some("export".into()), ..q() }),
        ("text with a LIKE wildcard", RecordQuery { text: Some("contoso_".into()), ..q() }),
        ("text with percent", RecordQuery { text: Some("Fabrikam%".into()), ..q() }),
        (
            "record and user and access",
            RecordQuery {
                record_id: Some(guid(ACCOUNT_A)),
                users: vec!["alice@contoso.com".into()],
                access: vec!["read".into(), "read_multiple".into()],
                ..q()
            },
        ),
        (
            "record and time",
            RecordQuery { record_id: Some(guid(CONTACT_X)), from: Some(day(2)), ..q() },
        ),
        (
            "user and entity and message",
            RecordQuery {
                users: vec!["bob@contoso.com".into()],
                entity: Some("contact".into()),
                messages: vec!["ExportToExcel".into()],
                ..q()
            },
        ),
        (
            "field and user",
            RecordQuery {
                field: Some(FieldFilter { name: "description".into(), value: None }),
                users: vec![CAROL.into()],
                ..q()
            },
        ),
        (
            "correlation and field",
            RecordQuery {
                correlation_id: Some(guid("6d5c4b3a-2f1e-4d0c-9b8a-7f6e5d4c3b2a")),
                field: Some(FieldFilter { name: "revenue".into(), value: Some("125000".into()) }),
                ..q()
            },
        ),
        (
            "organization and workload and text and time",
            RecordQuery {
                organization: Some(ORG1.0.into()),
                workloads: vec!["CRM".into()],
                text: Some("dana".into()),
                to: Some(day(3)),
                ..q()
            },
        ),
        (
            "record and field and category",
            RecordQuery {
                record_id: Some(guid(CONTACT_X)),
                field: Some(FieldFilter { name: "firstname".into(), value: Some("Dana".into()) }),
                category: Some("out_of_box_entity".into()),
                ..q()
            },
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// The checks.

async fn ingest_is_idempotent<A: Archive>(archive: &A) {
    start("ingest is idempotent");
    let raws = sample_records();
    let first = ingest_ok(archive, batch_of(&raws)).await;
    assert_eq!(first.inserted, raws.len() as u64);
    assert_eq!((first.duplicates, first.variants), (0, 0));
    assert_eq!(first.sealed_batch, Some(1));
    let again = ingest_ok(archive, batch_of(&raws)).await;
    assert_eq!(again.inserted, 0, "the same batch twice stored records again");
    assert_eq!(again.duplicates, raws.len() as u64);
    assert_eq!(again.variants, 0, "identical bytes are not variants");
    assert_eq!(again.sealed_batch, None, "a batch that inserts nothing is not sealed");
    let summary = archive.summary().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((summary.records, summary.batches), (raws.len() as u64, 1));
    assert_eq!(archive.count(&RecordQuery::default()).await.ok(), Some(raws.len() as u64));
}

async fn duplicates_inside_one_batch_are_counted<A: Archive>(archive: &A) {
    start("duplicates inside one batch are counted");
    let raws = sample_records();
    let batch =
        vec![raws[0].clone(), raws[1].clone(), raws[0].clone(), raws[1].clone(), raws[2].clone()];
    let receipt = ingest_ok(archive, batch_of(&batch)).await;
    assert_eq!((receipt.inserted, receipt.duplicates, receipt.variants), (3, 2, 0));
    assert_eq!(archive.count(&RecordQuery::default()).await.ok(), Some(3));
    // An Id written as an upper-case GUID is the same record.
    let upper =
        String::from_utf8_lossy(&raws[0]).replace(&record_id(1), &record_id(1).to_uppercase());
    let receipt = ingest_ok(archive, batch_of(&[upper.into_bytes()])).await;
    assert_eq!((receipt.inserted, receipt.duplicates), (0, 1));
    assert_eq!(receipt.variants, 1, "different bytes for a stored Id are a variant");
}

async fn a_conflicting_variant_is_counted_and_the_first_is_kept<A: Archive>(archive: &A) {
    start("a conflicting variant is counted and the first is kept");
    let raws = sample_records();
    let original = raws[2].clone();
    let variant =
        String::from_utf8_lossy(&original).replace("Fabrikam Inc", "Fabrikam Ltd").into_bytes();
    assert_ne!(original, variant);
    ingest_ok(archive, batch_of(std::slice::from_ref(&original))).await;
    let receipt = ingest_ok(archive, batch_of(&[variant.clone(), raws[3].clone()])).await;
    assert_eq!((receipt.inserted, receipt.duplicates, receipt.variants), (1, 1, 1));
    let again = ingest_ok(archive, batch_of(std::slice::from_ref(&variant))).await;
    assert_eq!((again.inserted, again.duplicates, again.variants), (0, 1, 1));
    // Inside one batch too: the first occurrence wins.
    let other = String::from_utf8_lossy(&raws[4]).replace("555 0100", "555 0199").into_bytes();
    let receipt = ingest_ok(archive, batch_of(&[raws[4].clone(), other])).await;
    assert_eq!((receipt.inserted, receipt.duplicates, receipt.variants), (1, 1, 1));
    let kept = archive.record(&record_id(3)).await.ok().flatten().map(|r| r.raw);
    assert_eq!(kept, Some(original), "the first bytes stay the record");
    let kept = archive.record(&record_id(5)).await.ok().flatten().map(|r| r.raw);
    assert_eq!(kept, Some(raws[4].clone()));
    let found = all_ids(
        archive,
        &RecordQuery { text: Some("Fabrikam Ltd".into()), ..RecordQuery::default() },
        Order::OldestFirst,
    )
    .await;
    assert!(found.is_empty(), "a variant's values are not indexed: {found:?}");
    let report = archive.verify().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_intact(), "{:?}", report.findings);
}

async fn quarantine_and_cursors_land_with_the_records<A: Archive>(archive: &A) {
    start("quarantine and cursors land with the records");
    let raws = sample_records();
    let bad = Quarantined {
        source: "blob 20260601090000-abc, record 7".into(),
        reason: "not JSON: expected value at line 1 column 1; kept verbatim".into(),
        raw: b"<html>502 Bad Gateway</html>\xff".to_vec(),
    };
    let batch = IngestBatch {
        records: raws[..3].iter().map(|r| incoming(r)).collect(),
        quarantined: vec![bad.clone()],
        cursors: vec![
            ("contoso/Audit.General/listed".into(), "2026-06-01T09:00:00Z".into()),
            ("contoso/import/file.csv".into(), "offset 4096".into()),
        ],
    };
    let receipt = ingest_ok(archive, batch).await;
    assert_eq!((receipt.inserted, receipt.quarantined), (3, 1));
    assert_eq!(
        archive.cursor("contoso/Audit.General/listed").await.ok().flatten().as_deref(),
        Some("2026-06-01T09:00:00Z")
    );
    assert_eq!(
        archive.cursor("contoso/import/file.csv").await.ok().flatten().as_deref(),
        Some("offset 4096")
    );
    assert_eq!(archive.cursor("never written").await.ok().flatten(), None);
    assert_eq!(archive.quarantined(10).await.ok(), Some(vec![bad.clone()]));
    // A batch of only a cursor move and a quarantined item: no seal, but both land.
    let later = Quarantined {
        source: "blob 2".into(),
        reason: "truncated".into(),
        raw: b"{\"Id\":".to_vec(),
    };
    let receipt = ingest_ok(
        archive,
        IngestBatch {
            records: vec![],
            quarantined: vec![later.clone()],
            cursors: vec![("contoso/Audit.General/listed".into(), "2026-06-01T10:00:00Z".into())],
        },
    )
    .await;
    assert_eq!((receipt.inserted, receipt.quarantined, receipt.sealed_batch), (0, 1, None));
    assert_eq!(
        archive.cursor("contoso/Audit.General/listed").await.ok().flatten().as_deref(),
        Some("2026-06-01T10:00:00Z")
    );
    assert_eq!(
        archive.quarantined(10).await.ok(),
        Some(vec![later.clone(), bad.clone()]),
        "newest first"
    );
    assert_eq!(archive.quarantined(1).await.ok(), Some(vec![later]));
    let summary = archive.summary().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((summary.records, summary.quarantined, summary.batches), (3, 2, 1));
}

async fn every_filter_matches_the_reference<A: Archive>(archive: &A) {
    start("every filter matches the reference");
    let reference = loaded(archive).await;
    for (name, q) in queries() {
        for order in [Order::OldestFirst, Order::NewestFirst] {
            let expected = reference.ids(&q, order);
            let found = all_ids(archive, &q, order).await;
            assert_eq!(found, expected, "query `{name}` ({order:?}): {q:?}");
        }
        let count = archive.count(&q).await.unwrap_or_else(|e| panic!("count `{name}`: {e}"));
        assert_eq!(count, reference.select(&q).len() as u64, "count of `{name}`");
    }
    // The reference itself, on answers written by hand.
    let by_text = reference.ids(
        &RecordQuery { text: Some("fabrikam".into()), ..RecordQuery::default() },
        Order::OldestFirst,
    );
    let by_text: Vec<&str> = by_text.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(by_text, [record_id(1), record_id(3), record_id(15)]);
    let bulk = reference.ids(
        &RecordQuery { category: Some("bulk_actions".into()), ..RecordQuery::default() },
        Order::OldestFirst,
    );
    assert_eq!(bulk, [(record_id(4), None), (record_id(13), None)], "exports and bulk delete");
    // Words a user can get wrong are refused with a message, not answered with nothing.
    for q in [
        RecordQuery { access: vec!["write".into()], ..RecordQuery::default() },
        RecordQuery { category: Some("exports".into()), ..RecordQuery::default() },
    ] {
        match archive.search(&q, &PageRequest::default()).await {
            Err(ArchiveError::InvalidQuery(e)) => assert!(!e.message.is_empty()),
            other => panic!("{q:?} should be refused, got {other:?}"),
        }
    }
}

async fn record_timeline_includes_query_results<A: Archive>(archive: &A) {
    start("record timeline includes QueryResults");
    loaded(archive).await;
    let timeline = |id: &str| RecordQuery { record_id: Some(guid(id)), ..RecordQuery::default() };
    let found = all_ids(archive, &timeline(ACCOUNT_A), Order::OldestFirst).await;
    assert_eq!(
        found,
        [
            (record_id(1), Some(Via::Entity)),
            (record_id(2), Some(Via::QueryResults)),
            (record_id(3), Some(Via::Entity)),
        ]
    );
    let found = all_ids(archive, &timeline(CONTACT_X), Order::OldestFirst).await;
    assert_eq!(
        found,
        [
            (record_id(4), Some(Via::QueryResults)),
            (record_id(5), Some(Via::Entity)),
            (record_id(7), Some(Via::Entity)),
            (record_id(13), Some(Via::QueryResults)),
        ]
    );
    // Who read contact X: reads and grids/exports that listed it.
    let readers =
        RecordQuery { access: vec!["read".into(), "read_multiple".into()], ..timeline(CONTACT_X) };
    let page = archive
        .search(&readers, &PageRequest { order: Order::OldestFirst, ..PageRequest::default() })
        .await;
    let rows = page.unwrap_or_else(|e| panic!("{e}")).rows;
    let who: Vec<(&str, &str)> =
        rows.iter().map(|r| (r.user.as_str(), r.message.as_deref().unwrap_or(""))).collect();
    assert_eq!(who, [("bob@contoso.com", "ExportToExcel"), ("Alice@Contoso.com", "Retrieve")]);
    let by_user =
        archive.aggregate(&readers, Dimension::User, 10).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(by_user.iter().map(|b| b.count).sum::<u64>(), 2);
    // A record only ever listed, never acted on.
    assert_eq!(
        all_ids(archive, &timeline(ACCOUNT_C), Order::NewestFirst).await,
        [(record_id(2), Some(Via::QueryResults))]
    );
    // No record filter, no via.
    let rows = archive.search(&RecordQuery::default(), &PageRequest::default()).await;
    assert!(rows.unwrap_or_else(|e| panic!("{e}")).rows.iter().all(|r| r.via.is_none()));
}

/// A row named in most months of two and a half years: many times in one month, once or twice
/// in others, never in some, at month boundaries too, between records about other rows. Every
/// page of its timeline (backends may read it a stretch of months at a time) is in order, with
/// no gap or repeat, with and without a time range.
async fn a_record_timeline_over_years_pages_in_order<A: Archive>(archive: &A) {
    start("a record timeline over years pages in order");
    let mut raws = Vec::new();
    let mut n = 5000;
    for month in 0..30u32 {
        let (year, month_of_year) = (2024 + (month / 12) as i32, month % 12 + 1);
        let at = |day: u32, hour: u32, minute: u32, second: u32| {
            let time = Utc.with_ymd_and_hms(year, month_of_year, day, hour, minute, second);
            time.single().unwrap_or_default()
        };
        let times = match month {
            13 => (1..=12).map(|day| at(day, 9, 0, 0)).collect(),
            5 => vec![at(1, 0, 0, 0), at(28, 23, 59, 59)],
            m if m % 4 == 3 => vec![],
            m if m % 3 == 0 => vec![at(3, 10, 0, 0), at(20, 16, 30, 0)],
            _ => vec![at(15, 12, 0, 0)],
        };
        for (i, time) in times.into_iter().enumerate() {
            n += 1;
            let about = Crm { time, ..Crm::new(n, 0, "alice@contoso.com", ALICE_ORG1) };
            raws.push(if i % 2 == 0 {
                about.json()
            } else {
                Crm {
                    message: "RetrieveMultiple",
                    entity_id: CONTACT_Y,
                    results: Some("dc136b61-6c1e-e811-a952-000d3a732d76, 5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b"),
                    ..about
                }
                .json()
            });
        }
        n += 1;
        let other = Crm::new(n, 0, "bob@contoso.com", BOB);
        raws.push(Crm { time: at(10, 8, 0, 0), entity_id: ACCOUNT_B, ..other }.json());
    }
    let mut reference = Reference::default();
    for chunk in raws.chunks(17) {
        ingest_ok(archive, batch_of(chunk)).await;
        reference.ingest(chunk);
    }
    let day = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().unwrap_or_default();
    let about_a = RecordQuery { record_id: Some(guid(ACCOUNT_A)), ..RecordQuery::default() };
    let queries = [
        ("the whole timeline", about_a.clone()),
        (
            "a range cutting months",
            RecordQuery {
                from: Some(day(2024, 3, 15)),
                to: Some(day(2025, 9, 10)),
                ..about_a.clone()
            },
        ),
        (
            "from a month's first instant",
            RecordQuery { from: Some(day(2024, 6, 1)), ..about_a.clone() },
        ),
        (
            "to a month's first instant",
            RecordQuery { to: Some(day(2024, 6, 1)), ..about_a.clone() },
        ),
        ("reads only", RecordQuery { access: vec!["read".into()], ..about_a.clone() }),
    ];
    for (name, q) in &queries {
        for order in [Order::OldestFirst, Order::NewestFirst] {
            let expected = reference.ids(q, order);
            assert!(!expected.is_empty(), "`{name}` selects nothing in the reference");
            for limit in [1, 3, 7, MAX_PAGE] {
                let found = paged_ids(archive, q, order, limit).await;
                assert_eq!(found, expected, "`{name}` {order:?} in pages of {limit}");
            }
        }
    }
    for order in [Order::OldestFirst, Order::NewestFirst] {
        let found: Vec<(String, Vec<u8>)> = paged_raw(archive, &about_a, order, 5)
            .await
            .into_iter()
            .map(|r| (r.id, r.raw))
            .collect();
        let mut expected: Vec<(String, Vec<u8>)> = reference
            .select(&about_a)
            .into_iter()
            .map(|(s, _)| (s.columns.id.clone(), s.raw.clone()))
            .collect();
        if order == Order::NewestFirst {
            expected.reverse();
        }
        assert_eq!(found, expected, "verbatim pages of the timeline, {order:?}");
    }
}

async fn user_timeline_matches_upn_and_system_user<A: Archive>(archive: &A) {
    start("user timeline matches UPN and system user");
    let reference = loaded(archive).await;
    let q = RecordQuery { users: vec!["alice@contoso.com".into()], ..RecordQuery::default() };
    let found: Vec<String> =
        all_ids(archive, &q, Order::OldestFirst).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(found, [record_id(1), record_id(2), record_id(7), record_id(8), record_id(15)]);
    let q = RecordQuery { users: vec![ALICE_ORG1.into()], ..RecordQuery::default() };
    let found: Vec<String> =
        all_ids(archive, &q, Order::OldestFirst).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(found, [record_id(1), record_id(2), record_id(15)]);
    // Every row of a user timeline carries the columns the reference derived.
    let q = RecordQuery { users: vec!["carol@contoso.com".into()], ..RecordQuery::default() };
    let page = archive
        .search(&q, &PageRequest { order: Order::OldestFirst, ..PageRequest::default() })
        .await;
    let rows = page.unwrap_or_else(|e| panic!("{e}")).rows;
    assert_eq!(rows.len(), 4);
    for row in rows {
        assert_summary(&row, &reference.get(&row.id).columns);
    }
}

fn assert_summary(row: &RecordSummary, c: &RecordColumns) {
    let id = &c.id;
    assert_eq!(row.id, c.id);
    assert_eq!(row.time, c.time, "{id}");
    assert_eq!(row.record_type, c.record_type, "{id}");
    assert_eq!(row.workload, c.workload, "{id}");
    assert_eq!(row.operation, c.operation, "{id}");
    assert_eq!(row.user, c.user, "{id}");
    assert_eq!(row.system_user_id, c.system_user_id, "{id}");
    assert_eq!(row.organization, c.organization, "{id}");
    assert_eq!(row.entity, c.entity, "{id}");
    assert_eq!(row.entity_id, c.entity_id, "{id}");
    assert_eq!(row.message, c.message, "{id}");
    assert_eq!(row.access, c.access, "{id}");
    assert_eq!(row.categories, category_names(c.categories), "{id}");
    assert_eq!(row.client_ip, c.client_ip, "{id}");
    assert_eq!(row.primary_field_value, c.primary_field_value, "{id}");
    assert_eq!(row.correlation_id, c.correlation_id, "{id}");
    assert_eq!(row.result_status, c.result_status, "{id}");
}

async fn pages_have_no_gaps_or_repeats_in_both_orders<A: Archive>(archive: &A) {
    start("pages have no gaps or repeats in both orders");
    let reference = loaded(archive).await;
    let mut selected = queries();
    selected.retain(|(name, _)| {
        [
            "everything",
            "user by upn",
            "record",
            "entity",
            "from and to",
            "users, any of",
            "user by system user id",
            "user by upn, from and to",
            "field by name",
            "field by value",
        ]
        .contains(name)
    });
    for (name, q) in selected {
        for order in [Order::OldestFirst, Order::NewestFirst] {
            let expected = reference.ids(&q, order);
            for limit in [1, 2, 3, 5] {
                let found = paged_ids(archive, &q, order, limit).await;
                assert_eq!(found, expected, "`{name}` {order:?} in pages of {limit}");
            }
        }
    }
    // A page of exactly the remaining rows says nothing follows.
    let n = reference.records.len() as u32;
    let page = archive
        .search(
            &RecordQuery::default(),
            &PageRequest { limit: n, after: None, order: Order::NewestFirst },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((page.rows.len() as u32, page.next), (n, None));
    let page = archive
        .search(
            &RecordQuery::default(),
            &PageRequest { limit: n - 1, after: None, order: Order::NewestFirst },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(page.next.is_some());
}

async fn aggregates_by_every_dimension<A: Archive>(archive: &A) {
    start("aggregates by every dimension");
    let reference = loaded(archive).await;
    let dimensions = [
        Dimension::Day,
        Dimension::HourOfDay,
        Dimension::Weekday,
        Dimension::User,
        Dimension::Organization,
        Dimension::Entity,
        Dimension::Message,
        Dimension::Access,
        Dimension::Category,
    ];
    let filtered = RecordQuery { workloads: vec!["CRM".into()], ..RecordQuery::default() };
    let timeline = RecordQuery { record_id: Some(guid(CONTACT_X)), ..RecordQuery::default() };
    // What reports ask: whole UTC days, narrowed by organization, user, table, message, kind of
    // access or category (a backend may answer these from counts it keeps per day), and a period
    // that does not start at midnight (which it must not).
    let day = |d: u32| Utc.with_ymd_and_hms(2026, 6, d, 0, 0, 0).single();
    let whole_days = RecordQuery { from: day(2), to: day(4), ..RecordQuery::default() };
    let first = |pick: fn(&RecordColumns) -> Option<String>| {
        reference.records.iter().find_map(|s| pick(&s.columns))
    };
    let mut queries = vec![RecordQuery::default(), filtered, timeline, whole_days.clone()];
    queries.push(RecordQuery {
        organization: first(|c| c.organization.clone()),
        ..whole_days.clone()
    });
    queries.push(RecordQuery {
        users: first(|c| Some(c.user.clone())).into_iter().collect(),
        ..whole_days.clone()
    });
    queries.push(RecordQuery {
        entity: first(|c| c.entity.clone()),
        access: vec!["read".into(), "update".into()],
        ..whole_days.clone()
    });
    queries.push(RecordQuery {
        messages: first(|c| c.message.clone()).into_iter().collect(),
        ..whole_days.clone()
    });
    queries.push(RecordQuery { category: Some("out_of_box_entity".into()), ..whole_days.clone() });
    queries.push(RecordQuery { from: day(2).map(|t| t + Duration::hours(7)), ..whole_days });
    for q in queries {
        let count = archive.count(&q).await.unwrap_or_else(|e| panic!("{e}"));
        for by in dimensions {
            let found =
                archive.aggregate(&q, by, 100).await.unwrap_or_else(|e| panic!("{by:?}: {e}"));
            assert_eq!(found, reference.buckets(&q, by, 100), "{by:?} of {q:?}");
            if by != Dimension::Category {
                assert_eq!(
                    found.iter().map(|b| b.count).sum::<u64>(),
                    count,
                    "{by:?} sums to count"
                );
            }
        }
        // Narrowing to a category replaces a category filter: only for queries without one.
        for category in CATEGORIES.iter().filter(|_| q.category.is_none()) {
            let narrowed = RecordQuery { category: Some((*category).into()), ..q.clone() };
            let in_category = archive.count(&narrowed).await.unwrap_or_else(|e| panic!("{e}"));
            let bucket = archive
                .aggregate(&q, Dimension::Category, 100)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .into_iter()
                .find(|b| b.key == *category)
                .map_or(0, |b| b.count);
            assert_eq!(bucket, in_category, "category {category}");
        }
    }
    let days =
        archive.aggregate(&RecordQuery::default(), Dimension::Day, 100).await.unwrap_or_default();
    let keys: Vec<&str> = days.iter().map(|b| b.key.as_str()).collect();
    assert_eq!(
        keys,
        ["2026-06-01", "2026-06-02", "2026-06-03", "2026-06-04"],
        "23:59:00 and 00:00:00"
    );
    let top =
        archive.aggregate(&RecordQuery::default(), Dimension::User, 1).await.unwrap_or_default();
    assert_eq!(top.len(), 1, "limit applies");
    assert_eq!(top, reference.buckets(&RecordQuery::default(), Dimension::User, 1));
}

async fn record_returns_the_verbatim_bytes_and_details<A: Archive>(archive: &A) {
    start("record returns the verbatim bytes and details");
    let reference = loaded(archive).await;
    for stored in &reference.records {
        let id = &stored.columns.id;
        let found = archive.record(id).await.unwrap_or_else(|e| panic!("{id}: {e}"));
        let Some(found) = found else { panic!("record {id} not found") };
        assert_eq!(found.raw, stored.raw, "verbatim bytes of {id}");
        assert_eq!(found.hash, record_hash(&stored.raw).to_hex(), "{id}");
        assert_summary(&found.summary, &stored.columns);
        assert_eq!(found.fields, stored.columns.fields, "{id}");
        assert!(found.batch >= 1, "{id} is in a sealed batch");
        let parsed = incoming(&stored.raw).record;
        let dynamics = parsed.dynamics.unwrap_or_default();
        assert_eq!(found.query_results, dynamics.query_result_ids, "{id}");
        assert_eq!(found.query, dynamics.query, "{id}");
        assert_eq!(found.user_agent, dynamics.user_agent, "{id}");
        assert_eq!(found.summary.item_url, dynamics.item_url, "{id}");
    }
    let upper = archive.record(&record_id(3).to_uppercase()).await.ok().flatten();
    assert_eq!(upper.map(|r| r.summary.id), Some(record_id(3)), "GUID ids match in any case");
    let braces = archive.record(&format!("{{{}}}", record_id(3))).await.ok().flatten();
    assert_eq!(braces.map(|r| r.summary.id), Some(record_id(3)), "GUID ids match in braces");
    assert!(archive.record("sanitized-0012").await.ok().flatten().is_some());
    assert!(archive.record(&record_id(99)).await.ok().flatten().is_none());
    assert!(archive.record("no such record").await.ok().flatten().is_none());
}

async fn raw_pages_reproduce_the_input<A: Archive>(archive: &A) {
    start("raw pages reproduce the input");
    let reference = loaded(archive).await;
    let everything = RecordQuery::default();
    for order in [Order::OldestFirst, Order::NewestFirst] {
        let found = paged_raw(archive, &everything, order, 4).await;
        let mut expected: Vec<&Stored> =
            reference.select(&everything).into_iter().map(|(s, _)| s).collect();
        if order == Order::NewestFirst {
            expected.reverse();
        }
        assert_eq!(found.len(), expected.len());
        for (row, stored) in found.iter().zip(expected) {
            assert_eq!(row.id, stored.columns.id);
            assert_eq!(row.time, stored.columns.time);
            assert_eq!(row.raw, stored.raw, "bytes of {}", row.id);
        }
    }
    let filtered = RecordQuery { entity: Some("contact".into()), ..RecordQuery::default() };
    let page = archive
        .raw_page(&filtered, &PageRequest { limit: 100, after: None, order: Order::OldestFirst })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let expected: Vec<Vec<u8>> =
        reference.select(&filtered).into_iter().map(|(s, _)| s.raw.clone()).collect();
    assert_eq!(page.rows.into_iter().map(|r| r.raw).collect::<Vec<_>>(), expected);
}

async fn verify_is_intact_after_many_batches<A: Archive>(archive: &A) {
    start("verify is intact after many batches");
    let empty = archive.verify().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(empty.is_intact() && empty.batches == 0 && empty.head.is_none());
    let raws = sample_records();
    let mut sealed = 0;
    let mut stored = 0;
    for round in 0..25u32 {
        let chunk: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                let n = 1000 + round * 3 + i;
                let base = &raws[(n as usize) % raws.len()];
                let text = String::from_utf8_lossy(base);
                // A fresh Id for a copy of a sample record.
                let parsed = incoming(base).record;
                text.replacen(&parsed.id, &record_id(n), 1).into_bytes()
            })
            .collect();
        let receipt = ingest_ok(archive, batch_of(&chunk)).await;
        stored += receipt.inserted;
        sealed += u64::from(receipt.sealed_batch.is_some());
        assert_eq!(receipt.sealed_batch, Some(sealed), "seals are numbered without holes");
        // A duplicate-only batch leaves no seal.
        let receipt = ingest_ok(archive, batch_of(&chunk[..1])).await;
        assert_eq!(receipt.sealed_batch, None);
    }
    let report = archive.verify().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!((report.batches, report.records, report.purged_records), (sealed, stored, 0));
    assert!(report.head.as_ref().is_some_and(|h| h.len() == 64));
    let again = archive.verify().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.head, report.head, "verification does not change the chain");
}

async fn summary_totals_add_up<A: Archive>(archive: &A) {
    start("summary totals add up");
    let empty = archive.summary().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((empty.records, empty.batches, empty.earliest, empty.latest), (0, 0, None, None));
    let reference = loaded(archive).await;
    ingest_ok(
        archive,
        IngestBatch {
            quarantined: vec![Quarantined {
                source: "s".into(),
                reason: "r".into(),
                raw: vec![1, 2, 3],
            }],
            ..IngestBatch::default()
        },
    )
    .await;
    let summary = archive.summary().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.records, reference.records.len() as u64);
    assert_eq!(summary.quarantined, 1);
    assert_eq!(summary.batches, 3);
    assert_eq!(summary.earliest, reference.records.iter().map(|s| s.columns.time).min());
    assert_eq!(summary.latest, reference.records.iter().map(|s| s.columns.time).max());
    assert_eq!(
        summary.raw_bytes,
        reference.records.iter().map(|s| s.raw.len() as u64).sum::<u64>()
    );
    assert!(summary.stored_bytes > 0);
}

/// Records from the emulator's generator: ingest, count, timelines against the reference,
/// verification and an exact verbatim round trip. Skipped (with a note) while the generator
/// produces nothing.
async fn emulator_volume_round_trips<A: Archive>(archive: &A) {
    start("emulator volume round trips");
    let world = emulator::activity::TenantWorld::new(
        7,
        guid(TENANT),
        "contoso.com",
        &emulator::ActivityProfile::default(),
    );
    let from = base();
    let to = from + Duration::hours(3);
    let lines = world.records("Audit.General", from, to);
    if lines.is_empty() {
        eprintln!("archive suite: the emulator generated no records; volume check skipped");
        return;
    }
    let mut reference = Reference::default();
    let mut quarantined = 0;
    for chunk in lines.chunks(500) {
        let mut batch = IngestBatch::default();
        let mut good = Vec::new();
        for line in chunk {
            match record::parse_record(line.as_bytes()) {
                Ok(record) => {
                    batch.records.push(IncomingRecord { raw: line.as_bytes().to_vec(), record });
                    good.push(line.as_bytes().to_vec());
                }
                Err(e) => {
                    quarantined += 1;
                    batch.quarantined.push(Quarantined {
                        source: "emulator".into(),
                        reason: e.reason(),
                        raw: line.as_bytes().to_vec(),
                    });
                }
            }
        }
        let before = reference.records.len();
        reference.ingest(&good);
        let receipt = ingest_ok(archive, batch).await;
        assert_eq!(receipt.inserted as usize, reference.records.len() - before);
    }
    assert_eq!(quarantined, 0, "the emulator's records all parse");
    let total = reference.records.len() as u64;
    eprintln!("archive suite: {total} emulator records over {} batches", lines.len().div_ceil(500));
    assert_eq!(archive.count(&RecordQuery::default()).await.ok(), Some(total));
    // The busiest listed record and the busiest user, as timelines.
    let mut listed: HashMap<Uuid, usize> = HashMap::new();
    let mut users: HashMap<String, usize> = HashMap::new();
    for s in &reference.records {
        for id in s.columns.listed.iter().chain(s.columns.entity_id.iter()) {
            *listed.entry(*id).or_default() += 1;
        }
        *users.entry(s.columns.user.clone()).or_default() += 1;
    }
    let busiest_record = listed.into_iter().max_by_key(|(id, n)| (*n, *id)).map(|(id, _)| id);
    let busiest_user = users.into_iter().max_by_key(|(u, n)| (*n, u.clone())).map(|(u, _)| u);
    let mut checks = vec![RecordQuery::default()];
    if let Some(id) = busiest_record {
        checks.push(RecordQuery { record_id: Some(id), ..RecordQuery::default() });
    }
    if let Some(user) = busiest_user {
        checks.push(RecordQuery { users: vec![user], ..RecordQuery::default() });
    }
    for q in &checks {
        let expected = reference.ids(q, Order::NewestFirst);
        assert_eq!(paged_ids(archive, q, Order::NewestFirst, 977).await, expected, "{q:?}");
        assert_eq!(
            archive.aggregate(q, Dimension::User, 1000).await.ok(),
            Some(reference.buckets(q, Dimension::User, 1000))
        );
    }
    // Report aggregations over the whole day, with volume.
    let midnight = from.date_naive().and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let day = RecordQuery {
        from: midnight,
        to: midnight.map(|t| t + Duration::days(1)),
        ..RecordQuery::default()
    };
    for by in [
        Dimension::Day,
        Dimension::HourOfDay,
        Dimension::Weekday,
        Dimension::User,
        Dimension::Organization,
        Dimension::Entity,
        Dimension::Message,
        Dimension::Access,
        Dimension::Category,
    ] {
        assert_eq!(
            archive.aggregate(&day, by, 1000).await.ok(),
            Some(reference.buckets(&day, by, 1000)),
            "{by:?} over the whole day"
        );
    }
    let mut after = None;
    let mut seen = 0usize;
    let expected: Vec<&Stored> =
        reference.select(&RecordQuery::default()).into_iter().map(|(s, _)| s).collect();
    loop {
        let page = archive
            .raw_page(
                &RecordQuery::default(),
                &PageRequest { limit: 1000, after, order: Order::OldestFirst },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for row in &page.rows {
            assert_eq!(row.raw, expected[seen].raw, "bytes of {}", row.id);
            seen += 1;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected.len());
    let report = archive.verify().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, total);
}
