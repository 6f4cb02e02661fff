//! A faithful local stand-in for Microsoft Entra ID and the Office 365 Management Activity API,
//! serving realistic, deterministic Dynamics 365 activity with switchable faults.
//!
//! Three listeners on loopback: one plays `login.microsoftonline.com` (token endpoints v1 and v2),
//! one plays `manage.office.com` (the Management Activity API under `/api/v1.0/{tenant}/
//! activity/feed/...`) plus the emulator's own control endpoints under `/_emulator/...`, and one
//! plays a Dataverse environment (`https://{org}.crm.dynamics.com/`, classic audit via the Web
//! API, see [`dataverse`]). Everything a test needs is reachable through [`RunningEmulator`].
//!
//! Blobs are never stored: time is cut into slots of `blob_interval`, and each slot's blob is
//! recomputed from the seed when listed or fetched (see `schedule` and `blob_body`).
//!
//! Where Microsoft documents nothing ("Gap" in the reference), the emulator picks a behaviour
//! and makes it configurable:
//! - HTTP statuses of AF errors: see `api_error` (400 for validation, 404 for `AF20050`, 401
//!   for `AF10001` as observed, 403 for `AF429`, 500 for `AF50000`).
//! - A second `start` within 15 minutes: `AF429` ([`SubscriptionRules`]).
//! - Page size of listings: [`EmulatorConfig::page_size`] (200), overridable by
//!   [`Faults::page_size`].
//! - Webhook retries: exponential from [`WebhookDelivery::retry_base`], webhook disabled after
//!   [`WebhookDelivery::max_attempts`]; a failed attempt is `notificationStatus: "failed"`.
//! - Order of `subscriptions/list`: creation order.
//! - Blob GET of a stopped subscription: `AF20023` (never subscribed: `AF20022`).
//! - Unparsable `startTime`/`endTime` or webhook `expiration`: `AF20002`.
//! - Assertion problems the reference does not list: wrong `aud` `AADSTS700023`, wrong
//!   `iss`/`sub` `AADSTS700021`, malformed `AADSTS50027`; no credential `AADSTS7000216`.

mod access_token;
pub mod activity;
mod api_error;
mod blob_body;
mod catalog;
mod config;
mod content_id;
mod content_type;
mod control;
pub mod dataverse;
mod deterministic;
mod durations;
mod entra;
mod faults;
mod feed;
mod listing;
mod schedule;
mod source;
mod state;
mod stats;
mod subscriptions;
mod webhook;
mod wire_time;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use clock::{Clock, ManualClock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

pub use activity::{ActivityProfile, ShapeOddities};
pub use config::{
    AppRegistration, ClientSecret, ConfigError, EmulatorConfig, SubscriptionRules, TenantConfig,
    WebhookDelivery, demo,
};
pub use content_type::ContentType;
pub use faults::{Faults, Throttle};
pub use listing::{ListingRules, OmittedWindow, WindowErrorCode};
pub use source::ActivitySource;
pub use stats::{DataverseStats, Operation, OperationStats, Stats};

use crate::state::{EmulatorState, lock};

/// Starts the emulator on two fresh loopback ports (`127.0.0.1:0`).
pub async fn start(config: EmulatorConfig) -> std::io::Result<RunningEmulator> {
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    start_on(config, loopback, loopback).await
}

/// Starts the emulator on chosen addresses (the standalone runner). The Dataverse environment
/// listens on `config.dataverse.listen` (default `127.0.0.1:0`).
pub async fn start_on(
    config: EmulatorConfig,
    login_addr: SocketAddr,
    api_addr: SocketAddr,
) -> std::io::Result<RunningEmulator> {
    let login_listener = TcpListener::bind(login_addr).await?;
    let api_listener = TcpListener::bind(api_addr).await?;
    let dataverse_listener = TcpListener::bind(config.dataverse.listen).await?;
    let login_base = base_url(login_listener.local_addr()?)?;
    let api_base = base_url(api_listener.local_addr()?)?;
    let dataverse_base = base_url(dataverse_listener.local_addr()?)?;
    let history = dataverse::AuditHistory::new(&config).map(Arc::new);
    let mut state = EmulatorState::new(config, login_base.clone(), api_base.clone())?;
    if let Some(history) = &history {
        state
            .attach_dataverse(dataverse::Environment::new(dataverse_base.clone(), history.clone()));
    }
    let state = Arc::new(state);
    let (shutdown, signal) = watch::channel(false);

    let login_app = Router::new().merge(entra::router(state.clone()));
    let api_app = control::routes().fallback(feed::dispatch).with_state(state.clone());
    let dataverse_app = Router::new().fallback(dataverse::dispatch).with_state(state.clone());
    let tasks = vec![
        tokio::spawn(serve(login_listener, login_app, signal.clone())),
        tokio::spawn(serve(api_listener, api_app, signal.clone())),
        tokio::spawn(serve(dataverse_listener, dataverse_app, signal.clone())),
        tokio::spawn(webhook::run_notifier(state.clone(), signal)),
    ];
    Ok(RunningEmulator { login_base, api_base, dataverse_base, history, state, shutdown, tasks })
}

fn base_url(addr: SocketAddr) -> std::io::Result<Url> {
    let addr = if addr.ip().is_unspecified() {
        SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
    } else {
        addr
    };
    Url::parse(&format!("http://{addr}/"))
        .map_err(|e| std::io::Error::other(format!("cannot form a URL for {addr}: {e}")))
}

async fn serve(listener: TcpListener, app: Router, mut signal: watch::Receiver<bool>) {
    let stopped = async move {
        let _ = signal.wait_for(|stop| *stop).await;
    };
    if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
        tracing::error!(%error, "emulator listener failed");
    }
}

/// A running emulator. Dropping it stops the listeners; [`RunningEmulator::shutdown`] also
/// waits for them.
#[derive(Debug)]
pub struct RunningEmulator {
    login_base: Url,
    api_base: Url,
    dataverse_base: Url,
    history: Option<Arc<dataverse::AuditHistory>>,
    state: Arc<EmulatorState>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningEmulator {
    /// The Entra ID stand-in, e.g. `http://127.0.0.1:41234/` (use in place of
    /// `https://login.microsoftonline.com/`).
    pub fn login_base(&self) -> Url {
        self.login_base.clone()
    }

    /// The Management Activity API stand-in, e.g. `http://127.0.0.1:41235/` (use in place of
    /// `https://manage.office.com/`). Also accepted as token `resource`.
    pub fn api_base(&self) -> Url {
        self.api_base.clone()
    }

    /// The Dataverse environment URL, e.g. `http://127.0.0.1:41236/` (use in place of
    /// `https://contoso.crm.dynamics.com/`). Tokens for it: `resource` = this URL (v1) or
    /// `scope` = `{this URL}.default` (v2), with or without the trailing slash.
    pub fn dataverse_url(&self) -> Url {
        self.dataverse_base.clone()
    }

    /// The Dataverse environment's audit history: the ground truth of what `audits` serves
    /// (`None` when the configuration has no tenant for the environment).
    pub fn dataverse_history(&self) -> Option<Arc<dataverse::AuditHistory>> {
        self.history.clone()
    }

    /// `{login_base}/{tenant}/oauth2/token`.
    pub fn token_url_v1(&self, tenant: &str) -> Url {
        let mut url = self.login_base.clone();
        url.set_path(&format!("/{tenant}/oauth2/token"));
        url
    }

    /// `{login_base}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url_v2(&self, tenant: &str) -> Url {
        let mut url = self.login_base.clone();
        url.set_path(&format!("/{tenant}/oauth2/v2.0/token"));
        url
    }

    /// `{api_base}/api/v1.0/{tenant}/activity/feed` (no trailing slash).
    pub fn feed_root(&self, tenant: uuid::Uuid) -> String {
        self.state.feed_root(tenant, false)
    }

    /// Replaces the faults in force (and restarts their "every Nth" counters).
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.state.faults).replace(faults);
    }

    /// The faults in force, with "next N" counters as they stand.
    pub fn faults(&self) -> Faults {
        self.state.faults()
    }

    /// Every token issued so far gets 401 from now on ("401 mid-run"); new tokens work.
    pub fn revoke_tokens(&self) {
        self.state.mint.revoke_all();
    }

    /// What the emulator saw so far.
    pub fn stats(&self) -> Stats {
        lock(&self.state.stats).clone()
    }

    /// The emulated clock.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.state.clock.clone()
    }

    /// The emulated clock when it is movable.
    pub fn manual_clock(&self) -> Option<Arc<ManualClock>> {
        self.state.manual_clock.clone()
    }

    /// Stops both listeners and the notifier and waits for them (at most a few seconds).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
