//! The archive auditing its own use: every search, record view, timeline, report, export and
//! SQL statement made through the UI or the API is written to the access log (who, when, from
//! where, what filter, how many rows) before its result is returned. If the entry cannot be
//! written, the result is withheld: use that is not logged does not happen.

use archive::AccessEntry;

use crate::error::{ErrorCode, Failure};
use crate::principal::Principal;
use crate::state::ServerState;

/// Through which door a use came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Ui,
    Api,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Ui => "ui",
            Channel::Api => "api",
        }
    }
}

/// One use to log.
#[derive(Debug, Clone)]
pub struct Use<'a> {
    pub action: &'a str,
    pub detail: String,
    pub rows: Option<u64>,
}

/// Writes a use by `principal` to the access log; fails when the log cannot be written.
pub async fn record(
    state: &ServerState,
    principal: &Principal,
    channel: Channel,
    usage: Use<'_>,
) -> Result<(), Failure> {
    write(
        state,
        AccessEntry {
            at: state.now(),
            username: principal.account.username.clone(),
            action: usage.action.into(),
            detail: usage.detail.chars().take(4_000).collect(),
            rows: usage.rows,
            client_ip: principal.client_ip.clone(),
            channel: channel.as_str().into(),
        },
    )
    .await
}

/// Writes an entry (also for sign-in attempts, which have no principal yet).
pub async fn write(state: &ServerState, entry: AccessEntry) -> Result<(), Failure> {
    state.backend().log_access(entry).await.map_err(|error| {
        tracing::error!(%error, "the access log cannot be written; results are withheld");
        Failure {
            code: ErrorCode::Unavailable,
            message: "the access log cannot be written right now, so results are withheld; \
                      retry in a moment or tell an admin"
                .into(),
            retry_after: Some(5),
        }
    })
}
