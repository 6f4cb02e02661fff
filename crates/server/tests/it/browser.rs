//! Browser tests in a real headless Chromium: an auditor signs in, searches, opens a record and
//! its timeline, prints it, follows a record's field history (audit changes) and its restore
//! plan, reads reports, exports, uses the SQL console and signs out.
//! Screenshots of every step land in `target/test-artifacts/browser/`.

use archive::{Archive, RecordQuery};

use crate::support::{PASSWORD, TestServer};
use crate::webdriver::Driver;

#[tokio::test]
async fn an_auditor_searches_follows_a_record_reads_reports_and_exports() {
    let server = TestServer::start().await;
    let browser = Driver::start().await;

    // Nothing without signing in: the search page sends the browser to the sign-in form.
    browser.goto(&server.url("/search")).await;
    assert!(browser.current_url().await.contains("/sign-in?next=%2Fsearch"));
    assert_eq!(browser.title().await, "Sign in · d365audit");
    browser.screenshot("01-sign-in").await;
    browser.type_into("#username", "auditor").await;
    browser.type_into("#password", "not the password").await;
    browser.click("#sign-in").await;
    assert_eq!(browser.text_of("#sign-in-error").await, "Wrong username or password.");
    browser.type_into("#password", PASSWORD).await;
    browser.click("#sign-in").await;
    browser.wait_url("/search").await;
    assert_eq!(browser.text_of("#who").await, "auditor person");
    browser.screenshot("02-search").await;

    // Search with the one-line query.
    browser.type_into("#f-q", "entity:contact access:read").await;
    browser.click("#search-button").await;
    browser.wait_text("#query-line", "entity:contact access:read").await;
    let rows = browser.find_all("table.records tbody tr").await;
    assert_eq!(rows.len(), 50, "a page of 50");
    for badge in browser.find_all("table.records tbody td .badge").await.iter().take(10) {
        assert_eq!(browser.text(badge).await, "read");
    }
    assert_eq!(browser.text_of("#row-range").await, "Rows 1–50, newest first.");
    browser.screenshot("03-search-results").await;
    browser.click("#next-page").await;
    browser.wait_text("#row-range", "Rows 51–100, newest first.").await;

    // The full record.
    browser.click("table.records tbody tr:first-child td.time a").await;
    browser.wait_url("/records/").await;
    let title = browser.text_of("#record-title").await;
    assert!(title.ends_with("contact"), "{title}");
    let raw = browser.text_of("#raw").await;
    let parsed: serde_json::Value = serde_json::from_str(&raw).expect("the raw record is JSON");
    assert_eq!(parsed["EntityName"], "contact");
    browser.screenshot("04-record").await;

    // Its record timeline, and the printable report.
    browser.click("#record-timeline-link").await;
    browser.wait_url("/timeline/record/").await;
    assert_eq!(browser.text_of("#timeline-title").await, "Record timeline");
    let record_id = browser.text_of("#record-id").await;
    assert!(raw.to_lowercase().contains(&record_id), "the timeline is about the record opened");
    let events = browser.find_all("#timeline tbody tr").await.len() as u64;
    let total = server
        .archive
        .count(&RecordQuery { record_id: Some(record_id.parse().unwrap()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(events, total.min(100));
    assert!(browser.text_of("#event-count").await.starts_with(&total.to_string()));
    browser.screenshot("05-record-timeline").await;
    browser.click("#printable").await;
    browser.wait_url("print=1").await;
    assert!(browser.find_all("header.top").await.len() == 1);
    browser.screenshot("06-record-timeline-printable").await;

    // A record with field history: activity and audit changes in one time line. (Seeded
    // only now, so the timeline above counted activity records alone.)
    let history = crate::changes::seed_history(&server).await;
    let record = history.record;
    browser.goto(&server.url(&format!("/timeline/record/{record}"))).await;
    assert_eq!(browser.text_of("#change-count").await, history.changes.len().to_string());
    assert_eq!(
        browser.find_all("#timeline tbody tr.change").await.len(),
        history.changes.len(),
        "one page holds everything"
    );
    assert_eq!(browser.find_all("#timeline tbody tr.activity").await.len(), history.activity.len());
    let update = browser.text_of(&format!("#change-{}", history.phone_and_parent)).await;
    assert!(update.contains("Update"), "{update}");
    assert!(update.contains("telephone1: 555-0101 -> 555-0102"), "{update}");
    assert!(update.contains("parentcustomerid: A. Datum -> (empty)"), "{update}");
    let share = browser.text_of(&format!("#change-{}", history.share)).await;
    assert!(share.contains("Access of Bob Example (systemuser): no access ->"), "{share}");
    assert!(browser.text_of("#field-counts").await.contains("telephone1"));
    browser.screenshot("06a-record-timeline-field-history").await;
    browser.scroll_to("#field-history").await;
    browser.screenshot("06a-record-timeline-field-history-panel").await;
    browser.scroll_to(&format!("#change-{}", history.share)).await;
    browser.screenshot("06a-record-timeline-events").await;
    browser.click("#field-counts a[href$='field=telephone1']").await;
    browser.wait_url("field=telephone1").await;
    assert_eq!(browser.find_all("#timeline tbody tr.change").await.len(), 4);
    assert_eq!(browser.text_of("#chosen-field").await, "telephone1");
    browser.screenshot("06b-record-timeline-one-column").await;

    // A change in full, with its bytes as received.
    browser.click(&format!("#change-{} a[href^='/change/']", history.phone_and_parent)).await;
    browser.wait_url("/change/").await;
    assert_eq!(
        browser.text_of("#change-title").await,
        format!("Update of contact {}", history.name())
    );
    assert!(browser.text_of("#hash-check").await.contains("matches the bytes below"));
    let raw_row: serde_json::Value =
        serde_json::from_str(&browser.text_of("#raw-row").await).expect("the row is JSON");
    assert_eq!(raw_row["auditid"], history.phone_and_parent.to_string());
    browser.screenshot("06c-change").await;

    // The restore plan, from the form on the timeline.
    browser.click("#change-timeline-link").await;
    browser.wait_url("/timeline/record/").await;
    let at = server::query_input::time_text(history.restore_point());
    browser.type_into("#restore-at", &at).await;
    browser.click("#restore-plan").await;
    browser.wait_url("/restore?at=").await;
    assert_eq!(browser.text_of("#restore-title").await, "Restore plan");
    assert_eq!(browser.text_of("#restore-method").await, "PATCH");
    assert_eq!(browser.text_of("#restore-path").await, format!("contacts({record})"));
    let body: serde_json::Value =
        serde_json::from_str(&browser.text_of("#restore-body").await).expect("the body is JSON");
    assert_eq!(body["telephone1"], "555-0101");
    assert!(browser.text_of("#never-sent").await.contains("d365audit never sends this request"));
    assert_eq!(browser.find_all("#restore-fields tbody tr").await.len(), 2);
    browser.screenshot("06d-restore-plan").await;

    // Reports.
    browser.goto(&server.url("/reports")).await;
    assert_eq!(browser.find_all("#report-list a.card").await.len(), 8);
    browser.screenshot("07-reports").await;
    for slug in ["activity", "categories", "after-hours", "exports-bulk"] {
        browser.goto(&server.url(&format!("/reports/{slug}?from=2026-06-01&to=2026-06-03"))).await;
        assert!(!browser.find_all("figure.chart svg rect.bar").await.is_empty(), "{slug} has bars");
        assert!(
            !browser.find_all("table.report-table tbody tr").await.is_empty(),
            "{slug} has rows"
        );
        if slug == "after-hours" {
            let note = browser.text_of("#report-note").await;
            assert!(note.contains("outside working hours") && !note.starts_with("0 of"), "{note}");
            assert!(!browser.find_all("rect.bar.highlight").await.is_empty());
        }
        browser.screenshot(&format!("08-report-{slug}")).await;
    }

    // Export the search as CSV: a real download.
    browser.goto(&server.url("/search?q=entity:contact")).await;
    browser.click("#export-csv").await;
    let file = browser.downloaded("d365audit-search-").await;
    assert!(file.to_string_lossy().ends_with(".csv"));
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let contacts = server
        .archive
        .count(&RecordQuery { entity: Some("contact".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(text.split("\r\n").filter(|l| !l.is_empty()).count() as u64, contacts + 1);

    // A user's timeline from a search row.
    browser.click("table.records tbody tr:first-child td.wrap a").await;
    browser.wait_url("/timeline/user").await;
    assert!(browser.text_of("#timeline-title").await.starts_with("User timeline: "));
    assert_eq!(browser.find_all("figure.chart svg").await.len(), 2);
    browser.screenshot("09-user-timeline").await;

    // The SQL console.
    browser.goto(&server.url("/sql")).await;
    browser.type_into("#statement", "SELECT count(*) AS records FROM activity").await;
    browser.click("#run-sql").await;
    let total_records = server.archive.summary().await.unwrap().records;
    assert_eq!(browser.text_of("#sql-result tbody td").await, total_records.to_string());
    browser.screenshot("10-sql").await;

    // Collection status.
    browser.goto(&server.url("/status")).await;
    assert_eq!(
        browser.text_of("#records-total").await.replace('\u{202f}', ""),
        total_records.to_string()
    );
    browser.screenshot("11-status").await;

    // Sign out: the session is gone.
    browser.click("#sign-out").await;
    browser.wait_url("/sign-in").await;
    browser.goto(&server.url("/search")).await;
    assert!(browser.current_url().await.contains("/sign-in"));

    // Every step was recorded in the access log.
    let log = server.access_log().await;
    for action in [
        "sign_in_failed",
        "sign_in",
        "search",
        "record_view",
        "record_timeline",
        "report",
        "export",
        "export_done",
        "user_timeline",
        "change_view",
        "restore_plan",
        "sql",
        "sign_out",
    ] {
        assert!(log.iter().any(|e| e.action == action && e.channel == "ui"), "{action} is logged");
    }
    browser.quit().await;
    server.stop().await;
}

#[tokio::test]
async fn a_viewer_sees_no_exports_console_or_admin() {
    let server = TestServer::start().await;
    let browser = Driver::start().await;
    browser.goto(&server.url("/sign-in")).await;
    browser.type_into("#username", "viewer").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#sign-in").await;
    assert_eq!(browser.text_of("#who").await, "viewer person");
    let nav: Vec<String> = {
        let mut texts = Vec::new();
        for link in browser.find_all("header.top nav a").await {
            texts.push(browser.text(&link).await);
        }
        texts
    };
    assert_eq!(nav, vec!["Search", "Reports", "Collection status"]);
    assert!(browser.find_all("#export-csv").await.is_empty());
    browser.goto(&server.url("/sql")).await;
    assert!(browser.text_of("#error").await.contains("needs the auditor role"));
    browser.screenshot("20-viewer-refused").await;
    browser.quit().await;
    server.stop().await;
}
