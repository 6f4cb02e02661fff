//! How durations are written in the emulator's TOML file and control API: `"90m"`, `"7d"`,
//! `"250ms"`, `"1.5s"`, or a bare number of seconds.

use std::fmt::Write as _;

use serde::{Deserialize, Deserializer, Serializer};

/// Parses `"90m"`, `"7d"`, `"250ms"`, `"1.5s"`, `"3600"` into milliseconds.
pub(crate) fn parse_millis(text: &str) -> Option<i64> {
    let text = text.trim();
    let split =
        text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "ms" => 1.0,
        "" | "s" => 1_000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    let millis = number * scale;
    (millis.is_finite() && millis.abs() < 1e15).then_some(millis.round() as i64)
}

/// Writes milliseconds in the largest unit that keeps the value whole.
pub(crate) fn format_millis(ms: i64) -> String {
    let mut out = String::new();
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms != 0 && ms % size == 0 {
            let _ = write!(out, "{}{unit}", ms / size);
            return out;
        }
    }
    if ms == 0 {
        return "0s".to_owned();
    }
    let _ = write!(out, "{ms}ms");
    out
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DurationText {
    Text(String),
    Seconds(f64),
}

fn deserialize_millis<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    match DurationText::deserialize(deserializer)? {
        DurationText::Text(text) => parse_millis(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "'{text}' is not a duration: write e.g. \"250ms\", \"30s\", \"90m\", \"2h\", \"7d\""
            ))
        }),
        DurationText::Seconds(seconds) => Ok((seconds * 1000.0).round() as i64),
    }
}

/// Serde for `chrono::Duration` fields.
pub(crate) mod chrono_text {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &chrono::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_millis(d.num_milliseconds()))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<chrono::Duration, D::Error> {
        deserialize_millis(d).map(chrono::Duration::milliseconds)
    }
}

/// Serde for `std::time::Duration` fields (real-time intervals such as the notifier's tick).
pub(crate) mod std_text {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_millis(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<std::time::Duration, D::Error> {
        let ms = deserialize_millis(d)?;
        u64::try_from(ms)
            .map(std::time::Duration::from_millis)
            .map_err(|_| serde::de::Error::custom("a real-time interval cannot be negative"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_format() {
        assert_eq!(parse_millis("250ms"), Some(250));
        assert_eq!(parse_millis("1.5s"), Some(1500));
        assert_eq!(parse_millis("90m"), Some(5_400_000));
        assert_eq!(parse_millis("7d"), Some(604_800_000));
        assert_eq!(parse_millis("3600"), Some(3_600_000));
        assert_eq!(parse_millis("soon"), None);
        assert_eq!(parse_millis("5 weeks"), None);
        assert_eq!(format_millis(5_400_000), "90m");
        assert_eq!(format_millis(604_800_000), "7d");
        assert_eq!(format_millis(1500), "1500ms");
        assert_eq!(format_millis(0), "0s");
    }
}
