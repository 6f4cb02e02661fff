//! Decoding of on-premises `AuditBase` rows (Dynamics CRM / Dynamics 365 on-premises SQL
//! exports) into [`record::AuditChange`]: `AttributeMask` column numbers to logical names,
//! `ChangeData` old values, and the reconstruction of new values from the next newer rows. Pure:
//! no I/O; the files are read by the `import` crate.
//!
//! Encoding (community documentation, not a Microsoft contract):
//! - `AttributeMask`: comma-separated `AttributeMetadata.ColumnNumber` values, often with a
//!   leading and a trailing comma (`,47,45,42,`).
//! - `ChangeData`: the **old** values, `~`-separated, in the order of the mask. A literal `~` is
//!   written `^s`, a literal `^` is written `^e`; both are undone in one left-to-right pass, so
//!   `^es` is `^s` (a caret then an `s`), not `~`. A trailing `~` after the last value is
//!   accepted (one more, empty, part than the mask has columns is dropped).
//! - Values: empty is no value (`None`); `True`/`False` are booleans; `table,guid` is a lookup
//!   (value = the GUID, `lookup_table` = the table); everything else, numbers included, stays
//!   the text as written. Numbers are not converted because without the column's type a text
//!   column holding `007` cannot be told from an integer, and the text loses nothing.
//! - New values are not in `AuditBase`: [`reconstruct_new_values`] takes, for each changed
//!   column, the old value of the next newer row of the same record that touches that column,
//!   else the record's current value when given, else leaves it unknown (`None`).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use record::{AuditAction, AuditChange, AuditOperation, ChangeDetail, FieldChange, FieldValue};
use uuid::Uuid;

/// `action` = Create: the row has no old values.
pub const ACTION_CREATE: i32 = 1;
/// `operation` = Delete: the record is gone afterwards, so its new values stay empty.
pub const OPERATION_DELETE: i32 = 3;

/// One `AuditBase` row as exported, each column as text (`None` when the export has no such
/// column, or wrote SQL `NULL`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditBaseRow {
    pub audit_id: Option<String>,
    pub created_on: Option<String>,
    pub action: Option<String>,
    pub operation: Option<String>,
    pub object_id: Option<String>,
    pub object_type_code: Option<String>,
    pub user_id: Option<String>,
    pub calling_user_id: Option<String>,
    pub attribute_mask: Option<String>,
    pub change_data: Option<String>,
    pub transaction_id: Option<String>,
    /// `UserIdName`, when the export joined it.
    pub user_name: Option<String>,
    /// `ObjectIdName`, when the export joined it.
    pub object_name: Option<String>,
}

/// Table and column names by number, from `MetadataSchema.Entity` and
/// `MetadataSchema.Attribute`.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    columns: HashMap<(i32, u32), String>,
    tables: HashMap<i32, String>,
    codes: HashMap<String, i32>,
}

impl Metadata {
    pub fn new() -> Self {
        Metadata::default()
    }

    /// Column `column_number` of table `object_type_code` is `logical_name`.
    pub fn add_column(&mut self, object_type_code: i32, column_number: u32, logical_name: &str) {
        self.columns.insert((object_type_code, column_number), logical_name.trim().to_owned());
    }

    /// Table `object_type_code` is `logical_name`.
    pub fn add_table(&mut self, object_type_code: i32, logical_name: &str) {
        let name = logical_name.trim().to_owned();
        self.codes.insert(name.to_ascii_lowercase(), object_type_code);
        self.tables.insert(object_type_code, name);
    }

    pub fn column_name(&self, object_type_code: i32, column_number: u32) -> Option<&str> {
        self.columns.get(&(object_type_code, column_number)).map(String::as_str)
    }

    pub fn table_name(&self, object_type_code: i32) -> Option<&str> {
        self.tables.get(&object_type_code).map(String::as_str)
    }

    /// The number of a table given by name (compared without case).
    pub fn object_type_code(&self, table: &str) -> Option<i32> {
        self.codes.get(&table.trim().to_ascii_lowercase()).copied()
    }

    /// How many columns are known.
    pub fn column_count(&self) -> usize {
        self.columns.len()
    }
}

/// Why a row cannot be decoded at all (it is quarantined).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("column {column} is empty")]
    Missing { column: &'static str },
    #[error("{column} is not a GUID: {value:?}")]
    NotAGuid { column: &'static str, value: String },
    #[error("{column} is not a whole number: {value:?}")]
    NotANumber { column: &'static str, value: String },
    #[error(
        "CreatedOn is not a date: {value:?} (expected e.g. 2019-03-04 10:11:12.123, UTC, as SQL \
         Server writes it, or ISO 8601)"
    )]
    NotADate { value: String },
}

/// Something in a row that was decoded anyway, and must be reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A mask column number the metadata does not name; the column is kept as `column_<n>`.
    UnknownColumn { object_type_code: i32, column_number: u32 },
    /// An `ObjectTypeCode` the metadata does not name; the number is kept as the table.
    UnknownTable { object_type_code: i32 },
    /// A mask entry that is not a number (ignored; the raw row keeps it).
    BadMaskEntry { entry: String },
    /// The mask and `ChangeData` do not have as many entries: columns without a value have no
    /// old value, values without a column are not decoded (the raw row keeps them).
    CountMismatch { columns: usize, values: usize },
    /// A GUID column that is not a GUID (left empty; the raw row keeps it).
    BadGuid { column: &'static str, value: String },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::UnknownColumn { object_type_code, column_number } => write!(
                f,
                "column number {column_number} of table {object_type_code} is not in the \
                 metadata; kept as column_{column_number}"
            ),
            Problem::UnknownTable { object_type_code } => write!(
                f,
                "ObjectTypeCode {object_type_code} is not in the metadata (add an \
                 EntityLogicalName for it); kept as the number"
            ),
            Problem::BadMaskEntry { entry } => {
                write!(f, "AttributeMask entry {entry:?} is not a column number; ignored")
            }
            Problem::CountMismatch { columns, values } => write!(
                f,
                "AttributeMask names {columns} columns but ChangeData holds {values} values; \
                 decoded by position"
            ),
            Problem::BadGuid { column, value } => {
                write!(f, "{column} is not a GUID: {value:?}; left empty")
            }
        }
    }
}

/// A decoded row: the change (new values still unknown) and what was odd about it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRow {
    pub change: AuditChange,
    pub problems: Vec<Problem>,
}

/// The column numbers of an `AttributeMask`, in order, and the entries that are not numbers.
pub fn parse_attribute_mask(mask: &str) -> (Vec<u32>, Vec<String>) {
    let mut numbers = Vec::new();
    let mut bad = Vec::new();
    for entry in mask.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
        match entry.parse::<u32>() {
            Ok(number) => numbers.push(number),
            Err(_) => bad.push(entry.to_owned()),
        }
    }
    (numbers, bad)
}

/// `ChangeData` split on `~`, each part unescaped (`^s` -> `~`, `^e` -> `^`, in one pass).
/// An empty text is one empty part.
pub fn split_change_data(change_data: &str) -> Vec<String> {
    change_data.split('~').map(unescape).collect()
}

/// Undoes `ChangeData` escaping in one left-to-right pass: `^s` is `~`, `^e` is `^`; a `^`
/// before anything else stays as it is.
pub fn unescape(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    let mut chars = part.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '^' {
            match chars.peek() {
                Some('s') => {
                    chars.next();
                    out.push('~');
                }
                Some('e') => {
                    chars.next();
                    out.push('^');
                }
                _ => out.push('^'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One value as `ChangeData` writes it (already unescaped): empty is `None`, `True`/`False` a
/// boolean, `table,guid` a lookup, anything else the text as written.
pub fn decode_value(text: &str) -> Option<FieldValue> {
    if text.is_empty() {
        return None;
    }
    let plain = |value| Some(FieldValue { value, formatted: None, lookup_table: None });
    if text.eq_ignore_ascii_case("true") {
        return plain(serde_json::Value::Bool(true));
    }
    if text.eq_ignore_ascii_case("false") {
        return plain(serde_json::Value::Bool(false));
    }
    if let Some((table, id)) = text.split_once(',')
        && is_logical_name(table)
        && let Ok(id) = Uuid::parse_str(id.trim())
    {
        return Some(FieldValue {
            value: serde_json::Value::String(id.to_string()),
            formatted: None,
            lookup_table: Some(table.to_owned()),
        });
    }
    plain(serde_json::Value::String(text.to_owned()))
}

/// A table's logical name: lowercase letters, digits and `_`, starting with a letter.
fn is_logical_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `CreatedOn` as SQL Server exports write it (`2019-03-04 10:11:12.123`, UTC, 0 to 7
/// fraction digits), or ISO 8601 with `T` and an optional zone (no zone = UTC).
pub fn parse_created_on(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(zoned) = DateTime::parse_from_rfc3339(text) {
        return Some(zoned.with_timezone(&Utc));
    }
    let naive = text.strip_suffix('Z').unwrap_or(text);
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(naive, format).ok())
        .map(|naive| naive.and_utc())
}

/// Decodes one row. New values are left `None`: run [`reconstruct_new_values`] over the
/// record's whole history afterwards.
pub fn decode_row(row: &AuditBaseRow, metadata: &Metadata) -> Result<DecodedRow, RowError> {
    let mut problems = Vec::new();
    fn required<'a>(value: &'a Option<String>, column: &'static str) -> Result<&'a str, RowError> {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(RowError::Missing { column })
    }
    let audit_text = required(&row.audit_id, "AuditId")?;
    let audit_id = Uuid::parse_str(audit_text)
        .map_err(|_| RowError::NotAGuid { column: "AuditId", value: audit_text.to_owned() })?;
    let created_text = required(&row.created_on, "CreatedOn")?;
    let created_on = parse_created_on(created_text)
        .ok_or_else(|| RowError::NotADate { value: created_text.to_owned() })?;
    let number = |value: &Option<String>, column| -> Result<i32, RowError> {
        let text = required(value, column)?;
        text.parse().map_err(|_| RowError::NotANumber { column, value: text.to_owned() })
    };
    let action = number(&row.action, "Action")?;
    let operation = number(&row.operation, "Operation")?;

    let code_text = row.object_type_code.as_deref().map(str::trim).unwrap_or_default();
    let (code, table) = match code_text.parse::<i32>() {
        Ok(code) => match metadata.table_name(code) {
            Some(name) => (Some(code), name.to_owned()),
            None => {
                problems.push(Problem::UnknownTable { object_type_code: code });
                (Some(code), code.to_string())
            }
        },
        // Some exports (filtered views) write the table's name instead of its number.
        Err(_) => (metadata.object_type_code(code_text), code_text.to_owned()),
    };

    let mut guid = |value: &Option<String>, column: &'static str| -> Option<Uuid> {
        let text = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        match Uuid::parse_str(text) {
            Ok(id) => Some(id),
            Err(_) => {
                problems.push(Problem::BadGuid { column, value: text.to_owned() });
                None
            }
        }
    };
    let object_id = guid(&row.object_id, "ObjectId");
    let user_id = guid(&row.user_id, "UserId");
    let calling_user_id = guid(&row.calling_user_id, "CallingUserId").filter(|id| !id.is_nil());
    let transaction_id = guid(&row.transaction_id, "TransactionId").filter(|id| !id.is_nil());

    let (mask, bad_entries) = parse_attribute_mask(row.attribute_mask.as_deref().unwrap_or(""));
    problems.extend(bad_entries.into_iter().map(|entry| Problem::BadMaskEntry { entry }));
    let change_data = row.change_data.as_deref().unwrap_or("");
    let mut values = if action == ACTION_CREATE && change_data.is_empty() {
        // A create has no old values; its ChangeData is empty.
        Vec::new()
    } else {
        split_change_data(change_data)
    };
    if values.len() == mask.len() + 1 && values.last().is_some_and(String::is_empty) {
        values.pop();
    }
    let is_create = action == ACTION_CREATE;
    if !(is_create && values.is_empty()) && values.len() != mask.len() && !mask.is_empty() {
        problems.push(Problem::CountMismatch { columns: mask.len(), values: values.len() });
    }
    let mut changes = Vec::with_capacity(mask.len());
    for (position, &column_number) in mask.iter().enumerate() {
        let name = code.and_then(|code| metadata.column_name(code, column_number));
        let field = match name {
            Some(name) => name.to_owned(),
            None => {
                problems.push(Problem::UnknownColumn {
                    object_type_code: code.unwrap_or_default(),
                    column_number,
                });
                format!("column_{column_number}")
            }
        };
        let old = values.get(position).and_then(|text| decode_value(text));
        changes.push(FieldChange { field, old, new: None });
    }
    let detail = if changes.is_empty() {
        ChangeDetail::None
    } else {
        ChangeDetail::Attributes { changes, deleted: Vec::new(), invalid_new: Vec::new() }
    };
    let text = |value: &Option<String>| {
        value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
    };
    let change = AuditChange {
        audit_id,
        created_on,
        action: AuditAction(action),
        operation: AuditOperation(operation),
        table,
        object_id,
        object_name: text(&row.object_name),
        user_id,
        user_name: text(&row.user_name),
        calling_user_id,
        transaction_id,
        attribute_mask: mask,
        detail,
    };
    Ok(DecodedRow { change, problems })
}

/// The current values of records (what the record holds today), for the newest change of each
/// column. Keys compare the column name without case.
#[derive(Debug, Clone, Default)]
pub struct CurrentValues {
    values: HashMap<(Uuid, String), Option<FieldValue>>,
}

impl CurrentValues {
    pub fn new() -> Self {
        CurrentValues::default()
    }

    /// Record `object_id`'s column `field` holds `value` (written as `ChangeData` writes one
    /// value, without `^` escaping; empty = no value).
    pub fn insert(&mut self, object_id: Uuid, field: &str, value: &str) {
        self.values.insert((object_id, field.trim().to_ascii_lowercase()), decode_value(value));
    }

    /// `Some(None)` when the record's column is known to be empty; `None` when not known.
    pub fn get(&self, object_id: Uuid, field: &str) -> Option<Option<&FieldValue>> {
        self.values.get(&(object_id, field.to_ascii_lowercase())).map(Option::as_ref)
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Where the new values came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reconstruction {
    /// From the old value of a newer row of the same record.
    pub from_history: u64,
    /// From the current values.
    pub from_current: u64,
    /// Unknown: no newer row touches the column and no current value was given.
    pub unknown: u64,
}

impl Reconstruction {
    pub fn add(&mut self, other: Reconstruction) {
        self.from_history += other.from_history;
        self.from_current += other.from_current;
        self.unknown += other.unknown;
    }
}

/// The order a record's history must be in for [`reconstruct_new_values`]: oldest first by
/// `createdon`, then `auditid`.
pub fn history_order(a: &AuditChange, b: &AuditChange) -> std::cmp::Ordering {
    (a.created_on, a.audit_id).cmp(&(b.created_on, b.audit_id))
}

/// Fills the new values of one record's changes, given oldest first (see [`history_order`]):
/// the new value of a column is the old value in the next newer change that touches it, else
/// the record's current value, else unknown (`None`). Deletes keep no new values.
pub fn reconstruct_new_values<'a>(
    history: impl IntoIterator<Item = &'a mut AuditChange>,
    current: &CurrentValues,
) -> Reconstruction {
    let mut history: Vec<&mut AuditChange> = history.into_iter().collect();
    let mut stats = Reconstruction::default();
    // Column (lowercase) -> its old value in the next newer change that touches it.
    let mut newer: HashMap<String, Option<FieldValue>> = HashMap::new();
    for change in history.iter_mut().rev() {
        let object_id = change.object_id;
        let is_delete = change.operation.0 == OPERATION_DELETE;
        let ChangeDetail::Attributes { changes, .. } = &mut change.detail else { continue };
        for field in changes.iter_mut() {
            let key = field.field.to_ascii_lowercase();
            if !is_delete {
                if let Some(value) = newer.get(&key) {
                    field.new = value.clone();
                    stats.from_history += 1;
                } else if let Some(value) = object_id.and_then(|id| current.get(id, &key)) {
                    field.new = value.cloned();
                    stats.from_current += 1;
                } else {
                    stats.unknown += 1;
                }
            }
            newer.insert(key, field.old.clone());
        }
    }
    stats
}
