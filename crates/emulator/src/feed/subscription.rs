//! `subscriptions/start`, `subscriptions/stop` and `subscriptions/list` (reference §1.3-§1.6).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::Call;
use crate::api_error::{ApiError, af, json_response};
use crate::state::lock;
use crate::subscriptions::WebhookRequest;
use crate::webhook;
use crate::wire_time::parse_extended;

pub(super) async fn start(call: &Call<'_>, body: &[u8]) -> Result<Response, ApiError> {
    let state = call.state;
    let ct = call.content_type()?;
    let now = state.now();
    let request = webhook_request(body, state.require_https_webhooks, now)?;
    let tenant_id = call.tenant.id();
    lock(&state.subscriptions).check_start(
        tenant_id,
        ct,
        request.as_ref(),
        call.publisher,
        now,
        &state.subscription_rules,
    )?;
    if let Some(request) = &request {
        webhook::validate(state, request).await?;
    }
    let client_id = Uuid::try_parse(&call.claims.appid).unwrap_or_default();
    let view = lock(&state.subscriptions).apply_start(
        tenant_id,
        ct,
        request,
        client_id,
        state.now(),
        &state.subscription_rules,
    );
    Ok(json_response(StatusCode::OK, serde_json::to_vec(&view).unwrap_or_default()))
}

pub(super) fn stop(call: &Call<'_>) -> Result<Response, ApiError> {
    let ct = call.content_type()?;
    lock(&call.state.subscriptions).stop(call.tenant.id(), ct)?;
    Ok(StatusCode::OK.into_response())
}

pub(super) fn list(call: &Call<'_>) -> Result<Response, ApiError> {
    let views = lock(&call.state.subscriptions).list(call.tenant.id(), call.state.now());
    Ok(json_response(StatusCode::OK, serde_json::to_vec(&views).unwrap_or_default()))
}

/// A JSON member looked up case-insensitively (ASP.NET model binding is).
fn member<'v>(object: &'v Value, name: &str) -> Option<&'v Value> {
    object.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// Reads the optional `{"webhook": {address, authId, expiration}}` body.
fn webhook_request(
    body: &[u8],
    require_https: bool,
    now: DateTime<Utc>,
) -> Result<Option<WebhookRequest>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let json: Value = serde_json::from_slice(body).map_err(|_| {
        af("AF20002", "Invalid parameter type: the request body is not valid JSON.")
    })?;
    let Some(hook) = member(&json, "webhook").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let address = member(hook, "address")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| af("AF20001", "Missing parameter: address."))?;
    let address = webhook::check_address(address, require_https)?;
    let auth_id = match member(hook, "authId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(af("AF20002", "Invalid parameter type: authId. Expected type: string."));
        }
    };
    let expiration = match member(hook, "expiration") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => {
            let at = parse_extended(s).ok_or_else(|| {
                af("AF20002", "Invalid parameter type: expiration. Expected type: datetime.")
            })?;
            if at <= now {
                return Err(af(
                    "AF20003",
                    format!("Expiration {s} provided is set to past date and time."),
                ));
            }
            Some(at)
        }
        Some(_) => {
            return Err(af(
                "AF20002",
                "Invalid parameter type: expiration. Expected type: datetime.",
            ));
        }
    };
    Ok(Some(WebhookRequest { address, auth_id, expiration }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
    }

    fn code(result: Result<Option<WebhookRequest>, ApiError>) -> &'static str {
        match result {
            Ok(Some(_)) => "webhook",
            Ok(None) => "none",
            Err(ApiError::Af { code, .. }) => code,
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn bodies_are_read_like_the_service() {
        assert_eq!(code(webhook_request(b"", true, now())), "none");
        assert_eq!(code(webhook_request(b"{}", true, now())), "none");
        assert_eq!(code(webhook_request(br#"{"webhook":null}"#, true, now())), "none");
        assert_eq!(code(webhook_request(b"{nope", true, now())), "AF20002");
        assert_eq!(code(webhook_request(br#"{"webhook":{}}"#, true, now())), "AF20001");
        let ok = br#"{"Webhook":{"Address":"https://hooks.example.net/o365","authId":"a","expiration":""}}"#;
        assert_eq!(code(webhook_request(ok, true, now())), "webhook");
        let past = br#"{"webhook":{"address":"https://hooks.example.net/o365","expiration":"2020-01-01T00:00:00"}}"#;
        assert_eq!(code(webhook_request(past, true, now())), "AF20003");
        let http = br#"{"webhook":{"address":"http://hooks.example.net/o365"}}"#;
        assert_eq!(code(webhook_request(http, true, now())), "AF20021");
        assert_eq!(
            code(webhook_request(http, false, now())),
            "AF20021",
            "only loopback may be http"
        );
        let loopback = br#"{"webhook":{"address":"http://127.0.0.1:9/hook"}}"#;
        assert_eq!(code(webhook_request(loopback, false, now())), "webhook");
        assert_eq!(code(webhook_request(loopback, true, now())), "AF20021");
    }
}
