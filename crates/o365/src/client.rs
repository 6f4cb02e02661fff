//! The Management Activity API client: configuration, and the one place every request goes
//! through (URL pin, `PublisherIdentifier`, pacing, bearer token, 401 refresh-once, retries with
//! backoff, error classification, counters and tracing).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use clock::Clock;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::Method;
use secrecy::ExposeSecret;
use url::Url;
use uuid::Uuid;

use crate::api_url::{ApiRoot, with_publisher};
use crate::cloud::Endpoints;
use crate::content_type::ContentType;
use crate::error::{Action, AfCode, ConfigError, Error, ErrorCode, Operation};
use crate::error_body::{classify, parse_retry_after};
use crate::pacing::{Counters, Pacer, Pacing, RequestCounters, RetryPolicy};
use crate::token::{Credential, TokenClient, TokenEndpoint, TokenSettings};

/// How long Microsoft wants between two `subscriptions/start` for the same content type.
pub const START_COOLDOWN: chrono::Duration = chrono::Duration::minutes(15);

/// Everything needed to talk to one tenant's Management Activity API.
#[derive(Debug, Clone)]
pub struct ActivitySettings {
    /// Cloud endpoints (or explicit URLs for the emulator).
    pub endpoints: Endpoints,
    /// The customer tenant (Directory (tenant) ID).
    pub tenant_id: Uuid,
    /// Application (client) id.
    pub client_id: String,
    pub credential: Credential,
    pub token_endpoint: TokenEndpoint,
    /// Sent as `PublisherIdentifier` on every request; `None` = the tenant id (right for
    /// in-house collectors; a software vendor sets its own tenant id).
    pub publisher_identifier: Option<Uuid>,
    pub retry: RetryPolicy,
    pub pacing: Pacing,
    /// Refresh tokens when less than this remains.
    pub token_refresh_margin: Duration,
    /// Timeout of one HTTP request (a large blob must fit in it).
    pub request_timeout: Duration,
}

impl ActivitySettings {
    /// Settings with the defaults (v2 token endpoint, publisher = tenant, 1,200 requests/min).
    pub fn new(
        endpoints: Endpoints,
        tenant_id: Uuid,
        client_id: impl Into<String>,
        credential: Credential,
    ) -> ActivitySettings {
        ActivitySettings {
            endpoints,
            tenant_id,
            client_id: client_id.into(),
            credential,
            token_endpoint: TokenEndpoint::V2,
            publisher_identifier: None,
            retry: RetryPolicy::default(),
            pacing: Pacing::default(),
            token_refresh_margin: Duration::from_secs(5 * 60),
            request_timeout: Duration::from_secs(120),
        }
    }
}

/// A client of one tenant's Management Activity API. Cheap to clone; clones share the token
/// cache, the pacer, the counters and the subscription-start guard.
#[derive(Debug, Clone)]
pub struct ActivityClient {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) root: ApiRoot,
    tenant_id: Uuid,
    publisher: String,
    tokens: TokenClient,
    http: reqwest::Client,
    pub(crate) clock: Arc<dyn Clock>,
    pacer: Pacer,
    retry: RetryPolicy,
    counters: Counters,
    /// When this client last sent `subscriptions/start`, per content type.
    pub(crate) starts: Mutex<HashMap<ContentType, DateTime<Utc>>>,
}

/// The body of a request.
#[derive(Debug)]
pub(crate) enum RequestBody {
    None,
    /// A POST without a body: `Content-Length: 0`.
    Empty,
    Json(Vec<u8>),
}

/// One request as the client sends it.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) operation: Operation,
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) body: RequestBody,
    pub(crate) header: Option<(HeaderName, HeaderValue)>,
    /// Whether retryable failures may be sent again (never for `subscriptions/start`).
    pub(crate) retry: bool,
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Builds an HTTP client suitable for Microsoft APIs: rustls, no redirects (a redirect would
/// carry the bearer token elsewhere), the given overall timeout.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(15).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("d365audit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(ConfigError::HttpClient)
}

impl ActivityClient {
    /// A client with its own pacer.
    pub fn new(
        settings: ActivitySettings,
        clock: Arc<dyn Clock>,
    ) -> Result<ActivityClient, ConfigError> {
        let pacer = Pacer::new(settings.pacing);
        ActivityClient::with_pacer(settings, clock, pacer)
    }

    /// A client that shares `pacer` (use one pacer per tenant when several clients talk to the
    /// same tenant). `settings.pacing` is ignored.
    pub fn with_pacer(
        settings: ActivitySettings,
        clock: Arc<dyn Clock>,
        pacer: Pacer,
    ) -> Result<ActivityClient, ConfigError> {
        if settings.retry.max_attempts == 0 {
            return Err(ConfigError::InvalidSetting {
                name: "retry.max_attempts",
                reason: "it must be at least 1".to_owned(),
            });
        }
        let root = ApiRoot::new(&settings.endpoints.api_base, settings.tenant_id)?;
        let http = http_client(settings.request_timeout)?;
        let mut token_settings = TokenSettings::new(
            settings.endpoints.login_base.clone(),
            settings.tenant_id.to_string(),
            settings.client_id.clone(),
            settings.credential.clone(),
            settings.endpoints.resource.clone(),
        );
        token_settings.endpoint = settings.token_endpoint;
        token_settings.refresh_margin = settings.token_refresh_margin;
        token_settings.retry = settings.retry;
        let tokens = TokenClient::with_http(token_settings, http.clone(), clock.clone())?;
        let publisher = settings.publisher_identifier.unwrap_or(settings.tenant_id).to_string();
        Ok(ActivityClient {
            inner: Arc::new(Inner {
                root,
                tenant_id: settings.tenant_id,
                publisher,
                tokens,
                http,
                clock,
                pacer,
                retry: settings.retry,
                counters: Counters::default(),
                starts: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The tenant this client reads.
    pub fn tenant_id(&self) -> Uuid {
        self.inner.tenant_id
    }

    /// The `PublisherIdentifier` sent on every request.
    pub fn publisher_identifier(&self) -> &str {
        &self.inner.publisher
    }

    /// The token client (shared by all clones).
    pub fn tokens(&self) -> &TokenClient {
        &self.inner.tokens
    }

    /// The pacer (shared by all clones; hand it to other clients of the same tenant).
    pub fn pacer(&self) -> &Pacer {
        &self.inner.pacer
    }

    /// What this client (and its clones) did so far.
    pub fn counters(&self) -> RequestCounters {
        self.inner.counters.snapshot()
    }

    /// Sends a request: pin, `PublisherIdentifier`, pace, authorize, retry, classify.
    pub(crate) async fn execute(&self, call: Call) -> Result<Reply, Error> {
        let inner = &self.inner;
        inner.root.pin(&call.url)?;
        let url = with_publisher(call.url, &inner.publisher);
        let operation = call.operation;
        let max_attempts = if call.retry { inner.retry.max_attempts.max(1) } else { 1 };
        let mut attempt: u32 = 1;
        let mut refreshed = false;
        loop {
            inner.pacer.acquire().await;
            let token = inner.tokens.access_token().await?;
            let mut request = inner
                .http
                .request(call.method.clone(), url.clone())
                .bearer_auth(token.secret().expose_secret());
            request = match &call.body {
                RequestBody::None => request,
                RequestBody::Empty => request.header(CONTENT_LENGTH, "0").body(Vec::<u8>::new()),
                RequestBody::Json(json) => request
                    .header(CONTENT_TYPE, "application/json; charset=utf-8")
                    .body(json.clone()),
            };
            if let Some((name, value)) = &call.header {
                request = request.header(name.clone(), value.clone());
            }
            inner.counters.request();
            let started = std::time::Instant::now();
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    response.bytes().await.map(|body| (status, headers, body))
                }
                Err(e) => Err(e),
            };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let (status, headers, body) = match outcome {
                Ok(answer) => answer,
                Err(source) => {
                    if attempt < max_attempts {
                        let delay = inner.retry.delay(attempt, None);
                        tracing::warn!(
                            operation = operation.name(),
                            attempt,
                            delay_ms = delay.as_millis() as u64,
                            error = %source,
                            "request failed in transport; retrying"
                        );
                        inner.counters.retry();
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(Error::Transport { operation, attempts: attempt, source });
                }
            };
            tracing::debug!(
                operation = operation.name(),
                status,
                attempt,
                elapsed_ms,
                bytes = body.len(),
                "response"
            );
            if (200..300).contains(&status) {
                return Ok(Reply { url, headers, body });
            }
            if status == 401 {
                inner.counters.unauthorized();
                if !refreshed {
                    // The token expired or was revoked mid-run: one new token, same request once.
                    refreshed = true;
                    tracing::info!(
                        operation = operation.name(),
                        "401 from the API; refreshing the token once"
                    );
                    inner.tokens.invalidate(&token).await;
                    continue;
                }
            }
            let retry_after = headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, inner.clock.now()));
            let error = classify(operation, status, retry_after, &body);
            if status == 429 || error.code == ErrorCode::Af(AfCode::Af429) {
                inner.counters.throttled();
            }
            if error.action == Action::RetryLater && attempt < max_attempts {
                let delay = inner.retry.delay(attempt, retry_after);
                tracing::warn!(
                    operation = operation.name(),
                    attempt,
                    status,
                    code = %error.code,
                    delay_ms = delay.as_millis() as u64,
                    "retryable API error; backing off"
                );
                inner.counters.retry();
                tokio::time::sleep(delay).await;
                attempt += 1;
                continue;
            }
            tracing::debug!(operation = operation.name(), status, code = %error.code, "API error");
            return Err(Error::Api(error));
        }
    }
}
