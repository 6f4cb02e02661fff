//! The d365audit HTTP server: the auditors' web UI, the REST API under `/api/v1`, sign-in with
//! local accounts and roles, API tokens, the access log through which the archive audits its
//! own use, streamed exports, a read-only SQL console, and the machine endpoints (`/healthz`,
//! `/metrics`, the Office 365 webhook).
//!
//! ```no_run
//! # async fn demo(backend: std::sync::Arc<dyn server::Backend>) -> std::io::Result<()> {
//! use std::sync::Arc;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let settings = server::ServerSettings {
//!     secure_cookies: server::ServerSettings::secure_cookies_for(listener.local_addr()?),
//!     ..server::ServerSettings::default()
//! };
//! let state = server::ServerState::new(
//!     backend,
//!     Arc::new(clock::SystemClock),
//!     settings,
//!     server::Hooks::default(),
//! );
//! server::serve(listener, state, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
//!
//! Routes, roles and what each page logs: see `ui` (pages), `api` (REST and its OpenAPI
//! table), `ops` (healthz, metrics, webhook). Security: `principal` (who is asking, CSRF),
//! `security` (response headers), `secrets` (password hashes, tokens), `sign_in` (throttling).

pub mod access_log;
pub mod accounts;
pub mod api;
pub mod changes;
pub mod charts;
pub mod error;
pub mod exports;
pub mod ops;
pub mod principal;
pub mod query_input;
pub mod reports;
pub mod secrets;
pub mod security;
pub mod sign_in;
pub mod state;
pub mod status;
pub mod ui;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ErrorCode, Failure};
pub use state::{
    Backend, CollectionSource, FeedLine, Hooks, IntakeOutcome, MetricsSource, NotificationIntake,
    ServerSettings, ServerState, SignInLimit, WorkingHours,
};

/// Largest form or JSON body the UI and the API accept (the webhook has its own limit).
const MAX_FORM_BYTES: usize = 256 * 1024;

async fn not_found_page() -> Response {
    error::PageError(Failure::not_found("there is no such page")).into_response()
}

/// The whole application: UI, API, health, metrics and the webhook, with security headers.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .merge(ui::routes())
        .merge(api::routes())
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        // WEBHOOK HOOK: notifications go to `Hooks::intake` (the collector).
        .route("/webhook/o365", post(ops::webhook))
        .fallback(not_found_page)
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::headers))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::extract::Request| {
            // The path only: query strings hold filters, which can be personal data.
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` completes, then finishes the requests in
/// flight. Client addresses (for the access log) come from the connection.
pub async fn serve(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
