//! Dataverse audit changes on real SQLite files: the shared changes suite (with raw SQL on the
//! file as its backdoor), and an archive of schema version 2 gaining the change tables.

use std::sync::{Arc, Mutex};

use archive::suite_changes::Backdoor;
use archive::{Archive, ArchiveError, ChangeStore};
use archive_sqlite::SqliteArchive;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use crate::{batch, crm_json, open};

/// Raw SQL on the archive's file, behind the archive's back.
struct FileBackdoor;

fn connect(archive: &SqliteArchive) -> Connection {
    let conn = Connection::open(archive.path()).expect("open the file");
    conn.busy_timeout(std::time::Duration::from_secs(5)).expect("busy timeout");
    conn
}

impl Backdoor<SqliteArchive> for FileBackdoor {
    async fn alter_raw_row(&self, archive: &SqliteArchive, audit_id: Uuid) {
        let conn = connect(archive);
        let (dictionary, row_len, packed): (Option<i64>, i64, Vec<u8>) = conn
            .query_row(
                "SELECT dictionary, row_len, row_bytes FROM changes WHERE audit_id = ?1",
                [audit_id.as_bytes().as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("the change is stored");
        let dictionary: Option<Vec<u8>> = dictionary.map(|id| {
            conn.query_row("SELECT bytes FROM dictionaries WHERE id = ?1", [id], |r| r.get(0))
                .expect("its dictionary")
        });
        let dict = dictionary.as_deref().unwrap_or_default();
        let mut raw = zstd::bulk::Decompressor::with_dictionary(dict)
            .and_then(|mut d| d.decompress(&packed, row_len as usize))
            .expect("stored bytes decompress");
        // Someone "corrects" the row: one byte more.
        raw.push(b' ');
        let repacked = zstd::bulk::Compressor::with_dictionary(3, dict)
            .and_then(|mut c| c.compress(&raw))
            .expect("compress");
        let changed = conn
            .execute(
                "UPDATE changes SET row_bytes = ?1, row_len = ?2 WHERE audit_id = ?3",
                params![repacked, raw.len() as i64, audit_id.as_bytes().as_slice()],
            )
            .expect("tamper");
        assert_eq!(changed, 1);
    }

    async fn refuse_table(&self, archive: &SqliteArchive, table: &str) {
        connect(archive)
            .execute_batch(&format!(
                "CREATE TRIGGER refuse_{table} BEFORE INSERT ON changes \
                 WHEN new.table_name = '{table}' \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
            ))
            .expect("trigger");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_changes_suite() {
    let folders: Arc<Mutex<Vec<tempfile::TempDir>>> = Arc::default();
    archive::suite_changes::run_all(
        || {
            let folders = folders.clone();
            async move {
                let folder = tempfile::tempdir().expect("temporary folder");
                let path = folder.path().join("archive.sqlite");
                folders.lock().expect("not poisoned").push(folder);
                SqliteArchive::open(path, crate::clock()).expect("archive opens")
            }
        },
        FileBackdoor,
    )
    .await;
}

/// An archive written before changes existed (schema version 2) gains the change tables when
/// it is opened read-write, and keeps its records and seals; read-only it asks to be upgraded.
#[tokio::test]
async fn a_version_two_archive_is_migrated() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    let archive = open(&path);
    let start =
        chrono::DateTime::parse_from_rfc3339("2026-06-01T09:00:00Z").expect("time").to_utc();
    let raws: Vec<Vec<u8>> = (1..=5)
        .map(|n| {
            crm_json(n, start, "alice@contoso.com", "5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b", &[])
        })
        .collect();
    archive.ingest(batch(&raws)).await.expect("ingest");
    archive.close().await.expect("close");
    drop(archive);
    crate::downgrade_to_v3(&path);
    {
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "DROP TABLE changes; DROP TABLE change_fields; ALTER TABLE totals DROP COLUMN changes; \
             PRAGMA user_version = 2;",
        )
        .expect("back to version 2");
    }
    match SqliteArchive::open_read_only(&path) {
        Err(ArchiveError::Incompatible { message }) => {
            assert!(message.contains("version 2") && message.contains("upgrade"), "{message}")
        }
        other => panic!("a version 2 archive opened read-only: {other:?}"),
    }
    let archive = open(&path);
    let report = archive.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 5);
    assert_eq!(archive.change_summary().await.expect("summary").changes, 0);
    let changes = archive::ChangeBatch {
        cursors: vec![("dataverse/contoso".into(), "2026-06-01T09:00:00Z".into())],
        ..archive::ChangeBatch::default()
    };
    archive.ingest_changes(changes).await.expect("the change tables exist");
    archive.close().await.expect("close");
    let conn = Connection::open(&path).expect("open");
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
    assert_eq!(version, 5);
    let tables: Option<String> = conn
        .query_row("SELECT name FROM sqlite_schema WHERE name = 'change_fields'", [], |r| r.get(0))
        .optional()
        .expect("schema");
    assert_eq!(tables.as_deref(), Some("change_fields"));
}
