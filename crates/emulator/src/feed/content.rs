//! `subscriptions/content` (reference §1.7) and `subscriptions/notifications` (§1.10): the
//! window rules, paging with `NextPageUri`, and the listed elements.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;

use super::Call;
use crate::api_error::{ApiError, af, json_response};
use crate::catalog::BlobView;
use crate::content_type::ContentType;
use crate::listing::{
    ListingWindow, WindowErrorCode, WindowRejection, content_page_token, listing_window,
    notification_page_token, parse_content_page_token, parse_notification_page_token,
};
use crate::schedule::ContentBlob;
use crate::state::lock;
use crate::wire_time::format_wire;

/// One element of `subscriptions/content`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ContentElement<'a> {
    content_type: ContentType,
    content_id: &'a str,
    content_uri: String,
    content_created: String,
    content_expiration: String,
}

/// One element of `subscriptions/notifications`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NotificationElement<'a> {
    content_type: ContentType,
    content_id: &'a str,
    content_uri: String,
    content_created: String,
    content_expiration: String,
    notification_sent: String,
    /// `success` (documented sample) or `failed` (Gap: the failure value is undocumented).
    notification_status: &'static str,
}

fn element<'a>(call: &Call<'_>, blob: &'a ContentBlob) -> ContentElement<'a> {
    ContentElement {
        content_type: blob.content_type,
        content_id: &blob.content_id,
        content_uri: call.state.content_uri(call.tenant.id(), &blob.content_id),
        content_created: format_wire(blob.created),
        content_expiration: format_wire(blob.expiration),
    }
}

/// The validated window, or the error the service gives.
fn window(call: &Call<'_>) -> Result<ListingWindow, ApiError> {
    let state = call.state;
    let rules = &state.listing;
    listing_window(call.query.get("startTime"), call.query.get("endTime"), state.now(), rules)
        .map_err(|rejection| match rejection {
            WindowRejection::Unparsable { parameter } => af(
                "AF20002",
                format!("Invalid parameter type: {parameter}. Expected type: datetime."),
            ),
            WindowRejection::LegacyOmitted => ApiError::Odd {
                code: "String reference not set to an instance of a String.\r\nParameter name"
                    .into(),
                message: "s".into(),
                status: StatusCode::BAD_REQUEST,
            },
            WindowRejection::OnlyOne
            | WindowRejection::TooLong
            | WindowRejection::TooOld
            | WindowRejection::NotOrdered => match rules.window_error_code {
                WindowErrorCode::Af20030 => af(
                    "AF20030",
                    "Start time and end time must both be specified (or both omitted) and must \
                     be less than or equal to 24 hours apart, with the start time no more than 7 \
                     days in the past.",
                ),
                WindowErrorCode::Af20055 => af(
                    "AF20055",
                    "Start time and end time must both be specified (or both omitted) and must \
                     be less than or equal to 24 hours apart, with the start time no more than 7 \
                     days in the past and the start time prior to end time.",
                ),
            },
        })
}

/// Adds the paging header pointing at `next_page` within the same window.
fn add_next_page(
    call: &Call<'_>,
    response: &mut Response,
    operation: &str,
    ct: ContentType,
    window: &ListingWindow,
    next_page: &str,
) {
    let faults = call.state.faults();
    let root = call.state.feed_root(call.tenant.id(), faults.next_page_path_v1);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("contentType", ct.as_str())
        .append_pair("startTime", &window.start_text)
        .append_pair("endTime", &window.end_text)
        .append_pair("nextPage", next_page)
        .finish();
    let uri = format!("{root}/subscriptions/{operation}?{query}");
    if let (Ok(name), Ok(value)) =
        (HeaderName::try_from(faults.next_page_header.as_str()), HeaderValue::try_from(uri))
    {
        response.headers_mut().insert(name, value);
    }
}

pub(super) fn list_content(call: &Call<'_>) -> Result<Response, ApiError> {
    let state = call.state;
    let ct = call.content_type()?;
    let visible_from = lock(&state.subscriptions).active(call.tenant.id(), ct)?.visible_from;
    let window = window(call)?;
    let start_at = match call.query.get("nextPage") {
        None => None,
        Some(token) => Some(
            parse_content_page_token(token)
                .filter(|(created, _)| *created >= window.start && *created < window.end)
                .ok_or_else(|| af("AF20031", format!("Invalid nextPage value: {token}.")))?,
        ),
    };
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
    let blobs = view.listable(window.start, window.end, now);
    let first = start_at.map_or(0, |key| blobs.partition_point(|b| (b.created, b.slot) < key));
    let page_size = state.page_size(&faults);
    let page = &blobs[first.min(blobs.len())..];
    let (page, rest) = page.split_at(page.len().min(page_size));
    let elements: Vec<ContentElement<'_>> = page.iter().map(|b| element(call, b)).collect();
    let mut response =
        json_response(StatusCode::OK, serde_json::to_vec(&elements).unwrap_or_default());
    if let Some(next) = rest.first() {
        let token = content_page_token(next.created, next.slot);
        add_next_page(call, &mut response, "content", ct, &window, &token);
    }
    Ok(response)
}

pub(super) fn list_notifications(call: &Call<'_>) -> Result<Response, ApiError> {
    let state = call.state;
    let ct = call.content_type()?;
    lock(&state.subscriptions).active(call.tenant.id(), ct)?;
    let window = window(call)?;
    let offset = match call.query.get("nextPage") {
        None => 0,
        Some(token) => parse_notification_page_token(token)
            .ok_or_else(|| af("AF20031", format!("Invalid nextPage value: {token}.")))?,
    };
    let entries: Vec<_> = lock(&state.subscriptions)
        .notifications(call.tenant.id(), ct)
        .iter()
        .filter(|e| e.blob.created >= window.start && e.blob.created < window.end)
        .cloned()
        .collect();
    if offset > entries.len() {
        return Err(af("AF20031", "Invalid nextPage value."));
    }
    let page_size = state.page_size(&state.faults());
    let page = &entries[offset..(offset + page_size).min(entries.len())];
    let elements: Vec<NotificationElement<'_>> = page
        .iter()
        .map(|entry| {
            let base = element(call, &entry.blob);
            NotificationElement {
                content_type: base.content_type,
                content_id: base.content_id,
                content_uri: base.content_uri,
                content_created: base.content_created,
                content_expiration: base.content_expiration,
                notification_sent: format_wire(entry.sent),
                notification_status: if entry.success { "success" } else { "failed" },
            }
        })
        .collect();
    let mut response =
        json_response(StatusCode::OK, serde_json::to_vec(&elements).unwrap_or_default());
    let next = offset + page.len();
    if next < entries.len() {
        add_next_page(
            call,
            &mut response,
            "notifications",
            ct,
            &window,
            &notification_page_token(next),
        );
    }
    Ok(response)
}
