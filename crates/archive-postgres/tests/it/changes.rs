//! Dataverse audit changes against a real server: the shared changes suite (with raw SQL on a
//! connection of its own as its backdoor), replicas storing overlapping batches at once, and an
//! archive of schema version 2 gaining the change tables.

use std::sync::{Arc, Mutex};

use archive::suite_changes::Backdoor;
use archive::{Archive, ArchiveError, ChangeBatch, ChangeStore, RecordQuery};
use archive_postgres::{PostgresArchive, SCHEMA_VERSION};
use uuid::Uuid;

use super::{TestDatabase, open, server};

/// Raw SQL on the test databases, found by the name an archive handle shows.
#[derive(Clone, Default)]
struct DatabaseBackdoor {
    databases: Arc<Mutex<Vec<TestDatabase>>>,
}

impl DatabaseBackdoor {
    async fn sql(&self, archive: &PostgresArchive) -> tokio_postgres::Client {
        let url = {
            let databases = self.databases.lock().expect("not poisoned");
            let db = databases
                .iter()
                .find(|db| archive.database().ends_with(&format!("/{}", db.name)))
                .expect("the archive's test database");
            db.url.clone()
        };
        let (client, connection) =
            tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        client
    }
}

impl Backdoor<PostgresArchive> for DatabaseBackdoor {
    async fn alter_raw_row(&self, archive: &PostgresArchive, audit_id: Uuid) {
        let sql = self.sql(archive).await;
        let row = sql
            .query_one(
                "SELECT c.row_len, c.row_bytes, d.bytes FROM d365audit.changes c \
                 LEFT JOIN d365audit.dictionaries d ON d.id = c.dictionary WHERE c.audit_id = $1",
                &[&audit_id],
            )
            .await
            .expect("the change is stored");
        let (row_len, packed, dictionary): (i32, Vec<u8>, Option<Vec<u8>>) =
            (row.get(0), row.get(1), row.get(2));
        let dict = dictionary.as_deref().unwrap_or_default();
        let mut raw = zstd::bulk::Decompressor::with_dictionary(dict)
            .and_then(|mut d| d.decompress(&packed, row_len as usize))
            .expect("stored bytes decompress");
        // Someone "corrects" the row: one byte more.
        raw.push(b' ');
        let repacked = zstd::bulk::Compressor::with_dictionary(3, dict)
            .and_then(|mut c| c.compress(&raw))
            .expect("compress");
        let changed = sql
            .execute(
                "UPDATE d365audit.changes SET row_bytes = $1, row_len = $2 WHERE audit_id = $3",
                &[&repacked, &(raw.len() as i32), &audit_id],
            )
            .await
            .expect("tamper");
        assert_eq!(changed, 1);
    }

    async fn refuse_table(&self, archive: &PostgresArchive, table: &str) {
        self.sql(archive)
            .await
            .batch_execute(&format!(
                "CREATE FUNCTION d365audit.refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
                 CREATE TRIGGER refuse_{table} BEFORE INSERT ON d365audit.changes FOR EACH ROW \
                 WHEN (new.table_name = '{table}') EXECUTE FUNCTION d365audit.refuse_{table}();"
            ))
            .await
            .expect("trigger");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_changes_suite() {
    let Some(server) = server() else { return };
    let backdoor = DatabaseBackdoor::default();
    let databases = backdoor.databases.clone();
    archive::suite_changes::run_all(
        || {
            let (databases, server) = (databases.clone(), server.clone());
            async move {
                let db = TestDatabase::create(&server).await;
                let archive = open(&db).await;
                databases.lock().expect("not poisoned").push(db);
                archive
            }
        },
        backdoor,
    )
    .await;
}

/// A change in the style of the suite's, numbered `n`.
fn change(n: u32) -> archive::IncomingChange {
    let id = Uuid::from_u128(0x0c4a_0000_0000_4000_8000_0000_0000_0000 | u128::from(n));
    let created_on =
        chrono::DateTime::from_timestamp(1_780_300_800 + i64::from(n), 0).expect("time");
    archive::IncomingChange {
        raw_row: format!(r#"{{"auditid":"{id}","action":2,"objecttypecode":"contact"}}"#)
            .into_bytes(),
        raw_detail: None,
        source: archive::ChangeSource::Dataverse {
            environment: "https://contoso.crm4.dynamics.com".into(),
        },
        change: record::AuditChange {
            audit_id: id,
            created_on,
            action: record::AuditAction(2),
            operation: record::AuditOperation(2),
            table: "contact".into(),
            object_id: Some(Uuid::from_u128(u128::from(n % 7) + 1)),
            object_name: None,
            user_id: None,
            user_name: None,
            calling_user_id: None,
            transaction_id: None,
            attribute_mask: vec![],
            detail: record::ChangeDetail::None,
        },
    }
}

/// Four replicas store overlapping batches of the same changes at once: each change is stored
/// once, and what one replica counts as new the others count as duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_storing_the_same_changes_at_once_store_each_once() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let mut tasks = Vec::new();
    for replica in 0..4u32 {
        let archive = open(&db).await;
        tasks.push(tokio::spawn(async move {
            let mut receipts = Vec::new();
            for round in 0..5u32 {
                // Every replica covers changes 0..600 of the round, from a different start.
                let mut changes: Vec<_> = (0..600).map(|i| change(round * 600 + i)).collect();
                changes.rotate_left(replica as usize * 150);
                let batch = ChangeBatch {
                    changes,
                    cursors: vec![(format!("replica {replica}"), format!("round {round}"))],
                    ..ChangeBatch::default()
                };
                receipts.push(archive.ingest_changes(batch).await.expect("ingest"));
            }
            receipts
        }));
    }
    let (mut inserted, mut duplicates) = (0, 0);
    for task in tasks {
        for receipt in task.await.expect("task") {
            inserted += receipt.inserted;
            duplicates += receipt.duplicates;
        }
    }
    assert_eq!((inserted, duplicates), (3_000, 9_000));
    let archive = open(&db).await;
    assert_eq!(archive.change_summary().await.expect("summary").changes, 3_000);
    let stored: i64 = db
        .connect()
        .await
        .query_one("SELECT count(DISTINCT audit_id) FROM d365audit.changes", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 3_000);
    for replica in 0..4 {
        let cursor = archive.cursor(&format!("replica {replica}")).await.expect("cursor");
        assert_eq!(cursor.as_deref(), Some("round 4"));
    }
    assert!(archive.verify().await.expect("verify").is_intact());
}

/// A batch whose text PostgreSQL refuses (a NUL character) fails whole: no change, no cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_moves_no_cursor() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let archive = open(&db).await;
    let mut bad = change(2);
    bad.change.object_name = Some("nul \u{0} inside".into());
    let outcome = archive
        .ingest_changes(ChangeBatch {
            changes: vec![change(1), bad],
            cursors: vec![("dataverse".into(), "moved".into())],
            ..ChangeBatch::default()
        })
        .await;
    assert!(matches!(outcome, Err(ArchiveError::Storage { .. })), "{outcome:?}");
    assert_eq!(archive.cursor("dataverse").await.expect("cursor"), None);
    assert_eq!(archive.change_summary().await.expect("summary").changes, 0);
    // The connection is fine for the next batch.
    let receipt =
        archive.ingest_changes(ChangeBatch { changes: vec![change(1)], ..ChangeBatch::default() });
    assert_eq!(receipt.await.expect("ingest").inserted, 1);
}

/// An archive of schema version 2 (before changes) gains the change tables, keeps its records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_of_schema_version_2_gains_the_change_tables() {
    let Some(server) = server() else { return };
    let db = crate::downgraded(
        &server,
        2,
        "DROP TABLE d365audit.changes, d365audit.change_totals, d365audit.daily_counts, \
           d365audit.hourly_counts;",
    )
    .await;
    let upgraded = open(&db).await;
    assert_eq!(SCHEMA_VERSION, 8);
    assert_eq!(upgraded.count(&RecordQuery::default()).await.ok(), Some(10));
    let receipt = upgraded
        .ingest_changes(ChangeBatch { changes: vec![change(1)], ..ChangeBatch::default() })
        .await
        .expect("the change tables exist");
    assert_eq!(receipt.inserted, 1);
    let report = upgraded.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 10);
}
