//! Evidence: the hash of every record's verbatim bytes, the seal of every committed batch, the
//! chain that links the seals, and the compression of the verbatim bytes.
//!
//! Every ingest transaction that inserts records also writes one [`BatchSeal`]: the digest of the
//! hashes of the records it inserted, in insertion order, and a link that hashes the previous
//! link with this seal. Altering a stored record changes its hash; removing one changes its
//! batch's digest; removing or editing a seal breaks every later link. A retention purge (a later
//! feature) removes records on purpose and leaves a manifest with the hashes it removed, so the
//! digests stay recomputable: [`ObservedBatch::purged_hashes`] carries them into verification.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Version of the sealing scheme, stored with every seal so it can evolve.
pub const SEAL_SCHEME: u32 = 1;

/// The link before the first seal.
pub const GENESIS_LINK: Digest = Digest([0; 32]);

/// A BLAKE3 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Digest> {
        <[u8; 32]>::try_from(bytes).ok().map(Digest)
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({})", &self.to_hex()[..16])
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The hash of one record's verbatim bytes.
pub fn record_hash(raw: &[u8]) -> Digest {
    Digest(*blake3::hash(raw).as_bytes())
}

/// Folds record hashes, in insertion order, into a batch digest.
pub fn batch_digest<'a>(hashes: impl IntoIterator<Item = &'a Digest>) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"d365audit/batch/v1");
    for hash in hashes {
        hasher.update(&hash.0);
    }
    Digest(*hasher.finalize().as_bytes())
}

/// What one committed batch looked like when it was sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSeal {
    /// 1, 2, 3, ... without holes.
    pub seq: u64,
    pub committed_at: DateTime<Utc>,
    pub record_count: u64,
    pub digest: Digest,
    /// `chain_link(previous link, this seal)`.
    pub link: Digest,
}

/// Computes the link of a seal from the previous link.
pub fn chain_link(
    previous: &Digest,
    seq: u64,
    committed_at: DateTime<Utc>,
    record_count: u64,
    digest: &Digest,
) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"d365audit/link/v1");
    hasher.update(&previous.0);
    hasher.update(&seq.to_le_bytes());
    hasher.update(&committed_at.timestamp_micros().to_le_bytes());
    hasher.update(&record_count.to_le_bytes());
    hasher.update(&digest.0);
    Digest(*hasher.finalize().as_bytes())
}

/// Builds the seal that follows `previous` for the given record hashes.
pub fn seal_next(
    previous: Option<&BatchSeal>,
    committed_at: DateTime<Utc>,
    hashes: &[Digest],
) -> BatchSeal {
    let (seq, prev_link) = match previous {
        Some(seal) => (seal.seq + 1, seal.link),
        None => (1, GENESIS_LINK),
    };
    // Links use microsecond precision; store exactly what was hashed.
    let committed_at =
        DateTime::from_timestamp_micros(committed_at.timestamp_micros()).unwrap_or(committed_at);
    let digest = batch_digest(hashes);
    let record_count = hashes.len() as u64;
    let link = chain_link(&prev_link, seq, committed_at, record_count, &digest);
    BatchSeal { seq, committed_at, record_count, digest, link }
}

/// What a backend finds for one seal when it re-reads its records.
#[derive(Debug, Clone)]
pub struct ObservedBatch {
    pub seal: BatchSeal,
    /// Hashes recomputed from the stored verbatim bytes, in insertion order.
    pub stored_hashes: Vec<Digest>,
    /// Records of this batch whose recomputed hash differs from the hash stored beside them.
    pub altered_records: Vec<String>,
    /// Records a retention purge removed on purpose, from its manifest: their position in the
    /// batch's insertion order and their hash.
    pub purged_hashes: Vec<(u64, Digest)>,
}

/// One thing verification found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// A record's bytes no longer match the hash stored when it was ingested.
    RecordAltered { batch: u64, record_id: String },
    /// A Dataverse audit change's bytes no longer match the hash stored when it was ingested.
    ChangeAltered { audit_id: uuid::Uuid },
    /// A batch's records do not fold into its sealed digest: records were removed, added or
    /// their stored hashes rewritten.
    BatchContentChanged { batch: u64, sealed_count: u64, found_count: u64 },
    /// A seal's link does not follow from the previous one: a seal was edited or removed.
    ChainBroken { batch: u64 },
    /// Sequence numbers skip: whole batches are missing.
    BatchesMissing { after: u64, next_found: u64 },
    /// Records stored outside every sealed batch (added behind the archive's back, or their
    /// seal was removed); `examples` names the first few.
    UnsealedRecords { count: u64, examples: Vec<String> },
}

/// The result of walking the whole chain.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub batches: u64,
    pub records: u64,
    pub purged_records: u64,
    /// The last link: write it down somewhere else to detect a rewrite of the whole archive.
    pub head: Option<String>,
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Walks observed batches in sequence order and reports every inconsistency.
pub fn verify_chain(batches: impl IntoIterator<Item = ObservedBatch>) -> VerifyReport {
    let mut report =
        VerifyReport { batches: 0, records: 0, purged_records: 0, head: None, findings: vec![] };
    let mut prev_link = GENESIS_LINK;
    let mut expected_seq = 1;
    for observed in batches {
        let seal = &observed.seal;
        report.batches += 1;
        report.records += observed.stored_hashes.len() as u64;
        report.purged_records += observed.purged_hashes.len() as u64;
        if seal.seq != expected_seq {
            report
                .findings
                .push(Finding::BatchesMissing { after: expected_seq - 1, next_found: seal.seq });
        }
        let link =
            chain_link(&prev_link, seal.seq, seal.committed_at, seal.record_count, &seal.digest);
        if link != seal.link {
            report.findings.push(Finding::ChainBroken { batch: seal.seq });
        }
        for record_id in &observed.altered_records {
            report
                .findings
                .push(Finding::RecordAltered { batch: seal.seq, record_id: record_id.clone() });
        }
        let found_count = (observed.stored_hashes.len() + observed.purged_hashes.len()) as u64;
        if found_count != seal.record_count || !digest_matches(&observed) {
            report.findings.push(Finding::BatchContentChanged {
                batch: seal.seq,
                sealed_count: seal.record_count,
                found_count,
            });
        }
        prev_link = seal.link;
        expected_seq = seal.seq + 1;
        report.head = Some(seal.link.to_hex());
    }
    report
}

fn digest_matches(observed: &ObservedBatch) -> bool {
    if observed.purged_hashes.is_empty() {
        return batch_digest(&observed.stored_hashes) == observed.seal.digest;
    }
    // Put the purged hashes back at their positions; the survivors fill the rest in order.
    let total = observed.stored_hashes.len() + observed.purged_hashes.len();
    let mut purged: Vec<(u64, Digest)> = observed.purged_hashes.clone();
    purged.sort_by_key(|(position, _)| *position);
    let mut purged = purged.into_iter().peekable();
    let mut survivors = observed.stored_hashes.iter();
    let mut all = Vec::with_capacity(total);
    for position in 0..total as u64 {
        match purged.peek() {
            Some((at, hash)) if *at == position => {
                all.push(*hash);
                purged.next();
            }
            _ => match survivors.next() {
                Some(hash) => all.push(*hash),
                None => return false,
            },
        }
    }
    batch_digest(&all) == observed.seal.digest
}

/// zstd compression of verbatim bytes, optionally with a dictionary trained on this archive's
/// own records (small JSON records compress several times better with one).
pub struct RawCodec {
    compressor: zstd::bulk::Compressor<'static>,
}

impl std::fmt::Debug for RawCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawCodec").finish_non_exhaustive()
    }
}

/// Compression level for verbatim bytes: fast enough for the ingest hot path.
const LEVEL: i32 = 3;

impl RawCodec {
    pub fn new(dictionary: Option<&[u8]>) -> std::io::Result<RawCodec> {
        RawCodec::with_level(dictionary, LEVEL)
    }

    /// A codec that compresses at zstd `level` (higher: smaller and slower; decompression
    /// speed hardly changes).
    pub fn with_level(dictionary: Option<&[u8]>, level: i32) -> std::io::Result<RawCodec> {
        let compressor = match dictionary {
            Some(dict) => zstd::bulk::Compressor::with_dictionary(level, dict)?,
            None => zstd::bulk::Compressor::new(level)?,
        };
        Ok(RawCodec { compressor })
    }

    pub fn compress(&mut self, raw: &[u8]) -> std::io::Result<Vec<u8>> {
        self.compressor.compress(raw)
    }
}

/// Decompresses verbatim bytes, keeping one zstd decompressor per dictionary (keyed by the
/// backend's dictionary id) for a run of reads, and checking the stored length.
pub struct Decompressors<K> {
    by_dictionary: HashMap<Option<K>, zstd::bulk::Decompressor<'static>>,
}

/// Why stored bytes could not be decompressed.
#[derive(Debug)]
pub enum Unpack<E> {
    /// The dictionary they were compressed with could not be loaded.
    Dictionary(E),
    /// The stored bytes are not what was written (tampering or corruption).
    Damaged(String),
}

impl<K> Default for Decompressors<K> {
    fn default() -> Self {
        Decompressors { by_dictionary: HashMap::new() }
    }
}

impl<K> std::fmt::Debug for Decompressors<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressors").field("dictionaries", &self.by_dictionary.len()).finish()
    }
}

impl<K: Copy + Eq + std::hash::Hash> Decompressors<K> {
    /// The original `raw_len` bytes of `packed`; `load` fetches a dictionary's bytes the first
    /// time it is needed.
    pub fn unpack<D, E>(
        &mut self,
        dictionary: Option<K>,
        load: impl FnOnce(K) -> Result<D, E>,
        packed: &[u8],
        raw_len: usize,
    ) -> Result<Vec<u8>, Unpack<E>>
    where
        D: std::ops::Deref,
        D::Target: AsRef<[u8]>,
    {
        let decompressor = match self.by_dictionary.entry(dictionary) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let made = match dictionary {
                    Some(id) => {
                        let bytes = load(id).map_err(Unpack::Dictionary)?;
                        zstd::bulk::Decompressor::with_dictionary((*bytes).as_ref())
                    }
                    None => zstd::bulk::Decompressor::new(),
                };
                entry.insert(made.map_err(|e| Unpack::Damaged(e.to_string()))?)
            }
        };
        let raw =
            decompressor.decompress(packed, raw_len).map_err(|e| Unpack::Damaged(e.to_string()))?;
        if raw.len() != raw_len {
            return Err(Unpack::Damaged(format!(
                "{} bytes instead of the {raw_len} stored",
                raw.len()
            )));
        }
        Ok(raw)
    }
}

/// Trains a dictionary from sample records (a few thousand is plenty).
pub fn train_dictionary(samples: &[&[u8]], max_size: usize) -> std::io::Result<Vec<u8>> {
    zstd::dict::from_samples(samples, max_size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 10, minute, 0).unwrap()
    }

    fn chain_of(batches: &[&[&[u8]]]) -> Vec<ObservedBatch> {
        let mut out: Vec<ObservedBatch> = Vec::new();
        for (i, records) in batches.iter().enumerate() {
            let hashes: Vec<Digest> = records.iter().map(|r| record_hash(r)).collect();
            let seal = seal_next(out.last().map(|o| &o.seal), at(i as u32), &hashes);
            out.push(ObservedBatch {
                seal,
                stored_hashes: hashes,
                altered_records: vec![],
                purged_hashes: vec![],
            });
        }
        out
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let chain = chain_of(&[&[b"a", b"b"], &[b"c"], &[b"d", b"e", b"f"]]);
        let report = verify_chain(chain.clone());
        assert!(report.is_intact(), "{:?}", report.findings);
        assert_eq!((report.batches, report.records), (3, 6));
        assert_eq!(report.head, Some(chain[2].seal.link.to_hex()));
    }

    #[test]
    fn a_removed_record_is_found_in_its_batch() {
        let mut chain = chain_of(&[&[b"a", b"b"], &[b"c", b"d"]]);
        chain[1].stored_hashes.pop();
        let report = verify_chain(chain);
        assert_eq!(
            report.findings,
            vec![Finding::BatchContentChanged { batch: 2, sealed_count: 2, found_count: 1 }]
        );
    }

    #[test]
    fn a_rewritten_hash_breaks_the_digest() {
        let mut chain = chain_of(&[&[b"a", b"b"]]);
        chain[0].stored_hashes[1] = record_hash(b"forged");
        let report = verify_chain(chain);
        assert!(matches!(report.findings[..], [Finding::BatchContentChanged { batch: 1, .. }]));
    }

    #[test]
    fn an_edited_seal_breaks_the_chain_and_a_missing_batch_is_named() {
        let mut chain = chain_of(&[&[b"a"], &[b"b"], &[b"c"], &[b"d"]]);
        chain[1].seal.committed_at = at(59);
        chain.remove(2);
        let report = verify_chain(chain);
        assert!(report.findings.contains(&Finding::ChainBroken { batch: 2 }));
        assert!(report.findings.contains(&Finding::BatchesMissing { after: 2, next_found: 4 }));
    }

    #[test]
    fn purged_records_with_their_manifest_still_verify() {
        let mut chain = chain_of(&[&[b"a", b"b", b"c"]]);
        let removed = chain[0].stored_hashes.remove(1);
        chain[0].purged_hashes.push((1, removed));
        let report = verify_chain(chain);
        assert!(report.is_intact());
        assert_eq!(report.purged_records, 1);
    }

    #[test]
    fn compression_round_trips_with_and_without_a_dictionary() {
        let samples: Vec<Vec<u8>> = (0..500)
            .map(|i| format!(r#"{{"Id":"{i:08}","Workload":"CRM","Message":"Retrieve","EntityName":"account","UserId":"user{}@contoso.com"}}"#, i % 7).into_bytes())
            .collect();
        let refs: Vec<&[u8]> = samples.iter().map(|s| s.as_slice()).collect();
        let dict = train_dictionary(&refs, 16 * 1024).unwrap();
        for dictionary in [None, Some(dict.as_slice())] {
            let mut codec = RawCodec::new(dictionary).unwrap();
            let packed = codec.compress(&samples[42]).unwrap();
            let mut decompressors = Decompressors::<u8>::default();
            let load = |_| Ok::<_, ()>(dict.clone());
            let unpacked = decompressors
                .unpack(dictionary.map(|_| 1), load, &packed, samples[42].len())
                .unwrap();
            assert_eq!(unpacked, samples[42]);
        }
        let mut with_dict = RawCodec::new(Some(&dict)).unwrap();
        let mut without = RawCodec::new(None).unwrap();
        assert!(
            with_dict.compress(&samples[7]).unwrap().len()
                < without.compress(&samples[7]).unwrap().len()
        );
    }
}
