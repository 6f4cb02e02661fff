//! Accounts, sign-in sessions, API tokens and the access log ([`archive::AccessStore`]) of the
//! SQLite archive. Writes run on the writer thread (as [`AccessWrite`] jobs, each its own
//! transaction), reads on read-only connections.
//!
//! Tables: `accounts` (unique on `username_folded`, the trimmed username in lower case, so that
//! `Alice` and `ALICE` are one account in every script, not only ASCII), `sessions` and
//! `api_tokens` (found by the 32-byte digest of what the user holds; the secret itself is never
//! stored), and `access_log` (indexed by time). None of them is open to the SQL console.

use archive::query::QueryError;
use archive::{
    AccessEntry, AccessStore, Account, AccountChange, ApiToken, ArchiveError, NewAccount, Role,
    Session,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use tokio::sync::oneshot;

use crate::encoding::{failed, micros, time_of};
use crate::writer::WriterCommand;
use crate::{SqliteArchive, writer_gone};

/// A change to the access tables, run by the writer thread on its connection (outside any
/// ingest transaction); it answers through a channel of its own.
pub(crate) struct AccessWrite(Box<dyn FnOnce(&Connection) + Send>);

impl std::fmt::Debug for AccessWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessWrite")
    }
}

impl AccessWrite {
    pub(crate) fn run(self, conn: &Connection) {
        (self.0)(conn)
    }
}

/// The key that makes usernames unique: trimmed, in lower case.
fn fold(username: &str) -> String {
    username.trim().to_lowercase()
}

const ACCOUNT_COLUMNS: &str =
    "a.id, a.username, a.display_name, a.role, a.password_hash, a.disabled, a.created_at";

fn account_of_row(row: &Row<'_>, first: usize) -> rusqlite::Result<Account> {
    let role: String = row.get(first + 3)?;
    Ok(Account {
        id: row.get(first)?,
        username: row.get(first + 1)?,
        display_name: row.get(first + 2)?,
        role: Role::parse(&role).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                first + 3,
                Type::Text,
                format!("an account has the unknown role {role:?}").into(),
            )
        })?,
        password_hash: row.get(first + 4)?,
        disabled: row.get(first + 5)?,
        created_at: time_of(row.get(first + 6)?),
    })
}

const SESSION_COLUMNS: &str = "s.digest, s.account_id, s.csrf_digest, s.created_at, s.expires_at";

fn digest_at(row: &Row<'_>, column: usize) -> rusqlite::Result<[u8; 32]> {
    let bytes: Vec<u8> = row.get(column)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            Type::Blob,
            format!("a stored digest has {} bytes instead of 32", bytes.len()).into(),
        )
    })
}

fn session_of_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        digest: digest_at(row, 0)?,
        account_id: row.get(1)?,
        csrf_digest: digest_at(row, 2)?,
        created_at: time_of(row.get(3)?),
        expires_at: time_of(row.get(4)?),
    })
}

const TOKEN_COLUMNS: &str =
    "id, account_id, name, digest, created_at, expires_at, last_used_at, revoked";

fn token_of_row(row: &Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: row.get(0)?,
        account_id: row.get(1)?,
        name: row.get(2)?,
        digest: digest_at(row, 3)?,
        created_at: time_of(row.get(4)?),
        expires_at: row.get::<_, Option<i64>>(5)?.map(time_of),
        last_used_at: row.get::<_, Option<i64>>(6)?.map(time_of),
        revoked: row.get(7)?,
    })
}

/// A time as stored (microseconds), so that what is returned equals what is read back.
fn stored(time: DateTime<Utc>) -> DateTime<Utc> {
    time_of(micros(time))
}

impl SqliteArchive {
    /// Runs `work` on the writer's connection.
    async fn on_writer<T, F>(&self, doing: &'static str, work: F) -> Result<T, ArchiveError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, ArchiveError> + Send + 'static,
    {
        let writer = self.writer_for(doing)?;
        let (reply, answer) = oneshot::channel();
        let job = AccessWrite(Box::new(move |conn| {
            let _ = reply.send(work(conn));
        }));
        writer.send(WriterCommand::Access(job)).await.map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Every account, or the one with this folded username.
    async fn accounts_named(&self, folded: Option<String>) -> Result<Vec<Account>, ArchiveError> {
        self.read(move |conn, _| {
            let fail = failed("reading accounts");
            match folded {
                Some(folded) => conn
                    .prepare_cached(&format!(
                        "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.username_folded = ?1"
                    ))
                    .and_then(|mut s| {
                        s.query_map([folded], |row| account_of_row(row, 0))?.collect()
                    }),
                None => conn
                    .prepare_cached(&format!(
                        "SELECT {ACCOUNT_COLUMNS} FROM accounts a ORDER BY a.id"
                    ))
                    .and_then(|mut s| s.query_map([], |row| account_of_row(row, 0))?.collect()),
            }
            .map_err(fail)
        })
        .await
    }
}

fn account_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<Account>> {
    conn.prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = ?1"))?
        .query_row([id], |row| account_of_row(row, 0))
        .optional()
}

#[async_trait]
impl AccessStore for SqliteArchive {
    async fn create_account(
        &self,
        account: NewAccount,
        now: DateTime<Utc>,
    ) -> Result<Account, ArchiveError> {
        let doing = "creating an account";
        let username = account.username.trim().to_string();
        if username.is_empty() {
            return Err(ArchiveError::InvalidQuery(QueryError::new(
                "a username cannot be empty; choose one",
            )));
        }
        let created_at = stored(now);
        self.on_writer(doing, move |conn| {
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO accounts (username, username_folded, display_name, role, \
                     password_hash, disabled, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6) \
                     RETURNING id",
                )
                .and_then(|mut s| {
                    s.query_row(
                        params![
                            username,
                            fold(&username),
                            account.display_name,
                            account.role.as_str(),
                            account.password_hash,
                            micros(created_at),
                        ],
                        |row| row.get(0),
                    )
                });
            match inserted {
                Ok(id) => Ok(Account {
                    id,
                    username,
                    display_name: account.display_name,
                    role: account.role,
                    password_hash: account.password_hash,
                    disabled: false,
                    created_at,
                }),
                Err(rusqlite::Error::SqliteFailure(error, _))
                    if error.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
                {
                    Err(ArchiveError::Storage {
                        doing: doing.into(),
                        message: format!(
                            "the username {username} is taken (usernames are compared without \
                             case); pick another"
                        ),
                    })
                }
                Err(error) => Err(failed(doing)(error)),
            }
        })
        .await
    }

    async fn account_by_username(&self, username: &str) -> Result<Option<Account>, ArchiveError> {
        Ok(self.accounts_named(Some(fold(username))).await?.pop())
    }

    async fn account_by_id(&self, id: i64) -> Result<Option<Account>, ArchiveError> {
        self.read(move |conn, _| account_by_id(conn, id).map_err(failed("reading an account")))
            .await
    }

    async fn accounts(&self) -> Result<Vec<Account>, ArchiveError> {
        self.accounts_named(None).await
    }

    async fn change_account(&self, id: i64, change: AccountChange) -> Result<(), ArchiveError> {
        let doing = "changing an account";
        let changed = self
            .on_writer(doing, move |conn| {
                conn.prepare_cached(
                    "UPDATE accounts SET display_name = coalesce(?2, display_name), \
                     role = coalesce(?3, role), password_hash = coalesce(?4, password_hash), \
                     disabled = coalesce(?5, disabled) WHERE id = ?1",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        id,
                        change.display_name,
                        change.role.map(Role::as_str),
                        change.password_hash,
                        change.disabled,
                    ])
                })
                .map_err(failed(doing))
            })
            .await?;
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
        self.on_writer(doing, move |conn| {
            // Sessions that ended before this one began are of no use to anyone.
            conn.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")
                .and_then(|mut s| s.execute([micros(session.created_at)]))
                .and_then(|_| {
                    conn.prepare_cached(
                        "INSERT INTO sessions (digest, account_id, csrf_digest, created_at, \
                         expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                })
                .and_then(|mut s| {
                    s.execute(params![
                        session.digest.as_slice(),
                        session.account_id,
                        session.csrf_digest.as_slice(),
                        micros(session.created_at),
                        micros(session.expires_at),
                    ])
                })
                .map(drop)
                .map_err(failed(doing))
        })
        .await
    }

    async fn session(
        &self,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<(Session, Account)>, ArchiveError> {
        let digest = *digest;
        self.read(move |conn, _| {
            let sql = format!(
                "SELECT {SESSION_COLUMNS}, {ACCOUNT_COLUMNS} FROM sessions s \
                 JOIN accounts a ON a.id = s.account_id WHERE s.digest = ?1 AND s.expires_at > ?2"
            );
            conn.prepare_cached(&sql)
                .and_then(|mut s| {
                    s.query_row(params![digest.as_slice(), micros(now)], |row| {
                        Ok((session_of_row(row)?, account_of_row(row, 5)?))
                    })
                    .optional()
                })
                .map_err(failed("reading a session"))
        })
        .await
    }

    async fn delete_session(&self, digest: &[u8; 32]) -> Result<(), ArchiveError> {
        let doing = "ending a session";
        let digest = *digest;
        self.on_writer(doing, move |conn| {
            conn.prepare_cached("DELETE FROM sessions WHERE digest = ?1")
                .and_then(|mut s| s.execute([digest.as_slice()]))
                .map(drop)
                .map_err(failed(doing))
        })
        .await
    }

    async fn delete_sessions_of(&self, account_id: i64) -> Result<(), ArchiveError> {
        let doing = "ending an account's sessions";
        self.on_writer(doing, move |conn| {
            conn.prepare_cached("DELETE FROM sessions WHERE account_id = ?1")
                .and_then(|mut s| s.execute([account_id]))
                .map(drop)
                .map_err(failed(doing))
        })
        .await
    }

    async fn create_api_token(&self, token: ApiToken) -> Result<ApiToken, ArchiveError> {
        let doing = "creating an API token";
        let token = ApiToken {
            created_at: stored(token.created_at),
            expires_at: token.expires_at.map(stored),
            last_used_at: token.last_used_at.map(stored),
            ..token
        };
        self.on_writer(doing, move |conn| {
            let id = conn
                .prepare_cached(
                    "INSERT INTO api_tokens (account_id, name, digest, created_at, expires_at, \
                     last_used_at, revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                )
                .and_then(|mut s| {
                    s.query_row(
                        params![
                            token.account_id,
                            token.name,
                            token.digest.as_slice(),
                            micros(token.created_at),
                            token.expires_at.map(micros),
                            token.last_used_at.map(micros),
                            token.revoked,
                        ],
                        |row| row.get(0),
                    )
                })
                .map_err(failed(doing))?;
            Ok(ApiToken { id, ..token })
        })
        .await
    }

    async fn use_api_token(
        &self,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<(ApiToken, Account)>, ArchiveError> {
        let doing = "using an API token";
        let digest = *digest;
        self.on_writer(doing, move |conn| {
            let sql = format!(
                "UPDATE api_tokens SET last_used_at = ?2 WHERE digest = ?1 AND revoked = 0 \
                 AND (expires_at IS NULL OR expires_at > ?2) RETURNING {TOKEN_COLUMNS}"
            );
            let fail = failed(doing);
            let token = conn
                .prepare_cached(&sql)
                .and_then(|mut s| {
                    s.query_row(params![digest.as_slice(), micros(now)], token_of_row).optional()
                })
                .map_err(&fail)?;
            let Some(token) = token else { return Ok(None) };
            Ok(account_by_id(conn, token.account_id)
                .map_err(&fail)?
                .map(|account| (token, account)))
        })
        .await
    }

    async fn api_tokens_of(&self, account_id: i64) -> Result<Vec<ApiToken>, ArchiveError> {
        self.read(move |conn, _| {
            let sql =
                format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE account_id = ?1 ORDER BY id");
            conn.prepare_cached(&sql)
                .and_then(|mut s| s.query_map([account_id], token_of_row)?.collect())
                .map_err(failed("listing API tokens"))
        })
        .await
    }

    async fn revoke_api_token(&self, id: i64) -> Result<(), ArchiveError> {
        let doing = "revoking an API token";
        self.on_writer(doing, move |conn| {
            conn.prepare_cached("UPDATE api_tokens SET revoked = 1 WHERE id = ?1")
                .and_then(|mut s| s.execute([id]))
                .map(drop)
                .map_err(failed(doing))
        })
        .await
    }

    async fn log_access(&self, entry: AccessEntry) -> Result<(), ArchiveError> {
        let doing = "logging an access";
        self.on_writer(doing, move |conn| {
            conn.prepare_cached(
                "INSERT INTO access_log (at, username, action, detail, rows, client_ip, channel) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    micros(entry.at),
                    entry.username,
                    entry.action,
                    entry.detail,
                    entry.rows.map(|n| n.min(i64::MAX as u64) as i64),
                    entry.client_ip,
                    entry.channel,
                ])
            })
            .map(drop)
            .map_err(failed(doing))
        })
        .await
    }

    async fn access_log(
        &self,
        limit: u32,
        before: Option<DateTime<Utc>>,
    ) -> Result<Vec<AccessEntry>, ArchiveError> {
        self.read(move |conn, _| {
            conn.prepare_cached(
                "SELECT at, username, action, detail, rows, client_ip, channel FROM access_log \
                 WHERE at < ?1 ORDER BY at DESC, id DESC LIMIT ?2",
            )
            .and_then(|mut s| {
                let before = before.map_or(i64::MAX, micros);
                s.query_map(params![before, i64::from(limit)], |row| {
                    Ok(AccessEntry {
                        at: time_of(row.get(0)?),
                        username: row.get(1)?,
                        action: row.get(2)?,
                        detail: row.get(3)?,
                        rows: row.get::<_, Option<i64>>(4)?.map(|n| n.max(0) as u64),
                        client_ip: row.get(5)?,
                        channel: row.get(6)?,
                    })
                })?
                .collect()
            })
            .map_err(failed("reading the access log"))
        })
        .await
    }
}
