//! Time values on the wire: the `YYYY-MM-DDTHH:MM:SS` (UTC, no zone) form the client sends, and
//! a tolerant reader for the forms the service sends back (with or without milliseconds, with or
//! without `Z` or an offset).

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// The form the client sends for `startTime`/`endTime`: `YYYY-MM-DDTHH:MM:SS`, UTC.
pub(crate) fn format_query_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// ISO 8601 with `Z`, for bodies the client sends (webhook expiration).
pub(crate) fn format_body_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Reads a service timestamp: RFC 3339 (any offset, any fraction), or the same without a zone
/// (taken as UTC), with `T` or a space, with or without seconds.
pub fn parse_service_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    let without_z = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    for format in
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
    {
        if let Ok(naive) = NaiveDateTime::parse_from_str(without_z, format) {
            return Some(naive.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn query_times_have_seconds_and_no_zone() {
        let at = Utc.with_ymd_and_hms(2026, 6, 1, 7, 5, 9).unwrap()
            + chrono::Duration::milliseconds(123);
        assert_eq!(format_query_time(at), "2026-06-01T07:05:09");
        assert_eq!(format_body_time(at), "2026-06-01T07:05:09Z");
    }

    #[test]
    fn service_times_with_or_without_milliseconds_and_zone() {
        let base = Utc.with_ymd_and_hms(2015, 5, 23, 17, 35, 0).unwrap();
        let ms = base + chrono::Duration::milliseconds(120);
        let cases = [
            ("2015-05-23T17:35:00.000Z", base),
            ("2015-05-23T17:35:00.12Z", ms),
            ("2015-05-23T17:35:00Z", base),
            ("2015-05-23T17:35:00", base),
            ("2015-05-23T17:35:00.1200000", ms),
            ("2015-05-23T17:35:00.120z", ms),
            ("2015-05-23T19:35:00+02:00", base),
            ("2015-05-23T17:35:00.120+00:00", ms),
            ("2015-05-23 17:35:00", base),
            ("2015-05-23T17:35", base),
            (" 2015-05-23T17:35:00Z ", base),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_service_time(text), Some(expected), "{text}");
        }
        for bad in ["", "yesterday", "2015-05-23", "2015-13-01T00:00:00"] {
            assert_eq!(parse_service_time(bad), None, "{bad}");
        }
    }
}
