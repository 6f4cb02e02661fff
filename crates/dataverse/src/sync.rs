//! The incremental sync of one Dataverse environment's audit log into the archive: read the
//! `audits` table in `createdon` order from the environment's cursor (minus an overlap window,
//! because rows become visible late), fetch `RetrieveAuditDetails` for the rows that have one,
//! and store every page as one [`ChangeBatch`] together with the advanced cursor, so a crash
//! never skips a row and the overlap's re-read rows are absorbed as duplicates by `auditid`.
//!
//! Which rows get `RetrieveAuditDetails` ([`DetailPolicy::Needed`], the default): rows with an
//! attribute mask (changed columns: old and new values), rows whose action is a sharing,
//! N:N relationship (including role assignments), security-role privilege or user-access event
//! (their whole meaning is in the detail), and deletes (the detail holds the deleted row's old
//! values, which is what a restore needs). Other rows (Assign, Merge, Qualify, audit-setting
//! changes, ...) carry everything in the row itself, so no request is spent on them. Rows
//! already in the archive (re-read in the overlap window) get no detail request either.
//!
//! A detail Dataverse does not have (404) leaves the change with [`record::ChangeDetail::None`]
//! and is counted in [`SyncCounts::details_missing`]. A detail whose bytes cannot be decoded is
//! stored verbatim with the change (`raw_detail`) with `ChangeDetail::None`, and its bytes are
//! also quarantined with the reason, so a person sees it; it is counted in
//! [`SyncCounts::details_malformed`]. A row that cannot be read is quarantined with its bytes.

use std::fmt;
use std::time::Duration;

use archive::{
    Archive, ArchiveError, ChangeBatch, ChangeSource, ChangeStore, IncomingChange, Quarantined,
};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use record::{AuditCategory, AuditChange, ChangeDetail, MalformedRecord};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{AuditQuery, AuditsPage, DataverseClient, MAX_PAGE_SIZE};
use crate::error::DataverseError;

/// The `action` value of a delete.
const ACTION_DELETE: i32 = 3;

/// Which audit rows get a `RetrieveAuditDetails` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DetailPolicy {
    /// Rows whose meaning is in the detail (see the module documentation). The default.
    #[default]
    Needed,
    /// Every row not yet in the archive (one request per row).
    All,
    /// None: rows only (who, what, when, which columns), no old/new values.
    Never,
}

/// How one sync runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Re-read this much before the cursor (rows become visible late). Default 15 minutes.
    pub overlap: chrono::Duration,
    /// Where the first sync of an environment starts; `None` = everything the environment still
    /// has. Ignored once the environment has a cursor.
    pub initial_start: Option<DateTime<Utc>>,
    /// Read again from here whatever the cursor says (rows already stored count as duplicates;
    /// the cursor never moves back).
    pub rescan_from: Option<DateTime<Utc>>,
    /// Read rows up to here (`createdon le`); `None` = up to the newest.
    pub until: Option<DateTime<Utc>>,
    /// Rows per page (`Prefer: odata.maxpagesize`), 1 to 5,000. Default 1,000.
    pub page_size: u32,
    pub details: DetailPolicy,
    /// Stops the sync between pages (and abandons an unfinished page, which the next run reads
    /// again). Stored pages stay stored.
    pub cancel: CancellationToken,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            overlap: chrono::Duration::minutes(15),
            initial_start: None,
            rescan_from: None,
            until: None,
            page_size: 1_000,
            details: DetailPolicy::Needed,
            cancel: CancellationToken::new(),
        }
    }
}

/// What a sync did so far (or in total).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    /// Pages of `audits` stored.
    pub pages: u64,
    /// Rows read (including duplicates and quarantined rows).
    pub rows: u64,
    /// Changes stored for the first time.
    pub inserted: u64,
    /// Rows already in the archive (overlap re-reads): counted, not stored again.
    pub duplicates: u64,
    /// Rows that could not be read, and details that could not be decoded, kept in quarantine.
    pub quarantined: u64,
    /// `RetrieveAuditDetails` answers received.
    pub details: u64,
    /// Rows whose detail Dataverse did not have (404); stored with no detail.
    pub details_missing: u64,
    /// Details that could not be decoded; stored verbatim with no decoded detail.
    pub details_malformed: u64,
}

impl SyncCounts {
    fn add(&mut self, page: &SyncCounts) {
        self.pages += page.pages;
        self.rows += page.rows;
        self.inserted += page.inserted;
        self.duplicates += page.duplicates;
        self.quarantined += page.quarantined;
        self.details += page.details;
        self.details_missing += page.details_missing;
        self.details_malformed += page.details_malformed;
    }
}

/// Progress of a running sync, given to the progress callback after every stored page.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncProgress {
    pub environment: String,
    pub counts: SyncCounts,
    /// The newest `createdon` stored so far (the cursor as it now stands).
    pub cursor: Option<DateTime<Utc>>,
    /// Where this sync started reading.
    pub from: Option<DateTime<Utc>>,
    pub elapsed: Duration,
}

impl SyncProgress {
    /// Rows read per second so far.
    pub fn rows_per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 { self.counts.rows as f64 / seconds } else { 0.0 }
    }
}

/// What a finished (or cancelled) sync did.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSummary {
    pub environment: String,
    /// The archive cursor this sync reads and advances (`dataverse:<host>:createdon`).
    pub cursor_name: String,
    /// The cursor before the sync.
    pub previous_cursor: Option<DateTime<Utc>>,
    /// Where the sync started reading (`createdon ge`); `None` = from the oldest row.
    pub from: Option<DateTime<Utc>>,
    /// The cursor after the sync: the newest `createdon` fully stored.
    pub cursor: Option<DateTime<Utc>>,
    pub counts: SyncCounts,
    /// Stopped by the cancellation token before the last page.
    pub cancelled: bool,
    pub elapsed: Duration,
}

impl fmt::Display for SyncSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        write!(
            f,
            "{}: {} page(s), {} row(s): {} new, {} already stored, {} quarantined; {} detail(s) \
             ({} missing, {} undecodable)",
            self.environment,
            c.pages,
            c.rows,
            c.inserted,
            c.duplicates,
            c.quarantined,
            c.details,
            c.details_missing,
            c.details_malformed
        )?;
        match self.cursor {
            Some(cursor) => write!(f, "; up to {}", cursor.to_rfc3339())?,
            None => f.write_str("; no rows yet")?,
        }
        if self.cancelled {
            f.write_str(" (cancelled; the next sync continues from here)")?;
        }
        Ok(())
    }
}

/// A sync failed. Pages stored before the failure stay stored, and the cursor covers exactly
/// them: running the sync again continues where it stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    #[error(transparent)]
    Dataverse(#[from] DataverseError),
    #[error("the archive failed during the Dataverse sync: {0}")]
    Archive(#[from] ArchiveError),
    /// The stored cursor is not a time.
    #[error(
        "the archive cursor {name} holds {value:?}, which is not a time; start the sync with an \
         explicit rescan start to overwrite it"
    )]
    BadCursor { name: String, value: String },
    /// A page of `audits` is not the documented JSON; its bytes were quarantined.
    #[error(
        "page {page} of audits from {environment} is not the documented JSON ({reason}); its {bytes} \
         bytes are in quarantine and the cursor did not move: run the sync again (if it repeats, \
         report it with the quarantined bytes)"
    )]
    MalformedPage { environment: String, page: u64, reason: String, bytes: usize },
}

impl SyncError {
    /// Whether running again later (without changing anything) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Dataverse(e) => e.is_transient(),
            SyncError::MalformedPage { .. } => true,
            SyncError::Archive(_) | SyncError::BadCursor { .. } => false,
        }
    }
}

/// The archive cursor of an environment: `dataverse:<host>:createdon`.
pub fn cursor_name(client: &DataverseClient) -> String {
    format!("dataverse:{}:createdon", client.environment_host())
}

/// Whether `policy` wants the detail of `change`.
pub fn wants_detail(policy: DetailPolicy, change: &AuditChange) -> bool {
    match policy {
        DetailPolicy::Never => false,
        DetailPolicy::All => true,
        DetailPolicy::Needed => {
            !change.attribute_mask.is_empty()
                || change.action.0 == ACTION_DELETE
                || matches!(
                    change.action.category(),
                    AuditCategory::Sharing
                        | AuditCategory::Relationship
                        | AuditCategory::SecurityRole
                        | AuditCategory::UserAccess
                )
        }
    }
}

/// A no-op progress callback.
pub fn no_progress(_: &SyncProgress) {}

/// Syncs one environment once: from the cursor (minus the overlap) to the newest row, page by
/// page, each page stored with the advanced cursor in one transaction. `archive` reads the
/// cursor; `store` takes the changes (usually the same backend). `progress` is called after
/// every stored page.
pub async fn sync_environment(
    client: &DataverseClient,
    archive: &dyn Archive,
    store: &dyn ChangeStore,
    options: &SyncOptions,
    progress: &(dyn Fn(&SyncProgress) + Send + Sync),
) -> Result<SyncSummary, SyncError> {
    let started = Instant::now();
    let environment = client.environment().to_owned();
    let name = cursor_name(client);
    let previous = match archive.cursor(&name).await? {
        None => None,
        Some(text) => Some(
            DateTime::parse_from_rfc3339(text.trim())
                .map(|t| t.to_utc())
                .map_err(|_| SyncError::BadCursor { name: name.clone(), value: text.clone() })?,
        ),
    };
    let from = options
        .rescan_from
        .or_else(|| previous.map(|cursor| cursor - options.overlap))
        .or(options.initial_start);
    let page_size = options.page_size.clamp(1, MAX_PAGE_SIZE);
    let query = AuditQuery { since: from, until: options.until, page_size };
    tracing::info!(
        environment = %environment,
        cursor = ?previous,
        from = ?from,
        "Dataverse audit sync starting"
    );

    let mut summary = SyncSummary {
        environment: environment.clone(),
        cursor_name: name.clone(),
        previous_cursor: previous,
        from,
        cursor: previous,
        counts: SyncCounts::default(),
        cancelled: false,
        elapsed: Duration::ZERO,
    };
    let cancel = &options.cancel;
    let mut page_number: u64 = 1;
    let mut next = tokio::select! {
        biased;
        () = cancel.cancelled() => None,
        page = client.audits(&query) => Some(page?),
    };
    summary.cancelled = next.is_none();
    while let Some(page) = next.take() {
        let work = PageWork {
            client,
            store,
            environment: &environment,
            cursor_name: &name,
            number: page_number,
            details: options.details,
        };
        let Some((counts, cursor, next_link)) = work.store(&page, summary.cursor, cancel).await?
        else {
            summary.cancelled = true;
            break;
        };
        summary.counts.add(&counts);
        summary.cursor = cursor;
        progress(&SyncProgress {
            environment: environment.clone(),
            counts: summary.counts,
            cursor: summary.cursor,
            from,
            elapsed: started.elapsed(),
        });
        let Some(link) = next_link else { break };
        page_number += 1;
        next = tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            page = client.next_audits(&link, page_size) => Some(page?),
        };
        summary.cancelled = next.is_none();
    }
    summary.elapsed = started.elapsed();
    tracing::info!(summary = %summary, "Dataverse audit sync finished");
    Ok(summary)
}

/// One page being stored.
struct PageWork<'a> {
    client: &'a DataverseClient,
    store: &'a dyn ChangeStore,
    environment: &'a str,
    cursor_name: &'a str,
    number: u64,
    details: DetailPolicy,
}

/// A row of a page: its bytes and what they parse to.
struct Row {
    number: usize,
    bytes: Vec<u8>,
    parsed: Result<AuditChange, MalformedRecord>,
}

/// What the detail request of one row gave.
enum Detail {
    NotWanted,
    Missing,
    Got { raw: Vec<u8>, decoded: Result<ChangeDetail, MalformedRecord> },
}

impl PageWork<'_> {
    fn source(&self, row: usize) -> String {
        format!("dataverse {} audits page {} row {row}", self.environment, self.number)
    }

    /// Splits, parses, fetches details and stores the page with the advanced cursor. Returns the
    /// page's counts, the cursor after it, and the next link; `None` when cancelled while the
    /// details were fetched (nothing of the page is stored then; once the write has begun it is
    /// not interrupted).
    async fn store(
        &self,
        page: &AuditsPage,
        cursor: Option<DateTime<Utc>>,
        cancel: &CancellationToken,
    ) -> Result<Option<(SyncCounts, Option<DateTime<Utc>>, Option<String>)>, SyncError> {
        let split = match page.split() {
            Ok(split) => split,
            Err(malformed) => {
                let batch = ChangeBatch {
                    changes: Vec::new(),
                    quarantined: vec![Quarantined {
                        source: format!(
                            "dataverse {} audits page {}",
                            self.environment, self.number
                        ),
                        reason: malformed.reason.clone(),
                        raw: malformed.bytes.clone(),
                    }],
                    cursors: Vec::new(),
                };
                self.store.ingest_changes(batch).await?;
                return Err(SyncError::MalformedPage {
                    environment: self.environment.to_owned(),
                    page: self.number,
                    reason: malformed.reason,
                    bytes: malformed.bytes.len(),
                });
            }
        };
        let next_link = split.next_link.clone();
        let rows: Vec<Row> = split
            .rows
            .iter()
            .enumerate()
            .map(|(index, raw)| {
                let bytes = raw.get().as_bytes().to_vec();
                let parsed = record::parse_audit_row(&bytes);
                Row { number: index + 1, bytes, parsed }
            })
            .collect();

        let details = tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(None),
            details = self.fetch_details(&rows) => details?,
        };

        let mut counts = SyncCounts { pages: 1, rows: rows.len() as u64, ..SyncCounts::default() };
        let mut batch = ChangeBatch::default();
        let mut newest = cursor;
        for (row, detail) in rows.into_iter().zip(details) {
            let mut change = match row.parsed {
                Ok(change) => change,
                Err(malformed) => {
                    batch.quarantined.push(Quarantined {
                        source: self.source(row.number),
                        reason: format!("audit row cannot be read: {}", malformed.reason()),
                        raw: row.bytes,
                    });
                    continue;
                }
            };
            newest = newest.max(Some(change.created_on));
            let raw_detail = match detail {
                Detail::NotWanted => None,
                Detail::Missing => {
                    counts.details_missing += 1;
                    None
                }
                Detail::Got { raw, decoded } => {
                    counts.details += 1;
                    match decoded {
                        Ok(decoded) => change.detail = decoded,
                        Err(malformed) => {
                            counts.details_malformed += 1;
                            batch.quarantined.push(Quarantined {
                                source: format!(
                                    "{} RetrieveAuditDetails {}",
                                    self.source(row.number),
                                    change.audit_id
                                ),
                                reason: format!(
                                    "audit detail cannot be decoded (the change is stored with \
                                     these bytes but without old/new values): {}",
                                    malformed.reason()
                                ),
                                raw: raw.clone(),
                            });
                        }
                    }
                    Some(raw)
                }
            };
            batch.changes.push(IncomingChange {
                raw_row: row.bytes,
                raw_detail,
                source: ChangeSource::Dataverse { environment: self.environment.to_owned() },
                change,
            });
        }
        if let Some(newest) = newest {
            batch.cursors.push((self.cursor_name.to_owned(), cursor_text(newest)));
        }
        let receipt = self.store.ingest_changes(batch).await?;
        counts.inserted = receipt.inserted;
        counts.duplicates = receipt.duplicates;
        counts.quarantined = receipt.quarantined;
        tracing::debug!(
            environment = self.environment,
            page = self.number,
            rows = counts.rows,
            inserted = counts.inserted,
            duplicates = counts.duplicates,
            "Dataverse audit page stored"
        );
        Ok(Some((counts, newest, next_link)))
    }

    /// The details of the rows that want one, in row order, with at most the client's
    /// concurrency in flight.
    async fn fetch_details(&self, rows: &[Row]) -> Result<Vec<Detail>, SyncError> {
        let wanted: Vec<Option<uuid::Uuid>> = rows
            .iter()
            .map(|row| match &row.parsed {
                Ok(change) if wants_detail(self.details, change) => Some(change.audit_id),
                _ => None,
            })
            .collect();
        let concurrency = self.client.concurrency();
        let results: Vec<Result<Detail, SyncError>> = stream::iter(wanted)
            .map(|id| async move {
                let Some(id) = id else { return Ok(Detail::NotWanted) };
                // Rows re-read in the overlap are already stored: no request for them.
                if self.store.change(id).await?.is_some() {
                    return Ok(Detail::NotWanted);
                }
                Ok(match self.client.audit_details(id).await? {
                    None => Detail::Missing,
                    Some(details) => Detail::Got { raw: details.raw, decoded: details.detail },
                })
            })
            .buffered(concurrency)
            .collect()
            .await;
        results.into_iter().collect()
    }
}

/// How the cursor is written: RFC 3339, UTC, with the precision Dataverse gave.
fn cursor_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Syncs `client`'s environment once per `interval` until `cancel` fires (for `d365audit
/// serve`): the first sync starts at once; a failed sync is reported to `on_result` and retried
/// at the next interval. Cancelling stops a running sync between pages (stored pages stay) and
/// returns.
pub async fn sync_every(
    client: &DataverseClient,
    archive: &dyn Archive,
    store: &dyn ChangeStore,
    options: &SyncOptions,
    interval: Duration,
    cancel: &CancellationToken,
    on_result: &mut (dyn FnMut(&Result<SyncSummary, SyncError>) + Send),
) {
    let mut options = options.clone();
    options.cancel = cancel.child_token();
    loop {
        let result = sync_environment(client, archive, store, &options, &no_progress).await;
        match &result {
            Ok(summary) => tracing::info!(summary = %summary, "Dataverse sync done"),
            Err(error) => tracing::warn!(
                environment = client.environment(),
                error = %error,
                transient = error.is_transient(),
                "Dataverse sync failed; trying again at the next interval"
            ),
        }
        on_result(&result);
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use record::{AuditAction, AuditOperation};
    use uuid::Uuid;

    use super::*;

    fn change(action: i32, mask: &[u32]) -> AuditChange {
        AuditChange {
            audit_id: Uuid::nil(),
            created_on: DateTime::UNIX_EPOCH,
            action: AuditAction(action),
            operation: AuditOperation(2),
            table: "contact".into(),
            object_id: None,
            object_name: None,
            user_id: None,
            user_name: None,
            calling_user_id: None,
            transaction_id: None,
            attribute_mask: mask.to_vec(),
            detail: ChangeDetail::None,
        }
    }

    #[test]
    fn which_rows_get_details() {
        let needed =
            |action, mask: &[u32]| wants_detail(DetailPolicy::Needed, &change(action, mask));
        assert!(needed(2, &[47, 45]), "update with changed columns");
        assert!(needed(1, &[12]), "create with columns");
        assert!(!needed(2, &[]), "update without a mask");
        assert!(needed(3, &[]), "delete: old values");
        for action in [14, 48, 49, 33, 34, 53, 54, 55, 56, 57, 58, 59, 64, 65] {
            assert!(needed(action, &[]), "{action}");
        }
        for action in [13, 12, 24, 105, 111] {
            assert!(!needed(action, &[]), "{action}");
        }
        assert!(wants_detail(DetailPolicy::All, &change(13, &[])));
        assert!(!wants_detail(DetailPolicy::Never, &change(2, &[1])));
    }

    #[test]
    fn summary_reads_well() {
        let summary = SyncSummary {
            environment: "https://contoso.crm4.dynamics.com".into(),
            cursor_name: "dataverse:contoso.crm4.dynamics.com:createdon".into(),
            previous_cursor: None,
            from: None,
            cursor: Some(DateTime::parse_from_rfc3339("2026-05-01T10:00:00Z").unwrap().to_utc()),
            counts: SyncCounts {
                pages: 2,
                rows: 1500,
                inserted: 1490,
                duplicates: 10,
                ..Default::default()
            },
            cancelled: true,
            elapsed: Duration::from_secs(3),
        };
        let text = summary.to_string();
        assert!(text.contains("1490 new, 10 already stored"), "{text}");
        assert!(text.contains("cancelled"), "{text}");
        let progress = SyncProgress {
            environment: summary.environment.clone(),
            counts: summary.counts,
            cursor: summary.cursor,
            from: None,
            elapsed: Duration::from_secs(3),
        };
        assert_eq!(progress.rows_per_second(), 500.0);
    }

    #[test]
    fn cursor_text_round_trips() {
        let at = DateTime::parse_from_rfc3339("2026-05-12T22:19:12.120Z").unwrap().to_utc();
        let text = cursor_text(at);
        assert_eq!(text, "2026-05-12T22:19:12.120Z");
        assert_eq!(DateTime::parse_from_rfc3339(&text).unwrap().to_utc(), at);
    }
}
