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
