//! The `d365audit` binary: parses the command line and hands each subcommand to the libraries.

mod account_cmds;
mod archive_cmds;
mod archive_url;
mod collect_cmd;
mod collection_hooks;
mod collection_setup;
mod config_cmd;
mod dataverse_cmd;
mod demo_cmd;
mod emulator_cmd;
mod history_cmd;
mod import_cmd;
mod output;
mod serve_cmd;
mod status_cmd;
mod subscribe_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::archive_url::ArchiveLocation;

/// mimalloc instead of the C library's allocator: ingest allocates and frees many small values
/// on different threads (parsing, packing, the writer, the release thread), and with glibc's
/// allocator that cost about 15% of the CPU of an ingest (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// d365audit: a self-hosted, evidence-grade archive for Dynamics 365 / Dataverse audit and
/// activity logs.
#[derive(Debug, Parser)]
#[command(
    name = "d365audit",
    version,
    about = "A self-hosted, evidence-grade archive for Dynamics 365 / Dataverse audit and activity logs",
    long_about = None
)]
struct Cli {
    /// Where the archive is: sqlite://PATH (embedded default) or postgres://USER@HOST/DB. Keep
    /// passwords out of the command line: set D365AUDIT_ARCHIVE or use ~/.pgpass. Default: the
    /// configuration file's `archive`, else sqlite://d365audit.db.
    #[arg(long, global = true, env = "D365AUDIT_ARCHIVE")]
    archive: Option<String>,

    /// The configuration file (tenants, credentials, collector tuning); `d365audit config init`
    /// writes an example.
    #[arg(long, global = true, env = "D365AUDIT_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,

    /// Log filter, e.g. `info`, `debug`, `o365=debug`.
    #[arg(long, global = true, env = "D365AUDIT_LOG", default_value = "warn")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Try the product with no tenant: the emulator with a week of realistic Dynamics 365
    /// activity, collected into a fresh archive, served on http://127.0.0.1:8080.
    Demo(demo_cmd::DemoArgs),
    /// Import files of activity records (JSON arrays or JSON lines, as the Management Activity
    /// API returns them).
    ImportJson(import_cmd::ImportJsonArgs),
    /// Import Purview audit exports (CSV from the portal's audit search or from
    /// Search-UnifiedAuditLog); Dynamics 365 records only unless --all-workloads.
    ImportPurview(import_cmd::ImportPurviewArgs),
    /// Import an on-premises AuditBase export (with its attribute metadata) as field history.
    ImportAuditbase(import_cmd::ImportAuditBaseArgs),
    /// Search the archive with filters; newest first, a page at a time.
    Search(archive_cmds::SearchArgs),
    /// Timeline of one Dataverse record: every read, appearance in a RetrieveMultiple result,
    /// export and change, oldest first.
    Record(archive_cmds::TimelineArgs),
    /// Timeline of one user (`user UPN`): everything they did, oldest first. Or manage the
    /// accounts of the web UI and API: `user add|list|disable|enable|set-role|set-password`.
    User(account_cmds::UserArgs),
    /// API tokens for scripts: `token create|list|revoke` (a token is printed once).
    Token(account_cmds::TokenArgs),
    /// Serve the web UI and the REST API (sign-in required) over the archive, with /healthz,
    /// /metrics and the Office 365 webhook endpoint.
    Serve(serve_cmd::ServeArgs),
    /// One record in full: normalized fields and the bytes as received.
    Show(archive_cmds::ShowArgs),
    /// Counts of matching records by day, hour, user, entity, message, access or category.
    Report(archive_cmds::ReportArgs),
    /// Export matching records exactly as received (JSON lines, a JSON array, or Purview CSV).
    Export(archive_cmds::ExportArgs),
    /// Prove that nothing stored was altered or removed: re-hash every record, check every
    /// sealed batch and the chain that links them.
    Verify(archive_cmds::VerifyArgs),
    /// List input that could not be parsed, kept with its bytes.
    Quarantine(archive_cmds::QuarantineArgs),
    /// Run the local emulator of Entra ID and the Office 365 Management Activity API, serving
    /// realistic Dynamics 365 activity, so any client can be pointed at it without a tenant.
    Emulator(emulator_cmd::EmulatorArgs),
    /// Write an example configuration file, or check one.
    Config(config_cmd::ConfigArgs),
    /// Classic Dataverse audit: `dataverse sync` copies the audit table of the configured
    /// environments (old and new values) into the archive; `dataverse check` signs in and shows
    /// each environment's audit settings.
    Dataverse(dataverse_cmd::DataverseArgs),
    /// Field history of one Dataverse record: every audited change with old -> new value, who
    /// and when (from `dataverse sync` or `import-auditbase`).
    History(history_cmd::HistoryArgs),
    /// The Web API request that would put a record's audited columns back as they were at a
    /// point in time (printed for review, never sent).
    RestorePlan(history_cmd::RestorePlanArgs),
    /// Start, stop or list the Management Activity API subscriptions of the configured tenants.
    Subscribe(subscribe_cmd::SubscribeArgs),
    /// Collect activity from the configured tenants into the archive (`--once`: catch up and
    /// exit).
    Collect(collect_cmd::CollectArgs),
    /// Collection status per tenant and content type: how far listed, lag, backlog, gaps, last
    /// error.
    Status(status_cmd::StatusArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    let config = cli.config.as_deref();
    let archive = cli.archive.as_deref();
    let location =
        || collection_setup::archive_text(archive, config).and_then(|t| ArchiveLocation::parse(&t));
    match cli.command {
        Command::Emulator(args) => emulator_cmd::run(args).await.map(|()| 0),
        Command::Demo(args) => demo_cmd::run(args).await,
        Command::Config(args) => config_cmd::run(args, config),
        Command::Subscribe(args) => subscribe_cmd::run(args, config).await,
        Command::Collect(args) => collect_cmd::run(args, config, &location()?).await,
        Command::Status(args) => status_cmd::run(args, config, &location()?).await,
        Command::Dataverse(args) => dataverse_cmd::run(args, config, &location()?).await,
        Command::User(args) if args.is_account_command() => {
            account_cmds::user(args, &location()?).await
        }
        Command::Token(args) => account_cmds::token(args, &location()?).await,
        Command::Serve(args) => serve_cmd::run(args, config, &location()?).await,
        Command::ImportJson(args) => {
            let opened = location()?.open().await?;
            let status = import_cmd::run(opened.archive().as_ref(), args).await?;
            opened.close().await?;
            Ok(status)
        }
        Command::ImportPurview(args) => {
            let opened = location()?.open().await?;
            let status = import_cmd::run_purview(opened.archive().as_ref(), args).await?;
            opened.close().await?;
            Ok(status)
        }
        Command::ImportAuditbase(args) => {
            let opened = location()?.open().await?;
            let status = import_cmd::run_auditbase(opened.changes().as_ref(), args).await?;
            opened.close().await?;
            Ok(status)
        }
        Command::Verify(args) => {
            let archive = location()?.open_for_queries().await?.archive();
            archive_cmds::verify(archive.as_ref(), args).await
        }
        Command::History(args) => {
            let changes = location()?.open_for_queries().await?.changes();
            history_cmd::history(changes.as_ref(), args).await
        }
        Command::RestorePlan(args) => {
            let changes = location()?.open_for_queries().await?.changes();
            history_cmd::restore_plan(changes.as_ref(), args).await
        }
        command => {
            let archive = location()?.open_for_queries().await?.archive();
            let archive = archive.as_ref();
            match command {
                Command::Search(args) => archive_cmds::search(archive, args).await?,
                Command::Record(args) => archive_cmds::record_timeline(archive, args).await?,
                Command::User(args) => {
                    archive_cmds::user_timeline(archive, args.into_timeline()?).await?
                }
                Command::Show(args) => archive_cmds::show(archive, args).await?,
                Command::Report(args) => archive_cmds::report(archive, args).await?,
                Command::Export(args) => archive_cmds::export(archive, args).await?,
                Command::Quarantine(args) => archive_cmds::quarantine(archive, args).await?,
                Command::Emulator(_)
                | Command::Demo(_)
                | Command::ImportJson(_)
                | Command::ImportPurview(_)
                | Command::ImportAuditbase(_)
                | Command::Verify(_)
                | Command::History(_)
                | Command::Dataverse(_)
                | Command::RestorePlan(_)
                | Command::Config(_)
                | Command::Subscribe(_)
                | Command::Collect(_)
                | Command::Status(_)
                | Command::Token(_)
                | Command::Serve(_) => unreachable!("handled above"),
            }
            Ok(0)
        }
    }
}
