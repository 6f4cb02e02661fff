//! Benchmark of the PostgreSQL archive on realistic records from the emulator's generator:
//! ingest rate, bytes per record against the raw JSON, and query latency (p50 / p99) for the
//! questions auditors ask, the same set as the SQLite benchmark. Prints a markdown table.
//!
//! ```text
//! cargo run --release -p archive-postgres --example pg-bench -- --records 100000 \
//!     --url postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! Options: `--url URL` (a server where the user may create databases; default
//! `D365AUDIT_TEST_POSTGRES`, else `postgres://postgres@127.0.0.1:5432/postgres`), `--records N`
//! (default 100000), `--users N` (people in the simulated tenant, default 100), `--dir PATH`
//! (where the generated JSON lines go, shared with the SQLite benchmark), `--batch N` (records
//! per ingest transaction, default 1000), `--in-flight N` (ingest calls at once, default 2),
//! `--replicas N` (archive handles with their own pools sharing the calls, as several collectors
//! would; default 1), `--samples N` (queries per kind, default 200), `--keep` (leave the
//! benchmark database `d365audit_bench` in place), `--upgrade DATABASE` (ingest nothing: open
//! the existing archive in DATABASE on that server, which upgrades an older schema (timed), then
//! measure it the same way; the database is left in place).
//!
//! The JSON lines are generated once per (records, users) and reused; generation is not part of
//! the ingest time. Ingest time covers reading the lines, parsing them (`record` crate),
//! normalizing, hashing, compression and the PostgreSQL transactions: the collector's hot path.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use archive::query::{FieldFilter, Order};
use archive::{
    Archive, Dimension, IncomingRecord, IngestBatch, PageRequest, Quarantined, RecordQuery,
};
use archive_postgres::PostgresArchive;
use chrono::{TimeZone, Utc};

/// The allocator of the `d365audit` binary, so that the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone)]
struct Args {
    url: String,
    records: u64,
    users: usize,
    dir: PathBuf,
    batch: usize,
    in_flight: usize,
    replicas: usize,
    samples: usize,
    keep: bool,
    upgrade: Option<String>,
}

fn args() -> Result<Args, Failure> {
    let mut args = Args {
        url: std::env::var("D365AUDIT_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        records: 100_000,
        users: 100,
        dir: std::env::temp_dir().join("d365audit-bench"),
        batch: 1000,
        in_flight: 2,
        replicas: 1,
        samples: 200,
        keep: false,
        upgrade: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--keep" {
            args.keep = true;
            continue;
        }
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => args.url = value()?,
            "--records" => args.records = value()?.replace('_', "").parse()?,
            "--users" => args.users = value()?.parse()?,
            "--dir" => args.dir = PathBuf::from(value()?),
            "--batch" => args.batch = value()?.parse()?,
            "--in-flight" => args.in_flight = value()?.parse()?,
            "--replicas" => args.replicas = value()?.parse()?,
            "--samples" => args.samples = value()?.parse()?,
            "--upgrade" => args.upgrade = Some(value()?),
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
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&partial, path)?;
    eprintln!("generated {written} records");
    Ok(())
}

/// Reads and parses the lines into batches on a thread of its own.
fn read_batches(
    path: PathBuf,
    batch: usize,
) -> (tokio::sync::mpsc::Receiver<IngestBatch>, std::thread::JoinHandle<Result<(), String>>) {
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    let handle = std::thread::spawn(move || {
        let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut current = IngestBatch::default();
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(|e| e.to_string())? == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            match record::parse_record(&line) {
                Ok(parsed) => {
                    current.records.push(IncomingRecord { raw: line.clone(), record: parsed })
                }
                Err(e) => current.quarantined.push(Quarantined {
                    source: path.display().to_string(),
                    reason: e.reason(),
                    raw: line.clone(),
                }),
            }
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

/// `server` with its database replaced by `name`.
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = server.split_once('?').map_or((server, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    match query {
        Some(query) => format!("{}/{name}?{query}", &base[..path]),
        None => format!("{}/{name}", &base[..path]),
    }
}

async fn sql(url: &str) -> Result<tokio_postgres::Client, Failure> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
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
    fn new(name: impl Into<String>) -> Latency {
        Latency { name: name.into(), samples: Vec::new(), rows: 0 }
    }

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

async fn run(args: Args) -> Result<(), Failure> {
    let admin = sql(&args.url).await?;
    let mut replicas = Vec::new();
    let mut inserted = 0u64;
    let mut started = Instant::now();
    let url = match &args.upgrade {
        Some(database) => {
            // Opening read-write runs the migrations the archive lacks.
            let url = with_database(&args.url, database);
            replicas.push(PostgresArchive::connect(&url, Arc::new(clock::SystemClock)).await?);
            url
        }
        None => {
            let data = args.dir.join(format!("records-{}u-{}.jsonl", args.users, args.records));
            generate(&data, args.records, args.users)?;
            admin.batch_execute("DROP DATABASE IF EXISTS d365audit_bench WITH (FORCE)").await?;
            admin.batch_execute("CREATE DATABASE d365audit_bench").await?;
            let url = with_database(&args.url, "d365audit_bench");
            for _ in 0..args.replicas.max(1) {
                replicas.push(PostgresArchive::connect(&url, Arc::new(clock::SystemClock)).await?);
            }
            started = Instant::now();
            let (mut batches, reader) = read_batches(data.clone(), args.batch);
            let mut running: tokio::task::JoinSet<
                Result<archive::IngestReceipt, archive::ArchiveError>,
            > = tokio::task::JoinSet::new();
            let mut sent = 0usize;
            while let Some(batch) = batches.recv().await {
                while running.len() >= args.in_flight.max(1) {
                    if let Some(done) = running.join_next().await {
                        inserted += done??.inserted;
                    }
                }
                let archive = replicas[sent % replicas.len()].clone();
                sent += 1;
                running.spawn(async move { archive.ingest(batch).await });
            }
            while let Some(done) = running.join_next().await {
                inserted += done??.inserted;
            }
            reader.join().map_err(|_| "reader panicked")??;
            url
        }
    };
    let ingest_seconds = started.elapsed().as_secs_f64();

    let db = sql(&url).await?;
    let analyze = Instant::now();
    db.batch_execute("ANALYZE").await?;
    let analyze_seconds = analyze.elapsed().as_secs_f64();
    let reader = PostgresArchive::connect_read_only(&url).await?;
    let summary = reader.summary().await?;

    // Per-table sizes, partitions included.
    let mut sizes: Vec<(String, i64)> = Vec::new();
    for table in [
        "record_keys",
        "names",
        "system_users",
        "records",
        "record_blocks",
        "field_values",
        "daily_counts",
        "hourly_counts",
        "seals",
        "variants",
        "dictionaries",
    ] {
        let row = db
            .query_one(
                "SELECT coalesce(sum(pg_table_size(c.oid)), 0)::bigint, \
                        coalesce(sum(pg_indexes_size(c.oid)), 0)::bigint \
                 FROM pg_class c WHERE c.oid = ('d365audit.' || $1)::regclass \
                    OR c.oid IN (SELECT relid FROM pg_partition_tree(('d365audit.' || $1)::regclass))",
                &[&table],
            )
            .await?;
        sizes.push((format!("{table} (table)"), row.get(0)));
        sizes.push((format!("{table} (indexes)"), row.get(1)));
    }
    sizes.retain(|(_, bytes)| *bytes > 8192);
    sizes.sort_by_key(|(_, bytes)| -bytes);

    // Query targets, sampled from the archive itself.
    let mut rng = SplitMix(7);
    let entity_ids: Vec<uuid::Uuid> = db
        .query(
            "SELECT entity_id FROM d365audit.records WHERE entity_id IS NOT NULL \
             ORDER BY md5(seq::text) LIMIT $1",
            &[&(args.samples as i64)],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let field_values: Vec<(String, String)> = db
        .query(
            "SELECT name, value FROM d365audit.field_values_named \
             ORDER BY md5(seq::text || name) LIMIT $1",
            &[&(args.samples as i64)],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let users: Vec<String> = db
        .query(
            "SELECT n.name FROM d365audit.names n \
             WHERE n.id IN (SELECT DISTINCT user_ref FROM d365audit.records)",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();

    let page = |order| PageRequest { limit: 100, after: None, order };
    let mut results: Vec<Latency> = Vec::new();
    let mut timed = Latency::new("record timeline (100 oldest first)");
    for id in &entity_ids {
        let q = RecordQuery { record_id: Some(*id), ..RecordQuery::default() };
        let t = Instant::now();
        let found = reader.search(&q, &page(Order::OldestFirst)).await?;
        timed.samples.push(t.elapsed());
        timed.rows += found.rows.len() as u64;
    }
    results.push(timed);
    let mut timed = Latency::new("user timeline (100 newest first)");
    for _ in 0..args.samples {
        let user = users[rng.below(users.len() as u64) as usize].clone();
        let q = RecordQuery { users: vec![user], ..RecordQuery::default() };
        let t = Instant::now();
        let found = reader.search(&q, &page(Order::NewestFirst)).await?;
        timed.samples.push(t.elapsed());
        timed.rows += found.rows.len() as u64;
    }
    results.push(timed);
    let mut timed = Latency::new("who read record X (reads + lists)");
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
    let mut timed = Latency::new("field = value search (100 newest)");
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
    let mut timed = Latency::new("newest page, no filter");
    for _ in 0..args.samples {
        let t = Instant::now();
        let found = reader.search(&RecordQuery::default(), &page(Order::NewestFirst)).await?;
        timed.samples.push(t.elapsed());
        timed.rows += found.rows.len() as u64;
    }
    results.push(timed);
    let mut timed = Latency::new("one record in full (record(id))");
    let ids: Vec<String> = db
        .query(
            "SELECT record_id FROM d365audit.records_named ORDER BY md5(seq::text) LIMIT $1",
            &[&(args.samples as i64)],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for id in &ids {
        let t = Instant::now();
        let found = reader.record(id).await?;
        timed.samples.push(t.elapsed());
        timed.rows += u64::from(found.is_some());
    }
    results.push(timed);
    let latest = summary.latest.ok_or("empty archive")?;
    let month = RecordQuery {
        from: Some(latest - chrono::Duration::days(30)),
        to: Some(latest + chrono::Duration::seconds(1)),
        ..RecordQuery::default()
    };
    // Reports ask for whole UTC days, which the report counts answer; a period that starts
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
            let mut timed =
                Latency::new(format!("{period}: aggregation by {by:?} ({in_period} records)"));
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

    let stored: i64 = db
        .query_one(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'd365audit' AND c.relkind = 'r'",
            &[],
        )
        .await?
        .get(0);
    let per_record = |bytes: u64| bytes as f64 / summary.records.max(1) as f64;
    println!(
        "## PostgreSQL archive: {} records, {} simulated users\n",
        summary.records, args.users
    );
    println!("| measure | value |\n|---|---|");
    println!("| records stored (inserted) | {} ({inserted}) |", summary.records);
    println!(
        "| time span | {} .. {} |",
        summary.earliest.map(|t| t.to_string()).unwrap_or_default(),
        latest
    );
    if args.upgrade.is_some() {
        println!("| upgrade (opening read-write: migrations) | {ingest_seconds:.1} s |");
    } else {
        println!(
            "| ingest | {:.1} s, **{:.0} records/s** (read + parse + normalize + hash + compress \
             + write; batches of {}, {} in flight, {} replica(s)) |",
            ingest_seconds,
            summary.records as f64 / ingest_seconds,
            args.batch,
            args.in_flight,
            args.replicas.max(1)
        );
    }
    println!("| ANALYZE after ingest | {analyze_seconds:.1} s |");
    println!("| raw JSON | {:.0} bytes/record |", per_record(summary.raw_bytes));
    println!(
        "| archive tables + indexes | **{:.0} bytes/record** ({stored} bytes, {:.2}x of raw) |",
        per_record(stored as u64),
        stored as f64 / summary.raw_bytes.max(1) as f64
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
            *bytes as f64 * 100.0 / stored.max(1) as f64
        );
    }
    for replica in &replicas {
        replica.close();
    }
    reader.close();
    drop(db);
    if !args.keep && args.upgrade.is_none() {
        admin.batch_execute("DROP DATABASE IF EXISTS d365audit_bench WITH (FORCE)").await?;
    }
    Ok(())
}
