//! The sync: completeness against the ground truth, increments, overlap, progress, crash safety.

use std::collections::BTreeMap;
use std::sync::Mutex;

use archive::{Archive, ChangeStore};
use dataverse::{CancellationToken, SyncOptions, SyncProgress, cursor_name, sync_environment};
use record::{ChangeDetail, FieldValue};
use uuid::Uuid;

use crate::support::*;

#[tokio::test]
async fn a_full_sync_stores_the_ground_truth_once_with_decoded_details() {
    let emu = emulator(2).await;
    let client = client(&emu);
    let archive = archive(&emu);
    let summary = sync(&client, &archive, &options()).await;
    let truth = ground_truth(&emu);
    assert!(truth.len() > 500, "the history is big enough to page: {}", truth.len());

    assert_eq!(summary.counts.rows, truth.len() as u64);
    assert_eq!(summary.counts.inserted, truth.len() as u64);
    assert_eq!((summary.counts.duplicates, summary.counts.quarantined), (0, 0));
    assert_eq!(summary.counts.pages, truth.len().div_ceil(250) as u64);
    assert!(!summary.cancelled);
    assert_eq!(summary.from, None, "the first sync reads everything the environment has");
    let newest = truth.iter().map(|r| r.created_on).max();
    assert_eq!(summary.cursor, newest);
    let cursor = archive.archive.cursor(&cursor_name(&client)).await.unwrap().unwrap();
    assert_eq!(chrono::DateTime::parse_from_rfc3339(&cursor).unwrap().to_utc(), newest.unwrap());

    let stored = stored(&archive, &truth).await;
    assert_eq!(archive.archive.change_summary().await.unwrap().changes, truth.len() as u64);
    let with_detail = truth
        .iter()
        .filter(|r| !matches!(r.detail, emulator::dataverse::AuditDetail::Plain))
        .count() as u64;
    assert_eq!(summary.counts.details, with_detail, "a detail request for every row that has one");
    assert_eq!(emu.stats().dataverse.audit_details, with_detail);
    for row in &truth {
        let change = &stored[&row.audit_id];
        assert_matches(row, change);
        assert!(
            matches!(&change.source, archive::ChangeSource::Dataverse { environment }
                if environment == client.environment()),
            "{:?}",
            change.source
        );
        assert!(change.raw_row.starts_with(b"{"), "the row is kept verbatim");
        assert_eq!(change.raw_detail.is_some(), change.change.detail != ChangeDetail::None);
    }

    // Values chain: for every record and column, the new value of one change is the old value
    // of the next change of that column.
    let mut chained = 0;
    let objects: std::collections::BTreeSet<Uuid> = truth.iter().map(|r| r.object_id).collect();
    for object in objects {
        let history = archive.archive.record_changes(object, None).await.unwrap();
        let mut last: BTreeMap<String, Option<FieldValue>> = BTreeMap::new();
        for stored in history {
            let ChangeDetail::Attributes { changes, .. } = &stored.change.detail else { continue };
            for change in changes {
                if let Some(previous) = last.get(&change.field) {
                    assert_eq!(
                        previous.as_ref().map(|v| &v.value),
                        change.old.as_ref().map(|v| &v.value),
                        "{object} {}",
                        change.field
                    );
                    chained += 1;
                }
                last.insert(change.field.clone(), change.new.clone());
            }
        }
    }
    assert!(chained > 50, "the history has changes to chain: {chained}");
}

#[tokio::test]
async fn later_syncs_read_only_the_overlap_and_new_rows() {
    let emu = emulator(1).await;
    let clock = emu.manual_clock().unwrap();
    let client = client(&emu);
    let archive = archive(&emu);
    let first = sync(&client, &archive, &options()).await;
    let truth = ground_truth(&emu);
    assert_eq!(first.counts.inserted, truth.len() as u64);
    let cursor = first.cursor.unwrap();
    let details_before = emu.stats().dataverse.audit_details;

    // Nothing new: the overlap is re-read, counted as duplicates, nothing stored, no detail
    // requested again.
    let second = sync(&client, &archive, &options()).await;
    let overlap = chrono::Duration::minutes(15);
    let in_overlap = truth.iter().filter(|r| r.created_on >= cursor - overlap).count() as u64;
    assert!(in_overlap > 0);
    assert_eq!(second.from, Some(cursor - overlap));
    assert_eq!(second.previous_cursor, Some(cursor));
    assert_eq!(second.counts.inserted, 0);
    assert_eq!(second.counts.rows, in_overlap);
    assert_eq!(second.counts.duplicates, in_overlap);
    assert_eq!(second.cursor, Some(cursor));
    assert_eq!(emu.stats().dataverse.audit_details, details_before, "no detail of stored rows");
    assert_eq!(archive.archive.change_summary().await.unwrap().changes, truth.len() as u64);

    // Half a day later: only the new rows are stored.
    clock.advance(chrono::Duration::hours(12));
    let later = ground_truth(&emu);
    let new_rows = later.len() - truth.len();
    assert!(new_rows > 10, "{new_rows}");
    let third = sync(&client, &archive, &options()).await;
    assert_eq!(third.counts.inserted, new_rows as u64);
    assert_eq!(third.counts.duplicates, in_overlap);
    assert_eq!(third.cursor, later.iter().map(|r| r.created_on).max());
    let stored = stored(&archive, &later).await;
    for row in &later {
        assert_matches(row, &stored[&row.audit_id]);
    }
    assert_eq!(archive.archive.change_summary().await.unwrap().changes, later.len() as u64);
}

#[tokio::test]
async fn a_rescan_counts_duplicates_and_never_moves_the_cursor_back() {
    let emu = emulator(1).await;
    let client = client(&emu);
    let archive = archive(&emu);
    let first = sync(&client, &archive, &options()).await;
    let all = first.counts.inserted;
    let options =
        SyncOptions { rescan_from: Some(fixed_now() - chrono::Duration::days(30)), ..options() };
    let rescan = sync(&client, &archive, &options).await;
    assert_eq!((rescan.counts.inserted, rescan.counts.duplicates), (0, all));
    assert_eq!(rescan.cursor, first.cursor);
    assert_eq!(archive.archive.change_summary().await.unwrap().changes, all);
}

#[tokio::test]
async fn a_first_sync_can_start_later_and_stop_early() {
    let emu = emulator(2).await;
    let client = client(&emu);
    let archive = archive(&emu);
    let start = fixed_now() - chrono::Duration::hours(20);
    let until = fixed_now() - chrono::Duration::hours(8);
    let options = SyncOptions { initial_start: Some(start), until: Some(until), ..options() };
    let summary = sync(&client, &archive, &options).await;
    let window: Vec<_> = ground_truth(&emu)
        .into_iter()
        .filter(|r| r.created_on >= start && r.created_on <= until)
        .collect();
    assert!(!window.is_empty());
    assert_eq!(summary.counts.inserted, window.len() as u64);
    assert_eq!(summary.from, Some(start));
    stored(&archive, &window).await;
    assert_eq!(archive.archive.change_summary().await.unwrap().changes, window.len() as u64);
}

#[tokio::test]
async fn progress_is_reported_after_every_page() {
    let emu = emulator(1).await;
    let client = client(&emu);
    let archive = archive(&emu);
    let seen: Mutex<Vec<SyncProgress>> = Mutex::new(Vec::new());
    let report = |progress: &SyncProgress| seen.lock().unwrap().push(progress.clone());
    let options = SyncOptions { page_size: 100, ..options() };
    let summary = sync_environment(&client, &archive.archive, &archive.archive, &options, &report)
        .await
        .unwrap();
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len() as u64, summary.counts.pages);
    assert!(seen.len() > 2);
    for (index, progress) in seen.iter().enumerate() {
        assert_eq!(progress.counts.pages, index as u64 + 1);
        assert_eq!(progress.environment, client.environment());
    }
    assert!(seen.windows(2).all(|w| w[0].counts.rows < w[1].counts.rows));
    assert!(seen.windows(2).all(|w| w[0].cursor <= w[1].cursor));
    assert_eq!(seen.last().unwrap().counts, summary.counts);
    assert!(seen.last().unwrap().rows_per_second() > 0.0);
}

/// Every stored change as `auditid -> hash`, for comparing archives.
async fn fingerprint(archive: &TestArchive, ids: &[Uuid]) -> BTreeMap<Uuid, String> {
    let mut out = BTreeMap::new();
    for id in ids {
        if let Some(change) = archive.archive.change(*id).await.unwrap() {
            out.insert(*id, change.hash);
        }
    }
    out
}

#[tokio::test]
async fn an_interrupted_sync_resumes_to_the_same_result() {
    let emu = emulator(2).await;
    let client = client(&emu);
    let truth = ground_truth(&emu);
    let ids: Vec<Uuid> = truth.iter().map(|r| r.audit_id).collect();

    let whole = archive(&emu);
    let uninterrupted = sync(&client, &whole, &options()).await;
    assert!(uninterrupted.counts.pages > 3);

    let interrupted = archive(&emu);
    let cancel = CancellationToken::new();
    let stop_after_two = |progress: &SyncProgress| {
        if progress.counts.pages == 2 {
            cancel.cancel();
        }
    };
    let options = SyncOptions { cancel: cancel.clone(), ..options() };
    let partial = sync_environment(
        &client,
        &interrupted.archive,
        &interrupted.archive,
        &options,
        &stop_after_two,
    )
    .await
    .unwrap();
    assert!(partial.cancelled);
    assert_eq!(partial.counts.pages, 2);
    assert_eq!(partial.counts.inserted, 500);
    // The cursor covers exactly the stored pages.
    assert_eq!(partial.cursor, Some(truth[499].created_on));
    assert_eq!(fingerprint(&interrupted, &ids).await.len(), 500);

    let resumed = sync(&client, &interrupted, &self::options()).await;
    assert!(!resumed.cancelled);
    assert_eq!(resumed.from, Some(truth[499].created_on - chrono::Duration::minutes(15)));
    assert_eq!(
        partial.counts.inserted + resumed.counts.inserted,
        uninterrupted.counts.inserted,
        "every row once"
    );
    assert!(resumed.counts.duplicates > 0, "the overlap was re-read");
    assert_eq!(resumed.cursor, uninterrupted.cursor);
    assert_eq!(fingerprint(&interrupted, &ids).await, fingerprint(&whole, &ids).await);
    assert_eq!(
        interrupted.archive.change_summary().await.unwrap(),
        whole.archive.change_summary().await.unwrap()
    );
}

#[tokio::test]
async fn a_cancelled_token_stops_before_the_first_request() {
    let emu = emulator(1).await;
    let client = client(&emu);
    let archive = archive(&emu);
    let options = SyncOptions { cancel: CancellationToken::new(), ..options() };
    options.cancel.cancel();
    let summary = sync(&client, &archive, &options).await;
    assert!(summary.cancelled);
    assert_eq!(summary.counts, dataverse::SyncCounts::default());
    assert_eq!(emu.stats().dataverse.requests, 0);
}

#[tokio::test]
async fn continuous_sync_runs_every_interval_until_cancelled() {
    let emu = emulator(1).await;
    let clock = emu.manual_clock().unwrap();
    let client = client(&emu);
    let archive = archive(&emu);
    let cancel = CancellationToken::new();
    let mut results = Vec::new();
    let mut on_result = |result: &Result<dataverse::SyncSummary, dataverse::SyncError>| {
        let summary = result.as_ref().unwrap().clone();
        results.push(summary);
        // New rows arrive between the first and the second run; stop after the third.
        clock.advance(chrono::Duration::hours(2));
        if results.len() == 3 {
            cancel.cancel();
        }
    };
    let started = std::time::Instant::now();
    dataverse::sync_every(
        &client,
        &archive.archive,
        &archive.archive,
        &options(),
        std::time::Duration::from_millis(200),
        &cancel,
        &mut on_result,
    )
    .await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(400));
    assert_eq!(results.len(), 3);
    assert!(results[0].counts.inserted > 100);
    assert!(results[1].counts.inserted > 0, "rows of the next two hours");
    let truth = ground_truth(&emu);
    let before_last_advance: usize =
        truth.iter().filter(|r| r.created_on <= fixed_now() + chrono::Duration::hours(4)).count();
    let total: u64 = results.iter().map(|r| r.counts.inserted).sum();
    assert_eq!(total, before_last_advance as u64);
}
