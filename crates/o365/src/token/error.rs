//! Entra ID token errors: the documented error body (`error`, `error_description`,
//! `error_codes`, `trace_id`, `correlation_id`, ...) read tolerantly, and the AADSTS codes a
//! collector meets turned into typed problems with advice on what to do.

use std::fmt;

use serde::Deserialize;

/// What Entra ID refused, in the administrator's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AadstsProblem {
    /// AADSTS7000215: the secret is wrong, usually the secret ID was configured.
    InvalidSecret,
    /// AADSTS7000222: the secret has expired.
    ExpiredSecret,
    /// AADSTS700016: the application is not known in that tenant.
    AppNotFound,
    /// AADSTS700027 / AADSTS50012: the certificate is not registered, or the key is wrong.
    CertificateRejected { code: u32 },
    /// AADSTS700024: the assertion's time range is not valid (clock).
    AssertionTime,
    /// AADSTS90002 / AADSTS900023: tenant not found or not a valid identifier.
    TenantNotFound { code: u32 },
    /// AADSTS70011: invalid scope.
    InvalidScope,
    /// AADSTS500011 / AADSTS65001: the resource is not consented in the tenant.
    ConsentMissing { code: u32 },
    /// AADSTS53003: blocked by Conditional Access.
    ConditionalAccess,
    /// AADSTS90055: Entra ID is throttling the tenant.
    Throttled,
    /// Anything else (the OAuth `error` value and the AADSTS code if there was one).
    Other { code: Option<u32>, oauth_error: String },
}

impl AadstsProblem {
    /// The typed problem for an AADSTS code.
    pub fn from_code(code: Option<u32>, oauth_error: &str) -> AadstsProblem {
        match code {
            Some(7_000_215) => AadstsProblem::InvalidSecret,
            Some(7_000_222) => AadstsProblem::ExpiredSecret,
            Some(700_016) => AadstsProblem::AppNotFound,
            Some(code @ (700_027 | 50_012)) => AadstsProblem::CertificateRejected { code },
            Some(700_024) => AadstsProblem::AssertionTime,
            Some(code @ (90_002 | 900_023)) => AadstsProblem::TenantNotFound { code },
            Some(70_011) => AadstsProblem::InvalidScope,
            Some(code @ (500_011 | 65_001)) => AadstsProblem::ConsentMissing { code },
            Some(53_003) => AadstsProblem::ConditionalAccess,
            Some(90_055) => AadstsProblem::Throttled,
            code => AadstsProblem::Other { code, oauth_error: oauth_error.to_owned() },
        }
    }

    /// The AADSTS code, when known.
    pub fn code(&self) -> Option<u32> {
        match self {
            AadstsProblem::InvalidSecret => Some(7_000_215),
            AadstsProblem::ExpiredSecret => Some(7_000_222),
            AadstsProblem::AppNotFound => Some(700_016),
            AadstsProblem::AssertionTime => Some(700_024),
            AadstsProblem::InvalidScope => Some(70_011),
            AadstsProblem::ConditionalAccess => Some(53_003),
            AadstsProblem::Throttled => Some(90_055),
            AadstsProblem::CertificateRejected { code }
            | AadstsProblem::TenantNotFound { code }
            | AadstsProblem::ConsentMissing { code } => Some(*code),
            AadstsProblem::Other { code, .. } => *code,
        }
    }

    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            AadstsProblem::Throttled => true,
            AadstsProblem::Other { oauth_error, .. } => oauth_error == "temporarily_unavailable",
            _ => false,
        }
    }

    /// What to do, in one sentence an administrator can act on.
    pub fn advice(&self) -> String {
        match self {
            AadstsProblem::InvalidSecret => "the client secret was rejected: you probably \
                configured the secret ID instead of the secret VALUE; copy the Value column of \
                Certificates & secrets in the app registration (it is shown only right after the \
                secret is created; if you no longer have it, create a new secret)"
                .to_owned(),
            AadstsProblem::ExpiredSecret => "the client secret has expired: create a new one \
                under Certificates & secrets in the app registration and configure its Value"
                .to_owned(),
            AadstsProblem::AppNotFound => "the application was not found in this tenant: check \
                the application (client) id, check that the tenant id is the tenant where the app \
                is registered or used, and that an administrator granted admin consent there"
                .to_owned(),
            AadstsProblem::CertificateRejected { .. } => "the certificate assertion was refused: \
                the certificate is not registered on the app registration (upload its public \
                part under Certificates & secrets) or the private key does not belong to it"
                .to_owned(),
            AadstsProblem::AssertionTime => "the client assertion is outside its valid time \
                range: check this machine's clock (it must be within a few minutes of real time; \
                enable NTP)"
                .to_owned(),
            AadstsProblem::TenantNotFound { .. } => "the tenant was not found: check the tenant \
                id (the Directory (tenant) ID GUID, or a verified domain such as \
                contoso.onmicrosoft.com) and the cloud (GCC High/DoD and China sign in at other \
                hosts than commercial and GCC)"
                .to_owned(),
            AadstsProblem::InvalidScope => "the requested scope/resource is not valid: check the \
                configured resource and cloud (for client credentials the scope is the resource \
                followed by /.default)"
                .to_owned(),
            AadstsProblem::ConsentMissing { .. } => "the application has no admin consent for \
                this API in the tenant: add the application permission (for the Management \
                Activity API: Office 365 Management APIs, ActivityFeed.Read) and click \"Grant \
                admin consent\""
                .to_owned(),
            AadstsProblem::ConditionalAccess => "sign-in was blocked by a Conditional Access \
                policy for workload identities: ask an Entra ID administrator to allow this \
                application from this location"
                .to_owned(),
            AadstsProblem::Throttled => {
                "Entra ID is throttling token requests for this tenant: retry later".to_owned()
            }
            AadstsProblem::Other { oauth_error, .. } => {
                format!("Entra ID refused the token request ({oauth_error})")
            }
        }
    }
}

impl fmt::Display for AadstsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.advice())
    }
}

/// Entra ID's refusal of a token request, with the advice for the administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRefusal {
    pub tenant: String,
    pub client_id: String,
    /// HTTP status of the answer.
    pub status: u16,
    pub problem: AadstsProblem,
    /// First line of `error_description`, with any credential removed.
    pub description: String,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
    /// SHA-1 thumbprint (hex, as the Azure portal shows it) of the certificate used, if any.
    pub certificate_thumbprint: Option<String>,
}

impl fmt::Display for TokenRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sign-in to tenant {} as application {} failed: {} (HTTP {}",
            self.tenant,
            self.client_id,
            self.problem.advice(),
            self.status
        )?;
        if let Some(code) = self.problem.code() {
            write!(f, ", AADSTS{code}")?;
        }
        if let Some(thumbprint) = &self.certificate_thumbprint {
            write!(f, ", certificate thumbprint {thumbprint}")?;
        }
        write!(f, "; Entra ID said: {}", self.description)?;
        if let Some(trace) = &self.trace_id {
            write!(f, "; trace id {trace}")?;
        }
        f.write_str(")")
    }
}

/// Token acquisition failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Entra ID answered with an error.
    #[error("{0}")]
    Rejected(Box<TokenRefusal>),
    /// The token endpoint could not be reached (after retries).
    #[error(
        "could not reach the Entra ID token endpoint {endpoint} after {attempts} attempt(s): {source}"
    )]
    Transport {
        endpoint: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    /// A success answer without a usable token.
    #[error(
        "the token endpoint {endpoint} answered HTTP {status} without a usable token: {detail}"
    )]
    InvalidResponse { endpoint: String, status: u16, detail: String },
    /// The client assertion could not be signed.
    #[error("could not sign the client assertion: {reason}")]
    Assertion { reason: String },
}

impl AuthError {
    /// The typed AADSTS problem, when Entra ID answered with one.
    pub fn problem(&self) -> Option<&AadstsProblem> {
        match self {
            AuthError::Rejected(refusal) => Some(&refusal.problem),
            _ => None,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            AuthError::Rejected(refusal) => {
                refusal.problem.is_transient() || refusal.status == 429 || refusal.status >= 500
            }
            AuthError::Transport { .. } => true,
            AuthError::InvalidResponse { status, .. } => *status >= 500,
            AuthError::Assertion { .. } => false,
        }
    }
}

/// The documented token error body; every field optional.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenErrorBody {
    #[serde(default)]
    pub(crate) error: Option<String>,
    #[serde(default)]
    pub(crate) error_description: Option<String>,
    #[serde(default)]
    pub(crate) error_codes: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub(crate) trace_id: Option<String>,
    #[serde(default)]
    pub(crate) correlation_id: Option<String>,
}

/// What a token error answer says, read tolerantly (any body, even HTML, gives a result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenRejection {
    pub(crate) problem: AadstsProblem,
    pub(crate) description: String,
    pub(crate) trace_id: Option<String>,
    pub(crate) correlation_id: Option<String>,
}

/// Reads a token error body. `secrets` are removed from the description (belt and braces: Entra
/// ID does not echo them, but an intermediary might).
pub(crate) fn read_token_error(status: u16, body: &[u8], secrets: &[&str]) -> TokenRejection {
    let parsed: TokenErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let description = parsed.error_description.clone().unwrap_or_default();
    let code = parsed
        .error_codes
        .as_deref()
        .and_then(|codes| codes.first())
        .and_then(|c| match c {
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .or_else(|| aadsts_code_in(&description));
    let oauth_error = parsed.error.clone().unwrap_or_else(|| format!("HTTP {status}"));
    let first_line = description
        .split(['\r', '\n'])
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            if body.is_empty() {
                "empty body".to_owned()
            } else {
                "no error_description".to_owned()
            }
        });
    let shortened: String = first_line.chars().take(400).collect();
    TokenRejection {
        problem: AadstsProblem::from_code(code, &oauth_error),
        description: redact(&shortened, secrets),
        trace_id: parsed.trace_id,
        correlation_id: parsed.correlation_id,
    }
}

/// The number after the first `AADSTS` in a text.
fn aadsts_code_in(text: &str) -> Option<u32> {
    let at = text.find("AADSTS")? + "AADSTS".len();
    let digits: String = text[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Replaces every occurrence of each (non-trivial) secret with `[redacted]`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "[redacted]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: u32, error: &str, text: &str) -> Vec<u8> {
        serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 0f1e\r\nCorrelation ID: 9a8b\r\nTimestamp: 2026-06-01 10:00:00Z"),
            "error_codes": [code],
            "timestamp": "2026-06-01 10:00:00Z",
            "trace_id": "0f1e",
            "correlation_id": "9a8b",
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn every_listed_code_maps_to_its_problem() {
        let cases: [(u32, AadstsProblem); 14] = [
            (7_000_215, AadstsProblem::InvalidSecret),
            (7_000_222, AadstsProblem::ExpiredSecret),
            (700_016, AadstsProblem::AppNotFound),
            (700_027, AadstsProblem::CertificateRejected { code: 700_027 }),
            (50_012, AadstsProblem::CertificateRejected { code: 50_012 }),
            (700_024, AadstsProblem::AssertionTime),
            (90_002, AadstsProblem::TenantNotFound { code: 90_002 }),
            (900_023, AadstsProblem::TenantNotFound { code: 900_023 }),
            (70_011, AadstsProblem::InvalidScope),
            (500_011, AadstsProblem::ConsentMissing { code: 500_011 }),
            (65_001, AadstsProblem::ConsentMissing { code: 65_001 }),
            (53_003, AadstsProblem::ConditionalAccess),
            (90_055, AadstsProblem::Throttled),
            (
                90_014,
                AadstsProblem::Other { code: Some(90_014), oauth_error: "invalid_request".into() },
            ),
        ];
        for (code, expected) in cases {
            let r = read_token_error(400, &body(code, "invalid_request", "text"), &[]);
            assert_eq!(r.problem, expected, "{code}");
            assert_eq!(r.problem.code(), Some(code));
            assert_eq!(r.description, format!("AADSTS{code}: text"));
            assert_eq!(r.trace_id.as_deref(), Some("0f1e"));
        }
    }

    #[test]
    fn advice_is_actionable() {
        let secret = AadstsProblem::InvalidSecret.advice();
        assert!(secret.contains("secret ID instead of the secret VALUE"), "{secret}");
        assert!(secret.contains("Value column of Certificates & secrets"), "{secret}");
        assert!(AadstsProblem::ExpiredSecret.advice().contains("create a new one"));
        let app = AadstsProblem::AppNotFound.advice();
        assert!(app.contains("client) id") && app.contains("tenant") && app.contains("consent"));
        assert!(AadstsProblem::AssertionTime.advice().contains("clock"));
        let tenant = AadstsProblem::TenantNotFound { code: 90_002 }.advice();
        assert!(tenant.contains("tenant id") && tenant.contains("cloud"));
        assert!(
            AadstsProblem::CertificateRejected { code: 700_027 }
                .advice()
                .contains("not registered")
        );
        assert!(AadstsProblem::Throttled.is_transient());
        assert!(!AadstsProblem::InvalidSecret.is_transient());
    }

    #[test]
    fn tolerant_of_missing_fields_and_odd_bodies() {
        let r = read_token_error(401, br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#, &[]);
        assert_eq!(r.problem, AadstsProblem::InvalidSecret);

        let r =
            read_token_error(400, br#"{"error":"invalid_client","error_codes":["7000222"]}"#, &[]);
        assert_eq!(r.problem, AadstsProblem::ExpiredSecret);
        assert_eq!(r.description, "no error_description");

        let r = read_token_error(503, b"<html>down</html>", &[]);
        assert_eq!(r.problem, AadstsProblem::Other { code: None, oauth_error: "HTTP 503".into() });

        let r = read_token_error(400, b"", &[]);
        assert_eq!(r.description, "empty body");

        let r = read_token_error(400, br#"{"error":"temporarily_unavailable"}"#, &[]);
        assert!(r.problem.is_transient());
    }

    #[test]
    fn secrets_never_survive_into_the_description() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: secret s3cr3t-VALUE~x was wrong","error_codes":[7000215]}"#;
        let r = read_token_error(401, body, &["s3cr3t-VALUE~x"]);
        assert!(!r.description.contains("s3cr3t"), "{}", r.description);
        assert!(r.description.contains("[redacted]"));
    }
}
