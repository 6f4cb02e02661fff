//! Webhook acknowledgement latency under load: `POST /webhook/o365` of the real server, its
//! intake wired to the real collector over a real SQLite archive (each POST queues its blobs
//! durably before the 200), driven over loopback by concurrent clients. Prints p50 / p99.
//!
//! `cargo run --release -p collector --example webhook_bench -- --requests 4000 --concurrency 32 --per-post 10`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The same glue `d365audit serve` uses (crates/cli/src/collection_hooks.rs), intake only.
struct Intake(collector::Collector);

#[async_trait]
impl server::NotificationIntake for Intake {
    async fn accept(&self, auth_id_ok: bool, body: Bytes) -> server::IntakeOutcome {
        if !auth_id_ok {
            return server::IntakeOutcome::Unauthorized;
        }
        match o365::parse_webhook_payload(&body) {
            Ok(o365::WebhookPayload::Notifications(n)) => {
                match self.0.accept_notifications(None, &n).await {
                    Ok(r) => server::IntakeOutcome::Accepted {
                        accepted: r.accepted,
                        rejected: r.rejected.len() as u64,
                    },
                    Err(e) => server::IntakeOutcome::Unavailable { reason: e.to_string() },
                }
            }
            Ok(_) => server::IntakeOutcome::Accepted { accepted: 0, rejected: 0 },
            Err(e) => server::IntakeOutcome::Malformed { reason: e.to_string() },
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let requests = arg("--requests", 4000) as usize;
    let concurrency = arg("--concurrency", 32) as usize;
    let per_post = arg("--per-post", 10) as usize;
    let config = emulator::EmulatorConfig::demo(1);
    let clock = config.clock.clone();
    let emulator = emulator::start(config).await?;
    let folder = tempfile::tempdir()?;
    let archive =
        Arc::new(archive_sqlite::SqliteArchive::open(folder.path().join("a.db"), clock.clone())?);
    let toml = format!(
        "version = 1\n[tenants.bench]\ntenant_id = \"{}\"\nlogin_base = \"{}\"\napi_base = \"{}\"\n\
         client_id = \"{}\"\nclient_secret_env = \"BENCH_SECRET\"\n",
        emulator::demo::TENANT_ID,
        emulator.login_base(),
        emulator.api_base(),
        emulator::demo::CLIENT_ID
    );
    let env = BTreeMap::from([("BENCH_SECRET".to_string(), emulator::demo::SECRET_VALUE.into())]);
    let settings = settings::Settings::from_toml_str(&toml, folder.path(), &env)?;
    let collector = collector::Collector::new(
        &settings,
        archive.clone(),
        clock.clone(),
        CancellationToken::new(),
    )?;
    let hooks =
        server::Hooks { intake: Some(Arc::new(Intake(collector))), ..server::Hooks::default() };
    let state = server::ServerState::new(
        archive.clone(),
        clock.clone(),
        server::ServerSettings {
            secure_cookies: false,
            webhook_auth_id: Some(SecretString::from("bench-auth-id")),
            ..server::ServerSettings::default()
        },
        hooks,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhook/o365", listener.local_addr()?);
    let stop = CancellationToken::new();
    let server = tokio::spawn({
        let stop = stop.clone();
        async move { server::serve(listener, state, async move { stop.cancelled().await }).await }
    });

    let now = clock.now();
    let tenant = emulator::demo::TENANT_ID;
    let body = |post: usize| {
        let items: Vec<String> = (0..per_post)
            .map(|i| {
                let id = format!("{:017}{:06}$x$audit_general$Audit_General$emea0036", post, i);
                format!(
                    r#"{{"tenantId":"{tenant}","clientId":"{}","contentType":"Audit.General","contentId":"{id}","contentUri":"{}api/v1.0/{tenant}/activity/feed/audit/{id}","contentCreated":"{}","contentExpiration":"{}"}}"#,
                    emulator::demo::CLIENT_ID,
                    emulator.api_base(),
                    now.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                    (now + chrono::Duration::days(7)).format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    };
    let bodies: Arc<Vec<String>> = Arc::new((0..requests).map(body).collect());
    let http = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, url, bodies, next) = (http.clone(), url.clone(), bodies.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let sent = Instant::now();
                let response = http
                    .post(&url)
                    .header("Content-Type", "application/json; utf-8")
                    .header("Webhook-AuthID", "bench-auth-id")
                    .body(body.clone())
                    .send()
                    .await;
                let ok = response.map(|r| r.status().as_u16() == 200).unwrap_or(false);
                assert!(ok, "the webhook answered 200");
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut all: Vec<Duration> = Vec::new();
    for task in tasks {
        all.extend(task.await?);
    }
    let total = started.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    let queued = archive::BlobQueue::queue_status(archive.as_ref()).await?;
    let blobs: u64 = queued.iter().flat_map(|q| q.counts.iter()).map(|(_, n)| n).sum();
    println!(
        "| POSTs | notifications each | concurrency | p50 ms | p99 ms | max ms | POSTs/s | blobs queued |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {requests} | {per_post} | {concurrency} | {:.2} | {:.2} | {:.2} | {:.0} | {blobs} |",
        pct(0.50),
        pct(0.99),
        pct(1.0),
        requests as f64 / total.as_secs_f64()
    );
    stop.cancel();
    let _ = server.await;
    archive.close().await?;
    emulator.shutdown().await;
    Ok(())
}
