//! `d365audit collect [--once]`: collect from every configured tenant into the archive, once
//! (catch up, print a summary, exit) or continuously until Ctrl-C / SIGTERM.
//!
//! Exit status of `--once`: 0 everything collected; 2 something was lost (a gap: an expired or
//! unreadable blob, a range no longer listable); 4 not everything could be collected now (a
//! feed is failing or blobs wait for a retry), nothing lost yet, a later run continues.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use collector::{CollectionSummary, Collector, FeedOutcome};
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::archive_url::ArchiveLocation;
use crate::collection_setup::{load_collection_settings, open_queued};

#[derive(Debug, clap::Args)]
pub(crate) struct CollectArgs {
    /// Catch up once and exit (for cron or a systemd timer); without it, collect until stopped.
    #[arg(long)]
    once: bool,

    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Cancels `token` on Ctrl-C or SIGTERM.
fn stop_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = match signal(SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    token.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("stopping: finishing the blobs in hand (unfinished ones are redone next time)");
        token.cancel();
    });
}

pub(crate) async fn run(
    args: CollectArgs,
    config: Option<&Path>,
    location: &ArchiveLocation,
) -> anyhow::Result<u8> {
    let settings = load_collection_settings(config)?;
    let archive = open_queued(location).await?;
    let shutdown = CancellationToken::new();
    stop_on_signal(shutdown.clone());
    let collector =
        Collector::new(&settings, archive, Arc::new(clock::SystemClock), shutdown.clone())?;
    if !args.once {
        eprintln!("collecting until Ctrl-C; `d365audit status` shows progress");
        collector.run().await?;
        return Ok(0);
    }
    let waiting_before: u64 = collector.status().await?.feeds.iter().map(|f| f.backlog).sum();
    let bar = ProgressBar::new(waiting_before);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} blobs, {msg}",
        )?
        .progress_chars("=> "),
    );
    let progress = {
        let collector = collector.clone();
        let bar = bar.clone();
        tokio::spawn(async move {
            loop {
                let c = collector.metrics().counters;
                bar.set_length(waiting_before + c.blobs_new);
                bar.set_position(c.blobs_done + c.blobs_retrying + c.gaps() - c.windows_lost);
                bar.set_message(format!("{} records", c.records_kept));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let summary = collector.run_once().await;
    progress.abort();
    bar.finish_and_clear();
    let summary = summary?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(if summary.gaps() > 0 {
        2
    } else if !summary.complete() {
        4
    } else {
        0
    })
}

fn print_summary(summary: &CollectionSummary) {
    let c = &summary.counts;
    println!(
        "blobs: {} listed, {} new, {} stored; records: {} new, {} duplicates skipped, {} outside \
         the configured workloads, {} quarantined",
        c.blobs_listed,
        c.blobs_new,
        c.blobs_done,
        c.records_kept,
        c.duplicates_skipped,
        c.out_of_scope,
        c.records_quarantined
    );
    for feed in &summary.feeds {
        let until = feed.listed_until.map_or_else(|| "never".to_owned(), |t| t.to_rfc3339());
        let state = match &feed.outcome {
            FeedOutcome::CaughtUp => "caught up".to_owned(),
            FeedOutcome::AwaitingFirstContent => {
                "no content yet (a new subscription can take up to 12 hours)".to_owned()
            }
            FeedOutcome::Interrupted => "interrupted".to_owned(),
            FeedOutcome::Failing { error, action, .. } => format!("FAILING: {error}; {action}"),
        };
        println!("{} {}: listed until {until}: {state}", feed.tenant, feed.content_type);
    }
    if summary.gaps() > 0 {
        println!(
            "GAPS: {} expired, {} unreadable (bytes in quarantine), {} given up, {} ranges no \
             longer listable: `d365audit status` lists them",
            c.blobs_expired, c.blobs_quarantined, c.blobs_failed, c.windows_lost
        );
    }
    if summary.blobs_waiting > 0 {
        println!(
            "{} blobs wait for a retry or another collector's lease: the next run takes them",
            summary.blobs_waiting
        );
    }
}
