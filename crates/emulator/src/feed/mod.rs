//! The emulated Office 365 Management Activity API under `/api/v1.0/{tenant}/activity/feed/`
//! (and `/api/v1/`, which the documentation's `NextPageUri` sample uses). Routing is done by
//! hand because the service treats path segments and query parameter names case-insensitively
//! and content IDs carry literal `$`.
//!
//! Every request: statistics (with or without `PublisherIdentifier`), bearer token (401),
//! tenant checks (`AF20013`, `AF20011`, `AF20010`, `AF10001`, unified audit disabled), the
//! request-level faults (`AF429`, `AF50000`), then the operation.

mod blob;
mod content;
mod dlp;
mod subscription;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::access_token::AccessClaims;
use crate::api_error::{ApiError, add_service_headers, af, too_many_requests};
use crate::content_type::ContentType;
use crate::faults::RequestFault;
use crate::state::{EmulatorState, TenantRuntime, lock};
use crate::stats::Operation;

/// The query string, with case-insensitive parameter names.
#[derive(Debug, Default)]
pub(crate) struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub(crate) fn parse(query: Option<&str>) -> QueryParams {
        QueryParams(
            query
                .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    /// The first non-empty value of a parameter.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// A request routed to an operation.
#[derive(Debug)]
struct Route {
    operation: Operation,
    tenant: String,
    content_id: Option<String>,
}

/// What every operation handler gets.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub(crate) state: &'a Arc<EmulatorState>,
    pub(crate) tenant: &'a TenantRuntime,
    pub(crate) claims: &'a AccessClaims,
    pub(crate) query: &'a QueryParams,
    pub(crate) publisher: Option<&'a str>,
}

impl Call<'_> {
    /// The required `contentType`: `AF20001` when missing, `AF20020` when unknown.
    pub(crate) fn content_type(&self) -> Result<ContentType, ApiError> {
        let text = self
            .query
            .get("contentType")
            .ok_or_else(|| af("AF20001", "Missing parameter: contentType."))?;
        ContentType::parse(text)
            .ok_or_else(|| af("AF20020", format!("The content type {text} is not valid.")))
    }
}

/// The fallback handler of the API listener.
pub(crate) async fn dispatch(
    State(state): State<Arc<EmulatorState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut response = match handle(&state, &method, &uri, &headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    add_service_headers(&mut response, state.now());
    response
}

async fn handle(
    state: &Arc<EmulatorState>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let route = route(method, uri)?;
    let query = QueryParams::parse(uri.query());
    let publisher = query.get("PublisherIdentifier");
    lock(&state.stats).record_api_request(route.operation, publisher);

    let claims = authenticate(state, headers)?;
    let tenant = authorize(state, &route, &claims, &query, publisher)?;
    if let Some(fault) = lock(&state.faults).on_request(tenant.id(), state.now()) {
        return Err(match fault {
            RequestFault::Throttled { status, retry_after_seconds } => {
                lock(&state.stats).record_fault("AF429");
                too_many_requests(route.operation.as_str(), publisher, status, retry_after_seconds)
            }
            RequestFault::InternalError => {
                lock(&state.stats).record_fault("AF50000");
                af("AF50000", "An internal server error occurred. Retry the request.")
            }
        });
    }
    let call = Call { state, tenant, claims: &claims, query: &query, publisher };
    match route.operation {
        Operation::StartSubscription => subscription::start(&call, &body).await,
        Operation::StopSubscription => subscription::stop(&call),
        Operation::ListSubscriptions => subscription::list(&call),
        Operation::ListContent => content::list_content(&call),
        Operation::ListNotifications => content::list_notifications(&call),
        Operation::GetBlob => {
            blob::get_blob(&call, route.content_id.as_deref().unwrap_or("")).await
        }
        Operation::GetDlpSensitiveTypes => dlp::sensitive_types(headers),
        Operation::TokenV1 | Operation::TokenV2 => Err(ApiError::NotFound { uri: uri.to_string() }),
    }
}

/// Decodes `%xx` escapes of a path segment.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(value) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(value);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn route(method: &Method, uri: &Uri) -> Result<Route, ApiError> {
    let not_found = || ApiError::NotFound { uri: uri.to_string() };
    let segments: Vec<String> =
        uri.path().split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
    let [api, version, tenant, activity, feed, group, name] = segments.as_slice() else {
        return Err(not_found());
    };
    let is = |segment: &str, literal: &str| segment.eq_ignore_ascii_case(literal);
    if !is(api, "api")
        || !(is(version, "v1.0") || is(version, "v1"))
        || !is(activity, "activity")
        || !is(feed, "feed")
    {
        return Err(not_found());
    }
    let (operation, expected, content_id) = if is(group, "audit") {
        (Operation::GetBlob, Method::GET, Some(name.clone()))
    } else if is(group, "subscriptions") {
        match name.to_ascii_lowercase().as_str() {
            "start" => (Operation::StartSubscription, Method::POST, None),
            "stop" => (Operation::StopSubscription, Method::POST, None),
            "list" => (Operation::ListSubscriptions, Method::GET, None),
            "content" => (Operation::ListContent, Method::GET, None),
            "notifications" => (Operation::ListNotifications, Method::GET, None),
            _ => return Err(not_found()),
        }
    } else if is(group, "resources") && is(name, "dlpSensitiveTypes") {
        (Operation::GetDlpSensitiveTypes, Method::GET, None)
    } else {
        return Err(not_found());
    };
    if *method != expected {
        return Err(ApiError::MethodNotAllowed { method: method.to_string() });
    }
    Ok(Route { operation, tenant: tenant.clone(), content_id })
}

fn authenticate(state: &EmulatorState, headers: &HeaderMap) -> Result<AccessClaims, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::InvalidToken)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(ApiError::InvalidToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::InvalidToken);
    }
    state
        .mint
        .verify(token.trim(), state.now(), &state.accepted_resources)
        .map_err(|_| ApiError::InvalidToken)
}

fn authorize<'s>(
    state: &'s EmulatorState,
    route: &Route,
    claims: &AccessClaims,
    query: &QueryParams,
    publisher: Option<&str>,
) -> Result<&'s TenantRuntime, ApiError> {
    let tenant_id = Uuid::try_parse(&route.tenant).map_err(|_| {
        af("AF20013", format!("The tenant ID {} in the URL is not a valid GUID.", route.tenant))
    })?;
    let tenant = state.tenant(tenant_id).ok_or_else(|| {
        af("AF20011", format!("Specified tenant ID ({tenant_id}) does not exist in the system or has been deleted."))
    })?;
    if !claims.tid.eq_ignore_ascii_case(&tenant_id.to_string()) {
        return Err(af(
            "AF20010",
            format!(
                "The tenant ID in the URL ({tenant_id}) does not match the tenant ID in the access token ({}).",
                claims.tid
            ),
        ));
    }
    if !claims.roles.iter().any(|r| r == "ActivityFeed.Read") {
        return Err(af(
            "AF10001",
            format!(
                "The permission set ({}) sent in the request does not include the expected permission.",
                claims.roles.join(",")
            ),
        ));
    }
    if !tenant.config.unified_audit_enabled {
        return Err(unified_audit_disabled(route.operation, tenant_id, claims, query, publisher));
    }
    Ok(tenant)
}

/// The observed body of a tenant whose unified audit log is off: the `code` field holds the
/// first part of a log line, the `message` the rest (wazuh/wazuh #19252).
fn unified_audit_disabled(
    operation: Operation,
    tenant: Uuid,
    claims: &AccessClaims,
    query: &QueryParams,
    publisher: Option<&str>,
) -> ApiError {
    let correlation = Uuid::new_v4();
    let content_type = query.get("contentType").unwrap_or("");
    let publisher = publisher.unwrap_or("00000000-0000-0000-0000-000000000000");
    ApiError::Odd {
        code: format!(
            "{operation} [CorrId={correlation}][TenantId={tenant},ContentType={content_type},ApplicationId={},PublisherId={publisher}][AppId",
            claims.appid
        ),
        message: format!(
            "={}] failed. Exception: Microsoft.Office.Compliance.Audit.DataServiceException: Tenant {tenant} does not exist.\r\n   at Microsoft.Office.Compliance.Audit.DataService.ResolveTenant(Guid tenantId)",
            claims.appid
        ),
        status: axum::http::StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(method: Method, path: &str) -> Result<(Operation, String, Option<String>), ApiError> {
        route(&method, &path.parse().unwrap()).map(|r| (r.operation, r.tenant, r.content_id))
    }

    #[test]
    fn routes_are_case_insensitive_and_accept_both_versions() {
        let t = "41463f53-8812-40f4-890f-865bf6e35190";
        for path in [
            format!("/api/v1.0/{t}/activity/feed/subscriptions/content"),
            format!("/api/v1/{t}/activity/feed/subscriptions/content"),
            format!("/API/V1.0/{t}/Activity/Feed/Subscriptions/Content"),
        ] {
            assert_eq!(routed(Method::GET, &path).unwrap().0, Operation::ListContent, "{path}");
        }
        let id =
            "20260601103000123000001$20260601103000123000001$audit_general$Audit_General$emea0036";
        let (op, tenant, content_id) =
            routed(Method::GET, &format!("/api/v1.0/{t}/activity/feed/audit/{id}")).unwrap();
        assert_eq!((op, tenant.as_str(), content_id.as_deref()), (Operation::GetBlob, t, Some(id)));
        let encoded = id.replace('$', "%24");
        let (_, _, content_id) =
            routed(Method::GET, &format!("/api/v1.0/{t}/activity/feed/audit/{encoded}")).unwrap();
        assert_eq!(content_id.as_deref(), Some(id));
    }

    #[test]
    fn wrong_methods_and_paths_are_refused() {
        let t = "41463f53-8812-40f4-890f-865bf6e35190";
        assert!(matches!(
            routed(Method::GET, &format!("/api/v1.0/{t}/activity/feed/subscriptions/start")),
            Err(ApiError::MethodNotAllowed { .. })
        ));
        assert!(matches!(
            routed(Method::GET, &format!("/api/v2.0/{t}/activity/feed/subscriptions/list")),
            Err(ApiError::NotFound { .. })
        ));
        assert!(matches!(
            routed(Method::GET, &format!("/api/v1.0/{t}/activity/feed/subscriptions/everything")),
            Err(ApiError::NotFound { .. })
        ));
    }

    #[test]
    fn percent_decoding_keeps_odd_input() {
        assert_eq!(percent_decode("a%24b"), "a$b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn query_names_are_case_insensitive() {
        let q = QueryParams::parse(Some(
            "contenttype=Audit.General&publisherIdentifier=&PublisherIdentifier=abc",
        ));
        assert_eq!(q.get("contentType"), Some("Audit.General"));
        assert_eq!(q.get("PublisherIdentifier"), Some("abc"));
        assert_eq!(q.get("startTime"), None);
    }
}
