//! Shared helpers: an emulator on a frozen clock, an HTTP client with a token, assertion
//! signing, and the JSON shape comparison used against the reference's example bodies.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, TimeZone, Utc};
use clock::ManualClock;
use emulator::{EmulatorConfig, RunningEmulator, demo};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub(crate) const APP_CERT: &str = include_str!("../../testdata/app-cert.pem");
pub(crate) const APP_KEY: &str = include_str!("../../testdata/app-key.pem");
pub(crate) const OTHER_CERT: &str = include_str!("../../testdata/other-cert.pem");
pub(crate) const OTHER_KEY: &str = include_str!("../../testdata/other-key.pem");

/// The fixed "now" of most tests: a Monday noon.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 15, 12, 0, 0).unwrap()
}

/// The demo configuration on a frozen clock at `at`, with loopback webhooks allowed and a fast
/// notifier.
pub(crate) fn config_at(at: DateTime<Utc>) -> EmulatorConfig {
    let mut config =
        EmulatorConfig::demo(7).with_manual_clock(Arc::new(ManualClock::frozen_at(at)));
    for app in &mut config.tenants[0].apps {
        for secret in &mut app.secrets {
            secret.expires = if secret.id == demo::EXPIRED_SECRET_ID {
                at - Duration::days(1)
            } else {
                at + Duration::days(365)
            };
        }
    }
    config.require_https_webhooks = false;
    config.webhooks.tick = std::time::Duration::from_millis(25);
    config.webhooks.retry_base = Duration::minutes(1);
    config
}

/// A reply, read completely.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap().to_vec();
        Reply { status, headers, body }
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    }

    /// The `AF…` code of an error body.
    pub(crate) fn af_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }

    /// Asserts an AF error with this status and code.
    #[track_caller]
    pub(crate) fn assert_af(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.af_code().as_str()), (status, code), "{}", self.text());
    }
}

/// An emulator plus a client that holds a token of the demo app.
#[derive(Debug)]
pub(crate) struct Api {
    pub(crate) emu: RunningEmulator,
    pub(crate) http: reqwest::Client,
    token: std::sync::Mutex<String>,
    pub(crate) clock: Arc<ManualClock>,
}

impl Api {
    pub(crate) async fn start(config: EmulatorConfig) -> Api {
        let emu = emulator::start(config).await.unwrap();
        let http = reqwest::Client::new();
        let token = secret_token(&emu, &http, demo::CLIENT_ID, demo::SECRET_VALUE).await;
        let clock = emu.manual_clock().unwrap();
        Api { emu, http, token: std::sync::Mutex::new(token), clock }
    }

    pub(crate) async fn demo() -> Api {
        Api::start(config_at(t0())).await
    }

    /// `{feed_root}/{path}` with `PublisherIdentifier` appended.
    pub(crate) fn url(&self, path_and_query: &str) -> String {
        let separator = if path_and_query.contains('?') { '&' } else { '?' };
        format!(
            "{}/{path_and_query}{separator}PublisherIdentifier={}",
            self.emu.feed_root(demo::TENANT_ID),
            demo::PUBLISHER_ID
        )
    }

    /// The current token of the demo app.
    pub(crate) fn token(&self) -> String {
        self.token.lock().unwrap().clone()
    }

    /// Fetches a new token (after the clock moved past the old one's expiry).
    pub(crate) async fn refresh_token(&self) {
        let token = secret_token(&self.emu, &self.http, demo::CLIENT_ID, demo::SECRET_VALUE).await;
        *self.token.lock().unwrap() = token;
    }

    /// Moves the emulated clock and fetches a fresh token.
    pub(crate) async fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.refresh_token().await;
    }

    pub(crate) async fn get(&self, url: &str) -> Reply {
        self.get_as(url, Some(&self.token())).await
    }

    pub(crate) async fn get_as(&self, url: &str, token: Option<&str>) -> Reply {
        let mut request = self.http.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::read(request.send().await.unwrap()).await
    }

    pub(crate) async fn post(&self, url: &str, body: Option<Value>) -> Reply {
        let request = self.http.post(url).bearer_auth(self.token());
        let request = match body {
            Some(body) => request.json(&body),
            None => request.header("Content-Length", "0"),
        };
        Reply::read(request.send().await.unwrap()).await
    }

    /// Every blob listed for `[from, to)`, following `NextPageUri`.
    pub(crate) async fn list_all(
        &self,
        content_type: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<Value> {
        let mut url = self.url(&format!(
            "subscriptions/content?contentType={content_type}&startTime={}&endTime={}",
            query_time(from),
            query_time(to)
        ));
        let mut blobs = Vec::new();
        loop {
            let reply = self.get(&url).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
            blobs.extend(reply.json().as_array().unwrap().iter().cloned());
            match reply.header("NextPageUri") {
                Some(next) => url = format!("{next}&PublisherIdentifier={}", demo::PUBLISHER_ID),
                None => return blobs,
            }
        }
    }

    /// GET of a blob's `contentUri`.
    pub(crate) async fn get_blob(&self, blob: &Value) -> Reply {
        let uri = blob["contentUri"].as_str().unwrap();
        self.get(&format!("{uri}?PublisherIdentifier={}", demo::PUBLISHER_ID)).await
    }
}

pub(crate) fn query_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A v2 token for a client secret.
pub(crate) async fn secret_token(
    emu: &RunningEmulator,
    http: &reqwest::Client,
    client: Uuid,
    secret: &str,
) -> String {
    let reply = token_request(
        http,
        emu.token_url_v2(&demo::TENANT_ID.to_string()).as_str(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.to_string()),
            ("client_secret", secret),
            ("scope", "https://manage.office.com/.default"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn token_request(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Reply {
    Reply::read(http.post(url).form(form).send().await.unwrap()).await
}

/// Which thumbprint header an assertion carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Thumbprint {
    Sha256,
    Sha1,
}

/// Signs a client assertion with `key_pem`, naming `cert_pem` by thumbprint.
pub(crate) fn assertion(
    alg: Algorithm,
    thumbprint: Thumbprint,
    cert_pem: &str,
    key_pem: &str,
    claims: &Value,
) -> String {
    let der = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).unwrap().1.contents;
    let mut header = Header::new(alg);
    match thumbprint {
        Thumbprint::Sha256 => header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(Sha256::digest(&der))),
        Thumbprint::Sha1 => header.x5t = Some(URL_SAFE_NO_PAD.encode(Sha1::digest(&der))),
    }
    let key = EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// The claims of an assertion for the demo app valid around `now`.
pub(crate) fn assertion_claims(aud: &str, now: DateTime<Utc>) -> Value {
    let client = demo::CLIENT_ID.to_string();
    json!({
        "aud": aud,
        "iss": client,
        "sub": client,
        "jti": Uuid::new_v4().to_string(),
        "nbf": now.timestamp(),
        "iat": now.timestamp(),
        "exp": (now + Duration::minutes(10)).timestamp(),
    })
}

/// The claims of an access token (not verified: tests only look).
pub(crate) fn token_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Asserts that `actual` has the shape of `expected`: same JSON types, objects with exactly the
/// same member names (recursively), array elements shaped like the expected element at the same
/// position (or the last one).
#[track_caller]
pub(crate) fn assert_same_shape(actual: &Value, expected: &Value) {
    let mut problems = Vec::new();
    compare_shape(actual, expected, "$", &mut problems);
    assert!(problems.is_empty(), "shape differs:\n{}\nactual: {actual:#}", problems.join("\n"));
}

fn compare_shape(actual: &Value, expected: &Value, path: &str, problems: &mut Vec<String>) {
    if kind(actual) != kind(expected) {
        problems.push(format!(
            "{path}: {} where the reference has {}",
            kind(actual),
            kind(expected)
        ));
        return;
    }
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for name in e.keys().filter(|k| !a.contains_key(*k)) {
                problems.push(format!("{path}.{name}: missing"));
            }
            for name in a.keys().filter(|k| !e.contains_key(*k)) {
                problems.push(format!("{path}.{name}: not in the reference"));
            }
            for (name, value) in a {
                if let Some(reference) = e.get(name) {
                    compare_shape(value, reference, &format!("{path}.{name}"), problems);
                }
            }
        }
        (Value::Array(a), Value::Array(e)) if !e.is_empty() => {
            for (i, value) in a.iter().enumerate() {
                compare_shape(value, &e[i.min(e.len() - 1)], &format!("{path}[{i}]"), problems);
            }
        }
        _ => {}
    }
}

/// Replaces the emulator's addresses with stable names, so snapshots do not depend on ports.
pub(crate) fn stable_addresses(value: &Value, emu: &RunningEmulator) -> Value {
    let text = value
        .to_string()
        .replace(emu.api_base().as_str().trim_end_matches('/'), "http://api.emulator")
        .replace(emu.login_base().as_str().trim_end_matches('/'), "http://login.emulator");
    serde_json::from_str(&text).unwrap()
}
