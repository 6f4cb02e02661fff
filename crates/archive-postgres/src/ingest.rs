//! The write path. A batch is prepared off the async threads (columns derived, bytes hashed and
//! compressed, duplicates inside the batch found), its months get partitions, its texts and
//! tenants their ids (the `names` module, each in a short statement of its own), and then one
//! transaction writes everything:
//!
//! 1. one `nextval` of `d365audit.record_seq`: the batch owns the block of 2^24 seq numbers
//!    starting there, and its record at position `p` gets `block + p`;
//! 2. binary `COPY` of the batch's keys (position, compact Id, tenant, time) into a temporary
//!    staging table;
//! 3. `INSERT INTO record_keys ... SELECT ... FROM staging ORDER BY key ON CONFLICT DO NOTHING
//!    RETURNING` the keys, joined back to their staging positions, finds what is new. A replica
//!    inserting the same Id at the same moment makes this wait until that transaction ends, then
//!    counts the record as a duplicate; the key order keeps two such waits from ever forming a
//!    deadlock;
//! 4. for duplicates only, the kept record is found by its key's time and Id and its stored
//!    hash read back from its block (a different hash is a variant);
//! 5. binary `COPY` of the new records' columns (their QueryResults memberships included),
//!    blocks of verbatim bytes (compressed while preparing; a block that holds a duplicate is
//!    compressed again without it) and field values straight into their (partitioned) tables,
//!    and the system users they name;
//! 6. the new records' report counts added to `daily_counts` and `hourly_counts` (in key
//!    order: replicas adding to the same counts wait for each other, never in a cycle);
//!    variants, quarantined input, cursors (each in a fixed order, again against deadlocks);
//! 7. last, the sealing lock (`SELECT ... FOR UPDATE` on the single `totals` row), the seal
//!    (`archive::evidence::seal_next` after the newest seal, covering the batch's seq block),
//!    the totals, and COMMIT, which releases the lock.
//!
//! Replicas therefore write their records in parallel and queue only for the few milliseconds
//! of sealing and commit: seals form one linear chain in commit order, and every record of a
//! batch is covered by that batch's seal.
//!
//! Settling a blob of the queue as done (the `queue` module) runs the same steps inside its own
//! transaction, after locking the blob's row, and marks the blob done before the COMMIT.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::PoisonError;

use chrono::{NaiveDate, Timelike};
use rustc_hash::FxHashMap;

use archive::columns::{RecordColumns, access_code, from_activity};
use archive::evidence::{BatchSeal, Digest, SEAL_SCHEME, record_hash, seal_next};
use archive::{ArchiveError, IngestBatch, IngestReceipt, Quarantined};
use clock::Clock;
use deadpool_postgres::{ClientWrapper, Transaction};
use futures_util::pin_mut;
use tokio_postgres::Row;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::blocks::BlockParts;
use crate::failure::failed;
use crate::keys::record_key;
use crate::partitions::Month;
use crate::verbatim::{Packer, pack};

/// One record ready to be written.
#[derive(Debug)]
pub(crate) struct PreparedRecord {
    pub(crate) columns: RecordColumns,
    /// The record's tenant, the nil UUID when it names none.
    pub(crate) tenant: Uuid,
    pub(crate) hash: Digest,
    pub(crate) raw_len: i32,
    /// The Dataverse system user id as the text `records.system_user_ref` names (schema 8):
    /// lower case with hyphens; `None` when the record has none (or the nil UUID).
    system_user: Option<String>,
    /// The verbatim bytes, kept for a block that must be compressed again without the
    /// duplicates it turned out to hold, and for variants.
    pub(crate) raw: Vec<u8>,
}

/// A block compressed before the transaction, on the guess that all its records are new.
#[derive(Debug)]
pub(crate) struct PreparedBlock {
    parts: BlockParts,
    /// The zstd bytes of `parts.raw`.
    bytes: Vec<u8>,
}

type Codec = (Option<i32>, archive::evidence::RawCodec);

/// A batch after the CPU work: what the transaction writes.
#[derive(Debug, Default)]
pub(crate) struct PreparedBatch {
    /// Every record, in batch order.
    records: Vec<PreparedRecord>,
    /// For each record, the staging position of its key (its first occurrence in the batch).
    key_position: Vec<usize>,
    /// For each staging position, the record (the key's first occurrence).
    staged: Vec<usize>,
    quarantined: Vec<Quarantined>,
    cursors: Vec<(String, String)>,
    /// The staged records in blocks (see the `blocks` module), in position order.
    blocks: Vec<PreparedBlock>,
    /// The codec the blocks were compressed with (and its dictionary), for blocks that must be
    /// compressed again and for variants; given back to the packer after the write.
    codec: Option<std::sync::Mutex<Codec>>,
    /// The id of every name the batch's rows hold (see the `names` module), set by
    /// [`PreparedBatch::set_names`] before the write.
    names: FxHashMap<String, i32>,
    /// The ref of every tenant of the batch, set with the names.
    tenant_refs: HashMap<Uuid, i16>,
    /// The batch's field names, ASCII case folded (as stored).
    folded_fields: Vec<String>,
}

impl PreparedBatch {
    /// The codec, to give back to the packer once the batch is written.
    pub(crate) fn into_codec(self) -> Option<Codec> {
        self.codec.map(|codec| codec.into_inner().unwrap_or_else(PoisonError::into_inner))
    }

    /// Compresses `raw` with the batch's codec.
    fn compress(&self, raw: &[u8]) -> Result<(Option<i32>, Vec<u8>), ArchiveError> {
        let Some(codec) = &self.codec else {
            return Err(ArchiveError::Storage {
                doing: "compressing records".into(),
                message: "the batch has no codec".into(),
            });
        };
        let mut codec = codec.lock().unwrap_or_else(PoisonError::into_inner);
        let packed = pack(&mut codec, raw)?;
        Ok((packed.dictionary, packed.bytes))
    }

    /// Every name the batch's records hold (field names folded), to look up or store before
    /// the write.
    pub(crate) fn texts(&self) -> Vec<&str> {
        let mut texts: Vec<&str> = Vec::new();
        for index in &self.staged {
            let record = &self.records[*index];
            let c = &record.columns;
            texts.extend([c.user.as_str(), c.workload.as_str(), c.operation.as_str()]);
            texts.extend(record.system_user.as_deref());
            texts.extend(
                [
                    &c.organization,
                    &c.entity,
                    &c.message,
                    &c.client_ip,
                    &c.primary_field_value,
                    &c.result_status,
                ]
                .into_iter()
                .filter_map(|text| text.as_deref()),
            );
        }
        texts.extend(self.folded_fields.iter().map(String::as_str));
        texts.sort_unstable();
        texts.dedup();
        texts
    }

    /// The batch's tenants.
    pub(crate) fn tenants(&self) -> Vec<Uuid> {
        let mut tenants: Vec<Uuid> = self.records.iter().map(|r| r.tenant).collect();
        tenants.sort_unstable();
        tenants.dedup();
        tenants
    }

    /// The ids of [`PreparedBatch::texts`] and the refs of [`PreparedBatch::tenants`].
    pub(crate) fn set_names(&mut self, names: FxHashMap<String, i32>, tenants: HashMap<Uuid, i16>) {
        self.names = names;
        self.tenant_refs = tenants;
    }

    /// The ref of a tenant of the batch (0 if it was not looked up, which `tenants` rules out).
    fn tenant_ref(&self, tenant: Uuid) -> i16 {
        self.tenant_refs.get(&tenant).copied().unwrap_or(0)
    }

    /// The id of a name of the batch (0 if it was not looked up, which `texts` rules out).
    fn id(&self, name: &str) -> i32 {
        self.names.get(name).copied().unwrap_or(0)
    }

    /// The id of an optional name, `None` when there is no value.
    fn id_of(&self, name: &Option<String>) -> Option<i32> {
        name.as_deref().map(|name| self.id(name))
    }

    /// The months the batch's records fall in.
    pub(crate) fn months(&self) -> Vec<Month> {
        let mut months: Vec<Month> =
            self.records.iter().map(|r| Month::of(r.columns.time)).collect();
        months.sort_unstable();
        months.dedup();
        months
    }
}

/// Derives the columns, hashes and compresses every record and finds the duplicates inside the
/// batch. CPU work: run it on a blocking thread.
pub(crate) fn prepare(batch: IngestBatch, packer: &Packer) -> Result<PreparedBatch, ArchiveError> {
    let mut codec = packer.codec()?;
    match prepare_with(batch, &mut codec) {
        Ok(mut prepared) => {
            prepared.codec = Some(std::sync::Mutex::new(codec));
            Ok(prepared)
        }
        Err(error) => {
            packer.give_back(codec);
            Err(error)
        }
    }
}

fn prepare_with(batch: IngestBatch, codec: &mut Codec) -> Result<PreparedBatch, ArchiveError> {
    let mut out = PreparedBatch {
        records: Vec::with_capacity(batch.records.len()),
        key_position: Vec::with_capacity(batch.records.len()),
        staged: Vec::with_capacity(batch.records.len()),
        quarantined: batch.quarantined,
        cursors: batch.cursors,
        blocks: Vec::new(),
        codec: None,
        names: FxHashMap::default(),
        tenant_refs: HashMap::new(),
        folded_fields: Vec::new(),
    };
    let mut positions: HashMap<(Uuid, String), usize> = HashMap::new();
    for incoming in batch.records {
        let columns = from_activity(&incoming.record);
        let tenant = columns.tenant_id.unwrap_or_else(Uuid::nil);
        let raw_len = i32::try_from(incoming.raw.len()).map_err(|_| ArchiveError::Storage {
            doing: "preparing a batch".into(),
            message: format!("record {} is larger than 2 GiB", columns.id),
        })?;
        let index = out.records.len();
        let position = *positions.entry((tenant, columns.id.clone())).or_insert_with(|| {
            out.staged.push(index);
            out.staged.len() - 1
        });
        out.key_position.push(position);
        out.records.push(PreparedRecord {
            hash: record_hash(&incoming.raw),
            raw: incoming.raw,
            raw_len,
            tenant,
            system_user: non_nil(columns.system_user_id).map(|id| id.to_string()),
            columns,
        });
    }
    let mut folded: HashSet<String> = HashSet::new();
    for index in &out.staged {
        for (name, _) in &out.records[*index].columns.fields {
            folded.insert(name.to_ascii_lowercase());
        }
    }
    out.folded_fields = folded.into_iter().collect();
    // The staged records by tenant and month, in position order, cut into blocks.
    let mut open: BTreeMap<(Uuid, Month), BlockParts> = BTreeMap::new();
    let mut closed: Vec<BlockParts> = Vec::new();
    for (position, index) in out.staged.iter().enumerate() {
        let record = &out.records[*index];
        let parts = open.entry((record.tenant, Month::of(record.columns.time))).or_default();
        parts.push(position, &record.raw, &record.hash);
        if parts.is_full() {
            closed.push(std::mem::take(parts));
        }
    }
    closed.extend(open.into_values().filter(|parts| !parts.positions.is_empty()));
    closed.sort_by_key(|parts| parts.positions[0]);
    for parts in closed {
        let bytes = pack(codec, &parts.raw)?.bytes;
        out.blocks.push(PreparedBlock { parts, bytes });
    }
    Ok(out)
}

/// What a committed ingest transaction did.
#[derive(Debug)]
pub(crate) struct Written {
    pub(crate) receipt: IngestReceipt,
    /// Records in the archive after the commit.
    pub(crate) records_total: u64,
}

/// The most records one batch may hold: the size of the seq block it owns (see migration 1).
const SEQ_BLOCK: usize = 1 << 24;

const NEXT_BLOCK: &str = "SELECT nextval('d365audit.record_seq')";

const STAGE: &str = "COPY pg_temp.ingest_keys (position, record_key, tenant_ref, event_time) \
    FROM STDIN (FORMAT binary)";
const STAGE_TYPES: &[Type] = &[Type::INT4, Type::BYTEA, Type::INT2, Type::TIMESTAMPTZ];

/// The temporary staging table, created once per connection (see `PostgresArchive::connect`).
pub(crate) const CREATE_STAGING: &str = "CREATE TEMPORARY TABLE IF NOT EXISTS ingest_keys (
    position integer NOT NULL,
    record_key bytea NOT NULL,
    tenant_ref smallint NOT NULL,
    event_time timestamptz NOT NULL
) ON COMMIT DELETE ROWS";

/// Inserts the keys not stored yet and returns their staging positions (a record's seq is its
/// batch's block plus its position).
const INSERT_KEYS: &str = "WITH new AS (INSERT INTO d365audit.record_keys \
    (record_key, tenant_ref, event_time) \
    SELECT s.record_key, s.tenant_ref, s.event_time \
    FROM pg_temp.ingest_keys s ORDER BY s.record_key, s.tenant_ref \
    ON CONFLICT DO NOTHING RETURNING record_key, tenant_ref) \
    SELECT s.position FROM new JOIN pg_temp.ingest_keys s \
      ON s.record_key = new.record_key AND s.tenant_ref = new.tenant_ref";

/// The kept record of each duplicate, found by its key's time and Id (a key whose record row is
/// gone, which only tampering does, returns nothing: the duplicate is then kept as a variant),
/// and its stored hash (its first 8 bytes, or all 32 in a block written before schema 8), taken
/// from its block (NULL when its bytes are gone, which makes the duplicate a variant: nothing
/// shows the bytes are the same).
fn stored_duplicates() -> String {
    format!(
        "SELECT s.position, a.seq, substring(b.hashes FROM w.width * (CASE \
           WHEN b.seq_offsets IS NULL THEN CASE WHEN a.seq <= b.last_seq \
             THEN (a.seq - b.first_seq)::integer END \
           ELSE array_position(b.seq_offsets, (a.seq - b.first_seq)::integer) - 1 END) + 1 \
           FOR w.width) \
         FROM pg_temp.ingest_keys s \
         JOIN d365audit.record_keys k ON k.record_key = s.record_key AND k.tenant_ref = s.tenant_ref \
         JOIN d365audit.records a ON a.tenant_ref = k.tenant_ref AND a.event_time = k.event_time \
           AND a.record_key = k.record_key \
         {} CROSS JOIN LATERAL (SELECT octet_length(b.hashes) / NULLIF(cardinality(b.raw_lens), 0) AS width) w \
         WHERE s.position = ANY ($1::integer[])",
        crate::blocks::block_of(
            "a",
            "x.first_seq, x.last_seq, x.seq_offsets, x.raw_lens, x.hashes"
        )
    )
}

const COPY_RECORDS: &str = "COPY d365audit.records (seq, tenant_ref, event_time, record_key, \
    record_type, workload_ref, operation_ref, user_ref, system_user_ref, organization_ref, \
    entity_ref, entity_id, message_ref, access, categories, client_ip_ref, primary_value_ref, \
    correlation_id, result_status_ref, listed) FROM STDIN (FORMAT binary)";
const RECORD_TYPES: &[Type] = &[
    Type::INT8,
    Type::INT2,
    Type::TIMESTAMPTZ,
    Type::BYTEA,
    Type::INT2,
    Type::INT4,
    Type::INT4,
    Type::INT4,
    Type::INT4,
    Type::INT4,
    Type::INT4,
    Type::UUID,
    Type::INT4,
    Type::INT2,
    Type::INT4,
    Type::INT4,
    Type::INT4,
    Type::UUID,
    Type::INT4,
    Type::UUID_ARRAY,
];

const COPY_BLOCKS: &str = "COPY d365audit.record_blocks (tenant_ref, event_time, first_seq, \
    last_seq, dictionary, seq_offsets, raw_lens, hashes, bytes) FROM STDIN (FORMAT binary)";
const BLOCK_TYPES: &[Type] = &[
    Type::INT2,
    Type::TIMESTAMPTZ,
    Type::INT8,
    Type::INT8,
    Type::INT4,
    Type::INT4_ARRAY,
    Type::INT4_ARRAY,
    Type::BYTEA,
    Type::BYTEA,
];

const COPY_FIELDS: &str = "COPY d365audit.field_values (seq, tenant_ref, event_time, name_ref, \
    value) FROM STDIN (FORMAT binary)";
const FIELD_TYPES: &[Type] = &[Type::INT8, Type::INT2, Type::TIMESTAMPTZ, Type::INT4, Type::TEXT];

const INSERT_SYSTEM_USERS: &str = "INSERT INTO d365audit.system_users \
    (system_user_id, user_name, tenant_id) \
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[]) ON CONFLICT DO NOTHING";

const INSERT_VARIANT: &str = "INSERT INTO d365audit.variants (tenant_id, record_id, hash, \
    first_seq, received_at, dictionary, raw_len, bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
    ON CONFLICT DO NOTHING";

const INSERT_QUARANTINED: &str = "INSERT INTO d365audit.quarantine (received_at, source, reason, \
    raw) VALUES ($1, $2, $3, $4)";

const UPSERT_CURSOR: &str = "INSERT INTO d365audit.cursors (name, value, updated_at) \
    VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
    updated_at = excluded.updated_at";

/// Writes a batch's quarantined items and cursors inside its transaction; returns how many
/// items were quarantined. Shared by record and change ingest.
pub(crate) async fn write_quarantined_and_cursors(
    tx: &Transaction<'_>,
    quarantined: &[Quarantined],
    cursors: &[(String, String)],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, ArchiveError> {
    let fail = failed("writing quarantined input and cursors");
    if !quarantined.is_empty() {
        let statement = tx.prepare_cached(INSERT_QUARANTINED).await.map_err(&fail)?;
        for item in quarantined {
            tx.execute(&statement, &[&now, &item.source, &item.reason, &item.raw])
                .await
                .map_err(&fail)?;
        }
    }
    if !cursors.is_empty() {
        // By name, so concurrent batches take the rows in one order; the last value of a name
        // wins, as in batch order (a stable sort).
        let mut cursors: Vec<&(String, String)> = cursors.iter().collect();
        cursors.sort_by(|a, b| a.0.cmp(&b.0));
        let statement = tx.prepare_cached(UPSERT_CURSOR).await.map_err(&fail)?;
        for (name, value) in cursors {
            tx.execute(&statement, &[name, value, &now]).await.map_err(&fail)?;
        }
    }
    Ok(quarantined.len() as u64)
}

const LOCK_TOTALS: &str = "SELECT records FROM d365audit.totals WHERE id = 1 FOR UPDATE";

const LAST_SEAL: &str = "SELECT seq, committed_at, record_count, digest, link \
    FROM d365audit.seals ORDER BY seq DESC LIMIT 1";

const INSERT_SEAL: &str = "INSERT INTO d365audit.seals (seq, scheme, committed_at, record_count, \
    digest, link, first_seq, last_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

const UPDATE_TOTALS: &str = "UPDATE d365audit.totals SET records = records + $1, \
    raw_bytes = raw_bytes + $2, quarantined = quarantined + $3, variants = variants + $4 \
    WHERE id = 1";

/// A duplicate whose bytes differ from the kept record's.
struct Variant<'a> {
    record: &'a PreparedRecord,
    first_seq: i64,
}

/// Writes a prepared batch in one transaction.
pub(crate) async fn write(
    client: &mut ClientWrapper,
    batch: &PreparedBatch,
    clock: &dyn Clock,
) -> Result<Written, ArchiveError> {
    let tx = client.transaction().await.map_err(failed("writing an ingest batch"))?;
    let written = write_in(&tx, batch, clock).await?;
    tx.commit().await.map_err(failed("committing an ingest batch"))?;
    Ok(written)
}

/// Writes a prepared batch inside `tx`, which the caller commits (the blob queue settles a blob
/// in the same transaction). Ends holding the sealing lock: commit soon after.
pub(crate) async fn write_in(
    tx: &Transaction<'_>,
    batch: &PreparedBatch,
    clock: &dyn Clock,
) -> Result<Written, ArchiveError> {
    let fail = failed("writing an ingest batch");
    if batch.staged.len() > SEQ_BLOCK {
        return Err(ArchiveError::Storage {
            doing: "writing an ingest batch".into(),
            message: format!(
                "the batch holds {} distinct records, more than the {SEQ_BLOCK} one transaction \
                 may insert; split it",
                batch.staged.len()
            ),
        });
    }
    let now = clock.now();

    // Seq of each staged position that is new; stored hash of each that was already stored.
    let mut seq_of: Vec<Option<i64>> = vec![None; batch.staged.len()];
    let mut stored: HashMap<usize, (i64, Option<Vec<u8>>)> = HashMap::new();
    let mut block = 0i64;
    if !batch.staged.is_empty() {
        let statement = tx.prepare_cached(NEXT_BLOCK).await.map_err(&fail)?;
        block = tx.query_one(&statement, &[]).await.map_err(&fail)?.get(0);
        stage(tx, batch).await?;
        let statement = tx.prepare_cached(INSERT_KEYS).await.map_err(&fail)?;
        for row in tx.query(&statement, &[]).await.map_err(&fail)? {
            let position: i32 = row.get(0);
            if let Some(slot) = usize::try_from(position).ok().and_then(|p| seq_of.get_mut(p)) {
                *slot = Some(block + i64::from(position));
            }
        }
        let duplicates: Vec<i32> = seq_of
            .iter()
            .enumerate()
            .filter(|(_, seq)| seq.is_none())
            .map(|(position, _)| position as i32)
            .collect();
        if !duplicates.is_empty() {
            let statement = tx.prepare_cached(&stored_duplicates()).await.map_err(&fail)?;
            for row in tx.query(&statement, &[&duplicates]).await.map_err(&fail)? {
                let position: i32 = row.get(0);
                stored.insert(position as usize, (row.get(1), row.get(2)));
            }
        }
        if seq_of.iter().any(Option::is_some) {
            copy_new_records(tx, batch, &seq_of).await?;
            insert_system_users(tx, batch, &seq_of).await?;
            add_report_counts(tx, batch, &seq_of).await?;
        }
    }
    let inserted = seq_of.iter().filter(|seq| seq.is_some()).count() as u64;

    let mut receipt = IngestReceipt { inserted, ..IngestReceipt::default() };
    let mut raw_bytes = 0i64;
    let mut variants: Vec<Variant<'_>> = Vec::new();
    for (index, record) in batch.records.iter().enumerate() {
        let position = batch.key_position[index];
        let first = batch.staged[position];
        let first_seq = seq_of[position];
        if first == index && first_seq.is_some() {
            raw_bytes += i64::from(record.raw_len);
            continue;
        }
        receipt.duplicates += 1;
        let (first_seq, kept_hash): (i64, &[u8]) = match (first_seq, stored.get(&position)) {
            (Some(seq), _) => (seq, batch.records[first].hash.0.as_slice()),
            (None, Some((seq, hash))) => (*seq, hash.as_deref().unwrap_or_default()),
            (None, None) => (0, &[]),
        };
        // The whole hash of a record of this batch, the stored beginning of one kept before.
        let same = kept_hash.len() >= crate::blocks::STORED_HASH_BYTES
            && record.hash.0.starts_with(kept_hash);
        if !same {
            receipt.variants += 1;
            variants.push(Variant { record, first_seq });
        }
    }
    let new_variants = insert_variants(tx, batch, variants, now).await?;

    receipt.quarantined +=
        write_quarantined_and_cursors(tx, &batch.quarantined, &batch.cursors, now).await?;

    // Sealing: one writer at a time from here to COMMIT.
    let statement = tx.prepare_cached(LOCK_TOTALS).await.map_err(&fail)?;
    let records_before: i64 = tx.query_one(&statement, &[]).await.map_err(&fail)?.get(0);
    if inserted > 0 {
        let hashes: Vec<Digest> = seq_of
            .iter()
            .enumerate()
            .filter(|(_, seq)| seq.is_some())
            .map(|(position, _)| batch.records[batch.staged[position]].hash)
            .collect();
        let statement = tx.prepare_cached(LAST_SEAL).await.map_err(&fail)?;
        let previous = tx.query_opt(&statement, &[]).await.map_err(&fail)?.map(|r| seal_of_row(&r));
        let seal = seal_next(previous.as_ref(), clock.now(), &hashes);
        let last_seq = seq_of.iter().rev().find_map(|seq| *seq).unwrap_or(block);
        let statement = tx.prepare_cached(INSERT_SEAL).await.map_err(&fail)?;
        tx.execute(
            &statement,
            &[
                &(seal.seq as i64),
                &(SEAL_SCHEME as i32),
                &seal.committed_at,
                &(seal.record_count as i64),
                &seal.digest.0.as_slice(),
                &seal.link.0.as_slice(),
                &block,
                &last_seq,
            ],
        )
        .await
        .map_err(&fail)?;
        receipt.sealed_batch = Some(seal.seq);
    }
    let statement = tx.prepare_cached(UPDATE_TOTALS).await.map_err(&fail)?;
    tx.execute(
        &statement,
        &[&(inserted as i64), &raw_bytes, &(receipt.quarantined as i64), &new_variants],
    )
    .await
    .map_err(&fail)?;
    Ok(Written { receipt, records_total: records_before as u64 + inserted })
}

const ADD_DAILY_COUNTS: &str = "INSERT INTO d365audit.daily_counts (tenant_ref, day, \
     organization_ref, user_ref, entity_ref, message_ref, access, categories, workload_ref, \
     records) \
     SELECT * FROM unnest($1::int2[], $2::date[], $3::int4[], $4::int4[], $5::int4[], \
     $6::int4[], $7::int2[], $8::int4[], $9::int4[], $10::int8[]) \
     ON CONFLICT (tenant_ref, day, organization_ref, user_ref, entity_ref, message_ref, access, \
     categories, workload_ref) DO UPDATE SET records = daily_counts.records + excluded.records";

const ADD_HOURLY_COUNTS: &str = "INSERT INTO d365audit.hourly_counts (tenant_ref, day, hour, \
     organization_ref, records) \
     SELECT * FROM unnest($1::int2[], $2::date[], $3::int4[], $4::int4[], $5::int8[]) \
     ON CONFLICT (tenant_ref, day, hour, organization_ref) \
     DO UPDATE SET records = hourly_counts.records + excluded.records";

/// A `daily_counts` key: tenant ref, UTC day, ids of organization, user, entity and message,
/// access, categories, id of the workload (0 where a record has no value).
type DailyKey = (i16, NaiveDate, i32, i32, i32, i32, i16, i32, i32);

/// Adds the new records' counts per day (see migrations 4 and 7), keys sorted.
async fn add_report_counts(
    tx: &Transaction<'_>,
    batch: &PreparedBatch,
    seq_of: &[Option<i64>],
) -> Result<(), ArchiveError> {
    let fail = failed("adding report counts");
    let mut daily: BTreeMap<DailyKey, i64> = BTreeMap::new();
    let mut hourly: BTreeMap<(i16, NaiveDate, i32, i32), i64> = BTreeMap::new();
    for (position, seq) in seq_of.iter().enumerate() {
        if seq.is_none() {
            continue;
        }
        let record = &batch.records[batch.staged[position]];
        let c = &record.columns;
        let day = c.time.date_naive();
        let organization = batch.id_of(&c.organization).unwrap_or(0);
        let tenant = batch.tenant_ref(record.tenant);
        let key = (
            tenant,
            day,
            organization,
            batch.id(&c.user),
            batch.id_of(&c.entity).unwrap_or(0),
            batch.id_of(&c.message).unwrap_or(0),
            access_code(c.access) as i16,
            c.categories as i32,
            batch.id(&c.workload),
        );
        *daily.entry(key).or_default() += 1;
        *hourly.entry((tenant, day, c.time.hour() as i32, organization)).or_default() += 1;
    }
    let keys: Vec<&DailyKey> = daily.keys().collect();
    let tenants: Vec<i16> = keys.iter().map(|k| k.0).collect();
    let days: Vec<NaiveDate> = keys.iter().map(|k| k.1).collect();
    let organizations: Vec<i32> = keys.iter().map(|k| k.2).collect();
    let users: Vec<i32> = keys.iter().map(|k| k.3).collect();
    let entities: Vec<i32> = keys.iter().map(|k| k.4).collect();
    let messages: Vec<i32> = keys.iter().map(|k| k.5).collect();
    let access: Vec<i16> = keys.iter().map(|k| k.6).collect();
    let categories: Vec<i32> = keys.iter().map(|k| k.7).collect();
    let workloads: Vec<i32> = keys.iter().map(|k| k.8).collect();
    let records: Vec<i64> = daily.values().copied().collect();
    let statement = tx.prepare_cached(ADD_DAILY_COUNTS).await.map_err(&fail)?;
    tx.execute(
        &statement,
        &[
            &tenants,
            &days,
            &organizations,
            &users,
            &entities,
            &messages,
            &access,
            &categories,
            &workloads,
            &records,
        ],
    )
    .await
    .map_err(&fail)?;
    let tenants: Vec<i16> = hourly.keys().map(|k| k.0).collect();
    let days: Vec<NaiveDate> = hourly.keys().map(|k| k.1).collect();
    let hours: Vec<i32> = hourly.keys().map(|k| k.2).collect();
    let organizations: Vec<i32> = hourly.keys().map(|k| k.3).collect();
    let records: Vec<i64> = hourly.values().copied().collect();
    let statement = tx.prepare_cached(ADD_HOURLY_COUNTS).await.map_err(&fail)?;
    tx.execute(&statement, &[&tenants, &days, &hours, &organizations, &records])
        .await
        .map_err(&fail)?;
    Ok(())
}

/// Keeps the bytes of variants not kept yet; returns how many were new.
async fn insert_variants(
    tx: &Transaction<'_>,
    batch: &PreparedBatch,
    mut variants: Vec<Variant<'_>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<i64, ArchiveError> {
    if variants.is_empty() {
        return Ok(0);
    }
    let fail = failed("keeping variants");
    // In key order, so concurrent batches take the rows in one order.
    variants.sort_by(|a, b| {
        (a.record.tenant, &a.record.columns.id, a.record.hash.0).cmp(&(
            b.record.tenant,
            &b.record.columns.id,
            b.record.hash.0,
        ))
    });
    let statement = tx.prepare_cached(INSERT_VARIANT).await.map_err(&fail)?;
    let mut added = 0;
    for Variant { record, first_seq } in variants {
        let (dictionary, packed) = batch.compress(&record.raw)?;
        added += tx
            .execute(
                &statement,
                &[
                    &record.tenant,
                    &record.columns.id,
                    &record.hash.0.as_slice(),
                    &first_seq,
                    &now,
                    &dictionary,
                    &record.raw_len,
                    &packed,
                ],
            )
            .await
            .map_err(&fail)? as i64;
    }
    Ok(added)
}

/// Records which UPNs the new records' system user ids acted as.
async fn insert_system_users(
    tx: &Transaction<'_>,
    batch: &PreparedBatch,
    seq_of: &[Option<i64>],
) -> Result<(), ArchiveError> {
    let mut pairs: Vec<(Uuid, &str, Uuid)> = seq_of
        .iter()
        .enumerate()
        .filter(|(_, seq)| seq.is_some())
        .filter_map(|(position, _)| {
            let record = &batch.records[batch.staged[position]];
            non_nil(record.columns.system_user_id)
                .map(|id| (id, record.columns.user.as_str(), record.tenant))
        })
        .collect();
    if pairs.is_empty() {
        return Ok(());
    }
    pairs.sort_unstable();
    pairs.dedup();
    let ids: Vec<Uuid> = pairs.iter().map(|p| p.0).collect();
    let users: Vec<&str> = pairs.iter().map(|p| p.1).collect();
    let tenants: Vec<Uuid> = pairs.iter().map(|p| p.2).collect();
    let fail = failed("recording system users");
    let statement = tx.prepare_cached(INSERT_SYSTEM_USERS).await.map_err(&fail)?;
    tx.execute(&statement, &[&ids, &users, &tenants]).await.map_err(&fail)?;
    Ok(())
}

/// Copies the batch's keys into the staging table.
async fn stage(tx: &Transaction<'_>, batch: &PreparedBatch) -> Result<(), ArchiveError> {
    let fail = failed("staging an ingest batch");
    let statement = tx.prepare_cached(STAGE).await.map_err(&fail)?;
    let sink = tx.copy_in(&statement).await.map_err(&fail)?;
    let writer = BinaryCopyInWriter::new(sink, STAGE_TYPES);
    pin_mut!(writer);
    for (position, index) in batch.staged.iter().enumerate() {
        let record = &batch.records[*index];
        let position = position as i32;
        writer
            .as_mut()
            .write(&[
                &position,
                &record_key(&record.columns.id),
                &batch.tenant_ref(record.tenant),
                &record.columns.time,
            ])
            .await
            .map_err(&fail)?;
    }
    writer.finish().await.map_err(&fail)?;
    Ok(())
}

fn non_nil(guid: Option<Uuid>) -> Option<Uuid> {
    guid.filter(|g| !g.is_nil())
}

/// The distinct row ids a record's `QueryResults` listed, `None` when it listed none.
fn listed_ids(columns: &RecordColumns) -> Option<Vec<Uuid>> {
    let mut seen = HashSet::new();
    let ids: Vec<Uuid> =
        columns.listed.iter().copied().filter(|id| !id.is_nil() && seen.insert(*id)).collect();
    (!ids.is_empty()).then_some(ids)
}

/// Writes the new records' verbatim bytes: the blocks prepared for the batch, each compressed
/// again without the records that turned out to be duplicates (none, usually).
async fn copy_blocks(
    tx: &Transaction<'_>,
    batch: &PreparedBatch,
    seq_of: &[Option<i64>],
) -> Result<(), ArchiveError> {
    let fail = failed("copying verbatim bytes");
    let statement = tx.prepare_cached(COPY_BLOCKS).await.map_err(&fail)?;
    let writer = BinaryCopyInWriter::new(tx.copy_in(&statement).await.map_err(&fail)?, BLOCK_TYPES);
    pin_mut!(writer);
    let dictionary = batch
        .codec
        .as_ref()
        .and_then(|codec| codec.lock().unwrap_or_else(PoisonError::into_inner).0);
    for block in &batch.blocks {
        let new = block.parts.positions.iter().filter(|p| seq_of[**p].is_some()).count();
        if new == 0 {
            continue;
        }
        let rebuilt;
        let (parts, dictionary, bytes) = if new == block.parts.positions.len() {
            (&block.parts, dictionary, block.bytes.as_slice())
        } else {
            let mut parts = BlockParts::default();
            for position in block.parts.positions.iter().filter(|p| seq_of[**p].is_some()) {
                let record = &batch.records[batch.staged[*position]];
                parts.push(*position, &record.raw, &record.hash);
            }
            let (dictionary, bytes) = batch.compress(&parts.raw)?;
            rebuilt = (parts, bytes);
            (&rebuilt.0, dictionary, rebuilt.1.as_slice())
        };
        let seqs: Vec<i64> = parts.positions.iter().filter_map(|p| seq_of[*p]).collect();
        let time = parts
            .positions
            .iter()
            .map(|p| batch.records[batch.staged[*p]].columns.time)
            .min()
            .unwrap_or_default();
        let tenant = batch.tenant_ref(batch.records[batch.staged[parts.positions[0]]].tenant);
        writer
            .as_mut()
            .write(&[
                &tenant,
                &time,
                &seqs[0],
                &seqs[seqs.len() - 1],
                &dictionary,
                &parts.seq_offsets(),
                &parts.raw_lens,
                &parts.hashes,
                &bytes,
            ])
            .await
            .map_err(&fail)?;
    }
    writer.finish().await.map_err(&fail)?;
    Ok(())
}

/// Copies the new records (those with a seq) into the record tables, in seq order.
async fn copy_new_records(
    tx: &Transaction<'_>,
    batch: &PreparedBatch,
    seq_of: &[Option<i64>],
) -> Result<(), ArchiveError> {
    let fail = failed("copying new records");
    let new: Vec<(i64, &PreparedRecord)> = seq_of
        .iter()
        .enumerate()
        .filter_map(|(position, seq)| seq.map(|seq| (seq, &batch.records[batch.staged[position]])))
        .collect();

    let statement = tx.prepare_cached(COPY_RECORDS).await.map_err(&fail)?;
    let writer =
        BinaryCopyInWriter::new(tx.copy_in(&statement).await.map_err(&fail)?, RECORD_TYPES);
    pin_mut!(writer);
    for (seq, record) in &new {
        let c = &record.columns;
        writer
            .as_mut()
            .write(&[
                seq,
                &batch.tenant_ref(record.tenant),
                &c.time,
                &record_key(&c.id),
                // Every u16 maps to one i16 and back.
                &(c.record_type as i16),
                &batch.id(&c.workload),
                &batch.id(&c.operation),
                &batch.id(&c.user),
                &batch.id_of(&record.system_user),
                &batch.id_of(&c.organization),
                &batch.id_of(&c.entity),
                &non_nil(c.entity_id),
                &batch.id_of(&c.message),
                &(access_code(c.access) as i16),
                &(c.categories as i32),
                &batch.id_of(&c.client_ip),
                &batch.id_of(&c.primary_field_value),
                &non_nil(c.correlation_id),
                &batch.id_of(&c.result_status),
                &listed_ids(c),
            ])
            .await
            .map_err(&fail)?;
    }
    writer.finish().await.map_err(&fail)?;

    copy_blocks(tx, batch, seq_of).await?;

    if new.iter().any(|(_, r)| !r.columns.fields.is_empty()) {
        let statement = tx.prepare_cached(COPY_FIELDS).await.map_err(&fail)?;
        let writer =
            BinaryCopyInWriter::new(tx.copy_in(&statement).await.map_err(&fail)?, FIELD_TYPES);
        pin_mut!(writer);
        for (seq, record) in &new {
            let tenant = batch.tenant_ref(record.tenant);
            // One row per field name (ASCII case folded, as queries compare it) and value, so
            // a field search meets each record once.
            let mut seen = HashSet::new();
            for (name, value) in &record.columns.fields {
                let name = batch.id(&name.to_ascii_lowercase());
                if !seen.insert((name, value)) {
                    continue;
                }
                writer
                    .as_mut()
                    .write(&[seq, &tenant, &record.columns.time, &name, value])
                    .await
                    .map_err(&fail)?;
            }
        }
        writer.finish().await.map_err(&fail)?;
    }
    Ok(())
}

/// A seal from a row of `seq, committed_at, record_count, digest, link`.
pub(crate) fn seal_of_row(row: &Row) -> BatchSeal {
    let digest: Vec<u8> = row.get(3);
    let link: Vec<u8> = row.get(4);
    BatchSeal {
        seq: row.get::<_, i64>(0) as u64,
        committed_at: row.get(1),
        record_count: row.get::<_, i64>(2) as u64,
        // A seal edited to a wrong length reads as all zeros and so breaks the chain.
        digest: Digest::from_slice(&digest).unwrap_or(Digest([0; 32])),
        link: Digest::from_slice(&link).unwrap_or(Digest([0; 32])),
    }
}
