//! The signed-in person's own account: change the password (which ends every session of the
//! account) and manage personal API tokens for scripts (shown once when created).

use archive::ApiToken;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Duration;
use maud::{Markup, html};
use serde::Deserialize;

use crate::access_log::Channel;
use crate::accounts;
use crate::error::{Failure, PageError};
use crate::principal::{Principal, UiUser};
use crate::secrets::{self, Secret};
use crate::state::ServerState;
use crate::ui::admin::{account_failure, actor};
use crate::ui::layout::{Nav, csrf_field, opt_time, page, time};

async fn account_page(
    state: &ServerState,
    principal: &Principal,
    status: StatusCode,
    notice: Markup,
) -> Result<Response, PageError> {
    let tokens: Vec<ApiToken> = state
        .backend()
        .api_tokens_of(principal.account.id)
        .await
        .map_err(|e| Failure::archive("listing API tokens", e))?;
    let a = &principal.account;
    let body = html! {
        h1 { "Your account" }
        (notice)
        table.fields.panel {
            tr { th { "Username" } td #account-username { (a.username) } }
            tr { th { "Name" } td { (a.display_name) } }
            tr { th { "Role" } td { (a.role.as_str()) } }
        }
        h2 { "API tokens" }
        p.muted { "For scripts: send `Authorization: Bearer <token>` to /api/v1. A token acts with your role; revoke it when it is no longer needed." }
        @if !tokens.is_empty() {
            table #tokens {
                thead { tr { th { "Name" } th { "Created (UTC)" } th { "Expires (UTC)" } th { "Last used (UTC)" } th { "" } } }
                tbody {
                    @for token in &tokens {
                        tr {
                            td { (token.name) }
                            td.time { (time(token.created_at)) }
                            td.time { (opt_time(token.expires_at)) }
                            td.time { (opt_time(token.last_used_at)) }
                            td {
                                @if token.revoked { "revoked" } @else {
                                    form.inline method="post" action=(format!("/account/tokens/{}/revoke", token.id)) {
                                        (csrf_field(principal))
                                        button.secondary type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        form.filters.panel method="post" action="/account/tokens" #new-token {
            (csrf_field(principal))
            div { label for="token-name" { "Name" } input type="text" #token-name name="name" placeholder="nightly export"; }
            div { label for="token-days" { "Valid for (days; empty: until revoked)" } input type="text" #token-days name="days" value="90"; }
            div.actions { button type="submit" #create-token { "Create token" } }
        }
        h2 { "Password" }
        form.filters.panel method="post" action="/account/password" #change-password {
            (csrf_field(principal))
            div { label for="current" { "Current password" } input type="password" #current name="current" autocomplete="current-password" required; }
            div { label for="new" { "New password (12 characters or more)" } input type="password" #new name="new" autocomplete="new-password" required; }
            div.actions { button type="submit" { "Change password" } }
        }
    };
    Ok((status, page(principal, Nav::Account, "Your account", body)).into_response())
}

/// `GET /account`.
pub async fn show(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
) -> Result<Response, PageError> {
    account_page(&state, &principal, StatusCode::OK, html! {}).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenForm {
    csrf: String,
    name: String,
    days: String,
}

/// `POST /account/tokens`: creates a token and shows it once.
pub async fn create_token(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Form(form): Form<TokenForm>,
) -> Result<Response, PageError> {
    principal.check_csrf(Some(&form.csrf))?;
    let now = state.now();
    let expires_at = match form.days.trim() {
        "" => None,
        text => match text.parse::<i64>() {
            Ok(days) if (1..=3650).contains(&days) => Some(now + Duration::days(days)),
            _ => {
                return Err(Failure::bad_request(
                    "the validity is a number of days from 1 to 3650, or empty",
                )
                .into());
            }
        },
    };
    let (token, secret) = accounts::create_api_token(
        state.backend(),
        &actor(&principal, Channel::Ui),
        &principal.account.username,
        &form.name,
        expires_at,
        now,
    )
    .await
    .map_err(account_failure)?;
    let notice = html! {
        div.notice.ok {
            p { "Token " strong { (token.name) } " created. Copy it now: it is not shown again." }
            p.token #new-token-value { (secret.expose()) }
        }
    };
    account_page(&state, &principal, StatusCode::OK, notice).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfOnly {
    csrf: String,
}

/// `POST /account/tokens/{id}/revoke`.
pub async fn revoke_token(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    principal.check_csrf(Some(&form.csrf))?;
    accounts::revoke_api_token(
        state.backend(),
        &actor(&principal, Channel::Ui),
        &principal.account.username,
        id,
        state.now(),
    )
    .await
    .map_err(account_failure)?;
    Ok(Redirect::to("/account").into_response())
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current: Secret,
    new: Secret,
}

/// `POST /account/password`: needs the current password; signs the account out everywhere.
pub async fn change_password(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    principal.check_csrf(Some(&form.csrf))?;
    let stored = principal.account.password_hash.clone();
    let current = form.current;
    let matches = tokio::task::spawn_blocking(move || secrets::verify_password(&current, &stored))
        .await
        .unwrap_or(false);
    if !matches {
        let notice = html! { div.notice.error role="alert" { "The current password is wrong." } };
        return account_page(&state, &principal, StatusCode::FORBIDDEN, notice).await;
    }
    let outcome = accounts::set_password(
        state.backend(),
        &actor(&principal, Channel::Ui),
        &principal.account.username,
        form.new,
        state.now(),
    )
    .await;
    match outcome {
        Ok(()) => Ok(Redirect::to("/sign-in").into_response()),
        Err(error) => {
            let failure = account_failure(error);
            let notice = html! { div.notice.error role="alert" { (failure.message) } };
            account_page(&state, &principal, failure.code.status(), notice).await
        }
    }
}
