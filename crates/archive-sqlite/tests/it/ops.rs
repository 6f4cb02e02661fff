//! The blob queue, the access store and the SQL console on real SQLite files: the shared
//! operations suite, and what only SQLite can get wrong: two writers on one file, a crash after
//! a claim, many settles sharing the hash chain, the console's guards, the migration of an
//! archive written before the queue existed.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use archive::{
    AccessStore, AnnouncedBlob, Archive, ArchiveError, BlobLease, BlobQueue, BlobState, Discovery,
    IngestBatch, NewAccount, Quarantined, RecordQuery, Role, Settlement, SqlConsole, SqlLimits,
};
use archive_sqlite::SqliteArchive;
use chrono::{DateTime, Duration, TimeZone, Utc};
use rusqlite::Connection;
use serde_json::json;
use uuid::Uuid;

use crate::{batch, crm_json, open};

const TENANT: &str = "41463f53-8812-40f4-890f-865bf6e35190";

/// Noon, June 10th 2026 (UTC), plus `minutes`: the test clock's time.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 10, 12, 0, 0).single().unwrap_or_default()
        + Duration::minutes(minutes)
}

fn lease() -> Duration {
    Duration::minutes(5)
}

/// Blob `n`, created `n` seconds after 08:00.
fn blob(n: u32) -> AnnouncedBlob {
    let created = at(-240) + Duration::seconds(i64::from(n));
    AnnouncedBlob {
        tenant_id: Uuid::parse_str(TENANT).unwrap_or_default(),
        content_type: "Audit.General".into(),
        content_id: format!("20260610080000{n:06}$20260610080000{n:06}$audit_general$emea0023"),
        content_uri: format!("https://manage.office.com/api/v1.0/{TENANT}/activity/feed/{n}"),
        content_created: created,
        content_expiration: created + Duration::days(7),
        source: Discovery::Poll { window_start: at(-300) },
    }
}

/// Records `first..first + count` as a batch (their `Id`s follow the numbers).
fn records(first: u32, count: u32) -> IngestBatch {
    let raws: Vec<Vec<u8>> = (first..first + count)
        .map(|n| {
            let time = at(-600) + Duration::seconds(i64::from(n));
            let entity = format!("5f3b0b3e-1c2d-4e5f-9a8b-{:012x}", n % 13);
            crm_json(n, time, &format!("user{}@contoso.com", n % 5), &entity, &[])
        })
        .collect();
    batch(&raws)
}

fn done(batch: IngestBatch) -> Settlement {
    Settlement::Done { batch, out_of_scope: 0 }
}

fn with_cursor(mut batch: IngestBatch, name: &str, value: &str) -> IngestBatch {
    batch.cursors.push((name.into(), value.into()));
    batch
}

async fn count(archive: &SqliteArchive) -> u64 {
    archive.count(&RecordQuery::default()).await.expect("count")
}

async fn claim(archive: &SqliteArchive, limit: u32, now: DateTime<Utc>) -> Vec<BlobLease> {
    archive.claim(limit, now, lease()).await.expect("claim")
}

fn folder_and_path() -> (tempfile::TempDir, std::path::PathBuf) {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("archive.sqlite");
    (folder, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_operations_suite() {
    let folders: Arc<Mutex<Vec<tempfile::TempDir>>> = Arc::default();
    archive::suite_ops::run_all(|| {
        let folders = folders.clone();
        async move {
            let (folder, path) = folder_and_path();
            folders.lock().expect("not poisoned").push(folder);
            SqliteArchive::open(path, super::clock()).expect("archive opens")
        }
    })
    .await;
}

/// Two handles are two writer threads with their own connections, as two collector processes
/// on one file would be: their claims exclude each other through SQLite's write lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_file_never_share_a_blob() {
    let (_folder, path) = folder_and_path();
    let (first, second) = (open(&path), open(&path));
    let new = first.announce((1..=120).map(blob).collect(), Vec::new()).await.expect("announce");
    assert_eq!(new, 120);
    let claimers: Vec<_> = (0..6)
        .map(|i| {
            let archive = if i % 2 == 0 { first.clone() } else { second.clone() };
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let leases = claim(&archive, 3, at(0)).await;
                    if leases.is_empty() {
                        return got;
                    }
                    got.extend(leases.into_iter().map(|l| l.blob.content_id));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for claimer in claimers {
        for content_id in claimer.await.expect("claimer") {
            assert!(seen.insert(content_id.clone()), "{content_id} was handed out twice");
        }
    }
    assert_eq!(seen.len(), 120, "every blob was handed out");
    let status = second.queue_status().await.expect("status");
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].counts, vec![("leased".to_string(), 120)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settle_after_the_lease_was_lost_changes_nothing() {
    let (_folder, path) = folder_and_path();
    let (slow, fast) = (open(&path), open(&path));
    slow.announce(vec![blob(1)], Vec::new()).await.expect("announce");
    let lost = claim(&slow, 1, at(0)).await.remove(0);
    assert!(claim(&fast, 1, at(4)).await.is_empty(), "the first lease still runs");
    let taken = claim(&fast, 1, at(5)).await.remove(0);
    assert_eq!((taken.blob.clone(), taken.attempts), (lost.blob.clone(), 0));
    assert_ne!(taken.lease_token, lost.lease_token);

    let late = with_cursor(records(1, 20), "window", "late");
    assert_eq!(slow.settle(&lost, done(late), at(6)).await.expect("settle"), None);
    let retry = Settlement::Retry { error: "late".into(), next_attempt: at(7) };
    assert_eq!(slow.settle(&lost, retry, at(6)).await.expect("settle"), None);
    let gap = Settlement::Gap {
        state: BlobState::Quarantined,
        error: "late".into(),
        batch: IngestBatch {
            quarantined: vec![Quarantined {
                source: "late".into(),
                reason: "late".into(),
                raw: b"late".to_vec(),
            }],
            ..IngestBatch::default()
        },
    };
    assert_eq!(slow.settle(&lost, gap, at(6)).await.expect("settle"), None);
    let summary = fast.summary().await.expect("summary");
    assert_eq!((summary.records, summary.batches, summary.quarantined), (0, 0, 0));
    assert_eq!(fast.cursor("window").await.expect("cursor"), None);
    let status = fast.queue_status().await.expect("status");
    assert_eq!(
        (status[0].counts.clone(), status[0].last_error.clone()),
        (vec![("leased".into(), 1)], None)
    );

    let live = with_cursor(records(1, 20), "window", "live");
    let receipt = fast.settle(&taken, done(live), at(7)).await.expect("settle");
    assert_eq!(receipt.map(|r| (r.inserted, r.sealed_batch)), Some((20, Some(1))));
    assert_eq!(slow.settle(&lost, done(records(21, 5)), at(8)).await.expect("settle"), None);
    assert_eq!(count(&slow).await, 20);
    assert_eq!(slow.cursor("window").await.expect("cursor").as_deref(), Some("live"));
    assert!(slow.verify().await.expect("verify").is_intact());
}

/// A worker that dies holding leases (no settle, no close, no checkpoint) leaves its blobs
/// leased until the leases run out; then they are claimed again and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_claim_leaves_the_blob_claimable_after_the_lease() {
    let (_folder, path) = folder_and_path();
    let crashed = open(&path);
    crashed.announce(vec![blob(1), blob(2)], Vec::new()).await.expect("announce");
    let orphaned = claim(&crashed, 2, at(0)).await;
    assert_eq!(orphaned.len(), 2);
    // The handle vanishes without closing: its writer thread and connections stay as they were,
    // like those of a process that was killed.
    std::mem::forget(crashed);

    let restarted = open(&path);
    assert!(claim(&restarted, 10, at(4)).await.is_empty(), "the leases outlive the crash");
    let again = claim(&restarted, 10, at(5)).await;
    let ids =
        |leases: &[BlobLease]| leases.iter().map(|l| l.blob.content_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&orphaned));
    assert!(again.iter().all(|l| l.attempts == 0), "a lost lease is not an attempt");
    assert_eq!(
        restarted.settle(&orphaned[0], done(records(1, 3)), at(6)).await.expect("settle"),
        None
    );
    for (i, lease) in again.iter().enumerate() {
        let batch = records(10 * i as u32 + 1, 3);
        let receipt = restarted.settle(lease, done(batch), at(6)).await.expect("settle");
        assert_eq!(receipt.map(|r| r.inserted), Some(3));
    }
    assert_eq!(count(&restarted).await, 6);
    let status = restarted.queue_status().await.expect("status");
    assert_eq!((status[0].counts.clone(), status[0].records), (vec![("done".into(), 2)], 6));
}

/// Settles blobs claimed at `now` until none is due: retries blobs numbered 0 mod 10 the first
/// time, quarantines those numbered 7 mod 10, stores 25 records for the others (5 of them also
/// in the next blob's). Returns the numbers of the blobs it stored records for.
async fn work(archive: SqliteArchive, now: DateTime<Utc>) -> Vec<u32> {
    let mut stored = Vec::new();
    loop {
        let leases = archive.claim(2, now, Duration::hours(1)).await.expect("claim");
        if leases.is_empty() {
            return stored;
        }
        for lease in leases {
            let n: u32 =
                lease.blob.content_uri.rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            let settlement = match (n % 10, lease.attempts) {
                (0, 0) => Settlement::Retry {
                    error: "HTTP 503".into(),
                    next_attempt: now + Duration::minutes(10),
                },
                (7, _) => Settlement::Gap {
                    state: BlobState::Quarantined,
                    error: "not JSON".into(),
                    batch: IngestBatch {
                        quarantined: vec![Quarantined {
                            source: lease.blob.content_uri.clone(),
                            reason: "not JSON".into(),
                            raw: vec![b'<'; n as usize],
                        }],
                        ..IngestBatch::default()
                    },
                },
                _ => {
                    stored.push(n);
                    done(records(n * 20, 25))
                }
            };
            let receipt = archive.settle(&lease, settlement, now).await.expect("settle");
            assert!(receipt.is_some(), "the holder settles blob {n}");
        }
    }
}

/// Many workers settle at once (their settles share transactions in the writer): every record
/// is stored once, every seal links, and the queue's counts match the records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_verifies_after_many_settles() {
    let (_folder, path) = folder_and_path();
    let archive = open(&path);
    archive.announce((1..=60).map(blob).collect(), Vec::new()).await.expect("announce");
    let mut expected = HashSet::new();
    let mut settled = 0;
    // The retried blobs are due ten minutes later.
    for now in [at(0), at(10)] {
        let workers: Vec<_> = (0..6).map(|_| tokio::spawn(work(archive.clone(), now))).collect();
        for worker in workers {
            for n in worker.await.expect("worker") {
                settled += 1;
                expected.extend(n * 20..n * 20 + 25);
            }
        }
    }
    assert_eq!(settled, 54, "every blob but the quarantined ones is done");
    assert_eq!(count(&archive).await, expected.len() as u64);
    let report = archive.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, expected.len() as u64);
    assert_eq!(report.batches, 54, "one seal per settle that stored records");
    let status = archive.queue_status().await.expect("status");
    assert_eq!(status[0].counts, vec![("done".into(), 54), ("quarantined".into(), 6)]);
    assert_eq!(status[0].records, expected.len() as u64);
    assert_eq!(status[0].oldest_waiting, None);
    assert_eq!(status[0].last_error.as_deref(), Some("not JSON"));
    assert_eq!(archive.quarantined(100).await.expect("quarantine").len(), 6);
    archive.close().await.expect("close");
    let reopened = open(&path);
    assert!(reopened.verify().await.expect("verify").is_intact());
}

#[tokio::test]
async fn a_read_only_handle_shows_the_queue_but_changes_nothing() {
    let (_folder, path) = folder_and_path();
    let archive = open(&path);
    archive.announce(vec![blob(1)], Vec::new()).await.expect("announce");
    let reader = SqliteArchive::open_read_only(&path).expect("read-only handle");
    for refused in [
        reader.announce(vec![blob(2)], Vec::new()).await.map(drop),
        reader.claim(1, at(0), lease()).await.map(drop),
        reader
            .log_access(archive::AccessEntry {
                at: at(0),
                username: "alice".into(),
                action: "search".into(),
                detail: String::new(),
                rows: None,
                client_ip: None,
                channel: "ui".into(),
            })
            .await,
    ] {
        let message = refused.expect_err("a read-only handle refuses").to_string();
        assert!(message.contains("read-only"), "{message}");
    }
    let status = reader.queue_status().await.expect("status");
    assert_eq!(status[0].counts, vec![("pending".into(), 1)]);
    let rows = reader.run_sql("SELECT count(*) FROM blobs", limits(10, 5000)).await.expect("sql");
    assert_eq!(rows.rows, vec![vec![json!(1)]]);
}

/// An archive written before the queue and the access store existed (schema version 1) gains
/// them when it is opened, and keeps its records and seals.
#[tokio::test]
async fn a_version_one_archive_is_migrated() {
    let (_folder, path) = folder_and_path();
    let archive = open(&path);
    archive.ingest(records(1, 10)).await.expect("ingest");
    archive.close().await.expect("close");
    drop(archive);
    crate::downgrade_to_v3(&path);
    {
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "DROP TABLE blobs; DROP TABLE blob_counts; DROP TABLE accounts; DROP TABLE sessions; \
             DROP TABLE api_tokens; DROP TABLE access_log; DROP TABLE changes; \
             DROP TABLE change_fields; ALTER TABLE totals DROP COLUMN changes; \
             PRAGMA user_version = 1;",
        )
        .expect("back to version 1");
    }
    match SqliteArchive::open_read_only(&path) {
        Err(ArchiveError::Incompatible { message }) => {
            assert!(message.contains("upgrade"), "{message}")
        }
        other => panic!("a version 1 archive opened read-only: {other:?}"),
    }
    let archive = open(&path);
    assert_eq!(count(&archive).await, 10);
    assert!(archive.verify().await.expect("verify").is_intact());
    assert_eq!(archive.announce(vec![blob(1)], Vec::new()).await.expect("announce"), 1);
    let account = NewAccount {
        username: "alice".into(),
        display_name: "Alice".into(),
        role: Role::Admin,
        password_hash: "$argon2id$v=19$x".into(),
    };
    archive.create_account(account, at(0)).await.expect("an account");
    let conn = Connection::open(&path).expect("open");
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
    assert_eq!(version, 5);
}

// ---------------------------------------------------------------------------------------------
// The SQL console.

fn limits(max_rows: u32, millis: u64) -> SqlLimits {
    SqlLimits { max_rows, timeout: std::time::Duration::from_millis(millis) }
}

/// An archive with records, a blob, a session-holding account and an access log entry.
async fn filled(path: &std::path::Path) -> SqliteArchive {
    let archive = open(path);
    archive.ingest(records(1, 30)).await.expect("ingest");
    archive.announce(vec![blob(1)], vec![("window".into(), "a".into())]).await.expect("announce");
    let account = NewAccount {
        username: "alice".into(),
        display_name: "Alice".into(),
        role: Role::Admin,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$secret".into(),
    };
    archive.create_account(account, at(0)).await.expect("an account");
    archive
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_refuses_writes_and_secrets_with_a_clear_message() {
    let (folder, path) = folder_and_path();
    let archive = filled(&path).await;
    let copy = folder.path().join("copy.sqlite");
    let other = folder.path().join("other.sqlite");
    let cases = [
        (
            "INSERT INTO cursors (name, value, updated_at) VALUES ('x', 'y', 1)",
            "INSERT INTO cursors",
        ),
        ("UPDATE blobs SET state = 'done'", "UPDATE blobs"),
        ("DELETE FROM activity WHERE seq > 0", "DELETE FROM activity"),
        ("DROP TABLE seals", "dropping tables"),
        ("ALTER TABLE raw RENAME TO evidence", "ALTER TABLE raw"),
        ("CREATE TEMP TABLE scratch (x)", "creating"),
        ("CREATE INDEX evil ON activity (time)", "creating"),
        (&format!("ATTACH DATABASE '{}' AS other", other.display()), "ATTACH"),
        ("PRAGMA writable_schema = 1", "PRAGMA writable_schema = 1 is refused"),
        ("PRAGMA journal_mode = DELETE", "journal_mode"),
        ("PRAGMA query_only = 0", "query_only"),
        ("PRAGMA database_list", "not available"),
        (&format!("VACUUM INTO '{}'", copy.display()), "only reads"),
        ("VACUUM", "only reads"),
        ("REINDEX", "only reads"),
        ("ANALYZE", "only reads"),
        ("BEGIN IMMEDIATE", "transactions"),
        ("SAVEPOINT s", "transactions"),
        ("SELECT load_extension('/tmp/libevil.so')", "load_extension"),
        ("SELECT username, password_hash FROM accounts", "accounts"),
        ("SELECT count(*) FROM sessions", "sessions"),
        ("SELECT * FROM api_tokens", "api_tokens"),
        ("SELECT * FROM access_log", "access_log"),
        ("WITH a AS (SELECT * FROM accounts) SELECT count(*) FROM a", "accounts"),
        ("SELECT 1; DELETE FROM activity", "DELETE FROM activity"),
        ("SELECT 1; SELECT 2", "one statement"),
        ("SELECT ?1", "parameters"),
        ("  ;  ", "empty"),
        ("; ;", "returns nothing"),
        ("-- only a comment", "returns nothing"),
        ("SELECT length(zeroblob(100000000))", "too big"),
        ("SELEC 1", "syntax error"),
        ("SELECT * FROM no_such_table", "no such table"),
    ];
    for (statement, expected) in cases {
        match archive.run_sql(statement, limits(100, 5000)).await {
            Ok(result) => panic!("`{statement}` ran: {result:?}"),
            Err(error) => {
                let message = error.to_string();
                assert!(matches!(error, ArchiveError::InvalidQuery(_)), "`{statement}`: {error:?}");
                assert!(message.contains(expected), "`{statement}` answered: {message}");
            }
        }
    }
    assert!(!copy.exists(), "VACUUM INTO wrote a copy");
    assert!(!other.exists(), "ATTACH created a file");
    assert_eq!(count(&archive).await, 30);
    assert!(archive.verify().await.expect("verify").is_intact());
    let status = archive.queue_status().await.expect("status");
    assert_eq!(status[0].counts, vec![("pending".into(), 1)]);
    assert!(archive.account_by_username("alice").await.expect("account").is_some());

    // What only describes the schema, or only reads, runs.
    let info =
        archive.run_sql("PRAGMA table_info(blobs)", limits(100, 5000)).await.expect("pragma");
    assert!(info.rows.iter().any(|row| row.get(1) == Some(&json!("lease_token"))), "{info:?}");
    let columns = archive
        .run_sql("SELECT name FROM pragma_table_info('seals') ORDER BY cid", limits(100, 5000))
        .await
        .expect("pragma function");
    assert_eq!(columns.rows.first(), Some(&vec![json!("seq")]));
    let plan = archive
        .run_sql("EXPLAIN QUERY PLAN SELECT * FROM activity WHERE time > 0", limits(100, 5000))
        .await
        .expect("a query plan");
    assert!(!plan.rows.is_empty());
    let schema = archive.sql_schema().await.expect("schema");
    let tables: HashSet<&str> = schema.iter().map(|(t, _)| t.as_str()).collect();
    for visible in ["activity", "raw", "seals", "blobs", "blob_counts", "cursors"] {
        assert!(tables.contains(visible), "{visible} is listed: {tables:?}");
    }
    for hidden in ["accounts", "sessions", "api_tokens", "access_log"] {
        assert!(!tables.contains(hidden), "{hidden} is listed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_stops_a_long_recursive_query_at_the_time_limit() {
    let (_folder, path) = folder_and_path();
    let archive = filled(&path).await;
    let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
                   SELECT max(i) FROM n";
    let started = std::time::Instant::now();
    let error = archive.run_sql(endless, limits(10, 250)).await.expect_err("stopped");
    let took = started.elapsed();
    assert!(error.to_string().contains("longer than the console's limit of 250 ms"), "{error}");
    assert!(!error.is_transient());
    assert!(took >= std::time::Duration::from_millis(250), "stopped after {took:?}");
    assert!(took < std::time::Duration::from_secs(5), "stopped only after {took:?}");
    // A sort over a cross join (30^5 rows) is stopped as well.
    let heavy = "SELECT a.seq FROM activity a, activity b, activity c, activity d, activity e \
                 ORDER BY random() LIMIT 1";
    let error = archive.run_sql(heavy, limits(10, 200)).await.expect_err("stopped");
    assert!(error.to_string().contains("longer than"), "{error}");
    let after = archive.run_sql("SELECT count(*) FROM activity", limits(10, 5000)).await;
    assert_eq!(after.expect("the console still works").rows, vec![vec![json!(30)]]);
}

#[tokio::test]
async fn the_console_returns_json_cells_and_cuts_rows() {
    let (_folder, path) = folder_and_path();
    let archive = filled(&path).await;
    let cells = archive
        .run_sql(
            "SELECT x'00ff10' AS bytes, 9007199254740993 AS big, -1.5 AS real, 'é' AS text, \
             NULL AS empty",
            limits(10, 5000),
        )
        .await
        .expect("cells");
    assert_eq!(cells.columns, ["bytes", "big", "real", "text", "empty"]);
    assert_eq!(
        cells.rows,
        vec![vec![
            json!("00ff10"),
            json!(9_007_199_254_740_993_i64),
            json!(-1.5),
            json!("é"),
            json!(null)
        ]]
    );
    let hashes = archive
        .run_sql("SELECT hash FROM raw ORDER BY seq", limits(7, 5000))
        .await
        .expect("hashes");
    assert_eq!((hashes.rows.len(), hashes.truncated), (7, true));
    let first = hashes.rows[0][0].as_str().expect("hex");
    assert_eq!(first.len(), 64);
    assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
    let blobs = archive
        .run_sql("SELECT tenant_id, state, attempts FROM blobs", limits(10, 5000))
        .await
        .expect("blobs");
    assert_eq!(
        (blobs.rows, blobs.truncated),
        (vec![vec![json!(TENANT), json!("pending"), json!(0)]], false)
    );
}
