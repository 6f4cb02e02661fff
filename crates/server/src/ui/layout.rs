//! The frame every page shares (navigation by role, the signed-in account, sign-out), the
//! error page, and small pieces the pages reuse (CSRF field, badges, times, links).

use archive::{RecordSummary, Role};
use axum::response::Html;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::error::Failure;
use crate::principal::{Principal, url_encode};

/// The navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Search,
    Reports,
    Status,
    Sql,
    Admin,
    Account,
    None,
}

/// The name of the form field that carries the anti-CSRF token.
pub const CSRF_FIELD: &str = "csrf";

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="no-referrer";
            title { (title) " · d365audit" }
            link rel="stylesheet" href="/assets/app.css";
        }
    }
}

/// A page for a signed-in person.
pub fn page(principal: &Principal, nav: Nav, title: &str, body: Markup) -> Html<String> {
    let item = |target: Nav, href: &str, label: &str| {
        html! { a href=(href) class=[(nav == target).then_some("active")] { (label) } }
    };
    let account = &principal.account;
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body {
                    header.top {
                        a.brand href="/search" { "d365audit" }
                        nav aria-label="Main" {
                            (item(Nav::Search, "/search", "Search"))
                            (item(Nav::Reports, "/reports", "Reports"))
                            (item(Nav::Status, "/status", "Collection status"))
                            @if principal.may(Role::Auditor) {
                                (item(Nav::Sql, "/sql", "SQL console"))
                            }
                            @if principal.may(Role::Admin) {
                                (item(Nav::Admin, "/admin/users", "Admin"))
                            }
                        }
                        div.who {
                            a href="/account" class=[(nav == Nav::Account).then_some("active")]
                                title=(format!("{} ({})", account.username, account.role.as_str())) {
                                span #who { (account.display_name) }
                            }
                            span.badge { (account.role.as_str()) }
                            form method="post" action="/sign-out" {
                                (csrf_field(principal))
                                button type="submit" #sign-out { "Sign out" }
                            }
                        }
                    }
                    main { (body) }
                }
            }
        }
        .into_string(),
    )
}

/// A page without the signed-in frame (sign-in, errors).
pub fn bare_page(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body { main { (body) } }
            }
        }
        .into_string(),
    )
}

pub fn error_page(failure: &Failure) -> Html<String> {
    bare_page(
        "Error",
        html! {
            div.panel.sign-in {
                h1 { "That did not work" }
                div.notice.error #error { (failure.message) }
                p { a href="/search" { "Back to search" } }
            }
        },
    )
}

/// The hidden anti-CSRF field every form carries.
pub fn csrf_field(principal: &Principal) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(principal.csrf_token()); }
}

/// A UTC time as tables show it.
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

pub fn opt_time(at: Option<DateTime<Utc>>) -> String {
    at.map(time).unwrap_or_else(|| "—".into())
}

/// How long ago, roughly.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7_199 => format!("{} min", s / 60),
        7_200..=172_799 => format!("{} h", s / 3_600),
        _ => format!("{} days", s / 86_400),
    }
}

pub fn access_badge(access: &str) -> Markup {
    html! { span class=(format!("badge {access}")) { (access.replace('_', " ")) } }
}

/// What a record's message is, in one cell.
pub fn message(row: &RecordSummary) -> &str {
    row.message.as_deref().unwrap_or(&row.operation)
}

pub fn record_link(id: &str) -> String {
    format!("/records/{}", url_encode(id))
}

pub fn user_link(user: &str) -> String {
    format!("/timeline/user?u={}", url_encode(user))
}

pub fn record_timeline_link(id: &uuid::Uuid) -> String {
    format!("/timeline/record/{id}")
}

pub fn search_link(line: &str) -> String {
    format!("/search?q={}", url_encode(line))
}

/// Text that is already HTML (escaped by the caller).
pub fn raw(html: String) -> PreEscaped<String> {
    PreEscaped(html)
}

/// The rows of a search or timeline, as a table.
pub fn records_table(rows: &[RecordSummary], show_via: bool) -> Markup {
    html! {
        div.table-scroll {
            table.records {
                thead {
                    tr {
                        th { "Time (UTC)" }
                        th { "User" }
                        th { "Action" }
                        th { "Entity" }
                        th { "Record" }
                        @if show_via { th { "How" } }
                        th { "Organization" }
                        th { "Client IP" }
                        th { "Access" }
                    }
                }
                tbody {
                    @for row in rows {
                        tr {
                            td.time { a href=(record_link(&row.id)) { (time(row.time)) } }
                            td.wrap { a href=(user_link(&row.user)) { (row.user) } }
                            td { (message(row)) }
                            td { (row.entity.as_deref().unwrap_or("")) }
                            td.wrap {
                                @if let Some(id) = row.entity_id {
                                    a href=(record_timeline_link(&id)) title=(id.to_string()) {
                                        (row.primary_field_value.clone().unwrap_or_else(|| id.to_string()))
                                    }
                                } @else {
                                    (row.primary_field_value.as_deref().unwrap_or(""))
                                }
                            }
                            @if show_via {
                                td { (via_text(row)) }
                            }
                            td { (row.organization.as_deref().unwrap_or("")) }
                            td { (row.client_ip.as_deref().unwrap_or("")) }
                            td { (access_badge(&row.access)) }
                        }
                    }
                }
            }
        }
    }
}

/// How a record-timeline row concerns the record.
pub fn via_text(row: &RecordSummary) -> &'static str {
    match row.via {
        Some(archive::Via::QueryResults) if row.message.as_deref() == Some("ExportToExcel") => {
            "exported in a list"
        }
        Some(archive::Via::QueryResults) => "listed in results",
        Some(archive::Via::Entity) => match row.access.as_str() {
            "read" => "opened",
            "create" => "created",
            "update" => "changed",
            "delete" => "deleted",
            _ => "acted on",
        },
        None => "",
    }
}
