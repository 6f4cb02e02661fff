//! Emulator configuration: tenants, app registrations, activity volume, blob timing, paging,
//! service rules and faults. Built in code (`EmulatorConfig::demo`, `Default`) or loaded from
//! TOML for `d365audit emulator --config FILE`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use clock::{Clock, ManualClock, SystemClock};
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use crate::activity::ActivityProfile;
use crate::content_type::ContentType;
use crate::dataverse::DataverseConfig;
use crate::durations::{chrono_text, std_text};
use crate::faults::Faults;
use crate::listing::ListingRules;
use crate::source::ActivitySource;

/// Everything the emulator needs to start.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Seeds every generated record, latency and fault choice.
    pub seed: u64,
    /// The emulated "now". `Default` uses the system clock.
    pub clock: Arc<dyn Clock>,
    /// The same clock when it is a [`ManualClock`], so `POST /_emulator/clock/advance` and
    /// `RunningEmulator::manual_clock` can move it. Set both with [`EmulatorConfig::with_manual_clock`].
    pub manual_clock: Option<Arc<ManualClock>>,
    /// Activity exists from here on (default: a week before the clock's now).
    pub history_start: DateTime<Utc>,
    pub tenants: Vec<TenantConfig>,
    /// Volume model handed to the activity generator.
    pub activity: ActivityProfile,
    /// Replaces the generator as the source of blob records (tests that need exact records).
    pub activity_source: Option<Arc<dyn ActivitySource>>,
    /// One blob per tenant × content type per interval, aligned to the Unix epoch (default 5 min).
    pub blob_interval: Duration,
    /// A blob becomes available (`contentCreated`) between these latencies after its interval
    /// ends, chosen per blob from the seed (default 20 to 90 min, as observed for core
    /// workloads).
    pub availability_latency_min: Duration,
    pub availability_latency_max: Duration,
    /// How long a blob stays retrievable after `contentCreated` (documented: 7 days).
    pub content_retention: Duration,
    /// Blobs per `subscriptions/content` page (Gap: the service does not document it).
    pub page_size: usize,
    /// Lifetime of issued access tokens (default 3599 s, as Entra ID).
    pub token_lifetime: Duration,
    /// Resources (`resource`, or `scope` without `/.default`) the token endpoints accept, besides
    /// the API listener's own origin, which is always accepted.
    pub accepted_resources: Vec<String>,
    /// Base URL written into `contentUri` and `NextPageUri` (default: the API listener's own
    /// address). For a standalone emulator behind a proxy or another host name.
    pub public_api_base: Option<Url>,
    /// When false, `http://` webhooks on loopback addresses are accepted (tests); other hosts
    /// still need HTTPS (`AF20021`).
    pub require_https_webhooks: bool,
    /// Shuffle the records inside each blob (the service does not order them).
    pub shuffle_records: bool,
    pub listing: ListingRules,
    pub subscriptions: SubscriptionRules,
    pub webhooks: WebhookDelivery,
    /// The faults in force at start; switchable at run time.
    pub faults: Faults,
    /// The emulated Dataverse environment (classic audit via the Web API).
    pub dataverse: DataverseConfig,
}

/// One emulated Entra ID tenant with unified audit logging.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantConfig {
    pub tenant_id: Uuid,
    /// Verified domain, accepted in place of the GUID by the token endpoints.
    pub domain: String,
    pub apps: Vec<AppRegistration>,
    /// When false, every API call fails like a tenant whose unified audit log is off.
    pub unified_audit_enabled: bool,
    /// Content types subscribed since `history_start` (no `start` needed).
    pub pre_subscribed: Vec<ContentType>,
    /// The region suffix of content IDs, e.g. `emea0036`.
    pub region: String,
}

impl Default for TenantConfig {
    fn default() -> Self {
        TenantConfig {
            tenant_id: Uuid::nil(),
            domain: String::new(),
            apps: Vec::new(),
            unified_audit_enabled: true,
            pre_subscribed: Vec::new(),
            region: "emea0036".to_owned(),
        }
    }
}

/// An app registration (service principal) in a tenant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppRegistration {
    pub client_id: Uuid,
    pub secrets: Vec<ClientSecret>,
    /// Certificates (PEM) whose private keys may sign client assertions.
    pub certificates_pem: Vec<String>,
    /// Application permissions granted on the Office 365 Management APIs, e.g.
    /// `ActivityFeed.Read`.
    pub roles: Vec<String>,
}

/// A client secret: the `id` is shown in the portal, the `value` is what a client must send.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSecret {
    pub id: Uuid,
    pub value: String,
    pub expires: DateTime<Utc>,
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecret")
            .field("id", &self.id)
            .field("value", &"<redacted>")
            .field("expires", &self.expires)
            .finish()
    }
}

/// Rules of `subscriptions/start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubscriptionRules {
    /// Documented: wait 15 minutes between start requests for a content type. Gap: what the
    /// service answers otherwise; the emulator answers `AF429` with `cooldown_status`.
    #[serde(with = "chrono_text")]
    pub start_cooldown: Duration,
    /// HTTP status of that `AF429` (403 like the documented throttling sample).
    pub cooldown_status: u16,
    /// Answer `AF20024` (undocumented, observed) to a start that changes nothing.
    pub already_enabled_error: bool,
    /// Content created this long before a start becomes visible too. Documented: only content
    /// created after the start (0); observed by some: about a day of backfill.
    #[serde(with = "chrono_text")]
    pub backfill: Duration,
}

impl Default for SubscriptionRules {
    fn default() -> Self {
        SubscriptionRules {
            start_cooldown: Duration::minutes(15),
            cooldown_status: 403,
            already_enabled_error: true,
            backfill: Duration::zero(),
        }
    }
}

/// How webhook notifications are delivered (reference §1.9; retry schedule and disable
/// threshold are Gaps: exponential from `retry_base`, webhook disabled after `max_attempts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookDelivery {
    /// Real-time interval at which the notifier looks for newly available blobs.
    #[serde(with = "std_text")]
    pub tick: std::time::Duration,
    /// Most notifications in one POST (Gap: undocumented).
    pub batch_size: usize,
    /// Emulated time before the first retry; each further retry waits twice as long.
    #[serde(with = "chrono_text")]
    pub retry_base: Duration,
    /// Attempts per notification (first try included) before the webhook is disabled.
    pub max_attempts: u32,
    /// Real-time limit of one POST (validation or notification).
    #[serde(with = "std_text")]
    pub timeout: std::time::Duration,
    /// `Content-Type` of notification POSTs; the documented sample literally shows
    /// `application/json; utf-8`.
    pub content_type: String,
}

impl Default for WebhookDelivery {
    fn default() -> Self {
        WebhookDelivery {
            tick: std::time::Duration::from_millis(200),
            batch_size: 100,
            retry_base: Duration::seconds(30),
            max_attempts: 5,
            timeout: std::time::Duration::from_secs(5),
            content_type: "application/json; utf-8".to_owned(),
        }
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let history_start = clock.now() - Duration::days(7);
        EmulatorConfig {
            seed: 0,
            clock,
            manual_clock: None,
            history_start,
            tenants: Vec::new(),
            activity: ActivityProfile::default(),
            activity_source: None,
            blob_interval: Duration::minutes(5),
            availability_latency_min: Duration::minutes(20),
            availability_latency_max: Duration::minutes(90),
            content_retention: Duration::days(7),
            page_size: 200,
            token_lifetime: Duration::seconds(3599),
            accepted_resources: vec!["https://manage.office.com".to_owned()],
            public_api_base: None,
            require_https_webhooks: true,
            shuffle_records: true,
            listing: ListingRules::default(),
            subscriptions: SubscriptionRules::default(),
            webhooks: WebhookDelivery::default(),
            faults: Faults::default(),
            dataverse: DataverseConfig::default(),
        }
    }
}

/// Fixed identities of [`EmulatorConfig::demo`], for tests and `d365audit demo`.
/// None of these protect anything.
pub mod demo {
    use uuid::{Uuid, uuid};

    pub const TENANT_ID: Uuid = uuid!("41463f53-8812-40f4-890f-865bf6e35190");
    pub const DOMAIN: &str = "contoso.onmicrosoft.com";
    /// The app with `ActivityFeed.Read`, a secret, an expired secret and a certificate.
    pub const CLIENT_ID: Uuid = uuid!("a6099727-6b7b-482c-b509-1df309acc563");
    pub const SECRET_ID: Uuid = uuid!("7d3c5e1a-2b4f-4c6d-8e9f-0a1b2c3d4e5f");
    pub const SECRET_VALUE: &str = "demo~Secret.Value_0123456789abcdefGHIJ";
    pub const EXPIRED_SECRET_ID: Uuid = uuid!("1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b");
    pub const EXPIRED_SECRET_VALUE: &str = "demo~Expired.Value_9876543210zyxwvuTSRQ";
    /// An app that has a secret but no `ActivityFeed.Read` (for `AF10001`).
    pub const UNPRIVILEGED_CLIENT_ID: Uuid = uuid!("0b7e9c2d-3a4f-4e5d-9c8b-7a6f5e4d3c2b");
    pub const UNPRIVILEGED_SECRET_VALUE: &str = "demo~NoPermission_abcdefABCDEF012345";
    /// The certificate registered on [`CLIENT_ID`] and its private key (test-only, RSA 2048).
    pub const APP_CERT_PEM: &str = include_str!("../testdata/app-cert.pem");
    pub const APP_KEY_PEM: &str = include_str!("../testdata/app-key.pem");
    /// A publisher GUID for `PublisherIdentifier` (the demo vendor is the tenant itself).
    pub const PUBLISHER_ID: Uuid = TENANT_ID;
}

impl EmulatorConfig {
    /// One tenant (`contoso.onmicrosoft.com`) with an app that has a secret, an expired secret
    /// and the test certificate, role `ActivityFeed.Read`, pre-subscribed to `Audit.General`, a
    /// week of history, and a [`ManualClock`] running from the real now.
    pub fn demo(seed: u64) -> EmulatorConfig {
        let clock = Arc::new(ManualClock::running_from(SystemClock.now()));
        let mut config =
            EmulatorConfig { seed, ..EmulatorConfig::default() }.with_manual_clock(clock);
        let far_future = config.history_start + Duration::days(3650);
        config.tenants = vec![TenantConfig {
            tenant_id: demo::TENANT_ID,
            domain: demo::DOMAIN.to_owned(),
            apps: vec![
                AppRegistration {
                    client_id: demo::CLIENT_ID,
                    secrets: vec![
                        ClientSecret {
                            id: demo::SECRET_ID,
                            value: demo::SECRET_VALUE.to_owned(),
                            expires: far_future,
                        },
                        ClientSecret {
                            id: demo::EXPIRED_SECRET_ID,
                            value: demo::EXPIRED_SECRET_VALUE.to_owned(),
                            expires: config.history_start,
                        },
                    ],
                    certificates_pem: vec![demo::APP_CERT_PEM.to_owned()],
                    roles: vec!["ActivityFeed.Read".to_owned(), "ServiceHealth.Read".to_owned()],
                },
                AppRegistration {
                    client_id: demo::UNPRIVILEGED_CLIENT_ID,
                    secrets: vec![ClientSecret {
                        id: Uuid::from_u128(0x5e0e_0000_0000_4000_8000_0000_0000_0001),
                        value: demo::UNPRIVILEGED_SECRET_VALUE.to_owned(),
                        expires: far_future,
                    }],
                    certificates_pem: Vec::new(),
                    roles: vec!["ServiceHealth.Read".to_owned()],
                },
            ],
            unified_audit_enabled: true,
            pre_subscribed: vec![ContentType::AuditGeneral],
            region: "emea0036".to_owned(),
        }];
        config
    }

    /// Uses `clock` as the emulated now (and lets the control API move it). Keeps
    /// `history_start` a week before the clock's reading.
    pub fn with_manual_clock(self, clock: Arc<ManualClock>) -> EmulatorConfig {
        let history_start = clock.now() - Duration::days(7);
        EmulatorConfig { clock: clock.clone(), manual_clock: Some(clock), history_start, ..self }
    }

    /// Reads a TOML configuration. Certificate paths are relative to the current directory.
    pub fn from_toml_str(text: &str) -> Result<EmulatorConfig, ConfigError> {
        from_toml(text, Path::new("."))
    }

    /// Reads a TOML configuration file. Certificate paths are relative to the file's folder.
    pub fn from_toml_file(path: &Path) -> Result<EmulatorConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        from_toml(&text, path.parent().unwrap_or(Path::new(".")))
    }
}

/// Why a TOML configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read emulator config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("emulator config is not valid: {0}")]
    Toml(#[from] toml::de::Error),
    #[error(
        "cannot read certificate {path}: {source}; paths are relative to the config file's folder"
    )]
    Certificate { path: PathBuf, source: std::io::Error },
    #[error("emulator config: {0}")]
    Invalid(String),
}

/// The TOML file layout. Example:
///
/// ```toml
/// seed = 42
/// clock = "manual"          # "system" (default) or "manual" (movable via the control API)
/// history = "7d"            # activity before the clock's now
/// page_size = 200
/// require_https_webhooks = false
/// [faults]
/// page_size = 3
/// [dataverse]               # the Dataverse environment (classic audit)
/// listen = "127.0.0.1:8082"
/// storage_delay = "2m"
/// limits = { requests_per_window = 6000, window = "300s", concurrent_requests = 52 }
/// [[tenants]]
/// tenant_id = "41463f53-8812-40f4-890f-865bf6e35190"
/// domain = "contoso.onmicrosoft.com"
/// pre_subscribed = ["Audit.General"]
/// [[tenants.apps]]
/// client_id = "a6099727-6b7b-482c-b509-1df309acc563"
/// roles = ["ActivityFeed.Read"]
/// certificate_files = ["app-cert.pem"]
/// secrets = [{ id = "7d3c5e1a-2b4f-4c6d-8e9f-0a1b2c3d4e5f", value = "...", expires = "2030-01-01T00:00:00Z" }]
/// ```
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TomlConfig {
    seed: u64,
    clock: TomlClock,
    clock_start: Option<DateTime<Utc>>,
    #[serde(with = "chrono_text")]
    history: Duration,
    history_start: Option<DateTime<Utc>>,
    activity: ActivityProfile,
    #[serde(with = "chrono_text")]
    blob_interval: Duration,
    #[serde(with = "chrono_text")]
    availability_latency_min: Duration,
    #[serde(with = "chrono_text")]
    availability_latency_max: Duration,
    #[serde(with = "chrono_text")]
    content_retention: Duration,
    page_size: usize,
    #[serde(with = "chrono_text")]
    token_lifetime: Duration,
    accepted_resources: Vec<String>,
    public_api_base: Option<Url>,
    require_https_webhooks: bool,
    shuffle_records: bool,
    listing: ListingRules,
    subscriptions: SubscriptionRules,
    webhooks: WebhookDelivery,
    faults: Faults,
    dataverse: DataverseConfig,
    tenants: Vec<TomlTenant>,
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum TomlClock {
    #[default]
    System,
    Manual,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TomlTenant {
    tenant_id: Uuid,
    domain: String,
    unified_audit_enabled: bool,
    pre_subscribed: Vec<ContentType>,
    region: String,
    apps: Vec<TomlApp>,
}

impl Default for TomlTenant {
    fn default() -> Self {
        let base = TenantConfig::default();
        TomlTenant {
            tenant_id: base.tenant_id,
            domain: base.domain,
            unified_audit_enabled: base.unified_audit_enabled,
            pre_subscribed: base.pre_subscribed,
            region: base.region,
            apps: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TomlApp {
    client_id: Uuid,
    secrets: Vec<ClientSecret>,
    certificate_files: Vec<PathBuf>,
    certificates_pem: Vec<String>,
    roles: Vec<String>,
}

impl Default for TomlConfig {
    fn default() -> Self {
        let base = EmulatorConfig::default();
        TomlConfig {
            seed: base.seed,
            clock: TomlClock::System,
            clock_start: None,
            history: Duration::days(7),
            history_start: None,
            activity: base.activity,
            blob_interval: base.blob_interval,
            availability_latency_min: base.availability_latency_min,
            availability_latency_max: base.availability_latency_max,
            content_retention: base.content_retention,
            page_size: base.page_size,
            token_lifetime: base.token_lifetime,
            accepted_resources: base.accepted_resources,
            public_api_base: None,
            require_https_webhooks: base.require_https_webhooks,
            shuffle_records: base.shuffle_records,
            listing: base.listing,
            subscriptions: base.subscriptions,
            webhooks: base.webhooks,
            faults: base.faults,
            dataverse: base.dataverse,
            tenants: Vec::new(),
        }
    }
}

fn from_toml(text: &str, base_dir: &Path) -> Result<EmulatorConfig, ConfigError> {
    let file: TomlConfig = toml::from_str(text)?;
    let start = file.clock_start.unwrap_or_else(|| SystemClock.now());
    let base = match (file.clock, file.clock_start) {
        (TomlClock::Manual, _) => {
            EmulatorConfig::default().with_manual_clock(Arc::new(ManualClock::running_from(start)))
        }
        (TomlClock::System, None) => EmulatorConfig::default(),
        (TomlClock::System, Some(_)) => {
            return Err(ConfigError::Invalid(
                "clock_start needs clock = \"manual\" (the system clock cannot be moved)".into(),
            ));
        }
    };
    // A manual clock starts exactly at `start`; the system clock is read once.
    let now = if base.manual_clock.is_some() { start } else { base.clock.now() };
    let history_start = file.history_start.unwrap_or(now - file.history);
    let mut tenants = Vec::with_capacity(file.tenants.len());
    for tenant in file.tenants {
        let mut apps = Vec::with_capacity(tenant.apps.len());
        for app in tenant.apps {
            let mut certificates_pem = app.certificates_pem;
            for path in app.certificate_files {
                let path = base_dir.join(path);
                let pem = std::fs::read_to_string(&path)
                    .map_err(|source| ConfigError::Certificate { path, source })?;
                certificates_pem.push(pem);
            }
            apps.push(AppRegistration {
                client_id: app.client_id,
                secrets: app.secrets,
                certificates_pem,
                roles: app.roles,
            });
        }
        tenants.push(TenantConfig {
            tenant_id: tenant.tenant_id,
            domain: tenant.domain,
            apps,
            unified_audit_enabled: tenant.unified_audit_enabled,
            pre_subscribed: tenant.pre_subscribed,
            region: tenant.region,
        });
    }
    Ok(EmulatorConfig {
        seed: file.seed,
        history_start,
        tenants,
        activity: file.activity,
        blob_interval: file.blob_interval,
        availability_latency_min: file.availability_latency_min,
        availability_latency_max: file.availability_latency_max,
        content_retention: file.content_retention,
        page_size: file.page_size,
        token_lifetime: file.token_lifetime,
        accepted_resources: file.accepted_resources,
        public_api_base: file.public_api_base,
        require_https_webhooks: file.require_https_webhooks,
        shuffle_records: file.shuffle_records,
        listing: file.listing,
        subscriptions: file.subscriptions,
        webhooks: file.webhooks,
        faults: file.faults,
        dataverse: file.dataverse,
        ..base
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let config = EmulatorConfig::demo(1);
        let debug = format!("{config:?}");
        assert!(!debug.contains(demo::SECRET_VALUE));
        assert!(!debug.contains(demo::EXPIRED_SECRET_VALUE));
        assert!(debug.contains(&demo::SECRET_ID.to_string()));
    }

    #[test]
    fn demo_has_a_week_of_history_and_a_movable_clock() {
        let config = EmulatorConfig::demo(1);
        let now = config.clock.now();
        assert!((now - config.history_start - Duration::days(7)).num_seconds().abs() <= 1);
        assert!(config.manual_clock.is_some());
        assert_eq!(config.tenants[0].pre_subscribed, vec![ContentType::AuditGeneral]);
        assert!(config.tenants[0].apps[0].certificates_pem[0].contains("BEGIN CERTIFICATE"));
    }

    #[test]
    fn toml_loads_tenants_certificates_and_faults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), demo::APP_CERT_PEM).unwrap();
        let path = dir.path().join("emulator.toml");
        std::fs::write(
            &path,
            r#"
seed = 9
clock = "manual"
clock_start = "2026-06-01T00:00:00Z"
history = "2d"
page_size = 7
require_https_webhooks = false
[listing]
window_error_code = "AF20030"
omitted_window = "today_since_midnight"
[faults]
page_size = 2
next_page_header = "NextPageUrl"
late_blob_delay = "45m"
throttle = { every = 10, status = 429 }
[[tenants]]
tenant_id = "41463f53-8812-40f4-890f-865bf6e35190"
domain = "contoso.onmicrosoft.com"
pre_subscribed = ["Audit.General", "DLP.All"]
[[tenants.apps]]
client_id = "a6099727-6b7b-482c-b509-1df309acc563"
roles = ["ActivityFeed.Read"]
certificate_files = ["cert.pem"]
secrets = [{ id = "7d3c5e1a-2b4f-4c6d-8e9f-0a1b2c3d4e5f", value = "s3cret", expires = "2030-01-01T00:00:00Z" }]
"#,
        )
        .unwrap();
        let config = EmulatorConfig::from_toml_file(&path).unwrap();
        assert_eq!(config.seed, 9);
        assert_eq!(config.page_size, 7);
        assert!(!config.require_https_webhooks);
        assert_eq!(config.history_start, "2026-05-30T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert!(config.manual_clock.is_some());
        assert_eq!(config.faults.page_size, Some(2));
        assert_eq!(config.faults.late_blob_delay, Duration::minutes(45));
        assert_eq!(config.faults.throttle.as_ref().unwrap().status, 429);
        assert_eq!(config.listing.window_error_code, crate::listing::WindowErrorCode::Af20030);
        let tenant = &config.tenants[0];
        assert_eq!(tenant.pre_subscribed, vec![ContentType::AuditGeneral, ContentType::DlpAll]);
        assert_eq!(tenant.apps[0].secrets[0].value, "s3cret");
        assert!(tenant.apps[0].certificates_pem[0].contains("BEGIN CERTIFICATE"));
    }

    #[test]
    fn toml_mistakes_are_explained() {
        let err = EmulatorConfig::from_toml_str("page_sise = 3").unwrap_err();
        assert!(err.to_string().contains("page_sise"), "{err}");
        let err = EmulatorConfig::from_toml_str(
            "[[tenants]]\n[[tenants.apps]]\ncertificate_files = [\"/nonexistent/cert.pem\"]",
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::Certificate { .. }), "{err}");
        let err =
            EmulatorConfig::from_toml_str("[faults]\nlate_blob_delay = \"soon\"").unwrap_err();
        assert!(err.to_string().contains("not a duration"), "{err}");
    }
}
