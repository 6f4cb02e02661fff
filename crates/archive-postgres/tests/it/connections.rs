//! Connection handling: one transaction per batch, and passwords that never show.

use archive::{Archive, ArchiveError, IngestBatch, RecordQuery};
use archive_postgres::PostgresArchive;

use super::{TestDatabase, batch, clock, open, records, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_fails_part_way_leaves_nothing_behind() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let archive = open(&db).await;
    archive.ingest(batch(&records(1, 10))).await.expect("ingest");
    // A cursor name PostgreSQL cannot store (NUL) fails after the records were copied.
    let failing =
        IngestBatch { cursors: vec![("bad\0name".into(), "x".into())], ..batch(&records(11, 10)) };
    assert!(archive.ingest(failing).await.is_err());
    assert_eq!(archive.count(&RecordQuery::default()).await.ok(), Some(10));
    let receipt = archive.ingest(batch(&records(11, 10))).await.expect("ingest");
    assert_eq!((receipt.inserted, receipt.sealed_batch), (10, Some(2)));
    let report = archive.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_show_in_debug_output_or_errors() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    // The test server trusts local connections, so any password is accepted and ignored.
    let with_password = db.url.replacen('@', ":hunter2-secret@", 1);
    let Ok(archive) = PostgresArchive::connect(&with_password, clock()).await else {
        eprintln!("the test server does not accept this password; skipping the Debug check");
        return;
    };
    let shown = format!("{archive:?} {}", archive.database());
    assert!(!shown.contains("hunter2"), "{shown}");
    // An unreachable server: the error names it without the password.
    let unreachable = "postgres://audit:hunter2-secret@127.0.0.1:1/archive?connect_timeout=2";
    match PostgresArchive::connect(unreachable, clock()).await {
        Err(error @ ArchiveError::Unavailable { .. }) => {
            let text = error.to_string();
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("postgres://audit@127.0.0.1:1/archive"), "{text}");
            assert!(error.is_transient());
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}
