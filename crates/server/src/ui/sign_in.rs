//! Signing in and out. The sign-in form is protected against login CSRF by a double-submit
//! cookie; failed attempts are throttled per account and per address and logged; the session
//! cookie is `HttpOnly`, `SameSite=Lax`, `Secure` (unless plain http on loopback) and lasts the
//! configured lifetime. The same message answers an unknown user and a wrong password.

use std::sync::atomic::Ordering;

use archive::{AccessEntry, Session};
use axum::Form;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::access_log;
use crate::error::{Failure, PageError};
use crate::principal::{
    self, UiUser, authenticate, cookie, is_local_path, session_cookie_name, sign_in_cookie_name,
};
use crate::secrets::{self, Secret};
use crate::state::ServerState;
use crate::ui::layout::bare_page;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NextParam {
    next: String,
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    password: Secret,
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    next: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignOutForm {
    csrf: String,
}

fn cookie_header(state: &ServerState, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.settings().secure_cookies { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn form(
    state: &ServerState,
    status: StatusCode,
    username: &str,
    next: &str,
    message: Option<&str>,
) -> Response {
    let form_token = secrets::new_session_token();
    let page = bare_page(
        "Sign in",
        html! {
            div.panel.sign-in {
                h1 { "d365audit" }
                p.muted { "Dynamics 365 audit archive. Sign in to continue." }
                @if let Some(message) = message {
                    div.notice.error #sign-in-error role="alert" { (message) }
                }
                form method="post" action="/sign-in" {
                    input type="hidden" name="form_token" value=(form_token.expose());
                    input type="hidden" name="next" value=(next);
                    p {
                        label for="username" { "Username" }
                        input type="text" #username name="username" value=(username)
                            autocomplete="username" required autofocus;
                    }
                    p {
                        label for="password" { "Password" }
                        input type="password" #password name="password"
                            autocomplete="current-password" required;
                    }
                    p { button type="submit" #sign-in { "Sign in" } }
                }
            }
        },
    );
    let mut response = (status, page).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(state, sign_in_cookie_name(state.settings()), form_token.expose(), 3600),
    );
    response
}

fn target(next: &str) -> String {
    if is_local_path(next) { next.to_string() } else { "/search".to_string() }
}

/// `GET /sign-in`.
pub async fn show(State(state): State<ServerState>, parts: Parts) -> Response {
    let next = Query::<NextParam>::try_from_uri(&parts.uri).map(|q| q.0.next).unwrap_or_default();
    if let Ok(Some(_)) = authenticate(&state, &parts).await {
        return Redirect::to(&target(&next)).into_response();
    }
    form(&state, StatusCode::OK, "", &next, None)
}

fn entry(
    state: &ServerState,
    username: &str,
    action: &str,
    detail: &str,
    ip: Option<String>,
) -> AccessEntry {
    AccessEntry {
        at: state.now(),
        username: username.chars().take(100).collect(),
        action: action.into(),
        detail: detail.into(),
        rows: None,
        client_ip: ip,
        channel: "ui".into(),
    }
}

/// `POST /sign-in`.
pub async fn submit(
    State(state): State<ServerState>,
    parts: Parts,
    Form(input): Form<SignInForm>,
) -> Result<Response, PageError> {
    let ip = principal::client_ip(&parts, state.settings());
    let username = input.username.trim();
    let presented = cookie(&parts.headers, sign_in_cookie_name(state.settings())).unwrap_or("");
    if presented.is_empty() || !bool::from(presented.as_bytes().ct_eq(input.form_token.as_bytes()))
    {
        return Ok(form(
            &state,
            StatusCode::FORBIDDEN,
            username,
            &input.next,
            Some("The sign-in form expired or was not sent by this site. Sign in again."),
        ));
    }
    let now = state.now();
    let counters = &state.shared.counters;
    if let Some(wait) = state.shared.limiter.refusal(username, ip.as_deref(), now) {
        counters.sign_ins_throttled.fetch_add(1, Ordering::Relaxed);
        access_log::write(
            &state,
            entry(&state, username, "sign_in_throttled", "too many failed sign-ins", ip),
        )
        .await?;
        let minutes = wait.div_ceil(60);
        let mut response = form(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            username,
            &input.next,
            Some(&format!(
                "Too many failed sign-ins. Wait {minutes} minute{} and try again, or ask an \
                 admin to reset your password.",
                if minutes == 1 { "" } else { "s" }
            )),
        );
        if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Ok(response);
    }
    let backend = state.backend();
    let account = backend
        .account_by_username(username)
        .await
        .map_err(|e| Failure::archive("signing in", e))?;
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    let password = input.password;
    let hashing = state.clone();
    // An unknown username costs the same as a wrong password: no account enumeration by timing.
    let matches = tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| hashing.decoy_hash());
        secrets::verify_password(&password, &stored)
    })
    .await
    .unwrap_or(false);
    let account = match account {
        Some(account) if matches && !account.disabled => account,
        found => {
            let disabled = matches && found.as_ref().is_some_and(|a| a.disabled);
            state.shared.limiter.record_failure(username, ip.as_deref(), now);
            counters.sign_in_failures.fetch_add(1, Ordering::Relaxed);
            let reason = if disabled { "account disabled" } else { "wrong username or password" };
            tracing::info!(reason, "sign-in failed");
            access_log::write(&state, entry(&state, username, "sign_in_failed", reason, ip))
                .await?;
            let message = if disabled {
                "This account is disabled. Ask an admin to enable it."
            } else {
                "Wrong username or password."
            };
            return Ok(form(
                &state,
                StatusCode::UNAUTHORIZED,
                username,
                &input.next,
                Some(message),
            ));
        }
    };
    let token = secrets::new_session_token();
    let csrf = secrets::csrf_token(&token);
    let lifetime = state.settings().session_lifetime;
    backend
        .create_session(Session {
            digest: secrets::digest(token.expose()),
            account_id: account.id,
            csrf_digest: secrets::digest(&csrf),
            created_at: now,
            expires_at: now + lifetime,
        })
        .await
        .map_err(|e| Failure::archive("starting the session", e))?;
    state.shared.limiter.record_success(username);
    counters.sign_ins.fetch_add(1, Ordering::Relaxed);
    access_log::write(&state, entry(&state, &account.username, "sign_in", "", ip)).await?;
    let mut response = Redirect::to(&target(&input.next)).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        cookie_header(
            &state,
            session_cookie_name(state.settings()),
            token.expose(),
            lifetime.num_seconds(),
        ),
    );
    headers.append(
        header::SET_COOKIE,
        cookie_header(&state, sign_in_cookie_name(state.settings()), "", 0),
    );
    Ok(response)
}

/// `POST /sign-out`.
pub async fn sign_out(
    State(state): State<ServerState>,
    UiUser(principal): UiUser,
    Form(input): Form<SignOutForm>,
) -> Result<Response, PageError> {
    principal.check_csrf(Some(&input.csrf))?;
    if let principal::Credential::Session { session, .. } = &principal.credential {
        state
            .backend()
            .delete_session(&session.digest)
            .await
            .map_err(|e| Failure::archive("signing out", e))?;
    }
    access_log::record(
        &state,
        &principal,
        access_log::Channel::Ui,
        access_log::Use { action: "sign_out", detail: String::new(), rows: None },
    )
    .await?;
    let mut response = Redirect::to("/sign-in").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(&state, session_cookie_name(state.settings()), "", 0),
    );
    Ok(response)
}
