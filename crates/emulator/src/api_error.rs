//! Error responses of the Management Activity API: `{"error":{"code":"AF…","message":"…"}}`,
//! the ASP.NET 401 `{"Message":…}`, and the observed garbage-code body of a tenant without
//! unified audit logging.
//!
//! HTTP statuses (the reference only says "standard HTTP error-code syntax"):
//!
//! | code | status | basis |
//! |---|---|---|
//! | `AF10001` | 401 | observed (microsoft/coe-starter-kit #3192) |
//! | `AF20023` | 400 | observed (wazuh/wazuh #29674) |
//! | `AF429` | 403, or 429 by switch | documented sample is 403 |
//! | `AF50000` | 500 | observed |
//! | `AF20050` | 404 | Gap: content that does not exist is "not found" (collectors skip 404 blobs) |
//! | every other `AF2xxxx` | 400 | Gap: validation errors |
//! | unified audit disabled | 400 | Gap: only the body is observed |

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub(crate) const JSON_UTF8: &str = "application/json; charset=utf-8";

/// A failed API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// Missing, malformed, expired or revoked bearer token.
    InvalidToken,
    /// An `AFxxxxx` error.
    Af { code: &'static str, message: String, status: StatusCode, retry_after: Option<u64> },
    /// A body whose `code` is not an AF code (unified audit disabled, 2019 omitted window).
    Odd { code: String, message: String, status: StatusCode },
    /// No such route.
    NotFound { uri: String },
    /// Route exists, method does not.
    MethodNotAllowed { method: String },
}

/// An `AFxxxxx` error with the status the table above gives it.
pub(crate) fn af(code: &'static str, message: impl Into<String>) -> ApiError {
    let status = match code {
        "AF10001" => StatusCode::UNAUTHORIZED,
        "AF20050" => StatusCode::NOT_FOUND,
        "AF429" => StatusCode::FORBIDDEN,
        c if c.starts_with("AF5") => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::Af { code, message: message.into(), status, retry_after: None }
}

/// `AF429` with a chosen status and optional `Retry-After`.
pub(crate) fn too_many_requests(
    method: &str,
    publisher: Option<&str>,
    status: u16,
    retry_after: Option<u64>,
) -> ApiError {
    let publisher = publisher.unwrap_or("00000000-0000-0000-0000-000000000000");
    ApiError::Af {
        code: "AF429",
        message: format!("Too many requests. Method={method}, PublisherId={publisher}"),
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
        retry_after,
    }
}

/// Adds the headers every response of the real service carries (ASP.NET on IIS): no caching, and
/// a `Date` read from the emulated clock (collectors compare it with their own clock).
pub(crate) fn add_service_headers(response: &mut Response, now: chrono::DateTime<chrono::Utc>) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::EXPIRES, HeaderValue::from_static("-1"));
    if let Ok(date) = HeaderValue::from_str(&crate::wire_time::format_http_date(now)) {
        headers.insert(header::DATE, date);
    }
}

/// Builds a JSON response with the service's content type.
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::InvalidToken => {
                let body = json!({"Message": "Authorization has been denied for this request."});
                let mut response = json_response(StatusCode::UNAUTHORIZED, body.to_string().into());
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                response
            }
            ApiError::Af { code, message, status, retry_after } => {
                let body = json!({"error": {"code": code, "message": message}});
                let mut response = json_response(status, body.to_string().into());
                if let Some(seconds) = retry_after {
                    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                response
            }
            ApiError::Odd { code, message, status } => {
                let body = json!({"error": {"code": code, "message": message}});
                json_response(status, body.to_string().into())
            }
            ApiError::NotFound { uri } => {
                let body = json!({
                    "Message": format!("No HTTP resource was found that matches the request URI '{uri}'.")
                });
                json_response(StatusCode::NOT_FOUND, body.to_string().into())
            }
            ApiError::MethodNotAllowed { method } => {
                let body = json!({
                    "Message": format!("The requested resource does not support http method '{method}'.")
                });
                json_response(StatusCode::METHOD_NOT_ALLOWED, body.to_string().into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_table() {
        let status = |e: ApiError| match e {
            ApiError::Af { status, .. } => status,
            _ => StatusCode::IM_A_TEAPOT,
        };
        assert_eq!(status(af("AF10001", "")), StatusCode::UNAUTHORIZED);
        assert_eq!(status(af("AF20022", "")), StatusCode::BAD_REQUEST);
        assert_eq!(status(af("AF20050", "")), StatusCode::NOT_FOUND);
        assert_eq!(status(af("AF50000", "")), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            status(too_many_requests("GetBlob", None, 429, None)),
            StatusCode::TOO_MANY_REQUESTS
        );
        match too_many_requests("GetBlob", None, 403, Some(5)) {
            ApiError::Af { message, retry_after, .. } => {
                assert_eq!(
                    message,
                    "Too many requests. Method=GetBlob, PublisherId=00000000-0000-0000-0000-000000000000"
                );
                assert_eq!(retry_after, Some(5));
            }
            other => panic!("{other:?}"),
        }
    }
}
