//! Who is asking: the signed-in account behind a request (a session cookie or an API token),
//! its role checks, the anti-CSRF check, and the client address written to the access log.
//!
//! Extractors: [`ApiUser`] answers 401 JSON without credentials and checks the
//! `X-CSRF-Token` header on state-changing requests that authenticate with the session cookie;
//! [`UiUser`] redirects to the sign-in page. UI forms check their CSRF field themselves
//! ([`Principal::check_csrf`]), since the token is in the body.

use std::net::SocketAddr;

use archive::{Account, Role, Session};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::{ApiError, ErrorCode, Failure};
use crate::secrets::{self, Secret};
use crate::state::{ServerSettings, ServerState};

/// The header API clients using the session cookie send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session cookie's name: with `Secure`, the `__Host-` prefix pins it to this host and
/// path; without (plain http on loopback), browsers refuse that prefix.
pub fn session_cookie_name(settings: &ServerSettings) -> &'static str {
    if settings.secure_cookies { "__Host-d365audit" } else { "d365audit" }
}

/// The cookie of the sign-in form (login-CSRF protection before a session exists).
pub fn sign_in_cookie_name(settings: &ServerSettings) -> &'static str {
    if settings.secure_cookies { "__Host-d365audit-signin" } else { "d365audit-signin" }
}

/// How a request proved who it is.
#[derive(Debug, Clone)]
pub enum Credential {
    Session {
        session: Session,
        /// The session's anti-CSRF token, for the forms of the page.
        csrf_token: String,
    },
    ApiToken {
        id: i64,
    },
}

/// A signed-in account making a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account: Account,
    pub credential: Credential,
    pub client_ip: Option<String>,
}

impl Principal {
    pub fn role(&self) -> Role {
        self.account.role
    }

    pub fn may(&self, role: Role) -> bool {
        self.account.role >= role
    }

    /// Refuses with 403 unless the account has at least `role`.
    pub fn require(&self, role: Role, doing: &str) -> Result<(), Failure> {
        if self.may(role) {
            return Ok(());
        }
        Err(Failure::forbidden(format!(
            "{doing} needs the {} role; you are signed in as {} with the {} role. Ask an admin.",
            role.as_str(),
            self.account.username,
            self.account.role.as_str()
        )))
    }

    /// The session's anti-CSRF token (empty for token-authenticated requests, which need none).
    pub fn csrf_token(&self) -> &str {
        match &self.credential {
            Credential::Session { csrf_token, .. } => csrf_token,
            Credential::ApiToken { .. } => "",
        }
    }

    /// Checks the anti-CSRF token a form or header carried. Token-authenticated requests pass:
    /// a browser never attaches a bearer token by itself.
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), Failure> {
        match &self.credential {
            Credential::ApiToken { .. } => Ok(()),
            Credential::Session { session, .. } => match presented {
                Some(token) if secrets::csrf_matches(token, &session.csrf_digest) => Ok(()),
                _ => Err(Failure::new(
                    ErrorCode::CsrfFailed,
                    "the form's security token is missing or belongs to another session; \
                     reload the page and submit it again",
                )),
            },
        }
    }
}

/// The client address: the peer, or the last `X-Forwarded-For` hop when configured to trust it.
pub fn client_ip(parts: &Parts, settings: &ServerSettings) -> Option<String> {
    if settings.trust_forwarded_for {
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty())
            .map(|v| v.chars().take(64).collect::<String>());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip().to_string())
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Finds the account behind a request. `Ok(None)`: no valid credential (none, unknown,
/// expired, revoked, or the account is disabled). A bearer token wins over a cookie.
pub async fn authenticate(
    state: &ServerState,
    parts: &Parts,
) -> Result<Option<Principal>, Failure> {
    let now = state.now();
    let client_ip = client_ip(parts, state.settings());
    let backend = state.backend();
    if let Some(token) = bearer(&parts.headers) {
        let found = backend
            .use_api_token(&secrets::digest(token), now)
            .await
            .map_err(|e| Failure::archive("checking an API token", e))?;
        return Ok(found.filter(|(_, account)| !account.disabled).map(|(token, account)| {
            Principal { account, credential: Credential::ApiToken { id: token.id }, client_ip }
        }));
    }
    let Some(value) = cookie(&parts.headers, session_cookie_name(state.settings())) else {
        return Ok(None);
    };
    let session_token = Secret::new(value);
    let found = backend
        .session(&secrets::digest(session_token.expose()), now)
        .await
        .map_err(|e| Failure::archive("checking the session", e))?;
    Ok(found.filter(|(_, account)| !account.disabled).map(|(session, account)| Principal {
        account,
        credential: Credential::Session {
            session,
            csrf_token: secrets::csrf_token(&session_token),
        },
        client_ip,
    }))
}

/// An API caller: 401 JSON without valid credentials; 403 JSON when a state-changing request
/// authenticated by the session cookie lacks the `X-CSRF-Token` header.
#[derive(Debug, Clone)]
pub struct ApiUser(pub Principal);

impl FromRequestParts<ServerState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ServerState,
    ) -> Result<Self, Self::Rejection> {
        let Some(principal) = authenticate(state, parts).await? else {
            return Err(ApiError(Failure::new(
                ErrorCode::Unauthorized,
                "sign in first: send `Authorization: Bearer <token>` (create one with \
                 `d365audit token create`) or use a browser session",
            )));
        };
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            let header = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            principal.check_csrf(header).map_err(|_| {
                ApiError(Failure::new(
                    ErrorCode::CsrfFailed,
                    "requests that use the session cookie and change something must send the \
                     page's CSRF token in the X-CSRF-Token header (scripts: use a bearer token)",
                ))
            })?;
        }
        Ok(ApiUser(principal))
    }
}

/// A person using the web UI: redirected to the sign-in page when not signed in.
#[derive(Debug, Clone)]
pub struct UiUser(pub Principal);

impl FromRequestParts<ServerState> for UiUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ServerState,
    ) -> Result<Self, Self::Rejection> {
        match authenticate(state, parts).await {
            Ok(Some(principal)) => Ok(UiUser(principal)),
            Ok(None) => {
                let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let target = if parts.method == Method::GET && next != "/" {
                    format!("/sign-in?next={}", url_encode(next))
                } else {
                    "/sign-in".to_string()
                };
                Err(Redirect::to(&target).into_response())
            }
            Err(failure) => Err(crate::error::PageError(failure).into_response()),
        }
    }
}

/// Percent-encodes a query parameter value.
pub fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Whether `next` is a path on this site (a sign-in must not redirect elsewhere).
pub fn is_local_path(next: &str) -> bool {
    next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\")
}
