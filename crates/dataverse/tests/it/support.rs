//! Shared setup: an emulator with a Dataverse environment, clients pointed at it with fast
//! retries, and SQLite archives in temporary directories.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use archive::{ChangeStore, StoredChange};
use archive_sqlite::SqliteArchive;
use chrono::{DateTime, Utc};
use clock::ManualClock;
use dataverse::{DataverseClient, DataverseSettings, SyncOptions};
use emulator::dataverse::{AuditDetail, AuditRow};
use emulator::{EmulatorConfig, RunningEmulator, demo};
use o365::{Credential, RetryPolicy, SecretString};
use record::{ChangeDetail, FieldValue};
use uuid::Uuid;

/// A fixed "now" for frozen-clock tests.
pub(crate) fn fixed_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z").unwrap().to_utc()
}

/// The demo emulator with a frozen clock and `days` of Dataverse history, after `change`.
pub(crate) async fn emulator_with(
    days: i64,
    change: impl FnOnce(&mut EmulatorConfig),
) -> RunningEmulator {
    let clock = Arc::new(ManualClock::frozen_at(fixed_now()));
    let mut config = EmulatorConfig::demo(7).with_manual_clock(clock);
    config.history_start = fixed_now() - chrono::Duration::days(days);
    config.require_https_webhooks = false;
    change(&mut config);
    emulator::start(config).await.expect("the emulator starts")
}

pub(crate) async fn emulator(days: i64) -> RunningEmulator {
    emulator_with(days, |_| {}).await
}

pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(2),
    }
}

pub(crate) fn settings(emu: &RunningEmulator) -> DataverseSettings {
    let mut settings = DataverseSettings::new(
        emu.dataverse_url(),
        emu.login_base(),
        demo::TENANT_ID.to_string(),
        demo::CLIENT_ID.to_string(),
        Credential::secret(SecretString::from(demo::SECRET_VALUE)),
    );
    settings.retry = fast_retry();
    // Faster than Microsoft allows (accepted on loopback only): the emulator's limits are what
    // the throttling tests test.
    settings.pacing.requests_per_minute = 600_000;
    settings.pacing.burst = 100;
    settings
}

pub(crate) fn client_with(
    emu: &RunningEmulator,
    change: impl FnOnce(&mut DataverseSettings),
) -> DataverseClient {
    let mut settings = settings(emu);
    change(&mut settings);
    DataverseClient::new(settings, emu.clock()).expect("client settings are valid")
}

pub(crate) fn client(emu: &RunningEmulator) -> DataverseClient {
    client_with(emu, |_| {})
}

/// A fresh SQLite archive in its own temporary directory.
pub(crate) struct TestArchive {
    pub(crate) archive: SqliteArchive,
    _dir: tempfile::TempDir,
}

pub(crate) fn archive(emu: &RunningEmulator) -> TestArchive {
    let dir = tempfile::tempdir().unwrap();
    let archive = SqliteArchive::open(dir.path().join("archive.db"), emu.clock()).unwrap();
    TestArchive { archive, _dir: dir }
}

pub(crate) fn options() -> SyncOptions {
    SyncOptions { page_size: 250, ..SyncOptions::default() }
}

/// Syncs once with `options` and no progress callback.
pub(crate) async fn sync(
    client: &DataverseClient,
    archive: &TestArchive,
    options: &SyncOptions,
) -> dataverse::SyncSummary {
    dataverse::sync_environment(
        client,
        &archive.archive,
        &archive.archive,
        options,
        &dataverse::no_progress,
    )
    .await
    .unwrap()
}

/// What the emulator's environment shows now.
pub(crate) fn ground_truth(emu: &RunningEmulator) -> Vec<AuditRow> {
    emu.dataverse_history().expect("the demo has a Dataverse environment").visible_rows()
}

/// Every stored change of the ground truth's ids, keyed by audit id; panics on a missing one.
pub(crate) async fn stored(
    archive: &TestArchive,
    rows: &[AuditRow],
) -> BTreeMap<Uuid, StoredChange> {
    let mut out = BTreeMap::new();
    for row in rows {
        let change = archive.archive.change(row.audit_id).await.unwrap();
        let change = change.unwrap_or_else(|| panic!("audit {} is not stored", row.audit_id));
        out.insert(row.audit_id, change);
    }
    out
}

/// The emulator's value as the client must decode it.
pub(crate) fn expected_value(value: &emulator::dataverse::AuditValue) -> FieldValue {
    FieldValue {
        value: value.json(),
        formatted: value.formatted(),
        lookup_table: value.lookup_table().map(str::to_owned),
    }
}

/// Asserts that `stored` is `row`: the row's columns and its decoded detail.
pub(crate) fn assert_matches(row: &AuditRow, stored: &StoredChange) {
    let change = &stored.change;
    let id = row.audit_id;
    assert_eq!(change.audit_id, id);
    assert_eq!(change.created_on, row.created_on, "{id}");
    assert_eq!(change.action.0, row.action, "{id}");
    assert_eq!(change.operation.0, row.operation, "{id}");
    assert_eq!(change.table, row.table, "{id}");
    assert_eq!(change.object_id, Some(row.object_id), "{id}");
    assert_eq!(change.user_id, Some(row.user_id), "{id}");
    assert_eq!(change.calling_user_id, row.calling_user_id, "{id}");
    assert_eq!(change.attribute_mask, row.attribute_mask, "{id}");
    match (&row.detail, &change.detail) {
        (AuditDetail::Plain, ChangeDetail::None) => {}
        (AuditDetail::Attributes { old, new }, ChangeDetail::Attributes { changes, .. }) => {
            for (field, value) in old {
                let got = changes.iter().find(|c| &c.field == field);
                let got = got.unwrap_or_else(|| panic!("{id}: no change of {field}"));
                assert_eq!(got.old.as_ref(), Some(&expected_value(value)), "{id} {field} old");
            }
            for (field, value) in new {
                let got = changes.iter().find(|c| &c.field == field);
                let got = got.unwrap_or_else(|| panic!("{id}: no change of {field}"));
                assert_eq!(got.new.as_ref(), Some(&expected_value(value)), "{id} {field} new");
            }
            for got in changes {
                let in_old = old.iter().any(|(f, _)| f == &got.field);
                let in_new = new.iter().any(|(f, _)| f == &got.field);
                assert!(in_old || in_new, "{id}: unexpected column {}", got.field);
                assert_eq!(got.old.is_some(), in_old, "{id} {}", got.field);
                assert_eq!(got.new.is_some(), in_new, "{id} {}", got.field);
            }
        }
        (
            AuditDetail::Share { principal, old_privileges, new_privileges },
            ChangeDetail::Share {
                principal: got,
                old_privileges: got_old,
                new_privileges: got_new,
            },
        ) => {
            assert_eq!(
                (got.table.as_str(), got.id),
                (principal.table.as_str(), Some(principal.id))
            );
            assert_eq!(got_old, old_privileges, "{id}");
            assert_eq!(got_new, new_privileges, "{id}");
        }
        (
            AuditDetail::Relationship { relationship, targets },
            ChangeDetail::Relationship { relationship: got, targets: got_targets },
        ) => {
            assert_eq!(got, relationship, "{id}");
            let want: Vec<(String, Option<Uuid>)> =
                targets.iter().map(|t| (t.table.clone(), Some(t.id))).collect();
            let have: Vec<(String, Option<Uuid>)> =
                got_targets.iter().map(|t| (t.table.clone(), t.id)).collect();
            assert_eq!(have, want, "{id}");
        }
        (
            AuditDetail::RolePrivileges { old, new },
            ChangeDetail::RolePrivileges { old: o, new: n, .. },
        ) => {
            let ids = |v: &[emulator::dataverse::RolePrivilege]| {
                v.iter().map(|p| (p.privilege_id, p.depth.clone())).collect::<Vec<_>>()
            };
            let got = |v: &[record::RolePrivilege]| {
                v.iter().map(|p| (p.privilege_id, p.depth.clone())).collect::<Vec<_>>()
            };
            assert_eq!(got(o), ids(old), "{id}");
            assert_eq!(got(n), ids(new), "{id}");
        }
        (
            AuditDetail::UserAccess { access_time, interval_hours },
            ChangeDetail::UserAccess { access_time: t, interval_hours: h },
        ) => {
            assert_eq!(*t, Some(*access_time), "{id}");
            assert_eq!(*h, Some(*interval_hours), "{id}");
        }
        (want, got) => panic!("{id} (action {}): expected {want:?}, stored {got:?}", row.action),
    }
}
