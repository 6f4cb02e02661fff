//! Serving speed (run explicitly: `cargo test -p emulator --release --test it -- --ignored
//! perf --nocapture`).

use std::time::Instant;

use chrono::Duration;
use emulator::ActivityProfile;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing report, run explicitly in release"]
async fn blob_serving_speed() {
    let mut config = config_at(t0());
    config.activity = ActivityProfile { users: 400, ..ActivityProfile::default() };
    let api = Api::start(config).await;
    let started = Instant::now();
    let blobs = api.list_all("Audit.General", t0() - Duration::hours(24), t0()).await;
    println!("listed {} blobs of a day in {:?}", blobs.len(), started.elapsed());

    let mut timings = Vec::new();
    let mut records = 0usize;
    let mut bytes = 0usize;
    for blob in &blobs {
        let started = Instant::now();
        let reply = api.get_blob(blob).await;
        timings.push(started.elapsed());
        assert_eq!(reply.status, 200);
        records += reply.json().as_array().unwrap().len();
        bytes += reply.body.len();
    }
    timings.sort();
    let total: std::time::Duration = timings.iter().sum();
    println!(
        "{} blobs, {records} records ({:.0} per blob, {:.1} MB): mean {:?}, p50 {:?}, p99 {:?}, max {:?}",
        blobs.len(),
        records as f64 / blobs.len() as f64,
        bytes as f64 / 1e6,
        total / timings.len() as u32,
        timings[timings.len() / 2],
        timings[timings.len() * 99 / 100],
        timings[timings.len() - 1]
    );
    // Served again from the cache (the last few blobs).
    let started = Instant::now();
    for blob in blobs.iter().rev().take(10) {
        api.get_blob(blob).await;
    }
    println!("10 cached blobs in {:?}", started.elapsed());
}
