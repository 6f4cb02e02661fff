//! The database URL: `postgres://user@host:port/database?...` (or libpq's `key=value` form)
//! turned into a connection configuration, and the form of it that may be shown in messages and
//! logs, which never carries the password.

use std::time::Duration;

use archive::ArchiveError;
use tokio_postgres::config::{Host, SslMode};

/// A parsed database URL.
#[derive(Clone)]
pub(crate) struct DatabaseUrl {
    pub(crate) config: tokio_postgres::Config,
    /// `postgres://user@host:port/database`, without password or parameters.
    pub(crate) shown: String,
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Application name shown in `pg_stat_activity` unless the URL sets one.
const APPLICATION_NAME: &str = "d365audit";

/// How long opening one connection may take unless the URL says (`connect_timeout=`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn parse(url: &str) -> Result<DatabaseUrl, ArchiveError> {
    let mut config: tokio_postgres::Config = url.trim().parse().map_err(|error| {
        // The parser's messages name the option at fault, never the value, so no password leaks.
        ArchiveError::Storage {
            doing: "reading the database URL".into(),
            message: format!(
                "{error}; write it like postgres://user:password@host:5432/database \
                 (or set the password in PGPASSWORD-style key=value form)"
            ),
        }
    })?;
    if config.get_user().is_none() {
        return Err(ArchiveError::Storage {
            doing: "reading the database URL".into(),
            message: "the URL names no user; write it like postgres://user@host:5432/database"
                .into(),
        });
    }
    if config.get_ssl_mode() == SslMode::Require {
        // Gap: TLS needs a rustls connector here (and a server to test it against); until then
        // say so plainly instead of failing at the handshake.
        return Err(ArchiveError::Storage {
            doing: "reading the database URL".into(),
            message: "sslmode=require: TLS connections to PostgreSQL are not supported by this \
                      build yet; connect over a trusted network or a local TLS-terminating proxy \
                      with sslmode=disable"
                .into(),
        });
    }
    if config.get_application_name().is_none() {
        config.application_name(APPLICATION_NAME);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let shown = shown(&config);
    Ok(DatabaseUrl { config, shown })
}

/// The URL to show: user, hosts, ports and database, never the password.
pub(crate) fn shown(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = config.get_ports().get(i).or_else(|| config.get_ports().first());
            let name = match host {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            };
            match port {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    let hosts = if hosts.is_empty() { "localhost".to_string() } else { hosts.join(",") };
    format!(
        "postgres://{}@{hosts}/{}",
        config.get_user().unwrap_or_default(),
        config.get_dbname().or(config.get_user()).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shown_url_has_no_password_and_defaults_are_set() {
        let url = parse("postgres://audit:s3cret-pw@db.example.net:6432/archive?sslmode=disable")
            .unwrap();
        assert_eq!(url.shown, "postgres://audit@db.example.net:6432/archive");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(!format!("{:?}", url.config).contains("s3cret"));
        assert_eq!(url.config.get_application_name(), Some("d365audit"));
        assert_eq!(url.config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
    }

    #[test]
    fn a_bad_url_says_how_to_write_it_without_echoing_the_password() {
        let error = parse("postgres://audit:s3cret-pw@db.example.net:notaport/archive")
            .unwrap_err()
            .to_string();
        assert!(error.contains("postgres://user:password@host:5432/database"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
        let error = parse("postgres://db.example.net/archive").unwrap_err().to_string();
        assert!(error.contains("no user"), "{error}");
        let error = parse("postgres://u:s3cret@h/db?sslmode=require").unwrap_err().to_string();
        assert!(error.contains("TLS") && !error.contains("s3cret"), "{error}");
    }
}
