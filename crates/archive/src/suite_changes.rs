//! The behaviour suite of Dataverse audit changes ([`ChangeStore`]): exact read-back of the
//! verbatim bytes, the decoded detail and the hash, dedupe by `auditid`, the case-insensitive
//! column filter, ordering, cursors and quarantine landing with the changes, totals, the user
//! index, and `verify` naming a change altered behind the archive's back.
//!
//! A backend's test calls [`run_all`] with a function that opens a fresh, empty archive and a
//! [`Backdoor`] that reaches behind the archive with the backend's own SQL:
//!
//! ```ignore
//! archive::suite_changes::run_all(|| async { open_a_fresh_archive().await }, MyBackdoor).await;
//! ```
//!
//! Conventions the suite fixes for every backend:
//! - `createdon` is kept to the microsecond; `ingested_at` is the archive's clock at ingest;
//! - the column filter matches any column an `Attributes` detail names (changed, deleted, or
//!   with an invalid new value), compared after [`field_key`](crate::changes::field_key);
//! - a change whose stored bytes no longer match its hash is reported by `verify` as
//!   [`altered_change_finding`]; changes are not sealed, so the record chain is untouched by
//!   them.

use std::future::Future;

use chrono::{DateTime, Duration, TimeZone, Utc};
use record::{
    AuditAction, AuditChange, AuditOperation, ChangeDetail, EntityRef, FieldChange, FieldValue,
    RolePrivilege,
};
use serde_json::json;
use uuid::Uuid;

use crate::changes::{altered_change_finding, change_hash};
use crate::{
    Archive, ChangeBatch, ChangeReceipt, ChangeSource, ChangeStore, IncomingChange, Quarantined,
    StoredChange,
};

/// What a backend's test lends the suite to act behind the archive's back, with raw SQL on a
/// connection of its own.
pub trait Backdoor<S> {
    /// Replaces the stored verbatim row of change `audit_id` with other bytes (stored the way
    /// the backend stores them, so that they still decompress) and leaves its hash as it is.
    fn alter_raw_row(&self, store: &S, audit_id: Uuid) -> impl Future<Output = ()>;

    /// Makes every later attempt to store a change whose table (`objecttypecode`) is `table`
    /// fail inside the ingest transaction (a trigger, say).
    fn refuse_table(&self, store: &S, table: &str) -> impl Future<Output = ()>;
}

/// Runs every check, each on a fresh archive from `make`. Panics, naming the check, on the
/// first failure.
pub async fn run_all<S, F, Fut, B>(make: F, backdoor: B)
where
    S: Archive + ChangeStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    B: Backdoor<S>,
{
    an_empty_archive_has_no_changes(&make().await).await;
    changes_read_back_exactly(&make().await).await;
    duplicates_are_counted_across_and_within_batches(&make().await).await;
    the_column_filter_ignores_case(&make().await).await;
    record_changes_are_oldest_first_then_by_audit_id(&make().await).await;
    cursors_and_quarantine_land_with_the_changes(&make().await).await;
    a_failed_batch_leaves_nothing_behind(&make().await, &backdoor).await;
    summary_counts_and_spans_the_changes(&make().await).await;
    user_changes_are_a_users_changes_in_a_period(&make().await).await;
    verify_names_an_altered_change(&make().await, &backdoor).await;
    a_batch_of_five_thousand_changes(&make().await).await;
}

fn start(check: &str) {
    eprintln!("archive changes suite: {check}");
}

// ---------------------------------------------------------------------------------------------
// Test data: a Dataverse environment's audit rows, as the Web API returns them.

const ENVIRONMENT: &str = "https://contoso.crm4.dynamics.com";

/// Contact "Dana Smith".
const CONTACT_X: &str = "7a9e3c2d-5b4f-4e1a-8c6d-2f0b1a3e5d7c";
/// Account "Fabrikam".
const ACCOUNT_A: &str = "5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b";
/// A contact no change is about.
const CONTACT_NOBODY: &str = "11111111-2222-4333-8444-555555555555";
const ALICE: &str = "0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d";
const BOB: &str = "2c3d4e5f-6a7b-4c9d-8e1f-2a3b4c5d6e7f";
const IMPERSONATOR: &str = "9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f";
const SALES_ROLE: &str = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f";

fn guid(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap_or_default()
}

/// The `auditid` of change `n`.
fn audit_id(n: u32) -> Uuid {
    guid(&format!("{n:08x}-a0d1-4e5f-8a9b-{:012x}", u64::from(n) * 7919))
}

/// June 1st 2026, 09:00 UTC, plus `minutes`.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).single().unwrap_or_default()
        + Duration::minutes(minutes)
}

fn value(value: serde_json::Value, formatted: Option<&str>) -> Option<FieldValue> {
    Some(FieldValue { value, formatted: formatted.map(str::to_string), lookup_table: None })
}

fn attributes(changes: Vec<FieldChange>) -> ChangeDetail {
    ChangeDetail::Attributes { changes, deleted: vec![], invalid_new: vec![] }
}

fn field(name: &str, old: Option<FieldValue>, new: Option<FieldValue>) -> FieldChange {
    FieldChange { field: name.to_string(), old, new }
}

/// An update of `telephone1` (and, for even `n`, `JobTitle` as sent with odd case) on
/// `object`, by `user`, `minutes` after 09:00.
fn update(n: u32, minutes: i64, object: &str, user: &str) -> IncomingChange {
    let mut fields = vec![field(
        "telephone1",
        value(json!(format!("+44 20 7946 {n:04}")), None),
        value(json!(format!("+44 20 7946 {:04}", n + 1)), None),
    )];
    if n.is_multiple_of(2) {
        fields.push(field("JobTitle", None, value(json!("Buyer"), None)));
    }
    let detail = attributes(fields);
    web_api(n, minutes, object, "contact", user, 2, 2, detail)
}

/// A Web API audit row and its `RetrieveAuditDetails` response, written out as JSON the way the
/// Web API sends them, with the decoded change.
#[allow(clippy::too_many_arguments)]
fn web_api(
    n: u32,
    minutes: i64,
    object: &str,
    table: &str,
    user: &str,
    action: i32,
    operation: i32,
    detail: ChangeDetail,
) -> IncomingChange {
    let id = audit_id(n);
    let created_on = at(minutes) + Duration::milliseconds(i64::from(n % 1000));
    let raw_row = json!({
        "@odata.etag": format!("W/\"{}\"", 4_000_000 + n),
        "auditid": id,
        "createdon": created_on.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "action": action,
        "operation": operation,
        "objecttypecode": table,
        "_objectid_value": object,
        "_objectid_value@OData.Community.Display.V1.FormattedValue": "Dana Smith",
        "_userid_value": user,
        "_userid_value@OData.Community.Display.V1.FormattedValue": "Alice Example",
        "attributemask": ",5,30,",
        "transactionid": "6e5d4c3b-2a19-4807-b6f5-e4d3c2b1a098",
    });
    let raw_detail = match &detail {
        ChangeDetail::None => None,
        _ => Some(json!({
            "AuditDetail": {
                "@odata.type": "#Microsoft.Dynamics.CRM.AttributeAuditDetail",
                "detail of": n,
            }
        })),
    };
    IncomingChange {
        raw_row: raw_row.to_string().into_bytes(),
        raw_detail: raw_detail.map(|d| d.to_string().into_bytes()),
        source: ChangeSource::Dataverse { environment: ENVIRONMENT.to_string() },
        change: AuditChange {
            audit_id: id,
            created_on,
            action: AuditAction(action),
            operation: AuditOperation(operation),
            table: table.to_string(),
            object_id: Some(guid(object)),
            object_name: Some("Dana Smith".to_string()),
            user_id: Some(guid(user)),
            user_name: Some("Alice Example".to_string()),
            calling_user_id: None,
            transaction_id: Some(guid("6e5d4c3b-2a19-4807-b6f5-e4d3c2b1a098")),
            attribute_mask: vec![5, 30],
            detail,
        },
    }
}

/// One change of every kind of detail, from both sources.
fn every_kind() -> Vec<IncomingChange> {
    let mut out = vec![update(1, 0, CONTACT_X, ALICE)];
    // A create with a lookup, an option set and values needing exact JSON.
    let create = attributes(vec![
        field("firstname", None, value(json!("Dana"), None)),
        field(
            "parentcustomerid",
            None,
            Some(FieldValue {
                value: json!(ACCOUNT_A),
                formatted: Some("Fabrikam".into()),
                lookup_table: Some("account".into()),
            }),
        ),
        field("preferredcontactmethodcode", None, value(json!(2), Some("Email"))),
        field("creditlimit", None, value(json!(1250.75), Some("£1,250.75"))),
        field("donotemail", None, value(json!(false), Some("Allow"))),
    ]);
    out.push(web_api(2, 1, CONTACT_X, "contact", ALICE, 1, 1, create));
    // Columns deleted since, and one whose new value could not be shown.
    let deleted = ChangeDetail::Attributes {
        changes: vec![field("lastname", value(json!("Smith"), None), value(json!("Smyth"), None))],
        deleted: vec![field("new_legacycode", value(json!("LC-7"), None), None)],
        invalid_new: vec!["new_secretnote".into()],
    };
    out.push(web_api(3, 2, CONTACT_X, "contact", BOB, 2, 2, deleted));
    let share = ChangeDetail::Share {
        principal: EntityRef {
            table: "team".into(),
            id: Some(guid(BOB)),
            name: Some("Sales".into()),
        },
        old_privileges: None,
        new_privileges: Some("ReadAccess, WriteAccess".into()),
    };
    out.push(web_api(4, 3, ACCOUNT_A, "account", ALICE, 48, 2, share));
    let link = ChangeDetail::Relationship {
        relationship: "contactleads_association".into(),
        targets: vec![EntityRef {
            table: "lead".into(),
            id: Some(guid(CONTACT_NOBODY)),
            name: None,
        }],
    };
    out.push(web_api(5, 4, CONTACT_X, "contact", ALICE, 33, 2, link));
    let privileges = ChangeDetail::RolePrivileges {
        old: vec![],
        new: vec![RolePrivilege {
            privilege_id: guid(IMPERSONATOR),
            depth: "Global".into(),
            business_unit_id: Some(guid(ACCOUNT_A)),
        }],
        invalid_new: vec![guid(CONTACT_NOBODY)],
    };
    out.push(web_api(6, 5, SALES_ROLE, "role", BOB, 57, 2, privileges));
    let access = ChangeDetail::UserAccess { access_time: Some(at(6)), interval_hours: Some(4) };
    out.push(web_api(7, 6, ALICE, "systemuser", ALICE, 64, 64, access));
    out.push(web_api(8, 7, CONTACT_X, "contact", BOB, 3, 3, ChangeDetail::None));
    let other =
        ChangeDetail::Other { odata_type: "#Microsoft.Dynamics.CRM.FutureAuditDetail".into() };
    out.push(web_api(9, 8, CONTACT_X, "contact", BOB, 2, 2, other));
    // An on-premises AuditBase row: a CSV line, no separate detail, impersonated, no names.
    let mut csv = update(10, 9, CONTACT_X, BOB);
    csv.raw_row = format!(
        "{},2026-06-01 09:09:00.010,2,2,2,{CONTACT_X},{BOB},{IMPERSONATOR},\"~telephone1~\",\"+44 20 7946 0010~\"\r\n",
        audit_id(10)
    )
    .into_bytes();
    csv.raw_detail = None;
    csv.source = ChangeSource::AuditBase { file: "AuditBase-2026-06.csv".into(), line: 4711 };
    csv.change.object_name = None;
    csv.change.user_name = None;
    csv.change.calling_user_id = Some(guid(IMPERSONATOR));
    csv.change.transaction_id = None;
    csv.change.attribute_mask = vec![];
    out.push(csv);
    out
}

fn batch(changes: Vec<IncomingChange>) -> ChangeBatch {
    ChangeBatch { changes, ..ChangeBatch::default() }
}

async fn ingest_ok<S: ChangeStore>(store: &S, batch: ChangeBatch) -> ChangeReceipt {
    store.ingest_changes(batch).await.unwrap_or_else(|e| panic!("ingest_changes: {e}"))
}

async fn changes_of<S: ChangeStore>(store: &S, object: &str, field: Option<&str>) -> Vec<Uuid> {
    store
        .record_changes(guid(object), field)
        .await
        .unwrap_or_else(|e| panic!("record_changes: {e}"))
        .iter()
        .map(|c| c.change.audit_id)
        .collect()
}

/// Checks a stored change against what was ingested (all but `ingested_at`).
fn assert_same(stored: &StoredChange, incoming: &IncomingChange) {
    let id = incoming.change.audit_id;
    assert_eq!(stored.change, incoming.change, "change {id}: decoded form");
    assert_eq!(stored.source, incoming.source, "change {id}: source");
    assert!(stored.raw_row == incoming.raw_row, "change {id}: raw row bytes differ");
    assert!(stored.raw_detail == incoming.raw_detail, "change {id}: raw detail bytes differ");
    let hash = change_hash(&incoming.raw_row, incoming.raw_detail.as_deref()).to_hex();
    assert_eq!(stored.hash, hash, "change {id}: hash");
}

// ---------------------------------------------------------------------------------------------
// The checks.

async fn an_empty_archive_has_no_changes<S: Archive + ChangeStore>(store: &S) {
    start("an empty archive has no changes");
    let summary = store.change_summary().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary, crate::ChangeSummary::default());
    assert_eq!(changes_of(store, CONTACT_X, None).await, Vec::<Uuid>::new());
    assert_eq!(store.change(audit_id(1)).await.ok(), Some(None));
    let receipt = ingest_ok(store, ChangeBatch::default()).await;
    assert_eq!(receipt, ChangeReceipt::default(), "an empty batch does nothing");
}

async fn changes_read_back_exactly<S: Archive + ChangeStore>(store: &S) {
    start("changes read back exactly");
    let incoming = every_kind();
    let receipt = ingest_ok(store, batch(incoming.clone())).await;
    assert_eq!(receipt, ChangeReceipt { inserted: 10, duplicates: 0, quarantined: 0 });
    let mut ingested_at = None;
    for change in &incoming {
        let stored = store
            .change(change.change.audit_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("change {} is stored", change.change.audit_id));
        assert_same(&stored, change);
        assert!(
            ingested_at.is_none_or(|at| at == stored.ingested_at),
            "one batch, one ingest time"
        );
        ingested_at = Some(stored.ingested_at);
    }
    // The same through the record's history.
    let history =
        store.record_changes(guid(CONTACT_X), None).await.unwrap_or_else(|e| panic!("{e}"));
    let expected: Vec<&IncomingChange> =
        incoming.iter().filter(|c| c.change.object_id == Some(guid(CONTACT_X))).collect();
    assert_eq!(history.len(), expected.len());
    for (stored, change) in history.iter().zip(expected) {
        assert_same(stored, change);
    }
    assert_eq!(changes_of(store, CONTACT_NOBODY, None).await, Vec::<Uuid>::new(), "unknown object");
    assert_eq!(changes_of(store, CONTACT_NOBODY, Some("telephone1")).await, Vec::<Uuid>::new());
    assert_eq!(store.change(audit_id(99)).await.ok(), Some(None), "unknown audit id");
    // Changes are not activity records.
    let summary = store.summary().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((summary.records, summary.batches), (0, 0));
}

async fn duplicates_are_counted_across_and_within_batches<S: Archive + ChangeStore>(store: &S) {
    start("duplicates are counted across and within batches");
    let first: Vec<IncomingChange> =
        (1..=4).map(|n| update(n, i64::from(n), CONTACT_X, ALICE)).collect();
    assert_eq!(ingest_ok(store, batch(first.clone())).await.inserted, 4);
    // Overlap re-scan: two known, one new, and the new one twice in the same batch; the second
    // copy of a known change has other bytes (a re-import): the first stored stays.
    let mut reimported = first[1].clone();
    reimported.raw_row = b"a different rendering of the same audit row".to_vec();
    let fresh = update(5, 5, CONTACT_X, ALICE);
    let receipt =
        ingest_ok(store, batch(vec![first[0].clone(), reimported, fresh.clone(), fresh.clone()]))
            .await;
    assert_eq!(receipt, ChangeReceipt { inserted: 1, duplicates: 3, quarantined: 0 });
    let kept = store.change(audit_id(2)).await.ok().flatten().expect("change 2 is stored");
    assert_same(&kept, &first[1]);
    let summary = store.change_summary().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.changes, 5);
    assert_eq!(changes_of(store, CONTACT_X, None).await, (1..=5).map(audit_id).collect::<Vec<_>>());
    // The same batch again changes nothing.
    let receipt = ingest_ok(store, batch(first)).await;
    assert_eq!(receipt, ChangeReceipt { inserted: 0, duplicates: 4, quarantined: 0 });
}

async fn the_column_filter_ignores_case<S: Archive + ChangeStore>(store: &S) {
    start("the column filter ignores case");
    ingest_ok(store, batch(every_kind())).await;
    let mut more: Vec<IncomingChange> =
        (11..=16).map(|n| update(n, i64::from(n), CONTACT_X, BOB)).collect();
    more.push(update(17, 17, ACCOUNT_A, BOB));
    ingest_ok(store, batch(more)).await;
    let phone: Vec<Uuid> = [1, 10, 11, 12, 13, 14, 15, 16].into_iter().map(audit_id).collect();
    for name in ["telephone1", "TELEPHONE1", "Telephone1", " telephone1 "] {
        assert_eq!(changes_of(store, CONTACT_X, Some(name)).await, phone, "{name:?}");
    }
    // `JobTitle` was sent with capitals: found by any case.
    let title: Vec<Uuid> = [10, 12, 14, 16].into_iter().map(audit_id).collect();
    assert_eq!(changes_of(store, CONTACT_X, Some("jobtitle")).await, title);
    assert_eq!(changes_of(store, CONTACT_X, Some("JOBTITLE")).await, title);
    // Deleted columns and columns with an invalid new value are named by the detail too.
    assert_eq!(changes_of(store, CONTACT_X, Some("New_LegacyCode")).await, vec![audit_id(3)]);
    assert_eq!(changes_of(store, CONTACT_X, Some("new_secretnote")).await, vec![audit_id(3)]);
    assert_eq!(changes_of(store, CONTACT_X, Some("lastname")).await, vec![audit_id(3)]);
    // A column of another record, a column never changed, a prefix: nothing.
    assert_eq!(changes_of(store, ACCOUNT_A, Some("telephone1")).await, vec![audit_id(17)]);
    assert_eq!(changes_of(store, CONTACT_X, Some("emailaddress1")).await, Vec::<Uuid>::new());
    assert_eq!(changes_of(store, CONTACT_X, Some("telephone")).await, Vec::<Uuid>::new());
    assert_eq!(changes_of(store, CONTACT_X, Some("%")).await, Vec::<Uuid>::new());
    // Details that name no column never match a column filter.
    assert_eq!(changes_of(store, ACCOUNT_A, Some("principal")).await, Vec::<Uuid>::new());
}

async fn record_changes_are_oldest_first_then_by_audit_id<S: Archive + ChangeStore>(store: &S) {
    start("record changes are oldest first, then by audit id");
    // Ingested newest first over three batches; 20..=25 share one instant.
    let mut changes: Vec<IncomingChange> = Vec::new();
    for n in 20..=31u32 {
        let mut change = update(n, 100 - i64::from(n), CONTACT_X, ALICE);
        if n <= 25 {
            change.change.created_on = at(500);
        }
        changes.push(change);
    }
    changes.reverse();
    for chunk in changes.chunks(5) {
        ingest_ok(store, batch(chunk.to_vec())).await;
    }
    let mut expected: Vec<(DateTime<Utc>, Uuid)> =
        changes.iter().map(|c| (c.change.created_on, c.change.audit_id)).collect();
    expected.sort();
    let found = store.record_changes(guid(CONTACT_X), None).await.unwrap_or_else(|e| panic!("{e}"));
    let found: Vec<(DateTime<Utc>, Uuid)> =
        found.iter().map(|c| (c.change.created_on, c.change.audit_id)).collect();
    assert_eq!(found, expected);
    let filtered = changes_of(store, CONTACT_X, Some("JobTitle")).await;
    let expected_filtered: Vec<Uuid> = expected
        .iter()
        .filter(|(_, id)| {
            changes.iter().any(|c| c.change.audit_id == *id && c.change.field("jobtitle").is_some())
        })
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(filtered, expected_filtered);
    assert_eq!(filtered.len(), 6);
}

async fn cursors_and_quarantine_land_with_the_changes<S: Archive + ChangeStore>(store: &S) {
    start("cursors and quarantine land with the changes");
    let cursor = format!("dataverse/{ENVIRONMENT}/audits/createdon");
    let bad = Quarantined {
        source: format!("{ENVIRONMENT} audits page 3, item 17"),
        reason: "the audit row has no auditid; kept verbatim".into(),
        raw: b"{\"createdon\":\"2026-06-01T09:00:00Z\",\"action\":2}\xff".to_vec(),
    };
    let receipt = ingest_ok(
        store,
        ChangeBatch {
            changes: vec![update(1, 0, CONTACT_X, ALICE), update(2, 1, CONTACT_X, ALICE)],
            quarantined: vec![bad.clone()],
            cursors: vec![
                (cursor.clone(), "2026-06-01T09:01:00Z".into()),
                ("import/AuditBase-2026-06.csv".into(), "line 4711".into()),
            ],
        },
    )
    .await;
    assert_eq!(receipt, ChangeReceipt { inserted: 2, duplicates: 0, quarantined: 1 });
    assert_eq!(store.cursor(&cursor).await.ok().flatten().as_deref(), Some("2026-06-01T09:01:00Z"));
    assert_eq!(
        store.cursor("import/AuditBase-2026-06.csv").await.ok().flatten().as_deref(),
        Some("line 4711")
    );
    assert_eq!(store.quarantined(10).await.ok(), Some(vec![bad.clone()]));
    // Only a cursor move and a quarantined row: both land, the cursor moves on.
    let later = Quarantined {
        source: "AuditBase-2026-06.csv line 4712".into(),
        reason: "ChangeData does not match the AttributeMask".into(),
        raw: b"broken,row\r\n".to_vec(),
    };
    let receipt = ingest_ok(
        store,
        ChangeBatch {
            changes: vec![],
            quarantined: vec![later.clone()],
            cursors: vec![(cursor.clone(), "2026-06-01T10:00:00Z".into())],
        },
    )
    .await;
    assert_eq!(receipt, ChangeReceipt { inserted: 0, duplicates: 0, quarantined: 1 });
    assert_eq!(store.cursor(&cursor).await.ok().flatten().as_deref(), Some("2026-06-01T10:00:00Z"));
    assert_eq!(store.quarantined(10).await.ok(), Some(vec![later, bad]), "newest first");
    let summary = store.summary().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((summary.records, summary.quarantined), (0, 2));
    assert_eq!(store.change_summary().await.ok().map(|s| s.changes), Some(2));
}

async fn a_failed_batch_leaves_nothing_behind<S, B>(store: &S, backdoor: &B)
where
    S: Archive + ChangeStore,
    B: Backdoor<S>,
{
    start("a failed batch leaves nothing behind");
    let cursor = "dataverse/contoso/audits";
    ingest_ok(
        store,
        ChangeBatch {
            changes: vec![update(1, 0, CONTACT_X, ALICE)],
            cursors: vec![(cursor.into(), "before".into())],
            ..ChangeBatch::default()
        },
    )
    .await;
    backdoor.refuse_table(store, "refused_table").await;
    let mut refused = update(3, 2, CONTACT_X, ALICE);
    refused.change.table = "refused_table".into();
    let failing = ChangeBatch {
        changes: vec![update(2, 1, CONTACT_X, ALICE), refused],
        quarantined: vec![Quarantined {
            source: "page 2".into(),
            reason: "not JSON".into(),
            raw: b"<html>".to_vec(),
        }],
        cursors: vec![(cursor.into(), "after".into())],
    };
    let outcome = store.ingest_changes(failing).await;
    assert!(outcome.is_err(), "the backdoor refuses the batch: {outcome:?}");
    assert_eq!(store.cursor(cursor).await.ok().flatten().as_deref(), Some("before"));
    assert_eq!(changes_of(store, CONTACT_X, None).await, vec![audit_id(1)]);
    assert_eq!(store.change(audit_id(2)).await.ok(), Some(None));
    assert_eq!(store.quarantined(10).await.ok(), Some(vec![]));
    let summary = store.change_summary().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.changes, 1);
    // The same batch without the refused change lands whole.
    let receipt = ingest_ok(
        store,
        ChangeBatch {
            changes: vec![update(2, 1, CONTACT_X, ALICE)],
            cursors: vec![(cursor.into(), "after".into())],
            ..ChangeBatch::default()
        },
    )
    .await;
    assert_eq!(receipt.inserted, 1);
    assert_eq!(store.cursor(cursor).await.ok().flatten().as_deref(), Some("after"));
}

async fn summary_counts_and_spans_the_changes<S: Archive + ChangeStore>(store: &S) {
    start("summary counts and spans the changes");
    let all = every_kind();
    ingest_ok(store, batch(all[3..].to_vec())).await;
    ingest_ok(store, batch(all[..5].to_vec())).await;
    let summary = store.change_summary().await.unwrap_or_else(|e| panic!("{e}"));
    let earliest = all.iter().map(|c| c.change.created_on).min();
    let latest = all.iter().map(|c| c.change.created_on).max();
    assert_eq!(summary, crate::ChangeSummary { changes: 10, earliest, latest });
}

async fn user_changes_are_a_users_changes_in_a_period<S: Archive + ChangeStore>(store: &S) {
    start("user changes are a user's changes in a period");
    let mut changes: Vec<IncomingChange> = Vec::new();
    for n in 1..=20u32 {
        let user = if n % 3 == 0 { BOB } else { ALICE };
        let object = if n % 2 == 0 { CONTACT_X } else { ACCOUNT_A };
        changes.push(update(n, i64::from(n) * 10, object, user));
    }
    changes.reverse();
    ingest_ok(store, batch(changes.clone())).await;
    let of = |user: &str, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>| {
        let mut ids: Vec<(DateTime<Utc>, Uuid)> = changes
            .iter()
            .filter(|c| c.change.user_id == Some(guid(user)))
            .filter(|c| since.is_none_or(|s| c.change.created_on >= s))
            .filter(|c| until.is_none_or(|u| c.change.created_on < u))
            .map(|c| (c.change.created_on, c.change.audit_id))
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect::<Vec<Uuid>>()
    };
    let found =
        |list: Vec<StoredChange>| list.iter().map(|c| c.change.audit_id).collect::<Vec<_>>();
    let all_bob =
        store.user_changes(guid(BOB), None, None, 100).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found(all_bob), of(BOB, None, None));
    // The period is half-open: an instant at `until` is outside, at `since` inside.
    // Changes 7 (Alice's, at `since`) to 15; change 16 (Alice's, at `until`) is outside.
    let (since, until) = (changes[13].change.created_on, changes[4].change.created_on);
    let alice = store
        .user_changes(guid(ALICE), Some(since), Some(until), 100)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let expected = of(ALICE, Some(since), Some(until));
    assert!(expected.len() >= 5, "{expected:?}");
    assert_eq!(found(alice), expected);
    let limited =
        store.user_changes(guid(ALICE), None, None, 3).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found(limited), of(ALICE, None, None)[..3].to_vec());
    let nobody = store
        .user_changes(guid(IMPERSONATOR), None, None, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(nobody.is_empty(), "the calling user is not the user");
}

async fn verify_names_an_altered_change<S, B>(store: &S, backdoor: &B)
where
    S: Archive + ChangeStore,
    B: Backdoor<S>,
{
    start("verify names an altered change");
    ingest_ok(store, batch(every_kind())).await;
    let report = store.verify().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_intact(), "{:?}", report.findings);
    // Changes and records side by side: the records' chain is unaffected by changes.
    let record = br#"{"CreationTime":"2026-06-01T09:00:00","Id":"0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e","Operation":"CrmDefaultActivity","OrganizationId":"41463f53-8812-40f4-890f-865bf6e35190","RecordType":21,"UserKey":"10037FFE91510806","UserType":0,"Version":1,"Workload":"CRM","UserId":"alice@contoso.com","EntityName":"contact","Message":"Update"}"#;
    let parsed = record::parse_record(record).unwrap_or_else(|e| panic!("{e:?}"));
    let ingest = crate::IngestBatch {
        records: vec![crate::IncomingRecord { raw: record.to_vec(), record: parsed }],
        ..crate::IngestBatch::default()
    };
    store.ingest(ingest).await.unwrap_or_else(|e| panic!("{e}"));
    let report = store.verify().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!((report.batches, report.records), (1, 1));
    // One change with a detail, one without.
    backdoor.alter_raw_row(store, audit_id(3)).await;
    backdoor.alter_raw_row(store, audit_id(10)).await;
    let report = store.verify().await.unwrap_or_else(|e| panic!("{e}"));
    let mut expected =
        vec![altered_change_finding(audit_id(3)), altered_change_finding(audit_id(10))];
    let mut found = report.findings.clone();
    let order = |f: &crate::Finding| format!("{f:?}");
    expected.sort_by_key(order);
    found.sort_by_key(order);
    assert_eq!(found, expected);
    assert_eq!((report.batches, report.records), (1, 1));
    // The other changes still read back as they were.
    let untouched = store.change(audit_id(2)).await.ok().flatten().expect("change 2 is stored");
    assert_same(&untouched, &every_kind()[1]);
}

async fn a_batch_of_five_thousand_changes<S: Archive + ChangeStore>(store: &S) {
    start("a batch of five thousand changes");
    const COUNT: u32 = 5_000;
    let objects: Vec<String> =
        (0..50u32).map(|i| format!("7a9e3c2d-5b4f-4e1a-8c6d-{i:012x}")).collect();
    let changes: Vec<IncomingChange> = (1..=COUNT)
        .map(|n| {
            let object = &objects[(n % 50) as usize];
            update(n, i64::from(n % 1440), object, if n % 2 == 0 { ALICE } else { BOB })
        })
        .collect();
    let started = std::time::Instant::now();
    let receipt = ingest_ok(
        store,
        ChangeBatch {
            changes: changes.clone(),
            cursors: vec![("bulk".into(), "5000".into())],
            ..ChangeBatch::default()
        },
    )
    .await;
    eprintln!("  {COUNT} changes ingested in {:?}", started.elapsed());
    assert_eq!(receipt.inserted, u64::from(COUNT));
    let started = std::time::Instant::now();
    let receipt = ingest_ok(store, batch(changes.clone())).await;
    eprintln!("  the same {COUNT} again (all duplicates) in {:?}", started.elapsed());
    assert_eq!(receipt.duplicates, u64::from(COUNT));
    let started = std::time::Instant::now();
    let history = store
        .record_changes(guid(&objects[8]), Some("JOBTITLE"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "  one record's column history ({} changes) in {:?}",
        history.len(),
        started.elapsed()
    );
    let expected = changes
        .iter()
        .filter(|c| {
            c.change.object_id == Some(guid(&objects[8])) && c.change.field("jobtitle").is_some()
        })
        .count();
    assert_eq!(history.len(), expected);
    assert_eq!(expected, 100, "a record of 50 has 100 changes, every one naming JobTitle");
    assert_eq!(store.change_summary().await.ok().map(|s| s.changes), Some(u64::from(COUNT)));
    let started = std::time::Instant::now();
    let report = store.verify().await.unwrap_or_else(|e| panic!("{e}"));
    eprintln!("  verify in {:?}", started.elapsed());
    assert!(report.is_intact(), "{:?}", report.findings);
}
