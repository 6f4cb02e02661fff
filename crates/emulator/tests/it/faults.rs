//! Each switchable fault of the emulator, through `set_faults` and over HTTP.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use emulator::{Faults, Throttle, demo};
use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn throttling_as_403_and_as_429() {
    let api = Api::demo().await;
    let list = api.url("subscriptions/list");
    api.emu.set_faults(Faults { throttle: Some(Throttle::next(2)), ..Faults::default() });
    for _ in 0..2 {
        let reply = api.get(&list).await;
        reply.assert_af(403, "AF429");
        assert_eq!(
            reply.json()["error"]["message"],
            format!(
                "Too many requests. Method=ListSubscriptions, PublisherId={}",
                demo::PUBLISHER_ID
            )
        );
        assert!(reply.header("retry-after").is_none());
    }
    assert_eq!(api.get(&list).await.status, 200);
    assert_eq!(api.emu.faults().throttle.unwrap().next, 0, "the counter ran down");

    api.emu.set_faults(Faults {
        throttle: Some(Throttle::every(3).with_status(429).with_retry_after(7)),
        ..Faults::default()
    });
    let statuses: Vec<u16> = {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(api.get(&list).await.status);
        }
        statuses
    };
    assert_eq!(statuses, [200, 200, 429, 200, 200, 429]);
    let blobs = api.list_all("Audit.General", t0() - Duration::hours(1), t0()).await;
    api.emu.set_faults(Faults {
        throttle: Some(Throttle::next(1).with_status(429).with_retry_after(7)),
        ..Faults::default()
    });
    let bare = api.get(blobs[0]["contentUri"].as_str().unwrap()).await;
    bare.assert_af(429, "AF429");
    assert_eq!(bare.header("retry-after").as_deref(), Some("7"));
    assert!(
        bare.text().contains("Method=GetBlob, PublisherId=00000000-0000-0000-0000-000000000000")
    );
    assert!(api.emu.stats().faults("AF429") >= 5);
}

#[tokio::test]
async fn the_tenant_quota_resets_every_minute() {
    let api = Api::demo().await;
    let list = api.url("subscriptions/list");
    api.emu.set_faults(Faults { tenant_quota_per_minute: Some(3), ..Faults::default() });
    for _ in 0..3 {
        assert_eq!(api.get(&list).await.status, 200);
    }
    api.get(&list).await.assert_af(403, "AF429");
    api.clock.advance(Duration::minutes(1));
    assert_eq!(api.get(&list).await.status, 200);
}

#[tokio::test]
async fn internal_errors_every_nth_and_next_n() {
    let api = Api::demo().await;
    let list = api.url("subscriptions/list");
    api.emu.set_faults(Faults { internal_error_next: 1, ..Faults::default() });
    api.get(&list).await.assert_af(500, "AF50000");
    assert_eq!(api.get(&list).await.status, 200);
    api.emu.set_faults(Faults { internal_error_every: Some(2), ..Faults::default() });
    assert_eq!(api.get(&list).await.status, 200);
    api.get(&list).await.assert_af(500, "AF50000");
    assert_eq!(api.emu.stats().faults("AF50000"), 2);
}

#[tokio::test]
async fn revoked_tokens_get_401_and_new_tokens_work() {
    let api = Api::demo().await;
    let list = api.url("subscriptions/list");
    assert_eq!(api.get(&list).await.status, 200);
    api.emu.revoke_tokens();
    let reply = api.get(&list).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate").as_deref(), Some("Bearer error=\"invalid_token\""));
    let fresh = secret_token(&api.emu, &api.http, demo::CLIENT_ID, demo::SECRET_VALUE).await;
    assert_eq!(api.get_as(&list, Some(&fresh)).await.status, 200);

    // Over HTTP too.
    let revoke = format!("{}_emulator/revoke-tokens", api.emu.api_base());
    assert_eq!(api.http.post(&revoke).send().await.unwrap().status(), 204);
    assert_eq!(api.get_as(&list, Some(&fresh)).await.status, 401);
}

async fn fetch_all(api: &Api, blobs: &[Value]) -> Vec<Reply> {
    let mut replies = Vec::new();
    for blob in blobs {
        replies.push(api.get_blob(blob).await);
    }
    replies
}

#[tokio::test]
async fn expired_and_malformed_blobs_are_chosen_deterministically() {
    let api = Api::demo().await;
    let blobs = api.list_all("Audit.General", t0() - Duration::hours(4), t0()).await;
    api.emu.set_faults(Faults {
        expired_blob_fraction: 0.3,
        malformed_blob_fraction: 0.3,
        ..Faults::default()
    });
    let first = fetch_all(&api, &blobs).await;
    let second = fetch_all(&api, &blobs).await;
    let outcome = |r: &Reply| match (r.status, serde_json::from_slice::<Value>(&r.body).is_ok()) {
        (200, true) => "ok",
        (200, false) => "malformed",
        (400, _) if r.af_code() == "AF20051" => "expired",
        _ => "other",
    };
    let outcomes: Vec<&str> = first.iter().map(outcome).collect();
    assert_eq!(outcomes, second.iter().map(outcome).collect::<Vec<_>>(), "same choices every time");
    let count = |what| outcomes.iter().filter(|o| **o == what).count();
    assert!(count("expired") >= 3 && count("malformed") >= 3 && count("ok") >= 10, "{outcomes:?}");
    assert_eq!(count("other"), 0);
    // Expired-by-fault blobs are still listed.
    let listed_again = api.list_all("Audit.General", t0() - Duration::hours(4), t0()).await;
    assert_eq!(listed_again, blobs);
    let stats = api.emu.stats();
    assert_eq!(stats.faults("expired_blob") as usize, count("expired") * 2);
    assert_eq!(stats.faults("malformed_blob") as usize, count("malformed") * 2);
}

fn sequence(blob: &Value) -> i64 {
    blob["contentId"].as_str().unwrap()[17..23].parse().unwrap()
}

fn record_ids(reply: &Reply) -> Vec<(String, String)> {
    reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["Id"].as_str().unwrap().to_owned(), r.to_string()))
        .collect()
}

#[tokio::test]
async fn duplicated_records_reappear_in_the_next_blob_with_the_same_bytes() {
    let api = Api::demo().await;
    let blobs = api.list_all("Audit.General", t0() - Duration::hours(3), t0()).await;
    let by_sequence: HashMap<i64, &Value> = blobs.iter().map(|b| (sequence(b), b)).collect();
    let clean: HashMap<i64, Vec<(String, String)>> = {
        let mut clean = HashMap::new();
        for blob in &blobs {
            clean.insert(sequence(blob), record_ids(&api.get_blob(blob).await));
        }
        clean
    };
    for ids in clean.values() {
        let unique: HashSet<&String> = ids.iter().map(|(id, _)| id).collect();
        assert_eq!(unique.len(), ids.len(), "no duplicates without the fault");
    }
    api.emu.set_faults(Faults { duplicate_fraction: 0.2, ..Faults::default() });
    let mut repeated = 0;
    for (seq, blob) in &by_sequence {
        let Some(previous) = clean.get(&(seq - 1)) else { continue };
        let now = record_ids(&api.get_blob(blob).await);
        let own: HashSet<&(String, String)> = clean[seq].iter().collect();
        for record in &now {
            if !own.contains(record) {
                assert!(
                    previous.contains(record),
                    "an extra record is a copy of one in the previous blob"
                );
                repeated += 1;
            }
        }
        assert!(own.iter().all(|r| now.contains(r)), "nothing is lost");
    }
    let previous_total: usize = clean.values().map(Vec::len).sum();
    assert!(repeated > previous_total / 10, "{repeated} of {previous_total}");
}

fn creation_time(record: &Value) -> DateTime<Utc> {
    let text = record["CreationTime"].as_str().unwrap().trim_end_matches('Z');
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").unwrap().and_utc()
}

/// The slot (5-minute interval) a blob was cut from: the one whose number ends in the
/// sequence part of the content ID, ending 20 to 90 minutes before `contentCreated`.
fn slot_start(blob: &Value) -> DateTime<Utc> {
    let created: DateTime<Utc> = blob["contentCreated"].as_str().unwrap().parse().unwrap();
    let seq = sequence(blob);
    let latest = (created - Duration::minutes(20)).timestamp() / 300 - 1;
    let slot = (latest - 20..=latest).find(|s| s % 1_000_000 == seq).unwrap();
    DateTime::from_timestamp(slot * 300, 0).unwrap()
}

#[tokio::test]
async fn stragglers_move_records_into_the_next_blob() {
    let api = Api::demo().await;
    let blobs = api.list_all("Audit.General", t0() - Duration::hours(2), t0()).await;
    let outside = |reply: &Reply, blob: &Value| {
        let start = slot_start(blob);
        reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                let t = creation_time(r);
                t < start || t >= start + Duration::minutes(5)
            })
            .count()
    };
    for blob in &blobs {
        assert_eq!(outside(&api.get_blob(blob).await, blob), 0, "records lie in their blob's slot");
    }
    api.emu.set_faults(Faults { straggler_fraction: 0.3, ..Faults::default() });
    let mut moved = 0;
    for blob in &blobs {
        moved += outside(&api.get_blob(blob).await, blob);
    }
    assert!(moved > 20, "{moved}");
}

#[tokio::test]
async fn late_blobs_turn_up_after_their_window_was_listed() {
    let api = Api::demo().await;
    api.emu.set_faults(Faults {
        late_blob_fraction: 0.3,
        late_blob_delay: Duration::hours(2),
        ..Faults::default()
    });
    let window = (t0() - Duration::hours(1), t0());
    let early = api.list_all("Audit.General", window.0, window.1).await;
    api.advance(Duration::hours(2)).await;
    let url = api.url(&format!(
        "subscriptions/content?contentType=Audit.General&startTime={}&endTime={}",
        query_time(window.0),
        query_time(window.1)
    ));
    let late = api.get(&url).await.json();
    let late = late.as_array().unwrap();
    assert!(late.len() > early.len(), "{} then {}", early.len(), late.len());
    assert!(early.iter().all(|b| late.contains(b)));
}

#[tokio::test]
async fn the_first_blobs_of_a_new_subscription_can_take_hours() {
    let api = Api::demo().await;
    api.emu.set_faults(Faults { first_blob_delay: Duration::hours(12), ..Faults::default() });
    let start = api
        .post(&api.url("subscriptions/start?contentType=Audit.AzureActiveDirectory"), None)
        .await;
    assert_eq!(start.status, 200);
    api.advance(Duration::hours(11)).await;
    let url = api.url(&format!(
        "subscriptions/content?contentType=Audit.AzureActiveDirectory&startTime={}&endTime={}",
        query_time(t0()),
        query_time(t0() + Duration::hours(13))
    ));
    assert_eq!(api.get(&url).await.json(), serde_json::json!([]));
    api.advance(Duration::hours(1)).await;
    let blobs = api.get(&url).await.json();
    assert!(blobs.as_array().unwrap().len() > 100, "everything created meanwhile appears at once");
}

#[tokio::test]
async fn faults_stats_and_clock_over_http() {
    let api = Api::demo().await;
    let base = api.emu.api_base();
    let faults_url = format!("{base}_emulator/faults");
    let put = api
        .http
        .put(&faults_url)
        .json(&serde_json::json!({"page_size": 3, "throttle": {"next": 1, "status": 429}, "late_blob_delay": "30m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let current: Value = api.http.get(&faults_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(current["page_size"], 3);
    assert_eq!(current["late_blob_delay"], "30m");
    assert_eq!(api.emu.faults().throttle.unwrap().status, 429);
    api.get(&api.url("subscriptions/list")).await.assert_af(429, "AF429");

    let advance =
        api.http.post(format!("{base}_emulator/clock/advance?seconds=3600")).send().await.unwrap();
    assert_eq!(advance.status(), 200);
    let now: Value =
        api.http.get(format!("{base}_emulator/clock")).send().await.unwrap().json().await.unwrap();
    assert_eq!(now["now"], "2026-06-15T13:00:00.000Z");

    let stats: Value =
        api.http.get(format!("{base}_emulator/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["operations"]["ListSubscriptions"]["requests"], 1);
    assert_eq!(stats["faults_injected"]["AF429"], 1);

    // The system clock cannot be moved.
    let system = emulator::start(emulator::EmulatorConfig::default()).await.unwrap();
    let refused = api
        .http
        .post(format!("{}_emulator/clock/advance?seconds=60", system.api_base()))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    system.shutdown().await;
}
