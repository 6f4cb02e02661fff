//! `d365audit config init|check`: write the commented example configuration, or check a
//! configuration (every setting and every credential source) without calling Microsoft.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::collection_setup::load_settings;

#[derive(Debug, clap::Args)]
pub(crate) struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ConfigCommand {
    /// Write an example configuration with every setting, commented.
    Init {
        /// Where to write it (default: standard output).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Read the configuration given with --config and every secret and certificate it names;
    /// print what would be collected. Nothing is sent to Microsoft.
    Check,
}

pub(crate) fn run(args: ConfigArgs, config: Option<&std::path::Path>) -> anyhow::Result<u8> {
    match args.command {
        ConfigCommand::Init { output: None, .. } => {
            std::io::stdout().write_all(settings::example().as_bytes())?;
            Ok(0)
        }
        ConfigCommand::Init { output: Some(path), force } => {
            if path.exists() && !force {
                bail!("{} exists already; pass --force to replace it", path.display());
            }
            std::fs::write(&path, settings::example())
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("wrote {}", path.display());
            println!(
                "next: set tenant_id and client_id, export CONTOSO_CLIENT_SECRET (the secret's \
                 value), then `d365audit --config {} config check` and `subscribe start`",
                path.display()
            );
            Ok(0)
        }
        ConfigCommand::Check => {
            let Some(file) = config else {
                bail!("pass the configuration file with --config (or D365AUDIT_CONFIG)");
            };
            let settings = load_settings(Some(file))?;
            println!("{}: configuration version {}", file.display(), settings::CURRENT_VERSION);
            println!("archive: {}", settings.archive.as_deref().unwrap_or("(not set)"));
            let mut problems = 0;
            for tenant in settings.select_tenants(&[])? {
                let credential = match tenant.credential() {
                    Ok(_) => "credential readable".to_owned(),
                    Err(error) => {
                        problems += 1;
                        format!("credential NOT usable: {error}")
                    }
                };
                let types: Vec<&str> = tenant.content_types.iter().map(|c| c.as_str()).collect();
                println!(
                    "tenant {} ({}): {} at {}, {credential}",
                    tenant.name,
                    tenant.tenant_id,
                    types.join(", "),
                    tenant.endpoints.api_base
                );
            }
            if let Some(auth) = &settings.webhook.auth_id
                && let Err(error) = auth.read()
            {
                problems += 1;
                println!("webhook authId NOT usable: {error}");
            }
            Ok(if problems > 0 { 2 } else { 0 })
        }
    }
}
