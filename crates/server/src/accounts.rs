//! Account administration shared by the command line (`d365audit user ...`, `d365audit token
//! ...`), the admin pages and the REST API: creating accounts, roles, passwords, disabling, API
//! tokens. Every change is written to the access log with who made it and through which
//! channel, and ends the sessions it makes unsafe (password change, disabling).

use archive::{
    AccessEntry, AccessStore, Account, AccountChange, ApiToken, ArchiveError, NewAccount, Role,
};
use chrono::{DateTime, Utc};

use crate::secrets::{self, PasswordError, Secret};

/// Who makes a change, for the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub username: String,
    /// `cli`, `ui` or `api`.
    pub channel: &'static str,
    pub client_ip: Option<String>,
}

impl Actor {
    /// The operator at the command line (who has the archive file, hence every right).
    pub fn command_line() -> Actor {
        Actor { username: "(command line)".into(), channel: "cli", client_ip: None }
    }
}

/// Why an account change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("there is no account named {username}; `d365audit user list` shows them")]
    UnknownAccount { username: String },
    #[error("the username {username} is taken (usernames are compared without case); pick another")]
    UsernameTaken { username: String },
    #[error("`{username}` is not a usable username: {reason}")]
    InvalidUsername { username: String, reason: &'static str },
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(
        "{username} is the last enabled admin: make another account admin first, or nobody \
         could manage accounts any more"
    )]
    LastAdmin { username: String },
    #[error("there is no API token {id} for {username}; `d365audit token list` shows them")]
    UnknownToken { id: i64, username: String },
    #[error(transparent)]
    Store(#[from] ArchiveError),
}

/// Usernames: 1 to 64 characters of letters, digits and `.`, `_`, `-`, `@`.
pub fn check_username(username: &str) -> Result<(), AccountError> {
    let invalid = |reason| AccountError::InvalidUsername { username: username.into(), reason };
    if username.is_empty() || username.chars().count() > 64 {
        return Err(invalid("use 1 to 64 characters"));
    }
    if !username.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')) {
        return Err(invalid("use letters, digits and . _ - @ only"));
    }
    Ok(())
}

/// Hashes on a blocking thread (argon2 takes tens of milliseconds on purpose).
pub async fn hash_password_blocking(password: Secret) -> Result<String, PasswordError> {
    secrets::check_password_policy(&password)?;
    tokio::task::spawn_blocking(move || secrets::hash_password(&password))
        .await
        .map_err(|e| PasswordError::Hashing(e.to_string()))?
}

async fn log(
    store: &dyn AccessStore,
    actor: &Actor,
    action: &str,
    detail: String,
    now: DateTime<Utc>,
) -> Result<(), ArchiveError> {
    store
        .log_access(AccessEntry {
            at: now,
            username: actor.username.clone(),
            action: action.into(),
            detail,
            rows: None,
            client_ip: actor.client_ip.clone(),
            channel: actor.channel.into(),
        })
        .await
}

/// The account named `username` (without case).
pub async fn find(store: &dyn AccessStore, username: &str) -> Result<Account, AccountError> {
    store
        .account_by_username(username)
        .await?
        .ok_or_else(|| AccountError::UnknownAccount { username: username.into() })
}

/// Creates an account.
pub async fn add_account(
    store: &dyn AccessStore,
    actor: &Actor,
    username: &str,
    display_name: &str,
    role: Role,
    password: Secret,
    now: DateTime<Utc>,
) -> Result<Account, AccountError> {
    check_username(username)?;
    if store.account_by_username(username).await?.is_some() {
        return Err(AccountError::UsernameTaken { username: username.into() });
    }
    let password_hash = hash_password_blocking(password).await?;
    let display_name = if display_name.trim().is_empty() { username } else { display_name.trim() };
    let account = store
        .create_account(
            NewAccount {
                username: username.into(),
                display_name: display_name.into(),
                role,
                password_hash,
            },
            now,
        )
        .await?;
    log(store, actor, "user_admin", format!("created {username} as {}", role.as_str()), now)
        .await?;
    Ok(account)
}

/// Whether taking admin rights from `account` (demotion or disabling) leaves no enabled admin.
async fn is_last_admin(store: &dyn AccessStore, account: &Account) -> Result<bool, ArchiveError> {
    if account.role != Role::Admin || account.disabled {
        return Ok(false);
    }
    let others = store
        .accounts()
        .await?
        .into_iter()
        .filter(|a| a.id != account.id && a.role == Role::Admin && !a.disabled)
        .count();
    Ok(others == 0)
}

/// Changes an account's role.
pub async fn set_role(
    store: &dyn AccessStore,
    actor: &Actor,
    username: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<Account, AccountError> {
    let account = find(store, username).await?;
    if role != Role::Admin && is_last_admin(store, &account).await? {
        return Err(AccountError::LastAdmin { username: account.username });
    }
    store
        .change_account(account.id, AccountChange { role: Some(role), ..Default::default() })
        .await?;
    log(
        store,
        actor,
        "user_admin",
        format!("role of {} from {} to {}", account.username, account.role.as_str(), role.as_str()),
        now,
    )
    .await?;
    Ok(Account { role, ..account })
}

/// Disables (ending its sessions) or enables an account.
pub async fn set_disabled(
    store: &dyn AccessStore,
    actor: &Actor,
    username: &str,
    disabled: bool,
    now: DateTime<Utc>,
) -> Result<Account, AccountError> {
    let account = find(store, username).await?;
    if disabled && is_last_admin(store, &account).await? {
        return Err(AccountError::LastAdmin { username: account.username });
    }
    store
        .change_account(
            account.id,
            AccountChange { disabled: Some(disabled), ..Default::default() },
        )
        .await?;
    if disabled {
        store.delete_sessions_of(account.id).await?;
    }
    let verb = if disabled { "disabled" } else { "enabled" };
    log(store, actor, "user_admin", format!("{verb} {}", account.username), now).await?;
    Ok(Account { disabled, ..account })
}

/// Sets a new password and ends the account's sessions.
pub async fn set_password(
    store: &dyn AccessStore,
    actor: &Actor,
    username: &str,
    password: Secret,
    now: DateTime<Utc>,
) -> Result<(), AccountError> {
    let account = find(store, username).await?;
    let password_hash = hash_password_blocking(password).await?;
    store
        .change_account(
            account.id,
            AccountChange { password_hash: Some(password_hash), ..Default::default() },
        )
        .await?;
    store.delete_sessions_of(account.id).await?;
    log(store, actor, "user_admin", format!("password of {} changed", account.username), now)
        .await?;
    Ok(())
}

/// Changes the name shown for an account.
pub async fn set_display_name(
    store: &dyn AccessStore,
    actor: &Actor,
    username: &str,
    display_name: &str,
    now: DateTime<Utc>,
) -> Result<(), AccountError> {
    let account = find(store, username).await?;
    store
        .change_account(
            account.id,
            AccountChange { display_name: Some(display_name.trim().into()), ..Default::default() },
        )
        .await?;
    log(store, actor, "user_admin", format!("display name of {} changed", account.username), now)
        .await?;
    Ok(())
}

/// Creates an API token for `username`. The token text is returned once and never stored.
pub async fn create_api_token(
    store: &dyn AccessStore,
    actor: &Actor,
    username: &str,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(ApiToken, Secret), AccountError> {
    let account = find(store, username).await?;
    let secret = secrets::new_api_token();
    let name = if name.trim().is_empty() { "api token" } else { name.trim() };
    let token = store
        .create_api_token(ApiToken {
            id: 0,
            account_id: account.id,
            name: name.chars().take(100).collect(),
            digest: secrets::digest(secret.expose()),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked: false,
        })
        .await?;
    log(
        store,
        actor,
        "token_create",
        format!("token {} ({}) for {}", token.id, token.name, account.username),
        now,
    )
    .await?;
    Ok((token, secret))
}

/// The API tokens of `username`, revoked ones included.
pub async fn api_tokens(
    store: &dyn AccessStore,
    username: &str,
) -> Result<Vec<ApiToken>, AccountError> {
    let account = find(store, username).await?;
    Ok(store.api_tokens_of(account.id).await?)
}

/// Revokes token `id` of `username`.
pub async fn revoke_api_token(
    store: &dyn AccessStore,
    actor: &Actor,
    username: &str,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), AccountError> {
    let account = find(store, username).await?;
    let tokens = store.api_tokens_of(account.id).await?;
    if !tokens.iter().any(|t| t.id == id) {
        return Err(AccountError::UnknownToken { id, username: account.username });
    }
    store.revoke_api_token(id).await?;
    log(store, actor, "token_revoke", format!("token {id} of {}", account.username), now).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_checked_with_a_reason() {
        assert!(check_username("alice@contoso.com").is_ok());
        assert!(check_username("a.b_c-d").is_ok());
        let err = check_username("alice smith").unwrap_err().to_string();
        assert!(err.contains("letters, digits"), "{err}");
        assert!(check_username("").is_err());
        assert!(check_username(&"x".repeat(65)).is_err());
    }
}
