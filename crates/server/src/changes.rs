//! Dataverse field history as the UI and the API show it: a record's audit changes (old -> new
//! values) told in words, narrowed by the record timeline's filters, placed on the page of the
//! activity list whose time range covers them, counted per column, and the restore plan's
//! verdict in one sentence.

use archive::query::FieldFilter;
use archive::{ChangeSource, PageCursor, RecordQuery, StoredChange};
use chrono::{DateTime, Utc};
use dataverse::restore::{RestorePlan, Verdict};
use record::{AuditChange, ChangeDetail, EntityRef, FieldChange, FieldValue};
use uuid::Uuid;

use crate::error::Failure;
use crate::state::ServerState;

/// What an empty value reads as.
pub const EMPTY: &str = "(empty)";

/// A column value as a person reads it: the formatted value, or `(empty)`.
pub fn shown(value: Option<&FieldValue>) -> String {
    match value {
        Some(value) => {
            let text = value.display();
            if text.is_empty() { EMPTY.to_string() } else { text }
        }
        None => EMPTY.to_string(),
    }
}

/// `field: old -> new`.
pub fn field_line(change: &FieldChange) -> String {
    format!("{}: {} -> {}", change.field, shown(change.old.as_ref()), shown(change.new.as_ref()))
}

/// Who made a change, as people read it: the name, else the system user id, else `(unknown)`.
pub fn who(change: &AuditChange) -> String {
    change
        .user_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .or(change.user_id.map(|u| u.to_string()))
        .unwrap_or_else(|| "(unknown)".to_string())
}

/// A Dataverse row in words: `Alice Example (systemuser)`, or its id.
pub fn entity_words(entity: &EntityRef) -> String {
    let name = entity
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .or(entity.id.map(|id| id.to_string()))
        .unwrap_or_else(|| "(unnamed)".to_string());
    if entity.table.is_empty() { name } else { format!("{name} ({})", entity.table) }
}

/// The access rights of a share in words (`no access` when none).
fn rights(rights: Option<&str>) -> String {
    match rights.map(str::trim).filter(|r| !r.is_empty()) {
        Some(rights) => rights.to_string(),
        None => "no access".to_string(),
    }
}

/// The detail of a change as lines of words: one `field: old -> new` per column for attribute
/// changes, one sentence for sharing, links, role privileges and user access.
pub fn detail_lines(change: &AuditChange) -> Vec<String> {
    match &change.detail {
        ChangeDetail::None => Vec::new(),
        ChangeDetail::Attributes { changes, deleted, invalid_new } => {
            let mut lines: Vec<String> = changes.iter().map(field_line).collect();
            lines.extend(deleted.iter().map(|d| {
                format!(
                    "{} (column deleted from the table since): was {}",
                    d.field,
                    shown(d.old.as_ref())
                )
            }));
            lines.extend(
                invalid_new.iter().map(|f| format!("{f}: the new value could not be shown")),
            );
            lines
        }
        ChangeDetail::Share { principal, old_privileges, new_privileges } => vec![format!(
            "Access of {}: {} -> {}",
            entity_words(principal),
            rights(old_privileges.as_deref()),
            rights(new_privileges.as_deref())
        )],
        ChangeDetail::Relationship { relationship, targets } => {
            let linked = match change.action.0 {
                34 | 54 | 56 => "Unlinked",
                _ => "Linked",
            };
            let names: Vec<String> = targets.iter().map(entity_words).collect();
            vec![format!(
                "{linked} through {}: {}",
                if relationship.is_empty() { "a relationship" } else { relationship },
                if names.is_empty() { "(no rows named)".to_string() } else { names.join(", ") }
            )]
        }
        ChangeDetail::RolePrivileges { old, new, invalid_new } => {
            let added =
                new.iter().filter(|p| !old.iter().any(|o| o.privilege_id == p.privilege_id));
            let removed =
                old.iter().filter(|p| !new.iter().any(|n| n.privilege_id == p.privilege_id));
            let mut line = format!(
                "Role privileges: {} before, {} after ({} added, {} removed)",
                old.len(),
                new.len(),
                added.count(),
                removed.count()
            );
            if !invalid_new.is_empty() {
                line.push_str(&format!(
                    "; {} new privilege(s) could not be shown",
                    invalid_new.len()
                ));
            }
            vec![line]
        }
        ChangeDetail::UserAccess { access_time, interval_hours } => {
            let mut line = match access_time {
                Some(at) => format!("Reached Dataverse at {} UTC", at.format("%Y-%m-%d %H:%M:%S")),
                None => "Reached Dataverse".to_string(),
            };
            if let Some(hours) = interval_hours {
                line.push_str(&format!(" (logged at most once every {hours} h)"));
            }
            vec![line]
        }
        ChangeDetail::Other { odata_type } => vec![format!(
            "A detail of type {odata_type}, which this version does not decode (kept as received)"
        )],
    }
}

/// The detail in one line (lines joined by `; `), or a note that there is none.
pub fn summary(change: &AuditChange) -> String {
    let lines = detail_lines(change);
    if lines.is_empty() {
        match change.detail {
            ChangeDetail::None => "no old and new values (detail not retrieved or none)".into(),
            _ => String::new(),
        }
    } else {
        lines.join("; ")
    }
}

/// The kind of detail, as the API names it.
pub fn detail_kind(detail: &ChangeDetail) -> &'static str {
    match detail {
        ChangeDetail::None => "none",
        ChangeDetail::Attributes { .. } => "attributes",
        ChangeDetail::Share { .. } => "share",
        ChangeDetail::Relationship { .. } => "relationship",
        ChangeDetail::RolePrivileges { .. } => "role_privileges",
        ChangeDetail::UserAccess { .. } => "user_access",
        ChangeDetail::Other { .. } => "other",
    }
}

/// Where a change came from, in words.
pub fn source_words(source: &ChangeSource) -> String {
    match source {
        ChangeSource::Dataverse { environment } => format!("Dataverse Web API of {environment}"),
        ChangeSource::AuditBase { file, line } => format!("AuditBase export {file}, line {line}"),
    }
}

/// Whether the stored bytes still give the stored hash.
pub fn hash_matches(stored: &StoredChange) -> bool {
    archive::changes::change_hash(&stored.raw_row, stored.raw_detail.as_deref()).to_hex()
        == stored.hash
}

/// Whether a change's detail names `name` (a column), compared like the archive does.
pub fn names_field(change: &AuditChange, name: &str) -> bool {
    archive::changes::changed_fields(change).contains(&archive::changes::field_key(name))
}

fn value_is(value: Option<&FieldValue>, wanted: &str) -> bool {
    value.is_some_and(|v| {
        v.display().eq_ignore_ascii_case(wanted)
            || v.value.as_str().is_some_and(|s| s.eq_ignore_ascii_case(wanted))
            || v.value.as_f64().is_some_and(|n| wanted.parse::<f64>().is_ok_and(|w| w == n))
            || v.value.as_bool().is_some_and(|b| wanted.parse::<bool>().is_ok_and(|w| w == b))
    })
}

/// Whether a change belongs to the record timeline narrowed by `query`:
///
/// - the period (`from <= time < to`);
/// - `field:name` (the detail names the column) and `field:name=value` (its old or new value
///   is `value`);
/// - `user:` (the system user id or the name Dataverse shows, case-insensitive);
/// - `message:` (the action's label: `Update`, `Share`, ...), `entity:` (the table),
///   `org:` (part of the Dataverse environment's URL), `access:` (create, update, delete for
///   the operations of those names, other for the rest).
///
/// Filters that only activity records have (client IP, correlation, workload, report
/// category, free text) leave no change in.
pub fn matches(change: &AuditChange, source: &ChangeSource, query: &RecordQuery) -> bool {
    if query.from.is_some_and(|from| change.created_on < from)
        || query.to.is_some_and(|to| change.created_on >= to)
    {
        return false;
    }
    if let Some(FieldFilter { name, value }) = &query.field {
        if !names_field(change, name) {
            return false;
        }
        if let Some(wanted) = value {
            let hit = change.field(name).is_some_and(|f| {
                value_is(f.old.as_ref(), wanted) || value_is(f.new.as_ref(), wanted)
            });
            if !hit {
                return false;
            }
        }
    }
    if !query.users.is_empty() {
        let hit = query.users.iter().any(|user| {
            let user = user.trim().trim_matches(|c| c == '{' || c == '}');
            change.user_id.is_some_and(|id| id.to_string().eq_ignore_ascii_case(user))
                || change.user_name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(user))
        });
        if !hit {
            return false;
        }
    }
    if !query.messages.is_empty() {
        let label = change.action.label();
        if !query.messages.iter().any(|m| m.trim().eq_ignore_ascii_case(&label)) {
            return false;
        }
    }
    if let Some(entity) = &query.entity
        && !entity.eq_ignore_ascii_case(&change.table)
    {
        return false;
    }
    if let Some(org) = &query.organization {
        let ChangeSource::Dataverse { environment } = source else {
            return false;
        };
        if !environment.to_lowercase().contains(&org.to_lowercase()) {
            return false;
        }
    }
    if !query.access.is_empty() {
        let access = match change.operation.0 {
            1 => "create",
            2 => "update",
            3 => "delete",
            _ => "other",
        };
        if !query.access.iter().any(|a| a == access) {
            return false;
        }
    }
    query.client_ip.is_none()
        && query.correlation_id.is_none()
        && query.workloads.is_empty()
        && query.category.is_none()
        && query.text.is_none()
}

/// The time a page token stands for.
pub fn cursor_time(cursor: &PageCursor) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(cursor.time_micros).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The changes a page of the keyset-paged activity list shows: those after the previous page's
/// last row (`after`, the page token the page was asked with) up to and including this page's
/// last row (`next`, the token of the following page). The first page has no lower bound and
/// the last page no upper bound, so consecutive pages cover the whole time line, each change
/// on exactly one page.
pub fn on_page<'a>(
    changes: &'a [StoredChange],
    after: Option<&PageCursor>,
    next: Option<&PageCursor>,
) -> Vec<&'a StoredChange> {
    let from = after.map(cursor_time);
    let until = next.map(cursor_time);
    changes
        .iter()
        .filter(|c| from.is_none_or(|from| c.change.created_on > from))
        .filter(|c| until.is_none_or(|until| c.change.created_on <= until))
        .collect()
}

/// Per column, how many changes name it, most changed first (then by name).
pub fn field_counts(changes: &[StoredChange]) -> Vec<(String, u64)> {
    let mut counts: Vec<(String, u64)> = Vec::new();
    for stored in changes {
        for field in archive::changes::changed_fields(&stored.change) {
            match counts.iter_mut().find(|(name, _)| *name == field) {
                Some((_, count)) => *count += 1,
                None => counts.push((field, 1)),
            }
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

/// The plan's verdict in one sentence.
pub fn verdict_text(plan: &RestorePlan) -> String {
    let at = plan.at.format("%Y-%m-%d %H:%M:%S");
    match plan.verdict {
        Verdict::AlreadyAsItWas => format!(
            "Nothing audited changed after {at} UTC: the record's audited columns are as they were."
        ),
        Verdict::Patch => {
            format!("A PATCH puts {} column(s) back as they were at {at} UTC.", plan.fields.len())
        }
        Verdict::Recreate => format!(
            "The record was deleted after {at} UTC: a POST re-creates it with the {} audited \
             value(s) known then.",
            plan.fields.len()
        ),
        Verdict::DidNotExist => format!(
            "The record was created after {at} UTC: it did not exist then, so there is nothing to \
             put back."
        ),
        Verdict::NoHistory => {
            "The archive holds no field history of this record, so no plan can be made.".to_string()
        }
    }
}

/// The verdict as the API names it.
pub fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::AlreadyAsItWas => "already_as_it_was",
        Verdict::Patch => "patch",
        Verdict::Recreate => "recreate",
        Verdict::DidNotExist => "did_not_exist",
        Verdict::NoHistory => "no_history",
    }
}

/// What every restore plan says about sending it.
pub const NEVER_SENT: &str = "d365audit never sends this request: review it, then send it yourself, \
     as a user allowed to change the record, to the environment's Web API \
     (https://<environment>/api/data/v9.2/).";

/// The point in time of a restore plan (`at`): RFC 3339, a date, a date and time (UTC), or a
/// relative time (`-7d`).
pub fn parse_at(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, Failure> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Failure::bad_request(
            "say which point in time to go back to: at=2026-06-01T10:00:00Z (UTC; 2026-06-01, \
             2026-06-01T10:00 and -7d work too)",
        ));
    }
    archive::query::parse_time(text, now).map_err(|e| {
        Failure::bad_request(format!("at: {}; for example at=2026-06-01T10:00:00Z", e.message))
    })
}

/// The entity set name a restore plan uses instead of the guessed one (`None` when empty).
pub fn parse_entity_set(text: &str) -> Result<Option<&str>, Failure> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(Some(text))
    } else {
        Err(Failure::bad_request(format!(
            "entity_set `{text}` is not an entity set name: write the table's EntitySetName, \
             letters, digits and underscores only (e.g. contacts, new_surveys)"
        )))
    }
}

/// A record's changes, oldest first (only those naming `field`, when given).
pub async fn record_changes(
    state: &ServerState,
    record_id: Uuid,
    field: Option<&str>,
) -> Result<Vec<StoredChange>, Failure> {
    state
        .backend()
        .record_changes(record_id, field)
        .await
        .map_err(|e| Failure::archive("reading the record's field history", e))
}

/// One change by its `auditid`; 404 when the archive does not hold it.
pub async fn one_change(state: &ServerState, audit_id: Uuid) -> Result<StoredChange, Failure> {
    state
        .backend()
        .change(audit_id)
        .await
        .map_err(|e| Failure::archive("reading a change", e))?
        .ok_or_else(|| {
            Failure::not_found(format!(
                "there is no audit change with auditid {audit_id} in the archive"
            ))
        })
}

/// The restore plan of a record as of `at`, from its whole field history.
pub async fn plan(
    state: &ServerState,
    record_id: Uuid,
    at: DateTime<Utc>,
    entity_set: Option<&str>,
) -> Result<RestorePlan, Failure> {
    let changes: Vec<AuditChange> =
        record_changes(state, record_id, None).await?.into_iter().map(|s| s.change).collect();
    Ok(dataverse::restore::restore_plan(record_id, &changes, at, entity_set))
}

/// What the access log keeps for a restore plan.
pub fn plan_detail(record_id: Uuid, at: DateTime<Utc>, entity_set: Option<&str>) -> String {
    let mut detail = format!("record:{record_id} at:{}", crate::query_input::time_text(at));
    if let Some(set) = entity_set {
        detail.push_str(&format!(" entity_set:{set}"));
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;
    use record::{AuditAction, AuditOperation};
    use serde_json::json;

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-06-02T10:{minute:02}:00Z")).unwrap().into()
    }

    fn stored(n: u128, minute: u32, detail: ChangeDetail) -> StoredChange {
        StoredChange {
            change: AuditChange {
                audit_id: Uuid::from_u128(n),
                created_on: at(minute),
                action: AuditAction(2),
                operation: AuditOperation(2),
                table: "contact".into(),
                object_id: Some(Uuid::from_u128(99)),
                object_name: None,
                user_id: Some(Uuid::from_u128(5)),
                user_name: Some("Alice Example".into()),
                calling_user_id: None,
                transaction_id: None,
                attribute_mask: Vec::new(),
                detail,
            },
            source: ChangeSource::Dataverse {
                environment: "https://contoso.crm4.dynamics.com".into(),
            },
            ingested_at: at(59),
            hash: String::new(),
            raw_row: Vec::new(),
            raw_detail: None,
        }
    }

    fn phone(old: Option<&str>, new: Option<&str>) -> ChangeDetail {
        let value = |v: Option<&str>| {
            v.map(|v| FieldValue { value: json!(v), formatted: None, lookup_table: None })
        };
        ChangeDetail::Attributes {
            changes: vec![FieldChange {
                field: "telephone1".into(),
                old: value(old),
                new: value(new),
            }],
            deleted: Vec::new(),
            invalid_new: Vec::new(),
        }
    }

    #[test]
    fn pages_split_the_time_line_without_gaps_or_overlaps() {
        let changes: Vec<StoredChange> =
            (0..10).map(|m| stored(m as u128, m, ChangeDetail::None)).collect();
        let cursor =
            |minute: u32| PageCursor { time_micros: at(minute).timestamp_micros(), seq: 1 };
        let first = on_page(&changes, None, Some(&cursor(3)));
        let middle = on_page(&changes, Some(&cursor(3)), Some(&cursor(3)));
        let last = on_page(&changes, Some(&cursor(3)), None);
        assert_eq!(first.len(), 4, "minutes 0 to 3");
        assert!(middle.is_empty(), "a page whose rows share one time shows no change twice");
        assert_eq!(last.len(), 6);
        assert_eq!(on_page(&changes, None, None).len(), 10);
    }

    #[test]
    fn details_read_as_words() {
        let change = stored(1, 1, phone(None, Some("555-0100"))).change;
        assert_eq!(summary(&change), "telephone1: (empty) -> 555-0100");
        let share = ChangeDetail::Share {
            principal: EntityRef { table: "systemuser".into(), id: None, name: Some("Bob".into()) },
            old_privileges: None,
            new_privileges: Some("ReadAccess".into()),
        };
        assert_eq!(
            summary(&stored(2, 1, share).change),
            "Access of Bob (systemuser): no access -> ReadAccess"
        );
    }

    #[test]
    fn timeline_filters_narrow_changes_too() {
        let s = stored(1, 5, phone(Some("1"), Some("2")));
        let query = |q: &str| RecordQuery::parse(q, at(0)).unwrap();
        assert!(matches(&s.change, &s.source, &query("field:TELEPHONE1")));
        assert!(matches(&s.change, &s.source, &query("field:telephone1=2")));
        assert!(!matches(&s.change, &s.source, &query("field:telephone1=3")));
        assert!(!matches(&s.change, &s.source, &query("field:fax")));
        assert!(matches(&s.change, &s.source, &query("user:\"alice example\"")));
        assert!(!matches(&s.change, &s.source, &query("user:bob@contoso.com")));
        assert!(matches(&s.change, &s.source, &query("from:2026-06-02T10:05:00Z")));
        assert!(!matches(&s.change, &s.source, &query("to:2026-06-02T10:05:00Z")));
        assert!(matches(&s.change, &s.source, &query("message:update access:update org:contoso")));
        assert!(!matches(&s.change, &s.source, &query("access:read")));
        assert!(!matches(&s.change, &s.source, &query("ip:203.0.113.9")));
    }
}
