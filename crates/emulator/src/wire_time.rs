//! The time formats the Management Activity API speaks: query parameters in the three documented
//! forms (plus the tolerated extras), response timestamps with milliseconds and `Z`, and the
//! HTTP `Date` header.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// `2026-06-01T10:30:00.123Z`: `contentCreated`, `contentExpiration`, `notificationSent`.
pub(crate) fn format_wire(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `2026-06-01T10:30:00`: the form the emulator writes into `NextPageUri` windows it computed.
pub(crate) fn format_query(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// `Mon, 01 Jun 2026 10:30:00 GMT`: the HTTP `Date` header, read from the emulated clock.
pub(crate) fn format_http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// `2026-06-01 10:00:00Z`: the `timestamp` of Entra ID error bodies.
pub(crate) fn format_entra_timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// Parses a `startTime` / `endTime` value (UTC).
///
/// Documented forms: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM`, `YYYY-MM-DDTHH:MM:SS`. With `extended`,
/// also fractional seconds and a trailing `Z` or `+HH:MM` offset (collectors send these and
/// the service accepts them). A space where an offset's `+` belongs (an unencoded `+` in a query
/// string) is read as `+`.
pub(crate) fn parse_query_time(text: &str, extended: bool) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    if !extended {
        return None;
    }
    parse_extended(text)
}

/// Parses an ISO-8601 datetime with optional seconds, fraction and zone; no zone means UTC.
/// Used for the extended query forms and for webhook `expiration`.
pub(crate) fn parse_extended(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let (local, offset) = split_zone(text);
    let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(local, format).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(local, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    Some(naive.and_utc() - chrono::Duration::seconds(offset?))
}

/// Splits `2026-06-01T10:00:00+02:00` into the local part and the offset in seconds.
/// `None` as offset means the zone text was present but not understood.
fn split_zone(text: &str) -> (&str, Option<i64>) {
    if let Some(local) = text.strip_suffix(['Z', 'z']) {
        return (local, Some(0));
    }
    // An offset follows the time part: look for a sign after the 'T'.
    let Some(t_at) = text.find('T') else { return (text, Some(0)) };
    let Some(sign_at) = text[t_at..].rfind(['+', '-', ' ']).map(|i| i + t_at) else {
        return (text, Some(0));
    };
    let (local, zone) = text.split_at(sign_at);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return (local, None);
    }
    let hours: i64 = digits[..2].parse().unwrap_or(99);
    let minutes: i64 = digits[2..].parse().unwrap_or(99);
    if hours > 23 || minutes > 59 {
        return (local, None);
    }
    (local, Some(sign * (hours * 3600 + minutes * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn documented_forms_parse_as_utc() {
        assert_eq!(parse_query_time("2026-06-01", false), Some(at(2026, 6, 1, 0, 0, 0)));
        assert_eq!(parse_query_time("2026-06-01T10:30", false), Some(at(2026, 6, 1, 10, 30, 0)));
        assert_eq!(
            parse_query_time("2026-06-01T10:30:15", false),
            Some(at(2026, 6, 1, 10, 30, 15))
        );
    }

    #[test]
    fn extended_forms_need_the_switch() {
        for text in ["2026-06-01T10:30:15Z", "2026-06-01T10:30:15.250", "2026-06-01T12:30:15+02:00"]
        {
            assert_eq!(parse_query_time(text, false), None, "{text}");
            let parsed = parse_query_time(text, true).unwrap();
            assert_eq!(parsed.timestamp(), at(2026, 6, 1, 10, 30, 15).timestamp(), "{text}");
        }
        assert_eq!(
            parse_query_time("2026-06-01T10:30:15.250Z", true).unwrap().timestamp_subsec_millis(),
            250
        );
        // An unencoded '+' arrives as a space.
        assert_eq!(
            parse_query_time("2026-06-01T10:30:15 00:00", true),
            Some(at(2026, 6, 1, 10, 30, 15))
        );
        assert_eq!(
            parse_query_time("2026-06-01T08:30:15-02:00", true),
            Some(at(2026, 6, 1, 10, 30, 15))
        );
    }

    #[test]
    fn nonsense_is_rejected() {
        for text in ["", "yesterday", "2026-13-01", "2026-06-01T25:00", "2026-06-01T10:00+5"] {
            assert_eq!(parse_query_time(text, true), None, "{text}");
        }
    }

    #[test]
    fn formats_match_the_reference_samples() {
        let t = at(2015, 5, 23, 17, 35, 0);
        assert_eq!(format_wire(t), "2015-05-23T17:35:00.000Z");
        assert_eq!(format_query(t), "2015-05-23T17:35:00");
        assert_eq!(format_http_date(t), "Sat, 23 May 2015 17:35:00 GMT");
        assert_eq!(format_entra_timestamp(t), "2015-05-23 17:35:00Z");
    }
}
