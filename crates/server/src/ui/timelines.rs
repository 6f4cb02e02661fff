//! Timelines. The record timeline lists every read, appearance in a RetrieveMultiple or export
//! result, and change of one Dataverse record, oldest first, with who, when and from where; it
//! prints as a report for a data-subject request or a DPIA. Its field history (Dataverse audit
//! changes, old -> new values) is part of the same time line. The user timeline shows what one
//! person did, with charts of activity per day and per hour.

use archive::{Dimension, Order, RecordQuery, Role, StoredChange};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use crate::access_log::{self, Channel, Use};
use crate::changes;
use crate::charts::{self, Bar, number};
use crate::error::{Failure, PageError};
use crate::principal::{UiUser, url_encode};
use crate::query_input::{FilterParams, PageParams, parse_guid, query_line};
use crate::reports::ScopeParams;
use crate::state::ServerState;
use crate::ui::layout::{self, Nav, page, time};
use crate::ui::search::filter_params_url;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TimelineView {
    /// `1`: the printable report (up to the configured number of events on one page).
    print: String,
    n: u64,
}

/// One line of the record timeline: an activity record or an audit change.
enum Line<'a> {
    Activity(&'a archive::RecordSummary),
    Change(&'a StoredChange),
}

/// Activity rows and changes (both oldest first) in one time line; at equal times the activity
/// record comes first.
fn interleave<'a>(
    rows: &'a [archive::RecordSummary],
    changes: &[&'a StoredChange],
) -> Vec<Line<'a>> {
    let mut lines = Vec::with_capacity(rows.len() + changes.len());
    let mut pending = changes.iter().peekable();
    for row in rows {
        while let Some(change) = pending.next_if(|c| c.change.created_on < row.time) {
            lines.push(Line::Change(change));
        }
        lines.push(Line::Activity(row));
    }
    lines.extend(pending.map(|c| Line::Change(c)));
    lines
}

/// `GET /timeline/record/{id}`: the record's activity records and its field history (audit
/// changes) in one time line, oldest first.
///
/// The activity list is keyset-paged; each page shows the changes of its time range (see
/// [`crate::changes::on_page`]). The timeline's filters narrow the changes too (see
/// [`crate::changes::matches`]); `field=telephone1` tells one column's story.
pub async fn record_timeline(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Path(id): Path<String>,
    Query(filters): Query<FilterParams>,
    Query(paging): Query<PageParams>,
    Query(view): Query<TimelineView>,
) -> Result<Response, PageError> {
    let now = state.now();
    let record_id = parse_guid("record", &id)?;
    let mut query = filters.to_query(now)?;
    query.record_id = Some(record_id);
    let printable = view.print == "1";
    let settings = state.settings();
    let limit = if printable { settings.printable_rows } else { settings.page_rows * 2 };
    let mut page_request = paging.to_page(limit, Order::OldestFirst)?;
    page_request.limit = page_request.limit.min(limit);
    let backend = state.backend();
    let (found, by_access, by_user, history) = tokio::try_join!(
        backend.search(&query, &page_request),
        backend.aggregate(&query, Dimension::Access, 10),
        backend.aggregate(&query, Dimension::User, 10),
        backend.record_changes(record_id, None),
    )
    .map_err(|e| Failure::archive("reading the record timeline", e))?;
    // The field panel counts the columns of every change in the period and other filters;
    // the time line shows those of the chosen column, when one is chosen.
    let unfielded = RecordQuery { field: None, ..query.clone() };
    let in_scope: Vec<StoredChange> = history
        .iter()
        .filter(|c| changes::matches(&c.change, &c.source, &unfielded))
        .cloned()
        .collect();
    let chosen: Vec<StoredChange> = in_scope
        .iter()
        .filter(|c| changes::matches(&c.change, &c.source, &query))
        .cloned()
        .collect();
    let shown_changes = changes::on_page(&chosen, page_request.after.as_ref(), found.next.as_ref());
    let field_counts = changes::field_counts(&in_scope);
    let activity_total: u64 = by_access.iter().map(|b| b.count).sum();
    let change_total = chosen.len() as u64;
    let total = activity_total + change_total;
    access_log::record(
        &state,
        &principal,
        Channel::Ui,
        Use {
            action: "record_timeline",
            detail: query_line(&query),
            rows: Some((found.rows.len() + shown_changes.len()) as u64),
        },
    )
    .await?;
    state.shared.counters.searches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let subject =
        found.rows.iter().find(|r| r.via == Some(archive::Via::Entity)).or(found.rows.first());
    let entity = subject
        .and_then(|r| if r.via == Some(archive::Via::Entity) { r.entity.clone() } else { None })
        .or_else(|| history.first().map(|c| c.change.table.clone()));
    let name = found
        .rows
        .iter()
        .filter(|r| r.via == Some(archive::Via::Entity))
        .find_map(|r| r.primary_field_value.clone())
        .or_else(|| history.iter().rev().find_map(|c| c.change.object_name.clone()));
    let mut other = filters.clone();
    other.record.clear();
    let params = filter_params_url(&other);
    let base = format!("/timeline/record/{record_id}");
    let join = |extra: &str| {
        let mut parts: Vec<&str> = Vec::new();
        if !params.is_empty() {
            parts.push(&params);
        }
        if !extra.is_empty() {
            parts.push(extra);
        }
        if parts.is_empty() { base.clone() } else { format!("{base}?{}", parts.join("&")) }
    };
    let field_link = |field: &str| {
        let narrowed = FilterParams { field: field.to_string(), ..other.clone() };
        let params = filter_params_url(&narrowed);
        if params.is_empty() { base.clone() } else { format!("{base}?{params}") }
    };
    let export_params =
        format!("record={record_id}{}{params}", if params.is_empty() { "" } else { "&" });
    let shown_first = view.n + 1;
    let shown_last = view.n + found.rows.len() as u64;
    let period = match (query.from, query.to) {
        (None, None) => "the whole archive".to_string(),
        (from, to) => format!(
            "{} to {}",
            from.map(|t| format!("{} UTC", time(t)))
                .unwrap_or_else(|| "the start of the archive".into()),
            to.map(|t| format!("{} UTC", time(t))).unwrap_or_else(|| "now".into())
        ),
    };
    let title =
        format!("Record timeline: {}", name.clone().unwrap_or_else(|| record_id.to_string()));
    let lines = interleave(&found.rows, &shown_changes);
    let paged = activity_total > found.rows.len() as u64;
    let chosen_field = query.field.as_ref().map(|f| match &f.value {
        Some(value) => format!("{}={value}", f.name),
        None => f.name.clone(),
    });
    let body = html! {
        h1 #timeline-title { "Record timeline" }
        div.panel #report-header {
            table.fields {
                tr { th { "Record" } td.mono #record-id { (record_id) } }
                @if let Some(entity) = &entity { tr { th { "Table" } td { (entity) } } }
                @if let Some(name) = &name { tr { th { "Name" } td #record-name { (name) } } }
                tr { th { "Period" } td { (period) } }
                @if let Some(field) = &chosen_field { tr { th { "Column" } td #chosen-field { (field) } } }
                tr { th { "Events" } td #event-count {
                    (number(total)) " in total"
                    @if !history.is_empty() { ": " span #activity-count { (number(activity_total)) } " activity records and " span #change-count { (number(change_total)) } " field changes" }
                    @if paged { "; activity rows " (number(shown_first)) "–" (number(shown_last)) " shown with the " (number(shown_changes.len() as u64)) " field changes of their time range" }
                } }
                tr { th { "Prepared" } td { (time(now)) " UTC by " (principal.account.display_name) " (" (principal.account.username) ") from the d365audit archive" } }
            }
            p.small.muted {
                "Every event is an activity record kept exactly as Microsoft delivered it, with its BLAKE3 hash, in a sealed batch of the archive's hash chain. "
                "\"Listed in results\" means the record was among the rows a RetrieveMultiple (a grid, a view, a search) or an export returned to the user."
                @if !history.is_empty() {
                    " \"Field history\" rows are Dataverse audit changes (old -> new values), each kept with the audit row and its detail exactly as received and their hash."
                }
            }
        }
        div.actions.no-print {
            @if !printable {
                a.button.secondary #printable href=(join("print=1")) { "Printable report" }
            } @else {
                span.muted { "Use your browser's Print command (Ctrl+P) to print or save as PDF." }
                a.button.secondary href=(join("")) { "Back to the interactive view" }
            }
            @if principal.may(Role::Auditor) {
                a.button.secondary href=(format!("/export?format=csv&{export_params}")) { "Export CSV" }
                a.button.secondary href=(format!("/export?format=raw&{export_params}")) { "Export as received" }
            }
        }
        @if activity_total > 0 || !field_counts.is_empty() {
            div.grid2 {
                @if activity_total > 0 {
                    div {
                        h2 { "By kind of access" }
                        table {
                            @for b in &by_access { tr { td { (layout::access_badge(&b.key)) } td.num { (number(b.count)) } } }
                        }
                    }
                    div {
                        h2 { "Who" }
                        table #who-accessed {
                            @for b in &by_user { tr { td { a href=(layout::user_link(&b.key)) { (b.key) } } td.num { (number(b.count)) } } }
                        }
                    }
                }
                @if !field_counts.is_empty() {
                    div #field-history {
                        h2 { "Field history" }
                        table #field-counts {
                            thead { tr { th { "Column" } th.num { "Changes" } } }
                            tbody {
                                @for (field, count) in &field_counts {
                                    tr class=[(query.field.as_ref().is_some_and(|f| f.name.eq_ignore_ascii_case(field))).then_some("highlight")] {
                                        td.mono { a.no-print href=(field_link(field)) { (field) } span.print-only { (field) } }
                                        td.num { (number(*count)) }
                                    }
                                }
                            }
                        }
                        @if chosen_field.is_some() {
                            p.no-print { a #all-fields href=(field_link("")) { "All columns" } }
                        }
                    }
                }
            }
        }
        @if !history.is_empty() && !printable {
            form.filters.panel.no-print #field-form method="get" action=(base) {
                @for (key, value) in hidden_filters(&other) {
                    input type="hidden" name=(key) value=(value);
                }
                div {
                    label for="field-filter" { "One column's story (field)" }
                    input type="text" #field-filter name="field" value=(other.field) placeholder="telephone1";
                }
                div.actions { button type="submit" #field-button { "Show" } }
            }
            @if principal.may(Role::Auditor) {
                (crate::ui::changes::restore_form(record_id, "", "", &format!("guessed: {}", dataverse::restore::guess_entity_set(entity.as_deref().unwrap_or_default()))))
            }
        }
        h2 { "Events, oldest first" }
        @if lines.is_empty() {
            div.notice #no-events { "No activity or field history about this record is archived" @if query.from.is_some() || query.to.is_some() { " in this period" } @if query.field.is_some() { " for this column" } "." }
        } @else {
            div.table-scroll {
                table #timeline {
                    thead { tr { th { "Time (UTC)" } th { "User" } th { "How" } th { "Action" } th { "Organization" } th { "Client IP" } th.no-print { "Record" } } }
                    tbody {
                        @for line in &lines {
                            @match line {
                                Line::Activity(row) => tr.activity {
                                    td.time { (time(row.time)) }
                                    td.wrap { a href=(layout::user_link(&row.user)) { (row.user) } }
                                    td { (layout::via_text(row)) }
                                    td { (layout::message(row)) }
                                    td { (row.organization.as_deref().unwrap_or("")) }
                                    td { (row.client_ip.as_deref().unwrap_or("")) }
                                    td.no-print { a href=(layout::record_link(&row.id)) { "details" } }
                                },
                                Line::Change(stored) => tr.change id=(format!("change-{}", stored.change.audit_id)) {
                                    td.time { (time(stored.change.created_on)) }
                                    td.wrap { (crate::ui::changes::who_markup(stored)) }
                                    td { span.badge.update { "field history" } }
                                    td.wrap { (crate::ui::changes::change_cell(stored)) }
                                    td.wrap { (crate::ui::changes::source_short(&stored.source)) }
                                    td { }
                                    td.no-print { a href=(crate::ui::changes::change_link(stored)) { "details" } }
                                },
                            }
                        }
                    }
                }
            }
        }
        div.pager.no-print {
            @if let Some(next) = found.next {
                a #next-page href=(join(&format!("after={}&n={shown_last}{}", next.encode(), if printable { "&print=1" } else { "" }))) { "Next events »" }
            }
        }
        @if printable && found.next.is_some() {
            p.notice.warn { "This report shows the first " (number(found.rows.len() as u64)) " activity records and the field changes up to the last of them. Narrow the period or export the full timeline as CSV." }
        }
    };
    Ok(page(&principal, Nav::Search, &title, body).into_response())
}

/// The timeline's filters other than the column, as hidden fields of the column form.
fn hidden_filters(f: &FilterParams) -> Vec<(&'static str, String)> {
    let pairs = [
        ("q", &f.q),
        ("user", &f.user),
        ("org", &f.org),
        ("entity", &f.entity),
        ("message", &f.message),
        ("access", &f.access),
        ("category", &f.category),
        ("ip", &f.ip),
        ("correlation", &f.correlation),
        ("workload", &f.workload),
        ("from", &f.from),
        ("to", &f.to),
        ("text", &f.text),
    ];
    pairs.into_iter().filter(|(_, v)| !v.trim().is_empty()).map(|(k, v)| (k, v.clone())).collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserParam {
    u: String,
    n: u64,
}

/// `GET /timeline/user?u=...`.
pub async fn user_timeline(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Query(user): Query<UserParam>,
    Query(scope): Query<ScopeParams>,
    Query(filters): Query<FilterParams>,
    Query(paging): Query<PageParams>,
) -> Result<Response, PageError> {
    let now = state.now();
    let subject = user.u.trim().to_string();
    if subject.is_empty() {
        return Err(Failure::bad_request(
            "say whose timeline: /timeline/user?u=alice@contoso.com (a UPN or system user id)",
        )
        .into());
    }
    let scope = scope.to_scope(now, state.settings().default_timeline_days)?;
    let mut query =
        FilterParams { from: String::new(), to: String::new(), ..filters.clone() }.to_query(now)?;
    query.users = vec![subject.clone()];
    query.from = Some(scope.from);
    query.to = Some(scope.to);
    if let Some(org) = &scope.organization {
        query.organization = Some(org.clone());
    }
    let page_request = paging.to_page(state.settings().page_rows, Order::NewestFirst)?;
    let backend = state.backend();
    let (found, per_day, per_hour, entities, messages) = tokio::try_join!(
        backend.search(&query, &page_request),
        backend.aggregate(&query, Dimension::Day, 1_000),
        backend.aggregate(&query, Dimension::HourOfDay, 24),
        backend.aggregate(&query, Dimension::Entity, 10),
        backend.aggregate(&query, Dimension::Message, 10),
    )
    .map_err(|e| Failure::archive("reading the user timeline", e))?;
    access_log::record(
        &state,
        &principal,
        Channel::Ui,
        Use {
            action: "user_timeline",
            detail: query_line(&query),
            rows: Some(found.rows.len() as u64),
        },
    )
    .await?;
    state.shared.counters.searches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let total: u64 = per_hour.iter().map(|b| b.count).sum();
    let working = state.settings().working_hours;
    let day_bars: Vec<Bar> = {
        let mut bars = Vec::new();
        let mut day = scope.from.date_naive();
        let last = (scope.to - chrono::Duration::microseconds(1)).date_naive();
        while day <= last && bars.len() < 800 {
            let key = day.format("%Y-%m-%d").to_string();
            let count = per_day.iter().find(|b| b.key == key).map_or(0, |b| b.count);
            let weekend = chrono::Datelike::weekday(&day).number_from_monday() >= 6;
            bars.push(Bar { highlight: weekend, ..Bar::new(key, count) });
            day += chrono::Duration::days(1);
        }
        bars
    };
    let hour_bars: Vec<Bar> = (0..24u32)
        .map(|h| {
            let key = format!("{h:02}");
            let count = per_hour.iter().find(|b| b.key == key).map_or(0, |b| b.count);
            Bar { highlight: !working.contains_hour(h), ..Bar::new(key, count) }
        })
        .collect();
    let outside: u64 = hour_bars.iter().filter(|b| b.highlight).map(|b| b.value).sum();
    let range_params = format!(
        "u={}&from={}&to={}{}",
        url_encode(&subject),
        url_encode(&scope.from.format("%Y-%m-%d").to_string()),
        url_encode(&scope.to.format("%Y-%m-%d").to_string()),
        scope.organization.as_ref().map(|o| format!("&org={}", url_encode(o))).unwrap_or_default()
    ) + &if filters.q.trim().is_empty() {
        String::new()
    } else {
        format!("&q={}", url_encode(&filters.q))
    };
    let body = html! {
        h1 #timeline-title { "User timeline: " (subject) }
        form.filters.panel.no-print method="get" action="/timeline/user" {
            input type="hidden" name="u" value=(subject);
            div { label for="from" { "From (UTC)" } input type="text" #from name="from" value=(scope.from.format("%Y-%m-%d").to_string()); }
            div { label for="to" { "To (UTC, exclusive)" } input type="text" #to name="to" value=(scope.to.format("%Y-%m-%d").to_string()); }
            div { label for="org" { "Organization" } input type="text" #org name="org" value=(scope.organization.clone().unwrap_or_default()); }
            div { label for="q" { "Narrow with a one-line query" } input type="text" #q name="q" value=(filters.q); }
            div.actions { button type="submit" { "Show" } }
        }
        div.stats.panel {
            div { div.value #user-total { (number(total)) } div.muted { "records in the period" } }
            div { div.value { (number(outside)) } div.muted { "outside working hours" } }
            div { div.value { (number(per_day.iter().filter(|b| b.count > 0).count() as u64)) } div.muted { "active days" } }
        }
        div.grid2 {
            div.panel { h2 { "Activity per day" } (charts::columns("Records per day (UTC); weekends highlighted", &day_bars)) }
            div.panel { h2 { "Activity per hour of day" } (charts::columns("Records per hour of day (UTC); outside working hours highlighted", &hour_bars)) }
            div.panel {
                h2 { "Tables" }
                table { @for b in &entities { tr { td { (if b.key.is_empty() { "(none)" } else { &b.key }) } td.num { (number(b.count)) } } } }
            }
            div.panel {
                h2 { "Actions" }
                table { @for b in &messages { tr { td { (if b.key.is_empty() { "(none)" } else { &b.key }) } td.num { (number(b.count)) } } } }
            }
        }
        @if principal.may(Role::Auditor) {
            div.actions.no-print {
                a.button.secondary href=(format!("/export?format=csv&{}", export_params(&query))) { "Export CSV" }
                a.button.secondary href=(format!("/export?format=raw&{}", export_params(&query))) { "Export as received" }
            }
        }
        h2 { "Events, newest first" }
        @if found.rows.is_empty() {
            div.notice #no-events { "No activity by this user in the period." }
        } @else {
            (layout::records_table(&found.rows, false))
        }
        div.pager.no-print {
            @if let Some(next) = found.next {
                a #next-page href=(format!("/timeline/user?{range_params}&after={}&n={}", next.encode(), user.n + found.rows.len() as u64)) { "Next events »" }
            }
        }
    };
    Ok(page(&principal, Nav::Search, &format!("User timeline: {subject}"), body).into_response())
}

fn export_params(query: &RecordQuery) -> String {
    format!("q={}", url_encode(&query_line(query)))
}
