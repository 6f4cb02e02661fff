//! Switchable faults (reference §1.15): throttling, internal errors, expired / malformed /
//! duplicated / late blobs, tiny pages and the `NextPageUrl` spelling. Switchable at run time
//! through `RunningEmulator::set_faults` and `PUT /_emulator/faults`; every per-blob choice is a
//! pure function of the seed and the content ID, so runs repeat.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::dataverse::DataverseFaults;
use crate::durations::chrono_text;

/// The faults in force. `Faults::default()` is a healthy service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// `AF429` on chosen requests.
    pub throttle: Option<Throttle>,
    /// The documented per-tenant quota: more API requests than this in one (emulated) minute get
    /// `AF429` (status and `Retry-After` from `throttle` when set, else 403 without it).
    pub tenant_quota_per_minute: Option<u32>,
    /// `AF50000` (HTTP 500) on every Nth API request.
    pub internal_error_every: Option<u32>,
    /// `AF50000` on the next N API requests (counts down).
    pub internal_error_next: u32,
    /// Share of listed blobs whose GET answers `AF20051` (expired) although they are listed.
    pub expired_blob_fraction: f64,
    /// Share of blobs whose GET returns truncated, invalid JSON.
    pub malformed_blob_fraction: f64,
    /// Share of a blob's records that are repeated (same `Id`, same bytes) in the next blob.
    pub duplicate_fraction: f64,
    /// Share of a blob's records that arrive only in the next blob (events out of order across
    /// blobs).
    pub straggler_fraction: f64,
    /// Share of blobs that become listable only `late_blob_delay` after their `contentCreated`.
    pub late_blob_fraction: f64,
    #[serde(with = "chrono_text")]
    pub late_blob_delay: Duration,
    /// Nothing becomes listable until this long after a subscription starts (documented: first
    /// blobs may take up to 12 h). Content created meanwhile appears when the delay is over.
    #[serde(with = "chrono_text")]
    pub first_blob_delay: Duration,
    /// Overrides `EmulatorConfig::page_size` (tiny pages exercise `NextPageUri` loops).
    pub page_size: Option<usize>,
    /// Name of the paging header: `NextPageUri` (current) or `NextPageUrl` (historical typo).
    pub next_page_header: String,
    /// Write `/api/v1/` instead of `/api/v1.0/` into next-page URLs (as the documentation's
    /// sample does); both are served.
    pub next_page_path_v1: bool,
    /// Faults of the emulated Dataverse environment.
    pub dataverse: DataverseFaults,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            throttle: None,
            tenant_quota_per_minute: None,
            internal_error_every: None,
            internal_error_next: 0,
            expired_blob_fraction: 0.0,
            malformed_blob_fraction: 0.0,
            duplicate_fraction: 0.0,
            straggler_fraction: 0.0,
            late_blob_fraction: 0.0,
            late_blob_delay: Duration::hours(2),
            first_blob_delay: Duration::zero(),
            page_size: None,
            next_page_header: "NextPageUri".to_owned(),
            next_page_path_v1: false,
            dataverse: DataverseFaults::default(),
        }
    }
}

/// Which requests get `AF429`, and how it looks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Throttle {
    /// Every Nth API request (counted from when these faults were set).
    pub every: Option<u32>,
    /// The next N API requests (counts down).
    pub next: u32,
    /// 403 (the documented sample) or 429.
    pub status: u16,
    /// Adds `Retry-After: N` (not documented for this API).
    pub retry_after_seconds: Option<u64>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle { every: None, next: 0, status: 403, retry_after_seconds: None }
    }
}

impl Throttle {
    /// Throttles every Nth request with the documented 403.
    pub fn every(n: u32) -> Throttle {
        Throttle { every: Some(n), ..Throttle::default() }
    }

    /// Throttles the next N requests with the documented 403.
    pub fn next(n: u32) -> Throttle {
        Throttle { next: n, ..Throttle::default() }
    }

    /// Uses this HTTP status (403 or 429).
    pub fn with_status(self, status: u16) -> Throttle {
        Throttle { status, ..self }
    }

    /// Adds a `Retry-After` header.
    pub fn with_retry_after(self, seconds: u64) -> Throttle {
        Throttle { retry_after_seconds: Some(seconds), ..self }
    }
}

/// A fault that replaces a whole API response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequestFault {
    Throttled { status: u16, retry_after_seconds: Option<u64> },
    InternalError,
}

/// The faults in force plus the counters the "every Nth" / "next N" switches need.
#[derive(Debug)]
pub(crate) struct FaultBook {
    faults: Faults,
    requests: u64,
    quota: HashMap<Uuid, (i64, u32)>,
}

impl FaultBook {
    pub(crate) fn new(faults: Faults) -> FaultBook {
        FaultBook { faults, requests: 0, quota: HashMap::new() }
    }

    pub(crate) fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The Dataverse section, for consuming its "next N" counters.
    pub(crate) fn dataverse_mut(&mut self) -> &mut DataverseFaults {
        &mut self.faults.dataverse
    }

    /// Replaces the faults and restarts the request counter.
    pub(crate) fn replace(&mut self, faults: Faults) {
        *self = FaultBook::new(faults);
    }

    /// Decides whether this API request (for `tenant`, at `now`) fails.
    pub(crate) fn on_request(&mut self, tenant: Uuid, now: DateTime<Utc>) -> Option<RequestFault> {
        self.requests += 1;
        let n = self.requests;
        let every =
            |every: Option<u32>| every.is_some_and(|e| e > 0 && n.is_multiple_of(u64::from(e)));
        if let Some(throttle) = self.faults.throttle.as_mut() {
            let hit = if throttle.next > 0 {
                throttle.next -= 1;
                true
            } else {
                every(throttle.every)
            };
            if hit {
                return Some(RequestFault::Throttled {
                    status: throttle.status,
                    retry_after_seconds: throttle.retry_after_seconds,
                });
            }
        }
        if let Some(quota) = self.faults.tenant_quota_per_minute {
            let minute = now.timestamp().div_euclid(60);
            let entry = self.quota.entry(tenant).or_insert((minute, 0));
            if entry.0 != minute {
                *entry = (minute, 0);
            }
            entry.1 += 1;
            if entry.1 > quota {
                let (status, retry_after_seconds) = self
                    .faults
                    .throttle
                    .as_ref()
                    .map_or((403, None), |t| (t.status, t.retry_after_seconds));
                return Some(RequestFault::Throttled { status, retry_after_seconds });
            }
        }
        if self.faults.internal_error_next > 0 {
            self.faults.internal_error_next -= 1;
            return Some(RequestFault::InternalError);
        }
        every(self.faults.internal_error_every).then_some(RequestFault::InternalError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn next_n_counts_down_then_stops() {
        let mut book = FaultBook::new(Faults {
            throttle: Some(Throttle::next(2).with_status(429).with_retry_after(3)),
            ..Faults::default()
        });
        let tenant = Uuid::nil();
        let expected = Some(RequestFault::Throttled { status: 429, retry_after_seconds: Some(3) });
        assert_eq!(book.on_request(tenant, now()), expected);
        assert_eq!(book.on_request(tenant, now()), expected);
        assert_eq!(book.on_request(tenant, now()), None);
        assert_eq!(book.faults().throttle.as_ref().unwrap().next, 0);
    }

    #[test]
    fn every_nth_hits_periodically() {
        let mut book =
            FaultBook::new(Faults { internal_error_every: Some(3), ..Faults::default() });
        let hits: Vec<bool> =
            (0..9).map(|_| book.on_request(Uuid::nil(), now()).is_some()).collect();
        assert_eq!(hits, [false, false, true, false, false, true, false, false, true]);
    }

    #[test]
    fn quota_resets_each_minute() {
        let mut book =
            FaultBook::new(Faults { tenant_quota_per_minute: Some(2), ..Faults::default() });
        let t = Uuid::nil();
        assert!(book.on_request(t, now()).is_none());
        assert!(book.on_request(t, now()).is_none());
        assert_eq!(
            book.on_request(t, now()),
            Some(RequestFault::Throttled { status: 403, retry_after_seconds: None })
        );
        assert!(book.on_request(t, now() + Duration::minutes(1)).is_none());
        // Another tenant has its own quota.
        assert!(book.on_request(Uuid::max(), now()).is_none());
    }

    #[test]
    fn faults_round_trip_through_json() {
        let faults = Faults {
            throttle: Some(Throttle::every(5)),
            late_blob_delay: Duration::minutes(90),
            next_page_header: "NextPageUrl".into(),
            ..Faults::default()
        };
        let json = serde_json::to_string(&faults).unwrap();
        assert!(json.contains("\"late_blob_delay\":\"90m\""), "{json}");
        let back: Faults = serde_json::from_str(&json).unwrap();
        assert_eq!(back, faults);
        let partial: Faults = serde_json::from_str(r#"{"page_size": 2}"#).unwrap();
        assert_eq!(partial.page_size, Some(2));
        assert_eq!(partial.next_page_header, "NextPageUri");
    }
}
