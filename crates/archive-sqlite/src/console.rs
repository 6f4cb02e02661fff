//! The read-only SQL console ([`archive::SqlConsole`]) of the SQLite archive: an auditor's
//! statement runs on a connection of its own, opened for it and closed after it.
//!
//! Layers, each enough against a different mistake:
//! 1. The connection is opened read-only (`SQLITE_OPEN_READ_ONLY`), with `PRAGMA query_only`
//!    and SQLite's defensive mode (no `writable_schema`, no shadow-table writes).
//! 2. An authorizer, consulted by SQLite while it prepares the statement, allows only reading:
//!    `SELECT`, reading tables, recursive queries, functions except those that reach outside
//!    the statement (`load_extension`, ...), and a short list of pragmas that only describe the
//!    schema. Everything else (writes, DDL, `ATTACH`, transactions, other pragmas) is refused
//!    with a message naming what was refused, and so is reading the accounts, sessions, API
//!    tokens and access log: they are not audit evidence, and auditors are not administrators.
//! 3. The prepared statement must not change the database file (`sqlite3_stmt_readonly`, which
//!    also catches `VACUUM`), must be alone (anything after the first statement is refused) and
//!    must have no parameters.
//! 4. A progress handler stops the statement at the time limit; at most `max_rows + 1` rows are
//!    stepped (the extra one only says the result was cut); strings and BLOBs a statement builds
//!    are limited in size, and sorts spill to temporary files rather than memory.
//!
//! Cells become JSON: integers and finite reals as numbers, text as strings, BLOBs as hex.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use archive::query::QueryError;
use archive::{ArchiveError, SqlConsole, SqlLimits, SqlResult};
use async_trait::async_trait;
use rusqlite::config::DbConfig;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use serde_json::{Number, Value};

use crate::SqliteArchive;
use crate::encoding::{failed, storage_error};

/// Tables the console neither lists nor reads: sign-in data and the archive's own access log.
pub(crate) const HIDDEN_TABLES: &[&str] = &["accounts", "sessions", "api_tokens", "access_log"];

/// Pragmas that only describe the schema or the build (their argument is a name, not a setting).
const DESCRIBING_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "collation_list",
    "function_list",
    "pragma_list",
    "compile_options",
];

/// Functions that reach outside the statement (load code, register tokenizers, touch files).
const REFUSED_FUNCTIONS: &[&str] =
    &["load_extension", "fts3_tokenizer", "readfile", "writefile", "edit", "sqlite_dbpage"];

/// The longest string or BLOB a console statement may build (`zeroblob(1e9)` would be 1 GB).
const MAX_VALUE_BYTES: i32 = 16 << 20;

/// The longest statement the console accepts.
const MAX_STATEMENT_BYTES: i32 = 100_000;

/// Virtual machine instructions between two looks at the clock.
const PROGRESS_STEPS: i32 = 1_000;

fn refused(message: impl Into<String>) -> ArchiveError {
    ArchiveError::InvalidQuery(QueryError::new(message))
}

fn hidden(table: &str) -> bool {
    HIDDEN_TABLES.iter().any(|t| t.eq_ignore_ascii_case(table))
}

/// Why the console refuses an action, or `None` when it may run.
fn refusal(action: &AuthAction<'_>) -> Option<String> {
    let read_only = "the SQL console only reads";
    Some(match action {
        AuthAction::Select | AuthAction::Recursive => return None,
        AuthAction::Read { table_name, .. } if hidden(table_name) => format!(
            "the table {table_name} holds sign-in data or the access log and is not open to the \
             SQL console; administrators see it in the web UI"
        ),
        AuthAction::Read { .. } => return None,
        AuthAction::Function { function_name } => {
            if REFUSED_FUNCTIONS.iter().any(|f| f.eq_ignore_ascii_case(function_name)) {
                format!("the function {function_name}() is not available in the SQL console")
            } else {
                return None;
            }
        }
        AuthAction::Pragma { pragma_name, pragma_value } => {
            let describing = DESCRIBING_PRAGMAS.iter().any(|p| p.eq_ignore_ascii_case(pragma_name));
            match (describing, pragma_value) {
                (true, _) => return None,
                (false, Some(value)) => format!(
                    "{read_only}: PRAGMA {pragma_name} = {value} is refused; the console allows \
                     only pragmas that describe the schema ({})",
                    DESCRIBING_PRAGMAS.join(", ")
                ),
                (false, None) => format!(
                    "PRAGMA {pragma_name} is not available in the SQL console; it allows only \
                     pragmas that describe the schema ({})",
                    DESCRIBING_PRAGMAS.join(", ")
                ),
            }
        }
        // SQLite asks about its schema table first when a statement would change the schema.
        AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
            if table_name.starts_with("sqlite_") =>
        {
            format!(
                "{read_only}: creating, changing or dropping tables, indexes, views or triggers \
                 is refused"
            )
        }
        AuthAction::Insert { table_name } => {
            format!("{read_only}: INSERT INTO {table_name} is refused")
        }
        AuthAction::Update { table_name, .. } => {
            format!("{read_only}: UPDATE {table_name} is refused")
        }
        AuthAction::Delete { table_name } => {
            format!("{read_only}: DELETE FROM {table_name} is refused")
        }
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
            format!("{read_only} this archive: ATTACH and DETACH are refused")
        }
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            format!("{read_only}, one statement at a time: transactions and savepoints are refused")
        }
        AuthAction::CreateTable { table_name } | AuthAction::CreateTempTable { table_name } => {
            format!("{read_only}: CREATE TABLE {table_name} is refused")
        }
        AuthAction::DropTable { table_name } | AuthAction::DropTempTable { table_name } => {
            format!("{read_only}: DROP TABLE {table_name} is refused")
        }
        AuthAction::AlterTable { table_name, .. } => {
            format!("{read_only}: ALTER TABLE {table_name} is refused")
        }
        AuthAction::CreateIndex { index_name, .. }
        | AuthAction::CreateTempIndex { index_name, .. } => {
            format!("{read_only}: CREATE INDEX {index_name} is refused")
        }
        AuthAction::Reindex { .. } => format!("{read_only}: REINDEX is refused"),
        AuthAction::Analyze { .. } => format!("{read_only}: ANALYZE is refused"),
        _ => format!("{read_only}: this kind of statement is refused; write a SELECT"),
    })
}

/// Opens the console's own connection, read-only with every guard in place.
fn open(path: &Path, busy_timeout: std::time::Duration) -> Result<Connection, ArchiveError> {
    let fail = failed("opening the archive for the SQL console");
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&fail)?;
    conn.busy_timeout(busy_timeout).map_err(&fail)?;
    conn.pragma_update(None, "query_only", true).map_err(&fail)?;
    // Large sorts go to temporary files, not to memory.
    conn.pragma_update(None, "temp_store", "FILE").map_err(&fail)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true).map_err(&fail)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false).map_err(&fail)?;
    conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES).map_err(&fail)?;
    conn.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, MAX_STATEMENT_BYTES).map_err(&fail)?;
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0).map_err(&fail)?;
    Ok(conn)
}

/// A cell as JSON.
fn cell(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(r) => {
            Number::from_f64(r).map_or_else(|| Value::from(r.to_string()), Value::Number)
        }
        ValueRef::Text(text) => Value::from(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(bytes) => {
            Value::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
        }
    }
}

/// What a failure of the user's statement means to the user.
fn statement_error(
    error: rusqlite::Error,
    refusal: Option<String>,
    timed_out: bool,
    limits: &SqlLimits,
) -> ArchiveError {
    if let Some(refusal) = refusal {
        return refused(refusal);
    }
    if timed_out {
        return refused(format!(
            "the statement ran longer than the console's limit of {} ms and was stopped; narrow \
             it (a time range, a LIMIT, an indexed column) and retry",
            limits.timeout.as_millis()
        ));
    }
    match error {
        rusqlite::Error::MultipleStatement => {
            return refused(
                "the SQL console runs one statement at a time; remove everything after the \
                 first `;`",
            );
        }
        rusqlite::Error::SqlInputError { msg, offset, .. } => {
            return refused(format!("{msg} (at character {offset} of the statement)"));
        }
        _ => {}
    }
    match error.sqlite_error_code() {
        // The statement's own mistakes: syntax, unknown names, types, size limits.
        Some(
            ErrorCode::Unknown
            | ErrorCode::TooBig
            | ErrorCode::AuthorizationForStatementDenied
            | ErrorCode::ReadOnly
            | ErrorCode::ConstraintViolation
            | ErrorCode::TypeMismatch
            | ErrorCode::ParameterOutOfRange
            | ErrorCode::OperationInterrupted,
        ) => refused(match error {
            rusqlite::Error::SqliteFailure(_, Some(message)) => message,
            other => other.to_string(),
        }),
        _ => storage_error("running an SQL console statement", error),
    }
}

/// Runs one statement under `limits` (on a blocking thread).
fn run(
    path: &Path,
    busy_timeout: std::time::Duration,
    statement: &str,
    limits: SqlLimits,
) -> Result<SqlResult, ArchiveError> {
    if statement.trim().trim_end_matches(';').trim().is_empty() {
        return Err(refused("the statement is empty; write a SELECT"));
    }
    let mut conn = open(path, busy_timeout)?;
    let why: Arc<Mutex<Option<String>>> = Arc::default();
    let told = why.clone();
    conn.authorizer(Some(move |context: AuthContext<'_>| match refusal(&context.action) {
        None => Authorization::Allow,
        Some(reason) => {
            let mut first = told.lock().unwrap_or_else(PoisonError::into_inner);
            first.get_or_insert(reason);
            Authorization::Deny
        }
    }))
    .map_err(failed("guarding the SQL console"))?;
    let deadline = Instant::now() + limits.timeout;
    let timed_out = Arc::new(AtomicBool::new(false));
    let late = timed_out.clone();
    conn.progress_handler(
        PROGRESS_STEPS,
        Some(move || {
            let stop = Instant::now() >= deadline;
            if stop {
                late.store(true, Ordering::Relaxed);
            }
            stop
        }),
    )
    .map_err(failed("guarding the SQL console"))?;
    let fail = |error| {
        let refusal = why.lock().unwrap_or_else(PoisonError::into_inner).take();
        statement_error(error, refusal, timed_out.load(Ordering::Relaxed), &limits)
    };

    let mut prepared = conn.prepare(statement).map_err(fail)?;
    if !prepared.readonly() {
        return Err(refused(
            "the SQL console only reads: this statement would change the archive (or write a \
             copy of it) and is refused; write a SELECT",
        ));
    }
    if prepared.parameter_count() > 0 {
        return Err(refused(
            "the SQL console takes no parameters; write the values into the statement",
        ));
    }
    let columns: Vec<String> = prepared.column_names().map(String::from).collect();
    let width = columns.len();
    if width == 0 {
        return Err(refused("the statement returns nothing to show; write a SELECT"));
    }
    let mut rows = prepared.raw_query();
    let mut result = SqlResult { columns, rows: Vec::new(), truncated: false };
    while let Some(row) = rows.next().map_err(fail)? {
        if result.rows.len() >= limits.max_rows as usize {
            result.truncated = true;
            break;
        }
        let cells = (0..width).map(|i| row.get_ref(i).map(cell)).collect::<Result<_, _>>();
        result.rows.push(cells.map_err(fail)?);
    }
    Ok(result)
}

/// The tables the console may read and their columns.
fn schema(conn: &Connection) -> Result<Vec<(String, Vec<String>)>, ArchiveError> {
    let fail = failed("listing the archive's tables");
    let tables: Vec<String> = conn
        .prepare_cached(
            "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )
        .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
        .map_err(&fail)?;
    let mut columns = conn
        .prepare_cached("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
        .map_err(&fail)?;
    tables
        .into_iter()
        .filter(|table| !hidden(table))
        .map(|table| {
            let names = columns
                .query_map([&table], |row| row.get(0))
                .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
                .map_err(&fail)?;
            Ok((table, names))
        })
        .collect()
}

#[async_trait]
impl SqlConsole for SqliteArchive {
    async fn run_sql(&self, statement: &str, limits: SqlLimits) -> Result<SqlResult, ArchiveError> {
        let permit =
            self.shared.reader_permits.clone().acquire_owned().await.map_err(|_| {
                ArchiveError::Unavailable { message: "the archive is closing".into() }
            })?;
        let path = self.shared.path.clone();
        let busy_timeout = self.shared.options.busy_timeout;
        let statement = statement.to_string();
        tokio::task::spawn_blocking(move || {
            let result = run(&path, busy_timeout, &statement, limits);
            drop(permit);
            result
        })
        .await
        .map_err(|e| ArchiveError::Storage {
            doing: "running an SQL console statement".into(),
            message: e.to_string(),
        })?
    }

    async fn sql_schema(&self) -> Result<Vec<(String, Vec<String>)>, ArchiveError> {
        self.read(|conn, _| schema(conn)).await
    }
}
