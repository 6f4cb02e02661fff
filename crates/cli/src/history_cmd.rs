//! `d365audit history` (field history of one Dataverse record: every change with old -> new
//! value, who and when) and `d365audit restore-plan` (the Web API request that would put the
//! record's audited columns back as they were at a time; printed, never sent).

use std::io::Write;

use anyhow::Context;
use archive::{ChangeStore, StoredChange};
use chrono::{DateTime, Utc};
use record::{ChangeDetail, FieldValue};
use uuid::Uuid;

use crate::output::{Format, csv_cell};

#[derive(Debug, clap::Args)]
pub(crate) struct HistoryArgs {
    /// The record's GUID.
    record: String,
    /// Only changes of this column (logical name, e.g. `telephone1`).
    #[arg(long)]
    field: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RestorePlanArgs {
    /// The record's GUID.
    record: String,
    /// The point in time to go back to, in UTC: `2026-06-01T10:00:00Z`, `2026-06-01T10:00`,
    /// `2026-06-01` (midnight) or relative, `-7d`.
    #[arg(long)]
    at: String,
    /// The table's EntitySetName when it is not the usual plural (`new_surveies`...).
    #[arg(long)]
    entity_set: Option<String>,
    /// Print the whole plan as JSON instead of the request and notes.
    #[arg(long)]
    json: bool,
}

fn record_id(text: &str) -> anyhow::Result<Uuid> {
    Uuid::parse_str(text.trim_matches(|c| c == '{' || c == '}')).with_context(|| {
        format!("`{text}` is not a record GUID (e.g. 5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b)")
    })
}

/// One line of history: a column's change, or an event without columns.
struct Line {
    time: DateTime<Utc>,
    user: String,
    action: String,
    field: String,
    old: String,
    new: String,
    audit_id: Uuid,
}

fn shown(value: &Option<FieldValue>) -> String {
    value.as_ref().map(FieldValue::display).unwrap_or_default()
}

fn lines(stored: &StoredChange, field: Option<&str>) -> Vec<Line> {
    let change = &stored.change;
    let line = |field: String, old: String, new: String| Line {
        time: change.created_on,
        user: change
            .user_name
            .clone()
            .or(change.user_id.map(|u| u.to_string()))
            .unwrap_or_default(),
        action: change.action.label(),
        field,
        old,
        new,
        audit_id: change.audit_id,
    };
    match &change.detail {
        ChangeDetail::Attributes { changes, .. } => changes
            .iter()
            .filter(|c| field.is_none_or(|f| c.field.eq_ignore_ascii_case(f)))
            .map(|c| line(c.field.clone(), shown(&c.old), shown(&c.new)))
            .collect(),
        _ if field.is_some() => Vec::new(),
        ChangeDetail::Share { principal, old_privileges, new_privileges } => vec![line(
            format!("access of {} {}", principal.table, principal_name(principal)),
            old_privileges.clone().unwrap_or_default(),
            new_privileges.clone().unwrap_or_default(),
        )],
        ChangeDetail::Relationship { relationship, targets } => vec![line(
            relationship.clone(),
            String::new(),
            targets.iter().map(principal_name).collect::<Vec<_>>().join(", "),
        )],
        ChangeDetail::RolePrivileges { old, new, .. } => vec![line(
            "privileges".to_string(),
            format!("{} privileges", old.len()),
            format!("{} privileges", new.len()),
        )],
        ChangeDetail::UserAccess { access_time, .. } => vec![line(
            "access".to_string(),
            String::new(),
            access_time.map(|t| t.to_rfc3339()).unwrap_or_default(),
        )],
        ChangeDetail::None | ChangeDetail::Other { .. } => {
            vec![line(String::new(), String::new(), String::new())]
        }
    }
}

fn principal_name(reference: &record::EntityRef) -> String {
    reference
        .name
        .clone()
        .or(reference.id.map(|id| id.to_string()))
        .unwrap_or_else(|| reference.table.clone())
}

pub(crate) async fn history(changes: &dyn ChangeStore, args: HistoryArgs) -> anyhow::Result<u8> {
    let id = record_id(&args.record)?;
    let stored = changes.record_changes(id, args.field.as_deref()).await?;
    let mut out = std::io::stdout().lock();
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &stored)?;
        writeln!(out)?;
        return Ok(0);
    }
    let rows: Vec<Line> = stored.iter().flat_map(|s| lines(s, args.field.as_deref())).collect();
    if args.format == Format::Csv {
        writeln!(out, "time,user,action,field,old,new,audit_id")?;
        for row in &rows {
            let cells = [
                row.time.to_rfc3339(),
                row.user.clone(),
                row.action.clone(),
                row.field.clone(),
                row.old.clone(),
                row.new.clone(),
                row.audit_id.to_string(),
            ];
            let cells: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            writeln!(out, "{}", cells.join(","))?;
        }
        return Ok(0);
    }
    if stored.is_empty() {
        writeln!(
            out,
            "no audit changes of {id}{} in this archive (sync the environment with `d365audit \
             dataverse sync` or import AuditBase exports)",
            args.field.as_deref().map(|f| format!(" touching `{f}`")).unwrap_or_default()
        )?;
        return Ok(0);
    }
    if let Some(first) = stored.first() {
        let change = &first.change;
        writeln!(
            out,
            "{} {}{}\n",
            change.table,
            id,
            change.object_name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
        )?;
    }
    let width = |f: fn(&Line) -> &str| rows.iter().map(|r| f(r).chars().count()).max().unwrap_or(0);
    let (user_w, action_w, field_w) =
        (width(|r| &r.user), width(|r| &r.action), width(|r| &r.field));
    for row in &rows {
        let change = if row.old.is_empty() && row.new.is_empty() {
            String::new()
        } else {
            format!("{} -> {}", or_empty(&row.old), or_empty(&row.new))
        };
        writeln!(
            out,
            "{}  {:user_w$}  {:action_w$}  {:field_w$}  {change}",
            row.time.format("%Y-%m-%d %H:%M:%S"),
            row.user,
            row.action,
            row.field,
        )?;
    }
    writeln!(out, "\n{} changes, {} column changes", stored.len(), rows.len())?;
    Ok(0)
}

fn or_empty(text: &str) -> &str {
    if text.is_empty() { "(empty)" } else { text }
}

pub(crate) async fn restore_plan(
    changes: &dyn ChangeStore,
    args: RestorePlanArgs,
) -> anyhow::Result<u8> {
    let id = record_id(&args.record)?;
    let at = parse_time(&args.at)?;
    let stored = changes.record_changes(id, None).await?;
    let history: Vec<record::AuditChange> = stored.into_iter().map(|s| s.change).collect();
    let plan = dataverse::restore::restore_plan(id, &history, at, args.entity_set.as_deref());
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &plan)?;
        writeln!(out)?;
        return Ok(0);
    }
    use dataverse::restore::Verdict;
    let verdict = match plan.verdict {
        Verdict::NoHistory => format!("no audit changes of {id} in this archive"),
        Verdict::AlreadyAsItWas => format!("no audited column of {id} changed after {at}"),
        Verdict::DidNotExist => format!("{id} was created after {at}: it did not exist then"),
        Verdict::Patch => format!(
            "{} column(s) of {} {id} changed after {at}; this request puts them back:",
            plan.fields.len(),
            plan.table
        ),
        Verdict::Recreate => {
            format!("{} {id} was deleted after {at}; this request re-creates it:", plan.table)
        }
    };
    writeln!(out, "{verdict}")?;
    if let Some(request) = &plan.request {
        writeln!(out, "\n{} [environment]/api/data/v9.2/{}", request.method, request.path)?;
        writeln!(out, "Content-Type: application/json\nIf-Match: *\n")?;
        serde_json::to_writer_pretty(&mut out, &request.body)?;
        writeln!(out)?;
        writeln!(out, "\ncolumn                          as it was            now")?;
        for field in &plan.fields {
            writeln!(
                out,
                "{:30}  {:20} {}",
                field.field,
                or_empty(&shown(&field.restored)),
                or_empty(&shown(&field.current))
            )?;
        }
    }
    for warning in &plan.warnings {
        writeln!(out, "note: {warning}")?;
    }
    if plan.request.is_some() {
        writeln!(
            out,
            "(printed only: d365audit never sends it; review it, then send it yourself)"
        )?;
    }
    Ok(0)
}

/// A time as the one-line query writes it (`2026-06-01T10:00:00Z`, `2026-06-01T10:00` in UTC,
/// `2026-06-01`, or `-7d`).
pub(crate) fn parse_time(text: &str) -> anyhow::Result<DateTime<Utc>> {
    Ok(archive::query::parse_time(text.trim(), Utc::now())?)
}
