//! The Entra ID token client: client-credentials tokens (client secret or certificate) from the
//! v2 (`scope`) or v1 (`resource`) endpoint, for any resource (the Management Activity API, a
//! Dataverse environment, ...), cached and refreshed before expiry, one refresh shared by all
//! concurrent callers.

mod assertion;
mod error;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use clock::Clock;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;
use uuid::Uuid;

pub use assertion::{ASSERTION_LIFETIME, AssertionClaims, AssertionStyle, CertificateCredential};
pub use error::{AadstsProblem, AuthError, TokenRefusal};

use crate::cloud::require_safe_base;
use crate::error::ConfigError;
use crate::pacing::RetryPolicy;

/// `client_assertion_type` for certificate credentials.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the application proves who it is.
#[derive(Clone)]
pub enum Credential {
    /// A client secret (its VALUE, not its ID).
    Secret(Arc<SecretString>),
    /// A certificate registered on the app registration, and its private key.
    Certificate(CertificateCredential),
}

impl Credential {
    /// A client-secret credential.
    pub fn secret(value: SecretString) -> Credential {
        Credential::Secret(Arc::new(value))
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Secret(_) => f.write_str("Credential::Secret([redacted])"),
            Credential::Certificate(cert) => {
                f.debug_tuple("Credential::Certificate").field(cert).finish()
            }
        }
    }
}

/// Which token endpoint to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenEndpoint {
    /// `{login}/{tenant}/oauth2/v2.0/token` with `scope=<resource>/.default`.
    #[default]
    V2,
    /// `{login}/{tenant}/oauth2/token` with `resource=<resource>`.
    V1,
}

/// Everything the token client needs.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// Entra ID base, e.g. `https://login.microsoftonline.com`.
    pub login_base: Url,
    /// Tenant GUID or verified domain.
    pub tenant: String,
    /// Application (client) id.
    pub client_id: String,
    pub credential: Credential,
    /// The resource tokens are for, e.g. `https://manage.office.com`.
    pub resource: String,
    pub endpoint: TokenEndpoint,
    /// Refresh when less than this remains (at most half the token's lifetime is used).
    pub refresh_margin: Duration,
    /// Retries for transient token-endpoint failures.
    pub retry: RetryPolicy,
}

impl TokenSettings {
    /// Settings with the defaults: v2 endpoint, refresh 5 minutes before expiry.
    pub fn new(
        login_base: Url,
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        credential: Credential,
        resource: impl Into<String>,
    ) -> TokenSettings {
        TokenSettings {
            login_base,
            tenant: tenant.into(),
            client_id: client_id.into(),
            credential,
            resource: resource.into(),
            endpoint: TokenEndpoint::V2,
            refresh_margin: Duration::from_secs(5 * 60),
            retry: RetryPolicy::default(),
        }
    }

    /// The token endpoint URL (also the `aud` of certificate assertions).
    pub fn token_url(&self) -> Result<Url, ConfigError> {
        require_safe_base("login base", &self.login_base)?;
        if !is_valid_tenant(&self.tenant) {
            return Err(ConfigError::InvalidTenant { tenant: self.tenant.clone() });
        }
        let mut url = self.login_base.clone();
        {
            let mut segments = url.path_segments_mut().map_err(|()| ConfigError::InvalidUrl {
                what: "login base".to_owned(),
                url: self.login_base.to_string(),
                reason: "it cannot be a base URL".to_owned(),
            })?;
            segments.pop_if_empty().push(&self.tenant).push("oauth2");
            match self.endpoint {
                TokenEndpoint::V2 => segments.push("v2.0").push("token"),
                TokenEndpoint::V1 => segments.push("token"),
            };
        }
        Ok(url)
    }
}

/// A tenant is a GUID or a DNS name.
fn is_valid_tenant(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 253
        && tenant.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !tenant.starts_with(['.', '-'])
}

/// An access token. `Debug` never shows it.
#[derive(Clone)]
pub struct AccessToken {
    value: Arc<SecretString>,
    expires_at: DateTime<Utc>,
    refresh_at: DateTime<Utc>,
    /// Which fetch produced it (to invalidate only the token that was refused).
    generation: u64,
}

impl AccessToken {
    /// The bearer value (only for the `Authorization` header of the resource it is for).
    pub fn secret(&self) -> &SecretString {
        &self.value
    }

    /// When the token expires.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    /// When the client will fetch a new one.
    pub fn refresh_at(&self) -> DateTime<Utc> {
        self.refresh_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

/// A caching token client. Clones share the cache.
#[derive(Debug, Clone)]
pub struct TokenClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: TokenSettings,
    token_url: Url,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    cache: tokio::sync::Mutex<Option<AccessToken>>,
    fetches: AtomicU64,
}

/// The token endpoint's success answer; numbers may come as strings (v1).
#[derive(Deserialize)]
struct TokenReply {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    expires_in: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    expires_on: Option<i64>,
}

/// A number, or a string holding one; anything else is `None`.
fn lenient_i64<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(de)?;
    Ok(match value {
        Some(serde_json::Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Used when the answer has neither `expires_in` nor `expires_on`: short, so a token of unknown
/// lifetime is replaced soon.
const UNKNOWN_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);

impl TokenClient {
    /// A token client with its own HTTP client (redirects off).
    pub fn new(settings: TokenSettings, clock: Arc<dyn Clock>) -> Result<TokenClient, ConfigError> {
        let http = crate::http_client(Duration::from_secs(60))?;
        TokenClient::with_http(settings, http, clock)
    }

    /// A token client using the given HTTP client (which should not follow redirects).
    pub fn with_http(
        settings: TokenSettings,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
    ) -> Result<TokenClient, ConfigError> {
        let token_url = settings.token_url()?;
        if settings.client_id.trim().is_empty() {
            return Err(ConfigError::InvalidSetting {
                name: "client id",
                reason: "it is empty; use the Application (client) ID of the app registration"
                    .to_owned(),
            });
        }
        if settings.resource.trim().is_empty() {
            return Err(ConfigError::InvalidSetting {
                name: "resource",
                reason: "it is empty".to_owned(),
            });
        }
        Ok(TokenClient {
            inner: Arc::new(Inner {
                settings,
                token_url,
                http,
                clock,
                cache: tokio::sync::Mutex::new(None),
                fetches: AtomicU64::new(0),
            }),
        })
    }

    /// The settings this client uses.
    pub fn settings(&self) -> &TokenSettings {
        &self.inner.settings
    }

    /// The token endpoint URL.
    pub fn token_url(&self) -> &Url {
        &self.inner.token_url
    }

    /// How many tokens were fetched from Entra ID so far.
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// A valid token: the cached one while it has more than the refresh margin left, otherwise
    /// a new one. Concurrent callers wait for, and share, a single fetch.
    pub async fn access_token(&self) -> Result<AccessToken, AuthError> {
        let mut cache = self.inner.cache.lock().await;
        let now = self.inner.clock.now();
        if let Some(token) = cache.as_ref().filter(|t| now < t.refresh_at) {
            return Ok(token.clone());
        }
        let token = self.fetch().await?;
        *cache = Some(token.clone());
        Ok(token)
    }

    /// Forgets `refused` (after the resource answered 401), so the next
    /// [`TokenClient::access_token`] fetches a new token. A token that was already replaced is
    /// left alone, so many callers refused at once cause a single refresh.
    pub async fn invalidate(&self, refused: &AccessToken) {
        let mut cache = self.inner.cache.lock().await;
        if cache.as_ref().is_some_and(|t| t.generation == refused.generation) {
            *cache = None;
        }
    }

    async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let retry = self.inner.settings.retry;
        let mut attempt = 1;
        loop {
            match self.fetch_once().await {
                Ok(token) => return Ok(token),
                Err(err) if err.is_retryable() && attempt < retry.max_attempts.max(1) => {
                    let delay = retry.delay(attempt, None);
                    tracing::warn!(
                        endpoint = %self.inner.token_url,
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        error = %err,
                        "token request failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(err) => {
                    return Err(match err {
                        AuthError::Transport { endpoint, source, .. } => {
                            AuthError::Transport { endpoint, attempts: attempt, source }
                        }
                        other => other,
                    });
                }
            }
        }
    }

    async fn fetch_once(&self) -> Result<AccessToken, AuthError> {
        let s = &self.inner.settings;
        let endpoint = self.inner.token_url.as_str();
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", s.client_id.clone()),
        ];
        match s.endpoint {
            TokenEndpoint::V2 => {
                form.push(("scope", format!("{}/.default", s.resource.trim_end_matches('/'))));
            }
            TokenEndpoint::V1 => form.push(("resource", s.resource.clone())),
        }
        let assertion;
        let secret_text: &str = match &s.credential {
            Credential::Secret(secret) => {
                form.push(("client_secret", secret.expose_secret().to_owned()));
                secret.expose_secret()
            }
            Credential::Certificate(cert) => {
                assertion =
                    cert.assertion(&s.client_id, endpoint, self.inner.clock.now(), Uuid::new_v4())?;
                form.push(("client_assertion_type", JWT_BEARER.to_owned()));
                form.push(("client_assertion", assertion.clone()));
                &assertion
            }
        };

        let requested_at = self.inner.clock.now();
        let sent = self.inner.http.post(self.inner.token_url.clone()).form(&form).send().await;
        let transport =
            |source| AuthError::Transport { endpoint: endpoint.to_owned(), attempts: 1, source };
        let response = sent.map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?;
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);

        if !(200..300).contains(&status) {
            let rejection = error::read_token_error(status, &body, &[secret_text]);
            let err = AuthError::Rejected(Box::new(TokenRefusal {
                tenant: s.tenant.clone(),
                client_id: s.client_id.clone(),
                status,
                problem: rejection.problem,
                description: rejection.description,
                trace_id: rejection.trace_id,
                correlation_id: rejection.correlation_id,
                certificate_thumbprint: match &s.credential {
                    Credential::Certificate(cert) => Some(cert.thumbprint().to_owned()),
                    Credential::Secret(_) => None,
                },
            }));
            tracing::warn!(endpoint, status, error = %err, "token request refused");
            return Err(err);
        }

        let invalid = |detail: &str| AuthError::InvalidResponse {
            endpoint: endpoint.to_owned(),
            status,
            detail: detail.to_owned(),
        };
        let reply: TokenReply = serde_json::from_slice(&body).map_err(|e| {
            invalid(&format!("the body is not the documented JSON ({})", e.classify_name()))
        })?;
        let value = reply
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid("no access_token"))?;
        if let Some(kind) =
            reply.token_type.as_deref().filter(|k| !k.eq_ignore_ascii_case("bearer"))
        {
            return Err(invalid(&format!("token_type is {kind:?}, not Bearer")));
        }
        let expires_at = match (reply.expires_in, reply.expires_on) {
            (Some(seconds), _) => requested_at + chrono::Duration::seconds(seconds),
            (None, Some(epoch)) => DateTime::from_timestamp(epoch, 0).unwrap_or(requested_at),
            (None, None) => requested_at + UNKNOWN_LIFETIME,
        };
        let lifetime = expires_at - requested_at;
        let margin = chrono::Duration::from_std(s.refresh_margin)
            .unwrap_or(chrono::Duration::MAX)
            .min(lifetime / 2);
        let generation = self.inner.fetches.load(Ordering::Relaxed);
        tracing::debug!(
            endpoint,
            resource = %s.resource,
            expires_at = %expires_at,
            "new access token"
        );
        Ok(AccessToken {
            value: Arc::new(SecretString::from(value)),
            expires_at,
            refresh_at: expires_at - margin,
            generation,
        })
    }
}

/// Names a serde_json error category without its text (which may quote the body).
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "unexpected fields",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: TokenEndpoint, base: &str) -> TokenSettings {
        let mut s = TokenSettings::new(
            Url::parse(base).unwrap(),
            "41463f53-8812-40f4-890f-865bf6e35190",
            "a6099727-6b7b-482c-b509-1df309acc563",
            Credential::secret(SecretString::from("value")),
            "https://manage.office.com",
        );
        s.endpoint = endpoint;
        s
    }

    #[test]
    fn token_urls_for_v1_and_v2() {
        let v2 =
            settings(TokenEndpoint::V2, "https://login.microsoftonline.com").token_url().unwrap();
        assert_eq!(
            v2.as_str(),
            "https://login.microsoftonline.com/41463f53-8812-40f4-890f-865bf6e35190/oauth2/v2.0/token"
        );
        let v1 = settings(TokenEndpoint::V1, "http://127.0.0.1:9/prefix/").token_url().unwrap();
        assert_eq!(
            v1.as_str(),
            "http://127.0.0.1:9/prefix/41463f53-8812-40f4-890f-865bf6e35190/oauth2/token"
        );
        let mut domain = settings(TokenEndpoint::V2, "https://login.microsoftonline.us");
        domain.tenant = "contoso.onmicrosoft.com".into();
        assert!(domain.token_url().unwrap().as_str().contains("/contoso.onmicrosoft.com/oauth2/"));
    }

    #[test]
    fn bad_tenants_and_insecure_login_bases_are_refused() {
        for tenant in ["", "../x", "a/b", "a b", "?x"] {
            let mut s = settings(TokenEndpoint::V2, "https://login.microsoftonline.com");
            s.tenant = tenant.into();
            assert!(matches!(s.token_url(), Err(ConfigError::InvalidTenant { .. })), "{tenant:?}");
        }
        assert!(
            settings(TokenEndpoint::V2, "http://login.microsoftonline.com").token_url().is_err()
        );
    }

    #[test]
    fn lenient_numbers() {
        let r: TokenReply = serde_json::from_str(
            r#"{"token_type":"Bearer","expires_in":"3599","expires_on":"1431659094","access_token":"x"}"#,
        )
        .unwrap();
        assert_eq!((r.expires_in, r.expires_on), (Some(3599), Some(1_431_659_094)));
        let r: TokenReply =
            serde_json::from_str(r#"{"expires_in":3599,"access_token":"x"}"#).unwrap();
        assert_eq!(r.expires_in, Some(3599));
        let r: TokenReply =
            serde_json::from_str(r#"{"expires_in":null,"expires_on":"soon","access_token":"x"}"#)
                .unwrap();
        assert_eq!((r.expires_in, r.expires_on), (None, None));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let cred = Credential::secret(SecretString::from("super-secret-value"));
        assert!(!format!("{cred:?}").contains("super-secret-value"));
        let s = settings(TokenEndpoint::V2, "https://login.microsoftonline.com");
        assert!(!format!("{s:?}").contains("value\""));
        let token = AccessToken {
            value: Arc::new(SecretString::from("eyJ-token")),
            expires_at: Utc::now(),
            refresh_at: Utc::now(),
            generation: 1,
        };
        assert!(!format!("{token:?}").contains("eyJ"));
    }
}
