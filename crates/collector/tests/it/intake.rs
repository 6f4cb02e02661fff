//! Webhook intake: notifications are checked (configured tenant, collected content type,
//! contentUri on the tenant's API) and queued without any fetching; refused ones are counted.

use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use collector::RejectReason;
use emulator::{Operation, demo};
use o365::{ContentType, ListingWindow, WebhookPayload, parse_webhook_payload};
use settings::RecordScope;
use uuid::Uuid;

use crate::retries::notification;
use crate::support::*;

#[tokio::test]
async fn notifications_are_checked_queued_without_fetching_and_collected() {
    let h = Harness::start(emulator_config(40)).await;
    let client = direct_client(&h.emu, h.clock.clone());
    let window = ListingWindow::new(t0() - Duration::hours(4), t0(), h.clock.as_ref()).unwrap();
    let blobs = client.list_content(ContentType::General, &window).await.unwrap();
    let good: Vec<_> = blobs.iter().map(notification).collect();

    let mut bad = Vec::new();
    let mut foreign_host = good[0].clone();
    foreign_host.content_uri =
        foreign_host.content_uri.replace(h.emu.api_base().as_str(), "https://manage.evil.example/");
    bad.push(foreign_host);
    let mut other_tenant_path = good[0].clone();
    other_tenant_path.content_uri = other_tenant_path
        .content_uri
        .replace(&demo::TENANT_ID.to_string(), &Uuid::nil().to_string());
    bad.push(other_tenant_path);
    let mut unknown_tenant = good[0].clone();
    unknown_tenant.tenant_id = Uuid::from_u128(7).to_string();
    bad.push(unknown_tenant);
    let mut not_collected = good[0].clone();
    not_collected.content_type = ContentType::Exchange;
    bad.push(not_collected);
    let mut not_a_guid = good[0].clone();
    not_a_guid.tenant_id = demo::DOMAIN.to_owned();
    bad.push(not_a_guid);

    let collector = h.collector();
    let mut all = bad.clone();
    all.extend(good.iter().cloned());
    let gets = h.emu.stats().requests(Operation::GetBlob);
    let started = Instant::now();
    let receipt = collector.accept_notifications(None, &all).await.unwrap();
    assert!(started.elapsed() < StdDuration::from_secs(2), "intake must be fast");
    assert_eq!(h.emu.stats().requests(Operation::GetBlob), gets, "nothing is fetched at intake");
    assert_eq!(receipt.accepted, good.len() as u64);
    assert_eq!(receipt.new, good.len() as u64);
    let reasons: Vec<&RejectReason> = receipt.rejected.iter().map(|r| &r.reason).collect();
    assert!(matches!(reasons[0], RejectReason::ForeignContentUri { .. }), "{reasons:?}");
    assert!(matches!(reasons[1], RejectReason::ForeignContentUri { .. }), "{reasons:?}");
    assert!(matches!(reasons[2], RejectReason::UnknownTenant { .. }), "{reasons:?}");
    assert!(
        matches!(reasons[3], RejectReason::ContentTypeNotCollected { content_type } if content_type == "Audit.Exchange"),
        "{reasons:?}"
    );
    assert!(matches!(reasons[4], RejectReason::UnknownTenant { .. }), "{reasons:?}");
    assert_eq!(receipt.rejected.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);

    // Known blobs are not queued twice; an endpoint named for a tenant checks it.
    let again = collector.accept_notifications(Some("contoso"), &good).await.unwrap();
    assert_eq!((again.accepted, again.new), (good.len() as u64, 0));
    let elsewhere = collector.accept_notifications(Some("fabrikam"), &good[..1]).await.unwrap();
    assert!(matches!(elsewhere.rejected[0].reason, RejectReason::UnknownTenant { .. }));
    let counters = collector.metrics().counters;
    assert_eq!(counters.notifications_accepted, 2 * good.len() as u64);
    assert_eq!(counters.notifications_new, good.len() as u64);
    assert_eq!(counters.notifications_rejected, 6);

    // The body Microsoft posts, parsed by the client's parser, is accepted the same way.
    let body = format!(
        r#"[{{"tenantId":"{}","clientId":"{}","contentType":"Audit.General","contentId":"{}","contentUri":"{}","contentCreated":"{}","contentExpiration":"{}"}}]"#,
        demo::TENANT_ID,
        demo::CLIENT_ID,
        blobs[0].content_id,
        blobs[0].content_uri,
        blobs[0].content_created.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        blobs[0].content_expiration.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
    );
    let WebhookPayload::Notifications(parsed) = parse_webhook_payload(body.as_bytes()).unwrap()
    else {
        panic!()
    };
    let receipt = collector.accept_notifications(None, &parsed).await.unwrap();
    assert_eq!((receipt.accepted, receipt.rejected.len()), (1, 0));

    // Workers fetch what was queued (and the poller the rest): exactly the truth.
    let summary = collector.run_once().await.unwrap();
    assert!(summary.complete(), "{summary:#?}");
    let truth = h.truth(&RecordScope::default(), t0()).await;
    h.assert_matches(&truth).await;
}
