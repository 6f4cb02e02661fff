//! The writer's part of Dataverse audit changes: one transaction per batch that inserts the
//! changes not stored yet (`ON CONFLICT (audit_id) DO NOTHING`: the unique `auditid` is the
//! dedupe), their column names in `change_fields`, the quarantined input, the cursors and the
//! totals. Changes are not sealed into the record chain: each carries its own hash, which
//! verification checks.

use archive::{ArchiveError, ChangeReceipt};
use rusqlite::params;

use super::{Writer, write_cursors, write_quarantined};
use crate::changes::PackedChanges;
use crate::encoding::{failed, micros};

impl Writer {
    pub(super) fn ingest_changes(
        &mut self,
        batch: &PackedChanges,
    ) -> Result<ChangeReceipt, ArchiveError> {
        if batch.is_empty() {
            return Ok(ChangeReceipt { duplicates: batch.repeated, ..ChangeReceipt::default() });
        }
        self.transaction(|writer| writer.write_changes(batch))
    }

    fn write_changes(&mut self, batch: &PackedChanges) -> Result<ChangeReceipt, ArchiveError> {
        let now_micros = micros(self.clock.now());
        let conn = &self.conn;
        let fail = failed("writing a batch of changes");
        let mut receipt = ChangeReceipt { duplicates: batch.repeated, ..ChangeReceipt::default() };
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO changes (audit_id, created_on, action, operation, table_name, \
                 object_id, object_name, user_id, user_name, calling_user_id, transaction_id, \
                 attribute_mask, source, detail, ingested_at, hash, dictionary, row_len, \
                 row_bytes, detail_len, detail_bytes) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
                 ?17, ?18, ?19, ?20, ?21) ON CONFLICT (audit_id) DO NOTHING",
            )
            .map_err(&fail)?;
        let mut insert_field = conn
            .prepare_cached(
                "INSERT INTO change_fields (object_id, field, change) VALUES (?1, ?2, ?3) \
                 ON CONFLICT DO NOTHING",
            )
            .map_err(&fail)?;
        for c in &batch.changes {
            let inserted = insert
                .execute(params![
                    c.audit_id.as_slice(),
                    c.created_on,
                    c.action,
                    c.operation,
                    c.table,
                    c.object_id.as_ref().map(|b| b.as_slice()),
                    c.object_name,
                    c.user_id.as_ref().map(|b| b.as_slice()),
                    c.user_name,
                    c.calling_user_id.as_ref().map(|b| b.as_slice()),
                    c.transaction_id.as_ref().map(|b| b.as_slice()),
                    c.attribute_mask,
                    c.source,
                    c.detail,
                    now_micros,
                    c.hash.0.as_slice(),
                    c.dictionary,
                    c.row_len,
                    c.row_bytes,
                    c.detail_len,
                    c.detail_bytes,
                ])
                .map_err(&fail)?;
            if inserted == 0 {
                receipt.duplicates += 1;
                continue;
            }
            receipt.inserted += 1;
            if let Some(object) = &c.object_id {
                let id = conn.last_insert_rowid();
                for field in &c.fields {
                    insert_field.execute(params![object.as_slice(), field, id]).map_err(&fail)?;
                }
            }
        }
        receipt.quarantined =
            write_quarantined(conn, &batch.quarantined, now_micros).map_err(&fail)?;
        write_cursors(conn, &batch.cursors, now_micros).map_err(&fail)?;
        conn.prepare_cached(
            "UPDATE totals SET changes = changes + ?1, quarantined = quarantined + ?2 WHERE id = 1",
        )
        .and_then(|mut s| s.execute(params![receipt.inserted as i64, receipt.quarantined as i64]))
        .map_err(&fail)?;
        Ok(receipt)
    }
}
