//! How durations are written in the configuration file: `"250ms"`, `"30s"`, `"5m"`, `"2h"`,
//! `"5d"` (one number and one unit; a fraction such as `"1.5h"` is fine).

use chrono::Duration;

/// Parses a duration as written in the configuration file; `None` if it is not one.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return None;
    }
    let number: f64 = number.parse().ok()?;
    let millis_per_unit = match unit.trim() {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    let millis = number * millis_per_unit;
    (millis.is_finite() && millis < 1e14).then(|| Duration::milliseconds(millis.round() as i64))
}

/// Writes a duration in the largest unit that keeps it whole (`"2h"`, `"90m"`, `"250ms"`).
pub fn format_duration(duration: Duration) -> String {
    let ms = duration.num_milliseconds();
    if ms == 0 {
        return "0s".to_owned();
    }
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// What a duration setting must look like (for error messages).
pub(crate) const DURATION_FORM: &str =
    "write a number and a unit in quotes, e.g. \"250ms\", \"30s\", \"5m\", \"2h\" or \"5d\"";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_write() {
        assert_eq!(parse_duration("5m"), Some(Duration::minutes(5)));
        assert_eq!(parse_duration(" 2h "), Some(Duration::hours(2)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("250ms"), Some(Duration::milliseconds(250)));
        assert_eq!(parse_duration("5d"), Some(Duration::days(5)));
        assert_eq!(parse_duration("10 min"), Some(Duration::minutes(10)));
        for bad in ["", "5", "m", "-5m", "5 weeks", "five minutes", "1e400d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(format_duration(Duration::hours(2)), "2h");
        assert_eq!(format_duration(Duration::minutes(90)), "90m");
        assert_eq!(format_duration(Duration::days(5)), "5d");
        assert_eq!(format_duration(Duration::milliseconds(1500)), "1500ms");
        assert_eq!(format_duration(Duration::zero()), "0s");
    }
}
