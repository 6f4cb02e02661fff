//! The subcommands that read the archive: `search`, `record`, `user`, `show`, `report`,
//! `export` and `verify`.

use std::io::Write;

use anyhow::{Context, bail};
use archive::{Archive, Dimension, Order, PageCursor, PageRequest, RecordQuery};
use chrono::Utc;

use crate::output::{Format, csv_cell, write_rows};

/// Filters shared by the query subcommands: a one-line query plus flags for the common ones.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct QueryArgs {
    /// One-line query, e.g. `user:alice@contoso.com entity:contact from:-30d "Fabrikam"`.
    /// Keys: user: org: entity: record: message: access: category: field: ip: correlation:
    /// workload: from: to: (times in UTC: 2026-06-01, 2026-06-01T10:00, -7d).
    #[arg(value_name = "QUERY")]
    query: Vec<String>,
}

impl QueryArgs {
    pub(crate) fn to_query(&self) -> anyhow::Result<RecordQuery> {
        Ok(RecordQuery::parse(&self.query.join(" "), Utc::now())?)
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct SearchArgs {
    #[command(flatten)]
    filters: QueryArgs,
    /// Rows per page.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Continue after this page token (printed at the end of the previous page).
    #[arg(long, value_name = "TOKEN")]
    after: Option<String>,
    /// Oldest first instead of newest first.
    #[arg(long)]
    oldest_first: bool,
    /// Print only how many records match.
    #[arg(long)]
    count: bool,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub(crate) async fn search(archive: &dyn Archive, args: SearchArgs) -> anyhow::Result<()> {
    let query = args.filters.to_query()?;
    if args.count {
        println!("{}", archive.count(&query).await?);
        return Ok(());
    }
    let page = PageRequest {
        limit: args.limit.clamp(1, archive::query::MAX_PAGE),
        after: args.after.as_deref().map(PageCursor::decode).transpose()?,
        order: if args.oldest_first { Order::OldestFirst } else { Order::NewestFirst },
    };
    let result = archive.search(&query, &page).await?;
    let mut out = std::io::stdout().lock();
    write_rows(&mut out, args.format, &result.rows, true)?;
    if let Some(next) = result.next {
        if args.format == Format::Table {
            writeln!(out, "\nmore: --after {}", next.encode())?;
        } else {
            eprintln!("more: --after {}", next.encode());
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct TimelineArgs {
    /// The record's GUID (for `record`) or the user's UPN / system user id (for `user`).
    subject: String,
    /// More filters, e.g. `from:-90d message:ExportToExcel`.
    #[command(flatten)]
    filters: QueryArgs,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// Every matching record, oldest first, streamed page by page.
async fn timeline(archive: &dyn Archive, query: RecordQuery, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let mut page = PageRequest { limit: 1_000, after: None, order: Order::OldestFirst };
    let mut first = true;
    let mut total = 0;
    loop {
        let result = archive.search(&query, &page).await?;
        total += result.rows.len();
        write_rows(&mut out, format, &result.rows, first)?;
        first = false;
        match result.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    if format == Format::Table {
        writeln!(out, "\n{total} events")?;
    }
    Ok(())
}

pub(crate) async fn record_timeline(
    archive: &dyn Archive,
    args: TimelineArgs,
) -> anyhow::Result<()> {
    let mut query = args.filters.to_query()?;
    let id = args.subject.trim_matches(|c| c == '{' || c == '}');
    query.record_id = Some(uuid::Uuid::parse_str(id).with_context(|| {
        format!(
            "`{}` is not a record GUID (e.g. 5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b)",
            args.subject
        )
    })?);
    timeline(archive, query, args.format).await
}

pub(crate) async fn user_timeline(archive: &dyn Archive, args: TimelineArgs) -> anyhow::Result<()> {
    let mut query = args.filters.to_query()?;
    query.users = vec![args.subject];
    timeline(archive, query, args.format).await
}

#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    /// The activity record's `Id`.
    id: String,
    /// Print only the record exactly as it was received.
    #[arg(long)]
    raw: bool,
}

pub(crate) async fn show(archive: &dyn Archive, args: ShowArgs) -> anyhow::Result<()> {
    let Some(stored) = archive.record(&args.id).await? else {
        bail!("no record with Id {} in this archive", args.id);
    };
    let mut out = std::io::stdout().lock();
    if args.raw {
        out.write_all(&stored.raw)?;
        writeln!(out)?;
        return Ok(());
    }
    let s = &stored.summary;
    let line = |out: &mut std::io::StdoutLock, k: &str, v: &str| writeln!(out, "{k:<22}{v}");
    line(&mut out, "Id", &s.id)?;
    line(&mut out, "Time (UTC)", &s.time.to_rfc3339())?;
    line(&mut out, "User", &s.user)?;
    if let Some(id) = s.system_user_id {
        line(&mut out, "System user id", &id.to_string())?;
    }
    line(&mut out, "Workload / type", &format!("{} / {}", s.workload, s.record_type))?;
    line(&mut out, "Message", s.message.as_deref().unwrap_or(&s.operation))?;
    line(&mut out, "Access", &s.access)?;
    for (k, v) in [
        ("Organization", &s.organization),
        ("Entity", &s.entity),
        ("Primary field value", &s.primary_field_value),
        ("Client IP", &s.client_ip),
        ("Result", &s.result_status),
        ("Item URL", &s.item_url),
        ("User agent", &stored.user_agent),
        ("Query", &stored.query),
    ] {
        if let Some(v) = v {
            line(&mut out, k, v)?;
        }
    }
    if let Some(id) = s.entity_id {
        line(&mut out, "Record", &id.to_string())?;
    }
    if !s.categories.is_empty() {
        line(&mut out, "Report categories", &s.categories.join(", "))?;
    }
    if !stored.query_results.is_empty() {
        line(&mut out, "Query results", &format!("{} records", stored.query_results.len()))?;
        for id in &stored.query_results {
            line(&mut out, "", id)?;
        }
    }
    for (name, value) in &stored.fields {
        line(&mut out, "Field", &format!("{name} = {value}"))?;
    }
    line(&mut out, "Stored in batch", &stored.batch.to_string())?;
    line(&mut out, "BLAKE3 of raw bytes", &stored.hash)?;
    writeln!(out, "\nAs received:")?;
    out.write_all(&stored.raw)?;
    writeln!(out)?;
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// What to count by.
    #[arg(long, value_enum, default_value = "day")]
    by: ReportBy,
    #[command(flatten)]
    filters: QueryArgs,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum ReportBy {
    Day,
    Hour,
    Weekday,
    User,
    Organization,
    Entity,
    Message,
    Access,
    Category,
}

pub(crate) async fn report(archive: &dyn Archive, args: ReportArgs) -> anyhow::Result<()> {
    let by = match args.by {
        ReportBy::Day => Dimension::Day,
        ReportBy::Hour => Dimension::HourOfDay,
        ReportBy::Weekday => Dimension::Weekday,
        ReportBy::User => Dimension::User,
        ReportBy::Organization => Dimension::Organization,
        ReportBy::Entity => Dimension::Entity,
        ReportBy::Message => Dimension::Message,
        ReportBy::Access => Dimension::Access,
        ReportBy::Category => Dimension::Category,
    };
    let buckets = archive.aggregate(&args.filters.to_query()?, by, args.limit).await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            for b in &buckets {
                serde_json::to_writer(&mut out, b)?;
                writeln!(out)?;
            }
        }
        Format::Csv => {
            writeln!(out, "key,count")?;
            for b in &buckets {
                writeln!(out, "{},{}", csv_cell(&b.key), b.count)?;
            }
        }
        Format::Table => {
            let width = buckets.iter().map(|b| b.key.chars().count()).max().unwrap_or(3).max(3);
            let max = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
            for b in &buckets {
                let bar = "█".repeat(((b.count * 40) / max) as usize);
                writeln!(out, "{:<width$}  {:>9}  {bar}", b.key, b.count)?;
            }
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    filters: QueryArgs,
    /// `jsonl`: one record per line, as received. `json`: one JSON array of the records as
    /// received. `csv`: the Purview audit export layout, with each record as received in the
    /// `AuditData` column.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: ExportFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExportFormat {
    Jsonl,
    Json,
    Csv,
}

pub(crate) async fn export(archive: &dyn Archive, args: ExportArgs) -> anyhow::Result<()> {
    let query = args.filters.to_query()?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut page = PageRequest { limit: 2_000, after: None, order: Order::OldestFirst };
    let (mut count, mut multi_line) = (0u64, 0u64);
    match args.format {
        ExportFormat::Json => out.write_all(b"[")?,
        ExportFormat::Csv => out.write_all(
            b"RecordId,CreationDate,RecordType,Operation,UserId,AuditData,AssociatedAdminUnits,AssociatedAdminUnitsNames\r\n",
        )?,
        ExportFormat::Jsonl => {}
    }
    loop {
        let result = archive.raw_page(&query, &page).await?;
        for record in &result.rows {
            match args.format {
                ExportFormat::Jsonl => {
                    if record.raw.contains(&b'\n') {
                        // JSON lines need one line per record; only whitespace can hold a
                        // newline in JSON, so dropping it keeps the record's meaning.
                        multi_line += 1;
                        let flat: Vec<u8> = record
                            .raw
                            .iter()
                            .copied()
                            .filter(|b| *b != b'\n' && *b != b'\r')
                            .collect();
                        out.write_all(&flat)?;
                    } else {
                        out.write_all(&record.raw)?;
                    }
                    out.write_all(b"\n")?;
                }
                ExportFormat::Json => {
                    if count > 0 {
                        out.write_all(b",\n")?;
                    }
                    out.write_all(&record.raw)?;
                }
                ExportFormat::Csv => {
                    let parsed = record::parse_record(&record.raw).ok();
                    let text = String::from_utf8_lossy(&record.raw);
                    let cells = [
                        record.id.clone(),
                        // Purview's layout: seven fraction digits and Z.
                        format!(
                            "{}.{:07}Z",
                            record.time.format("%Y-%m-%dT%H:%M:%S"),
                            record.time.timestamp_subsec_nanos() / 100
                        ),
                        parsed.as_ref().map(|p| p.record_type.0.to_string()).unwrap_or_default(),
                        parsed.as_ref().map(|p| p.operation.clone()).unwrap_or_default(),
                        parsed.as_ref().and_then(|p| p.user_id.clone()).unwrap_or_default(),
                    ];
                    let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
                    write!(out, "{},\"{}\",,\r\n", line.join(","), text.replace('"', "\"\""))?;
                }
            }
            count += 1;
        }
        match result.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    if args.format == ExportFormat::Json {
        out.write_all(b"]\n")?;
    }
    out.flush()?;
    eprintln!("exported {count} records");
    if multi_line > 0 {
        eprintln!(
            "{multi_line} records were received pretty-printed; their line breaks were removed to \
             fit one record per line. Use --format json for the exact bytes."
        );
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The chain head you wrote down earlier (printed by a previous `verify`): also check that
    /// the archive still contains it, which detects a rewrite of the whole archive.
    #[arg(long, value_name = "HEX")]
    expect_head: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// Exit status of `verify` when it finds a problem.
pub(crate) const VERIFY_FAILED: u8 = 3;

pub(crate) async fn verify(archive: &dyn Archive, args: VerifyArgs) -> anyhow::Result<u8> {
    let report = archive.verify().await?;
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "checked {} records in {} sealed batches ({} removed on purpose by retention)",
            report.records, report.batches, report.purged_records
        );
        println!("chain head: {}", report.head.as_deref().unwrap_or("(empty archive)"));
        for finding in &report.findings {
            println!("PROBLEM: {}", describe(finding));
        }
    }
    let mut ok = report.is_intact();
    if let Some(expected) = &args.expect_head {
        // The head moves on as batches are added, so the expected one must be the current head
        // or an earlier link; an archive only proves the current one without a link index.
        if report.head.as_deref() != Some(expected.as_str()) {
            println!(
                "PROBLEM: the chain head is not {expected}: either batches were added since you \
                 wrote it down (verify again and record the new head) or the archive was rewritten"
            );
            ok = false;
        }
    }
    if ok {
        println!("intact: every record matches its hash and every batch its seal");
        Ok(0)
    } else {
        Ok(VERIFY_FAILED)
    }
}

fn describe(finding: &archive::Finding) -> String {
    use archive::Finding::*;
    match finding {
        RecordAltered { batch, record_id } => {
            format!("record {record_id} (batch {batch}) no longer matches the hash stored with it")
        }
        ChangeAltered { audit_id } => {
            format!("audit change {audit_id} no longer matches the hash stored with it")
        }
        BatchContentChanged { batch, sealed_count, found_count } => format!(
            "batch {batch} was sealed with {sealed_count} records but {found_count} are there, \
             or their hashes changed"
        ),
        ChainBroken { batch } => format!("the seal of batch {batch} was edited or replaced"),
        BatchesMissing { after, next_found } => {
            format!("sealed batches after {after} up to {next_found} are missing")
        }
        UnsealedRecords { count, examples } => format!(
            "{count} records are outside every sealed batch (added behind the archive's back?), \
             e.g. {}",
            examples.join(", ")
        ),
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct QuarantineArgs {
    /// At most this many items, newest first.
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Also print each item's bytes.
    #[arg(long)]
    bytes: bool,
}

pub(crate) async fn quarantine(archive: &dyn Archive, args: QuarantineArgs) -> anyhow::Result<()> {
    let items = archive.quarantined(args.limit).await?;
    if items.is_empty() {
        println!("nothing is quarantined");
    }
    for item in items {
        println!("{}: {} ({} bytes)", item.source, item.reason, item.raw.len());
        if args.bytes {
            println!("  {}", String::from_utf8_lossy(&item.raw));
        }
    }
    Ok(())
}
