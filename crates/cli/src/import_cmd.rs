//! `d365audit import-json`, `import-purview` and `import-auditbase`: files of activity records,
//! Purview audit CSV exports and on-premises AuditBase exports into the archive, with a progress
//! bar and a summary.

use std::path::PathBuf;

use archive::{Archive, ChangeStore};
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

#[derive(Debug, clap::Args)]
pub(crate) struct ImportPurviewArgs {
    /// Purview audit exports (CSV): the portal's "Export" of an audit search (classic 4-column
    /// or the 2023+ 8-column layout) or `Search-UnifiedAuditLog | Export-Csv` output. Folders
    /// are searched for *.csv.
    #[arg(required = true, value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,

    /// Keep records of every workload (Exchange, SharePoint, ...), not only Dynamics 365.
    #[arg(long, conflicts_with = "workloads")]
    all_workloads: bool,

    /// Keep only these workloads (e.g. `--workload CRM --workload PowerApps`); by default the
    /// collector's default scope (`CRM`, Dynamics 365). Other records are counted as skipped.
    #[arg(long = "workload", value_name = "NAME")]
    workloads: Vec<String>,

    /// Records per transaction.
    #[arg(long, default_value_t = 5_000)]
    batch_size: usize,

    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

fn byte_bar() -> anyhow::Result<Bar> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}",
        )?
        .progress_chars("=> "),
    );
    Ok(Bar(bar))
}

/// `import-purview`: exit status 0 when every row was read, 2 when some were quarantined.
pub(crate) async fn run_purview(
    archive: &dyn Archive,
    args: ImportPurviewArgs,
) -> anyhow::Result<u8> {
    let workloads = if args.all_workloads {
        Vec::new()
    } else if !args.workloads.is_empty() {
        args.workloads
    } else {
        match settings::RecordScope::default() {
            settings::RecordScope::All => Vec::new(),
            settings::RecordScope::Workloads(names) => names,
        }
    };
    let options = import::purview::PurviewImport { workloads, batch_size: args.batch_size.max(1) };
    let progress = byte_bar()?;
    let summary =
        import::purview::import_purview(archive, &args.paths, &options, &progress).await?;
    progress.0.finish_and_clear();
    let totals = &summary.totals;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "imported {} files ({} bytes, {} rows): {} records new, {} duplicates skipped, {} of \
             other workloads skipped, {} quarantined",
            totals.files,
            totals.bytes,
            totals.items,
            totals.inserted,
            totals.duplicates,
            totals.skipped_out_of_scope,
            totals.quarantined
        );
        for file in &summary.per_file {
            let format = match file.format {
                import::purview::PurviewFormat::ClassicSearch => "classic audit search export",
                import::purview::PurviewFormat::AuditSearch => "Purview audit search export",
                import::purview::PurviewFormat::SearchUnifiedAuditLog => {
                    "Search-UnifiedAuditLog export"
                }
                import::purview::PurviewFormat::Other => "CSV with an AuditData column",
            };
            println!("  {}: {format}, {} rows", file.path.display(), file.rows);
        }
        if summary.creation_date_mismatches > 0 {
            println!(
                "{} rows have a CreationDate that differs from their AuditData's CreationTime \
                 (imported with AuditData's time; the export may have been edited)",
                summary.creation_date_mismatches
            );
        }
        if totals.quarantined > 0 {
            println!(
                "quarantined rows are kept with their bytes and line numbers: `d365audit quarantine` lists them"
            );
        }
    }
    Ok(if totals.quarantined > 0 { 2 } else { 0 })
}

#[derive(Debug, clap::Args)]
pub(crate) struct ImportAuditBaseArgs {
    /// The AuditBase export (CSV with a header): AuditId, CreatedOn (UTC), Action, Operation,
    /// ObjectId, ObjectTypeCode, AttributeMask, ChangeData; optionally UserId, CallingUserId,
    /// TransactionId, UserIdName, ObjectIdName.
    #[arg(long, value_name = "FILE")]
    audit: PathBuf,

    /// The attribute metadata (CSV): ObjectTypeCode, ColumnNumber, LogicalName and optionally
    /// EntityLogicalName (the table's name).
    #[arg(long, value_name = "FILE")]
    metadata: PathBuf,

    /// The records' current values (CSV: ObjectId, LogicalName, Value), for the new values of
    /// each column's latest change.
    #[arg(long, value_name = "FILE")]
    current_values: Option<PathBuf>,

    /// Changes per transaction.
    #[arg(long, default_value_t = 5_000)]
    batch_size: usize,

    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// `import-auditbase`: exit status 0 when every row was decoded (problems that still decode
/// are listed), 2 when some rows were quarantined.
pub(crate) async fn run_auditbase(
    changes: &dyn ChangeStore,
    args: ImportAuditBaseArgs,
) -> anyhow::Result<u8> {
    let files = import::auditbase::AuditBaseFiles {
        audit: args.audit,
        metadata: args.metadata,
        current_values: args.current_values,
    };
    let options = import::auditbase::AuditBaseImport {
        batch_size: args.batch_size.max(1),
        ..Default::default()
    };
    let progress = byte_bar()?;
    let summary = import::auditbase::import_auditbase(changes, &files, &options, &progress).await?;
    progress.0.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "imported {} rows of {} records: {} changes new, {} duplicates skipped, {} quarantined",
            summary.rows,
            summary.records,
            summary.inserted,
            summary.duplicates,
            summary.quarantined
        );
        let new = summary.new_values;
        println!(
            "new values: {} from newer rows, {} from current values, {} unknown",
            new.from_history, new.from_current, new.unknown
        );
        if summary.has_warnings() {
            println!(
                "decoded with problems: {} unknown column numbers (kept as column_<n>), {} unknown \
                 tables, {} rows whose AttributeMask and ChangeData counts differ, {} other",
                summary.unknown_columns,
                summary.unknown_tables,
                summary.count_mismatches,
                summary.other_problems
            );
            for problem in &summary.listed_problems {
                println!("  {problem}");
            }
        }
        if summary.quarantined > 0 {
            println!(
                "quarantined rows are kept with their bytes and line numbers: `d365audit quarantine` lists them"
            );
        }
    }
    Ok(if summary.quarantined > 0 { 2 } else { 0 })
}
