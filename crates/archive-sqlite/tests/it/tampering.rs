//! Tampering with the file behind the archive's back: verification names the batch and the
//! record.

use archive::{Archive, Finding};
use archive_sqlite::SqliteArchive;
use rusqlite::{Connection, params};

use crate::{fill, open, record_id};

/// An archive of 50 records in 5 batches of 10, closed; returns its folder and path.
async fn sealed_archive() -> (tempfile::TempDir, std::path::PathBuf) {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    let archive = SqliteArchive::open(&path, crate::clock()).expect("opens");
    fill(&archive, 50, 10).await;
    let report = archive.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!((report.batches, report.records), (5, 50));
    archive.close().await.expect("close");
    (folder, path)
}

fn key(n: u32) -> Vec<u8> {
    uuid::Uuid::parse_str(&record_id(n)).expect("guid").as_bytes().to_vec()
}

fn seq_of(conn: &Connection, n: u32) -> i64 {
    conn.query_row("SELECT seq FROM activity WHERE record_key = ?1", [key(n)], |r| r.get(0))
        .expect("record exists")
}

async fn findings(path: &std::path::Path) -> Vec<Finding> {
    let archive = SqliteArchive::open_read_only(path).expect("opens read-only");
    archive.verify().await.expect("verify runs").findings
}

#[tokio::test]
async fn edited_verbatim_bytes_name_the_record_and_batch() {
    let (_folder, path) = sealed_archive().await;
    {
        let conn = Connection::open(&path).expect("open");
        let seq = seq_of(&conn, 23);
        let (raw_len, packed): (i64, Vec<u8>) = conn
            .query_row("SELECT raw_len, bytes FROM raw WHERE seq = ?1", [seq], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("raw row");
        assert!(packed.len() < raw_len as usize, "stored compressed");
        let raw = zstd::bulk::decompress(&packed, raw_len as usize).expect("decompresses");
        let edited = String::from_utf8(raw).expect("utf-8").replace("user2@", "user5@");
        let repacked = zstd::bulk::compress(edited.as_bytes(), 3).expect("compress");
        conn.execute(
            "UPDATE raw SET bytes = ?1, raw_len = ?2 WHERE seq = ?3",
            params![repacked, edited.len() as i64, seq],
        )
        .expect("tamper");
    }
    let found = findings(&path).await;
    assert!(
        found.contains(&Finding::RecordAltered { batch: 3, record_id: record_id(23) }),
        "{found:?}"
    );
    assert!(found.iter().any(|f| matches!(f, Finding::BatchContentChanged { batch: 3, .. })));
    assert_eq!(found.len(), 2, "{found:?}");
}

#[tokio::test]
async fn edited_bytes_with_a_matching_hash_still_break_the_batch_digest() {
    let (_folder, path) = sealed_archive().await;
    {
        let conn = Connection::open(&path).expect("open");
        let seq = seq_of(&conn, 41);
        let forged = br#"{"Id":"forged"}"#;
        conn.execute(
            "UPDATE raw SET bytes = ?1, raw_len = ?2, hash = ?3 WHERE seq = ?4",
            params![
                zstd::bulk::compress(forged, 3).expect("compress"),
                forged.len() as i64,
                blake3::hash(forged).as_bytes().to_vec(),
                seq
            ],
        )
        .expect("tamper");
    }
    let found = findings(&path).await;
    assert_eq!(
        found,
        vec![Finding::BatchContentChanged { batch: 5, sealed_count: 10, found_count: 10 }]
    );
}

#[tokio::test]
async fn garbage_bytes_are_an_altered_record_not_an_error() {
    let (_folder, path) = sealed_archive().await;
    {
        let conn = Connection::open(&path).expect("open");
        let seq = seq_of(&conn, 7);
        conn.execute("UPDATE raw SET bytes = x'deadbeef' WHERE seq = ?1", [seq]).expect("tamper");
    }
    let found = findings(&path).await;
    assert!(found.contains(&Finding::RecordAltered { batch: 1, record_id: record_id(7) }));
    let archive = SqliteArchive::open_read_only(&path).expect("opens");
    match archive.record(&record_id(7)).await {
        Err(archive::ArchiveError::Corrupt { message }) => {
            assert!(message.contains("verify"), "{message}")
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_deleted_record_is_found_in_its_batch() {
    let (_folder, path) = sealed_archive().await;
    {
        let conn = Connection::open(&path).expect("open");
        let seq = seq_of(&conn, 15);
        conn.execute("DELETE FROM activity WHERE seq = ?1", [seq]).expect("delete");
        conn.execute("DELETE FROM raw WHERE seq = ?1", [seq]).expect("delete");
    }
    let found = findings(&path).await;
    assert_eq!(
        found,
        vec![Finding::BatchContentChanged { batch: 2, sealed_count: 10, found_count: 9 }]
    );
}

#[tokio::test]
async fn a_record_hidden_from_queries_is_named() {
    let (_folder, path) = sealed_archive().await;
    {
        let conn = Connection::open(&path).expect("open");
        let seq = seq_of(&conn, 33);
        conn.execute("DELETE FROM activity WHERE seq = ?1", [seq]).expect("delete");
    }
    let found = findings(&path).await;
    assert_eq!(found, vec![Finding::RecordAltered { batch: 4, record_id: record_id(33) }]);
}

#[tokio::test]
async fn an_edited_seal_breaks_the_chain_at_that_batch() {
    let (_folder, path) = sealed_archive().await;
    {
        let conn = Connection::open(&path).expect("open");
        conn.execute("UPDATE seals SET committed_at = committed_at + 1 WHERE seq = 2", [])
            .expect("tamper");
    }
    assert_eq!(findings(&path).await, vec![Finding::ChainBroken { batch: 2 }]);
}

#[tokio::test]
async fn a_deleted_seal_leaves_a_hole_and_unsealed_records() {
    let (_folder, path) = sealed_archive().await;
    {
        let conn = Connection::open(&path).expect("open");
        conn.execute("DELETE FROM seals WHERE seq = 4", []).expect("tamper");
    }
    let found = findings(&path).await;
    assert!(found.contains(&Finding::BatchesMissing { after: 3, next_found: 5 }), "{found:?}");
    assert!(found.contains(&Finding::ChainBroken { batch: 5 }), "{found:?}");
    assert!(
        found.iter().any(|f| matches!(f, Finding::UnsealedRecords { count: 10, examples }
            if examples.first() == Some(&record_id(31)))),
        "{found:?}"
    );
}

#[tokio::test]
async fn a_record_added_behind_the_archive_is_unsealed() {
    let (_folder, path) = sealed_archive().await;
    {
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "INSERT INTO activity SELECT seq + 1000, x'00112233445566778899aabbccddeeff', time, \
             record_type, workload, operation, tenant, user, system_user, organization, entity, \
             entity_ref, message, access, categories, client_ip, primary_value, correlation_id, \
             result_status FROM activity WHERE seq = 50; \
             INSERT INTO raw SELECT seq + 1000, dictionary, raw_len, hash, bytes FROM raw \
             WHERE seq = 50;",
        )
        .expect("insert");
    }
    let found = findings(&path).await;
    assert_eq!(
        found,
        vec![Finding::UnsealedRecords {
            count: 1,
            examples: vec!["00112233-4455-6677-8899-aabbccddeeff".into()]
        }]
    );
    // The writer carries on after the forged row: new records get new positions and a seal.
    let archive = open(&path);
    let more: Vec<Vec<u8>> = (51..=53)
        .map(|n| {
            crate::crm_json(n, chrono::DateTime::UNIX_EPOCH, "late@contoso.com", &record_id(1), &[])
        })
        .collect();
    let receipt = archive.ingest(crate::batch(&more)).await.expect("ingest");
    assert_eq!((receipt.inserted, receipt.sealed_batch), (3, Some(6)));
    let report = archive.verify().await.expect("verify");
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
}
