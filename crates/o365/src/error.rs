//! The error taxonomy: every error the Management Activity API is known to return, mapped to what
//! the caller should do about it ([`Action`]), plus the client's own errors (configuration,
//! transport, refused URLs, the subscription-start cooldown).
//!
//! The mapping follows the handling policy in the reference (§1.12): configuration problems are
//! fatal and say what to fix; AF20022/AF20023 mean re-subscribe; AF20030/AF20055 mean rebuild
//! the listing window; AF429, AF50000, AF50005, AF50006 and AF20031 are retried; AF20050-AF20052
//! mean the blob is gone for good.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::content_type::ContentType;
use crate::token::{AadstsProblem, AuthError};

/// The Management Activity API operation a request belonged to (for errors, logs and counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    StartSubscription,
    StopSubscription,
    ListSubscriptions,
    ListContent,
    FetchContent,
    ListNotifications,
    DlpSensitiveTypes,
}

impl Operation {
    /// The operation's path as Microsoft documents it.
    pub fn name(self) -> &'static str {
        match self {
            Operation::StartSubscription => "subscriptions/start",
            Operation::StopSubscription => "subscriptions/stop",
            Operation::ListSubscriptions => "subscriptions/list",
            Operation::ListContent => "subscriptions/content",
            Operation::FetchContent => "content fetch",
            Operation::ListNotifications => "subscriptions/notifications",
            Operation::DlpSensitiveTypes => "resources/dlpSensitiveTypes",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The documented (and the observed, undocumented) `AFxxxxx` error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AfCode {
    /// The token lacks `ActivityFeed.Read`.
    Af10001,
    /// A required parameter is missing.
    Af20001,
    /// A parameter has an invalid type.
    Af20002,
    /// The webhook expiration is in the past.
    Af20003,
    /// The tenant in the URL is not the tenant of the token.
    Af20010,
    /// The tenant does not exist or was deleted.
    Af20011,
    /// The tenant is incorrectly configured.
    Af20012,
    /// The tenant id in the URL is not a GUID.
    Af20013,
    /// The content type is not valid.
    Af20020,
    /// The webhook could not be validated.
    Af20021,
    /// No subscription exists for the content type.
    Af20022,
    /// The subscription was disabled by an admin.
    Af20023,
    /// Undocumented: the subscription is already enabled, no property changed.
    Af20024,
    /// Listing window invalid (both-or-neither, at most 24 h, start at most 7 days old).
    Af20030,
    /// Invalid `nextPage` value.
    Af20031,
    /// The content does not exist.
    Af20050,
    /// The content expired (older than 7 days).
    Af20051,
    /// The content id in the URL is invalid.
    Af20052,
    /// More than one language in `Accept-Language`.
    Af20053,
    /// Invalid `Accept-Language` syntax.
    Af20054,
    /// Like AF20030, plus "start time prior to end time".
    Af20055,
    /// Too many requests (arrives as HTTP 403 or 429).
    Af429,
    /// Internal error; retry.
    Af50000,
    /// Undocumented internal error; retry.
    Af50005,
    /// Undocumented internal error; retry.
    Af50006,
}

impl AfCode {
    /// Every known code.
    pub const ALL: [AfCode; 25] = [
        AfCode::Af10001,
        AfCode::Af20001,
        AfCode::Af20002,
        AfCode::Af20003,
        AfCode::Af20010,
        AfCode::Af20011,
        AfCode::Af20012,
        AfCode::Af20013,
        AfCode::Af20020,
        AfCode::Af20021,
        AfCode::Af20022,
        AfCode::Af20023,
        AfCode::Af20024,
        AfCode::Af20030,
        AfCode::Af20031,
        AfCode::Af20050,
        AfCode::Af20051,
        AfCode::Af20052,
        AfCode::Af20053,
        AfCode::Af20054,
        AfCode::Af20055,
        AfCode::Af429,
        AfCode::Af50000,
        AfCode::Af50005,
        AfCode::Af50006,
    ];

    /// The code as Microsoft writes it, e.g. `AF20022`.
    pub fn as_str(self) -> &'static str {
        match self {
            AfCode::Af10001 => "AF10001",
            AfCode::Af20001 => "AF20001",
            AfCode::Af20002 => "AF20002",
            AfCode::Af20003 => "AF20003",
            AfCode::Af20010 => "AF20010",
            AfCode::Af20011 => "AF20011",
            AfCode::Af20012 => "AF20012",
            AfCode::Af20013 => "AF20013",
            AfCode::Af20020 => "AF20020",
            AfCode::Af20021 => "AF20021",
            AfCode::Af20022 => "AF20022",
            AfCode::Af20023 => "AF20023",
            AfCode::Af20024 => "AF20024",
            AfCode::Af20030 => "AF20030",
            AfCode::Af20031 => "AF20031",
            AfCode::Af20050 => "AF20050",
            AfCode::Af20051 => "AF20051",
            AfCode::Af20052 => "AF20052",
            AfCode::Af20053 => "AF20053",
            AfCode::Af20054 => "AF20054",
            AfCode::Af20055 => "AF20055",
            AfCode::Af429 => "AF429",
            AfCode::Af50000 => "AF50000",
            AfCode::Af50005 => "AF50005",
            AfCode::Af50006 => "AF50006",
        }
    }

    /// Parses `AF20022` (any case, surrounding blanks ignored). Anything else is not an AF code.
    pub fn parse(code: &str) -> Option<AfCode> {
        let code = code.trim();
        AfCode::ALL.into_iter().find(|c| c.as_str().eq_ignore_ascii_case(code))
    }

    /// What the caller should do when the API answers with this code.
    pub fn action(self) -> Action {
        use AfCode::*;
        let fix = |fix| Action::FixConfiguration { fix };
        match self {
            Af10001 => fix(Fix::GrantActivityFeedRead),
            Af20001 | Af20002 => fix(Fix::RequestRejected { code: self }),
            Af20003 => fix(Fix::WebhookExpirationInPast),
            Af20010 => fix(Fix::TenantMismatch),
            Af20011 => fix(Fix::TenantNotFound),
            Af20012 => fix(Fix::TenantMisconfigured),
            Af20013 => fix(Fix::TenantIdNotGuid),
            Af20020 => fix(Fix::InvalidContentType),
            Af20021 => fix(Fix::WebhookNotValidated),
            Af20053 | Af20054 => fix(Fix::AcceptLanguage),
            Af20022 | Af20023 => Action::Resubscribe,
            Af20024 => Action::AlreadyInEffect,
            Af20030 | Af20055 => Action::RecomputeWindow,
            // The reference's policy retries AF20031 (invalid nextPage) like a transient error.
            Af20031 | Af429 | Af50000 | Af50005 | Af50006 => Action::RetryLater,
            Af20050 | Af20051 | Af20052 => Action::ContentGone,
        }
    }
}

impl fmt::Display for AfCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `code` of an error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    /// A known `AFxxxxx` code.
    Af(AfCode),
    /// Something else: an unknown AF code, or the garbage Microsoft puts there in some cases
    /// (e.g. `StartSubscription [CorrId=...` when unified audit logging is off). Truncated.
    Other(String),
    /// The body had no code (empty, HTML, `{"Message": ...}`).
    None,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::Af(code) => write!(f, "{code}"),
            ErrorCode::Other(code) => write!(f, "{code}"),
            ErrorCode::None => f.write_str("no error code"),
        }
    }
}

/// A configuration or tenant-setup problem that only a person can fix; the text says how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// AF10001.
    GrantActivityFeedRead,
    /// AF20001/AF20002: the service refused the request's parameters.
    RequestRejected { code: AfCode },
    /// AF20003.
    WebhookExpirationInPast,
    /// AF20010.
    TenantMismatch,
    /// AF20011.
    TenantNotFound,
    /// AF20012.
    TenantMisconfigured,
    /// AF20013.
    TenantIdNotGuid,
    /// AF20020.
    InvalidContentType,
    /// AF20021.
    WebhookNotValidated,
    /// AF20053/AF20054.
    AcceptLanguage,
    /// "Tenant ... does not exist" with a non-AF code: unified audit logging is off.
    UnifiedAuditOff,
    /// Token acquisition was refused by Entra ID.
    SignIn(AadstsProblem),
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fix::GrantActivityFeedRead => f.write_str(
                "grant the ActivityFeed.Read application permission (API \"Office 365 Management \
                 APIs\") to the app registration and admin consent (\"Grant admin consent\")",
            ),
            Fix::RequestRejected { code } => write!(
                f,
                "the service rejected the request parameters ({code}); this is a client bug or \
                 an API change: upgrade d365audit or report the message"
            ),
            Fix::WebhookExpirationInPast => f.write_str(
                "the webhook expiration is in the past: set a future expiration or none",
            ),
            Fix::TenantMismatch => f.write_str(
                "the tenant id in the API URL is not the tenant of the token: sign in to the same \
                 tenant (directory) id that is configured for the API",
            ),
            Fix::TenantNotFound => f.write_str(
                "the tenant does not exist or was deleted: check the tenant id and the cloud",
            ),
            Fix::TenantMisconfigured => f.write_str(
                "the tenant is not set up for the Management Activity API: check that auditing is \
                 on in Microsoft Purview and that the tenant has a Microsoft 365 subscription",
            ),
            Fix::TenantIdNotGuid => f.write_str(
                "the tenant id must be a GUID (the Directory (tenant) ID shown on the Entra ID \
                 overview page), not a domain name",
            ),
            Fix::InvalidContentType => f.write_str(
                "the content type is not valid: use Audit.AzureActiveDirectory, Audit.Exchange, \
                 Audit.SharePoint, Audit.General or DLP.All",
            ),
            Fix::WebhookNotValidated => f.write_str(
                "the webhook could not be validated: its address must be https, reachable from \
                 Microsoft, and answer the validation POST with HTTP 200",
            ),
            Fix::AcceptLanguage => f.write_str(
                "send exactly one well-formed language in Accept-Language (for example en-US)",
            ),
            Fix::UnifiedAuditOff => f.write_str(
                "unified audit logging is off for this tenant (or wrong tenant/cloud): turn on \
                 auditing in Microsoft Purview; it takes up to 60 minutes",
            ),
            Fix::SignIn(problem) => write!(f, "{}", problem.advice()),
        }
    }
}

/// What the caller should do about an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A person must change the configuration or the tenant setup; retrying will not help.
    FixConfiguration { fix: Fix },
    /// The subscription is missing or disabled (AF20022/AF20023): start it again, then retry.
    Resubscribe,
    /// The listing window was refused (AF20030/AF20055): rebuild it from the current clock
    /// (see [`crate::ListingWindow::clamped`]) and retry.
    RecomputeWindow,
    /// Transient (throttling, internal errors, timeouts): retry with backoff.
    RetryLater,
    /// The blob will never be available (AF20050/AF20051/AF20052, or 404 on a blob): record a
    /// gap and move on.
    ContentGone,
    /// The token was refused even after a fresh one was fetched.
    Unauthorized,
    /// AF20024: what was asked is already the case (subscription already enabled).
    AlreadyInEffect,
    /// The request was not sent, because it would have sent the token to an untrusted host:
    /// the input (a webhook notification or page link) is not trustworthy.
    Refused,
    /// An error this client does not recognise; not retried automatically: investigate.
    Unrecognized,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::FixConfiguration { fix } => write!(f, "{fix}"),
            Action::Resubscribe => {
                f.write_str("the subscription is missing or disabled: start it again, then retry")
            }
            Action::RecomputeWindow => f.write_str(
                "the listing window was refused: rebuild it from the current time (at most 24 h, \
                 start within the last 7 days, start before end; check this machine's clock) and \
                 retry",
            ),
            Action::RetryLater => f.write_str("transient: retry later"),
            Action::ContentGone => {
                f.write_str("the content is gone (missing, expired or invalid id): record a gap")
            }
            Action::Unauthorized => f.write_str(
                "the access token was refused even after a refresh: check the app registration, \
                 its ActivityFeed.Read permission and admin consent, and the tenant/cloud",
            ),
            Action::AlreadyInEffect => f.write_str("nothing to do: already in effect"),
            Action::Refused => f.write_str(
                "not sent: the URL does not belong to the configured API; the input that carried \
                 it is not trustworthy",
            ),
            Action::Unrecognized => f.write_str("unrecognised error: not retried; investigate"),
        }
    }
}

/// Whether and when a failed request may simply be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryHint {
    /// Sending the same request again will not help (see the [`Action`]).
    No,
    /// Retry with exponential backoff.
    Backoff,
    /// Retry after this delay (from `Retry-After`).
    After(Duration),
}

/// An error answer from the Management Activity API.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: HTTP {status}, {code}: {message} ({action})")]
pub struct ApiError {
    pub operation: Operation,
    /// HTTP status code.
    pub status: u16,
    pub code: ErrorCode,
    /// The service's message (first line, shortened), or a description of the body.
    pub message: String,
    pub action: Action,
    pub retry: RetryHint,
}

/// Everything that can go wrong in this crate's API client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API answered with an error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No access token could be obtained.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The API could not be reached (after retries).
    #[error(
        "{operation}: could not reach the Management Activity API after {attempts} attempt(s): {source}"
    )]
    Transport {
        operation: Operation,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    /// A URL (contentUri, NextPageUri) points somewhere else than the configured API.
    #[error(
        "refused to send the access token to {url}: only {expected} is trusted (a contentUri or \
         NextPageUri from a notification or page must point at the configured API); no request \
         was sent"
    )]
    ForeignUrl { url: String, expected: String },
    /// A URL given to the client does not parse.
    #[error("{what} is not a valid URL ({url}): {reason}")]
    InvalidUrl { what: &'static str, url: String, reason: String },
    /// A second `subscriptions/start` within 15 minutes for the same content type.
    #[error(
        "subscriptions/start for {content_type} was already sent at {last_start}; Microsoft allows \
         one start per content type every 15 minutes: the next start is allowed at {next_allowed}"
    )]
    StartTooSoon {
        content_type: ContentType,
        last_start: DateTime<Utc>,
        next_allowed: DateTime<Utc>,
    },
    /// A success answer whose body is not what the API documents.
    #[error("{operation}: unexpected response from the API: {detail}")]
    InvalidResponse { operation: Operation, detail: String },
}

impl Error {
    /// What the caller should do about this error.
    pub fn action(&self) -> Action {
        match self {
            Error::Api(api) => api.action.clone(),
            Error::Auth(auth) => match auth.problem() {
                Some(problem) if !auth.is_retryable() => {
                    Action::FixConfiguration { fix: Fix::SignIn(problem.clone()) }
                }
                _ if auth.is_retryable() => Action::RetryLater,
                _ => Action::Unrecognized,
            },
            Error::Transport { .. } | Error::StartTooSoon { .. } => Action::RetryLater,
            Error::ForeignUrl { .. } | Error::InvalidUrl { .. } => Action::Refused,
            Error::InvalidResponse { .. } => Action::Unrecognized,
        }
    }

    /// Whether the same request may be sent again later.
    pub fn retry_hint(&self) -> RetryHint {
        match self {
            Error::Api(api) => api.retry,
            Error::Auth(auth) if auth.is_retryable() => RetryHint::Backoff,
            Error::Transport { .. } => RetryHint::Backoff,
            Error::StartTooSoon { .. } => RetryHint::No,
            _ => RetryHint::No,
        }
    }

    /// The AF code, when the API sent a known one.
    pub fn af_code(&self) -> Option<AfCode> {
        match self {
            Error::Api(ApiError { code: ErrorCode::Af(code), .. }) => Some(*code),
            _ => None,
        }
    }
}

/// A configuration the client cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown cloud {name:?}: use commercial, gcc, gcchigh, dod or china")]
    UnknownCloud { name: String },
    #[error("the {what} {url} cannot be used: {reason}")]
    InvalidUrl { what: String, url: String, reason: String },
    #[error(
        "tenant {tenant:?} is not valid: use the Directory (tenant) ID (a GUID) or a verified \
         domain such as contoso.onmicrosoft.com"
    )]
    InvalidTenant { tenant: String },
    #[error("the certificate credential cannot be used: {reason}")]
    Certificate { reason: String },
    #[error("setting {name} is not valid: {reason}")]
    InvalidSetting { name: &'static str, reason: String },
    #[error("the HTTP client could not be built: {0}")]
    HttpClient(#[source] reqwest::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_af_code_round_trips_and_has_an_action() {
        for code in AfCode::ALL {
            assert_eq!(AfCode::parse(code.as_str()), Some(code));
            assert_eq!(AfCode::parse(&code.as_str().to_lowercase()), Some(code));
            assert!(!code.action().to_string().is_empty());
        }
        assert_eq!(AfCode::parse(" AF20022 "), Some(AfCode::Af20022));
        assert_eq!(AfCode::parse("AF2002"), None);
        assert_eq!(AfCode::parse("StartSubscription [CorrId=1]"), None);
    }

    #[test]
    fn actions_follow_the_documented_policy() {
        use AfCode::*;
        let fatal = [Af10001, Af20001, Af20002, Af20003, Af20010, Af20011, Af20012, Af20013];
        for code in fatal.into_iter().chain([Af20020, Af20021, Af20053, Af20054]) {
            assert!(matches!(code.action(), Action::FixConfiguration { .. }), "{code}");
        }
        for code in [Af20022, Af20023] {
            assert_eq!(code.action(), Action::Resubscribe, "{code}");
        }
        for code in [Af20030, Af20055] {
            assert_eq!(code.action(), Action::RecomputeWindow, "{code}");
        }
        for code in [Af429, Af50000, Af50005, Af50006, Af20031] {
            assert_eq!(code.action(), Action::RetryLater, "{code}");
        }
        for code in [Af20050, Af20051, Af20052] {
            assert_eq!(code.action(), Action::ContentGone, "{code}");
        }
        assert_eq!(Af20024.action(), Action::AlreadyInEffect);
    }

    #[test]
    fn missing_permission_says_what_to_grant() {
        let text = AfCode::Af10001.action().to_string();
        assert!(text.contains("ActivityFeed.Read application permission"), "{text}");
        assert!(text.contains("admin consent"), "{text}");
    }
}
