//! The read-only SQL console ([`archive::SqlConsole`]): an auditor's statement runs on a
//! connection of its own, in a `READ ONLY` transaction that is always rolled back, as the role
//! `d365audit_console` (SELECT on the record, queue and evidence tables only; see
//! `sql/console_role.sql`), with `SET LOCAL statement_timeout` and a row limit.
//!
//! Layers, each enough against a different mistake:
//! 1. [`screen`] reads the statement first: one statement, starting with `SELECT`, `WITH`,
//!    `VALUES`, `TABLE`, `EXPLAIN` or `SHOW` (so no `SET`, `RESET`, `COPY`, `DO`, `CALL`,
//!    `LOCK`, `PREPARE`, `LISTEN`, ...), no row locks (`FOR UPDATE` / `FOR SHARE`), no
//!    functions that change the session or reach outside the statement (`set_config`, advisory
//!    locks, signalling backends, reading server files, running SQL from a string, large
//!    objects, sequences), no Unicode-escaped names that could hide one of them.
//! 2. The transaction is `READ ONLY`: PostgreSQL refuses INSERT, UPDATE, DELETE, MERGE, DDL,
//!    GRANT, TRUNCATE, `nextval`, ..., also inside a `WITH` or `EXPLAIN ANALYZE`.
//! 3. The role owns nothing and may only read: even a write PostgreSQL would allow in a
//!    read-only transaction (a temporary table) is refused, and so are the accounts,
//!    sessions, API tokens and access log. Without the role (the archive's user may not
//!    create roles), the statement runs as the archive's user, with layers 1 and 2.
//! 4. `statement_timeout` stops a statement at the time limit (a wall-clock guard closes the
//!    connection if the server does not answer); the rows are fetched through a portal
//!    limited to `max_rows + 1`, so a huge result is never materialized here.
//!
//! Cells become JSON: text as strings, integers and decimals as numbers, booleans, null,
//! timestamps as RFC 3339 (UTC), dates and times in ISO 8601, bytea as hex, UUIDs, JSON and
//! network addresses as strings, arrays as arrays; any other type says to cast it to text.

use std::error::Error;
use std::time::Duration;

use archive::query::QueryError;
use archive::{ArchiveError, SqlLimits, SqlResult};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use serde_json::{Number, Value};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, Kind, Type};

use crate::database_url::DatabaseUrl;
use crate::failure::{failed, storage_error};

/// The console's role (created by `sql/console_role.sql`).
pub(crate) const CONSOLE_ROLE: &str = "d365audit_console";

/// Whether the console role exists and the archive's user may take it.
const ROLE_USABLE: &str = "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles \
    WHERE rolname = 'd365audit_console') THEN pg_has_role(current_user, 'd365audit_console', \
    'MEMBER') ELSE false END";

/// Statements may start with these words only.
const FIRST_WORDS: &[&str] = &["select", "with", "values", "table", "explain", "show"];

/// Functions refused by name: they change the session beyond the transaction, act outside
/// it, read server files, or run SQL from a string (which the screen could not read).
const REFUSED_FUNCTIONS: &[&str] = &[
    "set_config",
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
    "schema_to_xml",
    "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml",
    "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
    "ts_stat",
    "nextval",
    "setval",
    "txid_current",
    "pg_current_xact_id",
    "pg_notify",
    "pg_export_snapshot",
    "pg_start_backup",
    "pg_stop_backup",
];

/// Function name prefixes refused for the same reasons.
const REFUSED_PREFIXES: &[&str] = &[
    "pg_advisory",
    "pg_try_advisory",
    "pg_terminate",
    "pg_cancel",
    "pg_reload",
    "pg_rotate",
    "pg_read_",
    "pg_ls_",
    "pg_stat_file",
    "pg_stat_reset",
    "pg_switch_",
    "pg_promote",
    "pg_create_",
    "pg_drop_",
    "pg_replication_",
    "pg_logical_",
    "pg_file_",
    "pg_import_",
    "pg_log_",
    "pg_wal_replay_",
    "pg_backup_",
    "lo_",
    "dblink",
];

fn invalid(message: impl Into<String>) -> ArchiveError {
    ArchiveError::InvalidQuery(QueryError::new(message))
}

/// One lexical token of a statement, as far as the screen needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A keyword or name: unquoted ones in lower case, quoted ones as written.
    Word(String),
    /// A string or number literal (its content does not matter).
    Literal,
    /// `;`
    Semicolon,
    /// A positional parameter (`$1`).
    Parameter,
    /// Any other punctuation or operator character.
    Symbol(char),
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || !c.is_ascii()
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
}

/// Splits a statement into tokens, skipping comments and the contents of literals.
fn tokens(sql: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied();
    while let Some(c) = at(i) {
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && at(i + 1) == Some('-') {
            while at(i).is_some_and(|c| c != '\n') {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == Some('*') {
            // Block comments nest in PostgreSQL.
            let mut depth = 0usize;
            loop {
                match (at(i), at(i + 1)) {
                    (Some('/'), Some('*')) => {
                        depth += 1;
                        i += 2;
                    }
                    (Some('*'), Some('/')) => {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    }
                    (Some(_), _) => i += 1,
                    (None, _) => return Err("a /* comment is not closed".into()),
                }
            }
        } else if c == '\'' {
            i = skip_string(&chars, i + 1, false)?;
            out.push(Token::Literal);
        } else if c == '"' {
            let (name, next) = quoted_name(&chars, i + 1)?;
            out.push(Token::Word(name));
            i = next;
        } else if c == '$' && at(i + 1).is_some_and(|c| c.is_ascii_digit()) {
            out.push(Token::Parameter);
            i += 1;
            while at(i).is_some_and(|c| c.is_ascii_digit()) {
                i += 1;
            }
        } else if c == '$' {
            i = skip_dollar_quoted(&chars, i)?;
            out.push(Token::Literal);
        } else if is_word_start(c) {
            let start = i;
            while at(i).is_some_and(is_word_char) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect::<String>().to_ascii_lowercase();
            match (word.as_str(), at(i)) {
                ("u", Some('&')) if matches!(at(i + 1), Some('\'' | '"')) => {
                    return Err("Unicode escapes (U&'...', U&\"...\") are not accepted here; \
                                write the characters themselves"
                        .into());
                }
                ("e", Some('\'')) => {
                    i = skip_string(&chars, i + 1, true)?;
                    out.push(Token::Literal);
                }
                ("b" | "x" | "n", Some('\'')) => {
                    i = skip_string(&chars, i + 1, false)?;
                    out.push(Token::Literal);
                }
                _ => out.push(Token::Word(word)),
            }
        } else if c.is_ascii_digit() || (c == '.' && at(i + 1).is_some_and(|c| c.is_ascii_digit()))
        {
            while at(i).is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') {
                i += 1;
            }
            out.push(Token::Literal);
        } else if c == ';' {
            out.push(Token::Semicolon);
            i += 1;
        } else {
            out.push(Token::Symbol(c));
            i += 1;
        }
    }
    Ok(out)
}

/// The index after a string literal whose content starts at `i`.
fn skip_string(chars: &[char], mut i: usize, backslash_escapes: bool) -> Result<usize, String> {
    loop {
        match chars.get(i) {
            None => return Err("a string literal ('...') is not closed".into()),
            Some('\\') if backslash_escapes => i += 2,
            Some('\'') if chars.get(i + 1) == Some(&'\'') => i += 2,
            Some('\'') => return Ok(i + 1),
            Some(_) => i += 1,
        }
    }
}

/// A quoted identifier whose content starts at `i`, and the index after it.
fn quoted_name(chars: &[char], mut i: usize) -> Result<(String, usize), String> {
    let mut name = String::new();
    loop {
        match chars.get(i) {
            None => return Err("a quoted name (\"...\") is not closed".into()),
            Some('"') if chars.get(i + 1) == Some(&'"') => {
                name.push('"');
                i += 2;
            }
            Some('"') => return Ok((name, i + 1)),
            Some(c) => {
                name.push(*c);
                i += 1;
            }
        }
    }
}

/// The index after a dollar-quoted string starting at `start` (`$tag$...$tag$`), or after a
/// lone `$` that starts none.
fn skip_dollar_quoted(chars: &[char], start: usize) -> Result<usize, String> {
    let mut i = start + 1;
    while chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || !c.is_ascii()) {
        i += 1;
    }
    if chars.get(i) != Some(&'$') {
        return Ok(start + 1);
    }
    let tag = &chars[start..=i];
    let mut j = i + 1;
    while j + tag.len() <= chars.len() {
        if &chars[j..j + tag.len()] == tag {
            return Ok(j + tag.len());
        }
        j += 1;
    }
    Err("a dollar-quoted string ($$...$$) is not closed".into())
}

fn refused_function(word: &str) -> bool {
    let word = word.to_ascii_lowercase();
    REFUSED_FUNCTIONS.contains(&word.as_str())
        || REFUSED_PREFIXES.iter().any(|prefix| word.starts_with(prefix))
}

/// Refuses, with a message saying what to change, a statement the console does not run.
pub(crate) fn screen(statement: &str) -> Result<(), String> {
    let tokens = tokens(statement)?;
    let mut body: &[Token] = &tokens;
    while let Some((Token::Semicolon, rest)) = body.split_last() {
        body = rest;
    }
    if body.is_empty() {
        return Err("write a SELECT statement".into());
    }
    if body.contains(&Token::Semicolon) {
        return Err("the console runs one statement at a time: remove the `;` and what follows \
                    it"
        .into());
    }
    if body.contains(&Token::Parameter) {
        return Err("the statement has parameters ($1, ...): write the values in instead".into());
    }
    let first = body.iter().find(|t| !matches!(t, Token::Symbol('(')));
    match first {
        Some(Token::Word(word)) if FIRST_WORDS.contains(&word.as_str()) => {}
        Some(Token::Word(word)) => {
            return Err(format!(
                "the SQL console is read-only and runs queries only (SELECT, WITH, VALUES, \
                 TABLE, EXPLAIN, SHOW); `{}` is not one",
                word.to_uppercase()
            ));
        }
        _ => return Err("start the statement with SELECT".into()),
    }
    for (i, token) in body.iter().enumerate() {
        let Token::Word(word) = token else { continue };
        if refused_function(word) {
            return Err(format!(
                "`{word}` is not available in the SQL console (it acts beyond one read-only \
                 query)"
            ));
        }
        if word == "for"
            && let Some(Token::Word(next)) = body.get(i + 1)
            && matches!(next.as_str(), "update" | "share" | "no" | "key")
        {
            return Err("the SQL console takes no row locks (FOR UPDATE / FOR SHARE): remove \
                        the locking clause"
                .into());
        }
    }
    Ok(())
}

/// Maps a failure of the statement itself to a message the auditor can act on.
fn statement_error(error: &tokio_postgres::Error, limits: SqlLimits) -> ArchiveError {
    let Some(db) = error.as_db_error() else {
        return storage_error("running an SQL console statement", error);
    };
    let code = db.code();
    let message = db.message();
    if *code == SqlState::QUERY_CANCELED {
        return invalid(format!(
            "the statement ran longer than the {} limit and was stopped; narrow it (a WHERE on \
             time, a LIMIT)",
            shown_duration(limits.timeout)
        ));
    }
    if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
        return invalid(format!(
            "the SQL console is read-only: {message}; it runs queries only (SELECT)"
        ));
    }
    if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        return invalid(format!(
            "the SQL console may not do that: {message}; it reads the archive's record, queue \
             and evidence tables (see the schema list)"
        ));
    }
    if *code == SqlState::SYNTAX_ERROR && message.contains("multiple commands") {
        return invalid(
            "the console runs one statement at a time: remove the `;` and what follows it",
        );
    }
    if *code == SqlState::LOCK_NOT_AVAILABLE {
        return invalid(format!(
            "the statement waited longer than the {} limit for a lock and was stopped",
            shown_duration(limits.timeout)
        ));
    }
    let mut text = message.to_string();
    if let Some(hint) = db.hint() {
        text.push_str(&format!(" ({hint})"));
    }
    if let Some(tokio_postgres::error::ErrorPosition::Original(at)) = db.position() {
        text.push_str(&format!(" at character {at}"));
    }
    invalid(text)
}

fn shown_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

/// Runs one console statement on a connection of its own.
pub(crate) async fn run(
    url: &DatabaseUrl,
    statement: &str,
    limits: SqlLimits,
) -> Result<SqlResult, ArchiveError> {
    screen(statement).map_err(invalid)?;
    // The server stops the statement itself; this guard covers a server that does not answer.
    let guard = limits.timeout + Duration::from_secs(5);
    match tokio::time::timeout(guard, run_screened(url, statement, limits)).await {
        Ok(result) => result,
        Err(_) => Err(ArchiveError::Unavailable {
            message: format!(
                "the database did not answer within {} (the statement limit is {}); retry",
                shown_duration(guard),
                shown_duration(limits.timeout)
            ),
        }),
    }
}

async fn run_screened(
    url: &DatabaseUrl,
    statement: &str,
    limits: SqlLimits,
) -> Result<SqlResult, ArchiveError> {
    let fail = failed("preparing the SQL console");
    let mut client = crate::connect_once(url).await?;
    let tx = client.build_transaction().read_only(true).start().await.map_err(&fail)?;
    let timeout_ms = limits.timeout.as_millis().clamp(1, i32::MAX as u128);
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {timeout_ms}; \
         SET LOCAL lock_timeout = {timeout_ms}; \
         SET LOCAL idle_in_transaction_session_timeout = {}; \
         SET LOCAL search_path = d365audit, pg_catalog; \
         SET LOCAL TimeZone = 'UTC'; \
         SET LOCAL standard_conforming_strings = on; \
         SET LOCAL bytea_output = 'hex';",
        timeout_ms.saturating_add(10_000).min(i32::MAX as u128)
    ))
    .await
    .map_err(&fail)?;
    let usable: bool = tx.query_one(ROLE_USABLE, &[]).await.map_err(&fail)?.get(0);
    if usable {
        tx.batch_execute("SAVEPOINT console_role").await.map_err(&fail)?;
        match tx.batch_execute(&format!("SET LOCAL ROLE {CONSOLE_ROLE}")).await {
            Ok(()) => tx.batch_execute("RELEASE SAVEPOINT console_role").await.map_err(&fail)?,
            Err(error) => {
                tracing::warn!(%error, "the SQL console cannot take its role; it runs as the \
                    archive's user (still read-only)");
                tx.batch_execute("ROLLBACK TO SAVEPOINT console_role").await.map_err(&fail)?;
            }
        }
    } else {
        tracing::debug!("no usable d365audit_console role; the console runs as the archive's user");
    }

    let prepared = tx.prepare(statement).await.map_err(|e| statement_error(&e, limits))?;
    if !prepared.params().is_empty() {
        return Err(invalid("the statement has parameters ($1, ...): write the values in instead"));
    }
    let columns: Vec<String> = prepared.columns().iter().map(|c| c.name().to_string()).collect();
    let portal = tx.bind(&prepared, &[]).await.map_err(|e| statement_error(&e, limits))?;
    let max_rows = limits.max_rows as usize;
    let fetch = i32::try_from(limits.max_rows).unwrap_or(i32::MAX - 1).saturating_add(1);
    let rows = tx.query_portal(&portal, fetch).await.map_err(|e| statement_error(&e, limits))?;
    let truncated = rows.len() > max_rows;
    let mut out = Vec::with_capacity(rows.len().min(max_rows));
    for row in rows.iter().take(max_rows) {
        let mut cells = Vec::with_capacity(row.len());
        for i in 0..row.len() {
            let Cell(value) = row.try_get(i).map_err(|e| ArchiveError::Storage {
                doing: "reading an SQL console result".into(),
                message: format!("column {}: {e}", columns.get(i).map_or("?", String::as_str)),
            })?;
            cells.push(value);
        }
        out.push(cells);
    }
    // Nothing the statement did survives, whatever it was.
    tx.rollback().await.map_err(&fail)?;
    Ok(SqlResult { columns, rows: out, truncated })
}

/// Lists the tables (partitioned parents, not their partitions) and their columns that the
/// console may read.
pub(crate) async fn schema(
    client: &tokio_postgres::Client,
) -> Result<Vec<(String, Vec<String>)>, ArchiveError> {
    let fail = failed("listing the archive's tables");
    let usable: bool = client.query_one(ROLE_USABLE, &[]).await.map_err(&fail)?.get(0);
    let rows = client
        .query(
            "SELECT c.relname::text, array_agg(a.attname::text ORDER BY a.attnum) \
             FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE n.nspname = 'd365audit' AND c.relkind IN ('r', 'p', 'v', 'm') \
               AND NOT c.relispartition \
               AND CASE WHEN $1 THEN has_table_privilege('d365audit_console', c.oid, 'SELECT') \
                   ELSE true END \
             GROUP BY c.relname ORDER BY c.relname",
            &[&usable],
        )
        .await
        .map_err(&fail)?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// One cell of a console result as JSON, decoded from any column type.
#[derive(Debug)]
struct Cell(Value);

type DecodeError = Box<dyn Error + Sync + Send>;

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, DecodeError> {
        cell_json(ty, raw).map(Cell)
    }

    fn from_sql_null(_: &Type) -> Result<Self, DecodeError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn float(value: f64) -> Value {
    Number::from_f64(value).map_or_else(|| Value::String(value.to_string()), Value::Number)
}

fn cell_json(ty: &Type, raw: &[u8]) -> Result<Value, DecodeError> {
    Ok(match *ty {
        Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
        Type::INT2 => Value::from(i16::from_sql(ty, raw)?),
        Type::INT4 => Value::from(i32::from_sql(ty, raw)?),
        Type::INT8 => Value::from(i64::from_sql(ty, raw)?),
        Type::OID | Type::XID | Type::CID => Value::from(u32::from_sql(&Type::OID, raw)?),
        Type::FLOAT4 => float(f64::from(f32::from_sql(ty, raw)?)),
        Type::FLOAT8 => float(f64::from_sql(ty, raw)?),
        Type::NUMERIC => numeric(raw)?,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            Value::String(std::str::from_utf8(raw)?.to_string())
        }
        Type::CHAR => Value::String(char::from(i8::from_sql(ty, raw)? as u8).to_string()),
        Type::UUID => Value::String(uuid::Uuid::from_sql(ty, raw)?.to_string()),
        Type::TIMESTAMPTZ => match special_time(raw)? {
            Some(special) => Value::String(special.into()),
            None => Value::String(
                DateTime::<Utc>::from_sql(ty, raw)?.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ),
        },
        Type::TIMESTAMP => match special_time(raw)? {
            Some(special) => Value::String(special.into()),
            None => Value::String(
                NaiveDateTime::from_sql(ty, raw)?.format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
            ),
        },
        Type::DATE => match i32::from_sql(&Type::INT4, raw)? {
            i32::MAX => Value::String("infinity".into()),
            i32::MIN => Value::String("-infinity".into()),
            _ => Value::String(NaiveDate::from_sql(ty, raw)?.format("%Y-%m-%d").to_string()),
        },
        Type::TIME => {
            Value::String(NaiveTime::from_sql(ty, raw)?.format("%H:%M:%S%.f").to_string())
        }
        Type::INTERVAL => Value::String(interval(raw)?),
        Type::BYTEA => Value::String(hex(raw)),
        Type::JSON | Type::JSONB => Value::String(Value::from_sql(ty, raw)?.to_string()),
        Type::INET | Type::CIDR => Value::String(network(raw)?),
        Type::VOID => Value::Null,
        _ => match ty.kind() {
            Kind::Array(_) => match Vec::<Option<Cell>>::from_sql(ty, raw) {
                Ok(items) => Value::Array(
                    items.into_iter().map(|c| c.map_or(Value::Null, |Cell(v)| v)).collect(),
                ),
                Err(_) => cast_hint(ty),
            },
            Kind::Enum(_) => Value::String(std::str::from_utf8(raw)?.to_string()),
            Kind::Domain(inner) => cell_json(inner, raw)?,
            _ if ty.name() == "citext" => Value::String(std::str::from_utf8(raw)?.to_string()),
            _ => cast_hint(ty),
        },
    })
}

fn cast_hint(ty: &Type) -> Value {
    Value::String(format!(
        "({} value: cast the column to text to see it, e.g. col::text)",
        ty.name()
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `infinity` / `-infinity` for the special timestamp values.
fn special_time(raw: &[u8]) -> Result<Option<&'static str>, DecodeError> {
    Ok(match i64::from_sql(&Type::INT8, raw)? {
        i64::MAX => Some("infinity"),
        i64::MIN => Some("-infinity"),
        _ => None,
    })
}

fn take<const N: usize>(raw: &mut &[u8]) -> Result<[u8; N], DecodeError> {
    if raw.len() < N {
        return Err("a value is shorter than its type says".into());
    }
    let (head, rest) = raw.split_at(N);
    *raw = rest;
    Ok(head.try_into()?)
}

/// A `numeric` from its binary form: a number when it is one, else `NaN` / `Infinity` text.
fn numeric(mut raw: &[u8]) -> Result<Value, DecodeError> {
    let count = i16::from_be_bytes(take(&mut raw)?);
    let weight = i16::from_be_bytes(take(&mut raw)?);
    let sign = u16::from_be_bytes(take(&mut raw)?);
    let scale = u16::from_be_bytes(take(&mut raw)?);
    match sign {
        0xC000 => return Ok(Value::String("NaN".into())),
        0xD000 => return Ok(Value::String("Infinity".into())),
        0xF000 => return Ok(Value::String("-Infinity".into())),
        _ => {}
    }
    let mut digits = Vec::with_capacity(count.max(0) as usize);
    for _ in 0..count.max(0) {
        digits.push(u16::from_be_bytes(take(&mut raw)?));
    }
    let text = numeric_text(sign == 0x4000, weight, scale, &digits);
    Ok(if scale == 0 {
        text.parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<u64>().map(Value::from))
            .unwrap_or_else(|_| text.parse::<f64>().map_or(Value::String(text.clone()), float))
    } else {
        text.parse::<f64>().map_or(Value::String(text.clone()), float)
    })
}

/// The decimal text of a numeric: base-10000 `digits`, the first at `10000^weight`.
fn numeric_text(negative: bool, weight: i16, scale: u16, digits: &[u16]) -> String {
    let digit = |index: i32| -> u16 {
        usize::try_from(index).ok().and_then(|i| digits.get(i)).copied().unwrap_or(0)
    };
    let mut text = String::new();
    if negative {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        text.push_str(&digit(0).to_string());
        for index in 1..=i32::from(weight) {
            text.push_str(&format!("{:04}", digit(index)));
        }
    }
    if scale > 0 {
        let mut fraction = String::new();
        let mut index = i32::from(weight) + 1;
        while fraction.len() < usize::from(scale) {
            fraction.push_str(&format!("{:04}", digit(index)));
            index += 1;
        }
        fraction.truncate(usize::from(scale));
        text.push('.');
        text.push_str(&fraction);
    }
    if text == "-0" || (negative && text.trim_start_matches(['-', '0', '.']).is_empty()) {
        text.remove(0);
    }
    text
}

/// An `interval` as an ISO 8601 duration (`P1Y2M3DT4H5M6.5S`).
fn interval(mut raw: &[u8]) -> Result<String, DecodeError> {
    let micros = i64::from_be_bytes(take(&mut raw)?);
    let days = i32::from_be_bytes(take(&mut raw)?);
    let months = i32::from_be_bytes(take(&mut raw)?);
    let mut text = String::from("P");
    let (years, months) = (months / 12, months % 12);
    for (value, unit) in [(years, 'Y'), (months, 'M'), (days, 'D')] {
        if value != 0 {
            text.push_str(&format!("{value}{unit}"));
        }
    }
    if micros != 0 {
        text.push('T');
        let hours = micros / 3_600_000_000;
        let minutes = (micros % 3_600_000_000) / 60_000_000;
        let seconds = micros % 60_000_000;
        if hours != 0 {
            text.push_str(&format!("{hours}H"));
        }
        if minutes != 0 {
            text.push_str(&format!("{minutes}M"));
        }
        if seconds != 0 {
            let sign = if seconds < 0 { "-" } else { "" };
            let (whole, fraction) = (seconds.abs() / 1_000_000, seconds.abs() % 1_000_000);
            if fraction == 0 {
                text.push_str(&format!("{sign}{whole}S"));
            } else {
                let fraction = format!("{fraction:06}");
                text.push_str(&format!("{sign}{whole}.{}S", fraction.trim_end_matches('0')));
            }
        }
    }
    if text == "P" {
        text.push_str("T0S");
    }
    Ok(text)
}

/// An `inet` / `cidr` as text: the address, with `/bits` unless it is a single host.
fn network(mut raw: &[u8]) -> Result<String, DecodeError> {
    let [family, bits, is_cidr, length] = take::<4>(&mut raw)?;
    let address = match (family, length) {
        (2, 4) => std::net::IpAddr::from(take::<4>(&mut raw)?),
        (3, 16) => std::net::IpAddr::from(take::<16>(&mut raw)?),
        _ => return Err("an unknown network address family".into()),
    };
    let host_bits = if address.is_ipv4() { 32 } else { 128 };
    Ok(if is_cidr == 1 || bits != host_bits {
        format!("{address}/{bits}")
    } else {
        address.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(statement: &str) -> String {
        match screen(statement) {
            Err(message) => message,
            Ok(()) => panic!("{statement} should be refused"),
        }
    }

    #[test]
    fn queries_pass_the_screen() {
        for statement in [
            "SELECT count(*) FROM records",
            "  select 1;  ",
            "WITH t AS (SELECT 1) SELECT * FROM t",
            "(SELECT 1) UNION (SELECT 2)",
            "VALUES (1), (2)",
            "TABLE seals",
            "EXPLAIN SELECT * FROM records",
            "SHOW TimeZone",
            "SELECT 'set_config(''role'', ''postgres'', true); DELETE FROM records'",
            "SELECT $tag$ ; set_config $tag$, $$;$$",
            "SELECT E'\\' ; pg_advisory_lock(1)'",
            "-- set_config\nSELECT 1 /* DELETE; /* nested */ pg_terminate_backend */",
            "SELECT substring(user_name FROM 2 FOR 3) FROM records",
            "SELECT \"for\" FROM (SELECT 1 AS \"for\") AS t",
        ] {
            assert_eq!(screen(statement), Ok(()), "{statement}");
        }
    }

    #[test]
    fn writes_and_session_changes_are_refused_with_a_reason() {
        for (statement, says) in [
            ("DELETE FROM records", "`DELETE` is not one"),
            ("insert into records default values", "`INSERT` is not one"),
            ("UPDATE records SET seq = 0", "`UPDATE` is not one"),
            ("DROP TABLE records", "`DROP` is not one"),
            ("CREATE TABLE x (a int)", "`CREATE` is not one"),
            ("TRUNCATE records", "`TRUNCATE` is not one"),
            ("SET statement_timeout = 0", "`SET` is not one"),
            ("RESET ROLE", "`RESET` is not one"),
            ("COPY records TO '/tmp/x'", "`COPY` is not one"),
            ("DO $$ BEGIN END $$", "`DO` is not one"),
            ("CALL p()", "`CALL` is not one"),
            ("LOCK records", "`LOCK` is not one"),
            ("SELECT 1; DELETE FROM records", "one statement at a time"),
            ("SELECT set_config('role', 'postgres', true)", "`set_config`"),
            ("SELECT pg_catalog.\"set_config\"('a', 'b', true)", "`set_config`"),
            ("SELECT pg_advisory_lock(1)", "`pg_advisory_lock`"),
            ("SELECT PG_TERMINATE_BACKEND(1)", "`pg_terminate_backend`"),
            ("SELECT pg_read_file('/etc/passwd')", "`pg_read_file`"),
            ("SELECT query_to_xml('delete from records', true, true, '')", "`query_to_xml`"),
            ("SELECT nextval('record_seq')", "`nextval`"),
            ("SELECT lo_import('/etc/passwd')", "`lo_import`"),
            ("SELECT * FROM records FOR UPDATE", "row locks"),
            ("SELECT * FROM seals FOR NO KEY UPDATE", "row locks"),
            ("SELECT U&\"\\0073et_config\"('a','b',true)", "Unicode escapes"),
            ("SELECT $1", "parameters"),
            ("", "write a SELECT"),
            (" -- nothing\n ; ", "write a SELECT"),
            ("SELECT 'open", "not closed"),
            ("SELECT 1 /* open", "not closed"),
        ] {
            let message = refused(statement);
            assert!(message.contains(says), "{statement}: {message}");
        }
    }

    #[test]
    fn numerics_decode_to_their_decimal_text() {
        assert_eq!(numeric_text(false, 0, 0, &[42]), "42");
        assert_eq!(numeric_text(false, 1, 0, &[1, 2]), "10002");
        assert_eq!(numeric_text(true, 0, 2, &[3, 1400]), "-3.14");
        assert_eq!(numeric_text(false, -1, 5, &[12]), "0.00120");
        assert_eq!(numeric_text(false, -2, 6, &[5]), "0.000000");
        assert_eq!(numeric_text(false, -2, 8, &[5]), "0.00000005");
        assert_eq!(numeric_text(false, 2, 0, &[1]), "100000000");
        assert_eq!(numeric_text(false, 0, 0, &[]), "0");
    }

    #[test]
    fn intervals_are_iso_8601_durations() {
        let encode = |micros: i64, days: i32, months: i32| {
            let mut raw = micros.to_be_bytes().to_vec();
            raw.extend(days.to_be_bytes());
            raw.extend(months.to_be_bytes());
            raw
        };
        assert_eq!(interval(&encode(0, 0, 0)).ok().as_deref(), Some("PT0S"));
        assert_eq!(
            interval(&encode(4 * 3_600_000_000 + 5 * 60_000_000 + 6_500_000, 3, 14))
                .ok()
                .as_deref(),
            Some("P1Y2M3DT4H5M6.5S")
        );
        assert_eq!(interval(&encode(-1_000_000, 0, 0)).ok().as_deref(), Some("PT-1S"));
    }
}
