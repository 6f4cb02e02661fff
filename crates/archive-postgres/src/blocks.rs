//! Verbatim bytes in blocks (schema 6): the records of one ingest batch that share a tenant and
//! a UTC month are compressed together, up to [`BLOCK_RECORDS`] records (or [`BLOCK_BYTES`] raw
//! bytes) per block, in one `record_blocks` row with their seq offsets, raw lengths and BLAKE3
//! hashes beside the zstd bytes.
//!
//! Why: a row per record cost about 110 bytes of tuple header, keys and index entry on top of
//! its compressed bytes, and zstd, even with the archive's trained dictionary, cannot see what
//! records share with each other (the same row ids listed again and again, the same users,
//! URLs and user agents); compressed together, records take about a quarter less (measured on
//! the benchmark's records: 225 bytes each alone, 172 in blocks of 64, 166 in blocks of 256;
//! since schema 8, about 151 in blocks of a whole 1,000-record batch at level 9). Reading one
//! record decompresses its block (at most about [`BLOCK_BYTES`]), one to two milliseconds.
//!
//! A block covers the seq range `[first_seq, last_seq]`; blocks of one tenant and month never
//! overlap (a batch owns its seq range, and its blocks split the batch's records of a tenant and
//! month in seq order), so a record's block is the one of its tenant and month with the greatest
//! `first_seq` at or below the record's seq ([`block_of`]). A block whose records have
//! consecutive seqs from `first_seq` stores no offsets: since schema 8 most blocks (a batch
//! of one tenant and month), before only blocks of one record (what migration 6 made of the
//! rows of `record_bytes`).

use archive::evidence::Digest;
use tokio_postgres::Row;

use crate::verbatim::{UnpackError, Unpacker};

/// Most records in a block.
pub(crate) const BLOCK_RECORDS: usize = 4096;

/// A block is closed once its records' raw bytes reach this size, so that reading one record
/// never decompresses much more than this (about 0.4 ms for 1 MB).
pub(crate) const BLOCK_BYTES: usize = 4 << 20;

/// How much of each record's BLAKE3 hash a block stores (schema 8; 32 bytes before). The
/// evidence does not rest on it: `verify` hashes every record's bytes anew and checks the
/// batches' seals with the whole hashes. The stored beginning tells which record of an altered
/// batch changed, and whether a record arriving again with the same Id has the same bytes
/// (a duplicate) or not (a variant, kept apart); for a record to pass as another with the same
/// first 8 bytes someone would have to find a second input for a given BLAKE3 prefix of 64
/// bits, about 2^64 tries. 24 bytes a record less.
pub(crate) const STORED_HASH_BYTES: usize = 8;

/// The zstd level of blocks (and of Dataverse changes, which share the codecs). Measured on
/// the benchmark's records in 1 MB blocks: level 3 compresses 8.6 times at about 420 MB/s,
/// level 6 9.8 times at about 100 MB/s, level 9 10.2 times at about 70 MB/s (a core
/// compresses some 50,000 records a second, more than a 2-core PostgreSQL server stores),
/// level 12 10.6 times at about 50 MB/s; 256 KB blocks at level 3, schema 7's, 7.4 times.
pub(crate) const BLOCK_LEVEL: i32 = 9;

/// A LATERAL subquery that finds, as `b`, the block of the record whose tenant, event time and
/// seq are `t`'s (an alias with those columns): the block of its tenant and month that starts
/// at or before its seq. Bounding the month lets PostgreSQL read one partition.
pub(crate) fn block_of(t: &str, columns: &str) -> String {
    format!(
        "LEFT JOIN LATERAL (SELECT {columns} FROM d365audit.record_blocks x \
           WHERE x.tenant_ref = {t}.tenant_ref \
             AND x.event_time >= (date_trunc('month', {t}.event_time AT TIME ZONE 'UTC') \
                                  AT TIME ZONE 'UTC') \
             AND x.event_time < ((date_trunc('month', {t}.event_time AT TIME ZONE 'UTC') \
                                  + interval '1 month') AT TIME ZONE 'UTC') \
             AND x.first_seq <= {t}.seq \
           ORDER BY x.first_seq DESC LIMIT 1) b ON true"
    )
}

/// The columns [`StoredBlock::from_row`] reads, over the alias `x`.
pub(crate) const BLOCK_COLUMNS: &str =
    "x.first_seq, x.dictionary, x.seq_offsets, x.raw_lens, x.hashes, x.bytes";

/// A block as stored.
#[derive(Debug)]
pub(crate) struct StoredBlock {
    pub(crate) first_seq: i64,
    pub(crate) dictionary: Option<i32>,
    /// `None`: consecutive seqs from `first_seq`, one per length.
    seq_offsets: Option<Vec<i32>>,
    raw_lens: Vec<i32>,
    hashes: Vec<u8>,
    pub(crate) bytes: Vec<u8>,
}

impl StoredBlock {
    /// The block in the six columns starting at `at` ([`BLOCK_COLUMNS`]); `None` when the
    /// row has no block (a LEFT JOIN that found none).
    pub(crate) fn from_row(row: &Row, at: usize) -> Option<StoredBlock> {
        Some(StoredBlock {
            first_seq: row.get::<_, Option<i64>>(at)?,
            dictionary: row.get(at + 1),
            seq_offsets: row.get(at + 2),
            raw_lens: row.get::<_, Option<Vec<i32>>>(at + 3)?,
            hashes: row.get::<_, Option<Vec<u8>>>(at + 4)?,
            bytes: row.get::<_, Option<Vec<u8>>>(at + 5)?,
        })
    }

    /// The seq of each record, in order.
    pub(crate) fn seqs(&self) -> Vec<i64> {
        match &self.seq_offsets {
            Some(offsets) => offsets.iter().map(|o| self.first_seq + i64::from(*o)).collect(),
            None => (self.first_seq..).take(self.raw_lens.len()).collect(),
        }
    }

    /// The position in the block of the record with this seq.
    pub(crate) fn index_of(&self, seq: i64) -> Option<usize> {
        self.seqs().iter().position(|s| *s == seq)
    }

    /// The bytes stored per record of its BLAKE3 hash: all 32 before schema 8, the first
    /// [`STORED_HASH_BYTES`] since; `None` when the hashes fit neither.
    fn hash_width(&self) -> Option<usize> {
        let count = self.raw_lens.len();
        [STORED_HASH_BYTES, 32]
            .into_iter()
            .find(|width| count > 0 && width * count == self.hashes.len())
    }

    /// Whether `hash` (a record's whole BLAKE3) is the one stored for the record at `index`:
    /// the stored bytes are its beginning.
    pub(crate) fn holds_hash(&self, index: usize, hash: &Digest) -> bool {
        self.hash_width()
            .and_then(|width| self.hashes.get(index * width..(index + 1) * width))
            .is_some_and(|stored| hash.0.starts_with(stored))
    }

    /// The records' bytes, in order. A block whose lengths, hashes and offsets disagree, or
    /// whose bytes do not decompress to the lengths it names, is damaged.
    pub(crate) fn unpack(&self, unpacker: &mut Unpacker<'_>) -> Result<Vec<Vec<u8>>, UnpackError> {
        let count = self.raw_lens.len();
        let consistent = self.seqs().len() == count
            && self.hash_width().is_some()
            && self.raw_lens.iter().all(|len| *len >= 0);
        if !consistent {
            return Err(UnpackError::Damaged("its offsets, lengths and hashes disagree".into()));
        }
        let total: usize = self.raw_lens.iter().map(|len| *len as usize).sum();
        let raw = unpacker.unpack(self.dictionary, &self.bytes, total)?;
        let mut records = Vec::with_capacity(count);
        let mut start = 0;
        for len in &self.raw_lens {
            let end = start + *len as usize;
            records.push(raw[start..end].to_vec());
            start = end;
        }
        Ok(records)
    }
}

/// Records about to be written as one block: their staging positions, lengths and hashes.
#[derive(Debug, Default)]
pub(crate) struct BlockParts {
    pub(crate) positions: Vec<usize>,
    pub(crate) raw_lens: Vec<i32>,
    pub(crate) hashes: Vec<u8>,
    pub(crate) raw: Vec<u8>,
}

impl BlockParts {
    pub(crate) fn push(&mut self, position: usize, raw: &[u8], hash: &Digest) {
        self.positions.push(position);
        self.raw_lens.push(raw.len() as i32);
        self.hashes.extend_from_slice(&hash.0[..STORED_HASH_BYTES]);
        self.raw.extend_from_slice(raw);
    }

    pub(crate) fn is_full(&self) -> bool {
        self.positions.len() >= BLOCK_RECORDS || self.raw.len() >= BLOCK_BYTES
    }

    /// The seq offsets to store for a block starting at the first position: `None` when the
    /// positions are consecutive.
    pub(crate) fn seq_offsets(&self) -> Option<Vec<i32>> {
        let first = *self.positions.first()?;
        let consecutive = self.positions.windows(2).all(|pair| pair[1] == pair[0] + 1);
        (!consecutive).then(|| self.positions.iter().map(|p| (p - first) as i32).collect())
    }
}
