//! Dataverse field history in the web UI: the pieces the record timeline shows for an audit
//! change (who changed which column from what to what), the change detail page with the row
//! and detail exactly as received and their hash, and the restore plan page (the Web API
//! request that would put a record back as it was; shown, never sent).

use archive::{ChangeSource, Role, StoredChange};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use dataverse::restore::Verdict;
use maud::{Markup, html};
use record::{ChangeDetail, FieldChange, FieldValue};
use serde::Deserialize;

use crate::access_log::{self, Channel, Use};
use crate::changes::{self, EMPTY, NEVER_SENT};
use crate::charts::number;
use crate::error::PageError;
use crate::principal::{UiUser, url_encode};
use crate::query_input::{parse_guid, time_text};
use crate::state::ServerState;
use crate::ui::layout::{self, Nav, page, time};

/// Where a change's detail page is.
pub fn change_link(stored: &StoredChange) -> String {
    format!("/change/{}", stored.change.audit_id)
}

/// A link to the timeline of whoever made a change (by system user id, which the activity
/// records carry too), or the name alone.
pub fn who_markup(stored: &StoredChange) -> Markup {
    let change = &stored.change;
    html! {
        @match change.user_id {
            Some(id) => a href=(layout::user_link(&id.to_string())) title=(id.to_string()) { (changes::who(change)) },
            None => (changes::who(change)),
        }
    }
}

/// Where a change came from, short (for a table cell).
pub fn source_short(source: &ChangeSource) -> String {
    match source {
        ChangeSource::Dataverse { environment } => environment
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
        ChangeSource::AuditBase { file, .. } => format!("AuditBase {file}"),
    }
}

/// The action label and the detail in words, for a timeline cell.
pub fn change_cell(stored: &StoredChange) -> Markup {
    let change = &stored.change;
    let lines = changes::detail_lines(change);
    html! {
        strong.change-action { (change.action.label()) }
        @if lines.is_empty() {
            @if matches!(change.detail, ChangeDetail::None) {
                div.small.muted { "no old and new values kept" }
            }
        } @else {
            ul.change-lines {
                @for line in &lines { li { (line) } }
            }
        }
    }
}

fn value_cell(value: Option<&FieldValue>) -> Markup {
    html! {
        @match value {
            None => span.muted { (EMPTY) },
            Some(value) => {
                (changes::shown(Some(value)))
                @let plain = match &value.value { serde_json::Value::String(s) => s.clone(), other => other.to_string() };
                @if value.formatted.is_some() && plain != changes::shown(Some(value)) {
                    div.small.muted.mono { (plain) }
                }
                @if let Some(table) = &value.lookup_table {
                    div.small.muted { "→ " (table) }
                }
            }
        }
    }
}

fn fields_table(id: &str, fields: &[FieldChange]) -> Markup {
    html! {
        table id=(id) {
            thead { tr { th { "Column" } th { "Old value" } th { "New value" } } }
            tbody {
                @for f in fields {
                    tr {
                        td.mono { (f.field) }
                        td.wrap { (value_cell(f.old.as_ref())) }
                        td.wrap { (value_cell(f.new.as_ref())) }
                    }
                }
            }
        }
    }
}

fn detail_markup(stored: &StoredChange) -> Markup {
    let change = &stored.change;
    html! {
        @match &change.detail {
            ChangeDetail::Attributes { changes: fields, deleted, invalid_new } => {
                (fields_table("change-fields", fields))
                @if !deleted.is_empty() {
                    h3 { "Columns deleted from the table since" }
                    (fields_table("deleted-fields", deleted))
                }
                @if !invalid_new.is_empty() {
                    h3 { "Columns whose new value could not be shown" }
                    ul { @for f in invalid_new { li.mono { (f) } } }
                }
            }
            ChangeDetail::RolePrivileges { old, new, invalid_new } => {
                p #change-summary { (changes::summary(change)) }
                div.grid2 {
                    @for (title, list) in [("Before", old), ("After", new)] {
                        div {
                            h3 { (title) }
                            table {
                                tr { th { "Privilege" } th { "Depth" } th { "Business unit" } }
                                @for p in list {
                                    tr {
                                        td.mono { (p.privilege_id) }
                                        td { (p.depth) }
                                        td.mono { (p.business_unit_id.map(|b| b.to_string()).unwrap_or_default()) }
                                    }
                                }
                            }
                        }
                    }
                }
                @if !invalid_new.is_empty() {
                    p.muted { "Not shown: " (invalid_new.iter().map(|u| u.to_string()).collect::<Vec<_>>().join(", ")) }
                }
            }
            _ => {
                p #change-summary { (changes::summary(change)) }
            }
        }
    }
}

/// `GET /change/{auditid}`: one audit change in full, with its bytes as received.
pub async fn change_page(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let audit_id = parse_guid("auditid", &id)?;
    let stored = changes::one_change(&state, audit_id).await?;
    access_log::record(
        &state,
        &principal,
        Channel::Ui,
        Use { action: "change_view", detail: audit_id.to_string(), rows: Some(1) },
    )
    .await?;
    let change = &stored.change;
    let intact = changes::hash_matches(&stored);
    let row_text = String::from_utf8_lossy(&stored.raw_row);
    let detail_text = stored.raw_detail.as_deref().map(String::from_utf8_lossy);
    let pretty = |bytes: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
    };
    let line = |label: &str, value: Option<String>| {
        html! {
            @if let Some(value) = value.filter(|v| !v.is_empty()) {
                tr { th { (label) } td.wrap { (value) } }
            }
        }
    };
    let title = format!(
        "{} of {} {}",
        change.action.label(),
        change.table,
        change.object_name.clone().unwrap_or_default()
    );
    let body = html! {
        h1 #change-title { (title.trim()) }
        p.muted { (time(change.created_on)) " UTC · " (who_markup(&stored)) }
        div.actions.no-print {
            @if let Some(object_id) = change.object_id {
                a.button.secondary #change-timeline-link href=(layout::record_timeline_link(&object_id)) { "Record timeline" }
            }
        }
        div.grid2 {
            div.panel {
                h2 { "The change" }
                table.fields #change-meta {
                    (line("Audit id (auditid)", Some(change.audit_id.to_string())))
                    (line("Time (UTC)", Some(change.created_on.to_rfc3339())))
                    (line("Action", Some(format!("{} ({}, {})", change.action.label(), change.action.0, change.category()))))
                    (line("Operation", Some(format!("{} ({})", change.operation.label(), change.operation.0))))
                    (line("Table", Some(change.table.clone())))
                    (line("Record", change.object_id.map(|u| u.to_string())))
                    (line("Record name", change.object_name.clone()))
                    (line("User", change.user_name.clone()))
                    (line("System user id", change.user_id.map(|u| u.to_string())))
                    (line("Calling user (impersonation)", change.calling_user_id.map(|u| u.to_string())))
                    (line("Transaction id", change.transaction_id.map(|u| u.to_string())))
                    (line("Attribute mask", (!change.attribute_mask.is_empty()).then(|| change.attribute_mask.iter().map(u32::to_string).collect::<Vec<_>>().join(","))))
                    (line("Source", Some(changes::source_words(&stored.source))))
                }
            }
            div.panel {
                h2 { "Evidence" }
                table.fields #change-evidence {
                    (line("Stored at (UTC)", Some(stored.ingested_at.to_rfc3339())))
                    (line("BLAKE3 of the row and detail", Some(stored.hash.clone())))
                    tr {
                        th { "Hash check" }
                        td #hash-check {
                            @if intact { span.badge.create { "matches the bytes below" } }
                            @else { span.badge.delete { "DOES NOT MATCH the bytes below: run d365audit verify" } }
                        }
                    }
                    (line("Row size", Some(format!("{} bytes", number(stored.raw_row.len() as u64)))))
                    (line("Detail size", stored.raw_detail.as_ref().map(|d| format!("{} bytes", number(d.len() as u64)))))
                }
                p.small.muted { "The hash covers the row's bytes followed by the detail's bytes, exactly as received." }
            }
        }
        div.panel {
            h2 { "Detail" }
            (detail_markup(&stored))
        }
        div.panel {
            h2 { "As received" }
            h3 { "Audit row" }
            pre.raw #raw-row { (row_text) }
            @if let Some(pretty) = pretty(&stored.raw_row) {
                details { summary { "Formatted" } pre.raw { (pretty) } }
            }
            h3 { "Detail (RetrieveAuditDetails)" }
            @match &detail_text {
                Some(text) => {
                    pre.raw #raw-detail { (text) }
                    @if let Some(pretty) = stored.raw_detail.as_deref().and_then(pretty) {
                        details { summary { "Formatted" } pre.raw { (pretty) } }
                    }
                }
                None => p.muted #raw-detail-none { "No detail was received for this row." },
            }
        }
    };
    Ok(page(&principal, Nav::Search, &title, body).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RestoreParams {
    pub at: String,
    pub entity_set: String,
}

/// The restore plan form (on the record timeline and the plan page).
pub fn restore_form(record_id: uuid::Uuid, at: &str, entity_set: &str, hint: &str) -> Markup {
    html! {
        form.filters.panel.no-print #restore-form method="get" action=(format!("/timeline/record/{record_id}/restore")) {
            div {
                label for="restore-at" { "Restore plan as of (UTC)" }
                input type="text" #restore-at name="at" value=(at) placeholder="2026-06-01T10:00:00Z";
            }
            div {
                label for="restore-entity-set" { "Entity set (optional)" }
                input type="text" #restore-entity-set name="entity_set" value=(entity_set) placeholder=(hint);
            }
            div.actions { button type="submit" #restore-plan { "Show restore plan" } }
        }
    }
}

/// `GET /timeline/record/{id}/restore?at=...&entity_set=...`: auditors.
pub async fn restore_page(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Path(id): Path<String>,
    Query(params): Query<RestoreParams>,
) -> Result<Response, PageError> {
    principal.require(Role::Auditor, "Restore plans")?;
    let record_id = parse_guid("record", &id)?;
    let at: DateTime<Utc> = changes::parse_at(&params.at, state.now())?;
    let entity_set = changes::parse_entity_set(&params.entity_set)?;
    let plan = changes::plan(&state, record_id, at, entity_set).await?;
    access_log::record(
        &state,
        &principal,
        Channel::Ui,
        Use {
            action: "restore_plan",
            detail: changes::plan_detail(record_id, at, entity_set),
            rows: Some(plan.fields.len() as u64),
        },
    )
    .await?;
    let verdict_class = match plan.verdict {
        Verdict::Patch | Verdict::Recreate => "notice warn",
        Verdict::AlreadyAsItWas => "notice ok",
        Verdict::DidNotExist | Verdict::NoHistory => "notice",
    };
    let body_json = plan.request.as_ref().and_then(|r| {
        serde_json::to_string_pretty(&serde_json::Value::Object(r.body.clone())).ok()
    });
    let hint = if plan.table.is_empty() {
        "guessed from the table".to_string()
    } else {
        format!("guessed: {}", dataverse::restore::guess_entity_set(&plan.table))
    };
    let title = "Restore plan";
    let body = html! {
        h1 #restore-title { (title) }
        div.panel #restore-header {
            table.fields {
                tr { th { "Record" } td.mono { a href=(layout::record_timeline_link(&record_id)) { (record_id) } } }
                @if !plan.table.is_empty() { tr { th { "Table" } td { (plan.table) } } }
                tr { th { "As of" } td #restore-as-of { (time(plan.at)) " UTC" } }
                tr { th { "Prepared" } td { (time(state.now())) " UTC by " (principal.account.display_name) " (" (principal.account.username) ") from the archive's field history" } }
            }
        }
        div class=(verdict_class) #restore-verdict { (changes::verdict_text(&plan)) }
        div.notice.error #never-sent role="note" { strong { (NEVER_SENT) } }
        @if let Some(request) = &plan.request {
            div.panel {
                h2 { "The request" }
                p.mono #restore-line {
                    span #restore-method { (request.method) } " " span #restore-path { (request.path) }
                }
                p.small.muted { "Relative to the environment's Web API, e.g. https://contoso.crm4.dynamics.com/api/data/v9.2/. Send with Content-Type: application/json" @if request.method == "PATCH" { " and If-Match: * (so it does not create a record)" } "." }
                pre.raw #restore-body { (body_json.clone().unwrap_or_default()) }
            }
        }
        @if !plan.fields.is_empty() {
            div.panel {
                h2 { "Columns" }
                div.table-scroll {
                    table #restore-fields {
                        thead { tr { th { "Column" } th { "As it was" } th { "Now (after the last audited change)" } th { "First changed by" } th { "On (UTC)" } } }
                        tbody {
                            @for f in &plan.fields {
                                tr {
                                    td.mono { (f.field) }
                                    td.wrap { (value_cell(f.restored.as_ref())) }
                                    td.wrap { (value_cell(f.current.as_ref())) }
                                    td.wrap { (f.first_changed_by.clone().unwrap_or_default()) }
                                    td.time { (time(f.first_changed_on)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !plan.warnings.is_empty() {
            div.panel {
                h2 { "Check before sending" }
                ul #restore-warnings {
                    @for w in &plan.warnings { li { (w.replace("pass --entity-set", "fill in the entity set")) } }
                }
            }
        }
        (restore_form(record_id, &time_text(at), &params.entity_set, &hint))
        div.actions.no-print {
            a.button.secondary href=(layout::record_timeline_link(&record_id)) { "Back to the record timeline" }
            a.button.secondary href=(format!("/api/v1/records/{record_id}/restore-plan?at={}{}", url_encode(&time_text(at)), entity_set.map(|s| format!("&entity_set={s}")).unwrap_or_default())) { "As JSON" }
        }
    };
    Ok(page(&principal, Nav::Search, title, body).into_response())
}
