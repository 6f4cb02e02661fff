//! The collection commands as a user runs them: `config init|check`, `subscribe list`,
//! `collect --once`, `status`, against the emulator over real HTTP; and crash safety: the real
//! `collect --once` process killed with SIGKILL at many points, then run to the end, holds
//! exactly the records of the emulator, each once.

// Test code: a failed unwrap is a failed test (helpers outside #[test] functions included).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration as StdDuration;

use archive::{Archive, PageRequest, RecordQuery};
use chrono::{DateTime, Duration, Utc};
use emulator::{ActivityProfile, EmulatorConfig, Faults, RunningEmulator, demo};
use o365::{ActivityClient, ActivitySettings, ContentType, Credential, Endpoints, ListingWindow};

use crate::support::Workspace;

/// The demo tenant on a clock that runs with the machine's (the binary uses the system clock),
/// with a day of small activity in 30-minute blobs.
fn emulator_config(faults: Faults) -> EmulatorConfig {
    let mut config = EmulatorConfig::demo(5);
    config.history_start = config.clock.now() - Duration::hours(24);
    config.blob_interval = Duration::minutes(30);
    config.activity = ActivityProfile {
        organizations: 1,
        users: 5,
        crm_records_per_user_day: 120.0,
        ..ActivityProfile::default()
    };
    config.faults = faults;
    config
}

fn write_config(ws: &Workspace, emu: &RunningEmulator, collector: &str, tenant: &str) -> PathBuf {
    let path = ws.path("d365audit.toml");
    let text = format!(
        "version = 1\narchive = \"{}\"\n[collector]\n{collector}\n[tenants.contoso]\n\
         tenant_id = \"{}\"\nclient_id = \"{}\"\nlogin_base = \"{}\"\napi_base = \"{}\"\n\
         client_secret_env = \"CONTOSO_SECRET\"\n{tenant}\n",
        ws.archive_url(),
        demo::TENANT_ID,
        demo::CLIENT_ID,
        emu.login_base(),
        emu.api_base()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `d365audit --config FILE ARGS` with the client secret in the environment (and no archive
/// variable: the file says where the archive is).
fn command(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_d365audit"));
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .env("CONTOSO_SECRET", demo::SECRET_VALUE)
        .env_remove("D365AUDIT_ARCHIVE")
        .env_remove("D365AUDIT_CONFIG")
        .env_remove("D365AUDIT_LOG");
    command
}

pub(crate) async fn run(config: &Path, args: &[&str]) -> Output {
    let mut command = command(config, args);
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

#[track_caller]
pub(crate) fn expect(output: &Output, status: i32) -> String {
    assert_eq!(
        output.status.code(),
        Some(status),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn status_json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn config_init_writes_an_example_that_checks() {
    let ws = Workspace::new();
    let path = ws.path("example.toml");
    let init = |force: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_d365audit"));
        command.args(["config", "init", "--output"]).arg(&path);
        if force {
            command.arg("--force");
        }
        command.output().unwrap()
    };
    expect(&init(false), 0);
    assert!(std::fs::read_to_string(&path).unwrap().contains("[tenants.contoso]"));
    let again = init(false);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    expect(&init(true), 0);

    let mut check = Command::new(env!("CARGO_BIN_EXE_d365audit"));
    check.arg("--config").arg(&path).args(["config", "check"]).env_remove("CONTOSO_CLIENT_SECRET");
    let out = check.output().unwrap();
    let text = expect(&out, 2);
    assert!(text.contains("CONTOSO_CLIENT_SECRET is not set"), "{text}");
    check.env("CONTOSO_CLIENT_SECRET", "value");
    let text = expect(&check.output().unwrap(), 0);
    assert!(text.contains("tenant contoso") && text.contains("credential readable"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribe_collect_and_status_against_the_emulator() {
    let emu = emulator::start(emulator_config(Faults::default())).await.unwrap();
    let ws = Workspace::new();
    let config = write_config(&ws, &emu, "", "");

    let list = expect(&run(&config, &["subscribe", "list"]).await, 0);
    assert!(list.contains("contoso: Audit.General Enabled"), "{list}");
    // Starting an enabled subscription answers AF20024, which is success.
    let start = expect(&run(&config, &["subscribe", "start"]).await, 0);
    assert!(start.contains("contoso: Audit.General: already enabled"), "{start}");

    let collected = expect(&run(&config, &["collect", "--once"]).await, 0);
    assert!(collected.contains("contoso Audit.General: listed until"), "{collected}");
    assert!(collected.contains("caught up"), "{collected}");

    let status = status_json(&run(&config, &["status", "--format", "json"]).await);
    let feed = &status["feeds"][0];
    assert_eq!(feed["tenant"], "contoso");
    assert!(feed["records"].as_u64().unwrap() > 0, "{feed}");
    assert_eq!(feed["backlog"], 0);
    let table = expect(&run(&config, &["status"]).await, 0);
    assert!(table.contains("contoso") && table.contains("ok"), "{table}");

    // The archive named in the file is the one queried by the other commands.
    let count = expect(&run(&config, &["search", "--count"]).await, 0);
    assert_eq!(count.trim(), feed["records"].to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn collect_once_exits_2_when_blobs_are_lost() {
    let faults = Faults { malformed_blob_fraction: 0.2, ..Faults::default() };
    let emu = emulator::start(emulator_config(faults)).await.unwrap();
    let ws = Workspace::new();
    let config = write_config(&ws, &emu, "", "");
    let out = expect(&run(&config, &["collect", "--once"]).await, 2);
    assert!(out.contains("GAPS:"), "{out}");
    let table = expect(&run(&config, &["status"]).await, 0);
    assert!(table.contains("recent gaps") && table.contains("quarantined"), "{table}");
}

/// Every record `Id` in the archive at `path`.
async fn stored_ids(path: &Path) -> BTreeSet<String> {
    let archive = archive_sqlite::SqliteArchive::open_read_only(path).unwrap();
    let mut ids = BTreeSet::new();
    let mut page = PageRequest { limit: 5_000, ..PageRequest::default() };
    loop {
        let rows = archive.raw_page(&RecordQuery::default(), &page).await.unwrap();
        ids.extend(rows.rows.into_iter().map(|r| r.id));
        match rows.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    assert_eq!(archive.count(&RecordQuery::default()).await.unwrap(), ids.len() as u64);
    ids
}

/// The `Id`s of the CRM records of every blob created before `until`, fetched directly.
async fn truth(emu: &RunningEmulator, until: DateTime<Utc>) -> BTreeSet<String> {
    let clock = emu.clock();
    let endpoints = Endpoints::custom(emu.login_base(), emu.api_base()).unwrap();
    let mut settings = ActivitySettings::new(
        endpoints,
        demo::TENANT_ID,
        demo::CLIENT_ID.to_string(),
        Credential::secret(demo::SECRET_VALUE.to_owned().into()),
    );
    settings.pacing.requests_per_minute = 100_000;
    let client = ActivityClient::new(settings, clock.clone()).unwrap();
    let mut ids = BTreeSet::new();
    let mut start = clock.now() - ListingWindow::MAX_AGE + ListingWindow::CLAMP_MARGIN;
    while start < until {
        let window = ListingWindow::clamped(start, until, clock.as_ref()).unwrap();
        for blob in client.list_content(ContentType::General, &window).await.unwrap() {
            let bytes = client.fetch_blob(&blob).await.unwrap();
            for raw in record::parse_blob(&bytes).unwrap() {
                let parsed = raw.parse().unwrap();
                if parsed.workload == "CRM" {
                    ids.insert(parsed.id);
                }
            }
        }
        start = window.end();
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_any_point_loses_and_duplicates_nothing() {
    let faults = Faults { duplicate_fraction: 0.2, ..Faults::default() };
    let emu = emulator::start(emulator_config(faults)).await.unwrap();
    let ws = Workspace::new();
    // Short leases so that a killed run's blobs are taken up again within the test; strict
    // pacing (10 requests a second, no burst) so that a run lasts long enough to be killed in
    // every phase.
    let config = write_config(
        &ws,
        &emu,
        "lease = \"2s\"\nrequest_timeout = \"1s\"\nworkers = 2",
        "requests_per_minute = 600\nrequest_burst = 1",
    );
    let archive = ws.path("archive.db");

    // Kill points spread over start-up, token, listing, fetching and storing.
    let mut killed_with_progress = 0;
    for delay_ms in [40, 150, 300, 500, 700, 250, 900, 80, 450] {
        let mut child = command(&config, &["collect", "--once"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(StdDuration::from_millis(delay_ms)).await;
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        if !finished && archive.exists() {
            killed_with_progress += 1;
        }
    }
    assert!(killed_with_progress >= 5, "most kills hit a running collector");
    let stored_when_killed = stored_ids(&archive).await.len();
    assert!(stored_when_killed > 0, "the killed runs stored some records");

    // Then runs to the end (the killed runs' leases lapse after 2 s).
    let mut last = None;
    for _ in 0..10 {
        tokio::time::sleep(StdDuration::from_millis(2_200)).await;
        let output = run(&config, &["collect", "--once"]).await;
        if output.status.code() == Some(0) {
            last = Some(output);
            break;
        }
        assert_eq!(output.status.code(), Some(4), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert!(last.is_some(), "collection never completed");

    let status = status_json(&run(&config, &["status", "--format", "json"]).await);
    let feed = &status["feeds"][0];
    assert_eq!(feed["backlog"], 0, "{feed}");
    assert_eq!(feed["blob_gaps"], 0, "{feed}");
    let until: DateTime<Utc> = serde_json::from_value(feed["listed_until"].clone()).unwrap();
    let stored = stored_ids(&archive).await;
    let expected = truth(&emu, until).await;
    assert!(!expected.is_empty());
    let missing: Vec<_> = expected.difference(&stored).take(5).collect();
    let extra: Vec<_> = stored.difference(&expected).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, extra {extra:?}");
    assert!(stored_when_killed < stored.len(), "the kills left work for the last run");
}
