//! How values are stored in SQLite: record ids (16-byte BLOBs when they are GUIDs), GUIDs,
//! times (integer microseconds, UTC), and the mapping of SQLite failures to archive errors.

use archive::ArchiveError;
use chrono::{DateTime, Utc};
use rusqlite::ToSql;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use uuid::Uuid;

/// Microseconds in a day and in an hour: stored times are integer microseconds (UTC).
pub(crate) const DAY_MICROS: i64 = 86_400_000_000;
pub(crate) const HOUR_MICROS: i64 = 3_600_000_000;

/// A record `Id` as stored: the 16 bytes of a canonical GUID, or the text as sent otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum RecordKey {
    Guid([u8; 16]),
    Text(String),
}

impl RecordKey {
    /// The stored key of an `Id`. Only GUIDs whose canonical (lower-case hyphenated) text is the
    /// id itself, ignoring case, are packed, so that every id reads back exactly as it was stored.
    pub(crate) fn of(id: &str) -> RecordKey {
        let mut canonical = [0; uuid::fmt::Hyphenated::LENGTH];
        match Uuid::try_parse(id) {
            Ok(uuid) if uuid.hyphenated().encode_lower(&mut canonical).eq_ignore_ascii_case(id) => {
                RecordKey::Guid(*uuid.as_bytes())
            }
            _ => RecordKey::Text(id.to_string()),
        }
    }

    /// The `Id` text of a stored key.
    pub(crate) fn id_of(value: ValueRef<'_>) -> String {
        match value {
            ValueRef::Blob(bytes) => match Uuid::from_slice(bytes) {
                Ok(uuid) => uuid.hyphenated().to_string(),
                Err(_) => String::from_utf8_lossy(bytes).into_owned(),
            },
            ValueRef::Text(text) => String::from_utf8_lossy(text).into_owned(),
            ValueRef::Integer(i) => i.to_string(),
            ValueRef::Real(r) => r.to_string(),
            ValueRef::Null => String::new(),
        }
    }
}

impl ToSql for RecordKey {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            RecordKey::Guid(bytes) => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
            RecordKey::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
        })
    }
}

impl FromSql for RecordKey {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Blob(bytes) => {
                <[u8; 16]>::try_from(bytes).map(RecordKey::Guid).map_err(|_| {
                    FromSqlError::InvalidBlobSize { expected_size: 16, blob_size: bytes.len() }
                })
            }
            ValueRef::Text(text) => Ok(RecordKey::Text(String::from_utf8_lossy(text).into_owned())),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// The stored form of an optional GUID: `None` and the all-zero GUID are both NULL.
pub(crate) fn guid_bytes(guid: Option<Uuid>) -> Option<[u8; 16]> {
    guid.filter(|g| !g.is_nil()).map(|g| *g.as_bytes())
}

/// A GUID read back from a BLOB column.
pub(crate) fn guid_of(bytes: Option<Vec<u8>>) -> Option<Uuid> {
    bytes.and_then(|b| Uuid::from_slice(&b).ok())
}

pub(crate) fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

pub(crate) fn time_of(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// Maps a SQLite failure while `doing` something to an archive error.
pub(crate) fn storage_error(doing: &str, error: rusqlite::Error) -> ArchiveError {
    use rusqlite::ErrorCode;
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => ArchiveError::Unavailable {
            message: format!(
                "the archive is locked by another process while {doing}; retry, or stop the \
                 other d365audit process that writes to it"
            ),
        },
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => ArchiveError::Corrupt {
            message: format!("{error} while {doing}; restore the archive from a backup"),
        },
        Some(ErrorCode::DiskFull) => ArchiveError::Storage {
            doing: doing.to_string(),
            message: "the disk is full; free space and retry".to_string(),
        },
        Some(ErrorCode::ReadOnly) => ArchiveError::Storage {
            doing: doing.to_string(),
            message: format!("{error}; the archive file or its folder is read-only"),
        },
        _ => ArchiveError::Storage { doing: doing.to_string(), message: error.to_string() },
    }
}

/// `map_err` adapter: `.map_err(failed("reading a page"))`.
pub(crate) fn failed(doing: &'static str) -> impl Fn(rusqlite::Error) -> ArchiveError {
    move |error| storage_error(doing, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_ids_pack_and_other_ids_stay_text() {
        let guid = "6f1d2a3b-0c4d-4e5f-8a9b-0c1d2e3f4a5b";
        assert!(matches!(RecordKey::of(guid), RecordKey::Guid(_)));
        assert_eq!(RecordKey::of(guid), RecordKey::of(&guid.to_uppercase()));
        assert_eq!(RecordKey::of("sanitized"), RecordKey::Text("sanitized".into()));
        assert_eq!(RecordKey::of("12345"), RecordKey::Text("12345".into()));
        let braces = format!("{{{guid}}}");
        assert_eq!(RecordKey::of(&braces), RecordKey::Text(braces.clone()));
        let RecordKey::Guid(bytes) = RecordKey::of(guid) else { panic!("not packed") };
        assert_eq!(RecordKey::id_of(ValueRef::Blob(&bytes)), guid);
    }

    #[test]
    fn nil_guids_are_not_stored() {
        assert_eq!(guid_bytes(Some(Uuid::nil())), None);
        assert_eq!(guid_bytes(None), None);
    }
}
