//! The compact form of a record `Id` in `record_keys` (schema 6): the 16 bytes of a GUID when the
//! Id is one (nearly every Microsoft record), its UTF-8 text otherwise. About half the width of
//! the text, in the table and in its primary key, which takes an entry per record.
//!
//! Stored Ids are normalized (`archive::columns::normalize_id`), so a GUID Id is always the
//! lower-case hyphenated text, and only that exact text is packed: every key maps back to one
//! Id. A text Id of exactly 16 bytes gets a trailing `0xFF` byte (never part of UTF-8), so it
//! cannot collide with a packed GUID. Migrations 6 and 7 compute the same keys in SQL; they must
//! stay in step (the migration tests check a GUID and text Ids). Since schema 7 `records` holds
//! the same key, and [`id_of_key`] gives the Id back.

use uuid::Uuid;

/// The `record_keys.record_key` value of a stored (normalized) `Id`.
pub(crate) fn record_key(id: &str) -> Vec<u8> {
    let mut canonical = [0; uuid::fmt::Hyphenated::LENGTH];
    match Uuid::try_parse(id) {
        Ok(guid) if *guid.hyphenated().encode_lower(&mut canonical) == *id => {
            guid.as_bytes().to_vec()
        }
        _ => {
            let mut key = id.as_bytes().to_vec();
            if key.len() == 16 {
                key.push(0xFF);
            }
            key
        }
    }
}

/// The `Id` a `record_key` stands for: the inverse of [`record_key`] (schema 7 reads the Ids of
/// `records` from their keys).
pub(crate) fn id_of_key(key: &[u8]) -> String {
    match key.len() {
        16 => Uuid::from_slice(key).map(|guid| guid.to_string()).unwrap_or_default(),
        17 if key[16] == 0xFF => String::from_utf8_lossy(&key[..16]).into_owned(),
        _ => String::from_utf8_lossy(key).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_back_to_their_ids() {
        for id in ["6f1d2a3b-0c4d-4e5f-8a9b-0c1d2e3f4a5b", "0123456789abcdef", "sanitized-0012", ""]
        {
            assert_eq!(id_of_key(&record_key(id)), id);
        }
    }

    #[test]
    fn guids_pack_to_16_bytes_and_text_never_collides_with_them() {
        let guid = "6f1d2a3b-0c4d-4e5f-8a9b-0c1d2e3f4a5b";
        assert_eq!(record_key(guid), Uuid::parse_str(guid).unwrap().as_bytes().to_vec());
        // Not the stored form of a GUID: kept as text.
        assert_eq!(record_key(&guid.to_uppercase()).len(), 36);
        assert_eq!(record_key("sanitized-0012"), b"sanitized-0012".to_vec());
        let sixteen = "0123456789abcdef";
        assert_eq!(record_key(sixteen), [sixteen.as_bytes(), &[0xFF]].concat());
        assert_eq!(record_key(""), Vec::<u8>::new());
    }
}
