//! The durable blob queue ([`archive::BlobQueue`]) in `d365audit.blob_queue`, shared by every
//! collector replica of the archive.
//!
//! - **announce**: one transaction inserts the blobs not known yet (`ON CONFLICT DO NOTHING`, in
//!   key order so two announcers never deadlock) and upserts the cursors.
//! - **claim**: reads the oldest waiting blobs (pending and due, or leased with the lease run
//!   out) without locking, then leases them tenant by tenant with `UPDATE ... FROM (SELECT ...
//!   FOR UPDATE SKIP LOCKED)`, re-checking that each is still waiting: a blob another replica is
//!   claiming or settling at that moment is skipped, never waited for and never handed out twice.
//!   Each lease gets a random token. Per-tenant statements keep every lock on one Citus shard.
//! - **settle**: one transaction locks the blob's row (`FOR UPDATE`), goes on only while the
//!   row is still leased with the caller's token, writes the settlement's batch through the
//!   ingest path (`ingest::write_in`: COPY, dedupe, seal) and updates the row, then commits.
//!   Records and the blob's new state land together or not at all.
//!
//! Locks are always taken in the order blob row, record keys, cursors, sealing lock, so
//! settles, ingests and announces never deadlock each other.

use std::collections::BTreeMap;

use archive::{
    AnnouncedBlob, ArchiveError, BlobGap, BlobLease, BlobQueue, BlobState, Discovery, IngestBatch,
    IngestReceipt, QueueStatus, Settlement,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::{IsolationLevel, Row};
use uuid::Uuid;

use crate::PostgresArchive;
use crate::failure::failed;
use crate::ingest;

const INSERT_BLOBS: &str = "INSERT INTO d365audit.blob_queue (tenant_id, content_id, \
    content_type, content_uri, content_created, content_expiration, discovered_by, window_start, \
    announced_at) \
    SELECT b.tenant_id, b.content_id, b.content_type, b.content_uri, b.content_created, \
      b.content_expiration, b.discovered_by, b.window_start, $9 \
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], \
      $6::timestamptz[], $7::text[], $8::timestamptz[]) \
      AS b (tenant_id, content_id, content_type, content_uri, content_created, \
        content_expiration, discovered_by, window_start) \
    ORDER BY b.tenant_id, b.content_id \
    ON CONFLICT DO NOTHING";

const UPSERT_CURSOR: &str = "INSERT INTO d365audit.cursors (name, value, updated_at) \
    VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
    updated_at = excluded.updated_at";

/// A blob waiting for a worker at `$1`: pending and due, or leased with the lease run out.
const WAITING: &str = "state IN ('pending', 'leased') \
    AND ((state = 'pending' AND next_attempt <= $1) OR (state = 'leased' AND leased_until <= $1))";

/// The columns a lease is made of, in [`lease_of_row`]'s order.
const LEASE_COLUMNS: &str = "q.tenant_id, q.content_type, q.content_id, q.content_uri, \
    q.content_created, q.content_expiration, q.discovered_by, q.window_start, q.attempts, \
    q.lease_token, q.leased_until";

/// How many more candidates than asked for a claim reads, for blobs other replicas take first.
const CANDIDATE_FACTOR: i64 = 3;

const LOCK_BLOB: &str = "SELECT state, lease_token FROM d365audit.blob_queue \
    WHERE tenant_id = $1 AND content_id = $2 FOR UPDATE";

/// Runs after the sealing lock (when the settle ingested anything), so that settles of one
/// stream do not queue on this row any longer than they queue for sealing.
const COUNT_IN_STREAM: &str = "INSERT INTO d365audit.blob_streams AS s (tenant_id, \
    content_type, done, records) VALUES ($1, $2, $3, $4) \
    ON CONFLICT (tenant_id, content_type) DO UPDATE SET done = s.done + excluded.done, \
    records = s.records + excluded.records";

const SETTLE_BLOB: &str = "UPDATE d365audit.blob_queue SET state = $3, \
    attempts = attempts + 1, lease_token = NULL, leased_until = NULL, \
    next_attempt = coalesce($4, next_attempt), records = records + $5, \
    last_error = coalesce($6, last_error), settled_at = $7 \
    WHERE tenant_id = $1 AND content_id = $2";

fn discovery_columns(source: &Discovery) -> (&'static str, Option<DateTime<Utc>>) {
    match source {
        Discovery::Poll { window_start } => ("poll", Some(*window_start)),
        Discovery::Webhook => ("webhook", None),
    }
}

fn new_status(tenant_id: Uuid, content_type: String) -> QueueStatus {
    QueueStatus { tenant_id, content_type, ..QueueStatus::default() }
}

fn state_of(text: &str) -> Result<BlobState, ArchiveError> {
    BlobState::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| ArchiveError::Corrupt {
        message: format!("the blob queue holds the unknown state {text:?}"),
    })
}

fn lease_of_row(row: &Row) -> BlobLease {
    let discovered_by: &str = row.get(6);
    let window_start: Option<DateTime<Utc>> = row.get(7);
    let source = match (discovered_by, window_start) {
        ("poll", Some(window_start)) => Discovery::Poll { window_start },
        _ => Discovery::Webhook,
    };
    BlobLease {
        blob: AnnouncedBlob {
            tenant_id: row.get(0),
            content_type: row.get(1),
            content_id: row.get(2),
            content_uri: row.get(3),
            content_created: row.get(4),
            content_expiration: row.get(5),
            source,
        },
        attempts: u32::try_from(row.get::<_, i32>(8)).unwrap_or_default(),
        lease_token: row.get::<_, Option<Uuid>>(9).unwrap_or_default(),
        leased_until: row.get::<_, Option<DateTime<Utc>>>(10).unwrap_or_default(),
    }
}

/// What a settlement does to the blob's row.
struct Outcome {
    state: BlobState,
    batch: IngestBatch,
    error: Option<String>,
    next_attempt: Option<DateTime<Utc>>,
}

fn outcome_of(settlement: Settlement) -> Result<Outcome, ArchiveError> {
    Ok(match settlement {
        Settlement::Done { batch, .. } => {
            Outcome { state: BlobState::Done, batch, error: None, next_attempt: None }
        }
        Settlement::Retry { error, next_attempt } => Outcome {
            state: BlobState::Pending,
            batch: IngestBatch::default(),
            error: Some(error),
            next_attempt: Some(next_attempt),
        },
        Settlement::Gap { state, error, batch } => {
            if !state.is_gap() {
                return Err(ArchiveError::Storage {
                    doing: "settling a blob".into(),
                    message: format!(
                        "a gap settlement needs the state expired, quarantined or failed, not \
                         {} (a bug in the caller)",
                        state.as_str()
                    ),
                });
            }
            Outcome { state, batch, error: Some(error), next_attempt: None }
        }
    })
}

#[async_trait]
impl BlobQueue for PostgresArchive {
    async fn announce(
        &self,
        blobs: Vec<AnnouncedBlob>,
        mut cursors: Vec<(String, String)>,
    ) -> Result<u64, ArchiveError> {
        let now = self.writer_clock("announcing blobs")?.now();
        if blobs.is_empty() && cursors.is_empty() {
            return Ok(0);
        }
        // The first announcement of a key in the call wins, as later calls leave it alone.
        let mut seen = std::collections::HashSet::new();
        let blobs: Vec<AnnouncedBlob> = blobs
            .into_iter()
            .filter(|b| seen.insert((b.tenant_id, b.content_id.clone())))
            .collect();
        let tenants: Vec<Uuid> = blobs.iter().map(|b| b.tenant_id).collect();
        let ids: Vec<&str> = blobs.iter().map(|b| b.content_id.as_str()).collect();
        let types: Vec<&str> = blobs.iter().map(|b| b.content_type.as_str()).collect();
        let uris: Vec<&str> = blobs.iter().map(|b| b.content_uri.as_str()).collect();
        let created: Vec<DateTime<Utc>> = blobs.iter().map(|b| b.content_created).collect();
        let expiration: Vec<DateTime<Utc>> = blobs.iter().map(|b| b.content_expiration).collect();
        let (by, windows): (Vec<&str>, Vec<Option<DateTime<Utc>>>) =
            blobs.iter().map(|b| discovery_columns(&b.source)).unzip();

        let fail = failed("announcing blobs");
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(&fail)?;
        let mut new = 0;
        if !blobs.is_empty() {
            let statement = tx.prepare_cached(INSERT_BLOBS).await.map_err(&fail)?;
            new = tx
                .execute(
                    &statement,
                    &[&tenants, &ids, &types, &uris, &created, &expiration, &by, &windows, &now],
                )
                .await
                .map_err(&fail)?;
        }
        if !cursors.is_empty() {
            // By name (the last value of a name wins), as the ingest path takes them.
            cursors.sort_by(|a, b| a.0.cmp(&b.0));
            let statement = tx.prepare_cached(UPSERT_CURSOR).await.map_err(&fail)?;
            for (name, value) in &cursors {
                tx.execute(&statement, &[name, value, &now]).await.map_err(&fail)?;
            }
        }
        tx.commit().await.map_err(failed("committing announced blobs"))?;
        Ok(new)
    }

    async fn claim(
        &self,
        limit: u32,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Vec<BlobLease>, ArchiveError> {
        self.writer_clock("claiming blobs")?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let until = now + lease;
        let fail = failed("claiming blobs");
        let conn = self.connection().await?;
        let sql = format!(
            "SELECT tenant_id, content_id FROM d365audit.blob_queue WHERE {WAITING} \
             ORDER BY content_created, tenant_id, content_id LIMIT $2"
        );
        let statement = conn.prepare_cached(&sql).await.map_err(&fail)?;
        let wanted = i64::from(limit);
        let candidates: Vec<(Uuid, String)> = conn
            .query(&statement, &[&now, &(wanted * CANDIDATE_FACTOR + 8)])
            .await
            .map_err(&fail)?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let sql = format!(
            "UPDATE d365audit.blob_queue q SET state = 'leased', \
               lease_token = gen_random_uuid(), leased_until = $4 \
             FROM (SELECT content_id FROM d365audit.blob_queue \
                   WHERE tenant_id = $2 AND content_id = ANY ($3) AND {WAITING} \
                   ORDER BY content_created, content_id FOR UPDATE SKIP LOCKED) due \
             WHERE q.tenant_id = $2 AND q.content_id = due.content_id \
             RETURNING {LEASE_COLUMNS}"
        );
        let statement = conn.prepare_cached(&sql).await.map_err(&fail)?;
        let mut leases: Vec<BlobLease> = Vec::new();
        let mut rest = candidates.as_slice();
        // Oldest first; when another replica takes some, the next candidates fill in.
        while leases.len() < limit as usize && !rest.is_empty() {
            let take = (limit as usize - leases.len()).min(rest.len());
            let (round, after) = rest.split_at(take);
            rest = after;
            let mut by_tenant: BTreeMap<Uuid, Vec<&str>> = BTreeMap::new();
            for (tenant, id) in round {
                by_tenant.entry(*tenant).or_default().push(id);
            }
            for (tenant, ids) in by_tenant {
                let rows =
                    conn.query(&statement, &[&now, &tenant, &ids, &until]).await.map_err(&fail)?;
                leases.extend(rows.iter().map(lease_of_row));
            }
        }
        leases.sort_by(|a, b| {
            (a.blob.content_created, a.blob.tenant_id, &a.blob.content_id).cmp(&(
                b.blob.content_created,
                b.blob.tenant_id,
                &b.blob.content_id,
            ))
        });
        Ok(leases)
    }

    async fn settle(
        &self,
        lease: &BlobLease,
        settlement: Settlement,
        now: DateTime<Utc>,
    ) -> Result<Option<IngestReceipt>, ArchiveError> {
        let clock = self.writer_clock("settling a blob")?.clone();
        let Outcome { state, batch, error, next_attempt } = outcome_of(settlement)?;
        let mut prepared =
            if batch.records.is_empty() && batch.quarantined.is_empty() && batch.cursors.is_empty()
            {
                None
            } else {
                Some(self.prepare(batch).await?)
            };
        let mut conn = self.connection().await?;
        if let Some(prepared) = &mut prepared {
            self.ensure_partitions(&mut conn, prepared).await?;
            self.store_names(&conn, prepared).await?;
        }
        let fail = failed("settling a blob");
        let blob = &lease.blob;
        let tx = conn.transaction().await.map_err(&fail)?;
        let statement = tx.prepare_cached(LOCK_BLOB).await.map_err(&fail)?;
        let holder = tx
            .query_opt(&statement, &[&blob.tenant_id, &blob.content_id])
            .await
            .map_err(&fail)?
            .map(|row| (row.get::<_, String>(0), row.get::<_, Option<Uuid>>(1)));
        let still_ours = matches!(&holder, Some((state, Some(token)))
            if state == BlobState::Leased.as_str() && *token == lease.lease_token);
        if !still_ours {
            tx.rollback().await.map_err(&fail)?;
            tracing::info!(
                tenant = %blob.tenant_id,
                content_id = %blob.content_id,
                "a blob settled with a lease that is no longer the holder's; nothing changed"
            );
            return Ok(None);
        }
        let mut receipt = IngestReceipt::default();
        let mut records_total = None;
        if let Some(prepared) = &prepared {
            match ingest::write_in(&tx, prepared, clock.as_ref()).await {
                Ok(written) => {
                    receipt = written.receipt;
                    records_total = Some(written.records_total);
                }
                Err(error) => {
                    self.shared.partitions.forget();
                    return Err(error);
                }
            }
        }
        let statement = tx.prepare_cached(SETTLE_BLOB).await.map_err(&fail)?;
        tx.execute(
            &statement,
            &[
                &blob.tenant_id,
                &blob.content_id,
                &state.as_str(),
                &next_attempt,
                &(receipt.inserted as i64),
                &error,
                &now,
            ],
        )
        .await
        .map_err(&fail)?;
        let done = i64::from(state == BlobState::Done);
        if done > 0 || receipt.inserted > 0 {
            let statement = tx.prepare_cached(COUNT_IN_STREAM).await.map_err(&fail)?;
            tx.execute(
                &statement,
                &[&blob.tenant_id, &blob.content_type, &done, &(receipt.inserted as i64)],
            )
            .await
            .map_err(&fail)?;
        }
        tx.commit().await.map_err(failed("committing a settled blob"))?;
        drop(conn);
        if let Some(prepared) = prepared {
            self.recycle(prepared);
        }
        if let Some(records) = records_total {
            self.maybe_train_dictionary(records).await;
        }
        Ok(Some(receipt))
    }

    async fn queue_status(&self) -> Result<Vec<QueueStatus>, ArchiveError> {
        let fail = failed("reading the blob queue's status");
        let mut conn = self.connection().await?;
        // One snapshot for the three reads, so a settle in between is seen whole or not at all.
        let tx = conn
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(&fail)?;
        let mut streams: BTreeMap<(Uuid, String), (QueueStatus, Vec<(BlobState, u64)>)> =
            BTreeMap::new();
        // Done blobs and their records from the running totals; the rest (waiting blobs and
        // gaps, a small part of the queue) counted through its partial index.
        let statement = tx
            .prepare_cached(
                "SELECT tenant_id, content_type, done, records FROM d365audit.blob_streams",
            )
            .await
            .map_err(&fail)?;
        let totals = tx.query(&statement, &[]).await.map_err(&fail)?;
        let statement = tx
            .prepare_cached(
                "SELECT tenant_id, content_type, state, count(*), \
                   min(content_created) FILTER (WHERE state IN ('pending', 'leased')) \
                 FROM d365audit.blob_queue WHERE state <> 'done' \
                 GROUP BY tenant_id, content_type, state",
            )
            .await
            .map_err(&fail)?;
        let unsettled = tx.query(&statement, &[]).await.map_err(&fail)?;
        let statement = tx
            .prepare_cached(
                "SELECT DISTINCT ON (tenant_id, content_type) tenant_id, content_type, \
                   last_error FROM d365audit.blob_queue WHERE last_error IS NOT NULL \
                 ORDER BY tenant_id, content_type, settled_at DESC NULLS LAST",
            )
            .await
            .map_err(&fail)?;
        let errors = tx.query(&statement, &[]).await.map_err(&fail)?;
        for row in &totals {
            let entry = streams
                .entry((row.get(0), row.get(1)))
                .or_insert_with(|| (new_status(row.get(0), row.get(1)), Vec::new()));
            let done = row.get::<_, i64>(2) as u64;
            if done > 0 {
                entry.1.push((BlobState::Done, done));
            }
            entry.0.records += row.get::<_, i64>(3) as u64;
        }
        for row in &unsettled {
            let entry = streams
                .entry((row.get(0), row.get(1)))
                .or_insert_with(|| (new_status(row.get(0), row.get(1)), Vec::new()));
            entry.1.push((state_of(row.get(2))?, row.get::<_, i64>(3) as u64));
            let oldest: Option<DateTime<Utc>> = row.get(4);
            entry.0.oldest_waiting = match (entry.0.oldest_waiting, oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        tx.commit().await.map_err(&fail)?;
        for row in &errors {
            if let Some((status, _)) = streams.get_mut(&(row.get(0), row.get(1))) {
                status.last_error = row.get(2);
            }
        }
        Ok(streams
            .into_values()
            .map(|(mut status, mut counts)| {
                counts.sort_by_key(|(state, _)| BlobState::ALL.iter().position(|s| s == state));
                status.counts =
                    counts.into_iter().map(|(s, n)| (s.as_str().to_string(), n)).collect();
                status
            })
            .collect())
    }

    async fn blob_gaps(&self, limit: u32) -> Result<Vec<BlobGap>, ArchiveError> {
        let fail = failed("listing blob gaps");
        let conn = self.connection().await?;
        let statement = conn
            .prepare_cached(
                "SELECT tenant_id, content_type, content_id, content_created, state, attempts, \
                   coalesce(last_error, ''), settled_at \
                 FROM d365audit.blob_queue WHERE state IN ('expired', 'quarantined', 'failed') \
                 ORDER BY settled_at DESC, tenant_id, content_id LIMIT $1",
            )
            .await
            .map_err(&fail)?;
        conn.query(&statement, &[&i64::from(limit)])
            .await
            .map_err(&fail)?
            .iter()
            .map(|row| {
                Ok(BlobGap {
                    tenant_id: row.get(0),
                    content_type: row.get(1),
                    content_id: row.get(2),
                    content_created: row.get(3),
                    state: state_of(row.get(4))?,
                    attempts: u32::try_from(row.get::<_, i32>(5)).unwrap_or_default(),
                    error: row.get(6),
                    at: row.get::<_, Option<DateTime<Utc>>>(7).unwrap_or(row.get(3)),
                })
            })
            .collect()
    }
}
