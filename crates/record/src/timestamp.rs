//! `CreationTime` parsing: the Management Activity API sends UTC without a zone
//! (`2015-06-29T20:03:19`); re-shipped and exported data adds `Z`, fractions of a second (up to
//! .NET's seven digits and beyond), numeric offsets or a space instead of `T`. All of them become
//! one `DateTime<Utc>`.
//!
//! Hand-written rather than format-string driven because it runs once per record on the ingest
//! hot path.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// Parses an ISO 8601 / RFC 3339 date-time; a value without zone or offset is UTC.
///
/// Accepted: `YYYY-MM-DD` then `T`, `t` or a space, then `HH:MM:SS`, an optional fraction
/// (`.` or `,`, any number of digits, nanoseconds kept), then nothing, `Z`, `z`, ` UTC`,
/// ` GMT`, `±HH:MM`, `±HHMM` or `±HH`. Surrounding whitespace is ignored.
pub fn parse_creation_time(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.trim().as_bytes();
    if bytes.len() < 19 {
        return None;
    }
    let year = digits(bytes, 0, 4)?;
    let month = digits(bytes, 5, 2)?;
    let day = digits(bytes, 8, 2)?;
    let hour = digits(bytes, 11, 2)?;
    let minute = digits(bytes, 14, 2)?;
    let second = digits(bytes, 17, 2)?;
    if bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }

    let mut rest = &bytes[19..];
    let mut nanos = 0u32;
    if let [b'.' | b',', tail @ ..] = rest {
        let count = tail.iter().take_while(|b| b.is_ascii_digit()).count();
        if count == 0 {
            return None;
        }
        for (position, digit) in tail[..count].iter().enumerate() {
            if position < 9 {
                nanos = nanos * 10 + u32::from(digit - b'0');
            }
        }
        for _ in count..9 {
            nanos *= 10;
        }
        rest = &tail[count..];
    }

    let offset_seconds = match rest {
        [] | [b'Z' | b'z'] | b" UTC" | b" GMT" => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (hours, minutes) = match tail {
                [h1, h2] => (two(*h1, *h2)?, 0),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (two(*h1, *h2)?, two(*m1, *m2)?),
                _ => return None,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let magnitude = i32::try_from(hours * 3600 + minutes * 60).ok()?;
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return None,
    };

    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let local = NaiveDateTime::new(date, time);
    let offset = FixedOffset::east_opt(offset_seconds)?;
    offset.from_local_datetime(&local).single().map(|moment| moment.with_timezone(&Utc))
}

/// Reads `count` ASCII digits starting at `start`.
fn digits(bytes: &[u8], start: usize, count: usize) -> Option<u32> {
    let slice = bytes.get(start..start + count)?;
    slice.iter().try_fold(0u32, |value, &byte| {
        byte.is_ascii_digit().then(|| value * 10 + u32::from(byte - b'0'))
    })
}

/// Reads two ASCII digits.
fn two(high: u8, low: u8) -> Option<u32> {
    digits(&[high, low], 0, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("test literal").with_timezone(&Utc)
    }

    #[test]
    fn documented_form_without_zone_is_utc() {
        assert_eq!(parse_creation_time("2015-06-29T20:03:19"), Some(utc("2015-06-29T20:03:19Z")));
    }

    #[test]
    fn zone_fraction_and_offsets_are_accepted() {
        let cases = [
            ("2019-12-24T06:01:09Z", "2019-12-24T06:01:09Z"),
            ("2019-12-24T06:01:09.5", "2019-12-24T06:01:09.5Z"),
            ("2019-12-24T06:01:09.1234567Z", "2019-12-24T06:01:09.1234567Z"),
            ("2019-12-24T06:01:09.123456789123Z", "2019-12-24T06:01:09.123456789Z"),
            ("2019-12-24T08:01:09+02:00", "2019-12-24T06:01:09Z"),
            ("2019-12-24T08:01:09+0200", "2019-12-24T06:01:09Z"),
            ("2019-12-24T08:01:09+02", "2019-12-24T06:01:09Z"),
            ("2019-12-24T01:01:09.25-05:00", "2019-12-24T06:01:09.25Z"),
            ("2019-12-24 06:01:09", "2019-12-24T06:01:09Z"),
            ("  2019-12-24t06:01:09z  ", "2019-12-24T06:01:09Z"),
            ("2019-12-24T06:01:09,5Z", "2019-12-24T06:01:09.5Z"),
            ("2019-12-24 06:01:09 UTC", "2019-12-24T06:01:09Z"),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_creation_time(input), Some(utc(expected)), "input {input:?}");
        }
    }

    #[test]
    fn offsets_crossing_midnight_move_the_date() {
        assert_eq!(
            parse_creation_time("2020-01-01T01:00:00+03:00"),
            Some(utc("2019-12-31T22:00:00Z"))
        );
    }

    #[test]
    fn nonsense_is_rejected() {
        for input in [
            "",
            "2019-12-24",
            "2019-12-24T06:01",
            "2019-13-24T06:01:09",
            "2019-02-30T06:01:09",
            "2019-12-24T25:01:09",
            "2019-12-24X06:01:09",
            "2019-12-24T06:01:09.",
            "2019-12-24T06:01:09+",
            "2019-12-24T06:01:09+24:00",
            "2019-12-24T06:01:09 junk",
            "3/2/2018 11:25:56 PM",
            "２０１９-12-24T06:01:09",
        ] {
            assert_eq!(parse_creation_time(input), None, "input {input:?}");
        }
    }
}
