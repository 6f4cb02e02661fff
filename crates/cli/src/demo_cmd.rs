//! `d365audit demo`: the product on a laptop in a minute, with no tenant. Starts the emulator
//! in-process with a week of realistic Dynamics 365 activity, collects it into a fresh SQLite
//! archive through the real collector (and the emulated environment's classic Dataverse audit
//! through the real Dataverse sync), and serves the web UI and API with a demo account, while
//! collection goes on as the emulated tenant produces more activity.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use archive::{AccessStore, NewAccount, Role};
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Where the web UI listens; when the port is taken, a free one is chosen and printed.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Seed of the emulated activity: the same seed shows the same week.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// People using Dynamics 365 in the emulated tenant (more people, more records).
    #[arg(long, default_value_t = 40)]
    users: usize,
}

/// Name of the demo account.
const DEMO_USER: &str = "demo";

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<u8> {
    let mut config = emulator::EmulatorConfig::demo(args.seed);
    config.activity.users = args.users.max(1);
    let clock = config.clock.clone();
    let emulator = emulator::start(config).await.context("cannot start the emulator")?;

    let folder = std::env::temp_dir().join(format!("d365audit-demo-{}", std::process::id()));
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let path = folder.join("archive.db");
    let archive = Arc::new(
        archive_sqlite::SqliteArchive::open(&path, clock.clone())
            .with_context(|| format!("cannot create the archive {}", path.display()))?,
    );

    // The collector reads its tenant like any other: a configuration plus a secret from the
    // environment (here a private map, never the process environment or the command line).
    let toml = format!(
        "version = 1\n\
         archive = \"sqlite://{archive}\"\n\
         [collector]\n\
         poll_interval = \"30s\"\n\
         workers = 8\n\
         [tenants.contoso]\n\
         tenant_id = \"{tenant}\"\n\
         login_base = \"{login}\"\n\
         api_base = \"{api}\"\n\
         client_id = \"{client}\"\n\
         client_secret_env = \"D365AUDIT_DEMO_CLIENT_SECRET\"\n\
         # The emulator on loopback has no quota: pace far above Microsoft's 2,000/min.\n\
         requests_per_minute = 100000\n\
         request_burst = 200\n\
         [dataverse.contoso]\n\
         url = \"{dataverse}\"\n\
         tenant = \"contoso\"\n\
         interval = \"1m\"\n",
        archive = path.display(),
        tenant = emulator::demo::TENANT_ID,
        login = emulator.login_base(),
        api = emulator.api_base(),
        dataverse = emulator.dataverse_url(),
        client = emulator::demo::CLIENT_ID,
    );
    let env = BTreeMap::from([(
        "D365AUDIT_DEMO_CLIENT_SECRET".to_string(),
        emulator::demo::SECRET_VALUE.to_string(),
    )]);
    let settings = settings::Settings::from_toml_str(&toml, &folder, &env)
        .context("the demo configuration is not valid")?;
    let stop = CancellationToken::new();
    let collector =
        collector::Collector::new(&settings, archive.clone(), clock.clone(), stop.clone())
            .context("cannot start the collector")?;

    eprintln!("collecting a week of Dynamics 365 activity from the emulated tenant...");
    let started = std::time::Instant::now();
    let summary = collector.run_once().await.context("the first collection failed")?;
    let records = archive::Archive::summary(archive.as_ref()).await?.records;
    eprintln!(
        "collected {} blobs, {records} records in {:.1} s into {}",
        summary.counts.blobs_done,
        started.elapsed().as_secs_f64(),
        path.display()
    );

    // Classic Dataverse audit of the emulated environment: old and new values of changes.
    let environment = settings.dataverse.first().context("the demo has a Dataverse environment")?;
    let dataverse = crate::dataverse_cmd::client_for(&settings, environment)?;
    let options = crate::dataverse_cmd::sync_options(environment);
    let synced = dataverse::sync::sync_environment(
        &dataverse,
        archive.as_ref(),
        archive.as_ref(),
        &options,
        &dataverse::sync::no_progress,
    )
    .await
    .context("the first Dataverse audit sync failed")?;
    eprintln!(
        "synced {} Dataverse audit changes ({} with old and new values) from {}",
        synced.counts.inserted,
        synced.counts.details,
        dataverse.environment()
    );
    let dataverse_sync = crate::dataverse_cmd::spawn_sync(
        dataverse,
        environment,
        archive.clone(),
        archive.clone(),
        stop.clone(),
    );

    let password = server::secrets::new_session_token();
    let hash = server::secrets::hash_password(&password)
        .map_err(|e| anyhow::anyhow!("cannot hash the demo password: {e}"))?;
    archive
        .create_account(
            NewAccount {
                username: DEMO_USER.to_string(),
                display_name: "Demo administrator".to_string(),
                role: Role::Admin,
                password_hash: hash,
            },
            clock.now(),
        )
        .await?;

    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(_) => tokio::net::TcpListener::bind(SocketAddr::new(args.listen.ip(), 0))
            .await
            .context("cannot listen on a free port")?,
    };
    let address = listener.local_addr()?;
    let state = server::ServerState::new(
        archive.clone(),
        clock.clone(),
        server::ServerSettings { secure_cookies: false, ..server::ServerSettings::default() },
        crate::collection_hooks::hooks(&collector),
    );
    let background = tokio::spawn({
        let collector = collector.clone();
        async move { collector.run().await }
    });
    crate::output::banner(&format!(
        "\nd365audit demo is ready: http://{address}/\n\
         \x20 sign in as `{DEMO_USER}` with password {}\n\
         \x20 the archive is {} (a throwaway copy)\n\
         \x20 the emulated tenant keeps producing activity; collection goes on. Ctrl-C stops.\n",
        password.expose(),
        path.display()
    ));
    server::serve(listener, state, crate::serve_cmd::stop_signal())
        .await
        .context("the server stopped")?;
    stop.cancel();
    let _ = background.await;
    let _ = dataverse_sync.await;
    archive.close().await?;
    emulator.shutdown().await;
    Ok(0)
}
