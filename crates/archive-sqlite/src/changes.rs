//! Dataverse audit changes ([`archive::ChangeStore`]) in the SQLite archive: packing (hash,
//! compression, the decoded form as JSON) on a blocking task, writing on the writer thread in one
//! transaction with quarantine and cursors (`writer::changes`), and reading on read-only
//! connections. Tables and indexes: schema version 3 (the `schema` module).

use std::collections::HashSet;

use archive::changes::{change_hash, changed_fields, field_key};
use archive::evidence::{Digest, RawCodec};
use archive::query::MAX_PAGE;
use archive::{
    ArchiveError, ChangeBatch, ChangeReceipt, ChangeSource, ChangeStore, ChangeSummary,
    Quarantined, StoredChange,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use record::{AuditAction, AuditChange, AuditOperation};
use rusqlite::types::Type;
use rusqlite::{Connection, Row, ToSql, params_from_iter};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::encoding::{failed, micros, time_of};
use crate::verbatim::{DictionaryCache, Unpacker};
use crate::writer::WriterCommand;
use crate::{SqliteArchive, writer_gone};

/// One change ready for the writer: its columns, hash and compressed bytes.
#[derive(Debug)]
pub(crate) struct PackedChange {
    pub(crate) audit_id: [u8; 16],
    pub(crate) created_on: i64,
    pub(crate) action: i32,
    pub(crate) operation: i32,
    pub(crate) table: String,
    pub(crate) object_id: Option<[u8; 16]>,
    pub(crate) object_name: Option<String>,
    pub(crate) user_id: Option<[u8; 16]>,
    pub(crate) user_name: Option<String>,
    pub(crate) calling_user_id: Option<[u8; 16]>,
    pub(crate) transaction_id: Option<[u8; 16]>,
    /// JSON texts.
    pub(crate) attribute_mask: String,
    pub(crate) source: String,
    pub(crate) detail: String,
    /// [`changed_fields`]: what `change_fields` holds for the change.
    pub(crate) fields: Vec<String>,
    pub(crate) hash: Digest,
    pub(crate) dictionary: Option<i64>,
    pub(crate) row_len: i64,
    pub(crate) row_bytes: Vec<u8>,
    pub(crate) detail_len: Option<i64>,
    pub(crate) detail_bytes: Option<Vec<u8>>,
}

/// What one change-ingest transaction writes.
#[derive(Debug, Default)]
pub(crate) struct PackedChanges {
    /// The first of each `auditid` in the batch, in batch order.
    pub(crate) changes: Vec<PackedChange>,
    /// Later repeats of an `auditid` inside the batch (duplicates without touching the file).
    pub(crate) repeated: u64,
    pub(crate) quarantined: Vec<Quarantined>,
    pub(crate) cursors: Vec<(String, String)>,
}

impl PackedChanges {
    pub(crate) fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.quarantined.is_empty() && self.cursors.is_empty()
    }
}

fn bytes_of(guid: Option<Uuid>) -> Option<[u8; 16]> {
    guid.map(|g| *g.as_bytes())
}

fn encoding(what: &str) -> impl Fn(serde_json::Error) -> ArchiveError {
    move |e| ArchiveError::Storage {
        doing: format!("encoding a change's {what}"),
        message: e.to_string(),
    }
}

fn length(bytes: &[u8], what: &str, audit_id: Uuid) -> Result<i64, ArchiveError> {
    i64::try_from(bytes.len()).map_err(|_| ArchiveError::Storage {
        doing: "packing changes".into(),
        message: format!("the {what} of change {audit_id} is too large"),
    })
}

/// Hashes and compresses a batch (with the record dictionary in use, if any). CPU work: run it
/// on a blocking task.
fn pack(
    batch: ChangeBatch,
    dictionary: Option<(i64, &[u8])>,
) -> Result<PackedChanges, ArchiveError> {
    let compressing = |e: std::io::Error| ArchiveError::Storage {
        doing: "compressing changes".into(),
        message: e.to_string(),
    };
    let mut codec = RawCodec::new(dictionary.map(|(_, bytes)| bytes)).map_err(compressing)?;
    let mut seen = HashSet::with_capacity(batch.changes.len());
    let mut out = PackedChanges {
        changes: Vec::with_capacity(batch.changes.len()),
        quarantined: batch.quarantined,
        cursors: batch.cursors,
        repeated: 0,
    };
    for incoming in batch.changes {
        let c = &incoming.change;
        if !seen.insert(c.audit_id) {
            out.repeated += 1;
            continue;
        }
        let detail_bytes = match &incoming.raw_detail {
            Some(raw) => Some(codec.compress(raw).map_err(compressing)?),
            None => None,
        };
        out.changes.push(PackedChange {
            audit_id: *c.audit_id.as_bytes(),
            created_on: micros(c.created_on),
            action: c.action.0,
            operation: c.operation.0,
            table: c.table.clone(),
            object_id: bytes_of(c.object_id),
            object_name: c.object_name.clone(),
            user_id: bytes_of(c.user_id),
            user_name: c.user_name.clone(),
            calling_user_id: bytes_of(c.calling_user_id),
            transaction_id: bytes_of(c.transaction_id),
            attribute_mask: serde_json::to_string(&c.attribute_mask)
                .map_err(encoding("attribute mask"))?,
            source: serde_json::to_string(&incoming.source).map_err(encoding("source"))?,
            detail: serde_json::to_string(&c.detail).map_err(encoding("detail"))?,
            fields: changed_fields(c),
            hash: change_hash(&incoming.raw_row, incoming.raw_detail.as_deref()),
            dictionary: dictionary.map(|(id, _)| id),
            row_len: length(&incoming.raw_row, "raw row", c.audit_id)?,
            row_bytes: codec.compress(&incoming.raw_row).map_err(compressing)?,
            detail_len: incoming
                .raw_detail
                .as_deref()
                .map(|raw| length(raw, "raw detail", c.audit_id))
                .transpose()?,
            detail_bytes,
        });
    }
    Ok(out)
}

/// The columns every read selects, in the order [`change_of_row`] reads them.
pub(crate) const CHANGE_COLUMNS: &str = "c.audit_id, c.created_on, c.action, c.operation, \
    c.table_name, c.object_id, c.object_name, c.user_id, c.user_name, c.calling_user_id, \
    c.transaction_id, c.attribute_mask, c.source, c.detail, c.ingested_at, c.hash, c.dictionary, \
    c.row_len, c.row_bytes, c.detail_len, c.detail_bytes";

/// A stored row before its bytes are decompressed.
#[derive(Debug)]
pub(crate) struct ChangeRow {
    pub(crate) change: AuditChange,
    pub(crate) source: ChangeSource,
    pub(crate) ingested_at: DateTime<Utc>,
    pub(crate) hash: Vec<u8>,
    pub(crate) dictionary: Option<i64>,
    pub(crate) row_len: i64,
    pub(crate) row_bytes: Vec<u8>,
    pub(crate) detail: Option<(i64, Vec<u8>)>,
}

fn guid_at(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<Uuid>> {
    match row.get::<_, Option<Vec<u8>>>(column)? {
        None => Ok(None),
        Some(bytes) => Uuid::from_slice(&bytes).map(Some).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(column, Type::Blob, Box::new(e))
        }),
    }
}

/// A JSON column that does not decode.
fn undecodable(column: usize) -> impl Fn(serde_json::Error) -> rusqlite::Error {
    move |e| rusqlite::Error::FromSqlConversionFailure(column, Type::Text, Box::new(e))
}

/// A row of [`CHANGE_COLUMNS`].
pub(crate) fn change_of_row(row: &Row<'_>) -> rusqlite::Result<ChangeRow> {
    let detail = match (row.get::<_, Option<i64>>(19)?, row.get::<_, Option<Vec<u8>>>(20)?) {
        (Some(len), Some(bytes)) => Some((len, bytes)),
        _ => None,
    };
    let (mask, source, detail_json): (String, String, String) =
        (row.get(11)?, row.get(12)?, row.get(13)?);
    Ok(ChangeRow {
        change: AuditChange {
            audit_id: guid_at(row, 0)?.unwrap_or_default(),
            created_on: time_of(row.get(1)?),
            action: AuditAction(row.get(2)?),
            operation: AuditOperation(row.get(3)?),
            table: row.get(4)?,
            object_id: guid_at(row, 5)?,
            object_name: row.get(6)?,
            user_id: guid_at(row, 7)?,
            user_name: row.get(8)?,
            calling_user_id: guid_at(row, 9)?,
            transaction_id: guid_at(row, 10)?,
            attribute_mask: serde_json::from_str(&mask).map_err(undecodable(11))?,
            detail: serde_json::from_str(&detail_json).map_err(undecodable(13))?,
        },
        source: serde_json::from_str(&source).map_err(undecodable(12))?,
        ingested_at: time_of(row.get(14)?),
        hash: row.get(15)?,
        dictionary: row.get(16)?,
        row_len: row.get(17)?,
        row_bytes: row.get(18)?,
        detail,
    })
}

/// The verbatim row and detail of a stored change.
pub(crate) fn unpack_row(
    conn: &Connection,
    unpacker: &mut Unpacker<'_>,
    row: &ChangeRow,
) -> Result<(Vec<u8>, Option<Vec<u8>>), crate::verbatim::UnpackError> {
    let raw_row =
        unpacker.unpack(conn, row.dictionary, &row.row_bytes, row.row_len.max(0) as usize)?;
    let raw_detail = match &row.detail {
        Some((len, bytes)) => {
            Some(unpacker.unpack(conn, row.dictionary, bytes, (*len).max(0) as usize)?)
        }
        None => None,
    };
    Ok((raw_row, raw_detail))
}

/// Runs a query of [`CHANGE_COLUMNS`] and decompresses every change it returns.
fn query_changes(
    conn: &Connection,
    dictionaries: &DictionaryCache,
    sql: &str,
    params: &[&dyn ToSql],
) -> Result<Vec<StoredChange>, ArchiveError> {
    let rows: Vec<ChangeRow> = conn
        .prepare_cached(sql)
        .and_then(|mut s| s.query_map(params_from_iter(params.iter()), change_of_row)?.collect())
        .map_err(failed("reading changes"))?;
    let mut unpacker = Unpacker::new(dictionaries);
    rows.into_iter()
        .map(|row| {
            let (raw_row, raw_detail) = unpack_row(conn, &mut unpacker, &row)
                .map_err(|e| e.into_archive_error(&format!("change {}", row.change.audit_id)))?;
            Ok(StoredChange {
                hash: archive::evidence::Digest::from_slice(&row.hash)
                    .map(|d| d.to_hex())
                    .unwrap_or_default(),
                change: row.change,
                source: row.source,
                ingested_at: row.ingested_at,
                raw_row,
                raw_detail,
            })
        })
        .collect()
}

fn record_changes(
    conn: &Connection,
    dictionaries: &DictionaryCache,
    object_id: Uuid,
    field: Option<&str>,
) -> Result<Vec<StoredChange>, ArchiveError> {
    let object = object_id.as_bytes().as_slice();
    match field {
        None => query_changes(
            conn,
            dictionaries,
            &format!(
                "SELECT {CHANGE_COLUMNS} FROM changes c WHERE c.object_id = ?1 \
                 ORDER BY c.created_on, c.audit_id"
            ),
            &[&object],
        ),
        Some(field) => query_changes(
            conn,
            dictionaries,
            &format!(
                "SELECT {CHANGE_COLUMNS} FROM change_fields f JOIN changes c ON c.id = f.change \
                 WHERE f.object_id = ?1 AND f.field = ?2 ORDER BY c.created_on, c.audit_id"
            ),
            &[&object, &field_key(field)],
        ),
    }
}

fn user_changes(
    conn: &Connection,
    dictionaries: &DictionaryCache,
    user_id: Uuid,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: u32,
) -> Result<Vec<StoredChange>, ArchiveError> {
    let since = since.map_or(i64::MIN, micros);
    let until = until.map_or(i64::MAX, micros);
    query_changes(
        conn,
        dictionaries,
        &format!(
            "SELECT {CHANGE_COLUMNS} FROM changes c \
             WHERE c.user_id = ?1 AND c.created_on >= ?2 AND c.created_on < ?3 \
             ORDER BY c.created_on, c.audit_id LIMIT ?4"
        ),
        &[&user_id.as_bytes().as_slice(), &since, &until, &i64::from(limit.min(MAX_PAGE))],
    )
}

fn change_summary(conn: &Connection) -> Result<ChangeSummary, ArchiveError> {
    let fail = failed("summarizing changes");
    let changes: i64 = conn
        .query_row("SELECT changes FROM totals WHERE id = 1", [], |row| row.get(0))
        .map_err(&fail)?;
    // Separate statements: SQLite answers a lone min() or max() from the index.
    let earliest: Option<i64> = conn
        .query_row("SELECT min(created_on) FROM changes", [], |row| row.get(0))
        .map_err(&fail)?;
    let latest: Option<i64> = conn
        .query_row("SELECT max(created_on) FROM changes", [], |row| row.get(0))
        .map_err(&fail)?;
    Ok(ChangeSummary {
        changes: changes.max(0) as u64,
        earliest: earliest.map(time_of),
        latest: latest.map(time_of),
    })
}

#[async_trait]
impl ChangeStore for SqliteArchive {
    async fn ingest_changes(&self, batch: ChangeBatch) -> Result<ChangeReceipt, ArchiveError> {
        let writer = self.writer_for("ingesting changes")?;
        if batch.changes.is_empty() && batch.quarantined.is_empty() && batch.cursors.is_empty() {
            return Ok(ChangeReceipt::default());
        }
        let dictionary = self.shared.packer.current();
        let packed = tokio::task::spawn_blocking(move || {
            pack(batch, dictionary.as_deref().map(|d| (d.id, d.bytes.as_slice())))
        })
        .await
        .map_err(|e| ArchiveError::Storage {
            doing: "packing changes".into(),
            message: e.to_string(),
        })??;
        let (reply, answer) = oneshot::channel();
        writer
            .send(WriterCommand::Changes { batch: packed, reply })
            .await
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    async fn record_changes(
        &self,
        object_id: Uuid,
        field: Option<&str>,
    ) -> Result<Vec<StoredChange>, ArchiveError> {
        let field = field.map(str::to_string);
        self.read(move |conn, shared| {
            record_changes(conn, &shared.dictionaries, object_id, field.as_deref())
        })
        .await
    }

    async fn change(&self, audit_id: Uuid) -> Result<Option<StoredChange>, ArchiveError> {
        self.read(move |conn, shared| {
            let sql = format!("SELECT {CHANGE_COLUMNS} FROM changes c WHERE c.audit_id = ?1");
            let found = query_changes(
                conn,
                &shared.dictionaries,
                &sql,
                &[&audit_id.as_bytes().as_slice()],
            )?;
            Ok(found.into_iter().next())
        })
        .await
    }

    async fn change_summary(&self) -> Result<ChangeSummary, ArchiveError> {
        self.read(|conn, _| change_summary(conn)).await
    }

    async fn user_changes(
        &self,
        user_id: Uuid,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<StoredChange>, ArchiveError> {
        self.read(move |conn, shared| {
            user_changes(conn, &shared.dictionaries, user_id, since, until, limit)
        })
        .await
    }
}
