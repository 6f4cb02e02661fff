//! The glue between the collector and the HTTP server: the webhook intake, the collector's
//! Prometheus metrics and its feed status, as the server's hook traits. Neither library knows
//! the other; `serve` and `demo` plug them together here.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use collector::Collector;
use server::{CollectionSource, FeedLine, Hooks, IntakeOutcome, MetricsSource, NotificationIntake};

/// The server's hooks, served by `collector`.
pub(crate) fn hooks(collector: &Collector) -> Hooks {
    let glue = Arc::new(Glue { collector: collector.clone() });
    Hooks { intake: Some(glue.clone()), metrics: Some(glue.clone()), collection: Some(glue) }
}

struct Glue {
    collector: Collector,
}

#[async_trait]
impl NotificationIntake for Glue {
    async fn accept(&self, auth_id_ok: bool, body: Bytes) -> IntakeOutcome {
        if !auth_id_ok {
            return IntakeOutcome::Unauthorized;
        }
        let notifications = match o365::parse_webhook_payload(&body) {
            Ok(o365::WebhookPayload::Notifications(notifications)) => notifications,
            // The server answers the validation handshake itself; one arriving here is odd but
            // harmless.
            Ok(o365::WebhookPayload::Validation { .. }) => {
                return IntakeOutcome::Accepted { accepted: 0, rejected: 0 };
            }
            Err(error) => return IntakeOutcome::Malformed { reason: error.to_string() },
        };
        match self.collector.accept_notifications(None, &notifications).await {
            Ok(receipt) => IntakeOutcome::Accepted {
                accepted: receipt.accepted,
                rejected: receipt.rejected.len() as u64,
            },
            Err(error) => IntakeOutcome::Unavailable { reason: error.to_string() },
        }
    }
}

impl MetricsSource for Glue {
    fn write_metrics(&self, out: &mut String) {
        self.collector.metrics().write_prometheus(out);
    }
}

#[async_trait]
impl CollectionSource for Glue {
    async fn feeds(&self) -> Result<Vec<FeedLine>, String> {
        let status = self.collector.status().await.map_err(|e| e.to_string())?;
        Ok(status
            .feeds
            .iter()
            .map(|feed| FeedLine {
                tenant: feed.tenant.clone(),
                tenant_id: feed.tenant_id,
                content_type: feed.content_type.clone(),
                health: feed.health().to_string(),
                listed_until: feed.listed_until,
                lag_seconds: feed.lag_seconds,
                backlog: feed.backlog,
                oldest_waiting: feed.oldest_waiting,
                records: feed.records,
                gaps: feed.gaps(),
                last_error: feed.listing_error.clone().or_else(|| feed.blob_error.clone()),
                notice: feed.notice.clone(),
            })
            .collect())
    }
}
