//! `d365audit serve`: the web UI and the REST API over the configured archive, plus `/healthz`,
//! `/metrics` and the Office 365 webhook endpoint, until Ctrl-C or SIGTERM.
//!
//! Secrets stay out of the command line: the webhook authId comes from the configuration file's
//! secret sources, the optional `/metrics` bearer token from `D365AUDIT_METRICS_TOKEN`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::SecretString;

use crate::archive_url::ArchiveLocation;
use crate::collection_setup::load_settings;

/// Whether session cookies carry `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CookieSecurity {
    /// Secure unless listening on loopback (plain http on one machine).
    Auto,
    /// Always (behind a TLS-terminating proxy, even one that connects over loopback).
    Always,
    /// Never (plain http across a network: not recommended).
    Never,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: the configuration's `webhook.listen`, 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// Mark session cookies `Secure` (sent over https only).
    #[arg(long, value_enum, default_value = "auto")]
    secure_cookies: CookieSecurity,

    /// How long a sign-in lasts, in hours.
    #[arg(long, default_value_t = 8, value_name = "HOURS")]
    session_hours: i64,

    /// Take client addresses from the last `X-Forwarded-For` hop. Only behind a reverse proxy
    /// that sets it: otherwise clients could write any address into the access log.
    #[arg(long)]
    trust_forwarded_for: bool,

    /// Time limit of one SQL console statement, in seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    sql_timeout: u64,

    /// Row limit of one SQL console statement.
    #[arg(long, default_value_t = 1_000, value_name = "ROWS")]
    sql_max_rows: u32,

    /// Working hours in UTC, Monday to Friday, as `START-END` in whole hours (`8-18`: from
    /// 08:00 to 18:00). The after-hours report and the user timeline mark activity outside them.
    #[arg(long, default_value = "8-18", value_name = "START-END", value_parser = working_hours)]
    working_hours: server::WorkingHours,
}

/// Parses `--working-hours`.
fn working_hours(text: &str) -> Result<server::WorkingHours, String> {
    let hour = |part: &str| -> Option<u32> {
        let part = part.trim();
        let part = part.strip_suffix(":00").unwrap_or(part);
        part.parse().ok().filter(|h| *h <= 24)
    };
    match text.split_once('-').map(|(a, b)| (hour(a), hour(b))) {
        Some((Some(start_hour), Some(end_hour))) if start_hour < end_hour => {
            Ok(server::WorkingHours { start_hour, end_hour })
        }
        _ => Err(format!(
            "`{text}` is not a span of whole UTC hours; write START-END with 0 <= START < END <= \
             24, for example 8-18 or 07:00-16:00"
        )),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("stopping: finishing the requests in flight");
}

pub(crate) async fn run(
    args: ServeArgs,
    config: Option<&Path>,
    location: &ArchiveLocation,
) -> anyhow::Result<u8> {
    let settings = load_settings(config)?;
    let listen = args.listen.unwrap_or(settings.webhook.listen);
    if !(1..=24 * 30).contains(&args.session_hours) {
        bail!("--session-hours is 1 to 720");
    }
    let opened = location.open().await?;
    let backend = opened.backend();
    if backend.accounts().await?.is_empty() {
        eprintln!(
            "warning: there are no accounts yet, so nobody can sign in: create one with \
             `d365audit user add NAME --role admin`"
        );
    }
    let webhook_auth_id =
        settings.webhook.auth_id.as_ref().map(|secret| secret.read()).transpose()?;
    let metrics_token = std::env::var("D365AUDIT_METRICS_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(SecretString::from);
    let secure_cookies = match args.secure_cookies {
        CookieSecurity::Auto => server::ServerSettings::secure_cookies_for(listen),
        CookieSecurity::Always => true,
        CookieSecurity::Never => false,
    };
    let server_settings = server::ServerSettings {
        session_lifetime: chrono::Duration::hours(args.session_hours),
        secure_cookies,
        sql: archive::SqlLimits {
            max_rows: args.sql_max_rows.max(1),
            timeout: Duration::from_secs(args.sql_timeout.max(1)),
        },
        webhook_auth_id,
        webhook_max_body_bytes: settings.webhook.max_body_bytes,
        metrics_token,
        trust_forwarded_for: args.trust_forwarded_for,
        working_hours: args.working_hours,
        ..server::ServerSettings::default()
    };
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| {
        format!(
            "cannot listen on {listen}: is another program using it? choose another with --listen"
        )
    })?;
    let address = listener.local_addr()?;
    // Collection runs inside `serve` when tenants are configured: continuous polling, the
    // webhook intake, the collector's metrics and feed status.
    let collection = if settings.tenants.is_empty() {
        eprintln!("no tenants configured: serving the archive without collecting");
        None
    } else {
        let queued = opened.queued();
        let stop = tokio_util::sync::CancellationToken::new();
        let collector = collector::Collector::new(
            &settings,
            queued,
            Arc::new(clock::SystemClock),
            stop.clone(),
        )
        .context("cannot start collection")?;
        collector.register_webhooks(settings.webhook.public_address.is_some());
        let task = tokio::spawn({
            let collector = collector.clone();
            async move { collector.run().await }
        });
        Some((collector, stop, task))
    };
    // Classic Dataverse audit of every configured environment, synced at its interval.
    let dataverse_stop = tokio_util::sync::CancellationToken::new();
    let mut dataverse_syncs = Vec::new();
    for environment in &settings.dataverse {
        let client = crate::dataverse_cmd::client_for(&settings, environment)?;
        eprintln!(
            "syncing the Dataverse audit of {} every {}",
            client.environment(),
            settings::format_duration(
                chrono::Duration::from_std(environment.interval).unwrap_or_default()
            )
        );
        dataverse_syncs.push(crate::dataverse_cmd::spawn_sync(
            client,
            environment,
            opened.archive(),
            opened.changes(),
            dataverse_stop.clone(),
        ));
    }
    let hooks = collection
        .as_ref()
        .map(|(collector, _, _)| crate::collection_hooks::hooks(collector))
        .unwrap_or_default();
    let state =
        server::ServerState::new(backend, Arc::new(clock::SystemClock), server_settings, hooks);
    eprintln!(
        "serving the web UI and the API on http://{address}/ (Ctrl-C stops){}",
        if secure_cookies && address.ip().is_loopback() {
            "; cookies are Secure: reach it through https"
        } else {
            ""
        }
    );
    server::serve(listener, state, stop_signal()).await.context("the server stopped")?;
    dataverse_stop.cancel();
    for sync in dataverse_syncs {
        if let Err(error) = sync.await {
            eprintln!("a Dataverse sync stopped abnormally: {error}");
        }
    }
    if let Some((_, stop, task)) = collection {
        stop.cancel();
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("collection stopped with an error: {error}"),
            Err(error) => eprintln!("collection stopped abnormally: {error}"),
        }
    }
    opened.close().await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::working_hours;

    #[test]
    fn working_hours_read_whole_hours_and_explain_mistakes() {
        let hours = |text| working_hours(text).map(|h| (h.start_hour, h.end_hour));
        assert_eq!(hours("8-18"), Ok((8, 18)));
        assert_eq!(hours("07:00-16:00"), Ok((7, 16)));
        assert_eq!(hours("0-24"), Ok((0, 24)));
        for wrong in ["18-8", "8", "8-25", "8:30-17", "nine-five"] {
            let error = hours(wrong).expect_err(wrong);
            assert!(error.contains("START-END"), "{error}");
        }
    }
}
