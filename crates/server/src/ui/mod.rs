//! The web UI: server-rendered HTML (maud templates, escaped by construction), no JavaScript,
//! forms with anti-CSRF tokens, charts as inline SVG, a print stylesheet for reports.

pub mod account;
pub mod admin;
pub mod changes;
pub mod layout;
pub mod reports;
pub mod search;
pub mod sign_in;
pub mod sql;
pub mod status;
pub mod timelines;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::state::ServerState;

/// The stylesheet, compiled into the binary.
pub const STYLESHEET: &str = include_str!("../../assets/app.css");

async fn stylesheet() -> Response {
    let mut response = STYLESHEET.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    response
}

/// The UI's routes.
pub fn routes() -> Router<ServerState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/search") }))
        .route("/assets/app.css", get(stylesheet))
        .route("/sign-in", get(sign_in::show).post(sign_in::submit))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/search", get(search::search))
        .route("/records/{id}", get(search::record))
        .route("/export", get(search::export))
        .route("/timeline/record/{id}", get(timelines::record_timeline))
        .route("/timeline/record/{id}/restore", get(changes::restore_page))
        .route("/change/{id}", get(changes::change_page))
        .route("/timeline/user", get(timelines::user_timeline))
        .route("/reports", get(reports::index))
        .route("/reports/{slug}", get(reports::show))
        .route("/reports/{slug}/csv", get(reports::csv))
        .route("/status", get(status::show))
        .route("/sql", get(sql::show).post(sql::run))
        .route("/admin/users", get(admin::users).post(admin::create))
        .route("/admin/users/{id}/{change}", post(admin::change))
        .route("/admin/access-log", get(admin::access_log_page))
        .route("/admin/settings", get(admin::settings))
        .route("/account", get(account::show))
        .route("/account/password", post(account::change_password))
        .route("/account/tokens", post(account::create_token))
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
}
