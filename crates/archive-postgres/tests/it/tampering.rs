//! Edits made behind the archive's back, straight in the database, and what `verify` says.

use archive::{Archive, ArchiveError, Finding};

use super::{TestDatabase, batch, open, record_id, records, server};

/// The stored key of record `n` (its Id is a GUID: its 16 bytes).
fn key_of(n: u32) -> Vec<u8> {
    uuid::Uuid::parse_str(&record_id(n)).expect("a GUID").as_bytes().to_vec()
}

/// The archive sequence number of record `n`.
async fn seq_of(sql: &tokio_postgres::Client, n: u32) -> i64 {
    sql.query_one("SELECT seq FROM d365audit.records WHERE record_key = $1", &[&key_of(n)])
        .await
        .expect("record exists")
        .get(0)
}

/// The verbatim bytes of the records of one block, as a forger would rewrite them (the test
/// archives are too small for a compression dictionary).
#[derive(Debug)]
struct Block {
    first_seq: i64,
    seqs: Vec<i64>,
    raws: Vec<Vec<u8>>,
    hashes: Vec<Vec<u8>>,
}

impl Block {
    /// The block that holds the record with this seq.
    async fn of(sql: &tokio_postgres::Client, seq: i64) -> Block {
        let row = sql
            .query_one(
                "SELECT first_seq, seq_offsets, raw_lens, hashes, bytes, dictionary \
                 FROM d365audit.record_blocks WHERE first_seq <= $1 AND last_seq >= $1",
                &[&seq],
            )
            .await
            .expect("the record's block");
        let first_seq: i64 = row.get(0);
        let offsets: Option<Vec<i32>> = row.get(1);
        let lens: Vec<i32> = row.get(2);
        let hashes: Vec<u8> = row.get(3);
        let packed: Vec<u8> = row.get(4);
        assert_eq!(row.get::<_, Option<i32>>(5), None, "no dictionary in a test archive");
        let total = lens.iter().map(|l| *l as usize).sum();
        let raw = zstd::bulk::decompress(&packed, total).expect("decompress");
        let mut raws = Vec::new();
        let mut start = 0;
        for len in &lens {
            raws.push(raw[start..start + *len as usize].to_vec());
            start += *len as usize;
        }
        let seqs = offsets.map_or_else(
            || (first_seq..).take(lens.len()).collect(),
            |o| o.iter().map(|o| first_seq + i64::from(*o)).collect(),
        );
        // The first 8 bytes of each record's hash since schema 8.
        assert_eq!(hashes.len(), 8 * lens.len(), "8 bytes of hash a record");
        Block { first_seq, seqs, raws, hashes: hashes.chunks(8).map(<[u8]>::to_vec).collect() }
    }

    fn index(&self, seq: i64) -> usize {
        self.seqs.iter().position(|s| *s == seq).expect("the record is in its block")
    }

    /// Writes the block back, recompressed.
    async fn write(&self, sql: &tokio_postgres::Client) {
        let offsets: Vec<i32> = self.seqs.iter().map(|s| (s - self.first_seq) as i32).collect();
        let lens: Vec<i32> = self.raws.iter().map(|r| r.len() as i32).collect();
        let packed = zstd::bulk::compress(&self.raws.concat(), 3).expect("compress");
        let changed = sql
            .execute(
                "UPDATE d365audit.record_blocks SET last_seq = $2, seq_offsets = $3, \
                   raw_lens = $4, hashes = $5, bytes = $6 WHERE first_seq = $1",
                &[
                    &self.first_seq,
                    self.seqs.last().expect("a record"),
                    &offsets,
                    &lens,
                    &self.hashes.concat(),
                    &packed,
                ],
            )
            .await
            .expect("tamper");
        assert_eq!(changed, 1);
    }
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
    let seq = seq_of(&sql, 25).await;
    let mut block = Block::of(&sql, seq).await;
    let index = block.index(seq);
    let json = &mut block.raws[index];
    let at = json.len() - 3;
    json[at] = b'X';
    block.write(&sql).await;
    let report = archive.verify().await.expect("verify");
    assert!(
        report.findings.contains(&Finding::RecordAltered { batch: 2, record_id: record_id(25) }),
        "{:?}",
        report.findings
    );
    assert!(
        report.findings.iter().any(|f| matches!(f, Finding::BatchContentChanged { batch: 2, .. }))
    );
    // Garbage that does not decompress: the records of the block are named (30 among them),
    // and `record` says the archive is corrupt.
    sql.execute(
        "UPDATE d365audit.record_blocks SET bytes = '\\x00ff00ff' \
         WHERE first_seq <= $1 AND last_seq >= $1",
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
    sql.execute("DELETE FROM d365audit.records WHERE seq = $1", &[&five]).await.expect("tamper");
    let mut block = Block::of(&sql, five).await;
    let index = block.index(five);
    block.seqs.remove(index);
    block.raws.remove(index);
    block.hashes.remove(index);
    block.write(&sql).await;
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
        "INSERT INTO d365audit.records SELECT event_time, seq + 1, user_ref, workload_ref, \
           operation_ref, categories, organization_ref, entity_ref, message_ref, client_ip_ref, \
           primary_value_ref, result_status_ref, system_user_ref, tenant_ref, record_type, access, \
           convert_to('smuggled', 'UTF8'), entity_id, correlation_id, listed \
           FROM d365audit.records WHERE seq = $1",
        &[&sixty],
    )
    .await
    .expect("tamper");
    let block = Block::of(&sql, sixty).await;
    let index = block.index(sixty);
    let raw = &block.raws[index];
    sql.execute(
        "INSERT INTO d365audit.record_blocks (tenant_ref, event_time, first_seq, last_seq, \
           dictionary, seq_offsets, raw_lens, hashes, bytes) SELECT tenant_ref, event_time, $1, \
           $1, NULL, NULL, ARRAY[$2::integer], $3, $4 FROM d365audit.records WHERE seq = $1",
        &[
            &(sixty + 1),
            &(raw.len() as i32),
            &block.hashes[index],
            &zstd::bulk::compress(raw, 3).expect("compress"),
        ],
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
         DELETE FROM d365audit.record_blocks WHERE first_seq BETWEEN \
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
    let seven = seq_of(&sql, 7).await;
    let mut block = Block::of(&sql, seven).await;
    let index = block.index(seven);
    block.hashes[index] = vec![7; 8];
    block.write(&sql).await;
    sql.execute("DELETE FROM d365audit.records WHERE record_key = $1", &[&key_of(47)])
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
