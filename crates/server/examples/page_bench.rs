//! Benchmark of the web UI's pages over a large SQLite archive: every page a person opens
//! (search, next page, a record, a record timeline, a user timeline, each report, the status
//! page), requested over real HTTP by a signed-in session, with latency percentiles. Prints a
//! markdown table.
//!
//! ```text
//! cargo run --release -p server --example page_bench -- --records 1000000 --dir /tmp/d365audit-bench
//! ```
//!
//! Options: `--records N` (default 1000000), `--users N` (people in the simulated tenant,
//! default 100), `--dir PATH` (the generated JSON lines and the archive; both are reused when
//! present, so a second run measures pages only), `--samples N` (requests per page, default
//! 40), `--archive PATH` (measure pages over an existing archive instead, for example the one
//! the archive-sqlite benchmark built: no generation, no ingest).
//!
//! The archive's clock is set just after its newest record, so the user timeline's default
//! period (30 days) covers real data. Each sample of a page varies what can vary (record, user,
//! page position); each sample of a report asks for another period (7 days, the default, and
//! 30 days, listed apart), and the report cache is off: every report number is cold.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use archive::{AccessStore, Archive, Order, PageRequest, RecordQuery, Role};
use archive_sqlite::{ColumnBatch, ColumnRecord, SqliteArchive};
use chrono::{TimeZone, Utc};
use clock::Clock;

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug)]
struct Args {
    records: u64,
    users: usize,
    dir: PathBuf,
    samples: usize,
    archive: Option<PathBuf>,
}

fn args() -> Result<Args, Failure> {
    let mut args = Args {
        records: 1_000_000,
        users: 100,
        dir: std::env::temp_dir().join("d365audit-bench"),
        samples: 40,
        archive: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--records" => args.records = value()?.replace('_', "").parse()?,
            "--users" => args.users = value()?.parse()?,
            "--dir" => args.dir = PathBuf::from(value()?),
            "--samples" => args.samples = value()?.parse()?,
            "--archive" => args.archive = Some(PathBuf::from(value()?)),
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

/// Writes `records` generated records as JSON lines unless the file exists (the same file the
/// archive-sqlite benchmark writes, so either can reuse the other's).
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

async fn ingest(archive: &SqliteArchive, path: &Path) -> Result<(), Failure> {
    let file = std::fs::File::open(path)?;
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    let started = Instant::now();
    let mut batch = ColumnBatch::default();
    let mut running = tokio::task::JoinSet::new();
    let mut sent = 0u64;
    for line in reader.split(b'\n') {
        let line = line?;
        if let Ok(parsed) = record::parse_record(&line) {
            batch.records.push(ColumnRecord {
                columns: archive::columns::from_activity(&parsed),
                raw: line,
            });
        }
        if batch.records.len() == 1_000 {
            while running.len() >= 2 {
                if let Some(done) = running.join_next().await {
                    done??;
                }
            }
            sent += 1_000;
            let archive = archive.clone();
            let full = std::mem::take(&mut batch);
            running.spawn(async move { archive.ingest_columns(full).await });
            if sent.is_multiple_of(200_000) {
                eprintln!(
                    "ingested {sent} records ({:.0}/s)",
                    sent as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
    }
    if !batch.records.is_empty() {
        archive.ingest_columns(batch).await?;
    }
    while let Some(done) = running.join_next().await {
        done??;
    }
    eprintln!("ingest took {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A small deterministic generator for choosing samples.
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

fn percentile(samples: &[Duration], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

fn encode(text: &str) -> String {
    server::principal::url_encode(text)
}

async fn run(args: Args) -> Result<(), Failure> {
    let clock = Arc::new(clock::ManualClock::frozen_at(Utc::now()));
    let (archive, stored) = match &args.archive {
        Some(db) => {
            let archive = SqliteArchive::open(db, clock.clone())?;
            let stored = archive.summary().await?.records;
            eprintln!("measuring pages over {} ({stored} records)", db.display());
            (archive, stored)
        }
        None => {
            let data = args.dir.join(format!("records-{}u-{}.jsonl", args.users, args.records));
            generate(&data, args.records, args.users)?;
            let db = args.dir.join(format!("server-bench-{}u-{}.sqlite", args.users, args.records));
            let archive = SqliteArchive::open(&db, clock.clone())?;
            let stored = archive.summary().await?.records;
            if stored < args.records * 9 / 10 {
                eprintln!("ingesting {} into {}", data.display(), db.display());
                ingest(&archive, &data).await?;
            } else {
                eprintln!("reusing {} ({stored} records)", db.display());
            }
            (archive, stored)
        }
    };
    if stored == 0 {
        return Err("the archive holds no records".into());
    }
    let summary = archive.summary().await?;
    let (earliest, latest) =
        (summary.earliest.ok_or("empty archive")?, summary.latest.ok_or("empty")?);
    clock.set(latest + chrono::Duration::hours(1));
    const PASSWORD: &str = "benchmark passphrase 1";
    if archive.account_by_username("bench").await?.is_none() {
        server::accounts::add_account(
            &archive,
            &server::accounts::Actor::command_line(),
            "bench",
            "Benchmark",
            Role::Admin,
            server::secrets::Secret::new(PASSWORD),
            clock.now(),
        )
        .await?;
    }

    // Sample targets, spread over the whole archive.
    let mut rng = SplitMix(7);
    let span = (latest - earliest).num_seconds().max(1) as u64;
    let mut record_ids = Vec::new();
    let mut entity_ids = Vec::new();
    let mut users = Vec::new();
    while record_ids.len() < args.samples || entity_ids.len() < args.samples {
        let from = earliest + chrono::Duration::seconds(rng.below(span) as i64);
        let page = archive
            .search(
                &RecordQuery {
                    from: Some(from),
                    entity: Some("contact".into()),
                    ..Default::default()
                },
                &PageRequest { limit: 5, after: None, order: Order::OldestFirst },
            )
            .await?;
        for row in page.rows {
            if record_ids.len() < args.samples {
                record_ids.push(row.id.clone());
            }
            if let Some(id) = row.entity_id
                && entity_ids.len() < args.samples
            {
                entity_ids.push(id);
            }
            if !users.contains(&row.user) && row.user.contains('@') {
                users.push(row.user);
            }
        }
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Cold: no report is served from the cache (each sample also asks for another period).
    let settings = server::ServerSettings {
        secure_cookies: false,
        cache_reports: false,
        ..Default::default()
    };
    let state = server::ServerState::new(
        Arc::new(archive.clone()),
        clock.clone(),
        settings,
        server::Hooks::default(),
    );
    tokio::spawn(server::serve(listener, state, std::future::pending()));
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;

    // Sign in like a browser.
    let form = http.get(format!("{base}/sign-in")).send().await?;
    let form_cookie = form
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or("no sign-in cookie")?
        .to_string();
    let html = form.text().await?;
    let token = html
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .ok_or("no form token")?;
    let signed = http
        .post(format!("{base}/sign-in"))
        .header("cookie", &form_cookie)
        .form(&[("username", "bench"), ("password", PASSWORD), ("form_token", token), ("next", "")])
        .send()
        .await?;
    let session = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("d365audit="))
        .and_then(|v| v.split(';').next())
        .ok_or("sign-in failed")?
        .to_string();

    let first =
        http.get(format!("{base}/search")).header("cookie", &session).send().await?.text().await?;
    let next_link = first
        .split("id=\"next-page\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(|l| l.replace("&amp;", "&"))
        .ok_or("no next page")?;

    let slugs: Vec<&str> = server::reports::REPORTS.iter().map(|r| r.slug).collect();
    let mut pages: Vec<(String, Vec<String>)> = vec![
        ("search (everything, newest first)".into(), vec!["/search".into()]),
        ("search: next page".into(), vec![next_link]),
        ("search: entity:contact".into(), vec!["/search?q=entity%3Acontact".into()]),
        (
            "search: one user".into(),
            users.iter().map(|u| format!("/search?user={}", encode(u))).collect(),
        ),
        ("search: message:ExportToExcel".into(), vec!["/search?q=message%3AExportToExcel".into()]),
        (
            "record page".into(),
            record_ids.iter().map(|id| format!("/records/{}", encode(id))).collect(),
        ),
        (
            "record timeline".into(),
            entity_ids.iter().map(|id| format!("/timeline/record/{id}")).collect(),
        ),
        (
            "user timeline (30 days)".into(),
            users.iter().map(|u| format!("/timeline/user?u={}", encode(u))).collect(),
        ),
        ("reports index".into(), vec!["/reports".into()]),
        ("status".into(), vec!["/status".into()]),
    ];
    // Report periods sliding over the archive: `days` long, ending on different days.
    let periods = |days: i64| -> Vec<String> {
        let last_end = latest.date_naive() + chrono::Duration::days(1);
        let first_end = earliest.date_naive() + chrono::Duration::days(days);
        let ends = (last_end - first_end).num_days().max(0) + 1;
        (0..args.samples as i64)
            .map(|i| {
                let end = last_end - chrono::Duration::days(i % ends);
                let start = end - chrono::Duration::days(days);
                format!("from={start}&to={end}")
            })
            .collect()
    };
    for slug in &slugs {
        pages.push((
            format!("report {slug} (7 days, the default)"),
            periods(7).iter().map(|p| format!("/reports/{slug}?{p}")).collect(),
        ));
    }
    let defaults = pages.len();
    for slug in &slugs {
        pages.push((
            format!("report {slug} (30 days)"),
            periods(30).iter().map(|p| format!("/reports/{slug}?{p}")).collect(),
        ));
    }

    println!(
        "\n{} records ({} to {}), {} users, {} samples per page, server on {addr}\n",
        summary.records,
        earliest.format("%Y-%m-%d"),
        latest.format("%Y-%m-%d"),
        args.users,
        args.samples
    );
    println!("| page | p50 ms | p95 ms | max ms | bytes |");
    println!("|---|---:|---:|---:|---:|");
    let mut all = Vec::new();
    for (index, (name, urls)) in pages.iter().enumerate() {
        if index == defaults {
            println!(
                "| **every page above** | {:.1} | {:.1} | {:.1} | |",
                percentile(&all, 0.5),
                percentile(&all, 0.95),
                percentile(&all, 1.0)
            );
        }
        let mut samples = Vec::new();
        let mut bytes = 0;
        for i in 0..args.samples + 2 {
            let url = &urls[i % urls.len()];
            let started = Instant::now();
            let response =
                http.get(format!("{base}{url}")).header("cookie", &session).send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            let elapsed = started.elapsed();
            if status != 200 {
                return Err(format!("{url} answered {status}").into());
            }
            bytes = body.len();
            if i >= 2 {
                samples.push(elapsed);
            }
        }
        if index < defaults {
            all.extend(samples.iter().copied());
        }
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {bytes} |",
            percentile(&samples, 0.5),
            percentile(&samples, 0.95),
            percentile(&samples, 1.0)
        );
    }
    println!(
        "\n\"every page above\": search, record, timelines, status and every report over its default \
         period (7 days), cold (reports not cached). 30-day reports are shown apart."
    );
    archive.close().await?;
    Ok(())
}
