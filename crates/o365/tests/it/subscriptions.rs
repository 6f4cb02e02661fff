//! Subscriptions against the emulator: start (with and without webhook), AF20024 as success,
//! the 15-minute start guard, stop, list, and the notification history.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use emulator::Operation as EmuOperation;
use o365::{
    Action, ContentType, Error, ListingWindow, SecretString, StartOutcome, SubscriptionStatus,
    Webhook, WebhookPayload, WebhookStatus, parse_webhook_payload,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

use crate::support::*;

#[tokio::test]
async fn start_stop_list_with_already_enabled_and_the_fifteen_minute_guard() {
    let emu = emulator().await;
    let manual = emu.manual_clock().unwrap();
    let client = demo_client(&emu);

    // Pre-subscribed: the service answers AF20024, which is success.
    let outcome = client.start_subscription(ContentType::General, None).await.unwrap();
    assert!(matches!(outcome, StartOutcome::AlreadyEnabled), "{outcome:?}");

    let outcome = client.start_subscription(ContentType::Exchange, None).await.unwrap();
    let StartOutcome::Started(started) = outcome else { panic!("{outcome:?}") };
    assert_eq!(started.content_type, ContentType::Exchange);
    assert_eq!(started.status, SubscriptionStatus::Enabled);
    assert!(started.webhook.is_none());

    let listed = client.list_subscriptions().await.unwrap();
    let status = |ct| listed.iter().find(|s| s.content_type == ct).map(|s| s.status.clone());
    assert_eq!(status(ContentType::General), Some(SubscriptionStatus::Enabled));
    assert_eq!(status(ContentType::Exchange), Some(SubscriptionStatus::Enabled));
    assert_eq!(status(ContentType::SharePoint), None);

    // A second start within 15 minutes is refused locally, by every clone, without a request.
    let sent = emu.stats().requests(EmuOperation::StartSubscription);
    assert_eq!(sent, 2);
    let started_at = emu.clock().now();
    for c in [client.clone(), client.clone()] {
        let err = c.start_subscription(ContentType::Exchange, None).await.unwrap_err();
        let Error::StartTooSoon { content_type, next_allowed, .. } = &err else { panic!("{err}") };
        assert_eq!(*content_type, ContentType::Exchange);
        let wait = *next_allowed - started_at;
        assert!(wait > Duration::minutes(14) && wait <= Duration::minutes(15), "{wait}");
        assert!(err.to_string().contains("next start is allowed at"), "{err}");
    }
    assert_eq!(emu.stats().requests(EmuOperation::StartSubscription), sent);
    assert!(client.next_start_allowed(ContentType::Exchange).is_some());
    // Other content types are not held back.
    assert!(client.next_start_allowed(ContentType::SharePoint).is_none());

    manual.advance(Duration::minutes(15) + Duration::seconds(1));
    assert!(client.next_start_allowed(ContentType::Exchange).is_none());
    let outcome = client.start_subscription(ContentType::Exchange, None).await.unwrap();
    assert!(matches!(outcome, StartOutcome::AlreadyEnabled), "{outcome:?}");
    assert_eq!(emu.stats().requests(EmuOperation::StartSubscription), sent + 1);

    client.stop_subscription(ContentType::Exchange).await.unwrap();
    let listed = client.list_subscriptions().await.unwrap();
    let exchange = listed.iter().find(|s| s.content_type == ContentType::Exchange);
    assert!(exchange.is_none_or(|s| s.status != SubscriptionStatus::Enabled), "{exchange:?}");

    // Listing a stopped subscription asks for a new subscription.
    let now = emu.clock().now();
    let window =
        ListingWindow::new(now - Duration::hours(2), now - Duration::hours(1), &*emu.clock())
            .unwrap();
    let err = client.list_content(ContentType::Exchange, &window).await.unwrap_err();
    assert_eq!(err.action(), Action::Resubscribe, "{err}");
    emu.shutdown().await;
}

/// Requests received by the webhook: head (request line and headers) and body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A webhook endpoint on loopback that answers 200 to everything and keeps what it received.
struct Receiver {
    address: Url,
    requests: Received,
    task: tokio::task::JoinHandle<()>,
}

async fn receiver() -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let address = {
        let addr = listener.local_addr().expect("the bound address");
        Url::parse(&format!("http://{addr}/o365-hook")).expect("a valid URL")
    };
    let requests: Received = Arc::new(Mutex::new(Vec::new()));
    let store = requests.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let store = store.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let Ok(n) = socket.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buffer[..end]).to_string();
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (name, value) = l.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse().ok())?
                        })
                        .unwrap_or(0usize);
                    while buffer.len() < end + 4 + length {
                        let Ok(n) = socket.read(&mut chunk).await else { return };
                        if n == 0 {
                            break;
                        }
                        buffer.extend_from_slice(&chunk[..n]);
                    }
                    break (head, buffer[end + 4..].to_vec());
                };
                store.lock().expect("not poisoned").push((head, body));
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    Receiver { address, requests, task }
}

#[tokio::test]
async fn a_webhook_subscription_validates_notifies_and_shows_in_the_history() {
    let emu = emulator().await;
    let manual = emu.manual_clock().unwrap();
    let client = demo_client(&emu);
    let hook = receiver().await;
    let webhook = Webhook {
        address: hook.address.clone(),
        auth_id: Some(SecretString::from("hook-shared-secret")),
        expiration: Some(emu.clock().now() + Duration::days(30)),
    };
    let outcome = client.start_subscription(ContentType::SharePoint, Some(&webhook)).await.unwrap();
    let StartOutcome::Started(started) = outcome else { panic!("{outcome:?}") };
    let state = started.webhook.expect("the webhook is registered");
    assert_eq!(state.status, WebhookStatus::Enabled);
    assert_eq!(state.address, hook.address.as_str());
    assert!(state.expiration.is_some());

    // The validation handshake carried our authId.
    {
        let requests = hook.requests.lock().unwrap();
        let (head, body) = requests.first().expect("a validation POST");
        assert!(head.to_ascii_lowercase().contains("webhook-authid: hook-shared-secret"), "{head}");
        let payload = parse_webhook_payload(body).unwrap();
        assert!(matches!(payload, WebhookPayload::Validation { .. }), "{payload:?}");
    }

    // Three hours later blobs exist; the notifier posts them to the webhook.
    manual.advance(Duration::hours(3));
    let mut notified = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        notified = hook
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, body)| match parse_webhook_payload(body) {
                Ok(WebhookPayload::Notifications(list)) => Some(list),
                _ => None,
            })
            .flatten()
            .collect();
        if !notified.is_empty() {
            break;
        }
    }
    assert!(!notified.is_empty(), "no notification arrived");
    let first = &notified[0];
    assert_eq!(first.content_type, ContentType::SharePoint);
    assert_eq!(first.tenant_id, emulator::demo::TENANT_ID.to_string());
    // A notified contentUri is fetched through the same pinned path.
    let bytes = client.fetch_content(&first.content_uri).await.unwrap();
    assert!(serde_json::from_slice::<Vec<serde_json::Value>>(&bytes).is_ok());

    let now = emu.clock().now();
    let window =
        ListingWindow::clamped(now - Duration::hours(4), now + Duration::hours(1), &*emu.clock())
            .unwrap();
    let history = client.list_notifications(ContentType::SharePoint, &window).await.unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.blob.content_id == first.content_id && h.notification_status == "success"),
        "{history:?}"
    );
    hook.task.abort();
    emu.shutdown().await;
}
