//! Benchmark of the SQLite archive on realistic records from the emulator's generator: ingest
//! rate and peak memory, bytes per record against the raw JSON, and query latency (p50 / p99)
//! for the questions auditors ask. Prints a markdown table.
//!
//! ```text
//! cargo run --release -p archive-sqlite --example bench -- --records 1000000 --dir /tmp/d365bench
//! ```
//!
//! Options: `--records N` (default 100000), `--users N` (people in the simulated tenant, default
//! 100), `--dir PATH` (where the generated JSON lines and the archive go), `--batch N` (records
//! per ingest transaction, default 1000), `--in-flight N` (ingest calls at once, default 2),
//! `--samples N` (queries per kind, default 200).
//!
//! The JSON lines are generated once per (records, users) and reused; generation is not part of
//! the ingest time. Ingest time covers reading the lines, parsing and normalizing them (`record`
//! crate), hashing, compression and the SQLite transactions: the collector's hot path.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use archive::query::{FieldFilter, Order};
use archive::{Archive, Dimension, PageRequest, Quarantined, RecordQuery};
use archive_sqlite::{ColumnBatch, ColumnRecord, SqliteArchive};
use chrono::{TimeZone, Utc};

/// The allocator of the `d365audit` binary, so that the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone)]
struct Args {
    records: u64,
    users: usize,
    dir: PathBuf,
    batch: usize,
    in_flight: usize,
    samples: usize,
    dictionary_after: u64,
    probe: u64,
    reuse: bool,
    writer_cache_mib: u64,
    merge_min: u64,
    merge_max: u64,
}

fn args() -> Result<Args, Failure> {
    let mut args = Args {
        records: 100_000,
        users: 100,
        dir: std::env::temp_dir().join("d365audit-bench"),
        batch: 1000,
        in_flight: 2,
        samples: 200,
        dictionary_after: archive_sqlite::SqliteOptions::default().dictionary_after_records,
        probe: 50_000,
        reuse: false,
        writer_cache_mib: archive_sqlite::SqliteOptions::default().writer_cache_bytes >> 20,
        merge_min: archive_sqlite::SqliteOptions::default().merge_min_records,
        merge_max: archive_sqlite::SqliteOptions::default().merge_max_records,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--reuse" {
            args.reuse = true;
            continue;
        }
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--records" => args.records = value()?.replace('_', "").parse()?,
            "--users" => args.users = value()?.parse()?,
            "--dir" => args.dir = PathBuf::from(value()?),
            "--batch" => args.batch = value()?.parse()?,
            "--in-flight" => args.in_flight = value()?.parse()?,
            "--samples" => args.samples = value()?.parse()?,
            "--dictionary-after" => args.dictionary_after = value()?.parse()?,
            "--probe" => args.probe = value()?.replace('_', "").parse()?,
            "--writer-cache-mib" => args.writer_cache_mib = value()?.parse()?,
            "--merge-min" => args.merge_min = value()?.replace('_', "").parse()?,
            "--merge-max" => args.merge_max = value()?.replace('_', "").parse()?,
            "--reuse" => args.reuse = true,
            other => return Err(format!("unknown option {other}; see the example's doc").into()),
        }
    }
    Ok(args)
}

fn main() -> Result<(), Failure> {
    let args = args()?;
    std::fs::create_dir_all(&args.dir)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run(args))
}

/// Peak resident memory of this process so far (`VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    status_kib("VmHWM:") as f64 / 1024.0
}

fn rss_mib() -> f64 {
    status_kib("VmRSS:") as f64 / 1024.0
}

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// CPU seconds (user + system) from a `/proc/.../stat` file.
fn cpu_seconds(stat: &Path) -> f64 {
    let text = std::fs::read_to_string(stat).unwrap_or_default();
    // Fields after the parenthesized command name: state is field 3, utime 14, stime 15.
    let after = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn process_cpu() -> f64 {
    cpu_seconds(Path::new("/proc/self/stat"))
}

/// CPU seconds of this process's threads named `name`.
fn thread_cpu(name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0.0 };
    tasks
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .map(|t| cpu_seconds(&t.path().join("stat")))
        .sum()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Resets `VmHWM` to the current RSS (Linux `clear_refs` value 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Writes `records` generated records as JSON lines, unless the file already exists.
fn generate(path: &Path, records: u64, users: usize) -> Result<(), Failure> {
    if path.exists() {
        eprintln!("reusing {}", path.display());
        return Ok(());
    }
    let profile = emulator::ActivityProfile { users, ..emulator::ActivityProfile::default() };
    let tenant = uuid::Uuid::parse_str("41463f53-8812-40f4-890f-865bf6e35190")?;
    let world = emulator::activity::TenantWorld::new(42, tenant, "contoso.com", &profile);
    let partial = path.with_extension("partial");
    let mut out = BufWriter::new(std::fs::File::create(&partial)?);
    let mut at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().ok_or("start time")?;
    let started = Instant::now();
    let mut written = 0u64;
    while written < records {
        let next = at + chrono::Duration::minutes(10);
        for line in world.records("Audit.General", at, next) {
            if written == records {
                break;
            }
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
            written += 1;
        }
        at = next;
        if written / 1_000_000 > (written.saturating_sub(2_000)) / 1_000_000 {
            eprintln!("generated {written} records up to {at}");
        }
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&partial, path)?;
    eprintln!(
        "generated {written} records in {:.1} s ({:.0}/s)",
        started.elapsed().as_secs_f64(),
        written as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Reads, parses and normalizes the lines into batches on a thread of its own.
fn read_batches(
    path: PathBuf,
    batch: usize,
    limit: u64,
) -> (tokio::sync::mpsc::Receiver<ColumnBatch>, std::thread::JoinHandle<Result<(), String>>) {
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    let handle = std::thread::spawn(move || {
        let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut current = ColumnBatch::default();
        let mut line = Vec::new();
        for _ in 0..limit {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(|e| e.to_string())? == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            add_line(&mut current, &line, &path);
            if current.records.len() + current.quarantined.len() >= batch
                && sender.blocking_send(std::mem::take(&mut current)).is_err()
            {
                return Ok(());
            }
        }
        if !current.records.is_empty() || !current.quarantined.is_empty() {
            let _ = sender.blocking_send(current);
        }
        Ok(())
    });
    (receiver, handle)
}

fn add_line(batch: &mut ColumnBatch, line: &[u8], path: &Path) {
    match record::parse_record(line) {
        Ok(parsed) => batch.records.push(ColumnRecord {
            columns: archive::columns::from_activity(&parsed),
            raw: line.to_vec(),
        }),
        Err(e) => batch.quarantined.push(Quarantined {
            source: path.display().to_string(),
            reason: e.reason(),
            raw: line.to_vec(),
        }),
    }
}

/// Lines `skip..skip + count` of the file, parsed into batches in memory.
fn parsed_batches(
    path: &Path,
    skip: u64,
    count: u64,
    batch: usize,
) -> Result<Vec<ColumnBatch>, Failure> {
    let file = std::fs::File::open(path)?;
    let mut lines = std::io::BufReader::with_capacity(1 << 20, file).split(b'\n');
    for _ in 0..skip {
        lines.next();
    }
    let mut out = vec![ColumnBatch::default()];
    for line in lines.take(count as usize) {
        let line = line?;
        if out.last().is_some_and(|b| b.records.len() + b.quarantined.len() >= batch) {
            out.push(ColumnBatch::default());
        }
        if let Some(current) = out.last_mut() {
            add_line(current, &line, path);
        }
    }
    Ok(out)
}

/// Ingests `batches` with `in_flight` calls at once; returns the records inserted.
async fn ingest_all(
    archive: &SqliteArchive,
    batches: impl IntoIterator<Item = ColumnBatch>,
    in_flight: usize,
) -> Result<u64, Failure> {
    let mut running: tokio::task::JoinSet<Result<archive::IngestReceipt, archive::ArchiveError>> =
        tokio::task::JoinSet::new();
    let mut inserted = 0;
    for batch in batches {
        while running.len() >= in_flight.max(1) {
            if let Some(done) = running.join_next().await {
                inserted += done??.inserted;
            }
        }
        let archive = archive.clone();
        running.spawn(async move { archive.ingest_columns(batch).await });
    }
    while let Some(done) = running.join_next().await {
        inserted += done??.inserted;
    }
    Ok(inserted)
}

fn remove_archive(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

/// A small deterministic generator for sampling query targets.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Debug)]
struct Latency {
    name: String,
    samples: Vec<Duration>,
    rows: u64,
}

impl Latency {
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.samples.clone();
        sorted.sort();
        if sorted.is_empty() {
            return 0.0;
        }
        let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[index].as_secs_f64() * 1000.0
    }
}

/// What building the archive from the JSON lines measured.
#[derive(Debug)]
struct Built {
    inserted: u64,
    seconds: f64,
    cpu: f64,
    writer_cpu: f64,
    load: String,
    peak_mib: f64,
    rss_before: f64,
    rss_marks: BTreeMap<u64, f64>,
}

/// Phase 1: reads, parses and ingests the first `args.records` lines into a new archive.
async fn build(
    args: &Args,
    data: &Path,
    db: &Path,
    options: archive_sqlite::SqliteOptions,
) -> Result<Built, Failure> {
    reset_peak_rss();
    let rss_before = rss_mib();
    let archive = SqliteArchive::open_with(db, Arc::new(clock::SystemClock), options)?;
    let started = Instant::now();
    let cpu_before = process_cpu();
    let (mut batches, reader) = read_batches(data.to_path_buf(), args.batch, args.records);
    let mut running: tokio::task::JoinSet<Result<archive::IngestReceipt, archive::ArchiveError>> =
        tokio::task::JoinSet::new();
    let mut inserted = 0u64;
    let mut sent = 0u64;
    let mut rss_marks: BTreeMap<u64, f64> = BTreeMap::new();
    let mark_every = (args.records / 4).max(1);
    while let Some(batch) = batches.recv().await {
        sent += batch.records.len() as u64;
        while running.len() >= args.in_flight.max(1) {
            if let Some(done) = running.join_next().await {
                inserted += done??.inserted;
            }
        }
        let archive = archive.clone();
        running.spawn(async move { archive.ingest_columns(batch).await });
        if sent / mark_every > (sent.saturating_sub(args.batch as u64)) / mark_every {
            rss_marks.insert(sent, peak_rss_mib());
        }
    }
    while let Some(done) = running.join_next().await {
        inserted += done??.inserted;
    }
    reader.join().map_err(|_| "reader panicked")??;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = process_cpu() - cpu_before;
    let writer_cpu = thread_cpu("archive-writer");
    let load = load_average();
    let peak_mib = peak_rss_mib();
    archive.close().await?;
    Ok(Built { inserted, seconds, cpu, writer_cpu, load, peak_mib, rss_before, rss_marks })
}

async fn run(args: Args) -> Result<(), Failure> {
    let data =
        args.dir.join(format!("records-{}u-{}.jsonl", args.users, args.records + args.probe));
    generate(&data, args.records + args.probe, args.users)?;
    let raw_file_bytes = std::fs::metadata(&data)?.len();

    let db = args.dir.join(format!("archive-{}u-{}.sqlite", args.users, args.records));
    let base = db.with_extension("base");
    let options = archive_sqlite::SqliteOptions {
        dictionary_after_records: args.dictionary_after,
        writer_cache_bytes: args.writer_cache_mib << 20,
        merge_min_records: args.merge_min,
        merge_max_records: args.merge_max,
        ..archive_sqlite::SqliteOptions::default()
    };
    remove_archive(&db);
    let built = if args.reuse && base.exists() {
        eprintln!("reusing {}", base.display());
        std::fs::copy(&base, &db)?;
        None
    } else {
        let built = build(&args, &data, &db, options.clone()).await?;
        std::fs::copy(&db, &base)?;
        Some(built)
    };
    // With `--reuse` of an archive an older version built, this includes its schema upgrade.
    let opening = Instant::now();
    let archive = SqliteArchive::open_with(&db, Arc::new(clock::SystemClock), options)?;
    let open_seconds = opening.elapsed().as_secs_f64();

    // Archive only: records already parsed, ingested into the archive just built.
    let probe = parsed_batches(&data, args.records, args.probe, args.batch)?;
    let probe_records: usize = probe.iter().map(|b| b.records.len()).sum();
    let writer_before = thread_cpu("archive-writer");
    let cpu_before = process_cpu();
    let probe_started = Instant::now();
    let probe_inserted = ingest_all(&archive, probe, args.in_flight).await?;
    let probe_seconds = probe_started.elapsed().as_secs_f64();
    let probe_cpu = process_cpu() - cpu_before;
    let probe_writer_cpu = thread_cpu("archive-writer") - writer_before;
    let closing = Instant::now();
    archive.close().await?;
    let close_seconds = closing.elapsed().as_secs_f64();
    drop(archive);

    let reader = SqliteArchive::open_read_only(&db)?;
    let summary = reader.summary().await?;
    let file_bytes = std::fs::metadata(&db)?.len();

    // Per-table sizes.
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut sizes: Vec<(String, i64)> = conn
        .prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    sizes.retain(|(_, bytes)| *bytes > 0);

    // Query targets, sampled from the archive itself.
    let mut rng = SplitMix(7);
    let max_seq: i64 = conn.query_row("SELECT max(seq) FROM activity", [], |r| r.get(0))?;
    let mut entity_ids = Vec::new();
    let mut field_values = Vec::new();
    let mut attempts = 0;
    while (entity_ids.len() < args.samples || field_values.len() < args.samples)
        && attempts < 200_000
    {
        attempts += 1;
        let seq = 1 + rng.below(max_seq as u64) as i64;
        let found: Option<Option<Vec<u8>>> = conn
            .query_row(
                "SELECT g.guid FROM activity a LEFT JOIN guids g ON g.id = a.entity_ref \
                 WHERE a.seq = ?1",
                [seq],
                |r| r.get(0),
            )
            .ok();
        if let Some(Some(bytes)) = found
            && entity_ids.len() < args.samples
        {
            entity_ids.push(uuid::Uuid::from_slice(&bytes)?);
        }
        if field_values.len() < args.samples {
            let id: Option<Vec<u8>> = conn
                .query_row("SELECT record_key FROM activity WHERE seq = ?1", [seq], |r| r.get(0))
                .ok();
            if let Some(id) = id.and_then(|b| uuid::Uuid::from_slice(&b).ok())
                && let Some(stored) = reader.record(&id.to_string()).await?
                && let Some(pair) = stored.fields.first()
            {
                field_values.push(pair.clone());
            }
        }
    }
    let users: Vec<String> = conn
        .prepare("SELECT value FROM names WHERE kind = 4")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;

    let page = |order| PageRequest { limit: 100, after: None, order };
    let mut results: Vec<Latency> = Vec::new();
    let mut timed =
        Latency { name: "record timeline (100 oldest first)".into(), samples: vec![], rows: 0 };
    for id in &entity_ids {
        let q = RecordQuery { record_id: Some(*id), ..RecordQuery::default() };
        let t = Instant::now();
        let found = reader.search(&q, &page(Order::OldestFirst)).await?;
        timed.samples.push(t.elapsed());
        timed.rows += found.rows.len() as u64;
    }
    results.push(timed);
    let mut timed =
        Latency { name: "user timeline (100 newest first)".into(), samples: vec![], rows: 0 };
    for _ in 0..args.samples {
        let user = users[rng.below(users.len() as u64) as usize].clone();
        let q = RecordQuery { users: vec![user], ..RecordQuery::default() };
        let t = Instant::now();
        let found = reader.search(&q, &page(Order::NewestFirst)).await?;
        timed.samples.push(t.elapsed());
        timed.rows += found.rows.len() as u64;
    }
    results.push(timed);
    let mut timed =
        Latency { name: "who read record X (reads + lists)".into(), samples: vec![], rows: 0 };
    for id in &entity_ids {
        let q = RecordQuery {
            record_id: Some(*id),
            access: vec!["read".into(), "read_multiple".into()],
            ..RecordQuery::default()
        };
        let t = Instant::now();
        let found = reader.search(&q, &page(Order::NewestFirst)).await?;
        timed.samples.push(t.elapsed());
        timed.rows += found.rows.len() as u64;
    }
    results.push(timed);
    let mut timed =
        Latency { name: "field = value search (100 newest)".into(), samples: vec![], rows: 0 };
    for (name, value) in &field_values {
        let q = RecordQuery {
            field: Some(FieldFilter { name: name.clone(), value: Some(value.clone()) }),
            ..RecordQuery::default()
        };
        let t = Instant::now();
        let found = reader.search(&q, &page(Order::NewestFirst)).await?;
        timed.samples.push(t.elapsed());
        timed.rows += found.rows.len() as u64;
    }
    results.push(timed);
    let mut timed = Latency { name: "newest page, no filter".into(), samples: vec![], rows: 0 };
    for _ in 0..args.samples {
        let t = Instant::now();
        let found = reader.search(&RecordQuery::default(), &page(Order::NewestFirst)).await?;
        timed.samples.push(t.elapsed());
        timed.rows += found.rows.len() as u64;
    }
    results.push(timed);
    let latest = summary.latest.ok_or("empty archive")?;
    let month = RecordQuery {
        from: Some(latest - chrono::Duration::days(30)),
        to: Some(latest + chrono::Duration::seconds(1)),
        ..RecordQuery::default()
    };
    // Reports ask for whole UTC days, which the per-day counts answer; a period that starts
    // mid-day reads every record.
    let midnight = latest.date_naive().and_hms_opt(0, 0, 0).ok_or("midnight")?.and_utc();
    let whole_days = RecordQuery {
        from: Some(midnight - chrono::Duration::days(29)),
        to: Some(midnight + chrono::Duration::days(1)),
        ..RecordQuery::default()
    };
    for (period, q) in [("30 whole days", &whole_days), ("30 days to the second", &month)] {
        let in_period = reader.count(q).await?;
        for by in [Dimension::Day, Dimension::User, Dimension::Entity, Dimension::Category] {
            let mut timed = Latency {
                name: format!("{period}: aggregation by {by:?} ({in_period} records)"),
                samples: vec![],
                rows: 0,
            };
            for _ in 0..5 {
                let t = Instant::now();
                let buckets = reader.aggregate(q, by, 1000).await?;
                timed.samples.push(t.elapsed());
                timed.rows = buckets.iter().map(|b| b.count).sum();
            }
            results.push(timed);
        }
    }
    let t = Instant::now();
    let report = reader.verify().await?;
    let verify_seconds = t.elapsed().as_secs_f64();

    let per_record = |bytes: u64| bytes as f64 / summary.records.max(1) as f64;
    println!("## SQLite archive: {} records, {} simulated users\n", summary.records, args.users);
    println!("| measure | value |\n|---|---|");
    println!("| records stored | {} |", summary.records);
    println!(
        "| time span | {} .. {} |",
        summary.earliest.map(|t| t.to_string()).unwrap_or_default(),
        latest
    );
    if let Some(b) = &built {
        let per_record = |seconds: f64| seconds * 1e6 / b.inserted.max(1) as f64;
        println!(
            "| ingest, end to end | {:.1} s, **{:.0} records/s** (read + parse + normalize + hash + compress + write; batches of {}, {} in flight) |",
            b.seconds,
            b.inserted as f64 / b.seconds,
            args.batch,
            args.in_flight
        );
        println!(
            "| ingest CPU | {:.1} µs/record in all threads, {:.1} µs/record in the writer thread (machine load average at the end: {}) |",
            per_record(b.cpu),
            per_record(b.writer_cpu),
            b.load
        );
        println!(
            "| peak RSS during ingest (VmHWM) | {:.0} MiB (RSS before opening {:.0} MiB) |",
            b.peak_mib, b.rss_before
        );
        let marks: Vec<String> =
            b.rss_marks.iter().map(|(at, mib)| format!("{at}: {mib:.0} MiB")).collect();
        println!("| peak RSS as input grows | {} |", marks.join(", "));
    }
    println!("| open read-write (and upgrade, if the archive is older) | {open_seconds:.1} s |");
    let per_probe = |seconds: f64| seconds * 1e6 / probe_inserted.max(1) as f64;
    println!(
        "| archive only: {probe_records} more records, already parsed, into this archive | {:.1} s, **{:.0} records/s**; {:.1} µs/record in all threads, {:.1} µs/record in the writer thread |",
        probe_seconds,
        probe_inserted as f64 / probe_seconds,
        per_probe(probe_cpu),
        per_probe(probe_writer_cpu)
    );
    println!("| close (final WAL checkpoint) | {close_seconds:.1} s |");
    println!(
        "| raw JSON | {:.0} bytes/record ({raw_file_bytes} bytes of lines) |",
        per_record(summary.raw_bytes)
    );
    println!(
        "| archive file | **{:.0} bytes/record** ({file_bytes} bytes, {:.2}x of raw) |",
        per_record(file_bytes),
        file_bytes as f64 / summary.raw_bytes.max(1) as f64
    );
    println!(
        "| verify (re-hash every record) | {verify_seconds:.1} s, intact: {} |",
        report.is_intact()
    );
    println!(
        "\n| query | p50 ms | p99 ms | samples | rows returned (total) |\n|---|---|---|---|---|"
    );
    for latency in &results {
        println!(
            "| {} | {:.2} | {:.2} | {} | {} |",
            latency.name,
            latency.percentile(0.5),
            latency.percentile(0.99),
            latency.samples.len(),
            latency.rows
        );
    }
    println!("\n| table or index | bytes/record | share |\n|---|---|---|");
    for (name, bytes) in &sizes {
        println!(
            "| {name} | {:.1} | {:.1}% |",
            per_record(*bytes as u64),
            *bytes as f64 * 100.0 / file_bytes.max(1) as f64
        );
    }
    Ok(())
}
