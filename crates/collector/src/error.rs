//! Why the collector cannot start or go on. Failures of a single window or blob are not errors
//! here: they are recorded on the feed or the blob, counted, and retried.

use archive::ArchiveError;
use settings::SettingsError;

/// A problem that stops the collector (or one command) as a whole.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// The configuration cannot be used (a secret missing, a certificate unreadable, ...).
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The API client of a tenant cannot be built from its settings.
    #[error("tenant {tenant}: {source}")]
    Client {
        tenant: String,
        #[source]
        source: o365::ConfigError,
    },
    /// The archive failed in a way the collector cannot work around.
    #[error("the archive failed: {0}")]
    Archive(#[from] ArchiveError),
}
