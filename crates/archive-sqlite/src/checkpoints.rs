//! WAL checkpoints on a thread of their own, so that the writer never copies pages back into
//! the database file or waits for them to reach the disk.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold, on the
//! writer's thread: about a sixth of the writer's time at ingest rates (measured: 1.7 s of a
//! 1M-record build). Instead, the writer's WAL hook only notices that the log has grown past
//! [`CHECKPOINT_PAGES`] and wakes the checkpointer, which runs a `PASSIVE` checkpoint on its
//! own connection while the writer goes on appending. A checkpoint that finds every frame
//! copied lets the writer's next transaction start the log from its beginning again. Should
//! the log still grow to eight times that (the checkpointer never catching up between
//! commits), the writer checkpoints in its commit as SQLite would, so the log stays bounded.

use std::ffi::c_int;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use archive::ArchiveError;
use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, OpenFlags};

use crate::encoding::failed;

/// WAL frames (4 KiB pages) after which a checkpoint is due: pages rewritten by many batches
/// are copied back once per 64 MiB of log.
pub(crate) const CHECKPOINT_PAGES: c_int = 16_384;

/// The size the WAL file keeps once the log starts over (`journal_size_limit`): as large as
/// the log grows between two starts (eight times [`CHECKPOINT_PAGES`] of 4 KiB pages and
/// their 24-byte frame headers, and the frames of the commit that crossed it), so that the
/// writer appends into blocks the file already has. Under continuous ingest a `PASSIVE`
/// checkpoint rarely finds every frame copied (the writer appends meanwhile), so the log grows
/// to the writer's own checkpoint before it starts over; truncating it to 64 MiB each time
/// made the file system allocate and zero the rest again, one partial block per frame: a
/// seventh of the writer's time at 10M records.
pub(crate) const LOG_BYTES_KEPT: i64 = (CHECKPOINT_PAGES as i64) * 9 * (4096 + 24);

/// The running checkpointer thread.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    thread: std::thread::JoinHandle<()>,
    due: mpsc::SyncSender<()>,
    stopping: Arc<AtomicBool>,
    /// Checkpoints the thread has run.
    runs: Arc<AtomicU64>,
}

impl Checkpointer {
    /// Starts the thread and hooks it to `writer`'s commits: a checkpoint is due once the WAL
    /// holds `pages` frames ([`CHECKPOINT_PAGES`] but in tests).
    pub(crate) fn start(
        writer: &mut Connection,
        path: &Path,
        busy_timeout: Duration,
        pages: c_int,
    ) -> Result<Checkpointer, ArchiveError> {
        let fail = failed("starting the WAL checkpointer");
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(&fail)?;
        conn.busy_timeout(busy_timeout).map_err(&fail)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(&fail)?;
        // One request waiting is enough: a checkpoint copies every frame committed before it.
        let (due, requests) = mpsc::sync_channel::<()>(1);
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        let runs = Arc::new(AtomicU64::new(0));
        let counted = runs.clone();
        let thread = std::thread::Builder::new()
            .name("archive-checkpoint".into())
            .spawn(move || {
                while requests.recv().is_ok() && !stop.load(Ordering::Acquire) {
                    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
                    });
                    match done {
                        Ok((frames, copied)) => {
                            counted.fetch_add(1, Ordering::Relaxed);
                            tracing::trace!(frames, copied, "WAL checkpointed");
                        }
                        Err(error) => tracing::warn!(%error, "checkpointing the WAL failed"),
                    }
                }
            })
            .map_err(|e| ArchiveError::Unavailable {
                message: format!("cannot start the WAL checkpoint thread: {e}"),
            })?;
        let wake = due.clone();
        writer
            .wal_hook(Some(move |wal: &mut Wal, frames: c_int| {
                // An error returned here would fail the statement whose commit already
                // happened, so a checkpoint that cannot run now (another is running) is left
                // to the next commit.
                if frames >= pages.saturating_mul(8) {
                    if let Err(error) = wal.checkpoint_v2(CheckpointMode::PASSIVE) {
                        tracing::debug!(%error, frames, "checkpointing in the commit failed");
                    }
                } else if frames >= pages {
                    let _ = wake.try_send(());
                }
                Ok(())
            }))
            .map_err(&fail)?;
        Ok(Checkpointer { thread, due, stopping, runs })
    }

    /// Unhooks `writer` and waits for a checkpoint in progress to end.
    pub(crate) fn stop(self, writer: &mut Connection) {
        type Hook = fn(&mut Wal, c_int) -> rusqlite::Result<()>;
        if let Err(error) = writer.wal_hook(None::<Hook>) {
            tracing::warn!(%error, "removing the WAL hook failed");
        }
        self.stopping.store(true, Ordering::Release);
        // Wakes the thread if it waits; if a request is already queued, that wakes it too.
        let _ = self.due.try_send(());
        let _ = self.thread.join();
        tracing::debug!(
            checkpoints = self.runs.load(Ordering::Relaxed),
            "WAL checkpointer stopped"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_run_off_the_writer_and_keep_the_log_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.sqlite");
        let mut writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)").unwrap();
        let pages = 64;
        let checkpointer =
            Checkpointer::start(&mut writer, &path, Duration::from_secs(5), pages).unwrap();
        // 400 transactions of 16 KiB each, in groups as the archive writer commits them: about
        // 2,000 frames, 30 times the threshold.
        for i in 0..400 {
            writer.execute("INSERT INTO t (id, v) VALUES (?1, zeroblob(16384))", [i]).unwrap();
            if i % 20 == 19 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        assert!(checkpointer.runs.load(Ordering::Relaxed) > 0, "the checkpointer never ran");
        checkpointer.stop(&mut writer);
        // The log was started over again and again rather than holding the whole history.
        let log = std::fs::metadata(dir.path().join("wal.sqlite-wal")).unwrap().len();
        let bound = 2_000 * (4096 + 24) / 2;
        assert!(log <= bound, "the WAL grew to {log} bytes (bound {bound})");
        let count: i64 = writer.query_row("SELECT count(*) FROM t", [], |row| row.get(0)).unwrap();
        assert_eq!(count, 400);
    }
}
