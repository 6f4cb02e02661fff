//! The pollers: for each feed, list `contentCreated` windows of at most 24 hours from the
//! cursor (minus the trailing overlap) to now, every page, and queue the blobs together with the
//! new cursor. AF20022 / AF20023 start the subscription again (the client keeps Microsoft's
//! 15-minute rule) and retry; AF20030 / AF20055 rebuild the window and retry; any other failure
//! leaves the cursor where it is, is recorded on the feed, and the window is retried next round.

use std::fmt;
use std::sync::atomic::Ordering;

use archive::{AnnouncedBlob, ArchiveError, Discovery, QueueStatus};
use chrono::{DateTime, Duration, Utc};
use futures_util::future::join_all;
use o365::{Action, ContentBlob, ContentType, Fix, ListingWindow, WindowError};
use settings::SettingsError;

use crate::feed::{FeedKey, ListingState, LostWindow, format_cursor, parse_cursor};
use crate::metrics::{FeedOutcome, add};
use crate::{FeedReport, Shared, Tenant};

/// Why a feed's round stopped early.
#[derive(Debug)]
pub(crate) enum FeedError {
    Api(o365::Error),
    Archive(ArchiveError),
    Window(WindowError),
    Webhook(SettingsError),
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedError::Api(e) => write!(f, "{e}"),
            FeedError::Archive(e) => write!(f, "{e}"),
            FeedError::Window(e) => write!(f, "{e}"),
            FeedError::Webhook(e) => write!(f, "cannot register the webhook: {e}"),
        }
    }
}

impl FeedError {
    /// What to do about it.
    pub(crate) fn action(&self) -> String {
        match self {
            FeedError::Api(e) => e.action().to_string(),
            FeedError::Archive(e) if e.is_transient() => "retried next round".to_owned(),
            FeedError::Archive(_) => "check the archive (disk, database)".to_owned(),
            FeedError::Window(_) => "retried next round".to_owned(),
            FeedError::Webhook(_) => "fix the [webhook] settings".to_owned(),
        }
    }

    /// Whether retrying cannot help until a person acts.
    pub(crate) fn operator_action(&self) -> bool {
        match self {
            FeedError::Api(e) => matches!(
                e.action(),
                Action::FixConfiguration { .. }
                    | Action::Unauthorized
                    | Action::Refused
                    | Action::Unrecognized
            ),
            FeedError::Archive(e) => !e.is_transient(),
            FeedError::Window(_) => false,
            FeedError::Webhook(_) => true,
        }
    }
}

pub(crate) fn announced(
    tenant_id: uuid::Uuid,
    blob: &ContentBlob,
    source: Discovery,
) -> AnnouncedBlob {
    AnnouncedBlob {
        tenant_id,
        content_type: blob.content_type.as_str().to_owned(),
        content_id: blob.content_id.clone(),
        content_uri: blob.content_uri.to_string(),
        content_created: blob.content_created,
        content_expiration: blob.content_expiration,
        source,
    }
}

/// A window as listed: possibly moved by a rebuild after AF20030 / AF20055.
struct Listed {
    window: ListingWindow,
    blobs: Vec<ContentBlob>,
}

impl Shared {
    /// One listing round over every feed: tenants in parallel, a tenant's content types one
    /// after the other (they share its request budget).
    pub(crate) async fn poll_round(&self) -> Vec<FeedReport> {
        let per_tenant = self.tenants.iter().map(|tenant| async move {
            let mut reports = Vec::new();
            for ct in &tenant.settings.content_types {
                reports.push(self.poll_feed(tenant, *ct).await);
            }
            reports
        });
        join_all(per_tenant).await.into_iter().flatten().collect()
    }

    /// Lists one feed up to now.
    pub(crate) async fn poll_feed(&self, tenant: &Tenant, content_type: ContentType) -> FeedReport {
        let key = FeedKey::new(tenant.settings.tenant_id, content_type.as_str());
        let now = self.clock.now();
        let mut report = FeedReport {
            tenant: tenant.settings.name.clone(),
            tenant_id: tenant.settings.tenant_id,
            content_type: content_type.as_str().to_owned(),
            listed_until: None,
            windows: 0,
            blobs_listed: 0,
            blobs_new: 0,
            outcome: FeedOutcome::CaughtUp,
        };
        let result = self.list_feed(tenant, content_type, &key, now, &mut report).await;
        match result {
            Ok(state) => {
                if report.blobs_new > 0 {
                    tracing::info!(
                        tenant = %tenant.settings.name,
                        content_type = content_type.as_str(),
                        windows = report.windows,
                        blobs_listed = report.blobs_listed,
                        blobs_new = report.blobs_new,
                        listed_until = ?report.listed_until,
                        "feed listed"
                    );
                }
                if report.outcome != FeedOutcome::Interrupted && state.awaiting_first_content() {
                    tracing::info!(
                        tenant = %tenant.settings.name,
                        content_type = content_type.as_str(),
                        subscribed_at = ?state.subscribed_at,
                        "no content yet: a new subscription can take up to 12 hours to show its \
                         first blobs"
                    );
                    report.outcome = FeedOutcome::AwaitingFirstContent;
                }
            }
            Err(error) => {
                report.outcome = FeedOutcome::Failing {
                    error: error.to_string(),
                    action: error.action(),
                    operator_action: error.operator_action(),
                };
            }
        }
        self.board.update(&key, |feed| {
            if report.listed_until.is_some() {
                feed.listed_until = report.listed_until;
            }
            feed.last_round_at = Some(now);
            feed.outcome = Some(report.outcome.clone());
        });
        report
    }

    async fn load_state(
        &self,
        key: &FeedKey,
    ) -> Result<(ListingState, Option<DateTime<Utc>>), ArchiveError> {
        let state = self
            .archive
            .cursor(&key.state_name())
            .await?
            .map(|text| ListingState::from_json(&text))
            .unwrap_or_default();
        let cursor =
            self.archive.cursor(&key.cursor_name()).await?.as_deref().and_then(parse_cursor);
        Ok((state, cursor))
    }

    /// Lists the feed's windows; on failure, records it on the feed and returns the error.
    async fn list_feed(
        &self,
        tenant: &Tenant,
        content_type: ContentType,
        key: &FeedKey,
        now: DateTime<Utc>,
        report: &mut FeedReport,
    ) -> Result<ListingState, FeedError> {
        let name = &tenant.settings.name;
        let (mut state, mut cursor) = self.load_state(key).await.map_err(FeedError::Archive)?;
        report.listed_until = cursor;
        state.first_listed_at.get_or_insert(now);

        // Content older than 7 days can no longer be listed: a cursor behind that is a loss.
        let oldest = now - ListingWindow::MAX_AGE + ListingWindow::CLAMP_MARGIN;
        let mut pending_lost = Vec::new();
        if let Some(c) = cursor
            && c < oldest
        {
            pending_lost.push(LostWindow {
                start: c,
                end: oldest,
                reason: "this range was not listed before it became older than 7 days (the \
                         collector was stopped or listing kept failing); Microsoft no longer \
                         lists it: recover it from a Purview audit export"
                    .to_owned(),
                recorded_at: now,
            });
            cursor = Some(oldest);
        }
        let mut start = match cursor {
            Some(c) => c - self.settings.overlap,
            None => now - self.settings.backfill,
        };
        let mut resubscribed = false;
        loop {
            if self.shutdown.is_cancelled() {
                report.outcome = FeedOutcome::Interrupted;
                break;
            }
            let window = match ListingWindow::clamped(start, now, self.clock.as_ref()) {
                Ok(window) => window,
                // Nothing left between the cursor and now.
                Err(WindowError::NotBeforeEnd { .. }) => break,
                Err(error) => {
                    return Err(self
                        .feed_failed(
                            tenant,
                            key,
                            &mut state,
                            &mut pending_lost,
                            cursor,
                            FeedError::Window(error),
                        )
                        .await);
                }
            };
            let listed = match self
                .list_window(tenant, content_type, window, &mut resubscribed, &mut state)
                .await
            {
                Ok(listed) => listed,
                Err(error) => {
                    return Err(self
                        .feed_failed(tenant, key, &mut state, &mut pending_lost, cursor, error)
                        .await);
                }
            };
            // A rebuilt window may start later: what lies between is lost if never listed.
            // (On a first run the backfill start is ours to choose: nothing is lost.)
            if let Some(requested_from) = cursor.map(|c| c.max(window.start()))
                && listed.window.start() > requested_from
            {
                pending_lost.push(LostWindow {
                    start: requested_from,
                    end: listed.window.start(),
                    reason: "the service refused to list this range (older than its 7-day \
                             limit by its clock); recover it from a Purview audit export"
                        .to_owned(),
                    recorded_at: now,
                });
            }
            let until = cursor.map_or(listed.window.end(), |c| c.max(listed.window.end()));
            let blobs: Vec<AnnouncedBlob> = listed
                .blobs
                .iter()
                .map(|b| {
                    announced(
                        tenant.settings.tenant_id,
                        b,
                        Discovery::Poll { window_start: listed.window.start() },
                    )
                })
                .collect();
            let count = blobs.len() as u64;
            let mut next_state = state.clone();
            next_state.blobs_listed += count;
            next_state.lost.extend(pending_lost.iter().cloned());
            let cursors = vec![
                (key.cursor_name(), format_cursor(until)),
                (key.state_name(), next_state.to_json()),
            ];
            let new = match self.archive.announce(blobs, cursors).await {
                Ok(new) => new,
                Err(error) => {
                    return Err(self
                        .feed_failed(
                            tenant,
                            key,
                            &mut state,
                            &mut Vec::new(),
                            None,
                            FeedError::Archive(error),
                        )
                        .await);
                }
            };
            state = next_state;
            self.account_lost(name, content_type.as_str(), &mut pending_lost);
            add(&self.counters.windows_listed, 1);
            add(&self.counters.blobs_listed, count);
            add(&self.counters.blobs_new, new);
            if new > 0 {
                self.wake.notify_waiters();
            }
            tracing::debug!(
                tenant = %name,
                content_type = content_type.as_str(),
                window = %listed.window,
                blobs = count,
                new,
                "window listed and queued"
            );
            report.windows += 1;
            report.blobs_listed += count;
            report.blobs_new += new;
            report.listed_until = Some(until);
            cursor = Some(until);
            start = listed.window.end();
        }
        // Caught up (or interrupted): clear the failure marks and note the success.
        if !matches!(report.outcome, FeedOutcome::Interrupted) {
            if state.failing_since.is_some() {
                tracing::info!(tenant = %name, content_type = content_type.as_str(), "listing works again");
            }
            state.failing_since = None;
            state.consecutive_failures = 0;
            state.last_success_at = Some(now);
        }
        // Lost ranges not yet stored (no window was listed after they were found) go in now,
        // with the cursor past them so they are recorded once.
        state.lost.extend(pending_lost.iter().cloned());
        let mut cursors = vec![(key.state_name(), state.to_json())];
        if !pending_lost.is_empty()
            && let Some(c) = cursor
        {
            cursors.push((key.cursor_name(), format_cursor(c)));
        }
        self.archive.announce(Vec::new(), cursors).await.map_err(FeedError::Archive)?;
        self.account_lost(name, content_type.as_str(), &mut pending_lost);
        Ok(state)
    }

    /// Counts and logs lost windows once they are stored.
    fn account_lost(&self, tenant: &str, content_type: &str, lost: &mut Vec<LostWindow>) {
        for window in lost.drain(..) {
            add(&self.counters.windows_lost, 1);
            tracing::error!(
                tenant,
                content_type,
                start = %window.start,
                end = %window.end,
                "content of this range can no longer be listed: recorded as a gap; {}",
                window.reason
            );
        }
    }

    /// Records a failed round on the feed (persisted), logs it, and hands the error back.
    async fn feed_failed(
        &self,
        tenant: &Tenant,
        key: &FeedKey,
        state: &mut ListingState,
        pending_lost: &mut Vec<LostWindow>,
        cursor: Option<DateTime<Utc>>,
        error: FeedError,
    ) -> FeedError {
        let now = self.clock.now();
        let name = &tenant.settings.name;
        state.consecutive_failures += 1;
        state.failing_since.get_or_insert(now);
        state.last_error = Some(format!("{error} ({})", error.action()));
        state.last_error_at = Some(now);
        state.lost.extend(pending_lost.iter().cloned());
        add(&self.counters.listing_failures, 1);
        if error.operator_action() {
            tracing::error!(
                tenant = %name,
                content_type = %key.content_type,
                failures = state.consecutive_failures,
                error = %error,
                action = %error.action(),
                "listing failed and needs a person to act; the window is retried every round, \
                 nothing is skipped"
            );
        } else {
            tracing::warn!(
                tenant = %name,
                content_type = %key.content_type,
                failures = state.consecutive_failures,
                error = %error,
                "listing failed; the window is retried next round, nothing is skipped"
            );
        }
        let mut cursors = vec![(key.state_name(), state.to_json())];
        if !pending_lost.is_empty()
            && let Some(c) = cursor
        {
            // The lost range is recorded: the cursor moves past it so it is recorded once.
            cursors.push((key.cursor_name(), format_cursor(c)));
        }
        match self.archive.announce(Vec::new(), cursors).await {
            Ok(_) => self.account_lost(name, &key.content_type, pending_lost),
            Err(store_error) => {
                // Not stored: the next round finds the same range and records it then.
                tracing::warn!(tenant = %name, error = %store_error, "cannot record the listing failure in the archive");
                pending_lost.clear();
            }
        }
        error
    }

    /// Lists one window, handling AF20022/AF20023 (start the subscription, retry once) and
    /// AF20030/AF20055 (rebuild the window, retry once).
    async fn list_window(
        &self,
        tenant: &Tenant,
        content_type: ContentType,
        window: ListingWindow,
        resubscribed: &mut bool,
        state: &mut ListingState,
    ) -> Result<Listed, FeedError> {
        let mut window = window;
        let mut rebuilt = false;
        loop {
            match tenant.client.list_content(content_type, &window).await {
                Ok(blobs) => return Ok(Listed { window, blobs }),
                Err(error) => match error.action() {
                    Action::Resubscribe if !*resubscribed => {
                        *resubscribed = true;
                        tracing::warn!(
                            tenant = %tenant.settings.name,
                            content_type = content_type.as_str(),
                            error = %error,
                            "the subscription is missing or disabled; starting it"
                        );
                        self.resubscribe(tenant, content_type, state).await?;
                    }
                    Action::RecomputeWindow if !rebuilt => {
                        rebuilt = true;
                        // Refused although valid by our clock: the service's clock is ahead
                        // (keep an hour more distance from its 7-day limit, as observed), or it
                        // refuses windows of exactly 24 hours (make it shorter).
                        let safe = self.clock.now() - ListingWindow::MAX_AGE + Duration::hours(1);
                        let start = window.start().max(safe);
                        let end = window
                            .end()
                            .min(start + ListingWindow::MAX_SPAN - Duration::hours(1))
                            .max(start + Duration::seconds(1));
                        tracing::warn!(
                            tenant = %tenant.settings.name,
                            content_type = content_type.as_str(),
                            window = %window,
                            error = %error,
                            "listing window refused; rebuilding it"
                        );
                        window = ListingWindow::clamped(start, end, self.clock.as_ref())
                            .map_err(FeedError::Window)?;
                    }
                    _ => return Err(FeedError::Api(error)),
                },
            }
        }
    }

    /// Starts the subscription of a feed again (with the webhook when the collector registers
    /// it and it was not refused before).
    async fn resubscribe(
        &self,
        tenant: &Tenant,
        content_type: ContentType,
        state: &mut ListingState,
    ) -> Result<(), FeedError> {
        // Microsoft allows one start per content type every 15 minutes; the client enforces it
        // within a process, the feed's state across processes (cron runs of `collect --once`).
        if let Some(last_start) = state.last_start_at {
            let next_allowed = last_start + o365::START_COOLDOWN;
            if self.clock.now() < next_allowed {
                return Err(FeedError::Api(o365::Error::StartTooSoon {
                    content_type,
                    last_start,
                    next_allowed,
                }));
            }
        }
        let with_webhook = self.register_webhooks.load(Ordering::Relaxed)
            && !tenant.webhook_refused.load(Ordering::Relaxed);
        let webhook = if with_webhook {
            self.webhook.registration(None).map_err(FeedError::Webhook)?
        } else {
            None
        };
        state.last_start_at = Some(self.clock.now());
        match tenant.client.start_subscription(content_type, webhook.as_ref()).await {
            Ok(_) => {
                add(&self.counters.resubscribes, 1);
                state.subscribed_at = Some(self.clock.now());
                tracing::warn!(
                    tenant = %tenant.settings.name,
                    content_type = content_type.as_str(),
                    webhook = webhook.is_some(),
                    "subscription started again; content created while it was off cannot be \
                     listed (Microsoft only lists content created after a start)"
                );
                Ok(())
            }
            Err(error) => {
                if matches!(
                    error.action(),
                    Action::FixConfiguration { fix: Fix::WebhookNotValidated }
                ) {
                    tenant.webhook_refused.store(true, Ordering::Relaxed);
                }
                Err(FeedError::Api(error))
            }
        }
    }

    /// Logs a warning for every feed whose oldest waiting blob is older than the warning age
    /// (blobs expire 7 days after they became available).
    pub(crate) fn warn_about_backlog(&self, statuses: &[QueueStatus]) {
        let now = self.clock.now();
        for status in statuses {
            let Some(oldest) = status.oldest_waiting else { continue };
            let age = now - oldest;
            if age > self.settings.backlog_warning_age {
                let tenant = self
                    .tenant_by_id(status.tenant_id)
                    .map_or_else(|| status.tenant_id.to_string(), |t| t.settings.name.clone());
                tracing::warn!(
                    tenant = %tenant,
                    content_type = %status.content_type,
                    oldest_waiting = %oldest,
                    age_hours = age.num_hours(),
                    "backlog: blobs have been waiting for longer than the warning age; they \
                     expire 7 days after they became available (add workers, raise the request \
                     rate, or check why they fail)"
                );
            }
        }
    }
}
