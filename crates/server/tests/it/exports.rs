//! Exports: CSV that Excel opens cleanly (BOM, CRLF, quoting, formulas defused), JSON lines,
//! records as received, streamed rather than buffered, and logged at start and end.

use archive::{Archive, RecordQuery};
use futures_util::StreamExt;

use crate::support::{TestServer, generated, with_token};

/// A generated record changed to carry `name` as its primary field value, under a new Id.
fn record_named(name: &str, id: &str) -> Vec<u8> {
    let mut value: serde_json::Value = generated()
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(r).unwrap())
        .find(|v| v["EntityName"] == "contact" && v["PrimaryFieldValue"].is_string())
        .expect("a contact record with a name");
    value["Id"] = serde_json::Value::String(id.to_string());
    value["PrimaryFieldValue"] = serde_json::Value::String(name.to_string());
    serde_json::to_vec(&value).unwrap()
}

#[tokio::test]
async fn csv_exports_open_cleanly_in_excel() {
    let server = TestServer::start().await;
    server
        .ingest(vec![record_named(
            "=HYPERLINK(\"http://evil.example\",\"click\")",
            "7d1f0c1e-0000-4000-8000-000000000001",
        )])
        .await;
    let token = server.token("auditor").await;
    let response =
        with_token(server.http.get(server.url("/api/v1/export?format=csv&entity=contact")), &token)
            .send()
            .await
            .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"d365audit-export-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let bytes = response.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "a UTF-8 byte order mark first");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    assert!(
        text.starts_with("time_utc,user,operation,message,entity,record_id,record_name,"),
        "{}",
        &text[..200]
    );
    assert!(text.ends_with("\r\n"));
    assert!(!text.replace("\r\n", "").contains('\n'), "every line ends with CRLF");
    let lines = text.split("\r\n").filter(|l| !l.is_empty()).count();
    let count = server
        .archive
        .count(&RecordQuery { entity: Some("contact".into()), ..RecordQuery::default() })
        .await
        .unwrap();
    assert_eq!(lines as u64, count + 1, "a header and one line per record");
    assert!(
        text.contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\""),
        "the formula is defused"
    );
    server.stop().await;
}

#[tokio::test]
async fn json_lines_exports_hold_every_record_normalized_or_as_received() {
    let server = TestServer::start().await;
    let token = server.token("auditor").await;
    let export = |format: &str| {
        let request = server.http.get(server.url(&format!(
            "/api/v1/export?format={format}&from=2026-06-02T09:00&to=2026-06-02T10:00"
        )));
        with_token(request, &token).send()
    };
    let query = RecordQuery {
        from: Some(crate::support::tuesday(9)),
        to: Some(crate::support::tuesday(10)),
        ..RecordQuery::default()
    };
    let count = server.archive.count(&query).await.unwrap();
    let normalized = export("jsonl").await.unwrap();
    assert_eq!(normalized.headers()["content-type"], "application/x-ndjson; charset=utf-8");
    let text = normalized.text().await.unwrap();
    let rows: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len() as u64, count);
    assert!(rows.iter().all(|r| r["time"].as_str().unwrap().starts_with("2026-06-02T09")));
    let raw = export("raw").await.unwrap().text().await.unwrap();
    let originals: std::collections::HashSet<&str> =
        generated().iter().map(String::as_str).collect();
    let lines: Vec<&str> = raw.lines().collect();
    assert_eq!(lines.len() as u64, count);
    assert!(
        lines.iter().all(|l| originals.contains(l)),
        "each line is a record exactly as generated"
    );
    server.stop().await;
}

#[tokio::test]
async fn exports_are_streamed_and_logged_at_start_and_end() {
    let server = TestServer::start().await;
    let token = server.token("auditor").await;
    let response = with_token(server.http.get(server.url("/api/v1/export?format=csv")), &token)
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("content-length").is_none(), "no length: the body is streamed");
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let mut chunks = 0;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        chunk.unwrap();
        chunks += 1;
    }
    assert!(chunks > 1, "page by page: {chunks} chunks");
    // The access log has the start and the completed end.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let log = server.access_log().await;
    let total = server.archive.summary().await.unwrap().records;
    let start = log.iter().find(|e| e.action == "export").expect("the start is logged");
    assert_eq!((start.detail.as_str(), start.channel.as_str()), ("(everything) as csv", "api"));
    let done = log.iter().find(|e| e.action == "export_done").expect("the end is logged");
    assert_eq!(done.rows, Some(total));
    assert!(!done.detail.contains("stopped"), "{}", done.detail);
    server.stop().await;
}

#[tokio::test]
async fn an_interrupted_export_is_logged_as_stopped() {
    let server = TestServer::start().await;
    let token = server.token("auditor").await;
    let response = with_token(server.http.get(server.url("/api/v1/export?format=raw")), &token)
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let _first = stream.next().await.unwrap().unwrap();
    drop(stream);
    let mut stopped = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        stopped = server.access_log().await.into_iter().find(|e| e.action == "export_done");
        if stopped.is_some() {
            break;
        }
    }
    let stopped = stopped.expect("an interrupted export is logged");
    assert!(stopped.detail.contains("stopped before the end"), "{}", stopped.detail);
    assert!(stopped.rows.unwrap() < server.archive.summary().await.unwrap().records);
    server.stop().await;
}

#[tokio::test]
async fn the_ui_exports_reports_and_sql_results_as_csv() {
    let server = TestServer::start().await;
    let mut auditor = server.sign_in("auditor").await;
    let response = auditor.get("/reports/top-users/csv?from=2026-06-01&to=2026-06-03").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.starts_with("\u{feff}section,key,label,records\r\n"), "{text}");
    assert!(text.contains("Most active users,"));
    let response = auditor
        .submit("/sql", &[("statement", "SELECT 'a,b' AS x, '=1+1' AS y"), ("format", "csv")])
        .await;
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"d365audit-sql.csv\""
    );
    assert_eq!(response.text().await.unwrap(), "\u{feff}x,y\r\n\"a,b\",'=1+1\r\n");
    let response = auditor.get("/export?format=jsonl&user=nobody@nowhere").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "", "no records, no lines");
    server.stop().await;
}
