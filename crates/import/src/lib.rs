//! File imports into the archive. Every import streams its input (memory stays flat however large
//! the file), quarantines what does not parse with its bytes and location, and reports a summary.

pub mod auditbase;
pub mod csv_rows;
pub mod json;
pub mod json_items;
pub mod purview;

use std::path::{Path, PathBuf};

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    pub files: u64,
    pub bytes: u64,
    /// Items read from the files (records and malformed items).
    pub items: u64,
    pub inserted: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    /// Records that parsed but are outside the requested workloads.
    pub skipped_out_of_scope: u64,
}

impl ImportSummary {
    pub(crate) fn add(&mut self, receipt: &archive::IngestReceipt) {
        self.inserted += receipt.inserted;
        self.duplicates += receipt.duplicates;
        self.quarantined += receipt.quarantined;
    }
}

/// Why an import stopped. Malformed input never stops an import: it is quarantined.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} holds no files to import (looked for *.json, *.jsonl, *.ndjson)", path.display())]
    NothingToImport { path: PathBuf },
    #[error("{} holds no files to import (looked for *.csv)", path.display())]
    NoCsvFiles { path: PathBuf },
    #[error(
        "{} is not a Purview audit export: its header has no AuditData column (found {header:?}); \
         export the audit search from Purview or use Search-UnifiedAuditLog | Export-Csv",
        path.display()
    )]
    NotPurviewCsv { path: PathBuf, header: String },
    #[error("{} is not {what}: {problem}", path.display())]
    WrongCsv { path: PathBuf, what: &'static str, problem: String },
    #[error(transparent)]
    Archive(#[from] archive::ArchiveError),
}

/// Receives progress as an import reads its input.
pub trait Progress: Send + Sync {
    /// The total number of bytes that will be read.
    fn total_bytes(&self, _total: u64) {}
    /// `bytes` more bytes were read.
    fn advanced(&self, _bytes: u64) {}
    /// A file starts.
    fn file(&self, _path: &Path) {}
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// The files a list of paths names: files as given, folders walked in name order for files whose
/// extension is one of `extensions` (any case); a folder holding none is `none_found`.
pub(crate) fn files_in(
    paths: &[std::path::PathBuf],
    extensions: &[&str],
    none_found: fn(std::path::PathBuf) -> ImportError,
) -> Result<Vec<std::path::PathBuf>, ImportError> {
    fn walk(
        dir: &std::path::Path,
        extensions: &[&str],
        out: &mut Vec<std::path::PathBuf>,
    ) -> Result<(), ImportError> {
        let read = |source| ImportError::Read { path: dir.to_path_buf(), source };
        let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .map_err(read)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() {
                walk(&entry, extensions, out)?;
            } else if entry
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
            {
                out.push(entry);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path)
            .map_err(|source| ImportError::Read { path: path.clone(), source })?;
        if metadata.is_dir() {
            let before = files.len();
            walk(path, extensions, &mut files)?;
            if files.len() == before {
                return Err(none_found(path.clone()));
            }
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}
