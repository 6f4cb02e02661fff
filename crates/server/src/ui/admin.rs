//! Admin pages: accounts (create, role, disable, reset password), the access log (the archive's
//! audit of its own use) and the server's settings (read-only; secrets shown as set or not).

use archive::{Account, Role};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use crate::access_log::{self, Channel, Use};
use crate::accounts::{self, AccountError, Actor};
use crate::charts::number;
use crate::error::{ErrorCode, Failure, PageError};
use crate::principal::{Principal, UiUser, url_encode};
use crate::query_input::time_text;
use crate::secrets::Secret;
use crate::state::ServerState;
use crate::ui::layout::{Nav, csrf_field, page, time};

/// Maps an account change failure to what the admin sees.
pub fn account_failure(error: AccountError) -> Failure {
    match error {
        AccountError::UnknownAccount { .. } | AccountError::UnknownToken { .. } => {
            Failure::not_found(error.to_string())
        }
        AccountError::UsernameTaken { .. } => Failure::new(ErrorCode::Conflict, error.to_string()),
        AccountError::Store(e) => Failure::archive("changing an account", e),
        other => Failure::bad_request(other.to_string()),
    }
}

pub fn actor(principal: &Principal, channel: Channel) -> Actor {
    Actor {
        username: principal.account.username.clone(),
        channel: channel.as_str(),
        client_ip: principal.client_ip.clone(),
    }
}

fn admin_nav() -> Markup {
    html! {
        div.actions.no-print {
            a.button.secondary href="/admin/users" { "Accounts" }
            a.button.secondary href="/admin/access-log" { "Access log" }
            a.button.secondary href="/admin/settings" { "Settings" }
        }
    }
}

fn role_select(name: &str, id: &str, current: Role) -> Markup {
    html! {
        select name=(name) id=(id) {
            @for role in [Role::Viewer, Role::Auditor, Role::Admin] {
                option value=(role.as_str()) selected[role == current] { (role.as_str()) }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Done {
    done: String,
}

fn done_message(done: &str) -> Option<&'static str> {
    match done {
        "created" => Some("The account was created."),
        "role" => Some("The role was changed."),
        "disabled" => Some("The account was disabled and its sessions ended."),
        "enabled" => Some("The account was enabled."),
        "password" => Some("The password was set and the account's sessions ended."),
        _ => None,
    }
}

async fn users_page(
    state: &ServerState,
    principal: &Principal,
    status: StatusCode,
    message: Option<Result<&str, &str>>,
) -> Result<Response, PageError> {
    let accounts =
        state.backend().accounts().await.map_err(|e| Failure::archive("listing accounts", e))?;
    let body = html! {
        h1 { "Accounts" }
        (admin_nav())
        @match message {
            Some(Ok(text)) => div.notice.ok #admin-message { (text) },
            Some(Err(text)) => div.notice.error #admin-error role="alert" { (text) },
            None => {},
        }
        div.table-scroll {
            table #accounts {
                thead { tr { th { "Username" } th { "Name" } th { "Role" } th { "State" } th { "Created (UTC)" } th { "Change" } } }
                tbody {
                    @for account in &accounts {
                        (account_row(principal, account))
                    }
                }
            }
        }
        h2 { "New account" }
        form.filters.panel method="post" action="/admin/users" #new-account {
            (csrf_field(principal))
            div { label for="new-username" { "Username" } input type="text" #new-username name="username" required; }
            div { label for="new-display" { "Name" } input type="text" #new-display name="display_name"; }
            div { label for="new-role" { "Role" } (role_select("role", "new-role", Role::Viewer)) }
            div { label for="new-password" { "Password (12 characters or more)" } input type="password" #new-password name="password" autocomplete="new-password" required; }
            div.actions { button type="submit" #create-account { "Create" } }
        }
        p.muted.small { "Roles: viewer — search, timelines, reports; auditor — also exports and the SQL console; admin — also accounts, the access log and settings." }
    };
    Ok((status, page(principal, Nav::Admin, "Accounts", body)).into_response())
}

fn account_row(principal: &Principal, account: &Account) -> Markup {
    let base = format!("/admin/users/{}", account.id);
    html! {
        tr data-username=(account.username) {
            td { (account.username) }
            td { (account.display_name) }
            td { span.badge { (account.role.as_str()) } }
            td { @if account.disabled { span.badge.health-failing { "disabled" } } @else { "active" } }
            td.time { (time(account.created_at)) }
            td {
                form.inline method="post" action=(format!("{base}/role")) {
                    (csrf_field(principal))
                    (role_select("role", &format!("role-{}", account.id), account.role))
                    " " button.secondary type="submit" { "Set role" }
                }
                " "
                form.inline method="post" action=(format!("{base}/disabled")) {
                    (csrf_field(principal))
                    input type="hidden" name="disabled" value=(if account.disabled { "false" } else { "true" });
                    button.secondary type="submit" { @if account.disabled { "Enable" } @else { "Disable" } }
                }
                details {
                    summary.small { "Set password" }
                    form method="post" action=(format!("{base}/password")) {
                        (csrf_field(principal))
                        input type="password" name="password" autocomplete="new-password" placeholder="new password";
                        button.secondary type="submit" { "Set" }
                    }
                }
            }
        }
    }
}

/// `GET /admin/users`.
pub async fn users(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    principal.require(Role::Admin, "Managing accounts")?;
    users_page(&state, &principal, StatusCode::OK, done_message(&done.done).map(Ok)).await
}

#[derive(Debug, Deserialize)]
pub struct NewAccountForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    password: Secret,
}

async fn after_change(
    state: &ServerState,
    principal: &Principal,
    outcome: Result<&'static str, AccountError>,
) -> Result<Response, PageError> {
    match outcome {
        Ok(done) => Ok(Redirect::to(&format!("/admin/users?done={done}")).into_response()),
        Err(error) => {
            let failure = account_failure(error);
            if failure.code == ErrorCode::Internal || failure.code == ErrorCode::Unavailable {
                return Err(failure.into());
            }
            users_page(state, principal, failure.code.status(), Some(Err(&failure.message))).await
        }
    }
}

fn parse_role(text: &str) -> Result<Role, AccountError> {
    Role::parse(text).ok_or(AccountError::InvalidUsername {
        username: text.to_string(),
        reason: "is not a role: use viewer, auditor or admin",
    })
}

/// `POST /admin/users`.
pub async fn create(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Form(form): Form<NewAccountForm>,
) -> Result<Response, PageError> {
    principal.require(Role::Admin, "Managing accounts")?;
    principal.check_csrf(Some(&form.csrf))?;
    let outcome = async {
        let role = parse_role(&form.role)?;
        accounts::add_account(
            state.backend(),
            &actor(&principal, Channel::Ui),
            form.username.trim(),
            &form.display_name,
            role,
            form.password,
            state.now(),
        )
        .await
        .map(|_| "created")
    }
    .await;
    after_change(&state, &principal, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    disabled: String,
    password: Option<Secret>,
}

async fn username_of(state: &ServerState, id: i64) -> Result<String, AccountError> {
    state
        .backend()
        .account_by_id(id)
        .await?
        .map(|a| a.username)
        .ok_or(AccountError::UnknownAccount { username: format!("#{id}") })
}

/// `POST /admin/users/{id}/{change}` with `change` one of `role`, `disabled`, `password`.
pub async fn change(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Path((id, change)): Path<(i64, String)>,
    Form(form): Form<ChangeForm>,
) -> Result<Response, PageError> {
    principal.require(Role::Admin, "Managing accounts")?;
    principal.check_csrf(Some(&form.csrf))?;
    let actor = actor(&principal, Channel::Ui);
    let now = state.now();
    let store = state.backend();
    let outcome = async {
        let username = username_of(&state, id).await?;
        match change.as_str() {
            "role" => {
                accounts::set_role(store, &actor, &username, parse_role(&form.role)?, now).await?;
                Ok("role")
            }
            "disabled" => {
                let disabled = form.disabled == "true";
                accounts::set_disabled(store, &actor, &username, disabled, now).await?;
                Ok(if disabled { "disabled" } else { "enabled" })
            }
            "password" => {
                let password = form.password.clone().unwrap_or_else(|| Secret::new(""));
                accounts::set_password(store, &actor, &username, password, now).await?;
                Ok("password")
            }
            _ => Err(AccountError::UnknownAccount { username }),
        }
    }
    .await;
    after_change(&state, &principal, outcome).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Before {
    before: String,
}

/// `GET /admin/access-log`.
pub async fn access_log_page(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Query(before): Query<Before>,
) -> Result<Response, PageError> {
    principal.require(Role::Admin, "Reading the access log")?;
    let before: Option<DateTime<Utc>> = match before.before.trim() {
        "" => None,
        text => Some(
            DateTime::parse_from_rfc3339(text)
                .map_err(|_| Failure::bad_request("`before` is not an RFC 3339 time"))?
                .with_timezone(&Utc),
        ),
    };
    let entries = state
        .backend()
        .access_log(100, before)
        .await
        .map_err(|e| Failure::archive("reading the access log", e))?;
    access_log::record(
        &state,
        &principal,
        Channel::Ui,
        Use {
            action: "access_log",
            detail: before.map(|b| format!("before {}", time_text(b))).unwrap_or_default(),
            rows: Some(entries.len() as u64),
        },
    )
    .await?;
    let body = html! {
        h1 { "Access log" }
        (admin_nav())
        p.muted { "Every search, timeline, report, export, SQL statement, sign-in and account change made through the UI, the API or the command line. Newest first." }
        div.table-scroll {
            table #access-log {
                thead { tr { th { "At (UTC)" } th { "User" } th { "Action" } th { "What" } th.num { "Rows" } th { "From" } th { "Via" } } }
                tbody {
                    @for entry in &entries {
                        tr {
                            td.time { (time(entry.at)) }
                            td { (entry.username) }
                            td { span.badge { (entry.action) } }
                            td.wrap.small { (entry.detail) }
                            td.num { (entry.rows.map(number).unwrap_or_default()) }
                            td { (entry.client_ip.clone().unwrap_or_default()) }
                            td { (entry.channel) }
                        }
                    }
                }
            }
        }
        @if entries.len() == 100 {
            @if let Some(last) = entries.last() {
                div.pager { a #older href=(format!("/admin/access-log?before={}", url_encode(&time_text(last.at)))) { "Older »" } }
            }
        }
    };
    Ok(page(&principal, Nav::Admin, "Access log", body).into_response())
}

/// `GET /admin/settings`.
pub async fn settings(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
) -> Result<Response, PageError> {
    principal.require(Role::Admin, "Reading the settings")?;
    let s = state.settings();
    let set = |v: bool| if v { "set" } else { "not set" };
    let rows: Vec<(&str, String)> = vec![
        ("Session lifetime", format!("{} minutes", s.session_lifetime.num_minutes())),
        ("Secure cookies", s.secure_cookies.to_string()),
        (
            "Failed sign-ins allowed",
            format!(
                "{} per account, {} per address, per {} minutes",
                s.sign_in_limit.per_account,
                s.sign_in_limit.per_address,
                s.sign_in_limit.window.num_minutes()
            ),
        ),
        ("SQL console limits", format!("{} s, {} rows", s.sql.timeout.as_secs(), s.sql.max_rows)),
        ("Webhook authId", set(s.webhook_auth_id.is_some()).into()),
        ("Webhook body limit", format!("{} bytes", s.webhook_max_body_bytes)),
        ("Webhook intake", set(state.shared.hooks.intake.is_some()).into()),
        ("Metrics token", set(s.metrics_token.is_some()).into()),
        ("Trust X-Forwarded-For", s.trust_forwarded_for.to_string()),
        (
            "Working hours (UTC, Mon–Fri)",
            format!("{:02}:00–{:02}:00", s.working_hours.start_hour, s.working_hours.end_hour),
        ),
        ("Default report period", format!("{} days", s.default_report_days)),
        ("Default user timeline period", format!("{} days", s.default_timeline_days)),
        ("Reports cached briefly", s.cache_reports.to_string()),
        ("Archive", format!("{:?}", state.backend())),
    ];
    let body = html! {
        h1 { "Settings" }
        (admin_nav())
        p.muted { "Set on the command line of `d365audit serve` and in the configuration file; shown read-only." }
        table.fields #settings {
            @for (name, value) in &rows { tr { th { (name) } td { (value) } } }
        }
    };
    Ok(page(&principal, Nav::Admin, "Settings", body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_messages_come_from_a_fixed_list() {
        assert!(done_message("created").is_some());
        assert!(done_message("<script>").is_none());
    }
}
