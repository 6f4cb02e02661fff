//! The emulated Microsoft Entra ID: `POST /{tenant}/oauth2/token` (v1, `resource`) and
//! `POST /{tenant}/oauth2/v2.0/token` (v2, `scope`), client credentials with a secret (form
//! field or HTTP Basic) or a certificate assertion, answered like login.microsoftonline.com
//! (reference §2).

pub(crate) mod aadsts;
pub(crate) mod assertion;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use self::aadsts::AadError;
use self::assertion::{AssertionCheck, verify_assertion};
use crate::access_token::Grant;
use crate::api_error::JSON_UTF8;
use crate::state::{EmulatorState, TenantRuntime, lock};
use crate::stats::Operation;
use crate::wire_time::format_http_date;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Which token endpoint was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenEndpoint {
    V1,
    V2,
}

impl TokenEndpoint {
    fn path_suffix(self) -> &'static str {
        match self {
            TokenEndpoint::V1 => "oauth2/token",
            TokenEndpoint::V2 => "oauth2/v2.0/token",
        }
    }

    fn operation(self) -> Operation {
        match self {
            TokenEndpoint::V1 => Operation::TokenV1,
            TokenEndpoint::V2 => Operation::TokenV2,
        }
    }
}

/// The login listener's routes.
pub(crate) fn router(state: Arc<EmulatorState>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/token", post(token_v1))
        .route("/{tenant}/oauth2/v2.0/token", post(token_v2))
        .with_state(state)
}

async fn token_v1(
    State(state): State<Arc<EmulatorState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token(&state, TokenEndpoint::V1, &tenant, &headers, &body)
}

async fn token_v2(
    State(state): State<Arc<EmulatorState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token(&state, TokenEndpoint::V2, &tenant, &headers, &body)
}

fn token(
    state: &EmulatorState,
    endpoint: TokenEndpoint,
    path_tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let now = state.now();
    let form = TokenForm::parse(body, headers);
    let result = grant(state, endpoint, path_tenant, &form, headers);
    lock(&state.stats).record_token_request(endpoint.operation(), result.is_ok());
    let mut response = match result {
        Ok(body) => {
            let mut response = (StatusCode::OK, body.to_string()).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => error.into_response_at(now, state.login_base.as_str()),
    };
    if let Ok(date) = HeaderValue::from_str(&format_http_date(now)) {
        response.headers_mut().insert(header::DATE, date);
    }
    response
}

/// The form fields of a token request, with HTTP Basic client authentication folded in.
#[derive(Default)]
struct TokenForm {
    fields: Vec<(String, String)>,
    basic: Option<(String, String)>,
}

impl TokenForm {
    fn parse(body: &[u8], headers: &HeaderMap) -> TokenForm {
        let fields = url::form_urlencoded::parse(body).into_owned().collect();
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
            .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
            .and_then(|decoded| String::from_utf8(decoded).ok())
            .and_then(|pair| {
                let (id, secret) = pair.split_once(':')?;
                let decode = |s: &str| {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                };
                Some((decode(id)?, decode(secret)?))
            });
        TokenForm { fields, basic }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn client_id(&self) -> Option<&str> {
        self.get("client_id").or(self.basic.as_ref().map(|(id, _)| id.as_str()))
    }

    fn client_secret(&self) -> Option<&str> {
        self.get("client_secret").or(self.basic.as_ref().map(|(_, s)| s.as_str()))
    }
}

/// A tenant segment is a GUID or a DNS name (labels of letters, digits and hyphens).
fn is_guid_or_dns(tenant: &str) -> bool {
    if Uuid::parse_str(tenant).is_ok() {
        return true;
    }
    let labels: Vec<&str> = tenant.split('.').collect();
    tenant.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn same_resource(a: &str, b: &str) -> bool {
    a.trim_end_matches('/').eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// Runs the checks in the order Entra ID applies them and builds the success body.
fn grant(
    state: &EmulatorState,
    endpoint: TokenEndpoint,
    path_tenant: &str,
    form: &TokenForm,
    headers: &HeaderMap,
) -> Result<serde_json::Value, AadError> {
    if !is_guid_or_dns(path_tenant) {
        return Err(aadsts::tenant_not_guid_or_dns(path_tenant));
    }
    let tenant =
        state.tenant_by_name(path_tenant).ok_or_else(|| aadsts::tenant_not_found(path_tenant))?;
    let grant_type = form.get("grant_type").ok_or_else(|| aadsts::missing("grant_type"))?;
    if grant_type != "client_credentials" {
        return Err(aadsts::unsupported_grant(grant_type));
    }
    let client_text = form.client_id().ok_or_else(|| aadsts::missing("client_id"))?;
    let requested = match endpoint {
        TokenEndpoint::V1 => form.get("resource").ok_or_else(|| aadsts::missing("resource"))?,
        TokenEndpoint::V2 => form.get("scope").ok_or_else(|| aadsts::missing("scope"))?,
    };
    let directory = if tenant.config.domain.is_empty() {
        tenant.id().to_string()
    } else {
        tenant.config.domain.clone()
    };
    let app = Uuid::parse_str(client_text)
        .ok()
        .and_then(|id| tenant.app(id))
        .ok_or_else(|| aadsts::unknown_client(client_text, &directory))?;
    let client_id = app.registration.client_id;
    let resource = match endpoint {
        TokenEndpoint::V1 => requested.to_owned(),
        TokenEndpoint::V2 => {
            let mut scopes = requested.split_whitespace();
            let (Some(scope), None) = (scopes.next(), scopes.next()) else {
                return Err(aadsts::invalid_scope(requested));
            };
            scope.strip_suffix("/.default").ok_or_else(|| aadsts::invalid_scope(scope))?.to_owned()
        }
    };
    let resource = state
        .accepted_resources
        .iter()
        .find(|r| same_resource(r, &resource))
        .map(|_| resource.trim_end_matches('/').to_owned())
        .ok_or_else(|| aadsts::unknown_resource(&resource, &directory))?;

    let now = state.now();
    let with_certificate = match form.get("client_assertion") {
        Some(assertion) => {
            match form.get("client_assertion_type") {
                None => return Err(aadsts::missing("client_assertion_type")),
                Some(kind) if kind != JWT_BEARER => {
                    return Err(aadsts::assertion_malformed(&format!(
                        "client_assertion_type must be '{JWT_BEARER}'."
                    )));
                }
                Some(_) => {}
            }
            let audiences = assertion_audiences(state, tenant, path_tenant, endpoint, headers);
            verify_assertion(
                assertion,
                &AssertionCheck {
                    client_id,
                    now: now.timestamp(),
                    audiences: &audiences,
                    certificates: &app.certificates,
                },
            )?;
            true
        }
        None => {
            let sent = form.client_secret().ok_or_else(aadsts::no_credentials)?;
            check_secret(&app.registration, sent, now)?;
            false
        }
    };
    let token = state
        .mint
        .issue(
            &Grant {
                tenant_id: tenant.id(),
                client_id,
                resource: &resource,
                roles: &app.registration.roles,
                with_certificate,
            },
            now,
        )
        .map_err(|e| aadsts::assertion_malformed(&format!("internal: {e}")))?;
    let lifetime = state.mint.lifetime().num_seconds();
    Ok(match endpoint {
        TokenEndpoint::V1 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "expires_on": (now.timestamp() + lifetime).to_string(),
            "not_before": now.timestamp().to_string(),
            "resource": resource,
            "access_token": token,
        }),
        TokenEndpoint::V2 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "access_token": token,
        }),
    })
}

/// The spellings of the called endpoint an assertion's `aud` may use: the login listener's
/// origin (or the `Host` the client used), with the tenant as in the path, as GUID or as domain.
fn assertion_audiences(
    state: &EmulatorState,
    tenant: &TenantRuntime,
    path_tenant: &str,
    endpoint: TokenEndpoint,
    headers: &HeaderMap,
) -> Vec<String> {
    let mut origins = vec![state.login_base.origin().ascii_serialization()];
    if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        origins.push(format!("{}://{host}", state.login_base.scheme()));
    }
    let mut tenants = vec![path_tenant.to_owned(), tenant.id().to_string()];
    if !tenant.config.domain.is_empty() {
        tenants.push(tenant.config.domain.clone());
    }
    let mut audiences = Vec::new();
    for origin in &origins {
        for t in &tenants {
            audiences.push(format!("{origin}/{t}/{}", endpoint.path_suffix()));
        }
    }
    audiences
}

/// Compares the sent secret in constant time with every secret of the app.
fn check_secret(
    app: &crate::config::AppRegistration,
    sent: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AadError> {
    let client = app.client_id.to_string();
    let mut expired_match = false;
    for secret in &app.secrets {
        if bool::from(secret.value.as_bytes().ct_eq(sent.as_bytes())) {
            if secret.expires > now {
                return Ok(());
            }
            expired_match = true;
        }
    }
    if expired_match {
        return Err(aadsts::expired_secret(&client));
    }
    let sent_id =
        Uuid::parse_str(sent.trim()).ok().filter(|id| app.secrets.iter().any(|s| s.id == *id));
    Err(aadsts::wrong_secret(&client, sent_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_segments_are_guids_or_dns_names() {
        assert!(is_guid_or_dns("41463f53-8812-40f4-890f-865bf6e35190"));
        assert!(is_guid_or_dns("contoso.onmicrosoft.com"));
        assert!(is_guid_or_dns("fabrikam.com"));
        assert!(!is_guid_or_dns("contoso"));
        assert!(!is_guid_or_dns("not a tenant"));
        assert!(!is_guid_or_dns("contoso..com"));
        assert!(!is_guid_or_dns("-contoso.com"));
        assert!(!is_guid_or_dns("con$oso.com"));
    }
}
