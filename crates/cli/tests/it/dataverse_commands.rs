//! Classic Dataverse audit as a user runs it: `dataverse check` and `dataverse sync` against the
//! emulated environment over real HTTP into a real SQLite archive, then `history` and
//! `restore-plan` compared with the emulator's ground truth.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use emulator::dataverse::{AuditDetail, AuditRow, AuditValue};
use emulator::{ActivityProfile, EmulatorConfig, RunningEmulator, demo};

use crate::collect_commands::{expect, run};
use crate::support::Workspace;

/// A small demo environment: two days, a few people.
fn emulator_config() -> EmulatorConfig {
    // The environment's clock stands still at a fixed instant (a Wednesday afternoon): the
    // generated history, and so what the tests look for in it, does not depend on when they run,
    // and a sync sees exactly the history they compare with, however slow the machine.
    let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 18, 15, 0, 0).unwrap();
    let mut config = EmulatorConfig::demo(11)
        .with_manual_clock(std::sync::Arc::new(clock::ManualClock::frozen_at(now)));
    config.history_start = now - Duration::hours(48);
    config.activity = ActivityProfile { organizations: 1, users: 4, ..ActivityProfile::default() };
    config
}

/// A configuration whose tenant only lends its credentials to one Dataverse environment.
fn write_config(ws: &Workspace, emu: &RunningEmulator) -> PathBuf {
    let path = ws.path("d365audit.toml");
    let text = format!(
        "version = 1\narchive = \"{}\"\n[tenants.contoso]\ntenant_id = \"{}\"\n\
         client_id = \"{}\"\nlogin_base = \"{}\"\napi_base = \"{}\"\n\
         client_secret_env = \"CONTOSO_SECRET\"\ncontent_types = []\n\
         [dataverse.sales]\nurl = \"{}\"\ntenant = \"contoso\"\npage_size = 50\n",
        ws.archive_url(),
        demo::TENANT_ID,
        demo::CLIENT_ID,
        emu.login_base(),
        emu.api_base(),
        emu.dataverse_url()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The value as `record::FieldValue::value` holds it.
fn wire_value(value: &AuditValue) -> serde_json::Value {
    value.json()
}

/// A record with at least three attribute changes and no delete, and a time between its
/// second and third change.
fn record_with_history(rows: &[AuditRow]) -> (String, uuid::Uuid, DateTime<Utc>) {
    let mut by_record: BTreeMap<uuid::Uuid, Vec<&AuditRow>> = BTreeMap::new();
    for row in rows {
        by_record.entry(row.object_id).or_default().push(row);
    }
    by_record
        .into_iter()
        .find_map(|(id, rows)| {
            let updates: Vec<&&AuditRow> = rows
                .iter()
                .filter(|r| r.operation == 2 && matches!(r.detail, AuditDetail::Attributes { .. }))
                .collect();
            let deleted = rows.iter().any(|r| r.operation == 3);
            (updates.len() >= 3 && !deleted && updates[1].created_on < updates[2].created_on)
                .then(|| (updates[0].table.clone(), id, updates[1].created_on))
        })
        .expect("the generated history has a record changed three times")
}

#[tokio::test]
async fn sync_then_history_and_restore_plan_match_the_environment() {
    let ws = Workspace::new();
    let emu = emulator::start(emulator_config()).await.unwrap();
    let config = write_config(&ws, &emu);
    let truth = emu.dataverse_history().unwrap().visible_rows();
    assert!(truth.len() > 100, "enough history to page: {}", truth.len());

    let check = expect(&run(&config, &["dataverse", "check"]).await, 0);
    assert!(check.contains("auditing on"), "{check}");

    let first = run(&config, &["dataverse", "sync", "--json"]).await;
    let summary: serde_json::Value = serde_json::from_str(&expect(&first, 0)).unwrap();
    assert_eq!(summary[0]["inserted"], truth.len() as u64, "{summary}");
    assert_eq!(summary[0]["quarantined"], 0, "{summary}");
    assert!(summary[0]["pages"].as_u64().unwrap() >= (truth.len() as u64).div_ceil(50));
    let again = run(&config, &["dataverse", "sync", "--json"]).await;
    let again: serde_json::Value = serde_json::from_str(&expect(&again, 0)).unwrap();
    assert_eq!(again[0]["inserted"], 0, "a second sync stores nothing new: {again}");
    assert!(again[0]["duplicates"].as_u64().unwrap() <= again[0]["rows"].as_u64().unwrap());

    // History of one record: every change, in order, with the environment's old and new values.
    let (table, id, between) = record_with_history(&truth);
    let expected: Vec<&AuditRow> = truth.iter().filter(|r| r.object_id == id).collect();
    let history = run(&config, &["history", &id.to_string(), "--format", "json"]).await;
    let history: serde_json::Value = serde_json::from_str(&expect(&history, 0)).unwrap();
    let stored = history.as_array().unwrap();
    assert_eq!(stored.len(), expected.len());
    for (stored, truth) in stored.iter().zip(&expected) {
        assert_eq!(stored["change"]["audit_id"], truth.audit_id.to_string());
        if let AuditDetail::Attributes { old, new } = &truth.detail {
            let fields = stored["change"]["detail"]["changes"].as_array().unwrap();
            for (name, value) in new {
                let field = fields.iter().find(|f| f["field"] == name.as_str()).unwrap();
                assert_eq!(
                    field["new"]["value"],
                    wire_value(value),
                    "{name} of {}",
                    truth.audit_id
                );
            }
            for (name, value) in old {
                let field = fields.iter().find(|f| f["field"] == name.as_str()).unwrap();
                assert_eq!(
                    field["old"]["value"],
                    wire_value(value),
                    "{name} of {}",
                    truth.audit_id
                );
            }
        }
    }
    let table_view = expect(&run(&config, &["history", &id.to_string()]).await, 0);
    assert!(table_view.contains(" -> "), "{table_view}");
    assert!(table_view.contains(&format!("{} changes", expected.len())), "{table_view}");

    // The restore plan puts back, for every column changed after `between`, its value then.
    let at = between.to_rfc3339();
    let plan = run(&config, &["restore-plan", &id.to_string(), "--at", &at, "--json"]).await;
    let plan: serde_json::Value = serde_json::from_str(&expect(&plan, 0)).unwrap();
    assert_eq!(plan["verdict"], "patch", "{plan}");
    assert_eq!(plan["request"]["method"], "PATCH");
    let then = emu.dataverse_history().unwrap().record_values(&table, id, between).unwrap();
    let body = plan["request"]["body"].as_object().unwrap();
    assert!(!body.is_empty());
    for (key, value) in body {
        let column = key.strip_suffix("@odata.bind").unwrap_or(key);
        match then.get(column) {
            None => assert!(value.is_null(), "{column} was empty then: {plan}"),
            Some(AuditValue::Lookup(target)) => {
                assert!(value.as_str().unwrap().ends_with(&format!("({})", target.id)), "{plan}")
            }
            Some(expected) => assert_eq!(value, &wire_value(expected), "{column}: {plan}"),
        }
    }
    let printed = expect(&run(&config, &["restore-plan", &id.to_string(), "--at", &at]).await, 0);
    assert!(printed.contains("PATCH [environment]/api/data/v9.2/"), "{printed}");
    assert!(printed.contains("never sends it"), "{printed}");

    // Mistakes say what to write.
    let bad = run(&config, &["restore-plan", &id.to_string(), "--at", "yesterday"]).await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("2026-06-01T10:00"));
    let unknown = run(&config, &["dataverse", "sync", "--environment", "hr"]).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("use one of: sales"));
    emu.shutdown().await;
}
