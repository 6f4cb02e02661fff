//! Splitting sources into records while keeping each record's exact bytes: Management Activity
//! API content blobs (a JSON array of records) and JSON-lines files (one record per line). The
//! bytes of each record are a slice of the input, never re-serialized, so the archive can store
//! and hash exactly what Microsoft sent.

use serde_json::value::RawValue;

use crate::activity::{ActivityRecord, first_significant_byte, read_record_text, strip_bom};
use crate::error::{MalformedBlob, MalformedKind, MalformedRecord, SourcePosition};

/// One record's exact bytes inside a blob or file, not yet parsed.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    json: &'a RawValue,
    position: SourcePosition,
}

impl<'a> RawRecord<'a> {
    /// The record's bytes exactly as they appear in the source (without surrounding whitespace).
    pub fn bytes(&self) -> &'a [u8] {
        self.json.get().as_bytes()
    }

    /// The record's bytes as text (they are valid UTF-8 JSON).
    pub fn as_str(&self) -> &'a str {
        self.json.get()
    }

    /// Where the record sat in its source.
    pub fn position(&self) -> SourcePosition {
        self.position
    }

    /// Parses and normalizes the record; the error carries these bytes and the position.
    pub fn parse(&self) -> Result<ActivityRecord, MalformedRecord> {
        read_record_text(self.as_str())
            .map_err(|kind| MalformedRecord::new(self.bytes(), kind, Some(self.position)))
    }
}

/// Splits a content blob into its records' exact bytes.
///
/// The blob must be one JSON value: an array of records (what the Management Activity API
/// returns; `[]` gives no records) or, tolerated, a single record object. Elements that are not
/// objects are still returned: their [`RawRecord::parse`] reports them, so that one bad element
/// never hides the others. A leading UTF-8 byte-order mark is ignored. Invalid JSON anywhere
/// (including a blob cut off in transit) makes the whole blob a [`MalformedBlob`], since no
/// element boundary can be trusted.
pub fn parse_blob(bytes: &[u8]) -> Result<Vec<RawRecord<'_>>, MalformedBlob> {
    let body = strip_bom(bytes);
    match first_significant_byte(body) {
        Some(b'[') => serde_json::from_slice::<Vec<&RawValue>>(body)
            .map(|elements| {
                elements
                    .into_iter()
                    .enumerate()
                    .map(|(index, json)| RawRecord {
                        json,
                        position: SourcePosition::BlobElement(index),
                    })
                    .collect()
            })
            .map_err(|error| MalformedBlob::new(bytes, error.to_string())),
        Some(b'{') => serde_json::from_slice::<&RawValue>(body)
            .map(|json| vec![RawRecord { json, position: SourcePosition::BlobElement(0) }])
            .map_err(|error| MalformedBlob::new(bytes, error.to_string())),
        Some(_) => Err(MalformedBlob::new(bytes, "expected a JSON array of records")),
        None => Err(MalformedBlob::new(bytes, "the content is empty")),
    }
}

/// Splits a JSON-lines file (one record per line, `\n` or `\r\n`) into records' exact bytes.
///
/// Blank lines are skipped. A line that is not valid JSON gives a [`MalformedRecord`] with that
/// line's bytes and number; the other lines are unaffected. A leading UTF-8 byte-order mark is
/// ignored.
pub fn parse_json_lines(bytes: &[u8]) -> Vec<Result<RawRecord<'_>, MalformedRecord>> {
    strip_bom(bytes)
        .split(|&byte| byte == b'\n')
        .enumerate()
        .filter_map(|(index, line)| {
            let line = line.trim_ascii();
            if line.is_empty() {
                return None;
            }
            let position = SourcePosition::Line(index + 1);
            Some(
                serde_json::from_slice::<&RawValue>(line)
                    .map(|json| RawRecord { json, position })
                    .map_err(|error| {
                        let kind = MalformedKind::InvalidJson { message: error.to_string() };
                        MalformedRecord::new(line, kind, Some(position))
                    }),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_elements_keep_their_exact_bytes() {
        let blob = br#"[ {"b" : 1,  "a":"\u00e9"} ,{"x":[1, 2]},3 ]"#;
        let records = parse_blob(blob).expect("valid blob");
        let texts: Vec<&str> = records.iter().map(RawRecord::as_str).collect();
        assert_eq!(texts, [r#"{"b" : 1,  "a":"\u00e9"}"#, r#"{"x":[1, 2]}"#, "3"]);
        assert_eq!(records[2].position(), SourcePosition::BlobElement(2));
        let error = records[2].parse().expect_err("a number is not a record");
        assert_eq!(error.kind, MalformedKind::NotAnObject { found: "number" });
        assert_eq!(error.bytes, b"3");
        assert_eq!(error.position, Some(SourcePosition::BlobElement(2)));
    }

    #[test]
    fn empty_array_single_object_and_bom() {
        assert!(parse_blob(b" [ ] ").expect("valid").is_empty());
        assert_eq!(parse_blob(br#"{"Id":"a"}"#).expect("tolerated").len(), 1);
        assert_eq!(parse_blob(b"\xEF\xBB\xBF[{}]").expect("bom ignored").len(), 1);
    }

    #[test]
    fn broken_blobs_are_errors_with_their_bytes() {
        for blob in [&b""[..], b"   ", b"[{\"Id\":\"a\"},{\"Id\":", b"\"text\"", b"[1,]", b"<html>"]
        {
            let error = parse_blob(blob).expect_err("malformed");
            assert_eq!(error.bytes, blob);
            assert!(!error.reason.is_empty());
        }
    }

    #[test]
    fn json_lines_report_bad_lines_by_number() {
        let file = b"{\"a\":1}\r\n\n  \nnot json\n{\"b\":2}";
        let lines = parse_json_lines(file);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].as_ref().expect("line 1").as_str(), r#"{"a":1}"#);
        let error = lines[1].as_ref().expect_err("line 4");
        assert_eq!(error.position, Some(SourcePosition::Line(4)));
        assert_eq!(error.bytes, b"not json");
        assert_eq!(lines[2].as_ref().expect("line 5").position(), SourcePosition::Line(5));
    }
}
