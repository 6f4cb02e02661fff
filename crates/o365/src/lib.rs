//! Microsoft Entra ID token client and Office 365 Management Activity API client.
//!
//! - [`TokenClient`]: client-credentials tokens (secret or certificate, v1 or v2 endpoint) for
//!   any resource, cached, refreshed before expiry, AADSTS errors turned into advice.
//! - [`ActivityClient`]: subscriptions, content listing with every `NextPageUri`, raw blob
//!   fetch, notification history, DLP type names; pacing per tenant, retries with backoff,
//!   refresh-once on 401, the bearer token pinned to the configured API origin, and every error
//!   mapped to an [`Action`].
//!
//! The types here are this client's own; they are not shared with the emulator, which
//! implements the same contract independently.

mod api_url;
mod client;
mod cloud;
mod content;
mod content_type;
mod error;
mod error_body;
mod pacing;
mod subscriptions;
mod token;
mod webhook;
mod window;
mod wire_time;

pub use client::{ActivityClient, ActivitySettings, START_COOLDOWN, http_client};
pub use cloud::{Cloud, Endpoints, is_loopback, require_safe_base};
pub use content::{ContentBlob, ContentPage, NextPage, NotificationAttempt, SensitiveType};
pub use content_type::ContentType;
pub use error::{
    Action, AfCode, ApiError, ConfigError, Error, ErrorCode, Fix, Operation, RetryHint,
};
pub use pacing::{Pacer, Pacing, RequestCounters, RetryPolicy};
pub use subscriptions::{
    StartOutcome, Subscription, SubscriptionStatus, Webhook, WebhookState, WebhookStatus,
};
pub use token::{
    ASSERTION_LIFETIME, AadstsProblem, AccessToken, AssertionClaims, AssertionStyle, AuthError,
    CertificateCredential, Credential, TokenClient, TokenEndpoint, TokenRefusal, TokenSettings,
};
pub use webhook::{
    WEBHOOK_AUTH_ID_HEADER, WEBHOOK_VALIDATION_CODE_HEADER, WebhookNotification, WebhookPayload,
    WebhookPayloadError, parse_webhook_payload,
};
pub use window::{ListingWindow, WindowError};
pub use wire_time::parse_service_time;

/// Re-exported so callers can hold secrets without depending on `secrecy` themselves.
pub use secrecy::{ExposeSecret, SecretString};
