//! The REST API's wire types. Domain and storage types never go on the wire directly: these
//! are the versioned shapes of `/api/v1`, built from them.

use archive::{AccessEntry, Account, ApiToken, Bucket, RecordSummary, StoredRecord, Via};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::reports::{Report, Section};
use crate::status::CollectionReport;

/// One record in a result.
#[derive(Debug, Clone, Serialize)]
pub struct RecordRow {
    /// The activity record's `Id`.
    pub id: String,
    pub time: DateTime<Utc>,
    pub user: String,
    pub system_user_id: Option<Uuid>,
    pub operation: String,
    pub message: Option<String>,
    /// `read`, `read_multiple`, `create`, `update`, `delete`, `other`.
    pub access: String,
    pub entity: Option<String>,
    /// The Dataverse record the event is about.
    pub record_id: Option<Uuid>,
    pub record_name: Option<String>,
    pub organization: Option<String>,
    pub client_ip: Option<String>,
    pub categories: Vec<String>,
    pub correlation_id: Option<Uuid>,
    pub result: Option<String>,
    pub item_url: Option<String>,
    pub workload: String,
    pub record_type: u16,
    /// With a record filter: `record` (about it) or `query_results` (listed in a result).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'static str>,
}

impl From<&RecordSummary> for RecordRow {
    fn from(s: &RecordSummary) -> Self {
        RecordRow {
            id: s.id.clone(),
            time: s.time,
            user: s.user.clone(),
            system_user_id: s.system_user_id,
            operation: s.operation.clone(),
            message: s.message.clone(),
            access: s.access.clone(),
            entity: s.entity.clone(),
            record_id: s.entity_id,
            record_name: s.primary_field_value.clone(),
            organization: s.organization.clone(),
            client_ip: s.client_ip.clone(),
            categories: s.categories.clone(),
            correlation_id: s.correlation_id,
            result: s.result_status.clone(),
            item_url: s.item_url.clone(),
            workload: s.workload.clone(),
            record_type: s.record_type,
            via: s.via.map(|v| match v {
                Via::Entity => "record",
                Via::QueryResults => "query_results",
            }),
        }
    }
}

pub fn rows(rows: &[RecordSummary]) -> Vec<RecordRow> {
    rows.iter().map(RecordRow::from).collect()
}

/// A page of records and the token of the next one (`null`: this was the last page).
#[derive(Debug, Clone, Serialize)]
pub struct RecordPage {
    pub rows: Vec<RecordRow>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldValue {
    pub name: String,
    pub value: String,
}

/// A record in full.
#[derive(Debug, Clone, Serialize)]
pub struct RecordDetail {
    #[serde(flatten)]
    pub row: RecordRow,
    pub fields: Vec<FieldValue>,
    pub query: Option<String>,
    pub query_results: Vec<String>,
    pub user_agent: Option<String>,
    pub stored_at: DateTime<Utc>,
    pub sealed_batch: u64,
    /// BLAKE3 of the bytes as received, hex.
    pub blake3: String,
    /// The record as received, embedded verbatim (`null` if the bytes are not JSON; the
    /// exact bytes are always at `/api/v1/records/{id}/raw`).
    pub raw: Option<Box<RawValue>>,
}

impl From<&StoredRecord> for RecordDetail {
    fn from(s: &StoredRecord) -> Self {
        let raw = std::str::from_utf8(&s.raw)
            .ok()
            .and_then(|text| RawValue::from_string(text.trim().to_string()).ok());
        RecordDetail {
            row: RecordRow::from(&s.summary),
            fields: s
                .fields
                .iter()
                .map(|(name, value)| FieldValue { name: name.clone(), value: value.clone() })
                .collect(),
            query: s.query.clone(),
            query_results: s.query_results.clone(),
            user_agent: s.user_agent.clone(),
            stored_at: s.ingested_at,
            sealed_batch: s.batch,
            blake3: s.hash.clone(),
            raw,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BucketRow {
    pub key: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Aggregation {
    pub by: String,
    pub buckets: Vec<BucketRow>,
}

pub fn buckets(buckets: &[Bucket]) -> Vec<BucketRow> {
    buckets.iter().map(|b| BucketRow { key: b.key.clone(), count: b.count }).collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportRowDto {
    pub key: String,
    pub label: String,
    pub count: u64,
    pub highlight: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionDto {
    pub title: String,
    pub by: String,
    pub chart: &'static str,
    /// The section's records as a one-line query (for `/api/v1/records?q=`).
    pub query: String,
    pub rows: Vec<ReportRowDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<RecordRow>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportDto {
    pub slug: &'static str,
    pub title: &'static str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub organization: Option<String>,
    pub notes: Vec<String>,
    /// When the numbers were computed (reports are cached for a minute, or fifteen minutes
    /// for periods that ended more than two days ago).
    pub computed_at: DateTime<Utc>,
    pub sections: Vec<SectionDto>,
}

fn dimension_name(section: &Section) -> String {
    serde_json::to_value(section.dimension)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl From<&Report> for ReportDto {
    fn from(r: &Report) -> Self {
        ReportDto {
            slug: r.slug,
            title: r.title,
            from: r.scope.from,
            to: r.scope.to,
            organization: r.scope.organization.clone(),
            notes: r.notes.clone(),
            computed_at: r.computed_at,
            sections: r
                .sections
                .iter()
                .map(|s| SectionDto {
                    title: s.title.clone(),
                    by: dimension_name(s),
                    chart: match s.chart {
                        crate::reports::ChartKind::Columns => "columns",
                        crate::reports::ChartKind::Ranking => "ranking",
                    },
                    query: s.query_line.clone(),
                    rows: s
                        .buckets
                        .iter()
                        .map(|b| ReportRowDto {
                            key: b.key.clone(),
                            label: b.label.clone(),
                            count: b.count,
                            highlight: b.highlight,
                        })
                        .collect(),
                    events: s.events.as_deref().map(rows),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountDto {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: &'static str,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&Account> for AccountDto {
    fn from(a: &Account) -> Self {
        AccountDto {
            id: a.id,
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            role: a.role.as_str(),
            disabled: a.disabled,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenDto {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

impl From<&ApiToken> for TokenDto {
    fn from(t: &ApiToken) -> Self {
        TokenDto {
            id: t.id,
            name: t.name.clone(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked: t.revoked,
        }
    }
}

/// A token just created: the only time its text is shown.
#[derive(Debug, Clone, Serialize)]
pub struct NewTokenDto {
    #[serde(flatten)]
    pub token: TokenDto,
    pub token_text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccessEntryDto {
    pub at: DateTime<Utc>,
    pub username: String,
    pub action: String,
    pub detail: String,
    pub rows: Option<u64>,
    pub client_ip: Option<String>,
    pub channel: String,
}

impl From<&AccessEntry> for AccessEntryDto {
    fn from(e: &AccessEntry) -> Self {
        AccessEntryDto {
            at: e.at,
            username: e.username.clone(),
            action: e.action.clone(),
            detail: e.detail.clone(),
            rows: e.rows,
            client_ip: e.client_ip.clone(),
            channel: e.channel.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AccessLogPage {
    pub entries: Vec<AccessEntryDto>,
    /// Pass as `before` for older entries (`null`: no more).
    pub next_before: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchiveTotals {
    pub records: u64,
    pub quarantined: u64,
    pub sealed_batches: u64,
    pub earliest: Option<DateTime<Utc>>,
    pub latest: Option<DateTime<Utc>>,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GapDto {
    pub tenant_id: Uuid,
    pub content_type: String,
    pub content_id: String,
    pub content_created: DateTime<Utc>,
    pub state: &'static str,
    pub attempts: u32,
    pub error: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusDto {
    pub generated_at: DateTime<Utc>,
    pub archive: Option<ArchiveTotals>,
    pub feeds: Vec<crate::state::FeedLine>,
    pub gaps: Vec<GapDto>,
    pub quarantined: Vec<crate::status::QuarantineLine>,
    pub problems: Vec<String>,
}

impl From<&CollectionReport> for StatusDto {
    fn from(r: &CollectionReport) -> Self {
        StatusDto {
            generated_at: r.generated_at,
            archive: r.archive.as_ref().map(|s| ArchiveTotals {
                records: s.records,
                quarantined: s.quarantined,
                sealed_batches: s.batches,
                earliest: s.earliest,
                latest: s.latest,
                raw_bytes: s.raw_bytes,
                stored_bytes: s.stored_bytes,
            }),
            feeds: r.feeds.clone(),
            gaps: r
                .gaps
                .iter()
                .map(|g| GapDto {
                    tenant_id: g.tenant_id,
                    content_type: g.content_type.clone(),
                    content_id: g.content_id.clone(),
                    content_created: g.content_created,
                    state: g.state.as_str(),
                    attempts: g.attempts,
                    error: g.error.clone(),
                    at: g.at,
                })
                .collect(),
            quarantined: r.quarantined.clone(),
            problems: r.problems.clone(),
        }
    }
}

/// `POST /api/v1/sql`.
#[derive(Debug, Clone, Deserialize)]
pub struct SqlRequest {
    pub statement: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SqlAnswer {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
    pub truncated: bool,
    pub elapsed_ms: u128,
}

/// `POST /api/v1/users`.
#[derive(Debug, Deserialize)]
pub struct NewUser {
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    pub role: String,
    pub password: crate::secrets::Secret,
}

/// `PATCH /api/v1/users/{username}`: fields left out stay as they are.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserChange {
    pub display_name: Option<String>,
    pub role: Option<String>,
    pub disabled: Option<bool>,
    pub password: Option<crate::secrets::Secret>,
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewToken {
    pub name: String,
    /// Days until it expires; absent: until revoked.
    pub expires_in_days: Option<i64>,
}

/// `POST /api/v1/search`: the query model as JSON.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchRequest {
    /// A one-line query, combined with `filters`.
    pub q: String,
    pub filters: crate::query_input::FilterParams,
    pub limit: Option<u32>,
    pub after: Option<String>,
    pub order: Option<String>,
}
