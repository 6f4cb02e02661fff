//! Why a configuration cannot be used. Every error names the setting (its TOML path, and the
//! environment variable when one set it) and says how to fix it; none repeats a secret.

use std::path::PathBuf;

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The configuration file cannot be read.
    #[error(
        "cannot read the configuration file {}: {source}; check the path given with --config \
         (or D365AUDIT_CONFIG), or create one with `d365audit config init`",
        path.display()
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML at all.
    #[error("the configuration file {file} is not valid TOML: {message}")]
    Syntax { file: String, message: String },
    /// A setting is missing, misspelt or has a value that cannot be used.
    #[error("setting `{setting}`{}: {problem}. Fix: {fix}", origin_text(.origin))]
    Invalid {
        /// The TOML path, e.g. `tenants.contoso.client_id`.
        setting: String,
        /// The environment variable that set it, when one did.
        origin: Option<String>,
        problem: String,
        fix: String,
    },
}

fn origin_text(origin: &Option<String>) -> String {
    match origin {
        Some(variable) => format!(" (set by environment variable {variable})"),
        None => String::new(),
    }
}

impl SettingsError {
    /// The setting the error is about, when it is about one.
    pub fn setting(&self) -> Option<&str> {
        match self {
            SettingsError::Invalid { setting, .. } => Some(setting),
            _ => None,
        }
    }

    pub(crate) fn invalid(
        setting: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> SettingsError {
        SettingsError::Invalid {
            setting: setting.into(),
            origin: None,
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}
