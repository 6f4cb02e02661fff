//! The REST API: the query model, keyset pages, records as received, timelines, reports, the
//! SQL console, accounts and tokens, errors, and the OpenAPI document.

use std::collections::HashSet;

use archive::{Archive, RecordQuery};
use server::api::openapi::ENDPOINTS;

use crate::support::{PASSWORD, TestServer, error_of, generated, with_token};

async fn get_json(server: &TestServer, token: &str, path: &str) -> serde_json::Value {
    let response = with_token(server.http.get(server.url(path)), token).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn keyset_pages_cover_every_record_once_newest_first() {
    let server = TestServer::start().await;
    let token = server.token("viewer").await;
    let mut seen = HashSet::new();
    let mut times = Vec::new();
    let mut path = "/api/v1/records?limit=400".to_string();
    let mut pages = 0;
    loop {
        let page = get_json(&server, &token, &path).await;
        for row in page["rows"].as_array().unwrap() {
            assert!(seen.insert(row["id"].as_str().unwrap().to_string()), "no row twice");
            times
                .push(chrono::DateTime::parse_from_rfc3339(row["time"].as_str().unwrap()).unwrap());
        }
        pages += 1;
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/records?limit=400&after={next}"),
            None => break,
        }
    }
    let distinct: HashSet<String> = generated()
        .iter()
        .map(|r| record::parse_record(r.as_bytes()).unwrap().id)
        .map(|id| archive::columns::normalize_id(&id))
        .collect();
    assert_eq!(seen.len(), distinct.len());
    assert!(pages > 2);
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first across pages");
    server.stop().await;
}

#[tokio::test]
async fn form_filters_and_the_one_line_query_find_the_same_records() {
    let server = TestServer::start().await;
    let token = server.token("viewer").await;
    let first = get_json(&server, &token, "/api/v1/records?limit=1&entity=contact").await;
    let user = first["rows"][0]["user"].as_str().unwrap().to_string();
    let by_fields = get_json(
        &server,
        &token,
        &format!("/api/v1/records?limit=10000&entity=contact&user={user}&access=read"),
    )
    .await;
    let line = format!("entity:contact user:{user} access:read");
    let by_line = get_json(
        &server,
        &token,
        &format!("/api/v1/records?limit=10000&q={}", server::principal::url_encode(&line)),
    )
    .await;
    let ids = |v: &serde_json::Value| {
        v["rows"].as_array().unwrap().iter().map(|r| r["id"].clone()).collect::<Vec<_>>()
    };
    assert!(!ids(&by_fields).is_empty());
    assert_eq!(ids(&by_fields), ids(&by_line));
    for row in by_fields["rows"].as_array().unwrap() {
        assert_eq!(row["entity"], "contact");
        assert_eq!(row["access"], "read");
    }
    let posted = with_token(server.http.post(server.url("/api/v1/search")), &token)
        .json(&serde_json::json!({ "q": format!("user:{user}"), "filters": { "entity": "contact", "access": "read" }, "limit": 10000 }))
        .send()
        .await
        .unwrap();
    let posted: serde_json::Value = posted.json().await.unwrap();
    assert_eq!(ids(&posted), ids(&by_fields));
    let count = get_json(
        &server,
        &token,
        &format!("/api/v1/records/count?q={}", server::principal::url_encode(&line)),
    )
    .await;
    assert_eq!(count["count"].as_u64().unwrap() as usize, ids(&by_line).len());
    server.stop().await;
}

#[tokio::test]
async fn errors_are_json_with_a_code_that_says_what_to_do() {
    let server = TestServer::start().await;
    let token = server.token("viewer").await;
    let cases = [
        ("/api/v1/records?q=record:12345", 400, "invalid_query", "GUID"),
        ("/api/v1/records?from=yesterday", 400, "invalid_query", "-7d"),
        ("/api/v1/records?limit=many", 400, "invalid_query", "number"),
        ("/api/v1/records?after=garbage", 400, "invalid_query", "page token"),
        ("/api/v1/records?category=exports", 400, "invalid_query", "bulk_actions"),
        ("/api/v1/aggregate?by=planet", 400, "bad_request", "hour_of_day"),
        ("/api/v1/records/no-such-id", 404, "not_found", "no record"),
        ("/api/v1/reports/no-such-report", 404, "not_found", "activity"),
        ("/api/v1/no-such-endpoint", 404, "not_found", "openapi"),
        ("/api/v1/timelines/record/not-a-guid", 400, "invalid_query", "GUID"),
    ];
    for (path, status, code, hint) in cases {
        let response = with_token(server.http.get(server.url(path)), &token).send().await.unwrap();
        let (got_status, got_code, message) = error_of(response).await;
        assert_eq!((got_status, got_code.as_str()), (status, code), "{path}: {message}");
        assert!(message.contains(hint), "{path}: {message}");
    }
    let response =
        with_token(server.http.put(server.url("/api/v1/records")), &token).send().await.unwrap();
    let (status, code, _) = error_of(response).await;
    assert_eq!((status, code.as_str()), (405, "bad_request"));
    let response = with_token(server.http.post(server.url("/api/v1/search")), &token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(response).await;
    assert_eq!((status, code.as_str()), (400, "bad_request"));
    server.stop().await;
}

#[tokio::test]
async fn records_come_back_as_received_with_their_hash() {
    let server = TestServer::start().await;
    let token = server.token("viewer").await;
    let original = &generated()[17];
    let id = archive::columns::normalize_id(&record::parse_record(original.as_bytes()).unwrap().id);
    let detail = get_json(&server, &token, &format!("/api/v1/records/{id}")).await;
    assert_eq!(detail["id"], id.as_str());
    assert_eq!(detail["raw"], serde_json::from_str::<serde_json::Value>(original).unwrap());
    let response =
        with_token(server.http.get(server.url(&format!("/api/v1/records/{id}/raw"))), &token)
            .send()
            .await
            .unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let hash = response.headers()["x-d365audit-blake3"].to_str().unwrap().to_string();
    let bytes = response.bytes().await.unwrap();
    assert_eq!(&bytes[..], original.as_bytes(), "byte for byte");
    assert_eq!(hash, detail["blake3"].as_str().unwrap());
    assert_eq!(hash, blake3::hash(original.as_bytes()).to_hex().to_string());
    server.stop().await;
}

#[tokio::test]
async fn a_record_timeline_includes_the_results_that_listed_it() {
    let server = TestServer::start().await;
    let token = server.token("viewer").await;
    // A record listed in some RetrieveMultiple or export result.
    let listing = server
        .archive
        .search(
            &RecordQuery { messages: vec!["RetrieveMultiple".into()], ..RecordQuery::default() },
            &archive::PageRequest { limit: 200, ..Default::default() },
        )
        .await
        .unwrap();
    let mut listed = None;
    for row in &listing.rows {
        let stored = server.archive.record(&row.id).await.unwrap().unwrap();
        if let Some(id) = stored.query_results.iter().find_map(|r| uuid::Uuid::parse_str(r).ok()) {
            listed = Some(id);
            break;
        }
    }
    let listed = listed.expect("a RetrieveMultiple with results");
    let page =
        get_json(&server, &token, &format!("/api/v1/timelines/record/{listed}?limit=10000")).await;
    let rows = page["rows"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["via"] == "query_results"), "{page}");
    let times: Vec<_> = rows
        .iter()
        .map(|r| chrono::DateTime::parse_from_rfc3339(r["time"].as_str().unwrap()).unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    server.stop().await;
}

#[tokio::test]
async fn aggregations_and_reports_agree_with_the_records() {
    let server = TestServer::start().await;
    let token = server.token("viewer").await;
    let by_access =
        get_json(&server, &token, "/api/v1/aggregate?by=access&from=2026-06-02&to=2026-06-03")
            .await;
    let total: u64 =
        by_access["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
    let count =
        get_json(&server, &token, "/api/v1/records/count?from=2026-06-02&to=2026-06-03").await;
    assert_eq!(total, count["count"].as_u64().unwrap());
    let list = get_json(&server, &token, "/api/v1/reports").await;
    let slugs: Vec<String> = list["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["slug"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(slugs.len(), 8);
    for slug in &slugs {
        let report = get_json(
            &server,
            &token,
            &format!("/api/v1/reports/{slug}?from=2026-06-01&to=2026-06-03"),
        )
        .await;
        assert_eq!(report["slug"], slug.as_str());
        assert!(!report["sections"].as_array().unwrap().is_empty(), "{slug}");
    }
    let activity =
        get_json(&server, &token, "/api/v1/reports/activity?from=2026-06-01&to=2026-06-03").await;
    let per_day = &activity["sections"][0]["rows"];
    assert_eq!(per_day.as_array().unwrap().len(), 2, "a bar for each day, empty ones too");
    assert_eq!(per_day[1]["key"], "2026-06-02");
    assert_eq!(per_day[1]["count"].as_u64().unwrap(), total);
    let categories =
        get_json(&server, &token, "/api/v1/reports/categories?from=2026-06-01&to=2026-06-03").await;
    let labels: Vec<&str> = categories["sections"][0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&"Accessed out-of-box entity"), "{labels:?}");
    let after_hours =
        get_json(&server, &token, "/api/v1/reports/after-hours?from=2026-06-01&to=2026-06-03")
            .await;
    let hours = after_hours["sections"][0]["rows"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    assert_eq!(hours[7]["highlight"], true, "07:00 is outside 08-18");
    assert_eq!(hours[9]["highlight"], false);
    assert!(after_hours["notes"][0].as_str().unwrap().contains("outside working hours"));
    server.stop().await;
}

#[tokio::test]
async fn the_sql_console_reads_within_limits_and_never_writes() {
    let settings = server::ServerSettings {
        sql: archive::SqlLimits { max_rows: 10, timeout: std::time::Duration::from_secs(5) },
        ..crate::support::settings()
    };
    let server = TestServer::start_with(settings, server::Hooks::default()).await;
    let token = server.token("auditor").await;
    let sql = |statement: &str| {
        with_token(server.http.post(server.url("/api/v1/sql")), &token)
            .json(&serde_json::json!({ "statement": statement }))
            .send()
    };
    let answer: serde_json::Value =
        sql("SELECT 40 + 2 AS answer").await.unwrap().json().await.unwrap();
    assert_eq!(answer["columns"], serde_json::json!(["answer"]));
    assert_eq!(answer["rows"], serde_json::json!([[42]]));
    assert_eq!(answer["truncated"], false);
    let many: serde_json::Value = sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) SELECT i FROM n")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(many["rows"].as_array().unwrap().len(), 10);
    assert_eq!(many["truncated"], true);
    let before = server.archive.summary().await.unwrap().records;
    for statement in [
        "DELETE FROM activity",
        "DROP TABLE activity",
        "INSERT INTO cursors VALUES ('x','y',0)",
        "PRAGMA query_only = 0",
        "ATTACH DATABASE '/tmp/x.db' AS x",
    ] {
        let (status, code, message) = error_of(sql(statement).await.unwrap()).await;
        assert_eq!((status, code.as_str()), (400, "bad_request"), "{statement}: {message}");
    }
    assert_eq!(server.archive.summary().await.unwrap().records, before, "nothing was written");
    let schema = get_json(&server, &token, "/api/v1/sql/schema").await;
    assert!(schema["tables"].as_array().unwrap().iter().any(|t| t["name"] == "activity"));
    server.stop().await;
}

#[tokio::test]
async fn admins_manage_accounts_through_the_api() {
    let server = TestServer::start().await;
    let token = server.token("admin").await;
    let post = |body: serde_json::Value| {
        with_token(server.http.post(server.url("/api/v1/users")), &token).json(&body).send()
    };
    let created = post(serde_json::json!({ "username": "dora", "display_name": "Dora DPO", "role": "auditor", "password": PASSWORD })).await.unwrap();
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    assert_eq!(created["role"], "auditor");
    assert!(created.get("password_hash").is_none());
    let (status, code, _) = error_of(
        post(serde_json::json!({ "username": "DORA", "role": "viewer", "password": PASSWORD }))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "conflict"));
    let (status, _, message) = error_of(
        post(serde_json::json!({ "username": "eve", "role": "viewer", "password": "short" }))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(message.contains("12 characters"), "{message}");
    let (status, _, message) = error_of(
        post(
            serde_json::json!({ "username": "has space", "role": "viewer", "password": PASSWORD }),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{message}");
    let patch = |user: &str, body: serde_json::Value| {
        with_token(server.http.patch(server.url(&format!("/api/v1/users/{user}"))), &token)
            .json(&body)
            .send()
    };
    let changed: serde_json::Value =
        patch("dora", serde_json::json!({ "role": "viewer", "disabled": true }))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        (changed["role"].as_str(), changed["disabled"].as_bool()),
        (Some("viewer"), Some(true))
    );
    let (status, _, message) =
        error_of(patch("admin", serde_json::json!({ "role": "viewer" })).await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(message.contains("last enabled admin"), "{message}");
    let (status, code, _) =
        error_of(patch("nobody", serde_json::json!({ "role": "viewer" })).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let list = get_json(&server, &token, "/api/v1/users").await;
    assert_eq!(list.as_array().unwrap().len(), 4);
    let log = server.access_log().await;
    assert!(log.iter().any(|e| e.action == "user_admin"
        && e.detail.contains("created dora as auditor")
        && e.channel == "api"
        && e.username == "admin"));
    server.stop().await;
}

#[tokio::test]
async fn tokens_are_shown_once_work_and_stop_working_when_revoked() {
    let server = TestServer::start().await;
    let token = server.token("viewer").await;
    let created = with_token(server.http.post(server.url("/api/v1/tokens")), &token)
        .json(&serde_json::json!({ "name": "nightly", "expires_in_days": 30 }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    let text = created["token_text"].as_str().unwrap().to_string();
    assert!(text.starts_with("d365a_"));
    let me = get_json(&server, &text, "/api/v1/me").await;
    assert_eq!(me["account"]["username"], "viewer");
    assert_eq!(me["auth"], "token");
    let listed = get_json(&server, &token, "/api/v1/tokens").await;
    assert!(!listed.to_string().contains(&text), "the list never shows token text");
    let id = created["id"].as_i64().unwrap();
    let response =
        with_token(server.http.delete(server.url(&format!("/api/v1/tokens/{id}"))), &token)
            .send()
            .await
            .unwrap();
    assert_eq!(response.status(), 204);
    let response =
        with_token(server.http.get(server.url("/api/v1/me")), &text).send().await.unwrap();
    assert_eq!(response.status(), 401);
    // Someone else's token cannot be revoked.
    let others = server.token("auditor").await;
    let other_id = server.spare_token_id("auditor").await;
    let response =
        with_token(server.http.delete(server.url(&format!("/api/v1/tokens/{other_id}"))), &token)
            .send()
            .await
            .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(get_json(&server, &others, "/api/v1/me").await["auth"], "token");
    server.stop().await;
}

#[tokio::test]
async fn the_openapi_document_is_served_and_describes_every_route() {
    let server = TestServer::start().await;
    let response = server.http.get(server.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200, "served without sign-in");
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for endpoint in ENDPOINTS {
        let operation = &paths[endpoint.path][endpoint.method];
        assert!(operation.is_object(), "{} {}", endpoint.method, endpoint.path);
        if let Some(role) = endpoint.role {
            assert_eq!(operation["x-required-role"], role.as_str());
        }
    }
    // Every documented path is routed (a 404 would be JSON `not_found` from the fallback).
    let token = server.token("admin").await;
    for path in paths.keys() {
        let concrete = path
            .replace("{id}", "1")
            .replace("{user}", "u")
            .replace("{slug}", "activity")
            .replace("{username}", "admin");
        let response =
            with_token(server.http.get(server.url(&concrete)), &token).send().await.unwrap();
        if response.status() == 404 {
            let (_, _, message) = error_of(response).await;
            assert!(!message.contains("no such API endpoint"), "{path} is not routed");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn status_reports_the_archive_totals() {
    let server = TestServer::start().await;
    let token = server.token("viewer").await;
    let status = get_json(&server, &token, "/api/v1/status").await;
    assert_eq!(
        status["archive"]["records"].as_u64().unwrap(),
        server.archive.summary().await.unwrap().records
    );
    assert!(status["problems"].as_array().unwrap().is_empty(), "{status}");
    assert!(status["feeds"].as_array().unwrap().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn reports_are_cached_briefly_and_every_view_is_still_logged() {
    let server = TestServer::start().await;
    let token = server.token("viewer").await;
    let path = "/api/v1/reports/top-users?from=2026-06-02&to=2026-06-03";
    let total = |report: &serde_json::Value| -> u64 {
        report["sections"][0]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["count"].as_u64().unwrap())
            .sum()
    };
    let first = get_json(&server, &token, path).await;
    // A late record arrives for the same day.
    let mut late: serde_json::Value = serde_json::from_str(&generated()[0]).unwrap();
    late["Id"] = "0c7f2e8a-0000-4000-8000-00000000cafe".into();
    server.ingest(vec![serde_json::to_vec(&late).unwrap()]).await;
    let cached = get_json(&server, &token, path).await;
    assert_eq!(total(&cached), total(&first), "within a minute the computed report is reused");
    server.clock.advance(chrono::Duration::seconds(61));
    let fresh = get_json(&server, &token, path).await;
    assert_eq!(total(&fresh), total(&first) + 1, "a period that can still change is recomputed");
    let views = server.access_log().await.iter().filter(|e| e.action == "report").count();
    assert_eq!(views, 3, "cached or not, every view is logged");
    server.stop().await;
}
