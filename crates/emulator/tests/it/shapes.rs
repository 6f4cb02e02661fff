//! Wire shapes against the reference's example bodies (same member names, same JSON types), and
//! insta snapshots of the emulator's responses with volatile values redacted.

use chrono::Duration;
use emulator::{TenantConfig, demo};
use serde_json::{Value, json};

use crate::receiver::{Receiver, eventually};
use crate::support::*;

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn subscription_and_content_shapes_match_the_reference() {
    let api = Api::demo().await;
    let receiver = Receiver::start().await;
    let body = json!({"webhook": {"address": receiver.url, "authId": "shared-secret-1", "expiration": ""}});
    let start =
        api.post(&api.url("subscriptions/start?contentType=Audit.SharePoint"), Some(body)).await;
    assert_same_shape(&start.json(), &fixture(include_str!("fixtures/start_response.json")));
    insta::assert_json_snapshot!("start_response", stable_addresses(&start.json(), &api.emu), {
        ".webhook.address" => "[receiver]"
    });

    let list = api.get(&api.url("subscriptions/list")).await.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_same_shape(&list, &fixture(include_str!("fixtures/subscription_list.json")));

    let url = api.url(&format!(
        "subscriptions/content?contentType=Audit.General&startTime={}&endTime={}",
        query_time(t0() - Duration::minutes(30)),
        query_time(t0())
    ));
    let content = api.get(&url).await.json();
    assert!(!content.as_array().unwrap().is_empty());
    assert_same_shape(&content, &fixture(include_str!("fixtures/content_list.json")));
    insta::assert_json_snapshot!("content_list", stable_addresses(&content, &api.emu));

    let dlp = api.get(&api.url("resources/dlpSensitiveTypes")).await.json();
    assert_same_shape(&dlp, &fixture(include_str!("fixtures/dlp_sensitive_types.json")));

    // Notifications and their history.
    api.clock.advance(Duration::minutes(30));
    eventually("a notification", || !receiver.notifications().is_empty()).await;
    let posted = receiver.notifications()[0].json();
    assert_same_shape(&posted, &fixture(include_str!("fixtures/notification.json")));
    insta::assert_json_snapshot!("notification", stable_addresses(&posted, &api.emu));
    eventually("recorded", || api.emu.stats().notified_blobs > 0).await;
    let history =
        api.get(&api.url("subscriptions/notifications?contentType=Audit.SharePoint")).await.json();
    assert_same_shape(&history, &fixture(include_str!("fixtures/notification_history.json")));
    insta::assert_json_snapshot!("notification_history", stable_addresses(&history, &api.emu));
}

#[tokio::test]
async fn token_shapes_match_the_reference() {
    let api = Api::demo().await;
    let client = demo::CLIENT_ID.to_string();
    let tenant = demo::TENANT_ID.to_string();
    let v1 = token_request(
        &api.http,
        api.emu.token_url_v1(&tenant).as_str(),
        &[
            ("grant_type", "client_credentials"),
            ("resource", "https://manage.office.com"),
            ("client_id", &client),
            ("client_secret", demo::SECRET_VALUE),
        ],
    )
    .await
    .json();
    assert_same_shape(&v1, &fixture(include_str!("fixtures/token_v1.json")));
    insta::assert_json_snapshot!("token_v1", v1, { ".access_token" => "[token]" });

    let v2 = token_request(
        &api.http,
        api.emu.token_url_v2(&tenant).as_str(),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "https://manage.office.com/.default"),
            ("client_id", &client),
            ("client_secret", demo::SECRET_VALUE),
        ],
    )
    .await
    .json();
    assert_same_shape(&v2, &fixture(include_str!("fixtures/token_v2.json")));
    insta::assert_json_snapshot!("token_v2", v2, { ".access_token" => "[token]" });

    let claims = token_claims(v2["access_token"].as_str().unwrap());
    insta::assert_json_snapshot!("access_token_claims", claims, { ".uti" => "[uti]" });

    let error = token_request(
        &api.http,
        api.emu.token_url_v2(&tenant).as_str(),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "https://manage.office.com/.default"),
            ("client_id", &client),
            ("client_secret", "wrong"),
        ],
    )
    .await
    .json();
    assert_same_shape(&error, &fixture(include_str!("fixtures/aadsts_error.json")));
    insta::assert_json_snapshot!("aadsts_error", stable_addresses(&error, &api.emu), {
        ".trace_id" => "[trace_id]",
        ".correlation_id" => "[correlation_id]",
        ".error_description" => insta::dynamic_redaction(|value, _| {
            let text = value.as_str().unwrap_or_default();
            text.split("\r\nTrace ID:").next().unwrap_or_default().to_owned() + "\r\nTrace ID: [redacted]"
        }),
    });
}

#[tokio::test]
async fn error_shapes_match_the_reference() {
    let mut config = config_at(t0());
    config.tenants[0].unified_audit_enabled = true;
    let mut off: TenantConfig = config.tenants[0].clone();
    off.tenant_id = uuid::Uuid::from_u128(0x5555_0000_0000_4000_8000_0000_0000_0005);
    off.domain = "off.onmicrosoft.com".into();
    off.unified_audit_enabled = false;
    config.tenants.push(off);
    let api = Api::start(config).await;

    let af = api.get(&api.url("subscriptions/content?contentType=DLP.All")).await.json();
    assert_same_shape(&af, &fixture(include_str!("fixtures/af_error.json")));
    insta::assert_json_snapshot!("af20022", af);

    let denied = api.get_as(&api.url("subscriptions/list"), None).await.json();
    assert_same_shape(&denied, &fixture(include_str!("fixtures/unauthorized.json")));

    let reply = token_request(
        &api.http,
        api.emu.token_url_v2("off.onmicrosoft.com").as_str(),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "https://manage.office.com/.default"),
            ("client_id", &demo::CLIENT_ID.to_string()),
            ("client_secret", demo::SECRET_VALUE),
        ],
    )
    .await;
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    let url = format!(
        "{}api/v1.0/55550000-0000-4000-8000-000000000005/activity/feed/subscriptions/start?contentType=Audit.SharePoint",
        api.emu.api_base()
    );
    let garbage = Reply::read(
        api.http.post(&url).bearer_auth(&token).header("content-length", "0").send().await.unwrap(),
    )
    .await;
    assert_same_shape(
        &garbage.json(),
        &fixture(include_str!("fixtures/unified_audit_disabled.json")),
    );
}
