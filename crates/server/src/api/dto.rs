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

/// A choice value with its label (`{"value": 2, "label": "Update"}`).
#[derive(Debug, Clone, Serialize)]
pub struct ChoiceDto {
    pub value: i32,
    pub label: String,
}

/// Who made a change.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeUserDto {
    /// `_userid_value`: the system user id.
    pub id: Option<Uuid>,
    /// As Dataverse formats it.
    pub name: Option<String>,
}

/// A column value: as sent, as shown, and the table a lookup points to.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnValueDto {
    pub value: serde_json::Value,
    pub formatted: Option<String>,
    pub lookup_table: Option<String>,
    /// What a person reads (the formatted value, else the value).
    pub display: String,
}

impl From<&record::FieldValue> for ColumnValueDto {
    fn from(v: &record::FieldValue) -> Self {
        ColumnValueDto {
            value: v.value.clone(),
            formatted: v.formatted.clone(),
            lookup_table: v.lookup_table.clone(),
            display: v.display(),
        }
    }
}

/// One column's change (`old`/`new` `null`: empty).
#[derive(Debug, Clone, Serialize)]
pub struct FieldChangeDto {
    pub field: String,
    pub old: Option<ColumnValueDto>,
    pub new: Option<ColumnValueDto>,
}

impl From<&record::FieldChange> for FieldChangeDto {
    fn from(f: &record::FieldChange) -> Self {
        FieldChangeDto {
            field: f.field.clone(),
            old: f.old.as_ref().map(ColumnValueDto::from),
            new: f.new.as_ref().map(ColumnValueDto::from),
        }
    }
}

/// A Dataverse row referred to by a change (a share's principal, a linked row).
#[derive(Debug, Clone, Serialize)]
pub struct EntityRefDto {
    pub table: String,
    pub id: Option<Uuid>,
    pub name: Option<String>,
}

impl From<&record::EntityRef> for EntityRefDto {
    fn from(e: &record::EntityRef) -> Self {
        EntityRefDto { table: e.table.clone(), id: e.id, name: e.name.clone() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ShareDto {
    pub principal: EntityRefDto,
    /// `null`: no access before.
    pub old_privileges: Option<String>,
    /// `null`: no access after.
    pub new_privileges: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RelationshipDto {
    pub name: String,
    pub targets: Vec<EntityRefDto>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RolePrivilegeDto {
    pub privilege_id: Uuid,
    pub depth: String,
    pub business_unit_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RolePrivilegesDto {
    pub old: Vec<RolePrivilegeDto>,
    pub new: Vec<RolePrivilegeDto>,
    pub invalid_new: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserAccessDto {
    pub access_time: Option<DateTime<Utc>>,
    pub interval_hours: Option<i32>,
}

/// Where a change came from.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeSourceDto {
    /// `dataverse` or `audit_base`.
    pub kind: &'static str,
    /// The Dataverse environment's URL.
    pub environment: Option<String>,
    /// The AuditBase export file and the row's line.
    pub file: Option<String>,
    pub line: Option<u64>,
}

impl From<&archive::ChangeSource> for ChangeSourceDto {
    fn from(s: &archive::ChangeSource) -> Self {
        match s {
            archive::ChangeSource::Dataverse { environment } => ChangeSourceDto {
                kind: "dataverse",
                environment: Some(environment.clone()),
                file: None,
                line: None,
            },
            archive::ChangeSource::AuditBase { file, line } => ChangeSourceDto {
                kind: "audit_base",
                environment: None,
                file: Some(file.clone()),
                line: Some(*line),
            },
        }
    }
}

/// One Dataverse audit change (field history).
#[derive(Debug, Clone, Serialize)]
pub struct ChangeDto {
    pub audit_id: Uuid,
    /// `createdon` (UTC).
    pub time: DateTime<Utc>,
    pub action: ChoiceDto,
    /// `row_event`, `sharing`, `relationship`, `user_access`, `metadata`, `audit_settings`,
    /// `security_role`, `other`.
    pub category: &'static str,
    pub operation: ChoiceDto,
    /// The audited record's table (`contact`).
    pub table: String,
    pub object_id: Option<Uuid>,
    pub object_name: Option<String>,
    pub user: ChangeUserDto,
    pub calling_user_id: Option<Uuid>,
    pub transaction_id: Option<Uuid>,
    pub attribute_mask: Vec<u32>,
    /// `none`, `attributes`, `share`, `relationship`, `role_privileges`, `user_access`,
    /// `other`: which of the detail members below is filled.
    pub detail_kind: &'static str,
    /// Attribute changes: each column's old and new value.
    pub fields: Vec<FieldChangeDto>,
    /// Columns deleted from the table since, with their old values.
    pub deleted_fields: Vec<FieldChangeDto>,
    /// Columns whose new value could not be shown.
    pub invalid_new_fields: Vec<String>,
    pub share: Option<ShareDto>,
    pub relationship: Option<RelationshipDto>,
    pub role_privileges: Option<RolePrivilegesDto>,
    pub user_access: Option<UserAccessDto>,
    /// The `@odata.type` of a detail this version does not decode.
    pub other_detail_type: Option<String>,
    /// The detail in words, as the web UI shows it.
    pub summary: String,
    pub source: ChangeSourceDto,
    pub stored_at: DateTime<Utc>,
    /// BLAKE3 of the row's bytes followed by the detail's bytes, as received, hex.
    pub hash: String,
}

impl From<&archive::StoredChange> for ChangeDto {
    fn from(s: &archive::StoredChange) -> Self {
        use record::ChangeDetail;
        let c = &s.change;
        let privileges = |list: &[record::RolePrivilege]| {
            list.iter()
                .map(|p| RolePrivilegeDto {
                    privilege_id: p.privilege_id,
                    depth: p.depth.clone(),
                    business_unit_id: p.business_unit_id,
                })
                .collect()
        };
        let mut dto = ChangeDto {
            audit_id: c.audit_id,
            time: c.created_on,
            action: ChoiceDto { value: c.action.0, label: c.action.label() },
            category: c.category().as_str(),
            operation: ChoiceDto { value: c.operation.0, label: c.operation.label() },
            table: c.table.clone(),
            object_id: c.object_id,
            object_name: c.object_name.clone(),
            user: ChangeUserDto { id: c.user_id, name: c.user_name.clone() },
            calling_user_id: c.calling_user_id,
            transaction_id: c.transaction_id,
            attribute_mask: c.attribute_mask.clone(),
            detail_kind: crate::changes::detail_kind(&c.detail),
            fields: Vec::new(),
            deleted_fields: Vec::new(),
            invalid_new_fields: Vec::new(),
            share: None,
            relationship: None,
            role_privileges: None,
            user_access: None,
            other_detail_type: None,
            summary: crate::changes::summary(c),
            source: ChangeSourceDto::from(&s.source),
            stored_at: s.ingested_at,
            hash: s.hash.clone(),
        };
        match &c.detail {
            ChangeDetail::None => {}
            ChangeDetail::Attributes { changes, deleted, invalid_new } => {
                dto.fields = changes.iter().map(FieldChangeDto::from).collect();
                dto.deleted_fields = deleted.iter().map(FieldChangeDto::from).collect();
                dto.invalid_new_fields = invalid_new.clone();
            }
            ChangeDetail::Share { principal, old_privileges, new_privileges } => {
                dto.share = Some(ShareDto {
                    principal: EntityRefDto::from(principal),
                    old_privileges: old_privileges.clone(),
                    new_privileges: new_privileges.clone(),
                });
            }
            ChangeDetail::Relationship { relationship, targets } => {
                dto.relationship = Some(RelationshipDto {
                    name: relationship.clone(),
                    targets: targets.iter().map(EntityRefDto::from).collect(),
                });
            }
            ChangeDetail::RolePrivileges { old, new, invalid_new } => {
                dto.role_privileges = Some(RolePrivilegesDto {
                    old: privileges(old),
                    new: privileges(new),
                    invalid_new: invalid_new.clone(),
                });
            }
            ChangeDetail::UserAccess { access_time, interval_hours } => {
                dto.user_access = Some(UserAccessDto {
                    access_time: *access_time,
                    interval_hours: *interval_hours,
                });
            }
            ChangeDetail::Other { odata_type } => {
                dto.other_detail_type = Some(odata_type.clone());
            }
        }
        dto
    }
}

/// `GET /api/v1/records/{id}/changes`.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeList {
    pub record_id: Uuid,
    /// The column asked for (`field=`), if any.
    pub field: Option<String>,
    /// Oldest first.
    pub changes: Vec<ChangeDto>,
}

/// `GET /api/v1/changes/{auditid}`: a change with its bytes as received.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeDetailDto {
    #[serde(flatten)]
    pub change: ChangeDto,
    /// The audit row as received, as text (exact when `raw_row_utf8`).
    pub raw_row: String,
    /// Whether the row's bytes are UTF-8 (else `raw_row` replaced invalid bytes).
    pub raw_row_utf8: bool,
    /// The exact bytes of the row, base64.
    pub raw_row_base64: String,
    /// The `RetrieveAuditDetails` response as received, as text; `null` when none was kept.
    pub raw_detail: Option<String>,
    pub raw_detail_base64: Option<String>,
    /// Whether the stored bytes still give `hash`.
    pub hash_matches: bool,
}

impl From<&archive::StoredChange> for ChangeDetailDto {
    fn from(s: &archive::StoredChange) -> Self {
        use base64::Engine;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        ChangeDetailDto {
            change: ChangeDto::from(s),
            raw_row: String::from_utf8_lossy(&s.raw_row).into_owned(),
            raw_row_utf8: std::str::from_utf8(&s.raw_row).is_ok(),
            raw_row_base64: b64(&s.raw_row),
            raw_detail: s.raw_detail.as_deref().map(|d| String::from_utf8_lossy(d).into_owned()),
            raw_detail_base64: s.raw_detail.as_deref().map(b64),
            hash_matches: crate::changes::hash_matches(s),
        }
    }
}

/// The Web API request of a restore plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedRequestDto {
    /// `PATCH` or `POST`.
    pub method: &'static str,
    /// Relative to `{environment}/api/data/v9.2/`.
    pub path: String,
    pub body: serde_json::Map<String, serde_json::Value>,
}

/// One column a restore plan puts back.
#[derive(Debug, Clone, Serialize)]
pub struct RestoredFieldDto {
    pub field: String,
    /// As it was at `at` (`null`: empty).
    pub restored: Option<ColumnValueDto>,
    /// After the last audited change (`null`: empty or unknown).
    pub current: Option<ColumnValueDto>,
    pub first_changed_by: Option<String>,
    pub first_changed_on: DateTime<Utc>,
}

/// `GET /api/v1/records/{id}/restore-plan`.
#[derive(Debug, Clone, Serialize)]
pub struct RestorePlanDto {
    pub record_id: Uuid,
    pub table: String,
    pub at: DateTime<Utc>,
    /// `patch`, `recreate`, `already_as_it_was`, `did_not_exist`, `no_history`.
    pub verdict: &'static str,
    /// The verdict in one sentence.
    pub verdict_text: String,
    /// The request to send (`null` when none is needed or possible).
    pub request: Option<PlannedRequestDto>,
    pub fields: Vec<RestoredFieldDto>,
    pub warnings: Vec<String>,
    /// Always false: d365audit never sends the request.
    pub sent: bool,
    pub note: &'static str,
}

impl From<&dataverse::restore::RestorePlan> for RestorePlanDto {
    fn from(p: &dataverse::restore::RestorePlan) -> Self {
        RestorePlanDto {
            record_id: p.object_id,
            table: p.table.clone(),
            at: p.at,
            verdict: crate::changes::verdict_name(p.verdict),
            verdict_text: crate::changes::verdict_text(p),
            request: p.request.as_ref().map(|r| PlannedRequestDto {
                method: r.method,
                path: r.path.clone(),
                body: r.body.clone(),
            }),
            fields: p
                .fields
                .iter()
                .map(|f| RestoredFieldDto {
                    field: f.field.clone(),
                    restored: f.restored.as_ref().map(ColumnValueDto::from),
                    current: f.current.as_ref().map(ColumnValueDto::from),
                    first_changed_by: f.first_changed_by.clone(),
                    first_changed_on: f.first_changed_on,
                })
                .collect(),
            warnings: p.warnings.clone(),
            sent: false,
            note: crate::changes::NEVER_SENT,
        }
    }
}
