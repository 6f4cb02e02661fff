//! When blobs exist: time is cut into fixed slots of `blob_interval` aligned to the Unix epoch;
//! each tenant × content type has one blob per slot, holding the activity whose event time lies
//! in the slot, and becoming available (`contentCreated`) a deterministic latency after the slot
//! ends. Nothing is stored: every blob is recomputed from the seed on demand.

use chrono::{DateTime, Duration, Utc};

use crate::content_id::{ContentIdParts, SEQUENCE_MODULUS, format_content_id};
use crate::content_type::ContentType;
use crate::deterministic::{mix, salt};

/// One content blob as listed by `subscriptions/content`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContentBlob {
    pub(crate) content_type: ContentType,
    pub(crate) slot: i64,
    pub(crate) created: DateTime<Utc>,
    pub(crate) expiration: DateTime<Utc>,
    pub(crate) content_id: String,
}

/// The tenant a blob belongs to, as far as the schedule cares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlobOwner<'a> {
    pub(crate) tenant_key: u64,
    pub(crate) region: &'a str,
}

/// The slot arithmetic and availability latencies, shared by all tenants.
#[derive(Debug, Clone)]
pub(crate) struct BlobSchedule {
    interval_ms: i64,
    latency_min_ms: i64,
    latency_max_ms: i64,
    retention: Duration,
    history_start: DateTime<Utc>,
    seed: u64,
}

/// Why a schedule cannot be built from the configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ScheduleError {
    #[error("blob_interval must be at least one second (got {0} ms)")]
    IntervalTooShort(i64),
    #[error(
        "availability_latency_min ({min} ms) must be >= 0 and <= availability_latency_max ({max} ms)"
    )]
    LatencyOrder { min: i64, max: i64 },
}

impl BlobSchedule {
    pub(crate) fn new(
        interval: Duration,
        latency_min: Duration,
        latency_max: Duration,
        retention: Duration,
        history_start: DateTime<Utc>,
        seed: u64,
    ) -> Result<BlobSchedule, ScheduleError> {
        let interval_ms = interval.num_milliseconds();
        if interval_ms < 1000 {
            return Err(ScheduleError::IntervalTooShort(interval_ms));
        }
        let (min, max) = (latency_min.num_milliseconds(), latency_max.num_milliseconds());
        if min < 0 || min > max {
            return Err(ScheduleError::LatencyOrder { min, max });
        }
        Ok(BlobSchedule {
            interval_ms,
            latency_min_ms: min,
            latency_max_ms: max,
            retention,
            history_start,
            seed,
        })
    }

    pub(crate) fn retention(&self) -> Duration {
        self.retention
    }

    /// The event-time range `[start, end)` of a slot.
    pub(crate) fn slot_range(&self, slot: i64) -> (DateTime<Utc>, DateTime<Utc>) {
        (at_millis(slot * self.interval_ms), at_millis((slot + 1) * self.interval_ms))
    }

    /// The event-time range whose activity the slot's blob carries (activity exists only from
    /// `history_start` on); `None` when the slot lies wholly before it.
    pub(crate) fn activity_range(&self, slot: i64) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let (start, end) = self.slot_range(slot);
        (end > self.history_start).then(|| (start.max(self.history_start), end))
    }

    /// When the slot's blob of this tenant and content type becomes available.
    pub(crate) fn created(
        &self,
        owner: BlobOwner<'_>,
        ct: ContentType,
        slot: i64,
    ) -> DateTime<Utc> {
        let spread = (self.latency_max_ms - self.latency_min_ms) as u64 + 1;
        let h = mix(&[self.seed, owner.tenant_key, ct.index(), slot as u64, salt::LATENCY]);
        let latency = self.latency_min_ms + (h % spread) as i64;
        at_millis((slot + 1) * self.interval_ms + latency)
    }

    /// The blob of a slot (whether or not it is visible to anyone).
    pub(crate) fn blob(&self, owner: BlobOwner<'_>, ct: ContentType, slot: i64) -> ContentBlob {
        let created = self.created(owner, ct, slot);
        ContentBlob {
            content_type: ct,
            slot,
            created,
            expiration: created + self.retention,
            content_id: format_content_id(created, slot, ct, owner.region),
        }
    }

    /// Every existing blob with `from <= contentCreated < to`, in availability order.
    pub(crate) fn created_in(
        &self,
        owner: BlobOwner<'_>,
        ct: ContentType,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<ContentBlob> {
        let from = from.max(self.history_start);
        if from >= to {
            return Vec::new();
        }
        // created = (slot + 1) * interval + latency, latency in [min, max].
        let first =
            (from.timestamp_millis() - self.latency_max_ms).div_euclid(self.interval_ms) - 1;
        let last = (to.timestamp_millis() - self.latency_min_ms).div_euclid(self.interval_ms);
        let mut blobs: Vec<ContentBlob> = (first..=last)
            .filter(|slot| self.activity_range(*slot).is_some())
            .map(|slot| (slot, self.created(owner, ct, slot)))
            .filter(|(_, created)| *created >= from && *created < to)
            .map(|(slot, _)| self.blob(owner, ct, slot))
            .collect();
        blobs.sort_by_key(|blob| (blob.created, blob.slot));
        blobs
    }

    /// Finds the slot a well-formed content ID names, if this schedule ever produced it.
    pub(crate) fn slot_of(&self, owner: BlobOwner<'_>, parts: &ContentIdParts) -> Option<i64> {
        if parts.region != owner.region {
            return None;
        }
        let created_ms = parts.created.timestamp_millis();
        let first = (created_ms - self.latency_max_ms).div_euclid(self.interval_ms) - 1;
        let last = (created_ms - self.latency_min_ms).div_euclid(self.interval_ms);
        (first..=last).find(|slot| {
            slot.rem_euclid(SEQUENCE_MODULUS) == i64::from(parts.sequence)
                && self.activity_range(*slot).is_some()
                && self.created(owner, parts.content_type, *slot) == parts.created
        })
    }
}

fn at_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_id::parse_content_id;
    use chrono::TimeZone;

    fn schedule() -> BlobSchedule {
        BlobSchedule::new(
            Duration::minutes(5),
            Duration::minutes(20),
            Duration::minutes(90),
            Duration::days(7),
            Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap(),
            42,
        )
        .unwrap()
    }

    const OWNER: BlobOwner<'static> = BlobOwner { tenant_key: 7, region: "emea0036" };

    #[test]
    fn every_slot_appears_exactly_once_across_contiguous_windows() {
        let s = schedule();
        let day = Utc.with_ymd_and_hms(2026, 6, 2, 0, 0, 0).unwrap();
        let mut seen = Vec::new();
        for hour in 0..24 {
            let from = day + Duration::hours(hour);
            let blobs =
                s.created_in(OWNER, ContentType::AuditGeneral, from, from + Duration::hours(1));
            for b in &blobs {
                assert!(b.created >= from && b.created < from + Duration::hours(1));
            }
            seen.extend(blobs.into_iter().map(|b| b.slot));
        }
        seen.sort();
        let unique = seen.len();
        seen.dedup();
        assert_eq!(unique, seen.len(), "no blob listed twice");
        // A day of windows covers about a day of slots.
        assert!((280..=296).contains(&seen.len()), "{}", seen.len());
    }

    #[test]
    fn latency_stays_within_bounds_and_is_deterministic() {
        let s = schedule();
        for slot in 5_926_000..5_926_500 {
            let (_, end) = s.slot_range(slot);
            let created = s.created(OWNER, ContentType::AuditGeneral, slot);
            assert!(
                created >= end + Duration::minutes(20) && created <= end + Duration::minutes(90)
            );
            assert_eq!(created, s.created(OWNER, ContentType::AuditGeneral, slot));
        }
        let other = BlobOwner { tenant_key: 8, region: "emea0036" };
        let differs = (5_926_000..5_926_050).any(|slot| {
            s.created(OWNER, ContentType::AuditGeneral, slot)
                != s.created(other, ContentType::AuditGeneral, slot)
        });
        assert!(differs, "tenants get their own latencies");
    }

    #[test]
    fn nothing_exists_before_history_start() {
        let s = schedule();
        let start = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        let blobs = s.created_in(
            OWNER,
            ContentType::AuditGeneral,
            start - Duration::days(2),
            start + Duration::hours(3),
        );
        assert!(!blobs.is_empty());
        for b in blobs {
            let (from, to) = s.activity_range(b.slot).unwrap();
            assert!(from >= start && to > from);
        }
    }

    #[test]
    fn content_ids_lead_back_to_their_slot() {
        let s = schedule();
        let day = Utc.with_ymd_and_hms(2026, 6, 3, 0, 0, 0).unwrap();
        for b in s.created_in(OWNER, ContentType::AuditExchange, day, day + Duration::hours(6)) {
            let parts = parse_content_id(&b.content_id).unwrap();
            assert_eq!(s.slot_of(OWNER, &parts), Some(b.slot));
            assert_eq!(b.expiration - b.created, Duration::days(7));
        }
        // A shifted timestamp names no blob.
        let b = s.blob(OWNER, ContentType::AuditGeneral, 5_926_100);
        let mut parts = parse_content_id(&b.content_id).unwrap();
        parts.created += Duration::milliseconds(1);
        assert_eq!(s.slot_of(OWNER, &parts), None);
        let other_region = BlobOwner { tenant_key: 7, region: "na0030" };
        let parts = parse_content_id(&b.content_id).unwrap();
        assert_eq!(s.slot_of(other_region, &parts), None);
    }

    #[test]
    fn bad_configuration_is_refused() {
        let start = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        assert!(matches!(
            BlobSchedule::new(
                Duration::zero(),
                Duration::zero(),
                Duration::zero(),
                Duration::days(7),
                start,
                1
            ),
            Err(ScheduleError::IntervalTooShort(0))
        ));
        assert!(matches!(
            BlobSchedule::new(
                Duration::minutes(5),
                Duration::minutes(9),
                Duration::minutes(1),
                Duration::days(7),
                start,
                1
            ),
            Err(ScheduleError::LatencyOrder { .. })
        ));
    }
}
