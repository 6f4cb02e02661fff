//! Accounts, sessions, API tokens and the access log ([`archive::AccessStore`]), in plain
//! tables every server replica shares. Sessions and tokens are found by the digest of the
//! secret the user holds; the secret itself never reaches the database. Usernames are unique
//! without case: each account keeps its username folded to lower case by [`fold_username`]
//! (Unicode, the same on every server whatever its collation) under a unique index.

use archive::{
    AccessEntry, AccessStore, Account, AccountChange, ApiToken, ArchiveError, NewAccount, Role,
    Session,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use crate::PostgresArchive;
use crate::failure::{failed, storage_error};

const ACCOUNT_COLUMNS: &str =
    "a.id, a.username, a.display_name, a.role, a.password_hash, a.disabled, a.created_at";

const TOKEN_COLUMNS: &str =
    "t.id, t.account_id, t.name, t.digest, t.created_at, t.expires_at, t.last_used_at, t.revoked";

/// How usernames compare: lower case, Unicode.
pub(crate) fn fold_username(username: &str) -> String {
    username.trim().to_lowercase()
}

fn account_of_row(row: &Row, first: usize) -> Result<Account, ArchiveError> {
    let role: &str = row.get(first + 3);
    Ok(Account {
        id: row.get(first),
        username: row.get(first + 1),
        display_name: row.get(first + 2),
        role: Role::parse(role).ok_or_else(|| ArchiveError::Corrupt {
            message: format!("an account has the unknown role {role:?}"),
        })?,
        password_hash: row.get(first + 4),
        disabled: row.get(first + 5),
        created_at: row.get(first + 6),
    })
}

fn digest_of(bytes: &[u8]) -> Result<[u8; 32], ArchiveError> {
    bytes.try_into().map_err(|_| ArchiveError::Corrupt {
        message: format!("a stored digest has {} bytes instead of 32", bytes.len()),
    })
}

fn token_of_row(row: &Row) -> Result<ApiToken, ArchiveError> {
    Ok(ApiToken {
        id: row.get(0),
        account_id: row.get(1),
        name: row.get(2),
        digest: digest_of(row.get(3))?,
        created_at: row.get(4),
        expires_at: row.get(5),
        last_used_at: row.get(6),
        revoked: row.get(7),
    })
}

fn session_of_row(row: &Row) -> Result<Session, ArchiveError> {
    Ok(Session {
        digest: digest_of(row.get(0))?,
        account_id: row.get(1),
        csrf_digest: digest_of(row.get(2))?,
        created_at: row.get(3),
        expires_at: row.get(4),
    })
}

fn entry_of_row(row: &Row) -> AccessEntry {
    AccessEntry {
        at: row.get(0),
        username: row.get(1),
        action: row.get(2),
        detail: row.get(3),
        rows: row.get::<_, Option<i64>>(4).map(|n| n.max(0) as u64),
        client_ip: row.get(5),
        channel: row.get(6),
    }
}

impl PostgresArchive {
    async fn accounts_where(
        &self,
        condition: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Account>, ArchiveError> {
        let fail = failed("reading accounts");
        let conn = self.connection().await?;
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM d365audit.accounts a {condition}");
        let statement = conn.prepare_cached(&sql).await.map_err(&fail)?;
        conn.query(&statement, params)
            .await
            .map_err(&fail)?
            .iter()
            .map(|row| account_of_row(row, 0))
            .collect()
    }
}

#[async_trait]
impl AccessStore for PostgresArchive {
    async fn create_account(
        &self,
        account: NewAccount,
        now: DateTime<Utc>,
    ) -> Result<Account, ArchiveError> {
        let doing = "creating an account";
        self.writer_clock(doing)?;
        let conn = self.connection().await?;
        let statement = conn
            .prepare_cached(&format!(
                "INSERT INTO d365audit.accounts AS a (username, username_folded, display_name, \
                   role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 RETURNING {ACCOUNT_COLUMNS}"
            ))
            .await
            .map_err(failed(doing))?;
        let folded = fold_username(&account.username);
        let row = conn
            .query_one(
                &statement,
                &[
                    &account.username.trim(),
                    &folded,
                    &account.display_name,
                    &account.role.as_str(),
                    &account.password_hash,
                    &now,
                ],
            )
            .await
            .map_err(|error| {
                if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                    ArchiveError::Storage {
                        doing: doing.into(),
                        message: format!(
                            "the username {} is taken (usernames are compared without case); \
                             pick another",
                            account.username.trim()
                        ),
                    }
                } else {
                    storage_error(doing, &error)
                }
            })?;
        account_of_row(&row, 0)
    }

    async fn account_by_username(&self, username: &str) -> Result<Option<Account>, ArchiveError> {
        let folded = fold_username(username);
        Ok(self.accounts_where("WHERE a.username_folded = $1", &[&folded]).await?.pop())
    }

    async fn account_by_id(&self, id: i64) -> Result<Option<Account>, ArchiveError> {
        Ok(self.accounts_where("WHERE a.id = $1", &[&id]).await?.pop())
    }

    async fn accounts(&self) -> Result<Vec<Account>, ArchiveError> {
        self.accounts_where("ORDER BY a.username_folded", &[]).await
    }

    async fn change_account(&self, id: i64, change: AccountChange) -> Result<(), ArchiveError> {
        let doing = "changing an account";
        self.writer_clock(doing)?;
        let conn = self.connection().await?;
        let statement = conn
            .prepare_cached(
                "UPDATE d365audit.accounts SET display_name = coalesce($2, display_name), \
                   role = coalesce($3, role), password_hash = coalesce($4, password_hash), \
                   disabled = coalesce($5, disabled) WHERE id = $1",
            )
            .await
            .map_err(failed(doing))?;
        let role = change.role.map(Role::as_str);
        let changed = conn
            .execute(
                &statement,
                &[&id, &change.display_name, &role, &change.password_hash, &change.disabled],
            )
            .await
            .map_err(failed(doing))?;
        if changed == 0 {
            return Err(ArchiveError::Storage {
                doing: doing.into(),
                message: format!("there is no account with id {id}; list the accounts to find it"),
            });
        }
        Ok(())
    }

    async fn create_session(&self, session: Session) -> Result<(), ArchiveError> {
        let doing = "starting a session";
        self.writer_clock(doing)?;
        let fail = failed(doing);
        let mut conn = self.connection().await?;
        let tx = conn.transaction().await.map_err(&fail)?;
        // The account's sessions that have run out go as a new one starts.
        let statement = tx
            .prepare_cached(
                "DELETE FROM d365audit.sessions WHERE account_id = $1 AND expires_at <= $2",
            )
            .await
            .map_err(&fail)?;
        tx.execute(&statement, &[&session.account_id, &session.created_at]).await.map_err(&fail)?;
        let statement = tx
            .prepare_cached(
                "INSERT INTO d365audit.sessions (digest, account_id, csrf_digest, created_at, \
                   expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .await
            .map_err(&fail)?;
        tx.execute(
            &statement,
            &[
                &session.digest.as_slice(),
                &session.account_id,
                &session.csrf_digest.as_slice(),
                &session.created_at,
                &session.expires_at,
            ],
        )
        .await
        .map_err(&fail)?;
        tx.commit().await.map_err(&fail)
    }

    async fn session(
        &self,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<(Session, Account)>, ArchiveError> {
        let fail = failed("reading a session");
        let conn = self.connection().await?;
        let statement = conn
            .prepare_cached(&format!(
                "SELECT s.digest, s.account_id, s.csrf_digest, s.created_at, s.expires_at, \
                   {ACCOUNT_COLUMNS} \
                 FROM d365audit.sessions s JOIN d365audit.accounts a ON a.id = s.account_id \
                 WHERE s.digest = $1 AND s.expires_at > $2"
            ))
            .await
            .map_err(&fail)?;
        let Some(row) =
            conn.query_opt(&statement, &[&digest.as_slice(), &now]).await.map_err(&fail)?
        else {
            return Ok(None);
        };
        Ok(Some((session_of_row(&row)?, account_of_row(&row, 5)?)))
    }

    async fn delete_session(&self, digest: &[u8; 32]) -> Result<(), ArchiveError> {
        let doing = "ending a session";
        self.writer_clock(doing)?;
        let conn = self.connection().await?;
        let statement = conn
            .prepare_cached("DELETE FROM d365audit.sessions WHERE digest = $1")
            .await
            .map_err(failed(doing))?;
        conn.execute(&statement, &[&digest.as_slice()]).await.map_err(failed(doing))?;
        Ok(())
    }

    async fn delete_sessions_of(&self, account_id: i64) -> Result<(), ArchiveError> {
        let doing = "ending an account's sessions";
        self.writer_clock(doing)?;
        let conn = self.connection().await?;
        let statement = conn
            .prepare_cached("DELETE FROM d365audit.sessions WHERE account_id = $1")
            .await
            .map_err(failed(doing))?;
        conn.execute(&statement, &[&account_id]).await.map_err(failed(doing))?;
        Ok(())
    }

    async fn create_api_token(&self, token: ApiToken) -> Result<ApiToken, ArchiveError> {
        let doing = "creating an API token";
        self.writer_clock(doing)?;
        let conn = self.connection().await?;
        let statement = conn
            .prepare_cached(&format!(
                "INSERT INTO d365audit.api_tokens AS t (account_id, name, digest, created_at, \
                   expires_at, last_used_at, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 RETURNING {TOKEN_COLUMNS}"
            ))
            .await
            .map_err(failed(doing))?;
        let row = conn
            .query_one(
                &statement,
                &[
                    &token.account_id,
                    &token.name,
                    &token.digest.as_slice(),
                    &token.created_at,
                    &token.expires_at,
                    &token.last_used_at,
                    &token.revoked,
                ],
            )
            .await
            .map_err(failed(doing))?;
        token_of_row(&row)
    }

    async fn use_api_token(
        &self,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<(ApiToken, Account)>, ArchiveError> {
        let doing = "checking an API token";
        self.writer_clock(doing)?;
        let fail = failed(doing);
        let conn = self.connection().await?;
        let statement = conn
            .prepare_cached(&format!(
                "WITH t AS (UPDATE d365audit.api_tokens SET last_used_at = $2 \
                   WHERE digest = $1 AND NOT revoked AND (expires_at IS NULL OR expires_at > $2) \
                   RETURNING *) \
                 SELECT {TOKEN_COLUMNS}, {ACCOUNT_COLUMNS} \
                 FROM t JOIN d365audit.accounts a ON a.id = t.account_id"
            ))
            .await
            .map_err(&fail)?;
        let Some(row) =
            conn.query_opt(&statement, &[&digest.as_slice(), &now]).await.map_err(&fail)?
        else {
            return Ok(None);
        };
        Ok(Some((token_of_row(&row)?, account_of_row(&row, 8)?)))
    }

    async fn api_tokens_of(&self, account_id: i64) -> Result<Vec<ApiToken>, ArchiveError> {
        let fail = failed("listing API tokens");
        let conn = self.connection().await?;
        let statement = conn
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM d365audit.api_tokens t WHERE t.account_id = $1 \
                 ORDER BY t.id"
            ))
            .await
            .map_err(&fail)?;
        conn.query(&statement, &[&account_id])
            .await
            .map_err(&fail)?
            .iter()
            .map(token_of_row)
            .collect()
    }

    async fn revoke_api_token(&self, id: i64) -> Result<(), ArchiveError> {
        let doing = "revoking an API token";
        self.writer_clock(doing)?;
        let conn = self.connection().await?;
        let statement = conn
            .prepare_cached("UPDATE d365audit.api_tokens SET revoked = true WHERE id = $1")
            .await
            .map_err(failed(doing))?;
        conn.execute(&statement, &[&id]).await.map_err(failed(doing))?;
        Ok(())
    }

    async fn log_access(&self, entry: AccessEntry) -> Result<(), ArchiveError> {
        let doing = "writing the access log";
        self.writer_clock(doing)?;
        let conn = self.connection().await?;
        let statement = conn
            .prepare_cached(
                "INSERT INTO d365audit.access_log (at, username, action, detail, rows, \
                   client_ip, channel) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .map_err(failed(doing))?;
        let rows = entry.rows.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        conn.execute(
            &statement,
            &[
                &entry.at,
                &entry.username,
                &entry.action,
                &entry.detail,
                &rows,
                &entry.client_ip,
                &entry.channel,
            ],
        )
        .await
        .map_err(failed(doing))?;
        Ok(())
    }

    async fn access_log(
        &self,
        limit: u32,
        before: Option<DateTime<Utc>>,
    ) -> Result<Vec<AccessEntry>, ArchiveError> {
        let fail = failed("reading the access log");
        let conn = self.connection().await?;
        let statement = conn
            .prepare_cached(
                "SELECT at, username, action, detail, rows, client_ip, channel \
                 FROM d365audit.access_log WHERE at < coalesce($2::timestamptz, 'infinity') \
                 ORDER BY at DESC, id DESC LIMIT $1",
            )
            .await
            .map_err(&fail)?;
        Ok(conn
            .query(&statement, &[&i64::from(limit), &before])
            .await
            .map_err(&fail)?
            .iter()
            .map(entry_of_row)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_fold_without_case_in_any_script() {
        assert_eq!(fold_username(" Alice.Smith@Contoso.com "), "alice.smith@contoso.com");
        assert_eq!(fold_username("ÉMILE"), fold_username("émile"));
        assert_ne!(fold_username("emile"), fold_username("émile"));
    }

    #[test]
    fn sessions_rows_are_checked_for_digest_length() {
        assert!(digest_of(&[0u8; 31]).is_err());
        assert_eq!(digest_of(&[7u8; 32]).ok(), Some([7u8; 32]));
    }
}
