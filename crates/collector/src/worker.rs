//! The workers: claim the oldest due blob, fetch it with the tenant's API client (which paces
//! and retries single requests), turn its bytes into records in scope, quarantined records and
//! out-of-scope counts, and settle it: records and blob state in one transaction. A blob that
//! cannot be read becomes a gap with its bytes; a gone blob an `expired` gap; a failing fetch is
//! retried with exponential backoff, then given up as a `failed` gap. Configuration errors wait
//! for the fix (a person must act) until the blob expires.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use archive::{
    AnnouncedBlob, BlobLease, BlobState, IncomingRecord, IngestBatch, IngestReceipt, Quarantined,
    Settlement,
};
use chrono::{DateTime, Duration, Utc};
use o365::Action;
use settings::{CollectorSettings, RecordScope};
use tokio::sync::watch;

use crate::metrics::add;
use crate::{CollectorError, Shared, Tenant, idle_interval};

/// What a blob's bytes held, besides the settlement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobOutcome {
    /// Records in scope, handed to the archive.
    pub records: u64,
    /// Records outside the configured workloads.
    pub out_of_scope: u64,
    /// Records that did not parse (quarantined with their bytes).
    pub malformed: u64,
}

/// Where quarantined bytes of a blob came from: `tenant/contentId`, plus `/index` for one
/// record of it.
fn source_of(blob: &AnnouncedBlob, index: Option<usize>) -> String {
    match index {
        Some(index) => format!("{}/{}/{index}", blob.tenant_id, blob.content_id),
        None => format!("{}/{}", blob.tenant_id, blob.content_id),
    }
}

/// How a fetched blob is settled: its records in scope and its malformed records (with their
/// bytes) in one batch, or the whole blob quarantined as a gap when it is not a JSON array of
/// records at all.
pub fn blob_settlement(
    scope: &RecordScope,
    blob: &AnnouncedBlob,
    bytes: &[u8],
) -> (Settlement, BlobOutcome) {
    let mut outcome = BlobOutcome::default();
    let raws = match record::parse_blob(bytes) {
        Ok(raws) => raws,
        Err(malformed) => {
            let batch = IngestBatch {
                quarantined: vec![Quarantined {
                    source: source_of(blob, None),
                    reason: malformed.to_string(),
                    raw: bytes.to_vec(),
                }],
                ..IngestBatch::default()
            };
            let error = format!("the blob is not a JSON array of records: {}", malformed.reason);
            return (Settlement::Gap { state: BlobState::Quarantined, error, batch }, outcome);
        }
    };
    let mut batch = IngestBatch::default();
    for (index, raw) in raws.iter().enumerate() {
        match raw.parse() {
            Ok(parsed) if scope.includes(&parsed.workload) => {
                outcome.records += 1;
                batch.records.push(IncomingRecord { raw: raw.bytes().to_vec(), record: parsed });
            }
            Ok(_) => outcome.out_of_scope += 1,
            Err(malformed) => {
                outcome.malformed += 1;
                batch.quarantined.push(Quarantined {
                    source: source_of(blob, Some(index)),
                    reason: malformed.reason(),
                    raw: malformed.bytes,
                });
            }
        }
    }
    (Settlement::Done { batch, out_of_scope: outcome.out_of_scope }, outcome)
}

/// The wait before the next attempt at a blob that failed `attempts` times before this failure
/// (0 for the first failure): `retry_delay` doubled per attempt, at most `retry_delay_max`.
pub fn retry_delay(settings: &CollectorSettings, attempts: u32) -> Duration {
    let factor = 2i32.saturating_pow(attempts.min(30));
    settings
        .retry_delay
        .checked_mul(factor)
        .unwrap_or(settings.retry_delay_max)
        .min(settings.retry_delay_max)
}

/// How a failed fetch is settled.
fn error_settlement(
    settings: &CollectorSettings,
    lease: &BlobLease,
    error: &o365::Error,
    now: DateTime<Utc>,
) -> Settlement {
    let blob = &lease.blob;
    let text = error.to_string();
    let action = error.action();
    let gap =
        |state, error: String| Settlement::Gap { state, error, batch: IngestBatch::default() };
    if action == Action::ContentGone {
        return gap(BlobState::Expired, text);
    }
    if now >= blob.content_expiration {
        return gap(BlobState::Expired, format!("expired before it could be fetched: {text}"));
    }
    match action {
        // The URL is not the tenant's API: it will never be fetched with this configuration.
        Action::Refused => gap(BlobState::Failed, text),
        // A person must act; attempts do not run out meanwhile (the blob expires instead).
        Action::FixConfiguration { .. } | Action::Unauthorized => Settlement::Retry {
            error: format!("{text} ({action})"),
            next_attempt: (now + settings.retry_delay_max).min(blob.content_expiration),
        },
        _ if lease.attempts + 1 >= settings.max_attempts => gap(
            BlobState::Failed,
            format!("given up after {} attempts: {text}", lease.attempts + 1),
        ),
        _ => Settlement::Retry {
            error: text,
            next_attempt: now + retry_delay(settings, lease.attempts),
        },
    }
}

/// What kind of settlement was made (for the counters, after the archive took it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    Done,
    Retry,
    Gap(BlobState),
}

impl Settled {
    fn of(settlement: &Settlement) -> Settled {
        match settlement {
            Settlement::Done { .. } => Settled::Done,
            Settlement::Retry { .. } => Settled::Retry,
            Settlement::Gap { state, .. } => Settled::Gap(*state),
        }
    }
}

impl Shared {
    /// A worker: claims and settles blobs until shutdown, or, in `once` mode, until the
    /// polling is over and nothing is due.
    pub(crate) async fn worker_loop(
        self: Arc<Self>,
        once: bool,
        polling_done: watch::Receiver<bool>,
    ) -> Result<(), CollectorError> {
        let mut claim_failures = 0u32;
        loop {
            if self.shutdown.is_cancelled() {
                return Ok(());
            }
            // Read before claiming: when polling was over already, an empty claim means done.
            let polling_over = *polling_done.borrow();
            let claimed = self.archive.claim(1, self.clock.now(), self.settings.lease).await;
            match claimed {
                Ok(mut leases) => {
                    claim_failures = 0;
                    match leases.pop() {
                        Some(lease) => self.work(lease).await,
                        None if once && polling_over => return Ok(()),
                        None => self.idle(idle_interval(&self.settings, once)).await,
                    }
                }
                Err(error) => {
                    claim_failures += 1;
                    tracing::warn!(%error, failures = claim_failures, "cannot claim blobs from the queue");
                    if once && claim_failures >= 3 {
                        return Err(error.into());
                    }
                    self.idle(StdDuration::from_secs(1)).await;
                }
            }
        }
    }

    async fn idle(&self, interval: StdDuration) {
        tokio::select! {
            () = self.wake.notified() => {}
            () = tokio::time::sleep(interval) => {}
            () = self.shutdown.cancelled() => {}
        }
    }

    /// Fetches, parses and settles one claimed blob.
    async fn work(&self, lease: BlobLease) {
        let blob = &lease.blob;
        let Some(tenant) = self.tenant_by_id(blob.tenant_id) else {
            // Another collector (sharing this archive) collects that tenant: its lease lapses
            // and a collector that knows the tenant takes it.
            tracing::debug!(
                tenant_id = %blob.tenant_id,
                content_id = %blob.content_id,
                "blob of a tenant this collector does not collect; left to its lease"
            );
            return;
        };
        let (settlement, outcome) = self.attempt(tenant, &lease).await;
        let settled = Settled::of(&settlement);
        let error = match &settlement {
            Settlement::Retry { error, .. } | Settlement::Gap { error, .. } => Some(error.clone()),
            Settlement::Done { .. } => None,
        };
        match self.archive.settle(&lease, settlement, self.clock.now()).await {
            Ok(Some(receipt)) => self.account(tenant, &lease, settled, outcome, receipt, error),
            Ok(None) => {
                add(&self.counters.leases_lost, 1);
                tracing::warn!(
                    tenant = %tenant.settings.name,
                    content_id = %blob.content_id,
                    "the blob's lease ran out before it was settled; another worker redoes it \
                     (consider a longer collector.lease)"
                );
            }
            Err(error) => {
                let level_error = !error.is_transient();
                if level_error {
                    tracing::error!(
                        tenant = %tenant.settings.name,
                        content_id = %blob.content_id,
                        %error,
                        "cannot store the blob's outcome; it is redone after its lease (check the \
                         archive)"
                    );
                } else {
                    tracing::warn!(
                        tenant = %tenant.settings.name,
                        content_id = %blob.content_id,
                        %error,
                        "cannot store the blob's outcome; it is redone after its lease"
                    );
                }
            }
        }
    }

    async fn attempt(&self, tenant: &Tenant, lease: &BlobLease) -> (Settlement, BlobOutcome) {
        let blob = &lease.blob;
        match tenant.client.fetch_content(&blob.content_uri).await {
            Ok(bytes) => blob_settlement(&tenant.settings.scope, blob, &bytes),
            Err(error) => {
                let settlement = error_settlement(&self.settings, lease, &error, self.clock.now());
                if let (
                    Settlement::Retry { .. },
                    Action::FixConfiguration { .. } | Action::Unauthorized,
                ) = (&settlement, error.action())
                {
                    tracing::error!(
                        tenant = %tenant.settings.name,
                        content_id = %blob.content_id,
                        %error,
                        action = %error.action(),
                        "cannot fetch the blob until a person acts; it waits (and expires 7 days \
                         after it became available)"
                    );
                }
                (settlement, BlobOutcome::default())
            }
        }
    }

    fn account(
        &self,
        tenant: &Tenant,
        lease: &BlobLease,
        settled: Settled,
        outcome: BlobOutcome,
        receipt: IngestReceipt,
        error: Option<String>,
    ) {
        let c = &self.counters;
        let blob = &lease.blob;
        let name = &tenant.settings.name;
        add(&c.records_kept, receipt.inserted);
        add(&c.duplicates_skipped, receipt.duplicates);
        add(&c.duplicate_variants, receipt.variants);
        add(&c.records_quarantined, outcome.malformed);
        let error = error.unwrap_or_default();
        match settled {
            Settled::Done => {
                add(&c.blobs_done, 1);
                add(&c.out_of_scope, outcome.out_of_scope);
                if outcome.malformed > 0 {
                    tracing::warn!(
                        tenant = %name,
                        content_id = %blob.content_id,
                        malformed = outcome.malformed,
                        "records that do not parse were quarantined with their bytes"
                    );
                }
                tracing::debug!(
                    tenant = %name,
                    content_type = %blob.content_type,
                    content_id = %blob.content_id,
                    records = outcome.records,
                    inserted = receipt.inserted,
                    duplicates = receipt.duplicates,
                    out_of_scope = outcome.out_of_scope,
                    "blob stored"
                );
            }
            Settled::Retry => {
                add(&c.blobs_retrying, 1);
                tracing::warn!(
                    tenant = %name,
                    content_id = %blob.content_id,
                    attempts = lease.attempts + 1,
                    %error,
                    "blob fetch failed; retried later"
                );
            }
            Settled::Gap(state) => {
                let counter = match state {
                    BlobState::Expired => &c.blobs_expired,
                    BlobState::Quarantined => &c.blobs_quarantined,
                    _ => &c.blobs_failed,
                };
                add(counter, 1);
                tracing::error!(
                    tenant = %name,
                    content_type = %blob.content_type,
                    content_id = %blob.content_id,
                    content_created = %blob.content_created,
                    state = state.as_str(),
                    %error,
                    "blob recorded as a gap: its records are not in the archive"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use uuid::Uuid;

    fn blob() -> AnnouncedBlob {
        let created = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap();
        AnnouncedBlob {
            tenant_id: Uuid::nil(),
            content_type: "Audit.General".into(),
            content_id: "a$b".into(),
            content_uri: "https://manage.office.com/api/v1.0/t/activity/feed/audit/a$b".into(),
            content_created: created,
            content_expiration: created + Duration::days(7),
            source: archive::Discovery::Webhook,
        }
    }

    const CRM: &str = r#"{"Id":"80c76bd2-9d81-4c57-a97a-accfc3443dca","CreationTime":"2026-06-01T09:01:09","RecordType":21,"Operation":"CrmDefaultActivity","Workload":"CRM","UserId":"alice@contoso.com","Message":"Retrieve","EntityName":"account"}"#;
    const APPS: &str = r#"{"Id":"90c76bd2-9d81-4c57-a97a-accfc3443dca","CreationTime":"2026-06-01T09:01:09","RecordType":45,"Operation":"LaunchPowerApp","Workload":"PowerApps","UserId":"bob@contoso.com"}"#;

    #[test]
    fn records_are_kept_counted_or_quarantined_with_their_bytes() {
        let bytes = format!("[{CRM}, {APPS}, {{\"Id\":\"x\"}}]");
        let (settlement, outcome) =
            blob_settlement(&RecordScope::default(), &blob(), bytes.as_bytes());
        assert_eq!(outcome, BlobOutcome { records: 1, out_of_scope: 1, malformed: 1 });
        let Settlement::Done { batch, out_of_scope } = settlement else { panic!() };
        assert_eq!(out_of_scope, 1);
        assert_eq!(batch.records[0].raw, CRM.as_bytes(), "verbatim bytes");
        assert_eq!(batch.quarantined[0].raw, b"{\"Id\":\"x\"}");
        assert_eq!(batch.quarantined[0].source, "00000000-0000-0000-0000-000000000000/a$b/2");

        let (_, all) = blob_settlement(&RecordScope::All, &blob(), bytes.as_bytes());
        assert_eq!(all, BlobOutcome { records: 2, out_of_scope: 0, malformed: 1 });
    }

    #[test]
    fn an_unreadable_blob_is_a_quarantined_gap_with_its_bytes() {
        let bytes = format!("[{CRM}, {{\"Id\":");
        let (settlement, _) = blob_settlement(&RecordScope::default(), &blob(), bytes.as_bytes());
        let Settlement::Gap { state, batch, error } = settlement else { panic!() };
        assert_eq!(state, BlobState::Quarantined);
        assert_eq!(batch.quarantined[0].raw, bytes.as_bytes());
        assert!(batch.records.is_empty());
        assert!(error.contains("not a JSON array"), "{error}");
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_maximum() {
        let settings = CollectorSettings::default();
        assert_eq!(retry_delay(&settings, 0), Duration::minutes(1));
        assert_eq!(retry_delay(&settings, 1), Duration::minutes(2));
        assert_eq!(retry_delay(&settings, 5), Duration::minutes(32));
        assert_eq!(retry_delay(&settings, 6), Duration::hours(1));
        assert_eq!(retry_delay(&settings, 40), Duration::hours(1));
    }
}
