//! `import-purview`: audit log exports from Microsoft Purview (the portal's "Export" of an audit
//! search, old and new) and from `Search-UnifiedAuditLog | Export-Csv`. Each row's `AuditData`
//! column is the activity record itself; it is stored exactly as it stands in the file (after
//! CSV unquoting) and parsed like a record from the Management Activity API.
//!
//! Formats, recognised by the header (column names in any order, compared without case):
//! - classic audit search: `CreationDate,UserIds,Operations,AuditData`;
//! - Purview audit search (2023+): `RecordId,CreationDate,RecordType,Operation,UserId,AuditData,
//!   AssociatedAdminUnits,AssociatedAdminUnitsNames` (or `AssociatedAdminUnitNames`);
//! - `Search-UnifiedAuditLog`: `RecordType,CreationDate,UserIds,Operations,AuditData,
//!   ResultIndex,ResultCount,Identity,IsValid,ObjectState` (with `PSComputerName,RunspaceId,
//!   PSShowComputerName` through remoting), after an optional `#TYPE ...` line.
//!
//! Only `AuditData` is required. The other columns are Microsoft's rendering of the same record
//! and are not stored apart from the row bytes of a quarantined row: the record's time, user and
//! operation come from `AuditData`. `CreationDate` is only a cross-check: when it is written
//! with a zone (`2026-01-24T06:54:24.0000000Z `) and differs from `AuditData.CreationTime` by
//! more than a second the row is still imported and counted in
//! [`PurviewSummary::creation_date_mismatches`]. When `AuditData` lacks a field the record
//! parser needs (`Id`, `CreationTime`, `RecordType`, `Operation`, `Workload`) the row is
//! quarantined: no field is made up from the other columns, because the stored bytes must be the
//! record as Microsoft wrote it.
//!
//! Malformed rows (broken CSV, a field count that differs from the header's, `AuditData` that is
//! not a JSON record) are quarantined with the row's exact bytes and `<file>:<line>`, and the
//! import goes on. Reading runs on a thread that hands batches over a small bounded channel, so
//! memory holds a few batches whatever the file size.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use archive::{Archive, IncomingRecord, IngestBatch, Quarantined};
use chrono::{DateTime, Utc};

use crate::csv_rows::{CsvRow, CsvRows};
use crate::{ImportError, ImportSummary, Progress};

/// How to import.
#[derive(Debug, Clone)]
pub struct PurviewImport {
    /// Keep only records of these workloads (`CRM`, `PowerApps`, ...), compared without case;
    /// the others are counted as skipped. Empty keeps every workload.
    pub workloads: Vec<String>,
    /// Records per ingest transaction.
    pub batch_size: usize,
}

impl Default for PurviewImport {
    /// Dynamics 365 only (`CRM`), as the collector keeps by default.
    fn default() -> Self {
        PurviewImport { workloads: vec!["CRM".to_owned()], batch_size: 5_000 }
    }
}

/// Which export a file is, by its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PurviewFormat {
    /// `CreationDate,UserIds,Operations,AuditData`.
    ClassicSearch,
    /// `RecordId,CreationDate,RecordType,Operation,UserId,AuditData,...`.
    AuditSearch,
    /// `Search-UnifiedAuditLog | Export-Csv`.
    SearchUnifiedAuditLog,
    /// Another column set that has an `AuditData` column.
    Other,
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PurviewFile {
    pub path: PathBuf,
    pub format: PurviewFormat,
    /// Data rows (the header and a `#TYPE` line not counted).
    pub rows: u64,
}

/// What an import of Purview exports did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurviewSummary {
    /// Totals; `items` counts data rows, `skipped_out_of_scope` the records of other workloads.
    #[serde(flatten)]
    pub totals: ImportSummary,
    /// Rows whose `CreationDate` column disagrees with their `AuditData.CreationTime` by more
    /// than a second (imported anyway; `AuditData` is the record).
    pub creation_date_mismatches: u64,
    pub per_file: Vec<PurviewFile>,
}

/// The columns a file has, by position.
#[derive(Debug, Clone)]
struct Header {
    width: usize,
    audit_data: usize,
    creation_date: Option<usize>,
    format: PurviewFormat,
}

impl Header {
    /// Reads the header row; `None` when there is no `AuditData` column.
    fn read(row: &CsvRow) -> Option<Header> {
        let names: Vec<String> =
            (0..row.fields.len()).map(|i| row.text(i).trim().to_ascii_lowercase()).collect();
        let position = |name: &str| names.iter().position(|n| n == name);
        let has = |name: &str| position(name).is_some();
        let format = if has("recordid") {
            PurviewFormat::AuditSearch
        } else if has("resultindex") || has("identity") {
            PurviewFormat::SearchUnifiedAuditLog
        } else if has("userids") && has("operations") && names.len() == 4 {
            PurviewFormat::ClassicSearch
        } else {
            PurviewFormat::Other
        };
        Some(Header {
            width: names.len(),
            audit_data: position("auditdata")?,
            creation_date: position("creationdate"),
            format,
        })
    }
}

/// The files a list of paths names: files as given, folders searched for `*.csv` in name order.
pub fn csv_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ImportError> {
    crate::files_in(paths, &["csv"], |path| ImportError::NoCsvFiles { path })
}

/// One unit of work from the reading thread.
enum Chunk {
    Header(PurviewFormat),
    Batch { batch: IngestBatch, skipped: u64, rows: u64, mismatches: u64 },
    Failed(ImportError),
}

/// Imports every Purview CSV file the paths name (files as given; folders are searched for
/// `*.csv` in name order) into `archive`.
pub async fn import_purview(
    archive: &dyn Archive,
    paths: &[PathBuf],
    options: &PurviewImport,
    progress: &dyn Progress,
) -> Result<PurviewSummary, ImportError> {
    let files = csv_files(paths)?;
    let total: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    progress.total_bytes(total);
    let mut summary = PurviewSummary::default();
    summary.totals.files = files.len() as u64;
    for file in files {
        progress.file(&file);
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<(Chunk, u64)>(2);
        let options = options.clone();
        let path = file.clone();
        let reader = std::thread::spawn(move || read_file(&path, &options, &sender));
        let mut last_offset = 0;
        let mut this_file =
            PurviewFile { path: file.clone(), format: PurviewFormat::Other, rows: 0 };
        while let Some((chunk, offset)) = receiver.recv().await {
            progress.advanced(offset.saturating_sub(last_offset));
            last_offset = last_offset.max(offset);
            match chunk {
                Chunk::Header(format) => this_file.format = format,
                Chunk::Batch { batch, skipped, rows, mismatches } => {
                    summary.totals.items += rows;
                    this_file.rows += rows;
                    summary.totals.skipped_out_of_scope += skipped;
                    summary.creation_date_mismatches += mismatches;
                    let receipt = archive.ingest(batch).await?;
                    summary.totals.add(&receipt);
                }
                Chunk::Failed(error) => return Err(error),
            }
        }
        // The thread has sent everything (or failed, which arrived as a chunk).
        let _ = reader.join();
        summary.totals.bytes += last_offset;
        summary.per_file.push(this_file);
    }
    Ok(summary)
}

/// Reads one file into batches; runs on its own thread.
fn read_file(
    path: &Path,
    options: &PurviewImport,
    sender: &tokio::sync::mpsc::Sender<(Chunk, u64)>,
) {
    let send = |chunk, offset| sender.blocking_send((chunk, offset)).is_ok();
    let fail = |source| {
        send(Chunk::Failed(ImportError::Read { path: path.to_path_buf(), source }), 0);
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(source) => return fail(source),
    };
    let mut rows = CsvRows::new(BufReader::with_capacity(1 << 20, file));
    let name = path.display().to_string();

    // The header, after an optional `#TYPE ...` line of older Export-Csv.
    let header = loop {
        match rows.next_row() {
            Err(source) => return fail(source),
            Ok(None) => {
                send(
                    Chunk::Failed(ImportError::NotPurviewCsv {
                        path: path.to_path_buf(),
                        header: String::new(),
                    }),
                    0,
                );
                return;
            }
            Ok(Some(row)) if row.text(0).trim_start().starts_with("#TYPE") => continue,
            Ok(Some(row)) => match Header::read(&row) {
                Some(header) => break header,
                None => {
                    let header = String::from_utf8_lossy(&row.raw).chars().take(200).collect();
                    send(
                        Chunk::Failed(ImportError::NotPurviewCsv {
                            path: path.to_path_buf(),
                            header,
                        }),
                        0,
                    );
                    return;
                }
            },
        }
    };
    if !send(Chunk::Header(header.format), rows.bytes_read()) {
        return;
    }

    let mut batch = IngestBatch::default();
    let (mut skipped, mut count, mut mismatches) = (0, 0, 0);
    loop {
        let row = match rows.next_row() {
            Ok(None) => break,
            Ok(Some(row)) => row,
            Err(source) => return fail(source),
        };
        count += 1;
        match read_row(&header, &row) {
            Ok((record, mismatch)) => {
                mismatches += u64::from(mismatch);
                if in_scope(&record, &options.workloads) {
                    let raw = row.fields.into_iter().nth(header.audit_data).unwrap_or_default();
                    batch.records.push(IncomingRecord { raw, record });
                } else {
                    skipped += 1;
                }
            }
            Err(reason) => batch.quarantined.push(Quarantined {
                source: format!("{name}:{}", row.line),
                reason,
                raw: row.raw,
            }),
        }
        if batch.records.len() + batch.quarantined.len() >= options.batch_size {
            let full = std::mem::take(&mut batch);
            let chunk = Chunk::Batch { batch: full, skipped, rows: count, mismatches };
            if !send(chunk, rows.bytes_read()) {
                return;
            }
            (skipped, count, mismatches) = (0, 0, 0);
        }
    }
    send(Chunk::Batch { batch, skipped, rows: count, mismatches }, rows.bytes_read());
}

/// The record of one data row and whether its `CreationDate` disagrees; else why the row is
/// quarantined.
fn read_row(header: &Header, row: &CsvRow) -> Result<(record::ActivityRecord, bool), String> {
    if let Some(problem) = &row.problem {
        return Err(format!("not a well-formed CSV row: {problem}"));
    }
    if row.fields.len() != header.width {
        return Err(format!(
            "the row has {} fields where the header has {}: a broken CSV row (a cut line or \
             unbalanced quotes)",
            row.fields.len(),
            header.width
        ));
    }
    let audit_data = &row.fields[header.audit_data];
    if audit_data.iter().all(u8::is_ascii_whitespace) {
        return Err("the AuditData column is empty".to_owned());
    }
    let record = record::parse_record(audit_data).map_err(|malformed| {
        format!("AuditData is not an activity record: {}", malformed.reason())
    })?;
    let mismatch = header
        .creation_date
        .and_then(|index| zoned_time(&row.text(index)))
        .is_some_and(|date| (date - record.creation_time).num_milliseconds().abs() > 1_000);
    Ok((record, mismatch))
}

/// A `CreationDate` written with a zone (`2026-01-24T06:54:24.0000000Z `); `None` for the
/// locale-formatted ones (`9/20/2023 4:05:03 AM`), whose zone the file does not say.
fn zoned_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.with_timezone(&Utc))
}

fn in_scope(record: &record::ActivityRecord, workloads: &[String]) -> bool {
    workloads.is_empty() || workloads.iter().any(|w| w.eq_ignore_ascii_case(record.workload.trim()))
}
