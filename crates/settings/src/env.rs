//! Environment variables override the configuration file. The variable for a setting is
//! `D365AUDIT_` followed by its TOML path in upper case, levels joined by `__`:
//!
//! | setting | variable |
//! |---|---|
//! | `archive` | `D365AUDIT_ARCHIVE` |
//! | `collector.workers` | `D365AUDIT_COLLECTOR__WORKERS` |
//! | `webhook.public_address` | `D365AUDIT_WEBHOOK__PUBLIC_ADDRESS` |
//! | `tenants.contoso-eu.client_id` | `D365AUDIT_TENANTS__CONTOSO_EU__CLIENT_ID` |
//! | `dataverse.sales.interval` | `D365AUDIT_DATAVERSE__SALES__INTERVAL` |
//!
//! Tenant names match case-insensitively with `-` written as `_`; a variable can only override
//! a tenant the file defines. Lists are comma-separated (`Audit.General,DLP.All`). Two secrets
//! exist only as variables: `D365AUDIT_TENANTS__<NAME>__CLIENT_SECRET` (the client secret's
//! value) and `D365AUDIT_WEBHOOK__AUTH_ID` (the webhook's shared authId). Variables with the
//! prefix but no section (`D365AUDIT_LOG`, `D365AUDIT_CONFIG`) belong to the command line and are
//! ignored here.

use std::collections::BTreeMap;

use secrecy::SecretString;
use toml::{Table, Value};

use crate::error::SettingsError;

/// The prefix of every d365audit environment variable.
pub const ENV_PREFIX: &str = "D365AUDIT_";

/// How a variable's text becomes a TOML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Integer,
    /// Comma-separated.
    List,
    /// `all`, or a comma-separated list.
    AllOrList,
}

pub(crate) const TOP_KEYS: &[(&str, Kind)] = &[("archive", Kind::Text)];

pub(crate) const COLLECTOR_KEYS: &[(&str, Kind)] = &[
    ("poll_interval", Kind::Text),
    ("overlap", Kind::Text),
    ("backfill", Kind::Text),
    ("workers", Kind::Integer),
    ("lease", Kind::Text),
    ("backlog_warning_age", Kind::Text),
    ("max_attempts", Kind::Integer),
    ("retry_delay", Kind::Text),
    ("retry_delay_max", Kind::Text),
    ("shutdown_grace", Kind::Text),
    ("request_attempts", Kind::Integer),
    ("request_backoff", Kind::Text),
    ("request_backoff_max", Kind::Text),
    ("request_timeout", Kind::Text),
];

pub(crate) const WEBHOOK_KEYS: &[(&str, Kind)] = &[
    ("public_address", Kind::Text),
    ("auth_id_env", Kind::Text),
    ("auth_id_file", Kind::Text),
    ("listen", Kind::Text),
    ("max_body_bytes", Kind::Integer),
];

pub(crate) const TENANT_KEYS: &[(&str, Kind)] = &[
    ("tenant_id", Kind::Text),
    ("cloud", Kind::Text),
    ("login_base", Kind::Text),
    ("api_base", Kind::Text),
    ("resource", Kind::Text),
    ("client_id", Kind::Text),
    ("client_secret_env", Kind::Text),
    ("client_secret_file", Kind::Text),
    ("certificate_file", Kind::Text),
    ("private_key_file", Kind::Text),
    ("certificate_assertion", Kind::Text),
    ("token_endpoint", Kind::Text),
    ("publisher_id", Kind::Text),
    ("content_types", Kind::List),
    ("workloads", Kind::AllOrList),
    ("requests_per_minute", Kind::Integer),
    ("request_burst", Kind::Integer),
];

pub(crate) const DATAVERSE_KEYS: &[(&str, Kind)] = &[
    ("url", Kind::Text),
    ("tenant", Kind::Text),
    ("interval", Kind::Text),
    ("overlap", Kind::Text),
    ("page_size", Kind::Integer),
    ("detail_concurrency", Kind::Integer),
    ("since", Kind::Text),
];

/// What the environment changed, beyond the values written into the document.
#[derive(Default)]
pub(crate) struct Overrides {
    /// TOML path -> the variable that set it.
    pub(crate) origins: BTreeMap<String, String>,
    /// Tenant name (as in the file) -> (variable, client secret value).
    pub(crate) tenant_secrets: BTreeMap<String, (String, SecretString)>,
    /// (variable, authId value).
    pub(crate) webhook_auth_id: Option<(String, SecretString)>,
}

/// The environment-variable spelling of a tenant name.
pub fn tenant_env_name(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

/// The variable that overrides `collector.<key>` style paths, e.g. `D365AUDIT_COLLECTOR__WORKERS`.
pub fn env_var_for(path: &[&str]) -> String {
    let parts: Vec<String> = path.iter().map(|p| tenant_env_name(p)).collect();
    format!("{ENV_PREFIX}{}", parts.join("__"))
}

fn bad_variable(variable: &str, setting: &str, problem: String, fix: String) -> SettingsError {
    SettingsError::Invalid {
        setting: setting.to_owned(),
        origin: Some(variable.to_owned()),
        problem,
        fix,
    }
}

fn key_list(keys: &[(&str, Kind)]) -> String {
    keys.iter().map(|(k, _)| k.to_ascii_uppercase()).collect::<Vec<_>>().join(", ")
}

fn find_key(keys: &[(&'static str, Kind)], wanted: &str) -> Option<(&'static str, Kind)> {
    keys.iter().copied().find(|(key, _)| key.eq_ignore_ascii_case(wanted))
}

fn to_value(variable: &str, setting: &str, kind: Kind, text: &str) -> Result<Value, SettingsError> {
    let list = |text: &str| {
        Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        )
    };
    Ok(match kind {
        Kind::Text => Value::String(text.to_owned()),
        Kind::Integer => Value::Integer(text.trim().parse().map_err(|_| {
            bad_variable(
                variable,
                setting,
                format!("{text:?} is not a whole number"),
                format!("set {variable} to a whole number"),
            )
        })?),
        Kind::List => list(text),
        Kind::AllOrList if text.trim().eq_ignore_ascii_case("all") => Value::String("all".into()),
        Kind::AllOrList => list(text),
    })
}

fn section<'a>(
    doc: &'a mut Table,
    name: &str,
    variable: &str,
) -> Result<&'a mut Table, SettingsError> {
    let entry = doc.entry(name.to_owned()).or_insert_with(|| Value::Table(Table::new()));
    entry.as_table_mut().ok_or_else(|| {
        bad_variable(
            variable,
            name,
            format!("`{name}` in the file is not a table"),
            format!("write it as a [{name}] section"),
        )
    })
}

/// Applies every `D365AUDIT_*` setting variable of `env` to `doc`.
pub(crate) fn apply(
    doc: &mut Table,
    env: &BTreeMap<String, String>,
) -> Result<Overrides, SettingsError> {
    let mut overrides = Overrides::default();
    for (variable, text) in env {
        let Some(rest) = variable.strip_prefix(ENV_PREFIX) else { continue };
        let parts: Vec<&str> = rest.split("__").collect();
        match parts.as_slice() {
            [key] => {
                // D365AUDIT_ARCHIVE; other single words (LOG, CONFIG) are command-line options.
                if let Some((key, kind)) = find_key(TOP_KEYS, key) {
                    doc.insert(key.to_owned(), to_value(variable, key, kind, text)?);
                    overrides.origins.insert(key.to_owned(), variable.clone());
                }
            }
            [group, key] if group.eq_ignore_ascii_case("collector") => {
                let (key, kind) = find_key(COLLECTOR_KEYS, key).ok_or_else(|| {
                    bad_variable(
                        variable,
                        "collector",
                        format!("{variable} does not name a [collector] setting"),
                        format!("use one of D365AUDIT_COLLECTOR__{{{}}}", key_list(COLLECTOR_KEYS)),
                    )
                })?;
                let setting = format!("collector.{key}");
                let value = to_value(variable, &setting, kind, text)?;
                section(doc, "collector", variable)?.insert(key.to_owned(), value);
                overrides.origins.insert(setting, variable.clone());
            }
            [group, key] if group.eq_ignore_ascii_case("webhook") => {
                if key.eq_ignore_ascii_case("auth_id") {
                    overrides.webhook_auth_id =
                        Some((variable.clone(), SecretString::from(text.clone())));
                    continue;
                }
                let (key, kind) = find_key(WEBHOOK_KEYS, key).ok_or_else(|| {
                    bad_variable(
                        variable,
                        "webhook",
                        format!("{variable} does not name a [webhook] setting"),
                        format!(
                            "use D365AUDIT_WEBHOOK__AUTH_ID or one of D365AUDIT_WEBHOOK__{{{}}}",
                            key_list(WEBHOOK_KEYS)
                        ),
                    )
                })?;
                let setting = format!("webhook.{key}");
                let value = to_value(variable, &setting, kind, text)?;
                section(doc, "webhook", variable)?.insert(key.to_owned(), value);
                overrides.origins.insert(setting, variable.clone());
            }
            [group, tenant, key] if group.eq_ignore_ascii_case("tenants") => {
                let tenants = section(doc, "tenants", variable)?;
                let name = tenants
                    .keys()
                    .find(|name| tenant_env_name(name) == tenant.to_ascii_uppercase())
                    .cloned()
                    .ok_or_else(|| {
                        bad_variable(
                            variable,
                            &format!("tenants.{}", tenant.to_ascii_lowercase()),
                            format!(
                                "{variable} names tenant {tenant}, which the configuration file \
                                 does not define"
                            ),
                            format!(
                                "add a [tenants.{}] table to the configuration file (environment \
                                 variables only override tenants the file defines)",
                                tenant.to_ascii_lowercase().replace('_', "-")
                            ),
                        )
                    })?;
                if key.eq_ignore_ascii_case("client_secret") {
                    overrides
                        .tenant_secrets
                        .insert(name, (variable.clone(), SecretString::from(text.clone())));
                    continue;
                }
                let (key, kind) = find_key(TENANT_KEYS, key).ok_or_else(|| {
                    bad_variable(
                        variable,
                        &format!("tenants.{name}"),
                        format!("{variable} does not name a tenant setting"),
                        format!(
                            "use D365AUDIT_TENANTS__{t}__CLIENT_SECRET or one of \
                             D365AUDIT_TENANTS__{t}__{{{}}}",
                            key_list(TENANT_KEYS),
                            t = tenant_env_name(&name)
                        ),
                    )
                })?;
                let setting = format!("tenants.{name}.{key}");
                let value = to_value(variable, &setting, kind, text)?;
                let table =
                    tenants.get_mut(&name).and_then(Value::as_table_mut).ok_or_else(|| {
                        bad_variable(
                            variable,
                            &format!("tenants.{name}"),
                            format!("`tenants.{name}` in the file is not a table"),
                            format!("write it as a [tenants.{name}] section"),
                        )
                    })?;
                table.insert(key.to_owned(), value);
                overrides.origins.insert(setting, variable.clone());
            }
            [group, environment, key] if group.eq_ignore_ascii_case("dataverse") => {
                let environments = section(doc, "dataverse", variable)?;
                let name = environments
                    .keys()
                    .find(|name| tenant_env_name(name) == environment.to_ascii_uppercase())
                    .cloned()
                    .ok_or_else(|| {
                        bad_variable(
                            variable,
                            &format!("dataverse.{}", environment.to_ascii_lowercase()),
                            format!(
                                "{variable} names Dataverse environment {environment}, which the \
                                 configuration file does not define"
                            ),
                            "add its [dataverse.<name>] table to the configuration file \
                             (environment variables only override what the file defines)"
                                .to_owned(),
                        )
                    })?;
                let (key, kind) = find_key(DATAVERSE_KEYS, key).ok_or_else(|| {
                    bad_variable(
                        variable,
                        &format!("dataverse.{name}"),
                        format!("{variable} does not name a Dataverse environment setting"),
                        format!(
                            "use one of D365AUDIT_DATAVERSE__{}__{{{}}}",
                            tenant_env_name(&name),
                            key_list(DATAVERSE_KEYS)
                        ),
                    )
                })?;
                let setting = format!("dataverse.{name}.{key}");
                let value = to_value(variable, &setting, kind, text)?;
                if let Some(table) = environments.get_mut(&name).and_then(Value::as_table_mut) {
                    table.insert(key.to_owned(), value);
                    overrides.origins.insert(setting, variable.clone());
                }
            }
            [group, ..]
                if ["collector", "webhook", "tenants", "dataverse"]
                    .iter()
                    .any(|g| g.eq_ignore_ascii_case(group)) =>
            {
                return Err(bad_variable(
                    variable,
                    &group.to_ascii_lowercase(),
                    format!("{variable} does not name a setting"),
                    "write D365AUDIT_COLLECTOR__<KEY>, D365AUDIT_WEBHOOK__<KEY>, \
                     D365AUDIT_TENANTS__<NAME>__<KEY> or D365AUDIT_DATAVERSE__<NAME>__<KEY> (levels joined by two underscores)"
                        .to_owned(),
                ));
            }
            _ => {}
        }
    }
    Ok(overrides)
}
