//! The emulated Dataverse environment over real HTTP: token audience, paging, filters,
//! annotations, audit details, value chaining, service protection limits, faults, determinism.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::Duration;
use clock::ManualClock;
use emulator::dataverse::{AuditDetail, AuditHistory, AuditRow, AuditValue, detail_json, row_json};
use emulator::{EmulatorConfig, RunningEmulator, demo};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Reply, config_at, secret_token, t0, token_request};

/// A running emulator with a Dataverse token of the demo app.
struct Env {
    emu: RunningEmulator,
    http: reqwest::Client,
    token: String,
    history: Arc<AuditHistory>,
}

async fn dataverse_token(emu: &RunningEmulator, http: &reqwest::Client) -> String {
    let scope = format!("{}.default", emu.dataverse_url());
    let reply = token_request(
        http,
        emu.token_url_v2(&demo::TENANT_ID.to_string()).as_str(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &demo::CLIENT_ID.to_string()),
            ("client_secret", demo::SECRET_VALUE),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

impl Env {
    async fn start(config: EmulatorConfig) -> Env {
        let emu = emulator::start(config).await.unwrap();
        let http = reqwest::Client::new();
        let token = dataverse_token(&emu, &http).await;
        let history = emu.dataverse_history().unwrap();
        Env { emu, http, token, history }
    }

    async fn demo() -> Env {
        Env::start(config_at(t0())).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}api/data/v9.2/{path}", self.emu.dataverse_url())
    }

    async fn get_with(&self, url: &str, token: Option<&str>, prefer: &[&str]) -> Reply {
        let mut request = self
            .http
            .get(url)
            .header("Accept", "application/json")
            .header("OData-MaxVersion", "4.0")
            .header("OData-Version", "4.0");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for value in prefer {
            request = request.header("Prefer", *value);
        }
        Reply::read(request.send().await.unwrap()).await
    }

    async fn get(&self, url: &str, prefer: &[&str]) -> Reply {
        self.get_with(url, Some(&self.token), prefer).await
    }

    /// Every row of a query, following `@odata.nextLink` verbatim; returns rows and pages.
    async fn collect(&self, first: &str, prefer: &[&str]) -> (Vec<Value>, usize) {
        let mut url = first.to_owned();
        let mut rows = Vec::new();
        let mut pages = 0;
        loop {
            let reply = self.get(&url, prefer).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
            pages += 1;
            let body = reply.json();
            rows.extend(body["value"].as_array().unwrap().iter().cloned());
            match body["@odata.nextLink"].as_str() {
                Some(next) => url = next.to_owned(),
                None => return (rows, pages),
            }
        }
    }

    async fn detail(&self, id: Uuid, prefer: &[&str]) -> Reply {
        let url = self.url(&format!("audits({id})/Microsoft.Dynamics.CRM.RetrieveAuditDetails"));
        self.get(&url, prefer).await
    }
}

const ALL_ANNOTATIONS: &str = "odata.include-annotations=\"*\"";

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter().map(|r| r["auditid"].as_str().unwrap().to_owned()).collect()
}

fn truth_ids(rows: &[AuditRow]) -> Vec<String> {
    rows.iter().map(|r| r.audit_id.to_string()).collect()
}

fn odata_code(reply: &Reply) -> String {
    reply.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn tokens_must_be_for_the_environment() {
    let env = Env::demo().await;
    let url = env.url("audits?$top=1");
    assert_eq!(env.get(&url, &[]).await.status, 200);

    // v1 with the environment URL as resource, with and without the trailing slash.
    let v1 = env.emu.token_url_v1(&demo::TENANT_ID.to_string());
    for resource in [
        env.emu.dataverse_url().to_string(),
        env.emu.dataverse_url().to_string().trim_end_matches('/').to_owned(),
    ] {
        let reply = token_request(
            &env.http,
            v1.as_str(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &demo::CLIENT_ID.to_string()),
                ("client_secret", demo::SECRET_VALUE),
                ("resource", &resource),
            ],
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let token = reply.json()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(env.get_with(&url, Some(&token), &[]).await.status, 200, "{resource}");
    }

    // A Management Activity API token is refused with the OData error shape.
    let office = secret_token(&env.emu, &env.http, demo::CLIENT_ID, demo::SECRET_VALUE).await;
    let reply = env.get_with(&url, Some(&office), &[]).await;
    assert_eq!(reply.status, 401);
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("audience"));
    let challenge = reply.header("www-authenticate").unwrap();
    assert!(challenge.contains(&format!("resource_id={}", env.emu.dataverse_url())), "{challenge}");
    // No token at all.
    let reply = env.get_with(&url, None, &[]).await;
    assert_eq!(reply.status, 401);
    assert!(reply.json()["error"]["code"].is_string());
    assert_eq!(env.emu.stats().dataverse.unauthorized, 2);
}

#[tokio::test]
async fn paging_covers_every_row_once_in_order() {
    let env = Env::demo().await;
    let truth = env.history.visible_rows();
    assert!(truth.len() > 2000, "a week of history has thousands of rows: {}", truth.len());
    let prefer = ["odata.maxpagesize=700"];
    let first = env.url("audits?$select=createdon,action&$orderby=createdon asc");
    let reply = env.get(&first, &prefer).await;
    assert_eq!(reply.header("preference-applied").as_deref(), Some("odata.maxpagesize=700"));
    assert_eq!(reply.header("odata-version").as_deref(), Some("4.0"));
    let body = reply.json();
    assert_eq!(body["value"].as_array().unwrap().len(), 700);
    let next = body["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.contains("$skiptoken=%3Ccookie+pagenumber%3D%222%22+pagingcookie%3D%22"),
        "{next}"
    );
    assert!(next.contains("istracking%3D%22False%22"), "{next}");

    let (rows, pages) = env.collect(&first, &prefer).await;
    assert_eq!(ids(&rows), truth_ids(&truth), "every row exactly once, in order");
    assert_eq!(pages, truth.len().div_ceil(700));
    for (row, truth) in rows.iter().zip(&truth) {
        assert_eq!(
            row["createdon"],
            json!(truth.created_on.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        );
        assert_eq!(row["action"], json!(truth.action));
        assert!(row.get("operation").is_none(), "$select applies");
    }

    // Descending order is the exact reverse; ties of createdon are broken by auditid.
    let (desc, _) = env.collect(&env.url("audits?$orderby=createdon desc"), &prefer).await;
    let mut reversed = truth_ids(&truth);
    reversed.reverse();
    assert_eq!(ids(&desc), reversed);

    // Without the preference the page is 5000 rows and no Preference-Applied is sent; larger
    // preferences are ignored.
    let reply = env.get(&env.url("audits"), &["odata.maxpagesize=9000"]).await;
    assert!(reply.header("preference-applied").is_none());
    assert_eq!(reply.json()["value"].as_array().unwrap().len(), truth.len().min(5000));
}

#[tokio::test]
async fn edited_next_links_are_refused() {
    let env = Env::demo().await;
    let first = env.url("audits?$filter=operation eq 2");
    let body = env.get(&first, &["odata.maxpagesize=50"]).await.json();
    let next = body["@odata.nextLink"].as_str().unwrap().to_owned();
    assert_eq!(env.get(&next, &["odata.maxpagesize=50"]).await.status, 200);
    let edits = [
        next.replace("pagenumber%3D%222%22", "pagenumber%3D%223%22"),
        next.replace("operation+eq+2", "operation+eq+1"),
        next.replace("last%253D%25222026-", "last%253D%25222025-"),
        format!("{}?$skiptoken=garbage", env.url("audits")),
    ];
    for edited in edits {
        assert_ne!(edited, next);
        let reply = env.get(&edited, &[]).await;
        assert_eq!(reply.status, 400, "{edited}: {}", reply.text());
        assert_eq!(odata_code(&reply), "0x80040203");
    }
}

#[tokio::test]
async fn filters_select_and_top() {
    let env = Env::demo().await;
    let truth = env.history.visible_rows();
    let from = t0() - Duration::days(3);
    let to = t0() - Duration::days(2);
    let url = env.url(&format!(
        "audits?$filter=createdon ge {} and createdon lt {}",
        from.format("%Y-%m-%dT%H:%M:%SZ"),
        to.format("%Y-%m-%dT%H:%M:%SZ")
    ));
    let (rows, _) = env.collect(&url, &[]).await;
    let expected: Vec<&AuditRow> =
        truth.iter().filter(|r| r.created_on >= from && r.created_on < to).collect();
    assert!(!expected.is_empty());
    assert_eq!(ids(&rows), expected.iter().map(|r| r.audit_id.to_string()).collect::<Vec<_>>());

    // gt is strict, le inclusive.
    let at = truth[100].created_on;
    let (after, _) = env
        .collect(
            &env.url(&format!("audits?$filter=createdon gt {}", at.format("%Y-%m-%dT%H:%M:%SZ"))),
            &[],
        )
        .await;
    assert_eq!(after.len(), truth.iter().filter(|r| r.created_on > at).count());

    let contact = truth.iter().find(|r| r.table == "contact" && r.operation == 2).unwrap();
    let url = env.url(&format!(
        "audits?$filter=objecttypecode eq 'contact' and operation eq 2 and _userid_value eq '{}'",
        contact.user_id
    ));
    let (rows, _) = env.collect(&url, &[]).await;
    let expected: Vec<String> = truth
        .iter()
        .filter(|r| r.table == "contact" && r.operation == 2 && r.user_id == contact.user_id)
        .map(|r| r.audit_id.to_string())
        .collect();
    assert_eq!(ids(&rows), expected);

    let url = env.url(&format!("audits?$filter=_objectid_value eq {}", contact.object_id));
    let (rows, _) = env.collect(&url, &[]).await;
    assert!(rows.iter().all(|r| r["_objectid_value"] == json!(contact.object_id)));
    assert_eq!(rows.len(), truth.iter().filter(|r| r.object_id == contact.object_id).count());

    let (access, _) = env.collect(&env.url("audits?$filter=action eq 64"), &[]).await;
    assert_eq!(access.len(), truth.iter().filter(|r| r.action == 64).count());
    assert!(access.iter().all(|r| r["operation"] == json!(4)));

    // $select: the chosen columns and auditid, nothing else.
    let reply = env.get(&env.url("audits?$select=objecttypecode,_userid_value&$top=3"), &[]).await;
    let body = reply.json();
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#audits(objecttypecode,_userid_value)")
    );
    assert!(body.get("@odata.nextLink").is_none(), "$top does not page");
    let rows = body["value"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["_userid_value", "auditid", "objecttypecode"]);

    // Refusals with the OData error shape.
    for (query, code) in [
        ("audits?$filter=action eq 1 or action eq 2", "0x0"),
        ("audits?$filter=nosuchcolumn eq 1", "0x0"),
        ("audits?$filter=createdon gt yesterday", "0x0"),
        ("audits?$select=auditid,changedata", "0x0"),
        ("audits?$orderby=action desc", "0x0"),
        ("audits?$skip=10", "0x0"),
    ] {
        let reply = env.get(&env.url(query), &[]).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.text());
        assert_eq!(odata_code(&reply), code, "{query}");
        assert!(!reply.json()["error"]["message"].as_str().unwrap().is_empty());
    }
    let reply = env.get(&env.url("Audits"), &[]).await;
    assert_eq!(reply.status, 404);
    assert_eq!(odata_code(&reply), "0x8006088a");
}

#[tokio::test]
async fn annotations_only_when_asked() {
    let env = Env::demo().await;
    let truth = env.history.visible_rows();
    let plain = env.get(&env.url("audits?$top=50"), &[]).await.json();
    assert!(plain.get("@Microsoft.Dynamics.CRM.totalrecordcount").is_none());
    for row in plain["value"].as_array().unwrap() {
        assert!(row.as_object().unwrap().keys().all(|k| !k.contains('@')), "{row}");
    }
    let reply = env.get(&env.url("audits?$top=50"), &[ALL_ANNOTATIONS]).await;
    assert_eq!(reply.header("preference-applied").as_deref(), Some(ALL_ANNOTATIONS));
    let body = reply.json();
    assert_eq!(body["@Microsoft.Dynamics.CRM.totalrecordcount"], json!(-1));
    assert_eq!(body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"], json!(false));
    for (row, truth) in body["value"].as_array().unwrap().iter().zip(&truth) {
        assert_eq!(row, &row_json(truth, true));
        assert_eq!(
            row["_objectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
            json!(truth.table)
        );
        assert_eq!(
            row["_userid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
            json!("systemuser")
        );
        assert_eq!(
            row["_userid_value@OData.Community.Display.V1.FormattedValue"],
            json!(truth.user_name)
        );
        assert!(row["objecttypecode@OData.Community.Display.V1.FormattedValue"].is_string());
        let formatted =
            row["createdon@OData.Community.Display.V1.FormattedValue"].as_str().unwrap();
        assert!(formatted.ends_with(" AM") || formatted.ends_with(" PM"), "{formatted}");
    }
    // Only the lookup table names.
    let only = "odata.include-annotations=\"Microsoft.Dynamics.CRM.lookuplogicalname\"";
    let body = env.get(&env.url("audits?$top=5"), &[only]).await.json();
    let row = body["value"][0].as_object().unwrap();
    assert!(row.contains_key("_objectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"));
    assert!(!row.keys().any(|k| k.ends_with("FormattedValue")));
}

fn first(truth: &[AuditRow], what: impl Fn(&AuditRow) -> bool) -> &AuditRow {
    truth.iter().find(|r| what(r)).unwrap()
}

#[tokio::test]
async fn every_detail_type_is_served() {
    let env = Env::demo().await;
    let truth = env.history.visible_rows();
    let lookup_update = first(&truth, |r| {
        r.action == 2
            && matches!(&r.detail, AuditDetail::Attributes { old, new }
                if old.iter().chain(new).any(|(_, v)| matches!(v, AuditValue::Lookup(_))))
    });
    let choice_update = first(&truth, |r| {
        r.action == 2
            && matches!(&r.detail, AuditDetail::Attributes { new, .. }
                if new.iter().any(|(_, v)| matches!(v, AuditValue::Choice { .. })))
    });
    let samples = [
        (first(&truth, |r| r.action == 1), "AttributeAuditDetail"),
        (lookup_update, "AttributeAuditDetail"),
        (choice_update, "AttributeAuditDetail"),
        (first(&truth, |r| r.action == 3), "AttributeAuditDetail"),
        (first(&truth, |r| r.action == 13), "AttributeAuditDetail"),
        (first(&truth, |r| r.action == 104), "AttributeAuditDetail"),
        (first(&truth, |r| r.action == 14), "ShareAuditDetail"),
        (first(&truth, |r| r.action == 48), "ShareAuditDetail"),
        (first(&truth, |r| r.action == 49), "ShareAuditDetail"),
        (first(&truth, |r| r.action == 33), "RelationshipAuditDetail"),
        (first(&truth, |r| r.action == 34), "RelationshipAuditDetail"),
        (first(&truth, |r| r.action == 55), "RelationshipAuditDetail"),
        (first(&truth, |r| r.action == 59), "RolePrivilegeAuditDetail"),
        (first(&truth, |r| r.action == 64), "UserAccessAuditDetail"),
        (first(&truth, |r| r.action == 102), "AuditDetail"),
        (first(&truth, |r| r.action == 111), "AuditDetail"),
    ];
    let url = env.emu.dataverse_url();
    for (row, kind) in samples {
        let reply = env.detail(row.audit_id, &[ALL_ANNOTATIONS]).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let body = reply.json();
        assert_eq!(body, detail_json(row, &url, true), "action {}", row.action);
        assert_eq!(
            body["AuditDetail"]["@odata.type"],
            json!(format!("#Microsoft.Dynamics.CRM.{kind}"))
        );
        assert!(
            body["@odata.context"]
                .as_str()
                .unwrap()
                .ends_with("$metadata#Microsoft.Dynamics.CRM.RetrieveAuditDetailsResponse")
        );
    }

    // Shapes of the reference: empty old value of a create, lookups with three annotations,
    // choices with labels, deleted attributes.
    let create =
        env.detail(first(&truth, |r| r.action == 1).audit_id, &[ALL_ANNOTATIONS]).await.json();
    let detail = &create["AuditDetail"];
    assert_eq!(detail["OldValue"].as_object().unwrap().len(), 1);
    assert_eq!(detail["DeletedAttributes"], json!({"Count": 0, "Keys": [], "Values": []}));
    assert_eq!(detail["InvalidNewValueAttributes"], json!([]));
    let delete = env.detail(first(&truth, |r| r.action == 3).audit_id, &[]).await.json();
    assert_eq!(delete["AuditDetail"]["NewValue"].as_object().unwrap().len(), 1);
    assert!(delete["AuditDetail"]["OldValue"].as_object().unwrap().len() > 1);

    let body = env.detail(lookup_update.audit_id, &[ALL_ANNOTATIONS]).await.json();
    let AuditDetail::Attributes { old, new } = &lookup_update.detail else { unreachable!() };
    let (column, value) =
        old.iter().chain(new).find(|(_, v)| matches!(v, AuditValue::Lookup(_))).unwrap();
    let AuditValue::Lookup(target) = value else { unreachable!() };
    let side =
        if new.iter().any(|(c, v)| c == column && v == value) { "NewValue" } else { "OldValue" };
    let object = &body["AuditDetail"][side];
    let key = format!("_{column}_value");
    assert_eq!(object[&key], json!(target.id));
    assert_eq!(
        object[format!("{key}@OData.Community.Display.V1.FormattedValue")],
        json!(target.name)
    );
    assert_eq!(
        object[format!("{key}@Microsoft.Dynamics.CRM.lookuplogicalname")],
        json!(target.table)
    );
    assert!(
        object[format!("{key}@Microsoft.Dynamics.CRM.associatednavigationproperty")].is_string()
    );
    assert_eq!(
        object["@odata.type"],
        json!(format!("#Microsoft.Dynamics.CRM.{}", lookup_update.table))
    );

    let body = env.detail(choice_update.audit_id, &[ALL_ANNOTATIONS]).await.json();
    let AuditDetail::Attributes { new, .. } = &choice_update.detail else { unreachable!() };
    let (column, AuditValue::Choice { value, label }) =
        new.iter().find(|(_, v)| matches!(v, AuditValue::Choice { .. })).unwrap()
    else {
        unreachable!()
    };
    assert_eq!(body["AuditDetail"]["NewValue"][column], json!(value));
    assert_eq!(
        body["AuditDetail"]["NewValue"]
            [format!("{column}@OData.Community.Display.V1.FormattedValue")],
        json!(label)
    );
    // Without the preference: values only.
    let plain = env.detail(choice_update.audit_id, &[]).await.json();
    assert_eq!(plain, detail_json(choice_update, &url, false));
    assert!(!plain.to_string().contains("FormattedValue"));

    let share = env.detail(first(&truth, |r| r.action == 14).audit_id, &[]).await.json();
    assert_eq!(share["AuditDetail"]["OldPrivileges"], Value::Null);
    assert!(share["AuditDetail"]["NewPrivileges"].as_str().unwrap().contains("ReadAccess"));
    let access = env.detail(first(&truth, |r| r.action == 64).audit_id, &[]).await.json();
    assert_eq!(access["AuditDetail"]["Interval"], json!(4));

    let reply = env.detail(Uuid::from_u128(42), &[]).await;
    assert_eq!(reply.status, 404);
    assert!(reply.json()["error"]["code"].is_string());
}

/// Walks the history in `(createdon, auditid)` order and checks that every old value is the
/// previous new value (or the record's value before the history), for columns, shares and role
/// privileges.
fn assert_values_chain(history: &AuditHistory, rows: &[AuditRow]) -> usize {
    let before = history.history_start() - Duration::seconds(1);
    let mut columns: HashMap<Uuid, Option<BTreeMap<String, AuditValue>>> = HashMap::new();
    let mut shares: HashMap<(Uuid, Uuid), Option<String>> = HashMap::new();
    let mut privileges = HashMap::new();
    let mut checked = 0;
    for row in rows {
        match &row.detail {
            AuditDetail::Attributes { old, new } if row.table != "organization" => {
                let state = columns
                    .entry(row.object_id)
                    .or_insert_with(|| history.record_values(&row.table, row.object_id, before));
                match row.action {
                    1 => {
                        assert!(state.is_none(), "created twice: {row:?}");
                        assert!(old.is_empty());
                        *state = Some(new.iter().cloned().collect());
                    }
                    3 => {
                        let current = state.take().expect("deleted record exists");
                        assert_eq!(
                            old.iter().cloned().collect::<BTreeMap<_, _>>(),
                            current,
                            "{row:?}"
                        );
                        assert!(new.is_empty());
                    }
                    _ => {
                        let current = state.as_mut().expect("updated record exists");
                        let old_map: BTreeMap<_, _> = old.iter().cloned().collect();
                        for (column, value) in new {
                            assert_eq!(old_map.get(column), current.get(column), "{row:?}");
                            assert_ne!(old_map.get(column), Some(value), "a change changes");
                            current.insert(column.clone(), value.clone());
                            checked += 1;
                        }
                        for (column, value) in old {
                            if !new.iter().any(|(c, _)| c == column) {
                                assert_eq!(current.remove(column).as_ref(), Some(value), "{row:?}");
                            }
                        }
                    }
                }
            }
            AuditDetail::Share { principal, old_privileges, new_privileges } => {
                let state = shares.entry((row.object_id, principal.id)).or_insert(None);
                assert_eq!(state, old_privileges, "{row:?}");
                *state = new_privileges.clone();
                checked += 1;
            }
            AuditDetail::RolePrivileges { old, new } => {
                if let Some(previous) = privileges.get(&row.object_id) {
                    assert_eq!(previous, old, "{row:?}");
                }
                privileges.insert(row.object_id, new.clone());
                checked += 1;
            }
            _ => {}
        }
    }
    checked
}

#[tokio::test]
async fn values_chain_across_the_history() {
    let env = Env::demo().await;
    let truth = env.history.visible_rows();
    let checked = assert_values_chain(&env.history, &truth);
    assert!(checked > 1000, "{checked}");

    // The record with the most updates: its details over HTTP tell the same story, and its
    // current values are the last new values.
    let mut counts: HashMap<Uuid, usize> = HashMap::new();
    for row in truth.iter().filter(|r| r.action == 2) {
        *counts.entry(row.object_id).or_default() += 1;
    }
    let (&busiest, &updates) = counts.iter().max_by_key(|(id, n)| (**n, **id)).unwrap();
    assert!(updates >= 3, "{updates}");
    let url = env.url(&format!("audits?$filter=_objectid_value eq {busiest}"));
    let (rows, _) = env.collect(&url, &[]).await;
    let mut served = Vec::new();
    for row in &rows {
        let id = Uuid::parse_str(row["auditid"].as_str().unwrap()).unwrap();
        let detail = env.detail(id, &[]).await.json();
        let truth_row = env.history.row(id).unwrap();
        assert_eq!(detail, detail_json(&truth_row, &env.emu.dataverse_url(), false));
        served.push(truth_row);
    }
    assert_values_chain(&env.history, &served);
    let table = served[0].table.clone();
    let current = env.history.record_values(&table, busiest, t0()).unwrap();
    let mut replayed = env
        .history
        .record_values(&table, busiest, env.history.history_start() - Duration::seconds(1))
        .unwrap_or_default();
    for row in &served {
        if let AuditDetail::Attributes { old, new } = &row.detail {
            for (c, _) in old {
                replayed.remove(c);
            }
            replayed.extend(new.iter().cloned());
        }
    }
    assert_eq!(current, replayed);
}

#[tokio::test]
async fn the_history_is_deterministic_per_seed_and_grows_with_the_clock() {
    let at = t0();
    let history = |seed: u64| {
        let mut config =
            EmulatorConfig::demo(seed).with_manual_clock(Arc::new(ManualClock::frozen_at(at)));
        config.history_start = at - Duration::days(2);
        AuditHistory::new(&config).unwrap()
    };
    let a = history(11);
    let b = history(11);
    let c = history(12);
    // Asked in pieces or at once: the same rows.
    let piece = a.rows(at - Duration::days(2), at - Duration::days(1));
    let whole_a = a.visible_rows();
    let whole_b = b.visible_rows();
    assert_eq!(whole_a, whole_b);
    assert_eq!(&whole_a[..piece.len()], &piece[..]);
    assert_ne!(truth_ids(&whole_a), truth_ids(&c.visible_rows()));
    assert!(whole_a.iter().all(|r| r.created_on >= at - Duration::days(2) && r.created_on <= at));

    // The environment grows with the clock: later rows appear, earlier ones do not change.
    let env = Env::demo().await;
    let before = env.history.visible_rows();
    env.emu.manual_clock().unwrap().advance(Duration::minutes(50));
    let after = env.history.visible_rows();
    assert!(after.len() > before.len());
    assert_eq!(&after[..before.len()], &before[..]);
    let (rows, _) = env.collect(&env.url("audits"), &[]).await;
    assert_eq!(ids(&rows), truth_ids(&after));
}

#[tokio::test]
async fn rows_show_only_after_the_storage_delay() {
    let mut config = config_at(t0());
    config.dataverse.storage_delay = Duration::minutes(10);
    let env = Env::start(config).await;
    let all = env.history.rows(env.history.history_start(), t0() + Duration::seconds(1));
    let visible = env.history.visible_rows();
    let late: Vec<&AuditRow> =
        all.iter().filter(|r| r.created_on > t0() - Duration::minutes(10)).collect();
    assert!(!late.is_empty(), "the last ten minutes of a Monday noon have rows");
    assert_eq!(visible.len(), all.len() - late.len());
    let (rows, _) = env.collect(&env.url("audits"), &[]).await;
    assert_eq!(ids(&rows), truth_ids(&visible));
    assert_eq!(env.detail(late[0].audit_id, &[]).await.status, 404, "not visible yet");

    env.emu.manual_clock().unwrap().advance(Duration::minutes(10));
    let (rows, _) = env.collect(&env.url("audits"), &[]).await;
    let ids = ids(&rows);
    assert!(late.iter().all(|r| ids.contains(&r.audit_id.to_string())));
    assert_eq!(env.detail(late[0].audit_id, &[]).await.status, 200);
}

#[tokio::test]
async fn organization_settings_and_who_am_i() {
    let env = Env::demo().await;
    let reply = env
        .get(
            &env.url("organizations?$select=isauditenabled,auditretentionperiodv2,isuseraccessauditenabled,useraccessauditinginterval"),
            &[],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    let rows = body["value"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let org = rows[0].as_object().unwrap();
    assert_eq!(org.len(), 5);
    assert_eq!(org["isauditenabled"], json!(true));
    assert_eq!(org["isuseraccessauditenabled"], json!(true));
    assert_eq!(org["useraccessauditinginterval"], json!(4));
    assert_eq!(org["auditretentionperiodv2"], json!(env.history.retention_days_at(t0())));
    let info = env.history.environment();
    assert_eq!(org["organizationid"], json!(info.organization_id));
    assert!(info.instance_url.ends_with(".dynamics.com/"));

    let who = env.get(&env.url("WhoAmI"), &[]).await.json();
    assert_eq!(who["OrganizationId"], json!(info.organization_id));
    assert_eq!(who["BusinessUnitId"], json!(info.business_unit_id));
    let stats = env.emu.stats().dataverse;
    assert_eq!((stats.organizations, stats.who_am_i, stats.audit_pages), (1, 1, 0));

    let control = format!("{}_emulator/dataverse", env.emu.api_base());
    let reply = Reply::read(env.http.get(&control).send().await.unwrap()).await;
    let body = reply.json();
    assert_eq!(body["environment_url"], json!(env.emu.dataverse_url().as_str()));
    assert_eq!(body["visible_audit_rows"], json!(env.history.visible_rows().len()));
}

#[tokio::test]
async fn the_request_limit_answers_429_with_retry_after() {
    let mut config = config_at(t0());
    config.dataverse.limits.requests_per_window = 5;
    let env = Env::start(config).await;
    let url = env.url("audits?$top=1");
    for remaining in (0..5).rev() {
        let reply = env.get(&url, &[]).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("x-ms-ratelimit-burst-remaining-xrm-requests"),
            Some(remaining.to_string())
        );
    }
    env.emu.manual_clock().unwrap().advance(Duration::seconds(100));
    let reply = env.get(&url, &[]).await;
    assert_eq!(reply.status, 429);
    assert_eq!(
        reply.json(),
        json!({"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit of 5 over time window of 300 seconds."}})
    );
    assert_eq!(reply.header("retry-after").as_deref(), Some("200"));
    env.emu.manual_clock().unwrap().advance(Duration::seconds(201));
    assert_eq!(env.get(&url, &[]).await.status, 200);
    let stats = env.emu.stats().dataverse;
    assert_eq!((stats.throttled, stats.throttled_request_limit), (1, 1));
    assert_eq!(stats.audit_pages, 7);
}

#[tokio::test]
async fn the_concurrency_limit_answers_429() {
    let mut config = config_at(t0());
    config.dataverse.limits.concurrent_requests = 2;
    config.faults.dataverse.response_delay = std::time::Duration::from_millis(400);
    let env = Arc::new(Env::start(config).await);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let env = env.clone();
        tasks.push(tokio::spawn(async move { env.get(&env.url("audits?$top=1"), &[]).await }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            200 => ok += 1,
            429 => {
                refused += 1;
                assert_eq!(odata_code(&reply), "0x80072326");
                assert_eq!(
                    reply.json()["error"]["message"],
                    json!("Number of concurrent requests exceeded the limit of 2.")
                );
                assert_eq!(reply.header("retry-after").as_deref(), Some("1"));
            }
            other => panic!("unexpected {other}: {}", reply.text()),
        }
    }
    assert_eq!(ok + refused, 6);
    assert!(refused >= 1 && ok >= 2, "{ok} ok, {refused} refused");
    let stats = env.emu.stats().dataverse;
    assert_eq!(stats.peak_concurrency, 2);
    assert_eq!(stats.throttled_concurrency, refused);
    // Sequential requests are never refused.
    for _ in 0..3 {
        assert_eq!(env.get(&env.url("audits?$top=1"), &[]).await.status, 200);
    }
}

#[tokio::test]
async fn faults_switch_at_run_time() {
    let env = Env::demo().await;
    let control = format!("{}_emulator/faults", env.emu.api_base());
    let faults = json!({"dataverse": {
        "throttle_next": 2,
        "throttle_retry_after_seconds": 7,
        "server_error_next": 1,
    }});
    let reply = Reply::read(env.http.put(&control).json(&faults).send().await.unwrap()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let url = env.url("audits?$top=2");
    for _ in 0..2 {
        let reply = env.get(&url, &[]).await;
        assert_eq!(reply.status, 429);
        assert_eq!(odata_code(&reply), "0x80072322");
        assert_eq!(reply.header("retry-after").as_deref(), Some("7"));
    }
    let reply = env.get(&url, &[]).await;
    assert_eq!(reply.status, 500);
    assert_eq!(odata_code(&reply), "0x80040216");
    let reply = env.get(&url, &[]).await;
    assert_eq!(reply.status, 200);
    let truth = env.history.visible_rows();

    // A next link that fails once, then works verbatim.
    let mut faults = env.emu.faults();
    faults.dataverse.next_link_failures = 1;
    faults.dataverse.malformed_detail_ids = vec![truth[0].audit_id];
    env.emu.set_faults(faults);
    let body = env.get(&env.url("audits"), &["odata.maxpagesize=100"]).await.json();
    let next = body["@odata.nextLink"].as_str().unwrap();
    assert_eq!(env.get(next, &["odata.maxpagesize=100"]).await.status, 500);
    let page = env.get(next, &["odata.maxpagesize=100"]).await;
    assert_eq!(page.status, 200);
    assert_eq!(ids(page.json()["value"].as_array().unwrap()), truth_ids(&truth[100..200]));

    // A malformed detail body for a chosen audit id; others are fine.
    let reply = env.detail(truth[0].audit_id, &[]).await;
    assert_eq!(reply.status, 200);
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
    assert_eq!(env.detail(truth[1].audit_id, &[]).await.status, 200);

    // Revoked tokens get 401; a new token works.
    env.emu.revoke_tokens();
    assert_eq!(env.get(&url, &[]).await.status, 401);
    let fresh = dataverse_token(&env.emu, &env.http).await;
    assert_eq!(env.get_with(&url, Some(&fresh), &[]).await.status, 200);

    let stats = env.emu.stats().dataverse;
    assert_eq!(stats.throttled_forced, 2);
    assert_eq!(stats.server_errors_injected, 2);
    assert_eq!(stats.malformed_details, 1);
    assert_eq!(stats.unauthorized, 1);
}

#[test]
fn dataverse_faults_and_settings_parse() {
    let faults: emulator::Faults = serde_json::from_value(
        json!({"dataverse": {"malformed_detail_fraction": 0.5, "response_delay": "20ms"}}),
    )
    .unwrap();
    assert_eq!(faults.dataverse.malformed_detail_fraction, 0.5);
    assert_eq!(faults.dataverse.response_delay, std::time::Duration::from_millis(20));
    let config = EmulatorConfig::from_toml_str(
        "[dataverse]\nlisten = \"127.0.0.1:0\"\nstorage_delay = \"3m\"\nlimits = { requests_per_window = 10, window = \"60s\" }",
    )
    .unwrap();
    assert_eq!(config.dataverse.storage_delay, Duration::minutes(3));
    assert_eq!(config.dataverse.limits.requests_per_window, 10);
    assert_eq!(config.dataverse.limits.concurrent_requests, 52);
    let err = EmulatorConfig::from_toml_str("[dataverse]\nstorage_dlay = \"3m\"").unwrap_err();
    assert!(err.to_string().contains("storage_dlay"), "{err}");
}
