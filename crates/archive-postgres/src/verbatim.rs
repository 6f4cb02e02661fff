//! The verbatim bytes of records: hashing and zstd compression before a batch reaches the
//! database, the compression dictionary trained on the archive's own first records (shared by
//! every replica through the `dictionaries` table), and decompression with the right dictionary
//! when records are read back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use archive::ArchiveError;
use archive::evidence::{Decompressors, RawCodec, Unpack};
use tokio_postgres::Client;

use crate::blocks::BLOCK_LEVEL;
use crate::failure::failed;

/// A trained compression dictionary and its id in `dictionaries`.
#[derive(Debug)]
pub(crate) struct Dictionary {
    pub(crate) id: i32,
    pub(crate) bytes: Vec<u8>,
}

/// Verbatim bytes compressed for storage.
#[derive(Debug)]
pub(crate) struct Packed {
    pub(crate) dictionary: Option<i32>,
    pub(crate) bytes: Vec<u8>,
}

/// Compression shared by every ingest call of a handle: the current dictionary and idle codecs.
#[derive(Debug, Default)]
pub(crate) struct Packer {
    current: RwLock<Option<Arc<Dictionary>>>,
    idle: Mutex<Vec<(Option<i32>, RawCodec)>>,
}

impl Packer {
    pub(crate) fn current(&self) -> Option<Arc<Dictionary>> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Makes `dictionary` the one new records are compressed with.
    pub(crate) fn publish(&self, dictionary: Dictionary) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(dictionary));
    }

    /// A codec for the current dictionary; give it back with [`Packer::give_back`].
    pub(crate) fn codec(&self) -> Result<(Option<i32>, RawCodec), ArchiveError> {
        let dictionary = self.current();
        let id = dictionary.as_ref().map(|d| d.id);
        {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            idle.retain(|(codec_dictionary, _)| *codec_dictionary == id);
            if let Some(codec) = idle.pop() {
                return Ok(codec);
            }
        }
        let codec =
            RawCodec::with_level(dictionary.as_ref().map(|d| d.bytes.as_slice()), BLOCK_LEVEL)
                .map_err(|e| ArchiveError::Storage {
                    doing: "preparing compression".into(),
                    message: e.to_string(),
                })?;
        Ok((id, codec))
    }

    pub(crate) fn give_back(&self, codec: (Option<i32>, RawCodec)) {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(codec);
    }
}

/// Compresses one record's bytes with `codec`.
pub(crate) fn pack(
    codec: &mut (Option<i32>, RawCodec),
    raw: &[u8],
) -> Result<Packed, ArchiveError> {
    let bytes = codec.1.compress(raw).map_err(|e| ArchiveError::Storage {
        doing: "compressing a record".into(),
        message: e.to_string(),
    })?;
    Ok(Packed { dictionary: codec.0, bytes })
}

/// The newest dictionary, if the archive has one.
pub(crate) async fn newest_dictionary(client: &Client) -> Result<Option<Dictionary>, ArchiveError> {
    let row = client
        .query_opt("SELECT id, bytes FROM d365audit.dictionaries ORDER BY id DESC LIMIT 1", &[])
        .await
        .map_err(failed("loading the compression dictionary"))?;
    Ok(row.map(|row| Dictionary { id: row.get(0), bytes: row.get(1) }))
}

/// Dictionaries by id, loaded once per handle for reading.
#[derive(Debug, Default)]
pub(crate) struct DictionaryCache {
    loaded: Mutex<HashMap<i32, Arc<Vec<u8>>>>,
}

impl DictionaryCache {
    fn cached(&self, id: i32) -> Option<Arc<Vec<u8>>> {
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner).get(&id).cloned()
    }

    /// Loads every dictionary the given ids name that is not cached yet.
    pub(crate) async fn load(
        &self,
        client: &Client,
        ids: impl IntoIterator<Item = Option<i32>>,
    ) -> Result<(), ArchiveError> {
        let mut wanted: Vec<i32> =
            ids.into_iter().flatten().filter(|id| self.cached(*id).is_none()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        let rows = client
            .query("SELECT id, bytes FROM d365audit.dictionaries WHERE id = ANY($1)", &[&wanted])
            .await
            .map_err(failed("loading compression dictionaries"))?;
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        for row in rows {
            loaded.insert(row.get(0), Arc::new(row.get(1)));
        }
        Ok(())
    }

    /// Every dictionary of the archive, for a verification pass.
    pub(crate) async fn load_all(&self, client: &Client) -> Result<(), ArchiveError> {
        let rows = client
            .query("SELECT id, bytes FROM d365audit.dictionaries", &[])
            .await
            .map_err(failed("loading compression dictionaries"))?;
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        for row in rows {
            loaded.insert(row.get(0), Arc::new(row.get(1)));
        }
        Ok(())
    }
}

/// Decompresses verbatim bytes, keeping one decompressor per dictionary for a run of reads.
#[derive(Debug)]
pub(crate) struct Unpacker<'a> {
    cache: &'a DictionaryCache,
    decompressors: Decompressors<i32>,
}

/// Why stored bytes could not be decompressed.
#[derive(Debug)]
pub(crate) enum UnpackError {
    /// The bytes are not what was written (tampering or corruption).
    Damaged(String),
    /// The dictionary they were compressed with is gone.
    NoDictionary(i32),
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
            UnpackError::NoDictionary(id) => ArchiveError::Corrupt {
                message: format!(
                    "compression dictionary {id} is missing, so {what} cannot be read; restore \
                     the archive from a backup"
                ),
            },
        }
    }
}

impl<'a> Unpacker<'a> {
    pub(crate) fn new(cache: &'a DictionaryCache) -> Self {
        Unpacker { cache, decompressors: Decompressors::default() }
    }

    /// The original bytes of a stored record.
    pub(crate) fn unpack(
        &mut self,
        dictionary: Option<i32>,
        packed: &[u8],
        raw_len: usize,
    ) -> Result<Vec<u8>, UnpackError> {
        let cache = self.cache;
        let load = |id| cache.cached(id).ok_or(UnpackError::NoDictionary(id));
        self.decompressors.unpack(dictionary, load, packed, raw_len).map_err(|e| match e {
            Unpack::Dictionary(error) => error,
            Unpack::Damaged(why) => UnpackError::Damaged(why),
        })
    }
}
