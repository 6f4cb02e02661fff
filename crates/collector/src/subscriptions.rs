//! Subscription commands for the configured tenants (`d365audit subscribe start|stop|list`):
//! start every configured content type (with the webhook when one is given), stop them, or list
//! what Microsoft has. One API client per tenant, built from the settings.

use std::sync::Arc;

use clock::Clock;
use o365::{ActivityClient, ContentType, StartOutcome, Subscription, Webhook};
use serde::Serialize;
use settings::{CollectorSettings, TenantSettings};

use crate::CollectorError;

/// The Management Activity API client of a configured tenant (reads its credential).
pub fn activity_client(
    tenant: &TenantSettings,
    collector: &CollectorSettings,
    clock: Arc<dyn Clock>,
) -> Result<ActivityClient, CollectorError> {
    let settings = tenant.activity_settings(collector)?;
    ActivityClient::new(settings, clock)
        .map_err(|source| CollectorError::Client { tenant: tenant.name.clone(), source })
}

/// What a start or stop did for one content type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionChange {
    pub tenant: String,
    pub content_type: String,
    /// `started`, `already enabled`, `stopped`, or the error.
    pub result: Result<String, String>,
}

/// Starts the subscription of every configured content type of `tenant` (with `webhook` when
/// given). Each content type is reported on its own; one failing does not stop the others.
pub async fn start_subscriptions(
    client: &ActivityClient,
    tenant: &TenantSettings,
    webhook: Option<&Webhook>,
) -> Vec<SubscriptionChange> {
    let mut changes = Vec::new();
    for ct in &tenant.content_types {
        let result = match client.start_subscription(*ct, webhook).await {
            Ok(StartOutcome::Started(sub)) => Ok(match sub.webhook {
                Some(hook) => format!("started, webhook {} ({:?})", hook.address, hook.status),
                None => "started".to_owned(),
            }),
            Ok(StartOutcome::AlreadyEnabled) => Ok("already enabled".to_owned()),
            Err(error) => Err(format!("{error} ({})", error.action())),
        };
        changes.push(change(tenant, *ct, result));
    }
    changes
}

/// Stops the subscription of every configured content type of `tenant`. Content can no longer
/// be listed after a stop, and a later start only shows newer content.
pub async fn stop_subscriptions(
    client: &ActivityClient,
    tenant: &TenantSettings,
) -> Vec<SubscriptionChange> {
    let mut changes = Vec::new();
    for ct in &tenant.content_types {
        let result = match client.stop_subscription(*ct).await {
            Ok(()) => Ok("stopped".to_owned()),
            Err(error) => Err(format!("{error} ({})", error.action())),
        };
        changes.push(change(tenant, *ct, result));
    }
    changes
}

/// The subscriptions Microsoft has for the tenant.
pub async fn list_subscriptions(client: &ActivityClient) -> Result<Vec<Subscription>, o365::Error> {
    client.list_subscriptions().await
}

fn change(
    tenant: &TenantSettings,
    ct: ContentType,
    result: Result<String, String>,
) -> SubscriptionChange {
    SubscriptionChange { tenant: tenant.name.clone(), content_type: ct.as_str().to_owned(), result }
}
