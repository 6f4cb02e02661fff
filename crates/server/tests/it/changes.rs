//! Dataverse field history in the UI and the API, as one story with the activity log: a real
//! SQLite archive holds a contact's activity records (from the emulator's generator) and its
//! audit changes (Web API rows and `RetrieveAuditDetails` responses, parsed by `record`, stored
//! through `ChangeStore::ingest_changes`). The record timeline shows both in time order across
//! pages without loss or repetition; the API returns the changes, one change with its bytes,
//! and restore plans; roles gate restore plans; every use is in the access log.

use std::collections::HashSet;

use archive::{Archive, Order, PageRequest, RecordQuery, RecordSummary};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    Browser, TestServer, attribute_detail, audit_row, error_of, settings, share_detail, with_token,
};

pub(crate) const ALICE: (Uuid, &str) = (Uuid::from_u128(0xA11CE), "Alice Example");
pub(crate) const BOB: (Uuid, &str) = (Uuid::from_u128(0xB0B), "Bob Example");
/// The account a contact's parent customer lookup pointed to.
pub(crate) const ADATUM: Uuid = Uuid::from_u128(0xADA7);

/// What was seeded: the record, its activity rows (oldest first) and its changes.
#[derive(Debug, Clone)]
pub(crate) struct History {
    pub(crate) record: Uuid,
    pub(crate) activity: Vec<RecordSummary>,
    /// (auditid, time, row bytes, detail bytes), oldest first.
    pub(crate) changes: Vec<(Uuid, DateTime<Utc>, String, Option<String>)>,
    /// The create, the first telephone change, the share (at the time of an activity record),
    /// the update of telephone and parent customer, the last change.
    pub(crate) create: Uuid,
    pub(crate) first_phone: Uuid,
    pub(crate) share: Uuid,
    pub(crate) phone_and_parent: Uuid,
    pub(crate) last: Uuid,
}

impl History {
    pub(crate) fn time_of(&self, audit_id: Uuid) -> DateTime<Utc> {
        self.changes.iter().find(|c| c.0 == audit_id).unwrap().1
    }

    pub(crate) fn row_of(&self, audit_id: Uuid) -> (&str, Option<&str>) {
        let c = self.changes.iter().find(|c| c.0 == audit_id).unwrap();
        (&c.2, c.3.as_deref())
    }

    /// Between the first telephone change and the share: what a restore plan goes back to.
    pub(crate) fn restore_point(&self) -> DateTime<Utc> {
        let (from, to) = (self.time_of(self.first_phone), self.time_of(self.share));
        from + Duration::microseconds((to - from).num_microseconds().unwrap() / 2)
    }

    /// The record's name in the activity records and the audit rows.
    pub(crate) fn name(&self) -> String {
        self.activity
            .iter()
            .filter(|r| r.via == Some(archive::Via::Entity))
            .find_map(|r| r.primary_field_value.clone())
            .unwrap_or_else(|| "Nancy Anderson".to_string())
    }

    /// Changes whose detail names telephone1.
    pub(crate) fn phone_changes(&self) -> usize {
        4
    }
}

/// The contact with the most events in the generated archive, and its timeline rows.
async fn busiest_contact(server: &TestServer) -> (Uuid, Vec<RecordSummary>) {
    let query = RecordQuery { entity: Some("contact".into()), ..RecordQuery::default() };
    let page = server
        .archive
        .search(&query, &PageRequest { limit: 10_000, after: None, order: Order::OldestFirst })
        .await
        .unwrap();
    let mut counts: Vec<(Uuid, usize)> = Vec::new();
    for id in page.rows.iter().filter_map(|r| r.entity_id) {
        match counts.iter_mut().find(|(known, _)| *known == id) {
            Some((_, n)) => *n += 1,
            None => counts.push((id, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let record = counts.first().expect("contacts with events").0;
    let rows = server
        .archive
        .search(
            &RecordQuery { record_id: Some(record), ..RecordQuery::default() },
            &PageRequest { limit: 10_000, after: None, order: Order::OldestFirst },
        )
        .await
        .unwrap()
        .rows;
    (record, rows)
}

fn phone(old: Option<&str>, new: Option<&str>) -> (Value, Value) {
    let side = |v: Option<&str>| match v {
        Some(v) => json!({ "@odata.type": "#Microsoft.Dynamics.CRM.contact", "telephone1": v }),
        None => json!({ "@odata.type": "#Microsoft.Dynamics.CRM.contact" }),
    };
    (side(old), side(new))
}

/// Seeds a history around the busiest contact's activity: a create before its first event,
/// a change between each two distinct event times, a share at exactly the time of an event
/// (a page boundary when pages hold two rows), and a change after its last event.
pub(crate) async fn seed_history(server: &TestServer) -> History {
    let (record, activity) = busiest_contact(server).await;
    let mut times: Vec<DateTime<Utc>> = activity.iter().map(|r| r.time).collect();
    times.dedup();
    assert!(times.len() >= 3, "the busiest contact has events at 3 times at least: {times:?}");
    let mid = |i: usize| {
        let gap = (times[i + 1] - times[i]).num_microseconds().unwrap();
        assert!(gap >= 2);
        times[i] + Duration::microseconds(gap / 2)
    };
    // The name the activity records show, so both kinds of event tell of the same person.
    let name = activity
        .iter()
        .filter(|r| r.via == Some(archive::Via::Entity))
        .find_map(|r| r.primary_field_value.clone())
        .unwrap_or_else(|| "Nancy Anderson".to_string());
    let name = name.as_str();
    let mut items: Vec<(Uuid, DateTime<Utc>, String, Option<String>)> = Vec::new();
    let mut add = |n: u128, at: DateTime<Utc>, action: i32, user, detail: Option<String>| {
        let id = Uuid::from_u128(0x5eed_0000 + n);
        let operation = match action {
            1..=3 => action,
            _ => 4,
        };
        let row = audit_row(id, at, action, operation, record, name, user);
        items.push((id, at, row, detail));
        id
    };
    let create = add(
        1,
        times[0] - Duration::seconds(60),
        1,
        ALICE,
        Some(attribute_detail(
            json!({ "@odata.type": "#Microsoft.Dynamics.CRM.contact" }),
            json!({ "@odata.type": "#Microsoft.Dynamics.CRM.contact", "lastname": "Anderson", "telephone1": "555-0100" }),
        )),
    );
    let (old, new) = phone(Some("555-0100"), Some("555-0101"));
    let first_phone = add(2, mid(0), 2, ALICE, Some(attribute_detail(old, new)));
    let share = add(
        3,
        times[1],
        14,
        ALICE,
        Some(share_detail(BOB.0, BOB.1, "", "ReadAccess, WriteAccess")),
    );
    let phone_and_parent = add(
        4,
        mid(1),
        2,
        BOB,
        Some(attribute_detail(
            json!({
                "@odata.type": "#Microsoft.Dynamics.CRM.contact",
                "telephone1": "555-0101",
                "_parentcustomerid_value": ADATUM.to_string(),
                "_parentcustomerid_value@OData.Community.Display.V1.FormattedValue": "A. Datum",
                "_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "account",
            }),
            json!({
                "@odata.type": "#Microsoft.Dynamics.CRM.contact",
                "telephone1": "555-0102",
                "_parentcustomerid_value": null,
            }),
        )),
    );
    for i in 2..times.len() - 1 {
        add(
            10 + i as u128,
            mid(i),
            48,
            ALICE,
            Some(share_detail(BOB.0, BOB.1, "ReadAccess", "ReadAccess, WriteAccess")),
        );
    }
    let (old, new) = phone(Some("555-0102"), Some("555-0199"));
    let last = add(
        9_999,
        *times.last().unwrap() + Duration::seconds(60),
        2,
        ALICE,
        Some(attribute_detail(old, new)),
    );
    let stored: Vec<(String, Option<String>)> =
        items.iter().map(|(_, _, row, detail)| (row.clone(), detail.clone())).collect();
    server.ingest_changes(&stored).await;
    History { record, activity, changes: items, create, first_phone, share, phone_and_parent, last }
}

/// Text as maud writes it into HTML.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn unescaped(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The element with `id` in `html`: its inner HTML up to the next closing tag of its kind.
fn element<'a>(html: &'a str, id: &str) -> &'a str {
    let marker = format!("id=\"{id}\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no #{id} in the page"));
    let tag_start = html[..start].rfind('<').unwrap();
    let tag: String = html[tag_start + 1..].chars().take_while(|c| c.is_alphanumeric()).collect();
    let open_end = start + html[start..].find('>').unwrap() + 1;
    let close = format!("</{tag}>");
    let end = open_end + html[open_end..].find(&close).unwrap();
    &html[open_end..end]
}

/// One line of the timeline table: (kind, id, time text, inner HTML).
#[derive(Debug, Clone)]
struct TimelineLine {
    kind: String,
    id: String,
    time: String,
    html: String,
}

fn timeline_lines(html: &str) -> Vec<TimelineLine> {
    let Some(start) = html.find("<table id=\"timeline\">") else {
        return Vec::new();
    };
    let end = start + html[start..].find("</table>").unwrap();
    let table = &html[start..end];
    table
        .split("<tr class=\"")
        .skip(1)
        .map(|chunk| {
            let kind: String = chunk.chars().take_while(|c| *c != '"').collect();
            let time = chunk
                .split("<td class=\"time\">")
                .nth(1)
                .unwrap()
                .split("</td>")
                .next()
                .unwrap()
                .to_string();
            let id = match kind.as_str() {
                "change" => chunk.split("id=\"change-").nth(1).unwrap().split('"').next().unwrap(),
                _ => chunk.split("href=\"/records/").nth(1).unwrap().split('"').next().unwrap(),
            }
            .to_string();
            TimelineLine { kind, id, time, html: chunk.to_string() }
        })
        .collect()
}

fn next_page(html: &str) -> Option<String> {
    let marker = "id=\"next-page\" href=\"";
    let start = html.find(marker)? + marker.len();
    Some(html[start..].split('"').next()?.replace("&amp;", "&"))
}

/// Walks every page of a timeline from `path`: its lines, and how many pages there were.
async fn walk(browser: &mut Browser, path: &str) -> (Vec<TimelineLine>, usize, String) {
    let first = browser.page(path).await;
    let mut lines = timeline_lines(&first);
    let mut pages = 1;
    let mut html = first.clone();
    while let Some(next) = next_page(&html) {
        html = browser.page(&next).await;
        lines.extend(timeline_lines(&html));
        pages += 1;
        assert!(pages < 1_000);
    }
    (lines, pages, first)
}

fn ui_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[tokio::test]
async fn the_record_timeline_tells_activity_and_field_history_as_one_story_across_pages() {
    // Two activity rows a page: every page boundary matters.
    let server = TestServer::start_with(
        server::ServerSettings { page_rows: 1, ..settings() },
        server::Hooks::default(),
    )
    .await;
    let history = seed_history(&server).await;
    let record = history.record;
    let mut auditor = server.sign_in("auditor").await;
    let (lines, pages, first) = walk(&mut auditor, &format!("/timeline/record/{record}")).await;

    // Nothing lost, nothing repeated, all in time order.
    let changes: Vec<&TimelineLine> = lines.iter().filter(|l| l.kind == "change").collect();
    let activity: Vec<&TimelineLine> = lines.iter().filter(|l| l.kind == "activity").collect();
    let seen: HashSet<&str> = changes.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(changes.len(), history.changes.len(), "each change once: {lines:#?}");
    assert_eq!(seen.len(), history.changes.len());
    for (id, ..) in &history.changes {
        assert!(seen.contains(id.to_string().as_str()), "change {id} is shown");
    }
    let expected: Vec<&str> = history.activity.iter().map(|r| r.id.as_str()).collect();
    let shown: Vec<&str> = activity.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(shown, expected, "every activity row once, oldest first");
    assert_eq!(pages, history.activity.len().div_ceil(2));
    let times: Vec<&str> = lines.iter().map(|l| l.time.as_str()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "time order: {times:?}");
    // The share happened at the very time of an activity record: it comes right after it.
    let share_at = lines.iter().position(|l| l.id == history.share.to_string()).unwrap();
    assert_eq!(lines[share_at - 1].kind, "activity");
    assert_eq!(lines[share_at - 1].time, ui_time(history.time_of(history.share)));
    // The create comes first, the last change last.
    assert_eq!(lines.first().unwrap().id, history.create.to_string());
    assert_eq!(lines.last().unwrap().id, history.last.to_string());

    // The header counts both kinds.
    let total = history.activity.len() + history.changes.len();
    let count = unescaped(element(&first, "event-count"));
    assert!(count.starts_with(&format!("{total} in total")), "{count}");
    assert_eq!(element(&first, "change-count"), history.changes.len().to_string());
    assert_eq!(element(&first, "activity-count"), history.activity.len().to_string());

    // A change row: time, who, the action label and each column as old -> new.
    let row = lines.iter().find(|l| l.id == history.phone_and_parent.to_string()).unwrap();
    let text = unescaped(&row.html);
    assert_eq!(row.time, ui_time(history.time_of(history.phone_and_parent)));
    assert!(text.contains("Bob Example"), "{text}");
    assert!(text.contains("<strong class=\"change-action\">Update</strong>"), "{text}");
    assert!(text.contains("<li>telephone1: 555-0101 -> 555-0102</li>"), "{text}");
    assert!(text.contains("<li>parentcustomerid: A. Datum -> (empty)</li>"), "{text}");
    assert!(text.contains(&format!("href=\"/change/{}\"", history.phone_and_parent)));
    let share = unescaped(&lines[share_at].html);
    assert!(share.contains(">Share</strong>"), "{share}");
    assert!(
        share.contains("Access of Bob Example (systemuser): no access -> ReadAccess, WriteAccess"),
        "{share}"
    );
    let create = unescaped(&lines[0].html);
    assert!(
        create.contains(">Create</strong>") && create.contains("lastname: (empty) -> Anderson")
    );

    // The field history panel counts changes per column.
    let panel = unescaped(element(&first, "field-counts"));
    assert!(panel.contains("field=telephone1\">telephone1</a>"), "{panel}");
    let phone_count = panel.split("telephone1</span></td><td class=\"num\">").nth(1).unwrap();
    assert!(phone_count.starts_with(&history.phone_changes().to_string()), "{panel}");

    // One column's story: only the changes of telephone1.
    let (lines, _, first) =
        walk(&mut auditor, &format!("/timeline/record/{record}?field=telephone1")).await;
    let phone: Vec<String> =
        lines.iter().filter(|l| l.kind == "change").map(|l| l.id.clone()).collect();
    assert_eq!(
        phone,
        [history.create, history.first_phone, history.phone_and_parent, history.last]
            .map(|id| id.to_string())
    );
    assert_eq!(element(&first, "chosen-field"), "telephone1");
    assert_eq!(element(&first, "change-count"), "4");

    // The printable report holds the changes too.
    let printable = auditor.page(&format!("/timeline/record/{record}?print=1")).await;
    let printed = timeline_lines(&printable);
    assert_eq!(printed.len(), total);
    assert_eq!(printed.iter().filter(|l| l.kind == "change").count(), history.changes.len());

    // Each change links to its detail page: decoded, and the bytes as received with their hash.
    let page = auditor.page(&format!("/change/{}", history.phone_and_parent)).await;
    let (row, detail) = history.row_of(history.phone_and_parent);
    assert_eq!(element(&page, "raw-row"), escaped(row));
    assert_eq!(element(&page, "raw-detail"), escaped(detail.unwrap()));
    let hash = {
        let mut hasher = blake3::Hasher::new();
        hasher.update(row.as_bytes());
        hasher.update(detail.unwrap().as_bytes());
        hasher.finalize().to_hex().to_string()
    };
    assert!(page.contains(&hash), "the page shows the hash");
    assert!(element(&page, "hash-check").contains("matches the bytes below"));
    let fields = unescaped(element(&page, "change-fields"));
    assert!(fields.contains("telephone1") && fields.contains("555-0102"), "{fields}");
    assert!(fields.contains("A. Datum") && fields.contains(&ADATUM.to_string()), "{fields}");
    assert!(fields.contains("→ account"), "{fields}");
    let share_page = auditor.page(&format!("/change/{}", history.share)).await;
    assert!(element(&share_page, "change-summary").contains("no access"));
    let missing = auditor.get(&format!("/change/{}", Uuid::from_u128(1))).await;
    assert_eq!(missing.status(), 404);
    let bad = auditor.get("/change/not-a-guid").await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("write it like"));

    // Every view is in the access log, with the rows it showed.
    let log = server.access_log().await;
    let timelines: Vec<&archive::AccessEntry> =
        log.iter().filter(|e| e.action == "record_timeline" && e.channel == "ui").collect();
    assert!(timelines.len() >= pages + 2);
    let printed_entry = timelines.iter().find(|e| e.rows == Some(total as u64));
    assert!(printed_entry.is_some(), "the printable view logs activity rows and changes");
    assert!(log.iter().any(|e| e.action == "change_view"
        && e.detail == history.phone_and_parent.to_string()
        && e.channel == "ui"
        && e.username == "auditor"));
    server.stop().await;
}

#[tokio::test]
async fn the_api_returns_field_history_one_change_with_its_bytes_and_restore_plans() {
    let server = TestServer::start().await;
    let history = seed_history(&server).await;
    let record = history.record;
    let viewer = server.token("viewer").await;
    let auditor = server.token("auditor").await;
    let get =
        |path: String, token: &str| with_token(server.http.get(server.url(&path)), token).send();

    // All changes, oldest first.
    let response = get(format!("/api/v1/records/{record}/changes"), &viewer).await.unwrap();
    assert_eq!(response.status(), 200);
    let list: Value = response.json().await.unwrap();
    assert_eq!(list["record_id"], record.to_string());
    assert_eq!(list["field"], Value::Null);
    let changes = list["changes"].as_array().unwrap();
    let ids: Vec<String> = changes.iter().map(|c| c["audit_id"].as_str().unwrap().into()).collect();
    let expected: Vec<String> = history.changes.iter().map(|c| c.0.to_string()).collect();
    assert_eq!(ids, expected);
    let c4 =
        changes.iter().find(|c| c["audit_id"] == history.phone_and_parent.to_string()).unwrap();
    let (row, detail) = history.row_of(history.phone_and_parent);
    let hash = {
        let mut hasher = blake3::Hasher::new();
        hasher.update(row.as_bytes());
        hasher.update(detail.unwrap().as_bytes());
        hasher.finalize().to_hex().to_string()
    };
    assert_eq!(c4["time"], json!(history.time_of(history.phone_and_parent)));
    assert_eq!(c4["action"], json!({ "value": 2, "label": "Update" }));
    assert_eq!(c4["operation"], json!({ "value": 2, "label": "Update" }));
    assert_eq!(c4["category"], "row_event");
    assert_eq!(c4["table"], "contact");
    assert_eq!(c4["object_id"], record.to_string());
    assert_eq!(c4["object_name"], history.name());
    assert_eq!(c4["user"], json!({ "id": BOB.0.to_string(), "name": "Bob Example" }));
    assert_eq!(c4["calling_user_id"], Value::Null);
    assert_eq!(c4["detail_kind"], "attributes");
    assert_eq!(
        c4["fields"],
        json!([
            {
                "field": "parentcustomerid",
                "old": { "value": ADATUM.to_string(), "formatted": "A. Datum", "lookup_table": "account", "display": "A. Datum" },
                "new": null
            },
            {
                "field": "telephone1",
                "old": { "value": "555-0101", "formatted": null, "lookup_table": null, "display": "555-0101" },
                "new": { "value": "555-0102", "formatted": null, "lookup_table": null, "display": "555-0102" }
            }
        ])
    );
    // In the order of the detail's bytes (serde_json writes keys sorted).
    assert_eq!(
        c4["summary"],
        "parentcustomerid: A. Datum -> (empty); telephone1: 555-0101 -> 555-0102"
    );
    assert_eq!(
        c4["source"],
        json!({ "kind": "dataverse", "environment": "https://contoso.crm4.dynamics.com", "file": null, "line": null })
    );
    assert_eq!(c4["hash"], hash);
    assert!(c4.get("raw_row").is_none(), "the list carries no bytes");
    let share = changes.iter().find(|c| c["audit_id"] == history.share.to_string()).unwrap();
    assert_eq!(share["action"], json!({ "value": 14, "label": "Share" }));
    assert_eq!(share["detail_kind"], "share");
    assert_eq!(share["fields"], json!([]));
    assert_eq!(share["share"]["principal"]["id"], BOB.0.to_string());
    assert_eq!(share["share"]["principal"]["table"], "systemuser");
    assert_eq!(share["share"]["old_privileges"], Value::Null);
    assert!(share["share"]["new_privileges"].as_str().unwrap().contains("WriteAccess"));

    // One column (the name as the archive compares it: any case).
    let narrowed: Value =
        get(format!("/api/v1/records/{record}/changes?field=TELEPHONE1"), &viewer)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(narrowed["field"], "TELEPHONE1");
    assert_eq!(narrowed["changes"].as_array().unwrap().len(), history.phone_changes());
    let none: Value = get(format!("/api/v1/records/{}/changes", Uuid::from_u128(3)), &viewer)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none["changes"], json!([]));

    // One change with its bytes.
    let response =
        get(format!("/api/v1/changes/{}", history.phone_and_parent), &viewer).await.unwrap();
    assert_eq!(response.status(), 200);
    let one: Value = response.json().await.unwrap();
    assert_eq!(one["audit_id"], history.phone_and_parent.to_string());
    assert_eq!(one["fields"], c4["fields"]);
    assert_eq!(one["raw_row"], row);
    assert_eq!(one["raw_row_utf8"], true);
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(b64.decode(one["raw_row_base64"].as_str().unwrap()).unwrap(), row.as_bytes());
    assert_eq!(one["raw_detail"], detail.unwrap());
    assert_eq!(
        b64.decode(one["raw_detail_base64"].as_str().unwrap()).unwrap(),
        detail.unwrap().as_bytes()
    );
    assert_eq!(one["hash"], hash);
    assert_eq!(one["hash_matches"], true);

    // Errors in the API's shape, saying what to write.
    let (status, code, message) =
        error_of(get("/api/v1/records/not-a-guid/changes".into(), &viewer).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "invalid_query"));
    assert!(message.contains("not a GUID") && message.contains("write it like"), "{message}");
    let (status, _, message) =
        error_of(get("/api/v1/changes/12345".into(), &viewer).await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(message.contains("auditid"), "{message}");
    let (status, code, _) =
        error_of(get(format!("/api/v1/changes/{}", Uuid::from_u128(1)), &viewer).await.unwrap())
            .await;
    assert_eq!((status, code.as_str()), (404, "not_found"));

    // The restore plan: the PATCH that puts back what changed after the point in time.
    let at = history.restore_point();
    let at_text = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let plan_path = format!("/api/v1/records/{record}/restore-plan?at={at_text}");
    let response = get(plan_path.clone(), &auditor).await.unwrap();
    assert_eq!(response.status(), 200);
    let plan: Value = response.json().await.unwrap();
    assert_eq!(plan["verdict"], "patch");
    assert_eq!(plan["record_id"], record.to_string());
    assert_eq!(plan["table"], "contact");
    assert_eq!(plan["at"], json!(at));
    assert_eq!(plan["request"]["method"], "PATCH");
    assert_eq!(plan["request"]["path"], format!("contacts({record})"));
    assert_eq!(
        plan["request"]["body"],
        json!({
            "telephone1": "555-0101",
            "parentcustomerid@odata.bind": format!("/accounts({ADATUM})"),
        })
    );
    let phone =
        plan["fields"].as_array().unwrap().iter().find(|f| f["field"] == "telephone1").unwrap();
    assert_eq!(phone["restored"]["value"], "555-0101");
    assert_eq!(phone["current"]["value"], "555-0199");
    assert_eq!(phone["first_changed_by"], "Bob Example");
    assert_eq!(phone["first_changed_on"], json!(history.time_of(history.phone_and_parent)));
    assert_eq!(plan["sent"], false);
    assert!(plan["note"].as_str().unwrap().contains("never sends"));
    let warnings = plan["warnings"].to_string();
    assert!(warnings.contains("entity_set="), "{warnings}");
    assert!(!warnings.contains("--entity-set"), "{warnings}");
    assert!(plan["verdict_text"].as_str().unwrap().starts_with("A PATCH puts 2 column(s) back"));
    let named: Value = get(format!("{plan_path}&entity_set=contactz"), &auditor)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        named["request"]["path"],
        format!("contacts({record})").replace("contacts", "contactz")
    );
    let before: Value = get(
        format!(
            "/api/v1/records/{record}/restore-plan?at={}",
            (history.time_of(history.create) - Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ")
        ),
        &auditor,
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(before["verdict"], "did_not_exist");
    assert_eq!(before["request"], Value::Null);
    let after: Value =
        get(format!("/api/v1/records/{record}/restore-plan?at=2026-06-03"), &auditor)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(after["verdict"], "already_as_it_was");

    // Restore plans need the auditor role; bad times and names say what to write.
    let (status, code, message) = error_of(get(plan_path.clone(), &viewer).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    assert!(message.contains("needs the auditor role"), "{message}");
    let (status, code, message) = error_of(
        get(format!("/api/v1/records/{record}/restore-plan?at=soon"), &auditor).await.unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "bad_request"));
    assert!(message.contains("at=2026-06-01T10:00:00Z"), "{message}");
    let (status, _, message) =
        error_of(get(format!("/api/v1/records/{record}/restore-plan"), &auditor).await.unwrap())
            .await;
    assert_eq!(status, 400);
    assert!(message.contains("at=2026-06-01T10:00:00Z"), "{message}");
    let (status, _, message) =
        error_of(get(format!("{plan_path}&entity_set=con%20tacts"), &auditor).await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(message.contains("EntitySetName"), "{message}");

    // Every use is in the access log.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let log = server.access_log().await;
    let find = |action: &str, detail: &str| {
        log.iter()
            .find(|e| e.action == action && e.channel == "api" && e.detail == detail)
            .unwrap_or_else(|| panic!("no {action} with {detail:?} in {log:#?}"))
    };
    let all = find("record_changes", &format!("record:{record}"));
    assert_eq!(all.rows, Some(history.changes.len() as u64));
    assert_eq!(all.username, "viewer");
    assert_eq!(find("record_changes", &format!("record:{record} field:TELEPHONE1")).rows, Some(4));
    assert_eq!(find("change_view", &history.phone_and_parent.to_string()).rows, Some(1));
    let planned =
        find("restore_plan", &format!("record:{record} at:{}", server::query_input::time_text(at)));
    assert_eq!((planned.username.as_str(), planned.rows), ("auditor", Some(2)));
    assert!(
        !log.iter().any(|e| e.action == "restore_plan" && e.username == "viewer"),
        "a refused plan reads nothing and logs nothing"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_restore_plan_page_shows_the_request_never_sends_it_and_needs_an_auditor() {
    let server = TestServer::start().await;
    let history = seed_history(&server).await;
    let record = history.record;
    let at = server::query_input::time_text(history.restore_point());

    let mut auditor = server.sign_in("auditor").await;
    let timeline = auditor.page(&format!("/timeline/record/{record}")).await;
    assert!(timeline.contains("id=\"restore-form\""), "auditors get the form");
    assert!(timeline.contains(&format!("action=\"/timeline/record/{record}/restore\"")));
    let page = auditor
        .page(&format!(
            "/timeline/record/{record}/restore?at={}&entity_set=",
            server::principal::url_encode(&at)
        ))
        .await;
    assert_eq!(element(&page, "restore-method"), "PATCH");
    assert_eq!(element(&page, "restore-path"), format!("contacts({record})"));
    let body: Value = serde_json::from_str(&unescaped(element(&page, "restore-body"))).unwrap();
    assert_eq!(
        body,
        json!({ "telephone1": "555-0101", "parentcustomerid@odata.bind": format!("/accounts({ADATUM})") })
    );
    assert!(
        unescaped(element(&page, "restore-verdict")).starts_with("A PATCH puts 2 column(s) back")
    );
    assert!(element(&page, "never-sent").contains("d365audit never sends this request"));
    let columns = unescaped(element(&page, "restore-fields"));
    assert!(
        columns.contains("telephone1")
            && columns.contains("555-0101")
            && columns.contains("555-0199")
    );
    assert!(columns.contains("Bob Example"), "{columns}");
    assert!(columns.contains(&ui_time(history.time_of(history.phone_and_parent))));
    let warnings = unescaped(element(&page, "restore-warnings"));
    assert!(warnings.contains("guessed") && warnings.contains("lookup"), "{warnings}");
    let bad = auditor.get(&format!("/timeline/record/{record}/restore?at=soon")).await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("at=2026-06-01T10:00:00Z"));

    let mut viewer = server.sign_in("viewer").await;
    let timeline = viewer.page(&format!("/timeline/record/{record}")).await;
    assert!(!timeline.contains("id=\"restore-form\""), "viewers do not get the form");
    assert_eq!(
        timeline_lines(&timeline).iter().filter(|l| l.kind == "change").count(),
        history.changes.len()
    );
    let refused = viewer.get(&format!("/timeline/record/{record}/restore?at=2026-06-02")).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("needs the auditor role"));

    let log = server.access_log().await;
    let entry = log
        .iter()
        .find(|e| e.action == "restore_plan" && e.channel == "ui")
        .expect("the plan view is logged");
    assert_eq!(entry.username, "auditor");
    assert_eq!(entry.detail, format!("record:{record} at:{at}"));
    assert_eq!(entry.rows, Some(2));
    server.stop().await;
}
