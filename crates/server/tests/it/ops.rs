//! The machine endpoints: `/healthz`, `/metrics`, and the Office 365 webhook hook.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use secrecy::SecretString;
use server::{Hooks, IntakeOutcome, MetricsSource, NotificationIntake, ServerSettings};

use crate::support::{TestServer, error_of, settings};

#[tokio::test]
async fn healthz_answers_without_sign_in() {
    let server = TestServer::start().await;
    let response = server.http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    server.stop().await;
}

struct CollectorCounters;

impl MetricsSource for CollectorCounters {
    fn write_metrics(&self, out: &mut String) {
        out.push_str("# HELP d365audit_collector_blobs_fetched_total Blobs fetched.\n");
        out.push_str("# TYPE d365audit_collector_blobs_fetched_total counter\n");
        out.push_str("d365audit_collector_blobs_fetched_total 42\n");
    }
}

#[tokio::test]
async fn metrics_count_records_and_include_the_collectors_families() {
    let hooks = Hooks { metrics: Some(Arc::new(CollectorCounters)), ..Hooks::default() };
    let server = TestServer::start_with(settings(), hooks).await;
    let text = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let records = crate::support::generated().len();
    assert!(text.contains(&format!("d365audit_archive_records {records}\n")), "{text}");
    assert!(text.contains("d365audit_up 1\n"), "{text}");
    assert!(text.contains("# TYPE d365audit_sign_in_failures_total counter"), "{text}");
    assert!(text.contains("d365audit_collector_blobs_fetched_total 42"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn metrics_want_the_token_when_one_is_configured() {
    let settings =
        ServerSettings { metrics_token: Some(SecretString::from("scrape-secret-1")), ..settings() };
    let server = TestServer::empty_with(settings, Hooks::default()).await;
    let refused = server.http.get(server.url("/metrics")).send().await.unwrap();
    let (status, code, _) = error_of(refused).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    let wrong =
        crate::support::with_token(server.http.get(server.url("/metrics")), "scrape-secret-2");
    assert_eq!(wrong.send().await.unwrap().status(), 401);
    let right =
        crate::support::with_token(server.http.get(server.url("/metrics")), "scrape-secret-1");
    let response = right.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("d365audit_archive_records 0"));
    server.stop().await;
}

/// What the webhook handed over, as the collector would receive it.
#[derive(Default)]
struct RecordingIntake {
    calls: Mutex<Vec<(bool, Bytes)>>,
    answer: Mutex<Option<IntakeOutcome>>,
}

#[async_trait]
impl NotificationIntake for RecordingIntake {
    async fn accept(&self, auth_id_ok: bool, body: Bytes) -> IntakeOutcome {
        self.calls.lock().unwrap().push((auth_id_ok, body));
        self.answer
            .lock()
            .unwrap()
            .clone()
            .unwrap_or(IntakeOutcome::Accepted { accepted: 1, rejected: 0 })
    }
}

const NOTIFICATION: &str = r#"[{"tenantId":"41463f53-8812-40f4-890f-865bf6e35190","clientId":"a6099727-6b7b-482c-b509-1df309acc563","contentType":"Audit.General","contentId":"20260601103000123000001$20260601103000123000001$audit_general$Audit_General$emea0036","contentUri":"https://manage.office.com/api/v1.0/41463f53-8812-40f4-890f-865bf6e35190/activity/feed/audit/x","contentCreated":"2026-06-01T10:30:00.123Z","contentExpiration":"2026-06-08T10:30:00.123Z"}]"#;

async fn webhook_server(
    auth_id: Option<&str>,
    max_body: usize,
) -> (TestServer, Arc<RecordingIntake>) {
    let intake = Arc::new(RecordingIntake::default());
    let settings = ServerSettings {
        webhook_auth_id: auth_id.map(SecretString::from),
        webhook_max_body_bytes: max_body,
        ..settings()
    };
    let hooks = Hooks { intake: Some(intake.clone()), ..Hooks::default() };
    (TestServer::empty_with(settings, hooks).await, intake)
}

#[tokio::test]
async fn webhook_answers_the_validation_handshake_only_with_the_right_auth_id() {
    let (server, intake) = webhook_server(Some("shared-secret-1"), 1 << 20).await;
    let post = |auth: &str| {
        server
            .http
            .post(server.url("/webhook/o365"))
            .header("Content-Type", "application/json; charset=utf-8")
            .header("Webhook-AuthID", auth)
            .header("Webhook-ValidationCode", "3f2c9b0e")
            .body(r#"{"validationCode": "3f2c9b0e"}"#)
    };
    assert_eq!(post("shared-secret-1").send().await.unwrap().status(), 200);
    assert_eq!(post("shared-secret-2").send().await.unwrap().status(), 401);
    // The code in the body alone is a handshake too.
    let body_only = server
        .http
        .post(server.url("/webhook/o365"))
        .header("Webhook-AuthID", "shared-secret-1")
        .body(r#"{"validationCode":"abc"}"#);
    assert_eq!(body_only.send().await.unwrap().status(), 200);
    assert!(intake.calls.lock().unwrap().is_empty(), "handshakes are not notifications");
    server.stop().await;
}

#[tokio::test]
async fn webhook_hands_notifications_to_the_intake_with_the_auth_check() {
    let (server, intake) = webhook_server(Some("shared-secret-1"), 1 << 20).await;
    let post = |auth: Option<&str>| {
        let request = server
            .http
            .post(server.url("/webhook/o365"))
            // Microsoft's own odd value, which JSON extractors refuse.
            .header("Content-Type", "application/json; utf-8")
            .body(NOTIFICATION);
        match auth {
            Some(auth) => request.header("Webhook-AuthID", auth),
            None => request,
        }
    };
    let response = post(Some("shared-secret-1")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 1);
    *intake.answer.lock().unwrap() = Some(IntakeOutcome::Unauthorized);
    assert_eq!(post(Some("wrong")).send().await.unwrap().status(), 401);
    assert_eq!(post(None).send().await.unwrap().status(), 401);
    let calls = intake.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls.iter().map(|c| c.0).collect::<Vec<_>>(), vec![true, false, false]);
    assert_eq!(calls[0].1, Bytes::from(NOTIFICATION), "the body arrives byte for byte");
    server.stop().await;
}

#[tokio::test]
async fn webhook_answers_each_intake_outcome_and_enforces_the_size_limit() {
    let (server, intake) = webhook_server(None, 2_000).await;
    let post = |body: String| server.http.post(server.url("/webhook/o365")).body(body);
    *intake.answer.lock().unwrap() =
        Some(IntakeOutcome::Unavailable { reason: "archive busy".into() });
    let response = post(NOTIFICATION.into()).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    *intake.answer.lock().unwrap() =
        Some(IntakeOutcome::Malformed { reason: "not an array".into() });
    let (status, code, message) = error_of(post("42".into()).send().await.unwrap()).await;
    assert_eq!((status, code.as_str(), message.as_str()), (400, "bad_request", "not an array"));
    let (status, code, _) = error_of(post("x".repeat(2_001)).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
    assert_eq!(intake.calls.lock().unwrap().len(), 2, "an oversized body never reaches the intake");
    // Without an authId configured, every caller passes the server's check.
    assert!(intake.calls.lock().unwrap().iter().all(|(ok, _)| *ok));
    server.stop().await;
}

#[tokio::test]
async fn webhook_without_a_collector_refuses_notifications_so_microsoft_retries() {
    let server = TestServer::empty_with(settings(), Hooks::default()).await;
    let response =
        server.http.post(server.url("/webhook/o365")).body(NOTIFICATION).send().await.unwrap();
    let (status, code, _) = error_of(response).await;
    assert_eq!((status, code.as_str()), (503, "unavailable"));
    // The handshake still works (a subscription can be started before collection runs).
    let handshake = server
        .http
        .post(server.url("/webhook/o365"))
        .header("Webhook-ValidationCode", "abc")
        .body(r#"{"validationCode":"abc"}"#);
    assert_eq!(handshake.send().await.unwrap().status(), 200);
    server.stop().await;
}
