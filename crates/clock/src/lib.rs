//! The injected notion of "now": production code reads time only through [`Clock`], so tests and
//! the emulator can run days of activity in seconds.

use std::fmt;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// A source of the current UTC time. Every crate that needs "now" takes one of these.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that runs at real speed from a chosen start, can jump forward, and can be frozen.
/// Tests and the emulator use it to make "seven days later" happen instantly.
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<ManualState>,
}

#[derive(Debug, Clone, Copy)]
struct ManualState {
    /// The reading at `anchor`.
    at_anchor: DateTime<Utc>,
    /// Real time when `at_anchor` was set; `None` when frozen.
    anchor: Option<std::time::Instant>,
}

impl ManualClock {
    /// A clock that reads `start` now and then advances with real time.
    pub fn running_from(start: DateTime<Utc>) -> Self {
        ManualClock {
            state: Mutex::new(ManualState {
                at_anchor: start,
                anchor: Some(std::time::Instant::now()),
            }),
        }
    }

    /// A clock that always reads `at` until moved.
    pub fn frozen_at(at: DateTime<Utc>) -> Self {
        ManualClock { state: Mutex::new(ManualState { at_anchor: at, anchor: None }) }
    }

    /// Moves the clock forward (or backward, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut state = self.lock();
        let now = read(&state);
        state.at_anchor = now + by;
        if state.anchor.is_some() {
            state.anchor = Some(std::time::Instant::now());
        }
    }

    /// Sets the reading to `at`, keeping whether the clock runs or is frozen.
    pub fn set(&self, at: DateTime<Utc>) {
        let mut state = self.lock();
        state.at_anchor = at;
        if state.anchor.is_some() {
            state.anchor = Some(std::time::Instant::now());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        // A poisoned clock is still a valid clock: the state is two plain values.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn read(state: &ManualState) -> DateTime<Utc> {
    match state.anchor {
        Some(anchor) => {
            let elapsed = Duration::from_std(anchor.elapsed()).unwrap_or(Duration::zero());
            state.at_anchor + elapsed
        }
        None => state.at_anchor,
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        read(&self.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn frozen_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::frozen_at(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::days(7));
        assert_eq!(clock.now(), start + Duration::days(7));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn running_clock_advances_with_real_time() {
        let start = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::running_from(start);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(clock.now() > start);
        clock.advance(Duration::hours(1));
        assert!(clock.now() >= start + Duration::hours(1));
    }
}
