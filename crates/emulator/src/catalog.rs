//! Which blobs a subscription can see at a given moment: the schedule's blobs, from the
//! subscription's start on, once available (late blobs and the first-blob delay later), until
//! they expire.

use chrono::{DateTime, Duration, Utc};

use crate::content_type::ContentType;
use crate::deterministic::{chosen, mix, salt};
use crate::faults::Faults;
use crate::schedule::{BlobOwner, BlobSchedule, ContentBlob};

/// The blobs of one tenant × content type as one subscription sees them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlobView<'a> {
    pub(crate) schedule: &'a BlobSchedule,
    pub(crate) owner: BlobOwner<'a>,
    pub(crate) content_type: ContentType,
    pub(crate) seed: u64,
    pub(crate) faults: &'a Faults,
    /// Content created before this is never visible.
    pub(crate) visible_from: DateTime<Utc>,
}

impl BlobView<'_> {
    /// Late-blob fault: this blob turns up only `late_blob_delay` after `contentCreated`.
    pub(crate) fn is_late(&self, blob: &ContentBlob) -> bool {
        let h = mix(&[
            self.seed,
            self.owner.tenant_key,
            blob.content_type.index(),
            blob.slot as u64,
            salt::LATE,
        ]);
        chosen(h, self.faults.late_blob_fraction)
    }

    /// When a blob shows up in listings.
    pub(crate) fn listable_at(&self, blob: &ContentBlob) -> DateTime<Utc> {
        let mut at = blob.created;
        if self.is_late(blob) {
            at += self.faults.late_blob_delay;
        }
        at.max(self.visible_from + self.faults.first_blob_delay)
    }

    /// Blobs with `from <= contentCreated < to` listable at `now`, in availability order.
    pub(crate) fn listable(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<ContentBlob> {
        let from = from.max(self.visible_from);
        let to = to.min(now + Duration::milliseconds(1));
        self.schedule
            .created_in(self.owner, self.content_type, from, to)
            .into_iter()
            .filter(|blob| self.listable_at(blob) <= now && now < blob.expiration)
            .collect()
    }

    /// Blobs that became listable in `(after, through]` and have not expired at `through`:
    /// what a webhook is notified about.
    pub(crate) fn became_listable(
        &self,
        after: DateTime<Utc>,
        through: DateTime<Utc>,
    ) -> Vec<ContentBlob> {
        if through <= after {
            return Vec::new();
        }
        let release = self.visible_from + self.faults.first_blob_delay;
        let earliest = if release > after {
            self.visible_from
        } else {
            after - self.faults.late_blob_delay.max(Duration::zero())
        };
        let earliest = earliest.max(self.visible_from).max(through - self.schedule.retention());
        let mut blobs: Vec<ContentBlob> = self
            .schedule
            .created_in(
                self.owner,
                self.content_type,
                earliest,
                through + Duration::milliseconds(1),
            )
            .into_iter()
            .filter(|blob| {
                let at = self.listable_at(blob);
                at > after && at <= through && through < blob.expiration
            })
            .collect();
        blobs.sort_by_key(|blob| (self.listable_at(blob), blob.created, blob.slot));
        blobs
    }

    /// Whether a GET of this blob finds it (expiry is checked separately).
    pub(crate) fn retrievable(&self, blob: &ContentBlob, now: DateTime<Utc>) -> bool {
        blob.created >= self.visible_from && blob.created <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn schedule() -> BlobSchedule {
        BlobSchedule::new(
            Duration::minutes(5),
            Duration::minutes(20),
            Duration::minutes(90),
            Duration::days(7),
            Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap(),
            3,
        )
        .unwrap()
    }

    const OWNER: BlobOwner<'static> = BlobOwner { tenant_key: 11, region: "emea0036" };

    fn view<'a>(s: &'a BlobSchedule, faults: &'a Faults, from: DateTime<Utc>) -> BlobView<'a> {
        BlobView {
            schedule: s,
            owner: OWNER,
            content_type: ContentType::AuditGeneral,
            seed: 3,
            faults,
            visible_from: from,
        }
    }

    #[test]
    fn nothing_from_before_the_subscription_or_the_future() {
        let s = schedule();
        let faults = Faults::default();
        let start = Utc.with_ymd_and_hms(2026, 6, 3, 0, 0, 0).unwrap();
        let now = start + Duration::hours(6);
        let v = view(&s, &faults, start);
        let blobs = v.listable(start - Duration::hours(6), now + Duration::hours(6), now);
        assert!(!blobs.is_empty());
        assert!(blobs.iter().all(|b| b.created >= start && b.created <= now));
    }

    #[test]
    fn late_blobs_appear_later_and_are_notified_once() {
        let s = schedule();
        let faults = Faults {
            late_blob_fraction: 0.5,
            late_blob_delay: Duration::hours(2),
            ..Faults::default()
        };
        let start = Utc.with_ymd_and_hms(2026, 6, 3, 0, 0, 0).unwrap();
        let v = view(&s, &faults, start);
        let t1 = start + Duration::hours(6);
        let t2 = t1 + Duration::hours(3);
        let at_t1 = v.listable(start, t1, t1);
        let at_t2 = v.listable(start, t1, t2);
        assert!(at_t2.len() > at_t1.len(), "late blobs of the same window show up later");
        assert!(at_t1.iter().all(|b| at_t2.contains(b)));
        // Notifications in consecutive steps cover each blob exactly once.
        let mut notified = Vec::new();
        let mut after = start;
        while after < t2 {
            let through = after + Duration::minutes(7);
            notified.extend(v.became_listable(after, through).into_iter().map(|b| b.slot));
            after = through;
        }
        let mut expected: Vec<i64> = v
            .listable(start - Duration::days(1), t2 + Duration::days(1), after)
            .into_iter()
            .map(|b| b.slot)
            .collect();
        notified.sort();
        expected.sort();
        assert_eq!(notified, expected);
    }

    #[test]
    fn first_blob_delay_releases_everything_at_once() {
        let s = schedule();
        let faults = Faults { first_blob_delay: Duration::hours(12), ..Faults::default() };
        let start = Utc.with_ymd_and_hms(2026, 6, 3, 0, 0, 0).unwrap();
        let v = view(&s, &faults, start);
        let day = start + Duration::hours(24);
        assert!(v.listable(start, day, start + Duration::hours(11)).is_empty());
        let released = v.listable(start, day, start + Duration::hours(12));
        assert!(released.len() > 100, "{}", released.len());
        let notified = v.became_listable(start + Duration::hours(11), start + Duration::hours(12));
        assert_eq!(notified.len(), released.len());
    }

    #[test]
    fn expired_blobs_are_not_listed() {
        let s = schedule();
        let faults = Faults::default();
        let start = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        let v = view(&s, &faults, start);
        let window = (start + Duration::hours(2), start + Duration::hours(3));
        let now = start + Duration::days(3);
        assert!(!v.listable(window.0, window.1, now).is_empty());
        assert!(v.listable(window.0, window.1, now + Duration::days(5)).is_empty());
    }
}
