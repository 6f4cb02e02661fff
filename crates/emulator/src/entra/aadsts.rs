//! Entra ID error responses (reference §2.5): `{error, error_description, error_codes,
//! timestamp, trace_id, correlation_id, error_uri}`, HTTP 400, or 401 for `invalid_client`
//! (observed). Descriptions follow the wording seen in public error logs; codes other than
//! those listed in the reference (70003, 7000216, 700021, 700023, 50027) are Gap choices.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::api_error::JSON_UTF8;
use crate::wire_time::format_entra_timestamp;

/// An `AADSTS` error before it gets its trace ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AadError {
    pub(crate) error: &'static str,
    pub(crate) code: u32,
    pub(crate) description: String,
}

fn aad(error: &'static str, code: u32, description: impl Into<String>) -> AadError {
    AadError { error, code, description: description.into() }
}

impl AadError {
    pub(crate) fn status(&self) -> StatusCode {
        if self.error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        }
    }

    /// The response body and status at `now`; `login_base` roots `error_uri`.
    pub(crate) fn into_response_at(self, now: DateTime<Utc>, login_base: &str) -> Response {
        let trace_id = Uuid::new_v4().to_string();
        let correlation_id = Uuid::new_v4().to_string();
        let timestamp = format_entra_timestamp(now);
        let body = AadErrorBody {
            error: self.error,
            error_description: format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.code, self.description
            ),
            error_codes: vec![self.code],
            timestamp,
            trace_id,
            correlation_id,
            error_uri: format!("{}/error?code={}", login_base.trim_end_matches('/'), self.code),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status(), bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        response
    }
}

#[derive(Serialize)]
struct AadErrorBody {
    error: &'static str,
    error_description: String,
    error_codes: Vec<u32>,
    timestamp: String,
    trace_id: String,
    correlation_id: String,
    error_uri: String,
}

pub(crate) fn missing(parameter: &str) -> AadError {
    aad(
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{parameter}'."),
    )
}

pub(crate) fn tenant_not_guid_or_dns(tenant: &str) -> AadError {
    aad(
        "invalid_request",
        900023,
        format!(
            "Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain."
        ),
    )
}

pub(crate) fn tenant_not_found(tenant: &str) -> AadError {
    aad(
        "invalid_request",
        90002,
        format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are \
             signing into the correct cloud. Check with your subscription administrator, this may \
             happen if there are no active subscriptions for the tenant."
        ),
    )
}

pub(crate) fn unsupported_grant(grant: &str) -> AadError {
    aad(
        "unsupported_grant_type",
        70003,
        format!("The app requested an unsupported grant type '{grant}'."),
    )
}

pub(crate) fn unknown_client(client: &str, directory: &str) -> AadError {
    aad(
        "unauthorized_client",
        700016,
        format!(
            "Application with identifier '{client}' was not found in the directory '{directory}'. \
             This can happen if the application has not been installed by the administrator of the \
             tenant or consented to by any user in the tenant. You may have sent your \
             authentication request to the wrong tenant."
        ),
    )
}

pub(crate) fn invalid_scope(scope: &str) -> AadError {
    aad(
        "invalid_scope",
        70011,
        format!(
            "The provided request must include a 'scope' input parameter. The provided value for \
             the input parameter 'scope' is not valid. The scope {scope} is not valid. Client \
             credentials require exactly one scope of the form '<resource>/.default'."
        ),
    )
}

pub(crate) fn unknown_resource(resource: &str, directory: &str) -> AadError {
    aad(
        "invalid_resource",
        500011,
        format!(
            "The resource principal named {resource} was not found in the tenant named \
             {directory}. This can happen if the application has not been installed by the \
             administrator of the tenant or consented to by any user in the tenant. You might \
             have sent your authentication request to the wrong tenant."
        ),
    )
}

/// `sent_secret_id`: the caller sent the ID of one of the app's secrets instead of its value.
pub(crate) fn wrong_secret(client: &str, sent_secret_id: Option<Uuid>) -> AadError {
    let mut description = format!(
        "Invalid client secret provided. Ensure the secret being sent in the request is the client \
         secret value, not the client secret ID, for a secret added to app '{client}'."
    );
    if let Some(id) = sent_secret_id {
        description.push_str(&format!(
            " The value sent is the secret ID '{id}' of this app; send that secret's value instead."
        ));
    }
    aad("invalid_client", 7000215, description)
}

pub(crate) fn expired_secret(client: &str) -> AadError {
    aad(
        "invalid_client",
        7000222,
        format!(
            "The provided client secret keys for app '{client}' are expired. Visit the Azure portal \
             to create new keys for your app: https://aka.ms/NewClientSecret, or consider using \
             certificate credentials for added security: https://aka.ms/certCreds."
        ),
    )
}

pub(crate) fn no_credentials() -> AadError {
    aad(
        "invalid_client",
        7000216,
        "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
    )
}

pub(crate) fn unknown_certificate(thumbprint_hex: &str, client: &str) -> AadError {
    aad(
        "invalid_client",
        700027,
        format!(
            "The certificate with identifier used to sign the client assertion is not registered on \
             application. [Reason - The key was not found., Thumbprint of key used by client: \
             '{thumbprint_hex}', Please visit the Azure Portal, Graph Explorer or directly use MS \
             Graph to see configured keys for app Id '{client}'.]"
        ),
    )
}

pub(crate) fn bad_signature() -> AadError {
    aad(
        "invalid_client",
        700027,
        "Client assertion failed signature validation. [Reason - The key was found, but the signature could not be verified.]",
    )
}

pub(crate) fn assertion_time(now: i64, nbf: Option<i64>, exp: i64) -> AadError {
    let show = |t: i64| {
        DateTime::from_timestamp(t, 0)
            .map_or_else(|| t.to_string(), |d| d.format("%m/%d/%Y %H:%M:%S").to_string())
    };
    aad(
        "invalid_client",
        700024,
        format!(
            "Client assertion is not within its valid time range. Current time: {}, assertion valid \
             from {}, expiry time of assertion {}. Review the documentation at \
             https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
            show(now),
            nbf.map_or_else(|| "(not set)".to_owned(), show),
            show(exp)
        ),
    )
}

pub(crate) fn assertion_audience(aud: &str, expected: &str) -> AadError {
    aad(
        "invalid_client",
        700023,
        format!(
            "Client assertion audience claim does not match Realm issuer. The audience '{aud}' must \
             be the token endpoint that was called: '{expected}'."
        ),
    )
}

pub(crate) fn assertion_subject() -> AadError {
    aad(
        "invalid_client",
        700021,
        "Client assertion application identifier doesn't match 'client_id' parameter. The 'iss' and 'sub' claims must both be the client ID.",
    )
}

pub(crate) fn assertion_malformed(detail: &str) -> AadError {
    aad("invalid_request", 50027, format!("JWT token is invalid or malformed. {detail}"))
}
