//! Who may use the archive and what they did with it: local accounts with roles, sign-in
//! sessions, API tokens for scripts, and the access log through which the archive audits its own
//! use. Stored by every backend (several server replicas share them on PostgreSQL).
//!
//! Secrets are never stored: sessions and API tokens are kept as the SHA-256/BLAKE3 digest of
//! the token the user holds, passwords as argon2 PHC strings made by the server.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ArchiveError;

/// What a signed-in person may do. Each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Search, timelines, reports.
    Viewer,
    /// Also exports and the read-only SQL console.
    Auditor,
    /// Also users, tenants, settings, the access log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "auditor" => Some(Role::Auditor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A local account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: i64,
    /// Unique, compared without case.
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// argon2 PHC string. Never shown.
    #[serde(skip_serializing)]
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// A new account (the server hashes the password).
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub password_hash: Option<String>,
    pub disabled: Option<bool>,
}

/// A signed-in browser session, found by the digest of its cookie value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub digest: [u8; 32],
    pub account_id: i64,
    /// Digest of the session's anti-CSRF token (forms carry the token itself).
    pub csrf_digest: [u8; 32],
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An API token for scripts, found by the digest of the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub account_id: i64,
    /// What the holder called it ("nightly export").
    pub name: String,
    #[serde(skip_serializing)]
    pub digest: [u8; 32],
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

/// One use of the archive: a search, a timeline view, an export, an SQL query, a sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    pub at: DateTime<Utc>,
    /// Username, or the attempted one for failed sign-ins.
    pub username: String,
    /// `search`, `record_timeline`, `user_timeline`, `report`, `export`, `sql`, `sign_in`,
    /// `sign_in_failed`, `user_admin`, ...
    pub action: String,
    /// The filter or statement, as the user gave it.
    pub detail: String,
    /// Rows returned or exported, when it applies.
    pub rows: Option<u64>,
    pub client_ip: Option<String>,
    /// `ui` or `api`.
    pub channel: String,
}

/// Accounts, sessions, tokens and the access log.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Fails with a clear message when the username is taken.
    async fn create_account(
        &self,
        account: NewAccount,
        now: DateTime<Utc>,
    ) -> Result<Account, ArchiveError>;
    async fn account_by_username(&self, username: &str) -> Result<Option<Account>, ArchiveError>;
    async fn account_by_id(&self, id: i64) -> Result<Option<Account>, ArchiveError>;
    async fn accounts(&self) -> Result<Vec<Account>, ArchiveError>;
    async fn change_account(&self, id: i64, change: AccountChange) -> Result<(), ArchiveError>;

    async fn create_session(&self, session: Session) -> Result<(), ArchiveError>;
    /// The live session with this digest (not expired at `now`) and its account.
    async fn session(
        &self,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<(Session, Account)>, ArchiveError>;
    async fn delete_session(&self, digest: &[u8; 32]) -> Result<(), ArchiveError>;
    /// Ends every session of an account (password change, account disabled).
    async fn delete_sessions_of(&self, account_id: i64) -> Result<(), ArchiveError>;

    async fn create_api_token(&self, token: ApiToken) -> Result<ApiToken, ArchiveError>;
    /// The usable token with this digest (not revoked, not expired) and its account; marks it
    /// used at `now`.
    async fn use_api_token(
        &self,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<(ApiToken, Account)>, ArchiveError>;
    async fn api_tokens_of(&self, account_id: i64) -> Result<Vec<ApiToken>, ArchiveError>;
    async fn revoke_api_token(&self, id: i64) -> Result<(), ArchiveError>;

    async fn log_access(&self, entry: AccessEntry) -> Result<(), ArchiveError>;
    /// Newest first; `before` pages back.
    async fn access_log(
        &self,
        limit: u32,
        before: Option<DateTime<Utc>>,
    ) -> Result<Vec<AccessEntry>, ArchiveError>;
}

/// Limits of one SQL console statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    pub max_rows: u32,
    pub timeout: std::time::Duration,
}

/// The answer to one SQL console statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SqlResult {
    pub columns: Vec<String>,
    /// Cells as JSON values (text, numbers, null; blobs as hex strings).
    pub rows: Vec<Vec<serde_json::Value>>,
    /// More rows existed than `max_rows`.
    pub truncated: bool,
}

/// A read-only SQL console over the archive's own tables, for auditors. Implementations refuse
/// anything that writes (SQLite: a read-only connection plus an authorizer; PostgreSQL: a
/// read-only transaction and role), stop statements at the time limit, and cut rows at the row
/// limit. The error message of a refused or failed statement is shown to the user.
#[async_trait]
pub trait SqlConsole: Send + Sync {
    async fn run_sql(&self, statement: &str, limits: SqlLimits) -> Result<SqlResult, ArchiveError>;
    /// Tables and their columns, to help the user write queries.
    async fn sql_schema(&self) -> Result<Vec<(String, Vec<String>)>, ArchiveError>;
}
