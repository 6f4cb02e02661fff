//! Verification of the evidence: every stored record is decompressed and re-hashed, compared with
//! the hash stored beside it, folded into its batch's digest, and the seals are walked as a
//! chain. Streams the archive in `seq` order, one batch in memory at a time. Then every
//! Dataverse audit change is decompressed and re-hashed against the hash stored with it, one
//! row in memory at a time.

use archive::changes::{altered_change_finding, change_hash};
use archive::evidence::{ObservedBatch, record_hash, verify_chain};
use archive::{ArchiveError, Finding, VerifyReport};
use rusqlite::{Connection, Rows};
use uuid::Uuid;

use crate::changes::{CHANGE_COLUMNS, change_of_row, unpack_row};
use crate::encoding::{RecordKey, failed};
use crate::verbatim::{DictionaryCache, UnpackError, Unpacker};
use crate::writer::seal_of_row;

/// A record's stored verbatim row, with its `Id` when its normalized row still exists.
#[derive(Debug)]
struct RawRow {
    seq: i64,
    dictionary: Option<i64>,
    raw_len: i64,
    hash: Vec<u8>,
    packed: Vec<u8>,
    id: Option<String>,
}

/// Raw rows in `seq` order, with one row of look-ahead.
struct RawCursor<'s> {
    rows: Rows<'s>,
    pending: Option<RawRow>,
}

impl RawCursor<'_> {
    fn peek(&mut self) -> rusqlite::Result<Option<&RawRow>> {
        if self.pending.is_none() {
            self.pending = match self.rows.next()? {
                Some(row) => Some(RawRow {
                    seq: row.get(0)?,
                    dictionary: row.get(1)?,
                    raw_len: row.get(2)?,
                    hash: row.get(3)?,
                    packed: row.get(4)?,
                    id: match row.get_ref(5)? {
                        rusqlite::types::ValueRef::Null => None,
                        key => Some(RecordKey::id_of(key)),
                    },
                }),
                None => None,
            };
        }
        Ok(self.pending.as_ref())
    }

    fn take(&mut self) -> Option<RawRow> {
        self.pending.take()
    }
}

/// How many examples of unsealed records a finding names.
const EXAMPLES: usize = 10;

pub(crate) fn verify(
    conn: &Connection,
    dictionaries: &DictionaryCache,
) -> Result<VerifyReport, ArchiveError> {
    let fail = failed("verifying the archive");
    let seals = conn
        .prepare(
            "SELECT seq, committed_at, record_count, digest, link, first_seq, last_seq \
             FROM seals ORDER BY seq",
        )
        .and_then(|mut s| {
            s.query_map([], |row| {
                Ok((seal_of_row(row)?, row.get::<_, i64>(5)?, row.get::<_, i64>(6)?))
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(&fail)?;
    // Normalized rows whose verbatim bytes are gone (normally none).
    let mut bytes_missing = conn
        .prepare(
            "SELECT a.seq, a.record_key FROM activity a \
             WHERE NOT EXISTS (SELECT 1 FROM raw r WHERE r.seq = a.seq) ORDER BY a.seq",
        )
        .and_then(|mut s| {
            s.query_map([], |row| Ok((row.get::<_, i64>(0)?, RecordKey::id_of(row.get_ref(1)?))))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(&fail)?
        .into_iter()
        .peekable();

    let mut statement = conn
        .prepare(
            "SELECT r.seq, r.dictionary, r.raw_len, r.hash, r.bytes, a.record_key FROM raw r \
             LEFT JOIN activity a ON a.seq = r.seq ORDER BY r.seq",
        )
        .map_err(&fail)?;
    let mut cursor = RawCursor { rows: statement.query([]).map_err(&fail)?, pending: None };
    let mut unpacker = Unpacker::new(dictionaries);
    let mut unsealed: Vec<String> = Vec::new();
    let mut unsealed_count = 0u64;
    let mut error: Option<ArchiveError> = None;

    let mut seals = seals.into_iter();
    let observed = std::iter::from_fn(|| {
        if error.is_some() {
            return None;
        }
        let (seal, first, last) = seals.next()?;
        let mut batch = ObservedBatch {
            seal,
            stored_hashes: Vec::new(),
            altered_records: Vec::new(),
            purged_hashes: Vec::new(),
        };
        while let Some((seq, id)) = bytes_missing.peek() {
            if *seq > last {
                break;
            }
            if *seq >= first {
                batch.altered_records.push(id.clone());
            }
            bytes_missing.next();
        }
        loop {
            let next_seq = match cursor.peek() {
                Ok(Some(row)) => row.seq,
                Ok(None) => break,
                Err(e) => {
                    error = Some(fail(e));
                    return None;
                }
            };
            if next_seq > last {
                break;
            }
            let Some(row) = cursor.take() else { break };
            if row.seq < first {
                unsealed_count += 1;
                if unsealed.len() < EXAMPLES {
                    unsealed.push(row.id.unwrap_or_else(|| format!("#{}", row.seq)));
                }
                continue;
            }
            match check(conn, &mut unpacker, &row) {
                Ok((hash, intact)) => {
                    batch.stored_hashes.push(hash);
                    if !intact {
                        batch.altered_records.push(name_of(&row, conn, &mut unpacker));
                    }
                }
                Err(e) => {
                    error = Some(e);
                    return None;
                }
            }
        }
        Some(batch)
    });
    let mut report = verify_chain(observed);
    if let Some(error) = error {
        return Err(error);
    }
    // Whatever follows the last seal was never sealed.
    while cursor.peek().map_err(&fail)?.is_some() {
        if let Some(row) = cursor.take() {
            unsealed_count += 1;
            if unsealed.len() < EXAMPLES {
                unsealed.push(row.id.unwrap_or_else(|| format!("#{}", row.seq)));
            }
        }
    }
    if unsealed_count > 0 {
        report
            .findings
            .push(Finding::UnsealedRecords { count: unsealed_count, examples: unsealed });
    }
    drop(cursor);
    verify_changes(conn, &mut unpacker, &mut report)?;
    Ok(report)
}

/// Re-hashes every stored change and reports those whose bytes no longer match their hash
/// (bytes that do not decompress included).
fn verify_changes(
    conn: &Connection,
    unpacker: &mut Unpacker<'_>,
    report: &mut VerifyReport,
) -> Result<(), ArchiveError> {
    let fail = failed("verifying changes");
    let mut statement = conn
        .prepare(&format!("SELECT {CHANGE_COLUMNS} FROM changes c ORDER BY c.id"))
        .map_err(&fail)?;
    let mut rows = statement.query([]).map_err(&fail)?;
    while let Some(row) = rows.next().map_err(&fail)? {
        let row = match change_of_row(row) {
            Ok(parsed) => parsed,
            // A column that no longer decodes was edited too.
            Err(_) => {
                let id = row.get::<_, Vec<u8>>(0).ok().and_then(|b| Uuid::from_slice(&b).ok());
                report.findings.push(altered_change_finding(id.unwrap_or_default()));
                continue;
            }
        };
        let intact = match unpack_row(conn, unpacker, &row) {
            Ok((raw_row, raw_detail)) => {
                change_hash(&raw_row, raw_detail.as_deref()).0.as_slice() == row.hash.as_slice()
            }
            Err(UnpackError::Damaged(_))
            | Err(UnpackError::Archive(ArchiveError::Corrupt { .. })) => false,
            Err(UnpackError::Archive(error)) => return Err(error),
        };
        if !intact {
            report.findings.push(altered_change_finding(row.change.audit_id));
        }
    }
    Ok(())
}

/// The hash recomputed from a row's stored bytes, and whether it equals the stored hash and the
/// record's normalized row exists.
fn check(
    conn: &Connection,
    unpacker: &mut Unpacker<'_>,
    row: &RawRow,
) -> Result<(archive::evidence::Digest, bool), ArchiveError> {
    match unpacker.unpack(conn, row.dictionary, &row.packed, row.raw_len.max(0) as usize) {
        Ok(raw) => {
            let hash = record_hash(&raw);
            Ok((hash, hash.0.as_slice() == row.hash.as_slice() && row.id.is_some()))
        }
        // Bytes that no longer decompress, or whose dictionary is gone, are altered; the hash of
        // what is there keeps the batch digest honest.
        Err(UnpackError::Damaged(_)) | Err(UnpackError::Archive(ArchiveError::Corrupt { .. })) => {
            Ok((record_hash(&row.packed), false))
        }
        Err(UnpackError::Archive(error)) => Err(error),
    }
}

/// The `Id` of an altered record: from its normalized row, else from its bytes, else its
/// position.
fn name_of(row: &RawRow, conn: &Connection, unpacker: &mut Unpacker<'_>) -> String {
    if let Some(id) = &row.id {
        return id.clone();
    }
    unpacker
        .unpack(conn, row.dictionary, &row.packed, row.raw_len.max(0) as usize)
        .ok()
        .and_then(|raw| record::parse_record(&raw).ok())
        .map(|parsed| archive::columns::normalize_id(&parsed.id))
        .unwrap_or_else(|| format!("#{}", row.seq))
}
