//! Token acquisition against the emulated Entra ID: both endpoints, both credential kinds,
//! caching and refresh, and every sign-in mistake turned into advice.

use std::sync::Arc;

use chrono::Duration;
use clock::ManualClock;
use emulator::{Operation as EmuOperation, demo};
use o365::{
    AadstsProblem, Action, AfCode, AssertionStyle, AuthError, ContentType, Error, ExposeSecret,
    Fix, SubscriptionStatus, TokenEndpoint, TokenSettings,
};
use uuid::Uuid;

use crate::support::*;

#[tokio::test]
async fn both_endpoints_and_both_credential_kinds_reach_the_api() {
    let emu = emulator().await;
    let credentials = [
        ("secret", secret(demo::SECRET_VALUE)),
        (
            "PS256 certificate",
            certificate(APP_CERT, APP_KEY, AssertionStyle::Ps256Sha256Thumbprint),
        ),
        ("RS256 certificate", certificate(APP_CERT, APP_KEY, AssertionStyle::Rs256Sha1Thumbprint)),
    ];
    for endpoint in [TokenEndpoint::V1, TokenEndpoint::V2] {
        for (name, credential) in credentials.clone() {
            let mut settings = settings_for(&emu, credential);
            settings.token_endpoint = endpoint;
            let client = client(&emu, settings);
            let subscriptions = client
                .list_subscriptions()
                .await
                .unwrap_or_else(|e| panic!("{endpoint:?} with {name}: {e}"));
            let general = subscriptions
                .iter()
                .find(|s| s.content_type == ContentType::General)
                .unwrap_or_else(|| panic!("{endpoint:?} with {name}: {subscriptions:?}"));
            assert_eq!(general.status, SubscriptionStatus::Enabled);
            assert_eq!(client.tokens().fetch_count(), 1, "{endpoint:?} with {name}");
            // The cached token and the credential never show in Debug output.
            let token = client.tokens().access_token().await.unwrap();
            let debug = format!("{client:?}");
            assert!(!debug.contains(token.secret().expose_secret()), "token in Debug");
            assert!(!debug.contains("eyJ"), "a JWT in Debug");
            assert!(!debug.contains(demo::SECRET_VALUE), "secret in Debug");
        }
    }
    let stats = emu.stats();
    assert_eq!(stats.requests(EmuOperation::TokenV1), 3);
    assert_eq!(stats.requests(EmuOperation::TokenV2), 3);
    assert_eq!(stats.tokens_issued, 6);
    assert_eq!(stats.token_errors, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn v1_string_lifetimes_are_understood() {
    let emu = emulator().await;
    let tenant = demo::TENANT_ID.to_string();
    let client_id = demo::CLIENT_ID.to_string();
    for endpoint in [TokenEndpoint::V1, TokenEndpoint::V2] {
        let tokens = token_client(&emu, &tenant, &client_id, secret(demo::SECRET_VALUE), endpoint);
        let now = emu.clock().now();
        let token = tokens.access_token().await.unwrap();
        let lifetime = token.expires_at() - now;
        assert!(
            lifetime > Duration::seconds(3590) && lifetime <= Duration::seconds(3600),
            "{endpoint:?}: {lifetime}"
        );
        assert_eq!(token.refresh_at(), token.expires_at() - Duration::minutes(5));
    }
    // The tenant may also be given as its verified domain.
    let by_domain =
        token_client(&emu, demo::DOMAIN, &client_id, secret(demo::SECRET_VALUE), TokenEndpoint::V2);
    by_domain.access_token().await.unwrap();
    emu.shutdown().await;
}

#[tokio::test]
async fn tokens_are_cached_shared_and_refreshed_before_expiry() {
    let emu = emulator_with(|c| c.token_lifetime = Duration::minutes(20)).await;
    let manual = emu.manual_clock().expect("the demo clock is movable");
    let tokens = token_client(
        &emu,
        &demo::TENANT_ID.to_string(),
        &demo::CLIENT_ID.to_string(),
        certificate(APP_CERT, APP_KEY, AssertionStyle::default()),
        TokenEndpoint::V2,
    );
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.access_token().await })
        })
        .collect();
    let mut expiries = Vec::new();
    for caller in callers {
        expiries.push(caller.await.unwrap().unwrap().expires_at());
    }
    assert!(expiries.windows(2).all(|w| w[0] == w[1]), "one shared token: {expiries:?}");
    assert_eq!(tokens.fetch_count(), 1);
    assert_eq!(emu.stats().tokens_issued, 1);

    // 14 minutes later more than 5 minutes remain: still the cached token.
    manual.advance(Duration::minutes(14));
    let same = tokens.access_token().await.unwrap();
    assert_eq!(same.expires_at(), expiries[0]);
    assert_eq!(tokens.fetch_count(), 1);

    // 16 minutes later less than 5 minutes remain: refreshed before expiry.
    manual.advance(Duration::minutes(2));
    let fresh = tokens.access_token().await.unwrap();
    assert!(fresh.expires_at() > expiries[0] + Duration::minutes(15));
    assert_eq!(tokens.fetch_count(), 2);
    assert_eq!(emu.stats().tokens_issued, 2);
    emu.shutdown().await;
}

/// The refusal inside an [`AuthError`], or a panic.
fn refusal(err: &AuthError) -> &o365::TokenRefusal {
    match err {
        AuthError::Rejected(refusal) => refusal,
        other => panic!("expected a refusal, got {other}"),
    }
}

#[tokio::test]
async fn secret_mistakes_are_explained_without_repeating_the_secret() {
    let emu = emulator().await;
    let tenant = demo::TENANT_ID.to_string();
    let client_id = demo::CLIENT_ID.to_string();
    let wrong_value = "wrong~Secret.Value_thatLooksReal_42";
    let secret_id = demo::SECRET_ID.to_string();
    let cases = [
        (wrong_value, AadstsProblem::InvalidSecret, "secret ID instead of the secret VALUE"),
        (
            secret_id.as_str(),
            AadstsProblem::InvalidSecret,
            "copy the Value column of Certificates & secrets",
        ),
        (demo::EXPIRED_SECRET_VALUE, AadstsProblem::ExpiredSecret, "expired: create a new one"),
    ];
    for endpoint in [TokenEndpoint::V1, TokenEndpoint::V2] {
        for (sent, problem, advice) in &cases {
            let tokens = token_client(&emu, &tenant, &client_id, secret(sent), endpoint);
            let err = tokens.access_token().await.unwrap_err();
            assert_eq!(&refusal(&err).problem, problem, "{endpoint:?} {sent}");
            assert!(!err.is_retryable());
            let text = err.to_string();
            assert!(text.contains(advice), "{text}");
            assert!(!text.contains(sent), "the sent credential leaked: {text}");
            assert!(!format!("{err:?}").contains(sent), "the sent credential leaked in Debug");
        }
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn wrong_app_tenant_and_certificate_are_explained() {
    let emu = emulator().await;
    let tenant = demo::TENANT_ID.to_string();
    let client_id = demo::CLIENT_ID.to_string();

    let unknown_app = Uuid::new_v4().to_string();
    let err =
        token_client(&emu, &tenant, &unknown_app, secret(demo::SECRET_VALUE), TokenEndpoint::V2)
            .access_token()
            .await
            .unwrap_err();
    assert_eq!(refusal(&err).problem, AadstsProblem::AppNotFound);
    assert!(err.to_string().contains("admin consent"), "{err}");

    let unknown_tenant = Uuid::new_v4().to_string();
    let err = token_client(
        &emu,
        &unknown_tenant,
        &client_id,
        secret(demo::SECRET_VALUE),
        TokenEndpoint::V1,
    )
    .access_token()
    .await
    .unwrap_err();
    assert_eq!(refusal(&err).problem, AadstsProblem::TenantNotFound { code: 90_002 });
    let text = err.to_string();
    assert!(text.contains("check the tenant id") && text.contains("cloud"), "{text}");

    for style in [AssertionStyle::Ps256Sha256Thumbprint, AssertionStyle::Rs256Sha1Thumbprint] {
        let other = certificate(OTHER_CERT, OTHER_KEY, style);
        let o365::Credential::Certificate(other_cert) = &other else { unreachable!() };
        let thumbprint = other_cert.thumbprint().to_owned();
        let err = token_client(&emu, &tenant, &client_id, other, TokenEndpoint::V2)
            .access_token()
            .await
            .unwrap_err();
        let refused = refusal(&err);
        assert!(matches!(refused.problem, AadstsProblem::CertificateRejected { .. }), "{err}");
        assert_eq!(refused.certificate_thumbprint.as_deref(), Some(thumbprint.as_str()));
        let text = err.to_string();
        assert!(text.contains("not registered on the app registration"), "{text}");
        assert!(text.contains(&thumbprint), "{text}");
        assert!(!text.contains("eyJ"), "an assertion leaked: {text}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_wrong_clock_is_blamed_for_assertion_time_errors() {
    let emu = emulator().await;
    let skewed = Arc::new(ManualClock::frozen_at(emu.clock().now() - Duration::hours(3)));
    let mut settings = TokenSettings::new(
        emu.login_base(),
        demo::TENANT_ID.to_string(),
        demo::CLIENT_ID.to_string(),
        certificate(APP_CERT, APP_KEY, AssertionStyle::default()),
        endpoints(&emu).resource,
    );
    settings.retry = fast_retry();
    let err = o365::TokenClient::new(settings, skewed).unwrap().access_token().await.unwrap_err();
    assert_eq!(refusal(&err).problem, AadstsProblem::AssertionTime);
    assert!(err.to_string().contains("check this machine's clock"), "{err}");
    emu.shutdown().await;
}

#[tokio::test]
async fn sign_in_errors_reach_api_callers_as_configuration_fixes() {
    let emu = emulator().await;
    let client = client(&emu, settings_for(&emu, secret(demo::EXPIRED_SECRET_VALUE)));
    let err = client.list_subscriptions().await.unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err}");
    assert_eq!(
        err.action(),
        Action::FixConfiguration { fix: Fix::SignIn(AadstsProblem::ExpiredSecret) }
    );
    // Nothing reached the API without a token.
    assert_eq!(emu.stats().requests(EmuOperation::ListSubscriptions), 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn missing_activity_feed_permission_says_what_to_grant() {
    let emu = emulator().await;
    let mut settings = settings_for(&emu, secret(demo::UNPRIVILEGED_SECRET_VALUE));
    settings.client_id = demo::UNPRIVILEGED_CLIENT_ID.to_string();
    let err = client(&emu, settings).list_subscriptions().await.unwrap_err();
    assert_eq!(err.af_code(), Some(AfCode::Af10001), "{err}");
    assert_eq!(err.action(), Action::FixConfiguration { fix: Fix::GrantActivityFeedRead });
    let text = err.to_string();
    assert!(text.contains("grant the ActivityFeed.Read application permission"), "{text}");
    assert!(text.contains("admin consent"), "{text}");
    emu.shutdown().await;
}
