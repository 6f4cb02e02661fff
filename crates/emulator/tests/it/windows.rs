//! Listing window rules of `subscriptions/content` (reference §1.7).

use chrono::Duration;
use emulator::{ListingRules, OmittedWindow, WindowErrorCode};

use crate::support::*;

fn content(api: &Api, start: &str, end: &str) -> String {
    let mut query = "subscriptions/content?contentType=Audit.General".to_owned();
    if !start.is_empty() {
        query.push_str(&format!(
            "&startTime={}",
            url::form_urlencoded::byte_serialize(start.as_bytes()).collect::<String>()
        ));
    }
    if !end.is_empty() {
        query.push_str(&format!(
            "&endTime={}",
            url::form_urlencoded::byte_serialize(end.as_bytes()).collect::<String>()
        ));
    }
    api.url(&query)
}

#[tokio::test]
async fn violations_answer_af20055_by_default() {
    let api = Api::demo().await;
    for (start, end, why) in [
        ("2026-06-14T11:00:00", "2026-06-15T11:00:01", "more than 24 h"),
        ("2026-06-15T11:00:00", "2026-06-15T10:00:00", "start after end"),
        ("2026-06-15T11:00:00", "2026-06-15T11:00:00", "start equals end"),
        ("2026-06-15T11:00:00", "", "only start"),
        ("", "2026-06-15T11:00:00", "only end"),
        ("2026-06-08T10:00:00", "2026-06-08T12:00:00", "start 7 days + 2 h ago"),
    ] {
        let reply = api.get(&content(&api, start, end)).await;
        reply.assert_af(400, "AF20055");
        assert!(
            reply.json()["error"]["message"].as_str().unwrap().contains("prior to end time"),
            "{why}"
        );
    }
    api.get(&content(&api, "yesterday", "today")).await.assert_af(400, "AF20002");
}

#[tokio::test]
async fn accepted_windows_and_formats() {
    let api = Api::demo().await;
    for (start, end) in [
        ("2026-06-14", "2026-06-15"),
        ("2026-06-14T12:00", "2026-06-15T12:00"),
        ("2026-06-14T12:00:00", "2026-06-15T12:00:00"),
        ("2026-06-14T12:00:00Z", "2026-06-15T12:00:00.000Z"),
        ("2026-06-14T14:00:00+02:00", "2026-06-15T11:59:59.5"),
        ("2026-06-08T11:30:00", "2026-06-08T12:00:00"),
        ("2026-06-15T11:00:00", "2026-06-16T10:00:00"),
    ] {
        let reply = api.get(&content(&api, start, end)).await;
        assert_eq!(reply.status, 200, "{start} {end}: {}", reply.text());
    }
    // Results respect [start, end) on contentCreated.
    let reply = api.get(&content(&api, "2026-06-15T09:00:00", "2026-06-15T10:00:00")).await;
    for blob in reply.json().as_array().unwrap() {
        let created = blob["contentCreated"].as_str().unwrap();
        assert!(
            ("2026-06-15T09:00:00.000Z".."2026-06-15T10:00:00.000Z").contains(&created),
            "{created}"
        );
    }
}

#[tokio::test]
async fn the_older_code_and_strict_formats_are_switchable() {
    let mut config = config_at(t0());
    config.listing = ListingRules {
        window_error_code: WindowErrorCode::Af20030,
        extended_time_formats: false,
        max_age_grace: Duration::zero(),
        reject_exact_max_window: true,
        ..ListingRules::default()
    };
    let api = Api::start(config).await;
    api.get(&content(&api, "2026-06-14T12:00:00", "2026-06-15T12:00:00"))
        .await
        .assert_af(400, "AF20030");
    api.get(&content(&api, "2026-06-08T11:30:00", "2026-06-08T12:00:00"))
        .await
        .assert_af(400, "AF20030");
    api.get(&content(&api, "2026-06-15T10:00:00Z", "2026-06-15T11:00:00Z"))
        .await
        .assert_af(400, "AF20002");
    assert_eq!(
        api.get(&content(&api, "2026-06-15T10:00:00", "2026-06-15T11:00:00")).await.status,
        200
    );
}

#[tokio::test]
async fn omitted_times_follow_the_configured_behaviour() {
    let api = Api::demo().await;
    let last_day = api.get(&content(&api, "", "")).await;
    assert_eq!(last_day.status, 200);
    let explicit = api.get(&content(&api, "2026-06-14T12:00:00", "2026-06-15T12:00:00")).await;
    assert_eq!(last_day.json(), explicit.json());

    let mut config = config_at(t0());
    config.listing.omitted_window = OmittedWindow::TodaySinceMidnight;
    let today = Api::start(config).await;
    let reply = today.get(&content(&today, "", "")).await;
    let since_midnight =
        today.get(&content(&today, "2026-06-15T00:00:00", "2026-06-15T12:00:00")).await;
    assert_eq!(reply.json(), since_midnight.json());

    let mut config = config_at(t0());
    config.listing.omitted_window = OmittedWindow::Legacy2019Error;
    let legacy = Api::start(config).await;
    let reply = legacy.get(&content(&legacy, "", "")).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        serde_json::json!({"error": {"code": "String reference not set to an instance of a String.\r\nParameter name", "message": "s"}})
    );
}

#[tokio::test]
async fn oversized_windows_can_silently_list_partially() {
    let mut config = config_at(t0());
    config.listing.oversized_window_partial = true;
    let api = Api::start(config).await;
    let long = api.get(&content(&api, "2026-06-13T12:00:00", "2026-06-15T12:00:00")).await;
    assert_eq!(long.status, 200, "{}", long.text());
    let first_day = api.get(&content(&api, "2026-06-13T12:00:00", "2026-06-14T12:00:00")).await;
    assert_eq!(long.json(), first_day.json(), "only the first 24 hours are listed");
}
