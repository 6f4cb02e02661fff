//! Service protection and failures: 429 with `Retry-After`, a strict request limit, the
//! concurrency limit, 5xx, revoked tokens, undecodable details.

use std::sync::Arc;
use std::time::{Duration, Instant};

use archive::{Archive, ChangeStore};
use clock::ManualClock;
use dataverse::{DataverseError, SyncError, SyncOptions, SyncProgress, sync_environment};
use emulator::Faults;
use emulator::dataverse::DataverseFaults;
use record::ChangeDetail;

use crate::support::*;

fn dataverse_faults(faults: DataverseFaults) -> Faults {
    Faults { dataverse: faults, ..Faults::default() }
}

#[tokio::test]
async fn retry_after_is_waited_out_by_every_request() {
    let emu = emulator(1).await;
    let client = client(&emu);
    let archive = archive(&emu);
    emu.set_faults(dataverse_faults(DataverseFaults {
        throttle_next: 3,
        throttle_retry_after_seconds: 2,
        ..DataverseFaults::default()
    }));
    let started = Instant::now();
    let summary = sync(&client, &archive, &options()).await;
    let elapsed = started.elapsed();
    let truth = ground_truth(&emu);
    assert_eq!(summary.counts.inserted, truth.len() as u64);
    let stats = emu.stats().dataverse;
    assert_eq!(stats.throttled_forced, 3);
    // Each 429 asked for 2 s; the three came back to back (the first request and its two
    // retries), so at least 3 x 2 s passed before the first page was served.
    assert!(elapsed >= Duration::from_secs(6), "{elapsed:?}");
    assert_eq!(client.counters().throttled, 3);
    // Nothing was sent besides the throttled attempts and one success per page and detail.
    assert_eq!(stats.requests, 3 + summary.counts.pages + summary.counts.details);
}

#[tokio::test]
async fn a_pause_from_one_detail_holds_back_the_others() {
    let emu = emulator(1).await;
    let client = client(&emu);
    let archive = archive(&emu);
    // The first page goes through; then details run 8 at a time, slowly; one 429 hits them.
    emu.set_faults(dataverse_faults(DataverseFaults {
        response_delay: Duration::from_millis(20),
        ..DataverseFaults::default()
    }));
    let page_size = 250;
    let page = client
        .audits(&dataverse::AuditQuery { since: None, until: None, page_size })
        .await
        .unwrap();
    assert!(page.split().unwrap().next_link.is_some());
    emu.set_faults(dataverse_faults(DataverseFaults {
        throttle_next: 1,
        throttle_retry_after_seconds: 2,
        response_delay: Duration::from_millis(20),
        ..DataverseFaults::default()
    }));
    let before = emu.stats().dataverse.requests;
    let ids: Vec<_> = ground_truth(&emu).iter().take(40).map(|r| r.audit_id).collect();
    let started = Instant::now();
    let fetches = ids.iter().map(|id| {
        let client = client.clone();
        let id = *id;
        async move {
            let result = client.audit_details(id).await;
            (Instant::now(), result)
        }
    });
    let done = futures_util::future::join_all(fetches).await;
    let sent = emu.stats().dataverse.requests - before;
    // 40 successes plus the one 429.
    assert_eq!(sent, 41);
    assert!(done.iter().all(|(_, r)| r.is_ok()));
    // At most the 7 requests already in flight when the 429 came back finish before the pause
    // ends; every other one waited for Retry-After.
    let early = done.iter().filter(|(at, _)| *at - started < Duration::from_secs(2)).count();
    assert!(early <= 7, "{early} requests completed during the pause");
    drop(archive);
}

#[tokio::test]
async fn a_long_sync_under_a_strict_request_limit_completes() {
    // A running clock, so the emulator's request window slides.
    let emu = emulator_with(1, |config| {
        let clock = Arc::new(ManualClock::running_from(fixed_now()));
        let history_start = config.history_start;
        *config = std::mem::take(config).with_manual_clock(clock);
        config.history_start = history_start;
        config.dataverse.limits.requests_per_window = 120;
        config.dataverse.limits.window = chrono::Duration::seconds(2);
    })
    .await;
    let client = client(&emu);
    let archive = archive(&emu);
    let until = fixed_now() - chrono::Duration::minutes(1);
    let options = SyncOptions { until: Some(until), ..options() };
    let summary = sync(&client, &archive, &options).await;
    let truth: Vec<_> = ground_truth(&emu).into_iter().filter(|r| r.created_on <= until).collect();
    assert!(truth.len() > 300, "{}", truth.len());
    assert_eq!(summary.counts.inserted, truth.len() as u64);
    let stored = stored(&archive, &truth).await;
    for row in &truth {
        assert_matches(row, &stored[&row.audit_id]);
    }
    let stats = emu.stats().dataverse;
    assert!(stats.throttled_request_limit > 0, "the limit was reached: {stats:?}");
    assert_eq!(client.counters().throttled, stats.throttled_request_limit);
}

#[tokio::test]
async fn concurrency_never_exceeds_the_limit() {
    for limit in [3, 8] {
        let emu = emulator(1).await;
        emu.set_faults(dataverse_faults(DataverseFaults {
            response_delay: Duration::from_millis(15),
            ..DataverseFaults::default()
        }));
        let client = client_with(&emu, |s| s.concurrency = limit);
        let archive = archive(&emu);
        let summary = sync(&client, &archive, &options()).await;
        assert!(summary.counts.details > 100);
        let stats = emu.stats().dataverse;
        assert!(stats.peak_concurrency <= limit as u64, "{limit}: {stats:?}");
        assert!(stats.peak_concurrency >= 2, "details are fetched concurrently: {stats:?}");
        assert_eq!(stats.throttled_concurrency, 0);
    }
}

#[tokio::test]
async fn server_errors_are_retried() {
    let emu = emulator(1).await;
    let client = client(&emu);
    let archive = archive(&emu);
    emu.set_faults(dataverse_faults(DataverseFaults {
        server_error_next: 3,
        next_link_failures: 2,
        ..DataverseFaults::default()
    }));
    let summary = sync(&client, &archive, &options()).await;
    let truth = ground_truth(&emu);
    assert_eq!(summary.counts.inserted, truth.len() as u64);
    assert_eq!(emu.stats().dataverse.server_errors_injected, 5);
    assert!(client.counters().retries >= 5);
    stored(&archive, &truth).await;
}

#[tokio::test]
async fn a_lasting_outage_fails_with_the_stored_pages_kept() {
    let emu = emulator(1).await;
    let client = client(&emu);
    let archive = archive(&emu);
    let options = SyncOptions { details: dataverse::DetailPolicy::Never, ..options() };
    emu.set_faults(dataverse_faults(DataverseFaults {
        next_link_failures: 1_000,
        ..DataverseFaults::default()
    }));
    let error = dataverse::sync_environment(
        &client,
        &archive.archive,
        &archive.archive,
        &options,
        &dataverse::no_progress,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            &error,
            SyncError::Dataverse(DataverseError::Server { status: 500, attempts: 5, .. })
        ),
        "{error}"
    );
    assert!(error.is_transient());
    assert!(error.to_string().contains("run the sync again"), "{error}");
    // The first page is stored and the cursor covers exactly it.
    let truth = ground_truth(&emu);
    assert_eq!(archive.archive.change_summary().await.unwrap().changes, 250);
    let cursor = archive.archive.cursor(&dataverse::cursor_name(&client)).await.unwrap().unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(&cursor).unwrap().to_utc(),
        truth[249].created_on
    );
    // Once the outage is over, the next sync completes.
    emu.set_faults(Faults::default());
    let summary = sync(&client, &archive, &options).await;
    assert_eq!(archive.archive.change_summary().await.unwrap().changes, truth.len() as u64);
    assert!(summary.counts.duplicates > 0);
}

#[tokio::test]
async fn a_revoked_token_is_refreshed_once_and_the_sync_goes_on() {
    let emu = emulator(1).await;
    let client = client(&emu);
    let archive = archive(&emu);
    let revoke_after_first_page = |progress: &SyncProgress| {
        if progress.counts.pages == 1 {
            emu.revoke_tokens();
        }
    };
    let summary = sync_environment(
        &client,
        &archive.archive,
        &archive.archive,
        &options(),
        &revoke_after_first_page,
    )
    .await
    .unwrap();
    let truth = ground_truth(&emu);
    assert_eq!(summary.counts.inserted, truth.len() as u64);
    assert!(summary.counts.pages > 1);
    assert_eq!(client.tokens().fetch_count(), 2, "one refresh");
    let stats = emu.stats().dataverse;
    assert!(stats.unauthorized >= 1, "{stats:?}");
    assert_eq!(client.counters().unauthorized, stats.unauthorized);
}

#[tokio::test]
async fn undecodable_details_are_kept_verbatim_and_quarantined() {
    let emu = emulator(1).await;
    let client = client(&emu);
    let archive = archive(&emu);
    emu.set_faults(dataverse_faults(DataverseFaults {
        malformed_detail_fraction: 0.05,
        ..DataverseFaults::default()
    }));
    let summary = sync(&client, &archive, &options()).await;
    let truth = ground_truth(&emu);
    let malformed = emu.stats().dataverse.malformed_details;
    assert!(malformed > 3, "{malformed}");
    assert_eq!(summary.counts.details_malformed, malformed);
    assert_eq!(summary.counts.quarantined, malformed);
    assert_eq!(summary.counts.inserted, truth.len() as u64, "nothing lost");

    let quarantined = archive.archive.quarantined(1_000).await.unwrap();
    assert_eq!(quarantined.len() as u64, malformed);
    let stored = stored(&archive, &truth).await;
    let mut seen = 0;
    for item in &quarantined {
        assert!(item.source.contains("RetrieveAuditDetails"), "{}", item.source);
        assert!(item.source.contains(client.environment()), "{}", item.source);
        let id = truth.iter().find(|r| item.source.contains(&r.audit_id.to_string())).unwrap();
        let change = &stored[&id.audit_id];
        assert_eq!(change.change.detail, ChangeDetail::None);
        assert_eq!(change.raw_detail.as_deref(), Some(item.raw.as_slice()), "same bytes kept");
        seen += 1;
    }
    assert_eq!(seen, malformed);
}
