//! `d365audit status`: per tenant × content type, how far it is listed, the lag, the backlog,
//! gaps and the last error, from the archive (no call to Microsoft, no secrets needed).

use std::path::Path;

use clock::Clock;
use collector::{CollectionStatus, collection_status};

use crate::archive_url::ArchiveLocation;
use crate::collection_setup::{load_settings, open_existing_queued};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StatusFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    format: StatusFormat,

    /// How many recent blob gaps to show.
    #[arg(long, default_value_t = 20)]
    gaps: u32,
}

pub(crate) async fn run(
    args: StatusArgs,
    config: Option<&Path>,
    location: &ArchiveLocation,
) -> anyhow::Result<u8> {
    let settings = load_settings(config)?;
    let archive = open_existing_queued(location).await?;
    // `status` reports on the archive as it is: the machine's clock is the right "now".
    let now = clock::SystemClock.now();
    let status =
        collection_status(archive.as_ref(), &settings.tenants, &settings.collector, now, args.gaps)
            .await?;
    match args.format {
        StatusFormat::Json => println!("{}", serde_json::to_string_pretty(&status)?),
        StatusFormat::Table => print_table(&status),
    }
    Ok(0)
}

fn age(seconds: Option<i64>) -> String {
    match seconds {
        None => "-".to_owned(),
        Some(s) if s < 120 => format!("{s}s"),
        Some(s) if s < 7_200 => format!("{}m", s / 60),
        Some(s) if s < 172_800 => format!("{}h", s / 3600),
        Some(s) => format!("{}d", s / 86_400),
    }
}

fn print_table(status: &CollectionStatus) {
    let headers = [
        "tenant",
        "content type",
        "listed until",
        "lag",
        "backlog",
        "oldest",
        "done",
        "records",
        "gaps",
        "health",
        "note",
    ];
    let rows: Vec<Vec<String>> = status
        .feeds
        .iter()
        .map(|f| {
            let note = if f.failing_since.is_some() {
                f.listing_error.clone().unwrap_or_default()
            } else if let Some(lost) = f.lost_windows.last() {
                format!(
                    "{} range(s) no longer listable, last {} .. {}",
                    f.lost_windows.len(),
                    lost.start,
                    lost.end
                )
            } else if f.backlog_warning {
                "backlog older than the warning age: blobs expire after 7 days".to_owned()
            } else {
                f.notice.clone().or_else(|| f.blob_error.clone()).unwrap_or_default()
            };
            vec![
                f.tenant.clone(),
                f.content_type.clone(),
                f.listed_until
                    .map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
                age(f.lag_seconds),
                f.backlog.to_string(),
                age(f.backlog_age_seconds),
                f.blobs.get("done").copied().unwrap_or(0).to_string(),
                f.records.to_string(),
                f.gaps().to_string(),
                f.health().to_owned(),
                note.chars().take(120).collect(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate().take(headers.len() - 1) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        println!("{}", out.trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    if rows.is_empty() {
        println!("(nothing collected yet and no tenant configured: pass --config)");
    }
    for row in rows {
        line(row);
    }
    if !status.recent_gaps.is_empty() {
        println!();
        println!("recent gaps (blobs whose records are not in the archive):");
        for gap in &status.recent_gaps {
            println!(
                "  {} {} {} created {} after {} attempt(s): {}",
                gap.state.as_str(),
                gap.content_type,
                gap.content_id,
                gap.content_created.format("%Y-%m-%d %H:%M:%S"),
                gap.attempts,
                gap.error.chars().take(160).collect::<String>()
            );
        }
    }
}
