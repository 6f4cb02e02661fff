//! The Dataverse Web API client of one environment: the `audits` table page by page
//! (`$filter` on `createdon`, `@odata.nextLink` followed verbatim), `RetrieveAuditDetails`, and the
//! organization's audit settings. Every request goes through one place that pins the bearer token
//! to the environment's origin, sends the OData headers, stays under the service protection
//! limits (a concurrency limit shared by all calls, client-side pacing, `Retry-After` honoured by
//! every call of the client), refreshes the token once on 401, retries 5xx and transport failures
//! with jittered exponential backoff, and turns refusals into errors that say what to fix.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use clock::Clock;
use o365::{
    ConfigError, Credential, ExposeSecret, Pacer, Pacing, RequestCounters, RetryPolicy,
    TokenClient, TokenEndpoint, TokenSettings,
};
use reqwest::header::{ACCEPT, HeaderValue, RETRY_AFTER};
use serde::Deserialize;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;
use url::{Origin, Url};
use uuid::Uuid;

use crate::error::{DataverseError, Operation, ServiceMessage};

/// The Web API version used (`/api/data/v9.2/`).
pub const API_VERSION: &str = "v9.2";

/// The columns of `audits` the sync reads (what `record::parse_audit_row` needs).
pub const AUDIT_COLUMNS: &[&str] = &[
    "auditid",
    "action",
    "operation",
    "attributemask",
    "createdon",
    "objecttypecode",
    "_objectid_value",
    "_userid_value",
    "_callinguserid_value",
    "transactionid",
    "useradditionalinfo",
];

/// The most rows Dataverse returns in one page (`Prefer: odata.maxpagesize`).
pub const MAX_PAGE_SIZE: u32 = 5_000;

/// The most requests one client may have in flight. Dataverse refuses more than 52 concurrent
/// requests per user; staying well below leaves room for other tools of the same application
/// user and for several web servers counting separately.
pub const MAX_CONCURRENCY: usize = 32;

/// Everything needed to read one Dataverse environment's audit log.
#[derive(Debug, Clone)]
pub struct DataverseSettings {
    /// The environment URL, e.g. `https://contoso.crm4.dynamics.com` (https; plain http only on
    /// loopback, for the emulator). A trailing `/api/data/v9.x` is accepted and ignored.
    pub environment_url: Url,
    /// Entra ID base, e.g. `https://login.microsoftonline.com` (other clouds: their login host).
    pub login_base: Url,
    /// Directory (tenant) ID or verified domain of the tenant that owns the environment.
    pub tenant: String,
    /// Application (client) ID of the app registration that is an application user there.
    pub client_id: String,
    pub credential: Credential,
    pub token_endpoint: TokenEndpoint,
    /// The token resource; `None` = the environment URL's origin (what Dataverse expects).
    pub resource: Option<String>,
    /// Most requests in flight at once, shared by every call of the client (default 8, at most
    /// [`MAX_CONCURRENCY`]).
    pub concurrency: usize,
    /// Client-side request rate. Dataverse allows 6,000 requests per 5 minutes per user; the
    /// default (1,000 per minute, bursts of 20) stays under it with room for other tools. More
    /// than 1,200 per minute is refused, except for a loopback environment (the emulator).
    pub pacing: Pacing,
    /// Retries of 5xx and transport failures (and the backoff of 429 without `Retry-After`).
    pub retry: RetryPolicy,
    /// How many times one request waits out a 429 before giving up (default 20).
    pub max_throttle_waits: u32,
    /// The longest single wait for a `Retry-After` (default 5 minutes).
    pub max_retry_after: Duration,
    /// Timeout of one HTTP request (Dataverse gives up on operations after 2 minutes).
    pub request_timeout: Duration,
    /// Refresh tokens when less than this remains.
    pub token_refresh_margin: Duration,
}

impl DataverseSettings {
    /// Settings with the defaults (v2 token endpoint, 8 concurrent requests, 1,000 requests per
    /// minute).
    pub fn new(
        environment_url: Url,
        login_base: Url,
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        credential: Credential,
    ) -> DataverseSettings {
        DataverseSettings {
            environment_url,
            login_base,
            tenant: tenant.into(),
            client_id: client_id.into(),
            credential,
            token_endpoint: TokenEndpoint::V2,
            resource: None,
            concurrency: 8,
            pacing: Pacing { requests_per_minute: 1_000, burst: 20 },
            retry: RetryPolicy::default(),
            max_throttle_waits: 20,
            max_retry_after: Duration::from_secs(300),
            request_timeout: Duration::from_secs(130),
            token_refresh_margin: Duration::from_secs(5 * 60),
        }
    }
}

/// Which `audits` rows to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// `createdon ge since`; `None` = from the oldest row the environment still has.
    pub since: Option<DateTime<Utc>>,
    /// `createdon le until`; `None` = up to the newest.
    pub until: Option<DateTime<Utc>>,
    /// `Prefer: odata.maxpagesize` (1 to 5,000).
    pub page_size: u32,
}

/// One page of `audits` exactly as received.
#[derive(Debug, Clone)]
pub struct AuditsPage {
    /// The URL it was read from (without credentials; never holds a token).
    pub url: Url,
    /// The response body, verbatim.
    pub body: Vec<u8>,
}

impl AuditsPage {
    /// The page's rows (each element of `value`, verbatim) and its `@odata.nextLink`.
    pub fn split(&self) -> Result<record::AuditPage<'_>, record::MalformedBlob> {
        record::split_audit_page(&self.body)
    }
}

/// A `RetrieveAuditDetails` answer: its exact bytes, and what they decode to.
#[derive(Debug, Clone)]
pub struct AuditDetails {
    pub raw: Vec<u8>,
    /// The decoded detail, or why the bytes could not be read (they are kept in `raw`).
    pub detail: Result<record::ChangeDetail, record::MalformedRecord>,
}

/// The environment's audit settings (`organizations` row).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrganizationSettings {
    #[serde(rename = "organizationid", default)]
    pub organization_id: Option<Uuid>,
    /// Auditing is on for the environment.
    #[serde(rename = "isauditenabled", default)]
    pub audit_enabled: Option<bool>,
    /// How long new audit rows are kept, in days; `-1` = forever.
    #[serde(rename = "auditretentionperiodv2", default)]
    pub retention_days: Option<i32>,
    /// User access (sign-in) auditing is on.
    #[serde(rename = "isuseraccessauditenabled", default)]
    pub user_access_audit_enabled: Option<bool>,
    /// Hours between two user-access rows of the same user.
    #[serde(rename = "useraccessauditinginterval", default)]
    pub user_access_interval_hours: Option<i32>,
}

/// A client of one Dataverse environment. Cheap to clone; clones share the token cache, the
/// concurrency limit, the pacer, the throttling pause and the counters.
#[derive(Debug, Clone)]
pub struct DataverseClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `{environment}/` as configured (for messages and `ChangeSource`), without trailing slash.
    environment: String,
    /// `{environment}/api/data/v9.2/`.
    api_root: Url,
    origin: Origin,
    tokens: TokenClient,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    pacer: Pacer,
    limit: Semaphore,
    concurrency: usize,
    retry: RetryPolicy,
    max_throttle_waits: u32,
    max_retry_after: Duration,
    /// No request of this client is sent before this instant (set by 429 `Retry-After`).
    paused_until: Mutex<Option<Instant>>,
    counters: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    unauthorized: AtomicU64,
}

/// A successful answer.
struct Reply {
    url: Url,
    body: Vec<u8>,
}

/// The outcome of one request: a body, or an answer that is not an error for the caller.
enum Outcome {
    Body(Reply),
    NotFound(ServiceMessage),
}

impl DataverseClient {
    /// A client for the environment in `settings`; `clock` is the clock token expiry is read
    /// from.
    pub fn new(
        settings: DataverseSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<DataverseClient, ConfigError> {
        let (environment, api_root) = environment_root(&settings.environment_url)?;
        if settings.concurrency == 0 || settings.concurrency > MAX_CONCURRENCY {
            return Err(ConfigError::InvalidSetting {
                name: "dataverse concurrency",
                reason: format!(
                    "it is {}; use 1 to {MAX_CONCURRENCY} (Dataverse refuses more than 52 \
                     concurrent requests per user)",
                    settings.concurrency
                ),
            });
        }
        if settings.retry.max_attempts == 0 {
            return Err(ConfigError::InvalidSetting {
                name: "dataverse retry attempts",
                reason: "it must be at least 1".to_owned(),
            });
        }
        // The emulator on loopback may be driven faster than Microsoft allows (tests, benchmarks).
        if settings.pacing.requests_per_minute > 1_200 && !o365::is_loopback(&api_root) {
            return Err(ConfigError::InvalidSetting {
                name: "dataverse requests per minute",
                reason: format!(
                    "it is {}; Dataverse allows 6,000 requests per 5 minutes (1,200 per minute) \
                     per user, so use at most 1200",
                    settings.pacing.requests_per_minute
                ),
            });
        }
        let http = o365::http_client(settings.request_timeout)?;
        let resource = settings.resource.clone().unwrap_or_else(|| environment.clone());
        let mut token_settings = TokenSettings::new(
            settings.login_base.clone(),
            settings.tenant.clone(),
            settings.client_id.clone(),
            settings.credential.clone(),
            resource,
        );
        token_settings.endpoint = settings.token_endpoint;
        token_settings.refresh_margin = settings.token_refresh_margin;
        token_settings.retry = settings.retry;
        let tokens = TokenClient::with_http(token_settings, http.clone(), clock.clone())?;
        Ok(DataverseClient {
            inner: Arc::new(Inner {
                origin: api_root.origin(),
                environment,
                api_root,
                tokens,
                http,
                clock,
                pacer: Pacer::new(settings.pacing),
                limit: Semaphore::new(settings.concurrency),
                concurrency: settings.concurrency,
                retry: settings.retry,
                max_throttle_waits: settings.max_throttle_waits,
                max_retry_after: settings.max_retry_after,
                paused_until: Mutex::new(None),
                counters: Counters::default(),
            }),
        })
    }

    /// The environment URL, without a trailing slash (`https://contoso.crm4.dynamics.com`).
    pub fn environment(&self) -> &str {
        &self.inner.environment
    }

    /// The environment's host (with the port when one is given): names cursors.
    pub fn environment_host(&self) -> String {
        let url = &self.inner.api_root;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        }
    }

    /// The Web API root, `{environment}/api/data/v9.2/`.
    pub fn api_root(&self) -> &Url {
        &self.inner.api_root
    }

    /// Most requests in flight at once.
    pub fn concurrency(&self) -> usize {
        self.inner.concurrency
    }

    /// The token client (shared by all clones).
    pub fn tokens(&self) -> &TokenClient {
        &self.inner.tokens
    }

    /// The clock the client was given.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// What this client (and its clones) did so far.
    pub fn counters(&self) -> RequestCounters {
        let c = &self.inner.counters;
        RequestCounters {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            unauthorized: c.unauthorized.load(Ordering::Relaxed),
        }
    }

    /// The URL of the first page of `query` (`$select`, `$filter`, `$orderby=createdon asc`).
    pub fn audits_url(&self, query: &AuditQuery) -> Url {
        let mut filters = Vec::new();
        if let Some(since) = query.since {
            filters.push(format!("createdon ge {}", odata_time(since)));
        }
        if let Some(until) = query.until {
            filters.push(format!("createdon le {}", odata_time(until)));
        }
        let mut params = vec![("$select", AUDIT_COLUMNS.join(","))];
        if !filters.is_empty() {
            params.push(("$filter", filters.join(" and ")));
        }
        params.push(("$orderby", "createdon asc".to_owned()));
        let text: Vec<String> =
            params.iter().map(|(name, value)| format!("{name}={}", encode_query(value))).collect();
        let mut url = self.inner.api_root.join("audits").unwrap_or_else(|_| self.api_root_owned());
        url.set_query(Some(&text.join("&")));
        url
    }

    fn api_root_owned(&self) -> Url {
        self.inner.api_root.clone()
    }

    /// The first page of `audits` for `query`, oldest first.
    pub async fn audits(&self, query: &AuditQuery) -> Result<AuditsPage, DataverseError> {
        let url = self.audits_url(query);
        self.audits_page(Operation::ListAudits, url, query.page_size).await
    }

    /// The page an `@odata.nextLink` names, followed verbatim. A link that is not on the
    /// environment's origin is refused before anything is sent.
    pub async fn next_audits(
        &self,
        next_link: &str,
        page_size: u32,
    ) -> Result<AuditsPage, DataverseError> {
        let url = self.received_url(next_link)?;
        self.audits_page(Operation::NextAuditPage, url, page_size).await
    }

    async fn audits_page(
        &self,
        operation: Operation,
        url: Url,
        page_size: u32,
    ) -> Result<AuditsPage, DataverseError> {
        let page_size = page_size.clamp(1, MAX_PAGE_SIZE);
        match self.execute(operation, url, Some(page_size)).await? {
            Outcome::Body(reply) => Ok(AuditsPage { url: reply.url, body: reply.body }),
            Outcome::NotFound(service) => Err(DataverseError::NotFound {
                environment: self.inner.environment.clone(),
                operation,
                service,
            }),
        }
    }

    /// `RetrieveAuditDetails` of one audit row; `None` when Dataverse has no detail for it
    /// (404).
    pub async fn audit_details(
        &self,
        audit_id: Uuid,
    ) -> Result<Option<AuditDetails>, DataverseError> {
        let path = format!("audits({audit_id})/Microsoft.Dynamics.CRM.RetrieveAuditDetails");
        let url = self.inner.api_root.join(&path).map_err(|e| DataverseError::Malformed {
            operation: Operation::AuditDetails,
            reason: format!("cannot form the URL: {e}"),
        })?;
        match self.execute(Operation::AuditDetails, url, None).await? {
            Outcome::Body(reply) => {
                let detail = record::parse_audit_detail(&reply.body);
                Ok(Some(AuditDetails { raw: reply.body, detail }))
            }
            Outcome::NotFound(_) => Ok(None),
        }
    }

    /// The environment's audit settings: auditing on, retention, user-access auditing.
    pub async fn organization_settings(&self) -> Result<OrganizationSettings, DataverseError> {
        let operation = Operation::OrganizationSettings;
        let mut url = self.inner.api_root.join("organizations").map_err(|e| {
            DataverseError::Malformed { operation, reason: format!("cannot form the URL: {e}") }
        })?;
        url.set_query(Some(
            "$select=organizationid,isauditenabled,auditretentionperiodv2,\
             isuseraccessauditenabled,useraccessauditinginterval",
        ));
        let reply = match self.execute(operation, url, None).await? {
            Outcome::Body(reply) => reply,
            Outcome::NotFound(service) => {
                return Err(DataverseError::NotFound {
                    environment: self.inner.environment.clone(),
                    operation,
                    service,
                });
            }
        };
        #[derive(Deserialize)]
        struct Rows {
            value: Vec<OrganizationSettings>,
        }
        let rows: Rows = serde_json::from_slice(&reply.body).map_err(|e| {
            DataverseError::Malformed { operation, reason: format!("not the documented JSON: {e}") }
        })?;
        rows.value.into_iter().next().ok_or(DataverseError::Malformed {
            operation,
            reason: "no organization row (value is empty)".to_owned(),
        })
    }

    /// Parses a URL received from the service and checks that it is on the environment's origin.
    fn received_url(&self, text: &str) -> Result<Url, DataverseError> {
        let text = text.trim();
        let url = match Url::parse(text) {
            Ok(url) => url,
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                self.inner.api_root.join(text).map_err(|e| DataverseError::Malformed {
                    operation: Operation::NextAuditPage,
                    reason: format!("the @odata.nextLink is not a URL: {e}"),
                })?
            }
            Err(e) => {
                return Err(DataverseError::Malformed {
                    operation: Operation::NextAuditPage,
                    reason: format!("the @odata.nextLink is not a URL: {e}"),
                });
            }
        };
        self.pin(&url)?;
        Ok(url)
    }

    /// Refuses a URL not on the environment's origin (scheme, host, port) or with credentials.
    fn pin(&self, url: &Url) -> Result<(), DataverseError> {
        if url.origin() != self.inner.origin
            || !url.username().is_empty()
            || url.password().is_some()
        {
            let mut shown = url.clone();
            let _ = shown.set_username("");
            let _ = shown.set_password(None);
            shown.set_query(None);
            return Err(DataverseError::ForeignLink {
                url: shown.to_string(),
                expected: self.inner.origin.ascii_serialization(),
            });
        }
        Ok(())
    }

    /// Waits until no 429 pause is in force.
    async fn wait_out_pause(&self) {
        loop {
            let until = *self.inner.paused_until.lock().await;
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }

    /// Pauses every request of this client for `wait`.
    async fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.inner.paused_until.lock().await;
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
        }
    }

    /// Sends a GET: pin, pace, limit, authorize, retry, classify.
    async fn execute(
        &self,
        operation: Operation,
        url: Url,
        page_size: Option<u32>,
    ) -> Result<Outcome, DataverseError> {
        let inner = &self.inner;
        self.pin(&url)?;
        let prefer = match page_size {
            Some(size) => format!("odata.include-annotations=\"*\",odata.maxpagesize={size}"),
            None => "odata.include-annotations=\"*\"".to_owned(),
        };
        let prefer = HeaderValue::from_str(&prefer).map_err(|e| DataverseError::Malformed {
            operation,
            reason: format!("cannot form the Prefer header: {e}"),
        })?;
        let mut failures: u32 = 0;
        let mut throttles: u32 = 0;
        let mut refreshed = false;
        loop {
            let token = inner.tokens.access_token().await?;
            inner.pacer.acquire().await;
            let permit = inner.limit.acquire().await.map_err(|_| DataverseError::Malformed {
                operation,
                reason: "the client was shut down".to_owned(),
            })?;
            // A 429 seen by any call pauses every call of this client.
            self.wait_out_pause().await;
            let mut authorization =
                HeaderValue::from_str(&format!("Bearer {}", token.secret().expose_secret()))
                    .map_err(|_| DataverseError::Malformed {
                        operation,
                        reason: "the access token is not a valid header value".to_owned(),
                    })?;
            authorization.set_sensitive(true);
            let request = inner
                .http
                .get(url.clone())
                .header(reqwest::header::AUTHORIZATION, authorization)
                .header(ACCEPT, "application/json")
                .header("OData-MaxVersion", "4.0")
                .header("OData-Version", "4.0")
                .header("Prefer", prefer.clone());
            inner.counters.requests.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, inner.clock.now()));
                    response.bytes().await.map(|body| (status, retry_after, body.to_vec()))
                }
                Err(e) => Err(e),
            };
            drop(permit);
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let (status, retry_after, body) = match outcome {
                Ok(answer) => answer,
                Err(source) => {
                    failures += 1;
                    if failures < inner.retry.max_attempts {
                        let delay = inner.retry.delay(failures, None);
                        tracing::warn!(
                            operation = operation.name(),
                            attempt = failures,
                            delay_ms = delay.as_millis() as u64,
                            error = %source,
                            "Dataverse request failed in transport; retrying"
                        );
                        inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(DataverseError::Transport {
                        operation,
                        attempts: failures,
                        source,
                    });
                }
            };
            tracing::debug!(
                operation = operation.name(),
                status,
                elapsed_ms,
                bytes = body.len(),
                "Dataverse response"
            );
            match status {
                200..=299 => return Ok(Outcome::Body(Reply { url, body })),
                404 => return Ok(Outcome::NotFound(ServiceMessage::parse(&body))),
                401 => {
                    inner.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
                    if !refreshed {
                        // Expired or revoked mid-run: one new token, the same request once more.
                        refreshed = true;
                        tracing::info!(
                            operation = operation.name(),
                            "401 from Dataverse; refreshing the token once"
                        );
                        inner.tokens.invalidate(&token).await;
                        continue;
                    }
                    return Err(DataverseError::Unauthorized {
                        environment: inner.environment.clone(),
                        operation,
                        service: ServiceMessage::parse(&body),
                    });
                }
                403 => {
                    return Err(DataverseError::Forbidden {
                        environment: inner.environment.clone(),
                        operation,
                        service: ServiceMessage::parse(&body),
                    });
                }
                429 => {
                    inner.counters.throttled.fetch_add(1, Ordering::Relaxed);
                    throttles += 1;
                    if throttles > inner.max_throttle_waits {
                        return Err(DataverseError::Throttled {
                            operation,
                            attempts: throttles,
                            retry_after,
                            service: ServiceMessage::parse(&body),
                        });
                    }
                    let wait = match retry_after {
                        Some(after) => after.min(inner.max_retry_after),
                        None => inner.retry.delay(throttles, None),
                    };
                    tracing::warn!(
                        operation = operation.name(),
                        wait_ms = wait.as_millis() as u64,
                        service = %ServiceMessage::parse(&body),
                        "Dataverse service protection limit hit; pausing every request"
                    );
                    inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                    self.pause(wait).await;
                    continue;
                }
                408 | 500..=599 => {
                    failures += 1;
                    if failures < inner.retry.max_attempts {
                        let delay = inner.retry.delay(failures, retry_after);
                        tracing::warn!(
                            operation = operation.name(),
                            status,
                            attempt = failures,
                            delay_ms = delay.as_millis() as u64,
                            "Dataverse server error; backing off"
                        );
                        inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(DataverseError::Server {
                        operation,
                        status,
                        attempts: failures,
                        service: ServiceMessage::parse(&body),
                    });
                }
                _ => {
                    return Err(DataverseError::Refused {
                        operation,
                        status,
                        service: ServiceMessage::parse(&body),
                    });
                }
            }
        }
    }
}

/// `(environment without trailing slash, {environment}/api/data/v9.2/)`.
fn environment_root(configured: &Url) -> Result<(String, Url), ConfigError> {
    let mut url = configured.clone();
    // People paste the Web API endpoint from the maker portal: accept it.
    let path = url.path().trim_end_matches('/').to_owned();
    let base_path = match path.to_ascii_lowercase().rfind("/api/data") {
        Some(at) => path[..at].to_owned(),
        None => path,
    };
    url.set_path(&format!("{base_path}/"));
    o365::require_safe_base("Dataverse environment URL", &url)?;
    let environment = url.as_str().trim_end_matches('/').to_owned();
    let mut api_root = url.clone();
    api_root
        .path_segments_mut()
        .map_err(|()| ConfigError::InvalidUrl {
            what: "Dataverse environment URL".to_owned(),
            url: configured.to_string(),
            reason: "it cannot be a base URL".to_owned(),
        })?
        .pop_if_empty()
        .extend(["api", "data", API_VERSION, ""]);
    Ok((environment, api_root))
}

/// An OData `DateTimeOffset` literal, whole seconds (rounded down), UTC.
pub fn odata_time(at: DateTime<Utc>) -> String {
    let secs = at.timestamp();
    DateTime::from_timestamp(secs, 0).unwrap_or(at).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Percent-encodes a query value; OData's punctuation (`$`, `,`, `'`, `(`, `)`, `:`) stays as is
/// and spaces become `%20` (never `+`).
fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'$'
            | b','
            | b'\''
            | b'('
            | b')'
            | b':' => out.push(byte as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// `Retry-After`: seconds (Dataverse), or an HTTP date.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>()
        && seconds.is_finite()
        && seconds >= 0.0
    {
        return Some(Duration::from_secs_f64(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use o365::SecretString;

    use super::*;

    fn settings(env: &str) -> DataverseSettings {
        DataverseSettings::new(
            Url::parse(env).unwrap(),
            Url::parse("https://login.microsoftonline.com").unwrap(),
            "41463f53-8812-40f4-890f-865bf6e35190",
            "a6099727-6b7b-482c-b509-1df309acc563",
            Credential::secret(SecretString::from("value")),
        )
    }

    fn client(env: &str) -> DataverseClient {
        DataverseClient::new(settings(env), Arc::new(clock::SystemClock)).unwrap()
    }

    #[test]
    fn environment_urls() {
        for given in [
            "https://contoso.crm4.dynamics.com",
            "https://contoso.crm4.dynamics.com/",
            "https://contoso.crm4.dynamics.com/api/data/v9.2",
            "https://contoso.crm4.dynamics.com/api/data/v9.1/",
        ] {
            let c = client(given);
            assert_eq!(c.environment(), "https://contoso.crm4.dynamics.com", "{given}");
            assert_eq!(c.api_root().as_str(), "https://contoso.crm4.dynamics.com/api/data/v9.2/");
            assert_eq!(c.tokens().settings().resource, "https://contoso.crm4.dynamics.com");
            assert_eq!(c.environment_host(), "contoso.crm4.dynamics.com");
        }
        let local = client("http://127.0.0.1:8080/dv/");
        assert_eq!(local.api_root().as_str(), "http://127.0.0.1:8080/dv/api/data/v9.2/");
        assert_eq!(local.environment_host(), "127.0.0.1:8080");
        for refused in ["http://contoso.crm4.dynamics.com", "https://u:p@contoso.crm.dynamics.com"]
        {
            let err = DataverseClient::new(settings(refused), Arc::new(clock::SystemClock))
                .unwrap_err()
                .to_string();
            assert!(!err.contains(":p@"), "{err}");
        }
    }

    #[test]
    fn limits_are_checked() {
        for (concurrency, ok) in [(0, false), (1, true), (32, true), (52, false)] {
            let mut s = settings("https://contoso.crm.dynamics.com");
            s.concurrency = concurrency;
            let result = DataverseClient::new(s, Arc::new(clock::SystemClock));
            assert_eq!(result.is_ok(), ok, "{concurrency}");
        }
        let mut s = settings("https://contoso.crm.dynamics.com");
        s.pacing.requests_per_minute = 1_500;
        let err = DataverseClient::new(s, Arc::new(clock::SystemClock)).unwrap_err().to_string();
        assert!(err.contains("6,000 requests per 5 minutes"), "{err}");
        let mut s = settings("http://127.0.0.1:9/");
        s.pacing.requests_per_minute = 60_000;
        DataverseClient::new(s, Arc::new(clock::SystemClock)).unwrap();
    }

    #[test]
    fn audits_query_url() {
        let c = client("https://contoso.crm4.dynamics.com");
        let since = DateTime::parse_from_rfc3339("2026-05-12T22:19:12.345Z").unwrap().to_utc();
        let until = DateTime::parse_from_rfc3339("2026-05-13T00:00:00Z").unwrap().to_utc();
        let url =
            c.audits_url(&AuditQuery { since: Some(since), until: Some(until), page_size: 5 });
        assert_eq!(
            url.as_str(),
            "https://contoso.crm4.dynamics.com/api/data/v9.2/audits?$select=auditid,action,\
             operation,attributemask,createdon,objecttypecode,_objectid_value,_userid_value,\
             _callinguserid_value,transactionid,useradditionalinfo&$filter=createdon%20ge%20\
             2026-05-12T22:19:12Z%20and%20createdon%20le%202026-05-13T00:00:00Z&$orderby=\
             createdon%20asc"
        );
        let all = c.audits_url(&AuditQuery { since: None, until: None, page_size: 5 });
        assert!(!all.as_str().contains("$filter"), "{all}");
        // The server decodes what the client encoded.
        let pairs: Vec<(String, String)> =
            url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        assert_eq!(
            pairs[1],
            (
                "$filter".to_owned(),
                "createdon ge 2026-05-12T22:19:12Z and createdon le 2026-05-13T00:00:00Z"
                    .to_owned()
            )
        );
    }

    #[test]
    fn next_links_must_stay_on_the_environment() {
        let c = client("https://contoso.crm4.dynamics.com");
        let same = "https://contoso.crm4.dynamics.com/api/data/v9.2/audits?$select=auditid&\
                    $skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E";
        assert_eq!(c.received_url(same).unwrap().as_str(), same);
        for foreign in [
            "https://evil.example.com/api/data/v9.2/audits?$skiptoken=x",
            "http://contoso.crm4.dynamics.com/api/data/v9.2/audits",
            "https://contoso.crm4.dynamics.com:8443/api/data/v9.2/audits",
            "https://contoso.crm4.dynamics.com.evil.example/api/data/v9.2/audits",
            "https://user:pw@contoso.crm4.dynamics.com/api/data/v9.2/audits",
            "//evil.example.com/audits",
        ] {
            let err = c.received_url(foreign).unwrap_err();
            assert!(matches!(err, DataverseError::ForeignLink { .. }), "{foreign}: {err}");
            let text = err.to_string();
            assert!(text.contains("https://contoso.crm4.dynamics.com"), "{text}");
            assert!(!text.contains("pw"), "{text}");
        }
    }

    #[test]
    fn retry_after_values() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0.5 ", now), Some(Duration::from_millis(500)));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn odata_times_are_whole_utc_seconds() {
        let at = DateTime::parse_from_rfc3339("2026-05-12T22:19:12.999+02:00").unwrap().to_utc();
        assert_eq!(odata_time(at), "2026-05-12T20:19:12Z");
    }
}
