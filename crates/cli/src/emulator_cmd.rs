//! `d365audit emulator`: runs the emulator of Entra ID and the Management Activity API until
//! Ctrl-C, and prints how to point a client at it.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub(crate) struct EmulatorArgs {
    /// TOML file with tenants, app registrations, activity volume and faults. Without it the
    /// emulator serves one demo tenant with a week of activity.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Seed of the activity generator: the same seed serves the same records.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Where the Entra ID token endpoints listen (plays login.microsoftonline.com).
    #[arg(long, default_value = "127.0.0.1:8401")]
    login_listen: SocketAddr,

    /// Where the Management Activity API listens (plays manage.office.com).
    #[arg(long, default_value = "127.0.0.1:8402")]
    api_listen: SocketAddr,

    /// Where the Dataverse environment's Web API listens (plays contoso.crm.dynamics.com).
    /// Default: the config file's `[dataverse] listen`, else 127.0.0.1:8403.
    #[arg(long)]
    dataverse_listen: Option<SocketAddr>,
}

pub(crate) async fn run(args: EmulatorArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => emulator::EmulatorConfig::from_toml_file(path)
            .with_context(|| format!("the emulator config {} cannot be used", path.display()))?,
        None => {
            let mut config = emulator::EmulatorConfig::demo(args.seed);
            config.dataverse.listen = SocketAddr::from(([127, 0, 0, 1], 8403));
            config
        }
    };
    if let Some(listen) = args.dataverse_listen {
        config.dataverse.listen = listen;
    }
    let summary = describe(&config);
    let running = emulator::start_on(config, args.login_listen, args.api_listen).await.context(
        "cannot start the emulator (is a port already taken? use --login-listen, --api-listen, \
         --dataverse-listen)",
    )?;
    crate::output::banner(&format!(
        "d365audit emulator is running (Ctrl-C stops it)\n\
         \x20 login base (Entra ID):           {}\n\
         \x20 API base (Management Activity):  {}\n\
         \x20 Dataverse environment URL:       {}\n\
         \x20 control:                         {}_emulator/faults\n{summary}\n",
        running.login_base(),
        running.api_base(),
        running.dataverse_url(),
        running.api_base()
    ));
    tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
    running.shutdown().await;
    Ok(())
}

/// Tenants and app registrations, so a user can configure a client. The demo's secrets are
/// public test values of this emulator, not credentials of any real tenant.
fn describe(config: &emulator::EmulatorConfig) -> String {
    let mut text = String::new();
    for tenant in &config.tenants {
        text.push_str(&format!("  tenant {} ({})\n", tenant.tenant_id, tenant.domain));
        for app in &tenant.apps {
            text.push_str(&format!(
                "    app (client id) {}  roles: {}\n",
                app.client_id,
                app.roles.join(", ")
            ));
        }
    }
    if config.tenants.iter().any(|t| t.tenant_id == emulator::demo::TENANT_ID) {
        text.push_str(&format!(
            "  demo secret of {}: {} (emulator test value; the certificate is \
             crates/emulator/testdata/app-cert.pem with app-key.pem)\n",
            emulator::demo::CLIENT_ID,
            emulator::demo::SECRET_VALUE
        ));
    }
    text
}
