//! Content listing and blob fetch against the emulator: every NextPageUri (both spellings), the
//! page-at-a-time form, raw blob bytes, PublisherIdentifier everywhere, the URL pin, pacing.

use std::collections::HashSet;
use std::time::Instant;

use chrono::Duration;
use clock::Clock;
use emulator::{Faults, Operation as EmuOperation, RunningEmulator, demo};
use o365::{Action, AfCode, ContentBlob, ContentType, Error, Fix, ListingWindow, Pacing};
use uuid::Uuid;

use crate::support::*;

/// The window "from two days ago to one day ago" on the emulator's clock.
fn a_day(emu: &RunningEmulator) -> ListingWindow {
    let clock = emu.clock();
    let now = clock.now();
    ListingWindow::new(now - Duration::days(2), now - Duration::days(1), &*clock)
        .expect("yesterday is a valid window")
}

fn an_hour(emu: &RunningEmulator) -> ListingWindow {
    let clock = emu.clock();
    let now = clock.now();
    ListingWindow::new(now - Duration::hours(5), now - Duration::hours(4), &*clock)
        .expect("an hour today is a valid window")
}

fn ids(blobs: &[ContentBlob]) -> Vec<String> {
    blobs.iter().map(|b| b.content_id.clone()).collect()
}

#[tokio::test]
async fn a_day_with_tiny_pages_lists_every_blob_exactly_once() {
    let emu = emulator().await;
    let client = demo_client(&emu);
    let window = a_day(&emu);

    // Reference: one big page.
    let whole = client.list_content(ContentType::General, &window).await.unwrap();
    assert!(whole.len() > 200, "a day of 5-minute blobs, got {}", whole.len());
    assert_eq!(ids(&whole).into_iter().collect::<HashSet<_>>().len(), whole.len());
    for blob in &whole {
        assert!(blob.content_created >= window.start() && blob.content_created < window.end());
        assert_eq!(blob.content_type, ContentType::General);
        assert!(blob.content_expiration > blob.content_created);
        assert!(blob.content_uri.as_str().contains('$'), "{}", blob.content_uri);
    }

    let variants = [("NextPageUri", false), ("NextPageUrl", false), ("nextpageuri", true)];
    for (header, path_v1) in variants {
        emu.set_faults(Faults {
            page_size: Some(7),
            next_page_header: header.to_owned(),
            next_page_path_v1: path_v1,
            ..Faults::default()
        });
        let before = emu.stats().requests(EmuOperation::ListContent);
        let paged = client.list_content(ContentType::General, &window).await.unwrap();
        let pages = emu.stats().requests(EmuOperation::ListContent) - before;
        assert_eq!(ids(&paged), ids(&whole), "{header} (v1 path: {path_v1})");
        assert_eq!(pages as usize, whole.len().div_ceil(7), "{header}");
    }

    // Page at a time gives the same blobs.
    emu.set_faults(Faults { page_size: Some(50), ..Faults::default() });
    let mut page = client.content_page(ContentType::General, &window).await.unwrap();
    let mut one_by_one = std::mem::take(&mut page.blobs);
    let mut pages = 1;
    while let Some(next) = page.next.take() {
        assert_eq!(next.content_type(), ContentType::General);
        assert!(next.url().as_str().contains("nextPage="), "{}", next.url());
        page = client.next_content_page(&next).await.unwrap();
        one_by_one.append(&mut page.blobs);
        pages += 1;
    }
    assert_eq!(pages, whole.len().div_ceil(50));
    assert_eq!(ids(&one_by_one), ids(&whole));
    assert_eq!(emu.stats().requests_without_publisher_identifier, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn blobs_come_back_byte_for_byte_and_parse_as_json_arrays() {
    let emu = emulator().await;
    let client = demo_client(&emu);
    let blobs = client.list_content(ContentType::General, &an_hour(&emu)).await.unwrap();
    assert!(!blobs.is_empty());
    for blob in blobs.iter().take(3) {
        let bytes = client.fetch_blob(blob).await.unwrap();
        let records: Vec<serde_json::Value> =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", blob.content_id));
        assert!(!records.is_empty());
        assert!(records.iter().all(|r| r.get("Id").is_some() && r.get("RecordType").is_some()));
        let again = client.fetch_content(blob.content_uri.as_str()).await.unwrap();
        assert_eq!(bytes, again, "the same blob twice");
    }
    assert_eq!(emu.stats().requests(EmuOperation::GetBlob), 6);
    emu.shutdown().await;
}

#[tokio::test]
async fn publisher_identifier_is_on_every_request() {
    let emu = emulator().await;
    // Default: the tenant id.
    let client = demo_client(&emu);
    let window = an_hour(&emu);
    emu.set_faults(Faults { page_size: Some(3), ..Faults::default() });
    let blobs = client.list_content(ContentType::General, &window).await.unwrap();
    client.fetch_blob(&blobs[0]).await.unwrap();
    client.list_subscriptions().await.unwrap();
    client.list_notifications(ContentType::General, &window).await.unwrap();
    client.dlp_sensitive_types(None).await.unwrap();
    client.start_subscription(ContentType::Exchange, None).await.unwrap();
    client.stop_subscription(ContentType::Exchange).await.unwrap();
    let stats = emu.stats();
    assert!(stats.requests(EmuOperation::ListContent) > 1, "several pages were listed");
    assert_eq!(stats.requests_without_publisher_identifier, 0, "{stats:?}");
    assert_eq!(stats.last_publisher_identifier, Some(demo::TENANT_ID.to_string()));

    // A vendor's own identifier, when configured.
    let vendor = Uuid::new_v4();
    let mut settings = settings(&emu);
    settings.publisher_identifier = Some(vendor);
    let vendor_client = client_for(&emu, settings);
    vendor_client.fetch_blob(&blobs[1]).await.unwrap();
    let stats = emu.stats();
    assert_eq!(stats.requests_without_publisher_identifier, 0);
    assert_eq!(stats.last_publisher_identifier, Some(vendor.to_string()));
    emu.shutdown().await;
}

fn client_for(emu: &RunningEmulator, settings: o365::ActivitySettings) -> o365::ActivityClient {
    client(emu, settings)
}

#[tokio::test]
async fn a_forged_content_uri_is_refused_before_any_request() {
    let emu = emulator().await;
    let client = demo_client(&emu);
    let genuine = format!(
        "{}/audit/20260601103000123000001$20260601103000123000001$audit_general$Audit_General$emea0036",
        emu.feed_root(demo::TENANT_ID)
    );
    let login = emu.login_base();
    let forged = [
        genuine.replace(
            emu.api_base().as_str().trim_end_matches('/'),
            "https://collector.evil.example",
        ),
        genuine.replace("127.0.0.1", "127.0.0.2"),
        genuine.replace(
            &format!(":{}", emu.api_base().port().unwrap()),
            &format!(":{}", login.port().unwrap()),
        ),
        genuine.replace("http://", "https://"),
    ];
    for uri in &forged {
        assert_ne!(uri, &genuine);
        let err = client.fetch_content(uri).await.unwrap_err();
        assert!(matches!(err, Error::ForeignUrl { .. }), "{uri}: {err}");
        assert_eq!(err.action(), Action::Refused);
        assert!(err.to_string().contains("no request was sent"), "{err}");
    }
    // Not a single request, not even for a token.
    assert_eq!(client.counters().requests, 0);
    assert_eq!(client.tokens().fetch_count(), 0);
    let stats = emu.stats();
    assert_eq!(stats.requests(EmuOperation::GetBlob), 0);
    assert_eq!(stats.tokens_issued, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn dlp_sensitive_types_and_language_errors() {
    let emu = emulator().await;
    let client = demo_client(&emu);
    let types = client.dlp_sensitive_types(Some("en-US")).await.unwrap();
    assert!(types.iter().any(|t| t.name == "CreditCardNumber"), "{types:?}");
    let err = client.dlp_sensitive_types(Some("en-US, fr-FR")).await.unwrap_err();
    assert_eq!(err.af_code(), Some(AfCode::Af20053));
    assert_eq!(err.action(), Action::FixConfiguration { fix: Fix::AcceptLanguage });
    emu.shutdown().await;
}

#[tokio::test]
async fn a_window_refused_by_the_service_asks_for_a_new_window() {
    // This machine's clock is two days behind the service: the window looks fine locally but
    // starts more than 7 days ago for the service.
    let emu = emulator().await;
    let behind =
        std::sync::Arc::new(clock::ManualClock::frozen_at(emu.clock().now() - Duration::days(2)));
    let client = o365::ActivityClient::new(settings(&emu), behind.clone()).unwrap();
    let now = behind.now();
    let window = ListingWindow::new(
        now - Duration::days(7) + Duration::minutes(1),
        now - Duration::days(6),
        &*behind,
    )
    .unwrap();
    let Err(err) = client.list_content(ContentType::General, &window).await else {
        panic!("the service accepted a window older than 7 days");
    };
    assert!(matches!(err.af_code(), Some(AfCode::Af20055 | AfCode::Af20030)), "{err}");
    assert_eq!(err.action(), Action::RecomputeWindow);
    assert_eq!(client.counters().retries, 0, "not retried blindly");
    emu.shutdown().await;
}

#[tokio::test]
async fn the_pacer_spaces_requests_across_clones() {
    let emu = emulator().await;
    let mut settings = settings(&emu);
    settings.pacing = Pacing { requests_per_minute: 600, burst: 1 };
    let client = client(&emu, settings);
    client.list_subscriptions().await.unwrap(); // token fetched, first slot used
    let started = Instant::now();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.list_subscriptions().await.map(|_| ()) })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    // 600/min = one request per 100 ms, shared by the clones.
    assert!(started.elapsed() >= std::time::Duration::from_millis(550), "{:?}", started.elapsed());
    assert_eq!(client.counters().requests, 7);
    emu.shutdown().await;
}
