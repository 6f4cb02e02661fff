//! The archive file's life: creation, reopening, schema versions, read-only handles, a failed
//! batch that must leave nothing behind, the compression dictionary, concurrent writers.

use archive::{Archive, ArchiveError, IngestBatch, Quarantined, RecordQuery};
use archive_sqlite::SqliteArchive;
use rusqlite::Connection;

use crate::{batch, fill, open, record_id};

#[tokio::test]
async fn open_creates_a_missing_file_with_the_current_schema() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("nested-name.sqlite");
    assert!(!path.exists());
    let archive = open(&path);
    assert!(path.exists());
    let summary = archive.summary().await.expect("summary");
    assert_eq!((summary.records, summary.batches), (0, 0));
    archive.close().await.expect("close");
    let conn = Connection::open(&path).expect("open");
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("mode");
    assert_eq!((version, mode.as_str()), (5, "wal"));
}

#[tokio::test]
async fn an_empty_existing_file_is_migrated() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    std::fs::write(&path, b"").expect("empty file");
    let archive = open(&path);
    fill(&archive, 5, 5).await;
    assert_eq!(archive.count(&RecordQuery::default()).await.expect("count"), 5);
}

#[tokio::test]
async fn reopening_keeps_records_seals_cursors_and_the_dictionary() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    let archive = open(&path);
    let raws = fill(&archive, 120, 30).await;
    crate::dictionary_trained(&archive).await;
    archive
        .ingest(IngestBatch {
            cursors: vec![("tenant/Audit.General".into(), "2026-06-01T12:00:00Z".into())],
            quarantined: vec![Quarantined { source: "b".into(), reason: "r".into(), raw: vec![0] }],
            ..IngestBatch::default()
        })
        .await
        .expect("ingest");
    let before = archive.verify().await.expect("verify");
    archive.close().await.expect("close");
    assert!(archive.ingest(batch(&raws[..1])).await.is_err(), "a closed handle refuses to ingest");

    let reopened = open(&path);
    let summary = reopened.summary().await.expect("summary");
    assert_eq!((summary.records, summary.batches, summary.quarantined), (120, 4, 1));
    // The staged keys of the first run still make every record a duplicate.
    let again = reopened.ingest(batch(&raws)).await.expect("ingest");
    assert_eq!((again.inserted, again.duplicates), (0, 120));
    assert_eq!(
        reopened.cursor("tenant/Audit.General").await.expect("cursor").as_deref(),
        Some("2026-06-01T12:00:00Z")
    );
    let after = reopened.verify().await.expect("verify");
    assert!(after.is_intact(), "{:?}", after.findings);
    assert_eq!(after.head, before.head);
    // New batches continue the same chain, compressed with the dictionary trained before.
    let more: Vec<Vec<u8>> = (121..=130)
        .map(|n| {
            crate::crm_json(
                n,
                summary.latest.unwrap_or_default(),
                "late@contoso.com",
                &record_id(1),
                &[],
            )
        })
        .collect();
    let receipt = reopened.ingest(batch(&more)).await.expect("ingest");
    assert_eq!((receipt.inserted, receipt.sealed_batch), (10, Some(5)));
    assert!(reopened.verify().await.expect("verify").is_intact());
    let exact = reopened.record(&record_id(7)).await.expect("record").map(|r| r.raw);
    assert_eq!(exact.as_deref(), Some(raws[6].as_slice()));
    reopened.close().await.expect("close");
    let conn = Connection::open(&path).expect("open");
    let dictionaries: i64 =
        conn.query_row("SELECT count(*) FROM dictionaries", [], |r| r.get(0)).expect("count");
    assert_eq!(dictionaries, 1, "trained once, reused after reopening");
    let with_dictionary: i64 = conn
        .query_row("SELECT count(*) FROM raw WHERE dictionary IS NOT NULL", [], |r| r.get(0))
        .expect("count");
    assert!(with_dictionary >= 10, "records after training use the dictionary");
}

#[tokio::test]
async fn the_dictionary_makes_records_smaller() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    let archive = open(&path);
    fill(&archive, 50, 50).await;
    crate::dictionary_trained(&archive).await;
    fill_more(&archive, 51..=300).await;
    archive.close().await.expect("close");
    let conn = Connection::open(&path).expect("open");
    let mean = |with: bool| -> f64 {
        let sql = format!(
            "SELECT avg(length(bytes)) FROM raw WHERE dictionary IS {} NULL",
            if with { "NOT" } else { "" }
        );
        conn.query_row(&sql, [], |r| r.get(0)).expect("average")
    };
    let (plain, trained) = (mean(false), mean(true));
    assert!(trained < plain * 0.7, "with dictionary {trained:.0} B, without {plain:.0} B");
}

#[tokio::test]
async fn read_only_handles_query_and_refuse_writes() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    let writer = open(&path);
    let raws = fill(&writer, 20, 10).await;
    let reader = SqliteArchive::open_read_only(&path).expect("opens read-only");
    assert_eq!(reader.count(&RecordQuery::default()).await.expect("count"), 20);
    match reader.ingest(batch(&raws[..1])).await {
        Err(ArchiveError::Storage { message, .. }) => {
            assert!(message.contains("read-only"), "{message}")
        }
        other => panic!("a read-only handle ingested: {other:?}"),
    }
    // It sees what the writer commits later.
    let more: Vec<Vec<u8>> = (21..=25)
        .map(|n| {
            crate::crm_json(n, chrono::DateTime::UNIX_EPOCH, "x@contoso.com", &record_id(1), &[])
        })
        .collect();
    writer.ingest(batch(&more)).await.expect("ingest");
    assert_eq!(reader.count(&RecordQuery::default()).await.expect("count"), 25);
}

#[tokio::test]
async fn read_only_open_of_a_missing_file_says_what_to_do() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("missing.sqlite");
    match SqliteArchive::open_read_only(&path) {
        Err(ArchiveError::Unavailable { message }) => assert!(message.contains("no archive")),
        other => panic!("unexpected: {other:?}"),
    }
    assert!(!path.exists(), "a read-only open creates nothing");
}

#[tokio::test]
async fn an_archive_from_a_newer_program_is_refused() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    open(&path).close().await.expect("close");
    Connection::open(&path).expect("open").pragma_update(None, "user_version", 99).expect("bump");
    for result in [SqliteArchive::open(&path, crate::clock()), SqliteArchive::open_read_only(&path)]
    {
        match result {
            Err(ArchiveError::Incompatible { message }) => {
                assert!(message.contains("upgrade d365audit"), "{message}")
            }
            other => panic!("a newer archive was opened: {other:?}"),
        }
    }
}

#[tokio::test]
async fn another_programs_database_is_refused_and_left_alone() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("other.sqlite");
    Connection::open(&path)
        .expect("open")
        .execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL);")
        .expect("create");
    match SqliteArchive::open(&path, crate::clock()) {
        Err(ArchiveError::Incompatible { message }) => {
            assert!(message.contains("not a d365audit archive"), "{message}")
        }
        other => panic!("a foreign database was opened: {other:?}"),
    }
    let tables: i64 = Connection::open(&path)
        .expect("open")
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .expect("count");
    assert_eq!(tables, 1, "nothing was added to it");
}

#[tokio::test]
async fn a_failed_batch_leaves_nothing_behind() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    let archive = open(&path);
    let raws = fill(&archive, 10, 10).await;
    // A failure injected after the records are written, inside the same transaction.
    Connection::open(&path)
        .expect("open")
        .execute_batch(
            "CREATE TRIGGER fail_on_boom BEFORE INSERT ON quarantine WHEN NEW.source = 'boom' \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .expect("trigger");
    let more: Vec<Vec<u8>> = (11..=15)
        .map(|n| {
            crate::crm_json(n, chrono::DateTime::UNIX_EPOCH, "new@contoso.com", &record_id(1), &[])
        })
        .collect();
    let mut failing = batch(&more);
    failing.quarantined.push(Quarantined {
        source: "boom".into(),
        reason: "r".into(),
        raw: vec![],
    });
    failing.cursors.push(("cursor".into(), "moved".into()));
    let error = archive.ingest(failing).await.expect_err("the batch fails");
    assert!(error.to_string().contains("injected failure"), "{error}");
    assert_eq!(archive.count(&RecordQuery::default()).await.expect("count"), 10);
    assert_eq!(archive.cursor("cursor").await.expect("cursor"), None);
    assert!(archive.quarantined(10).await.expect("quarantine").is_empty());
    let summary = archive.summary().await.expect("summary");
    assert_eq!((summary.records, summary.batches), (10, 1));
    // The same records succeed afterwards and continue the chain without a hole.
    let receipt = archive.ingest(batch(&more)).await.expect("ingest");
    assert_eq!((receipt.inserted, receipt.sealed_batch), (5, Some(2)));
    let again = archive.ingest(batch(&more)).await.expect("ingest");
    assert_eq!((again.inserted, again.duplicates), (0, 5), "no key of the failed batch lingers");
    let report = archive.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 15);
    assert_eq!(raws.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_ingest_concurrently_without_losing_or_duplicating() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    let archive = open(&path);
    let raws = crate::fill(&archive, 0, 1).await;
    assert!(raws.is_empty());
    let start = chrono::DateTime::UNIX_EPOCH;
    let all: Vec<Vec<u8>> =
        (1..=400).map(|n| crate::crm_json(n, start, "u@contoso.com", &record_id(1), &[])).collect();
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let archive = archive.clone();
        // Overlapping ranges: every record is offered by two workers.
        let mine: Vec<Vec<u8>> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 4 == worker || i % 4 == (worker + 1) % 4)
            .map(|(_, r)| r.clone())
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut inserted = 0;
            for chunk in mine.chunks(25) {
                inserted += archive.ingest(batch(chunk)).await.expect("ingest").inserted;
            }
            inserted
        }));
    }
    let mut inserted = 0;
    for task in tasks {
        inserted += task.await.expect("task");
    }
    assert_eq!(inserted, 400);
    assert_eq!(archive.count(&RecordQuery::default()).await.expect("count"), 400);
    assert!(archive.verify().await.expect("verify").is_intact());
}

async fn fill_more(archive: &SqliteArchive, numbers: std::ops::RangeInclusive<u32>) {
    let start = chrono::DateTime::UNIX_EPOCH;
    let raws: Vec<Vec<u8>> = numbers
        .map(|n| {
            crate::crm_json(
                n,
                start,
                &format!("user{}@contoso.com", n % 7),
                &record_id(n % 13),
                &[],
            )
        })
        .collect();
    for chunk in raws.chunks(50) {
        archive.ingest(batch(chunk)).await.expect("ingest");
    }
}

/// Options that merge the staged index entries every `records` records.
fn merging_every(records: u64) -> archive_sqlite::SqliteOptions {
    archive_sqlite::SqliteOptions {
        merge_min_records: records,
        merge_max_records: records,
        ..crate::small_options()
    }
}

/// Rows of a table (or a parenthesized query) of the archive file.
fn rows_in(path: &std::path::Path, table: &str) -> i64 {
    Connection::open(path)
        .expect("open")
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

/// Row 3 of `fill`: listed by every fifth record, and the own entity of records 3, 20, 37, ...
const ROW_3: &str = "5f3b0b3e-1c2d-4e5f-9a8b-000000000003";

/// Row 3's timeline among the records `fill` wrote up to `last`, oldest first.
fn row_3_timeline(last: u32) -> Vec<(String, archive::Via)> {
    use archive::Via;
    (1..=last)
        .filter(|n| n % 5 == 0 || n % 17 == 3)
        .map(|n| (record_id(n), if n % 17 == 3 { Via::Entity } else { Via::QueryResults }))
        .collect()
}

/// Every page of `q`'s answer, `limit` rows at a time, in `order`.
async fn all_pages(
    archive: &SqliteArchive,
    q: &RecordQuery,
    limit: u32,
    order: archive::Order,
) -> Vec<(String, archive::Via)> {
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let request = archive::PageRequest { limit, after, order };
        let page = archive.search(q, &request).await.expect("search");
        rows.extend(page.rows.into_iter().map(|r| (r.id, r.via.expect("via is set"))));
        match page.next {
            Some(next) => after = Some(next),
            None => return rows,
        }
    }
}

#[tokio::test]
async fn merged_and_staged_index_entries_answer_alike() {
    use archive::Order;
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    let archive =
        SqliteArchive::open_with(&path, crate::clock(), merging_every(25)).expect("opens");
    // Batches of 10: merges happen after 30, 60 and 90 records; 10 stay staged.
    let raws = fill(&archive, 100, 10).await;
    assert_eq!(rows_in(&path, "record_keys_staged"), 10);
    assert_eq!(rows_in(&path, "record_keys"), 90);
    // Each merge appended one run of 30 keys, too few runs to compact.
    assert_eq!(rows_in(&path, "(SELECT run FROM key_runs WHERE keys = 30)"), 3);
    // Each merge appended one sorted run of timeline and field entries.
    assert_eq!(rows_in(&path, "index_runs"), 3);
    assert_eq!(rows_in(&path, "(SELECT DISTINCT run FROM timeline)"), 3);
    assert_eq!(crate::counted_records(&path), (100, 100), "each record counted once");
    // Every record is a duplicate now, wherever its key lives, and counted no more.
    let receipt = archive.ingest(batch(&raws)).await.expect("ingest");
    assert_eq!((receipt.inserted, receipt.duplicates), (0, 100));
    assert_eq!(crate::counted_records(&path), (100, 100));
    // A record timeline spans both levels, in order.
    let listed = uuid::Uuid::parse_str(ROW_3).expect("guid");
    let q = RecordQuery { record_id: Some(listed), ..RecordQuery::default() };
    let expected = row_3_timeline(100);
    assert_eq!(all_pages(&archive, &q, 1000, Order::OldestFirst).await, expected);
    // Pages of 2, newest first, cross the runs and the staged level without a gap or a repeat.
    let mut paged = all_pages(&archive, &q, 2, Order::NewestFirst).await;
    paged.reverse();
    assert_eq!(paged, expected);
    for n in [1, 95, 100] {
        let stored = archive.record(&record_id(n)).await.expect("record").expect("found");
        assert_eq!(stored.raw, raws[n as usize - 1]);
    }
    let field = RecordQuery {
        field: Some(archive::query::FieldFilter {
            name: "name".into(),
            value: Some("Account 97".into()),
        }),
        ..RecordQuery::default()
    };
    assert_eq!(archive.count(&field).await.expect("count"), 1);
    assert!(archive.verify().await.expect("verify").is_intact());
}

/// An archive of schema version 3 (one main table per index) keeps answering after the upgrade
/// to index runs: its entries become run 0, and new merges add runs after it.
#[tokio::test]
async fn a_version_three_archive_keeps_its_index_entries() {
    use archive::{Order, PageRequest};
    use chrono::{TimeZone, Utc};
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    let options = merging_every(25);
    let listed = uuid::Uuid::parse_str(ROW_3).expect("guid");
    let timeline = RecordQuery { record_id: Some(listed), ..RecordQuery::default() };
    let field = |n: u32| RecordQuery {
        field: Some(archive::query::FieldFilter {
            name: "name".into(),
            value: Some(format!("Account {n}")),
        }),
        ..RecordQuery::default()
    };
    let all = PageRequest { limit: 1000, after: None, order: Order::OldestFirst };
    let ids = |page: archive::Page<archive::RecordSummary>| -> Vec<String> {
        page.rows.into_iter().map(|r| r.id).collect()
    };

    let archive = SqliteArchive::open_with(&path, crate::clock(), options.clone()).expect("opens");
    fill(&archive, 100, 10).await;
    let before = ids(archive.search(&timeline, &all).await.expect("search"));
    archive.close().await.expect("close");
    drop(archive);
    crate::downgrade_to_v3(&path);

    let archive = SqliteArchive::open_with(&path, crate::clock(), options).expect("opens");
    let runs: Vec<(i64, i64)> = Connection::open(&path)
        .expect("open")
        .prepare("SELECT run, records FROM index_runs")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .expect("runs");
    assert_eq!(runs, vec![(0, 100)], "the version 3 entries are run 0");
    assert_eq!(crate::counted_records(&path), (100, 100), "report counts computed at upgrade");
    assert_eq!(ids(archive.search(&timeline, &all).await.expect("search")), before);
    assert_eq!(archive.count(&field(97)).await.expect("count"), 1);

    // 60 more records (ids 101..=160 reuse the same rows and names): new runs after run 0.
    let start = Utc.with_ymd_and_hms(2026, 6, 2, 0, 0, 0).single().expect("time");
    let raws: Vec<Vec<u8>> = (101..=160u32)
        .map(|n| {
            let listed = ["5f3b0b3e-1c2d-4e5f-9a8b-000000000003"];
            let entity = format!("5f3b0b3e-1c2d-4e5f-9a8b-{:012x}", n % 17);
            crate::crm_json(
                n,
                start + chrono::Duration::seconds(i64::from(n)),
                "x@contoso.com",
                &entity,
                &listed,
            )
        })
        .collect();
    for chunk in raws.chunks(10) {
        archive.ingest(batch(chunk)).await.expect("ingest");
    }
    let after = ids(archive.search(&timeline, &all).await.expect("search"));
    let expected: Vec<String> = before.iter().cloned().chain((101..=160).map(record_id)).collect();
    assert_eq!(after, expected);
    assert_eq!(archive.count(&field(97)).await.expect("count"), 1);
    assert_eq!(archive.count(&field(150)).await.expect("count"), 1);
    let runs = rows_in(&path, "index_runs");
    assert!(runs >= 2, "new merges add runs after run 0 ({runs})");
    assert_eq!(crate::counted_records(&path), (160, 160));
    assert!(archive.verify().await.expect("verify").is_intact());
}

/// Merges append record keys as runs; four runs of one size tier are compacted into one. Every
/// key is still found (a record sent again is a duplicate; a lookup by id finds it), and every
/// run has a filter.
#[tokio::test]
async fn record_key_runs_are_compacted_and_still_find_every_record() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    let archive =
        SqliteArchive::open_with(&path, crate::clock(), merging_every(10)).expect("opens");
    // A merge after every batch of 10: runs of 10 keys (tier 0, under 40), four of them become
    // one of 40 (tier 1), four of those one of 160 (tier 2).
    let raws = fill(&archive, 200, 10).await;
    // Sent again: all duplicates, found in the runs. The writer merges after it answers, so
    // this also waits for the last merge.
    let again = archive.ingest(batch(&raws)).await.expect("ingest");
    assert_eq!((again.inserted, again.duplicates, again.variants), (0, 200, 0));
    let runs: Vec<i64> = Connection::open(&path)
        .expect("open")
        .prepare("SELECT keys FROM key_runs WHERE filter IS NOT NULL ORDER BY run")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("runs");
    assert_eq!(runs, vec![160, 40]);
    assert_eq!(rows_in(&path, "record_keys"), 200);
    assert_eq!(rows_in(&path, "record_keys_staged"), 0);
    for n in [1, 77, 160, 161, 200] {
        let stored = archive.record(&record_id(n)).await.expect("record").expect("found");
        assert_eq!(stored.raw, raws[n as usize - 1]);
    }
    assert!(archive.record(&record_id(201)).await.expect("record").is_none());
    assert!(archive.verify().await.expect("verify").is_intact());
    archive.close().await.expect("close");
    drop(archive);

    // Reopened, the writer reads the runs and their filters back.
    let archive =
        SqliteArchive::open_with(&path, crate::clock(), merging_every(10)).expect("opens");
    let again = archive.ingest(batch(&raws[..50])).await.expect("ingest");
    assert_eq!((again.inserted, again.duplicates), (0, 50));
    assert_eq!(archive.count(&RecordQuery::default()).await.expect("count"), 200);
}

/// An archive of schema version 4 (record keys in one table) keeps finding its records after
/// the upgrade: its keys become run 0, with a filter built at the upgrade.
#[tokio::test]
async fn a_version_four_archive_keeps_its_record_keys() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    let archive =
        SqliteArchive::open_with(&path, crate::clock(), merging_every(25)).expect("opens");
    let raws = fill(&archive, 100, 10).await;
    archive.close().await.expect("close");
    drop(archive);
    crate::downgrade_to_v4(&path);
    assert_eq!(rows_in(&path, "record_keys"), 90);

    let archive =
        SqliteArchive::open_with(&path, crate::clock(), merging_every(25)).expect("opens");
    let runs: Vec<(i64, i64, bool)> = Connection::open(&path)
        .expect("open")
        .prepare("SELECT run, keys, filter IS NOT NULL FROM key_runs")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
        .expect("runs");
    assert_eq!(runs, vec![(0, 90, true)], "the version 4 keys are run 0, with a filter");
    let again = archive.ingest(batch(&raws)).await.expect("ingest");
    assert_eq!((again.inserted, again.duplicates), (0, 100));
    let stored = archive.record(&record_id(42)).await.expect("record").expect("found");
    assert_eq!(stored.raw, raws[41]);
    assert!(archive.verify().await.expect("verify").is_intact());
}

/// Past 120 runs a query reads all runs as one level (SQLite limits the terms of a compound
/// SELECT): answers stay the same, in order, page after page.
#[tokio::test]
async fn many_runs_are_read_as_one_level() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    let archive = SqliteArchive::open_with(&path, crate::clock(), merging_every(5)).expect("opens");
    fill(&archive, 700, 5).await;
    let runs = rows_in(&path, "index_runs");
    assert!(runs > 120, "{runs} runs");
    let listed = uuid::Uuid::parse_str(ROW_3).expect("guid");
    let q = RecordQuery { record_id: Some(listed), ..RecordQuery::default() };
    let expected = row_3_timeline(700);
    assert_eq!(all_pages(&archive, &q, 50, archive::Order::OldestFirst).await, expected);
    assert_eq!(archive.count(&q).await.expect("count"), expected.len() as u64);
    let field = RecordQuery {
        field: Some(archive::query::FieldFilter {
            name: "name".into(),
            value: Some("Account 333".into()),
        }),
        ..RecordQuery::default()
    };
    assert_eq!(archive.count(&field).await.expect("count"), 1);
}

/// Aggregations over whole UTC days read the counts the writer keeps per day; any other period,
/// or a filter those counts are not keyed by, reads the records. Shown by doubling the counts
/// behind the archive's back: only the answers that come from them double.
#[tokio::test]
async fn whole_day_reports_read_the_daily_counts() {
    use archive::Dimension;
    use chrono::{TimeZone, Utc};
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    let archive = crate::open(&path);
    fill(&archive, 100, 10).await;
    let day = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 6, d, h, 0, 0).single();
    let whole_day = RecordQuery { from: day(1, 0), to: day(2, 0), ..RecordQuery::default() };
    let from_one = RecordQuery {
        from: day(1, 0).map(|t| t + chrono::Duration::seconds(1)),
        ..whole_day.clone()
    };
    let by_field = RecordQuery {
        field: Some(archive::query::FieldFilter { name: "name".into(), value: None }),
        ..whole_day.clone()
    };
    let total = |q: RecordQuery, by: Dimension| {
        let archive = archive.clone();
        async move {
            archive
                .aggregate(&q, by, 100)
                .await
                .expect("aggregate")
                .iter()
                .map(|b| b.count)
                .sum::<u64>()
        }
    };
    for by in [Dimension::Day, Dimension::HourOfDay, Dimension::User, Dimension::Access] {
        assert_eq!(total(whole_day.clone(), by).await, 100, "{by:?}");
    }
    Connection::open(&path)
        .expect("open")
        .execute_batch(
            "UPDATE daily_counts SET records = records * 2; \
             UPDATE hourly_counts SET records = records * 2;",
        )
        .expect("double the counts");
    for by in [Dimension::Day, Dimension::HourOfDay, Dimension::User, Dimension::Access] {
        assert_eq!(total(whole_day.clone(), by).await, 200, "{by:?} over whole days");
        assert_eq!(total(RecordQuery::default(), by).await, 200, "{by:?} over everything");
        assert_eq!(total(from_one.clone(), by).await, 100, "{by:?} from 00:00:01");
        assert_eq!(total(by_field.clone(), by).await, 100, "{by:?} with a field filter");
    }
    // Hours are counted per organization only: a user filter reads the records.
    let one_user = RecordQuery { users: vec!["user1@contoso.com".into()], ..whole_day };
    let hours = total(one_user.clone(), Dimension::HourOfDay).await;
    let days = total(one_user, Dimension::Day).await;
    assert_eq!(days, hours * 2, "users per day come from the counts, hours from the records");
}

/// Batches larger than one pre-check statement (256 keys) whose records are partly in the main
/// key table, partly staged, partly repeated inside the batch, and partly new.
#[tokio::test]
async fn large_batches_find_merged_staged_and_repeated_records() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    let archive =
        SqliteArchive::open_with(&path, crate::clock(), merging_every(500)).expect("open");
    let start = chrono::DateTime::UNIX_EPOCH;
    let raw = |n: u32| crate::crm_json(n, start, "a@contoso.com", &record_id(n % 13), &[]);
    let first: Vec<Vec<u8>> = (1..=600).map(raw).collect();
    let receipt = archive.ingest(batch(&first)).await.expect("ingest");
    assert_eq!(receipt.inserted, 600);
    // The writer merges after answering, before it takes the next batch.
    let staged: Vec<Vec<u8>> = (601..=700).map(raw).collect();
    archive.ingest(batch(&staged)).await.expect("ingest");
    assert_eq!(rows_in(&path, "record_keys"), 600, "the first 600 keys were merged");
    assert_eq!(rows_in(&path, "record_keys_staged"), 100, "the next 100 are staged");
    // 1..=700 again (merged and staged), 701..=800 new, and 750..=760 twice in the batch.
    let mut mixed: Vec<Vec<u8>> = (1..=800).map(raw).collect();
    mixed.extend((750..=760).map(raw));
    let receipt = archive.ingest(batch(&mixed)).await.expect("ingest");
    assert_eq!((receipt.inserted, receipt.duplicates, receipt.variants), (100, 711, 0));
    assert_eq!(archive.count(&RecordQuery::default()).await.expect("count"), 800);
    assert!(archive.verify().await.expect("verify").is_intact());
}
