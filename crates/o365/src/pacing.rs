//! Staying under Microsoft's quotas: a client-side request pacer per tenant, the retry policy
//! (exponential backoff with full jitter, honouring `Retry-After`), and request counters for
//! metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// How fast requests may be sent for one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Sustained rate. The documented tenant quota is 2,000 requests per minute; the default
    /// (1,200) leaves room for other tools of the same tenant.
    pub requests_per_minute: u32,
    /// How many requests may go out back to back after a quiet period.
    pub burst: u32,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing { requests_per_minute: 1_200, burst: 20 }
    }
}

/// A request pacer (generic cell rate algorithm). Cloning shares the same budget, so every clone
/// of a client, and every client given the same pacer, stays under one rate together.
#[derive(Debug, Clone)]
pub struct Pacer {
    interval: Duration,
    tolerance: Duration,
    /// Theoretical arrival time of the next request.
    next: Arc<Mutex<Option<Instant>>>,
}

impl Pacer {
    /// A pacer for the given rate. A rate of 0 is treated as 1 request per minute.
    pub fn new(pacing: Pacing) -> Pacer {
        let per_minute = pacing.requests_per_minute.max(1);
        let interval = Duration::from_secs(60) / per_minute;
        let tolerance = interval * pacing.burst.max(1).saturating_sub(1);
        Pacer { interval, tolerance, next: Arc::new(Mutex::new(None)) }
    }

    /// Waits until one more request may be sent, and reserves it.
    pub async fn acquire(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tracing::trace!(wait_ms = wait.as_millis() as u64, "pacing request");
            tokio::time::sleep(wait).await;
        }
    }

    /// Reserves a slot for a request arriving at `now`; returns how long to wait for it.
    fn reserve(&self, now: Instant) -> Duration {
        // A poisoned lock still holds a valid instant.
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let tat = next.map_or(now, |t| t.max(now));
        let allowed_at = tat.checked_sub(self.tolerance).unwrap_or(now);
        *next = Some(tat + self.interval);
        allowed_at.saturating_duration_since(now)
    }
}

/// How often and how patiently failed requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (1 = no retry).
    pub max_attempts: u32,
    /// Backoff base: the n-th retry waits a random time in `[0, base * 2^(n-1)]`.
    pub base_delay: Duration,
    /// No single wait is longer than this (also caps `Retry-After`).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): full jitter over the exponential
    /// ceiling, or `retry_after` when the service named a delay; never above `max_delay`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_delay);
        }
        let ceiling = self.ceiling(retry);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }

    /// The upper bound of the jittered wait before retry number `retry`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(30));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Counters of what a client did, shared by all its clones (for metrics).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    unauthorized: AtomicU64,
}

/// A snapshot of a client's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestCounters {
    /// HTTP requests sent to the API (every attempt).
    pub requests: u64,
    /// Requests sent again after a retryable failure.
    pub retries: u64,
    /// Throttling answers received (AF429, HTTP 429).
    pub throttled: u64,
    /// 401 answers received (each followed by at most one token refresh).
    pub unauthorized: u64,
}

impl Counters {
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn unauthorized(&self) {
        self.unauthorized.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn snapshot(&self) -> RequestCounters {
        RequestCounters {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_allows_a_burst_then_spaces_requests() {
        let pacer = Pacer::new(Pacing { requests_per_minute: 600, burst: 3 });
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..6).map(|_| pacer.reserve(t0)).collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![0, 0, 0, 100, 200, 300]);
        // After a quiet period the burst is available again.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(pacer.reserve(later), Duration::ZERO);
    }

    #[test]
    fn clones_share_the_budget() {
        let a = Pacer::new(Pacing { requests_per_minute: 60, burst: 1 });
        let b = a.clone();
        let t0 = Instant::now();
        assert_eq!(a.reserve(t0), Duration::ZERO);
        assert_eq!(b.reserve(t0), Duration::from_secs(1));
        assert_eq!(a.reserve(t0), Duration::from_secs(2));
    }

    #[test]
    fn backoff_is_jittered_under_an_exponential_ceiling() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(policy.ceiling(1), Duration::from_millis(100));
        assert_eq!(policy.ceiling(2), Duration::from_millis(200));
        assert_eq!(policy.ceiling(4), Duration::from_millis(800));
        assert_eq!(policy.ceiling(5), Duration::from_secs(1));
        assert_eq!(policy.ceiling(500), Duration::from_secs(1));
        let delays: Vec<Duration> = (0..200).map(|_| policy.delay(3, None)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(400)));
        // Full jitter: values spread over the range rather than sitting at the ceiling.
        assert!(delays.iter().any(|d| *d < Duration::from_millis(200)));
        assert!(delays.iter().any(|d| *d > Duration::from_millis(200)));
    }

    #[test]
    fn retry_after_is_honoured_up_to_max_delay() {
        let policy = RetryPolicy { max_delay: Duration::from_secs(30), ..RetryPolicy::default() };
        assert_eq!(policy.delay(1, Some(Duration::from_secs(7))), Duration::from_secs(7));
        assert_eq!(policy.delay(1, Some(Duration::from_secs(300))), Duration::from_secs(30));
    }
}
