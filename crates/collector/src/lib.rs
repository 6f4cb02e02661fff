//! The collection pipeline for the Office 365 Management Activity API: for every configured
//! tenant × content type ("feed") a poller lists content windows into the durable blob queue in
//! the archive, the webhook intake adds notified blobs to the same queue, and a bounded pool of
//! workers claims the oldest blobs, fetches them, keeps the records in scope and settles each
//! blob (records + blob state in one transaction).
//!
//! Guarantees (see `ARCHITECTURE.md`):
//! - a feed's cursor advances only in the transaction that queues every blob of the windows it
//!   covers, every `NextPageUri` page included; each round lists a trailing overlap again, and
//!   the queue dedupes blobs by `contentId`, the archive records by `Id`;
//! - a window that fails stays where it is and is retried next round; a range that could not be
//!   listed before it became older than 7 days is recorded as a lost window (a gap);
//! - a blob ends `done`, or in a visible gap state (`expired`, `quarantined` with its bytes,
//!   `failed`); a crash or stop at any point leaves leases that lapse, and the work is redone.
//!
//! The HTTP server builds one [`Collector`], calls [`Collector::run`] in the background,
//! [`Collector::accept_notifications`] from its webhook endpoint, and [`Collector::metrics`] /
//! [`Collector::status`] for `/metrics` and the UI. `d365audit collect --once` calls
//! [`Collector::run_once`].

mod error;
mod feed;
mod intake;
mod metrics;
mod poller;
mod status;
mod subscriptions;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use archive::{Archive, BlobQueue};
use chrono::{DateTime, Utc};
use clock::Clock;
use o365::ActivityClient;
use serde::Serialize;
use settings::{CollectorSettings, Settings, TenantSettings, WebhookSettings};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use error::CollectorError;
pub use feed::{FeedKey, LISTING_STATE_VERSION, ListingState, LostWindow};
pub use intake::{IntakeReceipt, RejectReason, RejectedNotification, auth_id_matches};
pub use metrics::{
    CollectorMetrics, CounterSnapshot, FeedMetrics, FeedOutcome, TenantMetrics, TenantRequests,
};
pub use status::{CollectionStatus, FeedStatus, collection_status};
pub use subscriptions::{
    SubscriptionChange, activity_client, list_subscriptions, start_subscriptions,
    stop_subscriptions,
};
pub use worker::{BlobOutcome, blob_settlement, retry_delay};

/// An archive that also holds the blob queue: what the collector writes to. Every archive
/// backend that implements both traits is one.
pub trait QueuedArchive: Archive + BlobQueue {}

impl<T: Archive + BlobQueue + ?Sized> QueuedArchive for T {}

/// The collection pipeline. Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct Collector {
    shared: Arc<Shared>,
}

/// A configured tenant with its API client (one per tenant: the pacer and the token are
/// shared by its pollers and workers).
#[derive(Debug)]
pub(crate) struct Tenant {
    pub(crate) settings: TenantSettings,
    pub(crate) client: ActivityClient,
    /// Set when a subscription start with the webhook was refused (AF20021): the next start
    /// goes without it, so polling is not held hostage by an unreachable webhook.
    pub(crate) webhook_refused: AtomicBool,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) settings: CollectorSettings,
    pub(crate) webhook: WebhookSettings,
    pub(crate) tenants: Vec<Tenant>,
    pub(crate) archive: Arc<dyn QueuedArchive>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) counters: metrics::Counters,
    pub(crate) board: metrics::FeedBoard,
    /// Woken when blobs were queued, so idle workers claim at once.
    pub(crate) wake: Notify,
    pub(crate) register_webhooks: AtomicBool,
}

impl Shared {
    pub(crate) fn tenant_by_id(&self, tenant_id: Uuid) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.settings.tenant_id == tenant_id)
    }
}

/// What one feed's listing round did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedReport {
    pub tenant: String,
    pub tenant_id: Uuid,
    pub content_type: String,
    /// How far `contentCreated` is listed completely after the round.
    pub listed_until: Option<DateTime<Utc>>,
    /// Windows listed completely in this round.
    pub windows: u32,
    pub blobs_listed: u64,
    pub blobs_new: u64,
    pub outcome: FeedOutcome,
}

/// What [`Collector::run_once`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectionSummary {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// What happened during the run.
    pub counts: CounterSnapshot,
    pub feeds: Vec<FeedReport>,
    /// Blobs of the configured tenants still waiting in the queue after the run (scheduled for a
    /// retry, or leased by another collector): not lost, collected by a later run.
    pub blobs_waiting: u64,
}

impl CollectionSummary {
    /// Blobs and windows lost in this run (expired, unreadable, given up, no longer listable).
    pub fn gaps(&self) -> u64 {
        self.counts.gaps()
    }

    /// Whether everything listable was listed and every blob settled (gaps included).
    pub fn complete(&self) -> bool {
        self.blobs_waiting == 0
            && self.feeds.iter().all(|f| {
                matches!(f.outcome, FeedOutcome::CaughtUp | FeedOutcome::AwaitingFirstContent)
            })
    }
}

impl Collector {
    /// Builds the pipeline: one API client per configured tenant (credentials are read now, so
    /// a missing secret fails here, naming its setting). `shutdown` stops [`Collector::run`]
    /// and [`Collector::run_once`] gracefully.
    pub fn new(
        settings: &Settings,
        archive: Arc<dyn QueuedArchive>,
        clock: Arc<dyn Clock>,
        shutdown: CancellationToken,
    ) -> Result<Collector, CollectorError> {
        let tenants = settings
            .select_tenants(&[])?
            .into_iter()
            .map(|tenant| {
                let client = activity_client(tenant, &settings.collector, clock.clone())?;
                Ok(Tenant {
                    settings: tenant.clone(),
                    client,
                    webhook_refused: AtomicBool::new(false),
                })
            })
            .collect::<Result<Vec<_>, CollectorError>>()?;
        let board = metrics::FeedBoard::default();
        for tenant in &tenants {
            for ct in &tenant.settings.content_types {
                board.register(
                    FeedKey::new(tenant.settings.tenant_id, ct.as_str()),
                    &tenant.settings.name,
                );
            }
        }
        Ok(Collector {
            shared: Arc::new(Shared {
                settings: settings.collector.clone(),
                webhook: settings.webhook.clone(),
                tenants,
                archive,
                clock,
                shutdown,
                counters: metrics::Counters::default(),
                board,
                wake: Notify::new(),
                register_webhooks: AtomicBool::new(false),
            }),
        })
    }

    /// When a subscription has to be started again (AF20022 / AF20023), register the configured
    /// webhook with it (`d365audit serve`, whose webhook endpoint answers the validation). Off
    /// by default: `collect --once` has no endpoint to validate.
    pub fn register_webhooks(&self, register: bool) {
        self.shared.register_webhooks.store(register, Ordering::Relaxed);
    }

    /// The configured tenants.
    pub fn tenants(&self) -> impl Iterator<Item = &TenantSettings> {
        self.shared.tenants.iter().map(|t| &t.settings)
    }

    /// The signal that stops the collector.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shared.shutdown.clone()
    }

    /// Catches every feed up to now (lists every window, fetches every blob that is due), then
    /// returns what happened. Blobs scheduled for a later retry stay queued (see
    /// [`CollectionSummary::blobs_waiting`]). Do not run it concurrently with [`Collector::run`]
    /// on the same collector (the summary would mix both).
    pub async fn run_once(&self) -> Result<CollectionSummary, CollectorError> {
        let shared = &self.shared;
        let started_at = shared.clock.now();
        let before = shared.counters.snapshot();
        let (polling_done, done) = watch::channel(false);
        let workers = self.spawn_workers(true, done);
        let feeds = shared.poll_round().await;
        let _ = polling_done.send(true);
        shared.wake.notify_waiters();
        let joined = self.join_workers(workers).await;
        let statuses = shared.archive.queue_status().await;
        joined?;
        let statuses = statuses?;
        shared.warn_about_backlog(&statuses);
        let blobs_waiting = statuses
            .iter()
            .filter(|s| shared.tenant_by_id(s.tenant_id).is_some())
            .flat_map(|s| &s.counts)
            .filter(|(state, _)| state == "pending" || state == "leased")
            .map(|(_, n)| n)
            .sum();
        let summary = CollectionSummary {
            started_at,
            finished_at: shared.clock.now(),
            counts: shared.counters.snapshot() - before,
            feeds,
            blobs_waiting,
        };
        tracing::info!(
            blobs_new = summary.counts.blobs_new,
            blobs_done = summary.counts.blobs_done,
            records_kept = summary.counts.records_kept,
            duplicates = summary.counts.duplicates_skipped,
            out_of_scope = summary.counts.out_of_scope,
            gaps = summary.gaps(),
            blobs_waiting,
            "collection run finished"
        );
        Ok(summary)
    }

    /// Collects continuously until the shutdown signal: a listing round every poll interval,
    /// workers taking blobs as they are queued. On shutdown, workers stop claiming and finish
    /// the blobs in hand within the grace period; the rest are left to their leases.
    pub async fn run(&self) -> Result<(), CollectorError> {
        let shared = self.shared.clone();
        let (_never_done, done) = watch::channel(false);
        let workers = self.spawn_workers(false, done);
        loop {
            shared.poll_round().await;
            match shared.archive.queue_status().await {
                Ok(statuses) => shared.warn_about_backlog(&statuses),
                Err(error) => tracing::warn!(%error, "cannot read the queue status"),
            }
            tokio::select! {
                () = tokio::time::sleep(shared.settings.poll_interval) => {}
                () = shared.shutdown.cancelled() => break,
            }
        }
        tracing::info!("collector stopping: no new blobs are claimed");
        self.join_workers(workers).await
    }

    /// What the collector counted so far (plain data for `/metrics`).
    pub fn metrics(&self) -> CollectorMetrics {
        let shared = &self.shared;
        let now = shared.clock.now();
        CollectorMetrics {
            at: now,
            counters: shared.counters.snapshot(),
            tenants: shared
                .tenants
                .iter()
                .map(|t| TenantMetrics {
                    tenant: t.settings.name.clone(),
                    tenant_id: t.settings.tenant_id,
                    requests: t.client.counters().into(),
                })
                .collect(),
            feeds: shared.board.snapshot(now),
        }
    }

    /// The state of every feed as the archive holds it (cursor, lag, backlog, gaps, last
    /// error), for `status`, `/metrics` and the UI.
    pub async fn status(&self) -> Result<CollectionStatus, CollectorError> {
        let shared = &self.shared;
        let tenants: Vec<TenantSettings> = self.tenants().cloned().collect();
        Ok(collection_status(
            shared.archive.as_ref(),
            &tenants,
            &shared.settings,
            shared.clock.now(),
            100,
        )
        .await?)
    }

    fn spawn_workers(
        &self,
        once: bool,
        polling_done: watch::Receiver<bool>,
    ) -> JoinSet<Result<(), CollectorError>> {
        let mut set = JoinSet::new();
        for _ in 0..self.shared.settings.workers.max(1) {
            set.spawn(self.shared.clone().worker_loop(once, polling_done.clone()));
        }
        set
    }

    /// Waits for the workers; once shutdown is signalled, for at most the grace period.
    async fn join_workers(
        &self,
        mut set: JoinSet<Result<(), CollectorError>>,
    ) -> Result<(), CollectorError> {
        let shared = self.shared.clone();
        let grace = async move {
            shared.shutdown.cancelled().await;
            tokio::time::sleep(shared.settings.shutdown_grace).await;
        };
        tokio::pin!(grace);
        let mut graced = false;
        let mut result = Ok(());
        loop {
            tokio::select! {
                next = set.join_next() => match next {
                    None => break,
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(error))) => result = Err(error),
                    Some(Err(join)) if join.is_panic() => {
                        tracing::error!(error = %join, "a collector worker panicked; its blob is redone after its lease");
                    }
                    Some(Err(_)) => {}
                },
                () = &mut grace, if !graced => {
                    graced = true;
                    tracing::warn!(
                        in_progress = set.len(),
                        "shutdown grace period over; blobs in progress are left to their leases \
                         and will be redone"
                    );
                    set.abort_all();
                }
            }
        }
        result
    }
}

/// How long an idle worker waits before looking at the queue again (retries fall due, other
/// collectors' leases lapse).
pub(crate) fn idle_interval(settings: &CollectorSettings, once: bool) -> StdDuration {
    if once {
        StdDuration::from_millis(100)
    } else {
        settings.poll_interval.min(StdDuration::from_secs(5))
    }
}
