//! Error values for input that cannot be read. They carry the exact bytes that failed, so that the
//! archive can quarantine them (evidence is never dropped), and a reason a person can act on.

use std::fmt;

use serde::Serialize;

/// Where a record sat in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SourcePosition {
    /// Index of the element in a content blob's JSON array, counted from 0.
    BlobElement(usize),
    /// Line number in a JSON-lines file, counted from 1.
    Line(usize),
}

impl fmt::Display for SourcePosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourcePosition::BlobElement(index) => write!(f, "blob element {index}"),
            SourcePosition::Line(line) => write!(f, "line {line}"),
        }
    }
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedKind {
    /// The bytes are not one valid JSON value (syntax error, truncation, invalid UTF-8).
    #[error("not valid JSON: {message}")]
    InvalidJson {
        /// serde_json's description, with line and column.
        message: String,
    },
    /// Valid JSON, but not an object.
    #[error("the record is a JSON {found}, not an object")]
    NotAnObject {
        /// The JSON type found (`array`, `string`, `number`, `boolean`, `null`).
        found: &'static str,
    },
    /// A mandatory field (`Id`, `CreationTime`, `RecordType`, `Operation`, `Workload`) is absent
    /// or `null`.
    #[error("mandatory field `{field}` is missing or null")]
    MissingField {
        /// The field's wire name.
        field: &'static str,
    },
    /// A mandatory text field is an empty or blank string.
    #[error("mandatory field `{field}` is empty")]
    EmptyField {
        /// The field's wire name.
        field: &'static str,
    },
    /// A mandatory field has a JSON type that cannot carry its value.
    #[error("field `{field}` is a JSON {found}, expected {expected}")]
    WrongType {
        /// The field's wire name.
        field: &'static str,
        /// The JSON type found.
        found: &'static str,
        /// What the field must be.
        expected: &'static str,
    },
    /// A mandatory field has the right type but a value that cannot be read (a `CreationTime`
    /// that is not a date, a `RecordType` name nobody documented).
    #[error("field `{field}` cannot be read: {value:?}")]
    InvalidValue {
        /// The field's wire name.
        field: &'static str,
        /// The offending value (cut to 120 characters).
        value: String,
    },
}

impl MalformedKind {
    /// An [`MalformedKind::InvalidValue`] with the value cut to a readable length.
    pub(crate) fn invalid_value(field: &'static str, value: &str) -> Self {
        let value = match value.char_indices().nth(120) {
            Some((cut, _)) => format!("{}…", &value[..cut]),
            None => value.to_owned(),
        };
        MalformedKind::InvalidValue { field, value }
    }
}

/// A record that could not be read: its exact bytes, where it came from, and why.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub struct MalformedRecord {
    /// The record's bytes exactly as received.
    pub bytes: Vec<u8>,
    /// Why it could not be read.
    pub kind: MalformedKind,
    /// Where it sat in its source, when it came from a blob or a file.
    pub position: Option<SourcePosition>,
}

impl MalformedRecord {
    pub(crate) fn new(bytes: &[u8], kind: MalformedKind, position: Option<SourcePosition>) -> Self {
        Self { bytes: bytes.to_vec(), kind, position }
    }

    /// The human reason, without the position.
    pub fn reason(&self) -> String {
        self.kind.to_string()
    }
}

impl fmt::Display for MalformedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed activity record")?;
        if let Some(position) = self.position {
            write!(f, " at {position}")?;
        }
        write!(f, ": {} (its {} raw bytes are kept for quarantine)", self.kind, self.bytes.len())
    }
}

impl fmt::Debug for MalformedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MalformedRecord")
            .field("kind", &self.kind)
            .field("position", &self.position)
            .field("bytes", &Preview(&self.bytes))
            .finish()
    }
}

/// A content blob (or file) that is not a JSON array of records at all: nothing in it could be
/// split into records.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub struct MalformedBlob {
    /// The blob's bytes exactly as received.
    pub bytes: Vec<u8>,
    /// serde_json's description of the problem, or why the shape is wrong.
    pub reason: String,
}

impl MalformedBlob {
    pub(crate) fn new(bytes: &[u8], reason: impl Into<String>) -> Self {
        Self { bytes: bytes.to_vec(), reason: reason.into() }
    }
}

impl fmt::Display for MalformedBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "content is not a JSON array of activity records: {} ({} bytes kept for quarantine; \
             if the blob was cut off in transit, fetch it again; a file import expects a JSON \
             array or one JSON record per line)",
            self.reason,
            self.bytes.len()
        )
    }
}

impl fmt::Debug for MalformedBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MalformedBlob")
            .field("reason", &self.reason)
            .field("bytes", &Preview(&self.bytes))
            .finish()
    }
}

/// Debug view of raw bytes: the length and the first characters, never the whole blob.
struct Preview<'a>(&'a [u8]);

impl fmt::Debug for Preview<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 120;
        let head = String::from_utf8_lossy(&self.0[..self.0.len().min(SHOWN)]);
        let ellipsis = if self.0.len() > SHOWN { "…" } else { "" };
        write!(f, "{} bytes {:?}{}", self.0.len(), head, ellipsis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_error_says_where_and_why() {
        let error = MalformedRecord::new(
            br#"{"Id":1}"#,
            MalformedKind::MissingField { field: "CreationTime" },
            Some(SourcePosition::BlobElement(3)),
        );
        assert_eq!(
            error.to_string(),
            "malformed activity record at blob element 3: mandatory field `CreationTime` is \
             missing or null (its 8 raw bytes are kept for quarantine)"
        );
        assert_eq!(error.reason(), "mandatory field `CreationTime` is missing or null");
    }

    #[test]
    fn debug_shows_a_preview_not_the_whole_blob() {
        let bytes = vec![b'x'; 10_000];
        let debug = format!("{:?}", MalformedBlob::new(&bytes, "EOF"));
        assert!(debug.contains("10000 bytes"));
        assert!(debug.len() < 400, "{debug}");
    }

    #[test]
    fn invalid_values_are_cut() {
        let long = "é".repeat(500);
        let MalformedKind::InvalidValue { value, .. } = MalformedKind::invalid_value("F", &long)
        else {
            panic!("wrong kind");
        };
        assert_eq!(value.chars().count(), 121);
    }
}
