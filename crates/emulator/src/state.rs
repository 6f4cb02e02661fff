//! The shared state behind both listeners: configuration in resolved form, the emulated clock,
//! token mint, subscriptions, faults, statistics and the small record cache.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use clock::{Clock, ManualClock};
use url::Url;
use uuid::Uuid;

use crate::access_token::TokenMint;
use crate::blob_body::RecordCache;
use crate::config::{
    AppRegistration, EmulatorConfig, SubscriptionRules, TenantConfig, WebhookDelivery,
};
use crate::deterministic::tenant_key;
use crate::entra::assertion::{RegisteredCertificate, register_certificate};
use crate::faults::{FaultBook, Faults};
use crate::listing::ListingRules;
use crate::schedule::{BlobOwner, BlobSchedule};
use crate::source::{ActivitySource, GeneratedActivity};
use crate::stats::Stats;
use crate::subscriptions::SubscriptionBook;

/// One tenant, ready to serve.
#[derive(Debug)]
pub(crate) struct TenantRuntime {
    pub(crate) config: TenantConfig,
    pub(crate) key: u64,
    pub(crate) apps: Vec<AppRuntime>,
}

impl TenantRuntime {
    pub(crate) fn owner(&self) -> BlobOwner<'_> {
        BlobOwner { tenant_key: self.key, region: &self.config.region }
    }

    pub(crate) fn id(&self) -> Uuid {
        self.config.tenant_id
    }

    pub(crate) fn app(&self, client_id: Uuid) -> Option<&AppRuntime> {
        self.apps.iter().find(|app| app.registration.client_id == client_id)
    }
}

/// An app registration with its certificates parsed.
#[derive(Debug)]
pub(crate) struct AppRuntime {
    pub(crate) registration: AppRegistration,
    pub(crate) certificates: Vec<RegisteredCertificate>,
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct EmulatorState {
    pub(crate) seed: u64,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) manual_clock: Option<Arc<ManualClock>>,
    pub(crate) login_base: Url,
    /// Base of `contentUri` and `NextPageUri`.
    pub(crate) api_base: Url,
    /// Resources the token endpoints accept and the API accepts as `aud`.
    pub(crate) accepted_resources: Vec<String>,
    pub(crate) tenants: Vec<TenantRuntime>,
    pub(crate) schedule: BlobSchedule,
    pub(crate) source: Arc<dyn ActivitySource>,
    pub(crate) mint: TokenMint,
    pub(crate) page_size: usize,
    pub(crate) listing: ListingRules,
    pub(crate) subscription_rules: SubscriptionRules,
    pub(crate) webhooks: WebhookDelivery,
    pub(crate) require_https_webhooks: bool,
    pub(crate) shuffle_records: bool,
    pub(crate) faults: Mutex<FaultBook>,
    pub(crate) subscriptions: Mutex<SubscriptionBook>,
    pub(crate) stats: Mutex<Stats>,
    pub(crate) records: Mutex<RecordCache>,
    pub(crate) http: reqwest::Client,
    /// The emulated Dataverse environment (attached by `start_on` once its listener is bound).
    pub(crate) dataverse: Option<crate::dataverse::Environment>,
}

/// Locks a mutex; a poisoned lock still holds consistent data here (every critical section is
/// a few plain assignments), so the guard is taken over.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message)
}

impl EmulatorState {
    /// Resolves the configuration; `login_base` / `api_base` are the bound listeners.
    pub(crate) fn new(
        config: EmulatorConfig,
        login_base: Url,
        api_listener_base: Url,
    ) -> std::io::Result<EmulatorState> {
        let schedule = BlobSchedule::new(
            config.blob_interval,
            config.availability_latency_min,
            config.availability_latency_max,
            config.content_retention,
            config.history_start,
            config.seed,
        )
        .map_err(|e| invalid(format!("emulator config: {e}")))?;
        if config.page_size == 0 {
            return Err(invalid("emulator config: page_size must be at least 1".into()));
        }
        let mut tenants = Vec::with_capacity(config.tenants.len());
        for tenant in &config.tenants {
            if tenants.iter().any(|t: &TenantRuntime| {
                t.id() == tenant.tenant_id
                    || (!tenant.domain.is_empty()
                        && t.config.domain.eq_ignore_ascii_case(&tenant.domain))
            }) {
                return Err(invalid(format!(
                    "emulator config: tenant {} ({}) is configured twice",
                    tenant.tenant_id, tenant.domain
                )));
            }
            let mut apps = Vec::with_capacity(tenant.apps.len());
            for app in &tenant.apps {
                let certificates = app
                    .certificates_pem
                    .iter()
                    .map(|pem| register_certificate(pem))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| {
                        invalid(format!(
                            "emulator config: a certificate of app {} in tenant {}: {e}",
                            app.client_id, tenant.tenant_id
                        ))
                    })?;
                apps.push(AppRuntime { registration: app.clone(), certificates });
            }
            tenants.push(TenantRuntime {
                config: tenant.clone(),
                key: tenant_key(tenant.tenant_id),
                apps,
            });
        }
        let source: Arc<dyn ActivitySource> = match &config.activity_source {
            Some(source) => source.clone(),
            None => Arc::new(GeneratedActivity::new(
                config.seed,
                config.tenants.iter().map(|t| (t.tenant_id, t.domain.as_str())),
                &config.activity,
            )),
        };
        let api_base = config.public_api_base.clone().unwrap_or(api_listener_base.clone());
        let mut accepted_resources = config.accepted_resources.clone();
        for base in [&api_listener_base, &api_base] {
            let origin = base.origin().ascii_serialization();
            if !accepted_resources.iter().any(|r| r.eq_ignore_ascii_case(&origin)) {
                accepted_resources.push(origin);
            }
        }
        let http = reqwest::Client::builder()
            .timeout(config.webhooks.timeout)
            .build()
            .map_err(|e| std::io::Error::other(format!("cannot build the webhook client: {e}")))?;
        let mut subscriptions = SubscriptionBook::default();
        for tenant in &tenants {
            let creator = tenant.apps.first().map_or(Uuid::nil(), |a| a.registration.client_id);
            for ct in &tenant.config.pre_subscribed {
                subscriptions.pre_subscribe(tenant.id(), *ct, config.history_start, creator);
            }
        }
        Ok(EmulatorState {
            seed: config.seed,
            clock: config.clock.clone(),
            manual_clock: config.manual_clock.clone(),
            login_base,
            api_base,
            accepted_resources,
            tenants,
            schedule,
            source,
            mint: TokenMint::new(config.token_lifetime),
            page_size: config.page_size,
            listing: config.listing.clone(),
            subscription_rules: config.subscriptions.clone(),
            webhooks: config.webhooks.clone(),
            require_https_webhooks: config.require_https_webhooks,
            shuffle_records: config.shuffle_records,
            faults: Mutex::new(FaultBook::new(config.faults.clone())),
            subscriptions: Mutex::new(subscriptions),
            stats: Mutex::new(Stats::default()),
            records: Mutex::new(RecordCache::new(24)),
            http,
            dataverse: None,
        })
    }

    /// Attaches the Dataverse environment served at `base` and accepts tokens for it.
    pub(crate) fn attach_dataverse(&mut self, environment: crate::dataverse::Environment) {
        let origin = environment.base.origin().ascii_serialization();
        if !self.accepted_resources.iter().any(|r| r.eq_ignore_ascii_case(&origin)) {
            self.accepted_resources.push(origin);
        }
        self.dataverse = Some(environment);
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn tenant(&self, tenant_id: Uuid) -> Option<&TenantRuntime> {
        self.tenants.iter().find(|t| t.id() == tenant_id)
    }

    /// A tenant by GUID or verified domain (as the token endpoints accept both).
    pub(crate) fn tenant_by_name(&self, name: &str) -> Option<&TenantRuntime> {
        match Uuid::parse_str(name) {
            Ok(id) => self.tenant(id),
            Err(_) => self.tenants.iter().find(|t| t.config.domain.eq_ignore_ascii_case(name)),
        }
    }

    /// A copy of the faults in force (with "next N" counters as they stand).
    pub(crate) fn faults(&self) -> Faults {
        lock(&self.faults).faults().clone()
    }

    /// The effective page size.
    pub(crate) fn page_size(&self, faults: &Faults) -> usize {
        faults.page_size.filter(|n| *n > 0).unwrap_or(self.page_size)
    }

    /// `{api_base}/api/v1.0/{tenant}/activity/feed/` (or `v1`).
    pub(crate) fn feed_root(&self, tenant: Uuid, v1: bool) -> String {
        let base = self.api_base.as_str().trim_end_matches('/');
        let version = if v1 { "v1" } else { "v1.0" };
        format!("{base}/api/{version}/{tenant}/activity/feed")
    }

    pub(crate) fn content_uri(&self, tenant: Uuid, content_id: &str) -> String {
        format!("{}/audit/{content_id}", self.feed_root(tenant, false))
    }
}
