//! Webhooks (reference §1.4, §1.9, §1.10): the address check, the validation handshake, and the
//! background notifier that POSTs newly available blobs, retries failures with exponentially
//! increasing waits and disables the webhook after `max_attempts` (both Gaps, configurable in
//! `WebhookDelivery`), recording every attempt in the notification history.

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::header;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use url::{Host, Url};
use uuid::Uuid;

use crate::api_error::{ApiError, af};
use crate::catalog::BlobView;
use crate::content_type::ContentType;
use crate::schedule::ContentBlob;
use crate::state::{EmulatorState, lock};
use crate::subscriptions::{Delivery, NotificationEntry, WebhookRequest};
use crate::wire_time::format_wire;

fn not_https(address: &str) -> ApiError {
    af(
        "AF20021",
        format!(
            "The webhook endpoint {address} could not be validated. The address must begin with HTTPS."
        ),
    )
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// HTTPS is required, except plain HTTP on a loopback address when `require_https` is off.
pub(crate) fn check_address(address: &str, require_https: bool) -> Result<Url, ApiError> {
    let url = Url::parse(address).map_err(|_| not_https(address))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if !require_https && is_loopback(&url) => Ok(url),
        _ => Err(not_https(address)),
    }
}

/// The handshake: POST `{"validationCode": …}` with `Webhook-ValidationCode` (and
/// `Webhook-AuthID`); anything but 200 fails the start with `AF20021`.
pub(crate) async fn validate(
    state: &EmulatorState,
    request: &WebhookRequest,
) -> Result<(), ApiError> {
    let code = Uuid::new_v4().simple().to_string();
    let mut post = state
        .http
        .post(request.address.clone())
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header("Webhook-ValidationCode", &code)
        .body(serde_json::json!({ "validationCode": code }).to_string());
    if let Some(auth_id) = &request.auth_id {
        post = post.header("Webhook-AuthID", auth_id);
    }
    lock(&state.stats).validation_posts += 1;
    let answered = post.send().await.map(|r| r.status().as_u16());
    if answered.ok() == Some(200) {
        Ok(())
    } else {
        Err(af(
            "AF20021",
            format!(
                "The webhook endpoint {} could not be validated. The endpoint did not return HTTP 200.",
                request.address
            ),
        ))
    }
}

/// One element of a notification POST.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    tenant_id: String,
    client_id: String,
    content_type: ContentType,
    content_id: String,
    content_uri: String,
    content_created: String,
    content_expiration: String,
}

/// A delivery taken out of a webhook's queue for one attempt.
#[derive(Debug)]
struct Job {
    tenant: Uuid,
    content_type: ContentType,
    generation: u64,
    address: Url,
    auth_id: Option<String>,
    client_id: Uuid,
    delivery: Delivery,
}

/// Runs until `shutdown` turns true, looking for work every `WebhookDelivery::tick`.
pub(crate) async fn run_notifier(state: Arc<EmulatorState>, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(state.webhooks.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => notify(&state).await,
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// One round: queue newly listable blobs, then send every delivery that is due.
async fn notify(state: &EmulatorState) {
    let jobs = take_due_jobs(state, state.now());
    for job in jobs {
        let body = notification_body(state, &job);
        let sent = state.now();
        let mut post = state
            .http
            .post(job.address.clone())
            .header(header::CONTENT_TYPE, state.webhooks.content_type.as_str())
            .body(body);
        if let Some(auth_id) = &job.auth_id {
            post = post.header("Webhook-AuthID", auth_id);
        }
        let delivered = post.send().await.is_ok_and(|r| r.status().as_u16() == 200);
        finish(state, job, delivered, sent);
    }
}

fn take_due_jobs(state: &EmulatorState, now: DateTime<Utc>) -> Vec<Job> {
    let faults = state.faults();
    let batch = state.webhooks.batch_size.max(1);
    let mut jobs = Vec::new();
    let mut book = lock(&state.subscriptions);
    for ((tenant_id, ct), sub) in book.subscriptions.iter_mut() {
        let Some(tenant) = state.tenant(*tenant_id) else { continue };
        if !sub.enabled {
            continue;
        }
        let Some(webhook) = sub.webhook.as_mut() else { continue };
        if webhook.status(now) != "enabled" {
            continue;
        }
        if now > webhook.notified_through {
            let view = BlobView {
                schedule: &state.schedule,
                owner: tenant.owner(),
                content_type: *ct,
                seed: state.seed,
                faults: &faults,
                visible_from: sub.visible_from,
            };
            let fresh = view.became_listable(webhook.notified_through, now);
            webhook.notified_through = now;
            for chunk in fresh.chunks(batch) {
                webhook.pending.push(Delivery { blobs: chunk.to_vec(), attempt: 1, due: now });
            }
        }
        let (due, later): (Vec<Delivery>, Vec<Delivery>) =
            std::mem::take(&mut webhook.pending).into_iter().partition(|d| d.due <= now);
        webhook.pending = later;
        for delivery in due {
            jobs.push(Job {
                tenant: *tenant_id,
                content_type: *ct,
                generation: webhook.generation,
                address: webhook.address.clone(),
                auth_id: webhook.auth_id.clone(),
                client_id: sub.client_id,
                delivery,
            });
        }
    }
    jobs
}

fn notification_body(state: &EmulatorState, job: &Job) -> String {
    let notifications: Vec<Notification> = job
        .delivery
        .blobs
        .iter()
        .map(|blob: &ContentBlob| Notification {
            tenant_id: job.tenant.to_string(),
            client_id: job.client_id.to_string(),
            content_type: job.content_type,
            content_id: blob.content_id.clone(),
            content_uri: state.content_uri(job.tenant, &blob.content_id),
            content_created: format_wire(blob.created),
            content_expiration: format_wire(blob.expiration),
        })
        .collect();
    serde_json::to_string(&notifications).unwrap_or_else(|_| "[]".to_owned())
}

/// Records the attempt; a failure is retried after `retry_base * 2^(attempt-1)` until
/// `max_attempts`, then the webhook is disabled (Gap: the service "may" disable it).
fn finish(state: &EmulatorState, job: Job, delivered: bool, sent: DateTime<Utc>) {
    let now = state.now();
    let mut book = lock(&state.subscriptions);
    let history = book.history.entry((job.tenant, job.content_type)).or_default();
    history.extend(job.delivery.blobs.iter().map(|blob| NotificationEntry {
        blob: blob.clone(),
        sent,
        success: delivered,
    }));
    // Statistics after the history, so whoever sees the count also finds the entries.
    {
        let mut stats = lock(&state.stats);
        stats.notification_posts += 1;
        if delivered {
            stats.notified_blobs += job.delivery.blobs.len() as u64;
        } else {
            stats.notification_posts_failed += 1;
        }
    }
    if delivered {
        return;
    }
    let Some(sub) = book.subscriptions.get_mut(&(job.tenant, job.content_type)) else { return };
    if !sub.enabled {
        return;
    }
    let Some(webhook) = sub.webhook.as_mut().filter(|w| w.generation == job.generation) else {
        return;
    };
    let attempt = job.delivery.attempt;
    if attempt >= state.webhooks.max_attempts {
        webhook.disabled = true;
        webhook.pending.clear();
        return;
    }
    let wait = state.webhooks.retry_base * 2i32.saturating_pow(attempt.saturating_sub(1).min(20));
    webhook.pending.push(Delivery {
        blobs: job.delivery.blobs,
        attempt: attempt + 1,
        due: now + wait,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_https_except_loopback_when_allowed() {
        assert!(check_address("https://hooks.example.net/o365", true).is_ok());
        assert!(check_address("http://hooks.example.net/o365", false).is_err());
        assert!(check_address("http://127.0.0.1:8080/hook", false).is_ok());
        assert!(check_address("http://[::1]:8080/hook", false).is_ok());
        assert!(check_address("http://localhost:8080/hook", false).is_ok());
        assert!(check_address("http://127.0.0.1:8080/hook", true).is_err());
        assert!(check_address("ftp://127.0.0.1/hook", false).is_err());
        assert!(check_address("not a url", false).is_err());
    }
}
