//! The embedded SQLite archive: one file in WAL mode, one writer thread that owns the read-write
//! connection and writes each ingest batch in one transaction, and a small pool of read-only
//! connections that answer queries on blocking tasks. [`SqliteArchive`] is a cheap-to-clone
//! handle implementing [`archive::Archive`], the durable blob queue ([`archive::BlobQueue`],
//! module `queue`), accounts, sessions, tokens and the access log ([`archive::AccessStore`],
//! module `access`), the read-only SQL console ([`archive::SqlConsole`], module `console`) and
//! Dataverse audit changes ([`archive::ChangeStore`], module `changes`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), archive::ArchiveError> {
//! use std::sync::Arc;
//! let archive = archive_sqlite::SqliteArchive::open("audit.sqlite", Arc::new(clock::SystemClock))?;
//! let readers = archive_sqlite::SqliteArchive::open_read_only("audit.sqlite")?;
//! # Ok(()) }
//! ```
//!
//! Storage layout and indexes: see the `schema` module. Query planning: `plan`.

mod access;
mod changes;
mod checkpoints;
mod console;
mod encoding;
mod ids;
mod key_runs;
mod plan;
mod queue;
mod reading;
mod schema;
mod verbatim;
mod verification;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use archive::columns::RecordColumns;
use archive::{
    Archive, ArchiveError, ArchiveSummary, Bucket, Dimension, IngestBatch, IngestReceipt, Page,
    PageRequest, Quarantined, RawRecord, RecordQuery, RecordSummary, StoredRecord, VerifyReport,
};
use async_trait::async_trait;
use clock::Clock;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::encoding::{RecordKey, storage_error};
use crate::ids::KnownIds;
use crate::key_runs::PublishedKeyRuns;
use crate::schema::SchemaError;
use crate::verbatim::{DictionaryCache, Packer};
use crate::writer::{DictionaryPlan, MergePlan, PackedBatch, WriterCommand};

/// Tuning of an archive handle. The defaults suit a collector on a small machine.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Page cache of the writer connection, in bytes.
    pub writer_cache_bytes: u64,
    /// Page cache of each read-only connection, in bytes.
    pub reader_cache_bytes: u64,
    /// Read-only connections kept for queries (and so, queries that run at once).
    pub readers: usize,
    /// How long a statement waits for a lock held by another process.
    pub busy_timeout: Duration,
    /// Train the first compression dictionary once the archive holds this many records; a
    /// second, better one is trained at ten times as many.
    pub dictionary_after_records: u64,
    /// How many of the first records the first dictionary is trained on (the second: five
    /// times as many).
    pub dictionary_samples: usize,
    /// Size limit of the dictionary in bytes.
    pub dictionary_bytes: usize,
    /// New entries of the indexes keyed by random values (record ids, row ids, field values) are
    /// staged in small tables and merged into the main ones once they cover an eighth of the
    /// archive, but at least this many records... (Also the size unit of the record key runs'
    /// compaction tiers: runs under 4x this many keys are tier 0, see `key_runs`.)
    pub merge_min_records: u64,
    /// ... and at most this many (the staged tables must stay in the writer's page cache).
    pub merge_max_records: u64,
    /// Answer aggregations over whole UTC days from the counts the writer keeps per day (the
    /// default); off, every aggregation reads each matching record (to compare, in tests and
    /// benchmarks).
    pub report_counts: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            writer_cache_bytes: 64 << 20,
            reader_cache_bytes: 16 << 20,
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            dictionary_after_records: 2_000,
            dictionary_samples: 2_000,
            dictionary_bytes: 110 << 10,
            merge_min_records: 50_000,
            merge_max_records: 250_000,
            report_counts: true,
        }
    }
}

/// A record whose normalized columns are already derived, with its verbatim bytes.
#[derive(Debug, Clone)]
pub struct ColumnRecord {
    pub raw: Vec<u8>,
    pub columns: RecordColumns,
}

/// [`IngestBatch`] with the columns already derived: what the writer stores.
#[derive(Debug, Clone, Default)]
pub struct ColumnBatch {
    pub records: Vec<ColumnRecord>,
    pub quarantined: Vec<Quarantined>,
    pub cursors: Vec<(String, String)>,
}

impl From<IngestBatch> for ColumnBatch {
    fn from(batch: IngestBatch) -> Self {
        ColumnBatch {
            records: batch
                .records
                .into_iter()
                .map(|r| ColumnRecord {
                    columns: archive::columns::from_activity(&r.record),
                    raw: r.raw,
                })
                .collect(),
            quarantined: batch.quarantined,
            cursors: batch.cursors,
        }
    }
}

/// A handle to a SQLite archive. Clones share the writer thread and the reader pool; the writer
/// stops when the last handle is dropped or [`SqliteArchive::close`] is called.
#[derive(Clone)]
pub struct SqliteArchive {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    writer: Option<mpsc::Sender<WriterCommand>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    packer: Arc<Packer>,
    known_ids: Arc<KnownIds>,
    merge_epoch: Arc<AtomicU64>,
    /// The runs of `record_keys` and their filters, for the pre-check (see [`absent_from_main`]).
    key_runs: Arc<PublishedKeyRuns>,
    dictionaries: DictionaryCache,
    idle_readers: Mutex<Vec<Connection>>,
    reader_permits: Arc<Semaphore>,
    options: SqliteOptions,
    /// Held while this handle may write: the operating system's lock on `<archive>.writer-lock`
    /// (released when the process ends, even on SIGKILL).
    writer_lock: Mutex<Option<std::fs::File>>,
}

/// The read-write handles open in this process, by canonical path: opening a file again shares
/// the one writer instead of starting a second (one writer per file is what keeps ingest free of
/// duplicates). Process-wide by nature, like the file lock it pairs with.
static WRITERS: Mutex<Vec<(PathBuf, std::sync::Weak<Shared>)>> = Mutex::new(Vec::new());

fn canonical(path: &Path) -> PathBuf {
    if let Ok(path) = path.canonicalize() {
        return path;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
            parent.canonicalize().map(|p| p.join(name)).unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

/// Takes the lock that makes this process the archive's only writer.
fn lock_writer(path: &Path) -> Result<std::fs::File, ArchiveError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".writer-lock");
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| ArchiveError::Unavailable {
        message: format!("cannot open {}: {e}", Path::new(&lock_path).display()),
    })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ArchiveError::Unavailable {
            message: format!(
                "another process is writing to {} (a `d365audit serve`, `collect` or import?). A \
                 SQLite archive has one writer: let that process do the work (serve collects and \
                 imports can wait for it), or use a PostgreSQL archive for several writers",
                path.display()
            ),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(ArchiveError::Unavailable {
            message: format!("cannot lock {}: {e}", Path::new(&lock_path).display()),
        }),
    }
}

impl std::fmt::Debug for SqliteArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteArchive")
            .field("path", &self.shared.path)
            .field("read_only", &self.shared.writer.is_none())
            .finish()
    }
}

fn unusable(path: &Path, error: SchemaError) -> ArchiveError {
    match error {
        SchemaError::Sqlite(e) => storage_error(&format!("opening {}", path.display()), e),
        other => ArchiveError::Incompatible { message: format!("{}: {other}", path.display()) },
    }
}

impl SqliteArchive {
    /// Opens the archive at `path` for reading and writing, creating the file if it is missing
    /// and migrating an older schema.
    pub fn open(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> Result<Self, ArchiveError> {
        Self::open_with(path, clock, SqliteOptions::default())
    }

    pub fn open_with(
        path: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
        options: SqliteOptions,
    ) -> Result<Self, ArchiveError> {
        let path = path.as_ref().to_path_buf();
        let key = canonical(&path);
        let mut writers = WRITERS.lock().unwrap_or_else(PoisonError::into_inner);
        writers.retain(|(_, shared)| shared.strong_count() > 0);
        if let Some(shared) =
            writers.iter().find(|(open, _)| *open == key).and_then(|(_, s)| s.upgrade())
        {
            return Ok(SqliteArchive { shared });
        }
        let writer_lock = lock_writer(&key)?;
        let opening = format!("opening {}", path.display());
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| storage_error(&opening, e))?;
        configure_writer(&conn, &options).map_err(|e| storage_error(&opening, e))?;
        schema::migrate(&mut conn).map_err(|e| unusable(&path, e))?;
        let checkpointer = checkpoints::Checkpointer::start(
            &mut conn,
            &path,
            options.busy_timeout,
            checkpoints::CHECKPOINT_PAGES,
        )?;
        let packer = Arc::new(Packer::default());
        if let Some(dictionary) = verbatim::newest_dictionary(&conn)? {
            packer.publish(dictionary);
        }
        let plan = DictionaryPlan {
            after_records: options.dictionary_after_records,
            samples: options.dictionary_samples,
            max_bytes: options.dictionary_bytes,
        };
        let merge = MergePlan {
            min_records: options.merge_min_records,
            max_records: options.merge_max_records,
        };
        let known_ids = Arc::new(KnownIds::default());
        let merge_epoch = Arc::new(AtomicU64::new(0));
        let key_runs = Arc::new(PublishedKeyRuns::default());
        let (sender, thread) = writer::spawn(
            conn,
            checkpointer,
            clock,
            packer.clone(),
            known_ids.clone(),
            merge_epoch.clone(),
            key_runs.clone(),
            plan,
            merge,
        )?;
        let archive = SqliteArchive {
            shared: Arc::new(Shared {
                path,
                writer: Some(sender),
                writer_thread: Mutex::new(Some(thread)),
                packer,
                known_ids,
                merge_epoch,
                key_runs,
                dictionaries: DictionaryCache::default(),
                idle_readers: Mutex::new(Vec::new()),
                reader_permits: Arc::new(Semaphore::new(options.readers.max(1))),
                options,
                writer_lock: Mutex::new(Some(writer_lock)),
            }),
        };
        writers.push((key, Arc::downgrade(&archive.shared)));
        Ok(archive)
    }

    /// Opens an existing archive for queries only: every connection is read-only and
    /// [`Archive::ingest`] is refused.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, ArchiveError> {
        Self::open_read_only_with(path, SqliteOptions::default())
    }

    pub fn open_read_only_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<Self, ArchiveError> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(ArchiveError::Unavailable {
                message: format!(
                    "there is no archive at {}; check the path, or run the collector once to \
                     create it",
                    path.display()
                ),
            });
        }
        let conn = open_reader(&path, &options)?;
        schema::check_readable(&conn).map_err(|e| unusable(&path, e))?;
        Ok(SqliteArchive {
            shared: Arc::new(Shared {
                path,
                writer: None,
                writer_thread: Mutex::new(None),
                packer: Arc::new(Packer::default()),
                known_ids: Arc::new(KnownIds::default()),
                merge_epoch: Arc::new(AtomicU64::new(0)),
                key_runs: Arc::default(),
                dictionaries: DictionaryCache::default(),
                idle_readers: Mutex::new(vec![conn]),
                reader_permits: Arc::new(Semaphore::new(options.readers.max(1))),
                options,
                writer_lock: Mutex::new(None),
            }),
        })
    }

    /// The archive file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The id of the dictionary new records are compressed with, once one is trained (on a
    /// background thread, after the first records).
    pub fn compression_dictionary(&self) -> Option<i64> {
        self.shared.packer.current().map(|d| d.id)
    }

    /// Stores a batch whose columns are already derived (the path [`Archive::ingest`] takes
    /// after deriving them). Hashing and compression run on a blocking task, the write on the
    /// writer thread.
    pub async fn ingest_columns(&self, batch: ColumnBatch) -> Result<IngestReceipt, ArchiveError> {
        let Some(writer) = &self.shared.writer else {
            return Err(ArchiveError::Storage {
                doing: "ingesting a batch".into(),
                message: format!(
                    "{} was opened read-only; open it read-write to ingest",
                    self.shared.path.display()
                ),
            });
        };
        let batch = self.pack(batch).await?;
        let (reply, answer) = oneshot::channel();
        writer.send(WriterCommand::Ingest { batch, reply }).await.map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Hashes and compresses a batch on a blocking task: what the writer stores, whether the
    /// batch is ingested or settles a blob.
    pub(crate) async fn pack(&self, batch: ColumnBatch) -> Result<PackedBatch, ArchiveError> {
        let shared = self.shared.clone();
        let ColumnBatch { records, quarantined, cursors } = batch;
        if records.is_empty() {
            let merge_epoch = shared.merge_epoch.load(Ordering::Acquire);
            return Ok(PackedBatch { records: Vec::new(), quarantined, cursors, merge_epoch });
        }
        let (records, merge_epoch) = tokio::task::spawn_blocking(move || {
            let merge_epoch = shared.merge_epoch.load(Ordering::Acquire);
            let keys: Vec<RecordKey> =
                records.iter().map(|r| RecordKey::of(&r.columns.id)).collect();
            let absent = absent_from_main(&shared, &keys);
            let records = records.into_iter().map(|r| (r.raw, r.columns)).collect();
            shared.packer.pack(records, keys, &shared.known_ids, &absent).map(|r| (r, merge_epoch))
        })
        .await
        .map_err(|e| ArchiveError::Storage {
            doing: "compressing records".into(),
            message: e.to_string(),
        })??;
        Ok(PackedBatch { records, quarantined, cursors, merge_epoch })
    }

    /// Stops the writer after the batches already sent, checkpoints the WAL into the file and
    /// waits for it. Other handles to the same archive can still query; their ingests fail.
    pub async fn close(&self) -> Result<(), ArchiveError> {
        if let Some(writer) = &self.shared.writer {
            let (reply, done) = oneshot::channel();
            if writer.send(WriterCommand::Close { reply }).await.is_ok() {
                let _ = done.await;
            }
        }
        let thread =
            self.shared.writer_thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(thread) = thread {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|e| ArchiveError::Storage {
                    doing: "closing the archive".into(),
                    message: e.to_string(),
                })?
                .map_err(|_| ArchiveError::Storage {
                    doing: "closing the archive".into(),
                    message: "the writer thread panicked".into(),
                })?;
        }
        self.shared.idle_readers.lock().unwrap_or_else(PoisonError::into_inner).clear();
        // The file is free for the next writer, in this process or another.
        WRITERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(_, shared)| !std::ptr::eq(shared.as_ptr(), Arc::as_ptr(&self.shared)));
        self.shared.writer_lock.lock().unwrap_or_else(PoisonError::into_inner).take();
        Ok(())
    }

    /// [`SqliteArchive::read`] in one read transaction (see [`reading::snapshot`]).
    async fn read_snapshot<T, F>(&self, work: F) -> Result<T, ArchiveError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Shared) -> Result<T, ArchiveError> + Send + 'static,
    {
        self.read(move |conn, shared| reading::snapshot(conn, || work(conn, shared))).await
    }

    /// Runs `work` on a read-only connection on a blocking task.
    async fn read<T, F>(&self, work: F) -> Result<T, ArchiveError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Shared) -> Result<T, ArchiveError> + Send + 'static,
    {
        let permit =
            self.shared.reader_permits.clone().acquire_owned().await.map_err(|_| {
                ArchiveError::Unavailable { message: "the archive is closing".into() }
            })?;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let idle = shared.idle_readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let conn = match idle {
                Some(conn) => conn,
                None => open_reader(&shared.path, &shared.options)?,
            };
            let result = work(&conn, &shared);
            shared.idle_readers.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
            drop(permit);
            result
        })
        .await
        .map_err(|e| ArchiveError::Storage { doing: "querying".into(), message: e.to_string() })?
    }
}

/// For each record's key, whether it is absent from the key runs, looked up on a read-only
/// connection so the writer need not (see [`PackedBatch::merge_epoch`]). Only runs whose filter
/// may hold a key are read, so most keys cost no SQL at all. Any failure answers "unknown"
/// (`false`): the writer then looks itself.
fn absent_from_main(shared: &Shared, keys: &[RecordKey]) -> Vec<bool> {
    let runs = shared.key_runs.current();
    let idle = shared.idle_readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
    let Some(conn) = idle.or_else(|| open_reader(&shared.path, &shared.options).ok()) else {
        return Vec::new();
    };
    let absent = keys
        .iter()
        .map(|key| runs.find(&conn, key).map(|seq| seq.is_none()))
        .collect::<rusqlite::Result<Vec<bool>>>()
        .unwrap_or_default();
    shared.idle_readers.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
    absent
}

fn writer_gone() -> ArchiveError {
    ArchiveError::Unavailable {
        message: "the archive writer has stopped (the archive was closed); reopen it".into(),
    }
}

fn cache_pragma(bytes: u64) -> i64 {
    // A negative cache_size is a size in KiB.
    -((bytes / 1024).max(64) as i64)
}

fn configure_writer(conn: &Connection, options: &SqliteOptions) -> rusqlite::Result<()> {
    conn.busy_timeout(options.busy_timeout)?;
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))?;
    if tables == 0 {
        // Only a new file can choose its page size (before WAL mode). 4 KiB measured best: smaller
        // pages cost more CPU and disk, larger ones write more WAL per random index insert.
        conn.pragma_update(None, "page_size", 4096)?;
    }
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "the archive could not switch to WAL mode");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", cache_pragma(options.writer_cache_bytes))?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "journal_size_limit", checkpoints::LOG_BYTES_KEPT)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}

fn open_reader(path: &Path, options: &SqliteOptions) -> Result<Connection, ArchiveError> {
    let opening = format!("opening {} for reading", path.display());
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| storage_error(&opening, e))?;
    conn.busy_timeout(options.busy_timeout).map_err(|e| storage_error(&opening, e))?;
    conn.pragma_update(None, "query_only", true).map_err(|e| storage_error(&opening, e))?;
    conn.pragma_update(None, "cache_size", cache_pragma(options.reader_cache_bytes))
        .map_err(|e| storage_error(&opening, e))?;
    conn.pragma_update(None, "temp_store", "MEMORY").map_err(|e| storage_error(&opening, e))?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

#[async_trait]
impl Archive for SqliteArchive {
    async fn ingest(&self, batch: IngestBatch) -> Result<IngestReceipt, ArchiveError> {
        self.ingest_columns(ColumnBatch::from(batch)).await
    }

    async fn search(
        &self,
        query: &RecordQuery,
        page: &PageRequest,
    ) -> Result<Page<RecordSummary>, ArchiveError> {
        let (query, page) = (query.clone(), page.clone());
        self.read_snapshot(move |conn, _| reading::search(conn, &query, &page)).await
    }

    async fn count(&self, query: &RecordQuery) -> Result<u64, ArchiveError> {
        let query = query.clone();
        self.read_snapshot(move |conn, _| reading::count(conn, &query)).await
    }

    async fn aggregate(
        &self,
        query: &RecordQuery,
        by: Dimension,
        limit: u32,
    ) -> Result<Vec<Bucket>, ArchiveError> {
        let query = query.clone();
        self.read_snapshot(move |conn, shared| {
            reading::aggregate(conn, &query, by, limit, shared.options.report_counts)
        })
        .await
    }

    async fn record(&self, id: &str) -> Result<Option<StoredRecord>, ArchiveError> {
        let id = id.to_string();
        self.read(move |conn, shared| reading::record(conn, &shared.dictionaries, &id)).await
    }

    async fn raw_page(
        &self,
        query: &RecordQuery,
        page: &PageRequest,
    ) -> Result<Page<RawRecord>, ArchiveError> {
        let (query, page) = (query.clone(), page.clone());
        self.read_snapshot(move |conn, shared| {
            reading::raw_page(conn, &shared.dictionaries, &query, &page)
        })
        .await
    }

    async fn quarantined(&self, limit: u32) -> Result<Vec<Quarantined>, ArchiveError> {
        self.read(move |conn, _| reading::quarantined(conn, limit)).await
    }

    async fn cursor(&self, name: &str) -> Result<Option<String>, ArchiveError> {
        let name = name.to_string();
        self.read(move |conn, _| reading::cursor(conn, &name)).await
    }

    async fn verify(&self) -> Result<VerifyReport, ArchiveError> {
        self.read(|conn, shared| verification::verify(conn, &shared.dictionaries)).await
    }

    async fn summary(&self) -> Result<ArchiveSummary, ArchiveError> {
        self.read(|conn, _| reading::summary(conn)).await
    }
}
