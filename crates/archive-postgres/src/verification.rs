//! Verification of the evidence: in one consistent snapshot (a REPEATABLE READ, READ ONLY
//! transaction, so replicas can keep ingesting), every stored record is decompressed and
//! re-hashed, compared with the hash stored beside it, folded into its batch's digest, and the
//! seals are walked as a chain with `archive::evidence::verify_chain`.
//!
//! The snapshot is read in consecutive seq ranges, each covering a few thousand records of
//! consecutive seals (and whatever lies between them), so every query has a bounded, indexed
//! plan whatever the archive's size; each range reads the blocks of verbatim bytes that start in
//! it and the normalized rows, and matches them by seq both ways, so a record missing either
//! half is seen. An async producer assigns the rows
//! to the seal whose seq range holds them (rows no range holds are unsealed) and hands each
//! batch over a bounded channel to a blocking thread that decompresses and hashes them and runs
//! the chain walk. Seq order is batch start order, the chain is commit order: they differ only
//! where replicas' batches overlapped in time, so the walker puts batches back in chain order
//! with a small reorder buffer of hashes. Memory stays at a few batches whatever the archive's
//! size. Last, in the same snapshot, every Dataverse audit change is decompressed and re-hashed
//! against the hash stored with it, a few thousand at a time in `auditid` order.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use archive::changes::{altered_change_finding, change_hash};
use archive::evidence::{BatchSeal, ObservedBatch, record_hash, verify_chain};
use archive::{ArchiveError, Finding, VerifyReport};
use deadpool_postgres::ClientWrapper;
use tokio::sync::mpsc;
use tokio_postgres::{IsolationLevel, Transaction};
use uuid::Uuid;

use crate::blocks::StoredBlock;
use crate::changes::{ChangeRow, READ_COLUMNS, change_of_row, unpack_row};
use crate::failure::failed;
use crate::ingest::seal_of_row;
use crate::verbatim::{DictionaryCache, Unpacker};

/// How many examples of unsealed records a finding names.
const EXAMPLES: usize = 10;

/// A record's place in a stored block, with its `Id` when its normalized row still exists.
#[derive(Debug)]
struct BytesRow {
    seq: i64,
    block: Arc<StoredBlock>,
    index: usize,
    id: Option<String>,
}

/// One seal and what the snapshot holds for it, before decompression.
#[derive(Debug)]
struct SealedRows {
    seal: BatchSeal,
    rows: Vec<BytesRow>,
    /// Records of the batch whose verbatim bytes are gone.
    without_bytes: Vec<String>,
}

/// Records found outside every seal.
#[derive(Debug, Default)]
struct Unsealed {
    count: u64,
    examples: Vec<String>,
}

impl Unsealed {
    fn add(&mut self, seq: i64, id: Option<String>) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(id.unwrap_or_else(|| format!("#{seq}")));
        }
    }
}

const SEALS: &str = "SELECT seq, committed_at, record_count, digest, link, first_seq, last_seq \
    FROM d365audit.seals ORDER BY seq";

/// The blocks that start in one seq range `($1, $2]`.
const RANGE_BLOCKS: &str = "SELECT x.first_seq, x.dictionary, x.seq_offsets, x.raw_lens, \
    x.hashes, x.bytes FROM d365audit.record_blocks x WHERE x.first_seq > $1 AND x.first_seq <= $2";

/// The normalized rows of one seq range `($1, $2]`.
const RANGE_RECORDS: &str = "SELECT seq, record_key FROM d365audit.records \
    WHERE seq > $1 AND seq <= $2";

/// Records a range query covers at least (whole seals at a time).
const RANGE_SIZE: u64 = 5_000;

/// Summarizes the page ranges of the seq index (a BRIN index, migration 7) that ingest filled
/// since autovacuum last did: a range without a summary is read row by row by every seq range
/// query, which made a verification right after a bulk ingest ten times slower. Best effort,
/// before the snapshot: only the index's owner may summarize, and verification is correct (if
/// slower) without it.
async fn summarize_seq_ranges(client: &ClientWrapper) {
    let summarized = client
        .query(
            "SELECT brin_summarize_new_values(i.inhrelid) FROM pg_inherits i \
             WHERE i.inhparent = 'd365audit.records_seq'::regclass",
            &[],
        )
        .await;
    if let Err(error) = summarized {
        tracing::debug!(%error, "could not summarize the seq index before verifying");
    }
}

pub(crate) async fn verify(
    client: &mut ClientWrapper,
    dictionaries: Arc<DictionaryCache>,
) -> Result<VerifyReport, ArchiveError> {
    let fail = failed("verifying the archive");
    summarize_seq_ranges(client).await;
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(&fail)?;
    dictionaries.load_all(tx.client()).await?;
    let cache = dictionaries.clone();
    let mut seals: Vec<(BatchSeal, i64, i64)> = tx
        .query(SEALS, &[])
        .await
        .map_err(&fail)?
        .iter()
        .map(|row| (seal_of_row(row), row.get(5), row.get(6)))
        .collect();
    // The chain order the walk needs, then the seq order the rows come in.
    let chain: Vec<u64> = seals.iter().map(|(seal, _, _)| seal.seq).collect();
    seals.sort_by_key(|(seal, first, _)| (*first, seal.seq));
    let (sender, mut receiver) = mpsc::channel::<SealedRows>(4);
    let walker = tokio::task::spawn_blocking(move || {
        let mut unpacker = Unpacker::new(&dictionaries);
        let mut waiting: BTreeMap<u64, ObservedBatch> = BTreeMap::new();
        let mut chain = chain.into_iter();
        let batches = std::iter::from_fn(|| {
            let next = chain.next()?;
            loop {
                if let Some(batch) = waiting.remove(&next) {
                    return Some(batch);
                }
                let sealed = receiver.blocking_recv()?;
                let observed = observe(sealed, &mut unpacker);
                waiting.insert(observed.seal.seq, observed);
            }
        });
        verify_chain(batches)
    });
    let produced = produce(&tx, seals, sender).await;
    let mut report = walker.await.map_err(|e| ArchiveError::Storage {
        doing: "verifying the archive".into(),
        message: e.to_string(),
    })?;
    let unsealed = produced?;
    if unsealed.count > 0 {
        report
            .findings
            .push(Finding::UnsealedRecords { count: unsealed.count, examples: unsealed.examples });
    }
    report.findings.extend(verify_changes(&tx, cache).await?);
    tx.commit().await.map_err(&fail)?;
    Ok(report)
}

/// Changes re-hashed per query.
const CHANGES_PER_READ: i64 = 2_000;

/// Re-hashes every stored change, in `auditid` order a few thousand at a time (decompressed on a
/// blocking thread), and names those whose bytes no longer match their hash.
async fn verify_changes(
    tx: &Transaction<'_>,
    dictionaries: Arc<DictionaryCache>,
) -> Result<Vec<Finding>, ArchiveError> {
    let fail = failed("verifying changes");
    let sql = format!(
        "SELECT {READ_COLUMNS} FROM d365audit.changes \
         WHERE $1::uuid IS NULL OR audit_id > $1 ORDER BY audit_id LIMIT $2"
    );
    let statement = tx.prepare(&sql).await.map_err(&fail)?;
    let mut findings = Vec::new();
    let mut after: Option<Uuid> = None;
    loop {
        let rows = tx.query(&statement, &[&after, &CHANGES_PER_READ]).await.map_err(&fail)?;
        let Some(last) = rows.last() else { break };
        after = Some(last.get(0));
        let parsed: Vec<Result<ChangeRow, Uuid>> =
            rows.iter().map(|row| change_of_row(row).map_err(|_| row.get::<_, Uuid>(0))).collect();
        let dictionaries = dictionaries.clone();
        let altered = tokio::task::spawn_blocking(move || {
            let mut unpacker = Unpacker::new(&dictionaries);
            parsed
                .into_iter()
                .filter_map(|row| match row {
                    // A column that no longer decodes was edited too.
                    Err(audit_id) => Some(audit_id),
                    Ok(row) => {
                        let intact = unpack_row(&mut unpacker, &row).is_ok_and(|(raw, detail)| {
                            change_hash(&raw, detail.as_deref()).0.as_slice() == row.hash
                        });
                        (!intact).then_some(row.change.audit_id)
                    }
                })
                .collect::<Vec<Uuid>>()
        })
        .await
        .map_err(|e| ArchiveError::Storage {
            doing: "verifying changes".into(),
            message: e.to_string(),
        })?;
        findings.extend(altered.into_iter().map(altered_change_finding));
        if rows.len() < CHANGES_PER_READ as usize {
            break;
        }
    }
    Ok(findings)
}

/// A row of a range: verbatim bytes (absent when lost) and the `Id` of its normalized row
/// (absent when lost).
#[derive(Debug)]
struct RangeRow {
    seq: i64,
    bytes: Option<BytesRow>,
    id: Option<String>,
}

/// The rows with `lo < seq <= hi`, in seq order: each record of the blocks that start in the
/// range, matched by seq with the normalized rows.
async fn range(tx: &Transaction<'_>, lo: i64, hi: i64) -> Result<Vec<RangeRow>, ArchiveError> {
    let fail = failed("reading records to verify");
    let mut rows: BTreeMap<i64, RangeRow> = BTreeMap::new();
    for row in tx.query(RANGE_BLOCKS, &[&lo, &hi]).await.map_err(&fail)? {
        let Some(block) = StoredBlock::from_row(&row, 0) else { continue };
        let block = Arc::new(block);
        for (index, seq) in block.seqs().into_iter().enumerate() {
            let bytes = BytesRow { seq, block: block.clone(), index, id: None };
            rows.insert(seq, RangeRow { seq, bytes: Some(bytes), id: None });
        }
    }
    for row in tx.query(RANGE_RECORDS, &[&lo, &hi]).await.map_err(&fail)? {
        let (seq, id): (i64, String) = (row.get(0), crate::keys::id_of_key(row.get(1)));
        let entry = rows.entry(seq).or_insert(RangeRow { seq, bytes: None, id: None });
        if let Some(bytes) = &mut entry.bytes {
            bytes.id = Some(id.clone());
        }
        entry.id = Some(id);
    }
    Ok(rows.into_values().collect())
}

/// Reads the snapshot range by range and sends each seal's rows, in seq order; returns what no
/// seal covers.
async fn produce(
    tx: &Transaction<'_>,
    seals: Vec<(BatchSeal, i64, i64)>,
    sender: mpsc::Sender<SealedRows>,
) -> Result<Unsealed, ArchiveError> {
    let mut unsealed = Unsealed::default();
    let mut lo = i64::MIN;
    let mut seals = seals.into_iter().peekable();
    loop {
        // Whole seals until the range holds enough records; after the last one, the tail.
        let mut group = Vec::new();
        let mut records = 0u64;
        while let Some(next) = seals.next_if(|_| group.is_empty() || records < RANGE_SIZE) {
            records += next.0.record_count;
            group.push(next);
        }
        let hi = group.iter().map(|(_, _, last)| *last).max().unwrap_or(i64::MAX).max(lo);
        let mut rows = range(tx, lo, hi).await?.into_iter().peekable();
        for (seal, first, last) in group {
            let mut sealed = SealedRows { seal, rows: Vec::new(), without_bytes: Vec::new() };
            while let Some(row) = rows.next_if(|row| row.seq <= last) {
                match (row.seq >= first, row.bytes) {
                    (true, Some(bytes)) => sealed.rows.push(bytes),
                    (true, None) => sealed.without_bytes.push(row.id.unwrap_or_default()),
                    (false, _) => unsealed.add(row.seq, row.id),
                }
            }
            if sender.send(sealed).await.is_err() {
                // The walker stopped: its error or panic is reported by the caller.
                return Ok(unsealed);
            }
        }
        for row in rows {
            unsealed.add(row.seq, row.id);
        }
        if hi == i64::MAX {
            return Ok(unsealed);
        }
        lo = hi;
    }
}

/// Decompresses (each block once) and hashes a batch's records.
fn observe(sealed: SealedRows, unpacker: &mut Unpacker<'_>) -> ObservedBatch {
    let mut batch = ObservedBatch {
        seal: sealed.seal,
        stored_hashes: Vec::with_capacity(sealed.rows.len()),
        altered_records: sealed.without_bytes,
        purged_hashes: Vec::new(),
    };
    let mut unpacked: HashMap<i64, Option<Vec<Vec<u8>>>> = HashMap::new();
    for row in sealed.rows {
        let raws =
            unpacked.entry(row.block.first_seq).or_insert_with(|| row.block.unpack(unpacker).ok());
        match raws.as_ref().and_then(|raws| raws.get(row.index)) {
            Some(raw) => {
                let hash = record_hash(raw);
                batch.stored_hashes.push(hash);
                if !row.block.holds_hash(row.index, &hash) || row.id.is_none() {
                    batch.altered_records.push(name_of(&row, Some(raw)));
                }
            }
            // Bytes that no longer decompress, or whose dictionary is gone, are altered; the
            // hash of what is there keeps the batch digest honest.
            None => {
                batch.stored_hashes.push(record_hash(&row.block.bytes));
                batch.altered_records.push(name_of(&row, None));
            }
        }
    }
    batch
}

/// The `Id` of an altered record: from its normalized row, else from its bytes, else its
/// position.
fn name_of(row: &BytesRow, raw: Option<&[u8]>) -> String {
    if let Some(id) = &row.id {
        return id.clone();
    }
    raw.and_then(|raw| record::parse_record(raw).ok())
        .map(|parsed| archive::columns::normalize_id(&parsed.id))
        .unwrap_or_else(|| format!("#{}", row.seq))
}
