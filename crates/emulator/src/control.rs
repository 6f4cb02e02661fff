//! The emulator's own control endpoints on the API listener (not part of Microsoft's API):
//! `GET|PUT /_emulator/faults`, `POST /_emulator/revoke-tokens`, `GET /_emulator/clock`,
//! `POST /_emulator/clock/advance?seconds=N` (ManualClock only), `GET /_emulator/stats`,
//! `GET /_emulator/dataverse` (the Dataverse environment URL, identity and visible row count).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::faults::Faults;
use crate::state::{EmulatorState, lock};
use crate::wire_time::format_wire;

pub(crate) fn routes() -> Router<Arc<EmulatorState>> {
    Router::new()
        .route("/_emulator/faults", get(get_faults).put(put_faults))
        .route("/_emulator/revoke-tokens", post(revoke_tokens))
        .route("/_emulator/clock", get(clock_now))
        .route("/_emulator/clock/advance", post(advance_clock))
        .route("/_emulator/stats", get(stats))
        .route("/_emulator/dataverse", get(dataverse))
}

async fn get_faults(State(state): State<Arc<EmulatorState>>) -> Json<Faults> {
    Json(state.faults())
}

async fn put_faults(
    State(state): State<Arc<EmulatorState>>,
    Json(faults): Json<Faults>,
) -> Json<Faults> {
    lock(&state.faults).replace(faults);
    Json(state.faults())
}

async fn revoke_tokens(State(state): State<Arc<EmulatorState>>) -> StatusCode {
    state.mint.revoke_all();
    StatusCode::NO_CONTENT
}

async fn clock_now(State(state): State<Arc<EmulatorState>>) -> Json<serde_json::Value> {
    Json(json!({ "now": format_wire(state.now()), "movable": state.manual_clock.is_some() }))
}

#[derive(Debug, Deserialize)]
struct Advance {
    seconds: f64,
}

async fn advance_clock(
    State(state): State<Arc<EmulatorState>>,
    Query(advance): Query<Advance>,
) -> Response {
    let Some(clock) = &state.manual_clock else {
        let body = json!({ "error": "the emulator runs on the system clock; start it with a manual clock to move time" });
        return (StatusCode::CONFLICT, Json(body)).into_response();
    };
    if !advance.seconds.is_finite() || advance.seconds.abs() > 3.0e9 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "seconds must be a finite number" })),
        )
            .into_response();
    }
    clock.advance(chrono::Duration::milliseconds((advance.seconds * 1000.0).round() as i64));
    Json(json!({ "now": format_wire(state.now()) })).into_response()
}

async fn stats(State(state): State<Arc<EmulatorState>>) -> Json<crate::stats::Stats> {
    Json(lock(&state.stats).clone())
}

async fn dataverse(State(state): State<Arc<EmulatorState>>) -> Response {
    let Some(env) = &state.dataverse else {
        let body = json!({ "error": "no Dataverse environment: the configuration has no tenant" });
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    };
    let info = env.history.environment();
    Json(json!({
        "environment_url": env.base.as_str(),
        "tenant_id": info.tenant_id,
        "organization_id": info.organization_id,
        "organization_name": info.name,
        "plays_instance_url": info.instance_url,
        "visible_audit_rows": env.history.visible_rows_at(state.now()).len(),
    }))
    .into_response()
}
