//! `import-auditbase`: the audit history of an on-premises Dynamics CRM / Dynamics 365
//! organization, exported from its SQL database (`AuditBase` plus the metadata that names its
//! numbered columns), into the archive's [`ChangeStore`].
//!
//! Files (CSV with a header row; column names in any order, compared without case; a UTF-8
//! byte-order mark and CRLF are fine; a field that is exactly `NULL`, as SQL Server Management
//! Studio writes SQL NULL, is empty):
//! - the audit rows: `AuditId,CreatedOn,Action,Operation,ObjectId,ObjectTypeCode,AttributeMask,
//!   ChangeData` required, `UserId,CallingUserId,TransactionId,UserIdName,ObjectIdName`
//!   optional. `CreatedOn` is UTC as stored (`2019-03-04 10:11:12.123`), or ISO 8601.
//! - the metadata: `ObjectTypeCode,ColumnNumber,LogicalName` and optionally
//!   `EntityLogicalName` (the table of that `ObjectTypeCode`), one row per column, e.g. from
//!   `SELECT e.ObjectTypeCode, a.ColumnNumber, a.LogicalName, e.LogicalName AS
//!   EntityLogicalName FROM MetadataSchema.Attribute a JOIN MetadataSchema.Entity e ON
//!   e.EntityId = a.EntityId`.
//! - optionally the current values: `ObjectId,LogicalName,Value` (a value written as
//!   `ChangeData` writes one: `table,guid` for a lookup, `True`/`False`, empty for none), used
//!   for the new value of each column's newest change.
//!
//! New values are reconstructed from the next newer row of the same record, so the whole file
//! is read first (memory grows with the export), grouped by `ObjectId`, sorted by `CreatedOn`
//! then `AuditId`, and stored in batches. Each change keeps its CSV row's exact bytes. Rows that
//! cannot be decoded are quarantined with their bytes and `<file>:<line>`; oddities that still
//! decode (unknown column numbers, mask/value count mismatches) are counted and listed in the
//! summary.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use archive::{ChangeBatch, ChangeSource, ChangeStore, IncomingChange, Quarantined};
use dataverse::auditbase::{
    AuditBaseRow, CurrentValues, Metadata, Problem, Reconstruction, decode_row, history_order,
    reconstruct_new_values,
};
use uuid::Uuid;

use crate::csv_rows::{CsvRow, CsvRows};
use crate::{ImportError, Progress};

/// The files of one `AuditBase` export.
#[derive(Debug, Clone)]
pub struct AuditBaseFiles {
    pub audit: PathBuf,
    pub metadata: PathBuf,
    pub current_values: Option<PathBuf>,
}

/// How to import.
#[derive(Debug, Clone)]
pub struct AuditBaseImport {
    /// Changes per ingest transaction.
    pub batch_size: usize,
    /// How many problem descriptions the summary lists (all are counted).
    pub max_listed_problems: usize,
}

impl Default for AuditBaseImport {
    fn default() -> Self {
        AuditBaseImport { batch_size: 5_000, max_listed_problems: 20 }
    }
}

/// What an `AuditBase` import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AuditBaseSummary {
    /// Data rows of the audit file.
    pub rows: u64,
    pub inserted: u64,
    /// Changes whose `AuditId` was already stored (a re-import) or repeated in the file.
    pub duplicates: u64,
    pub quarantined: u64,
    /// Distinct audited records (`ObjectId`).
    pub records: u64,
    /// Mask column numbers the metadata does not name (kept as `column_<n>`).
    pub unknown_columns: u64,
    /// `ObjectTypeCode`s the metadata does not name (kept as the number).
    pub unknown_tables: u64,
    /// Rows whose `AttributeMask` and `ChangeData` have different counts.
    pub count_mismatches: u64,
    /// Other oddities (mask entries that are not numbers, GUID columns that are not GUIDs).
    pub other_problems: u64,
    /// Where the new values came from.
    pub new_values: Reconstruction,
    /// The first problems, as `<file>:<line>: <problem>`.
    pub listed_problems: Vec<String>,
}

impl AuditBaseSummary {
    /// Whether anything was decoded with a problem.
    pub fn has_warnings(&self) -> bool {
        self.unknown_columns + self.unknown_tables + self.count_mismatches + self.other_problems > 0
    }
}

/// A decoded row waiting for its record's history.
struct Pending {
    change: IncomingChange,
}

/// Everything read from the files.
struct Read {
    groups: Vec<Vec<Pending>>,
    quarantined: Vec<Quarantined>,
    summary: AuditBaseSummary,
    current: CurrentValues,
}

/// Imports an `AuditBase` export into `store`.
pub async fn import_auditbase(
    store: &dyn ChangeStore,
    files: &AuditBaseFiles,
    options: &AuditBaseImport,
    progress: &dyn Progress,
) -> Result<AuditBaseSummary, ImportError> {
    let total = std::fs::metadata(&files.audit)
        .map_err(|source| ImportError::Read { path: files.audit.clone(), source })?
        .len();
    progress.total_bytes(total);
    progress.file(&files.audit);
    let (files_owned, options_owned) = (files.clone(), options.clone());
    let read = tokio::task::spawn_blocking(move || read_all(&files_owned, &options_owned))
        .await
        .map_err(|error| ImportError::Read {
        path: files.audit.clone(),
        source: std::io::Error::other(error.to_string()),
    })??;
    progress.advanced(total);
    let Read { mut groups, quarantined, mut summary, current } = read;

    for group in &mut groups {
        group.sort_by(|a, b| history_order(&a.change.change, &b.change.change));
        // A row repeated in the file is stored once (the store counts the repeat); the history
        // must not see it twice.
        let mut seen = std::collections::HashSet::new();
        let unique = group.iter_mut().filter(|p| seen.insert(p.change.change.audit_id));
        let stats = reconstruct_new_values(unique.map(|p| &mut p.change.change), &current);
        summary.new_values.add(stats);
    }

    let batch_size = options.batch_size.max(1);
    let mut batch = ChangeBatch { quarantined, ..ChangeBatch::default() };
    for pending in groups.into_iter().flatten() {
        batch.changes.push(pending.change);
        if batch.changes.len() >= batch_size {
            ingest(store, std::mem::take(&mut batch), &mut summary).await?;
        }
    }
    if !batch.changes.is_empty() || !batch.quarantined.is_empty() {
        ingest(store, batch, &mut summary).await?;
    }
    Ok(summary)
}

async fn ingest(
    store: &dyn ChangeStore,
    batch: ChangeBatch,
    summary: &mut AuditBaseSummary,
) -> Result<(), ImportError> {
    let receipt = store.ingest_changes(batch).await?;
    summary.inserted += receipt.inserted;
    summary.duplicates += receipt.duplicates;
    summary.quarantined += receipt.quarantined;
    Ok(())
}

/// Reads the three files; runs on a blocking thread.
fn read_all(files: &AuditBaseFiles, options: &AuditBaseImport) -> Result<Read, ImportError> {
    let metadata = read_metadata(&files.metadata)?;
    let current = match &files.current_values {
        Some(path) => read_current_values(path)?,
        None => CurrentValues::new(),
    };
    let path = &files.audit;
    let (header, mut rows) = open_csv(path, "an AuditBase export", AUDIT_COLUMNS)?;
    let name = path.display().to_string();
    let mut summary = AuditBaseSummary::default();
    let mut quarantined = Vec::new();
    let mut groups: Vec<Vec<Pending>> = Vec::new();
    let mut group_of: HashMap<Option<Uuid>, usize> = HashMap::new();
    while let Some(row) = rows.next_row().map_err(|source| read_error(path, source))? {
        summary.rows += 1;
        let source = format!("{name}:{}", row.line);
        if let Some(reason) = header.check(&row) {
            quarantined.push(Quarantined { source, reason, raw: row.raw });
            continue;
        }
        let decoded = match decode_row(&header.audit_row(&row), &metadata) {
            Ok(decoded) => decoded,
            Err(error) => {
                let reason = format!("cannot decode the audit row: {error}");
                quarantined.push(Quarantined { source, reason, raw: row.raw });
                continue;
            }
        };
        for problem in &decoded.problems {
            match problem {
                Problem::UnknownColumn { .. } => summary.unknown_columns += 1,
                Problem::UnknownTable { .. } => summary.unknown_tables += 1,
                Problem::CountMismatch { .. } => summary.count_mismatches += 1,
                Problem::BadMaskEntry { .. } | Problem::BadGuid { .. } => {
                    summary.other_problems += 1
                }
            }
            if summary.listed_problems.len() < options.max_listed_problems {
                summary.listed_problems.push(format!("{source}: {problem}"));
            }
        }
        let change = IncomingChange {
            raw_row: row.raw,
            raw_detail: None,
            source: ChangeSource::AuditBase { file: name.clone(), line: row.line },
            change: decoded.change,
        };
        // Rows without an ObjectId each stand alone: there is no record to follow.
        let key = change.change.object_id;
        let index = match key {
            Some(_) => *group_of.entry(key).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            }),
            None => {
                groups.push(Vec::new());
                groups.len() - 1
            }
        };
        groups[index].push(Pending { change });
    }
    summary.records = group_of.len() as u64;
    Ok(Read { groups, quarantined, summary, current })
}

fn read_error(path: &Path, source: std::io::Error) -> ImportError {
    ImportError::Read { path: path.to_path_buf(), source }
}

/// Columns of the audit file: (name, required).
const AUDIT_COLUMNS: &[(&str, bool)] = &[
    ("AuditId", true),
    ("CreatedOn", true),
    ("Action", true),
    ("Operation", true),
    ("ObjectId", true),
    ("ObjectTypeCode", true),
    ("AttributeMask", true),
    ("ChangeData", true),
    ("UserId", false),
    ("CallingUserId", false),
    ("TransactionId", false),
    ("UserIdName", false),
    ("ObjectIdName", false),
];

const METADATA_COLUMNS: &[(&str, bool)] = &[
    ("ObjectTypeCode", true),
    ("ColumnNumber", true),
    ("LogicalName", true),
    ("EntityLogicalName", false),
];

const CURRENT_COLUMNS: &[(&str, bool)] =
    &[("ObjectId", true), ("LogicalName", true), ("Value", true)];

/// A header: where each known column is.
#[derive(Debug)]
struct Columns {
    width: usize,
    /// Position of each of the known columns (same order as the list given), if present.
    positions: Vec<Option<usize>>,
}

impl Columns {
    /// Why a data row cannot be read, if it cannot.
    fn check(&self, row: &CsvRow) -> Option<String> {
        if let Some(problem) = &row.problem {
            return Some(format!("not a well-formed CSV row: {problem}"));
        }
        (row.fields.len() != self.width).then(|| {
            format!(
                "the row has {} fields where the header has {}: a broken CSV row (a cut line or \
                 unbalanced quotes)",
                row.fields.len(),
                self.width
            )
        })
    }

    /// Column `index` (of the known list) of a row; `None` when absent, empty or `NULL`.
    fn get(&self, row: &CsvRow, index: usize) -> Option<String> {
        let position = self.positions.get(index).copied().flatten()?;
        let text = row.text(position);
        (!text.is_empty() && text != "NULL").then(|| text.into_owned())
    }

    fn audit_row(&self, row: &CsvRow) -> AuditBaseRow {
        let get = |index| self.get(row, index);
        AuditBaseRow {
            audit_id: get(0),
            created_on: get(1),
            action: get(2),
            operation: get(3),
            object_id: get(4),
            object_type_code: get(5),
            attribute_mask: get(6),
            change_data: get(7),
            user_id: get(8),
            calling_user_id: get(9),
            transaction_id: get(10),
            user_name: get(11),
            object_name: get(12),
        }
    }
}

/// Opens a CSV file and reads its header, which must name the required `columns`.
fn open_csv(
    path: &Path,
    what: &'static str,
    columns: &[(&str, bool)],
) -> Result<(Columns, CsvRows<BufReader<File>>), ImportError> {
    let file = File::open(path).map_err(|source| read_error(path, source))?;
    let mut rows = CsvRows::new(BufReader::with_capacity(1 << 20, file));
    let wrong = |problem: String| ImportError::WrongCsv { path: path.to_path_buf(), what, problem };
    let expected = || columns.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(",");
    let Some(header) = rows.next_row().map_err(|source| read_error(path, source))? else {
        return Err(wrong(format!("the file is empty; expected a header like {}", expected())));
    };
    let names: Vec<String> =
        (0..header.fields.len()).map(|i| header.text(i).trim().to_ascii_lowercase()).collect();
    let positions: Vec<Option<usize>> = columns
        .iter()
        .map(|(name, _)| names.iter().position(|n| n.eq_ignore_ascii_case(name)))
        .collect();
    let missing: Vec<&str> = columns
        .iter()
        .zip(&positions)
        .filter(|((_, required), position)| *required && position.is_none())
        .map(|((name, _), _)| *name)
        .collect();
    if !missing.is_empty() {
        return Err(wrong(format!(
            "the header lacks {} (expected columns {}; names in any order, any case)",
            missing.join(", "),
            expected()
        )));
    }
    Ok((Columns { width: names.len(), positions }, rows))
}

/// Reads the metadata file. Unlike audit rows, a bad metadata row stops the import: the file
/// is small and made for this import, and a wrong name would mislabel every change.
fn read_metadata(path: &Path) -> Result<Metadata, ImportError> {
    let what = "an attribute metadata file";
    let (columns, mut rows) = open_csv(path, what, METADATA_COLUMNS)?;
    let mut metadata = Metadata::new();
    while let Some(row) = rows.next_row().map_err(|source| read_error(path, source))? {
        let wrong = |problem: String| ImportError::WrongCsv {
            path: path.to_path_buf(),
            what,
            problem: format!("line {}: {problem}", row.line),
        };
        if let Some(problem) = columns.check(&row) {
            return Err(wrong(problem));
        }
        let code_text = columns.get(&row, 0).unwrap_or_default();
        let code: i32 = code_text
            .trim()
            .parse()
            .map_err(|_| wrong(format!("ObjectTypeCode {code_text:?} is not a whole number")))?;
        if let Some(table) = columns.get(&row, 3) {
            metadata.add_table(code, &table);
        }
        let number_text = columns.get(&row, 1).unwrap_or_default();
        let Some(name) = columns.get(&row, 2) else {
            return Err(wrong("LogicalName is empty".to_owned()));
        };
        let number: u32 = number_text
            .trim()
            .parse()
            .map_err(|_| wrong(format!("ColumnNumber {number_text:?} is not a whole number")))?;
        metadata.add_column(code, number, &name);
    }
    Ok(metadata)
}

/// Reads the current-values file.
fn read_current_values(path: &Path) -> Result<CurrentValues, ImportError> {
    let what = "a current-values file";
    let (columns, mut rows) = open_csv(path, what, CURRENT_COLUMNS)?;
    let mut current = CurrentValues::new();
    while let Some(row) = rows.next_row().map_err(|source| read_error(path, source))? {
        let wrong = |problem: String| ImportError::WrongCsv {
            path: path.to_path_buf(),
            what,
            problem: format!("line {}: {problem}", row.line),
        };
        if let Some(problem) = columns.check(&row) {
            return Err(wrong(problem));
        }
        let id_text = columns.get(&row, 0).unwrap_or_default();
        let id = Uuid::parse_str(id_text.trim())
            .map_err(|_| wrong(format!("ObjectId {id_text:?} is not a GUID")))?;
        let Some(field) = columns.get(&row, 1) else {
            return Err(wrong("LogicalName is empty".to_owned()));
        };
        current.insert(id, &field, &columns.get(&row, 2).unwrap_or_default());
    }
    Ok(current)
}
