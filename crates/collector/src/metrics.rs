//! What the collector counts, as plain data for `/metrics`, `status` and the summary of
//! `collect --once`: counters since start, the live state of every feed, and per-tenant request
//! counters of the API client (throttling included).

use std::collections::BTreeMap;
use std::ops::Sub;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use o365::RequestCounters;
use serde::Serialize;
use uuid::Uuid;

use crate::feed::FeedKey;

/// Event counters (monotonic since the collector was built).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) windows_listed: AtomicU64,
    pub(crate) listing_failures: AtomicU64,
    pub(crate) windows_lost: AtomicU64,
    pub(crate) resubscribes: AtomicU64,
    pub(crate) blobs_listed: AtomicU64,
    pub(crate) blobs_new: AtomicU64,
    pub(crate) blobs_done: AtomicU64,
    pub(crate) blobs_retrying: AtomicU64,
    pub(crate) blobs_expired: AtomicU64,
    pub(crate) blobs_quarantined: AtomicU64,
    pub(crate) blobs_failed: AtomicU64,
    pub(crate) leases_lost: AtomicU64,
    pub(crate) records_kept: AtomicU64,
    pub(crate) duplicates_skipped: AtomicU64,
    pub(crate) duplicate_variants: AtomicU64,
    pub(crate) out_of_scope: AtomicU64,
    pub(crate) records_quarantined: AtomicU64,
    pub(crate) notifications_accepted: AtomicU64,
    pub(crate) notifications_new: AtomicU64,
    pub(crate) notifications_rejected: AtomicU64,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    /// Listing windows fully listed and queued.
    pub windows_listed: u64,
    /// Listing attempts of a window that failed (the window is retried, never skipped).
    pub listing_failures: u64,
    /// Ranges of `contentCreated` that could no longer be listed (gaps).
    pub windows_lost: u64,
    /// Subscriptions started again after AF20022 / AF20023.
    pub resubscribes: u64,
    /// Blobs listed (the trailing overlap lists some again).
    pub blobs_listed: u64,
    /// Blobs new to the queue (from listings and notifications).
    pub blobs_new: u64,
    /// Blobs fetched and stored.
    pub blobs_done: u64,
    /// Blob attempts that failed and were scheduled again.
    pub blobs_retrying: u64,
    /// Gap: blobs that expired before they could be fetched.
    pub blobs_expired: u64,
    /// Gap: blobs that are not JSON arrays of records (their bytes are in quarantine).
    pub blobs_quarantined: u64,
    /// Gap: blobs given up after repeated failures.
    pub blobs_failed: u64,
    /// Blobs whose lease ran out before they were settled (someone else redoes them).
    pub leases_lost: u64,
    /// Records stored for the first time.
    pub records_kept: u64,
    /// Records already stored (Microsoft duplicates by design).
    pub duplicates_skipped: u64,
    /// Of the duplicates, those whose bytes differed (kept as evidence beside the record).
    pub duplicate_variants: u64,
    /// Records outside the configured workloads (counted, not stored).
    pub out_of_scope: u64,
    /// Records that did not parse (kept in quarantine with their bytes).
    pub records_quarantined: u64,
    /// Webhook notifications accepted into the queue.
    pub notifications_accepted: u64,
    /// Of those, blobs the queue did not know yet.
    pub notifications_new: u64,
    /// Webhook notifications refused (unknown tenant, content type not collected, foreign
    /// contentUri).
    pub notifications_rejected: u64,
}

impl CounterSnapshot {
    /// Blobs and windows lost: the sum of every gap counter.
    pub fn gaps(&self) -> u64 {
        self.blobs_expired + self.blobs_quarantined + self.blobs_failed + self.windows_lost
    }
}

impl Sub for CounterSnapshot {
    type Output = CounterSnapshot;
    fn sub(self, o: CounterSnapshot) -> CounterSnapshot {
        CounterSnapshot {
            windows_listed: self.windows_listed - o.windows_listed,
            listing_failures: self.listing_failures - o.listing_failures,
            windows_lost: self.windows_lost - o.windows_lost,
            resubscribes: self.resubscribes - o.resubscribes,
            blobs_listed: self.blobs_listed - o.blobs_listed,
            blobs_new: self.blobs_new - o.blobs_new,
            blobs_done: self.blobs_done - o.blobs_done,
            blobs_retrying: self.blobs_retrying - o.blobs_retrying,
            blobs_expired: self.blobs_expired - o.blobs_expired,
            blobs_quarantined: self.blobs_quarantined - o.blobs_quarantined,
            blobs_failed: self.blobs_failed - o.blobs_failed,
            leases_lost: self.leases_lost - o.leases_lost,
            records_kept: self.records_kept - o.records_kept,
            duplicates_skipped: self.duplicates_skipped - o.duplicates_skipped,
            duplicate_variants: self.duplicate_variants - o.duplicate_variants,
            out_of_scope: self.out_of_scope - o.out_of_scope,
            records_quarantined: self.records_quarantined - o.records_quarantined,
            notifications_accepted: self.notifications_accepted - o.notifications_accepted,
            notifications_new: self.notifications_new - o.notifications_new,
            notifications_rejected: self.notifications_rejected - o.notifications_rejected,
        }
    }
}

impl Counters {
    pub(crate) fn snapshot(&self) -> CounterSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            windows_listed: r(&self.windows_listed),
            listing_failures: r(&self.listing_failures),
            windows_lost: r(&self.windows_lost),
            resubscribes: r(&self.resubscribes),
            blobs_listed: r(&self.blobs_listed),
            blobs_new: r(&self.blobs_new),
            blobs_done: r(&self.blobs_done),
            blobs_retrying: r(&self.blobs_retrying),
            blobs_expired: r(&self.blobs_expired),
            blobs_quarantined: r(&self.blobs_quarantined),
            blobs_failed: r(&self.blobs_failed),
            leases_lost: r(&self.leases_lost),
            records_kept: r(&self.records_kept),
            duplicates_skipped: r(&self.duplicates_skipped),
            duplicate_variants: r(&self.duplicate_variants),
            out_of_scope: r(&self.out_of_scope),
            records_quarantined: r(&self.records_quarantined),
            notifications_accepted: r(&self.notifications_accepted),
            notifications_new: r(&self.notifications_new),
            notifications_rejected: r(&self.notifications_rejected),
        }
    }
}

/// How a feed's last listing round ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum FeedOutcome {
    /// Listed completely up to the round's start.
    CaughtUp,
    /// Listed completely, but the feed has never had content: normal for a new subscription
    /// (Microsoft takes up to 12 hours to publish the first blobs).
    AwaitingFirstContent,
    /// A window could not be listed; the cursor stays and the window is retried next round.
    Failing {
        error: String,
        /// What to do about it (from the error taxonomy).
        action: String,
        /// Whether a person has to act (configuration, permissions, sign-in).
        operator_action: bool,
    },
    /// The collector was asked to stop before the feed was caught up.
    Interrupted,
}

/// The live state of one feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedMetrics {
    pub tenant: String,
    pub tenant_id: Uuid,
    pub content_type: String,
    /// How far `contentCreated` is listed completely.
    pub listed_until: Option<DateTime<Utc>>,
    /// Seconds between now and `listed_until`.
    pub lag_seconds: Option<i64>,
    pub last_round_at: Option<DateTime<Utc>>,
    pub outcome: Option<FeedOutcome>,
}

/// Request counters of one tenant's API client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TenantRequests {
    pub requests: u64,
    pub retries: u64,
    /// AF429 / HTTP 429 answers.
    pub throttled: u64,
    pub unauthorized: u64,
}

impl From<RequestCounters> for TenantRequests {
    fn from(c: RequestCounters) -> Self {
        TenantRequests {
            requests: c.requests,
            retries: c.retries,
            throttled: c.throttled,
            unauthorized: c.unauthorized,
        }
    }
}

/// Per tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantMetrics {
    pub tenant: String,
    pub tenant_id: Uuid,
    pub requests: TenantRequests,
}

/// Everything the collector counts, as plain data (blob counts by state are in the archive:
/// see [`crate::Collector::status`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectorMetrics {
    pub at: DateTime<Utc>,
    pub counters: CounterSnapshot,
    pub tenants: Vec<TenantMetrics>,
    pub feeds: Vec<FeedMetrics>,
}

impl CollectorMetrics {
    /// Writes the metrics in the Prometheus text exposition format (complete families with
    /// `# HELP` and `# TYPE`), for a `/metrics` endpoint.
    pub fn write_prometheus(&self, out: &mut String) {
        use std::fmt::Write as _;
        let c = &self.counters;
        let counters: [(&str, u64, &str); 20] = [
            ("windows_listed", c.windows_listed, "Listing windows fully listed and queued."),
            (
                "listing_failures",
                c.listing_failures,
                "Listing attempts that failed (retried next round).",
            ),
            ("windows_lost", c.windows_lost, "Ranges that could no longer be listed (gaps)."),
            ("resubscribes", c.resubscribes, "Subscriptions started again after AF20022/AF20023."),
            ("blobs_listed", c.blobs_listed, "Blobs listed (overlap included)."),
            ("blobs_new", c.blobs_new, "Blobs new to the queue."),
            ("blobs_done", c.blobs_done, "Blobs fetched and stored."),
            ("blobs_retrying", c.blobs_retrying, "Blob attempts that failed and were rescheduled."),
            (
                "blobs_expired",
                c.blobs_expired,
                "Blobs that expired before they were fetched (gaps).",
            ),
            (
                "blobs_quarantined",
                c.blobs_quarantined,
                "Blobs that are not JSON arrays of records (gaps).",
            ),
            ("blobs_failed", c.blobs_failed, "Blobs given up after repeated failures (gaps)."),
            ("leases_lost", c.leases_lost, "Blobs whose lease ran out before they were settled."),
            ("records_kept", c.records_kept, "Records stored for the first time."),
            ("duplicates_skipped", c.duplicates_skipped, "Records already stored."),
            ("duplicate_variants", c.duplicate_variants, "Duplicates whose bytes differed."),
            ("out_of_scope", c.out_of_scope, "Records outside the configured workloads."),
            ("records_quarantined", c.records_quarantined, "Records that did not parse."),
            ("notifications_accepted", c.notifications_accepted, "Webhook notifications queued."),
            ("notifications_new", c.notifications_new, "Webhook notifications of new blobs."),
            ("notifications_rejected", c.notifications_rejected, "Webhook notifications refused."),
        ];
        for (name, value, help) in counters {
            let _ = writeln!(out, "# HELP d365audit_collector_{name}_total {help}");
            let _ = writeln!(out, "# TYPE d365audit_collector_{name}_total counter");
            let _ = writeln!(out, "d365audit_collector_{name}_total {value}");
        }
        /// Metric name, how to read it, help text.
        type RequestFamily = (&'static str, fn(&TenantRequests) -> u64, &'static str);
        let requests: [RequestFamily; 4] = [
            ("requests", |r| r.requests, "Management Activity API requests sent."),
            ("retries", |r| r.retries, "Requests sent again after a retryable failure."),
            ("throttled", |r| r.throttled, "Throttling answers (AF429, HTTP 429)."),
            ("unauthorized", |r| r.unauthorized, "401 answers (each refreshes the token once)."),
        ];
        for (name, value, help) in requests {
            let _ = writeln!(out, "# HELP d365audit_api_{name}_total {help}");
            let _ = writeln!(out, "# TYPE d365audit_api_{name}_total counter");
            for t in &self.tenants {
                let _ = writeln!(
                    out,
                    "d365audit_api_{name}_total{{tenant=\"{}\"}} {}",
                    label(&t.tenant),
                    value(&t.requests)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP d365audit_feed_lag_seconds Seconds between now and how far the feed is listed."
        );
        let _ = writeln!(out, "# TYPE d365audit_feed_lag_seconds gauge");
        for f in &self.feeds {
            if let Some(lag) = f.lag_seconds {
                let _ = writeln!(
                    out,
                    "d365audit_feed_lag_seconds{{tenant=\"{}\",content_type=\"{}\"}} {lag}",
                    label(&f.tenant),
                    label(&f.content_type)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP d365audit_feed_failing Whether the feed's last listing round failed."
        );
        let _ = writeln!(out, "# TYPE d365audit_feed_failing gauge");
        for f in &self.feeds {
            let failing = matches!(f.outcome, Some(FeedOutcome::Failing { .. }));
            let _ = writeln!(
                out,
                "d365audit_feed_failing{{tenant=\"{}\",content_type=\"{}\"}} {}",
                label(&f.tenant),
                label(&f.content_type),
                u8::from(failing)
            );
        }
    }
}

/// Escapes a Prometheus label value.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The live feed table, updated by the pollers.
#[derive(Debug, Default)]
pub(crate) struct FeedBoard {
    feeds: Mutex<BTreeMap<FeedKey, FeedMetrics>>,
}

impl FeedBoard {
    pub(crate) fn update(&self, key: &FeedKey, change: impl FnOnce(&mut FeedMetrics)) {
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = feeds.get_mut(key) {
            change(entry);
        }
    }

    pub(crate) fn register(&self, key: FeedKey, tenant: &str) {
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds.entry(key.clone()).or_insert(FeedMetrics {
            tenant: tenant.to_owned(),
            tenant_id: key.tenant_id,
            content_type: key.content_type,
            listed_until: None,
            lag_seconds: None,
            last_round_at: None,
            outcome: None,
        });
    }

    pub(crate) fn snapshot(&self, now: DateTime<Utc>) -> Vec<FeedMetrics> {
        let feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds
            .values()
            .map(|f| FeedMetrics {
                lag_seconds: f.listed_until.map(|until| (now - until).num_seconds().max(0)),
                ..f.clone()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_complete_families_and_escaped_labels() {
        let metrics = CollectorMetrics {
            at: DateTime::<Utc>::MIN_UTC,
            counters: CounterSnapshot { records_kept: 42, blobs_expired: 1, ..Default::default() },
            tenants: vec![TenantMetrics {
                tenant: "con\"toso".into(),
                tenant_id: Uuid::nil(),
                requests: TenantRequests { requests: 9, retries: 2, throttled: 1, unauthorized: 0 },
            }],
            feeds: vec![FeedMetrics {
                tenant: "contoso".into(),
                tenant_id: Uuid::nil(),
                content_type: "Audit.General".into(),
                listed_until: None,
                lag_seconds: Some(60),
                last_round_at: None,
                outcome: Some(FeedOutcome::Failing {
                    error: "e".into(),
                    action: "a".into(),
                    operator_action: false,
                }),
            }],
        };
        let mut text = String::new();
        metrics.write_prometheus(&mut text);
        assert!(text.contains("# TYPE d365audit_collector_records_kept_total counter\n"));
        assert!(text.contains("d365audit_collector_records_kept_total 42\n"));
        assert!(
            text.contains("d365audit_api_throttled_total{tenant=\"con\\\"toso\"} 1\n"),
            "{text}"
        );
        assert!(text.contains(
            "d365audit_feed_lag_seconds{tenant=\"contoso\",content_type=\"Audit.General\"} 60\n"
        ));
        assert!(text.contains(
            "d365audit_feed_failing{tenant=\"contoso\",content_type=\"Audit.General\"} 1\n"
        ));
        assert_eq!(metrics.counters.gaps(), 1);
    }
}
