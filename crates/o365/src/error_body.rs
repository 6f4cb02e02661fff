//! Reading error answers of the Management Activity API tolerantly: the documented
//! `{"error":{"code","message"}}` shape, bodies whose `code` is garbage, the ASP.NET
//! `{"Message": ...}` 401 body, empty bodies and HTML error pages all become an [`ApiError`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::{Action, AfCode, ApiError, ErrorCode, Fix, Operation, RetryHint};

/// Longest service message kept in an error (the unified-audit-off body carries a stack trace).
const MAX_MESSAGE_CHARS: usize = 300;
/// Longest non-AF `code` kept.
const MAX_CODE_CHARS: usize = 80;

/// What could be read from an error body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ErrorBody {
    pub(crate) code: Option<String>,
    pub(crate) message: Option<String>,
}

/// Reads whatever error shape the body has; never fails.
pub(crate) fn parse_error_body(body: &[u8]) -> ErrorBody {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return ErrorBody::default();
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(map)) => {
            let get =
                |name: &str| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
            match get("error") {
                Some(Value::Object(error)) => {
                    let field = |name: &str| {
                        error.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
                    };
                    ErrorBody {
                        code: field("code").and_then(scalar_text),
                        message: field("message").and_then(scalar_text),
                    }
                }
                // OAuth-style `{"error":"invalid_token","error_description":"..."}`.
                Some(Value::String(code)) => ErrorBody {
                    code: Some(code.clone()),
                    message: get("error_description").and_then(scalar_text),
                },
                _ => ErrorBody {
                    code: get("code").and_then(scalar_text),
                    message: get("message")
                        .and_then(scalar_text)
                        .or_else(|| Some(shorten(&Value::Object(map.clone()).to_string()))),
                },
            }
        }
        Ok(other) => ErrorBody { code: None, message: Some(shorten(&other.to_string())) },
        Err(_) if looks_like_html(trimmed) => ErrorBody {
            code: None,
            message: Some(match html_title(trimmed) {
                Some(title) => format!("HTML error page: {title}"),
                None => "HTML error page".to_owned(),
            }),
        },
        Err(_) => {
            ErrorBody { code: None, message: Some(format!("non-JSON body: {}", shorten(trimmed))) }
        }
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn looks_like_html(text: &str) -> bool {
    let head: String = text.chars().take(200).collect::<String>().to_ascii_lowercase();
    head.starts_with('<')
        && (head.contains("<html")
            || head.contains("<!doctype")
            || head.contains("<head")
            || head.contains("<body"))
}

fn html_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = start + lower[start..].find("</title>")?;
    let title = text.get(start..end)?.split_whitespace().collect::<Vec<_>>().join(" ");
    (!title.is_empty()).then(|| shorten(&title))
}

/// First line, trimmed, at most [`MAX_MESSAGE_CHARS`] characters.
fn shorten(text: &str) -> String {
    let first = text.split(['\r', '\n']).map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    truncate_chars(first, MAX_MESSAGE_CHARS)
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Whether an error reads like "Tenant <id> does not exist" from the audit data service, which
/// means unified audit logging is off (or the tenant/cloud is wrong).
fn is_unified_audit_off(body: &ErrorBody) -> bool {
    let text = format!(
        "{} {}",
        body.code.as_deref().unwrap_or_default(),
        body.message.as_deref().unwrap_or_default()
    )
    .to_lowercase();
    text.contains("does not exist")
        && (text.contains("tenant") || text.contains("dataserviceexception"))
}

/// Turns an error answer into an [`ApiError`] with the action the caller should take.
pub(crate) fn classify(
    operation: Operation,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> ApiError {
    let parsed = parse_error_body(body);
    let af = parsed.code.as_deref().and_then(AfCode::parse).or_else(|| {
        // Some collectors only ever saw the throttling text; treat it as AF429 whatever the code.
        let throttled_text = parsed
            .message
            .as_deref()
            .is_some_and(|m| m.to_ascii_lowercase().contains("too many request"));
        (throttled_text && matches!(status, 403 | 429)).then_some(AfCode::Af429)
    });
    let code = match (af, &parsed.code) {
        (Some(af), _) => ErrorCode::Af(af),
        (None, Some(other)) if !other.trim().is_empty() => {
            ErrorCode::Other(truncate_chars(other.trim(), MAX_CODE_CHARS))
        }
        _ => ErrorCode::None,
    };
    let action = match af {
        Some(af) => af.action(),
        None if is_unified_audit_off(&parsed) => {
            Action::FixConfiguration { fix: Fix::UnifiedAuditOff }
        }
        None => match status {
            401 => Action::Unauthorized,
            404 if operation == Operation::FetchContent => Action::ContentGone,
            408 | 429 | 500..=599 => Action::RetryLater,
            _ => Action::Unrecognized,
        },
    };
    let retry = match (&action, retry_after) {
        (Action::RetryLater, Some(delay)) => RetryHint::After(delay),
        (Action::RetryLater, None) => RetryHint::Backoff,
        _ => RetryHint::No,
    };
    let message = match parsed.message {
        Some(m) if !m.trim().is_empty() => shorten(&m),
        _ if body.iter().all(u8::is_ascii_whitespace) => "empty body".to_owned(),
        _ => "no message".to_owned(),
    };
    ApiError { operation, status, code, message, action, retry }
}

/// Reads a `Retry-After` header: delay-seconds or an HTTP date (relative to `now`).
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn classify_str(op: Operation, status: u16, body: &str) -> ApiError {
        classify(op, status, None, body.as_bytes())
    }

    #[test]
    fn documented_shape_with_every_af_code() {
        for code in AfCode::ALL {
            let body = format!(r#"{{"error":{{"code":"{code}","message":"text for {code}"}}}}"#);
            let err = classify_str(Operation::ListContent, 400, &body);
            assert_eq!(err.code, ErrorCode::Af(code));
            assert_eq!(err.message, format!("text for {code}"));
            assert_eq!(err.action, code.action());
            assert_eq!(err.status, 400);
        }
    }

    #[test]
    fn subscription_disabled_means_resubscribe() {
        let err = classify_str(
            Operation::ListContent,
            400,
            r#"{"error":{"code":"AF20023","message":"The subscription was disabled."}}"#,
        );
        assert_eq!(err.action, Action::Resubscribe);
        assert_eq!(err.retry, RetryHint::No);
    }

    #[test]
    fn throttling_as_403_and_429_is_retried_and_honours_retry_after() {
        let body = r#"{"error":{"code":"AF429","message":"Too many requests. Method=GetBlob, PublisherId=00000000-0000-0000-0000-000000000000"}}"#;
        for status in [403, 429] {
            let err = classify(
                Operation::FetchContent,
                status,
                Some(Duration::from_secs(7)),
                body.as_bytes(),
            );
            assert_eq!(err.code, ErrorCode::Af(AfCode::Af429));
            assert_eq!(err.action, Action::RetryLater);
            assert_eq!(err.retry, RetryHint::After(Duration::from_secs(7)));
            let err = classify_str(Operation::FetchContent, status, body);
            assert_eq!(err.retry, RetryHint::Backoff);
        }
        // Only the text: still throttling.
        let err = classify_str(Operation::ListContent, 403, r#"{"Message":"Too many requests."}"#);
        assert_eq!(err.code, ErrorCode::Af(AfCode::Af429));
    }

    #[test]
    fn unified_audit_off_is_explained() {
        let body = r#"{"error":{"code":"StartSubscription [CorrId=5d8e5c7a-1c1f-4d1b-9d4b-0e6f7f0b1a2c][TenantId=41463f53-8812-40f4-890f-865bf6e35190,ContentType=Audit.SharePoint,ApplicationId=a6099727-6b7b-482c-b509-1df309acc563,PublisherId=41463f53-8812-40f4-890f-865bf6e35190][AppId","message":"a6099727-6b7b-482c-b509-1df309acc563] failed. Exception: Microsoft.Office.Compliance.Audit.DataServiceException: Tenant 41463f53-8812-40f4-890f-865bf6e35190 does not exist.\r\n   at Microsoft.Office.Compliance.Audit.API.AuditApiManager.StartSubscription(...)\r\n   at more frames"}}"#;
        let err = classify_str(Operation::StartSubscription, 400, body);
        assert_eq!(err.action, Action::FixConfiguration { fix: Fix::UnifiedAuditOff });
        let ErrorCode::Other(code) = &err.code else { panic!("{:?}", err.code) };
        assert!(code.starts_with("StartSubscription [CorrId="), "{code}");
        assert!(code.chars().count() <= MAX_CODE_CHARS + 1);
        assert!(!err.message.contains("at Microsoft"), "stack trace kept: {}", err.message);
        let text = err.to_string();
        assert!(text.contains("unified audit logging is off for this tenant"), "{text}");
        assert!(text.contains("turn on auditing in Microsoft Purview"), "{text}");
        assert!(text.contains("60 minutes"), "{text}");
    }

    #[test]
    fn asp_net_401_body() {
        let err = classify_str(
            Operation::ListSubscriptions,
            401,
            r#"{"Message":"Authorization has been denied for this request."}"#,
        );
        assert_eq!(err.code, ErrorCode::None);
        assert_eq!(err.message, "Authorization has been denied for this request.");
        assert_eq!(err.action, Action::Unauthorized);
    }

    #[test]
    fn empty_html_and_odd_bodies_do_not_break_parsing() {
        let err = classify_str(Operation::ListContent, 503, "");
        assert_eq!((err.code.clone(), err.message.as_str()), (ErrorCode::None, "empty body"));
        assert_eq!(err.action, Action::RetryLater);

        let err = classify_str(Operation::ListContent, 408, "   \r\n");
        assert_eq!(err.action, Action::RetryLater);

        let html = "<!DOCTYPE html>\n<html><head><title>503 Service\n Unavailable</title></head><body>busy</body></html>";
        let err = classify_str(Operation::ListContent, 502, html);
        assert_eq!(err.message, "HTML error page: 503 Service Unavailable");
        assert_eq!(err.action, Action::RetryLater);

        let err = classify_str(Operation::ListContent, 400, "<html><body>x</body></html>");
        assert_eq!(err.message, "HTML error page");
        assert_eq!(err.action, Action::Unrecognized);

        let err = classify_str(Operation::ListContent, 400, "plain words\nsecond line");
        assert_eq!(err.message, "non-JSON body: plain words");

        let err = classify_str(Operation::ListContent, 400, r#"["a"]"#);
        assert_eq!(err.message, r#"["a"]"#);

        let err =
            classify_str(Operation::ListContent, 400, r#"{"error":{"code":42,"message":null}}"#);
        assert_eq!(err.code, ErrorCode::Other("42".to_owned()));
        assert_eq!(err.message, "no message");

        let err = classify_str(
            Operation::ListContent,
            400,
            r#"{"error":{"code":"AF99999","message":"new"}}"#,
        );
        assert_eq!(err.code, ErrorCode::Other("AF99999".to_owned()));
        assert_eq!(err.action, Action::Unrecognized);

        let err = classify_str(
            Operation::ListContent,
            401,
            r#"{"error":"invalid_token","error_description":"expired"}"#,
        );
        assert_eq!(err.code, ErrorCode::Other("invalid_token".to_owned()));
        assert_eq!(err.message, "expired");
        assert_eq!(err.action, Action::Unauthorized);

        // Invalid UTF-8 and truncated JSON.
        let err = classify(Operation::ListContent, 500, None, b"{\"error\":{\"code\":\"AF5\xff");
        assert_eq!(err.action, Action::RetryLater);
    }

    #[test]
    fn the_2019_missing_window_body() {
        let err = classify_str(
            Operation::ListContent,
            400,
            r#"{"error":{"code":"String reference not set to an instance of a String.\r\nParameter name","message":"s"}}"#,
        );
        assert_eq!(err.action, Action::Unrecognized);
        assert!(matches!(err.code, ErrorCode::Other(_)));
    }

    #[test]
    fn plain_404_on_a_blob_means_gone_elsewhere_unrecognised() {
        assert_eq!(classify_str(Operation::FetchContent, 404, "").action, Action::ContentGone);
        assert_eq!(classify_str(Operation::ListContent, 404, "").action, Action::Unrecognized);
        let gone = r#"{"error":{"code":"AF20051","message":"Content requested with the key ... has already expired."}}"#;
        assert_eq!(classify_str(Operation::FetchContent, 400, gone).action, Action::ContentGone);
    }

    #[test]
    fn long_messages_are_shortened() {
        let long = "x".repeat(1000);
        let err = classify_str(
            Operation::ListContent,
            500,
            &format!(r#"{{"error":{{"code":"AF50000","message":"{long}"}}}}"#),
        );
        assert_eq!(err.message.chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Mon, 01 Jun 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("Mon, 01 Jun 2026 09:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
