//! The report pages: an index, and each report as charts and tables for a chosen period and
//! organization, every row opening the matching records in search, exportable as CSV.

use archive::{Dimension, RecordQuery, Role};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate};
use maud::{Markup, html};

use crate::access_log::{self, Channel, Use};
use crate::charts::{self, Bar, number};
use crate::error::PageError;
use crate::exports::csv_document;
use crate::principal::{Principal, UiUser, url_encode};
use crate::query_input::query_line;
use crate::reports::{self, ChartKind, REPORTS, Report, ScopeParams, Section};
use crate::state::ServerState;
use crate::ui::layout::{self, Nav, page, time};

/// `GET /reports`.
pub async fn index(State(state): State<ServerState>, UiUser(principal): UiUser) -> Response {
    let days = state.settings().default_report_days;
    let body = html! {
        h1 { "Reports" }
        p.muted { "Each report covers a period (the last " (days) " days unless you choose) and optionally one organization." }
        div.cards #report-list {
            @for report in REPORTS {
                a.card href=(format!("/reports/{}", report.slug)) {
                    strong { (report.title) }
                    span.muted.small { (report.description) }
                }
            }
        }
    };
    page(&principal, Nav::Reports, "Reports", body).into_response()
}

/// The records behind one row of a section, when the row can be expressed as a filter.
pub fn bucket_query(section: &Section, key: &str) -> Option<RecordQuery> {
    let mut query = section.query.clone();
    match section.dimension {
        Dimension::Day => {
            let day = NaiveDate::parse_from_str(key, "%Y-%m-%d").ok()?;
            let start = day.and_hms_opt(0, 0, 0)?.and_utc();
            query.from = Some(query.from.map_or(start, |f| f.max(start)));
            let end = start + Duration::days(1);
            query.to = Some(query.to.map_or(end, |t| t.min(end)));
        }
        Dimension::User if !key.is_empty() => query.users = vec![key.to_string()],
        Dimension::Organization if !key.is_empty() => query.organization = Some(key.to_string()),
        Dimension::Entity if !key.is_empty() => query.entity = Some(key.to_string()),
        Dimension::Message if !key.is_empty() => query.messages = vec![key.to_string()],
        Dimension::Access => query.access = vec![key.to_string()],
        Dimension::Category => query.category = Some(key.to_string()),
        _ => return None,
    }
    Some(query)
}

fn section_view(section: &Section, index: usize) -> Markup {
    let bars: Vec<Bar> = section
        .buckets
        .iter()
        .map(|r| Bar { label: r.label.clone(), value: r.count, highlight: r.highlight })
        .collect();
    let total: u64 = section.buckets.iter().map(|r| r.count).sum();
    html! {
        section.panel id=(format!("section-{index}")) {
            h2 { (section.title) }
            @if total == 0 {
                div.notice { "No matching records in this period." }
            } @else {
                @match section.chart {
                    ChartKind::Columns => (charts::columns(&section.title, &bars)),
                    ChartKind::Ranking => (charts::ranking(&section.title, &bars)),
                }
            }
            details open[section.chart == ChartKind::Ranking && total > 0] {
                summary { "Table" }
                table.report-table {
                    thead { tr { th { "" } th.num { "Records" } } }
                    tbody {
                        @for row in &section.buckets {
                            tr class=[row.highlight.then_some("highlight")] {
                                td {
                                    @match bucket_query(section, &row.key) {
                                        Some(query) if row.count > 0 => a href=(layout::search_link(&query_line(&query))) { (row.label) },
                                        _ => (row.label),
                                    }
                                }
                                td.num { (number(row.count)) }
                            }
                        }
                    }
                }
            }
            @if let Some(events) = &section.events {
                @if !events.is_empty() {
                    h3 { "Newest events" }
                    (layout::records_table(events, false))
                }
            }
            p.small.no-print { a href=(layout::search_link(&section.query_line)) { "Open these records in search" } }
        }
    }
}

fn scope_form(state: &ServerState, slug: &str, report: &Report) -> Markup {
    let organizations = state.shared.organizations.get(state);
    let last_day = (report.scope.to - Duration::microseconds(1)).date_naive();
    html! {
        form.filters.panel.no-print method="get" action=(format!("/reports/{slug}")) #scope-form {
            div { label for="from" { "From (UTC)" } input type="date" #from name="from" value=(report.scope.from.format("%Y-%m-%d").to_string()); }
            div { label for="to" { "To (UTC, exclusive)" } input type="date" #to name="to" value=((last_day + Duration::days(1)).format("%Y-%m-%d").to_string()); }
            div {
                label for="org" { "Organization" }
                input type="text" #org name="org" list="organizations" value=(report.scope.organization.clone().unwrap_or_default()) placeholder="all";
                datalist #organizations { @for name in &organizations { option value=(name) {} } }
            }
            div.actions { button type="submit" #show-report { "Show" } }
        }
    }
}

fn scope_url(report: &Report) -> String {
    let mut url = format!(
        "from={}&to={}",
        url_encode(&crate::query_input::time_text(report.scope.from)),
        url_encode(&crate::query_input::time_text(report.scope.to))
    );
    if let Some(org) = &report.scope.organization {
        url.push_str(&format!("&org={}", url_encode(org)));
    }
    url
}

fn report_detail(report: &Report) -> String {
    format!(
        "{} from {} to {}{}",
        report.slug,
        crate::query_input::time_text(report.scope.from),
        crate::query_input::time_text(report.scope.to),
        report.scope.organization.as_ref().map(|o| format!(" org {o}")).unwrap_or_default()
    )
}

fn report_rows(report: &Report) -> u64 {
    report.sections.iter().map(|s| s.buckets.len() as u64).sum()
}

/// `GET /reports/{slug}`.
pub async fn show(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Path(slug): Path<String>,
    Query(scope): Query<ScopeParams>,
) -> Result<Response, PageError> {
    let scope = scope.to_scope(state.now(), state.settings().default_report_days)?;
    let report = reports::run(&state, &slug, scope).await?;
    access_log::record(
        &state,
        &principal,
        Channel::Ui,
        Use { action: "report", detail: report_detail(&report), rows: Some(report_rows(&report)) },
    )
    .await?;
    let body = html! {
        h1 #report-title { (report.title) }
        p.muted {
            (time(report.scope.from)) " to " (time(report.scope.to)) " UTC"
            @if let Some(org) = &report.scope.organization { " · organization " (org) }
            " · computed " (time(report.computed_at)) " UTC"
        }
        (scope_form(&state, &slug, &report))
        @for note in &report.notes { div.notice #report-note { (note) } }
        (export_link(&principal, &report))
        @for (i, section) in report.sections.iter().enumerate() {
            (section_view(section, i))
        }
    };
    Ok(page(&principal, Nav::Reports, report.title, body).into_response())
}

fn export_link(principal: &Principal, report: &Report) -> Markup {
    html! {
        @if principal.may(Role::Auditor) {
            div.actions.no-print {
                a.button.secondary #report-csv href=(format!("/reports/{}/csv?{}", report.slug, scope_url(report))) { "Export CSV" }
                a.button.secondary href=(format!("/api/v1/reports/{}?{}", report.slug, scope_url(report))) { "JSON" }
            }
        }
    }
}

/// `GET /reports/{slug}/csv`: the report's tables as one CSV file (auditors).
pub async fn csv(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Path(slug): Path<String>,
    Query(scope): Query<ScopeParams>,
) -> Result<Response, PageError> {
    principal.require(Role::Auditor, "Exporting a report")?;
    let scope = scope.to_scope(state.now(), state.settings().default_report_days)?;
    let report = reports::run(&state, &slug, scope).await?;
    let rows: Vec<Vec<String>> = report
        .sections
        .iter()
        .flat_map(|s| {
            s.buckets.iter().map(move |r| {
                vec![s.title.clone(), r.key.clone(), r.label.clone(), r.count.to_string()]
            })
        })
        .collect();
    access_log::record(
        &state,
        &principal,
        Channel::Ui,
        Use {
            action: "export",
            detail: format!("report {} as csv", report_detail(&report)),
            rows: Some(rows.len() as u64),
        },
    )
    .await?;
    let document = csv_document(&["section", "key", "label", "records"], &rows);
    let mut response = document.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    let filename = format!("d365audit-report-{slug}-{}.csv", report.scope.from.format("%Y%m%d"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
