//! Stopping at any point loses nothing: a run killed in the middle and restarted on the same
//! archive ends exactly like an uninterrupted run; a graceful stop finishes the blobs in hand;
//! `run` collects continuously until shutdown.

use std::collections::BTreeMap;
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use collector::{Collector, FeedOutcome};
use emulator::{EmulatorConfig, Faults};
use settings::RecordScope;
use tokio_util::sync::CancellationToken;

use crate::support::*;

fn faulty(seed: u64) -> EmulatorConfig {
    let mut config = emulator_config(seed);
    config.faults = Faults {
        duplicate_fraction: 0.2,
        malformed_blob_fraction: 0.05,
        expired_blob_fraction: 0.05,
        ..Faults::default()
    };
    config
}

/// Slow enough to be caught in the middle: one worker, paced requests.
const SLOW: (&str, &str) = ("workers = 1", "requests_per_minute = 3000");

async fn wait_for_blobs_done(collector: &Collector, at_least: u64) {
    let deadline = Instant::now() + StdDuration::from_secs(30);
    while collector.metrics().counters.blobs_done < at_least {
        assert!(Instant::now() < deadline, "the collector did not get going");
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
}

async fn leased_and_pending(h: &Harness) -> BTreeMap<String, u64> {
    let status = h.archive.queue_status().await.unwrap();
    status[0].counts.iter().filter(|(s, _)| s == "leased" || s == "pending").cloned().collect()
}

#[tokio::test]
async fn a_run_killed_in_the_middle_and_restarted_equals_an_uninterrupted_run() {
    // Uninterrupted: one run, then another six minutes later.
    let a = Harness::start_with(faulty(30), SLOW.0, SLOW.1).await;
    a.collector().run_once().await.unwrap();
    a.clock.advance(Duration::minutes(6));
    let a_last = a.collector().run_once().await.unwrap();
    assert!(a_last.complete());

    // Killed: the run is dropped mid-way (its workers die with leases held).
    let b = Harness::start_with(faulty(30), SLOW.0, SLOW.1).await;
    let killed = b.collector();
    let task = tokio::spawn({
        let killed = killed.clone();
        async move { killed.run_once().await }
    });
    wait_for_blobs_done(&killed, 10).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let done_when_killed = killed.metrics().counters.blobs_done;
    drop(killed);
    let left = leased_and_pending(&b).await;
    assert!(left.values().sum::<u64>() > 0, "killed with work left: {left:?}");

    // Restarted after the dead leases ran out (5 minutes).
    b.clock.advance(Duration::minutes(6));
    let restarted = b.collector().run_once().await.unwrap();
    assert!(restarted.complete(), "{restarted:#?}");
    assert!(restarted.counts.blobs_done > 0 && done_when_killed > 0);

    let truth = a.truth(&RecordScope::default(), t0() + Duration::minutes(6)).await;
    a.assert_matches(&truth).await;
    b.assert_matches(&truth).await;
    assert_eq!(a.stored_ids().await, b.stored_ids().await);
    assert_eq!(a.gaps().await, b.gaps().await);
}

#[tokio::test]
async fn a_graceful_stop_finishes_the_blobs_in_hand() {
    let h = Harness::start_with(faulty(31), "workers = 2", SLOW.1).await;
    let stop = CancellationToken::new();
    let collector = h.collector_with(&h.settings, stop.clone());
    let task = tokio::spawn({
        let collector = collector.clone();
        async move { collector.run_once().await }
    });
    wait_for_blobs_done(&collector, 5).await;
    stop.cancel();
    let summary = tokio::time::timeout(StdDuration::from_secs(10), task).await.unwrap().unwrap();
    let summary = summary.unwrap();
    assert!(!summary.complete(), "stopped early: {summary:#?}");
    let left = leased_and_pending(&h).await;
    assert_eq!(left.get("leased").copied().unwrap_or(0), 0, "no blob was left leased: {left:?}");

    // A new collector takes up the rest at once (nothing waits for a lease).
    let summary = h.collector().run_once().await.unwrap();
    assert!(summary.complete(), "{summary:#?}");
    let truth = h.truth(&RecordScope::default(), t0()).await;
    h.assert_matches(&truth).await;
}

#[tokio::test]
async fn run_collects_continuously_until_shutdown() {
    let h = Harness::start(emulator_config(32)).await;
    let stop = CancellationToken::new();
    let collector = h.collector_with(&h.settings, stop.clone());
    let task = tokio::spawn({
        let collector = collector.clone();
        async move { collector.run().await }
    });
    let caught_up = |until| {
        let collector = collector.clone();
        async move {
            let deadline = Instant::now() + StdDuration::from_secs(30);
            loop {
                let status = collector.status().await.unwrap();
                let feed = &status.feeds[0];
                if feed.listed_until == Some(until) && feed.backlog == 0 {
                    return;
                }
                assert!(Instant::now() < deadline, "not caught up: {feed:?}");
                tokio::time::sleep(StdDuration::from_millis(20)).await;
            }
        }
    };
    caught_up(t0()).await;
    // An hour passes: the next rounds list and fetch the new blobs.
    h.clock.advance(Duration::hours(1));
    caught_up(t0() + Duration::hours(1)).await;
    assert_eq!(collector.metrics().feeds[0].outcome, Some(FeedOutcome::CaughtUp));

    stop.cancel();
    tokio::time::timeout(StdDuration::from_secs(10), task).await.unwrap().unwrap().unwrap();
    let truth = h.truth(&RecordScope::default(), t0() + Duration::hours(1)).await;
    h.assert_matches(&truth).await;
}
