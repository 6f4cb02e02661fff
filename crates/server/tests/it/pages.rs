//! The web UI over HTTP (the browser tests drive it in Chromium): security headers, escaping,
//! the search form and its pages, the record page, timelines, reports, status, SQL console.

use archive::{Archive, Order, PageRequest, RecordQuery};

use crate::support::{TestServer, generated};

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let server = TestServer::start().await;
    let mut viewer = server.sign_in("viewer").await;
    let token = crate::support::with_token;
    let api_token = server.token("viewer").await;
    let responses = vec![
        ("sign-in", server.http.get(server.url("/sign-in")).send().await.unwrap()),
        ("search", viewer.get("/search").await),
        (
            "api",
            token(server.http.get(server.url("/api/v1/records?limit=1")), &api_token)
                .send()
                .await
                .unwrap(),
        ),
        ("404", viewer.get("/no-such-page").await),
        ("healthz", server.http.get(server.url("/healthz")).send().await.unwrap()),
    ];
    for (what, response) in &responses {
        let h = response.headers();
        assert_eq!(
            h["content-security-policy"],
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            "{what}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{what}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
        assert_eq!(h["cache-control"], "no-store", "{what}");
    }
    let css = server.http.get(server.url("/assets/app.css")).send().await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.headers()["cache-control"], "public, max-age=3600");
    let page = viewer.page("/search").await;
    assert!(!page.contains("<script"), "no script at all");
    assert!(!page.contains(" style="), "no inline style (the CSP forbids it)");
    server.stop().await;
}

#[tokio::test]
async fn what_records_contain_is_escaped_never_run() {
    let server = TestServer::start().await;
    let mut value: serde_json::Value = generated()
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(r).unwrap())
        .find(|v| v["EntityName"] == "contact" && v["PrimaryFieldValue"].is_string())
        .unwrap();
    value["Id"] = "8e0f9a7b-0000-4000-8000-0000000000aa".into();
    value["PrimaryFieldValue"] = "<script>alert('x')</script><img src=x onerror=alert(1)>".into();
    server.ingest(vec![serde_json::to_vec(&value).unwrap()]).await;
    let mut viewer = server.sign_in("viewer").await;
    for path in
        ["/search?entity=contact&limit=5000", "/records/8e0f9a7b-0000-4000-8000-0000000000aa"]
    {
        let html = viewer.page(path).await;
        assert!(
            html.contains(
                "&lt;script&gt;alert('x')&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
            ),
            "{path}"
        );
        assert!(!html.contains("<script>alert"), "{path}");
        assert!(!html.contains("<img src=x"), "{path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn search_pages_forward_with_tokens_and_explain_bad_queries() {
    let server = TestServer::start().await;
    let mut viewer = server.sign_in("viewer").await;
    let first = viewer.page("/search?entity=contact").await;
    assert!(first.contains("Rows 1–50, newest first."), "{first}");
    let next = first
        .split("id=\"next-page\" href=\"")
        .nth(1)
        .expect("a next page")
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let second = viewer.page(&next).await;
    assert!(second.contains("Rows 51–100"), "{second}");
    assert!(second.contains("« First page"));
    let response = viewer.get("/search?q=from:yesterday").await;
    assert_eq!(response.status(), 400);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"query-error\""));
    assert!(html.contains("-7d"), "the message says what to write");
    let empty = viewer.page("/search?user=nobody@nowhere.example").await;
    assert!(empty.contains("id=\"no-results\""));
    server.stop().await;
}

#[tokio::test]
async fn the_record_page_shows_normalized_fields_and_the_bytes_as_received() {
    let server = TestServer::start().await;
    let original =
        generated().iter().find(|r| r.contains("\"Fields\":[{")).expect("a record with fields");
    let parsed = record::parse_record(original.as_bytes()).unwrap();
    let id = archive::columns::normalize_id(&parsed.id);
    let mut viewer = server.sign_in("viewer").await;
    let html = viewer.page(&format!("/records/{id}")).await;
    assert!(html.contains("id=\"normalized\""));
    assert!(html.contains(&parsed.actor().to_string()));
    assert!(html.contains("id=\"fields\""), "the changed fields are listed");
    let escaped = original
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    assert!(html.contains(&escaped), "the raw JSON, exactly");
    assert!(html.contains(&blake3::hash(original.as_bytes()).to_hex().to_string()));
    assert_eq!(viewer.get("/records/does-not-exist").await.status(), 404);
    server.stop().await;
}

/// A Dataverse record with both its own events and appearances in results.
async fn busy_record(server: &TestServer) -> uuid::Uuid {
    let page = server
        .archive
        .search(
            &RecordQuery { messages: vec!["ExportToExcel".into()], ..Default::default() },
            &PageRequest { limit: 50, after: None, order: Order::OldestFirst },
        )
        .await
        .unwrap();
    for row in page.rows {
        let stored = server.archive.record(&row.id).await.unwrap().unwrap();
        for listed in stored.query_results.iter().filter_map(|r| uuid::Uuid::parse_str(r).ok()) {
            let timeline = server
                .archive
                .search(
                    &RecordQuery { record_id: Some(listed), ..Default::default() },
                    &PageRequest::default(),
                )
                .await
                .unwrap();
            if timeline.rows.iter().any(|r| r.via == Some(archive::Via::Entity)) {
                return listed;
            }
        }
    }
    panic!("no exported record with its own events");
}

#[tokio::test]
async fn the_record_timeline_prints_as_a_report() {
    let server = TestServer::start().await;
    let record = busy_record(&server).await;
    let mut viewer = server.sign_in("viewer").await;
    let html = viewer.page(&format!("/timeline/record/{record}")).await;
    assert!(html.contains(&format!("<td class=\"mono\" id=\"record-id\">{record}</td>")));
    assert!(html.contains("exported in a list"), "appearances in exports are named");
    assert!(html.contains("Prepared"));
    assert!(html.contains("viewer person (viewer)"), "who prepared it");
    let printable = viewer.page(&format!("/timeline/record/{record}?print=1")).await;
    assert!(printable.contains("Print command"));
    let total = server
        .archive
        .count(&RecordQuery { record_id: Some(record), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(
        printable.matches("<td class=\"time\">").count() as u64,
        total,
        "every event on one printable page"
    );
    let css =
        server.http.get(server.url("/assets/app.css")).send().await.unwrap().text().await.unwrap();
    assert!(css.contains("@media print"));
    server.stop().await;
}

#[tokio::test]
async fn the_user_timeline_charts_activity_per_day_and_hour() {
    let server = TestServer::start().await;
    let top = server
        .archive
        .aggregate(&RecordQuery::default(), archive::Dimension::User, 1)
        .await
        .unwrap()
        .remove(0);
    let mut viewer = server.sign_in("viewer").await;
    let html = viewer
        .page(&format!(
            "/timeline/user?u={}&from=2026-06-01&to=2026-06-03",
            server::principal::url_encode(&top.key)
        ))
        .await;
    assert!(html.contains(&format!(
        "<div class=\"value\" id=\"user-total\">{}</div>",
        server::charts::number(top.count)
    )));
    assert_eq!(html.matches("<svg").count(), 2, "per day and per hour");
    assert!(html.contains("2026-06-02: "), "the day's bar has its exact value");
    server.stop().await;
}

#[tokio::test]
async fn every_report_renders_charts_and_tables() {
    let server = TestServer::start().await;
    let mut viewer = server.sign_in("viewer").await;
    let index = viewer.page("/reports").await;
    assert_eq!(index.matches("class=\"card\"").count(), 8);
    for slug in [
        "activity",
        "categories",
        "top-users",
        "top-entities",
        "exports-bulk",
        "sign-ins",
        "admin-changes",
        "after-hours",
    ] {
        let html = viewer.page(&format!("/reports/{slug}?from=2026-06-01&to=2026-06-03")).await;
        assert!(html.contains("id=\"report-title\""), "{slug}");
        assert!(html.contains("<svg") || html.contains("No matching records"), "{slug}");
        assert!(!html.contains("id=\"report-csv\""), "viewers get no export link ({slug})");
    }
    let categories = viewer.page("/reports/categories?from=2026-06-01&to=2026-06-03").await;
    assert!(categories.contains("Accessed out-of-box entity"));
    let hours = viewer.page("/reports/after-hours?from=2026-06-01&to=2026-06-03").await;
    assert!(hours.contains("bar highlight"), "outside working hours stands out");
    let response = viewer.get("/reports/nope").await;
    assert_eq!(response.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn status_and_sql_console_pages_work() {
    let server = TestServer::start().await;
    let mut auditor = server.sign_in("auditor").await;
    let status = auditor.page("/status").await;
    let total = server.archive.summary().await.unwrap().records;
    assert!(
        status.contains(&format!("id=\"records-total\">{}</div>", server::charts::number(total)))
    );
    assert!(status.contains("id=\"no-gaps\""));
    let console = auditor.page("/sql").await;
    assert!(console.contains("id=\"sql-schema\""));
    let response =
        auditor.submit("/sql", &[("statement", "SELECT count(*) AS n FROM activity")]).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!("<td class=\"wrap\">{total}</td>")), "{html}");
    let response = auditor.submit("/sql", &[("statement", "DELETE FROM activity")]).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("id=\"sql-error\""));
    server.stop().await;
}
