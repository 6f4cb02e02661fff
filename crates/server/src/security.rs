//! Response headers every answer carries: a Content-Security-Policy that allows no script at
//! all and no inline style (the UI needs neither), framing refused, no MIME sniffing, no
//! referrer (URLs hold filters, which can be personal data), and `Cache-Control: no-store` on
//! everything but the static stylesheet, so audit data never lands in shared or disk caches.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::ServerState;

/// The policy: same-origin styles and images (inline SVG needs nothing), forms post only
/// here, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub async fn headers(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    set(HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(HeaderName::from_static("cross-origin-resource-policy"), "same-origin");
    set(
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    );
    if is_asset {
        set(header::CACHE_CONTROL, "public, max-age=3600");
    } else {
        set(header::CACHE_CONTROL, "no-store");
        set(header::PRAGMA, "no-cache");
    }
    if state.settings().secure_cookies {
        set(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
    response
}
