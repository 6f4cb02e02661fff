//! The emulated Entra ID token endpoints: v1 and v2, secret and certificate, and every AADSTS
//! error a collector meets.

use emulator::{EmulatorConfig, demo};
use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::support::*;

fn tenant() -> String {
    demo::TENANT_ID.to_string()
}

/// Asserts the §2.5 error shape and returns the description.
#[track_caller]
fn assert_aadsts(reply: &Reply, status: u16, error: &str, code: u64) -> String {
    let body = reply.json();
    assert_eq!(reply.status, status, "{body:#}");
    assert_eq!(body["error"], error, "{body:#}");
    assert_eq!(body["error_codes"], serde_json::json!([code]));
    let description = body["error_description"].as_str().unwrap().to_owned();
    assert!(description.starts_with(&format!("AADSTS{code}: ")), "{description}");
    let trace = body["trace_id"].as_str().unwrap();
    let correlation = body["correlation_id"].as_str().unwrap();
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(description.ends_with(&format!(
        "\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"
    )));
    assert_eq!(timestamp, "2026-06-15 12:00:00Z");
    assert!(body["error_uri"].as_str().unwrap().ends_with(&format!("/error?code={code}")));
    description
}

#[tokio::test]
async fn v1_secret_gives_string_numerics_and_the_resource() {
    let api = Api::demo().await;
    let reply = token_request(
        &api.http,
        api.emu.token_url_v1(&tenant()).as_str(),
        &[
            ("grant_type", "client_credentials"),
            ("resource", "https://manage.office.com"),
            ("client_id", &demo::CLIENT_ID.to_string()),
            ("client_secret", demo::SECRET_VALUE),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], "3599");
    assert_eq!(body["resource"], "https://manage.office.com");
    let now = t0().timestamp();
    assert_eq!(body["not_before"], now.to_string());
    assert_eq!(body["expires_on"], (now + 3599).to_string());
    let claims = token_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "https://manage.office.com");
    assert_eq!(claims["tid"], tenant());
    assert_eq!(claims["iss"], format!("https://sts.windows.net/{}/", tenant()));
    assert_eq!(claims["appid"], demo::CLIENT_ID.to_string());
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["exp"], now + 3599);
    assert!(claims["roles"].as_array().unwrap().contains(&Value::from("ActivityFeed.Read")));
    assert_eq!(reply.header("content-type").unwrap(), "application/json; charset=utf-8");
}

#[tokio::test]
async fn v2_secret_by_form_and_by_basic_auth_and_by_domain() {
    let api = Api::demo().await;
    let client = demo::CLIENT_ID.to_string();
    let scope = "https://manage.office.com/.default";
    let by_form = token_request(
        &api.http,
        api.emu.token_url_v2(&tenant()).as_str(),
        &[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("client_id", &client),
            ("client_secret", demo::SECRET_VALUE),
        ],
    )
    .await;
    assert_eq!(by_form.status, 200, "{}", by_form.text());
    assert_eq!(by_form.json()["expires_in"], 3599);

    // HTTP Basic: client id and secret form-urlencoded, then base64.
    let basic = api
        .http
        .post(api.emu.token_url_v2(demo::DOMAIN).as_str())
        .basic_auth(
            &client,
            Some(
                url::form_urlencoded::byte_serialize(demo::SECRET_VALUE.as_bytes())
                    .collect::<String>(),
            ),
        )
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    let basic = Reply::read(basic).await;
    assert_eq!(basic.status, 200, "{}", basic.text());
    let claims = token_claims(basic.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["tid"], tenant(), "a domain in the path still gives the tenant GUID");

    // The API listener's own origin is an accepted resource too.
    let own = format!("{}/.default", api.emu.api_base().as_str().trim_end_matches('/'));
    let reply = token_request(
        &api.http,
        api.emu.token_url_v2(&tenant()).as_str(),
        &[
            ("grant_type", "client_credentials"),
            ("scope", &own),
            ("client_id", &client),
            ("client_secret", demo::SECRET_VALUE),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    let list = api.get_as(&api.url("subscriptions/list"), Some(&token)).await;
    assert_eq!(list.status, 200, "{}", list.text());
}

async fn certificate_token(
    api: &Api,
    v2: bool,
    alg: Algorithm,
    thumbprint: Thumbprint,
    cert: &str,
    key: &str,
    aud: Option<String>,
) -> Reply {
    let url = if v2 { api.emu.token_url_v2(&tenant()) } else { api.emu.token_url_v1(&tenant()) };
    let aud = aud.unwrap_or_else(|| url.to_string());
    let jwt = assertion(alg, thumbprint, cert, key, &assertion_claims(&aud, t0()));
    let client = demo::CLIENT_ID.to_string();
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client.as_str()),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", jwt.as_str()),
    ];
    if v2 {
        form.push(("scope", "https://manage.office.com/.default"));
    } else {
        form.push(("resource", "https://manage.office.com"));
    }
    token_request(&api.http, url.as_str(), &form).await
}

#[tokio::test]
async fn certificate_assertions_in_both_generations_give_working_tokens() {
    let api = Api::demo().await;
    for (v2, alg, thumbprint) in [
        (true, Algorithm::PS256, Thumbprint::Sha256),
        (true, Algorithm::RS256, Thumbprint::Sha1),
        (false, Algorithm::RS256, Thumbprint::Sha1),
        (false, Algorithm::PS256, Thumbprint::Sha256),
    ] {
        let reply = certificate_token(&api, v2, alg, thumbprint, APP_CERT, APP_KEY, None).await;
        assert_eq!(reply.status, 200, "{v2} {alg:?}: {}", reply.text());
        let token = reply.json()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(token_claims(&token)["appidacr"], "2");
        let list = api.get_as(&api.url("subscriptions/list"), Some(&token)).await;
        assert_eq!(list.status, 200);
    }
    // The audience may end with a slash.
    let aud = format!("{}/", api.emu.token_url_v2(&tenant()));
    let reply = certificate_token(
        &api,
        true,
        Algorithm::PS256,
        Thumbprint::Sha256,
        APP_CERT,
        APP_KEY,
        Some(aud),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn unknown_certificate_and_wrong_assertions_fail() {
    let api = Api::demo().await;
    let reply = certificate_token(
        &api,
        true,
        Algorithm::PS256,
        Thumbprint::Sha256,
        OTHER_CERT,
        OTHER_KEY,
        None,
    )
    .await;
    let description = assert_aadsts(&reply, 401, "invalid_client", 700027);
    assert!(description.contains("not registered"), "{description}");

    let forged = certificate_token(
        &api,
        true,
        Algorithm::PS256,
        Thumbprint::Sha256,
        APP_CERT,
        OTHER_KEY,
        None,
    )
    .await;
    assert_aadsts(&forged, 401, "invalid_client", 700027);

    // The real Entra ID host is not this emulator's endpoint.
    let aud = format!("https://login.microsoftonline.com/{}/oauth2/v2.0/token", tenant());
    let wrong_aud = certificate_token(
        &api,
        true,
        Algorithm::PS256,
        Thumbprint::Sha256,
        APP_CERT,
        APP_KEY,
        Some(aud),
    )
    .await;
    assert_aadsts(&wrong_aud, 401, "invalid_client", 700023);

    // A v1 audience on the v2 endpoint.
    let v1_aud = api.emu.token_url_v1(&tenant()).to_string();
    let mismatched = certificate_token(
        &api,
        true,
        Algorithm::PS256,
        Thumbprint::Sha256,
        APP_CERT,
        APP_KEY,
        Some(v1_aud),
    )
    .await;
    assert_aadsts(&mismatched, 401, "invalid_client", 700023);

    // Outside the time range.
    let url = api.emu.token_url_v2(&tenant());
    let mut claims = assertion_claims(url.as_str(), t0() - chrono::Duration::hours(1));
    claims["exp"] = (t0() - chrono::Duration::minutes(1)).timestamp().into();
    let jwt = assertion(Algorithm::PS256, Thumbprint::Sha256, APP_CERT, APP_KEY, &claims);
    let client = demo::CLIENT_ID.to_string();
    let expired = token_request(
        &api.http,
        url.as_str(),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "https://manage.office.com/.default"),
            ("client_id", &client),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", &jwt),
        ],
    )
    .await;
    assert_aadsts(&expired, 401, "invalid_client", 700024);
}

struct Case {
    name: &'static str,
    v2: bool,
    tenant: String,
    form: Vec<(&'static str, String)>,
    status: u16,
    error: &'static str,
    code: u64,
    mentions: Option<String>,
}

#[tokio::test]
async fn every_aadsts_error_has_its_code_status_and_shape() {
    let api = Api::demo().await;
    let client = demo::CLIENT_ID.to_string();
    let scope = "https://manage.office.com/.default".to_owned();
    let base = |secret: &str| {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", client.clone()),
            ("client_secret", secret.to_owned()),
            ("scope", scope.clone()),
        ]
    };
    let without = |name: &str| {
        base(demo::SECRET_VALUE).into_iter().filter(|(k, _)| *k != name).collect::<Vec<_>>()
    };
    let with = |name: &'static str, value: &str| {
        let mut form = without(name);
        form.push((name, value.to_owned()));
        form
    };
    let cases = vec![
        Case {
            name: "wrong secret",
            v2: true,
            tenant: tenant(),
            form: base("not-the-secret"),
            status: 401,
            error: "invalid_client",
            code: 7000215,
            mentions: None,
        },
        Case {
            name: "secret id instead of value",
            v2: true,
            tenant: tenant(),
            form: base(&demo::SECRET_ID.to_string()),
            status: 401,
            error: "invalid_client",
            code: 7000215,
            mentions: Some(demo::SECRET_ID.to_string()),
        },
        Case {
            name: "expired secret",
            v2: true,
            tenant: tenant(),
            form: base(demo::EXPIRED_SECRET_VALUE),
            status: 401,
            error: "invalid_client",
            code: 7000222,
            mentions: None,
        },
        Case {
            name: "unknown client",
            v2: true,
            tenant: tenant(),
            form: with("client_id", "11111111-2222-3333-4444-555555555555"),
            status: 400,
            error: "unauthorized_client",
            code: 700016,
            mentions: Some("11111111-2222-3333-4444-555555555555".into()),
        },
        Case {
            name: "unknown tenant",
            v2: true,
            tenant: "fabrikam.onmicrosoft.com".into(),
            form: base(demo::SECRET_VALUE),
            status: 400,
            error: "invalid_request",
            code: 90002,
            mentions: Some("fabrikam.onmicrosoft.com".into()),
        },
        Case {
            name: "unknown tenant guid",
            v2: false,
            tenant: "00000000-1111-2222-3333-444444444444".into(),
            form: base(demo::SECRET_VALUE),
            status: 400,
            error: "invalid_request",
            code: 90002,
            mentions: None,
        },
        Case {
            name: "tenant neither guid nor dns",
            v2: true,
            tenant: "not_a_tenant".into(),
            form: base(demo::SECRET_VALUE),
            status: 400,
            error: "invalid_request",
            code: 900023,
            mentions: None,
        },
        Case {
            name: "scope without .default",
            v2: true,
            tenant: tenant(),
            form: with("scope", "https://manage.office.com"),
            status: 400,
            error: "invalid_scope",
            code: 70011,
            mentions: None,
        },
        Case {
            name: "two scopes",
            v2: true,
            tenant: tenant(),
            form: with("scope", "https://manage.office.com/.default offline_access"),
            status: 400,
            error: "invalid_scope",
            code: 70011,
            mentions: None,
        },
        Case {
            name: "unknown resource v2",
            v2: true,
            tenant: tenant(),
            form: with("scope", "https://graph.microsoft.com/.default"),
            status: 400,
            error: "invalid_resource",
            code: 500011,
            mentions: Some("https://graph.microsoft.com".into()),
        },
        Case {
            name: "missing grant_type",
            v2: true,
            tenant: tenant(),
            form: without("grant_type"),
            status: 400,
            error: "invalid_request",
            code: 900144,
            mentions: Some("'grant_type'".into()),
        },
        Case {
            name: "missing client_id",
            v2: true,
            tenant: tenant(),
            form: without("client_id"),
            status: 400,
            error: "invalid_request",
            code: 900144,
            mentions: Some("'client_id'".into()),
        },
        Case {
            name: "missing scope",
            v2: true,
            tenant: tenant(),
            form: without("scope"),
            status: 400,
            error: "invalid_request",
            code: 900144,
            mentions: Some("'scope'".into()),
        },
        Case {
            name: "unsupported grant",
            v2: true,
            tenant: tenant(),
            form: with("grant_type", "password"),
            status: 400,
            error: "unsupported_grant_type",
            code: 70003,
            mentions: None,
        },
        Case {
            name: "no credentials",
            v2: true,
            tenant: tenant(),
            form: without("client_secret"),
            status: 401,
            error: "invalid_client",
            code: 7000216,
            mentions: None,
        },
    ];
    for case in cases {
        let url = if case.v2 {
            api.emu.token_url_v2(&case.tenant)
        } else {
            api.emu.token_url_v1(&case.tenant)
        };
        let form: Vec<(&str, &str)> = case.form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = token_request(&api.http, url.as_str(), &form).await;
        let description = assert_aadsts(&reply, case.status, case.error, case.code);
        if let Some(text) = case.mentions {
            assert!(description.contains(&text), "{}: {description}", case.name);
        }
        assert!(!description.contains(demo::SECRET_VALUE), "secrets never echo");
    }

    // v1 specifics: the resource parameter.
    let v1 = api.emu.token_url_v1(&tenant());
    let unknown = token_request(
        &api.http,
        v1.as_str(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client),
            ("client_secret", demo::SECRET_VALUE),
            ("resource", "https://outlook.office.com"),
        ],
    )
    .await;
    assert_aadsts(&unknown, 400, "invalid_resource", 500011);
    let missing = token_request(
        &api.http,
        v1.as_str(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client),
            ("client_secret", demo::SECRET_VALUE),
        ],
    )
    .await;
    assert!(assert_aadsts(&missing, 400, "invalid_request", 900144).contains("'resource'"));

    let stats = api.emu.stats();
    assert_eq!(stats.token_errors, 17, "{stats:?}");
    assert_eq!(stats.tokens_issued, 1, "only the harness token");
}

#[tokio::test]
async fn tokens_expire_with_the_emulated_clock() {
    let mut config = config_at(t0());
    config.token_lifetime = chrono::Duration::minutes(5);
    let api = Api::start(config).await;
    let list = api.url("subscriptions/list");
    assert_eq!(api.get(&list).await.status, 200);
    api.clock.advance(chrono::Duration::minutes(6));
    let reply = api.get(&list).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.json(),
        serde_json::json!({"Message": "Authorization has been denied for this request."})
    );
}

#[tokio::test]
async fn a_config_without_tenants_refuses_everyone() {
    let emu = emulator::start(EmulatorConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    let reply = token_request(
        &http,
        emu.token_url_v2(&tenant()).as_str(),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error_codes"][0], 90002);
    emu.shutdown().await;
}
