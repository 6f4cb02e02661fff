//! End-to-end collection benchmark: the emulator over real HTTP on loopback, the real collector,
//! a real SQLite archive. Prints records/s and peak memory (VmHWM).
//!
//! `cargo run --release -p collector --example collect_bench -- --users 400 --days 7`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmHWM:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let users = arg("--users", 400) as usize;
    let days = arg("--days", 7) as i64;
    let workers = arg("--workers", 8);
    let mut config = emulator::EmulatorConfig::demo(1);
    config.activity.users = users;
    config.history_start = config.clock.now() - chrono::Duration::days(days);
    let clock = config.clock.clone();
    let emulator = emulator::start(config).await?;
    let folder = tempfile::tempdir()?;
    let path = folder.path().join("archive.db");
    let archive = Arc::new(archive_sqlite::SqliteArchive::open(&path, clock.clone())?);
    let toml = format!(
        "version = 1\n[collector]\nworkers = {workers}\n[tenants.bench]\n\
         tenant_id = \"{}\"\nlogin_base = \"{}\"\napi_base = \"{}\"\nclient_id = \"{}\"\n\
         client_secret_env = \"BENCH_SECRET\"\nrequests_per_minute = 100000\nrequest_burst = 200\n",
        emulator::demo::TENANT_ID,
        emulator.login_base(),
        emulator.api_base(),
        emulator::demo::CLIENT_ID
    );
    let env = BTreeMap::from([("BENCH_SECRET".to_string(), emulator::demo::SECRET_VALUE.into())]);
    let settings = settings::Settings::from_toml_str(&toml, folder.path(), &env)?;
    let collector =
        collector::Collector::new(&settings, archive.clone(), clock, CancellationToken::new())?;
    let started = Instant::now();
    let summary = collector.run_once().await?;
    let seconds = started.elapsed().as_secs_f64();
    let records = archive::Archive::summary(archive.as_ref()).await?.records;
    println!("| users | days | blobs | records kept | seconds | records/s | peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {users} | {days} | {} | {records} | {seconds:.1} | {:.0} | {:.0} |",
        summary.counts.blobs_done,
        records as f64 / seconds,
        peak_rss_mib()
    );
    archive.close().await?;
    emulator.shutdown().await;
    Ok(())
}
