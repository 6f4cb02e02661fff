//! Webhooks: the validation handshake, notifications, retries, disabling and expiry.

use std::collections::HashSet;

use chrono::Duration;
use emulator::demo;
use serde_json::json;

use crate::receiver::{Receiver, eventually};
use crate::support::*;

fn start_url(api: &Api, content_type: &str) -> String {
    api.url(&format!("subscriptions/start?contentType={content_type}"))
}

#[tokio::test]
async fn handshake_then_notifications_of_new_blobs() {
    let api = Api::demo().await;
    let receiver = Receiver::start().await;
    let body = json!({"webhook": {"address": receiver.url, "authId": "shared-secret-1", "expiration": ""}});
    let reply = api.post(&start_url(&api, "Audit.SharePoint"), Some(body)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({"contentType": "Audit.SharePoint", "status": "enabled",
               "webhook": {"status": "enabled", "address": receiver.url, "authId": "shared-secret-1", "expiration": null}})
    );
    let validations = receiver.validations();
    assert_eq!(validations.len(), 1);
    let handshake = &validations[0];
    let code = handshake.header("webhook-validationcode").unwrap();
    assert_eq!(handshake.json(), json!({"validationCode": code}));
    assert_eq!(handshake.header("webhook-authid").as_deref(), Some("shared-secret-1"));

    let list = api.get(&api.url("subscriptions/list")).await.json();
    assert_eq!(list[1]["contentType"], "Audit.SharePoint");
    assert_eq!(list[1]["webhook"]["address"], receiver.url);

    // Three hours pass: every blob that became available is notified, once.
    api.clock.advance(Duration::hours(3));
    let token = secret_token(&api.emu, &api.http, demo::CLIENT_ID, demo::SECRET_VALUE).await;
    let listed: HashSet<String> = {
        let url = api.url(&format!(
            "subscriptions/content?contentType=Audit.SharePoint&startTime={}&endTime={}",
            query_time(t0() - Duration::hours(2)),
            query_time(t0() + Duration::hours(3))
        ));
        let reply = api.get_as(&url, Some(&token)).await;
        reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["contentId"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(listed.len() > 10, "{}", listed.len());
    eventually("all blobs notified", || api.emu.stats().notified_blobs == listed.len() as u64)
        .await;

    let mut notified = HashSet::new();
    for post in receiver.notifications() {
        assert_eq!(post.header("content-type").as_deref(), Some("application/json; utf-8"));
        assert_eq!(post.header("webhook-authid").as_deref(), Some("shared-secret-1"));
        for n in post.json().as_array().unwrap() {
            assert_eq!(n["tenantId"], demo::TENANT_ID.to_string());
            assert_eq!(n["clientId"], demo::CLIENT_ID.to_string());
            assert_eq!(n["contentType"], "Audit.SharePoint");
            let id = n["contentId"].as_str().unwrap().to_owned();
            assert!(n["contentUri"].as_str().unwrap().ends_with(&id));
            assert!(notified.insert(id), "notified once");
        }
    }
    assert_eq!(notified, listed);

    // The notification history shows each delivery as a success.
    let history = api
        .get_as(&api.url("subscriptions/notifications?contentType=Audit.SharePoint"), Some(&token))
        .await
        .json();
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), listed.len());
    assert!(history.iter().all(|h| h["notificationStatus"] == "success"));
}

#[tokio::test]
async fn failed_notifications_are_retried_then_the_webhook_is_disabled() {
    let mut config = config_at(t0());
    config.webhooks.max_attempts = 3;
    config.webhooks.retry_base = Duration::minutes(1);
    let api = Api::start(config).await;
    let receiver = Receiver::start().await;
    receiver.answer_notifications_with(500);
    let body = json!({"webhook": {"address": receiver.url, "authId": "a"}});
    assert_eq!(api.post(&start_url(&api, "Audit.Exchange"), Some(body.clone())).await.status, 200);

    api.clock.advance(Duration::hours(1));
    eventually("first attempt", || !receiver.notifications().is_empty()).await;
    let first: Vec<String> = receiver.notifications()[0]
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["contentId"].as_str().unwrap().to_owned())
        .collect();
    let attempts_of_first = || {
        receiver
            .notifications()
            .iter()
            .filter(|post| post.json()[0]["contentId"] == first[0].as_str())
            .count()
    };
    // An attempt is complete (and its retry scheduled) once the history records it.
    let recorded = |attempts: usize| {
        let api = &api;
        let id = first[0].clone();
        async move {
            for _ in 0..1000 {
                let token =
                    secret_token(&api.emu, &api.http, demo::CLIENT_ID, demo::SECRET_VALUE).await;
                let url = api.url("subscriptions/notifications?contentType=Audit.Exchange");
                let history = api.get_as(&url, Some(&token)).await.json();
                let failed = history
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|h| {
                        h["contentId"] == id.as_str() && h["notificationStatus"] == "failed"
                    })
                    .count();
                if failed == attempts {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            panic!("attempt {attempts} was never recorded");
        }
    };
    recorded(1).await;
    // Retry after 1 minute, then after 2 more minutes.
    api.clock.advance(Duration::seconds(59));
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    assert_eq!(attempts_of_first(), 1, "not before the retry interval");
    api.clock.advance(Duration::seconds(1));
    recorded(2).await;
    assert_eq!(attempts_of_first(), 2);
    api.clock.advance(Duration::minutes(2));
    recorded(3).await;
    assert_eq!(attempts_of_first(), 3);

    let token = secret_token(&api.emu, &api.http, demo::CLIENT_ID, demo::SECRET_VALUE).await;
    let list = api.get_as(&api.url("subscriptions/list"), Some(&token)).await.json();
    assert_eq!(list[1]["contentType"], "Audit.Exchange");
    assert_eq!(list[1]["status"], "enabled", "the subscription stays; only the webhook stops");
    assert_eq!(list[1]["webhook"]["status"], "disabled");

    let history = api
        .get_as(&api.url("subscriptions/notifications?contentType=Audit.Exchange"), Some(&token))
        .await
        .json();
    let failed_first = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["contentId"] == first[0].as_str() && h["notificationStatus"] == "failed")
        .count();
    assert_eq!(failed_first, 3, "{history:#}");

    // Disabled: nothing more is sent.
    let sent = receiver.notifications().len();
    api.clock.advance(Duration::hours(1));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(receiver.notifications().len(), sent);

    // A start with the same webhook re-enables it (a change, so no AF20024).
    receiver.answer_notifications_with(200);
    let token = secret_token(&api.emu, &api.http, demo::CLIENT_ID, demo::SECRET_VALUE).await;
    let reply = api
        .http
        .post(start_url(&api, "Audit.Exchange"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let reply = Reply::read(reply).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["webhook"]["status"], "enabled");
    api.clock.advance(Duration::hours(1));
    eventually("notified again", || api.emu.stats().notified_blobs > 0).await;
    let stats = api.emu.stats();
    assert!(stats.notification_posts > stats.notification_posts_failed, "{stats:?}");
}

#[tokio::test]
async fn webhook_validation_failures_leave_the_subscription_unchanged() {
    let api = Api::demo().await;
    let receiver = Receiver::start().await;

    // HTTP to a host that is not loopback.
    let body = json!({"webhook": {"address": "http://hooks.example.net/o365"}});
    let reply = api.post(&start_url(&api, "Audit.SharePoint"), Some(body)).await;
    reply.assert_af(400, "AF20021");
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("must begin with HTTPS"));

    // The endpoint answers 500 to the handshake.
    receiver.answer_validation_with(500);
    let body = json!({"webhook": {"address": receiver.url}});
    let reply = api.post(&start_url(&api, "Audit.SharePoint"), Some(body.clone())).await;
    reply.assert_af(400, "AF20021");
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("did not return HTTP 200"));
    // Adding a webhook to the existing subscription fails the same way and changes nothing.
    api.post(&start_url(&api, "Audit.General"), Some(body)).await.assert_af(400, "AF20021");
    let list = api.get(&api.url("subscriptions/list")).await.json();
    assert_eq!(
        list,
        json!([{"contentType": "Audit.General", "status": "enabled", "webhook": null}])
    );
    assert_eq!(receiver.validations().len(), 2);

    // An expiration in the past.
    let body = json!({"webhook": {"address": receiver.url, "expiration": "2026-06-01T00:00:00Z"}});
    api.post(&start_url(&api, "Audit.SharePoint"), Some(body)).await.assert_af(400, "AF20003");

    // HTTPS required by configuration, even on loopback.
    let mut config = config_at(t0());
    config.require_https_webhooks = true;
    let strict = Api::start(config).await;
    let body = json!({"webhook": {"address": receiver.url}});
    strict
        .post(&start_url(&strict, "Audit.SharePoint"), Some(body))
        .await
        .assert_af(400, "AF20021");
}

#[tokio::test]
async fn an_expired_webhook_gets_no_notifications() {
    let api = Api::demo().await;
    let receiver = Receiver::start().await;
    let expiration = (t0() + Duration::minutes(10)).format("%Y-%m-%dT%H:%M:%S").to_string();
    let body = json!({"webhook": {"address": receiver.url, "expiration": expiration}});
    let reply = api.post(&start_url(&api, "Audit.SharePoint"), Some(body)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["webhook"]["expiration"], "2026-06-15T12:10:00.000Z");
    api.clock.advance(Duration::hours(2));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(receiver.notifications().is_empty());
    let token = secret_token(&api.emu, &api.http, demo::CLIENT_ID, demo::SECRET_VALUE).await;
    let list = api.get_as(&api.url("subscriptions/list"), Some(&token)).await.json();
    assert_eq!(list[1]["webhook"]["status"], "expired");
}
