//! The durable blob queue ([`archive::BlobQueue`]) of the SQLite archive: announcing, claiming
//! and settling are sent to the writer thread (see `writer::blobs`), the queue's status and its
//! gaps are read on read-only connections.
//!
//! Choices the trait leaves open: a new blob is due at once (`next_attempt` NULL); a settle is
//! accepted while its lease token still holds the blob, even after `leased_until` when nobody
//! claimed the blob since (the work is done and ingest is idempotent); `last_error` is cleared
//! when a blob is done, so the status shows the errors of blobs still waiting and of gaps.
//!
//! Table `blobs` (one row per tenant and `contentId`, kept after it is done so that a blob
//! listed again is recognized) with four partial indexes that stay as small as the work they
//! serve: `blobs_waiting` (pending and leased blobs in claim order), `blobs_backlog` (the same
//! per tenant and content type, for the backlog's age), `blobs_gaps` (gaps, newest first) and
//! `blobs_errors` (blobs with an error, for the status's last error).
//! `blob_counts` holds the number of blobs and records per tenant, content type and state,
//! kept by triggers in the same statement as every change of a blob, so `status` never scans
//! the table.
//!
//! Times are integer microseconds (UTC) like everywhere in the archive; tenant ids and lease
//! tokens are hyphenated text so that the SQL console reads them as they are shown elsewhere.

use archive::{
    AnnouncedBlob, ArchiveError, BlobGap, BlobLease, BlobQueue, BlobState, Discovery, IngestBatch,
    IngestReceipt, QueueStatus, Settlement,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, Row, params};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::encoding::{failed, micros, time_of};
use crate::writer::WriterCommand;
use crate::writer::blobs::{PackedSettle, QueueCommand, SettledAs};
use crate::{ColumnBatch, SqliteArchive, writer_gone};

/// The columns [`announced_of_row`] reads, in its order.
pub(crate) const BLOB_COLUMNS: &str = "tenant_id, content_type, content_id, content_uri, \
    content_created, content_expiration, discovery, window_start";

/// How a [`Discovery`] is stored: `discovery` and `window_start`.
pub(crate) fn discovery_columns(source: Discovery) -> (&'static str, Option<i64>) {
    match source {
        Discovery::Poll { window_start } => ("poll", Some(micros(window_start))),
        Discovery::Webhook => ("webhook", None),
    }
}

fn conversion(column: usize, kind: Type, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, kind, message.into())
}

fn uuid_at(row: &Row<'_>, column: usize) -> rusqlite::Result<Uuid> {
    let text: String = row.get(column)?;
    Uuid::try_parse(&text)
        .map_err(|e| conversion(column, Type::Text, format!("the stored id {text:?}: {e}")))
}

fn state_at(row: &Row<'_>, column: usize) -> rusqlite::Result<BlobState> {
    let text: String = row.get(column)?;
    BlobState::ALL
        .into_iter()
        .find(|state| state.as_str() == text)
        .ok_or_else(|| conversion(column, Type::Text, format!("the blob state {text:?}")))
}

/// An announced blob from [`BLOB_COLUMNS`] starting at column `first`.
pub(crate) fn announced_of_row(row: &Row<'_>, first: usize) -> rusqlite::Result<AnnouncedBlob> {
    let discovery: String = row.get(first + 6)?;
    let window_start: Option<i64> = row.get(first + 7)?;
    let source = match (discovery.as_str(), window_start) {
        ("poll", Some(start)) => Discovery::Poll { window_start: time_of(start) },
        ("webhook", _) => Discovery::Webhook,
        _ => {
            return Err(conversion(
                first + 6,
                Type::Text,
                format!("the discovery {discovery:?} (window start {window_start:?})"),
            ));
        }
    };
    Ok(AnnouncedBlob {
        tenant_id: uuid_at(row, first)?,
        content_type: row.get(first + 1)?,
        content_id: row.get(first + 2)?,
        content_uri: row.get(first + 3)?,
        content_created: time_of(row.get(first + 4)?),
        content_expiration: time_of(row.get(first + 5)?),
        source,
    })
}

impl SqliteArchive {
    /// The writer's channel, or why this handle cannot write.
    pub(crate) fn writer_for(
        &self,
        doing: &str,
    ) -> Result<&mpsc::Sender<WriterCommand>, ArchiveError> {
        self.shared.writer.as_ref().ok_or_else(|| ArchiveError::Storage {
            doing: doing.to_string(),
            message: format!(
                "{} was opened read-only; open it read-write to change it",
                self.shared.path.display()
            ),
        })
    }

    async fn queue_request<T>(
        &self,
        doing: &str,
        command: impl FnOnce(oneshot::Sender<Result<T, ArchiveError>>) -> QueueCommand,
    ) -> Result<T, ArchiveError> {
        let writer = self.writer_for(doing)?;
        let (reply, answer) = oneshot::channel();
        writer.send(WriterCommand::Queue(command(reply))).await.map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

#[async_trait]
impl BlobQueue for SqliteArchive {
    async fn announce(
        &self,
        blobs: Vec<AnnouncedBlob>,
        cursors: Vec<(String, String)>,
    ) -> Result<u64, ArchiveError> {
        if blobs.is_empty() && cursors.is_empty() {
            return Ok(0);
        }
        self.queue_request("announcing blobs", |reply| QueueCommand::Announce {
            blobs,
            cursors,
            reply,
        })
        .await
    }

    async fn claim(
        &self,
        limit: u32,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Vec<BlobLease>, ArchiveError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.queue_request("claiming blobs", |reply| QueueCommand::Claim {
            limit,
            now,
            lease,
            reply,
        })
        .await
    }

    async fn settle(
        &self,
        lease: &BlobLease,
        settlement: Settlement,
        now: DateTime<Utc>,
    ) -> Result<Option<IngestReceipt>, ArchiveError> {
        let doing = "settling a blob";
        self.writer_for(doing)?;
        let (outcome, batch) = match settlement {
            Settlement::Done { batch, out_of_scope } => (SettledAs::Done { out_of_scope }, batch),
            Settlement::Retry { error, next_attempt } => {
                (SettledAs::Retry { error, next_attempt }, IngestBatch::default())
            }
            Settlement::Gap { state, error, batch } if state.is_gap() => {
                (SettledAs::Gap { state, error }, batch)
            }
            Settlement::Gap { state, .. } => {
                return Err(ArchiveError::Storage {
                    doing: doing.into(),
                    message: format!(
                        "a gap ends in `expired`, `quarantined` or `failed`, not `{}`",
                        state.as_str()
                    ),
                });
            }
        };
        // Hashed and compressed before the writer checks the lease: a stale lease is rare.
        let batch = self.pack(ColumnBatch::from(batch)).await?;
        let settle = PackedSettle {
            tenant_id: lease.blob.tenant_id,
            content_id: lease.blob.content_id.clone(),
            lease_token: lease.lease_token,
            outcome,
            batch,
            now,
        };
        self.queue_request(doing, |reply| QueueCommand::Settle { settle, reply }).await
    }

    async fn queue_status(&self) -> Result<Vec<QueueStatus>, ArchiveError> {
        self.read(|conn, _| queue_status(conn)).await
    }

    async fn blob_gaps(&self, limit: u32) -> Result<Vec<BlobGap>, ArchiveError> {
        self.read(move |conn, _| blob_gaps(conn, limit)).await
    }
}

/// The backlog's age of a tenant and content type (index `blobs_backlog`).
const OLDEST_WAITING: &str = "SELECT min(content_created) FROM blobs \
    WHERE tenant_id = ?1 AND content_type = ?2 AND state IN ('pending', 'leased')";

/// The latest error of a tenant and content type (index `blobs_errors`).
const LAST_ERROR: &str = "SELECT last_error FROM blobs WHERE tenant_id = ?1 AND content_type = ?2 \
    AND last_error IS NOT NULL ORDER BY updated_at DESC LIMIT 1";

/// Gaps, newest first (index `blobs_gaps`).
const GAPS: &str = "SELECT tenant_id, content_type, content_id, content_created, state, attempts, \
    coalesce(last_error, ''), updated_at FROM blobs \
    WHERE state IN ('expired', 'quarantined', 'failed') ORDER BY updated_at DESC, id DESC LIMIT ?1";

fn queue_status(conn: &Connection) -> Result<Vec<QueueStatus>, ArchiveError> {
    let fail = failed("reading the queue status");
    let counted: Vec<(String, String, BlobState, i64, i64)> = conn
        .prepare_cached(
            "SELECT tenant_id, content_type, state, blobs, records FROM blob_counts \
             ORDER BY tenant_id, content_type",
        )
        .and_then(|mut s| {
            s.query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, state_at(row, 2)?, row.get(3)?, row.get(4)?))
            })?
            .collect()
        })
        .map_err(&fail)?;
    let mut oldest = conn.prepare_cached(OLDEST_WAITING).map_err(&fail)?;
    let mut last_error = conn.prepare_cached(LAST_ERROR).map_err(&fail)?;
    let mut statuses: Vec<QueueStatus> = Vec::new();
    let mut keys: Vec<(String, String)> = Vec::new();
    for (tenant, content_type, state, blobs, records) in counted {
        if keys.last() != Some(&(tenant.clone(), content_type.clone())) {
            let tenant_id = Uuid::try_parse(&tenant).map_err(|e| ArchiveError::Corrupt {
                message: format!("the queue holds the tenant id {tenant:?}: {e}"),
            })?;
            statuses.push(QueueStatus {
                tenant_id,
                content_type: content_type.clone(),
                ..QueueStatus::default()
            });
            keys.push((tenant, content_type));
        }
        let Some(status) = statuses.last_mut() else { continue };
        status.records += records.max(0) as u64;
        if blobs > 0 {
            status.counts.push((state.as_str().to_string(), blobs as u64));
        }
    }
    for (status, (tenant, content_type)) in statuses.iter_mut().zip(&keys) {
        let rank = |name: &str| BlobState::ALL.iter().position(|s| s.as_str() == name);
        status.counts.sort_by_key(|(name, _)| rank(name));
        status.oldest_waiting = oldest
            .query_row(params![tenant, content_type], |row| row.get::<_, Option<i64>>(0))
            .map_err(&fail)?
            .map(time_of);
        status.last_error = last_error
            .query_map(params![tenant, content_type], |row| row.get(0))
            .and_then(|mut rows| rows.next().transpose())
            .map_err(&fail)?;
    }
    // Blobs are never deleted today, but a group whose blobs all went is no group.
    statuses.retain(|status| !status.counts.is_empty());
    Ok(statuses)
}

fn blob_gaps(conn: &Connection, limit: u32) -> Result<Vec<BlobGap>, ArchiveError> {
    conn.prepare_cached(GAPS)
        .and_then(|mut s| {
            s.query_map([i64::from(limit)], |row| {
                Ok(BlobGap {
                    tenant_id: uuid_at(row, 0)?,
                    content_type: row.get(1)?,
                    content_id: row.get(2)?,
                    content_created: time_of(row.get(3)?),
                    state: state_at(row, 4)?,
                    attempts: row.get(5)?,
                    error: row.get(6)?,
                    at: time_of(row.get(7)?),
                })
            })?
            .collect()
        })
        .map_err(failed("listing blob gaps"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let count = explain.parameter_count();
        let params: Vec<i64> = vec![0; count];
        let steps: Vec<String> = explain
            .query_map(rusqlite::params_from_iter(params), |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        steps.join(" / ")
    }

    /// `status` and the gap list read small partial indexes, never the table of done blobs.
    #[test]
    fn status_and_gaps_read_their_partial_indexes() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        for (sql, index) in
            [(OLDEST_WAITING, "blobs_backlog"), (LAST_ERROR, "blobs_errors"), (GAPS, "blobs_gaps")]
        {
            let plan = plan(&conn, sql);
            assert!(plan.contains(&format!("INDEX {index}")), "{sql}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
        }
    }
}
