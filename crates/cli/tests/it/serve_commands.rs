//! Accounts, tokens and `serve` as an operator runs them: `user add` reading the password from
//! standard input, `token create` printing the token once, `serve` answering the web UI and
//! the API with that token, and stopping cleanly on SIGTERM.

// Test code: a failed unwrap is a failed test (helpers outside #[test] functions included).
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::Workspace;

const PASSWORD: &str = "correct horse battery staple";

/// Runs `d365audit ARGS` with `input` on standard input (not a terminal).
fn run_with_input(ws: &Workspace, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_d365audit"))
        .args(args)
        .env("D365AUDIT_ARCHIVE", ws.archive_url())
        .env_remove("D365AUDIT_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn accounts_and_tokens_are_managed_from_the_command_line() {
    let ws = Workspace::new();
    let added = run_with_input(
        &ws,
        &["user", "add", "dora", "--role", "admin", "--name", "Dora DPO"],
        &format!("{PASSWORD}\n"),
    );
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    assert_eq!(String::from_utf8_lossy(&added.stdout), "created dora (admin)\n");
    let short = run_with_input(&ws, &["user", "add", "eve"], "short\n");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    let list = ws.run_ok(&["user", "list", "--json"], 0);
    let accounts: Vec<serde_json::Value> =
        list.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(accounts.len(), 1);
    assert_eq!(
        (accounts[0]["username"].as_str(), accounts[0]["role"].as_str()),
        (Some("dora"), Some("admin"))
    );
    assert!(!list.contains("argon2"), "password hashes are never printed");

    let refused = ws.run(&["user", "set-role", "dora", "viewer"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("last enabled admin"));

    let created = ws.run(&["token", "create", "dora", "--name", "nightly", "--days", "30"]);
    assert!(created.status.success());
    let token = String::from_utf8(created.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("d365a_") && token.len() > 40, "the token alone on stdout: {token}");
    assert!(String::from_utf8_lossy(&created.stderr).contains("shown only now"));
    let listed = ws.run_ok(&["token", "list", "dora"], 0);
    assert!(listed.contains("nightly") && !listed.contains(&token[6..]), "{listed}");
    ws.run_ok(&["token", "revoke", "dora", "1"], 0);
    assert!(ws.run_ok(&["token", "list", "dora"], 0).contains("revoked"));

    // `user UPN` is still the user timeline.
    let timeline = ws.run_ok(&["user", "nobody@contoso.com"], 0);
    assert!(timeline.contains("0 events"), "{timeline}");
}

#[tokio::test]
async fn serve_answers_the_ui_and_the_api_and_stops_on_sigterm() {
    let ws = Workspace::new();
    let added =
        run_with_input(&ws, &["user", "add", "vera", "--role", "viewer"], &format!("{PASSWORD}\n"));
    assert!(added.status.success());
    let created = ws.run(&["token", "create", "vera"]);
    let token = String::from_utf8(created.stdout).unwrap().trim().to_string();
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let mut server = Command::new(env!("CARGO_BIN_EXE_d365audit"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("D365AUDIT_ARCHIVE", ws.archive_url())
        .env_remove("D365AUDIT_LOG")
        .env_remove("D365AUDIT_CONFIG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut healthy = false;
    for _ in 0..100 {
        if let Ok(response) = http.get(format!("{base}/healthz")).send().await {
            healthy = response.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "serve answers /healthz");
    let page = http.get(format!("{base}/search")).send().await.unwrap();
    assert_eq!(page.status(), 303, "the UI wants a sign-in");
    let me: serde_json::Value = http
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["account"]["username"], "vera");
    let refused =
        http.get(format!("{base}/api/v1/export")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(refused.status(), 403, "a viewer cannot export");
    let killed = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut server.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("serving the web UI and the API on http://127.0.0.1:"), "{stderr}");
    assert!(!stderr.contains(&token[6..]), "secrets stay out of the log");
}
