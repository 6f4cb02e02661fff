//! `GET {contentUri}` (reference §1.8): the raw JSON array of a blob, or `AF20050` / `AF20051`
//! / `AF20052`, plus the expired-blob and malformed-blob faults.

use axum::http::StatusCode;
use axum::response::Response;

use super::Call;
use crate::api_error::{ApiError, af, json_response};
use crate::blob_body::{blob_json, blob_records, is_expired_early, is_malformed, truncate};
use crate::catalog::BlobView;
use crate::content_id::parse_content_id;
use crate::state::lock;

pub(super) async fn get_blob(call: &Call<'_>, content_id: &str) -> Result<Response, ApiError> {
    let state = call.state;
    let parts = parse_content_id(content_id).ok_or_else(|| {
        af("AF20052", format!("The content ID {content_id} in the request is not valid."))
    })?;
    let ct = parts.content_type;
    let visible_from = lock(&state.subscriptions).active(call.tenant.id(), ct)?.visible_from;
    let not_found = || af("AF20050", "The requested content does not exist.");
    let slot = state.schedule.slot_of(call.tenant.owner(), &parts).ok_or_else(not_found)?;
    let blob = state.schedule.blob(call.tenant.owner(), ct, slot);
    let faults = state.faults();
    let now = state.now();
    let view = BlobView {
        schedule: &state.schedule,
        owner: call.tenant.owner(),
        content_type: ct,
        seed: state.seed,
        faults: &faults,
        visible_from,
    };
    if !view.retrievable(&blob, now) {
        return Err(not_found());
    }
    let expired =
        || af("AF20051", "The requested content has expired. Content is available for 7 days.");
    if now >= blob.expiration {
        return Err(expired());
    }
    if is_expired_early(state.seed, &blob.content_id, &faults) {
        lock(&state.stats).record_fault("expired_blob");
        return Err(expired());
    }
    let malformed = is_malformed(state.seed, &blob.content_id, &faults);
    let worker_state = state.clone();
    let tenant_id = call.tenant.id();
    let body = tokio::task::spawn_blocking(move || {
        let tenant = worker_state.tenant(tenant_id)?;
        Some(blob_json(&blob_records(&worker_state, tenant, ct, slot, &faults)))
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| af("AF50000", "An internal server error occurred. Retry the request."))?;
    let body = if malformed {
        lock(&state.stats).record_fault("malformed_blob");
        truncate(body)
    } else {
        body
    };
    Ok(json_response(StatusCode::OK, body))
}
