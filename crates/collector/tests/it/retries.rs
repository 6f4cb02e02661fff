//! Blobs that fail: retried with backoff, given up as `failed` gaps after the configured
//! attempts, collected when the service recovers; a backlog that grows old is a warning, and
//! blobs that expire in the queue are `expired` gaps.

use archive::{BlobGap, BlobState};
use chrono::Duration;
use emulator::{Faults, Operation};
use o365::{ContentBlob, ContentType, ListingWindow, WebhookNotification};
use settings::RecordScope;

use crate::support::*;

/// The blobs created in the three hours before t0, as webhook notifications.
async fn recent_blobs(h: &Harness) -> (Vec<ContentBlob>, Vec<WebhookNotification>) {
    let client = direct_client(&h.emu, h.clock.clone());
    let window = ListingWindow::new(t0() - Duration::hours(3), t0(), h.clock.as_ref()).unwrap();
    let blobs = client.list_content(ContentType::General, &window).await.unwrap();
    assert!(blobs.len() >= 4, "{}", blobs.len());
    let notifications = blobs.iter().map(notification).collect();
    (blobs, notifications)
}

pub(crate) fn notification(blob: &ContentBlob) -> WebhookNotification {
    WebhookNotification {
        tenant_id: emulator::demo::TENANT_ID.to_string(),
        client_id: emulator::demo::CLIENT_ID.to_string(),
        content_type: blob.content_type,
        content_id: blob.content_id.clone(),
        content_uri: blob.content_uri.to_string(),
        content_created: blob.content_created,
        content_expiration: blob.content_expiration,
    }
}

fn all_requests_fail() -> Faults {
    Faults { internal_error_next: 100_000, ..Faults::default() }
}

#[tokio::test]
async fn a_failing_blob_is_retried_with_backoff_then_given_up_as_a_failed_gap() {
    let h = Harness::start_with(
        emulator_config(50),
        "request_attempts = 1\nmax_attempts = 2\nretry_delay = \"10m\"",
        "",
    )
    .await;
    let (blobs, notifications) = recent_blobs(&h).await;
    let n = blobs.len() as u64;
    let collector = h.collector();
    collector.accept_notifications(None, &notifications).await.unwrap();
    h.emu.set_faults(all_requests_fail());

    let first = collector.run_once().await.unwrap();
    assert_eq!(first.counts.blobs_retrying, n, "{first:#?}");
    assert_eq!(first.blobs_waiting, n);
    assert_eq!(first.gaps(), 0);
    assert!(!first.complete());

    // Not due yet: nothing is tried.
    let gets = h.emu.stats().requests(Operation::GetBlob);
    let early = collector.run_once().await.unwrap();
    assert_eq!(early.counts.blobs_retrying, 0);
    assert_eq!(h.emu.stats().requests(Operation::GetBlob), gets);

    // Due after the backoff; the second attempt is the last one.
    h.clock.advance(Duration::minutes(10));
    let second = collector.run_once().await.unwrap();
    assert_eq!(second.counts.blobs_failed, n, "{second:#?}");
    assert_eq!(second.gaps(), n);
    let gaps: Vec<BlobGap> = h.archive.blob_gaps(100).await.unwrap();
    assert_eq!(gaps.len() as u64, n);
    for gap in &gaps {
        assert_eq!(gap.state, BlobState::Failed);
        assert_eq!(gap.attempts, 2);
        assert!(gap.error.contains("given up after 2 attempts"), "{}", gap.error);
        assert!(gap.error.contains("AF50000"), "{}", gap.error);
    }

    // The service recovers: listing finds those blobs again, but a gap stays a gap.
    h.emu.set_faults(Faults::default());
    h.clock.advance(Duration::minutes(1));
    let healed = collector.run_once().await.unwrap();
    assert!(healed.complete(), "{healed:#?}");
    assert_eq!(h.gaps().await.len() as u64, n);
    let status = collector.status().await.unwrap();
    assert_eq!(status.feeds[0].blob_gaps, n);
    assert_eq!(status.feeds[0].health(), "gaps");
    assert_eq!(status.recent_gaps.len() as u64, n);
}

#[tokio::test]
async fn a_blob_that_failed_is_collected_when_the_service_recovers() {
    let h = Harness::start_with(
        emulator_config(51),
        "request_attempts = 1\nmax_attempts = 5\nretry_delay = \"1m\"",
        "",
    )
    .await;
    let (_, notifications) = recent_blobs(&h).await;
    let collector = h.collector();
    h.emu.set_faults(all_requests_fail());
    collector.accept_notifications(None, &notifications).await.unwrap();
    let failed = collector.run_once().await.unwrap();
    assert!(failed.counts.blobs_retrying > 0);

    h.emu.set_faults(Faults::default());
    h.clock.advance(Duration::minutes(1));
    let summary = collector.run_once().await.unwrap();
    assert!(summary.complete(), "{summary:#?}");
    assert_eq!(summary.gaps(), 0);
    let truth = h.truth(&RecordScope::default(), t0() + Duration::minutes(1)).await;
    h.assert_matches(&truth).await;
}

#[tokio::test]
async fn an_old_backlog_warns_and_blobs_that_expire_in_the_queue_are_gaps() {
    let mut config = emulator_config(52);
    // Blobs live 6 hours here, so that expiry happens within the test's short history.
    config.content_retention = Duration::hours(6);
    let h = Harness::start_with(
        config,
        "request_attempts = 1\nmax_attempts = 100\nretry_delay = \"1m\"\nbacklog_warning_age = \"4h\"",
        "",
    )
    .await;
    let (blobs, notifications) = recent_blobs(&h).await;
    let collector = h.collector();
    collector.accept_notifications(None, &notifications).await.unwrap();
    h.emu.set_faults(all_requests_fail());
    collector.run_once().await.unwrap();

    h.clock.advance(Duration::hours(2));
    let status = collector.status().await.unwrap();
    let feed = &status.feeds[0];
    assert_eq!(feed.backlog, blobs.len() as u64);
    assert_eq!(feed.oldest_waiting, blobs.iter().map(|b| b.content_created).min());
    assert!(feed.backlog_age_seconds.unwrap() > 4 * 3600, "{feed:?}");
    assert!(feed.backlog_warning);
    assert!(status.needs_attention());

    // The service comes back after the blobs expired: they are gaps, the rest is collected.
    h.emu.set_faults(Faults::default());
    h.clock.advance(Duration::hours(5));
    let summary = collector.run_once().await.unwrap();
    assert!(summary.complete(), "{summary:#?}");
    assert_eq!(summary.counts.blobs_expired, blobs.len() as u64);
    let gaps = h.gaps().await;
    for blob in &blobs {
        assert_eq!(gaps.get(&blob.content_id), Some(&BlobState::Expired));
    }
    let status = collector.status().await.unwrap();
    assert_eq!(status.feeds[0].backlog, 0);
    assert!(!status.feeds[0].backlog_warning);
}
