//! The rules of a listing window (`startTime`/`endTime` of `subscriptions/content` and
//! `subscriptions/notifications`) and the opaque `nextPage` values, as plain functions.

use chrono::{DateTime, Duration, NaiveDateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::durations::chrono_text;
use crate::wire_time::{format_query, parse_query_time};

/// How the service validates listing windows. Defaults follow the reference; each switch is an
/// observed variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListingRules {
    /// Longest allowed window (documented: 24 h).
    #[serde(with = "chrono_text")]
    pub max_window: Duration,
    /// Reject a window of exactly `max_window` too (observed by some collectors; documented is
    /// "less than or equal to", so off by default).
    pub reject_exact_max_window: bool,
    /// Accept windows longer than `max_window` but silently list only their first
    /// `max_window` (the reference warns that such windows may "work" and return partial
    /// results). Off: they are refused.
    pub oversized_window_partial: bool,
    /// How far back `startTime` may lie (documented: 7 days).
    #[serde(with = "chrono_text")]
    pub max_age: Duration,
    /// Extra tolerance on `max_age` (observed: about 1 h).
    #[serde(with = "chrono_text")]
    pub max_age_grace: Duration,
    /// Which code a window violation gets: `AF20055` (current documentation, observed live) or
    /// `AF20030` (older documentation).
    pub window_error_code: WindowErrorCode,
    /// What omitting both times means.
    pub omitted_window: OmittedWindow,
    /// Accept fractional seconds and `Z` / `+HH:MM` beyond the three documented formats.
    pub extended_time_formats: bool,
}

impl Default for ListingRules {
    fn default() -> Self {
        ListingRules {
            max_window: Duration::hours(24),
            reject_exact_max_window: false,
            oversized_window_partial: false,
            max_age: Duration::days(7),
            max_age_grace: Duration::hours(1),
            window_error_code: WindowErrorCode::Af20055,
            omitted_window: OmittedWindow::Last24Hours,
            extended_time_formats: true,
        }
    }
}

/// The code of a rejected window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowErrorCode {
    #[serde(rename = "AF20030")]
    Af20030,
    #[serde(rename = "AF20055")]
    Af20055,
}

/// What the service does when `startTime` and `endTime` are both omitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OmittedWindow {
    /// The last 24 hours (the API reference).
    Last24Hours,
    /// Today from 00:00 UTC until now (the troubleshooting FAQ).
    TodaySinceMidnight,
    /// HTTP 400 with a nonsense error body (reported in 2019, office-365-management-api #52).
    Legacy2019Error,
}

/// A validated window `[start, end)` on `contentCreated`, with the text to repeat in
/// `NextPageUri` (for an oversized window listed partially, `end` is where listing stops, the
/// text keeps what the client asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListingWindow {
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    pub(crate) start_text: String,
    pub(crate) end_text: String,
}

/// Why a window was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WindowRejection {
    /// Only one of the two times was given.
    OnlyOne,
    /// More than the allowed span.
    TooLong,
    /// `startTime` too far in the past.
    TooOld,
    /// `startTime` not before `endTime`.
    NotOrdered,
    /// A time that none of the accepted formats reads.
    Unparsable { parameter: &'static str },
    /// Both omitted under [`OmittedWindow::Legacy2019Error`].
    LegacyOmitted,
}

/// Validates the `startTime` / `endTime` pair against `rules` at `now`.
pub(crate) fn listing_window(
    start: Option<&str>,
    end: Option<&str>,
    now: DateTime<Utc>,
    rules: &ListingRules,
) -> Result<ListingWindow, WindowRejection> {
    let start = start.filter(|s| !s.trim().is_empty());
    let end = end.filter(|s| !s.trim().is_empty());
    let (start_time, end_time, start_text, end_text) = match (start, end) {
        (None, None) => {
            let now = now.with_nanosecond(0).unwrap_or(now);
            let start = match rules.omitted_window {
                OmittedWindow::Last24Hours => now - Duration::hours(24),
                OmittedWindow::TodaySinceMidnight => {
                    now.date_naive().and_hms_opt(0, 0, 0).map_or(now, |t| t.and_utc())
                }
                OmittedWindow::Legacy2019Error => return Err(WindowRejection::LegacyOmitted),
            };
            return Ok(ListingWindow {
                start,
                end: now,
                start_text: format_query(start),
                end_text: format_query(now),
            });
        }
        (Some(_), None) | (None, Some(_)) => return Err(WindowRejection::OnlyOne),
        (Some(start), Some(end)) => {
            let parse = |text: &str, parameter| {
                parse_query_time(text, rules.extended_time_formats)
                    .ok_or(WindowRejection::Unparsable { parameter })
            };
            (parse(start, "startTime")?, parse(end, "endTime")?, start, end)
        }
    };
    if start_time >= end_time {
        return Err(WindowRejection::NotOrdered);
    }
    let span = end_time - start_time;
    let mut listed_end = end_time;
    if span > rules.max_window && rules.oversized_window_partial {
        listed_end = start_time + rules.max_window;
    } else if span > rules.max_window || (rules.reject_exact_max_window && span == rules.max_window)
    {
        return Err(WindowRejection::TooLong);
    }
    if start_time < now - rules.max_age - rules.max_age_grace {
        return Err(WindowRejection::TooOld);
    }
    Ok(ListingWindow {
        start: start_time,
        end: listed_end,
        start_text: start_text.to_owned(),
        end_text: end_text.to_owned(),
    })
}

/// The `nextPage` value pointing at the first blob of the next page.
pub(crate) fn content_page_token(created: DateTime<Utc>, slot: i64) -> String {
    format!("{}R{:012}", created.format("%Y%m%d%H%M%S%3f"), slot)
}

/// Reads a `nextPage` value made by [`content_page_token`]; `None` means `AF20031`.
pub(crate) fn parse_content_page_token(token: &str) -> Option<(DateTime<Utc>, i64)> {
    let (time, slot) = token.split_once('R')?;
    if time.len() != 17 || slot.len() != 12 || !slot.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let created = NaiveDateTime::parse_from_str(time, "%Y%m%d%H%M%S%3f").ok()?.and_utc();
    Some((created, slot.parse().ok()?))
}

/// The `nextPage` value of the notification history: the offset of the next entry.
pub(crate) fn notification_page_token(offset: usize) -> String {
    format!("N{offset:010}")
}

/// Reads a `nextPage` value made by [`notification_page_token`].
pub(crate) fn parse_notification_page_token(token: &str) -> Option<usize> {
    let digits = token.strip_prefix('N')?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 10, 12, 0, 0).unwrap() + Duration::milliseconds(456)
    }

    fn window(start: Option<&str>, end: Option<&str>) -> Result<ListingWindow, WindowRejection> {
        listing_window(start, end, now(), &ListingRules::default())
    }

    #[test]
    fn a_valid_window_is_inclusive_start_exclusive_end() {
        let w = window(Some("2026-06-09T00:00"), Some("2026-06-10")).unwrap();
        assert_eq!(w.start, Utc.with_ymd_and_hms(2026, 6, 9, 0, 0, 0).unwrap());
        assert_eq!(w.end, Utc.with_ymd_and_hms(2026, 6, 10, 0, 0, 0).unwrap());
        assert_eq!(w.start_text, "2026-06-09T00:00");
        // Windows may reach into the future.
        assert!(window(Some("2026-06-10T11:00:00"), Some("2026-06-11T11:00:00")).is_ok());
    }

    #[test]
    fn violations_are_named() {
        assert_eq!(window(Some("2026-06-09"), None), Err(WindowRejection::OnlyOne));
        assert_eq!(window(None, Some("2026-06-09")), Err(WindowRejection::OnlyOne));
        assert_eq!(
            window(Some("2026-06-08T00:00:00"), Some("2026-06-09T00:00:01")),
            Err(WindowRejection::TooLong)
        );
        assert_eq!(
            window(Some("2026-06-09T00:00:00"), Some("2026-06-09T00:00:00")),
            Err(WindowRejection::NotOrdered)
        );
        assert_eq!(
            window(Some("2026-06-09T02:00:00"), Some("2026-06-09T01:00:00")),
            Err(WindowRejection::NotOrdered)
        );
        assert_eq!(
            window(Some("last tuesday"), Some("2026-06-09")),
            Err(WindowRejection::Unparsable { parameter: "startTime" })
        );
    }

    #[test]
    fn max_age_has_a_grace_period() {
        // 7 days + 30 min ago: inside the observed 1 h grace.
        assert!(window(Some("2026-06-03T11:30:00"), Some("2026-06-03T12:00:00")).is_ok());
        // 7 days + 2 h ago: too old.
        assert_eq!(
            window(Some("2026-06-03T10:00:00"), Some("2026-06-03T12:00:00")),
            Err(WindowRejection::TooOld)
        );
        let strict = ListingRules { max_age_grace: Duration::zero(), ..ListingRules::default() };
        assert_eq!(
            listing_window(
                Some("2026-06-03T11:30:00"),
                Some("2026-06-03T12:00:00"),
                now(),
                &strict
            ),
            Err(WindowRejection::TooOld)
        );
    }

    #[test]
    fn exactly_24_hours_is_allowed_unless_switched_off() {
        assert!(window(Some("2026-06-09T00:00:00"), Some("2026-06-10T00:00:00")).is_ok());
        let strict = ListingRules { reject_exact_max_window: true, ..ListingRules::default() };
        assert_eq!(
            listing_window(
                Some("2026-06-09T00:00:00"),
                Some("2026-06-10T00:00:00"),
                now(),
                &strict
            ),
            Err(WindowRejection::TooLong)
        );
    }

    #[test]
    fn oversized_windows_can_be_listed_partially() {
        let partial = ListingRules { oversized_window_partial: true, ..ListingRules::default() };
        let w = listing_window(
            Some("2026-06-08T12:00:00"),
            Some("2026-06-10T12:00:00"),
            now(),
            &partial,
        )
        .unwrap();
        assert_eq!(w.end - w.start, Duration::hours(24));
        assert_eq!(w.end_text, "2026-06-10T12:00:00");
    }

    #[test]
    fn omitted_times_follow_the_switch() {
        let w = window(None, None).unwrap();
        assert_eq!(w.end, Utc.with_ymd_and_hms(2026, 6, 10, 12, 0, 0).unwrap());
        assert_eq!(w.end - w.start, Duration::hours(24));
        assert_eq!(w.start_text, "2026-06-09T12:00:00");
        let today = ListingRules {
            omitted_window: OmittedWindow::TodaySinceMidnight,
            ..Default::default()
        };
        let w = listing_window(None, None, now(), &today).unwrap();
        assert_eq!(w.start, Utc.with_ymd_and_hms(2026, 6, 10, 0, 0, 0).unwrap());
        let legacy =
            ListingRules { omitted_window: OmittedWindow::Legacy2019Error, ..Default::default() };
        assert_eq!(listing_window(None, None, now(), &legacy), Err(WindowRejection::LegacyOmitted));
    }

    #[test]
    fn extended_formats_can_be_refused() {
        let strict = ListingRules { extended_time_formats: false, ..ListingRules::default() };
        assert!(matches!(
            listing_window(
                Some("2026-06-09T00:00:00Z"),
                Some("2026-06-10T00:00:00Z"),
                now(),
                &strict
            ),
            Err(WindowRejection::Unparsable { .. })
        ));
        assert!(window(Some("2026-06-09T00:00:00Z"), Some("2026-06-10T00:00:00.000Z")).is_ok());
    }

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let created =
            Utc.with_ymd_and_hms(2026, 6, 1, 10, 30, 0).unwrap() + Duration::milliseconds(7);
        let token = content_page_token(created, 5_926_001);
        assert_eq!(token, "20260601103000007R000005926001");
        assert_eq!(parse_content_page_token(&token), Some((created, 5_926_001)));
        for bad in ["", "2015101900R022885001761", "20260601103000007R00000592600x", "abc"] {
            assert_eq!(parse_content_page_token(bad), None, "{bad}");
        }
        assert_eq!(parse_notification_page_token(&notification_page_token(42)), Some(42));
        assert_eq!(parse_notification_page_token("N12"), None);
    }
}
