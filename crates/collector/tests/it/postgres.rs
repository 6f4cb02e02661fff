//! Several collectors on one PostgreSQL archive (the team deployment): they list the same
//! feeds, share the blob queue (a blob is claimed by one of them at a time), and the archive
//! holds each record once. Skipped unless `D365AUDIT_TEST_POSTGRES` names a server.

use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use collector::Collector;
use emulator::{Faults, Operation};
use settings::RecordScope;
use tokio_util::sync::CancellationToken;

use crate::support::*;

fn server() -> Option<String> {
    let server = postgres_server();
    if server.is_none() {
        eprintln!(
            "skipping: set D365AUDIT_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres"
        );
    }
    server
}

#[tokio::test]
async fn two_collectors_share_the_queue_and_store_each_record_once() {
    let Some(server) = server() else { return };
    let mut config = emulator_config(60);
    config.faults = Faults { duplicate_fraction: 0.2, ..Faults::default() };
    // Paced, so that neither collector can take every blob before the other starts.
    let h = Harness::start_on_postgres(&server, config, "", "requests_per_minute = 3000").await;
    let one = h.collector();
    let other_connection = h.second_connection().await.unwrap();
    let two =
        Collector::new(&h.settings, other_connection, h.clock.clone(), CancellationToken::new())
            .unwrap();
    let (a, b) = tokio::join!(one.run_once(), two.run_once());
    let (a, b) = (a.unwrap(), b.unwrap());
    let fetched = h.emu.stats().requests(Operation::GetBlob);

    let truth = h.truth(&RecordScope::default(), t0()).await;
    h.assert_matches(&truth).await;
    let blobs = truth.blobs.len() as u64;
    assert_eq!(a.counts.blobs_new + b.counts.blobs_new, blobs, "each blob queued once");
    assert_eq!(a.counts.blobs_done + b.counts.blobs_done, blobs, "each blob settled once");
    assert_eq!(fetched, blobs, "no blob fetched by both");
    assert!(a.counts.blobs_done > 0 && b.counts.blobs_done > 0, "both worked: {a:#?} {b:#?}");
    assert_eq!(a.counts.records_kept + b.counts.records_kept, truth.records.len() as u64);
    // Whichever finished first may have seen the other's blobs still leased; now none wait.
    let status = one.status().await.unwrap();
    assert_eq!(status.feeds[0].backlog, 0, "{:?}", status.feeds[0]);
}

#[tokio::test]
async fn a_collector_that_dies_leaves_its_blobs_to_the_other() {
    let Some(server) = server() else { return };
    let h = Harness::start_on_postgres(
        &server,
        emulator_config(61),
        "workers = 1",
        "requests_per_minute = 3000",
    )
    .await;
    let dying = h.collector();
    let task = tokio::spawn({
        let dying = dying.clone();
        async move { dying.run_once().await }
    });
    let deadline = Instant::now() + StdDuration::from_secs(30);
    while dying.metrics().counters.blobs_done < 5 {
        assert!(Instant::now() < deadline, "the first collector did not get going");
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
    task.abort();
    let _ = task.await;
    drop(dying);

    // The survivor, on its own connection, takes everything once the dead leases lapse.
    h.clock.advance(Duration::minutes(6));
    let other_connection = h.second_connection().await.unwrap();
    let survivor =
        Collector::new(&h.settings, other_connection, h.clock.clone(), CancellationToken::new())
            .unwrap();
    let summary = survivor.run_once().await.unwrap();
    assert!(summary.complete(), "{summary:#?}");
    let truth = h.truth(&RecordScope::default(), t0() + Duration::minutes(6)).await;
    h.assert_matches(&truth).await;
}
