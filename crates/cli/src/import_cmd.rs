//! `d365audit import-json`: files of activity records into the archive, with a progress bar and a
//! summary.

use std::path::PathBuf;

use archive::Archive;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, clap::Args)]
pub(crate) struct ImportJsonArgs {
    /// Files or folders (folders are searched for *.json, *.jsonl, *.ndjson). Each file holds a
    /// JSON array of records (as a content blob does), JSON lines, or objects one after another.
    #[arg(required = true, value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,

    /// Keep only these workloads (e.g. `--workload CRM`); by default every record is kept.
    #[arg(long = "workload", value_name = "NAME")]
    workloads: Vec<String>,

    /// Records per transaction.
    #[arg(long, default_value_t = 5_000)]
    batch_size: usize,

    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Shows a byte progress bar on standard error (hidden when it is not a terminal).
struct Bar(ProgressBar);

impl import::Progress for Bar {
    fn total_bytes(&self, total: u64) {
        self.0.set_length(total);
    }
    fn advanced(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn file(&self, path: &std::path::Path) {
        self.0.set_message(path.display().to_string());
    }
}

pub(crate) async fn run(archive: &dyn Archive, args: ImportJsonArgs) -> anyhow::Result<u8> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}",
        )?
        .progress_chars("=> "),
    );
    let options =
        import::json::JsonImport { workloads: args.workloads, batch_size: args.batch_size.max(1) };
    let progress = Bar(bar);
    let summary = import::json::import_json(archive, &args.paths, &options, &progress).await?;
    progress.0.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "imported {} files ({} bytes): {} records new, {} duplicates skipped, {} quarantined, {} outside the chosen workloads",
            summary.files,
            summary.bytes,
            summary.inserted,
            summary.duplicates,
            summary.quarantined,
            summary.skipped_out_of_scope
        );
        if summary.quarantined > 0 {
            println!(
                "quarantined items are kept with their bytes and line numbers: `d365audit quarantine` lists them"
            );
        }
    }
    // Malformed input is kept, not lost, but the user should look at it.
    Ok(if summary.quarantined > 0 { 2 } else { 0 })
}
