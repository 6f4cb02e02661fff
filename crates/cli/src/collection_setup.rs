//! Shared by the collection commands: reading the configuration file (`--config` /
//! `D365AUDIT_CONFIG`), deciding where the archive is (command line, then the file, then the
//! default), and opening it with its blob queue.

use std::path::Path;
use std::sync::Arc;

use anyhow::bail;
use collector::QueuedArchive;
use settings::Settings;

use crate::archive_url::{ArchiveLocation, DEFAULT_ARCHIVE};

/// Reads the configuration (`None`: defaults and environment variables only).
pub(crate) fn load_settings(config: Option<&Path>) -> anyhow::Result<Settings> {
    Settings::load(config).map_err(anyhow::Error::from)
}

/// Reads the configuration and requires at least one tenant in it.
pub(crate) fn load_collection_settings(config: Option<&Path>) -> anyhow::Result<Settings> {
    if config.is_none() {
        bail!(
            "collection needs a configuration file: create one with `d365audit config init \
             --output d365audit.toml`, edit it, and pass it with --config (or D365AUDIT_CONFIG)"
        );
    }
    let settings = load_settings(config)?;
    settings.select_tenants(&[])?;
    Ok(settings)
}

/// The archive location: `--archive` / `D365AUDIT_ARCHIVE` when given, else the
/// configuration file's `archive`, else the default.
pub(crate) fn archive_text(
    cli_archive: Option<&str>,
    config: Option<&Path>,
) -> anyhow::Result<String> {
    if let Some(text) = cli_archive {
        return Ok(text.to_owned());
    }
    if config.is_some() {
        let settings = load_settings(config)?;
        if let Some(text) = settings.archive {
            return Ok(text);
        }
    }
    Ok(DEFAULT_ARCHIVE.to_owned())
}

/// Opens the archive with its blob queue, for reading and writing (SQLite creates the file).
pub(crate) async fn open_queued(
    location: &ArchiveLocation,
) -> anyhow::Result<Arc<dyn QueuedArchive>> {
    Ok(location.open().await?.queued())
}

/// Opens an existing archive with its blob queue, for `status`.
pub(crate) async fn open_existing_queued(
    location: &ArchiveLocation,
) -> anyhow::Result<Arc<dyn QueuedArchive>> {
    if let ArchiveLocation::Sqlite(path) = location
        && !path.exists()
    {
        bail!(
            "there is no archive at {} yet: run `d365audit collect --once` first, or point \
             --archive (D365AUDIT_ARCHIVE) at an existing one",
            path.display()
        );
    }
    open_queued(location).await
}
