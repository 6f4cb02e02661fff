//! How PostgreSQL and pool failures become [`ArchiveError`]s: what can be retried, what the
//! operator must fix, and messages that say which. Nothing here prints a password: messages
//! name the server by its shown URL only.

use archive::ArchiveError;
use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

/// Maps a PostgreSQL failure while `doing` something to an archive error.
pub(crate) fn storage_error(doing: &str, error: &tokio_postgres::Error) -> ArchiveError {
    let Some(db) = error.as_db_error() else {
        // No server answer: the connection broke, timed out or could not be made.
        return ArchiveError::Unavailable {
            message: format!("the PostgreSQL connection failed while {doing}: {error}; retry"),
        };
    };
    let mut text = db.message().to_string();
    if let Some(detail) = db.detail() {
        text.push_str(": ");
        text.push_str(detail);
    }
    if let Some(hint) = db.hint() {
        text.push_str(" (");
        text.push_str(hint);
        text.push(')');
    }
    let code = db.code();
    let class = &code.code()[..2.min(code.code().len())];
    if matches!(class, "08" | "57" | "53" if *code != SqlState::DISK_FULL)
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
    {
        return ArchiveError::Unavailable {
            message: format!("PostgreSQL could not complete {doing} just now: {text}; retry"),
        };
    }
    if *code == SqlState::DISK_FULL {
        return ArchiveError::Storage {
            doing: doing.to_string(),
            message: "the database server's disk is full; free space and retry".into(),
        };
    }
    if class == "28" {
        return ArchiveError::Storage {
            doing: doing.to_string(),
            message: format!(
                "{text}; check the user and password of the database URL (and pg_hba.conf)"
            ),
        };
    }
    if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        return ArchiveError::Storage {
            doing: doing.to_string(),
            message: format!(
                "{text}; the database user needs to own the d365audit schema (or be granted \
                 its tables)"
            ),
        };
    }
    if *code == SqlState::INVALID_CATALOG_NAME {
        return ArchiveError::Storage {
            doing: doing.to_string(),
            message: format!("{text}; create the database first, or fix the URL"),
        };
    }
    if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
        return ArchiveError::Storage {
            doing: doing.to_string(),
            message: format!(
                "{text}; the server is a read-only replica: point writers at the primary"
            ),
        };
    }
    ArchiveError::Storage { doing: doing.to_string(), message: format!("{text} [{}]", code.code()) }
}

/// `map_err` adapter: `.map_err(failed("reading a page"))`.
pub(crate) fn failed(doing: &'static str) -> impl Fn(tokio_postgres::Error) -> ArchiveError {
    move |error| storage_error(doing, &error)
}

/// Maps a failure to get a pooled connection from the server at `shown`.
pub(crate) fn pool_error(shown: &str, error: PoolError) -> ArchiveError {
    match error {
        PoolError::Backend(error) => {
            let doing = format!("connecting to {shown}");
            storage_error(&doing, &error)
        }
        PoolError::Timeout(_) => ArchiveError::Unavailable {
            message: format!(
                "no connection to {shown} became free in time; the server is slow or the pool \
                 is too small for the load; retry"
            ),
        },
        PoolError::Closed => {
            ArchiveError::Unavailable { message: "the archive was closed; reopen it".into() }
        }
        PoolError::NoRuntimeSpecified => ArchiveError::Unavailable {
            message: "the connection pool has no runtime (a bug in d365audit)".into(),
        },
        PoolError::PostCreateHook(error) => ArchiveError::Unavailable {
            message: format!("preparing a new connection to {shown} failed: {error}; retry"),
        },
    }
}
