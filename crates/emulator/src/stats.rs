//! What the emulator saw: requests per operation, whether each carried `PublisherIdentifier`,
//! tokens issued, webhook traffic and injected faults. Tests assert collector behaviour on it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An operation of the emulated services, named like the Management Activity API names its
/// methods in `AF429` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    TokenV1,
    TokenV2,
    StartSubscription,
    StopSubscription,
    ListSubscriptions,
    ListContent,
    GetBlob,
    ListNotifications,
    GetDlpSensitiveTypes,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::TokenV1 => "TokenV1",
            Operation::TokenV2 => "TokenV2",
            Operation::StartSubscription => "StartSubscription",
            Operation::StopSubscription => "StopSubscription",
            Operation::ListSubscriptions => "ListSubscriptions",
            Operation::ListContent => "ListContent",
            Operation::GetBlob => "GetBlob",
            Operation::ListNotifications => "ListNotifications",
            Operation::GetDlpSensitiveTypes => "GetDlpSensitiveTypes",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Requests of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationStats {
    pub requests: u64,
    /// Management Activity API requests without a `PublisherIdentifier` query parameter.
    pub without_publisher_identifier: u64,
}

/// A snapshot of what the emulator saw since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Keyed by [`Operation::as_str`].
    pub operations: BTreeMap<String, OperationStats>,
    /// API requests (blob GETs included) without `PublisherIdentifier`.
    pub requests_without_publisher_identifier: u64,
    pub last_publisher_identifier: Option<String>,
    pub tokens_issued: u64,
    /// Token requests answered with an `AADSTS` error.
    pub token_errors: u64,
    /// Webhook validation handshakes sent.
    pub validation_posts: u64,
    /// Notification POSTs sent (every attempt, retries included).
    pub notification_posts: u64,
    /// Notification POSTs that were not answered with 200.
    pub notification_posts_failed: u64,
    /// Blobs whose notification was delivered (answered 200).
    pub notified_blobs: u64,
    /// Injected faults by kind: `AF429`, `AF50000`, `expired_blob`, `malformed_blob`.
    pub faults_injected: BTreeMap<String, u64>,
    /// The Dataverse environment's load and refusals.
    #[serde(default)]
    pub dataverse: DataverseStats,
}

/// What the Dataverse environment saw: requests per operation, load and refusals, so tests can
/// assert a client stays under the service protection limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataverseStats {
    /// Every request that reached the environment (any path, refused or not).
    pub requests: u64,
    /// `GET audits` requests (pages), refused ones included.
    pub audit_pages: u64,
    /// `RetrieveAuditDetails` requests, refused ones included.
    pub audit_details: u64,
    /// `GET organizations` requests.
    pub organizations: u64,
    /// `WhoAmI` requests.
    pub who_am_i: u64,
    /// Most requests in flight at once (per user, the largest seen).
    pub peak_concurrency: u64,
    /// 429 answers, all causes.
    pub throttled: u64,
    /// 429 because the per-user request count over the window was exceeded (`0x80072322`).
    pub throttled_request_limit: u64,
    /// 429 because of too many concurrent requests (`0x80072326`).
    pub throttled_concurrency: u64,
    /// 429 forced by `DataverseFaults::throttle_next`.
    pub throttled_forced: u64,
    /// 401 answers (missing, expired, revoked or wrong-audience tokens).
    pub unauthorized: u64,
    /// Injected 500s (`server_error_next`, `next_link_failures`).
    pub server_errors_injected: u64,
    /// Truncated detail bodies served.
    pub malformed_details: u64,
    /// 400 answers (bad query, edited next link, `$skip`, ...).
    pub bad_requests: u64,
}

impl Stats {
    /// Requests seen for `operation`.
    pub fn requests(&self, operation: Operation) -> u64 {
        self.operations.get(operation.as_str()).map_or(0, |s| s.requests)
    }

    /// Requests for `operation` that lacked `PublisherIdentifier`.
    pub fn without_publisher_identifier(&self, operation: Operation) -> u64 {
        self.operations.get(operation.as_str()).map_or(0, |s| s.without_publisher_identifier)
    }

    /// How often a fault of `kind` was injected.
    pub fn faults(&self, kind: &str) -> u64 {
        self.faults_injected.get(kind).copied().unwrap_or(0)
    }

    pub(crate) fn record_api_request(&mut self, operation: Operation, publisher: Option<&str>) {
        let entry = self.operations.entry(operation.as_str().to_owned()).or_default();
        entry.requests += 1;
        match publisher {
            Some(publisher) => self.last_publisher_identifier = Some(publisher.to_owned()),
            None => {
                entry.without_publisher_identifier += 1;
                self.requests_without_publisher_identifier += 1;
            }
        }
    }

    pub(crate) fn record_token_request(&mut self, operation: Operation, issued: bool) {
        self.operations.entry(operation.as_str().to_owned()).or_default().requests += 1;
        if issued {
            self.tokens_issued += 1;
        } else {
            self.token_errors += 1;
        }
    }

    pub(crate) fn record_fault(&mut self, kind: &str) {
        *self.faults_injected.entry(kind.to_owned()).or_default() += 1;
    }
}
