//! Edits made behind the archive's back, straight in the database, and what `verify` says.

use archive::{Archive, ArchiveError, Finding};

use super::{TestDatabase, batch, open, record_id, records, server};

/// The archive sequence number of record `n`.
async fn seq_of(sql: &tokio_postgres::Client, n: u32) -> i64 {
    sql.query_one("SELECT seq FROM d365audit.records WHERE record_id = $1", &[&record_id(n)])
        .await
        .expect("record exists")
        .get(0)
}

/// An archive of 60 records in 3 sealed batches (seals 1..3, seq 1..60).
async fn sealed_archive(db: &TestDatabase) -> archive_postgres::PostgresArchive {
    let archive = open(db).await;
    for chunk in records(1, 60).chunks(20) {
        archive.ingest(batch(chunk)).await.expect("ingest");
    }
    let report = archive.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!((report.batches, report.records), (3, 60));
    archive
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_bytes_are_named_and_reading_them_fails_cleanly() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let archive = sealed_archive(&db).await;
    let sql = db.connect().await;
    // One byte of the JSON changed, recompressed so that it still decompresses.
    let mut json = records(25, 1).remove(0);
    let at = json.len() - 3;
    json[at] = b'X';
    let forged = zstd::bulk::compress(&json, 3).expect("compress");
    let changed = sql
        .execute(
            "UPDATE d365audit.record_bytes SET bytes = $1 WHERE seq = $2",
            &[&forged, &seq_of(&sql, 25).await],
        )
        .await
        .expect("tamper");
    assert_eq!(changed, 1);
    let report = archive.verify().await.expect("verify");
    assert!(
        report.findings.contains(&Finding::RecordAltered { batch: 2, record_id: record_id(25) }),
        "{:?}",
        report.findings
    );
    assert!(
        report.findings.iter().any(|f| matches!(f, Finding::BatchContentChanged { batch: 2, .. }))
    );
    // Garbage that does not decompress: named too, and `record` says the archive is corrupt.
    sql.execute(
        "UPDATE d365audit.record_bytes SET bytes = '\\x00ff00ff' WHERE seq = $1",
        &[&seq_of(&sql, 30).await],
    )
    .await
    .expect("tamper");
    let report = archive.verify().await.expect("verify");
    assert!(
        report.findings.contains(&Finding::RecordAltered { batch: 2, record_id: record_id(30) })
    );
    match archive.record(&record_id(30)).await {
        Err(ArchiveError::Corrupt { message }) => assert!(message.contains("verify"), "{message}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_records_edited_seals_and_smuggled_records_are_found() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let archive = sealed_archive(&db).await;
    let sql = db.connect().await;
    // A record of batch 1 removed (row and bytes).
    let five = seq_of(&sql, 5).await;
    for table in ["records", "record_bytes"] {
        sql.execute(&format!("DELETE FROM d365audit.{table} WHERE seq = $1"), &[&five])
            .await
            .expect("tamper");
    }
    // Seal 2 edited.
    sql.batch_execute(
        "UPDATE d365audit.seals SET committed_at = committed_at + interval '1 second' \
         WHERE seq = 2",
    )
    .await
    .expect("tamper");
    // A record added after the last seal, copied from record 60 with the next seq.
    let sixty = seq_of(&sql, 60).await;
    sql.execute(
        "INSERT INTO d365audit.records SELECT tenant_id, event_time, seq + 1, 'smuggled', \
           record_type, workload, operation, user_name, system_user_id, organization, entity, \
           entity_id, message, access, categories, client_ip, primary_value, correlation_id, \
           result_status FROM d365audit.records WHERE seq = $1",
        &[&sixty],
    )
    .await
    .expect("tamper");
    sql.execute(
        "INSERT INTO d365audit.record_bytes SELECT tenant_id, event_time, seq + 1, dictionary, \
           raw_len, hash, bytes FROM d365audit.record_bytes WHERE seq = $1",
        &[&sixty],
    )
    .await
    .expect("tamper");
    let report = archive.verify().await.expect("verify");
    let findings = &report.findings;
    assert!(
        findings.contains(&Finding::BatchContentChanged {
            batch: 1,
            sealed_count: 20,
            found_count: 19
        }),
        "{findings:?}"
    );
    assert!(findings.contains(&Finding::ChainBroken { batch: 2 }), "{findings:?}");
    assert!(
        findings
            .contains(&Finding::UnsealedRecords { count: 1, examples: vec!["smuggled".into()] }),
        "{findings:?}"
    );
    // A whole batch removed: its seal and records.
    sql.batch_execute(
        "DELETE FROM d365audit.records WHERE seq BETWEEN \
           (SELECT first_seq FROM d365audit.seals WHERE seq = 3) AND \
           (SELECT last_seq FROM d365audit.seals WHERE seq = 3); \
         DELETE FROM d365audit.record_bytes WHERE seq BETWEEN \
           (SELECT first_seq FROM d365audit.seals WHERE seq = 3) AND \
           (SELECT last_seq FROM d365audit.seals WHERE seq = 3); \
         DELETE FROM d365audit.seals WHERE seq = 3;",
    )
    .await
    .expect("tamper");
    let report = archive.verify().await.expect("verify");
    assert_eq!(report.batches, 2);
    assert!(
        report
            .findings
            .contains(&Finding::UnsealedRecords { count: 1, examples: vec!["smuggled".into()] })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_hash_or_a_lost_normalized_row_is_an_altered_record() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let archive = sealed_archive(&db).await;
    let sql = db.connect().await;
    sql.execute(
        "UPDATE d365audit.record_bytes SET hash = sha256(hash) WHERE seq = $1",
        &[&seq_of(&sql, 7).await],
    )
    .await
    .expect("tamper");
    sql.execute("DELETE FROM d365audit.records WHERE record_id = $1", &[&record_id(47)])
        .await
        .expect("tamper");
    let report = archive.verify().await.expect("verify");
    assert!(
        report.findings.contains(&Finding::RecordAltered { batch: 1, record_id: record_id(7) }),
        "{:?}",
        report.findings
    );
    assert!(
        report.findings.contains(&Finding::RecordAltered { batch: 3, record_id: record_id(47) }),
        "{:?}",
        report.findings
    );
    // The digests are recomputed from the bytes, which are intact: no batch changed.
    assert!(!report.findings.iter().any(|f| matches!(f, Finding::BatchContentChanged { .. })));
}
