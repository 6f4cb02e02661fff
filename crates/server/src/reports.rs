//! The auditors' reports, shared by the web UI and the REST API: activity over time, the nine
//! Purview report categories, top users, top entities, exports to Excel and bulk operations,
//! sign-ins, admin and security-role changes, and activity outside working hours. Each report
//! is a few sections; a section is one aggregation (a chart and a table) and optionally the
//! newest matching events, all for a chosen period and organization.

use std::sync::{Mutex, PoisonError};

use archive::query::FieldFilter;
use archive::{Bucket, Dimension, Order, PageRequest, RecordQuery, RecordSummary};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures_util::future::try_join_all;
use serde::{Deserialize, Serialize};

use crate::error::Failure;
use crate::state::ServerState;

/// One report the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReportKind {
    pub slug: &'static str,
    pub title: &'static str,
    pub description: &'static str,
}

pub const REPORTS: &[ReportKind] = &[
    ReportKind {
        slug: "activity",
        title: "Activity over time",
        description: "Records per day, by kind of access and by organization.",
    },
    ReportKind {
        slug: "categories",
        title: "Purview report categories",
        description: "The nine Dynamics 365 activity reports of the Purview audit log search.",
    },
    ReportKind {
        slug: "top-users",
        title: "Top users",
        description: "Who produced the most activity.",
    },
    ReportKind {
        slug: "top-entities",
        title: "Top entities",
        description: "Which tables were used the most.",
    },
    ReportKind {
        slug: "exports-bulk",
        title: "Exports to Excel and bulk operations",
        description: "Who exported how much, and bulk deletes, imports and edits.",
    },
    ReportKind {
        slug: "sign-ins",
        title: "Sign-ins",
        description: "Sign-in and sign-out activity per day and per user.",
    },
    ReportKind {
        slug: "admin-changes",
        title: "Admin and security-role changes",
        description: "Security role membership, role privileges, admin center activity.",
    },
    ReportKind {
        slug: "after-hours",
        title: "Activity outside working hours",
        description: "Activity per hour of day and weekday, outside working hours highlighted.",
    },
];

pub fn report_kind(slug: &str) -> Option<&'static ReportKind> {
    REPORTS.iter().find(|r| r.slug == slug)
}

/// The period and organization of a report, as parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ScopeParams {
    /// First day (`2026-06-01`) or any time the one-line syntax accepts (`-30d`).
    pub from: String,
    /// Day after the last one, or a time.
    pub to: String,
    pub org: String,
}

/// The period (`[from, to)`) and organization a report covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scope {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub organization: Option<String>,
}

impl ScopeParams {
    /// Defaults: the last `default_days` whole days up to the end of today (UTC).
    pub fn to_scope(&self, now: DateTime<Utc>, default_days: i64) -> Result<Scope, Failure> {
        let end_of_today = (now.date_naive() + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or(now);
        let to = match self.to.trim() {
            "" => end_of_today,
            text => archive::query::parse_time(text, now)?,
        };
        let from = match self.from.trim() {
            "" => to - Duration::days(default_days),
            text => archive::query::parse_time(text, now)?,
        };
        if from >= to {
            return Err(Failure::new(
                crate::error::ErrorCode::InvalidQuery,
                "the period's start must be before its end; swap them",
            ));
        }
        let organization = Some(self.org.trim()).filter(|o| !o.is_empty()).map(str::to_string);
        Ok(Scope { from, to, organization })
    }
}

impl Scope {
    /// The query every section of a report starts from.
    pub fn base_query(&self) -> RecordQuery {
        RecordQuery {
            from: Some(self.from),
            to: Some(self.to),
            organization: self.organization.clone(),
            ..RecordQuery::default()
        }
    }
}

/// How a section is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// Vertical bars over time or hours.
    Columns,
    /// Horizontal bars, largest first.
    Ranking,
}

/// One aggregation of a report, with its data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    pub title: String,
    pub dimension: Dimension,
    pub chart: ChartKind,
    /// The records this section counts (the report's scope plus the section's filters).
    #[serde(skip)]
    pub query: RecordQuery,
    /// The same, in the one-line syntax.
    pub query_line: String,
    pub buckets: Vec<ReportRow>,
    /// The newest matching events, when the section lists them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<RecordSummary>>,
}

/// One row of a section's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    /// The bucket's key as stored (`2026-06-01`, `alice@contoso.com`, `bulk_actions`, `07`).
    pub key: String,
    /// What people read (the Purview name of a category, ...).
    pub label: String,
    pub count: u64,
    /// Drawn highlighted (outside working hours, weekends).
    pub highlight: bool,
}

/// A report with its data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub slug: &'static str,
    pub title: &'static str,
    pub scope: Scope,
    pub sections: Vec<Section>,
    /// Sentences that sum the report up (e.g. the share of activity outside working hours).
    pub notes: Vec<String>,
    /// When the numbers were computed (reports are cached briefly, see [`ReportCache`]).
    pub computed_at: DateTime<Utc>,
}

/// What one section asks for.
#[derive(Debug, Clone)]
struct SectionPlan {
    title: &'static str,
    dimension: Dimension,
    chart: ChartKind,
    limit: u32,
    narrow: fn(&mut RecordQuery),
    events: u32,
}

fn plan(title: &'static str, dimension: Dimension, narrow: fn(&mut RecordQuery)) -> SectionPlan {
    let chart = match dimension {
        Dimension::Day | Dimension::HourOfDay | Dimension::Weekday => ChartKind::Columns,
        _ => ChartKind::Ranking,
    };
    SectionPlan { title, dimension, chart, limit: 25, narrow, events: 0 }
}

fn everything(_: &mut RecordQuery) {}

fn exports(q: &mut RecordQuery) {
    q.messages = vec!["ExportToExcel".into()];
}

fn bulk(q: &mut RecordQuery) {
    q.category = Some("bulk_actions".into());
}

fn sign_ins(q: &mut RecordQuery) {
    q.category = Some("sign_in_out".into());
}

fn role_membership(q: &mut RecordQuery) {
    q.field = Some(FieldFilter {
        name: "relationship".into(),
        value: Some("systemuserroles_association".into()),
    });
}

fn role_privileges(q: &mut RecordQuery) {
    q.entity = Some("role".into());
    q.access = vec!["create".into(), "update".into(), "delete".into(), "other".into()];
}

fn admin_center(q: &mut RecordQuery) {
    q.category = Some("admin_center".into());
}

fn plans(slug: &str) -> Vec<SectionPlan> {
    use Dimension::*;
    match slug {
        "activity" => vec![
            plan("Records per day", Day, everything),
            plan("By kind of access", Access, everything),
            plan("By organization", Organization, everything),
        ],
        "categories" => vec![plan("Records per report category", Category, everything)],
        "top-users" => vec![plan("Most active users", User, everything)],
        "top-entities" => vec![plan("Most used tables", Entity, everything)],
        "exports-bulk" => vec![
            SectionPlan { events: 20, ..plan("Exports to Excel per day", Day, exports) },
            plan("Who exported to Excel", User, exports),
            plan("Bulk operations by message", Message, bulk),
            plan("Who ran bulk operations", User, bulk),
        ],
        "sign-ins" => vec![
            plan("Sign-ins and sign-outs per day", Day, sign_ins),
            plan("Sign-ins and sign-outs by user", User, sign_ins),
        ],
        "admin-changes" => vec![
            SectionPlan {
                events: 25,
                ..plan("Security role membership changes, by who made them", User, role_membership)
            },
            SectionPlan {
                events: 25,
                ..plan("Security role privilege changes, by message", Message, role_privileges)
            },
            SectionPlan {
                events: 25,
                ..plan("Dynamics 365 admin center activity per day", Day, admin_center)
            },
        ],
        "after-hours" => vec![
            plan("Records per hour of day (UTC)", HourOfDay, everything),
            plan("Records per weekday (UTC)", Weekday, everything),
        ],
        _ => Vec::new(),
    }
}

/// The Purview name of a category's snake_case key.
pub fn category_label(key: &str) -> String {
    archive::columns::CATEGORIES
        .iter()
        .position(|c| *c == key)
        .and_then(|i| record::ReportCategory::ALL.get(i))
        .map(|c| c.purview_name().to_string())
        .unwrap_or_else(|| key.to_string())
}

/// Fills a time series so every day / hour / weekday of the period has a bar.
fn fill_series(dimension: Dimension, scope: &Scope, buckets: Vec<Bucket>) -> Vec<Bucket> {
    let keys: Vec<String> = match dimension {
        Dimension::HourOfDay => (0..24).map(|h| format!("{h:02}")).collect(),
        Dimension::Weekday => {
            ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
                .iter()
                .map(|d| d.to_string())
                .collect()
        }
        Dimension::Day => {
            let first = scope.from.date_naive();
            let last = (scope.to - Duration::microseconds(1)).date_naive();
            let days = (last - first).num_days();
            if !(0..=800).contains(&days) {
                return buckets;
            }
            (0..=days).map(|d| (first + Duration::days(d)).format("%Y-%m-%d").to_string()).collect()
        }
        _ => return buckets,
    };
    keys.into_iter()
        .map(|key| {
            let count = buckets.iter().find(|b| b.key == key).map_or(0, |b| b.count);
            Bucket { key, count }
        })
        .collect()
}

fn is_weekend(key: &str) -> bool {
    matches!(key, "Saturday" | "Sunday")
        || NaiveDate::parse_from_str(key, "%Y-%m-%d").is_ok_and(|d| {
            use chrono::Datelike;
            d.weekday().number_from_monday() >= 6
        })
}

/// Computed reports kept for a short while, shared by everyone (a report's numbers do not
/// depend on who reads it): a period that may still receive records (it ends less than two
/// days ago: Microsoft delivers late) is kept a minute, an older one fifteen minutes. Each
/// view is still written to the access log.
#[derive(Debug, Default)]
pub struct ReportCache {
    entries: Mutex<Vec<(String, Report)>>,
}

/// Reports kept at most.
const CACHED_REPORTS: usize = 64;

impl ReportCache {
    fn key(slug: &str, scope: &Scope) -> String {
        format!(
            "{slug}|{}|{}|{}",
            scope.from.timestamp_micros(),
            scope.to.timestamp_micros(),
            scope.organization.as_deref().unwrap_or("")
        )
    }

    fn get(&self, key: &str, now: DateTime<Utc>) -> Option<Report> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (_, report) = entries.iter().find(|(k, _)| k == key)?;
        let settled = report.scope.to + Duration::days(2) <= report.computed_at;
        let keep = if settled { Duration::minutes(15) } else { Duration::minutes(1) };
        (now < report.computed_at + keep).then(|| report.clone())
    }

    fn put(&self, key: String, report: Report) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|(k, _)| *k != key);
        if entries.len() >= CACHED_REPORTS {
            entries.remove(0);
        }
        entries.push((key, report));
    }
}

/// Report `slug` for `scope`: from the cache when it is fresh, else computed.
pub async fn run(state: &ServerState, slug: &str, scope: Scope) -> Result<Report, Failure> {
    let kind = report_kind(slug).ok_or_else(|| {
        Failure::not_found(format!(
            "there is no report `{slug}`; the reports are {}",
            REPORTS.iter().map(|r| r.slug).collect::<Vec<_>>().join(", ")
        ))
    })?;
    let cache = &state.shared.reports;
    let key = ReportCache::key(slug, &scope);
    if state.settings().cache_reports
        && let Some(report) = cache.get(&key, state.now())
    {
        return Ok(report);
    }
    let report = compute(state, kind, scope).await?;
    if state.settings().cache_reports {
        cache.put(key, report.clone());
    }
    Ok(report)
}

/// Computes a report. Sections run concurrently.
async fn compute(
    state: &ServerState,
    kind: &'static ReportKind,
    scope: Scope,
) -> Result<Report, Failure> {
    let slug = kind.slug;
    let computed_at = state.now();
    let working = state.settings().working_hours;
    let backend = state.backend();
    let sections = try_join_all(plans(slug).into_iter().map(|plan| {
        let scope = &scope;
        async move {
            let mut query = scope.base_query();
            (plan.narrow)(&mut query);
            let buckets = backend
                .aggregate(&query, plan.dimension, plan.limit)
                .await
                .map_err(|e| Failure::archive("running a report", e))?;
            let buckets = fill_series(plan.dimension, scope, buckets);
            let events = if plan.events > 0 {
                let page =
                    PageRequest { limit: plan.events, after: None, order: Order::NewestFirst };
                let found = backend
                    .search(&query, &page)
                    .await
                    .map_err(|e| Failure::archive("listing a report's events", e))?;
                Some(found.rows)
            } else {
                None
            };
            let rows = buckets
                .into_iter()
                .map(|b| {
                    let highlight = match plan.dimension {
                        Dimension::HourOfDay => {
                            b.key.parse::<u32>().is_ok_and(|hour| !working.contains_hour(hour))
                        }
                        Dimension::Weekday | Dimension::Day => is_weekend(&b.key),
                        _ => false,
                    };
                    let label = match plan.dimension {
                        Dimension::Category => category_label(&b.key),
                        Dimension::HourOfDay => format!("{}:00", b.key),
                        _ if b.key.is_empty() => "(none)".to_string(),
                        _ => b.key.clone(),
                    };
                    ReportRow { label, key: b.key, count: b.count, highlight }
                })
                .collect();
            Ok::<Section, Failure>(Section {
                title: plan.title.to_string(),
                dimension: plan.dimension,
                chart: plan.chart,
                query_line: crate::query_input::query_line(&query),
                query,
                buckets: rows,
                events,
            })
        }
    }))
    .await?;
    let mut notes = Vec::new();
    if slug == "after-hours" {
        if let Some(hours) = sections.first() {
            let total: u64 = hours.buckets.iter().map(|r| r.count).sum();
            let outside: u64 = hours.buckets.iter().filter(|r| r.highlight).map(|r| r.count).sum();
            notes.push(format!(
                "{} of {} records ({:.1} %) were outside working hours ({:02}:00–{:02}:00 UTC).",
                crate::charts::number(outside),
                crate::charts::number(total),
                if total == 0 { 0.0 } else { outside as f64 * 100.0 / total as f64 },
                working.start_hour,
                working.end_hour,
            ));
        }
        if let Some(days) = sections.get(1) {
            let weekend: u64 = days.buckets.iter().filter(|r| r.highlight).map(|r| r.count).sum();
            notes.push(format!(
                "{} records were on a Saturday or Sunday.",
                crate::charts::number(weekend)
            ));
        }
    }
    Ok(Report { slug: kind.slug, title: kind.title, scope, sections, notes, computed_at })
}

/// The organizations in the archive, for the report form's choices: computed in the background
/// and refreshed every ten minutes, so that no page waits for it.
#[derive(Debug, Default)]
pub struct OrganizationList {
    cached: Mutex<Option<(DateTime<Utc>, Vec<String>)>>,
    refreshing: std::sync::atomic::AtomicBool,
}

impl OrganizationList {
    pub fn get(&self, state: &ServerState) -> Vec<String> {
        use std::sync::atomic::Ordering;
        let now = state.now();
        let cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let stale = cached.as_ref().is_none_or(|(at, _)| *at + Duration::minutes(10) < now);
        if stale && !self.refreshing.swap(true, Ordering::AcqRel) {
            let state = state.clone();
            tokio::spawn(async move {
                let query = RecordQuery {
                    from: Some(state.now() - Duration::days(90)),
                    ..RecordQuery::default()
                };
                let found = state.backend().aggregate(&query, Dimension::Organization, 200).await;
                let list = &state.shared.organizations;
                if let Ok(buckets) = found {
                    let mut names: Vec<String> =
                        buckets.into_iter().map(|b| b.key).filter(|k| !k.is_empty()).collect();
                    names.sort();
                    *list.cached.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some((state.now(), names));
                }
                list.refreshing.store(false, Ordering::Release);
            });
        }
        cached.map(|(_, names)| names).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn scopes_default_to_whole_days_and_explain_mistakes() {
        let now = Utc.with_ymd_and_hms(2026, 6, 10, 15, 30, 0).unwrap();
        let scope = ScopeParams::default().to_scope(now, 30).unwrap();
        assert_eq!(scope.to, Utc.with_ymd_and_hms(2026, 6, 11, 0, 0, 0).unwrap());
        assert_eq!(scope.from, Utc.with_ymd_and_hms(2026, 5, 12, 0, 0, 0).unwrap());
        let bad = ScopeParams {
            from: "2026-06-10".into(),
            to: "2026-06-01".into(),
            ..Default::default()
        };
        assert!(bad.to_scope(now, 30).unwrap_err().message.contains("swap"));
    }

    #[test]
    fn series_get_a_bar_for_every_day_and_hour() {
        let now = Utc.with_ymd_and_hms(2026, 6, 10, 15, 30, 0).unwrap();
        let scope =
            ScopeParams { from: "2026-06-01".into(), to: "2026-06-04".into(), org: String::new() }
                .to_scope(now, 30)
                .unwrap();
        let filled = fill_series(
            Dimension::Day,
            &scope,
            vec![Bucket { key: "2026-06-02".into(), count: 5 }],
        );
        let keys: Vec<_> = filled.iter().map(|b| (b.key.as_str(), b.count)).collect();
        assert_eq!(keys, vec![("2026-06-01", 0), ("2026-06-02", 5), ("2026-06-03", 0)]);
        assert_eq!(fill_series(Dimension::HourOfDay, &scope, vec![]).len(), 24);
    }

    #[test]
    fn every_report_has_sections_and_categories_have_purview_names() {
        for report in REPORTS {
            assert!(!plans(report.slug).is_empty(), "{}", report.slug);
        }
        assert_eq!(
            category_label("bulk_actions"),
            "Performed bulk actions (such as delete and import)"
        );
        assert_eq!(category_label("sign_in_out"), "Signed in or out");
    }
}
