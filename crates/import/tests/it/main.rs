//! Integration tests of the import crate: real files into real SQLite archives.

#![allow(clippy::unwrap_used)]

mod auditbase;
mod purview;

use std::path::Path;
use std::sync::Arc;

/// A fresh SQLite archive in `dir`.
pub(crate) fn open_archive(dir: &Path) -> archive_sqlite::SqliteArchive {
    archive_sqlite::SqliteArchive::open(dir.join("archive.db"), Arc::new(clock::SystemClock))
        .unwrap()
}

/// `text` as one quoted CSV field.
pub(crate) fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// A CSV file being written: rows joined by `line_end`, remembering the line each starts on.
pub(crate) struct CsvFile {
    pub(crate) text: String,
    line_end: &'static str,
}

impl CsvFile {
    pub(crate) fn new(line_end: &'static str) -> CsvFile {
        CsvFile { text: String::new(), line_end }
    }

    /// Appends a row; returns the line it starts on.
    pub(crate) fn row(&mut self, row: &str) -> u64 {
        let line = 1 + self.text.matches('\n').count() as u64;
        self.text.push_str(row);
        self.text.push_str(self.line_end);
        line
    }
}
