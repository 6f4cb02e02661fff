//! The writer's part of the blob queue: announcing, claiming and settling run on the writer
//! thread, so the queue's state, the records a blob holds and the cursors move in one
//! transaction. Commands that wait together share one transaction, like ingest batches do, and
//! if one of them fails the others are retried alone.
//!
//! A settle first checks that the lease is still the holder's; when it is not, it writes
//! nothing at all, so a stale settle never needs a rollback and can share a group.

use archive::{AnnouncedBlob, ArchiveError, BlobLease, BlobState, IngestReceipt};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{PackedBatch, Writer};
use crate::encoding::{failed, micros};
use crate::queue::{BLOB_COLUMNS, announced_of_row, discovery_columns};
use crate::verbatim::PackedRecord;

type Answer<T> = oneshot::Sender<Result<T, ArchiveError>>;

/// A blob queue request to the writer thread.
#[derive(Debug)]
pub(crate) enum QueueCommand {
    Announce { blobs: Vec<AnnouncedBlob>, cursors: Vec<(String, String)>, reply: Answer<u64> },
    Claim { limit: u32, now: DateTime<Utc>, lease: chrono::Duration, reply: Answer<Vec<BlobLease>> },
    Settle { settle: PackedSettle, reply: Answer<Option<IngestReceipt>> },
}

/// How an attempt ends, without the batch.
#[derive(Debug, Clone)]
pub(crate) enum SettledAs {
    Done {
        out_of_scope: u64,
    },
    Retry {
        error: String,
        next_attempt: DateTime<Utc>,
    },
    /// `state` is a gap state (checked before it is sent).
    Gap {
        state: BlobState,
        error: String,
    },
}

/// A settlement with its batch already hashed and compressed.
#[derive(Debug)]
pub(crate) struct PackedSettle {
    pub(crate) tenant_id: Uuid,
    pub(crate) content_id: String,
    pub(crate) lease_token: Uuid,
    pub(crate) outcome: SettledAs,
    pub(crate) batch: PackedBatch,
    pub(crate) now: DateTime<Utc>,
}

impl QueueCommand {
    /// Records the command stores (for the size of a group).
    pub(crate) fn records(&self) -> usize {
        match self {
            QueueCommand::Settle { settle, .. } => settle.batch.records.len(),
            _ => 0,
        }
    }

    /// The records of a settled batch, for the writer to release once it has answered.
    fn take_records(&mut self) -> Vec<PackedRecord> {
        match self {
            QueueCommand::Settle { settle, .. } => std::mem::take(&mut settle.batch.records),
            _ => Vec::new(),
        }
    }

    fn answer(self, outcome: Result<Outcome, ArchiveError>) {
        // A caller that stopped waiting does not mind.
        match (self, outcome) {
            (QueueCommand::Announce { reply, .. }, Ok(Outcome::Announced(n))) => {
                let _ = reply.send(Ok(n));
            }
            (QueueCommand::Claim { reply, .. }, Ok(Outcome::Claimed(leases))) => {
                let _ = reply.send(Ok(leases));
            }
            (QueueCommand::Settle { reply, .. }, Ok(Outcome::Settled(receipt))) => {
                let _ = reply.send(Ok(receipt));
            }
            (command, Ok(other)) => command.fail(ArchiveError::Storage {
                doing: "answering a blob queue request".into(),
                message: format!("the writer produced {other:?} for another request"),
            }),
            (command, Err(error)) => command.fail(error),
        }
    }

    fn fail(self, error: ArchiveError) {
        match self {
            QueueCommand::Announce { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            QueueCommand::Claim { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            QueueCommand::Settle { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// What one command did, before it is answered.
#[derive(Debug)]
enum Outcome {
    Announced(u64),
    Claimed(Vec<BlobLease>),
    Settled(Option<IngestReceipt>),
}

impl Outcome {
    fn inserted(&self) -> u64 {
        match self {
            Outcome::Settled(Some(receipt)) => receipt.inserted,
            _ => 0,
        }
    }
}

impl Writer {
    /// Runs `commands` in one transaction, or each alone when the group fails.
    pub(super) fn queue_group(&mut self, commands: Vec<QueueCommand>) {
        if commands.len() > 1 {
            let together = self.transaction(|w| {
                commands.iter().map(|command| w.apply(command)).collect::<Result<Vec<_>, _>>()
            });
            match together {
                Ok(outcomes) => {
                    self.stored(outcomes.iter().map(Outcome::inserted).sum());
                    for (mut command, outcome) in commands.into_iter().zip(outcomes) {
                        let records = command.take_records();
                        command.answer(Ok(outcome));
                        self.release(records);
                    }
                    return;
                }
                Err(error) => {
                    tracing::debug!(%error, commands = commands.len(), "a queue group failed; retrying alone");
                }
            }
        }
        for mut command in commands {
            let outcome = self.transaction(|w| w.apply(&command));
            if let Ok(outcome) = &outcome {
                self.stored(outcome.inserted());
            }
            let records = command.take_records();
            command.answer(outcome);
            self.release(records);
        }
    }

    fn apply(&mut self, command: &QueueCommand) -> Result<Outcome, ArchiveError> {
        match command {
            QueueCommand::Announce { blobs, cursors, .. } => {
                let new = insert_blobs(&self.conn, blobs, micros(self.clock.now()))?;
                if !cursors.is_empty() {
                    let batch = PackedBatch { cursors: cursors.clone(), ..PackedBatch::default() };
                    self.write(&batch)?;
                }
                Ok(Outcome::Announced(new))
            }
            QueueCommand::Claim { limit, now, lease, .. } => {
                Ok(Outcome::Claimed(claim(&self.conn, *limit, *now, *lease)?))
            }
            QueueCommand::Settle { settle, .. } => {
                let fail = failed("settling a blob");
                let Some(id) = leased_blob(&self.conn, settle).map_err(&fail)? else {
                    return Ok(Outcome::Settled(None));
                };
                let batch = &settle.batch;
                let receipt = if batch.records.is_empty()
                    && batch.quarantined.is_empty()
                    && batch.cursors.is_empty()
                {
                    IngestReceipt::default()
                } else {
                    self.write(batch)?.receipt
                };
                mark_settled(&self.conn, id, settle, &receipt).map_err(&fail)?;
                Ok(Outcome::Settled(Some(receipt)))
            }
        }
    }
}

/// Inserts the blobs not yet known; returns how many were new.
fn insert_blobs(
    conn: &Connection,
    blobs: &[AnnouncedBlob],
    now_micros: i64,
) -> Result<u64, ArchiveError> {
    let fail = failed("announcing blobs");
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO blobs (tenant_id, content_type, content_id, content_uri, \
             content_created, content_expiration, discovery, window_start, announced_at, state, \
             attempts, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', 0, ?9) \
             ON CONFLICT (tenant_id, content_id) DO NOTHING",
        )
        .map_err(&fail)?;
    let mut new = 0;
    for blob in blobs {
        let (discovery, window_start) = discovery_columns(blob.source);
        new += insert
            .execute(params![
                blob.tenant_id.hyphenated().to_string(),
                blob.content_type,
                blob.content_id,
                blob.content_uri,
                micros(blob.content_created),
                micros(blob.content_expiration),
                discovery,
                window_start,
                now_micros,
            ])
            .map_err(&fail)? as u64;
    }
    Ok(new)
}

/// Blobs due at `?1`, oldest `contentCreated` first, at most `?2`. The condition repeats the one
/// of the index `blobs_waiting`, so that the index serves it in claim order.
fn due_blobs_query() -> String {
    format!(
        "SELECT id, {BLOB_COLUMNS}, attempts FROM blobs \
         WHERE state IN ('pending', 'leased') \
           AND ((state = 'pending' AND (next_attempt IS NULL OR next_attempt <= ?1)) \
             OR (state = 'leased' AND leased_until <= ?1)) \
         ORDER BY content_created LIMIT ?2"
    )
}

/// Leases up to `limit` due blobs, oldest `contentCreated` first.
fn claim(
    conn: &Connection,
    limit: u32,
    now: DateTime<Utc>,
    lease: chrono::Duration,
) -> Result<Vec<BlobLease>, ArchiveError> {
    let fail = failed("claiming blobs");
    let now_micros = micros(now);
    let leased_until = now + lease;
    let due: Vec<(i64, AnnouncedBlob, u32)> = conn
        .prepare_cached(&due_blobs_query())
        .and_then(|mut s| {
            s.query_map(params![now_micros, i64::from(limit)], |row| {
                Ok((row.get(0)?, announced_of_row(row, 1)?, row.get(9)?))
            })?
            .collect()
        })
        .map_err(&fail)?;
    let mut lease_one = conn
        .prepare_cached(
            "UPDATE blobs SET state = 'leased', lease_token = ?2, leased_until = ?3, \
             updated_at = ?4 WHERE id = ?1",
        )
        .map_err(&fail)?;
    let mut leases = Vec::with_capacity(due.len());
    for (id, blob, attempts) in due {
        let lease_token = Uuid::new_v4();
        lease_one
            .execute(params![
                id,
                lease_token.hyphenated().to_string(),
                micros(leased_until),
                now_micros
            ])
            .map_err(&fail)?;
        leases.push(BlobLease { blob, attempts, lease_token, leased_until });
    }
    Ok(leases)
}

/// The row of the blob when `settle`'s lease still holds it.
fn leased_blob(conn: &Connection, settle: &PackedSettle) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT id FROM blobs WHERE tenant_id = ?1 AND content_id = ?2 AND state = 'leased' \
         AND lease_token = ?3",
    )?
    .query_row(
        params![
            settle.tenant_id.hyphenated().to_string(),
            settle.content_id,
            settle.lease_token.hyphenated().to_string()
        ],
        |row| row.get(0),
    )
    .optional()
}

/// Moves a settled blob to its next state; the attempt counts in every case.
fn mark_settled(
    conn: &Connection,
    id: i64,
    settle: &PackedSettle,
    receipt: &IngestReceipt,
) -> rusqlite::Result<()> {
    let now = micros(settle.now);
    let inserted = receipt.inserted as i64;
    match &settle.outcome {
        SettledAs::Done { out_of_scope } => conn
            .prepare_cached(
                "UPDATE blobs SET state = 'done', attempts = attempts + 1, next_attempt = NULL, \
                 lease_token = NULL, leased_until = NULL, last_error = NULL, \
                 records = records + ?2, out_of_scope = ?3, updated_at = ?4 WHERE id = ?1",
            )?
            .execute(params![id, inserted, *out_of_scope as i64, now])?,
        SettledAs::Retry { error, next_attempt } => conn
            .prepare_cached(
                "UPDATE blobs SET state = 'pending', attempts = attempts + 1, next_attempt = ?2, \
                 lease_token = NULL, leased_until = NULL, last_error = ?3, updated_at = ?4 \
                 WHERE id = ?1",
            )?
            .execute(params![id, micros(*next_attempt), error, now])?,
        SettledAs::Gap { state, error } => conn
            .prepare_cached(
                "UPDATE blobs SET state = ?2, attempts = attempts + 1, next_attempt = NULL, \
                 lease_token = NULL, leased_until = NULL, last_error = ?3, \
                 records = records + ?4, updated_at = ?5 WHERE id = ?1",
            )?
            .execute(params![id, state.as_str(), error, inserted, now])?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The claim reads only the waiting blobs, already in claim order: however many blobs are
    /// done, a claim costs the same.
    #[test]
    fn claims_walk_the_waiting_index_in_order() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", due_blobs_query()))
            .unwrap()
            .query_map(params![0, 10], |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join(" / ");
        assert!(plan.contains("USING INDEX blobs_waiting"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}
