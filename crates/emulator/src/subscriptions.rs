//! Subscriptions per tenant × content type (reference §1.3-§1.6): enabled or stopped, since
//! when content is visible, the validated webhook with its pending deliveries, and the
//! notification history (§1.10).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use url::Url;
use uuid::Uuid;

use crate::api_error::{ApiError, af, too_many_requests};
use crate::config::SubscriptionRules;
use crate::content_type::ContentType;
use crate::schedule::ContentBlob;
use crate::wire_time::format_wire;

/// All subscriptions and notification histories.
#[derive(Debug, Default)]
pub(crate) struct SubscriptionBook {
    pub(crate) subscriptions: BTreeMap<(Uuid, ContentType), Subscription>,
    pub(crate) history: HashMap<(Uuid, ContentType), Vec<NotificationEntry>>,
    generations: u64,
}

// Gap: the order of `subscriptions/list` is undocumented; the emulator lists subscriptions in
// the order they were created (pre-subscribed ones first), as the reference's sample suggests.

/// One subscription.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    /// Creation order (the order of `subscriptions/list`).
    pub(crate) order: u64,
    pub(crate) enabled: bool,
    /// Content created before this is never listed (a restart loses the gap for good).
    pub(crate) visible_from: DateTime<Utc>,
    /// Last start that changed something (for the 15-minute rule).
    pub(crate) last_start: Option<DateTime<Utc>>,
    /// The app that created the subscription (`clientId` of notifications).
    pub(crate) client_id: Uuid,
    pub(crate) webhook: Option<Webhook>,
}

/// A validated webhook.
#[derive(Clone)]
pub(crate) struct Webhook {
    pub(crate) address: Url,
    pub(crate) auth_id: Option<String>,
    pub(crate) expiration: Option<DateTime<Utc>>,
    /// Set after persistent delivery failures; re-enabled by a new start.
    pub(crate) disabled: bool,
    /// Distinguishes this webhook from a later one at the same subscription.
    pub(crate) generation: u64,
    /// Blobs that became listable up to here have been handed to deliveries.
    pub(crate) notified_through: DateTime<Utc>,
    pub(crate) pending: Vec<Delivery>,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("address", &self.address.as_str())
            .field("auth_id", &self.auth_id.as_ref().map(|_| "<redacted>"))
            .field("expiration", &self.expiration)
            .field("disabled", &self.disabled)
            .field("generation", &self.generation)
            .field("notified_through", &self.notified_through)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Webhook {
    /// `enabled`, `disabled` or `expired`.
    pub(crate) fn status(&self, now: DateTime<Utc>) -> &'static str {
        if self.disabled {
            "disabled"
        } else if self.expiration.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "enabled"
        }
    }

    fn matches(&self, request: &WebhookRequest) -> bool {
        self.address == request.address
            && self.auth_id == request.auth_id
            && self.expiration == request.expiration
    }
}

/// A batch of notifications waiting for its (next) attempt.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) blobs: Vec<ContentBlob>,
    pub(crate) attempt: u32,
    pub(crate) due: DateTime<Utc>,
}

/// One notification attempt for one blob.
#[derive(Debug, Clone)]
pub(crate) struct NotificationEntry {
    pub(crate) blob: ContentBlob,
    pub(crate) sent: DateTime<Utc>,
    pub(crate) success: bool,
}

/// The webhook part of a start request, already checked.
#[derive(Clone)]
pub(crate) struct WebhookRequest {
    pub(crate) address: Url,
    pub(crate) auth_id: Option<String>,
    pub(crate) expiration: Option<DateTime<Utc>>,
}

impl fmt::Debug for WebhookRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRequest")
            .field("address", &self.address.as_str())
            .field("auth_id", &self.auth_id.as_ref().map(|_| "<redacted>"))
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// `{contentType, status, webhook}` as `start` and `list` return it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubscriptionView {
    pub(crate) content_type: ContentType,
    pub(crate) status: &'static str,
    pub(crate) webhook: Option<WebhookView>,
}

/// The webhook as the API echoes it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WebhookView {
    pub(crate) status: &'static str,
    pub(crate) address: String,
    pub(crate) auth_id: Option<String>,
    pub(crate) expiration: Option<String>,
}

fn view(ct: ContentType, sub: &Subscription, now: DateTime<Utc>) -> SubscriptionView {
    SubscriptionView {
        content_type: ct,
        status: if sub.enabled { "enabled" } else { "disabled" },
        webhook: sub.webhook.as_ref().map(|w| WebhookView {
            status: w.status(now),
            address: w.address.to_string(),
            auth_id: w.auth_id.clone(),
            expiration: w.expiration.map(format_wire),
        }),
    }
}

impl SubscriptionBook {
    /// A subscription that exists since `since` without anyone calling start.
    pub(crate) fn pre_subscribe(
        &mut self,
        tenant: Uuid,
        ct: ContentType,
        since: DateTime<Utc>,
        client_id: Uuid,
    ) {
        self.generations += 1;
        let order = self.generations;
        self.subscriptions.insert(
            (tenant, ct),
            Subscription {
                order,
                enabled: true,
                visible_from: since,
                last_start: None,
                client_id,
                webhook: None,
            },
        );
    }

    /// The subscription list/content/notifications/blob GETs need: `AF20022` when missing,
    /// `AF20023` when stopped.
    pub(crate) fn active(&self, tenant: Uuid, ct: ContentType) -> Result<&Subscription, ApiError> {
        match self.subscriptions.get(&(tenant, ct)) {
            None => Err(af(
                "AF20022",
                format!("No subscription found for the specified content type: {ct}."),
            )),
            Some(sub) if !sub.enabled => Err(af("AF20023", "The subscription was disabled.")),
            Some(sub) => Ok(sub),
        }
    }

    /// Checks a start request before any webhook validation: the 15-minute rule, then
    /// `AF20024` for a start that changes nothing.
    pub(crate) fn check_start(
        &self,
        tenant: Uuid,
        ct: ContentType,
        request: Option<&WebhookRequest>,
        publisher: Option<&str>,
        now: DateTime<Utc>,
        rules: &SubscriptionRules,
    ) -> Result<(), ApiError> {
        let Some(sub) = self.subscriptions.get(&(tenant, ct)) else { return Ok(()) };
        if sub.last_start.is_some_and(|last| now < last + rules.start_cooldown) {
            return Err(too_many_requests(
                "StartSubscription",
                publisher,
                rules.cooldown_status,
                None,
            ));
        }
        let unchanged = match (&sub.webhook, request) {
            (None, None) => true,
            (Some(current), Some(request)) => current.matches(request) && !current.disabled,
            _ => false,
        };
        if sub.enabled && unchanged && rules.already_enabled_error {
            return Err(af("AF20024", "The subscription is already enabled. No property change."));
        }
        Ok(())
    }

    /// Applies a start whose webhook (if any) was validated.
    pub(crate) fn apply_start(
        &mut self,
        tenant: Uuid,
        ct: ContentType,
        request: Option<WebhookRequest>,
        client_id: Uuid,
        now: DateTime<Utc>,
        rules: &SubscriptionRules,
    ) -> SubscriptionView {
        self.generations += 1;
        let generation = self.generations;
        let sub = self.subscriptions.entry((tenant, ct)).or_insert(Subscription {
            order: generation,
            enabled: false,
            visible_from: now,
            last_start: None,
            client_id,
            webhook: None,
        });
        if !sub.enabled {
            sub.enabled = true;
            sub.visible_from = now - rules.backfill;
            sub.client_id = client_id;
        }
        sub.last_start = Some(now);
        let keep = match (&sub.webhook, &request) {
            (Some(current), Some(request)) => current.matches(request) && !current.disabled,
            _ => false,
        };
        if !keep {
            sub.webhook = request.map(|request| Webhook {
                address: request.address,
                auth_id: request.auth_id,
                expiration: request.expiration,
                disabled: false,
                generation,
                notified_through: now,
                pending: Vec::new(),
            });
        }
        view(ct, sub, now)
    }

    /// Stops a subscription: nothing is listed or notified until the next start.
    pub(crate) fn stop(&mut self, tenant: Uuid, ct: ContentType) -> Result<(), ApiError> {
        let sub = self.subscriptions.get_mut(&(tenant, ct)).ok_or_else(|| {
            af("AF20022", format!("No subscription found for the specified content type: {ct}."))
        })?;
        sub.enabled = false;
        if let Some(webhook) = sub.webhook.as_mut() {
            webhook.pending.clear();
        }
        Ok(())
    }

    /// `subscriptions/list`: every content type ever started, stopped ones as `disabled`.
    pub(crate) fn list(&self, tenant: Uuid, now: DateTime<Utc>) -> Vec<SubscriptionView> {
        let mut subscriptions: Vec<_> = self
            .subscriptions
            .range((tenant, ContentType::ALL[0])..=(tenant, ContentType::ALL[4]))
            .collect();
        subscriptions.sort_by_key(|(_, sub)| sub.order);
        subscriptions.into_iter().map(|((_, ct), sub)| view(*ct, sub, now)).collect()
    }

    pub(crate) fn notifications(&self, tenant: Uuid, ct: ContentType) -> &[NotificationEntry] {
        self.history.get(&(tenant, ct)).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
    }

    fn hook(address: &str) -> WebhookRequest {
        WebhookRequest {
            address: address.parse().unwrap(),
            auth_id: Some("a".into()),
            expiration: None,
        }
    }

    const T: Uuid = Uuid::nil();
    const CT: ContentType = ContentType::AuditGeneral;

    fn code(result: Result<(), ApiError>) -> &'static str {
        match result {
            Ok(()) => "ok",
            Err(ApiError::Af { code, .. }) => code,
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn start_rules_cooldown_then_no_change() {
        let rules = SubscriptionRules::default();
        let mut book = SubscriptionBook::default();
        assert_eq!(code(book.check_start(T, CT, None, None, now(), &rules)), "ok");
        let view = book.apply_start(T, CT, None, Uuid::nil(), now(), &rules);
        assert_eq!(view.status, "enabled");
        assert!(view.webhook.is_none());
        // Within 15 minutes: AF429, whatever the request.
        let soon = now() + Duration::minutes(5);
        assert_eq!(code(book.check_start(T, CT, None, None, soon, &rules)), "AF429");
        // Later, no change: AF20024; with a new webhook: allowed.
        let later = now() + Duration::minutes(16);
        assert_eq!(code(book.check_start(T, CT, None, None, later, &rules)), "AF20024");
        let request = hook("https://hooks.example.net/o365");
        assert_eq!(code(book.check_start(T, CT, Some(&request), None, later, &rules)), "ok");
        let relaxed = SubscriptionRules { already_enabled_error: false, ..rules };
        assert_eq!(code(book.check_start(T, CT, None, None, later, &relaxed)), "ok");
    }

    #[test]
    fn stop_hides_and_restart_moves_visibility() {
        let rules = SubscriptionRules::default();
        let mut book = SubscriptionBook::default();
        book.pre_subscribe(T, CT, now() - Duration::days(7), Uuid::nil());
        assert!(book.active(T, CT).is_ok());
        assert_eq!(code(book.active(T, ContentType::DlpAll).map(|_| ())), "AF20022");
        book.stop(T, CT).unwrap();
        assert_eq!(code(book.active(T, CT).map(|_| ())), "AF20023");
        assert_eq!(book.list(T, now())[0].status, "disabled");
        let restart = now() + Duration::hours(1);
        book.apply_start(T, CT, Some(hook("https://h.example/x")), Uuid::nil(), restart, &rules);
        let sub = book.active(T, CT).unwrap();
        assert_eq!(sub.visible_from, restart);
        let listed = book.list(T, restart);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].webhook.as_ref().unwrap().status, "enabled");
        assert!(book.list(Uuid::max(), restart).is_empty());
    }

    #[test]
    fn webhook_status_reports_expiry_and_disabling() {
        let mut webhook = Webhook {
            address: "https://h.example/x".parse().unwrap(),
            auth_id: Some("shared-secret".into()),
            expiration: Some(now()),
            disabled: false,
            generation: 1,
            notified_through: now(),
            pending: Vec::new(),
        };
        assert_eq!(webhook.status(now() - Duration::seconds(1)), "enabled");
        assert_eq!(webhook.status(now()), "expired");
        webhook.disabled = true;
        assert_eq!(webhook.status(now() - Duration::days(1)), "disabled");
        assert!(!format!("{webhook:?}").contains("shared-secret"));
    }
}
