//! The PostgreSQL archive, for teams and larger archives: several collector and server replicas
//! share one database. [`PostgresArchive`] is a cheap-to-clone handle over a connection pool
//! implementing [`archive::Archive`] with the same semantics as the SQLite archive (the shared
//! behaviour suite checks both).
//!
//! ```no_run
//! # async fn demo() -> Result<(), archive::ArchiveError> {
//! use std::sync::Arc;
//! let url = "postgres://d365audit@db.example.net:5432/audit";
//! let archive = archive_postgres::PostgresArchive::connect(url, Arc::new(clock::SystemClock)).await?;
//! let readers = archive_postgres::PostgresArchive::connect_read_only(url).await?;
//! # Ok(()) }
//! ```
//!
//! # Schema
//!
//! Everything lives in the `d365audit` schema, created and upgraded by versioned migrations
//! embedded in this crate (`migrations/*.sql`, see the `schema` module): each runs in one
//! transaction, under an advisory lock so replicas starting together do not race, and is
//! recorded in `d365audit.schema_migrations`. A database whose schema is newer than this
//! program is refused ([`archive::ArchiveError::Incompatible`]).
//!
//! | table | what | partitioned | key / indexes |
//! |---|---|---|---|
//! | `tenants` | each tenant's 2-byte `tenant_ref`, which the record-bearing rows and keys hold instead of its id (schema 7) | no | PK `tenant_ref`; `tenant_id` unique |
//! | `names` | every repeated text once (users, workloads, operations, organizations, entity names, messages, client IPs, primary values, result statuses, folded field names) with its 4-byte id, which rows hold in their `_ref` columns (the `names` module) | no | PK `id`; SHA-256 of `name` unique; 64-bit hash of the ASCII-folded `name` (schema 8) |
//! | `record_keys` | dedupe authority: one row per (Id, tenant), with the record's time (which, with the Id, finds the record through the time index); the Id in its compact form (16 bytes for a GUID, see the `keys` module) | no | PK `(record_key, tenant_ref)` |
//! | `records` | the normalized columns (`archive::columns`), texts and system user ids as name ids, the Id as its key, and the row ids its `QueryResults` listed (`listed`, an array) | by month | `event_time` (the time index); `(user_ref, hour)` (schema 8: the hour since the epoch, `d365audit.hour_of`, so that each user's hour is one entry with a list of rows); GIN on the row it is about and the rows it listed (`array_append(listed, entity_id)`); BRIN on `seq` |
//! | `record_blocks` | verbatim bytes in blocks of up to 4,096 records (4 MB) of one batch, tenant and month (the `blocks` module): zstd of the records together (level 9, with a trained dictionary), each record's length and the first 8 bytes of its BLAKE3 (all 32 in blocks written before schema 8), seq offsets where the seqs are not consecutive | by month | `first_seq` |
//! | `field_values` | field values created or updated, one row per folded name (its id) and value | by month | `(name id << 32 \| 32-bit hash of the value, hour)` |
//! | `system_users` | which UPNs a Dataverse system user id acted as | no | PK `(system_user_id, user_name, tenant_id)` |
//! | `variants` | same Id, different bytes: kept as evidence | no | PK `(tenant_id, record_id, hash)` |
//! | `seals` | the hash chain, one seal per batch, with the seq range it covers | no | PK `seq` |
//! | `quarantine`, `cursors`, `dictionaries`, `totals` | unparsable input, named positions, compression dictionaries, running totals and the sealing lock | no | |
//! | `blob_queue` | the durable blob queue: one row per announced content blob, its state, lease, attempts, records stored, last error | no | PK `(tenant_id, content_id)`; waiting blobs by `content_created`; blobs not done per (tenant, content type, state); gaps by time |
//! | `daily_counts`, `hourly_counts` | records per UTC day and report dimensions (name ids, 0 for none) / per day, hour and organization, added by each ingest; whole-day aggregations read them | no | PK of every key column |
//! | `blob_streams` | per tenant and content type: blobs done and records they stored, so the status never counts the done blobs | no | PK `(tenant_id, content_type)` |
//! | `changes` | Dataverse audit changes: one row per `auditid`, decoded detail as JSON, verbatim row and detail (zstd), BLAKE3, lower-case changed column names (`text[]`) | no | PK `audit_id`; `(object_id, created_on, audit_id)`; `(user_id, created_on, audit_id)`; `created_on` |
//! | `change_totals` | the number of changes | no | |
//! | `accounts`, `sessions`, `api_tokens`, `access_log` | local accounts (unique folded username), sessions and API tokens by the 32-byte digest of their secret, the archive's own access log | no | digests unique; access log by time |
//!
//! Every record-bearing table carries the tenant (the record's `OrganizationId`; the nil UUID
//! when a record has none): as its 2-byte `tenant_ref` in `record_keys`, `records`,
//! `record_blocks`, `field_values` and the report counts, as `tenant_id` elsewhere; it is part of
//! each unique constraint. The views `records_named` and `field_values_named` show records and
//! field values with their texts, for the SQL console. Monthly partitions (UTC, on event time)
//! are created on demand, race-free, for the months a batch touches (the `partitions` module).
//! Case-insensitive filters fold ASCII case only, exactly like the SQLite archive, with an
//! expression the indexes share (the `plan` module).
//!
//! **Dedupe.** Duplicates from Microsoft carry the same `CreationTime`, but a re-shipped record
//! with another time must still be one record, so dedupe does not rely on a unique constraint of
//! the partitioned table (which would have to include the time): the small, non-partitioned
//! `record_keys` table is keyed by `(record_key, tenant_ref)` alone (the Id, packed: see the
//! `keys` module). It also tells where a record lives, so [`archive::Archive::record`] touches
//! one partition. A record is one record
//! per tenant: the same Id under two `OrganizationId`s (never seen from Microsoft) would be two.
//!
//! **Seq numbers** order records by insertion and break ties in every timeline. Each ingest
//! transaction takes one value of the sequence `record_seq`, which steps by 2^24: the batch owns
//! that block, its record at position `p` gets `block + p`, and its seal covers the block. Seq
//! numbers are therefore unique and ordered by batch start, but not dense.
//!
//! # Ingest and concurrency
//!
//! One transaction per [`archive::IngestBatch`] (records, variants, quarantine, cursors, seal,
//! totals): binary `COPY` of the batch's keys into a temporary staging table, `INSERT ...
//! SELECT ... ON CONFLICT DO NOTHING RETURNING` into `record_keys` to find what is new, binary
//! `COPY` of the new records straight into the partitioned tables, and last the sealing lock
//! (`SELECT ... FOR UPDATE` on the single `totals` row), the seal (`archive::evidence::seal_next`
//! after the newest seal) and COMMIT (details in the `ingest` module). Replicas write records in
//! parallel and queue only for sealing and commit, so the chain stays linear (seals in commit
//! order) without serializing the work. Two replicas offering the same Id at once: the second
//! waits for the first to commit and counts a duplicate; resources are always taken in the same
//! order, so these waits never deadlock. Parsing, hashing and compression run before the
//! transaction, on blocking threads. [`archive::Archive::verify`] re-reads everything in one
//! REPEATABLE READ snapshot, seq range by seq range, while ingest goes on.
//!
//! [`archive::ChangeStore`] (the `changes` module): one transaction per batch of changes, with
//! its quarantined input and cursors; the `auditid` primary key dedupes across replicas
//! (`ON CONFLICT DO NOTHING` from a staging table, in key order). Changes are not sealed into
//! the chain; `verify` re-hashes each against the hash stored with it.
//!
//! # Blob queue, accounts and the SQL console
//!
//! [`archive::BlobQueue`] (the `queue` module): collectors announce blobs (`ON CONFLICT DO
//! NOTHING`, with their cursors in the same transaction); workers of any replica claim the
//! oldest waiting ones with `FOR UPDATE SKIP LOCKED`, so no blob is handed to two live leases
//! and nobody waits for a row another replica holds; settling a blob as done runs the ingest
//! above inside the transaction that locks the blob's row, checks the lease token and marks it
//! done, so a blob's records and its state commit together (a stale lease changes nothing).
//!
//! [`archive::AccessStore`] (the `access` module): accounts, sessions and API tokens (by the
//! digest of their secret, never the secret) and the access log, shared by server replicas.
//!
//! [`archive::SqlConsole`] (the `console` module): each statement is screened (one query,
//! no session or out-of-transaction functions), then runs on a connection of its own in a
//! `READ ONLY` transaction that is always rolled back, as the role `d365audit_console` (SELECT on
//! the record, queue and evidence tables only; created by `sql/console_role.sql` when the
//! archive's user may create roles), under `statement_timeout`, with rows fetched through a
//! portal limited to the row limit. Unqualified names resolve to the `d365audit` schema.
//!
//! # Citus
//!
//! The schema is distributable with Citus (self-hosted, or Azure Cosmos DB for PostgreSQL) by
//! tenant: `sql/citus.sql` distributes the record-bearing tables (`record_keys`, `records`,
//! `record_blocks`, `field_values`, the report counts) by `tenant_ref`, co-located with
//! `record_keys`, and the blob queue (`blob_queue`, `blob_streams`), `system_users` and
//! `variants` by `tenant_id`, co-located with `blob_queue`, and makes the archive-wide control
//! tables (`seals`, `totals`, `cursors`, `dictionaries`, `quarantine`, `tenants`, `names`)
//! reference tables, so the hash chain stays one chain. The access tables
//! (`accounts`, `sessions`, `api_tokens`, `access_log`) stay plain local tables on the
//! coordinator: small, archive-wide, written on every sign-in and logged search, never joined
//! with a distributed table. A claim locks blobs tenant by tenant, so each locking statement is
//! a single-shard one. Only sealing is serialized, so ingest scales out with the workers. The
//! migrations apply that file after every upgrade, only when the `citus` extension is installed
//! (`CREATE EXTENSION citus` before the first start); every statement in it is idempotent.
//! All joins between record tables are on the tenant and time (`(tenant_ref, event_time, seq)`,
//! or the Id instead of the seq from `record_keys`), so they stay on one
//! shard; queries without a tenant filter fan out to every shard, which Citus runs in parallel.
//! Partitions created later are distributed with their parent automatically. This layout has
//! not been exercised against a Citus cluster yet (the test machines have none), nor has the
//! upgrade to schema 7 of a distributed archive (it rebuilds the record tables, which would then
//! have to be distributed by `tenant_ref`): the ingest
//! path's `INSERT ... SELECT ... RETURNING` from a temporary table into a distributed table
//! (Citus runs it through the coordinator), the row lock on a reference table, the
//! `ATTACH PARTITION` of a new month, and a settle's transaction spanning a distributed queue
//! row, distributed records and reference seals are the first things to check there.
//!
//! # Connections
//!
//! [`PostgresArchive::connect`] takes `postgres://user[:password]@host[:port]/database[?...]`
//! (or libpq's `key=value` form). The password never appears in `Debug` output, logs or error
//! messages, which name the server by `postgres://user@host:port/database`. Connections are
//! plain TCP or Unix sockets: TLS (`sslmode=require`) is not supported by this build yet.

mod access;
mod blocks;
mod changes;
mod console;
mod database_url;
mod failure;
mod ingest;
mod keys;
mod names;
mod partitions;
mod plan;
mod queue;
mod reading;
mod schema;
mod verbatim;
mod verification;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use archive::evidence::train_dictionary;
use archive::{
    Archive, ArchiveError, ArchiveSummary, Bucket, Dimension, IngestBatch, IngestReceipt, Page,
    PageRequest, Quarantined, RawRecord, RecordQuery, RecordSummary, SqlConsole, SqlLimits,
    SqlResult, StoredRecord, VerifyReport,
};
use async_trait::async_trait;
use clock::Clock;
use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime,
};
use tokio_postgres::NoTls;

use crate::database_url::DatabaseUrl;
use crate::failure::{failed, pool_error};
use crate::partitions::{Month, MonthlyPartitions};
use crate::schema::SchemaError;
use crate::verbatim::{Dictionary, DictionaryCache, Packer};

pub use crate::schema::SCHEMA_VERSION;

/// Tuning of an archive handle. The defaults suit one collector or server replica.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections this handle keeps at most (and so, queries it runs at once).
    pub max_connections: usize,
    /// How long a call waits for a free connection before failing as unavailable.
    pub wait_timeout: Duration,
    /// How long creating a month's partitions waits for table locks.
    pub partition_lock_timeout: Duration,
    /// Train the compression dictionary once the archive holds this many records.
    pub dictionary_after_records: u64,
    /// How many of the first records the dictionary is trained on.
    pub dictionary_samples: usize,
    /// Size limit of the dictionary in bytes.
    pub dictionary_bytes: usize,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 8,
            wait_timeout: Duration::from_secs(30),
            partition_lock_timeout: Duration::from_secs(10),
            dictionary_after_records: 5_000,
            dictionary_samples: 5_000,
            dictionary_bytes: 64 << 10,
        }
    }
}

/// A handle to a PostgreSQL archive. Clones share the connection pool.
#[derive(Clone)]
pub struct PostgresArchive {
    shared: Arc<Shared>,
}

struct Shared {
    url: DatabaseUrl,
    pool: Pool,
    /// `None` for a read-only handle.
    clock: Option<Arc<dyn Clock>>,
    packer: Packer,
    names: names::Names,
    dictionaries: Arc<DictionaryCache>,
    partitions: MonthlyPartitions,
    next_training_at: AtomicU64,
    options: PostgresOptions,
}

impl std::fmt::Debug for PostgresArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresArchive")
            .field("database", &self.shared.url.shown)
            .field("read_only", &self.shared.clock.is_none())
            .finish()
    }
}

/// Advisory lock key that serializes dictionary training ("d365" and 3).
const DICTIONARY_LOCK: i64 = 0x6433_3635_0000_0003;

fn unusable(url: &DatabaseUrl, error: SchemaError) -> ArchiveError {
    match error {
        SchemaError::Postgres(e) => {
            failure::storage_error(&format!("opening the archive at {}", url.shown), &e)
        }
        other => ArchiveError::Incompatible { message: format!("{}: {other}", url.shown) },
    }
}

impl PostgresArchive {
    /// Connects for reading and writing, creating the schema in an empty database and migrating
    /// an older one.
    pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> Result<Self, ArchiveError> {
        Self::connect_with(url, clock, PostgresOptions::default()).await
    }

    pub async fn connect_with(
        url: &str,
        clock: Arc<dyn Clock>,
        options: PostgresOptions,
    ) -> Result<Self, ArchiveError> {
        let url = database_url::parse(url)?;
        let mut client = connect_once(&url).await?;
        let migrated = schema::migrate(&mut client).await.map_err(|e| unusable(&url, e))?;
        drop(client);
        tracing::debug!(database = %url.shown, ?migrated, "archive schema ready");
        let archive = Self::with_pool(url, Some(clock.clone()), options)?;
        let mut conn = archive.connection().await?;
        if let Some(dictionary) = verbatim::newest_dictionary(&conn).await? {
            archive.shared.packer.publish(dictionary);
        }
        // The current and next month exist before the first batch needs them, so the turn of a
        // month creates nothing on the ingest path.
        let this_month = Month::of(clock.now());
        let timeout = archive.shared.options.partition_lock_timeout;
        archive
            .shared
            .partitions
            .ensure(&mut conn, &[this_month, this_month.next()], timeout)
            .await?;
        Ok(archive)
    }

    /// Connects for queries only: nothing is created or migrated (the database user may be
    /// read-only, the server a read replica), and [`Archive::ingest`] is refused.
    pub async fn connect_read_only(url: &str) -> Result<Self, ArchiveError> {
        Self::connect_read_only_with(url, PostgresOptions::default()).await
    }

    pub async fn connect_read_only_with(
        url: &str,
        options: PostgresOptions,
    ) -> Result<Self, ArchiveError> {
        let url = database_url::parse(url)?;
        let client = connect_once(&url).await?;
        schema::check_readable(&client).await.map_err(|e| unusable(&url, e))?;
        drop(client);
        Self::with_pool(url, None, options)
    }

    fn with_pool(
        url: DatabaseUrl,
        clock: Option<Arc<dyn Clock>>,
        options: PostgresOptions,
    ) -> Result<Self, ArchiveError> {
        let manager = Manager::from_config(
            url.config.clone(),
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let mut builder = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .wait_timeout(Some(options.wait_timeout))
            .runtime(Runtime::Tokio1);
        if clock.is_some() {
            // Every writing connection gets its own staging tables once.
            builder = builder.post_create(Hook::async_fn(|client, _| {
                Box::pin(async move {
                    client
                        .batch_execute(ingest::CREATE_STAGING)
                        .await
                        .map_err(HookError::Backend)?;
                    client.batch_execute(changes::CREATE_STAGING).await.map_err(HookError::Backend)
                })
            }));
        }
        let pool = builder.build().map_err(|e| ArchiveError::Unavailable {
            message: format!("cannot build the connection pool for {}: {e}", url.shown),
        })?;
        let next_training_at = AtomicU64::new(options.dictionary_after_records);
        Ok(PostgresArchive {
            shared: Arc::new(Shared {
                url,
                pool,
                clock,
                packer: Packer::default(),
                names: names::Names::default(),
                dictionaries: Arc::default(),
                partitions: MonthlyPartitions::default(),
                next_training_at,
                options,
            }),
        })
    }

    /// The database, as it may be shown: `postgres://user@host:port/database`.
    pub fn database(&self) -> &str {
        &self.shared.url.shown
    }

    /// Closes the pool: calls in flight finish, later ones fail as unavailable.
    pub fn close(&self) {
        self.shared.pool.close();
    }

    async fn connection(&self) -> Result<Object, ArchiveError> {
        self.shared.pool.get().await.map_err(|e| pool_error(&self.shared.url.shown, e))
    }

    /// The clock of a read-write handle; a read-only handle refuses to write.
    fn writer_clock(&self, doing: &str) -> Result<&Arc<dyn Clock>, ArchiveError> {
        self.shared.clock.as_ref().ok_or_else(|| ArchiveError::Storage {
            doing: doing.to_string(),
            message: format!(
                "{} was opened read-only; connect read-write to write to it",
                self.shared.url.shown
            ),
        })
    }

    /// The CPU part of an ingest (columns, hashes, compression), on a blocking thread.
    async fn prepare(&self, batch: IngestBatch) -> Result<ingest::PreparedBatch, ArchiveError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || ingest::prepare(batch, &shared.packer)).await.map_err(
            |e| ArchiveError::Storage { doing: "preparing a batch".into(), message: e.to_string() },
        )?
    }

    /// Gives a written batch's codec back for the next batch.
    fn recycle(&self, prepared: ingest::PreparedBatch) {
        if let Some(codec) = prepared.into_codec() {
            self.shared.packer.give_back(codec);
        }
    }

    /// Creates the partitions of the months a prepared batch touches, if this handle has not
    /// seen them yet (in a short transaction of its own, before the batch's).
    async fn ensure_partitions(
        &self,
        conn: &mut Object,
        prepared: &ingest::PreparedBatch,
    ) -> Result<(), ArchiveError> {
        let months = prepared.months();
        if self.shared.partitions.unknown(months.iter().copied()).is_empty() {
            return Ok(());
        }
        self.shared
            .partitions
            .ensure(conn, &months, self.shared.options.partition_lock_timeout)
            .await
    }

    /// Looks up (or stores) the ids of the names a prepared batch holds, before its
    /// transaction (see the `names` module).
    async fn store_names(
        &self,
        conn: &Object,
        prepared: &mut ingest::PreparedBatch,
    ) -> Result<(), ArchiveError> {
        let ids = self.shared.names.ids(conn, prepared.texts()).await?;
        let tenants = self.shared.names.tenant_refs(conn, prepared.tenants()).await?;
        prepared.set_names(ids, tenants);
        Ok(())
    }

    /// Trains the compression dictionary once the archive holds enough records, or picks up
    /// the one another replica trained. A failure is not an ingest failure: records stay
    /// compressed without a dictionary, and training is retried after twice as many records.
    async fn maybe_train_dictionary(&self, records: u64) {
        let shared = &self.shared;
        if shared.packer.current().is_some()
            || records < shared.next_training_at.load(Ordering::Relaxed)
        {
            return;
        }
        match self.train_dictionary().await {
            Ok(Some(dictionary)) => {
                tracing::info!(
                    dictionary = dictionary.id,
                    bytes = dictionary.bytes.len(),
                    "compression dictionary in use"
                );
                shared.packer.publish(dictionary);
            }
            Ok(None) => {}
            Err(error) => {
                let next = records.saturating_mul(2).max(1);
                shared.next_training_at.store(next, Ordering::Relaxed);
                tracing::warn!(
                    %error,
                    retry_at_records = next,
                    "training the compression dictionary failed; records stay compressed \
                     without one"
                );
            }
        }
    }

    /// The newest dictionary, training one first if no replica has. `None` while another
    /// replica is training.
    async fn train_dictionary(&self) -> Result<Option<Dictionary>, ArchiveError> {
        let options = &self.shared.options;
        let mut conn = self.connection().await?;
        if let Some(dictionary) = verbatim::newest_dictionary(&conn).await? {
            return Ok(Some(dictionary));
        }
        let fail = failed("training the compression dictionary");
        let tx = conn.transaction().await.map_err(&fail)?;
        let locked: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&DICTIONARY_LOCK])
            .await
            .map_err(&fail)?
            .get(0);
        if !locked {
            return Ok(None);
        }
        if let Some(row) = tx
            .query_opt("SELECT id, bytes FROM d365audit.dictionaries ORDER BY id DESC LIMIT 1", &[])
            .await
            .map_err(&fail)?
        {
            return Ok(Some(Dictionary { id: row.get(0), bytes: row.get(1) }));
        }
        // The first blocks compressed without a dictionary, a few at a time until they hold
        // enough records (a block holds one record or many).
        let mut samples: Vec<(Vec<i32>, Vec<u8>)> = Vec::new();
        let (mut records, mut after) = (0, i64::MIN);
        while records < options.dictionary_samples {
            let rows = tx
                .query(
                    "SELECT first_seq, raw_lens, bytes FROM d365audit.record_blocks \
                     WHERE dictionary IS NULL AND first_seq > $1 ORDER BY first_seq LIMIT 16",
                    &[&after],
                )
                .await
                .map_err(&fail)?;
            let Some(last) = rows.last() else { break };
            after = last.get(0);
            for row in &rows {
                let lens: Vec<i32> = row.get(1);
                records += lens.len();
                samples.push((lens, row.get(2)));
            }
        }
        let max_bytes = options.dictionary_bytes;
        let wanted = options.dictionary_samples;
        let (bytes, sample_count) = tokio::task::spawn_blocking(move || {
            let mut decompressor = zstd::bulk::Decompressor::new()?;
            let mut raws: Vec<Vec<u8>> = Vec::new();
            for (lens, packed) in &samples {
                let total = lens.iter().map(|len| usize::try_from(*len).unwrap_or_default()).sum();
                let block = decompressor.decompress(packed, total)?;
                let mut start = 0;
                for len in lens {
                    let end = (start + usize::try_from(*len).unwrap_or_default()).min(block.len());
                    raws.push(block[start..end].to_vec());
                    start = end;
                }
            }
            raws.truncate(wanted);
            let refs: Vec<&[u8]> = raws.iter().map(Vec::as_slice).collect();
            train_dictionary(&refs, max_bytes).map(|bytes| (bytes, raws.len()))
        })
        .await
        .map_err(|e| ArchiveError::Storage {
            doing: "training the compression dictionary".into(),
            message: e.to_string(),
        })?
        .map_err(|e| ArchiveError::Storage {
            doing: "training the compression dictionary".into(),
            message: e.to_string(),
        })?;
        let now = self.shared.clock.as_ref().map(|c| c.now()).unwrap_or_default();
        let id: i32 = tx
            .query_one(
                "INSERT INTO d365audit.dictionaries (id, created_at, sample_count, bytes) \
                 SELECT coalesce(max(id), 0) + 1, $1, $2, $3 FROM d365audit.dictionaries \
                 RETURNING id",
                &[&now, &(sample_count as i32), &bytes],
            )
            .await
            .map_err(&fail)?
            .get(0);
        tx.commit().await.map_err(&fail)?;
        Ok(Some(Dictionary { id, bytes }))
    }
}

/// One connection outside the pool (migrations hold a session lock on it).
async fn connect_once(url: &DatabaseUrl) -> Result<tokio_postgres::Client, ArchiveError> {
    let (client, connection) = url
        .config
        .connect(NoTls)
        .await
        .map_err(|e| failure::storage_error(&format!("connecting to {}", url.shown), &e))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "archive setup connection ended");
        }
    });
    Ok(client)
}

#[async_trait]
impl Archive for PostgresArchive {
    async fn ingest(&self, batch: IngestBatch) -> Result<IngestReceipt, ArchiveError> {
        let clock = self.writer_clock("ingesting a batch")?;
        if batch.records.is_empty() && batch.quarantined.is_empty() && batch.cursors.is_empty() {
            return Ok(IngestReceipt::default());
        }
        let mut prepared = self.prepare(batch).await?;
        let mut conn = self.connection().await?;
        self.ensure_partitions(&mut conn, &prepared).await?;
        self.store_names(&conn, &mut prepared).await?;
        let written = match ingest::write(&mut conn, &prepared, clock.as_ref()).await {
            Ok(written) => written,
            Err(error) => {
                // A partition may have been dropped behind this handle's back: check again next
                // time.
                self.shared.partitions.forget();
                return Err(error);
            }
        };
        drop(conn);
        self.recycle(prepared);
        self.maybe_train_dictionary(written.records_total).await;
        Ok(written.receipt)
    }

    async fn search(
        &self,
        query: &RecordQuery,
        page: &PageRequest,
    ) -> Result<Page<RecordSummary>, ArchiveError> {
        let conn = self.connection().await?;
        reading::search(&conn, &self.shared.names, query, page).await
    }

    async fn count(&self, query: &RecordQuery) -> Result<u64, ArchiveError> {
        let conn = self.connection().await?;
        reading::count(&conn, query).await
    }

    async fn aggregate(
        &self,
        query: &RecordQuery,
        by: Dimension,
        limit: u32,
    ) -> Result<Vec<Bucket>, ArchiveError> {
        let conn = self.connection().await?;
        reading::aggregate(&conn, &self.shared.names, query, by, limit).await
    }

    async fn record(&self, id: &str) -> Result<Option<StoredRecord>, ArchiveError> {
        let conn = self.connection().await?;
        reading::record(&conn, &self.shared.names, &self.shared.dictionaries, id).await
    }

    async fn raw_page(
        &self,
        query: &RecordQuery,
        page: &PageRequest,
    ) -> Result<Page<RawRecord>, ArchiveError> {
        let conn = self.connection().await?;
        reading::raw_page(&conn, &self.shared.dictionaries, query, page).await
    }

    async fn quarantined(&self, limit: u32) -> Result<Vec<Quarantined>, ArchiveError> {
        let conn = self.connection().await?;
        reading::quarantined(&conn, limit).await
    }

    async fn cursor(&self, name: &str) -> Result<Option<String>, ArchiveError> {
        let conn = self.connection().await?;
        reading::cursor(&conn, name).await
    }

    async fn verify(&self) -> Result<VerifyReport, ArchiveError> {
        let mut conn = self.connection().await?;
        verification::verify(&mut conn, self.shared.dictionaries.clone()).await
    }

    async fn summary(&self) -> Result<ArchiveSummary, ArchiveError> {
        let conn = self.connection().await?;
        reading::summary(&conn).await
    }
}

#[async_trait]
impl SqlConsole for PostgresArchive {
    async fn run_sql(&self, statement: &str, limits: SqlLimits) -> Result<SqlResult, ArchiveError> {
        console::run(&self.shared.url, statement, limits).await
    }

    async fn sql_schema(&self) -> Result<Vec<(String, Vec<String>)>, ArchiveError> {
        let conn = self.connection().await?;
        console::schema(&conn).await
    }
}
