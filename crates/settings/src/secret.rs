//! Where a secret comes from: an environment variable (read when the settings are loaded) or a
//! file (read when the secret is needed). Secrets are never written in the configuration file
//! and never accepted on the command line; `Debug` shows only where they come from.

use std::fmt;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use crate::error::SettingsError;

/// Where a secret is kept.
#[derive(Clone)]
pub enum SecretSource {
    /// An environment variable; `value` is what it held when the settings were loaded.
    Env { variable: String, value: Option<SecretString> },
    /// A file holding only the secret (surrounding whitespace and the final newline are
    /// ignored), e.g. a Docker or Kubernetes secret mount.
    File { path: PathBuf },
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env { variable, value } => f
                .debug_struct("Env")
                .field("variable", variable)
                .field("set", &value.is_some())
                .finish(),
            SecretSource::File { path } => f.debug_struct("File").field("path", path).finish(),
        }
    }
}

/// A secret setting: where it comes from and which setting named it.
#[derive(Clone)]
pub struct Secret {
    /// The TOML path of the setting that named the source (for error messages).
    pub setting: String,
    pub source: SecretSource,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = match &self.source {
            SecretSource::Env { variable, .. } => format!("env {variable}"),
            SecretSource::File { path } => format!("file {}", path.display()),
        };
        f.debug_struct("Secret").field("setting", &self.setting).field("from", &from).finish()
    }
}

impl Secret {
    /// The secret's value, or what to do to provide it.
    pub fn read(&self) -> Result<SecretString, SettingsError> {
        match &self.source {
            SecretSource::Env { variable, value } => {
                let value = value.as_ref().ok_or_else(|| {
                    SettingsError::invalid(
                        &self.setting,
                        format!("environment variable {variable} is not set"),
                        format!("set {variable} in the collector's environment"),
                    )
                })?;
                if value.expose_secret().trim().is_empty() {
                    return Err(SettingsError::invalid(
                        &self.setting,
                        format!("environment variable {variable} is empty"),
                        format!("put the secret's value in {variable}"),
                    ));
                }
                Ok(SecretString::from(value.expose_secret().trim().to_owned()))
            }
            SecretSource::File { path } => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    SettingsError::invalid(
                        &self.setting,
                        format!("cannot read {}: {e}", path.display()),
                        "point it at a readable file that holds only the secret (relative paths \
                         start at the configuration file's folder)",
                    )
                })?;
                let value = text.trim();
                if value.is_empty() {
                    return Err(SettingsError::invalid(
                        &self.setting,
                        format!("{} is empty", path.display()),
                        "write the secret's value into the file",
                    ));
                }
                Ok(SecretString::from(value.to_owned()))
            }
        }
    }
}
