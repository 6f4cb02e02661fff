//! Subscriptions: start (optionally with a webhook), stop and list. AF20024 ("already enabled")
//! counts as success, and this client never sends two starts for the same content type within
//! 15 minutes (Microsoft's rule), whatever the outcome of the first.

use std::fmt;

use chrono::{DateTime, Utc};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::client::{ActivityClient, Call, RequestBody, START_COOLDOWN};
use crate::content_type::ContentType;
use crate::error::{AfCode, Error, ErrorCode, Operation};
use crate::wire_time::{format_body_time, parse_service_time};

/// A webhook to register with a subscription.
#[derive(Clone)]
pub struct Webhook {
    /// Where Microsoft posts notifications (https, answering the validation POST with 200).
    pub address: Url,
    /// Echoed in the `Webhook-AuthID` header of every notification: a shared secret.
    pub auth_id: Option<SecretString>,
    /// No notifications after this time; `None` = no expiry.
    pub expiration: Option<DateTime<Utc>>,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("address", &self.address.as_str())
            .field("auth_id", &self.auth_id.as_ref().map(|_| "[redacted]"))
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// `enabled` / `disabled` (or something new).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionStatus {
    Enabled,
    Disabled,
    Other(String),
}

/// A webhook's state: `enabled` / `disabled` / `expired` (or something new).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookStatus {
    Enabled,
    Disabled,
    Expired,
    Other(String),
}

/// The webhook registered on a subscription, as the service reports it.
#[derive(Debug, Clone)]
pub struct WebhookState {
    pub status: WebhookStatus,
    pub address: String,
    pub auth_id: Option<SecretString>,
    pub expiration: Option<DateTime<Utc>>,
}

/// A subscription, as `start` and `list` report it.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub content_type: ContentType,
    pub status: SubscriptionStatus,
    /// `None` when no (validated) webhook is registered.
    pub webhook: Option<WebhookState>,
}

/// What `subscriptions/start` achieved.
#[derive(Debug, Clone)]
pub enum StartOutcome {
    /// The subscription was created or changed.
    Started(Subscription),
    /// AF20024: it was already enabled with these properties.
    AlreadyEnabled,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSubscription {
    #[serde(default, alias = "ContentType")]
    content_type: Option<String>,
    #[serde(default, alias = "Status")]
    status: Option<String>,
    #[serde(default, alias = "Webhook")]
    webhook: Option<WireWebhook>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireWebhook {
    #[serde(default, alias = "Status")]
    status: Option<String>,
    #[serde(default, alias = "Address")]
    address: Option<String>,
    #[serde(default, alias = "AuthId")]
    auth_id: Option<String>,
    #[serde(default, alias = "Expiration")]
    expiration: Option<String>,
}

fn subscription_status(text: Option<&str>) -> SubscriptionStatus {
    match text.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("enabled") => SubscriptionStatus::Enabled,
        Some("disabled") => SubscriptionStatus::Disabled,
        other => SubscriptionStatus::Other(other.unwrap_or_default().to_owned()),
    }
}

fn webhook_status(text: Option<&str>) -> WebhookStatus {
    match text.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("enabled") => WebhookStatus::Enabled,
        Some("disabled") => WebhookStatus::Disabled,
        Some("expired") => WebhookStatus::Expired,
        other => WebhookStatus::Other(other.unwrap_or_default().to_owned()),
    }
}

impl WireSubscription {
    fn into_subscription(self, fallback: Option<ContentType>) -> Option<Subscription> {
        let content_type =
            self.content_type.as_deref().and_then(|c| c.parse().ok()).or(fallback)?;
        Some(Subscription {
            content_type,
            status: subscription_status(self.status.as_deref()),
            webhook: self.webhook.map(|w| WebhookState {
                status: webhook_status(w.status.as_deref()),
                address: w.address.unwrap_or_default(),
                auth_id: w.auth_id.filter(|a| !a.is_empty()).map(SecretString::from),
                expiration: w.expiration.as_deref().and_then(parse_service_time),
            }),
        })
    }
}

fn start_body(webhook: &Webhook) -> Vec<u8> {
    let mut hook = serde_json::Map::new();
    hook.insert("address".into(), webhook.address.as_str().into());
    if let Some(auth_id) = &webhook.auth_id {
        hook.insert("authId".into(), auth_id.expose_secret().into());
    }
    if let Some(expiration) = webhook.expiration {
        hook.insert("expiration".into(), format_body_time(expiration).into());
    }
    serde_json::json!({ "webhook": hook }).to_string().into_bytes()
}

impl ActivityClient {
    /// `POST subscriptions/start`. Refused locally (no request) if this client sent a start for
    /// the same content type less than 15 minutes ago. Not retried automatically (a retry would
    /// be a second start); a 401 is still answered by one token refresh and the same request.
    pub async fn start_subscription(
        &self,
        content_type: ContentType,
        webhook: Option<&Webhook>,
    ) -> Result<StartOutcome, Error> {
        self.claim_start(content_type)?;
        let mut url = self.inner.root.operation(&["subscriptions", "start"]);
        url.query_pairs_mut().append_pair("contentType", content_type.as_str());
        let body = match webhook {
            Some(webhook) => RequestBody::Json(start_body(webhook)),
            None => RequestBody::Empty,
        };
        let call = Call {
            operation: Operation::StartSubscription,
            method: Method::POST,
            url,
            body,
            header: None,
            retry: false,
        };
        let reply = match self.execute(call).await {
            Ok(reply) => reply,
            Err(Error::Api(api)) if api.code == ErrorCode::Af(AfCode::Af20024) => {
                tracing::info!(
                    content_type = content_type.as_str(),
                    "subscription already enabled (AF20024)"
                );
                return Ok(StartOutcome::AlreadyEnabled);
            }
            Err(other) => return Err(other),
        };
        let wire: WireSubscription =
            serde_json::from_slice(&reply.body).map_err(|e| Error::InvalidResponse {
                operation: Operation::StartSubscription,
                detail: format!("the body is not a subscription object: {e}"),
            })?;
        let subscription =
            wire.into_subscription(Some(content_type)).ok_or_else(|| Error::InvalidResponse {
                operation: Operation::StartSubscription,
                detail: "no content type in the answer".to_owned(),
            })?;
        tracing::info!(content_type = content_type.as_str(), status = ?subscription.status, "subscription started");
        Ok(StartOutcome::Started(subscription))
    }

    /// When this client may next send `subscriptions/start` for `content_type` (`None` = now).
    pub fn next_start_allowed(&self, content_type: ContentType) -> Option<DateTime<Utc>> {
        let starts = self.inner.starts.lock().unwrap_or_else(|p| p.into_inner());
        let next = *starts.get(&content_type)? + START_COOLDOWN;
        (next > self.inner.clock.now()).then_some(next)
    }

    /// Records a start now, or refuses it if the previous one was less than 15 minutes ago.
    fn claim_start(&self, content_type: ContentType) -> Result<(), Error> {
        let now = self.inner.clock.now();
        let mut starts = self.inner.starts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&last_start) = starts.get(&content_type) {
            let next_allowed = last_start + START_COOLDOWN;
            if now < next_allowed {
                return Err(Error::StartTooSoon { content_type, last_start, next_allowed });
            }
        }
        starts.insert(content_type, now);
        Ok(())
    }

    /// `POST subscriptions/stop`. After a stop, content can no longer be listed or fetched, and
    /// a later start only exposes newer content.
    pub async fn stop_subscription(&self, content_type: ContentType) -> Result<(), Error> {
        let mut url = self.inner.root.operation(&["subscriptions", "stop"]);
        url.query_pairs_mut().append_pair("contentType", content_type.as_str());
        self.execute(Call {
            operation: Operation::StopSubscription,
            method: Method::POST,
            url,
            body: RequestBody::Empty,
            header: None,
            retry: true,
        })
        .await?;
        tracing::info!(content_type = content_type.as_str(), "subscription stopped");
        Ok(())
    }

    /// `GET subscriptions/list`: the subscriptions of the tenant (content types never subscribed
    /// are absent; unknown content types are skipped).
    pub async fn list_subscriptions(&self) -> Result<Vec<Subscription>, Error> {
        let reply = self
            .execute(Call {
                operation: Operation::ListSubscriptions,
                method: Method::GET,
                url: self.inner.root.operation(&["subscriptions", "list"]),
                body: RequestBody::None,
                header: None,
                retry: true,
            })
            .await?;
        if reply.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        let wire: Option<Vec<WireSubscription>> =
            serde_json::from_slice(&reply.body).map_err(|e| Error::InvalidResponse {
                operation: Operation::ListSubscriptions,
                detail: format!("the body is not an array of subscriptions: {e}"),
            })?;
        Ok(wire
            .unwrap_or_default()
            .into_iter()
            .filter_map(|w| {
                let raw = w.content_type.clone();
                let parsed = w.into_subscription(None);
                if parsed.is_none() {
                    tracing::warn!(content_type = ?raw, "skipping a subscription of an unknown content type");
                }
                parsed
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_body_has_the_documented_shape() {
        let hook = Webhook {
            address: Url::parse("https://hooks.example.net/o365").unwrap(),
            auth_id: Some(SecretString::from("shared-secret-1")),
            expiration: None,
        };
        let body: serde_json::Value = serde_json::from_slice(&start_body(&hook)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"webhook": {"address": "https://hooks.example.net/o365", "authId": "shared-secret-1"}})
        );
        assert!(!format!("{hook:?}").contains("shared-secret-1"));
    }

    #[test]
    fn documented_list_shape_including_missing_status() {
        let body = r#"[
          {"contentType":"Audit.General","status":"enabled","webhook":null},
          {"contentType":"Audit.SharePoint","status":"Enabled",
           "webhook":{"status":"enabled","address":"https://hooks.example.net/o365","authId":"shared-secret-1","expiration":null}},
          {"contentType":"Audit.Exchange","webhook":{"status":"expired","address":"https://h","expiration":"2026-06-01T00:00:00"}}
        ]"#;
        let wire: Vec<WireSubscription> = serde_json::from_str(body).unwrap();
        let subs: Vec<Subscription> =
            wire.into_iter().filter_map(|w| w.into_subscription(None)).collect();
        assert_eq!(subs.len(), 3);
        assert_eq!(subs[0].content_type, ContentType::General);
        assert_eq!(subs[0].status, SubscriptionStatus::Enabled);
        assert!(subs[0].webhook.is_none());
        let hook = subs[1].webhook.as_ref().unwrap();
        assert_eq!(
            (hook.status.clone(), hook.address.as_str()),
            (WebhookStatus::Enabled, "https://hooks.example.net/o365")
        );
        assert_eq!(hook.auth_id.as_ref().unwrap().expose_secret(), "shared-secret-1");
        assert!(!format!("{:?}", subs[1]).contains("shared-secret-1"));
        assert_eq!(subs[2].status, SubscriptionStatus::Other(String::new()));
        assert_eq!(subs[2].webhook.as_ref().unwrap().status, WebhookStatus::Expired);
        assert!(subs[2].webhook.as_ref().unwrap().expiration.is_some());
    }
}
