//! The archive audits its own use: every search, record view, timeline, report, export and SQL
//! statement made through the UI or the API is in the access log with who, when, from where,
//! what filter and how many rows; admins read it, others cannot.

use crate::support::{TestServer, error_of, with_token};

#[tokio::test]
async fn every_use_through_the_ui_and_the_api_is_logged() {
    let server = TestServer::start().await;
    let mut auditor = server.sign_in("auditor").await;
    let token = server.token("auditor").await;
    auditor.page("/search?entity=contact&user=nobody@contoso.com").await;
    let html = auditor.page("/search?q=entity:account").await;
    let record_link =
        html.split("href=\"/records/").nth(1).unwrap().split('"').next().unwrap().to_string();
    auditor.page(&format!("/records/{record_link}")).await;
    auditor.page("/timeline/record/5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b").await;
    auditor.page("/timeline/user?u=someone@contoso.com&from=2026-06-01&to=2026-06-03").await;
    auditor.page("/reports/sign-ins?from=2026-06-01&to=2026-06-03").await;
    let response = auditor.submit("/sql", &[("statement", "SELECT 1 AS one")]).await;
    assert_eq!(response.status(), 200);
    let _ = auditor.get("/export?format=csv&entity=contact").await.text().await.unwrap();
    let api = |path: &str| with_token(server.http.get(server.url(path)), &token).send();
    api("/api/v1/records?q=message:ExportToExcel&limit=5").await.unwrap();
    api("/api/v1/timelines/user/someone@contoso.com").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let log = server.access_log().await;
    let find = |action: &str, channel: &str, detail: &str| {
        log.iter()
            .find(|e| e.action == action && e.channel == channel && e.detail.contains(detail))
            .unwrap_or_else(|| panic!("no {action} via {channel} with {detail:?} in {log:#?}"))
    };
    let search = find("search", "ui", "user:nobody@contoso.com entity:contact");
    assert_eq!(search.username, "auditor");
    assert_eq!(search.rows, Some(0));
    assert_eq!(search.client_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(search.at, crate::support::now());
    let accounts = find("search", "ui", "entity:account");
    assert!(accounts.rows.unwrap() > 0);
    assert_eq!(find("record_view", "ui", &record_link).rows, Some(1));
    find("record_timeline", "ui", "record:5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b");
    find("user_timeline", "ui", "user:someone@contoso.com");
    find("report", "ui", "sign-ins from 2026-06-01T00:00:00Z to 2026-06-03T00:00:00Z");
    assert_eq!(find("sql", "ui", "SELECT 1 AS one").rows, Some(1));
    find("export", "ui", "entity:contact as csv");
    find("export_done", "ui", "entity:contact as csv");
    let exports = archive::Archive::count(
        &server.archive,
        &archive::RecordQuery { messages: vec!["ExportToExcel".into()], ..Default::default() },
    )
    .await
    .unwrap();
    assert_eq!(find("search", "api", "message:ExportToExcel").rows, Some(exports.min(5)));
    find("user_timeline", "api", "user:someone@contoso.com");
    assert!(log.iter().any(|e| e.action == "sign_in" && e.username == "auditor"));
    server.stop().await;
}

#[tokio::test]
async fn admins_read_the_access_log_and_nobody_else_does() {
    let server = TestServer::start().await;
    let mut viewer = server.sign_in("viewer").await;
    viewer.page("/search?entity=lead").await;
    let viewer_token = server.token("viewer").await;
    let response = with_token(server.http.get(server.url("/api/v1/access-log")), &viewer_token)
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(response).await;
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    assert_eq!(viewer.get("/admin/access-log").await.status(), 403);

    let mut admin = server.sign_in("admin").await;
    let html = admin.page("/admin/access-log").await;
    assert!(html.contains("entity:lead"), "the viewer's search is listed");
    let token = server.token("admin").await;
    let page: serde_json::Value =
        with_token(server.http.get(server.url("/api/v1/access-log?limit=2")), &token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    assert!(page["next_before"].is_string(), "more pages exist: {page}");
    // Reading the log is itself logged.
    let log = server.access_log().await;
    assert!(
        log.iter().any(|e| e.action == "access_log" && e.username == "admin" && e.channel == "ui")
    );
    assert!(
        log.iter().any(|e| e.action == "access_log" && e.username == "admin" && e.channel == "api")
    );
    server.stop().await;
}

#[tokio::test]
async fn account_changes_from_the_command_line_and_the_ui_are_logged_with_their_author() {
    let server = TestServer::start().await;
    let mut admin = server.sign_in("admin").await;
    let response = admin
        .submit(
            "/admin/users",
            &[
                ("username", "dpo"),
                ("display_name", "Data Protection"),
                ("role", "auditor"),
                ("password", crate::support::PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let html = admin.page(&crate::support::Browser::location(&response)).await;
    assert!(html.contains("The account was created."));
    assert!(html.contains("data-username=\"dpo\""));
    let log = server.access_log().await;
    let ui = log.iter().find(|e| e.detail == "created dpo as auditor").unwrap();
    assert_eq!((ui.username.as_str(), ui.channel.as_str()), ("admin", "ui"));
    let cli = log.iter().find(|e| e.detail == "created viewer as viewer").unwrap();
    assert_eq!((cli.username.as_str(), cli.channel.as_str()), ("(command line)", "cli"));
    server.stop().await;
}
