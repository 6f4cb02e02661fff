//! Webhook intake: notifications posted by Microsoft become queued blobs, fast (no fetching
//! here: one queue transaction). Each notification is checked first: its tenant is configured
//! (and is the one the endpoint was called for, when it names one), its content type is
//! collected for that tenant, and its `contentUri` is on that tenant's API host, below its
//! tenant's feed; otherwise it is refused and counted, never fetched.

use std::fmt;

use archive::{AnnouncedBlob, Discovery};
use o365::WebhookNotification;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use subtle::ConstantTimeEq;
use url::Url;
use uuid::Uuid;

use crate::metrics::add;
use crate::{Collector, CollectorError, Tenant};

/// Why a notification was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum RejectReason {
    /// Its `tenantId` is not a configured tenant.
    UnknownTenant { tenant_id: String },
    /// The endpoint was called for one tenant, the notification is about another.
    WrongTenant { expected: String, tenant_id: String },
    /// The tenant is configured, but this content type is not collected for it.
    ContentTypeNotCollected { content_type: String },
    /// The `contentUri` does not point at the tenant's API (a forged or misrouted notification;
    /// the token is never sent there).
    ForeignContentUri { content_uri: String },
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::UnknownTenant { tenant_id } => {
                write!(f, "tenant {tenant_id} is not configured")
            }
            RejectReason::WrongTenant { expected, tenant_id } => {
                write!(
                    f,
                    "notification for tenant {tenant_id} posted to the endpoint of {expected}"
                )
            }
            RejectReason::ContentTypeNotCollected { content_type } => {
                write!(f, "content type {content_type} is not collected for this tenant")
            }
            RejectReason::ForeignContentUri { content_uri } => {
                write!(f, "contentUri {content_uri} is not on the tenant's API")
            }
        }
    }
}

/// One refused notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedNotification {
    /// Its position in the posted array.
    pub index: usize,
    pub content_id: String,
    #[serde(flatten)]
    pub reason: RejectReason,
}

/// What the intake did with a posted array of notifications.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IntakeReceipt {
    /// Notifications accepted into the queue.
    pub accepted: u64,
    /// Of those, blobs the queue did not know yet.
    pub new: u64,
    pub rejected: Vec<RejectedNotification>,
}

/// Compares a received `Webhook-AuthID` header with the configured authId in constant time.
pub fn auth_id_matches(expected: &SecretString, received: Option<&[u8]>) -> bool {
    let Some(received) = received else { return false };
    bool::from(expected.expose_secret().as_bytes().ct_eq(received))
}

fn shorten(text: &str) -> String {
    text.chars().take(200).collect()
}

/// Whether `content_uri` is on the tenant's API origin, below `/{tenant}/activity/feed/`.
fn on_tenant_api(tenant: &Tenant, content_uri: &str) -> bool {
    let Ok(url) = Url::parse(content_uri.trim()) else { return false };
    let api = &tenant.settings.endpoints.api_base;
    if url.origin() != api.origin() || !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    let feed = format!("/{}/activity/feed/", tenant.settings.tenant_id);
    url.path().to_ascii_lowercase().contains(&feed)
}

impl Collector {
    /// Queues the blobs of webhook notifications. `tenant` is the configured tenant name when
    /// the endpoint is per tenant (`None`: the notifications' `tenantId` decides). Refused
    /// notifications are counted and listed in the receipt; an archive failure is an error
    /// (answer non-200, so Microsoft sends the notifications again).
    pub async fn accept_notifications(
        &self,
        tenant: Option<&str>,
        notifications: &[WebhookNotification],
    ) -> Result<IntakeReceipt, CollectorError> {
        let shared = &self.shared;
        let expected = tenant
            .map(|name| shared.tenants.iter().find(|t| t.settings.name.eq_ignore_ascii_case(name)));
        let mut receipt = IntakeReceipt::default();
        let mut blobs = Vec::new();
        for (index, n) in notifications.iter().enumerate() {
            let reject =
                |reason| RejectedNotification { index, content_id: shorten(&n.content_id), reason };
            let found =
                Uuid::parse_str(n.tenant_id.trim()).ok().and_then(|id| shared.tenant_by_id(id));
            let checked = match (expected, found) {
                (Some(None), _) => Err(RejectReason::UnknownTenant {
                    tenant_id: shorten(tenant.unwrap_or_default()),
                }),
                (_, None) => Err(RejectReason::UnknownTenant { tenant_id: shorten(&n.tenant_id) }),
                (Some(Some(wanted)), Some(t))
                    if wanted.settings.tenant_id != t.settings.tenant_id =>
                {
                    Err(RejectReason::WrongTenant {
                        expected: wanted.settings.name.clone(),
                        tenant_id: shorten(&n.tenant_id),
                    })
                }
                (_, Some(t)) if !t.settings.content_types.contains(&n.content_type) => {
                    Err(RejectReason::ContentTypeNotCollected {
                        content_type: n.content_type.as_str().to_owned(),
                    })
                }
                (_, Some(t)) if !on_tenant_api(t, &n.content_uri) => {
                    Err(RejectReason::ForeignContentUri { content_uri: shorten(&n.content_uri) })
                }
                (_, Some(t)) => Ok(t),
            };
            match checked {
                Ok(t) => blobs.push(AnnouncedBlob {
                    tenant_id: t.settings.tenant_id,
                    content_type: n.content_type.as_str().to_owned(),
                    content_id: n.content_id.clone(),
                    content_uri: n.content_uri.trim().to_owned(),
                    content_created: n.content_created,
                    content_expiration: n.content_expiration,
                    source: Discovery::Webhook,
                }),
                Err(reason) => receipt.rejected.push(reject(reason)),
            }
        }
        receipt.accepted = blobs.len() as u64;
        if !blobs.is_empty() {
            receipt.new = shared.archive.announce(blobs, Vec::new()).await?;
            shared.wake.notify_waiters();
        }
        add(&shared.counters.notifications_accepted, receipt.accepted);
        add(&shared.counters.notifications_new, receipt.new);
        add(&shared.counters.blobs_new, receipt.new);
        add(&shared.counters.notifications_rejected, receipt.rejected.len() as u64);
        if let Some(first) = receipt.rejected.first() {
            tracing::warn!(
                rejected = receipt.rejected.len(),
                accepted = receipt.accepted,
                first = %first.reason,
                "webhook notifications refused"
            );
        }
        tracing::debug!(
            accepted = receipt.accepted,
            new = receipt.new,
            "webhook notifications queued"
        );
        Ok(receipt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_ids_compare_exactly() {
        let expected = SecretString::from("shared-secret-1");
        assert!(auth_id_matches(&expected, Some(b"shared-secret-1")));
        assert!(!auth_id_matches(&expected, Some(b"shared-secret-2")));
        assert!(!auth_id_matches(&expected, Some(b"shared-secret-1 ")));
        assert!(!auth_id_matches(&expected, Some(b"")));
        assert!(!auth_id_matches(&expected, None));
    }
}
