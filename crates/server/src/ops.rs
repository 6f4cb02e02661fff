//! Endpoints for machines: `GET /healthz` (no sign-in: is the archive answering),
//! `GET /metrics` (Prometheus text: open, or behind a bearer token when one is configured; it
//! holds counts only), and `POST /webhook/o365`, where Microsoft's Management Activity API
//! posts content notifications.
//!
//! WEBHOOK HOOK: the endpoint answers the validation handshake itself, checks
//! `Webhook-AuthID` in constant time, accepts Microsoft's `Content-Type: application/json;
//! utf-8` (read as bytes, not through a JSON extractor that would refuse it), enforces the body
//! size limit, and hands the body to the [`NotificationIntake`](crate::NotificationIntake) the
//! collector plugs in. Without an intake it answers 503 so Microsoft keeps the notifications.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ErrorCode, Failure};
use crate::state::{IntakeOutcome, ServerState};

/// The server's own counters, exposed on `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    pub sign_ins: AtomicU64,
    pub sign_in_failures: AtomicU64,
    pub sign_ins_throttled: AtomicU64,
    pub searches: AtomicU64,
    pub exports: AtomicU64,
    pub export_rows: AtomicU64,
    pub sql_statements: AtomicU64,
    pub webhook_validations: AtomicU64,
    pub webhook_posts: AtomicU64,
    pub webhook_refused: AtomicU64,
}

/// `GET /healthz`: 200 `{"status":"ok"}` when the archive answers a query, 503 otherwise.
pub async fn healthz(State(state): State<ServerState>) -> Response {
    match state.backend().cursor("d365audit.healthz").await {
        Ok(_) => {
            (StatusCode::OK, Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})))
                .into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "health check: the archive does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "error": "the archive does not answer"})),
            )
                .into_response()
        }
    }
}

fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .unwrap_or("");
    bool::from(presented.trim().as_bytes().ct_eq(expected.as_bytes()))
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a Prometheus label value.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.settings().metrics_token
        && !bearer_matches(&headers, token.expose_secret())
    {
        return ApiError(Failure::new(
            ErrorCode::Unauthorized,
            "/metrics needs `Authorization: Bearer <metrics token>`",
        ))
        .into_response();
    }
    let mut out = String::new();
    let backend = state.backend();
    family(&mut out, "d365audit_up", "gauge", "1 when the archive answered this scrape.");
    match backend.summary().await {
        Ok(summary) => {
            let _ = writeln!(out, "d365audit_up 1");
            family(
                &mut out,
                "d365audit_archive_records",
                "gauge",
                "Records stored in the archive.",
            );
            let _ = writeln!(out, "d365audit_archive_records {}", summary.records);
            family(
                &mut out,
                "d365audit_archive_quarantined",
                "gauge",
                "Inputs kept in quarantine.",
            );
            let _ = writeln!(out, "d365audit_archive_quarantined {}", summary.quarantined);
            family(&mut out, "d365audit_archive_batches", "gauge", "Sealed ingest batches.");
            let _ = writeln!(out, "d365audit_archive_batches {}", summary.batches);
            family(
                &mut out,
                "d365audit_archive_stored_bytes",
                "gauge",
                "Bytes the archive occupies.",
            );
            let _ = writeln!(out, "d365audit_archive_stored_bytes {}", summary.stored_bytes);
            if let Some(latest) = summary.latest {
                family(
                    &mut out,
                    "d365audit_archive_latest_record_timestamp_seconds",
                    "gauge",
                    "Event time of the newest record.",
                );
                let _ = writeln!(
                    out,
                    "d365audit_archive_latest_record_timestamp_seconds {}",
                    latest.timestamp()
                );
            }
        }
        Err(error) => {
            tracing::warn!(%error, "metrics: the archive summary failed");
            let _ = writeln!(out, "d365audit_up 0");
        }
    }
    match backend.queue_status().await {
        Ok(feeds) => {
            family(&mut out, "d365audit_blobs", "gauge", "Content blobs in the queue by state.");
            for feed in &feeds {
                for (state_name, count) in &feed.counts {
                    let _ = writeln!(
                        out,
                        "d365audit_blobs{{tenant_id=\"{}\",content_type=\"{}\",state=\"{}\"}} {count}",
                        feed.tenant_id,
                        label(&feed.content_type),
                        label(state_name)
                    );
                }
            }
            family(
                &mut out,
                "d365audit_blob_oldest_waiting_timestamp_seconds",
                "gauge",
                "contentCreated of the oldest blob not yet done.",
            );
            for feed in &feeds {
                if let Some(oldest) = feed.oldest_waiting {
                    let _ = writeln!(
                        out,
                        "d365audit_blob_oldest_waiting_timestamp_seconds{{tenant_id=\"{}\",content_type=\"{}\"}} {}",
                        feed.tenant_id,
                        label(&feed.content_type),
                        oldest.timestamp()
                    );
                }
            }
        }
        Err(error) => tracing::warn!(%error, "metrics: the queue status failed"),
    }
    let c = &state.shared.counters;
    for (name, help, value) in [
        ("d365audit_sign_ins_total", "Successful sign-ins.", &c.sign_ins),
        ("d365audit_sign_in_failures_total", "Failed sign-ins.", &c.sign_in_failures),
        (
            "d365audit_sign_ins_throttled_total",
            "Sign-ins refused by the rate limit.",
            &c.sign_ins_throttled,
        ),
        ("d365audit_searches_total", "Searches and timelines served.", &c.searches),
        ("d365audit_exports_total", "Exports started.", &c.exports),
        ("d365audit_export_rows_total", "Rows written by exports.", &c.export_rows),
        ("d365audit_sql_statements_total", "SQL console statements run.", &c.sql_statements),
        (
            "d365audit_webhook_validations_total",
            "Webhook validation handshakes answered.",
            &c.webhook_validations,
        ),
        ("d365audit_webhook_posts_total", "Webhook notification posts received.", &c.webhook_posts),
        ("d365audit_webhook_refused_total", "Webhook posts refused.", &c.webhook_refused),
    ] {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
    }
    if let Some(source) = &state.shared.hooks.metrics {
        source.write_metrics(&mut out);
    }
    let mut response = Response::new(Body::from(out));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// `POST /webhook/o365`.
pub async fn webhook(State(state): State<ServerState>, headers: HeaderMap, body: Body) -> Response {
    let counters = &state.shared.counters;
    let limit = state.settings().webhook_max_body_bytes;
    let body: Bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            counters.webhook_refused.fetch_add(1, Ordering::Relaxed);
            return ApiError(Failure::new(
                ErrorCode::PayloadTooLarge,
                format!("the notification body is larger than {limit} bytes"),
            ))
            .into_response();
        }
    };
    let auth_id_ok = match &state.settings().webhook_auth_id {
        None => true,
        Some(expected) => headers
            .get("webhook-authid")
            .is_some_and(|v| bool::from(v.as_bytes().ct_eq(expected.expose_secret().as_bytes()))),
    };
    // The validation handshake: a header, and the same code in a JSON object body.
    let validation = headers.get("webhook-validationcode").is_some()
        || (body.first() == Some(&b'{')
            && serde_json::from_slice::<serde_json::Value>(&body)
                .is_ok_and(|v| v.get("validationCode").is_some()));
    if validation {
        if !auth_id_ok {
            counters.webhook_refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("webhook validation with a wrong Webhook-AuthID refused");
            return StatusCode::UNAUTHORIZED.into_response();
        }
        counters.webhook_validations.fetch_add(1, Ordering::Relaxed);
        tracing::info!("webhook validation handshake answered");
        return StatusCode::OK.into_response();
    }
    counters.webhook_posts.fetch_add(1, Ordering::Relaxed);
    let Some(intake) = &state.shared.hooks.intake else {
        counters.webhook_refused.fetch_add(1, Ordering::Relaxed);
        return ApiError(Failure::new(
            ErrorCode::Unavailable,
            "this server does not collect; notifications are not accepted here",
        ))
        .into_response();
    };
    match intake.accept(auth_id_ok, body).await {
        IntakeOutcome::Accepted { accepted, rejected } => {
            (StatusCode::OK, Json(json!({"accepted": accepted, "rejected": rejected})))
                .into_response()
        }
        IntakeOutcome::Unauthorized => {
            counters.webhook_refused.fetch_add(1, Ordering::Relaxed);
            StatusCode::UNAUTHORIZED.into_response()
        }
        IntakeOutcome::Malformed { reason } => {
            counters.webhook_refused.fetch_add(1, Ordering::Relaxed);
            ApiError(Failure::bad_request(reason)).into_response()
        }
        IntakeOutcome::Unavailable { reason } => {
            tracing::warn!(%reason, "webhook notifications could not be queued");
            ApiError(Failure {
                code: ErrorCode::Unavailable,
                message: "the notifications could not be queued; send them again".into(),
                retry_after: Some(30),
            })
            .into_response()
        }
    }
}
