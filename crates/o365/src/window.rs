//! [`ListingWindow`]: a `[start, end)` range on `contentCreated` that the Management Activity API
//! will accept. It can only be built valid: start before end, at most 24 hours long, start not
//! older than 7 days, whole seconds (the API takes `YYYY-MM-DDTHH:MM:SS`).

use std::fmt;

use chrono::{DateTime, Duration, DurationRound, Utc};
use clock::Clock;

use crate::wire_time::format_query_time;

/// A listing window the API accepts (validated against the injected clock when built).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListingWindow {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// Why a listing window cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("listing window start {start} is not before its end {end}")]
    NotBeforeEnd { start: DateTime<Utc>, end: DateTime<Utc> },
    #[error(
        "listing window {start} .. {end} is longer than 24 hours; split it (the API may silently \
         return partial results for longer windows)"
    )]
    TooLong { start: DateTime<Utc>, end: DateTime<Utc> },
    #[error(
        "listing window start {start} is older than 7 days (oldest allowed now: {oldest}); content \
         older than that cannot be listed through the API any more"
    )]
    TooOld { start: DateTime<Utc>, oldest: DateTime<Utc> },
}

impl ListingWindow {
    /// The longest window the API accepts.
    pub const MAX_SPAN: Duration = Duration::hours(24);
    /// How far back the start may be.
    pub const MAX_AGE: Duration = Duration::days(7);
    /// How much younger than [`ListingWindow::MAX_AGE`] [`ListingWindow::clamped`] makes the
    /// start, so that the window is still acceptable when the request (and its retries) reach
    /// the service.
    pub const CLAMP_MARGIN: Duration = Duration::minutes(5);

    /// A window exactly as asked, or why it is not acceptable. Times are truncated to whole
    /// seconds first (the API's resolution).
    pub fn new(
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        clock: &dyn Clock,
    ) -> Result<ListingWindow, WindowError> {
        let (start, end) = (whole_seconds(start), whole_seconds(end));
        if start >= end {
            return Err(WindowError::NotBeforeEnd { start, end });
        }
        if end - start > Self::MAX_SPAN {
            return Err(WindowError::TooLong { start, end });
        }
        let oldest = clock.now() - Self::MAX_AGE;
        if start < oldest {
            return Err(WindowError::TooOld { start, oldest: whole_seconds(oldest) });
        }
        Ok(ListingWindow { start, end })
    }

    /// The acceptable window closest to what was asked: the start is moved up to 7 days ago
    /// (minus [`ListingWindow::CLAMP_MARGIN`]) if older, and the end is moved down to start + 24 h
    /// if further. Fails only when nothing of `[start, end)` is left.
    pub fn clamped(
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        clock: &dyn Clock,
    ) -> Result<ListingWindow, WindowError> {
        let oldest = clock.now() - Self::MAX_AGE + Self::CLAMP_MARGIN;
        let start = if start < oldest { ceil_seconds(oldest) } else { whole_seconds(start) };
        let end = whole_seconds(end).min(start + Self::MAX_SPAN);
        ListingWindow::new(start, end, clock)
    }

    /// Inclusive start (on `contentCreated`).
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// Exclusive end (on `contentCreated`).
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// `startTime` as sent: `YYYY-MM-DDTHH:MM:SS` (UTC).
    pub fn start_param(&self) -> String {
        format_query_time(self.start)
    }

    /// `endTime` as sent: `YYYY-MM-DDTHH:MM:SS` (UTC).
    pub fn end_param(&self) -> String {
        format_query_time(self.end)
    }
}

impl fmt::Display for ListingWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start_param(), self.end_param())
    }
}

fn whole_seconds(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::seconds(1)).unwrap_or(at)
}

fn ceil_seconds(at: DateTime<Utc>) -> DateTime<Utc> {
    let floor = whole_seconds(at);
    if floor == at { floor } else { floor + Duration::seconds(1) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use clock::ManualClock;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 8, 12, 0, 0).unwrap()
    }

    fn clock() -> ManualClock {
        ManualClock::frozen_at(now())
    }

    #[test]
    fn a_valid_window_is_kept_and_formatted() {
        let start = Utc.with_ymd_and_hms(2026, 6, 7, 0, 0, 0).unwrap();
        let w = ListingWindow::new(start, start + Duration::hours(24), &clock()).unwrap();
        assert_eq!(w.start_param(), "2026-06-07T00:00:00");
        assert_eq!(w.end_param(), "2026-06-08T00:00:00");
        assert_eq!(w.to_string(), "[2026-06-07T00:00:00, 2026-06-08T00:00:00)");
    }

    #[test]
    fn invalid_windows_are_refused() {
        let c = clock();
        let t = now() - Duration::hours(3);
        assert!(matches!(ListingWindow::new(t, t, &c), Err(WindowError::NotBeforeEnd { .. })));
        assert!(matches!(
            ListingWindow::new(t, t - Duration::seconds(1), &c),
            Err(WindowError::NotBeforeEnd { .. })
        ));
        // Sub-second windows collapse to nothing at the API's resolution.
        assert!(matches!(
            ListingWindow::new(t, t + Duration::milliseconds(500), &c),
            Err(WindowError::NotBeforeEnd { .. })
        ));
        assert!(matches!(
            ListingWindow::new(t - Duration::hours(24), t + Duration::seconds(1), &c),
            Err(WindowError::TooLong { .. })
        ));
        let old = now() - Duration::days(7) - Duration::seconds(1);
        let err = ListingWindow::new(old, old + Duration::hours(1), &c).unwrap_err();
        assert!(matches!(err, WindowError::TooOld { .. }));
        assert!(err.to_string().contains("older than 7 days"));
        // Exactly 7 days old and exactly 24 h long are fine.
        let oldest = now() - Duration::days(7);
        ListingWindow::new(oldest, oldest + Duration::hours(24), &c).unwrap();
    }

    #[test]
    fn the_clock_decides_what_is_too_old() {
        let c = clock();
        let start = now() - Duration::days(6);
        let w = ListingWindow::new(start, start + Duration::hours(1), &c).unwrap();
        c.advance(Duration::days(2));
        assert!(ListingWindow::new(w.start(), w.end(), &c).is_err());
    }

    #[test]
    fn clamping_moves_start_and_end_inside_the_rules() {
        let c = clock();
        let w = ListingWindow::clamped(now() - Duration::days(10), now(), &c).unwrap();
        assert_eq!(w.start(), now() - Duration::days(7) + ListingWindow::CLAMP_MARGIN);
        assert_eq!(w.end(), w.start() + Duration::hours(24));

        let start = now() - Duration::days(2) + Duration::milliseconds(250);
        let w = ListingWindow::clamped(start, now(), &c).unwrap();
        assert_eq!(w.start(), now() - Duration::days(2));
        assert_eq!(w.end(), w.start() + Duration::hours(24));

        // Nothing left: the whole range is older than the limit.
        let old = now() - Duration::days(9);
        assert!(ListingWindow::clamped(old, old + Duration::hours(2), &c).is_err());
        // A valid window is unchanged.
        let s = now() - Duration::hours(5);
        assert_eq!(
            ListingWindow::clamped(s, s + Duration::hours(1), &c).unwrap(),
            ListingWindow::new(s, s + Duration::hours(1), &c).unwrap()
        );
    }

    #[test]
    fn fractional_clock_does_not_make_the_clamped_start_too_old() {
        let c = ManualClock::frozen_at(now() + Duration::milliseconds(700));
        let w = ListingWindow::clamped(now() - Duration::days(8), now(), &c).unwrap();
        assert!(w.start() >= c.now() - ListingWindow::MAX_AGE);
    }
}
