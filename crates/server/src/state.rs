//! What the server runs on: the storage backend (archive, accounts, SQL console, blob queue),
//! the clock, the settings, and the hooks through which the collector plugs in (webhook intake,
//! extra metrics, feed status).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use archive::{AccessStore, Archive, BlobQueue, ChangeStore, SqlConsole, SqlLimits};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use clock::Clock;
use secrecy::SecretString;
use serde::Serialize;
use uuid::Uuid;

use crate::sign_in::SignInLimiter;

/// Everything the server stores and reads: an archive backend that also keeps the accounts and
/// the access log, answers the read-only SQL console, holds the blob queue and keeps the
/// Dataverse field history (audit changes). Every archive backend implementing the five traits
/// is one.
pub trait Backend: Archive + AccessStore + SqlConsole + BlobQueue + ChangeStore {}

impl<T: Archive + AccessStore + SqlConsole + BlobQueue + ChangeStore + ?Sized> Backend for T {}

/// How the server behaves. [`ServerSettings::default`] suits `d365audit serve` on a laptop.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// How long a sign-in lasts (absolute, not sliding).
    pub session_lifetime: Duration,
    /// Mark cookies `Secure` (sent over https only). Turn off only for plain http on loopback:
    /// see [`ServerSettings::secure_cookies_for`].
    pub secure_cookies: bool,
    /// Failed sign-ins allowed before further attempts are refused for a while.
    pub sign_in_limit: SignInLimit,
    /// Limits of one SQL console statement.
    pub sql: SqlLimits,
    /// The shared secret Microsoft echoes in `Webhook-AuthID`; `None` accepts any caller (the
    /// collector still checks that each notification names a configured tenant and its API).
    pub webhook_auth_id: Option<SecretString>,
    /// Largest webhook body accepted (larger: 413).
    pub webhook_max_body_bytes: usize,
    /// When set, `/metrics` wants `Authorization: Bearer <this>`; when not, `/metrics` is open
    /// (it shows counts only, never records, users or secrets).
    pub metrics_token: Option<SecretString>,
    /// Take the client address from the last `X-Forwarded-For` hop (only behind a reverse
    /// proxy that sets it; otherwise anyone could write their own address into the access log).
    pub trust_forwarded_for: bool,
    /// Working hours, for the "outside working hours" report.
    pub working_hours: WorkingHours,
    /// Rows of a search or timeline page in the UI.
    pub page_rows: u32,
    /// Events a printable record timeline shows at once.
    pub printable_rows: u32,
    /// Period reports cover when none is chosen.
    pub default_report_days: i64,
    /// Period a user timeline covers when none is chosen.
    pub default_timeline_days: i64,
    /// Keep computed reports briefly (see `reports::ReportCache`).
    pub cache_reports: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            session_lifetime: Duration::hours(8),
            secure_cookies: true,
            sign_in_limit: SignInLimit::default(),
            sql: SqlLimits { max_rows: 1_000, timeout: StdDuration::from_secs(10) },
            webhook_auth_id: None,
            webhook_max_body_bytes: 1 << 20,
            metrics_token: None,
            trust_forwarded_for: false,
            working_hours: WorkingHours::default(),
            page_rows: 50,
            printable_rows: 2_000,
            default_report_days: 7,
            default_timeline_days: 30,
            cache_reports: true,
        }
    }
}

impl ServerSettings {
    /// Whether cookies should be `Secure` when serving plain http on `listen`: yes, unless the
    /// address is loopback (a browser on the same machine; nothing crosses a network). Behind a
    /// TLS-terminating proxy that connects over loopback, set [`ServerSettings::secure_cookies`]
    /// explicitly.
    pub fn secure_cookies_for(listen: SocketAddr) -> bool {
        !listen.ip().is_loopback()
    }
}

/// Failed sign-ins tolerated per account and per client address within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimit {
    pub per_account: u32,
    pub per_address: u32,
    pub window: Duration,
}

impl Default for SignInLimit {
    fn default() -> Self {
        SignInLimit { per_account: 5, per_address: 20, window: Duration::minutes(15) }
    }
}

/// Working hours in UTC: `start_hour <= hour < end_hour`, Monday to Friday. Reports count by
/// UTC hour (the archive's buckets are UTC), so an organization in another zone shifts these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingHours {
    pub start_hour: u32,
    pub end_hour: u32,
}

impl Default for WorkingHours {
    fn default() -> Self {
        WorkingHours { start_hour: 8, end_hour: 18 }
    }
}

impl WorkingHours {
    pub fn contains_hour(&self, hour: u32) -> bool {
        (self.start_hour..self.end_hour).contains(&hour)
    }
}

/// What the webhook intake did with a notification POST; decides the HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeOutcome {
    /// Queued (or nothing to queue): 200.
    Accepted { accepted: u64, rejected: u64 },
    /// The caller did not prove it is Microsoft (wrong `Webhook-AuthID`): 401.
    Unauthorized,
    /// The body is not a notification array: 400, with a reason for the log.
    Malformed { reason: String },
    /// The notifications could not be queued now: 503, so Microsoft sends them again.
    Unavailable { reason: String },
}

/// Where `POST /webhook/o365` hands notifications. The collector implements it; the server
/// has already answered the validation handshake, enforced the body size limit and compared
/// `Webhook-AuthID` in constant time (`auth_id_ok`). Must return within milliseconds: queue,
/// do not fetch.
#[async_trait]
pub trait NotificationIntake: Send + Sync {
    async fn accept(&self, auth_id_ok: bool, body: Bytes) -> IntakeOutcome;
}

/// Extra Prometheus metric families for `/metrics` (the collector's counters). Write complete
/// families (`# HELP`, `# TYPE`, samples) in the text exposition format.
pub trait MetricsSource: Send + Sync {
    fn write_metrics(&self, out: &mut String);
}

/// One collection feed (tenant x content type) as the status page shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeedLine {
    /// The tenant's configured name, or its id.
    pub tenant: String,
    pub tenant_id: Uuid,
    pub content_type: String,
    /// `ok`, `waiting`, `backlog`, `failing`, `gaps`.
    pub health: String,
    /// How far listing is complete.
    pub listed_until: Option<DateTime<Utc>>,
    pub lag_seconds: Option<i64>,
    /// Blobs waiting (pending or leased).
    pub backlog: u64,
    pub oldest_waiting: Option<DateTime<Utc>>,
    pub records: u64,
    pub gaps: u64,
    pub last_error: Option<String>,
    pub notice: Option<String>,
}

/// The collector's view of its feeds, richer than the blob queue alone (listing cursors,
/// failing listings, lost windows). Without one, the status page derives feeds from the queue.
#[async_trait]
pub trait CollectionSource: Send + Sync {
    async fn feeds(&self) -> Result<Vec<FeedLine>, String>;
}

/// The collector's hooks; all optional.
#[derive(Clone, Default)]
pub struct Hooks {
    pub intake: Option<Arc<dyn NotificationIntake>>,
    pub metrics: Option<Arc<dyn MetricsSource>>,
    pub collection: Option<Arc<dyn CollectionSource>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("intake", &self.intake.is_some())
            .field("metrics", &self.metrics.is_some())
            .field("collection", &self.collection.is_some())
            .finish()
    }
}

/// The server's shared state. Cheap to clone.
#[derive(Clone)]
pub struct ServerState {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState")
            .field("backend", &self.shared.backend)
            .field("settings", &self.shared.settings)
            .field("hooks", &self.shared.hooks)
            .finish()
    }
}

pub(crate) struct Shared {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: ServerSettings,
    pub(crate) hooks: Hooks,
    pub(crate) limiter: SignInLimiter,
    pub(crate) counters: crate::ops::Counters,
    pub(crate) organizations: crate::reports::OrganizationList,
    pub(crate) reports: crate::reports::ReportCache,
    /// Verified against when a username is unknown (made on first use: hashing is slow).
    pub(crate) decoy: std::sync::OnceLock<String>,
}

impl ServerState {
    pub fn new(
        backend: Arc<dyn Backend>,
        clock: Arc<dyn Clock>,
        settings: ServerSettings,
        hooks: Hooks,
    ) -> ServerState {
        ServerState {
            shared: Arc::new(Shared {
                backend,
                clock,
                limiter: SignInLimiter::new(settings.sign_in_limit),
                settings,
                hooks,
                counters: crate::ops::Counters::default(),
                organizations: crate::reports::OrganizationList::default(),
                reports: crate::reports::ReportCache::default(),
                decoy: std::sync::OnceLock::new(),
            }),
        }
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        self.shared.backend.as_ref()
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    pub(crate) fn settings(&self) -> &ServerSettings {
        &self.shared.settings
    }

    /// A password hash nobody knows the password of. Blocking on first use.
    pub(crate) fn decoy_hash(&self) -> String {
        self.shared.decoy.get_or_init(crate::secrets::decoy_hash).clone()
    }
}
