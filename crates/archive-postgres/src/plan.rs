//! Translation of a [`RecordQuery`] into SQL over the archive's tables.
//!
//! Filters become conditions with typed parameters. Texts are stored once in `names` (schema 7,
//! the `names` module) and rows hold their ids, so a text filter is first resolved to the ids of
//! the names that match it, folding ASCII case with `translate(...)` exactly like the SQLite
//! archive (ASCII only) and through an index on that expression ([`Resolved`]); the SQL then
//! compares ids.
//! One filter *drives* the query when it needs its own ordered access path, in the SQLite
//! backend's order of preference: a Dataverse record (one arm: every record naming it, through
//! the GIN index, each telling whether it is about the row or a result set listed it), then a
//! field set to a value (the field index in time order), then users
//! (one arm per UPN, and one per (system user id, UPN it acted as) from `system_users`, each an
//! ordered range of the user index), else the time index. A correlation id is only a condition:
//! it has no index since schema 6 (like in the SQLite archive, the parts of a split record are
//! looked for in a time range). Arms are disjoint; in a page each is ordered by
//! `(event_time, seq)` (an arm that reads an index keyed by the hour, by that hour first: the
//! same order) and limited on its own, so each reads its index in order and stops early, and the
//! union of a few pages is merged.

use archive::columns::{ACCESS_KINDS, CATEGORIES, access_code, category_bit};
use archive::query::QueryError;
use archive::{ArchiveError, Order, PageCursor, RecordQuery, Via};
use chrono::{DateTime, Datelike, Months, Utc};
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

/// `column` with ASCII letters folded to lower case, as indexed.
pub(crate) fn fold(column: &str) -> String {
    format!("translate({column}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')")
}

/// The field-value index's key (migration 7) of a field name id and a value, both SQL
/// expressions: the id in the high 32 bits, a 32-bit hash of the value in the low ones.
fn field_key(name_ref: &str, value: &str) -> String {
    format!("(({name_ref})::bigint << 32 | (hashtext({value})::bigint & 4294967295))")
}

/// `value = wanted` for a row found through its field key: true where the key's hash is equal
/// unless two values collide. Written so that the planner does not take it for a second,
/// independent filter (it would multiply the selectivities, expect a handful of rows from a
/// common value, and sort them all instead of reading the index in order and stopping after a
/// page): where the keys are equal, `value = wanted OR key <> key` is exactly `value = wanted`,
/// and the planner estimates that it keeps nearly every row.
fn same_value(f: &str, name_ref: &str, wanted: &str) -> String {
    let (key, wanted_key) = (
        field_key(&format!("{f}.name_ref"), &format!("{f}.value")),
        field_key(name_ref, &format!("{wanted}::text")),
    );
    format!("{key} = {wanted_key} AND ({f}.value = {wanted} OR {key} <> {wanted_key})")
}

/// The ids of the names a query's text filters match, found before planning (see
/// `reading::plan`). A text no name matches has no ids, and so matches no record.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    /// For each folded text among users, system users' UPNs, organization, entity, messages and
    /// workloads: the ids of every name that folds to it.
    pub(crate) folded: std::collections::HashMap<String, Vec<i32>>,
    /// The id of the (folded) field name, as stored.
    pub(crate) field_name: Option<i32>,
    /// The ids of the client IP, exactly as written.
    pub(crate) client_ip: Vec<i32>,
    /// For each system user id among the users: the id of its text (lower case, hyphens), as
    /// `records.system_user_ref` holds it (schema 8); none when no record has it.
    pub(crate) system_users: std::collections::HashMap<Uuid, i32>,
    /// The ids of the names that contain the free text (folded).
    pub(crate) text: Vec<i32>,
}

impl Resolved {
    fn ids(&self, folded: &str) -> Vec<i32> {
        self.folded.get(folded).cloned().unwrap_or_default()
    }

    fn all_ids<'a>(&self, folded: impl IntoIterator<Item = &'a String>) -> Vec<i32> {
        let mut ids: Vec<i32> = folded.into_iter().flat_map(|f| self.ids(f)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// The folded texts of `query` whose ids [`Resolved::folded`] must hold; `acted_as` as for
/// [`Plan::new`].
pub(crate) fn folded_texts(query: &RecordQuery, acted_as: &[(Uuid, String)]) -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    texts.extend(query.users.iter().map(|u| folded(u)));
    texts.extend(acted_as.iter().map(|(_, upn)| upn.clone()));
    texts.extend(query.organization.as_deref().map(folded));
    texts.extend(query.entity.as_deref().map(folded));
    texts.extend(query.messages.iter().map(|m| folded(m)));
    texts.extend(query.workloads.iter().map(|w| folded(w)));
    distinct(texts)
}

/// The field name a query filters on, folded as stored.
pub(crate) fn field_name(query: &RecordQuery) -> Option<String> {
    query.field.as_ref().map(|f| folded(&f.name))
}

/// The free text a query searches for, folded; `None` when there is none.
pub(crate) fn free_text(query: &RecordQuery) -> Option<String> {
    query.text.as_deref().map(folded).filter(|t| !t.is_empty())
}

/// What the Rust side compares with a folded column: trimmed, ASCII lower case.
fn folded(value: &str) -> String {
    value.trim().to_ascii_lowercase()
}

/// Query parameters with their types, numbered `$1`, `$2`, ... in the order pushed.
#[derive(Default)]
pub(crate) struct Params {
    values: Vec<(Box<dyn ToSql + Sync + Send>, Type)>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Params").field("count", &self.values.len()).finish()
    }
}

impl Params {
    /// Adds a parameter and returns its placeholder.
    pub(crate) fn push(&mut self, value: impl ToSql + Sync + Send + 'static, ty: Type) -> String {
        self.values.push((Box::new(value), ty));
        format!("${}", self.values.len())
    }

    /// The parameters with their types, to run an unnamed statement with.
    pub(crate) fn typed(&self) -> Vec<(&(dyn ToSql + Sync), Type)> {
        self.values
            .iter()
            .map(|(value, ty)| (value.as_ref() as &(dyn ToSql + Sync), ty.clone()))
            .collect()
    }
}

/// The columns of a [`archive::RecordSummary`] (names as ids, the Id as its key), then `via`
/// (an expression yielding its code, see [`via_of`]) and `tenant_ref`; `t` is the alias whose
/// `event_time` and `seq` order the arm.
pub(crate) fn summary_columns(t: &str, via: &str) -> String {
    format!(
        "{t}.seq, a.record_key, {t}.event_time, a.record_type, a.workload_ref, \
         a.operation_ref, a.user_ref, a.system_user_ref, a.organization_ref, a.entity_ref, \
         a.entity_id, a.message_ref, a.access, a.categories, a.client_ip_ref, \
         a.primary_value_ref, a.correlation_id, a.result_status_ref, {via} AS via, a.tenant_ref"
    )
}

/// The `via` of rows not found through a Dataverse row.
pub(crate) const NO_VIA: &str = "NULL::smallint";

/// Columns [`summary_columns`] yields.
pub(crate) const SUMMARY_WIDTH: usize = 20;

/// The columns a verbatim page needs to find the bytes.
pub(crate) fn key_columns(t: &str, _via: &str) -> String {
    format!("a.tenant_ref, a.record_key, {t}.event_time, {t}.seq")
}

/// `via` from its code in a result row.
pub(crate) fn via_of(code: Option<i16>) -> Option<Via> {
    match code {
        Some(1) => Some(Via::Entity),
        Some(2) => Some(Via::QueryResults),
        _ => None,
    }
}

/// One ordered source of matching rows. `a` is always the records table.
#[derive(Debug)]
struct Arm {
    from: std::borrow::Cow<'static, str>,
    /// The alias whose `event_time` and `seq` order this arm (`a` or `m`).
    order: &'static str,
    /// Whether the arm reads an index keyed by the hour of the time (the user and field-value
    /// indexes, migration 8): it is then ordered by that hour first and bounded by it wherever
    /// the time is, so that PostgreSQL walks the index in order and sorts only each hour's rows.
    hourly: bool,
    /// The expression of the rows' `via` code; `None` for [`NO_VIA`].
    via: Option<String>,
    conditions: Vec<String>,
}

/// The hour-keyed indexes' key of `{t}.event_time` (migration 8).
fn hour_column(t: &str) -> String {
    format!("d365audit.hour_of({t}.event_time)")
}

/// `d365audit.hour_of(time)`, computed here: whole hours since the Unix epoch, rounded down.
fn hour_of(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros().div_euclid(3_600_000_000)
}

const RECORDS: &str = "d365audit.records a";
/// The normalized row of the record a side-table row `x` belongs to. A LATERAL subquery with
/// `LIMIT 1` (seq is unique) rather than a join: PostgreSQL multiplies the selectivities of the
/// three key equalities and would expect no row at all from a join, so it would read every
/// matching side row and sort them instead of walking the side index in order and stopping
/// after a page.
macro_rules! record_of {
    ($x:literal) => {
        concat!(
            " CROSS JOIN LATERAL (SELECT * FROM d365audit.records r WHERE r.tenant_ref = ",
            $x,
            ".tenant_ref AND r.event_time = ",
            $x,
            ".event_time AND r.seq = ",
            $x,
            ".seq LIMIT 1) a"
        )
    };
}

/// A record has at most one row per (ASCII-folded) field name and value (see `ingest`), so
/// this yields each record once.
const FIELD_VALUES: &str = concat!("d365audit.field_values f", record_of!("f"));

/// A query ready to run.
#[derive(Debug)]
pub(crate) struct Plan {
    arms: Vec<Arm>,
    params: Params,
}

/// The filters of a query, normalized for comparison.
#[derive(Debug, Default)]
struct Filters {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    /// Folded UPNs (every user value is also tried as a UPN), and system user ids.
    user_names: Vec<String>,
    system_users: Vec<Uuid>,
    users: bool,
    organization: Option<String>,
    entity: Option<String>,
    record: Option<Uuid>,
    messages: Vec<String>,
    access: Vec<i16>,
    category: Option<i32>,
    field: Option<(String, Option<String>)>,
    client_ip: Option<String>,
    correlation: Option<Uuid>,
    workloads: Vec<String>,
    text: Option<String>,
}

/// A GUID as users write it: trimmed, with or without braces.
pub(crate) fn parse_guid(value: &str) -> Option<Uuid> {
    Uuid::try_parse(value.trim().trim_matches(|c| c == '{' || c == '}')).ok()
}

fn distinct(mut values: Vec<String>) -> Vec<String> {
    values.sort_unstable();
    values.dedup();
    values
}

fn filters(q: &RecordQuery) -> Result<Filters, ArchiveError> {
    let mut access = Vec::new();
    for kind in &q.access {
        let kind = kind.trim().to_ascii_lowercase();
        if !ACCESS_KINDS.contains(&kind.as_str()) {
            return Err(QueryError::new(format!(
                "`{kind}` is not an access kind; use one of {}",
                ACCESS_KINDS.join(", ")
            ))
            .into());
        }
        access.push(access_code(&kind) as i16);
    }
    access.sort_unstable();
    access.dedup();
    let category = match &q.category {
        Some(category) => Some(category_bit(category.trim()).ok_or_else(|| {
            QueryError::new(format!(
                "`{category}` is not a report category; use one of {}",
                CATEGORIES.join(", ")
            ))
        })? as i32),
        None => None,
    };
    let mut system_users: Vec<Uuid> = q.users.iter().filter_map(|u| parse_guid(u)).collect();
    system_users.sort_unstable();
    system_users.dedup();
    Ok(Filters {
        from: q.from,
        to: q.to,
        user_names: distinct(q.users.iter().map(|u| folded(u)).collect()),
        system_users,
        users: !q.users.is_empty(),
        organization: q.organization.as_deref().map(folded),
        entity: q.entity.as_deref().map(folded),
        record: q.record_id,
        messages: distinct(q.messages.iter().map(|m| folded(m)).collect()),
        access,
        category,
        field: q.field.as_ref().map(|f| (folded(&f.name), f.value.clone())),
        client_ip: q.client_ip.as_ref().map(|ip| ip.trim().to_string()),
        correlation: q.correlation_id,
        workloads: distinct(q.workloads.iter().map(|w| folded(w)).collect()),
        text: q.text.as_deref().map(folded).filter(|t| !t.is_empty()),
    })
}

/// The access path that orders candidate rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    Record,
    /// A field set to a value: the field index in time order.
    FieldValue,
    Users,
    Time,
}

impl Plan {
    /// Plans `query`; `acted_as` holds, for the system user ids among its users, the (folded)
    /// UPNs they acted as. `Ok(None)`: nothing can match (an empty time range).
    pub(crate) fn new(
        query: &RecordQuery,
        acted_as: &[(Uuid, String)],
        resolved: &Resolved,
    ) -> Result<Option<Plan>, ArchiveError> {
        let f = filters(query)?;
        if let (Some(from), Some(to)) = (f.from, f.to)
            && from >= to
        {
            return Ok(None);
        }
        let driver = if f.record.is_some() {
            Driver::Record
        } else if matches!(f.field, Some((_, Some(_)))) {
            Driver::FieldValue
        } else if f.users && f.field.is_none() {
            Driver::Users
        } else {
            Driver::Time
        };
        let mut params = Params::default();
        let mut arms = Vec::new();
        // The placeholder of the row a record query names.
        let mut record = None;
        match driver {
            Driver::Record => {
                // The records about the row or listing it, found through the GIN index on both
                // (migration 7) and then ordered: `OFFSET 0` keeps PostgreSQL from walking the
                // time index instead and testing every record's array on the way (hundreds of
                // milliseconds for a rarely named row). One arm for both ways of naming the
                // row: each arm reads every record that names it (46,947 for the busiest row of
                // the 10M benchmark), so two arms read them twice.
                let placeholder = params.push(f.record.unwrap_or_default(), Type::UUID);
                record = Some(placeholder.clone());
                arms.push(Arm {
                    // Written below, once the time range has its parameters.
                    from: String::new().into(),
                    order: "a",
                    hourly: false,
                    // The codes of `via_of`: 1 about the row, 2 listed it.
                    via: Some(format!(
                        "(CASE WHEN a.entity_id = {placeholder} THEN 1 ELSE 2 END)::smallint"
                    )),
                    conditions: Vec::new(),
                });
            }
            Driver::FieldValue => {
                let Some(name_ref) = resolved.field_name else {
                    return Ok(None);
                };
                let (_, value) = f.field.clone().unwrap_or_default();
                let name = params.push(name_ref, Type::INT4);
                let value = params.push(value.unwrap_or_default(), Type::TEXT);
                arms.push(Arm {
                    from: FIELD_VALUES.into(),
                    order: "f",
                    hourly: true,
                    via: None,
                    conditions: vec![same_value("f", &name, &value)],
                });
            }
            Driver::Users => {
                // One arm per id of each UPN (its spellings), each an ordered range of the
                // user index.
                for id in resolved.all_ids(&f.user_names) {
                    let id = params.push(id, Type::INT4);
                    arms.push(Arm {
                        from: RECORDS.into(),
                        order: "a",
                        hourly: true,
                        via: None,
                        conditions: vec![format!("a.user_ref = {id}")],
                    });
                }
                // A system user id reads the rows of each UPN it acted as, narrowed to the id;
                // UPNs an arm above already reads in full are left to that arm.
                let mut pairs: Vec<&(Uuid, String)> = acted_as
                    .iter()
                    .filter(|(id, upn)| f.system_users.contains(id) && !f.user_names.contains(upn))
                    .collect();
                pairs.sort_unstable();
                pairs.dedup();
                for (id, upn) in pairs {
                    let Some(id) = resolved.system_users.get(id) else { continue };
                    for upn in resolved.ids(upn) {
                        let id = params.push(*id, Type::INT4);
                        let upn = params.push(upn, Type::INT4);
                        arms.push(Arm {
                            from: RECORDS.into(),
                            order: "a",
                            hourly: true,
                            via: None,
                            conditions: vec![
                                format!("a.user_ref = {upn}"),
                                format!("a.system_user_ref = {id}"),
                            ],
                        });
                    }
                }
                if arms.is_empty() {
                    return Ok(None);
                }
            }
            Driver::Time => {
                arms.push(Arm {
                    from: RECORDS.into(),
                    order: "a",
                    hourly: false,
                    via: None,
                    conditions: vec![],
                });
            }
        }
        let residual = residual(&f, driver, resolved, &mut params);
        if let (Some(record), [arm]) = (&record, &mut arms[..]) {
            // The time range inside the fence too, so that PostgreSQL reads the months in range
            // only (a page of a timeline is read a few months at a time, see `record_windows`).
            let mut inside =
                vec![format!("array_append(r.listed, r.entity_id) @> ARRAY[{record}]::uuid[]")];
            inside.extend(residual.from.iter().map(|from| format!("r.event_time >= {from}")));
            inside.extend(residual.to.iter().map(|to| format!("r.event_time < {to}")));
            arm.from = format!(
                "(SELECT * FROM d365audit.records r WHERE {} OFFSET 0) a",
                inside.join(" AND ")
            )
            .into();
        }
        let hours = arms.iter().any(|arm| arm.hourly).then(|| {
            (
                f.from.map(|from| params.push(hour_of(from), Type::INT8)),
                // `to` is excluded: the last time in range is a microsecond before it.
                f.to.map(|to| {
                    let last = to.checked_sub_signed(chrono::TimeDelta::microseconds(1));
                    params.push(hour_of(last.unwrap_or(to)), Type::INT8)
                }),
            )
        });
        for arm in &mut arms {
            let t = arm.order;
            if let Some(from) = &residual.from {
                arm.conditions.push(format!("{t}.event_time >= {from}"));
            }
            if let Some(to) = &residual.to {
                arm.conditions.push(format!("{t}.event_time < {to}"));
            }
            if let (true, Some((from, to))) = (arm.hourly, &hours) {
                let hour = hour_column(t);
                arm.conditions.extend(from.iter().map(|from| format!("{hour} >= {from}")));
                arm.conditions.extend(to.iter().map(|to| format!("{hour} <= {to}")));
            }
            arm.conditions.extend(residual.conditions.iter().cloned());
        }
        Ok(Some(Plan { arms, params }))
    }

    /// Whether the query has no filter at all (every record matches).
    pub(crate) fn is_everything(&self) -> bool {
        matches!(&self.arms[..], [arm] if arm.conditions.is_empty() && arm.via.is_none())
    }

    /// The rows of one page (`columns` of each arm), plus one more row that says whether
    /// another page follows, in page order.
    pub(crate) fn page(
        mut self,
        columns: fn(&str, &str) -> String,
        order: Order,
        after: Option<PageCursor>,
        limit: u32,
    ) -> (String, Params) {
        let (compare, direction) = match order {
            Order::NewestFirst => ("<", "DESC"),
            Order::OldestFirst => (">", "ASC"),
        };
        let hourly = self.arms.iter().any(|arm| arm.hourly);
        let keyset = after.map(|cursor| {
            let time = DateTime::from_timestamp_micros(cursor.time_micros).unwrap_or_default();
            let hour = hourly.then(|| self.params.push(hour_of(time), Type::INT8));
            (
                self.params.push(time, Type::TIMESTAMPTZ),
                self.params.push(cursor.seq, Type::INT8),
                hour,
            )
        });
        let limit = u64::from(limit) + 1;
        // Each arm is ordered and limited on its own, so that it reads its index in order and
        // stops early, however common the filtered value; the union then holds few rows.
        let selects: Vec<String> = self
            .arms
            .iter()
            .map(|arm| {
                let t = arm.order;
                let mut conditions = arm.conditions.clone();
                if let Some((time, seq, hour)) = &keyset {
                    conditions.push(format!("({t}.event_time, {t}.seq) {compare} ({time}, {seq})"));
                    if let (true, Some(hour)) = (arm.hourly, hour) {
                        conditions.push(format!("{} {compare}= {hour}", hour_column(t)));
                    }
                }
                let hour_first = if arm.hourly {
                    format!("{} {direction}, ", hour_column(t))
                } else {
                    String::new()
                };
                format!(
                    "(SELECT {} FROM {}{} ORDER BY {hour_first}{t}.event_time {direction}, \
                     {t}.seq {direction} LIMIT {limit})",
                    columns(t, arm.via.as_deref().unwrap_or(NO_VIA)),
                    arm.from,
                    where_clause(&conditions)
                )
            })
            .collect();
        let sql = format!(
            "SELECT * FROM ({}) h ORDER BY h.event_time {direction}, h.seq {direction} LIMIT {limit}",
            selects.join(" UNION ALL ")
        );
        (sql, self.params)
    }

    /// The number of matching rows.
    pub(crate) fn count(self) -> (String, Params) {
        let (union, params) = self.union("1");
        (format!("SELECT count(*) FROM ({union}) h"), params)
    }

    /// Counts of matching rows grouped by `key` (an expression over `a`).
    pub(crate) fn grouped(self, key: &str) -> (String, Params) {
        let (union, params) = self.union(&format!("{key} AS k"));
        (format!("SELECT h.k, count(*) FROM ({union}) h GROUP BY h.k"), params)
    }

    fn union(self, select: &str) -> (String, Params) {
        let selects: Vec<String> = self
            .arms
            .iter()
            .map(|arm| {
                format!("SELECT {select} FROM {}{}", arm.from, where_clause(&arm.conditions))
            })
            .collect();
        (selects.join(" UNION ALL "), self.params)
    }
}

/// A stretch of time, `None` where it is open.
pub(crate) type Window = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The windows in which a page of a record's timeline is read, one after another in page
/// order, from the page's `start` (its cursor's time, else the query's bound on that side, else
/// the archive's oldest or newest record): the rest of `start`'s month, then 1, 2, 4 and 8 more
/// months, then all the time after. The first window is open on the side the page comes from
/// and the last on the side it goes to, so together they cover all time once.
///
/// A record query finds its rows through the GIN index of every month and sorts them all: a
/// busy row (one named by 46,947 of the 10M records of the benchmark) had every page read all of
/// them. Stopping at the first window that fills the page reads a busy row's recent month
/// instead; a rarely named row costs up to five more round trips, each probing its own months.
pub(crate) fn record_windows(order: Order, start: DateTime<Utc>) -> Vec<Window> {
    let month = start
        .date_naive()
        .with_day(1)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc());
    let first_edge = match order {
        Order::OldestFirst => month.and_then(|m| m.checked_add_months(Months::new(1))),
        Order::NewestFirst => month,
    };
    let Some(mut edge) = first_edge else { return vec![(None, None)] };
    let mut windows = vec![match order {
        Order::OldestFirst => (None, Some(edge)),
        Order::NewestFirst => (Some(edge), None),
    }];
    for months in [1, 2, 4, 8] {
        let far = match order {
            Order::OldestFirst => edge.checked_add_months(Months::new(months)),
            Order::NewestFirst => edge.checked_sub_months(Months::new(months)),
        };
        let Some(far) = far else { break };
        windows.push(match order {
            Order::OldestFirst => (Some(edge), Some(far)),
            Order::NewestFirst => (Some(far), Some(edge)),
        });
        edge = far;
    }
    windows.push(match order {
        Order::OldestFirst => (Some(edge), None),
        Order::NewestFirst => (None, Some(edge)),
    });
    windows
}

/// The SQL that answers an aggregation by `by` from the counts kept per UTC day (migrations 4
/// and 7; a name dimension's key is its id, 0 for none) as `(key, count)` rows like
/// [`Plan::grouped`]'s, when the query allows: its period is whole
/// UTC days (or open), and it filters only on what those counts are keyed by (user names, not
/// system user ids; hours per organization only). `None`: count the records.
pub(crate) fn counted(
    query: &RecordQuery,
    by: archive::Dimension,
    resolved: &Resolved,
) -> Result<Option<(String, Params)>, ArchiveError> {
    use archive::Dimension;
    let f = filters(query)?;
    let midnight = |t: Option<DateTime<Utc>>| {
        t.is_none_or(|t| t.timestamp().rem_euclid(86_400) == 0 && t.timestamp_subsec_nanos() == 0)
    };
    let kept = f.record.is_none()
        && f.field.is_none()
        && f.client_ip.is_none()
        && f.correlation.is_none()
        && f.text.is_none()
        && f.system_users.is_empty();
    if !(midnight(f.from) && midnight(f.to) && kept) {
        return Ok(None);
    }
    // Hours are counted per organization only.
    let narrower_than_organization = f.users
        || f.entity.is_some()
        || !f.messages.is_empty()
        || !f.access.is_empty()
        || f.category.is_some()
        || !f.workloads.is_empty();
    if by == Dimension::HourOfDay && narrower_than_organization {
        return Ok(None);
    }
    let mut params = Params::default();
    let mut c = Vec::new();
    if let Some(from) = f.from {
        let p = params.push(from, Type::TIMESTAMPTZ);
        c.push(format!("day >= ({p} AT TIME ZONE 'UTC')::date"));
    }
    if let Some(to) = f.to {
        let p = params.push(to, Type::TIMESTAMPTZ);
        c.push(format!("day < ({p} AT TIME ZONE 'UTC')::date"));
    }
    dimension_conditions(&f, "", resolved, &mut params, &mut c);
    if f.users {
        let p = params.push(resolved.all_ids(&f.user_names), Type::INT4_ARRAY);
        c.push(format!("user_ref = ANY ({p})"));
    }
    let (table, key) = match by {
        Dimension::HourOfDay => ("hourly_counts", "hour"),
        Dimension::Day => ("daily_counts", "day"),
        Dimension::Weekday => ("daily_counts", "extract(isodow FROM day)::integer"),
        Dimension::User => ("daily_counts", "user_ref"),
        Dimension::Organization => ("daily_counts", "organization_ref"),
        Dimension::Entity => ("daily_counts", "entity_ref"),
        Dimension::Message => ("daily_counts", "message_ref"),
        Dimension::Access => ("daily_counts", "access"),
        Dimension::Category => ("daily_counts", "categories"),
    };
    let sql = format!(
        "SELECT {key} AS k, sum(records)::bigint FROM d365audit.{table}{} GROUP BY k",
        where_clause(&c)
    );
    Ok(Some((sql, params)))
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// Conditions every arm adds; the time bounds apply to the arm's ordering alias.
#[derive(Debug, Default)]
struct Residual {
    from: Option<String>,
    to: Option<String>,
    conditions: Vec<String>,
}

fn residual(f: &Filters, driver: Driver, resolved: &Resolved, params: &mut Params) -> Residual {
    let mut r = Residual {
        from: f.from.map(|from| params.push(from, Type::TIMESTAMPTZ)),
        to: f.to.map(|to| params.push(to, Type::TIMESTAMPTZ)),
        conditions: Vec::new(),
    };
    let c = &mut r.conditions;
    if f.users && driver != Driver::Users {
        let names = params.push(resolved.all_ids(&f.user_names), Type::INT4_ARRAY);
        let ids: Vec<i32> =
            f.system_users.iter().filter_map(|id| resolved.system_users.get(id).copied()).collect();
        let ids = params.push(ids, Type::INT4_ARRAY);
        c.push(format!("(a.user_ref = ANY ({names}) OR a.system_user_ref = ANY ({ids}))"));
    }
    dimension_conditions(f, "a.", resolved, params, c);
    if let Some((_, value)) = f.field.as_ref().filter(|_| driver != Driver::FieldValue) {
        // A name no record has: no id, and -1 is no name's.
        let name = params.push(resolved.field_name.unwrap_or(-1), Type::INT4);
        let found = match value {
            Some(value) => {
                let v = params.push(value.clone(), Type::TEXT);
                same_value("f", &name, &v)
            }
            // Every key of the name: the range its id spans.
            None => format!(
                "{key} >= ({name})::bigint << 32 AND {key} < (({name})::bigint + 1) << 32",
                key = field_key("f.name_ref", "f.value")
            ),
        };
        // The hour, said twice, lets a value's probe find the row's entry in the field index.
        c.push(format!(
            "EXISTS (SELECT 1 FROM d365audit.field_values f WHERE f.tenant_ref = a.tenant_ref \
             AND f.event_time = a.event_time AND f.seq = a.seq AND {} = {} AND {found})",
            hour_column("f"),
            hour_column("a")
        ));
    }
    if f.client_ip.is_some() {
        let p = params.push(resolved.client_ip.clone(), Type::INT4_ARRAY);
        c.push(format!("a.client_ip_ref = ANY ({p})"));
    }
    if let Some(correlation) = f.correlation {
        let p = params.push(correlation, Type::UUID);
        c.push(format!("a.correlation_id = {p}"));
    }
    if f.text.is_some() {
        let p = params.push(resolved.text.clone(), Type::INT4_ARRAY);
        let parts: Vec<String> =
            ["a.user_ref", "a.entity_ref", "a.message_ref", "a.primary_value_ref"]
                .iter()
                .map(|column| format!("{column} = ANY ({p})"))
                .collect();
        c.push(format!("({})", parts.join(" OR ")));
    }
    r
}

/// Conditions on the report dimensions, columns that records and the report counts share
/// (`prefix`: the table alias and a dot, or nothing).
fn dimension_conditions(
    f: &Filters,
    prefix: &str,
    resolved: &Resolved,
    params: &mut Params,
    c: &mut Vec<String>,
) {
    if let Some(organization) = &f.organization {
        let p = params.push(resolved.ids(organization), Type::INT4_ARRAY);
        c.push(format!("{prefix}organization_ref = ANY ({p})"));
    }
    if let Some(entity) = &f.entity {
        let p = params.push(resolved.ids(entity), Type::INT4_ARRAY);
        c.push(format!("{prefix}entity_ref = ANY ({p})"));
    }
    if !f.messages.is_empty() {
        let p = params.push(resolved.all_ids(&f.messages), Type::INT4_ARRAY);
        c.push(format!("{prefix}message_ref = ANY ({p})"));
    }
    if !f.access.is_empty() {
        let p = params.push(f.access.clone(), Type::INT2_ARRAY);
        c.push(format!("{prefix}access = ANY ({p})"));
    }
    if let Some(bit) = f.category {
        let p = params.push(bit, Type::INT4);
        c.push(format!("({prefix}categories & {p}) <> 0"));
    }
    if !f.workloads.is_empty() {
        let p = params.push(resolved.all_ids(&f.workloads), Type::INT4_ARRAY);
        c.push(format!("{prefix}workload_ref = ANY ({p})"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive::query::FieldFilter;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn record_windows_cover_all_time_once_growing_from_the_start_month() {
        let windows = record_windows(Order::NewestFirst, at("2026-05-17T08:00:00Z"));
        let edges = ["2026-05-01", "2026-04-01", "2026-02-01", "2025-10-01", "2025-02-01"]
            .map(|day| Some(at(&format!("{day}T00:00:00Z"))));
        assert_eq!(
            windows,
            vec![
                (edges[0], None),
                (edges[1], edges[0]),
                (edges[2], edges[1]),
                (edges[3], edges[2]),
                (edges[4], edges[3]),
                (None, edges[4]),
            ]
        );
        let windows = record_windows(Order::OldestFirst, at("2026-11-30T23:59:59Z"));
        let edges = ["2026-12-01", "2027-01-01", "2027-03-01", "2027-07-01", "2028-03-01"]
            .map(|day| Some(at(&format!("{day}T00:00:00Z"))));
        assert_eq!(
            windows,
            vec![
                (None, edges[0]),
                (edges[0], edges[1]),
                (edges[1], edges[2]),
                (edges[2], edges[3]),
                (edges[3], edges[4]),
                (edges[4], None),
            ]
        );
    }

    #[test]
    fn record_windows_near_the_end_of_time_stay_whole() {
        for (order, start) in [
            (Order::OldestFirst, DateTime::<Utc>::MAX_UTC),
            (Order::NewestFirst, DateTime::<Utc>::MIN_UTC),
            (Order::OldestFirst, at("2026-01-01T00:00:00Z")),
        ] {
            let mut windows = record_windows(order, start);
            if order == Order::NewestFirst {
                windows.reverse();
            }
            assert_eq!(windows.first().map(|w| w.0), Some(None), "{windows:?}");
            assert_eq!(windows.last().map(|w| w.1), Some(None), "{windows:?}");
            for pair in windows.windows(2) {
                assert_eq!(pair[0].1, pair[1].0, "{windows:?} leave a gap or overlap");
            }
        }
    }

    #[test]
    fn a_record_filter_reads_the_row_once_and_tells_via_per_record() {
        let q = RecordQuery { record_id: Some(Uuid::from_u128(7)), ..RecordQuery::default() };
        let plan = Plan::new(&q, &[], &Resolved::default()).unwrap().unwrap();
        assert!(!plan.is_everything());
        let (sql, params) = plan.page(summary_columns, Order::NewestFirst, None, 10);
        assert!(!sql.contains("UNION ALL"), "one arm: {sql}");
        assert_eq!(sql.matches("@> ARRAY[$1]").count(), 1, "{sql}");
        assert!(
            sql.contains("(CASE WHEN a.entity_id = $1 THEN 1 ELSE 2 END)::smallint AS via"),
            "{sql}"
        );
        assert!(sql.ends_with("LIMIT 11"), "{sql}");
        assert_eq!(sql.matches("ORDER BY").count(), 2, "the arm is ordered: {sql}");
        assert_eq!(params.typed().len(), 1);
        // A time range bounds the rows read through the row index, so that PostgreSQL reads
        // only the months in range.
        let q = RecordQuery {
            from: Some(DateTime::from_timestamp_micros(1).unwrap_or_default()),
            to: Some(DateTime::from_timestamp_micros(2).unwrap_or_default()),
            ..q
        };
        let plan = Plan::new(&q, &[], &Resolved::default()).unwrap().unwrap();
        let (sql, _) = plan.page(summary_columns, Order::NewestFirst, None, 10);
        assert!(
            sql.contains(
                "@> ARRAY[$1]::uuid[] AND r.event_time >= $2 AND r.event_time < $3 OFFSET 0"
            ),
            "{sql}"
        );
    }

    #[test]
    fn user_arms_cover_upns_and_system_user_ids_once() {
        let id = Uuid::from_u128(42);
        let q = RecordQuery {
            users: vec!["Alice@Contoso.com ".into(), id.to_string()],
            ..RecordQuery::default()
        };
        // The id acted as a UPN already asked for (no arm of its own) and as another one.
        let acted_as = [
            (id, "alice@contoso.com".to_string()),
            (id, "alice@fabrikam.com".to_string()),
            (Uuid::from_u128(7), "mallory@contoso.com".to_string()),
        ];
        // alice@contoso.com is stored in two spellings; the GUID is tried as a UPN too, but no
        // name is that text.
        let resolved = Resolved {
            folded: [
                ("alice@contoso.com".to_string(), vec![1, 3]),
                ("alice@fabrikam.com".to_string(), vec![2]),
                ("mallory@contoso.com".to_string(), vec![4]),
            ]
            .into(),
            system_users: [(id, 9)].into(),
            ..Resolved::default()
        };
        let plan = Plan::new(&q, &acted_as, &resolved).unwrap().unwrap();
        // An arm per spelling of alice@contoso.com, one for the id as alice@fabrikam.
        assert_eq!(plan.arms.len(), 3);
        let (sql, params) = plan.count();
        assert_eq!(sql.matches("a.system_user_ref = ").count(), 1, "{sql}");
        assert_eq!(sql.matches("a.user_ref = ").count(), 3, "{sql}");
        assert_eq!(params.typed().len(), 4);
        // Nobody by that name: nothing can match.
        let nobody =
            RecordQuery { users: vec!["eve@contoso.com".into()], ..RecordQuery::default() };
        assert!(Plan::new(&nobody, &[], &resolved).unwrap().is_none());
    }

    #[test]
    fn filters_fold_case_and_mistakes_are_refused() {
        let q = RecordQuery {
            entity: Some(" Contact".into()),
            field: Some(FieldFilter { name: "Telephone1".into(), value: Some("555".into()) }),
            text: Some("  ".into()),
            ..RecordQuery::default()
        };
        let f = filters(&q).unwrap();
        assert_eq!(f.entity.as_deref(), Some("contact"));
        assert_eq!(f.field, Some(("telephone1".into(), Some("555".into()))));
        assert_eq!(f.text, None);
        let bad = RecordQuery { access: vec!["write".into()], ..RecordQuery::default() };
        assert!(matches!(
            Plan::new(&bad, &[], &Resolved::default()),
            Err(ArchiveError::InvalidQuery(_))
        ));
        let bad = RecordQuery { category: Some("exports".into()), ..RecordQuery::default() };
        assert!(matches!(
            Plan::new(&bad, &[], &Resolved::default()),
            Err(ArchiveError::InvalidQuery(_))
        ));
    }

    #[test]
    fn hours_are_rounded_down_before_and_after_the_epoch() {
        let at = |s: i64, micros: u32| DateTime::from_timestamp(s, micros * 1000).unwrap();
        assert_eq!(hour_of(at(0, 0)), 0);
        assert_eq!(hour_of(at(3599, 999_999)), 0);
        assert_eq!(hour_of(at(3600, 0)), 1);
        assert_eq!(hour_of(at(-1, 999_999)), -1);
        assert_eq!(hour_of(at(-3600, 0)), -1);
        assert_eq!(hour_of(at(-3601, 0)), -2);
        // 2026-06-01T09:00:00Z
        assert_eq!(hour_of(at(1_780_304_400, 0)), 494_529);
    }

    #[test]
    fn an_empty_time_range_plans_nothing_and_no_filter_is_everything() {
        let at = Utc::now();
        let q = RecordQuery { from: Some(at), to: Some(at), ..RecordQuery::default() };
        assert!(Plan::new(&q, &[], &Resolved::default()).unwrap().is_none());
        assert!(
            Plan::new(&RecordQuery::default(), &[], &Resolved::default())
                .unwrap()
                .unwrap()
                .is_everything()
        );
    }
}
