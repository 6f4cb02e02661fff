//! Where the archive is: `sqlite://PATH` (the embedded default) or `postgres://...`, from
//! `--archive` or `D365AUDIT_ARCHIVE`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use archive::{Archive, ChangeStore};

/// The default when nothing is configured: a SQLite file in the current folder.
pub(crate) const DEFAULT_ARCHIVE: &str = "sqlite://d365audit.db";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArchiveLocation {
    Sqlite(PathBuf),
    Postgres(String),
}

impl ArchiveLocation {
    pub(crate) fn parse(text: &str) -> anyhow::Result<ArchiveLocation> {
        if let Some(path) = text.strip_prefix("sqlite://") {
            if path.is_empty() {
                bail!(
                    "`sqlite://` needs a file path, e.g. sqlite://audit.db or sqlite:///var/lib/d365audit/audit.db"
                );
            }
            return Ok(ArchiveLocation::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(ArchiveLocation::Postgres(text.to_string()));
        }
        bail!(
            "the archive location must start with sqlite:// or postgres:// (got something else); \
             e.g. --archive sqlite://audit.db"
        )
    }

    /// Opens the archive for reading and writing (SQLite creates the file, PostgreSQL the
    /// schema, when missing). Every command that writes opens it here.
    pub(crate) async fn open(&self) -> anyhow::Result<OpenArchive> {
        match self {
            ArchiveLocation::Sqlite(path) => Ok(OpenArchive::Sqlite(
                archive_sqlite::SqliteArchive::open(path, Arc::new(clock::SystemClock))
                    .with_context(|| format!("cannot open the archive {}", path.display()))?,
            )),
            ArchiveLocation::Postgres(url) => {
                Ok(OpenArchive::Postgres(connect_postgres(url).await?))
            }
        }
    }

    /// Opens an existing archive for queries only (writes through it fail).
    pub(crate) async fn open_for_queries(&self) -> anyhow::Result<OpenArchive> {
        match self {
            ArchiveLocation::Sqlite(path) => {
                if !path.exists() {
                    bail!(
                        "there is no archive at {} yet: import or collect records first, \
                         or point --archive (D365AUDIT_ARCHIVE) at an existing one",
                        path.display()
                    );
                }
                let archive = archive_sqlite::SqliteArchive::open_read_only(path)
                    .with_context(|| format!("cannot open the archive {}", path.display()))?;
                Ok(OpenArchive::Sqlite(archive))
            }
            ArchiveLocation::Postgres(url) => Ok(OpenArchive::Postgres(
                archive_postgres::PostgresArchive::connect_read_only(url)
                    .await
                    .context("cannot open the PostgreSQL archive")?,
            )),
        }
    }
}

/// An open archive (read-write, or read-only from `open_for_queries`), with the views the commands need of it.
#[derive(Debug, Clone)]
pub(crate) enum OpenArchive {
    Sqlite(archive_sqlite::SqliteArchive),
    Postgres(archive_postgres::PostgresArchive),
}

impl OpenArchive {
    pub(crate) fn archive(&self) -> Arc<dyn Archive> {
        match self {
            OpenArchive::Sqlite(a) => Arc::new(a.clone()),
            OpenArchive::Postgres(a) => Arc::new(a.clone()),
        }
    }

    /// Its Dataverse audit changes (field history).
    pub(crate) fn changes(&self) -> Arc<dyn ChangeStore> {
        match self {
            OpenArchive::Sqlite(a) => Arc::new(a.clone()),
            OpenArchive::Postgres(a) => Arc::new(a.clone()),
        }
    }

    /// With its blob queue, for the collector.
    pub(crate) fn queued(&self) -> Arc<dyn collector::QueuedArchive> {
        match self {
            OpenArchive::Sqlite(a) => Arc::new(a.clone()),
            OpenArchive::Postgres(a) => Arc::new(a.clone()),
        }
    }

    /// With accounts, the access log, the SQL console and the queue, for the server.
    pub(crate) fn backend(&self) -> Arc<dyn server::Backend> {
        match self {
            OpenArchive::Sqlite(a) => Arc::new(a.clone()),
            OpenArchive::Postgres(a) => Arc::new(a.clone()),
        }
    }

    /// Checkpoints and closes a SQLite file; a PostgreSQL pool just goes away.
    pub(crate) async fn close(&self) -> anyhow::Result<()> {
        if let OpenArchive::Sqlite(archive) = self {
            archive.close().await?;
        }
        Ok(())
    }
}

/// Connects to a PostgreSQL archive (creating or upgrading its schema). Errors never show the
/// password.
pub(crate) async fn connect_postgres(
    url: &str,
) -> anyhow::Result<archive_postgres::PostgresArchive> {
    archive_postgres::PostgresArchive::connect(url, Arc::new(clock::SystemClock))
        .await
        .context("cannot open the PostgreSQL archive")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_mistakes_explain_themselves() {
        assert_eq!(
            ArchiveLocation::parse("sqlite://a/b.db").unwrap(),
            ArchiveLocation::Sqlite(PathBuf::from("a/b.db"))
        );
        assert!(matches!(
            ArchiveLocation::parse("postgres://u@127.0.0.1/db").unwrap(),
            ArchiveLocation::Postgres(_)
        ));
        let err = ArchiveLocation::parse("audit.db").unwrap_err().to_string();
        assert!(err.contains("sqlite://"), "{err}");
    }
}
