//! A healthy run: exactly the in-scope records, idempotent re-runs, scope, status, and the
//! first-run emptiness of a new subscription.

use chrono::Duration;
use collector::FeedOutcome;
use emulator::{Operation, demo};
use settings::RecordScope;

use crate::support::*;

#[tokio::test]
async fn a_run_collects_exactly_the_in_scope_records_and_a_rerun_adds_nothing() {
    let h = Harness::start(emulator_config(1)).await;
    let summary = h.collector().run_once().await.unwrap();
    let stats = h.emu.stats();
    let truth = h.truth(&RecordScope::default(), t0()).await;
    h.assert_matches(&truth).await;

    assert!(summary.complete(), "{summary:#?}");
    assert_eq!(summary.gaps(), 0);
    assert_eq!(summary.counts.blobs_new, truth.blobs.len() as u64);
    assert_eq!(summary.counts.blobs_done, truth.blobs.len() as u64);
    assert_eq!(summary.counts.records_kept, truth.records.len() as u64);
    assert!(summary.counts.out_of_scope > 0, "other Power Platform workloads are counted");
    let feed = &summary.feeds[0];
    assert_eq!((feed.tenant.as_str(), feed.content_type.as_str()), ("contoso", "Audit.General"));
    assert_eq!(feed.outcome, FeedOutcome::CaughtUp);
    assert_eq!(feed.listed_until, Some(t0()));
    assert_eq!(feed.windows, 7, "a first run lists the 7 days the API keeps, 24 h at a time");

    // Every request carried PublisherIdentifier, blob GETs included; each blob was fetched once.
    assert_eq!(stats.requests_without_publisher_identifier, 0);
    assert_eq!(stats.last_publisher_identifier.as_deref(), Some(&*demo::TENANT_ID.to_string()));
    assert_eq!(stats.requests(Operation::GetBlob), truth.blobs.len() as u64);

    // Again, an hour later: only the overlap and the new hour are listed, nothing is stored
    // twice, only new blobs are fetched.
    h.clock.advance(Duration::hours(1));
    let fetched_before = h.emu.stats().requests(Operation::GetBlob);
    let again = h.collector().run_once().await.unwrap();
    let fetched = h.emu.stats().requests(Operation::GetBlob) - fetched_before;
    assert_eq!(fetched, again.counts.blobs_new);
    assert_eq!(again.feeds[0].windows, 1, "one window: cursor - overlap .. now");
    assert!(again.counts.blobs_listed > again.counts.blobs_new, "the overlap lists known blobs");
    let truth = h.truth(&RecordScope::default(), t0() + Duration::hours(1)).await;
    h.assert_matches(&truth).await;
    assert_eq!(again.counts.blobs_done, again.counts.blobs_new);
}

#[tokio::test]
async fn scope_all_keeps_every_workload() {
    let h = Harness::start_with(emulator_config(2), "", "workloads = \"all\"").await;
    let summary = h.collector().run_once().await.unwrap();
    assert_eq!(summary.counts.out_of_scope, 0);
    let truth = h.truth(&RecordScope::All, t0()).await;
    h.assert_matches(&truth).await;
    let crm_only = h.truth(&RecordScope::default(), t0()).await;
    assert!(truth.records.len() > crm_only.records.len());
}

#[tokio::test]
async fn a_new_subscription_waits_for_its_first_content_without_an_error() {
    // Audit.Exchange is not subscribed in the emulator: the collector starts it (AF20022),
    // and Microsoft shows nothing from before the start.
    let h = Harness::start_with(
        emulator_config(3),
        "",
        "content_types = [\"Audit.General\", \"Audit.Exchange\"]",
    )
    .await;
    let collector = h.collector();
    let summary = collector.run_once().await.unwrap();
    assert_eq!(summary.counts.resubscribes, 1);
    let exchange = summary.feeds.iter().find(|f| f.content_type == "Audit.Exchange").unwrap();
    assert_eq!(exchange.outcome, FeedOutcome::AwaitingFirstContent);
    assert_eq!(exchange.listed_until, Some(t0()));
    assert!(summary.complete(), "waiting for first content is not a failure: {summary:#?}");
    let status = collector.status().await.unwrap();
    let feed = status.feeds.iter().find(|f| f.content_type == "Audit.Exchange").unwrap();
    assert_eq!(feed.health(), "waiting");
    assert!(feed.notice.as_deref().unwrap().contains("12 hours"), "{feed:?}");
    assert!(feed.listing_error.is_none());

    // Content created after the start shows up.
    h.clock.advance(Duration::hours(2));
    let later = h.collector().run_once().await.unwrap();
    let exchange = later.feeds.iter().find(|f| f.content_type == "Audit.Exchange").unwrap();
    assert_eq!(exchange.outcome, FeedOutcome::CaughtUp, "{later:#?}");
    assert!(exchange.blobs_new > 0);
    assert_eq!(later.counts.resubscribes, 0);
}

#[tokio::test]
async fn status_and_metrics_describe_every_feed() {
    let h = Harness::start(emulator_config(4)).await;
    let collector = h.collector();
    collector.run_once().await.unwrap();
    h.clock.advance(Duration::minutes(10));
    let status = collector.status().await.unwrap();
    let feed = &status.feeds[0];
    assert_eq!(feed.tenant, "contoso");
    assert_eq!(feed.tenant_id, demo::TENANT_ID);
    assert_eq!(feed.listed_until, Some(t0()));
    assert_eq!(feed.lag_seconds, Some(600));
    assert_eq!(feed.backlog, 0);
    assert!(feed.blobs["done"] > 0);
    assert!(feed.records > 0);
    assert_eq!(feed.health(), "ok", "{feed:?}");
    assert_eq!(status.gaps(), 0);

    let metrics = collector.metrics();
    assert_eq!(metrics.feeds[0].lag_seconds, Some(600));
    assert_eq!(metrics.feeds[0].outcome, Some(FeedOutcome::CaughtUp));
    assert!(metrics.tenants[0].requests.requests > 0);
    assert_eq!(metrics.counters.records_kept, feed.records);
    // Plain data: serializable for /metrics and `status --format json`.
    let json = serde_json::to_value(&metrics).unwrap();
    assert!(json["counters"]["records_kept"].as_u64().unwrap() > 0);
}
