//! Exports of a result, streamed page by page from the archive (never the whole result in
//! memory): CSV that opens cleanly in Excel (UTF-8 byte order mark, CRLF line ends, RFC 4180
//! quoting, cells that a spreadsheet would run as a formula defused), JSON lines of the
//! normalized rows, and JSON lines of the records exactly as received.
//!
//! An export is logged when it starts (`export`, before the first byte) and when it ends
//! (`export_done`, with the number of rows and whether it completed), so that an interrupted
//! download is visible too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use archive::{AccessEntry, Order, PageRequest, RecordQuery, RecordSummary};
use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;

use crate::access_log::{self, Channel, Use};
use crate::error::Failure;
use crate::principal::Principal;
use crate::query_input::query_line;
use crate::state::ServerState;

/// Rows fetched from the archive per step of an export.
const EXPORT_PAGE: u32 = 1_000;

/// What an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// The normalized columns, for spreadsheets.
    Csv,
    /// The normalized rows as JSON, one per line.
    Jsonl,
    /// The records exactly as received, one per line (the evidence).
    Raw,
}

impl ExportFormat {
    pub fn parse(text: &str) -> Result<ExportFormat, Failure> {
        match text.trim() {
            "csv" | "" => Ok(ExportFormat::Csv),
            "jsonl" => Ok(ExportFormat::Jsonl),
            "raw" => Ok(ExportFormat::Raw),
            other => Err(Failure::bad_request(format!(
                "export format `{other}` is unknown; use csv, jsonl or raw"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Raw => "raw",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Jsonl | ExportFormat::Raw => "application/x-ndjson; charset=utf-8",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Raw => "raw.jsonl",
        }
    }
}

/// The UTF-8 byte order mark: without it Excel reads a CSV file in the local code page.
pub const BOM: &str = "\u{feff}";

/// One CSV cell: quoted when needed (RFC 4180); a cell that a spreadsheet would evaluate
/// (`=`, `+`, `-`, `@`, tab or carriage return first) gets a leading apostrophe.
pub fn csv_cell(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.len() > 1 {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r', ';']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// One CSV line with its CRLF.
pub fn csv_line<S: AsRef<str>>(cells: &[S]) -> String {
    let mut line = cells.iter().map(|c| csv_cell(c.as_ref())).collect::<Vec<String>>().join(",");
    line.push_str("\r\n");
    line
}

/// A whole small CSV document (report tables, SQL results): BOM, header, rows.
pub fn csv_document<S: AsRef<str>>(header: &[&str], rows: &[Vec<S>]) -> String {
    let mut out = String::from(BOM);
    out.push_str(&csv_line(header));
    for row in rows {
        out.push_str(&csv_line(row));
    }
    out
}

/// The columns of a CSV export of records.
pub const RECORD_COLUMNS: &[&str] = &[
    "time_utc",
    "user",
    "operation",
    "message",
    "entity",
    "record_id",
    "record_name",
    "organization",
    "client_ip",
    "access",
    "categories",
    "via",
    "result",
    "correlation_id",
    "workload",
    "record_type",
    "id",
];

/// The cells of one record in [`RECORD_COLUMNS`] order.
pub fn record_cells(row: &RecordSummary) -> Vec<String> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let guid = |v: &Option<uuid::Uuid>| v.map(|g| g.to_string()).unwrap_or_default();
    vec![
        row.time.format("%Y-%m-%d %H:%M:%S").to_string(),
        row.user.clone(),
        row.operation.clone(),
        text(&row.message),
        text(&row.entity),
        guid(&row.entity_id),
        text(&row.primary_field_value),
        text(&row.organization),
        text(&row.client_ip),
        row.access.clone(),
        row.categories.join(" "),
        match row.via {
            Some(archive::Via::Entity) => "record".into(),
            Some(archive::Via::QueryResults) => "listed in results".into(),
            None => String::new(),
        },
        text(&row.result_status),
        guid(&row.correlation_id),
        row.workload.clone(),
        row.record_type.to_string(),
        row.id.clone(),
    ]
}

/// Writes `export_done` when the stream ends, however it ends.
struct ExportEnd {
    state: ServerState,
    entry: AccessEntry,
    rows: AtomicU64,
    finished: AtomicBool,
}

impl ExportEnd {
    fn entry(&self, completed: bool) -> AccessEntry {
        let rows = self.rows.load(Ordering::Relaxed);
        let mut entry = self.entry.clone();
        entry.at = self.state.now();
        entry.rows = Some(rows);
        if !completed {
            entry.detail =
                format!("{} (stopped before the end: interrupted or failed)", entry.detail);
        }
        entry
    }
}

impl Drop for ExportEnd {
    fn drop(&mut self) {
        if self.finished.load(Ordering::Relaxed) {
            return;
        }
        let entry = self.entry(false);
        let state = self.state.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = access_log::write(&state, entry).await;
            });
        }
    }
}

/// Streams every record matching `query` (oldest first) as `format`. Logs the start before
/// answering; fails without a body when the access log cannot be written.
pub async fn export_response(
    state: &ServerState,
    principal: &Principal,
    channel: Channel,
    query: RecordQuery,
    format: ExportFormat,
    name: &str,
) -> Result<Response, Failure> {
    let line = query_line(&query);
    let line = if line.is_empty() { "(everything)".to_string() } else { line };
    let detail = format!("{line} as {}", format.as_str());
    access_log::record(
        state,
        principal,
        channel,
        Use { action: "export", detail: detail.clone(), rows: None },
    )
    .await?;
    state.shared.counters.exports.fetch_add(1, Ordering::Relaxed);
    let end = Arc::new(ExportEnd {
        state: state.clone(),
        entry: AccessEntry {
            at: state.now(),
            username: principal.account.username.clone(),
            action: "export_done".into(),
            detail,
            rows: None,
            client_ip: principal.client_ip.clone(),
            channel: channel.as_str().into(),
        },
        rows: AtomicU64::new(0),
        finished: AtomicBool::new(false),
    });
    let step = Step {
        state: state.clone(),
        query,
        page: PageRequest { limit: EXPORT_PAGE, after: None, order: Order::OldestFirst },
        format,
        first: true,
        done: false,
        end,
    };
    let stream = futures_util::stream::unfold(step, |mut step| async move {
        if step.done {
            return None;
        }
        match step.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok::<Bytes, std::io::Error>(chunk), step)),
            Ok(None) => None,
            Err(error) => {
                step.done = true;
                Some((Err(std::io::Error::other(error)), step))
            }
        }
    });
    let stamp = state.now().format("%Y%m%dT%H%M%SZ");
    let filename = format!("d365audit-{name}-{stamp}.{}", format.extension());
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

struct Step {
    state: ServerState,
    query: RecordQuery,
    page: PageRequest,
    format: ExportFormat,
    first: bool,
    done: bool,
    end: Arc<ExportEnd>,
}

impl Step {
    /// The next piece of the file; `None` at the end (after logging `export_done`).
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, String> {
        let archive = self.state.backend();
        let mut out = String::new();
        if self.first && self.format == ExportFormat::Csv {
            out.push_str(BOM);
            out.push_str(&csv_line(RECORD_COLUMNS));
        }
        self.first = false;
        let (count, next) = match self.format {
            ExportFormat::Csv | ExportFormat::Jsonl => {
                let page = archive
                    .search(&self.query, &self.page)
                    .await
                    .map_err(|e| format!("the archive failed during the export: {e}"))?;
                for row in &page.rows {
                    if self.format == ExportFormat::Csv {
                        out.push_str(&csv_line(&record_cells(row)));
                    } else {
                        out.push_str(&serde_json::to_string(row).map_err(|e| e.to_string())?);
                        out.push('\n');
                    }
                }
                (page.rows.len(), page.next)
            }
            ExportFormat::Raw => {
                let page = archive
                    .raw_page(&self.query, &self.page)
                    .await
                    .map_err(|e| format!("the archive failed during the export: {e}"))?;
                let mut bytes = out.into_bytes();
                for record in &page.rows {
                    // One record per line: a pretty-printed record loses only its whitespace
                    // line breaks (JSON strings cannot hold raw ones).
                    bytes.extend(record.raw.iter().copied().filter(|b| *b != b'\n' && *b != b'\r'));
                    bytes.push(b'\n');
                }
                self.end.rows.fetch_add(page.rows.len() as u64, Ordering::Relaxed);
                self.advance(page.next).await;
                return Ok(Some(Bytes::from(bytes)));
            }
        };
        self.end.rows.fetch_add(count as u64, Ordering::Relaxed);
        self.state.shared.counters.export_rows.fetch_add(count as u64, Ordering::Relaxed);
        self.advance(next).await;
        if out.is_empty() && self.done {
            return Ok(None);
        }
        Ok(Some(Bytes::from(out)))
    }

    async fn advance(&mut self, next: Option<archive::PageCursor>) {
        match next {
            Some(cursor) => self.page.after = Some(cursor),
            None => {
                self.done = true;
                self.end.finished.store(true, Ordering::Relaxed);
                let entry = self.end.entry(true);
                if let Err(failure) = access_log::write(&self.state, entry).await {
                    tracing::error!(%failure, "the end of an export could not be logged");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_excel_would_run_are_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tcmd"), "'\tcmd");
        assert_eq!(csv_cell("-"), "-");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
    }

    #[test]
    fn documents_start_with_a_bom_and_end_lines_with_crlf() {
        let doc = csv_document(&["key", "count"], &[vec!["a".to_string(), "1".to_string()]]);
        assert_eq!(doc, "\u{feff}key,count\r\na,1\r\n");
    }
}
