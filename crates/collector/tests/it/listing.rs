//! Listing under trouble: subscriptions that disappear (and the 15-minute start rule), windows
//! that keep failing (retried, never skipped), configuration errors, a service clock ahead of
//! ours (AF20055 / AF20030), and ranges that can no longer be listed (lost windows).

use std::sync::Arc;

use chrono::Duration;
use clock::ManualClock;
use collector::{Collector, FeedOutcome};
use emulator::{Faults, Operation, WindowErrorCode, demo};
use settings::RecordScope;
use tokio_util::sync::CancellationToken;

use crate::support::*;

#[tokio::test]
async fn a_stopped_subscription_is_started_again_but_never_twice_in_15_minutes() {
    let h = Harness::start(emulator_config(20)).await;
    h.collector().run_once().await.unwrap();
    let admin = direct_client(&h.emu, h.clock.clone());
    admin.stop_subscription(o365::ContentType::General).await.unwrap();

    h.clock.advance(Duration::minutes(20));
    let summary = h.collector().run_once().await.unwrap();
    assert_eq!(summary.counts.resubscribes, 1);
    assert_eq!(summary.feeds[0].outcome, FeedOutcome::CaughtUp, "{summary:#?}");
    assert_eq!(summary.feeds[0].listed_until, Some(t0() + Duration::minutes(20)));
    assert_eq!(h.emu.stats().requests(Operation::StartSubscription), 1);

    // Stopped again 5 minutes later: a start now would break Microsoft's rule. The feed fails
    // (retried later), even from a new process, and the cursor stays.
    admin.stop_subscription(o365::ContentType::General).await.unwrap();
    h.clock.advance(Duration::minutes(5));
    let collector = h.collector();
    let summary = collector.run_once().await.unwrap();
    let FeedOutcome::Failing { error, operator_action, .. } = &summary.feeds[0].outcome else {
        panic!("{summary:#?}")
    };
    assert!(error.contains("15 minutes"), "{error}");
    assert!(!operator_action);
    assert_eq!(h.emu.stats().requests(Operation::StartSubscription), 1, "no second start sent");
    assert_eq!(summary.feeds[0].listed_until, Some(t0() + Duration::minutes(20)));
    assert!(!summary.complete());
    let status = collector.status().await.unwrap();
    assert_eq!(status.feeds[0].health(), "failing");
    assert!(status.feeds[0].listing_error.as_deref().unwrap().contains("15 minutes"));

    h.clock.advance(Duration::minutes(15));
    let summary = collector.run_once().await.unwrap();
    assert_eq!(summary.feeds[0].outcome, FeedOutcome::CaughtUp, "{summary:#?}");
    assert_eq!(h.emu.stats().requests(Operation::StartSubscription), 2);
    let status = collector.status().await.unwrap();
    assert_eq!(status.feeds[0].health(), "ok", "{:?}", status.feeds[0]);
    assert!(status.feeds[0].failing_since.is_none());
}

#[tokio::test]
async fn a_failing_window_is_retried_and_never_skipped() {
    let mut config = emulator_config(21);
    config.faults = Faults { internal_error_next: 1_000, ..Faults::default() };
    let h = Harness::start_with(config, "request_attempts = 2", "").await;
    let collector = h.collector();
    let summary = collector.run_once().await.unwrap();
    let FeedOutcome::Failing { error, operator_action, .. } = &summary.feeds[0].outcome else {
        panic!("{summary:#?}")
    };
    assert!(error.contains("AF50000"), "{error}");
    assert!(!operator_action);
    assert_eq!(summary.feeds[0].listed_until, None, "the cursor did not move");
    assert_eq!(summary.counts.blobs_new, 0);
    assert_eq!(summary.gaps(), 0, "a failing window is not a loss yet");
    let status = collector.status().await.unwrap();
    assert_eq!(status.feeds[0].health(), "failing");
    assert_eq!(status.feeds[0].failing_since, Some(t0()));

    // Two hours later the service works again: everything since the start is collected.
    h.emu.set_faults(Faults::default());
    h.clock.advance(Duration::hours(2));
    let summary = collector.run_once().await.unwrap();
    assert!(summary.complete(), "{summary:#?}");
    let truth = h.truth(&RecordScope::default(), t0() + Duration::hours(2)).await;
    h.assert_matches(&truth).await;
    let status = collector.status().await.unwrap();
    assert_eq!(status.feeds[0].health(), "ok");
    assert!(status.feeds[0].listing_error.as_deref().unwrap().contains("AF50000"), "kept");
}

#[tokio::test]
async fn a_missing_permission_is_reported_as_an_operator_action() {
    let h = Harness::start_with(
        emulator_config(22),
        "",
        &format!(
            "client_id = \"{}\"\nclient_secret_env = \"UNPRIVILEGED_SECRET\"",
            demo::UNPRIVILEGED_CLIENT_ID
        ),
    )
    .await;
    let collector = h.collector();
    let summary = collector.run_once().await.unwrap();
    let FeedOutcome::Failing { action, operator_action, .. } = &summary.feeds[0].outcome else {
        panic!("{summary:#?}")
    };
    assert!(operator_action);
    assert!(action.contains("ActivityFeed.Read"), "{action}");
    let status = collector.status().await.unwrap();
    assert!(status.feeds[0].listing_error.as_deref().unwrap().contains("ActivityFeed.Read"));
}

#[tokio::test]
async fn a_service_clock_ahead_of_ours_makes_windows_rebuilt_not_skipped() {
    for (seed, code) in [(23, WindowErrorCode::Af20055), (24, WindowErrorCode::Af20030)] {
        let mut config = emulator_config(seed);
        config.listing.max_age_grace = Duration::zero();
        config.listing.window_error_code = code;
        config.listing.reject_exact_max_window = true;
        let h = Harness::start(config).await;
        // Our clock is 30 minutes behind the service's.
        let ours = Arc::new(ManualClock::frozen_at(t0() - Duration::minutes(30)));
        let collector =
            Collector::new(&h.settings, h.queued(), ours, CancellationToken::new()).unwrap();
        let summary = collector.run_once().await.unwrap();
        assert!(summary.complete(), "{code:?}: {summary:#?}");
        assert_eq!(summary.gaps(), 0, "nothing existed in the range the service refused");
        assert_eq!(summary.feeds[0].listed_until, Some(t0() - Duration::minutes(30)));
        assert!(
            h.emu.stats().requests(Operation::ListContent) > u64::from(summary.feeds[0].windows)
        );
        let truth = h.truth(&RecordScope::default(), t0() - Duration::minutes(30)).await;
        h.assert_matches(&truth).await;
    }
}

#[tokio::test]
async fn a_range_older_than_7_days_before_it_was_listed_is_a_lost_window() {
    // After the outage a week is listed: blobs live 12 hours here, so that only the last 12
    // hours of it have content to fetch (keeps the test fast).
    let mut config = emulator_config(25);
    config.content_retention = Duration::hours(12);
    let h = Harness::start(config).await;
    let collector = h.collector();
    collector.run_once().await.unwrap();
    // The collector was down for 8 days.
    h.clock.advance(Duration::days(8));
    let summary = collector.run_once().await.unwrap();
    assert_eq!(summary.counts.windows_lost, 1);
    assert_eq!(summary.gaps(), 1);
    let status = collector.status().await.unwrap();
    let lost = &status.feeds[0].lost_windows;
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].start, t0());
    assert_eq!(lost[0].end, t0() + Duration::days(1) + Duration::minutes(5));
    assert!(lost[0].reason.contains("Purview"), "{}", lost[0].reason);
    assert_eq!(status.feeds[0].health(), "gaps");
    // Recorded once: the next round does not find it again.
    h.clock.advance(Duration::minutes(30));
    let summary = collector.run_once().await.unwrap();
    assert_eq!(summary.counts.windows_lost, 0);
    assert_eq!(collector.status().await.unwrap().feeds[0].lost_windows.len(), 1);
}

#[tokio::test]
async fn audit_logging_off_and_a_wrong_secret_are_reported_as_operator_actions() {
    // Unified audit logging off: Microsoft's odd "Tenant ... does not exist" error.
    let mut config = emulator_config(26);
    config.tenants[0].unified_audit_enabled = false;
    let h = Harness::start(config).await;
    let summary = h.collector().run_once().await.unwrap();
    let FeedOutcome::Failing { action, operator_action, .. } = &summary.feeds[0].outcome else {
        panic!("{summary:#?}")
    };
    assert!(operator_action);
    assert!(action.contains("unified audit logging is off"), "{action}");

    // The secret's ID where its value belongs (AADSTS7000215).
    let h = Harness::start_with(emulator_config(27), "", "client_secret_env = \"SECRET_ID\"").await;
    let summary = h.collector().run_once().await.unwrap();
    let FeedOutcome::Failing { action, operator_action, .. } = &summary.feeds[0].outcome else {
        panic!("{summary:#?}")
    };
    assert!(operator_action);
    assert!(action.to_lowercase().contains("value"), "{action}");
    assert_eq!(h.emu.stats().requests(Operation::ListContent), 0, "nothing sent without a token");
}
