//! `import-json`: files of activity records as the Management Activity API returns them (JSON
//! arrays, as in content blobs) or as other tools ship them (JSON lines, pretty-printed objects).
//!
//! Reading and parsing run on a blocking thread that hands batches to the archive over a small
//! bounded channel, so parsing one batch overlaps storing the previous one and memory holds at
//! most a few batches.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use archive::{Archive, IncomingRecord, IngestBatch, Quarantined};

use crate::json_items::JsonItems;
use crate::{ImportError, ImportSummary, Progress};

/// How to import.
#[derive(Debug, Clone)]
pub struct JsonImport {
    /// Keep only records of these workloads (`CRM`, `PowerApps`, ...), compared without case.
    /// Empty keeps every workload.
    pub workloads: Vec<String>,
    /// Records per ingest transaction.
    pub batch_size: usize,
}

impl Default for JsonImport {
    fn default() -> Self {
        JsonImport { workloads: Vec::new(), batch_size: 5_000 }
    }
}

/// File name endings that `import-json` reads when given a folder.
const EXTENSIONS: &[&str] = &["json", "jsonl", "ndjson"];

/// The files a list of paths names: files as given, folders walked for [`EXTENSIONS`] in name
/// order.
pub fn files_to_import(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ImportError> {
    crate::files_in(paths, EXTENSIONS, |path| ImportError::NothingToImport { path })
}

/// One unit of work from the reading thread.
enum Chunk {
    Batch { batch: IngestBatch, skipped: u64, items: u64 },
    Failed(ImportError),
}

/// Imports every file the paths name into `archive`.
pub async fn import_json(
    archive: &dyn Archive,
    paths: &[PathBuf],
    options: &JsonImport,
    progress: &dyn Progress,
) -> Result<ImportSummary, ImportError> {
    let files = files_to_import(paths)?;
    let total: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    progress.total_bytes(total);
    let mut summary = ImportSummary { files: files.len() as u64, ..ImportSummary::default() };
    for file in files {
        progress.file(&file);
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<(Chunk, u64)>(2);
        let options = options.clone();
        let path = file.clone();
        let reader = std::thread::spawn(move || read_file(&path, &options, &sender));
        let mut last_offset = 0;
        while let Some((chunk, offset)) = receiver.recv().await {
            progress.advanced(offset.saturating_sub(last_offset));
            last_offset = last_offset.max(offset);
            match chunk {
                Chunk::Batch { batch, skipped, items } => {
                    summary.items += items;
                    summary.skipped_out_of_scope += skipped;
                    let receipt = archive.ingest(batch).await?;
                    summary.add(&receipt);
                }
                Chunk::Failed(error) => return Err(error),
            }
        }
        // The thread has sent everything (or failed, which arrived as a chunk).
        let _ = reader.join();
        summary.bytes += last_offset;
    }
    Ok(summary)
}

/// Reads one file into batches; runs on its own thread.
fn read_file(path: &Path, options: &JsonImport, sender: &tokio::sync::mpsc::Sender<(Chunk, u64)>) {
    let send = |chunk, offset| sender.blocking_send((chunk, offset)).is_ok();
    let file = match File::open(path) {
        Ok(file) => file,
        Err(source) => {
            send(Chunk::Failed(ImportError::Read { path: path.to_path_buf(), source }), 0);
            return;
        }
    };
    let reader = BufReader::with_capacity(1 << 20, file);
    let is_lines = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("ndjson"));
    let mut items = if is_lines { JsonItems::lines(reader) } else { JsonItems::new(reader) };
    let mut batch = IngestBatch::default();
    let (mut skipped, mut count) = (0, 0);
    let name = path.display().to_string();
    loop {
        let item = match items.next() {
            None => break,
            Some(Ok(item)) => item,
            Some(Err(source)) => {
                send(Chunk::Failed(ImportError::Read { path: path.to_path_buf(), source }), 0);
                return;
            }
        };
        count += 1;
        match record::parse_record(&item.bytes) {
            Ok(parsed) if in_scope(&parsed, &options.workloads) => {
                batch.records.push(IncomingRecord { raw: item.bytes, record: parsed });
            }
            Ok(_) => skipped += 1,
            Err(malformed) => batch.quarantined.push(Quarantined {
                source: format!("{name}:{} (item {})", item.line, item.index + 1),
                reason: malformed.reason(),
                raw: item.bytes,
            }),
        }
        if batch.records.len() + batch.quarantined.len() >= options.batch_size {
            let full = std::mem::take(&mut batch);
            let chunk = Chunk::Batch { batch: full, skipped, items: count };
            if !send(chunk, items.bytes_read()) {
                return;
            }
            (skipped, count) = (0, 0);
        }
    }
    send(Chunk::Batch { batch, skipped, items: count }, items.bytes_read());
}

fn in_scope(record: &record::ActivityRecord, workloads: &[String]) -> bool {
    workloads.is_empty() || workloads.iter().any(|w| w.eq_ignore_ascii_case(&record.workload))
}
