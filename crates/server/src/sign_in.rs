//! Throttling of failed sign-ins: after a number of failures for one account, or from one
//! client address, within a window, further attempts are refused until the oldest failure
//! leaves the window. Kept in memory per server process (each replica counts its own).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::state::SignInLimit;

/// Beyond this many tracked keys, expired ones are dropped; beyond twice this, the map is
/// cleared (an attacker rotating addresses cannot grow memory without bound).
const MAX_KEYS: usize = 10_000;

#[derive(Debug)]
pub(crate) struct SignInLimiter {
    limit: SignInLimit,
    failures: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
}

fn account_key(username: &str) -> String {
    format!("account:{}", username.trim().to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("address:{address}")
}

impl SignInLimiter {
    pub(crate) fn new(limit: SignInLimit) -> SignInLimiter {
        SignInLimiter { limit, failures: Mutex::new(HashMap::new()) }
    }

    /// `Some(seconds to wait)` when an attempt for `username` from `address` must be refused.
    pub(crate) fn refusal(
        &self,
        username: &str,
        address: Option<&str>,
        now: DateTime<Utc>,
    ) -> Option<u64> {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let mut wait = None;
        let mut checks = vec![(account_key(username), self.limit.per_account)];
        if let Some(address) = address {
            checks.push((address_key(address), self.limit.per_address));
        }
        for (key, allowed) in checks {
            if let Some(times) = failures.get_mut(&key) {
                while times.front().is_some_and(|t| *t + self.limit.window <= now) {
                    times.pop_front();
                }
                if times.len() >= allowed.max(1) as usize {
                    let oldest = times.front().copied().unwrap_or(now);
                    let seconds = (oldest + self.limit.window - now).num_seconds().max(1) as u64;
                    wait = Some(wait.map_or(seconds, |w: u64| w.max(seconds)));
                }
            }
        }
        wait
    }

    pub(crate) fn record_failure(&self, username: &str, address: Option<&str>, now: DateTime<Utc>) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() > MAX_KEYS {
            let window = self.limit.window;
            failures.retain(|_, times| times.back().is_some_and(|t| *t + window > now));
            if failures.len() > 2 * MAX_KEYS {
                failures.clear();
            }
        }
        let mut keys = vec![account_key(username)];
        if let Some(address) = address {
            keys.push(address_key(address));
        }
        for key in keys {
            let times = failures.entry(key).or_default();
            times.push_back(now);
            // Only the newest `allowed` failures matter.
            while times.len() > 1_000 {
                times.pop_front();
            }
        }
    }

    /// A successful sign-in forgets the account's failures (not the address's).
    pub(crate) fn record_success(&self, username: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.remove(&account_key(username));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn failures_throttle_the_account_until_they_age_out() {
        let limit = SignInLimit { per_account: 3, per_address: 10, window: Duration::minutes(15) };
        let limiter = SignInLimiter::new(limit);
        let t0 = Utc.with_ymd_and_hms(2026, 6, 2, 9, 0, 0).unwrap();
        for i in 0..3 {
            assert_eq!(limiter.refusal("Alice", Some("192.0.2.1"), t0), None, "attempt {i}");
            limiter.record_failure("alice", Some("192.0.2.1"), t0);
        }
        let wait = limiter.refusal("ALICE", Some("192.0.2.9"), t0 + Duration::minutes(1));
        assert_eq!(wait, Some(14 * 60));
        assert_eq!(
            limiter.refusal("bob", Some("192.0.2.1"), t0),
            None,
            "other accounts unaffected"
        );
        assert_eq!(limiter.refusal("alice", None, t0 + Duration::minutes(15)), None);
    }

    #[test]
    fn one_address_guessing_many_accounts_is_throttled() {
        let limit = SignInLimit { per_account: 100, per_address: 4, window: Duration::minutes(5) };
        let limiter = SignInLimiter::new(limit);
        let t0 = Utc.with_ymd_and_hms(2026, 6, 2, 9, 0, 0).unwrap();
        for i in 0..4 {
            limiter.record_failure(&format!("user{i}"), Some("198.51.100.7"), t0);
        }
        assert!(limiter.refusal("someone", Some("198.51.100.7"), t0).is_some());
        assert!(limiter.refusal("someone", Some("198.51.100.8"), t0).is_none());
    }
}
