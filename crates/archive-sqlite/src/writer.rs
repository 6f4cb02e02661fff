//! The single writer: a dedicated thread that owns the read-write connection, receives packed
//! batches over a channel and answers each through a oneshot.
//!
//! Each batch is written whole (records, verbatim bytes, membership, field values, variants,
//! quarantine, cursors, its seal, the totals) or not at all. Batches that are already waiting
//! when the writer picks one up share its SQLite transaction (group commit): the pages that many
//! batches touch are written to the WAL once. Every batch keeps its own seal; if any batch of a
//! group fails, the group is rolled back and every batch is retried alone, so one bad batch
//! never takes others with it.
//!
//! Blob queue commands (announce, claim, settle: see [`blobs`]) are grouped the same way, and a
//! settle writes its batch with the same code as an ingest ([`Writer::write`]) in the
//! transaction that moves the blob on. Changes to accounts, sessions, tokens and the access log
//! run here too, each on its own, and so do batches of Dataverse audit changes (see [`changes`]),
//! each in one transaction with its quarantined input and cursors.
//!
//! The writer also trains the compression dictionaries, on a thread of their own, from samples
//! of the archive's first records.

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use archive::evidence::{BatchSeal, Digest, SEAL_SCHEME, seal_next, train_dictionary};
use archive::{ArchiveError, IngestReceipt, Quarantined};
use clock::Clock;
use rusqlite::{Connection, OptionalExtension, ToSql, params};
use tokio::sync::{mpsc, oneshot};

use crate::checkpoints::Checkpointer;
use crate::encoding::{
    DAY_MICROS, HOUR_MICROS, RecordKey, failed, guid_bytes, micros, storage_error, time_of,
};
use crate::ids::{IdWriter, KnownIds, PendingIds, tenant_text};
use crate::key_runs::{self, KeyRuns, PublishedKeyRuns};
use crate::schema::NameKind;
use crate::verbatim::{Dictionary, PackedRecord, Packer};

pub(crate) mod blobs;
mod changes;

/// What one ingest transaction writes, with the records already hashed and compressed.
#[derive(Debug, Default)]
pub(crate) struct PackedBatch {
    pub(crate) records: Vec<PackedRecord>,
    pub(crate) quarantined: Vec<Quarantined>,
    pub(crate) cursors: Vec<(String, String)>,
    /// The merge epoch read before the records' `Id`s were looked up in the key runs. Keys
    /// enter the runs only through merges (and move between them only through compactions),
    /// so while neither has happened since, a key found absent there still is, and the writer
    /// checks only the staged keys.
    pub(crate) merge_epoch: u64,
}

type Reply = oneshot::Sender<Result<IngestReceipt, ArchiveError>>;

/// A request to the writer thread.
#[derive(Debug)]
pub(crate) enum WriterCommand {
    Ingest {
        batch: PackedBatch,
        reply: Reply,
    },
    /// Checkpoint the WAL and stop.
    Close {
        reply: oneshot::Sender<()>,
    },
    /// A training thread finished a dictionary.
    Trained {
        round: u32,
        samples: usize,
        result: Result<Vec<u8>, String>,
    },
    /// Announce, claim or settle blobs (grouped like ingest batches; see [`blobs`]).
    Queue(blobs::QueueCommand),
    /// A change to accounts, sessions, tokens or the access log, in its own transaction.
    Access(crate::access::AccessWrite),
    /// A batch of Dataverse audit changes, in its own transaction (see [`changes`]).
    Changes {
        batch: crate::changes::PackedChanges,
        reply: oneshot::Sender<Result<archive::ChangeReceipt, ArchiveError>>,
    },
}

/// When and how the compression dictionaries are trained: a first one once the archive holds
/// `after_records` records (from up to `samples` of them), and a better one, from five times as
/// many samples, once it holds ten times as many.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DictionaryPlan {
    pub(crate) after_records: u64,
    pub(crate) samples: usize,
    pub(crate) max_bytes: usize,
}

/// When staged index entries are merged into the main indexes: once they cover an eighth of the
/// archive's records, but at least `min_records` and at most `max_records`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MergePlan {
    pub(crate) min_records: u64,
    pub(crate) max_records: u64,
}

/// Batches waiting when the writer picks one up join its transaction up to this many records.
/// Taking every waiting batch makes ingest run in lockstep (four batches of 5,000 in flight all
/// go into one transaction, and nothing is left to pack until their replies return); 5,000 was
/// 10% faster at 1M records but 7% slower at 10M, where four times the commits cost the writer
/// 12% more CPU per record (see BENCHMARKS.md).
const GROUP_RECORDS: usize = 20_000;

/// Starts the writer thread; it stops when every sender is dropped or on `Close`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn(
    conn: Connection,
    checkpointer: Checkpointer,
    clock: Arc<dyn Clock>,
    packer: Arc<Packer>,
    known: Arc<KnownIds>,
    merge_epoch: Arc<AtomicU64>,
    key_runs: Arc<PublishedKeyRuns>,
    plan: DictionaryPlan,
    merge: MergePlan,
) -> Result<(mpsc::Sender<WriterCommand>, std::thread::JoinHandle<()>), ArchiveError> {
    let fail = failed("opening the archive writer");
    let (records, staged): (i64, i64) = conn
        .query_row("SELECT records, staged FROM totals WHERE id = 1", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .map_err(&fail)?;
    let dictionaries: i64 =
        conn.query_row("SELECT count(*) FROM dictionaries", [], |row| row.get(0)).map_err(&fail)?;
    // Read before the runs and staged keys are, so that a commit of another connection in
    // between is noticed by the first transaction.
    let data_version: i64 =
        conn.query_row("PRAGMA data_version", [], |row| row.get(0)).map_err(&fail)?;
    key_runs.publish(KeyRuns::load(&conn, &KeyRuns::default()).map_err(&fail)?);
    let training = match dictionaries {
        0 => Training::Waiting { round: 0, at: plan.after_records },
        1 => Training::Waiting { round: 1, at: plan.after_records.saturating_mul(10) },
        _ => Training::Done,
    };
    let (sender, receiver) = mpsc::channel(4);
    let (release, released) = std::sync::mpsc::sync_channel::<Vec<PackedRecord>>(8);
    std::thread::Builder::new()
        .name("archive-release".into())
        .spawn(move || released.iter().for_each(drop))
        .map_err(|e| ArchiveError::Unavailable {
            message: format!("cannot start the archive release thread: {e}"),
        })?;
    let mut writer = Writer {
        own: sender.downgrade(),
        release,
        conn,
        checkpointer: Some(checkpointer),
        clock,
        packer,
        plan,
        known,
        merge_epoch,
        key_runs,
        data_version: Some(data_version),
        pending: PendingIds::default(),
        staged_keys: None,
        records: records as u64,
        staged: staged as u64,
        merge,
        training,
    };
    writer.reload_staged_keys();
    let handle = std::thread::Builder::new()
        .name("archive-writer".into())
        .spawn(move || writer.run(receiver))
        .map_err(|e| ArchiveError::Unavailable {
            message: format!("cannot start the archive writer thread: {e}"),
        })?;
    Ok((sender, handle))
}

/// Where dictionary training stands.
#[derive(Debug)]
enum Training {
    /// Round `round` starts once the archive holds `at` records.
    Waiting {
        round: u32,
        at: u64,
    },
    /// A thread is training; it reports with [`WriterCommand::Trained`].
    Running,
    Done,
}

struct Writer {
    /// For training threads to report back without keeping the writer alive.
    own: mpsc::WeakSender<WriterCommand>,
    conn: Connection,
    /// Checkpoints the WAL while the writer goes on (stopped on close).
    checkpointer: Option<Checkpointer>,
    /// To the thread that frees the records of written batches (see [`Writer::release`]).
    release: std::sync::mpsc::SyncSender<Vec<PackedRecord>>,
    clock: Arc<dyn Clock>,
    packer: Arc<Packer>,
    plan: DictionaryPlan,
    known: Arc<KnownIds>,
    /// Incremented after every merge and compaction (see [`PackedBatch::merge_epoch`]), after
    /// a failed reading of the key runs, and whenever another
    /// connection (another process, or another handle on the same file) committed since this
    /// writer's previous transaction: its merges are invisible to this process, so a pre-check
    /// made before it must not be trusted.
    merge_epoch: Arc<AtomicU64>,
    /// The runs of `record_keys` with their filters, as last committed; published before the
    /// merge epoch moves, so a pre-check that read an epoch used these runs or newer ones.
    key_runs: Arc<PublishedKeyRuns>,
    /// `PRAGMA data_version` at the start of the previous transaction; -1 makes the next
    /// transaction act as if another connection had committed.
    data_version: Option<i64>,
    /// Ids looked up or created in the current transaction.
    pending: PendingIds,
    /// The keys of `record_keys_staged` and their `seq`, or `None` while they could not be
    /// loaded (the table is then searched instead). The duplicate check of a record that the
    /// packing thread found absent from the key runs is a hash lookup here rather than a
    /// B-tree search. Loaded when the writer starts and again whenever the table may have
    /// changed behind this copy (a rolled-back transaction, another process's commit); a merge
    /// empties both.
    staged_keys: Option<HashMap<RecordKey, i64>>,
    /// Records stored so far (kept in step with `totals.records`).
    records: u64,
    /// Records whose index entries are still staged (kept in step with `totals.staged`).
    staged: u64,
    merge: MergePlan,
    training: Training,
}

/// Counters of one batch.
#[derive(Debug, Default)]
struct Tally {
    receipt: IngestReceipt,
    raw_bytes: i64,
    new_variants: i64,
}

impl Writer {
    fn run(&mut self, mut receiver: mpsc::Receiver<WriterCommand>) {
        let mut closing = None;
        while closing.is_none() {
            let Some(command) = receiver.blocking_recv() else { break };
            let mut group = Vec::new();
            let mut queue = Vec::new();
            let mut access = Vec::new();
            let mut changes = Vec::new();
            let mut trained = Vec::new();
            let mut records = 0;
            let mut next = Some(command);
            while let Some(command) = next.take() {
                match command {
                    WriterCommand::Ingest { batch, reply } => {
                        records += batch.records.len();
                        group.push((batch, reply));
                    }
                    WriterCommand::Close { reply } => closing = Some(reply),
                    WriterCommand::Trained { round, samples, result } => {
                        trained.push((round, samples, result))
                    }
                    WriterCommand::Queue(command) => {
                        records += command.records();
                        queue.push(command);
                    }
                    WriterCommand::Access(write) => access.push(write),
                    WriterCommand::Changes { batch, reply } => {
                        records += batch.changes.len();
                        changes.push((batch, reply));
                    }
                }
                if closing.is_none() && records < GROUP_RECORDS {
                    next = receiver.try_recv().ok();
                }
            }
            if !group.is_empty() {
                self.ingest_group(group);
            }
            if !queue.is_empty() {
                self.queue_group(queue);
            }
            for write in access {
                write.run(&self.conn);
            }
            for (batch, reply) in changes {
                let _ = reply.send(self.ingest_changes(&batch));
            }
            for (round, samples, result) in trained {
                self.store_dictionary(round, samples, result);
            }
            self.start_training_when_due();
            self.merge_when_due();
        }
        self.close();
        if let Some(reply) = closing {
            let _ = reply.send(());
        }
    }

    fn close(&mut self) {
        if let Some(checkpointer) = self.checkpointer.take() {
            checkpointer.stop(&mut self.conn);
        }
        let closing =
            "PRAGMA analysis_limit = 400; PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);";
        if let Err(error) = self.conn.execute_batch(closing) {
            tracing::warn!(%error, "checkpointing the archive on close failed");
        }
    }

    fn ingest_group(&mut self, group: Vec<(PackedBatch, Reply)>) {
        let (mut batches, replies): (Vec<PackedBatch>, Vec<Reply>) = group.into_iter().unzip();
        let together = (batches.len() > 1).then(|| self.ingest(&batches));
        match together {
            Some(Ok(receipts)) => {
                for (reply, receipt) in replies.into_iter().zip(receipts) {
                    let _ = reply.send(Ok(receipt));
                }
            }
            failed_or_alone => {
                if let Some(Err(error)) = failed_or_alone {
                    tracing::debug!(%error, batches = batches.len(), "a group failed; retrying alone");
                }
                for (batch, reply) in batches.iter().zip(replies) {
                    let alone = self.ingest(std::slice::from_ref(batch));
                    let _ = reply.send(alone.map(|mut r| r.remove(0)));
                }
            }
        }
        for batch in &mut batches {
            self.release(std::mem::take(&mut batch.records));
        }
    }

    /// Frees records the writer is done with on the release thread: dropping a batch's many
    /// small allocations took about 6% of the writer's time. Should that thread be gone, the
    /// failed send frees them here.
    fn release(&self, records: Vec<PackedRecord>) {
        if !records.is_empty() {
            let _ = self.release.send(records);
        }
    }

    /// Writes `batches` in one transaction.
    fn ingest(&mut self, batches: &[PackedBatch]) -> Result<Vec<IngestReceipt>, ArchiveError> {
        let empty = |b: &PackedBatch| {
            b.records.is_empty() && b.quarantined.is_empty() && b.cursors.is_empty()
        };
        if batches.iter().all(empty) {
            return Ok(vec![IngestReceipt::default(); batches.len()]);
        }
        let tallies = self.transaction(|writer| {
            batches.iter().map(|batch| writer.write(batch)).collect::<Result<Vec<_>, _>>()
        })?;
        self.stored(tallies.iter().map(|t| t.receipt.inserted).sum());
        Ok(tallies.into_iter().map(|t| t.receipt).collect())
    }

    /// Runs `work` in one immediate transaction: it commits if `work` succeeds, else it is
    /// rolled back whole. Batches written by `work` go through [`Writer::write`].
    fn transaction<T>(
        &mut self,
        work: impl FnOnce(&mut Writer) -> Result<T, ArchiveError>,
    ) -> Result<T, ArchiveError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| storage_error("starting a write transaction", e))?;
        self.notice_other_writers()?;
        let committed = work(self).and_then(|done| {
            self.conn
                .execute_batch("COMMIT")
                .map_err(|e| storage_error("committing a write transaction", e))?;
            Ok(done)
        });
        match committed {
            Ok(done) => {
                self.known.publish(&mut self.pending);
                Ok(done)
            }
            Err(error) => {
                if !self.conn.is_autocommit()
                    && let Err(rollback) = self.conn.execute_batch("ROLLBACK")
                {
                    tracing::error!(%rollback, "rolling back a failed write failed");
                }
                // Ids handed out inside the rolled-back transaction no longer exist, nor do the
                // keys it staged.
                self.pending.clear();
                self.reload_staged_keys();
                Err(error)
            }
        }
    }

    /// Inside a write transaction: if another connection committed since this writer's previous
    /// transaction, bumps the merge epoch so that every batch pre-checked before now looks its
    /// `Id`s up in full (no record is stored twice when two processes share one file).
    fn notice_other_writers(&mut self) -> Result<(), ArchiveError> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .map_err(|e| storage_error("reading the data version", e))?;
        if self.data_version.is_some_and(|previous| previous != version) {
            let runs = KeyRuns::load(&self.conn, &self.key_runs.current())
                .map_err(|e| storage_error("reading the record key runs", e))?;
            self.key_runs.publish(runs);
            self.merge_epoch.fetch_add(1, Ordering::AcqRel);
            self.reload_staged_keys();
        }
        self.data_version = Some(version);
        Ok(())
    }

    /// Reads `record_keys_staged` into memory (see [`Writer::staged_keys`]).
    fn reload_staged_keys(&mut self) {
        let loaded = self
            .conn
            .prepare_cached("SELECT record_key, seq FROM record_keys_staged")
            .and_then(|mut s| s.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect());
        self.staged_keys = match loaded {
            Ok(keys) => Some(keys),
            Err(error) => {
                tracing::warn!(%error, "reading the staged record keys failed; searching them");
                None
            }
        };
    }

    /// Counts records a committed transaction inserted (for merges and dictionary training).
    fn stored(&mut self, inserted: u64) {
        self.records += inserted;
        self.staged += inserted;
    }

    fn write(&mut self, batch: &PackedBatch) -> Result<Tally, ArchiveError> {
        let now = self.clock.now();
        let now_micros = micros(now);
        let conn = &self.conn;
        let fail = failed("writing an ingest batch");
        let first_seq: i64 = conn
            .prepare_cached(
                "SELECT max(coalesce((SELECT max(seq) FROM activity), 0), \
                            coalesce((SELECT max(seq) FROM raw), 0), \
                            coalesce((SELECT last_seq FROM seals ORDER BY seq DESC LIMIT 1), 0)) + 1",
            )
            .and_then(|mut s| s.query_row([], |row| row.get(0)))
            .map_err(&fail)?;
        let mut next_seq = first_seq;
        let mut tally = Tally::default();
        let mut hashes: Vec<Digest> = Vec::with_capacity(batch.records.len());

        let mut find_staged_key = conn
            .prepare_cached("SELECT seq FROM record_keys_staged WHERE record_key = ?1")
            .map_err(&fail)?;
        let mut find_staged = |key: &RecordKey| -> Result<Option<i64>, ArchiveError> {
            match &self.staged_keys {
                Some(staged) => Ok(staged.get(key).copied()),
                None => {
                    find_staged_key.query_row([key], |row| row.get(0)).optional().map_err(&fail)
                }
            }
        };
        let key_runs = self.key_runs.current();
        let precheck_holds = batch.merge_epoch == self.merge_epoch.load(Ordering::Acquire);
        // Rows of the batch's new records, inserted many to a statement at its end.
        let mut activity: Vec<ActivityRow> = Vec::with_capacity(batch.records.len());
        let mut raw: Vec<(i64, &PackedRecord)> = Vec::with_capacity(batch.records.len());
        // Index entries of the batch, inserted sorted at its end: consecutive inserts then land
        // on the same pages.
        let mut new_keys: HashMap<RecordKey, i64> =
            HashMap::with_capacity_and_hasher(batch.records.len(), Default::default());
        let mut timeline: Vec<(i64, i64, i64, i64)> = Vec::new();
        let mut counts = ReportCounts::default();
        let mut fields: Vec<(i64, &str, i64, i64)> = Vec::new();

        for record in &batch.records {
            let c = &record.columns;
            let key = record.key.clone();
            let stored: Option<i64> = match new_keys.get(&key) {
                Some(seq) => Some(*seq),
                None if precheck_holds && record.absent_from_main => find_staged(&key)?,
                None => match find_staged(&key)? {
                    Some(seq) => Some(seq),
                    None => key_runs.find(conn, &key).map_err(&fail)?,
                },
            };
            if let Some(stored) = stored {
                tally.receipt.duplicates += 1;
                // A record first stored by this batch has its row in `raw` only at the end.
                let in_batch = usize::try_from(stored - first_seq).ok().and_then(|i| raw.get(i));
                let stored_hash = in_batch.map(|(_, first)| first.hash);
                match keep_variant(conn, &key, stored, stored_hash, record, now_micros)
                    .map_err(&fail)?
                {
                    Duplicate::Identical => {}
                    Duplicate::NewVariant => {
                        tally.receipt.variants += 1;
                        tally.new_variants += 1;
                    }
                    Duplicate::KnownVariant => tally.receipt.variants += 1,
                }
                continue;
            }
            let time = micros(c.time);
            let hint = &record.ids;
            let mut ids = IdWriter { conn, known: &self.known, pending: &mut self.pending };
            let workload =
                ids.name(NameKind::Workload, &c.workload, hint.workload).map_err(&fail)?;
            let operation =
                ids.name(NameKind::Operation, &c.operation, hint.operation).map_err(&fail)?;
            let tenant = ids
                .optional_name(NameKind::Tenant, tenant_text(c, &mut [0; 36]), hint.tenant)
                .map_err(&fail)?;
            let user = ids.name(NameKind::User, &c.user, hint.user).map_err(&fail)?;
            let system_user = guid_bytes(c.system_user_id)
                .map(|guid| ids.system_user(guid, user, hint.system_user))
                .transpose()
                .map_err(&fail)?;
            let mut name = |kind, value: Option<&String>, hint| {
                ids.optional_name(kind, value.map(String::as_str), hint).map_err(&fail)
            };
            let organization =
                name(NameKind::Organization, c.organization.as_ref(), hint.organization)?;
            let entity = name(NameKind::Entity, c.entity.as_ref(), hint.entity)?;
            let message = name(NameKind::Message, c.message.as_ref(), hint.message)?;
            let client_ip = name(NameKind::ClientIp, c.client_ip.as_ref(), hint.client_ip)?;
            let primary_value =
                name(NameKind::PrimaryValue, c.primary_field_value.as_ref(), hint.primary_value)?;
            let result_status =
                name(NameKind::ResultStatus, c.result_status.as_ref(), hint.result_status)?;
            let entity_ref = guid_bytes(c.entity_id)
                .map(|guid| ids.guid(guid, hint.entity_ref))
                .transpose()
                .map_err(&fail)?;
            activity.push(ActivityRow {
                seq: next_seq,
                key: key.clone(),
                time,
                record_type: c.record_type,
                workload,
                operation,
                tenant,
                user,
                system_user,
                organization,
                entity,
                entity_ref,
                message,
                access: archive::columns::access_code(c.access),
                categories: c.categories,
                client_ip,
                primary_value,
                correlation_id: guid_bytes(c.correlation_id),
                result_status,
            });
            counts.add(
                DailyKey {
                    day: time.div_euclid(DAY_MICROS),
                    organization: organization.unwrap_or(0),
                    user,
                    entity: entity.unwrap_or(0),
                    message: message.unwrap_or(0),
                    access: archive::columns::access_code(c.access),
                    categories: i64::from(c.categories),
                    workload,
                },
                time,
            );
            raw.push((next_seq, record));
            if let Some(entity_ref) = entity_ref {
                timeline.push((entity_ref, time, next_seq, 0));
            }
            for (i, listed) in c.listed.iter().enumerate() {
                if let Some(guid) = guid_bytes(Some(*listed)) {
                    let listed =
                        ids.guid(guid, hint.listed.get(i).copied().flatten()).map_err(&fail)?;
                    timeline.push((listed, time, next_seq, 1));
                }
            }
            for (i, (field, value)) in c.fields.iter().enumerate() {
                let hint = hint.fields.get(i).copied().flatten();
                let field = ids.name(NameKind::Field, field, hint).map_err(&fail)?;
                fields.push((field, value.as_str(), time, next_seq));
            }
            new_keys.insert(key, next_seq);
            hashes.push(record.hash);
            tally.raw_bytes += record.raw_len;
            tally.receipt.inserted += 1;
            next_seq += 1;
        }

        drop(find_staged_key);
        insert_many(
            conn,
            "INSERT OR FAIL INTO activity (seq, record_key, time, record_type, workload, \
             operation, tenant, user, system_user, organization, entity, entity_ref, message, \
             access, categories, client_ip, primary_value, correlation_id, result_status)",
            "",
            &activity,
            ActivityRow::values,
        )
        .map_err(&fail)?;
        insert_many(
            conn,
            "INSERT OR FAIL INTO raw (seq, dictionary, raw_len, hash, bytes)",
            "",
            &raw,
            |(seq, r)| [seq as &dyn ToSql, &r.dictionary, &r.raw_len, &r.hash.0, &r.packed],
        )
        .map_err(&fail)?;
        let mut keys: Vec<(RecordKey, i64)> = new_keys.into_iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        insert_many(
            conn,
            "INSERT OR FAIL INTO record_keys_staged (record_key, seq)",
            "",
            &keys,
            |(k, s)| [k as &dyn ToSql, s],
        )
        .map_err(&fail)?;
        if let Some(staged) = &mut self.staged_keys {
            staged.extend(keys);
        }
        // A record about a row that also lists it stays `Entity` (listed 0 sorts first).
        timeline.sort_unstable();
        timeline.dedup_by_key(|(entity, time, seq, _)| (*entity, *time, *seq));
        insert_many(
            conn,
            "INSERT OR IGNORE INTO timeline_staged (entity_ref, time, seq, listed)",
            "",
            &timeline,
            |(e, t, s, l)| [e as &dyn ToSql, t, s, l],
        )
        .map_err(&fail)?;
        fields.sort_unstable();
        fields.dedup();
        insert_many(
            conn,
            "INSERT OR IGNORE INTO fields_staged (name, value, time, seq)",
            "",
            &fields,
            |(n, v, t, s)| [n as &dyn ToSql, v, t, s],
        )
        .map_err(&fail)?;

        counts.write(conn).map_err(&fail)?;
        tally.receipt.quarantined =
            write_quarantined(conn, &batch.quarantined, now_micros).map_err(&fail)?;
        write_cursors(conn, &batch.cursors, now_micros).map_err(&fail)?;
        if !hashes.is_empty() {
            let seal = seal_next(last_seal(conn)?.as_ref(), now, &hashes);
            conn.prepare_cached(
                "INSERT INTO seals (seq, scheme, committed_at, record_count, digest, link, \
                 first_seq, last_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    seal.seq as i64,
                    SEAL_SCHEME,
                    micros(seal.committed_at),
                    seal.record_count as i64,
                    seal.digest.0.as_slice(),
                    seal.link.0.as_slice(),
                    first_seq,
                    next_seq - 1,
                ])
            })
            .map_err(&fail)?;
            tally.receipt.sealed_batch = Some(seal.seq);
        }
        conn.prepare_cached(
            "UPDATE totals SET records = records + ?1, raw_bytes = raw_bytes + ?2, \
             quarantined = quarantined + ?3, variants = variants + ?4, staged = staged + ?1 \
             WHERE id = 1",
        )
        .and_then(|mut s| {
            s.execute(params![
                tally.receipt.inserted as i64,
                tally.raw_bytes,
                tally.receipt.quarantined as i64,
                tally.new_variants,
            ])
        })
        .map_err(&fail)?;
        Ok(tally)
    }

    /// Merges the staged index entries into the main indexes once they cover enough records.
    fn merge_when_due(&mut self) {
        let due = (self.records / 8).clamp(self.merge.min_records, self.merge.max_records.max(1));
        if self.staged < due {
            return;
        }
        let started = std::time::Instant::now();
        match self.merge_staged() {
            Ok(run) => {
                if let Some(staged) = &mut self.staged_keys {
                    staged.clear();
                }
                self.key_runs_changed(&[], run);
                tracing::debug!(
                    records = self.staged,
                    millis = started.elapsed().as_millis() as u64,
                    "staged index entries merged"
                );
                self.staged = 0;
                self.compact_key_runs();
            }
            // Queries read both levels, so nothing is lost: the merge is retried later.
            Err(error) => {
                tracing::warn!(%error, "merging staged index entries failed; retrying later");
                self.staged = 0;
            }
        }
    }

    /// Publishes the key runs after a committed merge or compaction, then moves the merge epoch
    /// (see [`Writer::key_runs`]). The list is read back rather than edited so that it also
    /// holds runs another process added; only their filters are read from the file. Returns
    /// whether it could be read.
    fn key_runs_changed(&mut self, removed: &[i64], added: Option<key_runs::KeyRun>) -> bool {
        let current = self.key_runs.current();
        let known = match added {
            Some(added) => current.changed(removed, added),
            None => (*current).clone(),
        };
        let read = match KeyRuns::load(&self.conn, &known) {
            Ok(runs) => {
                self.key_runs.publish(runs);
                true
            }
            // This writer's own change is in `known`; what another process changed may not be,
            // so no pre-check is trusted until the list is read again (next transaction).
            Err(error) => {
                tracing::warn!(%error, "reading the record key runs failed; reading them again");
                self.key_runs.publish(known);
                self.data_version = Some(-1);
                false
            }
        };
        self.merge_epoch.fetch_add(1, Ordering::AcqRel);
        read
    }

    /// Compacts runs of `record_keys` of one size tier into one, as long as a tier holds enough
    /// (see [`KeyRuns::due_for_compaction`]), each in a transaction of its own. A failure leaves
    /// the runs as they were (every key is still found) and is retried after the next merge.
    fn compact_key_runs(&mut self) {
        while let Some(runs) = self.key_runs.current().due_for_compaction(self.merge.min_records) {
            let started = std::time::Instant::now();
            // The compaction sorts millions of keys: in temporary files, not in memory (which
            // would hold all of them at once).
            let compacted = self.conn.pragma_update(None, "temp_store", "FILE").and_then(|()| {
                let tx = self
                    .conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let run = key_runs::compact(&tx, &runs)?;
                tx.commit()?;
                Ok(run)
            });
            if let Err(error) = self.conn.pragma_update(None, "temp_store", "MEMORY") {
                tracing::warn!(%error, "the writer's temporary store stays in files");
            }
            match compacted {
                Ok(run) => {
                    tracing::debug!(
                        runs = runs.len(),
                        keys = run.keys,
                        millis = started.elapsed().as_millis() as u64,
                        "record key runs compacted"
                    );
                    if !self.key_runs_changed(&runs, Some(run)) {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "compacting record key runs failed; retrying later");
                    return;
                }
            }
        }
    }

    /// Moves the staged entries to the main level in one transaction: keys as a new run of
    /// `record_keys` (returned; `None` if no key was staged), timeline and field entries as a
    /// new sorted run appended to `timeline` and `fields`.
    fn merge_staged(&mut self) -> rusqlite::Result<Option<key_runs::KeyRun>> {
        let now = micros(self.clock.now());
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let (run, first_seq): (i64, i64) = tx.query_row(
            "SELECT coalesce(max(run), -1) + 1, coalesce(max(last_seq), 0) + 1 FROM index_runs",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let last_seq: i64 =
            tx.query_row("SELECT coalesce(max(seq), 0) FROM activity", [], |row| row.get(0))?;
        // The staged tables are read in key order, so each run is written in key order at the
        // end of its B-tree.
        tx.execute(
            "INSERT INTO timeline (run, entity_ref, time, seq, listed) \
             SELECT ?1, entity_ref, time, seq, listed FROM timeline_staged \
             ORDER BY entity_ref, time, seq",
            [run],
        )?;
        tx.execute(
            "INSERT INTO fields (run, name, value, time, seq) \
             SELECT ?1, name, value, time, seq FROM fields_staged ORDER BY name, value, time, seq",
            [run],
        )?;
        tx.execute(
            "INSERT INTO index_runs (run, first_seq, last_seq, records, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![run, first_seq, last_seq, self.staged as i64, now],
        )?;
        let key_run = key_runs::append_staged(&tx)?;
        tx.execute("UPDATE totals SET staged = 0 WHERE id = 1", [])?;
        // Emptying by dropping and recreating is one step instead of one per row.
        tx.execute_batch(crate::schema::STAGED_TABLES_RESET)?;
        tx.commit()?;
        Ok(key_run)
    }

    /// Starts a training round once enough records exist. A failure is not an ingest failure:
    /// records stay compressed as before, and the round is retried after twice as many records.
    fn start_training_when_due(&mut self) {
        let Training::Waiting { round, at } = self.training else { return };
        if self.records < at {
            return;
        }
        self.training = match self.start_training(round) {
            Ok(()) => Training::Running,
            Err(error) => {
                tracing::warn!(%error, "sampling records for a compression dictionary failed");
                Training::Waiting { round, at: self.records.saturating_mul(2).max(1) }
            }
        };
    }

    /// Stores and publishes a trained dictionary.
    fn store_dictionary(&mut self, round: u32, samples: usize, result: Result<Vec<u8>, String>) {
        let stored = result.and_then(|bytes| {
            self.conn
                .execute(
                    "INSERT INTO dictionaries (created_at, sample_count, bytes) VALUES (?1, ?2, ?3)",
                    params![micros(self.clock.now()), samples as i64, bytes],
                )
                .map_err(|e| e.to_string())?;
            Ok(Dictionary { id: self.conn.last_insert_rowid(), bytes })
        });
        match stored {
            Ok(dictionary) => {
                tracing::info!(
                    dictionary = dictionary.id,
                    bytes = dictionary.bytes.len(),
                    samples,
                    "compression dictionary trained"
                );
                self.packer.publish(dictionary);
                self.training = match round {
                    0 => Training::Waiting {
                        round: 1,
                        at: self.plan.after_records.saturating_mul(10),
                    },
                    _ => Training::Done,
                };
            }
            Err(error) => {
                let at = self.records.saturating_mul(2).max(1);
                tracing::warn!(
                    %error,
                    retry_at_records = at,
                    "training a compression dictionary failed; records stay compressed as before"
                );
                self.training = Training::Waiting { round, at };
            }
        }
    }

    /// Reads samples (the first records for round 0, the records after those for round 1) and
    /// decompresses and trains on a thread of its own.
    fn start_training(&mut self, round: u32) -> Result<(), String> {
        let wanted = if round == 0 { self.plan.samples } else { self.plan.samples * 5 / 2 };
        let skip = if round == 0 { 0 } else { self.plan.samples as i64 };
        let current = self.packer.current();
        let mut packed: Vec<(Option<i64>, usize, Vec<u8>)> = Vec::with_capacity(wanted);
        {
            let mut statement = self
                .conn
                .prepare(
                    "SELECT dictionary, raw_len, bytes FROM raw ORDER BY seq LIMIT ?1 OFFSET ?2",
                )
                .map_err(|e| e.to_string())?;
            let mut rows = statement.query([wanted as i64, skip]).map_err(|e| e.to_string())?;
            while let Some(row) = rows.next().map_err(|e| e.to_string())? {
                let dictionary: Option<i64> = row.get(0).map_err(|e| e.to_string())?;
                // Records compressed with an older dictionary are not worth loading it for.
                if dictionary.is_some() && dictionary != current.as_ref().map(|d| d.id) {
                    continue;
                }
                let raw_len: i64 = row.get(1).map_err(|e| e.to_string())?;
                packed.push((dictionary, raw_len as usize, row.get(2).map_err(|e| e.to_string())?));
            }
        }
        let max_bytes = self.plan.max_bytes;
        let writer = self.own.clone();
        std::thread::Builder::new()
            .name("archive-dictionary".into())
            .spawn(move || {
                let samples = decompress_samples(current.as_deref(), &packed);
                drop(packed);
                let count = samples.as_ref().map_or(0, Vec::len);
                let result = samples.and_then(|samples| {
                    let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
                    train_dictionary(&refs, max_bytes).map_err(|e| e.to_string())
                });
                // Reports unless the archive was closed meanwhile (the next open retrains).
                if let Some(writer) = writer.upgrade() {
                    let trained = WriterCommand::Trained { round, samples: count, result };
                    let _ = writer.blocking_send(trained);
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The original bytes of training samples.
fn decompress_samples(
    current: Option<&Dictionary>,
    packed: &[(Option<i64>, usize, Vec<u8>)],
) -> Result<Vec<Vec<u8>>, String> {
    let mut plain = zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?;
    let mut with_current = match current {
        Some(d) => {
            Some(zstd::bulk::Decompressor::with_dictionary(&d.bytes).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let mut samples = Vec::with_capacity(packed.len());
    for (dictionary, raw_len, bytes) in packed {
        let decompressor = match (dictionary, &mut with_current) {
            (Some(_), Some(decompressor)) => decompressor,
            _ => &mut plain,
        };
        samples.push(decompressor.decompress(bytes, *raw_len).map_err(|e| e.to_string())?);
    }
    Ok(samples)
}

/// Keeps input that could not be parsed, verbatim (the totals are the caller's); returns how
/// many items it kept.
fn write_quarantined(
    conn: &Connection,
    items: &[Quarantined],
    now_micros: i64,
) -> rusqlite::Result<u64> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO quarantine (received_at, source, reason, raw) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for item in items {
        insert.execute(params![now_micros, item.source, item.reason, item.raw])?;
    }
    Ok(items.len() as u64)
}

/// Moves named cursors (the last value of a name wins).
fn write_cursors(
    conn: &Connection,
    cursors: &[(String, String)],
    now_micros: i64,
) -> rusqlite::Result<()> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO cursors (name, value, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
         updated_at = excluded.updated_at",
    )?;
    for (name, value) in cursors {
        upsert.execute(params![name, value, now_micros])?;
    }
    Ok(())
}

/// An `activity` row of a new record.
#[derive(Debug)]
struct ActivityRow {
    seq: i64,
    key: RecordKey,
    time: i64,
    record_type: u16,
    workload: i64,
    operation: i64,
    tenant: Option<i64>,
    user: i64,
    system_user: Option<i64>,
    organization: Option<i64>,
    entity: Option<i64>,
    entity_ref: Option<i64>,
    message: Option<i64>,
    access: i64,
    categories: u32,
    client_ip: Option<i64>,
    primary_value: Option<i64>,
    correlation_id: Option<[u8; 16]>,
    result_status: Option<i64>,
}

impl ActivityRow {
    /// The row's values in the order of the insert's columns.
    fn values(&self) -> [&dyn ToSql; 19] {
        [
            &self.seq,
            &self.key,
            &self.time,
            &self.record_type,
            &self.workload,
            &self.operation,
            &self.tenant,
            &self.user,
            &self.system_user,
            &self.organization,
            &self.entity,
            &self.entity_ref,
            &self.message,
            &self.access,
            &self.categories,
            &self.client_ip,
            &self.primary_value,
            &self.correlation_id,
            &self.result_status,
        ]
    }
}

/// A `daily_counts` key: a UTC day and the report dimensions of a record (0: no value).
/// Fields in key order: sorting keys sorts them as the table does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct DailyKey {
    day: i64,
    organization: i64,
    user: i64,
    entity: i64,
    message: i64,
    access: i64,
    categories: i64,
    workload: i64,
}

/// The report counts of one batch, added to `daily_counts` and `hourly_counts` at its end.
#[derive(Debug, Default)]
struct ReportCounts {
    daily: HashMap<DailyKey, i64>,
    /// (day, hour, organization).
    hourly: HashMap<(i64, i64, i64), i64>,
}

impl ReportCounts {
    fn add(&mut self, key: DailyKey, time: i64) {
        let hour = time.div_euclid(HOUR_MICROS).rem_euclid(24);
        *self.hourly.entry((key.day, hour, key.organization)).or_default() += 1;
        *self.daily.entry(key).or_default() += 1;
    }

    /// Adds the counts, in key order (neighbouring keys share pages).
    fn write(&self, conn: &Connection) -> rusqlite::Result<()> {
        let add = "ON CONFLICT DO UPDATE SET records = records + excluded.records";
        let mut daily: Vec<(&DailyKey, &i64)> = self.daily.iter().collect();
        daily.sort_unstable();
        insert_many(
            conn,
            "INSERT OR FAIL INTO daily_counts (day, organization, user, entity, message, access, categories, \
             workload, records)",
            add,
            &daily,
            |(k, records)| {
                [
                    &k.day as &dyn ToSql,
                    &k.organization,
                    &k.user,
                    &k.entity,
                    &k.message,
                    &k.access,
                    &k.categories,
                    &k.workload,
                    *records,
                ]
            },
        )?;
        let mut hourly: Vec<(&(i64, i64, i64), &i64)> = self.hourly.iter().collect();
        hourly.sort_unstable();
        insert_many(
            conn,
            "INSERT OR FAIL INTO hourly_counts (day, hour, organization, records)",
            add,
            &hourly,
            |((day, hour, organization), records)| {
                [day as &dyn ToSql, hour, organization, *records]
            },
        )
    }
}

/// Rows per multi-row INSERT.
const ROWS_PER_INSERT: usize = 64;

/// Inserts `rows` with `insert` (`INSERT OR ... INTO table (columns)`), `ROWS_PER_INSERT` at a
/// time; `bind` gives the `N` values of a row.
///
/// `OR FAIL` and `OR IGNORE` spare SQLite a statement journal for the staged index entries and
/// keys: with the default `ABORT`, a statement that writes many rows first copies every page it
/// changes, to undo just that statement should a later row fail (7% of the writer's time at 10M
/// records). Here a failed statement fails the whole transaction, which is rolled back anyway.
/// Rows that set an `INTEGER PRIMARY KEY` (`activity`, `raw`) and upserts (the report counts)
/// still get one: SQLite journals them whatever the conflict clause.
fn insert_many<'r, T, const N: usize>(
    conn: &Connection,
    insert: &str,
    tail: &str,
    rows: &'r [T],
    bind: impl Fn(&'r T) -> [&'r dyn ToSql; N],
) -> rusqlite::Result<()> {
    let one = format!("({})", vec!["?"; N].join(", "));
    let mut chunks = rows.chunks_exact(ROWS_PER_INSERT);
    if chunks.len() > 0 {
        let sql =
            format!("{insert} VALUES {} {tail}", vec![one.as_str(); ROWS_PER_INSERT].join(", "));
        let mut statement = conn.prepare_cached(&sql)?;
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(N * ROWS_PER_INSERT);
        for chunk in chunks.by_ref() {
            values.clear();
            values.extend(chunk.iter().flat_map(&bind));
            statement.execute(values.as_slice())?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut statement = conn.prepare_cached(&format!("{insert} VALUES {one} {tail}"))?;
        for row in rest {
            statement.execute(bind(row).as_slice())?;
        }
    }
    Ok(())
}

/// What a record whose `Id` is already stored turned out to be.
enum Duplicate {
    /// The same bytes again (Microsoft delivers some records more than once).
    Identical,
    /// Different bytes, kept now in `variants`.
    NewVariant,
    /// Different bytes that `variants` already holds.
    KnownVariant,
}

/// Compares a duplicate with the stored record at `stored_seq` (whose hash is `stored_hash`
/// when its row is not written yet) and keeps its bytes when they differ.
fn keep_variant(
    conn: &Connection,
    key: &RecordKey,
    stored_seq: i64,
    stored_hash: Option<Digest>,
    record: &PackedRecord,
    now_micros: i64,
) -> rusqlite::Result<Duplicate> {
    let hash: Option<Vec<u8>> = match stored_hash {
        Some(hash) => Some(hash.0.to_vec()),
        None => conn
            .prepare_cached("SELECT hash FROM raw WHERE seq = ?1")?
            .query_row([stored_seq], |row| row.get(0))
            .optional()?,
    };
    if hash.as_deref() == Some(record.hash.0.as_slice()) {
        return Ok(Duplicate::Identical);
    }
    let changed = conn
        .prepare_cached(
            "INSERT INTO variants (record_key, first_seq, received_at, hash, dictionary, raw_len, \
             bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (record_key, hash) DO NOTHING",
        )?
        .execute(params![
            key,
            stored_seq,
            now_micros,
            record.hash.0.as_slice(),
            record.dictionary,
            record.raw_len,
            record.packed
        ])?;
    Ok(if changed > 0 { Duplicate::NewVariant } else { Duplicate::KnownVariant })
}

/// The newest seal, which the next one links to.
pub(crate) fn last_seal(conn: &Connection) -> Result<Option<BatchSeal>, ArchiveError> {
    conn.prepare_cached(
        "SELECT seq, committed_at, record_count, digest, link FROM seals ORDER BY seq DESC LIMIT 1",
    )
    .and_then(|mut s| s.query_row([], seal_of_row).optional())
    .map_err(failed("reading the last seal"))
}

/// A seal from a row of `seq, committed_at, record_count, digest, link`.
pub(crate) fn seal_of_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<BatchSeal> {
    let digest: Vec<u8> = row.get(3)?;
    let link: Vec<u8> = row.get(4)?;
    Ok(BatchSeal {
        seq: row.get::<_, i64>(0)? as u64,
        committed_at: time_of(row.get(1)?),
        record_count: row.get::<_, i64>(2)? as u64,
        // A seal edited to a wrong length reads as all zeros and so breaks the chain.
        digest: Digest::from_slice(&digest).unwrap_or(Digest([0; 32])),
        link: Digest::from_slice(&link).unwrap_or(Digest([0; 32])),
    })
}
