//! Every emulator fault end to end: the archive holds exactly the in-scope records of the
//! readable blobs, no duplicates, and every unreadable blob is a gap of the right kind.

use archive::BlobState;
use chrono::Duration;
use emulator::{EmulatorConfig, Faults, Operation, Throttle};
use settings::RecordScope;

use crate::support::*;

fn with_faults(seed: u64, faults: Faults) -> EmulatorConfig {
    let mut config = emulator_config(seed);
    config.faults = faults;
    config
}

/// Runs once and checks the archive against the truth; returns the summary.
async fn collect_and_check(h: &Harness) -> collector::CollectionSummary {
    let summary = h.collector().run_once().await.unwrap();
    let truth = h.truth(&RecordScope::default(), h.clock_now()).await;
    h.assert_matches(&truth).await;
    assert_eq!(summary.gaps(), (truth.expired.len() + truth.unreadable.len()) as u64);
    summary
}

impl Harness {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use clock::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn throttling_as_403_and_as_429_is_backed_off_and_nothing_is_lost() {
    for (seed, throttle) in
        [(10, Throttle::every(4)), (11, Throttle::every(4).with_status(429).with_retry_after(0))]
    {
        let h = Harness::start(with_faults(
            seed,
            Faults { throttle: Some(throttle), ..Faults::default() },
        ))
        .await;
        let collector = h.collector();
        let summary = collector.run_once().await.unwrap();
        assert!(summary.complete(), "{summary:#?}");
        assert!(h.emu.stats().faults("AF429") > 5);
        let requests = collector.metrics().tenants[0].requests;
        assert!(requests.throttled > 5 && requests.retries >= requests.throttled, "{requests:?}");
        let truth = h.truth(&RecordScope::default(), t0()).await;
        h.assert_matches(&truth).await;
        assert_eq!(summary.gaps(), 0);
    }
}

#[tokio::test]
async fn internal_errors_are_retried() {
    let h = Harness::start(with_faults(
        12,
        Faults { internal_error_every: Some(3), ..Faults::default() },
    ))
    .await;
    let summary = collect_and_check(&h).await;
    assert!(summary.complete(), "{summary:#?}");
    assert!(h.emu.stats().faults("AF50000") > 5);
}

#[tokio::test]
async fn a_token_revoked_mid_run_is_refreshed_once() {
    let h = Harness::start(emulator_config(13)).await;
    let collector = h.collector();
    collector.run_once().await.unwrap();
    let issued = h.emu.stats().tokens_issued;
    // The cached token is refused from now on: the next request gets 401.
    h.emu.revoke_tokens();
    // Ten minutes on, the cached token has not expired yet: the service refuses it.
    h.clock.advance(Duration::minutes(10));
    let summary = collector.run_once().await.unwrap();
    assert!(summary.complete(), "{summary:#?}");
    assert_eq!(h.emu.stats().tokens_issued, issued + 1, "one new token");
    assert!(collector.metrics().tenants[0].requests.unauthorized >= 1);
    let truth = h.truth(&RecordScope::default(), t0() + Duration::minutes(10)).await;
    h.assert_matches(&truth).await;
}

#[tokio::test]
async fn expired_blobs_are_gaps() {
    let h =
        Harness::start(with_faults(14, Faults { expired_blob_fraction: 0.2, ..Faults::default() }))
            .await;
    let summary = collect_and_check(&h).await;
    assert!(summary.counts.blobs_expired > 0);
    assert_eq!(summary.counts.blobs_expired, summary.gaps());
    assert!(h.gaps().await.values().all(|s| *s == BlobState::Expired));
    assert!(summary.complete(), "gaps are settled: {summary:#?}");
}

#[tokio::test]
async fn malformed_blobs_are_quarantined_gaps_with_their_bytes() {
    let h = Harness::start(with_faults(
        15,
        Faults { malformed_blob_fraction: 0.2, ..Faults::default() },
    ))
    .await;
    let summary = collect_and_check(&h).await;
    assert!(summary.counts.blobs_quarantined > 0);
    let gaps = h.gaps().await;
    let quarantined = h.archive.quarantined(1_000).await.unwrap();
    for (content_id, state) in &gaps {
        assert_eq!(*state, BlobState::Quarantined);
        let kept = quarantined
            .iter()
            .find(|q| q.source.ends_with(content_id.as_str()))
            .unwrap_or_else(|| panic!("no quarantined bytes for {content_id}"));
        assert!(
            kept.raw.starts_with(b"[")
                && serde_json::from_slice::<serde_json::Value>(&kept.raw).is_err()
        );
        assert!(kept.source.starts_with(&demo_tenant()), "{}", kept.source);
    }
}

fn demo_tenant() -> String {
    emulator::demo::TENANT_ID.to_string()
}

#[tokio::test]
async fn records_duplicated_across_blobs_are_stored_once() {
    let h = Harness::start(with_faults(
        16,
        Faults { duplicate_fraction: 0.3, straggler_fraction: 0.2, ..Faults::default() },
    ))
    .await;
    let summary = collect_and_check(&h).await;
    let truth = h.truth(&RecordScope::default(), t0()).await;
    assert!(truth.occurrences > truth.records.len(), "the emulator duplicated records");
    assert_eq!(summary.counts.records_kept, truth.records.len() as u64);
    assert_eq!(
        summary.counts.duplicates_skipped,
        (truth.occurrences - truth.records.len()) as u64,
        "every repeat is counted as a duplicate"
    );
}

#[tokio::test]
async fn late_blobs_are_found_by_the_trailing_overlap() {
    // Blobs turn up to 3 hours late; the collector re-lists 4 hours each round.
    let faults = Faults {
        late_blob_fraction: 0.5,
        late_blob_delay: Duration::hours(3),
        ..Faults::default()
    };
    let h = Harness::start_with(with_faults(17, faults), "overlap = \"4h\"", "").await;
    let first = h.collector().run_once().await.unwrap();
    let mut late_found = 0;
    for _ in 0..5 {
        h.clock.advance(Duration::minutes(40));
        let later = h.collector().run_once().await.unwrap();
        assert!(later.complete(), "{later:#?}");
        late_found += later.counts.blobs_new;
    }
    let truth = h.truth(&RecordScope::default(), h.clock_now()).await;
    h.assert_matches(&truth).await;
    // Blobs created before the first run's end that it could not list yet were found later.
    let client = direct_client(&h.emu, h.clock.clone());
    let mut created_before_first_end = 0;
    for (from, to) in
        [(t0() - Duration::hours(30), t0() - Duration::hours(8)), (t0() - Duration::hours(8), t0())]
    {
        let window = o365::ListingWindow::new(from, to, h.clock.as_ref()).unwrap();
        created_before_first_end +=
            client.list_content(o365::ContentType::General, &window).await.unwrap().len() as u64;
    }
    assert!(
        first.counts.blobs_new < created_before_first_end,
        "late blobs: the first run listed {}, {created_before_first_end} exist",
        first.counts.blobs_new
    );
    assert!(late_found > 0);
}

#[tokio::test]
async fn tiny_pages_and_old_paging_spellings_are_followed() {
    let h = Harness::start(with_faults(
        18,
        Faults {
            page_size: Some(2),
            next_page_header: "NextPageUrl".into(),
            next_page_path_v1: true,
            ..Faults::default()
        },
    ))
    .await;
    let summary = collect_and_check(&h).await;
    assert!(summary.complete());
    let listings = h.emu.stats().requests(Operation::ListContent);
    assert!(listings > 2 * u64::from(summary.feeds[0].windows), "pages were followed: {listings}");
}
