//! Record keys in sorted runs, each with a Bloom filter: a merge appends the staged keys as a
//! new run instead of inserting them among every key stored before, and a key is searched only
//! in the runs whose filter may hold it.
//!
//! Before schema version 5 the main level of `record_keys` was one table keyed by the random
//! `Id`s, and every merge inserted its keys all over it: at 10M records a merge of 250,000 keys
//! rewrote nearly every page of a 250 MB table. Now `record_keys` is keyed by (run, `Id`), a
//! merge writes one run at the end of the B-tree, and runs of about the same size are compacted
//! into one ([`KeyRuns::due_for_compaction`]): each key is rewritten about once per fourfold
//! growth of the archive instead of once per merge.
//!
//! Each run's filter (`key_runs.filter`) is written with the run. The writer keeps every filter
//! in memory (10 bits per stored record: 12 MB at 10M records) and publishes them to the packing
//! threads, whose pre-check reads a key's candidate runs only: about one absent key in a hundred
//! passes a run's filter. A run without a usable filter (a filter of a format this program does
//! not know) is searched for every key, which is correct, only slower. Runs never change once written and their numbers are never reused, so a filter
//! loaded once is good for the run's lifetime.

use std::sync::{Arc, PoisonError, RwLock};

use rusqlite::{Connection, OptionalExtension, params};

use crate::encoding::RecordKey;

/// Filter bits per key: about 1% of absent keys pass a filter.
const BITS_PER_KEY: usize = 10;

/// Bits set per key, all in one 512-bit block (one cache line read per test).
const PROBES: u32 = 7;

/// First byte of a stored filter: its format. A filter of another format is ignored.
const FORMAT: u8 = 1;

/// Runs of one size tier compacted into one.
const COMPACT_RUNS: usize = 4;

/// Runs of this size tier and above (64 times the smallest merge and more: 3.2M keys by
/// default) are not compacted again, so a compaction rewrites at most four runs of the tier
/// below (typically 4M keys, at most 12.8M) and never stalls ingest for long or needs a
/// temporary file and a WAL as large as the whole key table. Past that, the archive gains one
/// run per three to thirteen million records, each with its filter.
const LAST_COMPACTED_TIER: u32 = 2;

/// A stable 64-bit hash of a stored key. Stored filters depend on it: it must never change
/// (a changed hash would need [`FORMAT`] changed too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyHash(u64);

impl KeyHash {
    pub(crate) fn of(key: &RecordKey) -> KeyHash {
        let bytes = match key {
            RecordKey::Guid(bytes) => &bytes[..],
            RecordKey::Text(text) => text.as_bytes(),
        };
        let mut hash = 0x9e37_79b9_7f4a_7c15 ^ bytes.len() as u64;
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            hash = mix(hash ^ u64::from_le_bytes(word));
        }
        KeyHash(mix(hash))
    }
}

/// The finalizer of SplitMix64: every input bit affects every output bit.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A blocked Bloom filter over the keys of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyFilter {
    blocks: Vec<[u64; 8]>,
}

impl KeyFilter {
    /// An empty filter sized for `keys` keys.
    pub(crate) fn for_keys(keys: usize) -> KeyFilter {
        KeyFilter { blocks: vec![[0; 8]; (keys * BITS_PER_KEY).div_ceil(512).max(1)] }
    }

    /// The block of `hash` and the bits it sets there.
    fn bits(&self, hash: KeyHash) -> (usize, [u64; 8]) {
        let block = ((u128::from(hash.0) * self.blocks.len() as u128) >> 64) as usize;
        let mut bits = [0u64; 8];
        let mut spread = mix(hash.0 ^ 0x2545_f491_4f6c_dd1d);
        for _ in 0..PROBES {
            let bit = (spread & 511) as usize;
            bits[bit >> 6] |= 1 << (bit & 63);
            spread >>= 9;
        }
        (block, bits)
    }

    pub(crate) fn insert(&mut self, hash: KeyHash) {
        let (block, bits) = self.bits(hash);
        for (word, bit) in self.blocks[block].iter_mut().zip(bits) {
            *word |= bit;
        }
    }

    /// False only if the key is certainly absent.
    pub(crate) fn may_hold(&self, hash: KeyHash) -> bool {
        let (block, bits) = self.bits(hash);
        self.blocks[block].iter().zip(bits).all(|(word, bit)| word & bit == bit)
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(1 + self.blocks.len() * 64);
        bytes.push(FORMAT);
        for word in self.blocks.iter().flatten() {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        bytes
    }

    /// `None` for bytes of another format or size: the run is then searched for every key.
    fn from_bytes(bytes: &[u8]) -> Option<KeyFilter> {
        let (&FORMAT, words) = bytes.split_first()? else { return None };
        if words.is_empty() || words.len() % 64 != 0 {
            return None;
        }
        let blocks = words
            .chunks_exact(64)
            .map(|block| {
                let mut words = [0u64; 8];
                for (word, bytes) in words.iter_mut().zip(block.chunks_exact(8)) {
                    *word = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
                }
                words
            })
            .collect();
        Some(KeyFilter { blocks })
    }
}

/// One run of `record_keys`.
#[derive(Debug, Clone)]
pub(crate) struct KeyRun {
    pub(crate) run: i64,
    pub(crate) keys: u64,
    filter: Option<Arc<KeyFilter>>,
}

/// The runs of `record_keys` as one transaction saw them, with their filters.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyRuns {
    runs: Vec<KeyRun>,
}

impl KeyRuns {
    /// Reads the list of runs, taking the filters of runs in `known` from there.
    pub(crate) fn load(conn: &Connection, known: &KeyRuns) -> rusqlite::Result<KeyRuns> {
        let mut statement = conn.prepare_cached("SELECT run, keys FROM key_runs ORDER BY run")?;
        let listed: Vec<(i64, i64)> = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut runs = Vec::with_capacity(listed.len());
        for (run, keys) in listed {
            let filter = match known.runs.iter().find(|known| known.run == run) {
                Some(known) => known.filter.clone(),
                None => conn
                    .prepare_cached("SELECT filter FROM key_runs WHERE run = ?1")?
                    .query_row([run], |row| row.get::<_, Option<Vec<u8>>>(0))?
                    .and_then(|bytes| KeyFilter::from_bytes(&bytes))
                    .map(Arc::new),
            };
            runs.push(KeyRun { run, keys: keys as u64, filter });
        }
        Ok(KeyRuns { runs })
    }

    /// The runs after `removed` runs were compacted or `added` was appended.
    pub(crate) fn changed(&self, removed: &[i64], added: KeyRun) -> KeyRuns {
        let mut runs: Vec<KeyRun> =
            self.runs.iter().filter(|r| !removed.contains(&r.run)).cloned().collect();
        runs.push(added);
        runs.sort_by_key(|r| r.run);
        KeyRuns { runs }
    }

    /// The `seq` stored for `key` in any run, reading only the runs whose filter may hold it.
    pub(crate) fn find(&self, conn: &Connection, key: &RecordKey) -> rusqlite::Result<Option<i64>> {
        let hash = KeyHash::of(key);
        for run in self.runs.iter().rev() {
            if run.filter.as_ref().is_some_and(|filter| !filter.may_hold(hash)) {
                continue;
            }
            let found = conn
                .prepare_cached("SELECT seq FROM record_keys WHERE run = ?1 AND record_key = ?2")?
                .query_row(params![run.run, key], |row| row.get(0))
                .optional()?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Runs to compact into one: the runs of the smallest size tier up to
    /// [`LAST_COMPACTED_TIER`] that holds [`COMPACT_RUNS`] of them, where a run of fewer than
    /// `4 * base` keys is in tier 0, fewer than `16 * base` in tier 1, and so on. A compacted
    /// run usually lands one tier up, so each key is rewritten about once per fourfold growth of
    /// the archive (up to that tier), and there are at most three runs per tier below it.
    pub(crate) fn due_for_compaction(&self, base: u64) -> Option<Vec<i64>> {
        let tier = |keys: u64| {
            let mut tier = 0;
            let mut bound = base.max(1).saturating_mul(4);
            while keys >= bound && bound < u64::MAX {
                tier += 1;
                bound = bound.saturating_mul(4);
            }
            tier
        };
        let mut tiers: Vec<(u32, i64)> = self
            .runs
            .iter()
            .map(|r| (tier(r.keys), r.run))
            .filter(|&(tier, _)| tier <= LAST_COMPACTED_TIER)
            .collect();
        tiers.sort_unstable();
        tiers
            .chunk_by(|a, b| a.0 == b.0)
            .find(|same| same.len() >= COMPACT_RUNS)
            .map(|same| same.iter().map(|&(_, run)| run).collect())
    }
}

/// The key runs as last committed, shared by the writer (which changes them) and the packing
/// threads (which pre-check keys with them).
#[derive(Debug, Default)]
pub(crate) struct PublishedKeyRuns(RwLock<Arc<KeyRuns>>);

impl PublishedKeyRuns {
    pub(crate) fn current(&self) -> Arc<KeyRuns> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn publish(&self, runs: KeyRuns) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(runs);
    }
}

/// The next run's number: above every run of `record_keys` (and of `key_runs`).
fn next_run(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT coalesce(max(run), -1) + 1 FROM key_runs", [], |row| row.get(0))
}

/// Writes the filter of a run just written, from its keys.
fn store_filter(conn: &Connection, run: i64, keys: u64) -> rusqlite::Result<KeyRun> {
    let mut filter = KeyFilter::for_keys(keys as usize);
    let mut statement = conn.prepare_cached("SELECT record_key FROM record_keys WHERE run = ?1")?;
    let mut rows = statement.query([run])?;
    while let Some(row) = rows.next()? {
        filter.insert(KeyHash::of(&row.get(0)?));
    }
    conn.execute(
        "INSERT OR REPLACE INTO key_runs (run, keys, filter) VALUES (?1, ?2, ?3)",
        params![run, keys as i64, filter.to_bytes()],
    )?;
    Ok(KeyRun { run, keys, filter: Some(Arc::new(filter)) })
}

/// Inside the caller's transaction: appends the keys of `record_keys_staged` to `record_keys`
/// as a new run, in key order (so at the end of the B-tree), with its filter. `None` when
/// nothing is staged.
pub(crate) fn append_staged(conn: &Connection) -> rusqlite::Result<Option<KeyRun>> {
    let run = next_run(conn)?;
    let keys = conn.execute(
        "INSERT INTO record_keys (run, record_key, seq) \
         SELECT ?1, record_key, seq FROM record_keys_staged ORDER BY record_key",
        [run],
    )?;
    if keys == 0 {
        return Ok(None);
    }
    store_filter(conn, run, keys as u64).map(Some)
}

/// Inside the caller's transaction: rewrites `runs` as one new run. Should a key be in two of
/// them, its first `seq` is kept.
pub(crate) fn compact(conn: &Connection, runs: &[i64]) -> rusqlite::Result<KeyRun> {
    let run = next_run(conn)?;
    let list = runs.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    let keys = conn.execute(
        &format!(
            "INSERT INTO record_keys (run, record_key, seq) \
             SELECT ?1, record_key, min(seq) FROM record_keys WHERE run IN ({list}) \
             GROUP BY record_key ORDER BY record_key"
        ),
        [run],
    )?;
    conn.execute_batch(&format!(
        "DELETE FROM record_keys WHERE run IN ({list}); DELETE FROM key_runs WHERE run IN ({list});"
    ))?;
    store_filter(conn, run, keys as u64)
}

/// Inside the caller's transaction: builds the filters of runs stored without one (the run the
/// keys of an archive of schema version 4 became).
pub(crate) fn build_missing_filters(conn: &Connection) -> rusqlite::Result<()> {
    let missing: Vec<(i64, i64)> = conn
        .prepare("SELECT run, keys FROM key_runs WHERE filter IS NULL")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (run, keys) in missing {
        store_filter(conn, run, keys as u64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guid(n: u64) -> RecordKey {
        let mut bytes = [0; 16];
        bytes[8..].copy_from_slice(&n.to_be_bytes());
        RecordKey::Guid(bytes)
    }

    #[test]
    fn a_filter_holds_every_key_put_in_and_few_others() {
        let mut filter = KeyFilter::for_keys(10_000);
        for n in 0..10_000 {
            filter.insert(KeyHash::of(&guid(n)));
        }
        assert!((0..10_000).all(|n| filter.may_hold(KeyHash::of(&guid(n)))));
        let passing = (10_000..110_000).filter(|&n| filter.may_hold(KeyHash::of(&guid(n)))).count();
        // 10 bits per key and 7 bits per key in 512-bit blocks: about 1% pass.
        assert!(passing < 2_000, "{passing} of 100,000 absent keys passed");
        let text = RecordKey::Text("not a guid".into());
        filter.insert(KeyHash::of(&text));
        assert!(filter.may_hold(KeyHash::of(&text)));
    }

    #[test]
    fn a_filter_reads_back_as_written_and_other_formats_are_ignored() {
        let mut filter = KeyFilter::for_keys(100);
        (0..100).for_each(|n| filter.insert(KeyHash::of(&guid(n))));
        let bytes = filter.to_bytes();
        assert_eq!(KeyFilter::from_bytes(&bytes), Some(filter));
        let mut other = bytes.clone();
        other[0] = FORMAT + 1;
        assert_eq!(KeyFilter::from_bytes(&other), None);
        assert_eq!(KeyFilter::from_bytes(&bytes[..bytes.len() - 1]), None);
        assert_eq!(KeyFilter::from_bytes(&[FORMAT]), None);
    }

    /// Stored filters depend on the hash: it must not change between versions. The values were
    /// computed by a separate implementation of the same definition.
    #[test]
    fn the_key_hash_is_stable() {
        assert_eq!(KeyHash::of(&guid(1)), KeyHash(0xf231_9271_c1c0_1f18));
        assert_eq!(KeyHash::of(&RecordKey::Text("x".into())), KeyHash(0x4ed5_a37e_ca93_e7cb));
    }

    fn runs_of(sizes: &[u64]) -> KeyRuns {
        let runs = sizes
            .iter()
            .enumerate()
            .map(|(i, &keys)| KeyRun { run: i as i64, keys, filter: None })
            .collect();
        KeyRuns { runs }
    }

    #[test]
    fn four_runs_of_one_tier_are_compacted() {
        assert_eq!(runs_of(&[100, 100, 100]).due_for_compaction(50), None);
        assert_eq!(runs_of(&[100, 100, 150, 199]).due_for_compaction(50), Some(vec![0, 1, 2, 3]));
        // 200 is tier 1 (4 x 50 and up): no tier holds four.
        assert_eq!(runs_of(&[100, 100, 150, 200]).due_for_compaction(50), None);
        // The smallest tier that holds four goes first.
        let mixed = runs_of(&[1_000, 900, 800, 850, 10, 20, 30, 40, 5]);
        assert_eq!(mixed.due_for_compaction(50), Some(vec![4, 5, 6, 7, 8]));
        assert_eq!(runs_of(&[u64::MAX; 4]).due_for_compaction(u64::MAX), Some(vec![0, 1, 2, 3]));
        // Tier 2 (800 - 3,199 keys of base 50) is compacted; tier 3 and above never are.
        assert_eq!(runs_of(&[3_199; 4]).due_for_compaction(50), Some(vec![0, 1, 2, 3]));
        assert_eq!(runs_of(&[3_200; 9]).due_for_compaction(50), None);
    }
}
