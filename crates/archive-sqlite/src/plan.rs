//! Translation of a [`RecordQuery`] into SQL over the archive's tables.
//!
//! A query is first *resolved*: every dictionary filter (user, entity, message, ...) becomes the
//! integer ids it can match, so that an unknown value answers "nothing" without touching the
//! records, and the SQL compares small integers. Then one filter is chosen to *drive* the query
//! (the most selective access path: a record's own index and its `QueryResults` membership, a
//! field value, the user index, else the covering time index) and the others
//! become residual conditions. A driver may need several ordered *arms* (a record's events and
//! the result sets that listed it; each matching user): their union is merged by SQLite in
//! `(time, seq)` order, so a page stops reading after `limit` rows whatever the archive's size.

use archive::columns::{ACCESS_KINDS, CATEGORIES, access_code, category_bit};
use archive::query::QueryError;
use archive::{ArchiveError, Order, PageCursor, RecordQuery, Via};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use crate::encoding::{DAY_MICROS, failed, micros};
use crate::schema::NameKind;

/// A user filter's match: a user id, narrowed to one Dataverse system user when the filter was
/// a system user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UserMatch {
    user: i64,
    system_user: Option<i64>,
}

/// A query with every dictionary value replaced by the ids it matches.
#[derive(Debug, Default)]
struct Resolved {
    from: Option<i64>,
    to: Option<i64>,
    users: Option<Vec<UserMatch>>,
    organizations: Option<Vec<i64>>,
    entities: Option<Vec<i64>>,
    /// The `guids` id of the record filter's GUID.
    record: Option<i64>,
    messages: Option<Vec<i64>>,
    access: Option<Vec<i64>>,
    category: Option<i64>,
    field: Option<(Vec<i64>, Option<String>)>,
    client_ips: Option<Vec<i64>>,
    correlation: Option<[u8; 16]>,
    workloads: Option<Vec<i64>>,
    /// A LIKE pattern.
    text: Option<String>,
    /// The runs of the main `timeline` and `fields` levels (see `index_runs`).
    runs: Vec<i64>,
}

/// The access path that produces candidate rows in `(time, seq)` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    Record,
    Field,
    Users,
    Time,
    /// The whole table, for a filter no index serves (a correlation id without a time range).
    Scan,
}

/// One ordered source of matching rows.
#[derive(Debug)]
struct Arm {
    from: String,
    /// The alias whose `time` and `seq` columns order this arm (`a`, `t` or `f`).
    order: &'static str,
    /// SQL giving the stored code of `via` (see [`via_of`]).
    via: &'static str,
    conditions: Vec<String>,
    params: Vec<Value>,
}

/// What an aggregation reads from each matching row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyColumn {
    /// Days since 1970-01-01 (UTC).
    Day,
    /// 0..=23 (UTC).
    Hour,
    /// 0 = Monday ..= 6 = Sunday (UTC).
    Weekday,
    User,
    Organization,
    Entity,
    Message,
    Access,
    Categories,
}

impl KeyColumn {
    fn expression(self, order: &str) -> String {
        match self {
            // Integer division: event times are after 1970, so truncation is the floor.
            KeyColumn::Day => format!("{order}.time / {DAY_MICROS}"),
            KeyColumn::Hour => format!("({order}.time / 3600000000) % 24"),
            // 1970-01-01 was a Thursday (3 when Monday is 0).
            KeyColumn::Weekday => format!("({order}.time / {DAY_MICROS} + 3) % 7"),
            KeyColumn::User => "a.user".into(),
            KeyColumn::Organization => "a.organization".into(),
            KeyColumn::Entity => "a.entity".into(),
            KeyColumn::Message => "a.message".into(),
            KeyColumn::Access => "a.access".into(),
            KeyColumn::Categories => "a.categories".into(),
        }
    }
}

/// A query ready to run: its arms, or nothing at all when a filter matches no stored value.
#[derive(Debug)]
pub(crate) struct Plan {
    arms: Vec<Arm>,
    resolved: Resolved,
}

/// SQL text and its parameters.
pub(crate) type Sql = (String, Vec<Value>);

impl Plan {
    /// Resolves `query` against the dictionaries. `Ok(None)`: nothing can match.
    pub(crate) fn new(
        conn: &Connection,
        query: &RecordQuery,
    ) -> Result<Option<Plan>, ArchiveError> {
        let Some(resolved) = resolve(conn, query)? else {
            return Ok(None);
        };
        if let (Some(from), Some(to)) = (resolved.from, resolved.to)
            && from >= to
        {
            return Ok(None);
        }
        Ok(Some(Plan { arms: arms(&resolved), resolved }))
    }

    /// Whether the query has no filter at all (every record matches).
    pub(crate) fn is_everything(&self) -> bool {
        matches!(&self.arms[..], [arm] if arm.conditions.is_empty() && arm.via == NO_VIA)
    }

    /// `seq, time, via` of the rows of one page, plus one more row that says whether another
    /// page follows.
    pub(crate) fn page(&self, order: Order, after: Option<PageCursor>, limit: u32) -> Sql {
        let mut params = Vec::new();
        let mut selects = Vec::new();
        for arm in &self.arms {
            let t = arm.order;
            let mut conditions = arm.conditions.clone();
            params.extend(arm.params.iter().cloned());
            if let Some(cursor) = after {
                let (op, strict) = match order {
                    Order::NewestFirst => ("<=", "<"),
                    Order::OldestFirst => (">=", ">"),
                };
                conditions.push(format!(
                    "{t}.time {op} ? AND ({t}.time {strict} ? OR {t}.seq {strict} ?)"
                ));
                params.extend([
                    Value::Integer(cursor.time_micros),
                    Value::Integer(cursor.time_micros),
                    Value::Integer(cursor.seq),
                ]);
            }
            selects.push(format!(
                "SELECT {t}.seq AS seq, {t}.time AS time, {via} AS via FROM {from}{where_}",
                via = arm.via,
                from = arm.from,
                where_ = where_clause(&conditions),
            ));
        }
        let direction = match order {
            Order::NewestFirst => "DESC",
            Order::OldestFirst => "ASC",
        };
        let sql = format!(
            "{} ORDER BY time {direction}, seq {direction} LIMIT {}",
            selects.join(" UNION ALL "),
            u64::from(limit) + 1
        );
        (sql, params)
    }

    /// The number of matching rows.
    pub(crate) fn count(&self) -> Sql {
        let (union, params) = self.union(|arm| format!("{}.seq", arm.order));
        (format!("SELECT count(*) FROM ({union})"), params)
    }

    /// One value per matching row, for aggregations.
    pub(crate) fn keys(&self, key: KeyColumn) -> Sql {
        self.union(|arm| key.expression(arm.order))
    }

    /// `(key, records)` rows whose sum per key answers the aggregation, read from the counts
    /// kept per UTC day (`daily_counts`, `hourly_counts`), when the query allows: its period is
    /// whole UTC days (or open), and it filters only on what those counts are keyed by. `None`:
    /// count the rows ([`Plan::keys`]).
    pub(crate) fn counted(&self, key: KeyColumn) -> Option<Sql> {
        let r = &self.resolved;
        let whole_days = |t: Option<i64>| t.is_none_or(|t| t.rem_euclid(DAY_MICROS) == 0);
        let only_kept_filters = r.record.is_none()
            && r.field.is_none()
            && r.client_ips.is_none()
            && r.correlation.is_none()
            && r.text.is_none()
            && r.users.as_ref().is_none_or(|u| u.iter().all(|u| u.system_user.is_none()));
        if !(whole_days(r.from) && whole_days(r.to) && only_kept_filters) {
            return None;
        }
        // Hours are counted per organization only.
        let narrower_than_organization = r.users.is_some()
            || r.category.is_some()
            || id_filters(r).iter().any(|(column, ids)| *column != "organization" && ids.is_some());
        if key == KeyColumn::Hour && narrower_than_organization {
            return None;
        }
        let mut conditions = Vec::new();
        if let Some(from) = r.from {
            conditions.push(format!("day >= {}", from.div_euclid(DAY_MICROS)));
        }
        if let Some(to) = r.to {
            conditions.push(format!("day < {}", to.div_euclid(DAY_MICROS)));
        }
        for (column, ids) in id_filters(r) {
            if let Some(ids) = ids {
                conditions.push(format!("{column} IN ({})", id_list(ids)));
            }
        }
        if let Some(users) = &r.users {
            let users: Vec<i64> = users.iter().map(|u| u.user).collect();
            conditions.push(format!("user IN ({})", id_list(&users)));
        }
        if let Some(bit) = r.category {
            conditions.push(format!("(categories & {bit}) <> 0"));
        }
        let (table, expression) = match key {
            KeyColumn::Hour => ("hourly_counts", "hour"),
            KeyColumn::Day => ("daily_counts", "day"),
            // 1970-01-01 was a Thursday (3 when Monday is 0).
            KeyColumn::Weekday => ("daily_counts", "(day + 3) % 7"),
            KeyColumn::User => ("daily_counts", "user"),
            KeyColumn::Organization => ("daily_counts", "nullif(organization, 0)"),
            KeyColumn::Entity => ("daily_counts", "nullif(entity, 0)"),
            KeyColumn::Message => ("daily_counts", "nullif(message, 0)"),
            KeyColumn::Access => ("daily_counts", "access"),
            KeyColumn::Categories => ("daily_counts", "categories"),
        };
        let sql = format!("SELECT {expression}, records FROM {table}{}", where_clause(&conditions));
        Some((sql, Vec::new()))
    }

    fn union(&self, select: impl Fn(&Arm) -> String) -> Sql {
        let mut params = Vec::new();
        let selects: Vec<String> = self
            .arms
            .iter()
            .map(|arm| {
                params.extend(arm.params.iter().cloned());
                format!(
                    "SELECT {} AS k FROM {}{}",
                    select(arm),
                    arm.from,
                    where_clause(&arm.conditions)
                )
            })
            .collect();
        (selects.join(" UNION ALL "), params)
    }
}

/// `via` of arms that do not answer a record filter.
const NO_VIA: &str = "NULL";

/// `via` of a `timeline` arm: `listed` 0 is the row's own event, 1 a result set that listed it.
const TIMELINE_VIA: &str = "t.listed + 1";

/// `via` from its stored code.
pub(crate) fn via_of(code: Option<i64>) -> Option<Via> {
    match code {
        Some(1) => Some(Via::Entity),
        Some(2) => Some(Via::QueryResults),
        _ => None,
    }
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

fn id_list(ids: &[i64]) -> String {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    ids.join(", ")
}

fn choose_driver(r: &Resolved) -> Driver {
    if r.record.is_some() {
        Driver::Record
    } else if r.field.is_some() {
        Driver::Field
    } else if r.users.is_some() {
        Driver::Users
    } else if r.correlation.is_some() && r.from.is_none() && r.to.is_none() {
        Driver::Scan
    } else {
        Driver::Time
    }
}

fn arms(r: &Resolved) -> Vec<Arm> {
    let driver = choose_driver(r);
    let mut arms = Vec::new();
    let arm =
        |from: &str, order, via: &'static str, conditions: Vec<String>, params: Vec<Value>| Arm {
            from: from.to_string(),
            order,
            via,
            conditions,
            params,
        };
    match driver {
        Driver::Record => {
            let record = r.record.unwrap_or_default();
            for run in levels(&r.runs) {
                let (table, mut conditions) = level("timeline", "t", run);
                conditions.push(format!("t.entity_ref = {record}"));
                arms.push(arm(
                    &format!("{table} t CROSS JOIN activity a ON a.seq = t.seq"),
                    "t",
                    TIMELINE_VIA,
                    conditions,
                    vec![],
                ));
            }
        }
        Driver::Scan => {
            arms.push(arm("activity a NOT INDEXED", "a", NO_VIA, vec![], vec![]));
        }
        Driver::Field => {
            let (names, value) = r.field.clone().unwrap_or_default();
            match value {
                Some(value) => {
                    for run in levels(&r.runs) {
                        for name in &names {
                            let (table, mut conditions) = level("fields", "f", run);
                            conditions.extend([format!("f.name = {name}"), "f.value = ?".into()]);
                            arms.push(arm(
                                &format!("{table} f CROSS JOIN activity a ON a.seq = f.seq"),
                                "f",
                                NO_VIA,
                                conditions,
                                vec![Value::Text(value.clone())],
                            ));
                        }
                    }
                }
                None => arms.push(arm(
                    "activity a",
                    "a",
                    NO_VIA,
                    vec![field_names_condition(&names, &r.runs)],
                    vec![],
                )),
            }
        }
        Driver::Users => {
            let users = r.users.clone().unwrap_or_default();
            for user in users {
                let mut conditions = vec![format!("a.user = {}", user.user)];
                if let Some(system_user) = user.system_user {
                    conditions.push(format!("a.system_user = {system_user}"));
                }
                arms.push(arm(
                    "activity a INDEXED BY activity_user",
                    "a",
                    NO_VIA,
                    conditions,
                    vec![],
                ));
            }
        }
        Driver::Time => {
            arms.push(arm("activity a INDEXED BY activity_time", "a", NO_VIA, vec![], vec![]));
        }
    }
    for arm in &mut arms {
        residual(r, driver, arm);
    }
    arms
}

/// Adds every filter the driver did not already apply.
fn residual(r: &Resolved, driver: Driver, arm: &mut Arm) {
    let t = arm.order;
    let c = &mut arm.conditions;
    let p = &mut arm.params;
    if let Some(from) = r.from {
        c.push(format!("{t}.time >= ?"));
        p.push(Value::Integer(from));
    }
    if let Some(to) = r.to {
        c.push(format!("{t}.time < ?"));
        p.push(Value::Integer(to));
    }
    if driver != Driver::Users
        && let Some(users) = &r.users
    {
        let plain: Vec<i64> =
            users.iter().filter(|u| u.system_user.is_none()).map(|u| u.user).collect();
        let system: Vec<i64> = users.iter().filter_map(|u| u.system_user).collect();
        let mut any = Vec::new();
        if !plain.is_empty() {
            any.push(format!("a.user IN ({})", id_list(&plain)));
        }
        if !system.is_empty() {
            any.push(format!("a.system_user IN ({})", id_list(&system)));
        }
        c.push(format!("({})", any.join(" OR ")));
    }
    for (column, ids) in id_filters(r) {
        if let Some(ids) = ids {
            c.push(format!("a.{column} IN ({})", id_list(ids)));
        }
    }
    if let Some(bit) = r.category {
        c.push(format!("(a.categories & {bit}) <> 0"));
    }
    if driver != Driver::Field
        && let Some((names, value)) = &r.field
    {
        match value {
            Some(value) => {
                let exists = |table: &str, run: &str| {
                    format!(
                        "EXISTS (SELECT 1 FROM {table} f2 WHERE {run}f2.name IN ({}) \
                         AND f2.value = ? AND f2.time = a.time AND f2.seq = a.seq)",
                        id_list(names)
                    )
                };
                let runs = format!("f2.run IN ({}) AND ", id_list(&r.runs));
                c.push(format!("({} OR {})", exists("fields", &runs), exists("fields_staged", "")));
                p.push(Value::Text(value.clone()));
                p.push(Value::Text(value.clone()));
            }
            None => c.push(field_names_condition(names, &r.runs)),
        }
    }
    if let Some(correlation) = r.correlation {
        c.push("a.correlation_id = ?".into());
        p.push(Value::Blob(correlation.to_vec()));
    }
    if let Some(pattern) = &r.text {
        let like = |column: &str, kind: NameKind| {
            format!(
                "{column} IN (SELECT id FROM names WHERE kind = {} AND value LIKE ? ESCAPE '\\')",
                kind.code()
            )
        };
        c.push(format!(
            "({} OR {} OR {} OR {})",
            like("a.user", NameKind::User),
            like("a.entity", NameKind::Entity),
            like("a.message", NameKind::Message),
            like("a.primary_value", NameKind::PrimaryValue),
        ));
        for _ in 0..4 {
            p.push(Value::Text(pattern.clone()));
        }
    }
}

/// The filters that are a plain `column IN (ids)`, by the column of `activity` (and of
/// `daily_counts`, which has each of them but `client_ip`).
fn id_filters(r: &Resolved) -> [(&'static str, &Option<Vec<i64>>); 6] {
    [
        ("organization", &r.organizations),
        ("entity", &r.entities),
        ("message", &r.messages),
        ("access", &r.access),
        ("client_ip", &r.client_ips),
        ("workload", &r.workloads),
    ]
}

/// Rows that set one of these fields, whatever the value.
fn field_names_condition(names: &[i64], runs: &[i64]) -> String {
    let names = id_list(names);
    let runs = id_list(runs);
    format!(
        "a.seq IN (SELECT seq FROM fields WHERE run IN ({runs}) AND name IN ({names}) \
         UNION ALL SELECT seq FROM fields_staged WHERE name IN ({names}))"
    )
}

/// The levels of a run-keyed index: each main run, then the staged level (`None`). Past
/// [`MAX_RUN_ARMS`] runs, all runs are read as one level (`Some(None)` below): SQLite limits the
/// terms of a compound SELECT, and that level's rows are then sorted rather than merged.
fn levels(runs: &[i64]) -> Vec<Level<'_>> {
    let mut levels: Vec<Level<'_>> = if runs.len() > MAX_RUN_ARMS {
        vec![Level::Runs(runs)]
    } else {
        runs.iter().map(|run| Level::Runs(std::slice::from_ref(run))).collect()
    };
    levels.push(Level::Staged);
    levels
}

/// Arms per index level a query may use before the runs are read as one level.
const MAX_RUN_ARMS: usize = 120;

/// One level of a run-keyed index as a query reads it.
#[derive(Debug, Clone, Copy)]
enum Level<'a> {
    Runs(&'a [i64]),
    Staged,
}

/// The table of one level of `index` (read under `alias`) and the condition that selects it.
fn level(index: &str, alias: &str, level: Level<'_>) -> (String, Vec<String>) {
    match level {
        Level::Runs([run]) => (index.to_string(), vec![format!("{alias}.run = {run}")]),
        Level::Runs(runs) => {
            (index.to_string(), vec![format!("{alias}.run IN ({})", id_list(runs))])
        }
        Level::Staged => (format!("{index}_staged"), Vec::new()),
    }
}

/// Ids of dictionary values equal to `value` (ignoring ASCII case for the small kinds).
fn name_ids(conn: &Connection, kind: NameKind, value: &str) -> Result<Vec<i64>, ArchiveError> {
    let sql = if kind.is_small() {
        "SELECT id FROM names WHERE kind = ?1 AND kind < 20 AND value = ?2 COLLATE NOCASE"
    } else {
        "SELECT id FROM names WHERE kind = ?1 AND value = ?2"
    };
    let mut statement = conn.prepare_cached(sql).map_err(failed("resolving a query"))?;
    let ids = statement
        .query_map(params![kind.code(), value], |row| row.get(0))
        .and_then(|rows| rows.collect::<Result<Vec<i64>, _>>())
        .map_err(failed("resolving a query"))?;
    Ok(ids)
}

/// Ids for a filter with any of several values; `None` when the filter is absent.
fn any_name_ids(
    conn: &Connection,
    kind: NameKind,
    values: &[String],
) -> Result<Option<Vec<i64>>, ArchiveError> {
    if values.is_empty() {
        return Ok(None);
    }
    let mut ids = Vec::new();
    for value in values {
        ids.extend(name_ids(conn, kind, value.trim())?);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(Some(ids))
}

/// The `guids` id of a Dataverse row id, if the archive has seen it.
fn guid_ref(conn: &Connection, guid: Uuid) -> Result<Option<i64>, ArchiveError> {
    conn.prepare_cached("SELECT id FROM guids WHERE guid = ?1")
        .and_then(|mut s| s.query_row([guid.as_bytes().as_slice()], |row| row.get(0)).optional())
        .map_err(failed("resolving a record id"))
}

fn parse_guid(value: &str) -> Option<Uuid> {
    Uuid::try_parse(value.trim().trim_matches(|c| c == '{' || c == '}')).ok()
}

fn resolve(conn: &Connection, q: &RecordQuery) -> Result<Option<Resolved>, ArchiveError> {
    let one = |value: &Option<String>| value.iter().cloned().collect::<Vec<_>>();
    let mut r = Resolved {
        from: q.from.map(micros),
        to: q.to.map(micros),
        organizations: any_name_ids(conn, NameKind::Organization, &one(&q.organization))?,
        entities: any_name_ids(conn, NameKind::Entity, &one(&q.entity))?,
        messages: any_name_ids(conn, NameKind::Message, &q.messages)?,
        client_ips: any_name_ids(conn, NameKind::ClientIp, &one(&q.client_ip))?,
        correlation: q.correlation_id.map(|g| *g.as_bytes()),
        workloads: any_name_ids(conn, NameKind::Workload, &q.workloads)?,
        runs: index_runs(conn)?,
        ..Resolved::default()
    };
    if !q.users.is_empty() {
        r.users = Some(resolve_users(conn, &q.users)?);
    }
    if let Some(record) = q.record_id {
        match guid_ref(conn, record)? {
            Some(id) => r.record = Some(id),
            // Never seen: no event is about it and no result set listed it.
            None => return Ok(None),
        }
    }
    if !q.access.is_empty() {
        let mut codes = Vec::new();
        for kind in &q.access {
            let kind = kind.trim().to_ascii_lowercase();
            if !ACCESS_KINDS.contains(&kind.as_str()) {
                return Err(QueryError::new(format!(
                    "`{kind}` is not an access kind; use one of {}",
                    ACCESS_KINDS.join(", ")
                ))
                .into());
            }
            codes.push(access_code(&kind));
        }
        r.access = Some(codes);
    }
    if let Some(category) = &q.category {
        let bit = category_bit(category.trim()).ok_or_else(|| {
            QueryError::new(format!(
                "`{category}` is not a report category; use one of {}",
                CATEGORIES.join(", ")
            ))
        })?;
        r.category = Some(i64::from(bit));
    }
    if let Some(field) = &q.field {
        let names = name_ids(conn, NameKind::Field, field.name.trim())?;
        r.field = Some((names, field.value.clone()));
    }
    if let Some(text) = &q.text {
        let text = text.trim();
        if !text.is_empty() {
            let escaped: String = text
                .chars()
                .flat_map(|c| match c {
                    '%' | '_' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            r.text = Some(format!("%{escaped}%"));
        }
    }
    let empty = |ids: &Option<Vec<i64>>| ids.as_ref().is_some_and(Vec::is_empty);
    let nothing = empty(&r.organizations)
        || empty(&r.entities)
        || empty(&r.messages)
        || empty(&r.client_ips)
        || empty(&r.workloads)
        || r.users.as_ref().is_some_and(Vec::is_empty)
        || r.field.as_ref().is_some_and(|(names, _)| names.is_empty());
    Ok(if nothing { None } else { Some(r) })
}

/// Every user id a list of UPNs (any case) and system user ids can mean.
/// The runs of the main index levels, oldest first.
fn index_runs(conn: &Connection) -> Result<Vec<i64>, ArchiveError> {
    conn.prepare_cached("SELECT run FROM index_runs ORDER BY run")
        .and_then(|mut s| s.query_map([], |row| row.get(0))?.collect())
        .map_err(failed("reading the index runs"))
}

fn resolve_users(conn: &Connection, users: &[String]) -> Result<Vec<UserMatch>, ArchiveError> {
    let mut matches = Vec::new();
    for user in users {
        for id in name_ids(conn, NameKind::User, user.trim())? {
            matches.push(UserMatch { user: id, system_user: None });
        }
    }
    for user in users {
        let Some(guid) = parse_guid(user) else { continue };
        let mut statement = conn
            .prepare_cached("SELECT id, user FROM system_users WHERE guid = ?1")
            .map_err(failed("resolving a user"))?;
        let rows = statement
            .query_map([guid.as_bytes().as_slice()], |row| {
                Ok(UserMatch { system_user: Some(row.get(0)?), user: row.get(1)? })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(failed("resolving a user"))?;
        for found in rows {
            // A match on the whole user already covers its system user ids.
            if !matches.iter().any(|m| m.user == found.user && m.system_user.is_none()) {
                matches.push(found);
            }
        }
    }
    matches.sort_by_key(|m| (m.user, m.system_user));
    matches.dedup();
    Ok(matches)
}
