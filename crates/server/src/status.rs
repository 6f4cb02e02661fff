//! Collection status for the status page and `GET /api/v1/status`: the archive's totals, every
//! feed (tenant x content type) with its lag, backlog, gaps and last error, the newest blob
//! gaps and quarantined inputs. A part that cannot be read is reported as a problem, not
//! hidden and not allowed to take the rest of the page down.

use archive::{ArchiveSummary, BlobGap, BlobState, QueueStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::state::{FeedLine, ServerState};

/// Quarantined input as the status page lists it (without its bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantineLine {
    pub source: String,
    pub reason: String,
    pub bytes: u64,
}

/// Everything the status page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectionReport {
    pub generated_at: DateTime<Utc>,
    pub archive: Option<ArchiveSummary>,
    pub feeds: Vec<FeedLine>,
    pub gaps: Vec<BlobGap>,
    pub quarantined: Vec<QuarantineLine>,
    /// Parts that could not be read, in words.
    pub problems: Vec<String>,
}

/// A feed as the blob queue alone knows it (when no collector is plugged in).
pub fn feed_from_queue(queue: &QueueStatus, now: DateTime<Utc>) -> FeedLine {
    let count = |states: &[BlobState]| -> u64 {
        queue
            .counts
            .iter()
            .filter(|(name, _)| states.iter().any(|s| s.as_str() == name))
            .map(|(_, n)| n)
            .sum()
    };
    let backlog = count(&[BlobState::Pending, BlobState::Leased]);
    let gaps = count(&[BlobState::Expired, BlobState::Quarantined, BlobState::Failed]);
    let lag_seconds = queue.oldest_waiting.map(|t| (now - t).num_seconds().max(0));
    let health = if gaps > 0 {
        "gaps"
    } else if lag_seconds.is_some_and(|s| s > 5 * 86_400) {
        "backlog"
    } else {
        "ok"
    };
    FeedLine {
        tenant: queue.tenant_id.to_string(),
        tenant_id: queue.tenant_id,
        content_type: queue.content_type.clone(),
        health: health.into(),
        listed_until: None,
        lag_seconds,
        backlog,
        oldest_waiting: queue.oldest_waiting,
        records: queue.records,
        gaps,
        last_error: queue.last_error.clone(),
        notice: None,
    }
}

/// Reads the status; each part independently.
pub async fn collect(state: &ServerState) -> CollectionReport {
    let backend = state.backend();
    let now = state.now();
    let mut problems = Vec::new();
    let feeds = async {
        if let Some(source) = &state.shared.hooks.collection {
            return source.feeds().await.map_err(|e| format!("the collector's feeds: {e}"));
        }
        backend
            .queue_status()
            .await
            .map(|queues| queues.iter().map(|q| feed_from_queue(q, now)).collect())
            .map_err(|e| format!("the blob queue: {e}"))
    };
    let (summary, feeds, gaps, quarantined) =
        tokio::join!(backend.summary(), feeds, backend.blob_gaps(50), backend.quarantined(20));
    let archive = summary.map_err(|e| problems.push(format!("the archive's totals: {e}"))).ok();
    let feeds = feeds.unwrap_or_else(|e| {
        problems.push(e);
        Vec::new()
    });
    let gaps = gaps.unwrap_or_else(|e| {
        problems.push(format!("the blob gaps: {e}"));
        Vec::new()
    });
    let quarantined = quarantined
        .map(|items| {
            items
                .into_iter()
                .map(|q| QuarantineLine {
                    source: q.source,
                    reason: q.reason,
                    bytes: q.raw.len() as u64,
                })
                .collect()
        })
        .unwrap_or_else(|e| {
            problems.push(format!("the quarantine: {e}"));
            Vec::new()
        });
    for problem in &problems {
        tracing::warn!(problem, "collection status incomplete");
    }
    CollectionReport { generated_at: now, archive, feeds, gaps, quarantined, problems }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn feeds_from_the_queue_show_backlog_gaps_and_lag() {
        let now = Utc.with_ymd_and_hms(2026, 6, 10, 12, 0, 0).unwrap();
        let queue = QueueStatus {
            tenant_id: uuid::Uuid::nil(),
            content_type: "Audit.General".into(),
            counts: vec![
                ("pending".into(), 3),
                ("leased".into(), 1),
                ("done".into(), 40),
                ("expired".into(), 2),
            ],
            oldest_waiting: Some(now - chrono::Duration::hours(2)),
            records: 1234,
            last_error: Some("AF429".into()),
        };
        let feed = feed_from_queue(&queue, now);
        assert_eq!((feed.backlog, feed.gaps, feed.lag_seconds), (4, 2, Some(7200)));
        assert_eq!(feed.health, "gaps");
        assert_eq!(feed.last_error.as_deref(), Some("AF429"));
    }
}
