//! One writer per SQLite file: two handles in one process share it and never store a record
//! twice; a second process is refused with advice.

use archive::Archive;
use archive_sqlite::{SqliteArchive, SqliteOptions};
use chrono::{TimeZone, Utc};

use super::{batch, clock, crm_json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_with_merges_never_store_a_record_twice() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    let options =
        || SqliteOptions { merge_min_records: 5, merge_max_records: 5, ..SqliteOptions::default() };
    let first = SqliteArchive::open_with(&path, clock(), options()).expect("opens");
    let second = SqliteArchive::open_with(&path, clock(), options()).expect("opens");
    let start = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).single().unwrap_or_default();
    let entity = "5f3b0b3e-1c2d-4e5f-9a8b-000000000001";
    let raws: Vec<Vec<u8>> = (1..=400u32)
        .map(|n| {
            crm_json(
                n,
                start + chrono::Duration::seconds(i64::from(n)),
                "a@contoso.com",
                entity,
                &[],
            )
        })
        .collect();
    // Both writers offer every record, in chunks that overlap and run at the same time.
    let write = |archive: SqliteArchive, raws: Vec<Vec<u8>>, size: usize| async move {
        for chunk in raws.chunks(size) {
            archive.ingest(batch(chunk)).await.expect("ingest");
        }
    };
    let mut reversed = raws.clone();
    reversed.reverse();
    tokio::join!(write(first.clone(), raws.clone(), 7), write(second.clone(), reversed, 11));
    let query = archive::RecordQuery::default();
    assert_eq!(first.count(&query).await.expect("count"), 400);
    let report = second.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writing_process_is_refused_with_advice() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    // Another process holds the writer lock (here: this test, through its own file handle).
    let lock = std::fs::File::create(folder.path().join("archive.sqlite.writer-lock")).unwrap();
    lock.lock().unwrap();
    let error = SqliteArchive::open(&path, clock()).expect_err("a second writer is refused");
    assert!(error.to_string().contains("another process is writing"), "{error}");
    // Readers are never refused.
    drop(lock);
    let writer = SqliteArchive::open(&path, clock()).expect("opens once the lock is free");
    writer.close().await.expect("closes");
    SqliteArchive::open_read_only(&path).expect("read-only opens");
}
