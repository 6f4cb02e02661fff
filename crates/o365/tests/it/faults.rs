//! Every emulator fault the client must survive or explain: AF429 as 403 and as 429, AF50000,
//! 401 mid-run, expired blobs, malformed blobs, unified audit logging off.

use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use emulator::{Faults, Operation as EmuOperation, Throttle};
use o365::{Action, AfCode, ContentType, ErrorCode, Fix, ListingWindow, RetryHint};

use crate::support::*;

fn an_hour(emu: &emulator::RunningEmulator) -> ListingWindow {
    let clock = emu.clock();
    let now = clock.now();
    ListingWindow::new(now - Duration::hours(6), now - Duration::hours(5), &*clock)
        .expect("an hour today is a valid window")
}

#[tokio::test]
async fn throttling_as_403_and_as_429_is_retried_until_it_succeeds() {
    let emu = emulator().await;
    let client = demo_client(&emu);
    client.list_subscriptions().await.unwrap();

    emu.set_faults(Faults { throttle: Some(Throttle::next(2)), ..Faults::default() });
    let blobs = client.list_content(ContentType::General, &an_hour(&emu)).await.unwrap();
    assert!(!blobs.is_empty());
    let counters = client.counters();
    assert_eq!((counters.throttled, counters.retries), (2, 2));

    emu.set_faults(Faults {
        throttle: Some(Throttle::next(2).with_status(429)),
        ..Faults::default()
    });
    client.fetch_blob(&blobs[0]).await.unwrap();
    let counters = client.counters();
    assert_eq!((counters.throttled, counters.retries), (4, 4));

    // Retry-After is honoured.
    emu.set_faults(Faults {
        throttle: Some(Throttle::next(1).with_status(429).with_retry_after(1)),
        ..Faults::default()
    });
    let started = Instant::now();
    client.list_subscriptions().await.unwrap();
    assert!(started.elapsed() >= StdDuration::from_millis(990), "{:?}", started.elapsed());
    assert_eq!(emu.stats().faults("AF429"), 5);
    emu.shutdown().await;
}

#[tokio::test]
async fn persistent_throttling_gives_up_after_max_attempts_with_a_retry_hint() {
    let emu = emulator().await;
    let mut settings = settings(&emu);
    settings.retry.max_attempts = 3;
    let client = client(&emu, settings);
    emu.set_faults(Faults { throttle: Some(Throttle::next(100)), ..Faults::default() });
    let err = client.list_subscriptions().await.unwrap_err();
    assert_eq!(err.af_code(), Some(AfCode::Af429), "{err}");
    assert_eq!(err.action(), Action::RetryLater);
    assert_eq!(err.retry_hint(), RetryHint::Backoff);
    let o365::Error::Api(api) = &err else { panic!("{err}") };
    assert_eq!(api.status, 403);
    assert!(api.message.contains("Too many requests"), "{}", api.message);
    assert_eq!(client.counters().requests, 3);
    assert_eq!(emu.stats().requests(EmuOperation::ListSubscriptions), 3);
    emu.shutdown().await;
}

#[tokio::test]
async fn internal_errors_are_retried() {
    let emu = emulator().await;
    let client = demo_client(&emu);
    emu.set_faults(Faults { internal_error_next: 2, ..Faults::default() });
    client.list_content(ContentType::General, &an_hour(&emu)).await.unwrap();
    assert_eq!(client.counters().retries, 2);
    assert_eq!(emu.stats().faults("AF50000"), 2);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_401_mid_run_refreshes_the_token_once_and_succeeds() {
    let emu = emulator().await;
    let client = demo_client(&emu);
    let blobs = client.list_content(ContentType::General, &an_hour(&emu)).await.unwrap();
    assert_eq!(client.tokens().fetch_count(), 1);

    emu.revoke_tokens();
    let bytes = client.fetch_blob(&blobs[0]).await.unwrap();
    assert!(!bytes.is_empty());
    assert_eq!(client.tokens().fetch_count(), 2, "exactly one refresh");
    assert_eq!(client.counters().unauthorized, 1);

    // Concurrent callers refused together share one refresh.
    emu.revoke_tokens();
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.list_subscriptions().await.map(|_| ()) })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(client.tokens().fetch_count(), 3);
    emu.shutdown().await;
}

#[tokio::test]
async fn expired_blobs_are_content_gone_and_not_retried() {
    let emu = emulator().await;
    let client = demo_client(&emu);
    let blobs = client.list_content(ContentType::General, &an_hour(&emu)).await.unwrap();
    emu.set_faults(Faults { expired_blob_fraction: 1.0, ..Faults::default() });
    let err = client.fetch_blob(&blobs[0]).await.unwrap_err();
    assert_eq!(err.af_code(), Some(AfCode::Af20051), "{err}");
    assert_eq!(err.action(), Action::ContentGone);
    assert_eq!(err.retry_hint(), RetryHint::No);
    assert_eq!(client.counters().retries, 0);
    assert_eq!(emu.stats().faults("expired_blob"), 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn malformed_blob_bytes_are_returned_as_they_are() {
    let emu = emulator().await;
    let client = demo_client(&emu);
    let blobs = client.list_content(ContentType::General, &an_hour(&emu)).await.unwrap();
    let healthy = client.fetch_blob(&blobs[0]).await.unwrap();
    emu.set_faults(Faults { malformed_blob_fraction: 1.0, ..Faults::default() });
    let malformed = client.fetch_blob(&blobs[0]).await.unwrap();
    assert!(!malformed.is_empty());
    assert!(serde_json::from_slice::<serde_json::Value>(&malformed).is_err());
    assert!(healthy.starts_with(&malformed), "the truncated bytes, unchanged");
    assert_eq!(emu.stats().faults("malformed_blob"), 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn unified_audit_off_is_explained() {
    let emu = emulator_with(|c| c.tenants[0].unified_audit_enabled = false).await;
    let client = demo_client(&emu);
    for err in [
        client.list_subscriptions().await.unwrap_err(),
        client.start_subscription(ContentType::SharePoint, None).await.unwrap_err(),
    ] {
        assert_eq!(err.action(), Action::FixConfiguration { fix: Fix::UnifiedAuditOff }, "{err}");
        let o365::Error::Api(api) = &err else { panic!("{err}") };
        assert!(matches!(api.code, ErrorCode::Other(_)), "{:?}", api.code);
        let text = err.to_string();
        assert!(
            text.contains("unified audit logging is off for this tenant (or wrong tenant/cloud)"),
            "{text}"
        );
        assert!(text.contains("turn on auditing in Microsoft Purview"), "{text}");
        assert!(text.contains("up to 60 minutes"), "{text}");
    }
    assert_eq!(client.counters().retries, 0);
    emu.shutdown().await;
}
