//! `d365audit dataverse sync|check`: classic Dataverse audit (old and new values of changed
//! columns, sharing, role changes, user access) from the configured environments into the
//! archive, and a check of an environment's audit settings and of the app's access to them.
//!
//! Exit status of `sync`: 0 every environment synced; 2 some rows or details were quarantined
//! (kept with their bytes, see `d365audit quarantine`); 4 an environment failed (what was
//! stored stays stored; the next sync continues where it stopped).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use archive::{Archive, ChangeStore};
use dataverse::client::{DataverseClient, DataverseSettings as ClientSettings};
use dataverse::sync::{DetailPolicy, SyncOptions, SyncProgress, SyncSummary};
use indicatif::{ProgressBar, ProgressStyle};
use settings::{DataverseSettings, Settings};
use tokio_util::sync::CancellationToken;

use crate::archive_url::ArchiveLocation;
use crate::collection_setup::load_settings;

#[derive(Debug, clap::Args)]
pub(crate) struct DataverseArgs {
    #[command(subcommand)]
    command: DataverseCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DataverseCommand {
    /// Sync the audit table of the configured environments once: new rows since the last sync
    /// (minus the overlap), with their old and new values.
    Sync(SyncArgs),
    /// Sign in to each environment and print its audit settings (is auditing on, retention).
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
struct SyncArgs {
    /// Only these environments (names of [dataverse.<name>] tables); default: all.
    #[arg(long = "environment", value_name = "NAME")]
    environments: Vec<String>,
    /// Read again from this UTC date or time, whatever was synced before (rows already stored
    /// are counted, not stored twice).
    #[arg(long, value_name = "TIME")]
    rescan_from: Option<String>,
    /// Read rows up to this UTC date or time only.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Which rows get their old and new values (one RetrieveAuditDetails request each):
    /// `needed` (changes, deletes, sharing, N:N, roles, user access), `all`, or `never`.
    #[arg(long, value_enum, default_value = "needed")]
    details: Details,
    /// Print the summaries as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// Only these environments; default: all.
    #[arg(long = "environment", value_name = "NAME")]
    environments: Vec<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Details {
    Needed,
    All,
    Never,
}

/// A client for one configured environment, signing in with its tenant's app registration.
pub(crate) fn client_for(
    settings: &Settings,
    environment: &DataverseSettings,
) -> anyhow::Result<DataverseClient> {
    let tenant = settings
        .tenant(&environment.tenant)
        .with_context(|| format!("dataverse.{}: its tenant is not configured", environment.name))?;
    let mut client = ClientSettings::new(
        environment.url.clone(),
        tenant.endpoints.login_base.clone(),
        tenant.tenant_id.to_string(),
        tenant.client_id.to_string(),
        tenant.credential()?,
    );
    client.token_endpoint = tenant.token_endpoint;
    client.concurrency = environment.detail_concurrency;
    client.retry = settings.collector.request_retry;
    client.request_timeout = settings.collector.request_timeout;
    DataverseClient::new(client, Arc::new(clock::SystemClock))
        .with_context(|| format!("dataverse.{} cannot be used", environment.name))
}

/// How a configured environment syncs.
pub(crate) fn sync_options(environment: &DataverseSettings) -> SyncOptions {
    SyncOptions {
        overlap: environment.overlap,
        initial_start: environment.since,
        page_size: environment.page_size,
        ..SyncOptions::default()
    }
}

/// Syncs one environment in the background, at once and then every `interval`, until `stop`
/// is cancelled (`serve`, `demo`). Failures are logged and retried at the next interval.
pub(crate) fn spawn_sync(
    client: DataverseClient,
    environment: &DataverseSettings,
    archive: Arc<dyn Archive>,
    changes: Arc<dyn ChangeStore>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (options, interval) = (sync_options(environment), environment.interval);
    tokio::spawn(async move {
        dataverse::sync::sync_every(
            &client,
            archive.as_ref(),
            changes.as_ref(),
            &options,
            interval,
            &stop,
            &mut |_| {},
        )
        .await;
    })
}

pub(crate) async fn run(
    args: DataverseArgs,
    config: Option<&Path>,
    location: &ArchiveLocation,
) -> anyhow::Result<u8> {
    let settings = load_settings(config)?;
    match args.command {
        DataverseCommand::Sync(args) => sync(args, &settings, location).await,
        DataverseCommand::Check(args) => check(args, &settings).await,
    }
}

async fn sync(
    args: SyncArgs,
    settings: &Settings,
    location: &ArchiveLocation,
) -> anyhow::Result<u8> {
    let environments = settings.select_dataverse(&args.environments)?;
    let parse =
        |text: &Option<String>| text.as_deref().map(crate::history_cmd::parse_time).transpose();
    let rescan_from = parse(&args.rescan_from)?;
    let until = parse(&args.until)?;
    let opened = location.open().await?;
    let (archive, changes) = (opened.archive(), opened.changes());
    let cancel = CancellationToken::new();
    {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            crate::serve_cmd::stop_signal().await;
            eprintln!("stopping after the page in hand (the next sync continues from there)");
            cancel.cancel();
        });
    }
    let mut summaries: Vec<SyncSummary> = Vec::new();
    let mut failed = 0;
    for environment in environments {
        let client = client_for(settings, environment)?;
        let mut options = sync_options(environment);
        options.rescan_from = rescan_from;
        options.until = until;
        options.cancel = cancel.clone();
        options.details = match args.details {
            Details::Needed => DetailPolicy::Needed,
            Details::All => DetailPolicy::All,
            Details::Never => DetailPolicy::Never,
        };
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")?);
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        let progress = {
            let bar = bar.clone();
            move |p: &SyncProgress| {
                bar.set_message(format!(
                    "{}: {} rows ({} new, {} details), {:.0} rows/s, up to {}",
                    p.environment,
                    p.counts.rows,
                    p.counts.inserted,
                    p.counts.details,
                    p.rows_per_second(),
                    p.cursor.map(|c| c.to_rfc3339()).unwrap_or_else(|| "-".into())
                ));
            }
        };
        let result = dataverse::sync::sync_environment(
            &client,
            archive.as_ref() as &dyn Archive,
            changes.as_ref() as &dyn ChangeStore,
            &options,
            &progress,
        )
        .await;
        bar.finish_and_clear();
        match result {
            Ok(summary) => {
                if !args.json {
                    println!("{summary}");
                }
                summaries.push(summary);
            }
            Err(error) => {
                failed += 1;
                eprintln!("error: dataverse.{}: {error}", environment.name);
            }
        }
        if cancel.is_cancelled() {
            break;
        }
    }
    opened.close().await?;
    if args.json {
        let json: Vec<serde_json::Value> = summaries.iter().map(summary_json).collect();
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    let quarantined: u64 = summaries.iter().map(|s| s.counts.quarantined).sum();
    Ok(if failed > 0 {
        4
    } else if quarantined > 0 {
        2
    } else {
        0
    })
}

fn summary_json(summary: &SyncSummary) -> serde_json::Value {
    let c = &summary.counts;
    serde_json::json!({
        "environment": summary.environment,
        "cursor": summary.cursor,
        "from": summary.from,
        "pages": c.pages,
        "rows": c.rows,
        "inserted": c.inserted,
        "duplicates": c.duplicates,
        "quarantined": c.quarantined,
        "details": c.details,
        "details_missing": c.details_missing,
        "details_malformed": c.details_malformed,
        "cancelled": summary.cancelled,
        "seconds": summary.elapsed.as_secs_f64(),
    })
}

async fn check(args: CheckArgs, settings: &Settings) -> anyhow::Result<u8> {
    let mut failed = 0;
    for environment in settings.select_dataverse(&args.environments)? {
        let client = client_for(settings, environment)?;
        match client.organization_settings().await {
            Ok(org) => {
                let yes_no = |v: Option<bool>| match v {
                    Some(true) => "on",
                    Some(false) => "OFF",
                    None => "unknown",
                };
                let retention = match org.retention_days {
                    Some(-1) => "forever".to_owned(),
                    Some(days) => format!("{days} days"),
                    None => "unknown".to_owned(),
                };
                println!(
                    "{}: {} signed in; auditing {}, user access auditing {} (every {} h), new \
                     audit rows kept {retention}",
                    environment.name,
                    client.environment(),
                    yes_no(org.audit_enabled),
                    yes_no(org.user_access_audit_enabled),
                    org.user_access_interval_hours
                        .map_or_else(|| "?".to_owned(), |h| h.to_string()),
                );
                if org.audit_enabled == Some(false) {
                    eprintln!(
                        "warning: dataverse.{}: auditing is off, so Dataverse records no changes; \
                         turn it on in the Power Platform admin center (Settings > Audit and logs)",
                        environment.name
                    );
                }
            }
            Err(error) => {
                failed += 1;
                eprintln!("error: dataverse.{}: {error}", environment.name);
            }
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}
