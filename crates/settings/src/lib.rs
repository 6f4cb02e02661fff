//! The d365audit configuration: one versioned TOML file (`version = 1`), every setting
//! overridable by an environment variable (see [`env`](crate::env) for the naming), secrets
//! never written in the file: client secrets and the webhook authId come from environment
//! variables or files, certificates from PEM files.
//!
//! ```no_run
//! let settings = settings::Settings::load(Some(std::path::Path::new("d365audit.toml")))?;
//! for tenant in &settings.tenants {
//!     let client_settings = tenant.activity_settings(&settings.collector)?;
//!     # let _ = client_settings;
//! }
//! # Ok::<(), settings::SettingsError>(())
//! ```
//!
//! `d365audit config init` writes [`example()`], a commented file with every setting.

mod duration;
mod env;
mod error;
mod example;
mod raw;
mod secret;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use chrono::Duration;
use o365::{
    ActivitySettings, AssertionStyle, CertificateCredential, Cloud, ContentType, Credential,
    Endpoints, Pacing, RetryPolicy, TokenEndpoint, Webhook,
};
use url::Url;
use uuid::Uuid;

pub use duration::{format_duration, parse_duration};
pub use env::{ENV_PREFIX, env_var_for, tenant_env_name};
pub use error::SettingsError;
pub use example::example;
pub use secret::{Secret, SecretSource};

use crate::duration::DURATION_FORM;
use crate::env::Overrides;
use crate::raw::{RawCollector, RawDataverse, RawFile, RawTenant, RawWebhook, RawWorkloads};

/// The configuration file version this program reads and writes.
pub const CURRENT_VERSION: i64 = 1;

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file it was read from (`None`: defaults and environment only).
    pub file: Option<PathBuf>,
    /// Where the archive is (`sqlite://PATH` or `postgres://...`); `None` = not configured (the
    /// command line's `--archive` / `D365AUDIT_ARCHIVE` or its default applies).
    pub archive: Option<String>,
    pub collector: CollectorSettings,
    pub webhook: WebhookSettings,
    /// In name order.
    pub tenants: Vec<TenantSettings>,
    /// Dataverse environments whose classic audit is synced, in name order.
    pub dataverse: Vec<DataverseSettings>,
}

/// One Dataverse environment whose `audit` table is synced (`[dataverse.<name>]`).
#[derive(Debug, Clone)]
pub struct DataverseSettings {
    /// The name of its `[dataverse.<name>]` table.
    pub name: String,
    /// The environment URL, e.g. `https://contoso.crm4.dynamics.com/` (also the token resource).
    pub url: Url,
    /// The tenant table whose directory, app registration and credential are used.
    pub tenant: String,
    /// Time between two syncs inside `d365audit serve`.
    pub interval: StdDuration,
    /// Each sync re-reads this much before the newest stored change (audit rows become visible
    /// late).
    pub overlap: Duration,
    /// Audit rows per page (`Prefer: odata.maxpagesize`, at most 5,000).
    pub page_size: u32,
    /// `RetrieveAuditDetails` calls at the same time (Dataverse allows 52 per user).
    pub detail_concurrency: usize,
    /// Where the first sync starts (`None`: everything the environment still keeps).
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// How the collector works: polling, the blob workers, retries.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorSettings {
    /// Time between two listing rounds of `run` (the webhook, when set up, is faster).
    pub poll_interval: StdDuration,
    /// How much before the cursor each round lists again (blobs can become listable late).
    pub overlap: Duration,
    /// How far back the first listing of a tenant and content type starts (at most 7 days:
    /// older content cannot be listed).
    pub backfill: Duration,
    /// Blobs fetched at the same time (across tenants).
    pub workers: usize,
    /// How long a worker holds a claimed blob; a crashed worker's blobs are taken up again
    /// after it.
    pub lease: Duration,
    /// A waiting blob older than this is a backlog warning (blobs expire after 7 days).
    pub backlog_warning_age: Duration,
    /// Attempts at a blob (transient failures) before it is given up as a `failed` gap.
    pub max_attempts: u32,
    /// Wait before the first retry of a blob; doubles per attempt up to `retry_delay_max`.
    pub retry_delay: Duration,
    pub retry_delay_max: Duration,
    /// How long a stopping collector lets in-flight blobs finish (their leases lapse otherwise:
    /// they are redone, never lost).
    pub shutdown_grace: StdDuration,
    /// Retries of one HTTP request (throttling, internal errors, timeouts), by the API client.
    pub request_retry: RetryPolicy,
    /// Limit of one HTTP request (a large blob must fit in it).
    pub request_timeout: StdDuration,
}

impl Default for CollectorSettings {
    fn default() -> Self {
        CollectorSettings {
            poll_interval: StdDuration::from_secs(5 * 60),
            overlap: Duration::hours(2),
            backfill: Duration::days(7),
            workers: 4,
            lease: Duration::minutes(5),
            backlog_warning_age: Duration::days(5),
            max_attempts: 8,
            retry_delay: Duration::minutes(1),
            retry_delay_max: Duration::hours(1),
            shutdown_grace: StdDuration::from_secs(30),
            request_retry: RetryPolicy::default(),
            request_timeout: StdDuration::from_secs(120),
        }
    }
}

/// The webhook Microsoft posts notifications to (served by `d365audit serve`).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The public https address registered with the subscriptions; `None` = polling only.
    pub public_address: Option<Url>,
    /// The shared secret Microsoft echoes in `Webhook-AuthID`.
    pub auth_id: Option<Secret>,
    /// Where the server listens.
    pub listen: SocketAddr,
    /// Largest notification body accepted.
    pub max_body_bytes: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            public_address: None,
            auth_id: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1 << 20,
        }
    }
}

impl WebhookSettings {
    /// The webhook to register with `subscriptions/start`: `address` (or the configured public
    /// address) with the configured authId. `None` when no address is known.
    pub fn registration(&self, address: Option<&Url>) -> Result<Option<Webhook>, SettingsError> {
        let Some(address) = address.or(self.public_address.as_ref()) else { return Ok(None) };
        check_webhook_address("webhook.public_address", address)?;
        let auth_id = self.auth_id.as_ref().map(Secret::read).transpose()?;
        Ok(Some(Webhook { address: address.clone(), auth_id, expiration: None }))
    }
}

/// Which records of a content blob are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordScope {
    /// Every workload.
    All,
    /// Only these `Workload` values (compared case-insensitively), e.g. `CRM`.
    Workloads(Vec<String>),
}

impl RecordScope {
    /// Whether a record of `workload` is kept.
    pub fn includes(&self, workload: &str) -> bool {
        match self {
            RecordScope::All => true,
            RecordScope::Workloads(names) => {
                names.iter().any(|name| name.eq_ignore_ascii_case(workload.trim()))
            }
        }
    }
}

impl Default for RecordScope {
    fn default() -> Self {
        RecordScope::Workloads(vec!["CRM".to_owned()])
    }
}

/// How an app registration proves who it is.
#[derive(Debug, Clone)]
pub enum CredentialSettings {
    /// A client secret (its value), from an environment variable or a file.
    ClientSecret(Secret),
    /// A certificate uploaded to the app registration, and its private key (PEM files).
    Certificate { certificate_file: PathBuf, private_key_file: PathBuf, style: AssertionStyle },
}

/// One Microsoft 365 tenant to collect from.
#[derive(Debug, Clone)]
pub struct TenantSettings {
    /// The name of its `[tenants.<name>]` table (what people and `--tenant` call it).
    pub name: String,
    /// Directory (tenant) ID.
    pub tenant_id: Uuid,
    /// The documented cloud, when the URLs come from one.
    pub cloud: Option<Cloud>,
    pub endpoints: Endpoints,
    /// Application (client) ID.
    pub client_id: Uuid,
    pub credential: CredentialSettings,
    pub token_endpoint: TokenEndpoint,
    /// Sent as `PublisherIdentifier` (default: the tenant id).
    pub publisher_id: Uuid,
    /// Content types collected (in the API's order, no duplicates).
    pub content_types: Vec<ContentType>,
    pub scope: RecordScope,
    pub pacing: Pacing,
}

impl TenantSettings {
    /// The credential, read now (secrets from their variable or file, certificates from PEM).
    pub fn credential(&self) -> Result<Credential, SettingsError> {
        match &self.credential {
            CredentialSettings::ClientSecret(secret) => Ok(Credential::secret(secret.read()?)),
            CredentialSettings::Certificate { certificate_file, private_key_file, style } => {
                let setting = |key: &str| format!("tenants.{}.{key}", self.name);
                let read = |key: &str, path: &Path| {
                    std::fs::read(path).map_err(|e| {
                        SettingsError::invalid(
                            setting(key),
                            format!("cannot read {}: {e}", path.display()),
                            "point it at a readable PEM file (relative paths start at the \
                             configuration file's folder)",
                        )
                    })
                };
                let certificate = read("certificate_file", certificate_file)?;
                let key = read("private_key_file", private_key_file)?;
                CertificateCredential::from_pem(&certificate, &key, *style)
                    .map(Credential::Certificate)
                    .map_err(|e| {
                        SettingsError::invalid(
                            setting("certificate_file"),
                            e.to_string(),
                            "use the certificate uploaded to the app registration and its \
                             unencrypted RSA private key, both PEM",
                        )
                    })
            }
        }
    }

    /// Everything the Management Activity API client needs (reads the credential).
    pub fn activity_settings(
        &self,
        collector: &CollectorSettings,
    ) -> Result<ActivitySettings, SettingsError> {
        let mut settings = ActivitySettings::new(
            self.endpoints.clone(),
            self.tenant_id,
            self.client_id.to_string(),
            self.credential()?,
        );
        settings.token_endpoint = self.token_endpoint;
        settings.publisher_identifier = Some(self.publisher_id);
        settings.retry = collector.request_retry;
        settings.pacing = self.pacing;
        settings.request_timeout = collector.request_timeout;
        Ok(settings)
    }
}

impl Settings {
    /// Reads `file` (or only defaults when `None`) with the process environment's overrides.
    pub fn load(file: Option<&Path>) -> Result<Settings, SettingsError> {
        let env: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Settings::load_with_env(file, &env)
    }

    /// [`Settings::load`] with an explicit environment (tests, embedding).
    pub fn load_with_env(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Settings, SettingsError> {
        match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| SettingsError::Read { path: path.to_owned(), source })?;
                let base = path.parent().unwrap_or(Path::new("."));
                let mut settings =
                    Settings::from_toml_str(&text, base, env).map_err(|e| with_file(e, path))?;
                settings.file = Some(path.to_owned());
                Ok(settings)
            }
            None => from_document(toml::Table::new(), Path::new("."), env, false),
        }
    }

    /// Reads configuration text; relative paths in it start at `base_dir`.
    pub fn from_toml_str(
        text: &str,
        base_dir: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<Settings, SettingsError> {
        let doc: toml::Table = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
        from_document(doc, base_dir, env, true)
    }

    /// The Dataverse environments called `names` (all of them when `names` is empty).
    pub fn select_dataverse(
        &self,
        names: &[String],
    ) -> Result<Vec<&DataverseSettings>, SettingsError> {
        if self.dataverse.is_empty() {
            return Err(SettingsError::invalid(
                "dataverse",
                "no Dataverse environment is configured",
                "add a [dataverse.<name>] table with url and tenant (`d365audit config init` \
                 writes an example) and pass the file with --config or D365AUDIT_CONFIG",
            ));
        }
        if names.is_empty() {
            return Ok(self.dataverse.iter().collect());
        }
        names
            .iter()
            .map(|name| {
                self.dataverse.iter().find(|d| d.name.eq_ignore_ascii_case(name)).ok_or_else(|| {
                    let known: Vec<&str> = self.dataverse.iter().map(|d| d.name.as_str()).collect();
                    SettingsError::invalid(
                        format!("dataverse.{name}"),
                        format!("there is no Dataverse environment called {name:?}"),
                        format!("use one of: {}", known.join(", ")),
                    )
                })
            })
            .collect()
    }

    /// The tenant called `name`.
    pub fn tenant(&self, name: &str) -> Option<&TenantSettings> {
        self.tenants.iter().find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// The tenants called `names` (all of them when `names` is empty), or which name is unknown.
    pub fn select_tenants(&self, names: &[String]) -> Result<Vec<&TenantSettings>, SettingsError> {
        if self.tenants.is_empty() {
            return Err(SettingsError::invalid(
                "tenants",
                "no tenant is configured",
                "add a [tenants.<name>] table (`d365audit config init` writes an example) and \
                 pass the file with --config or D365AUDIT_CONFIG",
            ));
        }
        if names.is_empty() {
            return Ok(self.tenants.iter().collect());
        }
        names
            .iter()
            .map(|name| {
                self.tenant(name).ok_or_else(|| {
                    let known: Vec<&str> = self.tenants.iter().map(|t| t.name.as_str()).collect();
                    SettingsError::invalid(
                        format!("tenants.{name}"),
                        format!("there is no tenant called {name:?}"),
                        format!("use one of: {}", known.join(", ")),
                    )
                })
            })
            .collect()
    }
}

/// `2024-01-31` (midnight UTC) or an RFC 3339 time.
fn parse_since(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&chrono::Utc));
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

fn with_file(error: SettingsError, path: &Path) -> SettingsError {
    match error {
        SettingsError::Syntax { message, .. } => {
            SettingsError::Syntax { file: path.display().to_string(), message }
        }
        other => other,
    }
}

/// A syntax error with its line and column, without quoting the line (it may hold a secret).
fn syntax_error(text: &str, error: &toml::de::Error) -> SettingsError {
    let position = error.span().map(|span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!(" at line {line}, column {column}")
    });
    SettingsError::Syntax {
        file: "(text)".to_owned(),
        message: format!("{}{}", error.message().trim(), position.unwrap_or_default()),
    }
}

/// Applies the environment, reads the layout, validates.
fn from_document(
    mut doc: toml::Table,
    base_dir: &Path,
    env: &BTreeMap<String, String>,
    from_file: bool,
) -> Result<Settings, SettingsError> {
    let overrides = env::apply(&mut doc, env)?;
    let raw: RawFile = serde_path_to_error::deserialize(toml::Value::Table(doc)).map_err(|e| {
        let setting = e.path().to_string();
        let origin = overrides.origins.get(&setting).cloned();
        let problem = e.inner().message().trim().to_owned();
        let fix = if problem.contains("unknown field") {
            "remove or correct it; `d365audit config init` writes every setting with its \
             explanation"
        } else {
            "give it the type shown in `d365audit config init`"
        };
        SettingsError::Invalid { setting, origin, problem, fix: fix.to_owned() }
    })?;
    let check = Check { overrides: &overrides, base_dir, env };
    if from_file {
        check_version(raw.version)?;
    }
    let archive = raw.archive.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
    let collector = check.collector(raw.collector)?;
    let webhook = check.webhook(raw.webhook)?;
    let mut tenants = Vec::with_capacity(raw.tenants.len());
    let mut env_names = BTreeMap::new();
    for (name, tenant) in raw.tenants {
        check_tenant_name(&name)?;
        if let Some(other) = env_names.insert(tenant_env_name(&name), name.clone()) {
            return Err(SettingsError::invalid(
                format!("tenants.{name}"),
                format!("tenants {other:?} and {name:?} have the same environment-variable name"),
                "rename one of them (names differing only in case or - versus _ collide)",
            ));
        }
        tenants.push(check.tenant(name, tenant)?);
    }
    let mut ids = BTreeMap::new();
    for tenant in &tenants {
        if let Some(other) = ids.insert(tenant.tenant_id, tenant.name.clone()) {
            return Err(SettingsError::invalid(
                format!("tenants.{}.tenant_id", tenant.name),
                format!("tenant {other:?} has the same tenant_id"),
                "configure each Microsoft 365 tenant once (one table can collect several content \
                 types)",
            ));
        }
    }
    let mut dataverse = Vec::with_capacity(raw.dataverse.len());
    for (name, environment) in raw.dataverse {
        check_tenant_name(&name)?;
        dataverse.push(check.dataverse(name, environment, &tenants)?);
    }
    Ok(Settings { file: None, archive, collector, webhook, tenants, dataverse })
}

fn check_version(version: Option<i64>) -> Result<(), SettingsError> {
    match version {
        Some(CURRENT_VERSION) => Ok(()),
        None => Err(SettingsError::invalid(
            "version",
            "the file does not say which configuration version it is written for",
            format!("add `version = {CURRENT_VERSION}` as the first line"),
        )),
        Some(v) if v > CURRENT_VERSION => Err(SettingsError::invalid(
            "version",
            format!(
                "the file is written for configuration version {v}; this d365audit reads \
                     version {CURRENT_VERSION}"
            ),
            "upgrade d365audit, or use a file written for this version",
        )),
        Some(v) => Err(SettingsError::invalid(
            "version",
            format!("{v} is not a configuration version"),
            format!("set `version = {CURRENT_VERSION}`"),
        )),
    }
}

fn check_tenant_name(name: &str) -> Result<(), SettingsError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(SettingsError::invalid(
            format!("tenants.{name}"),
            format!("{name:?} is not a usable tenant name"),
            "name tenants with letters, digits, - and _ (starting with a letter or digit), e.g. \
             [tenants.contoso]",
        ))
    }
}

/// Validation context: where overrides came from and where relative paths start.
struct Check<'a> {
    overrides: &'a Overrides,
    base_dir: &'a Path,
    env: &'a BTreeMap<String, String>,
}

impl Check<'_> {
    fn error(
        &self,
        setting: &str,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> SettingsError {
        SettingsError::Invalid {
            setting: setting.to_owned(),
            origin: self.overrides.origins.get(setting).cloned(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    fn duration(
        &self,
        setting: &str,
        value: Option<String>,
        default: Duration,
        min: Duration,
        max: Duration,
    ) -> Result<Duration, SettingsError> {
        let Some(text) = value else { return Ok(default) };
        let duration = parse_duration(&text).ok_or_else(|| {
            self.error(setting, format!("{text:?} is not a duration"), DURATION_FORM)
        })?;
        if duration < min || duration > max {
            return Err(self.error(
                setting,
                format!("{text} is out of range"),
                format!("use a value from {} to {}", format_duration(min), format_duration(max)),
            ));
        }
        Ok(duration)
    }

    fn std_duration(
        &self,
        setting: &str,
        value: Option<String>,
        default: StdDuration,
        min: Duration,
        max: Duration,
    ) -> Result<StdDuration, SettingsError> {
        let default = Duration::from_std(default).unwrap_or(max);
        let duration = self.duration(setting, value, default, min, max)?;
        Ok(duration.to_std().unwrap_or_default())
    }

    fn integer(
        &self,
        setting: &str,
        value: Option<i64>,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, SettingsError> {
        let Some(value) = value else { return Ok(default) };
        match u64::try_from(value) {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(self.error(
                setting,
                format!("{value} is out of range"),
                format!("use a whole number from {min} to {max}"),
            )),
        }
    }

    fn path(&self, text: &str) -> PathBuf {
        let path = PathBuf::from(text.trim());
        if path.is_absolute() { path } else { self.base_dir.join(path) }
    }

    fn env_secret(&self, setting: &str, variable: &str) -> Result<Secret, SettingsError> {
        let variable = variable.trim();
        let valid = !variable.is_empty()
            && variable.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !variable.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(self.error(
                setting,
                format!("{variable:?} is not an environment variable name"),
                "give the NAME of the variable that holds the secret (letters, digits, _), not \
                 the secret itself",
            ));
        }
        Ok(Secret {
            setting: setting.to_owned(),
            source: SecretSource::Env {
                variable: variable.to_owned(),
                value: self.env.get(variable).map(|v| secrecy::SecretString::from(v.clone())),
            },
        })
    }

    fn dataverse(
        &self,
        name: String,
        raw: RawDataverse,
        tenants: &[TenantSettings],
    ) -> Result<DataverseSettings, SettingsError> {
        let key = |k: &str| format!("dataverse.{name}.{k}");
        let text = raw.url.filter(|u| !u.trim().is_empty()).ok_or_else(|| {
            self.error(
                &key("url"),
                "missing",
                format!(
                    "set {} to the environment URL from the Power Platform admin center, e.g. \
                     \"https://contoso.crm4.dynamics.com\"",
                    key("url")
                ),
            )
        })?;
        let url = Url::parse(text.trim())
            .ok()
            .filter(|u| u.host_str().is_some() && u.path() == "/" && u.query().is_none())
            .ok_or_else(|| {
                self.error(
                    &key("url"),
                    format!("{text:?} is not an environment URL"),
                    "write only the environment's address, without /api/data/..., e.g. \
                     \"https://contoso.crm4.dynamics.com\"",
                )
            })?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(self.error(
                &key("url"),
                format!("{text:?} is not https"),
                "use the https address (plain http only on loopback, for the emulator)",
            ));
        }
        let tenant = raw.tenant.map(|t| t.trim().to_owned()).unwrap_or_default();
        let Some(tenant) = tenants.iter().find(|t| t.name.eq_ignore_ascii_case(&tenant)) else {
            let known: Vec<&str> = tenants.iter().map(|t| t.name.as_str()).collect();
            return Err(self.error(
                &key("tenant"),
                if tenant.is_empty() {
                    "missing".to_owned()
                } else {
                    format!("there is no [tenants.{tenant}] table")
                },
                format!(
                    "name the [tenants.<name>] table whose app registration is an application \
                     user of this environment (known: {}); a tenant table with \
                     content_types = [] only lends its credentials",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ),
            ));
        };
        let interval = self.std_duration(
            &key("interval"),
            raw.interval,
            StdDuration::from_secs(15 * 60),
            Duration::seconds(1),
            Duration::days(1),
        )?;
        let overlap = self.duration(
            &key("overlap"),
            raw.overlap,
            Duration::minutes(15),
            Duration::zero(),
            Duration::days(7),
        )?;
        let page_size = self.integer(&key("page_size"), raw.page_size, 1000, 1, 5000)? as u32;
        let detail_concurrency =
            self.integer(&key("detail_concurrency"), raw.detail_concurrency, 8, 1, 32)? as usize;
        let since = match raw.since {
            None => None,
            Some(text) => Some(parse_since(text.trim()).ok_or_else(|| {
                self.error(
                    &key("since"),
                    format!("{text:?} is not a date"),
                    "write a date like \"2024-01-31\" or a UTC time like \"2024-01-31T08:00:00Z\"",
                )
            })?),
        };
        Ok(DataverseSettings {
            name,
            url,
            tenant: tenant.name.clone(),
            interval,
            overlap,
            page_size,
            detail_concurrency,
            since,
        })
    }

    fn collector(&self, raw: RawCollector) -> Result<CollectorSettings, SettingsError> {
        let d = CollectorSettings::default();
        let seconds = Duration::seconds;
        let poll_interval = self.std_duration(
            "collector.poll_interval",
            raw.poll_interval,
            d.poll_interval,
            Duration::milliseconds(100),
            Duration::hours(24),
        )?;
        let overlap = self.duration(
            "collector.overlap",
            raw.overlap,
            d.overlap,
            Duration::zero(),
            Duration::hours(24),
        )?;
        let backfill = self.duration(
            "collector.backfill",
            raw.backfill,
            d.backfill,
            Duration::minutes(1),
            Duration::days(7),
        )?;
        let workers =
            self.integer("collector.workers", raw.workers, d.workers as u64, 1, 64)? as usize;
        let lease =
            self.duration("collector.lease", raw.lease, d.lease, seconds(1), Duration::hours(6))?;
        let backlog_warning_age = self.duration(
            "collector.backlog_warning_age",
            raw.backlog_warning_age,
            d.backlog_warning_age,
            Duration::minutes(1),
            Duration::days(7) - Duration::minutes(1),
        )?;
        let max_attempts = self.integer(
            "collector.max_attempts",
            raw.max_attempts,
            d.max_attempts.into(),
            1,
            1000,
        )? as u32;
        let retry_delay = self.duration(
            "collector.retry_delay",
            raw.retry_delay,
            d.retry_delay,
            Duration::milliseconds(1),
            Duration::days(1),
        )?;
        let retry_delay_max = self.duration(
            "collector.retry_delay_max",
            raw.retry_delay_max,
            d.retry_delay_max.max(retry_delay),
            retry_delay,
            Duration::days(2),
        )?;
        let shutdown_grace = self.std_duration(
            "collector.shutdown_grace",
            raw.shutdown_grace,
            d.shutdown_grace,
            Duration::zero(),
            Duration::hours(1),
        )?;
        let request_attempts = self.integer(
            "collector.request_attempts",
            raw.request_attempts,
            d.request_retry.max_attempts.into(),
            1,
            100,
        )? as u32;
        let request_backoff = self.std_duration(
            "collector.request_backoff",
            raw.request_backoff,
            d.request_retry.base_delay,
            Duration::milliseconds(1),
            Duration::hours(1),
        )?;
        let request_backoff_max = self.std_duration(
            "collector.request_backoff_max",
            raw.request_backoff_max,
            d.request_retry.max_delay.max(request_backoff),
            Duration::from_std(request_backoff).unwrap_or(Duration::zero()),
            Duration::hours(1),
        )?;
        let request_timeout = self.std_duration(
            "collector.request_timeout",
            raw.request_timeout,
            d.request_timeout,
            seconds(1),
            Duration::hours(1),
        )?;
        if lease <= Duration::from_std(request_timeout).unwrap_or(Duration::zero()) {
            return Err(self.error(
                "collector.lease",
                format!(
                    "the lease ({}) is not longer than one request may take \
                     (collector.request_timeout = {})",
                    format_duration(lease),
                    format_duration(
                        Duration::from_std(request_timeout).unwrap_or(Duration::zero())
                    )
                ),
                "make the lease longer than collector.request_timeout, or the timeout shorter \
                 (a lease that lapses while a blob is being fetched makes another worker fetch it \
                 again)",
            ));
        }
        Ok(CollectorSettings {
            poll_interval,
            overlap,
            backfill,
            workers,
            lease,
            backlog_warning_age,
            max_attempts,
            retry_delay,
            retry_delay_max,
            shutdown_grace,
            request_retry: RetryPolicy {
                max_attempts: request_attempts,
                base_delay: request_backoff,
                max_delay: request_backoff_max,
            },
            request_timeout,
        })
    }

    fn webhook(&self, raw: RawWebhook) -> Result<WebhookSettings, SettingsError> {
        let d = WebhookSettings::default();
        if raw.auth_id.is_some() {
            return Err(self.error(
                "webhook.auth_id",
                "the webhook authId is a shared secret and is never written in the file",
                "put it in an environment variable named by webhook.auth_id_env, in a file named \
                 by webhook.auth_id_file, or in D365AUDIT_WEBHOOK__AUTH_ID",
            ));
        }
        let public_address = match raw.public_address {
            None => None,
            Some(text) => {
                let url = Url::parse(text.trim()).map_err(|e| {
                    self.error(
                        "webhook.public_address",
                        format!("{text:?} is not a URL ({e})"),
                        "write the full https address Microsoft posts to, e.g. \
                         \"https://audit.example.com/webhook\"",
                    )
                })?;
                check_webhook_address("webhook.public_address", &url)
                    .map_err(|e| self.with_origin(e, "webhook.public_address"))?;
                Some(url)
            }
        };
        let auth_id = match (&self.overrides.webhook_auth_id, raw.auth_id_env, raw.auth_id_file) {
            (Some((variable, value)), _, _) => Some(Secret {
                setting: "webhook.auth_id".to_owned(),
                source: SecretSource::Env {
                    variable: variable.clone(),
                    value: Some(value.clone()),
                },
            }),
            (None, Some(_), Some(_)) => {
                return Err(self.error(
                    "webhook.auth_id_env",
                    "both webhook.auth_id_env and webhook.auth_id_file are set",
                    "keep one of them",
                ));
            }
            (None, Some(variable), None) => {
                Some(self.env_secret("webhook.auth_id_env", &variable)?)
            }
            (None, None, Some(path)) => Some(Secret {
                setting: "webhook.auth_id_file".to_owned(),
                source: SecretSource::File { path: self.path(&path) },
            }),
            (None, None, None) => None,
        };
        let listen = match raw.listen {
            None => d.listen,
            Some(text) => text.trim().parse().map_err(|_| {
                self.error(
                    "webhook.listen",
                    format!("{text:?} is not an address and port"),
                    "write e.g. \"0.0.0.0:8443\" or \"127.0.0.1:8080\"",
                )
            })?,
        };
        let max_body_bytes = self.integer(
            "webhook.max_body_bytes",
            raw.max_body_bytes,
            d.max_body_bytes as u64,
            1024,
            64 << 20,
        )? as usize;
        Ok(WebhookSettings { public_address, auth_id, listen, max_body_bytes })
    }

    fn with_origin(&self, error: SettingsError, setting: &str) -> SettingsError {
        match error {
            SettingsError::Invalid { setting: s, origin: None, problem, fix } => {
                SettingsError::Invalid {
                    origin: self.overrides.origins.get(setting).cloned(),
                    setting: s,
                    problem,
                    fix,
                }
            }
            other => other,
        }
    }

    fn guid(&self, setting: &str, text: &str, what: &str) -> Result<Uuid, SettingsError> {
        Uuid::parse_str(text.trim()).map_err(|_| {
            self.error(
                setting,
                format!("{text:?} is not a GUID"),
                format!("copy the {what} (a GUID such as 41463f53-8812-40f4-890f-865bf6e35190)"),
            )
        })
    }

    fn tenant(&self, name: String, raw: RawTenant) -> Result<TenantSettings, SettingsError> {
        let key = |k: &str| format!("tenants.{name}.{k}");
        let required = |value: Option<String>, k: &str, what: &str| {
            value.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                self.error(&key(k), "missing", format!("set {} to the {what}", key(k)))
            })
        };
        let tenant_text = required(
            raw.tenant_id,
            "tenant_id",
            "Directory (tenant) ID from the Entra ID overview page",
        )?;
        let tenant_id = self.guid(&key("tenant_id"), &tenant_text, "Directory (tenant) ID")?;
        let client_text = required(
            raw.client_id,
            "client_id",
            "Application (client) ID of the app registration",
        )?;
        let client_id = self.guid(&key("client_id"), &client_text, "Application (client) ID")?;

        let (cloud, endpoints) = match (raw.cloud, raw.login_base, raw.api_base) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(self.error(
                    &key("cloud"),
                    "both a cloud and explicit base URLs are set",
                    format!(
                        "keep {} or {} + {}, not both",
                        key("cloud"),
                        key("login_base"),
                        key("api_base")
                    ),
                ));
            }
            (cloud, None, None) => {
                let cloud = match cloud {
                    None => Cloud::Commercial,
                    Some(text) => text.parse::<Cloud>().map_err(|e| {
                        self.error(
                            &key("cloud"),
                            e.to_string(),
                            "use commercial, gcc, gcchigh, dod or china",
                        )
                    })?,
                };
                (Some(cloud), Endpoints::cloud(cloud))
            }
            (None, Some(login), Some(api)) => {
                let parse = |k: &str, text: &str| {
                    Url::parse(text.trim()).map_err(|e| {
                        self.error(
                            &key(k),
                            format!("{text:?} is not a URL ({e})"),
                            "write an absolute https URL such as \"https://manage.office.com\"",
                        )
                    })
                };
                let login = parse("login_base", &login)?;
                let api = parse("api_base", &api)?;
                let endpoints = Endpoints::custom(login, api).map_err(|e| {
                    self.error(
                        &key("api_base"),
                        e.to_string(),
                        "use https base URLs (plain http only on loopback)",
                    )
                })?;
                (None, endpoints)
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err(self.error(
                    &key("api_base"),
                    "only one of login_base and api_base is set",
                    format!(
                        "set both {} and {}, or neither and a cloud",
                        key("login_base"),
                        key("api_base")
                    ),
                ));
            }
        };
        let endpoints = match raw.resource {
            Some(resource) if !resource.trim().is_empty() => {
                endpoints.with_resource(resource.trim())
            }
            _ => endpoints,
        };

        let credential = self.credential(
            &name,
            &raw.client_secret,
            raw.client_secret_env,
            raw.client_secret_file,
            raw.certificate_file,
            raw.private_key_file,
            raw.certificate_assertion,
        )?;

        let token_endpoint =
            match raw.token_endpoint.as_deref().map(|t| t.trim().to_ascii_lowercase()) {
                None => TokenEndpoint::V2,
                Some(t) if t == "v2" || t == "v2.0" => TokenEndpoint::V2,
                Some(t) if t == "v1" || t == "v1.0" => TokenEndpoint::V1,
                Some(t) => {
                    return Err(self.error(
                        &key("token_endpoint"),
                        format!("{t:?} is not a token endpoint version"),
                        "use \"v2\" (scope, the default) or \"v1\" (resource)",
                    ));
                }
            };
        let publisher_id = match raw.publisher_id {
            None => tenant_id,
            Some(text) => self.guid(
                &key("publisher_id"),
                &text,
                "tenant ID of the publisher (for an in-house collector: your own tenant ID)",
            )?,
        };
        let content_types = match raw.content_types {
            None => vec![ContentType::General],
            Some(list) => {
                let mut types = BTreeSet::new();
                for text in &list {
                    let ct = text.parse::<ContentType>().map_err(|_| {
                        self.error(&key("content_types"), format!("{text:?} is not a content type"), "use Audit.General (Dynamics 365), Audit.AzureActiveDirectory, Audit.Exchange, Audit.SharePoint or DLP.All")
                    })?;
                    types.insert(ct);
                }
                // An empty list keeps the tenant for its credentials only (a Dataverse
                // environment's sync) and collects no activity from it.
                types.into_iter().collect()
            }
        };
        let scope = match raw.workloads {
            None => RecordScope::default(),
            Some(RawWorkloads::One(text)) if text.trim().eq_ignore_ascii_case("all") => {
                RecordScope::All
            }
            Some(RawWorkloads::One(text)) => {
                return Err(self.error(&key("workloads"), format!("{text:?} is neither \"all\" nor a list"), "write workloads = [\"CRM\"] (Dynamics 365), add others such as \"PowerApps\", or write workloads = \"all\""));
            }
            Some(RawWorkloads::Many(list)) => {
                let names: Vec<String> =
                    list.iter().map(|w| w.trim().to_owned()).filter(|w| !w.is_empty()).collect();
                if names.is_empty() {
                    return Err(self.error(
                        &key("workloads"),
                        "the list is empty (nothing would be kept)",
                        "write workloads = [\"CRM\"] or workloads = \"all\"",
                    ));
                }
                RecordScope::Workloads(names)
            }
        };
        let pacing = Pacing::default();
        let requests_per_minute = self.integer(
            &key("requests_per_minute"),
            raw.requests_per_minute,
            pacing.requests_per_minute.into(),
            1,
            100_000,
        )? as u32;
        let burst =
            self.integer(&key("request_burst"), raw.request_burst, pacing.burst.into(), 1, 1_000)?
                as u32;
        Ok(TenantSettings {
            name,
            tenant_id,
            cloud,
            endpoints,
            client_id,
            credential,
            token_endpoint,
            publisher_id,
            content_types,
            scope,
            pacing: Pacing { requests_per_minute, burst },
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn credential(
        &self,
        name: &str,
        inline: &Option<toml::Value>,
        secret_env: Option<String>,
        secret_file: Option<String>,
        certificate_file: Option<String>,
        private_key_file: Option<String>,
        assertion: Option<String>,
    ) -> Result<CredentialSettings, SettingsError> {
        let key = |k: &str| format!("tenants.{name}.{k}");
        if inline.is_some() {
            return Err(self.error(
                &key("client_secret"),
                "client secrets are never written in the configuration file",
                format!(
                    "put the secret's value in an environment variable and name it with {} (or \
                     set {}), or in a file named by {}",
                    key("client_secret_env"),
                    env_var_for(&["tenants", name, "client_secret"]),
                    key("client_secret_file")
                ),
            ));
        }
        if let Some((variable, value)) = self.overrides.tenant_secrets.get(name) {
            return Ok(CredentialSettings::ClientSecret(Secret {
                setting: key("client_secret"),
                source: SecretSource::Env {
                    variable: variable.clone(),
                    value: Some(value.clone()),
                },
            }));
        }
        let style = match assertion.as_deref().map(|a| a.trim().to_ascii_lowercase()) {
            None => AssertionStyle::default(),
            Some(a) if a == "ps256" => AssertionStyle::Ps256Sha256Thumbprint,
            Some(a) if a == "rs256" => AssertionStyle::Rs256Sha1Thumbprint,
            Some(a) => {
                return Err(self.error(
                    &key("certificate_assertion"),
                    format!("{a:?} is not an assertion style"),
                    "use \"ps256\" (current Entra ID documentation, the default) or \"rs256\"",
                ));
            }
        };
        let kinds = [
            secret_env.is_some(),
            secret_file.is_some(),
            certificate_file.is_some() || private_key_file.is_some(),
        ];
        let how_many = kinds.iter().filter(|k| **k).count();
        if how_many > 1 {
            return Err(self.error(
                &key("client_secret_env"),
                "more than one credential is configured",
                format!(
                    "keep exactly one of {}, {}, or {} + {}",
                    key("client_secret_env"),
                    key("client_secret_file"),
                    key("certificate_file"),
                    key("private_key_file")
                ),
            ));
        }
        match (secret_env, secret_file, certificate_file, private_key_file) {
            (Some(variable), None, None, None) => Ok(CredentialSettings::ClientSecret(
                self.env_secret(&key("client_secret_env"), &variable)?,
            )),
            (None, Some(path), None, None) => Ok(CredentialSettings::ClientSecret(Secret {
                setting: key("client_secret_file"),
                source: SecretSource::File { path: self.path(&path) },
            })),
            (None, None, Some(certificate), Some(private_key)) => {
                Ok(CredentialSettings::Certificate {
                    certificate_file: self.path(&certificate),
                    private_key_file: self.path(&private_key),
                    style,
                })
            }
            (None, None, Some(_), None) => Err(self.error(
                &key("private_key_file"),
                "missing (a certificate needs its private key)",
                format!(
                    "set {} to the PEM file of the certificate's private key",
                    key("private_key_file")
                ),
            )),
            (None, None, None, Some(_)) => Err(self.error(
                &key("certificate_file"),
                "missing (a private key needs its certificate)",
                format!(
                    "set {} to the PEM certificate uploaded to the app registration",
                    key("certificate_file")
                ),
            )),
            _ => Err(self.error(
                &key("client_secret_env"),
                "no credential is configured",
                format!(
                    "set {} to the NAME of an environment variable holding the client secret's \
                     value (not its ID), or {} to a file holding it, or {} + {} for a \
                     certificate; or set {}",
                    key("client_secret_env"),
                    key("client_secret_file"),
                    key("certificate_file"),
                    key("private_key_file"),
                    env_var_for(&["tenants", name, "client_secret"])
                ),
            )),
        }
    }
}

/// A webhook address Microsoft can post to: https (plain http only on loopback, for the
/// emulator), no credentials in it.
fn check_webhook_address(setting: &str, url: &Url) -> Result<(), SettingsError> {
    o365::require_safe_base("webhook address", url)
        .or_else(|e| {
            // A webhook address may carry a query (e.g. a tenant hint); the base check refuses
            // queries, so only its scheme and credential rules apply here.
            if url.query().is_some()
                && url.scheme() == "https"
                && url.username().is_empty()
                && url.password().is_none()
            {
                Ok(())
            } else {
                Err(e)
            }
        })
        .map_err(|e| {
            SettingsError::invalid(
                setting,
                e.to_string(),
                "use the public https address of `d365audit serve`'s webhook endpoint, e.g. \
                 \"https://audit.example.com/webhook\"",
            )
        })
}

#[cfg(test)]
mod tests;
