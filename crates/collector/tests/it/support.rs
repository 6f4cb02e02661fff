//! Shared setup: the emulator on a frozen clock with about a day of small activity, a real
//! SQLite archive in a temporary folder, settings (read from TOML, like production) pointing at
//! both, and the truth: every blob fetched straight from the emulator, classified into records
//! in scope, expired blobs and unreadable blobs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use archive::{BlobState, PageRequest, RecordQuery};
use archive_postgres::PostgresArchive;
use archive_sqlite::SqliteArchive;
use chrono::{DateTime, Duration, TimeZone, Utc};
use clock::{Clock, ManualClock};
use collector::{Collector, QueuedArchive};
use emulator::{ActivityProfile, EmulatorConfig, Faults, RunningEmulator, demo};
use o365::{
    Action, ActivityClient, ActivitySettings, ContentType, Credential, Endpoints, ListingWindow,
};
use settings::{RecordScope, Settings};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// A Tuesday noon: people work, records flow.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 16, 12, 0, 0).unwrap()
}

/// The demo tenant on a clock frozen at `t0`, with 30 hours of small activity in 30-minute
/// blobs (about 60 blobs, a few hundred records).
pub(crate) fn emulator_config(seed: u64) -> EmulatorConfig {
    let clock = Arc::new(ManualClock::frozen_at(t0()));
    let mut config = EmulatorConfig::demo(seed).with_manual_clock(clock);
    config.history_start = t0() - Duration::hours(12);
    config.blob_interval = Duration::minutes(30);
    config.activity = ActivityProfile {
        organizations: 1,
        users: 5,
        crm_records_per_user_day: 120.0,
        ..ActivityProfile::default()
    };
    config.require_https_webhooks = false;
    config
}

/// Fast collector settings for tests (the rest are the defaults).
pub(crate) const FAST: &str = r#"
workers = 2
request_attempts = 4
request_backoff = "5ms"
request_backoff_max = "20ms"
request_timeout = "20s"
poll_interval = "200ms"
shutdown_grace = "3s"
"#;

/// The emulator, the archive and the settings of one test.
pub(crate) struct Harness {
    pub(crate) emu: RunningEmulator,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) archive: Arc<dyn QueuedArchive>,
    pub(crate) settings: Settings,
    /// Holds the archive (the SQLite file, or the PostgreSQL test database).
    _storage: Storage,
}

/// Where a test's archive lives; dropping it removes it.
enum Storage {
    Sqlite(#[allow(dead_code)] TempDir),
    Postgres(#[allow(dead_code)] TestDatabase),
}

/// The PostgreSQL server for tests (a user allowed to create databases), from
/// `D365AUDIT_TEST_POSTGRES`.
pub(crate) fn postgres_server() -> Option<String> {
    std::env::var("D365AUDIT_TEST_POSTGRES").ok().filter(|url| !url.trim().is_empty())
}

/// Whether the whole suite runs on PostgreSQL (`D365AUDIT_TEST_BACKEND=postgres`) instead of
/// SQLite.
fn suite_on_postgres() -> bool {
    std::env::var("D365AUDIT_TEST_BACKEND").is_ok_and(|b| b.eq_ignore_ascii_case("postgres"))
}

impl Harness {
    /// Emulator with `config`, default tenant settings, fast collector tuning.
    pub(crate) async fn start(config: EmulatorConfig) -> Harness {
        Harness::start_with(config, "", "").await
    }

    /// `collector` and `tenant` are extra TOML lines for `[collector]` and `[tenants.contoso]`
    /// (a key given there replaces the default one).
    pub(crate) async fn start_with(
        config: EmulatorConfig,
        collector: &str,
        tenant: &str,
    ) -> Harness {
        if suite_on_postgres() {
            let server = postgres_server()
                .expect("D365AUDIT_TEST_BACKEND=postgres needs D365AUDIT_TEST_POSTGRES");
            return Harness::start_on_postgres(&server, config, collector, tenant).await;
        }
        let emu = emulator::start(config).await.unwrap();
        let clock = emu.manual_clock().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let archive = Arc::new(
            SqliteArchive::open(dir.path().join("archive.db"), clock.clone() as Arc<dyn Clock>)
                .unwrap(),
        );
        let settings = settings_for(&emu, dir.path(), collector, tenant);
        Harness { emu, clock, archive, settings, _storage: Storage::Sqlite(dir) }
    }

    /// The same on a fresh database of the PostgreSQL `server`.
    pub(crate) async fn start_on_postgres(
        server: &str,
        config: EmulatorConfig,
        collector: &str,
        tenant: &str,
    ) -> Harness {
        let emu = emulator::start(config).await.unwrap();
        let clock = emu.manual_clock().unwrap();
        let db = TestDatabase::create(server).await;
        let archive = Arc::new(
            PostgresArchive::connect(&db.url, clock.clone() as Arc<dyn Clock>).await.unwrap(),
        );
        let settings = settings_for(&emu, Path::new("."), collector, tenant);
        Harness { emu, clock, archive, settings, _storage: Storage::Postgres(db) }
    }

    /// Another connection to the same archive (another collector process, as far as the
    /// archive can tell). `None` for SQLite (one writer per file).
    pub(crate) async fn second_connection(&self) -> Option<Arc<dyn QueuedArchive>> {
        match &self._storage {
            Storage::Postgres(db) => Some(Arc::new(
                PostgresArchive::connect(&db.url, self.clock.clone() as Arc<dyn Clock>)
                    .await
                    .unwrap(),
            )),
            Storage::Sqlite(_) => None,
        }
    }

    pub(crate) fn queued(&self) -> Arc<dyn QueuedArchive> {
        self.archive.clone()
    }

    pub(crate) fn collector(&self) -> Collector {
        self.collector_with(&self.settings, CancellationToken::new())
    }

    pub(crate) fn collector_with(
        &self,
        settings: &Settings,
        shutdown: CancellationToken,
    ) -> Collector {
        Collector::new(settings, self.queued(), self.clock.clone(), shutdown).unwrap()
    }

    /// Every record `Id` stored.
    pub(crate) async fn stored_ids(&self) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        let mut page = PageRequest { limit: 5_000, ..PageRequest::default() };
        loop {
            let rows = self.archive.raw_page(&RecordQuery::default(), &page).await.unwrap();
            ids.extend(rows.rows.into_iter().map(|r| r.id));
            match rows.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        let count = self.archive.count(&RecordQuery::default()).await.unwrap();
        assert_eq!(count, ids.len() as u64, "every stored record has its own Id");
        ids
    }

    /// Blob gaps by content id.
    pub(crate) async fn gaps(&self) -> BTreeMap<String, BlobState> {
        self.archive
            .blob_gaps(10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|g| (g.content_id, g.state))
            .collect()
    }

    /// What a perfect collector holds after collecting up to `until`, with the faults now in
    /// force minus the transient ones (throttling, internal errors).
    pub(crate) async fn truth(&self, scope: &RecordScope, until: DateTime<Utc>) -> Truth {
        let faults = self.emu.faults();
        self.emu.set_faults(Faults {
            throttle: None,
            tenant_quota_per_minute: None,
            internal_error_every: None,
            internal_error_next: 0,
            ..faults.clone()
        });
        let truth = truth_of(&self.emu, self.clock.clone(), scope, until).await;
        self.emu.set_faults(faults);
        truth
    }

    /// Asserts the archive holds exactly the truth: the same records, every unreadable blob a
    /// gap of the right kind, and no other gap.
    pub(crate) async fn assert_matches(&self, truth: &Truth) {
        let stored = self.stored_ids().await;
        let missing: Vec<_> = truth.records.difference(&stored).take(5).collect();
        let extra: Vec<_> = stored.difference(&truth.records).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "archive differs from the truth ({} stored, {} true): missing {missing:?}, extra {extra:?}",
            stored.len(),
            truth.records.len()
        );
        let expected: BTreeMap<String, BlobState> = truth
            .expired
            .iter()
            .map(|id| (id.clone(), BlobState::Expired))
            .chain(truth.unreadable.iter().map(|id| (id.clone(), BlobState::Quarantined)))
            .collect();
        assert_eq!(self.gaps().await, expected, "gaps");
    }
}

fn settings_for(emu: &RunningEmulator, dir: &Path, collector: &str, tenant: &str) -> Settings {
    let merged = |defaults: &str, extra: &str| {
        let keys: Vec<&str> =
            extra.lines().filter_map(|l| l.split('=').next()).map(str::trim).collect();
        let mut lines: Vec<String> = defaults
            .lines()
            .filter(|l| !keys.contains(&l.split('=').next().unwrap_or("").trim()))
            .map(str::to_owned)
            .collect();
        lines.extend(extra.lines().map(str::to_owned));
        lines.join("\n")
    };
    let tenant_defaults = format!(
        "tenant_id = \"{}\"\nclient_id = \"{}\"\nlogin_base = \"{}\"\napi_base = \"{}\"\n\
         client_secret_env = \"CONTOSO_SECRET\"\nrequests_per_minute = 100000\n",
        demo::TENANT_ID,
        demo::CLIENT_ID,
        emu.login_base(),
        emu.api_base()
    );
    let text = format!(
        "version = 1\n[collector]\n{}\n[tenants.contoso]\n{}\n",
        merged(FAST, collector),
        merged(&tenant_defaults, tenant)
    );
    let env = BTreeMap::from([
        ("CONTOSO_SECRET".to_owned(), demo::SECRET_VALUE.to_owned()),
        ("UNPRIVILEGED_SECRET".to_owned(), demo::UNPRIVILEGED_SECRET_VALUE.to_owned()),
        ("SECRET_ID".to_owned(), demo::SECRET_ID.to_string()),
    ]);
    Settings::from_toml_str(&text, dir, &env).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// What the emulator holds.
#[derive(Debug, Default)]
pub(crate) struct Truth {
    /// `Id`s of the records in scope of the readable blobs.
    pub(crate) records: BTreeSet<String>,
    /// Content ids of blobs the API says are gone.
    pub(crate) expired: BTreeSet<String>,
    /// Content ids of blobs that are not JSON arrays of records.
    pub(crate) unreadable: BTreeSet<String>,
    /// Every listed blob.
    pub(crate) blobs: BTreeSet<String>,
    /// Record occurrences over all readable blobs (more than `records` when duplicated).
    pub(crate) occurrences: usize,
}

/// An API client of the demo app, for the truth and for tests that act like an administrator.
pub(crate) fn direct_client(emu: &RunningEmulator, clock: Arc<ManualClock>) -> ActivityClient {
    let endpoints = Endpoints::custom(emu.login_base(), emu.api_base()).unwrap();
    let mut settings = ActivitySettings::new(
        endpoints,
        demo::TENANT_ID,
        demo::CLIENT_ID.to_string(),
        Credential::secret(demo::SECRET_VALUE.to_owned().into()),
    );
    settings.pacing.requests_per_minute = 100_000;
    ActivityClient::new(settings, clock).unwrap()
}

async fn truth_of(
    emu: &RunningEmulator,
    clock: Arc<ManualClock>,
    scope: &RecordScope,
    until: DateTime<Utc>,
) -> Truth {
    let client = direct_client(emu, clock.clone());
    let mut truth = Truth::default();
    let mut start = clock.now() - ListingWindow::MAX_AGE + ListingWindow::CLAMP_MARGIN;
    while start < until {
        // 23-hour windows: some tests make the service refuse windows of exactly 24 hours.
        let end = until.min(start + Duration::hours(23));
        let window = ListingWindow::clamped(start, end, clock.as_ref()).unwrap();
        for blob in client.list_content(ContentType::General, &window).await.unwrap() {
            if !truth.blobs.insert(blob.content_id.clone()) {
                continue;
            }
            match client.fetch_blob(&blob).await {
                Ok(bytes) => match record::parse_blob(&bytes) {
                    Ok(raws) => {
                        for raw in raws {
                            let parsed = raw.parse().expect("the emulator's records parse");
                            if scope.includes(&parsed.workload) {
                                truth.occurrences += 1;
                                truth.records.insert(parsed.id);
                            }
                        }
                    }
                    Err(_) => {
                        truth.unreadable.insert(blob.content_id.clone());
                    }
                },
                Err(error) if error.action() == Action::ContentGone => {
                    truth.expired.insert(blob.content_id.clone());
                }
                Err(error) => panic!("truth fetch failed: {error}"),
            }
        }
        start = window.end();
    }
    assert!(!truth.records.is_empty(), "the emulator produced records");
    truth
}

/// A database created for one test on the PostgreSQL test server, dropped with its
/// connections when this value is dropped (also while a failed test unwinds).
pub(crate) struct TestDatabase {
    server: String,
    name: String,
    pub(crate) url: String,
}

impl TestDatabase {
    async fn create(server: &str) -> TestDatabase {
        let name = format!("d365audit_collector_{}", uuid::Uuid::new_v4().simple());
        admin(server).await.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        let (base, query) = server.split_once('?').map_or((server, None), |(b, q)| (b, Some(q)));
        let authority = base.find("://").map_or(0, |i| i + 3);
        let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
        let url = match query {
            Some(query) => format!("{}/{name}?{query}", &base[..path]),
            None => format!("{}/{name}", &base[..path]),
        };
        TestDatabase { server: server.to_owned(), name, url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop may run inside a runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                admin(&server)
                    .await
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .map_err(std::io::Error::other)
            })
        })
        .join();
    }
}

async fn admin(server: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls)
        .await
        .expect("D365AUDIT_TEST_POSTGRES names a reachable server");
    tokio::spawn(connection);
    client
}
