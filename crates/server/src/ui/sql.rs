//! The read-only SQL console for auditors: a statement runs on a connection that cannot
//! write, within a time limit and a row limit (enforced by the backend's [`SqlConsole`], with
//! a wall-clock guard here), and every statement is written to the access log.
//!
//! [`SqlConsole`]: archive::SqlConsole

use std::time::Instant;

use archive::{Role, SqlResult};
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::access_log::{self, Channel, Use};
use crate::charts::number;
use crate::error::{ErrorCode, Failure, PageError};
use crate::exports::csv_document;
use crate::principal::{Principal, UiUser};
use crate::state::ServerState;
use crate::ui::layout::{Nav, csrf_field, page};

const EXAMPLE: &str = "SELECT count(*) FROM activity";

/// Runs a statement with the configured limits, logs it, and maps failures to messages the
/// user can act on. Shared with the API.
pub async fn run_logged(
    state: &ServerState,
    principal: &Principal,
    channel: Channel,
    statement: &str,
) -> Result<(SqlResult, u128), Failure> {
    let statement = statement.trim();
    if statement.is_empty() {
        return Err(Failure::bad_request("write a SELECT statement first"));
    }
    if statement.len() > 20_000 {
        return Err(Failure::bad_request("the statement is longer than 20 000 characters"));
    }
    let limits = state.settings().sql;
    let started = Instant::now();
    let guard = limits.timeout + std::time::Duration::from_secs(2);
    let outcome = tokio::time::timeout(guard, state.backend().run_sql(statement, limits)).await;
    let elapsed = started.elapsed().as_millis();
    state.shared.counters.sql_statements.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (rows, failure) = match &outcome {
        Ok(Ok(result)) => (Some(result.rows.len() as u64), None),
        Ok(Err(error)) => (
            None,
            Some(match error {
                archive::ArchiveError::Unavailable { .. } => Failure::new(
                    ErrorCode::Unavailable,
                    "the archive is unavailable right now; retry in a moment",
                ),
                other => Failure::bad_request(format!("the statement failed: {other}")),
            }),
        ),
        Err(_) => (
            None,
            Some(Failure::new(
                ErrorCode::Timeout,
                format!(
                    "the statement ran longer than {} s and was stopped; narrow it (a WHERE on time, a LIMIT)",
                    limits.timeout.as_secs()
                ),
            )),
        ),
    };
    let detail = match &failure {
        None => statement.to_string(),
        Some(f) => format!("{statement} (failed: {})", f.message),
    };
    access_log::record(state, principal, channel, Use { action: "sql", detail, rows }).await?;
    match outcome {
        Ok(Ok(result)) => Ok((result, elapsed)),
        _ => Err(failure.unwrap_or_else(|| Failure::bad_request("the statement failed"))),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SqlForm {
    csrf: String,
    statement: String,
    /// `csv` downloads the result.
    format: String,
}

fn cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn console(
    state: &ServerState,
    principal: &Principal,
    statement: &str,
    outcome: Option<Result<(SqlResult, u128), Failure>>,
) -> Response {
    let schema = state.backend().sql_schema().await.unwrap_or_default();
    let limits = state.settings().sql;
    let status = match &outcome {
        Some(Err(f)) => f.code.status(),
        _ => StatusCode::OK,
    };
    let result: Markup = match &outcome {
        None => html! {},
        Some(Err(failure)) => {
            html! { div.notice.error #sql-error role="alert" { (failure.message) } }
        }
        Some(Ok((result, elapsed))) => html! {
            p.muted #sql-summary {
                (number(result.rows.len() as u64)) " rows in " (elapsed) " ms"
                @if result.truncated { " — cut at the row limit of " (number(u64::from(limits.max_rows))) }
            }
            div.table-scroll {
                table #sql-result {
                    thead { tr { @for c in &result.columns { th { (c) } } } }
                    tbody {
                        @for row in &result.rows {
                            tr { @for value in row { td.wrap { (cell(value)) } } }
                        }
                    }
                }
            }
        },
    };
    let body = html! {
        h1 { "SQL console" }
        p.muted {
            "Read-only: statements that write are refused. Limits: "
            (limits.timeout.as_secs()) " s and " (number(u64::from(limits.max_rows))) " rows. Every statement is recorded in the access log."
        }
        form.panel method="post" action="/sql" #sql-form {
            (csrf_field(principal))
            label for="statement" { "Statement" }
            textarea #statement name="statement" spellcheck="false" { (if statement.is_empty() { EXAMPLE } else { statement }) }
            div.actions {
                button type="submit" name="format" value="html" #run-sql { "Run" }
                button.secondary type="submit" name="format" value="csv" { "Run and download CSV" }
            }
        }
        (result)
        details.panel {
            summary { "Tables" }
            table.small #sql-schema {
                @for (table, columns) in &schema {
                    tr { td { code { (table) } } td { (columns.join(", ")) } }
                }
            }
        }
    };
    (status, page(principal, Nav::Sql, "SQL console", body)).into_response()
}

/// `GET /sql`.
pub async fn show(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
) -> Result<Response, PageError> {
    principal.require(Role::Auditor, "The SQL console")?;
    Ok(console(&state, &principal, "", None).await)
}

/// `POST /sql`.
pub async fn run(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Form(form): Form<SqlForm>,
) -> Result<Response, PageError> {
    principal.require(Role::Auditor, "The SQL console")?;
    principal.check_csrf(Some(&form.csrf))?;
    let outcome = run_logged(&state, &principal, Channel::Ui, &form.statement).await;
    if form.format == "csv"
        && let Ok((result, _)) = &outcome
    {
        {
            let header: Vec<&str> = result.columns.iter().map(String::as_str).collect();
            let rows: Vec<Vec<String>> =
                result.rows.iter().map(|r| r.iter().map(cell).collect()).collect();
            let mut response = csv_document(&header, &rows).into_response();
            let headers = response.headers_mut();
            headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            headers.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"d365audit-sql.csv\""),
            );
            return Ok(response);
        }
    }
    // Unavailable (the archive or the access log): an error page, not the console.
    if let Err(failure) = &outcome
        && failure.code == ErrorCode::Unavailable
    {
        return Err(failure.clone().into());
    }
    Ok(console(&state, &principal, &form.statement, Some(outcome)).await)
}
