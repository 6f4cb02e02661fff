//! Errors of the Dataverse Web API client: the OData error shape
//! (`{"error":{"code","message"}}`) read tolerantly, and every failure mapped to what an
//! administrator should do about it. No error ever carries a token or a secret.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// The Dataverse Web API operation a request belonged to (for errors, logs and advice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `GET audits?$filter=createdon ge ...` (the first page).
    ListAudits,
    /// Following an `@odata.nextLink` of `audits`.
    NextAuditPage,
    /// `GET audits(<id>)/Microsoft.Dynamics.CRM.RetrieveAuditDetails`.
    AuditDetails,
    /// `GET organizations?$select=isauditenabled,...`.
    OrganizationSettings,
}

impl Operation {
    /// The operation as Microsoft's documentation names it.
    pub fn name(self) -> &'static str {
        match self {
            Operation::ListAudits => "audits",
            Operation::NextAuditPage => "audits (next page)",
            Operation::AuditDetails => "RetrieveAuditDetails",
            Operation::OrganizationSettings => "organizations",
        }
    }

    /// The privilege a `403` on this operation most likely lacks.
    fn privilege(self) -> &'static str {
        match self {
            Operation::ListAudits | Operation::NextAuditPage => {
                "prvReadAuditSummary (View Audit Summary)"
            }
            Operation::AuditDetails => "prvReadRecordAuditHistory (View Audit History)",
            Operation::OrganizationSettings => "read access to the Organization table",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What Dataverse said in its error body, when it said anything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceMessage {
    /// `error.code`, e.g. `0x80072322` (service protection) or `0x8006088a` (not found).
    pub code: Option<String>,
    /// `error.message`, first line, at most 500 characters.
    pub message: Option<String>,
}

impl ServiceMessage {
    /// Reads `{"error":{"code":"...","message":"..."}}`; anything else gives an empty message.
    pub fn parse(body: &[u8]) -> ServiceMessage {
        #[derive(Deserialize)]
        struct Envelope {
            error: Option<Inner>,
        }
        #[derive(Deserialize)]
        struct Inner {
            #[serde(default)]
            code: Option<serde_json::Value>,
            #[serde(default)]
            message: Option<String>,
        }
        let Ok(Envelope { error: Some(inner) }) = serde_json::from_slice::<Envelope>(body) else {
            return ServiceMessage::default();
        };
        let code = match inner.code {
            Some(serde_json::Value::String(code)) if !code.trim().is_empty() => {
                Some(code.trim().to_owned())
            }
            Some(serde_json::Value::Number(code)) => Some(code.to_string()),
            _ => None,
        };
        let message = inner.message.map(|text| shorten(text.lines().next().unwrap_or("")));
        ServiceMessage { code, message: message.filter(|m| !m.is_empty()) }
    }
}

impl fmt::Display for ServiceMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, &self.message) {
            (Some(code), Some(message)) => write!(f, "{code}: {message}"),
            (Some(code), None) => f.write_str(code),
            (None, Some(message)) => f.write_str(message),
            (None, None) => f.write_str("no error details"),
        }
    }
}

/// At most 500 characters.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(500) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A Dataverse Web API call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataverseError {
    /// The client settings cannot work (bad environment URL, bad limits, ...).
    #[error(transparent)]
    Config(#[from] o365::ConfigError),

    /// Entra ID refused to issue a token for the environment (wrong secret, app not found, ...).
    #[error("could not get a token for the Dataverse environment: {0}")]
    Token(#[from] o365::AuthError),

    /// The environment refused the token (401 after one refresh).
    #[error(
        "the environment {environment} refused the application's token on {operation} (HTTP 401, \
         {service}): check that the environment URL is the one of the environment you mean (the \
         token is issued for that URL), and that the app registration exists as an application \
         user in that environment (Power Platform admin center > Environments > Settings > Users \
         + permissions > Application users)"
    )]
    Unauthorized { environment: String, operation: Operation, service: ServiceMessage },

    /// The application user lacks a privilege (403).
    #[error(
        "the application user is not allowed to call {operation} in {environment} (HTTP 403, \
         {service}): give the application user a security role with {privilege}, e.g. a copy of \
         System Administrator or a custom role with the audit privileges",
        privilege = operation.privilege()
    )]
    Forbidden { environment: String, operation: Operation, service: ServiceMessage },

    /// Still throttled (429) after waiting as long as the service asked, several times.
    #[error(
        "Dataverse service protection limits kept throttling {operation} after {attempts} \
         attempt(s) (last Retry-After {retry_after:?}, {service}): other tools may be using the \
         same application user heavily; lower the request rate or concurrency, or try later"
    )]
    Throttled {
        operation: Operation,
        attempts: u32,
        retry_after: Option<Duration>,
        service: ServiceMessage,
    },

    /// 404 where the resource must exist (e.g. `audits` itself: wrong URL or API version).
    #[error(
        "{operation} was not found in {environment} (HTTP 404, {service}): check the environment \
         URL (https://<org>.crm<N>.dynamics.com, without /api/data)"
    )]
    NotFound { environment: String, operation: Operation, service: ServiceMessage },

    /// The service failed (5xx) on every attempt.
    #[error(
        "Dataverse failed on {operation} with HTTP {status} after {attempts} attempt(s) \
         ({service}); this is usually temporary: run the sync again later"
    )]
    Server { operation: Operation, status: u16, attempts: u32, service: ServiceMessage },

    /// Any other refusal (400 and friends): the request itself is wrong.
    #[error("Dataverse refused {operation} with HTTP {status} ({service})")]
    Refused { operation: Operation, status: u16, service: ServiceMessage },

    /// The environment could not be reached.
    #[error(
        "could not reach the Dataverse environment on {operation} after {attempts} attempt(s): \
         {source}"
    )]
    Transport {
        operation: Operation,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },

    /// A success answer that is not the documented shape.
    #[error("Dataverse answered {operation} with something unexpected: {reason}")]
    Malformed { operation: Operation, reason: String },

    /// An `@odata.nextLink` pointed somewhere else than the environment; nothing was sent there.
    #[error(
        "refused to follow a link to {url}: it is not on the environment's origin {expected}, and \
         the bearer token is only ever sent to the environment (nothing was sent)"
    )]
    ForeignLink { url: String, expected: String },
}

impl DataverseError {
    /// Whether running again later (without changing anything) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            DataverseError::Throttled { .. }
            | DataverseError::Server { .. }
            | DataverseError::Transport { .. } => true,
            DataverseError::Token(auth) => auth.is_retryable(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odata_error_shapes() {
        let m = ServiceMessage::parse(
            br#"{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit of 6000 over time window of 300 seconds.\nmore","innererror":{"type":"x"}}}"#,
        );
        assert_eq!(m.code.as_deref(), Some("0x80072322"));
        assert_eq!(
            m.message.as_deref(),
            Some("Number of requests exceeded the limit of 6000 over time window of 300 seconds.")
        );
        assert_eq!(ServiceMessage::parse(b"<html>oops</html>"), ServiceMessage::default());
        assert_eq!(ServiceMessage::parse(br#"{"error":null}"#), ServiceMessage::default());
        let numeric = ServiceMessage::parse(br#"{"error":{"code":0,"message":""}}"#);
        assert_eq!((numeric.code.as_deref(), numeric.message), (Some("0"), None));
        let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "x".repeat(2000));
        assert!(ServiceMessage::parse(long.as_bytes()).message.unwrap().chars().count() <= 501);
    }

    #[test]
    fn advice_names_the_fix() {
        let service = ServiceMessage { code: Some("0x80040220".into()), message: None };
        let text = DataverseError::Forbidden {
            environment: "https://contoso.crm4.dynamics.com".into(),
            operation: Operation::ListAudits,
            service: service.clone(),
        }
        .to_string();
        assert!(text.contains("prvReadAuditSummary"), "{text}");
        let text = DataverseError::Forbidden {
            environment: "https://contoso.crm4.dynamics.com".into(),
            operation: Operation::AuditDetails,
            service: service.clone(),
        }
        .to_string();
        assert!(text.contains("prvReadRecordAuditHistory"), "{text}");
        let text = DataverseError::Unauthorized {
            environment: "https://contoso.crm4.dynamics.com".into(),
            operation: Operation::ListAudits,
            service,
        }
        .to_string();
        assert!(text.contains("application user"), "{text}");
        assert!(text.contains("environment URL"), "{text}");
    }
}
