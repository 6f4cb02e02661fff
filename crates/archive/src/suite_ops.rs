//! The behaviour suite of what a backend stores besides records: the durable blob queue
//! ([`BlobQueue`]), accounts, sessions, API tokens and the access log ([`AccessStore`]), and the
//! read-only SQL console ([`SqlConsole`]). Every backend implementing them passes it, with the
//! same expectations as the record suite in [`crate::suite`].
//!
//! A backend's test calls [`run_all`] with a function that opens a fresh, empty archive:
//!
//! ```ignore
//! archive::suite_ops::run_all(|| async { open_a_fresh_archive().await }).await;
//! ```
//!
//! Conventions the suite fixes for every backend:
//! - a lease is live while `now < leased_until`: at `leased_until` the blob is claimable again;
//!   a pending blob is due at `next_attempt`;
//! - `attempts` counts settled attempts (done, retry, gap); a lease that runs out is not one;
//! - `QueueStatus::records` counts the records a blob stored for the first time
//!   ([`IngestReceipt::inserted`](crate::IngestReceipt)); a state with no blob may be left out
//!   of `counts`;
//! - a gap's `at` is the `now` of the settle that made it one; gaps are listed newest first;
//! - usernames compare without (at least ASCII) case; a session is live while
//!   `now < expires_at`, a token while not revoked and `now < expires_at` (or no expiry);
//! - the SQL console's refusals are not transient errors, and change nothing.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    AccessEntry, AccessStore, Account, AccountChange, AnnouncedBlob, ApiToken, Archive,
    ArchiveError, BlobLease, BlobQueue, BlobState, Discovery, IncomingRecord, IngestBatch,
    NewAccount, Quarantined, QueueStatus, RecordQuery, Role, Session, Settlement, SqlConsole,
    SqlLimits, SqlResult,
};

/// Runs every check, each on a fresh archive from `make`. Panics, naming the check, on the
/// first failure.
pub async fn run_all<B, F, Fut>(make: F)
where
    B: Archive + BlobQueue + AccessStore + SqlConsole,
    F: Fn() -> Fut,
    Fut: Future<Output = B>,
{
    announce_dedupes_blobs_and_writes_cursors(&make().await).await;
    a_known_blob_is_left_as_it_is(&make().await).await;
    claims_take_due_blobs_oldest_first(&make().await).await;
    concurrent_claimers_never_share_a_blob(&make().await).await;
    an_expired_lease_makes_the_blob_claimable_again(&make().await).await;
    a_stale_lease_settles_nothing(&make().await).await;
    done_stores_the_records_with_the_state(&make().await).await;
    retry_waits_for_the_next_attempt(&make().await).await;
    gaps_are_final_kept_and_listed_newest_first(&make().await).await;
    status_is_per_tenant_and_content_type(&make().await).await;
    accounts_round_trip_and_usernames_ignore_case(&make().await).await;
    sessions_expire_and_end(&make().await).await;
    api_tokens_are_used_revoked_and_expire(&make().await).await;
    access_log_pages_newest_first(&make().await).await;
    sql_console_refuses_every_write(&make().await).await;
    sql_console_limits_rows_and_time(&make().await).await;
    sql_console_cells_and_schema(&make().await).await;
}

fn start(check: &str) {
    eprintln!("archive operations suite: {check}");
}

// ---------------------------------------------------------------------------------------------
// Test data.

const TENANT_A: &str = "41463f53-8812-40f4-890f-865bf6e35190";
const TENANT_B: &str = "7d5e8c21-44b0-4f3e-9a61-2b8c0d9e1f37";
const GENERAL: &str = "Audit.General";
const DLP: &str = "DLP.All";

fn tenant(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap_or_default()
}

/// Noon, June 10th 2026 (UTC), plus `minutes`.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 10, 12, 0, 0).single().unwrap_or_default()
        + Duration::minutes(minutes)
}

fn lease_time() -> Duration {
    Duration::minutes(5)
}

/// Blob `n` of a tenant's content type, created `n` minutes after 08:00 on June 10th.
fn blob(tenant_id: &str, content_type: &str, n: u32) -> AnnouncedBlob {
    let created = at(-240 + i64::from(n));
    AnnouncedBlob {
        tenant_id: tenant(tenant_id),
        content_type: content_type.to_string(),
        content_id: format!(
            "20260610080000{n:06}$20260610080000{n:06}$audit_general$Audit_General$emea0023"
        ),
        content_uri: format!(
            "https://manage.office.com/api/v1.0/{tenant_id}/activity/feed/audit/{n:06}"
        ),
        content_created: created,
        content_expiration: created + Duration::days(7),
        source: if n.is_multiple_of(2) {
            Discovery::Poll { window_start: at(-300) }
        } else {
            Discovery::Webhook
        },
    }
}

/// A Dynamics 365 activity record numbered `n` of tenant A.
fn record_json(n: u32) -> Vec<u8> {
    let time = at(-600) + Duration::seconds(i64::from(n) * 13);
    let pairs: Vec<(&str, Value)> = vec![
        ("CreationTime", json!(time.format("%Y-%m-%dT%H:%M:%S").to_string())),
        ("Id", json!(format!("{n:08x}-0b1e-4c2b-9a8f-{:012x}", u64::from(n) * 104_729))),
        ("Operation", json!("CrmDefaultActivity")),
        ("OrganizationId", json!(TENANT_A)),
        ("RecordType", json!(21)),
        ("ResultStatus", json!("Success")),
        ("UserKey", json!("10037FFE91510806")),
        ("UserType", json!(0)),
        ("Version", json!(1)),
        ("Workload", json!("CRM")),
        ("ClientIP", json!("203.0.113.24")),
        ("UserId", json!(format!("user{}@contoso.com", n % 5))),
        ("CrmOrganizationUniqueName", json!("org1a2b3c4d")),
        ("InstanceUrl", json!("https://contoso.crm4.dynamics.com/")),
        ("ItemType", json!("contact")),
        ("EntityId", json!(format!("7a9e3c2d-5b4f-4e1a-8c6d-{:012x}", n % 11))),
        ("EntityName", json!("contact")),
        ("Message", json!("Retrieve")),
        ("PrimaryFieldValue", json!(format!("Contact {n}"))),
        ("UserUpn", json!(format!("user{}@contoso.com", n % 5))),
    ];
    let body: Vec<String> =
        pairs.iter().map(|(k, v)| format!("{}:{}", Value::from(*k), v)).collect();
    format!("{{{}}}", body.join(",")).into_bytes()
}

/// Records `first..first + count` as an ingest batch, with `cursors`.
fn records(first: u32, count: u32, cursors: &[(&str, &str)]) -> IngestBatch {
    IngestBatch {
        records: (first..first + count)
            .map(|n| {
                let raw = record_json(n);
                let record = match record::parse_record(&raw) {
                    Ok(record) => record,
                    Err(e) => panic!("the suite's record {n} parses: {e:?}"),
                };
                IncomingRecord { raw, record }
            })
            .collect(),
        cursors: cursors.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..IngestBatch::default()
    }
}

fn done(batch: IngestBatch) -> Settlement {
    Settlement::Done { batch, out_of_scope: 0 }
}

fn ok<T>(result: Result<T, ArchiveError>, doing: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{doing} failed: {error}"),
    }
}

async fn announce<B: BlobQueue>(archive: &B, blobs: Vec<AnnouncedBlob>) -> u64 {
    ok(archive.announce(blobs, Vec::new()).await, "announcing blobs")
}

async fn claim<B: BlobQueue>(archive: &B, limit: u32, now: DateTime<Utc>) -> Vec<BlobLease> {
    ok(archive.claim(limit, now, lease_time()).await, "claiming blobs")
}

async fn settle<B: BlobQueue>(
    archive: &B,
    lease: &BlobLease,
    settlement: Settlement,
    now: DateTime<Utc>,
) -> Option<crate::IngestReceipt> {
    ok(archive.settle(lease, settlement, now).await, "settling a blob")
}

fn ids(leases: &[BlobLease]) -> Vec<String> {
    leases.iter().map(|l| l.blob.content_id.clone()).collect()
}

async fn status_of<B: BlobQueue>(archive: &B, tenant_id: &str, content_type: &str) -> QueueStatus {
    let all = ok(archive.queue_status().await, "reading the queue status");
    all.into_iter()
        .find(|s| s.tenant_id == tenant(tenant_id) && s.content_type == content_type)
        .unwrap_or_else(|| panic!("the status has no entry for {tenant_id} {content_type}"))
}

fn count_in(status: &QueueStatus, state: BlobState) -> u64 {
    status.counts.iter().filter(|(name, _)| name == state.as_str()).map(|(_, n)| *n).sum()
}

async fn records_stored<A: Archive>(archive: &A) -> u64 {
    ok(archive.count(&RecordQuery::default()).await, "counting records")
}

// ---------------------------------------------------------------------------------------------
// The blob queue.

async fn announce_dedupes_blobs_and_writes_cursors<B: Archive + BlobQueue>(archive: &B) {
    start("announce adds unknown blobs once and writes cursors with them");
    let cursor = "poll:41463f53:Audit.General";
    let first =
        vec![blob(TENANT_A, GENERAL, 1), blob(TENANT_A, GENERAL, 2), blob(TENANT_A, GENERAL, 3)];
    let new = ok(
        archive.announce(first, vec![(cursor.into(), "2026-06-10T08:00:00Z".into())]).await,
        "announcing",
    );
    assert_eq!(new, 3);
    assert_eq!(
        ok(archive.cursor(cursor).await, "reading a cursor").as_deref(),
        Some("2026-06-10T08:00:00Z")
    );
    // Two known (one announced twice in the call) and one new; the same content id under
    // another tenant is another blob.
    let again = vec![
        blob(TENANT_A, GENERAL, 2),
        blob(TENANT_A, GENERAL, 4),
        blob(TENANT_A, GENERAL, 4),
        blob(TENANT_A, GENERAL, 3),
        AnnouncedBlob { tenant_id: tenant(TENANT_B), ..blob(TENANT_A, GENERAL, 1) },
    ];
    let new = ok(
        archive.announce(again, vec![(cursor.into(), "2026-06-10T09:00:00Z".into())]).await,
        "announcing again",
    );
    assert_eq!(new, 2, "only blob 4 and tenant B's blob 1 are new");
    assert_eq!(
        ok(archive.cursor(cursor).await, "reading a cursor").as_deref(),
        Some("2026-06-10T09:00:00Z")
    );
    // Cursors alone (a window with no blob) are written too.
    let new = ok(
        archive.announce(Vec::new(), vec![(cursor.into(), "2026-06-10T10:00:00Z".into())]).await,
        "announcing only a cursor",
    );
    assert_eq!(new, 0);
    assert_eq!(
        ok(archive.cursor(cursor).await, "reading a cursor").as_deref(),
        Some("2026-06-10T10:00:00Z")
    );
    let leases = claim(archive, 100, at(0)).await;
    assert_eq!(leases.len(), 5, "{:?}", ids(&leases));
    let keys: HashSet<(Uuid, String)> =
        leases.iter().map(|l| (l.blob.tenant_id, l.blob.content_id.clone())).collect();
    assert_eq!(keys.len(), 5, "each blob once");
    // What was announced comes back as announced (the first announcement of a key wins).
    let two = leases.iter().find(|l| l.blob == blob(TENANT_A, GENERAL, 2));
    assert!(two.is_some(), "blob 2 round trips: {leases:?}");
    let three = leases.iter().find(|l| l.blob == blob(TENANT_A, GENERAL, 3));
    assert!(three.is_some_and(|l| l.blob.source == Discovery::Webhook));
}

async fn a_known_blob_is_left_as_it_is<B: Archive + BlobQueue>(archive: &B) {
    start("a blob announced again keeps its state");
    announce(archive, vec![blob(TENANT_A, GENERAL, 1), blob(TENANT_A, GENERAL, 2)]).await;
    let leases = claim(archive, 2, at(0)).await;
    assert_eq!(leases.len(), 2);
    settle(archive, &leases[0], done(records(1, 3, &[])), at(1)).await;
    // Blob 1 is done, blob 2 leased: announcing both again changes neither.
    assert_eq!(
        announce(archive, vec![blob(TENANT_A, GENERAL, 1), blob(TENANT_A, GENERAL, 2)]).await,
        0
    );
    let status = status_of(archive, TENANT_A, GENERAL).await;
    assert_eq!((count_in(&status, BlobState::Done), count_in(&status, BlobState::Leased)), (1, 1));
    assert_eq!(count_in(&status, BlobState::Pending), 0);
    assert!(claim(archive, 10, at(2)).await.is_empty(), "nothing is waiting");
    assert!(settle(archive, &leases[1], done(IngestBatch::default()), at(3)).await.is_some());
}

async fn claims_take_due_blobs_oldest_first<B: Archive + BlobQueue>(archive: &B) {
    start("claims take pending, due blobs oldest contentCreated first");
    // Announced out of order, over two tenants and two content types.
    let order = [7, 3, 9, 1, 5, 2, 8, 4, 6, 10];
    let blobs: Vec<AnnouncedBlob> = order
        .iter()
        .map(|n| match n % 3 {
            0 => blob(TENANT_B, GENERAL, *n),
            1 => blob(TENANT_A, GENERAL, *n),
            _ => blob(TENANT_A, DLP, *n),
        })
        .collect();
    let by_number =
        |n: u32| blobs[order.iter().position(|m| *m == n).unwrap_or(0)].content_id.clone();
    announce(archive, blobs.clone()).await;
    let first = claim(archive, 4, at(0)).await;
    assert_eq!(ids(&first), (1..=4).map(by_number).collect::<Vec<_>>());
    for lease in &first {
        assert_eq!(lease.attempts, 0);
        assert_eq!(lease.leased_until, at(0) + lease_time());
    }
    let tokens: HashSet<Uuid> = first.iter().map(|l| l.lease_token).collect();
    assert_eq!(tokens.len(), 4, "every lease has its own token");
    // Blob 5 fails and waits three minutes; the others keep their order around it.
    let second = claim(archive, 1, at(0)).await;
    assert_eq!(ids(&second), vec![by_number(5)]);
    let retry = Settlement::Retry { error: "HTTP 503".into(), next_attempt: at(3) };
    assert!(settle(archive, &second[0], retry, at(0)).await.is_some());
    let third = claim(archive, 3, at(1)).await;
    assert_eq!(ids(&third), (6..=8).map(by_number).collect::<Vec<_>>());
    // At 3 minutes every lease still runs, and blob 5 is due again: the oldest waiting.
    let fourth = claim(archive, 10, at(3)).await;
    assert_eq!(ids(&fourth), vec![by_number(5), by_number(9), by_number(10)]);
    assert!(claim(archive, 10, at(4)).await.is_empty(), "every blob is leased");
}

async fn concurrent_claimers_never_share_a_blob<B: Archive + BlobQueue>(archive: &B) {
    start("two claimers at once never get the same blob");
    announce(archive, (1..=30).map(|n| blob(TENANT_A, GENERAL, n)).collect()).await;
    let (a, b) = tokio::join!(
        archive.claim(10, at(0), lease_time()),
        archive.claim(10, at(0), lease_time())
    );
    let (a, b) = (ok(a, "claiming"), ok(b, "claiming"));
    assert!(!a.is_empty() || !b.is_empty());
    let mut seen: HashSet<String> = HashSet::new();
    for lease in a.iter().chain(&b) {
        assert!(
            seen.insert(lease.blob.content_id.clone()),
            "{} handed out twice",
            lease.blob.content_id
        );
    }
    // The rest, until nothing is left: every blob exactly once.
    loop {
        let more = claim(archive, 7, at(0)).await;
        if more.is_empty() {
            break;
        }
        for lease in more {
            assert!(
                seen.insert(lease.blob.content_id.clone()),
                "{} handed out twice",
                lease.blob.content_id
            );
        }
    }
    assert_eq!(seen.len(), 30);
}

async fn an_expired_lease_makes_the_blob_claimable_again<B: Archive + BlobQueue>(archive: &B) {
    start("a lease that runs out makes its blob claimable again");
    announce(archive, vec![blob(TENANT_A, GENERAL, 1)]).await;
    let first = claim(archive, 1, at(0)).await;
    assert_eq!(first.len(), 1);
    assert!(claim(archive, 1, at(4)).await.is_empty(), "the lease still runs");
    let second = claim(archive, 1, at(5)).await;
    assert_eq!(ids(&second), ids(&first), "claimable once the lease ran out");
    assert_ne!(second[0].lease_token, first[0].lease_token);
    assert_eq!(second[0].attempts, 0, "a lease that ran out is not an attempt");
    assert_eq!(second[0].leased_until, at(5) + lease_time());
    assert!(claim(archive, 1, at(6)).await.is_empty(), "the new lease runs");
}

async fn a_stale_lease_settles_nothing<B: Archive + BlobQueue>(archive: &B) {
    start("settling with a lease that ran out and was taken changes nothing");
    announce(archive, vec![blob(TENANT_A, GENERAL, 1)]).await;
    let stale = claim(archive, 1, at(0)).await.remove(0);
    let live = claim(archive, 1, at(6)).await.remove(0);
    let late = settle(archive, &stale, done(records(1, 5, &[("late", "1")])), at(7)).await;
    assert_eq!(late, None);
    assert_eq!(records_stored(archive).await, 0, "no record of the stale settle");
    assert_eq!(ok(archive.cursor("late").await, "reading a cursor"), None, "nor its cursor");
    let retry = Settlement::Retry { error: "stale".into(), next_attempt: at(8) };
    assert_eq!(settle(archive, &stale, retry, at(7)).await, None);
    let gap = Settlement::Gap {
        state: BlobState::Failed,
        error: "stale".into(),
        batch: IngestBatch::default(),
    };
    assert_eq!(settle(archive, &stale, gap, at(7)).await, None);
    let status = status_of(archive, TENANT_A, GENERAL).await;
    assert_eq!(count_in(&status, BlobState::Leased), 1);
    assert_eq!(status.last_error, None);
    // The holder settles; then its lease is spent too.
    let receipt = settle(archive, &live, done(records(1, 5, &[("live", "1")])), at(8)).await;
    assert_eq!(receipt.map(|r| r.inserted), Some(5));
    assert_eq!(ok(archive.cursor("live").await, "reading a cursor").as_deref(), Some("1"));
    assert_eq!(settle(archive, &live, done(records(6, 1, &[])), at(9)).await, None);
    assert_eq!(records_stored(archive).await, 5);
}

async fn done_stores_the_records_with_the_state<B: Archive + BlobQueue>(archive: &B) {
    start("done stores the records, cursors and state together, counted in the status");
    announce(archive, vec![blob(TENANT_A, GENERAL, 1), blob(TENANT_A, GENERAL, 2)]).await;
    let leases = claim(archive, 2, at(0)).await;
    let first = settle(archive, &leases[0], done(records(1, 10, &[("window", "a")])), at(1)).await;
    let first = first.unwrap_or_else(|| panic!("the holder settles"));
    assert_eq!((first.inserted, first.duplicates), (10, 0));
    assert!(first.sealed_batch.is_some());
    // The second blob repeats 4 of the first's records (Microsoft duplicates across blobs).
    let second = settle(archive, &leases[1], done(records(7, 8, &[("window", "b")])), at(2)).await;
    let second = second.unwrap_or_else(|| panic!("the holder settles"));
    assert_eq!((second.inserted, second.duplicates), (4, 4));
    assert_eq!(records_stored(archive).await, 14);
    assert_eq!(ok(archive.cursor("window").await, "reading a cursor").as_deref(), Some("b"));
    let status = status_of(archive, TENANT_A, GENERAL).await;
    assert_eq!(count_in(&status, BlobState::Done), 2);
    assert_eq!(status.records, 14, "records stored for the first time");
    assert_eq!(status.oldest_waiting, None);
    let report = ok(archive.verify().await, "verifying");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 14);
    // A blob with nothing in scope is done too.
    announce(archive, vec![blob(TENANT_A, GENERAL, 3)]).await;
    let empty = claim(archive, 1, at(3)).await.remove(0);
    let receipt = settle(
        archive,
        &empty,
        Settlement::Done { batch: IngestBatch::default(), out_of_scope: 12 },
        at(4),
    )
    .await;
    assert_eq!(receipt.map(|r| r.inserted), Some(0));
    assert_eq!(count_in(&status_of(archive, TENANT_A, GENERAL).await, BlobState::Done), 3);
}

async fn retry_waits_for_the_next_attempt<B: Archive + BlobQueue>(archive: &B) {
    start("retry counts the attempt and waits for next_attempt");
    announce(archive, vec![blob(TENANT_A, GENERAL, 1)]).await;
    let lease = claim(archive, 1, at(0)).await.remove(0);
    let retry =
        Settlement::Retry { error: "HTTP 503 from the blob URI".into(), next_attempt: at(10) };
    let receipt = settle(archive, &lease, retry, at(1)).await;
    assert_eq!(receipt.map(|r| r.inserted), Some(0));
    let status = status_of(archive, TENANT_A, GENERAL).await;
    assert_eq!(count_in(&status, BlobState::Pending), 1);
    assert_eq!(status.last_error.as_deref(), Some("HTTP 503 from the blob URI"));
    assert_eq!(status.oldest_waiting, Some(blob(TENANT_A, GENERAL, 1).content_created));
    assert!(claim(archive, 1, at(9)).await.is_empty(), "not due before next_attempt");
    let again = claim(archive, 1, at(10)).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    let retry = Settlement::Retry { error: "HTTP 500".into(), next_attempt: at(20) };
    settle(archive, &again[0], retry, at(11)).await;
    let third = claim(archive, 1, at(20)).await;
    assert_eq!(third.first().map(|l| l.attempts), Some(2));
    assert_eq!(status_of(archive, TENANT_A, GENERAL).await.last_error.as_deref(), Some("HTTP 500"));
    assert!(settle(archive, &third[0], done(records(1, 2, &[])), at(21)).await.is_some());
    assert_eq!(status_of(archive, TENANT_A, GENERAL).await.records, 2);
}

async fn gaps_are_final_kept_and_listed_newest_first<B: Archive + BlobQueue>(archive: &B) {
    start("gaps keep their bytes, are never claimed again and are listed newest first");
    announce(archive, (1..=4).map(|n| blob(TENANT_A, GENERAL, n)).collect()).await;
    let leases = claim(archive, 4, at(0)).await;
    let quarantined = Quarantined {
        source: leases[0].blob.content_uri.clone(),
        reason: "the blob is not a JSON array".into(),
        raw: b"<html>Service Unavailable</html>".to_vec(),
    };
    let gaps = [
        (
            BlobState::Quarantined,
            "does not parse",
            IngestBatch { quarantined: vec![quarantined.clone()], ..IngestBatch::default() },
        ),
        (BlobState::Expired, "expired before it was fetched", IngestBatch::default()),
        (BlobState::Failed, "gave up after 12 attempts", IngestBatch::default()),
    ];
    for (i, (state, error, batch)) in gaps.iter().enumerate() {
        let gap = Settlement::Gap { state: *state, error: (*error).into(), batch: batch.clone() };
        let receipt = settle(archive, &leases[i], gap, at(1 + i as i64)).await;
        assert!(receipt.is_some(), "{state:?}");
    }
    let listed = ok(archive.blob_gaps(10).await, "listing gaps");
    let states: Vec<BlobState> = listed.iter().map(|g| g.state).collect();
    assert_eq!(states, [BlobState::Failed, BlobState::Expired, BlobState::Quarantined]);
    let newest = &listed[0];
    assert_eq!(newest.content_id, leases[2].blob.content_id);
    assert_eq!((newest.tenant_id, newest.content_type.as_str()), (tenant(TENANT_A), GENERAL));
    assert_eq!(newest.content_created, leases[2].blob.content_created);
    assert_eq!(
        (newest.attempts, newest.error.as_str(), newest.at),
        (1, "gave up after 12 attempts", at(3))
    );
    assert_eq!(listed[2].error, "does not parse");
    assert_eq!(ok(archive.blob_gaps(2).await, "listing gaps").len(), 2);
    let kept = ok(archive.quarantined(10).await, "reading quarantine");
    assert_eq!(kept, vec![quarantined], "the blob's bytes are kept");
    // Gaps are final; the fourth blob is still leased.
    assert!(
        claim(archive, 10, at(1000))
            .await
            .iter()
            .all(|l| l.blob.content_id == leases[3].blob.content_id)
    );
    let status = status_of(archive, TENANT_A, GENERAL).await;
    for state in [BlobState::Quarantined, BlobState::Expired, BlobState::Failed] {
        assert_eq!(count_in(&status, state), 1, "{state:?}");
    }
    assert_eq!(status.last_error.as_deref(), Some("gave up after 12 attempts"));
}

async fn status_is_per_tenant_and_content_type<B: Archive + BlobQueue>(archive: &B) {
    start("the queue status is per tenant and content type");
    announce(
        archive,
        vec![
            blob(TENANT_A, GENERAL, 3),
            blob(TENANT_A, GENERAL, 1),
            blob(TENANT_A, DLP, 2),
            blob(TENANT_B, GENERAL, 4),
            blob(TENANT_B, GENERAL, 5),
        ],
    )
    .await;
    let oldest = claim(archive, 1, at(0)).await.remove(0);
    assert_eq!(oldest.blob, blob(TENANT_A, GENERAL, 1));
    settle(archive, &oldest, done(records(1, 6, &[])), at(1)).await;
    let all = ok(archive.queue_status().await, "reading the queue status");
    let keys: BTreeSet<(Uuid, String)> =
        all.iter().map(|s| (s.tenant_id, s.content_type.clone())).collect();
    assert_eq!(keys.len(), all.len(), "one entry per tenant and content type");
    assert_eq!(all.len(), 3);
    let a_general = status_of(archive, TENANT_A, GENERAL).await;
    assert_eq!(
        (count_in(&a_general, BlobState::Done), count_in(&a_general, BlobState::Pending)),
        (1, 1)
    );
    assert_eq!(a_general.records, 6);
    assert_eq!(a_general.oldest_waiting, Some(blob(TENANT_A, GENERAL, 3).content_created));
    let a_dlp = status_of(archive, TENANT_A, DLP).await;
    assert_eq!((count_in(&a_dlp, BlobState::Pending), a_dlp.records), (1, 0));
    let b_general = status_of(archive, TENANT_B, GENERAL).await;
    assert_eq!(count_in(&b_general, BlobState::Pending), 2);
    assert_eq!(b_general.oldest_waiting, Some(blob(TENANT_B, GENERAL, 4).content_created));
    assert_eq!(b_general.last_error, None);
}

// ---------------------------------------------------------------------------------------------
// Accounts, sessions, tokens, the access log.

fn new_account(username: &str, role: Role) -> NewAccount {
    NewAccount {
        username: username.into(),
        display_name: format!("{username} (display)"),
        role,
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ${username}"),
    }
}

async fn create<B: AccessStore>(archive: &B, username: &str, role: Role) -> Account {
    ok(archive.create_account(new_account(username, role), at(0)).await, "creating an account")
}

fn digest(n: u8) -> [u8; 32] {
    let mut bytes = [n; 32];
    bytes[0] = 0xd3;
    bytes[31] = n.wrapping_mul(7);
    bytes
}

async fn accounts_round_trip_and_usernames_ignore_case<B: AccessStore>(archive: &B) {
    start("accounts round trip; usernames are unique without case");
    let alice = create(archive, "Alice", Role::Admin).await;
    assert_eq!(
        (alice.username.as_str(), alice.role, alice.disabled, alice.created_at),
        ("Alice", Role::Admin, false, at(0))
    );
    assert_eq!(alice.display_name, "Alice (display)");
    match archive.create_account(new_account("ALICE", Role::Viewer), at(1)).await {
        Err(error) => {
            let text = error.to_string();
            assert!(text.contains("taken") && text.contains("ALICE"), "{text}");
            assert!(!error.is_transient());
        }
        Ok(account) => panic!("a second Alice was created: {account:?}"),
    }
    let bob = create(archive, "bob", Role::Viewer).await;
    assert_ne!(alice.id, bob.id);
    assert_eq!(ok(archive.account_by_username("aLiCe").await, "by name"), Some(alice.clone()));
    assert_eq!(ok(archive.account_by_id(bob.id).await, "by id"), Some(bob.clone()));
    assert_eq!(ok(archive.account_by_username("carol").await, "by name"), None);
    assert_eq!(ok(archive.account_by_id(alice.id.max(bob.id) + 100).await, "by id"), None);
    let mut listed = ok(archive.accounts().await, "listing accounts");
    listed.sort_by_key(|a| a.id);
    let mut expected = vec![alice.clone(), bob.clone()];
    expected.sort_by_key(|a| a.id);
    assert_eq!(listed, expected);
    let change = AccountChange {
        display_name: Some("Alice Smith".into()),
        role: Some(Role::Auditor),
        password_hash: None,
        disabled: Some(true),
    };
    ok(archive.change_account(alice.id, change).await, "changing an account");
    let changed = ok(archive.account_by_id(alice.id).await, "by id");
    let expected = Account {
        display_name: "Alice Smith".into(),
        role: Role::Auditor,
        disabled: true,
        ..alice.clone()
    };
    assert_eq!(changed, Some(expected));
    let password =
        AccountChange { password_hash: Some("$argon2id$new".into()), ..AccountChange::default() };
    ok(archive.change_account(alice.id, password).await, "changing a password");
    let changed = ok(archive.account_by_id(alice.id).await, "by id");
    assert_eq!(
        changed.as_ref().map(|a| (a.password_hash.as_str(), a.role, a.disabled)),
        Some(("$argon2id$new", Role::Auditor, true))
    );
    assert_eq!(ok(archive.account_by_id(bob.id).await, "by id"), Some(bob), "others untouched");
}

async fn sessions_expire_and_end<B: AccessStore>(archive: &B) {
    start("sessions are found by digest until they expire or end");
    let alice = create(archive, "alice", Role::Auditor).await;
    let bob = create(archive, "bob", Role::Viewer).await;
    let session = |n: u8, account: &Account| Session {
        digest: digest(n),
        account_id: account.id,
        csrf_digest: digest(n + 100),
        created_at: at(0),
        expires_at: at(60),
    };
    let (one, two, three) = (session(1, &alice), session(2, &alice), session(3, &bob));
    for s in [&one, &two, &three] {
        ok(archive.create_session(s.clone()).await, "starting a session");
    }
    assert_eq!(
        ok(archive.session(&digest(1), at(30)).await, "a session"),
        Some((one.clone(), alice.clone()))
    );
    assert_eq!(
        ok(archive.session(&digest(3), at(59)).await, "a session"),
        Some((three.clone(), bob.clone()))
    );
    assert_eq!(ok(archive.session(&digest(1), at(60)).await, "a session"), None, "expired");
    assert_eq!(ok(archive.session(&digest(9), at(1)).await, "a session"), None, "unknown");
    ok(archive.delete_session(&digest(1)).await, "ending a session");
    assert_eq!(ok(archive.session(&digest(1), at(1)).await, "a session"), None);
    assert!(ok(archive.session(&digest(2), at(1)).await, "a session").is_some());
    ok(archive.delete_sessions_of(alice.id).await, "ending alice's sessions");
    assert_eq!(ok(archive.session(&digest(2), at(1)).await, "a session"), None);
    assert_eq!(
        ok(archive.session(&digest(3), at(1)).await, "a session"),
        Some((three, bob)),
        "bob's stays"
    );
    ok(archive.delete_session(&digest(42)).await, "ending an unknown session");
}

async fn api_tokens_are_used_revoked_and_expire<B: AccessStore>(archive: &B) {
    start("API tokens are found by digest, marked used, revoked and expire");
    let alice = create(archive, "alice", Role::Auditor).await;
    let bob = create(archive, "bob", Role::Viewer).await;
    let token = |n: u8, account: &Account, expires_at: Option<DateTime<Utc>>| ApiToken {
        id: 0,
        account_id: account.id,
        name: format!("token {n}"),
        digest: digest(n),
        created_at: at(0),
        expires_at,
        last_used_at: None,
        revoked: false,
    };
    let forever = ok(archive.create_api_token(token(1, &alice, None)).await, "creating a token");
    let daily =
        ok(archive.create_api_token(token(2, &alice, Some(at(1440)))).await, "creating a token");
    let bobs = ok(archive.create_api_token(token(3, &bob, None)).await, "creating a token");
    assert_ne!(forever.id, daily.id);
    assert_eq!(forever, ApiToken { id: forever.id, ..token(1, &alice, None) });
    let (used, account) = ok(archive.use_api_token(&digest(1), at(5)).await, "using a token")
        .unwrap_or_else(|| panic!("a live token is usable"));
    assert_eq!((used.id, used.last_used_at, account), (forever.id, Some(at(5)), alice.clone()));
    let listed = ok(archive.api_tokens_of(alice.id).await, "listing tokens");
    let mut listed_ids: Vec<i64> = listed.iter().map(|t| t.id).collect();
    listed_ids.sort_unstable();
    let mut expected = vec![forever.id, daily.id];
    expected.sort_unstable();
    assert_eq!(listed_ids, expected, "bob's token is not alice's");
    assert_eq!(
        listed.iter().find(|t| t.id == forever.id).and_then(|t| t.last_used_at),
        Some(at(5))
    );
    ok(archive.revoke_api_token(forever.id).await, "revoking a token");
    assert_eq!(
        ok(archive.use_api_token(&digest(1), at(6)).await, "using a token"),
        None,
        "revoked"
    );
    let listed = ok(archive.api_tokens_of(alice.id).await, "listing tokens");
    assert!(listed.iter().any(|t| t.id == forever.id && t.revoked), "a revoked token stays listed");
    assert!(ok(archive.use_api_token(&digest(2), at(1439)).await, "using a token").is_some());
    assert_eq!(
        ok(archive.use_api_token(&digest(2), at(1440)).await, "using a token"),
        None,
        "expired"
    );
    assert_eq!(
        ok(archive.use_api_token(&digest(77), at(1)).await, "using a token"),
        None,
        "unknown"
    );
    let (_, owner) = ok(archive.use_api_token(&digest(3), at(7)).await, "using a token")
        .unwrap_or_else(|| panic!("bob's token is usable"));
    assert_eq!((owner.id, bobs.account_id), (bob.id, bob.id));
}

async fn access_log_pages_newest_first<B: AccessStore>(archive: &B) {
    start("the access log pages back in time, newest first");
    let entries: Vec<AccessEntry> = (0..6)
        .map(|n| AccessEntry {
            at: at(n),
            username: if n % 2 == 0 { "alice".into() } else { "bob".into() },
            action: ["search", "export", "sql", "sign_in", "sign_in_failed", "record_timeline"]
                [n as usize]
                .into(),
            detail: format!("user:dana@contoso.com entity:contact #{n}"),
            rows: if n % 3 == 0 { None } else { Some(n as u64 * 1000) },
            client_ip: if n == 4 { None } else { Some(format!("198.51.100.{n}")) },
            channel: if n % 2 == 0 { "ui".into() } else { "api".into() },
        })
        .collect();
    for entry in &entries {
        ok(archive.log_access(entry.clone()).await, "logging access");
    }
    let newest = ok(archive.access_log(3, None).await, "reading the access log");
    let expected: Vec<AccessEntry> = entries.iter().rev().take(3).cloned().collect();
    assert_eq!(newest, expected);
    let older = ok(archive.access_log(10, Some(at(3))).await, "reading the access log");
    let expected: Vec<AccessEntry> = entries.iter().take(3).rev().cloned().collect();
    assert_eq!(older, expected, "strictly before the given time");
    assert!(ok(archive.access_log(10, Some(at(0))).await, "reading the access log").is_empty());
}

// ---------------------------------------------------------------------------------------------
// The SQL console.

fn limits(max_rows: u32, millis: u64) -> SqlLimits {
    SqlLimits { max_rows, timeout: std::time::Duration::from_millis(millis) }
}

async fn sql<B: SqlConsole>(archive: &B, statement: &str) -> SqlResult {
    ok(archive.run_sql(statement, limits(1000, 10_000)).await, statement)
}

async fn row_count<B: SqlConsole>(archive: &B, table: &str) -> Value {
    let result = sql(archive, &format!("SELECT count(*) AS n FROM {table}")).await;
    result.rows.first().and_then(|row| row.first()).cloned().unwrap_or(Value::Null)
}

async fn sql_console_refuses_every_write<B: Archive + BlobQueue + AccessStore + SqlConsole>(
    archive: &B,
) {
    start("the SQL console refuses every write, and nothing changes");
    ok(archive.ingest(records(1, 12, &[("import", "12")])).await, "ingesting");
    announce(archive, vec![blob(TENANT_A, GENERAL, 1)]).await;
    create(archive, "alice", Role::Admin).await;
    let schema = ok(archive.sql_schema().await, "listing the schema");
    assert!(!schema.is_empty());
    let mut before = Vec::new();
    for (table, _) in &schema {
        before.push(row_count(archive, table).await);
    }
    assert!(
        before.iter().any(|n| n.as_u64().is_some_and(|n| n >= 12)),
        "the records are visible: {before:?}"
    );
    for (table, columns) in &schema {
        let column = columns.first().map_or("x", String::as_str);
        for statement in [
            format!("DELETE FROM {table}"),
            format!("UPDATE {table} SET {column} = {column}"),
            format!("INSERT INTO {table} DEFAULT VALUES"),
            format!("INSERT INTO {table} SELECT * FROM {table}"),
            format!("DROP TABLE {table}"),
            format!("ALTER TABLE {table} ADD COLUMN evil INTEGER"),
            format!("CREATE INDEX evil_index ON {table} ({column})"),
            format!("WITH gone AS (DELETE FROM {table} RETURNING 1) SELECT count(*) FROM gone"),
            format!("SELECT 1; DELETE FROM {table}"),
            format!("select 1 from {table}; drop table {table}"),
        ] {
            match archive.run_sql(&statement, limits(100, 5000)).await {
                Ok(result) => panic!("`{statement}` ran: {result:?}"),
                Err(error) => {
                    assert!(!error.is_transient(), "`{statement}`: {error}");
                    assert!(!error.to_string().trim().is_empty());
                }
            }
        }
    }
    for statement in
        ["CREATE TABLE evil (x INTEGER)", "CREATE VIEW evil AS SELECT 1 AS x", "SELECT 1; SELECT 2"]
    {
        let refused = archive.run_sql(statement, limits(100, 5000)).await;
        assert!(refused.is_err(), "`{statement}` ran: {refused:?}");
    }
    let mut after = Vec::new();
    for (table, _) in &schema {
        after.push(row_count(archive, table).await);
    }
    assert_eq!(after, before, "every table keeps its rows");
    assert_eq!(
        ok(archive.sql_schema().await, "listing the schema"),
        schema,
        "no table or column changed"
    );
    assert_eq!(records_stored(archive).await, 12);
    let report = ok(archive.verify().await, "verifying");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert!(ok(archive.account_by_username("alice").await, "by name").is_some());
}

async fn sql_console_limits_rows_and_time<B: SqlConsole>(archive: &B) {
    start("the SQL console cuts rows at the limit and statements at the time limit");
    let fifty = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) \
                 SELECT i FROM n";
    let cut = ok(archive.run_sql(fifty, limits(10, 10_000)).await, "a limited statement");
    assert_eq!(cut.columns, ["i"]);
    assert_eq!(cut.rows, (1..=10).map(|i| vec![json!(i)]).collect::<Vec<_>>());
    assert!(cut.truncated);
    let exact = ok(archive.run_sql(fifty, limits(50, 10_000)).await, "an exact statement");
    assert_eq!((exact.rows.len(), exact.truncated), (50, false));
    let all = ok(archive.run_sql(fifty, limits(500, 10_000)).await, "an unlimited statement");
    assert_eq!((all.rows.len(), all.truncated), (50, false));
    let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
                   WHERE i < 1000000000000) SELECT count(*) FROM n";
    let started = std::time::Instant::now();
    match archive.run_sql(endless, limits(10, 300)).await {
        Ok(result) => panic!("an endless statement returned {result:?}"),
        Err(error) => assert!(!error.to_string().is_empty()),
    }
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(15), "stopped after {took:?}");
    let after = ok(archive.run_sql("SELECT 2 AS two", limits(10, 5000)).await, "a statement");
    assert_eq!(after.rows, vec![vec![json!(2)]], "the console still works");
}

async fn sql_console_cells_and_schema<B: Archive + SqlConsole>(archive: &B) {
    start("the SQL console returns JSON cells and lists readable tables");
    let cells = sql(archive, "SELECT 1 AS n, 'x' AS t, NULL AS z, 2.5 AS f").await;
    assert_eq!(cells.columns, ["n", "t", "z", "f"]);
    assert_eq!(cells.rows, vec![vec![json!(1), json!("x"), Value::Null, json!(2.5)]]);
    assert!(!cells.truncated);
    ok(archive.ingest(records(1, 3, &[])).await, "ingesting");
    let schema = ok(archive.sql_schema().await, "listing the schema");
    let names: HashSet<&str> = schema.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names.len(), schema.len(), "each table once");
    for (table, columns) in &schema {
        assert!(!columns.is_empty(), "{table}");
        let all = sql(archive, &format!("SELECT * FROM {table} LIMIT 1")).await;
        assert_eq!(&all.columns, columns, "{table}");
    }
}
