//! The bytes of a content blob: the records of its slot (from the activity source), plus the
//! record-level faults (records repeated from or delayed into the neighbouring blob), shuffled
//! like the service's unordered blobs, and the malformed-blob fault. Records are generated on
//! demand; only a few recent slots are cached.

use std::collections::VecDeque;
use std::sync::Arc;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::content_type::ContentType;
use crate::deterministic::{chosen, mix, salt, text_key};
use crate::faults::Faults;
use crate::state::{EmulatorState, TenantRuntime, lock};

type SlotKey = (u64, ContentType, i64);

/// The records of the most recently generated slots.
#[derive(Debug)]
pub(crate) struct RecordCache {
    entries: VecDeque<(SlotKey, Arc<Vec<String>>)>,
    capacity: usize,
}

impl RecordCache {
    pub(crate) fn new(capacity: usize) -> RecordCache {
        RecordCache { entries: VecDeque::with_capacity(capacity), capacity }
    }

    fn get(&mut self, key: SlotKey) -> Option<Arc<Vec<String>>> {
        let at = self.entries.iter().position(|(k, _)| *k == key)?;
        let entry = self.entries.remove(at)?;
        let records = entry.1.clone();
        self.entries.push_front(entry);
        Some(records)
    }

    fn put(&mut self, key: SlotKey, records: Arc<Vec<String>>) {
        if self.entries.iter().any(|(k, _)| *k == key) {
            return;
        }
        if self.entries.len() >= self.capacity {
            self.entries.pop_back();
        }
        self.entries.push_front((key, records));
    }
}

/// The records whose event time lies in the slot (empty before `history_start`).
fn slot_records(
    state: &EmulatorState,
    tenant: &TenantRuntime,
    ct: ContentType,
    slot: i64,
) -> Arc<Vec<String>> {
    let key = (tenant.key, ct, slot);
    if let Some(records) = lock(&state.records).get(key) {
        return records;
    }
    let records = Arc::new(match state.schedule.activity_range(slot) {
        Some((from, to)) => state.source.records(tenant.id(), ct, from, to),
        None => Vec::new(),
    });
    lock(&state.records).put(key, records.clone());
    records
}

/// Whether record `index` of a slot is picked by a record-level fault.
fn picked(
    state: &EmulatorState,
    tenant: &TenantRuntime,
    ct: ContentType,
    slot: i64,
    index: usize,
    which: u64,
    fraction: f64,
) -> bool {
    chosen(mix(&[state.seed, tenant.key, ct.index(), slot as u64, index as u64, which]), fraction)
}

/// The records a blob carries, in the order it carries them.
pub(crate) fn blob_records(
    state: &EmulatorState,
    tenant: &TenantRuntime,
    ct: ContentType,
    slot: i64,
    faults: &Faults,
) -> Vec<String> {
    let own = slot_records(state, tenant, ct, slot);
    let (dup, late) = (faults.duplicate_fraction, faults.straggler_fraction);
    let mut records: Vec<String> = own
        .iter()
        .enumerate()
        .filter(|(i, _)| !picked(state, tenant, ct, slot, *i, salt::STRAGGLER, late))
        .map(|(_, r)| r.clone())
        .collect();
    if dup > 0.0 || late > 0.0 {
        let previous = slot_records(state, tenant, ct, slot - 1);
        for (i, record) in previous.iter().enumerate() {
            let straggler = picked(state, tenant, ct, slot - 1, i, salt::STRAGGLER, late);
            let repeated = picked(state, tenant, ct, slot - 1, i, salt::DUPLICATE, dup);
            if straggler || repeated {
                records.push(record.clone());
            }
        }
    }
    if state.shuffle_records {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(&[
            state.seed,
            tenant.key,
            ct.index(),
            slot as u64,
            salt::SHUFFLE,
        ]));
        records.shuffle(&mut rng);
    }
    records
}

/// The JSON array of a blob.
pub(crate) fn blob_json(records: &[String]) -> Vec<u8> {
    let size = records.iter().map(String::len).sum::<usize>() + records.len() + 2;
    let mut out = Vec::with_capacity(size);
    out.push(b'[');
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(record.as_bytes());
    }
    out.push(b']');
    out
}

/// Malformed-blob fault: chosen by content ID.
pub(crate) fn is_malformed(seed: u64, content_id: &str, faults: &Faults) -> bool {
    chosen(mix(&[seed, text_key(content_id), salt::MALFORMED]), faults.malformed_blob_fraction)
}

/// Expired-blob fault: chosen by content ID.
pub(crate) fn is_expired_early(seed: u64, content_id: &str, faults: &Faults) -> bool {
    chosen(mix(&[seed, text_key(content_id), salt::EXPIRED]), faults.expired_blob_fraction)
}

/// Cuts a blob so that it is no longer valid JSON (an unterminated array).
pub(crate) fn truncate(mut body: Vec<u8>) -> Vec<u8> {
    let keep = (body.len() / 2).max(1);
    body.truncate(keep);
    if body.last() == Some(&b']') {
        body.pop();
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_array_joins_records() {
        assert_eq!(blob_json(&[]), b"[]");
        assert_eq!(blob_json(&["{\"a\":1}".into(), "{\"b\":2}".into()]), b"[{\"a\":1},{\"b\":2}]");
    }

    #[test]
    fn truncated_blobs_never_parse() {
        for body in [
            b"[]".to_vec(),
            b"[{\"a\":1}]".to_vec(),
            blob_json(&vec!["{\"Id\":\"x\"}".to_owned(); 50]),
        ] {
            let cut = truncate(body);
            assert!(serde_json::from_slice::<serde_json::Value>(&cut).is_err());
        }
    }

    #[test]
    fn cache_keeps_recent_slots() {
        let mut cache = RecordCache::new(2);
        let key = |slot| (1u64, ContentType::AuditGeneral, slot);
        cache.put(key(1), Arc::new(vec!["a".into()]));
        cache.put(key(2), Arc::new(vec!["b".into()]));
        assert!(cache.get(key(1)).is_some());
        cache.put(key(3), Arc::new(vec!["c".into()]));
        assert!(cache.get(key(2)).is_none(), "least recently used is evicted");
        assert!(cache.get(key(1)).is_some());
        assert!(cache.get(key(3)).is_some());
    }
}
