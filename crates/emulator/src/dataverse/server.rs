//! The Dataverse listener's request handling: bearer-token check (audience = the environment
//! URL), faults, service protection limits (§5.7), then `audits`, `RetrieveAuditDetails`,
//! `organizations` and `WhoAmI`, answered with OData headers and the OData error shape (§5.8).

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Environment;
use super::query::{AuditQuery, ODataError, Preferences, bad_request, pairs, parse_select};
use super::wire::{self, TOTAL_COUNT, TOTAL_COUNT_EXCEEDED};
use crate::activity::shared::mix;
use crate::state::{EmulatorState, lock};
use crate::stats::DataverseStats;
use crate::wire_time::format_http_date;

const ODATA_JSON: &str = "application/json; odata.metadata=minimal";
/// The execution-time budget the diagnostic header counts down from (§5.7: 20 minutes).
const EXECUTION_BUDGET_MS: u64 = 1_200_000;

/// One user's recent requests (emulated times) and requests in flight.
#[derive(Debug, Default)]
pub(crate) struct UserLoad {
    recent: VecDeque<DateTime<Utc>>,
    in_flight: u32,
}

/// The routes of the Web API the emulator serves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Audits,
    Details(Uuid),
    Organizations,
    WhoAmI,
    /// A path the environment does not have; the segment for the error message.
    Unknown(String),
}

impl Route {
    fn parse(path: &str) -> Route {
        let rest = ["/api/data/v9.2/", "/api/data/v9.1/", "/api/data/v9.0/"]
            .iter()
            .find_map(|prefix| path.strip_prefix(prefix));
        let Some(rest) = rest else {
            return Route::Unknown(path.trim_start_matches('/').to_owned());
        };
        match rest {
            "audits" => return Route::Audits,
            "organizations" => return Route::Organizations,
            "WhoAmI" | "WhoAmI()" => return Route::WhoAmI,
            _ => {}
        }
        if let Some(inner) = rest.strip_prefix("audits(")
            && let Some((id, function)) = inner.split_once(")/")
            && matches!(
                function,
                "Microsoft.Dynamics.CRM.RetrieveAuditDetails"
                    | "Microsoft.Dynamics.CRM.RetrieveAuditDetails()"
            )
        {
            return match Uuid::parse_str(id) {
                Ok(id) => Route::Details(id),
                Err(_) => Route::Unknown(format!("audits({id})")),
            };
        }
        Route::Unknown(rest.split('/').next().unwrap_or(rest).to_owned())
    }

    fn count(&self, stats: &mut DataverseStats) {
        stats.requests += 1;
        match self {
            Route::Audits => stats.audit_pages += 1,
            Route::Details(_) => stats.audit_details += 1,
            Route::Organizations => stats.organizations += 1,
            Route::WhoAmI => stats.who_am_i += 1,
            Route::Unknown(_) => {}
        }
    }
}

fn odata_error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}}).to_string();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
    response
}

fn from_error(error: &ODataError) -> Response {
    odata_error(error.status, error.code, &error.message)
}

fn json_ok(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
    response
}

fn too_many(code: &str, message: String, retry_after: u64) -> Response {
    let mut response = odata_error(429, code, &message);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
    response
}

/// Releases a request's concurrency slot when the request ends (however it ends).
struct InFlight {
    state: Arc<EmulatorState>,
    key: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(env) = &self.state.dataverse
            && let Some(load) = lock(&env.load).get_mut(&self.key)
        {
            load.in_flight = load.in_flight.saturating_sub(1);
        }
    }
}

/// Every request of the Dataverse listener.
pub(crate) async fn dispatch(
    State(state): State<Arc<EmulatorState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let now = state.now();
    let Some(env) = &state.dataverse else {
        return odata_error(404, "0x8006088a", "This emulator serves no Dataverse environment.");
    };
    let route = Route::parse(uri.path());
    route.count(&mut lock(&state.stats).dataverse);
    let mut response = match admit(&state, env, &route, &method, &uri, &headers, now) {
        Ok((guard, remaining, delay)) => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut response = match handle(&state, env, &route, &uri, &headers, now, &guard.key) {
                Ok(response) => response,
                Err(error) => from_error(&error),
            };
            drop(guard);
            let limit = env.history.config().limits.requests_per_window;
            let used = u64::from(limit.saturating_sub(remaining));
            let time_left = EXECUTION_BUDGET_MS.saturating_sub(used * 10);
            let h = response.headers_mut();
            h.insert("x-ms-ratelimit-burst-remaining-xrm-requests", HeaderValue::from(remaining));
            h.insert("x-ms-ratelimit-time-remaining-xrm-requests", HeaderValue::from(time_left));
            response
        }
        Err(response) => *response,
    };
    match response.status().as_u16() {
        400 => lock(&state.stats).dataverse.bad_requests += 1,
        401 => lock(&state.stats).dataverse.unauthorized += 1,
        429 => lock(&state.stats).dataverse.throttled += 1,
        _ => {}
    }
    let h = response.headers_mut();
    h.insert("OData-Version", HeaderValue::from_static("4.0"));
    if let Ok(date) = HeaderValue::from_str(&format_http_date(now)) {
        h.insert(header::DATE, date);
    }
    response
}

/// Token check, faults and limits, in that order. On admission: the concurrency slot, the
/// requests left in the window and the delay fault.
fn admit(
    state: &Arc<EmulatorState>,
    env: &Environment,
    route: &Route,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<(InFlight, u32, std::time::Duration), Box<Response>> {
    let user = authenticate(state, env, headers, now)?;
    if method != Method::GET {
        return Err(Box::new(odata_error(
            405,
            "0x80060888",
            &format!(
                "The HTTP method '{method}' is not supported here: the audit table is read-only."
            ),
        )));
    }
    let delay = {
        let mut book = lock(&state.faults);
        let faults = book.dataverse_mut();
        let config = &env.history.config().limits;
        if faults.throttle_next > 0 {
            faults.throttle_next -= 1;
            let retry_after = faults.throttle_retry_after_seconds;
            drop(book);
            lock(&state.stats).dataverse.throttled_forced += 1;
            return Err(Box::new(too_many(
                "0x80072322",
                request_limit_message(config),
                retry_after,
            )));
        }
        if faults.server_error_next > 0 {
            faults.server_error_next -= 1;
            drop(book);
            lock(&state.stats).dataverse.server_errors_injected += 1;
            return Err(Box::new(odata_error(500, "0x80040216", "An unexpected error occurred.")));
        }
        let follows_link = uri.query().is_some_and(|q| q.contains("skiptoken="));
        if *route == Route::Audits && follows_link && faults.next_link_failures > 0 {
            faults.next_link_failures -= 1;
            drop(book);
            lock(&state.stats).dataverse.server_errors_injected += 1;
            return Err(Box::new(odata_error(500, "0x80040216", "An unexpected error occurred.")));
        }
        faults.response_delay
    };
    let limits = &env.history.config().limits;
    let window_start = now - limits.window;
    let mut loads = lock(&env.load);
    let load = loads.entry(user.clone()).or_default();
    while load.recent.front().is_some_and(|t| *t <= window_start) {
        load.recent.pop_front();
    }
    if load.in_flight >= limits.concurrent_requests {
        drop(loads);
        lock(&state.stats).dataverse.throttled_concurrency += 1;
        return Err(Box::new(too_many(
            "0x80072326",
            format!(
                "Number of concurrent requests exceeded the limit of {}.",
                limits.concurrent_requests
            ),
            limits.concurrency_retry_after_seconds,
        )));
    }
    if load.recent.len() >= limits.requests_per_window as usize {
        let oldest = load.recent.front().copied().unwrap_or(now);
        let seconds = whole_seconds(oldest + limits.window - now);
        drop(loads);
        lock(&state.stats).dataverse.throttled_request_limit += 1;
        return Err(Box::new(too_many("0x80072322", request_limit_message(limits), seconds)));
    }
    load.recent.push_back(now);
    load.in_flight += 1;
    let in_flight = u64::from(load.in_flight);
    let remaining = limits.requests_per_window.saturating_sub(load.recent.len() as u32);
    drop(loads);
    {
        let mut stats = lock(&state.stats);
        stats.dataverse.peak_concurrency = stats.dataverse.peak_concurrency.max(in_flight);
    }
    Ok((InFlight { state: state.clone(), key: user }, remaining, delay))
}

fn request_limit_message(limits: &super::ServiceProtection) -> String {
    format!(
        "Number of requests exceeded the limit of {} over time window of {} seconds.",
        limits.requests_per_window,
        limits.window.num_seconds()
    )
}

/// Checks the bearer token: issued by this emulator, not expired or revoked, for the
/// environment's tenant, audience = the environment URL. Returns the user key (tenant:app).
fn authenticate(
    state: &EmulatorState,
    env: &Environment,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<String, Box<Response>> {
    let refuse = |why: &str| {
        let tenant = env.history.environment().tenant_id;
        let challenge = format!(
            "Bearer authorization_uri={}{tenant}/oauth2/authorize, resource_id={}",
            state.login_base, env.base
        );
        let mut response = odata_error(401, "0x0", why);
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        Box::new(response)
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(|| {
            refuse("No bearer token: request a token for resource = the environment URL.")
        })?;
    let audience = vec![env.base.origin().ascii_serialization()];
    let claims = state.mint.verify(token.trim(), now, &audience).map_err(|rejection| {
        use crate::access_token::TokenRejection as R;
        refuse(match rejection {
            R::WrongAudience => {
                "The access token's audience is not this environment: request it with resource \
                 (v1) or scope {environment URL}/.default (v2) = the environment URL."
            }
            R::Expired => "The access token has expired.",
            R::Revoked => "The access token is no longer valid.",
            R::Malformed | R::NotYetValid => "The access token is not valid.",
        })
    })?;
    if claims.tid != env.history.environment().tenant_id.to_string() {
        return Err(refuse("The access token belongs to another tenant than this environment."));
    }
    Ok(format!("{}:{}", claims.tid, claims.appid))
}

fn handle(
    state: &EmulatorState,
    env: &Environment,
    route: &Route,
    uri: &Uri,
    headers: &HeaderMap,
    now: DateTime<Utc>,
    user: &str,
) -> Result<Response, ODataError> {
    let prefer =
        Preferences::parse(headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()));
    match route {
        Route::Audits => audits(state, env, uri, &prefer, now),
        Route::Details(id) => details(state, env, *id, &prefer, now),
        Route::Organizations => organizations(env, uri, now),
        Route::WhoAmI => Ok(who_am_i(env, user)),
        Route::Unknown(segment) => Err(ODataError {
            status: 404,
            code: "0x8006088a",
            message: format!("Resource not found for the segment '{segment}'."),
        }),
    }
}

fn audits(
    state: &EmulatorState,
    env: &Environment,
    uri: &Uri,
    prefer: &Preferences,
    now: DateTime<Utc>,
) -> Result<Response, ODataError> {
    let query = AuditQuery::parse(uri.query(), state.seed)?;
    let config = env.history.config();
    let max = config.max_page_size.max(1);
    let applied_size = prefer.max_page_size.filter(|n| (1..=max).contains(n));
    let page_size = applied_size.unwrap_or(max);
    let limit = query.top.map_or(page_size, |top| top.min(page_size));
    let cut = now - config.storage_delay;
    let root = env.api_root();
    let ann = &prefer.annotations;
    let (values, last) = env.history.with_rows(now, |rows| {
        let visible = &rows[..rows.partition_point(|r| r.created_on <= cut)];
        let key = |r: &super::AuditRow| (r.created_on.timestamp(), r.audit_id);
        let slice = match (query.cursor, query.descending) {
            (Some(c), false) => {
                &visible[visible.partition_point(|r| key(r) <= (c.created_on, c.audit_id))..]
            }
            (Some(c), true) => {
                &visible[..visible.partition_point(|r| key(r) < (c.created_on, c.audit_id))]
            }
            (None, _) => visible,
        };
        let matching = |r: &&super::AuditRow| query.conditions.iter().all(|c| c.matches(r));
        let mut picked: Vec<&super::AuditRow> = if query.descending {
            slice.iter().rev().filter(matching).take(limit + 1).collect()
        } else {
            slice.iter().filter(matching).take(limit + 1).collect()
        };
        let more = picked.len() > limit && query.top.is_none();
        picked.truncate(limit);
        let values: Vec<Value> =
            picked.iter().map(|r| wire::row_object(r, &query.select, ann)).collect();
        let last = if more { picked.last().map(|r| (*r).clone()) } else { None };
        (values, last)
    });
    let mut body = Map::new();
    let context = if query.select.is_empty() {
        format!("{root}$metadata#audits")
    } else {
        format!("{root}$metadata#audits({})", query.select.join(","))
    };
    body.insert("@odata.context".into(), json!(context));
    if ann.wants(TOTAL_COUNT) {
        body.insert(format!("@{TOTAL_COUNT}"), json!(-1));
    }
    if ann.wants(TOTAL_COUNT_EXCEEDED) {
        body.insert(format!("@{TOTAL_COUNT_EXCEEDED}"), json!(false));
    }
    body.insert("value".into(), Value::Array(values));
    if let Some(last) = last {
        body.insert("@odata.nextLink".into(), json!(query.next_link(&root, &last, state.seed)));
    }
    let mut response = json_ok(Value::Object(body).to_string());
    let mut applied = Vec::new();
    if ann.any() {
        applied.push(ann.preference());
    }
    if let Some(size) = applied_size {
        applied.push(format!("odata.maxpagesize={size}"));
    }
    if !applied.is_empty()
        && let Ok(value) = HeaderValue::from_str(&applied.join(","))
    {
        response.headers_mut().insert("Preference-Applied", value);
    }
    Ok(response)
}

fn details(
    state: &EmulatorState,
    env: &Environment,
    id: Uuid,
    prefer: &Preferences,
    now: DateTime<Utc>,
) -> Result<Response, ODataError> {
    let cut = now - env.history.config().storage_delay;
    let row = env.history.row(id).filter(|r| r.created_on <= cut).ok_or_else(|| ODataError {
        status: 404,
        code: "0x80040217",
        message: format!("audit With Id = {id} Does Not Exist"),
    })?;
    let body = wire::detail_response(&row, &env.api_root(), &prefer.annotations).to_string();
    let malformed = {
        let faults = lock(&state.faults);
        let dv = &faults.faults().dataverse;
        let (hi, lo) = id.as_u64_pair();
        let draw = (mix(mix(state.seed ^ 0xBAD0, hi), lo) >> 11) as f64 / (1u64 << 53) as f64;
        dv.malformed_detail_ids.contains(&id) || draw < dv.malformed_detail_fraction
    };
    if malformed {
        lock(&state.stats).dataverse.malformed_details += 1;
        let cut_at = body.len() / 2;
        return Ok(json_ok(body[..cut_at].to_owned()));
    }
    Ok(json_ok(body))
}

const ORGANIZATION_COLUMNS: &[&str] = &[
    "organizationid",
    "name",
    "isauditenabled",
    "auditretentionperiodv2",
    "isuseraccessauditenabled",
    "useraccessauditinginterval",
];

fn organizations(env: &Environment, uri: &Uri, now: DateTime<Utc>) -> Result<Response, ODataError> {
    let mut select = Vec::new();
    for (name, value) in pairs(uri.query()) {
        match name.as_str() {
            "$select" => select = parse_select(&value, ORGANIZATION_COLUMNS, "organization")?,
            other if other.starts_with('$') => {
                return Err(bad_request(
                    "0x0",
                    format!("The emulator supports only $select on organizations, not {other}."),
                ));
            }
            _ => {}
        }
    }
    let config = env.history.config();
    let info = env.history.environment();
    let mut row = Map::new();
    for &column in ORGANIZATION_COLUMNS {
        if column != "organizationid" && !select.is_empty() && !select.iter().any(|s| s == column) {
            continue;
        }
        let value = match column {
            "organizationid" => json!(info.organization_id),
            "name" => json!(info.name),
            "isauditenabled" => json!(config.audit_enabled),
            "auditretentionperiodv2" => json!(env.history.retention_days_at(now)),
            "isuseraccessauditenabled" => json!(true),
            _ => json!(config.user_access_interval_hours),
        };
        row.insert(column.to_owned(), value);
    }
    let root = env.api_root();
    let context = if select.is_empty() {
        format!("{root}$metadata#organizations")
    } else {
        format!("{root}$metadata#organizations({})", select.join(","))
    };
    let body = json!({"@odata.context": context, "value": [Value::Object(row)]});
    Ok(json_ok(body.to_string()))
}

fn who_am_i(env: &Environment, user: &str) -> Response {
    let info = env.history.environment();
    // The application user's systemuserid: stable per environment and app.
    let key = user.bytes().fold(info.organization_id.as_u64_pair().0, |h, b| mix(h, u64::from(b)));
    let body = json!({
        "@odata.context": format!("{}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", env.api_root()),
        "BusinessUnitId": info.business_unit_id,
        "UserId": Uuid::from_u64_pair(mix(key, 1), mix(key, 2)),
        "OrganizationId": info.organization_id,
    });
    json_ok(body.to_string())
}

/// Retry-After in whole seconds (at least 1).
fn whole_seconds(duration: Duration) -> u64 {
    u64::try_from((duration.num_milliseconds() + 999) / 1000).unwrap_or(1).max(1)
}
