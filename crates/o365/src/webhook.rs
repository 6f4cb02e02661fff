//! What Microsoft posts to a subscription's webhook: the validation handshake and content
//! notifications. Parsing only; a notification's `contentUri` is untrusted input, and
//! [`crate::ActivityClient::fetch_content`] refuses it unless it is on the configured API origin.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::content_type::ContentType;
use crate::wire_time::parse_service_time;

/// The header carrying the subscription's `authId` on every webhook POST.
pub const WEBHOOK_AUTH_ID_HEADER: &str = "Webhook-AuthID";
/// The header carrying the validation code of the handshake.
pub const WEBHOOK_VALIDATION_CODE_HEADER: &str = "Webhook-ValidationCode";

/// One notification: a blob is available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookNotification {
    pub tenant_id: String,
    /// The application that created the subscription.
    pub client_id: String,
    pub content_type: ContentType,
    pub content_id: String,
    /// Untrusted until checked by the client (see module docs).
    pub content_uri: String,
    pub content_created: DateTime<Utc>,
    pub content_expiration: DateTime<Utc>,
}

/// What a webhook POST body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookPayload {
    /// `{"validationCode": "..."}`: answer 200.
    Validation { validation_code: String },
    /// A JSON array of notifications.
    Notifications(Vec<WebhookNotification>),
}

/// Why a webhook body was not understood.
#[derive(Debug, thiserror::Error)]
pub enum WebhookPayloadError {
    #[error("the webhook body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("the webhook body is neither a validation request nor an array of notifications")]
    UnknownShape,
    #[error("notification {index} is not usable: {reason}")]
    BadNotification { index: usize, reason: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireNotification {
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    content_id: Option<String>,
    #[serde(default)]
    content_uri: Option<String>,
    #[serde(default)]
    content_created: Option<String>,
    #[serde(default)]
    content_expiration: Option<String>,
}

/// Parses a webhook POST body.
pub fn parse_webhook_payload(body: &[u8]) -> Result<WebhookPayload, WebhookPayloadError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(WebhookPayloadError::NotJson)?;
    match value {
        serde_json::Value::Object(map) => {
            let code =
                map.iter().find(|(k, _)| k.eq_ignore_ascii_case("validationCode")).map(|(_, v)| v);
            match code {
                Some(serde_json::Value::String(code)) => {
                    Ok(WebhookPayload::Validation { validation_code: code.clone() })
                }
                _ => Err(WebhookPayloadError::UnknownShape),
            }
        }
        serde_json::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| notification(index, item))
            .collect::<Result<Vec<_>, _>>()
            .map(WebhookPayload::Notifications),
        _ => Err(WebhookPayloadError::UnknownShape),
    }
}

fn notification(
    index: usize,
    item: serde_json::Value,
) -> Result<WebhookNotification, WebhookPayloadError> {
    let bad =
        |reason: &str| WebhookPayloadError::BadNotification { index, reason: reason.to_owned() };
    let wire: WireNotification = serde_json::from_value(item).map_err(|e| bad(&e.to_string()))?;
    let content_type = wire
        .content_type
        .as_deref()
        .and_then(|c| c.parse::<ContentType>().ok())
        .ok_or_else(|| bad("missing or unknown contentType"))?;
    let content_created = wire
        .content_created
        .as_deref()
        .and_then(parse_service_time)
        .ok_or_else(|| bad("missing or invalid contentCreated"))?;
    let content_expiration = wire
        .content_expiration
        .as_deref()
        .and_then(parse_service_time)
        .unwrap_or(content_created + Duration::days(7));
    Ok(WebhookNotification {
        tenant_id: wire.tenant_id.ok_or_else(|| bad("missing tenantId"))?,
        client_id: wire.client_id.unwrap_or_default(),
        content_type,
        content_id: wire
            .content_id
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad("missing contentId"))?,
        content_uri: wire
            .content_uri
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad("missing contentUri"))?,
        content_created,
        content_expiration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_handshake() {
        let p = parse_webhook_payload(br#"{"validationCode":"3f2c9b0e"}"#).unwrap();
        assert_eq!(p, WebhookPayload::Validation { validation_code: "3f2c9b0e".into() });
    }

    #[test]
    fn documented_notification() {
        let body = br#"[{"tenantId":"41463f53-8812-40f4-890f-865bf6e35190","clientId":"a6099727-6b7b-482c-b509-1df309acc563",
  "contentType":"Audit.General","contentId":"20260601103000123000001$20260601103000123000001$audit_general$Audit_General$emea0036",
  "contentUri":"https://manage.office.com/api/v1.0/41463f53-8812-40f4-890f-865bf6e35190/activity/feed/audit/20260601103000123000001$20260601103000123000001$audit_general$Audit_General$emea0036",
  "contentCreated":"2026-06-01T10:30:00.123Z","contentExpiration":"2026-06-08T10:30:00.123Z"}]"#;
        let WebhookPayload::Notifications(list) = parse_webhook_payload(body).unwrap() else {
            panic!()
        };
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].content_type, ContentType::General);
        assert!(list[0].content_uri.contains("$audit_general$"));
    }

    #[test]
    fn bad_bodies() {
        assert!(matches!(parse_webhook_payload(b"nope"), Err(WebhookPayloadError::NotJson(_))));
        assert!(matches!(parse_webhook_payload(b"{}"), Err(WebhookPayloadError::UnknownShape)));
        let err = parse_webhook_payload(br#"[{"tenantId":"t","contentType":"Audit.General"}]"#)
            .unwrap_err();
        assert!(matches!(err, WebhookPayloadError::BadNotification { index: 0, .. }));
    }
}
