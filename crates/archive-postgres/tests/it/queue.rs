//! The blob queue on a real server: replicas (separate handles, separate pools) sharing one
//! queue with real ingests on settle, claims that skip locked rows instead of waiting, and a
//! settle that fails part way leaving neither records nor a state change.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use archive::{
    AnnouncedBlob, Archive, ArchiveError, BlobLease, BlobQueue, BlobState, Discovery, IngestBatch,
    RecordQuery, Settlement,
};
use archive_postgres::PostgresArchive;
use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use super::{TestDatabase, batch, open, records, server};

const TENANT: &str = "41463f53-8812-40f4-890f-865bf6e35190";
const OTHER_TENANT: &str = "7d5e8c21-44b0-4f3e-9a61-2b8c0d9e1f37";

fn tenant(text: &str) -> Uuid {
    Uuid::parse_str(text).expect("tenant id")
}

fn blob(tenant_id: &str, n: u32) -> AnnouncedBlob {
    let created = Utc.with_ymd_and_hms(2026, 6, 10, 0, 0, 0).single().expect("time")
        + Duration::seconds(i64::from(n));
    AnnouncedBlob {
        tenant_id: tenant(tenant_id),
        content_type: "Audit.General".into(),
        content_id: format!("blob-{n:05}"),
        content_uri: format!("https://manage.office.com/api/v1.0/{tenant_id}/activity/feed/{n}"),
        content_created: created,
        content_expiration: created + Duration::days(7),
        source: Discovery::Poll { window_start: created - Duration::hours(1) },
    }
}

/// Blob `n`'s records: 10 of them, numbered from `7 n`, so neighbouring blobs share 3 records
/// (Microsoft repeats records across blobs).
fn records_of(n: u32) -> IngestBatch {
    batch(&records(1 + 7 * n, 10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_the_queue_settle_every_blob_once_with_its_records() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let replicas = [open(&db).await, open(&db).await];
    const BLOBS: u32 = 60;
    let blobs: Vec<AnnouncedBlob> = (0..BLOBS)
        .map(|n| if n % 4 == 3 { blob(OTHER_TENANT, n) } else { blob(TENANT, n) })
        .collect();
    // Both replicas announce everything (a listing and a webhook finding the same blobs).
    let (a, b) = tokio::join!(
        replicas[0].announce(blobs.clone(), vec![("poll".into(), "1".into())]),
        replicas[1].announce(blobs.iter().rev().cloned().collect(), Vec::new()),
    );
    assert_eq!(a.expect("announce") + b.expect("announce"), u64::from(BLOBS));

    // Three workers per replica. Worker 0 of replica 1 "dies" now and then: it claims with a
    // lease that has already run out and settles late, after others could take the blob.
    let settled: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let stale_refused: Arc<Mutex<u64>> = Arc::default();
    let mut workers = Vec::new();
    for (r, replica) in replicas.iter().enumerate() {
        for w in 0..3 {
            let (replica, settled, stale_refused) =
                (replica.clone(), settled.clone(), stale_refused.clone());
            workers.push(tokio::spawn(async move {
                let flaky = r == 1 && w == 0;
                let mut idle_rounds = 0;
                loop {
                    let lease = if flaky { Duration::zero() } else { Duration::minutes(5) };
                    let claimed = replica.claim(3, Utc::now(), lease).await.expect("claim");
                    if claimed.is_empty() {
                        idle_rounds += 1;
                        if idle_rounds > 20 {
                            return;
                        }
                        tokio::time::sleep(StdDuration::from_millis(20)).await;
                        continue;
                    }
                    idle_rounds = 0;
                    for lease in claimed {
                        if flaky {
                            tokio::time::sleep(StdDuration::from_millis(30)).await;
                        }
                        let n: u32 = lease.blob.content_id[5..].parse().expect("blob number");
                        let done = Settlement::Done { batch: records_of(n), out_of_scope: 0 };
                        match replica.settle(&lease, done, Utc::now()).await.expect("settle") {
                            Some(receipt) => settled
                                .lock()
                                .expect("not poisoned")
                                .push((lease.blob.content_id.clone(), receipt.inserted)),
                            None => *stale_refused.lock().expect("not poisoned") += 1,
                        }
                    }
                }
            }));
        }
    }
    for worker in workers {
        worker.await.expect("worker");
    }
    let settled = settled.lock().expect("not poisoned").clone();
    let mut per_blob: BTreeMap<String, u32> = BTreeMap::new();
    for (id, _) in &settled {
        *per_blob.entry(id.clone()).or_default() += 1;
    }
    assert_eq!(per_blob.len(), BLOBS as usize, "every blob was settled");
    assert!(per_blob.values().all(|n| *n == 1), "a blob settled twice: {per_blob:?}");
    eprintln!("stale settles refused: {}", stale_refused.lock().expect("not poisoned"));

    // Records 1 ..= 7 * 59 + 10, each stored once, and counted once in the status.
    let distinct = u64::from(7 * (BLOBS - 1) + 10);
    let inserted: u64 = settled.iter().map(|(_, n)| n).sum();
    assert_eq!(inserted, distinct);
    assert_eq!(replicas[0].count(&RecordQuery::default()).await.ok(), Some(distinct));
    let status = replicas[1].queue_status().await.expect("status");
    let done: u64 = status
        .iter()
        .flat_map(|s| &s.counts)
        .filter(|(state, _)| state == "done")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(done, u64::from(BLOBS));
    assert_eq!(status.iter().map(|s| s.records).sum::<u64>(), distinct);
    assert!(status.iter().all(|s| s.oldest_waiting.is_none()));
    let sql = db.connect().await;
    let row = sql
        .query_one(
            "SELECT (SELECT count(*) FROM d365audit.records), \
                    (SELECT count(DISTINCT record_key) FROM d365audit.records), \
                    (SELECT coalesce(sum(cardinality(raw_lens)), 0)::bigint \
                       FROM d365audit.record_blocks), \
                    (SELECT count(*) FROM d365audit.record_keys), \
                    (SELECT count(*) FROM d365audit.blob_queue WHERE state = 'done' \
                       AND lease_token IS NULL AND attempts = 1)",
            &[],
        )
        .await
        .expect("query");
    let counts: Vec<i64> = (0..5).map(|i| row.get(i)).collect();
    let d = distinct as i64;
    assert_eq!(counts, [d, d, d, d, i64::from(BLOBS)]);
    let report = replicas[0].verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, distinct);
    let seals: Vec<i64> = sql
        .query("SELECT seq FROM d365audit.seals ORDER BY seq", &[])
        .await
        .expect("seals")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(seals, (1..=seals.len() as i64).collect::<Vec<_>>(), "one chain, no holes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_claimers_at_once_never_share_a_blob() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let replicas = [open(&db).await, open(&db).await, open(&db).await];
    replicas[0]
        .announce((0..200).map(|n| blob(TENANT, n)).collect(), Vec::new())
        .await
        .expect("announce");
    let now = Utc::now();
    let mut claimers = Vec::new();
    for i in 0..12 {
        let replica = replicas[i % 3].clone();
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = replica.claim(5, now, Duration::minutes(5)).await.expect("claim");
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|l| l.blob.content_id));
            }
        }));
    }
    let mut seen = HashSet::new();
    for claimer in claimers {
        for id in claimer.await.expect("claimer") {
            assert!(seen.insert(id.clone()), "{id} was handed to two live leases");
        }
    }
    assert_eq!(seen.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_skips_a_row_another_transaction_holds_instead_of_waiting() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let archive = open(&db).await;
    archive
        .announce((0..3).map(|n| blob(TENANT, n)).collect(), Vec::new())
        .await
        .expect("announce");
    let mut holder = db.connect().await;
    let holding = holder.transaction().await.expect("begin");
    holding
        .execute(
            "SELECT 1 FROM d365audit.blob_queue WHERE content_id = 'blob-00000' FOR UPDATE",
            &[],
        )
        .await
        .expect("hold the oldest blob");
    let claimed = tokio::time::timeout(
        StdDuration::from_secs(5),
        archive.claim(10, Utc::now(), Duration::minutes(5)),
    )
    .await
    .expect("the claim does not wait for the held row")
    .expect("claim");
    let ids: Vec<&str> = claimed.iter().map(|l| l.blob.content_id.as_str()).collect();
    assert_eq!(ids, ["blob-00001", "blob-00002"]);
    holding.rollback().await.expect("release");
    let rest = archive.claim(10, Utc::now(), Duration::minutes(5)).await.expect("claim");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].blob.content_id, "blob-00000");
}

async fn lease_of(archive: &PostgresArchive, now: DateTime<Utc>) -> BlobLease {
    let mut leases = archive.claim(1, now, Duration::minutes(5)).await.expect("claim");
    assert_eq!(leases.len(), 1);
    leases.remove(0)
}

async fn blob_row(sql: &tokio_postgres::Client) -> (String, Option<Uuid>, i32, i64) {
    let row = sql
        .query_one(
            "SELECT state, lease_token, attempts, records FROM d365audit.blob_queue \
             WHERE content_id = 'blob-00001'",
            &[],
        )
        .await
        .expect("the blob's row");
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settle_that_fails_part_way_leaves_records_and_state_as_they_were() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let archive = open(&db).await;
    archive.announce(vec![blob(TENANT, 1)], Vec::new()).await.expect("announce");
    let now = Utc::now();
    let lease = lease_of(&archive, now).await;
    let sql = db.connect().await;
    let before = blob_row(&sql).await;
    assert_eq!((before.0.as_str(), before.1), ("leased", Some(lease.lease_token)));

    // 1. The ingest part fails (a cursor name PostgreSQL cannot store) after the records were
    //    copied.
    let failing = IngestBatch { cursors: vec![("bad\0name".into(), "x".into())], ..records_of(1) };
    let result =
        archive.settle(&lease, Settlement::Done { batch: failing, out_of_scope: 0 }, now).await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(archive.count(&RecordQuery::default()).await.ok(), Some(0));
    assert_eq!(blob_row(&sql).await, before);

    // 2. Marking the blob done fails after the records were written and sealed.
    sql.batch_execute(
        "CREATE FUNCTION d365audit.refuse_done() RETURNS trigger LANGUAGE plpgsql AS $$ \
           BEGIN IF NEW.state = 'done' THEN RAISE EXCEPTION 'refusing done for the test'; END IF; \
           RETURN NEW; END $$; \
         CREATE TRIGGER refuse_done BEFORE UPDATE ON d365audit.blob_queue \
           FOR EACH ROW EXECUTE FUNCTION d365audit.refuse_done();",
    )
    .await
    .expect("trigger");
    let done = Settlement::Done { batch: records_of(1), out_of_scope: 0 };
    match archive.settle(&lease, done, now).await {
        Err(ArchiveError::Storage { message, .. }) => {
            assert!(message.contains("refusing done"), "{message}")
        }
        other => panic!("expected the trigger's failure, got {other:?}"),
    }
    assert_eq!(archive.count(&RecordQuery::default()).await.ok(), Some(0), "no record stayed");
    assert_eq!(archive.summary().await.expect("summary").batches, 0, "no seal stayed");
    assert_eq!(blob_row(&sql).await, before);

    // The same lease settles once the fault is gone: nothing was half-done.
    sql.batch_execute("DROP TRIGGER refuse_done ON d365audit.blob_queue").await.expect("drop");
    let done = Settlement::Done { batch: records_of(1), out_of_scope: 0 };
    let receipt = archive.settle(&lease, done, now).await.expect("settle").expect("still ours");
    assert_eq!((receipt.inserted, receipt.sealed_batch), (10, Some(1)));
    assert_eq!(blob_row(&sql).await, ("done".into(), None, 1, 10));
    let report = archive.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_settlement_needs_a_gap_state_and_read_only_handles_refuse_the_queue() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let archive = open(&db).await;
    archive.announce(vec![blob(TENANT, 1)], Vec::new()).await.expect("announce");
    let lease = lease_of(&archive, Utc::now()).await;
    let wrong = Settlement::Gap {
        state: BlobState::Done,
        error: "not a gap".into(),
        batch: IngestBatch::default(),
    };
    match archive.settle(&lease, wrong, Utc::now()).await {
        Err(ArchiveError::Storage { message, .. }) => assert!(message.contains("gap"), "{message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let reader = PostgresArchive::connect_read_only(&db.url).await.expect("read-only connects");
    match reader.announce(vec![blob(TENANT, 2)], Vec::new()).await {
        Err(ArchiveError::Storage { message, .. }) => assert!(message.contains("read-only")),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(reader.claim(1, Utc::now(), Duration::minutes(5)).await.is_err());
    assert_eq!(reader.queue_status().await.expect("status").len(), 1, "reading works");
}
