//! The verbatim bytes of records: hashing and zstd compression before they reach the writer,
//! the compression dictionary trained on the archive's own first records, and decompression
//! with the right dictionary when they are read back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use archive::ArchiveError;
use archive::columns::RecordColumns;
use archive::evidence::{Decompressors, Digest, Unpack, record_hash};
use rusqlite::{Connection, OptionalExtension};
use zstd::bulk::Compressor;
use zstd::zstd_safe::CParameter;

use crate::encoding::{RecordKey, failed};
use crate::ids::{KnownIds, RecordIds};

/// A trained compression dictionary and its row id in `dictionaries`.
#[derive(Debug)]
pub(crate) struct Dictionary {
    pub(crate) id: i64,
    pub(crate) bytes: Vec<u8>,
}

/// One record ready for the writer: columns, hash, and compressed bytes.
#[derive(Debug)]
pub(crate) struct PackedRecord {
    pub(crate) columns: RecordColumns,
    /// The record's `Id` as stored in `record_keys`.
    pub(crate) key: RecordKey,
    /// The ids of the columns' values already known when the record was packed.
    pub(crate) ids: RecordIds,
    pub(crate) hash: Digest,
    pub(crate) raw_len: i64,
    pub(crate) dictionary: Option<i64>,
    pub(crate) packed: Vec<u8>,
    /// Whether the record's `Id` was absent from the key runs when packed (see
    /// [`crate::writer::PackedBatch::merge_epoch`]).
    pub(crate) absent_from_main: bool,
}

/// zstd level for verbatim bytes: with a dictionary, higher levels gain under 10% for several
/// times the CPU on the ingest hot path.
const LEVEL: i32 = 3;

/// Compression shared by every ingest call: the current dictionary and idle compressors.
#[derive(Default)]
pub(crate) struct Packer {
    current: RwLock<Option<Arc<Dictionary>>>,
    idle: Mutex<Vec<(Option<i64>, Compressor<'static>)>>,
}

impl std::fmt::Debug for Packer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packer").field("dictionary", &self.current().map(|d| d.id)).finish()
    }
}

/// A compressor for one dictionary (or none). Frames carry neither the dictionary id nor the
/// content size: the `raw` row stores both.
fn compressor(dictionary: Option<&Dictionary>) -> std::io::Result<Compressor<'static>> {
    let mut compressor = match dictionary {
        Some(d) => Compressor::with_dictionary(LEVEL, &d.bytes)?,
        None => Compressor::new(LEVEL)?,
    };
    compressor.set_parameter(CParameter::DictIdFlag(false))?;
    compressor.set_parameter(CParameter::ContentSizeFlag(false))?;
    Ok(compressor)
}

impl Packer {
    pub(crate) fn current(&self) -> Option<Arc<Dictionary>> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Makes `dictionary` the one new records are compressed with.
    pub(crate) fn publish(&self, dictionary: Dictionary) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(dictionary));
    }

    /// Hashes and compresses records (CPU work done outside the writer thread).
    pub(crate) fn pack(
        &self,
        records: Vec<(Vec<u8>, RecordColumns)>,
        keys: Vec<RecordKey>,
        known: &KnownIds,
        absent_from_main: &[bool],
    ) -> Result<Vec<PackedRecord>, ArchiveError> {
        let columns: Vec<&RecordColumns> = records.iter().map(|(_, c)| c).collect();
        let ids = known.resolve(&columns);
        let dictionary = self.current();
        let dictionary_id = dictionary.as_ref().map(|d| d.id);
        let mut codec = self.take_codec(dictionary.as_deref())?;
        let mut out = Vec::with_capacity(records.len());
        let absent = absent_from_main.iter().copied().chain(std::iter::repeat(false));
        let records = records.into_iter().zip(keys).zip(ids).zip(absent);
        for ((((raw, columns), key), ids), absent_from_main) in records {
            let packed = codec.compress(&raw).map_err(|e| ArchiveError::Storage {
                doing: "compressing a record".into(),
                message: e.to_string(),
            })?;
            out.push(PackedRecord {
                hash: record_hash(&raw),
                raw_len: raw.len() as i64,
                dictionary: dictionary_id,
                packed,
                columns,
                key,
                ids,
                absent_from_main,
            });
        }
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).push((dictionary_id, codec));
        Ok(out)
    }

    fn take_codec(
        &self,
        dictionary: Option<&Dictionary>,
    ) -> Result<Compressor<'static>, ArchiveError> {
        let id = dictionary.map(|d| d.id);
        {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            idle.retain(|(codec_dictionary, _)| *codec_dictionary == id);
            if let Some((_, codec)) = idle.pop() {
                return Ok(codec);
            }
        }
        compressor(dictionary).map_err(|e| ArchiveError::Storage {
            doing: "preparing compression".into(),
            message: e.to_string(),
        })
    }
}

/// Loads the newest dictionary, if the archive has one.
pub(crate) fn newest_dictionary(conn: &Connection) -> Result<Option<Dictionary>, ArchiveError> {
    conn.query_row("SELECT id, bytes FROM dictionaries ORDER BY id DESC LIMIT 1", [], |row| {
        Ok(Dictionary { id: row.get(0)?, bytes: row.get(1)? })
    })
    .optional()
    .map_err(failed("loading the compression dictionary"))
}

/// Dictionaries by id, loaded once per archive handle for reading.
#[derive(Debug, Default)]
pub(crate) struct DictionaryCache {
    loaded: Mutex<HashMap<i64, Arc<Vec<u8>>>>,
}

impl DictionaryCache {
    fn get(&self, conn: &Connection, id: i64) -> Result<Arc<Vec<u8>>, ArchiveError> {
        if let Some(bytes) = self.loaded.lock().unwrap_or_else(PoisonError::into_inner).get(&id) {
            return Ok(bytes.clone());
        }
        let bytes: Option<Vec<u8>> = conn
            .query_row("SELECT bytes FROM dictionaries WHERE id = ?", [id], |row| row.get(0))
            .optional()
            .map_err(failed("loading a compression dictionary"))?;
        let bytes = Arc::new(bytes.ok_or_else(|| ArchiveError::Corrupt {
            message: format!(
                "compression dictionary {id} is missing, so records compressed with it cannot \
                 be read; restore the archive from a backup"
            ),
        })?);
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner).insert(id, bytes.clone());
        Ok(bytes)
    }
}

/// Decompresses verbatim bytes, keeping one decompressor per dictionary for a run of reads.
#[derive(Debug)]
pub(crate) struct Unpacker<'a> {
    cache: &'a DictionaryCache,
    decompressors: Decompressors<i64>,
}

impl<'a> Unpacker<'a> {
    pub(crate) fn new(cache: &'a DictionaryCache) -> Self {
        Unpacker { cache, decompressors: Decompressors::default() }
    }

    /// The original bytes of a stored record, or why they cannot be recovered.
    pub(crate) fn unpack(
        &mut self,
        conn: &Connection,
        dictionary: Option<i64>,
        packed: &[u8],
        raw_len: usize,
    ) -> Result<Vec<u8>, UnpackError> {
        let cache = self.cache;
        self.decompressors.unpack(dictionary, |id| cache.get(conn, id), packed, raw_len).map_err(
            |e| match e {
                Unpack::Dictionary(error) => UnpackError::Archive(error),
                Unpack::Damaged(why) => UnpackError::Damaged(why),
            },
        )
    }
}

/// Why stored bytes could not be decompressed.
#[derive(Debug)]
pub(crate) enum UnpackError {
    /// The stored bytes are not what was written (evidence of tampering or corruption).
    Damaged(String),
    /// The archive could not be read.
    Archive(ArchiveError),
}

impl UnpackError {
    pub(crate) fn into_archive_error(self, what: &str) -> ArchiveError {
        match self {
            UnpackError::Damaged(why) => ArchiveError::Corrupt {
                message: format!(
                    "the verbatim bytes of {what} do not decompress ({why}); run `verify` to \
                     see what else changed"
                ),
            },
            UnpackError::Archive(error) => error,
        }
    }
}
