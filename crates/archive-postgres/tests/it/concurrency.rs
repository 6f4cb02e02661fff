//! Several replicas (separate handles, separate pools) ingesting at once into one database.

use archive::{Archive, RecordQuery};

use super::{TestDatabase, batch, open, records, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_ingesting_overlapping_batches_store_each_record_once_in_one_chain() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let replicas = [open(&db).await, open(&db).await, open(&db).await];
    // Records 1..=600; replica i ingests a window of 300 starting at 1 + 150 i, in batches of
    // 30, in a different order, so every record is offered by one or two replicas at once.
    let all = records(1, 600);
    let mut tasks = Vec::new();
    for (i, replica) in replicas.iter().enumerate() {
        let window: Vec<Vec<u8>> = all[150 * i..150 * i + 300].to_vec();
        let replica = replica.clone();
        tasks.push(tokio::spawn(async move {
            let mut chunks: Vec<Vec<Vec<u8>>> = window.chunks(30).map(<[_]>::to_vec).collect();
            if i == 1 {
                chunks.reverse();
            }
            let mut receipts = Vec::new();
            for chunk in chunks {
                let receipt = replica.ingest(batch(&chunk)).await.expect("ingest");
                assert_eq!(receipt.inserted + receipt.duplicates, chunk.len() as u64);
                assert_eq!(receipt.variants, 0);
                receipts.push(receipt);
            }
            receipts
        }));
    }
    let mut receipts = Vec::new();
    for task in tasks {
        receipts.extend(task.await.expect("task"));
    }
    let inserted: u64 = receipts.iter().map(|r| r.inserted).sum();
    let duplicates: u64 = receipts.iter().map(|r| r.duplicates).sum();
    assert_eq!((inserted, duplicates), (600, 300));
    let mut seals: Vec<u64> = receipts.iter().filter_map(|r| r.sealed_batch).collect();
    seals.sort_unstable();
    let expected: Vec<u64> = (1..=seals.len() as u64).collect();
    assert_eq!(seals, expected, "seals are numbered without holes or repeats");
    for replica in &replicas {
        assert_eq!(replica.count(&RecordQuery::default()).await.ok(), Some(600));
    }
    let report = replicas[2].verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!((report.batches, report.records), (seals.len() as u64, 600));
    // No Id is stored twice, in any table, and every record has its own seq.
    let sql = db.connect().await;
    let row = sql
        .query_one(
            "SELECT (SELECT count(*) FROM d365audit.records), \
                    (SELECT count(DISTINCT record_key) FROM d365audit.records), \
                    (SELECT count(DISTINCT seq) FROM d365audit.records), \
                    (SELECT coalesce(sum(cardinality(raw_lens)), 0)::bigint \
                       FROM d365audit.record_blocks), \
                    (SELECT count(*) FROM d365audit.record_keys)",
            &[],
        )
        .await
        .expect("query");
    let counts: Vec<i64> = (0..5).map(|i| row.get(i)).collect();
    assert_eq!(counts, [600; 5]);
    // Whether batches committed in another order than they started (the case verification
    // reorders for) shows in the seals' ranges.
    let reordered: i64 = sql
        .query_one(
            "SELECT count(*) FROM (SELECT first_seq, lag(first_seq) OVER (ORDER BY seq) AS before \
             FROM d365audit.seals) s WHERE first_seq < before",
            &[],
        )
        .await
        .expect("query")
        .get(0);
    eprintln!("seals committed out of start order: {reordered}");
}

/// A batch that started first but commits last (it waited for another transaction holding one
/// of its Ids) is sealed after the other one, and verification still walks the chain intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_commits_after_a_later_one_is_sealed_after_it() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let (first, second) = (open(&db).await, open(&db).await);
    // Another writer holds record 1's Id, uncommitted.
    let mut blocker = db.connect().await;
    blocker
        .execute(
            "INSERT INTO d365audit.tenants (tenant_id) \
             VALUES ('41463f53-8812-40f4-890f-865bf6e35190')",
            &[],
        )
        .await
        .expect("the tenant");
    let holding = blocker.transaction().await.expect("begin");
    holding
        .execute(
            "INSERT INTO d365audit.record_keys (record_key, tenant_ref, event_time) \
             SELECT $1, tenant_ref, now() FROM d365audit.tenants \
             WHERE tenant_id = '41463f53-8812-40f4-890f-865bf6e35190'",
            &[&uuid::Uuid::parse_str(&super::record_id(1)).expect("a GUID").as_bytes().as_slice()],
        )
        .await
        .expect("hold the Id");
    let started = tokio::spawn(async move { first.ingest(batch(&records(1, 10))).await });
    // Wait until that batch waits for the Id.
    let watcher = db.connect().await;
    let mut waiting = false;
    for _ in 0..200 {
        let row = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .expect("activity");
        if row.get::<_, i64>(0) > 0 {
            waiting = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(waiting, "the first batch never waited for the held Id");
    let later = second.ingest(batch(&records(11, 10))).await.expect("ingest");
    assert_eq!((later.inserted, later.sealed_batch), (10, Some(1)));
    holding.rollback().await.expect("release the Id");
    let earlier = started.await.expect("task").expect("ingest");
    assert_eq!((earlier.inserted, earlier.sealed_batch), (10, Some(2)));
    let ranges: Vec<(i64, i64)> = watcher
        .query("SELECT seq, first_seq FROM d365audit.seals ORDER BY seq", &[])
        .await
        .expect("seals")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert!(ranges[1].1 < ranges[0].1, "seal 2 covers the earlier block: {ranges:?}");
    let report = second.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!((report.batches, report.records), (2, 20));
}
