//! Failures and how they reach the client: the REST API answers `{"error":{"code":...,
//! "message":...}}` with a matching status; the web UI answers an HTML page saying what to do.
//! Internal failures are logged with a reference and shown without their details.

use archive::ArchiveError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The stable machine-readable codes of the API's errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No valid session or token.
    Unauthorized,
    /// Signed in, but the role does not allow it.
    Forbidden,
    /// A state-changing request without a valid anti-CSRF token.
    CsrfFailed,
    NotFound,
    /// The filters cannot run as written (the message says what to change).
    InvalidQuery,
    /// Any other malformed request.
    BadRequest,
    /// The resource already exists (e.g. a username).
    Conflict,
    PayloadTooLarge,
    /// Too many failed sign-ins; wait and retry.
    RateLimited,
    /// The SQL console statement ran out of time.
    Timeout,
    /// The archive cannot be reached now; retrying may help.
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden | ErrorCode::CsrfFailed => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::InvalidQuery | ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::CsrfFailed => "csrf_failed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// A failure to show to the client, whichever channel it came through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub code: ErrorCode,
    /// Safe to show: says what happened and what to do.
    pub message: String,
    /// Seconds after which a retry may succeed (429, 503).
    pub retry_after: Option<u64>,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into(), retry_after: None }
    }

    pub fn not_found(what: impl Into<String>) -> Failure {
        Failure::new(ErrorCode::NotFound, what)
    }

    pub fn bad_request(message: impl Into<String>) -> Failure {
        Failure::new(ErrorCode::BadRequest, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Failure {
        Failure::new(ErrorCode::Forbidden, message)
    }

    /// An internal failure: logged in full with a reference, shown without details.
    pub fn internal(doing: &str, error: &dyn std::fmt::Display) -> Failure {
        let reference = uuid::Uuid::new_v4().simple().to_string();
        let reference = &reference[..12];
        tracing::error!(reference, doing, %error, "request failed");
        Failure::new(
            ErrorCode::Internal,
            format!(
                "something failed while {doing}; the server log has the details under \
                 reference {reference}"
            ),
        )
    }

    /// Maps an archive failure met while `doing` something.
    pub fn archive(doing: &str, error: ArchiveError) -> Failure {
        match error {
            ArchiveError::InvalidQuery(e) => Failure::new(ErrorCode::InvalidQuery, e.message),
            ArchiveError::Unavailable { message } => {
                tracing::warn!(doing, %message, "archive unavailable");
                Failure {
                    code: ErrorCode::Unavailable,
                    message: "the archive is unavailable right now; retry in a moment".into(),
                    retry_after: Some(5),
                }
            }
            other => Failure::internal(doing, &other),
        }
    }

    fn status(&self) -> StatusCode {
        self.code.status()
    }
}

impl From<archive::query::QueryError> for Failure {
    fn from(error: archive::query::QueryError) -> Self {
        Failure::new(ErrorCode::InvalidQuery, error.message)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

/// A failure answered as the API's JSON error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError(pub Failure);

impl From<Failure> for ApiError {
    fn from(failure: Failure) -> Self {
        ApiError(failure)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let failure = self.0;
        let body = ErrorBody {
            error: ErrorDetail { code: failure.code.as_str(), message: &failure.message },
        };
        let mut response = (failure.status(), Json(body)).into_response();
        add_retry_after(&mut response, failure.retry_after);
        if failure.code == ErrorCode::Unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn add_retry_after(response: &mut Response, seconds: Option<u64>) {
    if let Some(seconds) = seconds
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
}

/// A failure answered as an HTML page of the web UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError(pub Failure);

impl From<Failure> for PageError {
    fn from(failure: Failure) -> Self {
        PageError(failure)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let failure = self.0;
        let mut response =
            (failure.status(), crate::ui::layout::error_page(&failure)).into_response();
        add_retry_after(&mut response, failure.retry_after);
        response
    }
}

impl From<archive::query::QueryError> for PageError {
    fn from(error: archive::query::QueryError) -> Self {
        PageError(error.into())
    }
}

impl From<archive::query::QueryError> for ApiError {
    fn from(error: archive::query::QueryError) -> Self {
        ApiError(error.into())
    }
}
