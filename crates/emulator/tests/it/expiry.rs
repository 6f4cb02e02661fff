//! Seven-day retention: blobs expire, old windows are refused, by moving a ManualClock.

use chrono::Duration;

use crate::support::*;

#[tokio::test]
async fn blobs_expire_seven_days_after_creation() {
    let api = Api::demo().await;
    let blobs = api.list_all("Audit.General", t0() - Duration::hours(1), t0()).await;
    let blob = &blobs[0];
    let created: chrono::DateTime<chrono::Utc> =
        blob["contentCreated"].as_str().unwrap().parse().unwrap();
    let expiration: chrono::DateTime<chrono::Utc> =
        blob["contentExpiration"].as_str().unwrap().parse().unwrap();
    assert_eq!(expiration - created, Duration::days(7));

    // Six days later it is still there.
    api.clock.advance(Duration::days(6));
    let token =
        secret_token(&api.emu, &api.http, emulator::demo::CLIENT_ID, emulator::demo::SECRET_VALUE)
            .await;
    let uri = format!(
        "{}?PublisherIdentifier={}",
        blob["contentUri"].as_str().unwrap(),
        emulator::demo::PUBLISHER_ID
    );
    assert_eq!(api.get_as(&uri, Some(&token)).await.status, 200);

    // Eight days later it is gone, and its window can no longer be listed.
    api.clock.advance(Duration::days(2));
    let token =
        secret_token(&api.emu, &api.http, emulator::demo::CLIENT_ID, emulator::demo::SECRET_VALUE)
            .await;
    let reply = api.get_as(&uri, Some(&token)).await;
    reply.assert_af(400, "AF20051");
    let old_window = api.url(&format!(
        "subscriptions/content?contentType=Audit.General&startTime={}&endTime={}",
        query_time(t0() - Duration::hours(1)),
        query_time(t0())
    ));
    api.get_as(&old_window, Some(&token)).await.assert_af(400, "AF20055");

    // Recent content is listed as usual, and nothing listed has expired.
    let now = t0() + Duration::days(8);
    let recent = api.url(&format!(
        "subscriptions/content?contentType=Audit.General&startTime={}&endTime={}",
        query_time(now - Duration::days(7)),
        query_time(now - Duration::days(7) + Duration::hours(2))
    ));
    let reply = api.get_as(&recent, Some(&token)).await;
    assert_eq!(reply.status, 200);
    for blob in reply.json().as_array().unwrap() {
        let expiration: chrono::DateTime<chrono::Utc> =
            blob["contentExpiration"].as_str().unwrap().parse().unwrap();
        assert!(expiration > now);
    }
}
