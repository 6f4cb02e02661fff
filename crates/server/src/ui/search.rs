//! The search page (the query model as a form and as a one-line query, results in a keyset-
//! paged table), the full record page (normalized fields and the bytes as received), and
//! exports of a search.

use archive::{Order, RecordQuery, Role};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::access_log::{self, Channel, Use};
use crate::charts::number;
use crate::error::{Failure, PageError};
use crate::exports::{self, ExportFormat};
use crate::principal::{Principal, UiUser, url_encode};
use crate::query_input::{FilterParams, PageParams, query_line};
use crate::state::ServerState;
use crate::ui::layout::{self, Nav, page, records_table, time};

/// Filters written back as URL parameters (only the non-empty ones).
pub fn filter_params_url(f: &FilterParams) -> String {
    let pairs = [
        ("q", &f.q),
        ("user", &f.user),
        ("org", &f.org),
        ("entity", &f.entity),
        ("record", &f.record),
        ("message", &f.message),
        ("access", &f.access),
        ("category", &f.category),
        ("field", &f.field),
        ("ip", &f.ip),
        ("correlation", &f.correlation),
        ("workload", &f.workload),
        ("from", &f.from),
        ("to", &f.to),
        ("text", &f.text),
    ];
    pairs
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Offset {
    /// Rows shown before this page (display only).
    n: u64,
}

fn text_input(name: &str, label: &str, value: &str, hint: &str) -> Markup {
    html! {
        div {
            label for=(format!("f-{name}")) { (label) }
            input type="text" id=(format!("f-{name}")) name=(name) value=(value) placeholder=(hint);
        }
    }
}

/// The filter form.
fn filter_form(f: &FilterParams, action: &str) -> Markup {
    let categories = archive::columns::CATEGORIES;
    let open = [
        &f.org,
        &f.record,
        &f.message,
        &f.access,
        &f.category,
        &f.field,
        &f.ip,
        &f.correlation,
        &f.workload,
        &f.text,
    ]
    .iter()
    .any(|v| !v.trim().is_empty());
    html! {
        form.filters.panel.no-print method="get" action=(action) #search-form {
            div.wide {
                label for="f-q" { "One-line query" }
                input type="search" #f-q name="q" value=(f.q)
                    placeholder="user:alice@contoso.com entity:contact from:-30d message:ExportToExcel \"Fabrikam\"";
            }
            (text_input("user", "User (UPN or system user id; commas for several)", &f.user, "alice@contoso.com"))
            (text_input("entity", "Entity (table)", &f.entity, "contact"))
            (text_input("from", "From (UTC)", &f.from, "2026-06-01 or -7d"))
            (text_input("to", "To (UTC, exclusive)", &f.to, "2026-07-01"))
            details.wide open[open] {
                summary { "More filters" }
                div.filters {
                    (text_input("org", "Organization", &f.org, "org1a2b3c4d or contoso.crm4.dynamics.com"))
                    (text_input("record", "Record GUID", &f.record, "5f3b0b3e-1c2d-…"))
                    (text_input("message", "Message (commas for several)", &f.message, "ExportToExcel"))
                    div {
                        label for="f-access" { "Access" }
                        select #f-access name="access" {
                            option value="" { "any" }
                            @for kind in archive::columns::ACCESS_KINDS {
                                option value=(kind) selected[f.access == *kind] { (kind.replace('_', " ")) }
                            }
                        }
                    }
                    div {
                        label for="f-category" { "Report category" }
                        select #f-category name="category" {
                            option value="" { "any" }
                            @for key in categories {
                                option value=(key) selected[f.category == *key] {
                                    (crate::reports::category_label(key))
                                }
                            }
                        }
                    }
                    (text_input("field", "Changed field (name or name=value)", &f.field, "telephone1"))
                    (text_input("ip", "Client IP", &f.ip, "203.0.113.24"))
                    (text_input("correlation", "Correlation id", &f.correlation, ""))
                    (text_input("workload", "Workload", &f.workload, "CRM"))
                    (text_input("text", "Free text", &f.text, "words in user, entity, name, URL"))
                }
            }
            div.actions.wide {
                button type="submit" #search-button { "Search" }
                a.button.secondary href=(action) { "Clear" }
            }
        }
    }
}

fn export_links(principal: &Principal, params: &str) -> Markup {
    let sep = if params.is_empty() { "" } else { "&" };
    html! {
        @if principal.may(Role::Auditor) {
            div.actions.no-print {
                span.muted { "Export all matching records:" }
                a.button.secondary #export-csv href=(format!("/export?format=csv{sep}{params}")) { "CSV (Excel)" }
                a.button.secondary href=(format!("/export?format=jsonl{sep}{params}")) { "JSON lines" }
                a.button.secondary href=(format!("/export?format=raw{sep}{params}")) { "As received (JSON lines)" }
            }
        }
    }
}

/// `GET /search`.
pub async fn search(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Query(filters): Query<FilterParams>,
    Query(paging): Query<PageParams>,
    Query(offset): Query<Offset>,
) -> Result<Response, PageError> {
    let now = state.now();
    let parsed = filters
        .to_query(now)
        .and_then(|q| Ok((q, paging.to_page(state.settings().page_rows, Order::NewestFirst)?)));
    let (query, page_request) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            let body = html! {
                h1 { "Search" }
                (filter_form(&filters, "/search"))
                div.notice.error #query-error role="alert" { (error.message) }
                (syntax_help())
            };
            return Ok((StatusCode::BAD_REQUEST, page(&principal, Nav::Search, "Search", body))
                .into_response());
        }
    };
    let result = state
        .backend()
        .search(&query, &page_request)
        .await
        .map_err(|e| Failure::archive("searching", e))?;
    state.shared.counters.searches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    access_log::record(
        &state,
        &principal,
        Channel::Ui,
        Use {
            action: "search",
            detail: search_detail(&query, page_request.after.is_some()),
            rows: Some(result.rows.len() as u64),
        },
    )
    .await?;
    let params = filter_params_url(&filters);
    let first = offset.n + 1;
    let last = offset.n + result.rows.len() as u64;
    let line = query_line(&query);
    let body = html! {
        h1 { "Search" }
        (filter_form(&filters, "/search"))
        @if !line.is_empty() {
            p.muted.small { "Query: " code #query-line { (line) } }
        }
        (export_links(&principal, &params))
        @if result.rows.is_empty() {
            div.notice #no-results { "No records match." @if page_request.after.is_some() { " This was the last page." } }
        } @else {
            p.muted #row-range { "Rows " (number(first)) "–" (number(last)) ", newest first." }
            (records_table(&result.rows, query.record_id.is_some()))
        }
        div.pager.no-print {
            @if page_request.after.is_some() {
                a href=(format!("/search?{params}")) { "« First page" }
            }
            @if let Some(next) = result.next {
                a #next-page href=(format!("/search?{params}{}after={}&n={last}",
                    if params.is_empty() { "" } else { "&" }, next.encode())) { "Next page »" }
            }
        }
        (syntax_help())
    };
    Ok(page(&principal, Nav::Search, "Search", body).into_response())
}

/// What the access log keeps for a search.
pub fn search_detail(query: &RecordQuery, continued: bool) -> String {
    let line = query_line(query);
    let line = if line.is_empty() { "(everything)".to_string() } else { line };
    if continued { format!("{line} (next page)") } else { line }
}

fn syntax_help() -> Markup {
    html! {
        details.panel.no-print {
            summary { "One-line query syntax" }
            table.small {
                @for (key, meaning) in archive::query::ONE_LINE_KEYS {
                    tr { td { code { (key) } } td { (meaning) } }
                }
            }
        }
    }
}

/// `GET /records/{id}`: one record in full.
pub async fn record(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let stored = state
        .backend()
        .record(&id)
        .await
        .map_err(|e| Failure::archive("reading a record", e))?
        .ok_or_else(|| {
            Failure::not_found(format!("there is no record with Id {id} in the archive"))
        })?;
    access_log::record(
        &state,
        &principal,
        Channel::Ui,
        Use { action: "record_view", detail: id.clone(), rows: Some(1) },
    )
    .await?;
    let s = &stored.summary;
    let raw_text = String::from_utf8_lossy(&stored.raw);
    let pretty = serde_json::from_slice::<serde_json::Value>(&stored.raw)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    let row = |label: &str, value: Option<String>| {
        html! {
            @if let Some(value) = value.filter(|v| !v.is_empty()) {
                tr { th { (label) } td.wrap { (value) } }
            }
        }
    };
    let title = format!("{} {}", layout::message(s), s.entity.as_deref().unwrap_or(""));
    let body = html! {
        h1 #record-title { (title) }
        p.muted { (time(s.time)) " UTC · " a href=(layout::user_link(&s.user)) { (s.user) } }
        div.actions.no-print {
            a.button.secondary href=(layout::user_link(&s.user)) { "User timeline" }
            @if let Some(entity_id) = s.entity_id {
                a.button.secondary #record-timeline-link href=(layout::record_timeline_link(&entity_id)) { "Record timeline" }
            }
            @if let Some(correlation) = s.correlation_id {
                // Parts of a split record lie within minutes of each other: a time range keeps
                // the lookup on the time index.
                a.button.secondary href=(layout::search_link(&format!(
                    "correlation:{correlation} from:{} to:{}",
                    crate::query_input::time_text(s.time - chrono::Duration::hours(1)),
                    crate::query_input::time_text(s.time + chrono::Duration::hours(1))
                ))) { "All parts (correlation)" }
            }
            @if let Some(ip) = &s.client_ip {
                a.button.secondary href=(layout::search_link(&format!(
                    "ip:{ip} from:{} to:{}",
                    crate::query_input::time_text(s.time - chrono::Duration::days(7)),
                    crate::query_input::time_text(s.time + chrono::Duration::days(7))
                ))) { "Same client IP (±7 days)" }
            }
        }
        div.grid2 {
            div.panel {
                h2 { "Normalized" }
                table.fields #normalized {
                    (row("Id", Some(s.id.clone())))
                    (row("Time (UTC)", Some(s.time.to_rfc3339())))
                    (row("User", Some(s.user.clone())))
                    (row("System user id", s.system_user_id.map(|u| u.to_string())))
                    (row("Operation", Some(s.operation.clone())))
                    (row("Message", s.message.clone()))
                    (row("Access", Some(s.access.clone())))
                    (row("Entity", s.entity.clone()))
                    (row("Record", s.entity_id.map(|u| u.to_string())))
                    (row("Record name", s.primary_field_value.clone()))
                    (row("Organization", s.organization.clone()))
                    (row("Client IP", s.client_ip.clone()))
                    (row("User agent", stored.user_agent.clone()))
                    (row("Result", s.result_status.clone()))
                    (row("Item URL", s.item_url.clone()))
                    (row("Correlation id", s.correlation_id.map(|u| u.to_string())))
                    (row("Workload / record type", Some(format!("{} / {}", s.workload, s.record_type))))
                    (row("Report categories", Some(s.categories.iter().map(|c| crate::reports::category_label(c)).collect::<Vec<_>>().join("; "))))
                }
            }
            div.panel {
                h2 { "Evidence" }
                table.fields {
                    (row("Stored at (UTC)", Some(stored.ingested_at.to_rfc3339())))
                    (row("Sealed batch", Some(stored.batch.to_string())))
                    (row("BLAKE3 of the bytes", Some(stored.hash.clone())))
                    (row("Size", Some(format!("{} bytes", number(stored.raw.len() as u64)))))
                }
                @if !stored.fields.is_empty() {
                    h3 { "Fields set" }
                    table #fields {
                        tr { th { "Field" } th { "Value" } }
                        @for (name, value) in &stored.fields {
                            tr { td { (name) } td.wrap { (value) } }
                        }
                    }
                }
                @if let Some(query) = &stored.query {
                    h3 { "Query" }
                    pre.raw { (query) }
                }
                @if !stored.query_results.is_empty() {
                    h3 { "Records in the results (" (number(stored.query_results.len() as u64)) ")" }
                    ul.small #query-results {
                        @for id in stored.query_results.iter().take(200) {
                            li {
                                @match crate::query_input::parse_guid("record", id) {
                                    Ok(guid) => a href=(layout::record_timeline_link(&guid)) { (id) },
                                    Err(_) => (id),
                                }
                            }
                        }
                    }
                    @if stored.query_results.len() > 200 {
                        p.muted { "… and " (stored.query_results.len() - 200) " more (in the raw record below)." }
                    }
                }
            }
        }
        div.panel {
            h2 { "As received" }
            p.muted.small { "The exact bytes Microsoft sent; their BLAKE3 hash is above." }
            pre.raw #raw { (raw_text) }
            @if let Some(pretty) = pretty {
                details {
                    summary { "Formatted" }
                    pre.raw { (pretty) }
                }
            }
        }
    };
    Ok(page(&principal, Nav::Search, &title, body).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FormatParam {
    format: String,
}

/// `GET /export?format=csv|jsonl|raw&<filters>`: auditors only.
pub async fn export(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Query(filters): Query<FilterParams>,
    Query(format): Query<FormatParam>,
) -> Result<Response, PageError> {
    principal.require(Role::Auditor, "Exporting")?;
    let format = ExportFormat::parse(&format.format)?;
    let query = filters.to_query(state.now())?;
    Ok(exports::export_response(&state, &principal, Channel::Ui, query, format, "search").await?)
}
