//! Shared setup: an emulator with the demo tenant, and clients pointed at it with fast retries.

use std::time::Duration;

use emulator::{EmulatorConfig, RunningEmulator, demo};
use o365::{
    ActivityClient, ActivitySettings, AssertionStyle, CertificateCredential, Credential, Endpoints,
    RetryPolicy, SecretString, TokenClient, TokenEndpoint, TokenSettings,
};

pub(crate) const APP_CERT: &[u8] = include_bytes!("../../../emulator/testdata/app-cert.pem");
pub(crate) const APP_KEY: &[u8] = include_bytes!("../../../emulator/testdata/app-key.pem");
pub(crate) const OTHER_CERT: &[u8] = include_bytes!("../../../emulator/testdata/other-cert.pem");
pub(crate) const OTHER_KEY: &[u8] = include_bytes!("../../../emulator/testdata/other-key.pem");

/// The demo emulator (one tenant, pre-subscribed to Audit.General, a week of history).
pub(crate) async fn emulator() -> RunningEmulator {
    emulator_with(|_| {}).await
}

/// The demo emulator after `change`.
pub(crate) async fn emulator_with(change: impl FnOnce(&mut EmulatorConfig)) -> RunningEmulator {
    let mut config = EmulatorConfig::demo(7);
    config.require_https_webhooks = false;
    change(&mut config);
    emulator::start(config).await.expect("the emulator starts")
}

pub(crate) fn endpoints(emu: &RunningEmulator) -> Endpoints {
    Endpoints::custom(emu.login_base(), emu.api_base()).expect("loopback endpoints are accepted")
}

pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
    }
}

pub(crate) fn secret(value: &str) -> Credential {
    Credential::secret(SecretString::from(value))
}

pub(crate) fn certificate(cert: &[u8], key: &[u8], style: AssertionStyle) -> Credential {
    Credential::Certificate(
        CertificateCredential::from_pem(cert, key, style).expect("test certificate loads"),
    )
}

/// Settings for the demo app with its valid secret.
pub(crate) fn settings(emu: &RunningEmulator) -> ActivitySettings {
    settings_for(emu, secret(demo::SECRET_VALUE))
}

pub(crate) fn settings_for(emu: &RunningEmulator, credential: Credential) -> ActivitySettings {
    let mut settings = ActivitySettings::new(
        endpoints(emu),
        demo::TENANT_ID,
        demo::CLIENT_ID.to_string(),
        credential,
    );
    settings.retry = fast_retry();
    settings
}

pub(crate) fn client(emu: &RunningEmulator, settings: ActivitySettings) -> ActivityClient {
    ActivityClient::new(settings, emu.clock()).expect("client settings are valid")
}

/// The demo client with its valid secret.
pub(crate) fn demo_client(emu: &RunningEmulator) -> ActivityClient {
    client(emu, settings(emu))
}

/// A bare token client for the demo tenant.
pub(crate) fn token_client(
    emu: &RunningEmulator,
    tenant: &str,
    client_id: &str,
    credential: Credential,
    endpoint: TokenEndpoint,
) -> TokenClient {
    let mut settings = TokenSettings::new(
        emu.login_base(),
        tenant,
        client_id,
        credential,
        endpoints(emu).resource,
    );
    settings.endpoint = endpoint;
    settings.retry = fast_retry();
    TokenClient::new(settings, emu.clock()).expect("token settings are valid")
}
