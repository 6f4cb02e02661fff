//! Dataverse audit changes ([`archive::ChangeStore`]) in the PostgreSQL archive.
//!
//! A batch is prepared off the async threads (duplicates inside it dropped, bytes hashed and
//! compressed with the record codec, the decoded form as JSON), then one transaction writes it:
//! binary `COPY` into a temporary staging table, `INSERT INTO changes ... SELECT ... ORDER BY
//! audit_id ON CONFLICT DO NOTHING` (the `auditid` primary key is the dedupe: a replica storing
//! the same change at the same moment makes this wait for its commit, then counts a duplicate;
//! the key order keeps such waits free of deadlocks), the quarantined input, the cursors (by
//! name), and the totals (`change_totals`, then `totals` only when something was quarantined,
//! the same order as record ingest). Table and indexes: migration 3.

use std::collections::HashSet;
use std::sync::Arc;

use archive::changes::{change_hash, changed_fields, field_key};
use archive::evidence::Digest;
use archive::query::MAX_PAGE;
use archive::{
    ArchiveError, ChangeBatch, ChangeReceipt, ChangeSource, ChangeStore, ChangeSummary,
    Quarantined, StoredChange,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{ClientWrapper, Transaction};
use futures_util::pin_mut;
use record::{AuditAction, AuditChange, AuditOperation};
use tokio_postgres::Row;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use crate::PostgresArchive;
use crate::failure::failed;
use crate::verbatim::{DictionaryCache, Packed, Packer, UnpackError, Unpacker, pack};

/// The temporary staging table of change ingest, created once per writing connection (see
/// `PostgresArchive::with_pool`).
pub(crate) const CREATE_STAGING: &str = "CREATE TEMPORARY TABLE IF NOT EXISTS change_staging \
    (LIKE d365audit.changes) ON COMMIT DELETE ROWS";

/// Every column, in table order (the staging table has the same).
const COLUMNS: &str = "audit_id, created_on, action, operation, table_name, object_id, \
    object_name, user_id, user_name, calling_user_id, transaction_id, attribute_mask, source, \
    detail, fields, ingested_at, hash, dictionary, row_len, row_bytes, detail_len, detail_bytes";
const COLUMN_TYPES: &[Type] = &[
    Type::UUID,
    Type::TIMESTAMPTZ,
    Type::INT4,
    Type::INT4,
    Type::TEXT,
    Type::UUID,
    Type::TEXT,
    Type::UUID,
    Type::TEXT,
    Type::UUID,
    Type::UUID,
    Type::INT4_ARRAY,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT_ARRAY,
    Type::TIMESTAMPTZ,
    Type::BYTEA,
    Type::INT4,
    Type::INT4,
    Type::BYTEA,
    Type::INT4,
    Type::BYTEA,
];

const INSERT_NEW: &str = "INSERT INTO d365audit.changes SELECT * FROM pg_temp.change_staging \
    ORDER BY audit_id ON CONFLICT DO NOTHING";

/// What reads select, in the order [`change_of_row`] reads it.
pub(crate) const READ_COLUMNS: &str = "audit_id, created_on, action, operation, table_name, \
    object_id, object_name, user_id, user_name, calling_user_id, transaction_id, attribute_mask, \
    source, detail, ingested_at, hash, dictionary, row_len, row_bytes, detail_len, detail_bytes";

/// One change ready to be written.
#[derive(Debug)]
struct PreparedChange {
    change: AuditChange,
    attribute_mask: Vec<i32>,
    source: String,
    detail: String,
    fields: Vec<String>,
    hash: Digest,
    row_len: i32,
    row: Packed,
    detail_len: Option<i32>,
    detail_bytes: Option<Packed>,
}

/// A batch after the CPU work.
#[derive(Debug, Default)]
pub(crate) struct PreparedChanges {
    /// The first of each `auditid` in the batch.
    changes: Vec<PreparedChange>,
    /// Later repeats of an `auditid` inside the batch.
    repeated: u64,
    quarantined: Vec<Quarantined>,
    cursors: Vec<(String, String)>,
}

fn too_large(what: &str, audit_id: Uuid) -> ArchiveError {
    ArchiveError::Storage {
        doing: "preparing changes".into(),
        message: format!("the {what} of change {audit_id} is larger than 2 GiB"),
    }
}

fn encoding(what: &'static str) -> impl Fn(serde_json::Error) -> ArchiveError {
    move |e| ArchiveError::Storage {
        doing: format!("encoding a change's {what}"),
        message: e.to_string(),
    }
}

/// Drops repeats, hashes and compresses. CPU work: run it on a blocking thread.
pub(crate) fn prepare(
    batch: ChangeBatch,
    packer: &Packer,
) -> Result<PreparedChanges, ArchiveError> {
    let mut codec = packer.codec()?;
    let prepared = prepare_with(batch, &mut codec);
    packer.give_back(codec);
    prepared
}

fn prepare_with(
    batch: ChangeBatch,
    codec: &mut (Option<i32>, archive::evidence::RawCodec),
) -> Result<PreparedChanges, ArchiveError> {
    let mut out = PreparedChanges {
        changes: Vec::with_capacity(batch.changes.len()),
        repeated: 0,
        quarantined: batch.quarantined,
        cursors: batch.cursors,
    };
    let mut seen = HashSet::with_capacity(batch.changes.len());
    for incoming in batch.changes {
        let id = incoming.change.audit_id;
        if !seen.insert(id) {
            out.repeated += 1;
            continue;
        }
        let attribute_mask = incoming
            .change
            .attribute_mask
            .iter()
            .map(|n| i32::try_from(*n).map_err(|_| too_large("attribute mask", id)))
            .collect::<Result<Vec<i32>, _>>()?;
        let row_len = i32::try_from(incoming.raw_row.len()).map_err(|_| too_large("row", id))?;
        let detail_len = incoming
            .raw_detail
            .as_ref()
            .map(|raw| i32::try_from(raw.len()).map_err(|_| too_large("detail", id)))
            .transpose()?;
        out.changes.push(PreparedChange {
            attribute_mask,
            source: serde_json::to_string(&incoming.source).map_err(encoding("source"))?,
            detail: serde_json::to_string(&incoming.change.detail).map_err(encoding("detail"))?,
            fields: changed_fields(&incoming.change),
            hash: change_hash(&incoming.raw_row, incoming.raw_detail.as_deref()),
            row_len,
            row: pack(codec, &incoming.raw_row)?,
            detail_len,
            detail_bytes: incoming.raw_detail.as_deref().map(|raw| pack(codec, raw)).transpose()?,
            change: incoming.change,
        });
    }
    Ok(out)
}

/// Writes a prepared batch in one transaction.
pub(crate) async fn write(
    client: &mut ClientWrapper,
    batch: &PreparedChanges,
    now: DateTime<Utc>,
) -> Result<ChangeReceipt, ArchiveError> {
    let fail = failed("writing a batch of changes");
    let tx = client.transaction().await.map_err(&fail)?;
    let mut receipt = ChangeReceipt { duplicates: batch.repeated, ..ChangeReceipt::default() };
    if !batch.changes.is_empty() {
        stage(&tx, batch, now).await?;
        let statement = tx.prepare_cached(INSERT_NEW).await.map_err(&fail)?;
        receipt.inserted = tx.execute(&statement, &[]).await.map_err(&fail)?;
        receipt.duplicates += batch.changes.len() as u64 - receipt.inserted;
    }
    receipt.quarantined +=
        crate::ingest::write_quarantined_and_cursors(&tx, &batch.quarantined, &batch.cursors, now)
            .await?;
    if receipt.inserted > 0 {
        let statement = tx
            .prepare_cached(
                "UPDATE d365audit.change_totals SET changes = changes + $1 WHERE id = 1",
            )
            .await
            .map_err(&fail)?;
        tx.execute(&statement, &[&(receipt.inserted as i64)]).await.map_err(&fail)?;
    }
    if receipt.quarantined > 0 {
        let statement = tx
            .prepare_cached(
                "UPDATE d365audit.totals SET quarantined = quarantined + $1 WHERE id = 1",
            )
            .await
            .map_err(&fail)?;
        tx.execute(&statement, &[&(receipt.quarantined as i64)]).await.map_err(&fail)?;
    }
    tx.commit().await.map_err(failed("committing a batch of changes"))?;
    Ok(receipt)
}

fn packed_bytes(packed: &Option<Packed>) -> Option<&[u8]> {
    packed.as_ref().map(|p| p.bytes.as_slice())
}

/// Copies the batch into the staging table.
async fn stage(
    tx: &Transaction<'_>,
    batch: &PreparedChanges,
    now: DateTime<Utc>,
) -> Result<(), ArchiveError> {
    let fail = failed("staging a batch of changes");
    let sql = format!("COPY pg_temp.change_staging ({COLUMNS}) FROM STDIN (FORMAT binary)");
    let statement = tx.prepare_cached(&sql).await.map_err(&fail)?;
    let writer =
        BinaryCopyInWriter::new(tx.copy_in(&statement).await.map_err(&fail)?, COLUMN_TYPES);
    pin_mut!(writer);
    for p in &batch.changes {
        let c = &p.change;
        let values: [&(dyn ToSql + Sync); 22] = [
            &c.audit_id,
            &c.created_on,
            &c.action.0,
            &c.operation.0,
            &c.table,
            &c.object_id,
            &c.object_name,
            &c.user_id,
            &c.user_name,
            &c.calling_user_id,
            &c.transaction_id,
            &p.attribute_mask,
            &p.source,
            &p.detail,
            &p.fields,
            &now,
            &p.hash.0.as_slice(),
            &p.row.dictionary,
            &p.row_len,
            &p.row.bytes,
            &p.detail_len,
            &packed_bytes(&p.detail_bytes),
        ];
        writer.as_mut().write(&values).await.map_err(&fail)?;
    }
    writer.finish().await.map_err(&fail)?;
    Ok(())
}

/// A stored row before its bytes are decompressed.
#[derive(Debug)]
pub(crate) struct ChangeRow {
    pub(crate) change: AuditChange,
    pub(crate) source: ChangeSource,
    pub(crate) ingested_at: DateTime<Utc>,
    pub(crate) hash: Vec<u8>,
    pub(crate) dictionary: Option<i32>,
    pub(crate) row_len: i32,
    pub(crate) row_bytes: Vec<u8>,
    pub(crate) detail: Option<(i32, Vec<u8>)>,
}

/// A row of [`READ_COLUMNS`], or why its JSON columns do not decode.
pub(crate) fn change_of_row(row: &Row) -> Result<ChangeRow, String> {
    let audit_id: Uuid = row.get(0);
    let undecodable = |what: &'static str| {
        move |e: serde_json::Error| format!("the {what} of change {audit_id} does not decode: {e}")
    };
    let mask: Vec<i32> = row.get(11);
    let source: String = row.get(12);
    let detail: String = row.get(13);
    let stored_detail = match (row.get::<_, Option<i32>>(19), row.get::<_, Option<Vec<u8>>>(20)) {
        (Some(len), Some(bytes)) => Some((len, bytes)),
        _ => None,
    };
    Ok(ChangeRow {
        change: AuditChange {
            audit_id,
            created_on: row.get(1),
            action: AuditAction(row.get(2)),
            operation: AuditOperation(row.get(3)),
            table: row.get(4),
            object_id: row.get(5),
            object_name: row.get(6),
            user_id: row.get(7),
            user_name: row.get(8),
            calling_user_id: row.get(9),
            transaction_id: row.get(10),
            attribute_mask: mask.into_iter().map(|n| n.max(0) as u32).collect(),
            detail: serde_json::from_str(&detail).map_err(undecodable("detail"))?,
        },
        source: serde_json::from_str(&source).map_err(undecodable("source"))?,
        ingested_at: row.get(14),
        hash: row.get(15),
        dictionary: row.get(16),
        row_len: row.get(17),
        row_bytes: row.get(18),
        detail: stored_detail,
    })
}

/// The verbatim row and detail of a stored change (its dictionary loaded beforehand).
pub(crate) fn unpack_row(
    unpacker: &mut Unpacker<'_>,
    row: &ChangeRow,
) -> Result<(Vec<u8>, Option<Vec<u8>>), UnpackError> {
    let length = |len: i32| usize::try_from(len).unwrap_or_default();
    let raw_row = unpacker.unpack(row.dictionary, &row.row_bytes, length(row.row_len))?;
    let raw_detail = match &row.detail {
        Some((len, bytes)) => Some(unpacker.unpack(row.dictionary, bytes, length(*len))?),
        None => None,
    };
    Ok((raw_row, raw_detail))
}

/// Runs a query of [`READ_COLUMNS`] and decompresses every change it returns.
async fn query_changes(
    client: &ClientWrapper,
    dictionaries: &DictionaryCache,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<StoredChange>, ArchiveError> {
    let fail = failed("reading changes");
    let statement = client.prepare_cached(sql).await.map_err(&fail)?;
    let rows = client.query(&statement, params).await.map_err(&fail)?;
    dictionaries.load(client, rows.iter().map(|row| row.get::<_, Option<i32>>(16))).await?;
    let mut unpacker = Unpacker::new(dictionaries);
    rows.iter()
        .map(|row| {
            let row = change_of_row(row).map_err(|message| ArchiveError::Corrupt { message })?;
            let (raw_row, raw_detail) = unpack_row(&mut unpacker, &row)
                .map_err(|e| e.into_archive_error(&format!("change {}", row.change.audit_id)))?;
            Ok(StoredChange {
                hash: Digest::from_slice(&row.hash).map(|d| d.to_hex()).unwrap_or_default(),
                change: row.change,
                source: row.source,
                ingested_at: row.ingested_at,
                raw_row,
                raw_detail,
            })
        })
        .collect()
}

impl PostgresArchive {
    fn dictionary_cache(&self) -> Arc<DictionaryCache> {
        self.shared.dictionaries.clone()
    }
}

#[async_trait]
impl ChangeStore for PostgresArchive {
    async fn ingest_changes(&self, batch: ChangeBatch) -> Result<ChangeReceipt, ArchiveError> {
        let clock = self.writer_clock("ingesting changes")?;
        if batch.changes.is_empty() && batch.quarantined.is_empty() && batch.cursors.is_empty() {
            return Ok(ChangeReceipt::default());
        }
        let shared = self.shared.clone();
        let prepared = tokio::task::spawn_blocking(move || prepare(batch, &shared.packer))
            .await
            .map_err(|e| ArchiveError::Storage {
            doing: "preparing changes".into(),
            message: e.to_string(),
        })??;
        let mut conn = self.connection().await?;
        write(&mut conn, &prepared, clock.now()).await
    }

    async fn record_changes(
        &self,
        object_id: Uuid,
        field: Option<&str>,
    ) -> Result<Vec<StoredChange>, ArchiveError> {
        let conn = self.connection().await?;
        let cache = self.dictionary_cache();
        match field {
            None => {
                let sql = format!(
                    "SELECT {READ_COLUMNS} FROM d365audit.changes WHERE object_id = $1 \
                     ORDER BY created_on, audit_id"
                );
                query_changes(&conn, &cache, &sql, &[&object_id]).await
            }
            Some(field) => {
                let sql = format!(
                    "SELECT {READ_COLUMNS} FROM d365audit.changes \
                     WHERE object_id = $1 AND fields @> ARRAY[$2::text] \
                     ORDER BY created_on, audit_id"
                );
                query_changes(&conn, &cache, &sql, &[&object_id, &field_key(field)]).await
            }
        }
    }

    async fn change(&self, audit_id: Uuid) -> Result<Option<StoredChange>, ArchiveError> {
        let conn = self.connection().await?;
        let sql = format!("SELECT {READ_COLUMNS} FROM d365audit.changes WHERE audit_id = $1");
        let found = query_changes(&conn, &self.dictionary_cache(), &sql, &[&audit_id]).await?;
        Ok(found.into_iter().next())
    }

    async fn change_summary(&self) -> Result<ChangeSummary, ArchiveError> {
        let conn = self.connection().await?;
        let fail = failed("summarizing changes");
        let statement = conn
            .prepare_cached(
                "SELECT t.changes, (SELECT min(created_on) FROM d365audit.changes), \
                   (SELECT max(created_on) FROM d365audit.changes) \
                 FROM d365audit.change_totals t WHERE t.id = 1",
            )
            .await
            .map_err(&fail)?;
        let row = conn.query_one(&statement, &[]).await.map_err(&fail)?;
        Ok(ChangeSummary {
            changes: row.get::<_, i64>(0).max(0) as u64,
            earliest: row.get(1),
            latest: row.get(2),
        })
    }

    async fn user_changes(
        &self,
        user_id: Uuid,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<StoredChange>, ArchiveError> {
        let conn = self.connection().await?;
        let sql = format!(
            "SELECT {READ_COLUMNS} FROM d365audit.changes WHERE user_id = $1 \
             AND ($2::timestamptz IS NULL OR created_on >= $2) \
             AND ($3::timestamptz IS NULL OR created_on < $3) \
             ORDER BY created_on, audit_id LIMIT $4"
        );
        let limit = i64::from(limit.min(MAX_PAGE));
        query_changes(&conn, &self.dictionary_cache(), &sql, &[&user_id, &since, &until, &limit])
            .await
    }
}
