//! Paging through `subscriptions/content` with `NextPageUri`.

use std::collections::HashSet;

use chrono::Duration;
use emulator::{Faults, demo};

use crate::support::*;

fn ids(blobs: &[serde_json::Value]) -> Vec<String> {
    blobs.iter().map(|b| b["contentId"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_day_in_tiny_pages_lists_each_blob_exactly_once() {
    let api = Api::demo().await;
    let day = (t0() - Duration::hours(24), t0());
    // Reference: hour by hour with the default page size (no paging needed).
    let mut by_hour = Vec::new();
    for hour in 0..24 {
        let from = day.0 + Duration::hours(hour);
        by_hour.extend(ids(&api.list_all("Audit.General", from, from + Duration::hours(1)).await));
    }
    assert!((270..=300).contains(&by_hour.len()), "{}", by_hour.len());

    api.emu.set_faults(Faults { page_size: Some(5), ..Faults::default() });
    let mut url = api.url(&format!(
        "subscriptions/content?contentType=Audit.General&startTime={}&endTime={}",
        query_time(day.0),
        query_time(day.1)
    ));
    let mut paged = Vec::new();
    let mut pages = 0;
    loop {
        let reply = api.get(&url).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let page = reply.json();
        let page = page.as_array().unwrap();
        assert!(page.len() <= 5);
        paged.extend(ids(page));
        pages += 1;
        let Some(next) = reply.header("NextPageUri") else { break };
        assert_eq!(page.len(), 5, "only the last page is short");
        assert!(next.starts_with(&api.emu.feed_root(demo::TENANT_ID)), "{next}");
        assert!(
            next.contains(
                "startTime=2026-06-14T12%3A00%3A00&endTime=2026-06-15T12%3A00%3A00&nextPage="
            ),
            "{next}"
        );
        url = format!("{next}&PublisherIdentifier={}", demo::PUBLISHER_ID);
    }
    assert_eq!(pages, paged.len().div_ceil(5));
    let unique: HashSet<&String> = paged.iter().collect();
    assert_eq!(unique.len(), paged.len(), "no blob twice");
    let mut expected = by_hour.clone();
    expected.sort();
    let mut got = paged.clone();
    got.sort();
    assert_eq!(got, expected, "tiny pages and hourly windows list the same blobs");
}

#[tokio::test]
async fn the_paging_header_spelling_and_path_are_switchable() {
    let api = Api::demo().await;
    api.emu.set_faults(Faults {
        page_size: Some(2),
        next_page_header: "NextPageUrl".into(),
        next_page_path_v1: true,
        ..Faults::default()
    });
    let url = api.url(&format!(
        "subscriptions/content?contentType=Audit.General&startTime={}&endTime={}",
        query_time(t0() - Duration::hours(1)),
        query_time(t0())
    ));
    let first = api.get(&url).await;
    assert!(first.header("NextPageUri").is_none());
    let next = first.header("NextPageUrl").expect("historical spelling");
    assert!(next.contains("/api/v1/"), "{next}");
    let second = api.get(&format!("{next}&PublisherIdentifier={}", demo::PUBLISHER_ID)).await;
    assert_eq!(second.status, 200);
    let (a, b) = (ids(first.json().as_array().unwrap()), ids(second.json().as_array().unwrap()));
    assert_eq!(a.len(), 2);
    assert!(!b.is_empty() && a.iter().all(|id| !b.contains(id)));
}

#[tokio::test]
async fn omitted_times_page_with_the_window_spelled_out() {
    let api = Api::demo().await;
    api.emu.set_faults(Faults { page_size: Some(10), ..Faults::default() });
    let reply = api.get(&api.url("subscriptions/content?contentType=Audit.General")).await;
    assert_eq!(reply.status, 200);
    let next = reply.header("NextPageUri").unwrap();
    assert!(
        next.contains("startTime=2026-06-14T12%3A00%3A00&endTime=2026-06-15T12%3A00%3A00"),
        "{next}"
    );
}

#[tokio::test]
async fn a_next_page_outside_the_window_is_refused() {
    let api = Api::demo().await;
    api.emu.set_faults(Faults { page_size: Some(1), ..Faults::default() });
    let from = t0() - Duration::hours(2);
    let url = api.url(&format!(
        "subscriptions/content?contentType=Audit.General&startTime={}&endTime={}",
        query_time(from),
        query_time(t0())
    ));
    let next = api.get(&url).await.header("NextPageUri").unwrap();
    let token = next.split("nextPage=").nth(1).unwrap();
    let other_window = api.url(&format!(
        "subscriptions/content?contentType=Audit.General&startTime={}&endTime={}&nextPage={token}",
        query_time(from - Duration::hours(5)),
        query_time(from - Duration::hours(4))
    ));
    api.get(&other_window).await.assert_af(400, "AF20031");
}
