//! `d365audit demo`: from nothing to a served archive full of realistic activity.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn demo_collects_a_week_and_serves_it() {
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let mut demo = Command::new(env!("CARGO_BIN_EXE_d365audit"))
        .args(["demo", "--listen", &format!("127.0.0.1:{port}"), "--users", "3"])
        .env_remove("D365AUDIT_ARCHIVE")
        .env_remove("D365AUDIT_CONFIG")
        .env_remove("D365AUDIT_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = demo.stdout.take().unwrap();
    let (lines, ready) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.contains("sign in as");
            lines.push(line);
            if done || started.elapsed() > Duration::from_secs(300) {
                return (lines, done);
            }
        }
        (lines, false)
    })
    .await
    .unwrap();
    assert!(ready, "demo did not get ready: {lines:?}");
    assert!(lines.iter().any(|l| l.contains(&format!("http://127.0.0.1:{port}/"))), "{lines:?}");

    let http = reqwest::Client::new();
    let metrics =
        http.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await;
    let metrics = metrics.unwrap();
    let records: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("d365audit_archive_records "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(records > 1_000, "a week of activity was collected: {records}\n{metrics}");
    let signed_out = http.get(format!("http://127.0.0.1:{port}/api/v1/records")).send().await;
    assert_eq!(signed_out.unwrap().status(), 401, "the demo still requires signing in");

    Command::new("kill").args(["-TERM", &demo.id().to_string()]).status().unwrap();
    let status = demo.wait().unwrap();
    assert!(status.success(), "demo stops cleanly on SIGTERM: {status}");
}
