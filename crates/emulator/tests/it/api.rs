//! The Management Activity API operations and every AF error they answer with.

use chrono::Duration;
use emulator::{AppRegistration, ClientSecret, Operation, TenantConfig, demo};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

#[tokio::test]
async fn pre_subscribed_content_is_listed_and_blobs_hold_records() {
    let api = Api::demo().await;
    let list = api.get(&api.url("subscriptions/list")).await;
    assert_eq!(list.status, 200);
    assert_eq!(
        list.json(),
        json!([{"contentType": "Audit.General", "status": "enabled", "webhook": null}])
    );

    let blobs = api.list_all("Audit.General", t0() - Duration::hours(3), t0()).await;
    assert!((30..=40).contains(&blobs.len()), "about one blob per 5 minutes: {}", blobs.len());
    let feed_root = api.emu.feed_root(demo::TENANT_ID);
    for blob in &blobs {
        let id = blob["contentId"].as_str().unwrap();
        assert_eq!(blob["contentType"], "Audit.General");
        assert_eq!(blob["contentUri"], format!("{feed_root}/audit/{id}"));
        assert!(id.ends_with("$audit_general$Audit_General$emea0036"), "{id}");
        let created: chrono::DateTime<chrono::Utc> =
            blob["contentCreated"].as_str().unwrap().parse().unwrap();
        assert!(created >= t0() - Duration::hours(3) && created < t0());
    }
    let created: Vec<&str> = blobs.iter().map(|b| b["contentCreated"].as_str().unwrap()).collect();
    let mut sorted = created.clone();
    sorted.sort();
    assert_eq!(created, sorted, "listed in availability order");

    let reply = api.get_blob(&blobs[0]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type").unwrap(), "application/json; charset=utf-8");
    let records = reply.json();
    let records = records.as_array().unwrap();
    assert!(!records.is_empty());
    for record in records {
        assert!(record["Id"].is_string() && record["CreationTime"].is_string(), "{record}");
        assert_eq!(record["OrganizationId"], demo::TENANT_ID.to_string());
    }
    // The same blob twice gives the same bytes.
    assert_eq!(api.get_blob(&blobs[0]).await.body, reply.body);
}

#[tokio::test]
async fn service_headers_carry_the_emulated_date() {
    let api = Api::demo().await;
    let reply = api.get(&api.url("subscriptions/list")).await;
    assert_eq!(reply.header("content-type").unwrap(), "application/json; charset=utf-8");
    assert_eq!(reply.header("cache-control").unwrap(), "no-cache");
    assert_eq!(reply.header("date").unwrap(), "Mon, 15 Jun 2026 12:00:00 GMT");
    assert_eq!(reply.headers.get_all("date").iter().count(), 1);
}

#[tokio::test]
async fn start_stop_and_the_subscription_rules() {
    let api = Api::demo().await;
    let start = api.url("subscriptions/start?contentType=Audit.Exchange");
    let reply = api.post(&start, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({"contentType": "Audit.Exchange", "status": "enabled", "webhook": null})
    );

    // A second start within 15 minutes.
    let again = api.post(&start, None).await;
    again.assert_af(403, "AF429");
    assert!(
        again.json()["error"]["message"].as_str().unwrap().contains("Method=StartSubscription")
    );

    // After the cooldown, a start that changes nothing.
    api.clock.advance(Duration::minutes(16));
    api.post(&start, None).await.assert_af(400, "AF20024");

    // A new subscription shows nothing created before it started.
    api.advance(Duration::hours(3)).await;
    let blobs =
        api.list_all("Audit.Exchange", t0() - Duration::hours(12), t0() + Duration::hours(4)).await;
    assert!(!blobs.is_empty());
    for blob in &blobs {
        assert!(blob["contentCreated"].as_str().unwrap() >= "2026-06-15T12:00:00.000Z");
    }

    let list = api.get(&api.url("subscriptions/list")).await.json();
    assert_eq!(list.as_array().unwrap().len(), 2);

    let stop = api.post(&api.url("subscriptions/stop?contentType=Audit.Exchange"), None).await;
    assert_eq!((stop.status, stop.body.len()), (200, 0));
    let list = api.get(&api.url("subscriptions/list")).await.json();
    assert_eq!(list[1]["contentType"], "Audit.Exchange");
    assert_eq!(list[1]["status"], "disabled");
    let content = api.url("subscriptions/content?contentType=Audit.Exchange");
    api.get(&content).await.assert_af(400, "AF20023");
    // The blobs of a stopped subscription cannot be fetched either.
    api.get_blob(&blobs[0]).await.assert_af(400, "AF20023");

    // Restart: only content created after the restart.
    let restarted = api.post(&start, None).await;
    assert_eq!(restarted.status, 200, "{}", restarted.text());
    api.get_blob(&blobs[0]).await.assert_af(404, "AF20050");
}

#[tokio::test]
async fn the_already_enabled_error_can_be_switched_off() {
    let mut config = config_at(t0());
    config.subscriptions.already_enabled_error = false;
    config.subscriptions.start_cooldown = Duration::zero();
    let api = Api::start(config).await;
    let start = api.url("subscriptions/start?contentType=Audit.General");
    let reply = api.post(&start, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(api.post(&start, None).await.status, 200);
}

#[tokio::test]
async fn parameter_errors() {
    let api = Api::demo().await;
    api.get(&api.url("subscriptions/content")).await.assert_af(400, "AF20001");
    api.get(&api.url("subscriptions/content?contentType=Audit.Dynamics"))
        .await
        .assert_af(400, "AF20020");
    api.get(&api.url("subscriptions/content?contentType=audit.general"))
        .await
        .assert_af(400, "AF20020");
    api.get(&api.url("subscriptions/content?contentType=DLP.All")).await.assert_af(400, "AF20022");
    api.post(&api.url("subscriptions/stop?contentType=DLP.All"), None)
        .await
        .assert_af(400, "AF20022");
    api.post(&api.url("subscriptions/start"), None).await.assert_af(400, "AF20001");
    let garbage = api
        .http
        .post(api.url("subscriptions/start?contentType=DLP.All"))
        .bearer_auth(api.token())
        .body("{not json")
        .send()
        .await
        .unwrap();
    Reply::read(garbage).await.assert_af(400, "AF20002");
    let page = api.url("subscriptions/content?contentType=Audit.General&nextPage=bogus");
    api.get(&page).await.assert_af(400, "AF20031");
    // Routes: wrong method, unknown operation.
    assert_eq!(
        api.get(&api.url("subscriptions/start?contentType=Audit.General")).await.status,
        405
    );
    assert_eq!(api.get(&api.url("subscriptions/everything")).await.status, 404);
}

#[tokio::test]
async fn blob_errors() {
    let api = Api::demo().await;
    let blobs = api.list_all("Audit.General", t0() - Duration::hours(1), t0()).await;
    let id = blobs[0]["contentId"].as_str().unwrap();
    let root = api.emu.feed_root(demo::TENANT_ID);
    let api = &api;
    let root = &root;
    let get = |id: String| {
        let url = format!("{root}/audit/{id}?PublisherIdentifier={}", demo::PUBLISHER_ID);
        async move { api.get(&url).await }
    };
    get("not-a-content-id".into()).await.assert_af(400, "AF20052");
    // Well-formed, but one millisecond off: no such blob.
    let shifted = format!("{}{}", &id[..16], (id.as_bytes()[16] - b'0' + 1) % 10);
    let shifted = id.replacen(&id[..17], &shifted, 2);
    get(shifted).await.assert_af(404, "AF20050");
    // Another region's content.
    get(id.replace("emea0036", "na0030")).await.assert_af(404, "AF20050");
    // A content type without subscription.
    get(id.replace("audit_general$Audit_General", "audit_exchange$Audit_Exchange"))
        .await
        .assert_af(400, "AF20022");
    // The literal '$' may also arrive encoded.
    assert_eq!(get(id.replace('$', "%24")).await.status, 200);
    // And the documented /api/v1/ path works.
    let v1 = blobs[0]["contentUri"].as_str().unwrap().replace("/api/v1.0/", "/api/v1/");
    assert_eq!(
        api.get(&format!("{v1}?PublisherIdentifier={}", demo::PUBLISHER_ID)).await.status,
        200
    );
}

#[tokio::test]
async fn bearer_token_problems_get_the_aspnet_401() {
    let api = Api::demo().await;
    let url = api.url("subscriptions/list");
    for token in [None, Some("garbage"), Some("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl")] {
        let reply = api.get_as(&url, token).await;
        assert_eq!(reply.status, 401, "{token:?}");
        assert_eq!(reply.header("www-authenticate").unwrap(), "Bearer error=\"invalid_token\"");
        assert_eq!(
            reply.json(),
            json!({"Message": "Authorization has been denied for this request."})
        );
    }
    let basic = api.http.get(&url).basic_auth("a", Some("b")).send().await.unwrap();
    assert_eq!(basic.status(), 401);
    // Expired after the default 3599 s.
    api.clock.advance(Duration::seconds(3599));
    assert_eq!(api.get(&url).await.status, 401);
}

fn second_tenant(unified_audit_enabled: bool) -> TenantConfig {
    let tenant_id = Uuid::from_u128(0x2222_0000_0000_4000_8000_0000_0000_0002);
    TenantConfig {
        tenant_id,
        domain: "fabrikam.onmicrosoft.com".into(),
        apps: vec![AppRegistration {
            client_id: Uuid::from_u128(0x3333_0000_0000_4000_8000_0000_0000_0003),
            secrets: vec![ClientSecret {
                id: Uuid::from_u128(4),
                value: "fabrikam-secret".into(),
                expires: t0() + Duration::days(30),
            }],
            certificates_pem: Vec::new(),
            roles: vec!["ActivityFeed.Read".into()],
        }],
        unified_audit_enabled,
        pre_subscribed: Vec::new(),
        region: "na0030".into(),
    }
}

#[tokio::test]
async fn tenant_and_permission_errors() {
    let mut config = config_at(t0());
    config.tenants.push(second_tenant(false));
    let api = Api::start(config).await;
    let base = api.emu.api_base();
    let base = base.as_str().trim_end_matches('/');
    let url = |tenant: &str| format!("{base}/api/v1.0/{tenant}/activity/feed/subscriptions/list");

    api.get(&url("contoso")).await.assert_af(400, "AF20013");
    api.get(&url("99999999-9999-4999-8999-999999999999")).await.assert_af(400, "AF20011");
    api.get(&url("22220000-0000-4000-8000-000000000002")).await.assert_af(400, "AF20010");

    let unprivileged = secret_token(
        &api.emu,
        &api.http,
        demo::UNPRIVILEGED_CLIENT_ID,
        demo::UNPRIVILEGED_SECRET_VALUE,
    )
    .await;
    let reply = api.get_as(&api.url("subscriptions/list"), Some(&unprivileged)).await;
    reply.assert_af(401, "AF10001");
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("(ServiceHealth.Read)"));

    // A tenant whose unified audit log is off answers with the observed garbage code.
    let fabrikam = "22220000-0000-4000-8000-000000000002";
    let reply = token_request(
        &api.http,
        api.emu.token_url_v1("fabrikam.onmicrosoft.com").as_str(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "33330000-0000-4000-8000-000000000003"),
            ("client_secret", "fabrikam-secret"),
            ("resource", "https://manage.office.com"),
        ],
    )
    .await;
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    let start = format!(
        "{base}/api/v1.0/{fabrikam}/activity/feed/subscriptions/start?contentType=Audit.SharePoint&PublisherIdentifier={}",
        demo::PUBLISHER_ID
    );
    let reply = Reply::read(
        api.http
            .post(&start)
            .bearer_auth(&token)
            .header("content-length", "0")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 400);
    let error = &reply.json()["error"];
    let code = error["code"].as_str().unwrap();
    assert!(code.starts_with("StartSubscription [CorrId="), "{code}");
    assert!(
        code.contains(&format!("[TenantId={fabrikam},ContentType=Audit.SharePoint,")),
        "{code}"
    );
    assert!(!code.starts_with("AF"));
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(&format!("Tenant {fabrikam} does not exist.")), "{message}");
}

#[tokio::test]
async fn dlp_sensitive_types_and_accept_language() {
    let api = Api::demo().await;
    let url = api.url("resources/dlpSensitiveTypes");
    let ask = |language: Option<&'static str>| {
        let mut request = api.http.get(&url).bearer_auth(api.token());
        if let Some(language) = language {
            request = request.header("Accept-Language", language);
        }
        async move { Reply::read(request.send().await.unwrap()).await }
    };
    for language in [None, Some("en-US"), Some("fr-FR")] {
        let reply = ask(language).await;
        assert_eq!(reply.status, 200);
        let types = reply.json();
        assert!(types.as_array().unwrap().iter().any(|t| t["name"] == "CreditCardNumber"));
    }
    ask(Some("en-US,fr-FR")).await.assert_af(400, "AF20053");
    ask(Some("en_US!")).await.assert_af(400, "AF20054");
}

#[tokio::test]
async fn publisher_identifier_is_counted_on_every_request() {
    let api = Api::demo().await;
    let blobs = api.list_all("Audit.General", t0() - Duration::hours(1), t0()).await;
    api.get_blob(&blobs[0]).await;
    let bare = blobs[1]["contentUri"].as_str().unwrap();
    assert_eq!(api.get(bare).await.status, 200);
    let root = api.emu.feed_root(demo::TENANT_ID);
    api.get(&format!("{root}/subscriptions/list")).await;

    let stats = api.emu.stats();
    assert_eq!(stats.requests(Operation::GetBlob), 2);
    assert_eq!(stats.without_publisher_identifier(Operation::GetBlob), 1);
    assert_eq!(stats.without_publisher_identifier(Operation::ListSubscriptions), 1);
    assert_eq!(stats.without_publisher_identifier(Operation::ListContent), 0);
    assert_eq!(stats.requests_without_publisher_identifier, 2);
    assert_eq!(
        stats.last_publisher_identifier.as_deref(),
        Some(demo::PUBLISHER_ID.to_string().as_str())
    );
    assert_eq!(stats.tokens_issued, 1);
}

#[tokio::test]
async fn notifications_are_empty_without_a_webhook() {
    let api = Api::demo().await;
    let reply = api.get(&api.url("subscriptions/notifications?contentType=Audit.General")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!([]));
    api.get(&api.url("subscriptions/notifications?contentType=Audit.Exchange"))
        .await
        .assert_af(400, "AF20022");
}

#[tokio::test]
async fn custom_activity_sources_fill_the_blobs() {
    #[derive(Debug)]
    struct OneRecordPerSlot;
    impl emulator::ActivitySource for OneRecordPerSlot {
        fn records(
            &self,
            tenant_id: Uuid,
            content_type: emulator::ContentType,
            from: chrono::DateTime<chrono::Utc>,
            _to: chrono::DateTime<chrono::Utc>,
        ) -> Vec<String> {
            vec![json!({"Id": format!("{tenant_id}-{content_type}-{}", from.timestamp()), "CreationTime": from.format("%Y-%m-%dT%H:%M:%S").to_string()}).to_string()]
        }
    }
    let mut config = config_at(t0());
    config.activity_source = Some(std::sync::Arc::new(OneRecordPerSlot));
    let api = Api::start(config).await;
    let blobs = api.list_all("Audit.General", t0() - Duration::hours(2), t0()).await;
    for blob in &blobs {
        let records = api.get_blob(blob).await.json();
        let records = records.as_array().unwrap();
        assert_eq!(records.len(), 1);
        let id: &Value = &records[0]["Id"];
        assert!(id.as_str().unwrap().starts_with(&format!("{}-Audit.General-", demo::TENANT_ID)));
    }
}
