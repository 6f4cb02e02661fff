//! The generated audit history of the emulated environment: the ground truth that `audits` and
//! `RetrieveAuditDetails` serve, and that tests compare a synced archive with.
//!
//! The history reuses the activity generator's world for the environment's organization: the
//! same people (their `systemuserid` and display names), working sessions, tables, pool rows
//! (ids and names) and lookups. It is not event-for-event the Purview activity (those records
//! carry no old values); it is an independent stream of audited changes by the same people at
//! the times they work.
//!
//! Generation runs forward from `history_start` in fixed blocks of ten minutes, each block from
//! its own seeded generator, carrying the state of every record (current column values, shares,
//! N:N links, role memberships and privileges) from block to block. So values chain: for a
//! record and column, the old value of every change is the new value of the previous change
//! (or the record's initial value), and the result only depends on the seed and the
//! configuration, never on when or in which pieces it is asked for. Blocks are generated lazily
//! as the clock advances. No record gets two audit rows in the same second, so ordering by
//! `(createdon, auditid)` is also the order in which changes happened.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use clock::Clock;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::config::DataverseConfig;
use super::schema::{self, ColumnKind, TABLES};
use crate::activity::shared::{CITIES, FIRST_NAMES, LAST_NAMES, World, mix, poisson, slot_rng};
use crate::activity::{Organization, TenantWorld, User, UserKind};
use crate::config::EmulatorConfig;
use crate::state::lock;

/// Seconds per generation block.
const BLOCK: i64 = 600;
const DAY: i64 = 86_400;

/// A column value of an audited record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditValue {
    Text(String),
    /// A choice (option set) value with its label.
    Choice {
        value: i32,
        label: String,
    },
    /// Money, in hundredths of the currency unit.
    Money {
        cents: i64,
    },
    Integer(i64),
    Boolean(bool),
    /// A date-only column.
    Date(NaiveDate),
    /// A lookup to another record.
    Lookup(RecordRef),
}

/// A reference to a Dataverse row, with its name (the name is not always on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordRef {
    /// Logical name of the table (`account`, `systemuser`, `team`, `role`).
    pub table: String,
    pub id: Uuid,
    pub name: String,
}

/// One privilege of a security role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RolePrivilege {
    /// `prvReadAccount`, ...
    pub name: String,
    pub privilege_id: Uuid,
    /// `Basic`, `Local`, `Deep` or `Global`.
    pub depth: String,
    pub business_unit_id: Uuid,
}

/// What `RetrieveAuditDetails` returns for a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditDetail {
    /// `AttributeAuditDetail`: the changed columns' values before and after; a column missing
    /// from `old` was empty before, one missing from `new` is empty after. Columns in schema
    /// order; lookups by logical name (`parentcustomerid`).
    Attributes { old: Vec<(String, AuditValue)>, new: Vec<(String, AuditValue)> },
    /// `ShareAuditDetail`. `old_privileges` is `None` when the principal had no access before,
    /// `new_privileges` is `None` after an Unshare.
    Share { principal: RecordRef, old_privileges: Option<String>, new_privileges: Option<String> },
    /// `RelationshipAuditDetail`.
    Relationship { relationship: String, targets: Vec<RecordRef> },
    /// `RolePrivilegeAuditDetail` (sorted by privilege name).
    RolePrivileges { old: Vec<RolePrivilege>, new: Vec<RolePrivilege> },
    /// `UserAccessAuditDetail`.
    UserAccess { access_time: DateTime<Utc>, interval_hours: i32 },
    /// The base `AuditDetail` (audit-setting and metadata rows): no properties of its own.
    Plain,
}

/// One row of the `audit` table with its detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub audit_id: Uuid,
    /// Whole seconds, UTC.
    pub created_on: DateTime<Utc>,
    pub action: i32,
    pub operation: i32,
    /// `objecttypecode`.
    pub table: String,
    pub object_id: Uuid,
    /// The audited record's name (not part of the `audits` wire rows).
    pub object_name: String,
    pub user_id: Uuid,
    pub user_name: String,
    /// Set when an application user impersonated `user_id`.
    pub calling_user_id: Option<Uuid>,
    /// Often the all-zero GUID, as in real environments.
    pub transaction_id: Uuid,
    /// Column numbers of the changed columns (empty = `attributemask` null).
    pub attribute_mask: Vec<u32>,
    pub detail: AuditDetail,
}

/// Who and what the environment is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentInfo {
    pub tenant_id: Uuid,
    /// `organizationid`.
    pub organization_id: Uuid,
    /// `name` of the organization row (the world organization's display name).
    pub name: String,
    /// The world organization's unique name (`CrmOrganizationUniqueName` in Purview records).
    pub unique_name: String,
    /// The world organization's `InstanceUrl` (the real-life environment URL this one plays).
    pub instance_url: String,
    /// The root business unit.
    pub business_unit_id: Uuid,
}

/// The deterministic audit history of the emulated Dataverse environment (ground truth).
pub struct AuditHistory {
    seed: u64,
    tenant_id: Uuid,
    config: DataverseConfig,
    history_start: DateTime<Utc>,
    clock: Arc<dyn Clock>,
    world: TenantWorld,
    info: EnvironmentInfo,
    ents: Entities,
    generated: Mutex<Generated>,
}

impl std::fmt::Debug for AuditHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditHistory")
            .field("seed", &self.seed)
            .field("tenant_id", &self.tenant_id)
            .field("organization", &self.info.unique_name)
            .field("history_start", &self.history_start)
            .finish_non_exhaustive()
    }
}

/// World entity indexes the generator needs.
#[derive(Debug, Clone)]
struct Entities {
    /// Per schema table.
    tables: Vec<usize>,
    role: usize,
    team: usize,
    businessunit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Pool(u32),
    Created,
}

#[derive(Debug, Clone)]
struct RecordState {
    table: usize,
    origin: Origin,
    name: String,
    values: Vec<Option<AuditValue>>,
    alive: bool,
}

#[derive(Debug, Default)]
struct Generated {
    /// Blocks are generated up to here (Unix seconds, exclusive).
    until: i64,
    rows: Vec<AuditRow>,
    by_id: HashMap<Uuid, usize>,
    records: HashMap<Uuid, RecordState>,
    /// Live records created during the history, per schema table.
    created: Vec<Vec<Uuid>>,
    /// Current access per (record, principal id).
    shares: BTreeMap<(Uuid, Uuid), (RecordRef, String)>,
    links: BTreeSet<(usize, Uuid, Uuid)>,
    user_roles: HashMap<Uuid, BTreeSet<u32>>,
    role_privileges: HashMap<u32, Vec<RolePrivilege>>,
    last_access: HashMap<usize, i64>,
    retention: i64,
}

/// What happens at one second of a block.
#[derive(Debug, Clone, Copy)]
enum Planned {
    Person(usize),
    Integration,
    Access(usize),
    RoleMembership,
    Privileges,
    Meta(i32),
}

impl AuditHistory {
    /// The history of the environment `config.dataverse` describes, or `None` when the
    /// configuration has no tenant (or not the chosen one).
    pub fn new(config: &EmulatorConfig) -> Option<AuditHistory> {
        let dv = &config.dataverse;
        let tenant = match dv.tenant {
            Some(id) => config.tenants.iter().find(|t| t.tenant_id == id)?,
            None => config.tenants.first()?,
        };
        let world =
            TenantWorld::new(config.seed, tenant.tenant_id, &tenant.domain, &config.activity);
        let model = world.model();
        let org_index = dv.organization.min(model.organizations.len().saturating_sub(1));
        let index = |name: &str| model.entity_index(name).unwrap_or(0);
        let ents = Entities {
            tables: TABLES.iter().map(|t| index(t.name)).collect(),
            role: index("role"),
            team: index("team"),
            businessunit: index("businessunit"),
        };
        let org = &model.organizations[org_index];
        let info = EnvironmentInfo {
            tenant_id: tenant.tenant_id,
            organization_id: org.organization_id,
            name: org.display_name.clone(),
            unique_name: org.unique_name.clone(),
            instance_url: org.instance_url.clone(),
            business_unit_id: Uuid::from_bytes(model.row_id(org, ents.businessunit, 0)),
        };
        let history_start = config.history_start;
        let start =
            history_start.timestamp() + i64::from(history_start.timestamp_subsec_nanos() > 0);
        let mut dv = dv.clone();
        dv.organization = org_index;
        let generated = Generated {
            until: start,
            created: vec![Vec::new(); TABLES.len()],
            retention: i64::from(dv.retention_days),
            ..Generated::default()
        };
        Some(AuditHistory {
            seed: config.seed,
            tenant_id: tenant.tenant_id,
            config: dv,
            history_start,
            clock: config.clock.clone(),
            world,
            info,
            ents,
            generated: Mutex::new(generated),
        })
    }

    /// The environment's identity.
    pub fn environment(&self) -> &EnvironmentInfo {
        &self.info
    }

    /// The first moment of the history.
    pub fn history_start(&self) -> DateTime<Utc> {
        self.history_start
    }

    /// How long after `createdon` a row becomes visible (`DataverseConfig::storage_delay`).
    pub fn storage_delay(&self) -> Duration {
        self.config.storage_delay
    }

    /// Every row with `createdon` in `[from, to)`, ordered by `(createdon, auditid)`, whether
    /// visible yet or not. Generates as far as needed (at most a year past the clock's now).
    pub fn rows(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<AuditRow> {
        let limit = to.min(self.clock.now() + Duration::days(366));
        self.with_rows(limit, |rows| {
            let lo = rows.partition_point(|r| r.created_on < from);
            let hi = rows.partition_point(|r| r.created_on < to);
            rows[lo..hi.max(lo)].to_vec()
        })
    }

    /// Every row a client can see at the clock's now (`createdon + storage_delay <= now`),
    /// ordered by `(createdon, auditid)`: what a complete sync must hold.
    pub fn visible_rows(&self) -> Vec<AuditRow> {
        self.visible_rows_at(self.clock.now())
    }

    /// Every row a client can see at `now`.
    pub fn visible_rows_at(&self, now: DateTime<Utc>) -> Vec<AuditRow> {
        let cut = now - self.config.storage_delay;
        self.rows(self.history_start, cut + Duration::nanoseconds(1))
    }

    /// One row by id (generated up to the clock's now).
    pub fn row(&self, audit_id: Uuid) -> Option<AuditRow> {
        self.with_generated(self.clock.now(), |g| {
            g.by_id.get(&audit_id).map(|&i| g.rows[i].clone())
        })
    }

    /// The column values of a record of an audited table at `at` (after every change with
    /// `createdon <= at`), keyed by column logical name; `None` when the record does not exist
    /// then (never created, or deleted). Records of the world's pool exist from the start with
    /// their initial values.
    pub fn record_values(
        &self,
        table: &str,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Option<BTreeMap<String, AuditValue>> {
        let table_index = TABLES.iter().position(|t| t.name == table)?;
        let initial = self.pool_row(table_index, id).map(|row| {
            let state = self.pool_state(table_index, row);
            named_values(table_index, &state.values)
        });
        let limit = at.min(self.clock.now() + Duration::days(366));
        self.with_rows(limit + Duration::seconds(1), |rows| {
            let mut values = initial;
            for row in rows.iter().filter(|r| r.object_id == id && r.created_on <= at) {
                if row.table != table {
                    continue;
                }
                match (&row.detail, row.operation) {
                    (AuditDetail::Attributes { new, .. }, 1) => {
                        values = Some(new.iter().cloned().collect());
                    }
                    (_, 3) => values = None,
                    (AuditDetail::Attributes { old, new }, _) => {
                        let current = values.get_or_insert_with(BTreeMap::new);
                        for (name, _) in old {
                            current.remove(name);
                        }
                        for (name, value) in new {
                            current.insert(name.clone(), value.clone());
                        }
                    }
                    _ => {}
                }
            }
            values
        })
    }

    /// The organization's `auditretentionperiodv2` at `at` (changed by action 104 rows).
    pub fn retention_days_at(&self, at: DateTime<Utc>) -> i64 {
        self.with_rows(at + Duration::seconds(1), |rows| {
            let mut value = i64::from(self.config.retention_days);
            for row in rows.iter().filter(|r| r.action == 104 && r.created_on <= at) {
                if let AuditDetail::Attributes { new, .. } = &row.detail
                    && let Some((_, AuditValue::Integer(days))) = new.first()
                {
                    value = *days;
                }
            }
            value
        })
    }

    /// Runs `f` on the rows generated up to at least `until`.
    pub(crate) fn with_rows<T>(&self, until: DateTime<Utc>, f: impl FnOnce(&[AuditRow]) -> T) -> T {
        self.with_generated(until, |g| f(&g.rows))
    }

    fn with_generated<T>(&self, until: DateTime<Utc>, f: impl FnOnce(&Generated) -> T) -> T {
        let mut g = lock(&self.generated);
        let until = until.timestamp() + 1;
        while g.until < until {
            let start = g.until;
            self.generate_block(&mut g, start);
            g.until = start + BLOCK;
        }
        f(&g)
    }

    pub(crate) fn config(&self) -> &DataverseConfig {
        &self.config
    }

    fn org(&self) -> &Organization {
        &self.world.model().organizations[self.config.organization]
    }

    fn model(&self) -> &World {
        self.world.model()
    }

    /// The pool row number of `id` in a schema table, if it is a pool row.
    fn pool_row(&self, table: usize, id: Uuid) -> Option<u32> {
        let model = self.model();
        let entity = self.ents.tables[table];
        let org = self.org();
        (0..model.rows(entity)).find(|&row| model.row_id(org, entity, row) == *id.as_bytes())
    }

    fn pool_name(&self, entity: usize, row: u32) -> String {
        let mut name = String::new();
        self.model().push_row_name(&mut name, self.org(), entity, row);
        name
    }

    fn pool_ref(&self, entity: usize, row: u32) -> RecordRef {
        let model = self.model();
        RecordRef {
            table: model.entities[entity].logical_name.clone(),
            id: Uuid::from_bytes(model.row_id(self.org(), entity, row)),
            name: self.pool_name(entity, row),
        }
    }

    fn user_ref(&self, user: &User) -> RecordRef {
        RecordRef {
            table: "systemuser".to_owned(),
            id: user.system_user_id(self.org()),
            name: user.display_name.clone(),
        }
    }

    /// The initial state of a pool row: its name, and most columns filled from its own seed.
    fn pool_state(&self, table: usize, row: u32) -> RecordState {
        let name = self.pool_name(self.ents.tables[table], row);
        let mut rng = ChaCha8Rng::seed_from_u64(mix(
            mix(self.seed ^ 0xD47A_7E55, table as u64),
            u64::from(row),
        ));
        let (first, last) = name.split_once(' ').unwrap_or((name.as_str(), ""));
        let values = TABLES[table]
            .columns
            .iter()
            .map(|column| match column.kind {
                ColumnKind::Primary => Some(AuditValue::Text(name.clone())),
                ColumnKind::FirstName => Some(AuditValue::Text(first.to_owned())),
                ColumnKind::LastName => Some(AuditValue::Text(last.to_owned())),
                kind => {
                    let present = rng.random::<f64>() < 0.8 || kind == ColumnKind::Owner;
                    let value = self.new_value(&mut rng, column.name, kind);
                    present.then_some(value)
                }
            })
            .collect();
        RecordState { table, origin: Origin::Pool(row), name, values, alive: true }
    }

    /// A fresh value for a column.
    fn new_value<R: Rng>(&self, rng: &mut R, column: &str, kind: ColumnKind) -> AuditValue {
        let pick = |rng: &mut R, list: &[&str]| list[rng.random_range(0..list.len())].to_owned();
        match kind {
            ColumnKind::Primary | ColumnKind::Company => {
                let account = self.ents.tables[0];
                let rows = self.model().rows(account);
                AuditValue::Text(self.pool_name(account, rng.random_range(0..rows)))
            }
            ColumnKind::FirstName => AuditValue::Text(pick(rng, FIRST_NAMES)),
            ColumnKind::LastName => AuditValue::Text(pick(rng, LAST_NAMES)),
            ColumnKind::JobTitle => AuditValue::Text(pick(
                rng,
                &["Purchasing Manager", "Head of IT", "CFO", "Field Engineer", "Office Manager"],
            )),
            ColumnKind::Email => {
                let first: String = pick(rng, FIRST_NAMES)
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect::<String>()
                    .to_lowercase();
                AuditValue::Text(format!("{first}{}@example.com", rng.random_range(1..99)))
            }
            ColumnKind::Phone => {
                AuditValue::Text(format!("+31 10 555 {:04}", rng.random_range(0..10_000)))
            }
            ColumnKind::City => AuditValue::Text(pick(rng, CITIES)),
            ColumnKind::Code => {
                let prefix = if column == "ticketnumber" { "CAS" } else { "ACC" };
                AuditValue::Text(format!("{prefix}-{:05}", rng.random_range(10_000..100_000)))
            }
            ColumnKind::Memo => AuditValue::Text(pick(
                rng,
                &[
                    "Customer asked for an updated proposal including the maintenance option.",
                    "Called back, left a voicemail; will try again on Thursday.",
                    "Delivery address changed, see the notes from the last visit.",
                    "Discussed renewal terms: 3-year commitment with a 5% discount.",
                    "Escalated to the \"Tier 2\" team after the second outage this month.",
                ],
            )),
            ColumnKind::Choice(labels) => {
                let (value, label) = labels[rng.random_range(0..labels.len())];
                AuditValue::Choice { value, label: label.to_owned() }
            }
            ColumnKind::Money(min, max) => {
                let units = rng.random_range(min..=max);
                let cents = if rng.random_bool(0.3) { rng.random_range(1..100) } else { 0 };
                AuditValue::Money { cents: units * 100 + cents }
            }
            ColumnKind::Int(min, max) => AuditValue::Integer(rng.random_range(min..=max)),
            ColumnKind::Bool => AuditValue::Boolean(rng.random_bool(0.5)),
            ColumnKind::Date => {
                let (from, span) = if column.contains("birth") {
                    ((1950, 1, 1), 20_000)
                } else {
                    ((2025, 1, 1), 1_400)
                };
                let base = NaiveDate::from_ymd_opt(from.0, from.1, from.2).unwrap_or_default();
                AuditValue::Date(base + Duration::days(rng.random_range(0..span)))
            }
            ColumnKind::Lookup(table) => {
                let entity = self.model().entity_index(table).unwrap_or(0);
                let rows = self.model().rows(entity);
                AuditValue::Lookup(self.pool_ref(entity, popular_row(rng, rows)))
            }
            ColumnKind::Owner => {
                let model = self.model();
                let person = model.people[rng.random_range(0..model.people.len())];
                AuditValue::Lookup(self.user_ref(&model.users[person]))
            }
        }
    }

    fn generate_block(&self, g: &mut Generated, start: i64) {
        let end = start + BLOCK;
        let mut rng = slot_rng(self.seed, self.tenant_id, "Dataverse.Audit", start, end);
        let plans = self.plan_block(&mut rng, start, end);
        let mut rows = Vec::with_capacity(plans.len());
        let mut touched: HashSet<(Uuid, i64)> = HashSet::new();
        for (time, what) in plans {
            let row = match what {
                Planned::Person(user) => self.person_change(g, &mut rng, user, time),
                Planned::Integration => self.integration_change(g, &mut rng, time),
                Planned::Access(user) => self.user_access(g, user, time),
                Planned::RoleMembership => self.role_membership(g, &mut rng, time),
                Planned::Privileges => self.replace_privileges(g, &mut rng, time),
                Planned::Meta(action) => self.meta(g, &mut rng, action, time),
            };
            let Some(mut row) = row else { continue };
            if !touched.insert((row.object_id, time)) {
                // The change is dropped: the state it applied is rolled back below.
                self.undo(g, &row);
                continue;
            }
            row.audit_id = audit_id(&mut rng, self.org(), time);
            row.transaction_id =
                if rng.random_bool(0.3) { Uuid::from_bytes(rng.random()) } else { Uuid::nil() };
            rows.push(row);
        }
        rows.sort_by_key(|r| (r.created_on, r.audit_id));
        for row in rows {
            g.by_id.insert(row.audit_id, g.rows.len());
            g.rows.push(row);
        }
    }

    /// Who does what in the block, as `(second, what)` in time order.
    fn plan_block(&self, rng: &mut ChaCha8Rng, start: i64, end: i64) -> Vec<(i64, Planned)> {
        let model = self.model();
        let mut plans: Vec<(i64, Planned)> = Vec::new();
        let middle = start + BLOCK / 2;
        let per_record = if model.records_per_user_day > 0.0 {
            self.config.changes_per_user_day.max(0.0) / model.records_per_user_day
        } else {
            0.0
        };
        let mut cumulative = Vec::with_capacity(model.people.len());
        let mut total = 0.0;
        for &index in &model.people {
            let user = &model.users[index];
            let day = World::local_day(user, middle);
            total += model.rate(user, &model.sessions(user, day), middle) * per_record;
            cumulative.push(total);
            // Session starts: a user access row when the interval allows.
            let mut days = vec![World::local_day(user, start), World::local_day(user, end - 1)];
            days.dedup();
            for day in days {
                for session in model.sessions(user, day).iter().flatten() {
                    for at in [Some(session.start), session.signs_in_again].into_iter().flatten() {
                        if at >= start && at < end {
                            plans.push((at, Planned::Access(index)));
                        }
                    }
                }
            }
        }
        for _ in 0..poisson(rng, total * BLOCK as f64) {
            let draw = rng.random::<f64>() * total;
            let slot = cumulative.partition_point(|&c| c <= draw).min(cumulative.len() - 1);
            plans.push((rng.random_range(start..end), Planned::Person(model.people[slot])));
        }
        let people = model.people.len() as f64;
        let integration = people * self.config.changes_per_user_day.max(0.0) * 0.1 / DAY as f64;
        for _ in 0..poisson(rng, integration * BLOCK as f64) {
            plans.push((rng.random_range(start..end), Planned::Integration));
        }
        for (per_day, what) in [(6.0, Planned::RoleMembership), (2.0, Planned::Privileges)] {
            for _ in 0..poisson(rng, per_day * BLOCK as f64 / DAY as f64) {
                plans.push((rng.random_range(start..end), what));
            }
        }
        // One audit-setting or metadata row a day, in turn 104, 102, 111.
        for day in start.div_euclid(DAY)..=(end - 1).div_euclid(DAY) {
            let at = day * DAY + 8 * 3600 + (mix(self.seed, day as u64) % (9 * 3600)) as i64;
            if at >= start && at < end {
                let action = [104, 102, 111][day.rem_euclid(3) as usize];
                plans.push((at, Planned::Meta(action)));
            }
        }
        plans.sort_by_key(|(at, _)| *at);
        plans
    }

    fn row_base(&self, time: i64, action: i32, operation: i32, table: &str) -> AuditRow {
        AuditRow {
            audit_id: Uuid::nil(),
            created_on: Utc.timestamp_opt(time, 0).single().unwrap_or_default(),
            action,
            operation,
            table: table.to_owned(),
            object_id: Uuid::nil(),
            object_name: String::new(),
            user_id: Uuid::nil(),
            user_name: String::new(),
            calling_user_id: None,
            transaction_id: Uuid::nil(),
            attribute_mask: Vec::new(),
            detail: AuditDetail::Plain,
        }
    }

    fn by(&self, mut row: AuditRow, user: &User) -> AuditRow {
        row.user_id = user.system_user_id(self.org());
        row.user_name = user.display_name.clone();
        row
    }

    fn pick_table(&self, rng: &mut ChaCha8Rng) -> usize {
        let total: u32 = TABLES.iter().map(|t| t.weight).sum();
        let mut draw = rng.random_range(0..total);
        for (index, table) in TABLES.iter().enumerate() {
            if draw < table.weight {
                return index;
            }
            draw -= table.weight;
        }
        0
    }

    /// A live record of the table: mostly popular pool rows, some created during the history.
    fn pick_record(&self, g: &mut Generated, rng: &mut ChaCha8Rng, table: usize) -> Option<Uuid> {
        if !g.created[table].is_empty() && rng.random_bool(0.25) {
            let list = &g.created[table];
            return Some(list[rng.random_range(0..list.len())]);
        }
        let entity = self.ents.tables[table];
        let row = popular_row(rng, self.model().rows(entity));
        let id = Uuid::from_bytes(self.model().row_id(self.org(), entity, row));
        let state = g.records.entry(id).or_insert_with(|| self.pool_state(table, row));
        state.alive.then_some(id)
    }

    fn person_change(
        &self,
        g: &mut Generated,
        rng: &mut ChaCha8Rng,
        user: usize,
        time: i64,
    ) -> Option<AuditRow> {
        let user = &self.model().users[user];
        let table = self.pick_table(rng);
        match rng.random_range(0..100) {
            0..=54 => self.update(g, rng, user, table, time, None),
            55..=66 => Some(self.create(g, rng, user, table, time)),
            67..=70 => self.delete(g, rng, user, table, time),
            71..=77 => self.assign(g, rng, user, table, time),
            78..=89 => self.share(g, rng, user, table, time),
            _ => self.associate(g, rng, user, time),
        }
    }

    /// The ERP integration updates records, sometimes on behalf of a person (impersonation).
    fn integration_change(
        &self,
        g: &mut Generated,
        rng: &mut ChaCha8Rng,
        time: i64,
    ) -> Option<AuditRow> {
        let model = self.model();
        let app = &model.users[*model.applications.first()?];
        let table = self.pick_table(rng);
        if rng.random_bool(0.15) {
            let person = &model.users[model.people[rng.random_range(0..model.people.len())]];
            let caller = app.system_user_id(self.org());
            return self.update(g, rng, person, table, time, Some(caller));
        }
        self.update(g, rng, app, table, time, None)
    }

    fn update(
        &self,
        g: &mut Generated,
        rng: &mut ChaCha8Rng,
        user: &User,
        table: usize,
        time: i64,
        caller: Option<Uuid>,
    ) -> Option<AuditRow> {
        let id = self.pick_record(g, rng, table)?;
        let columns = TABLES[table].columns;
        let editable: Vec<usize> = (0..columns.len())
            .filter(|&i| {
                !matches!(
                    columns[i].kind,
                    ColumnKind::Primary
                        | ColumnKind::FirstName
                        | ColumnKind::LastName
                        | ColumnKind::Owner
                )
            })
            .collect();
        let count = rng.random_range(1..=editable.len().min(4));
        let mut chosen: Vec<usize> = Vec::with_capacity(count);
        while chosen.len() < count {
            let pick = editable[rng.random_range(0..editable.len())];
            if !chosen.contains(&pick) {
                chosen.push(pick);
            }
        }
        chosen.sort_unstable();
        let mut new_values = Vec::with_capacity(count);
        for &column in &chosen {
            let current = g.records.get(&id).and_then(|s| s.values[column].clone());
            let value = if current.is_some() && rng.random_bool(0.08) {
                None
            } else {
                let mut value = self.new_value(rng, columns[column].name, columns[column].kind);
                for _ in 0..4 {
                    if Some(&value) != current.as_ref() {
                        break;
                    }
                    value = self.new_value(rng, columns[column].name, columns[column].kind);
                }
                (Some(&value) != current.as_ref()).then_some(value)
            };
            if value.is_some() || current.is_some() {
                new_values.push((column, value));
            }
        }
        if new_values.is_empty() {
            return None;
        }
        let mut row = self.change_row(g, id, table, time, 2, 2, &new_values);
        row = self.by(row, user);
        row.calling_user_id = caller;
        Some(row)
    }

    /// Applies column changes to a record and describes them as an attribute audit row.
    #[allow(clippy::too_many_arguments)]
    fn change_row(
        &self,
        g: &mut Generated,
        id: Uuid,
        table: usize,
        time: i64,
        action: i32,
        operation: i32,
        changes: &[(usize, Option<AuditValue>)],
    ) -> AuditRow {
        let columns = TABLES[table].columns;
        let mut old = Vec::new();
        let mut new = Vec::new();
        let mut mask = Vec::new();
        let mut name = String::new();
        if let Some(state) = g.records.get_mut(&id) {
            for (column, value) in changes {
                let name = columns[*column].name.to_owned();
                if let Some(before) = state.values[*column].take() {
                    old.push((name.clone(), before));
                }
                if let Some(after) = value {
                    new.push((name, after.clone()));
                }
                state.values[*column] = value.clone();
                mask.push(columns[*column].number);
            }
            name = state.name.clone();
        }
        let mut row = self.row_base(time, action, operation, TABLES[table].name);
        row.object_id = id;
        row.object_name = name;
        row.attribute_mask = mask;
        row.detail = AuditDetail::Attributes { old, new };
        row
    }

    /// Rolls back the state change of a row that is dropped (same record, same second).
    fn undo(&self, g: &mut Generated, row: &AuditRow) {
        match (&row.detail, row.action) {
            (AuditDetail::Attributes { old, .. }, 2 | 13) => {
                if let Some(state) = g.records.get_mut(&row.object_id) {
                    let columns = TABLES[state.table].columns;
                    for &number in &row.attribute_mask {
                        if let Some(i) = columns.iter().position(|c| c.number == number) {
                            state.values[i] = old
                                .iter()
                                .find(|(n, _)| n == columns[i].name)
                                .map(|(_, v)| v.clone());
                        }
                    }
                }
            }
            (_, 1) => {
                g.records.remove(&row.object_id);
                for list in &mut g.created {
                    list.retain(|id| *id != row.object_id);
                }
            }
            (_, 3) => {
                if let Some(state) = g.records.get_mut(&row.object_id) {
                    state.alive = true;
                    if state.origin == Origin::Created {
                        g.created[state.table].push(row.object_id);
                    }
                }
            }
            (AuditDetail::Share { principal, old_privileges, .. }, _) => {
                let key = (row.object_id, principal.id);
                match old_privileges {
                    Some(old) => {
                        g.shares.insert(key, (principal.clone(), old.clone()));
                    }
                    None => {
                        g.shares.remove(&key);
                    }
                }
            }
            (AuditDetail::Relationship { relationship, targets }, 33 | 34) => {
                let rel = schema::RELATIONSHIPS.iter().position(|r| r.2 == relationship);
                if let (Some(rel), Some(target)) = (rel, targets.first()) {
                    let key = (rel, row.object_id, target.id);
                    if row.action == 33 {
                        g.links.remove(&key);
                    } else {
                        g.links.insert(key);
                    }
                }
            }
            (AuditDetail::Relationship { targets, .. }, 55 | 56) => {
                let roles = g.user_roles.entry(row.object_id).or_default();
                for target in targets {
                    if let Some(number) = self.role_row(target.id) {
                        if row.action == 55 {
                            roles.remove(&number);
                        } else {
                            roles.insert(number);
                        }
                    }
                }
            }
            (AuditDetail::RolePrivileges { old, .. }, _) => {
                if let Some(number) = self.role_row(row.object_id) {
                    g.role_privileges.insert(number, old.clone());
                }
            }
            (AuditDetail::UserAccess { .. }, _) => {}
            (AuditDetail::Attributes { old, .. }, 104) => {
                if let Some((_, AuditValue::Integer(days))) = old.first() {
                    g.retention = *days;
                }
            }
            _ => {}
        }
    }

    fn role_row(&self, id: Uuid) -> Option<u32> {
        let model = self.model();
        (0..model.rows(self.ents.role))
            .find(|&row| model.row_id(self.org(), self.ents.role, row) == *id.as_bytes())
    }

    fn create(
        &self,
        g: &mut Generated,
        rng: &mut ChaCha8Rng,
        user: &User,
        table: usize,
        time: i64,
    ) -> AuditRow {
        let org = self.org();
        let id = Uuid::from_bytes(crate::activity::shared::dataverse_guid(rng.random(), org));
        let columns = TABLES[table].columns;
        let entity = self.ents.tables[table];
        let name_row = rng.random_range(0..self.model().rows(entity));
        let pool_name = self.pool_name(entity, name_row);
        let (first, last) = pool_name.split_once(' ').unwrap_or((pool_name.as_str(), ""));
        let values: Vec<Option<AuditValue>> = columns
            .iter()
            .map(|column| match column.kind {
                ColumnKind::Primary => Some(AuditValue::Text(pool_name.clone())),
                ColumnKind::FirstName => Some(AuditValue::Text(first.to_owned())),
                ColumnKind::LastName => Some(AuditValue::Text(last.to_owned())),
                ColumnKind::Owner => Some(AuditValue::Lookup(self.user_ref(user))),
                kind => {
                    let value = self.new_value(rng, column.name, kind);
                    rng.random_bool(0.6).then_some(value)
                }
            })
            .collect();
        let new: Vec<(String, AuditValue)> = columns
            .iter()
            .zip(&values)
            .filter_map(|(c, v)| v.clone().map(|v| (c.name.to_owned(), v)))
            .collect();
        let mask = columns.iter().zip(&values).filter(|(_, v)| v.is_some()).map(|(c, _)| c.number);
        let mut row = self.row_base(time, 1, 1, TABLES[table].name);
        row.object_id = id;
        row.object_name = pool_name.clone();
        row.attribute_mask = mask.collect();
        // Gap: a Create row renders as an empty OldValue and the created columns in NewValue.
        row.detail = AuditDetail::Attributes { old: Vec::new(), new };
        g.records.insert(
            id,
            RecordState { table, origin: Origin::Created, name: pool_name, values, alive: true },
        );
        g.created[table].push(id);
        self.by(row, user)
    }

    fn delete(
        &self,
        g: &mut Generated,
        rng: &mut ChaCha8Rng,
        user: &User,
        table: usize,
        time: i64,
    ) -> Option<AuditRow> {
        // Mostly records created during the history, else rows from the tail of the pool
        // (rarely looked up or updated).
        let id = if !g.created[table].is_empty() && rng.random_bool(0.7) {
            let list = &mut g.created[table];
            list.swap_remove(rng.random_range(0..list.len()))
        } else {
            let entity = self.ents.tables[table];
            let rows = self.model().rows(entity);
            let row = rows.saturating_sub(1 + rng.random_range(0..(rows / 5).max(1)));
            let id = Uuid::from_bytes(self.model().row_id(self.org(), entity, row));
            let state = g.records.entry(id).or_insert_with(|| self.pool_state(table, row));
            if !state.alive {
                return None;
            }
            id
        };
        let state = g.records.get_mut(&id)?;
        state.alive = false;
        let columns = TABLES[table].columns;
        let mut row = self.row_base(time, 3, 3, TABLES[table].name);
        row.object_id = id;
        row.object_name = state.name.clone();
        // Gap: a Delete row renders the last values as OldValue (configurable) and an empty
        // NewValue.
        let old: Vec<(String, AuditValue)> = if self.config.delete_keeps_old_values {
            columns
                .iter()
                .zip(&state.values)
                .filter_map(|(c, v)| v.clone().map(|v| (c.name.to_owned(), v)))
                .collect()
        } else {
            Vec::new()
        };
        row.attribute_mask = columns
            .iter()
            .filter(|c| old.iter().any(|(n, _)| n == c.name))
            .map(|c| c.number)
            .collect();
        row.detail = AuditDetail::Attributes { old, new: Vec::new() };
        Some(self.by(row, user))
    }

    /// Assign (action 13): a new owner, as an attribute change of `ownerid`.
    fn assign(
        &self,
        g: &mut Generated,
        rng: &mut ChaCha8Rng,
        user: &User,
        table: usize,
        time: i64,
    ) -> Option<AuditRow> {
        let id = self.pick_record(g, rng, table)?;
        let column = TABLES[table].columns.iter().position(|c| c.kind == ColumnKind::Owner)?;
        let current = g.records.get(&id).and_then(|s| s.values[column].clone());
        let owner = self.new_value(rng, "ownerid", ColumnKind::Owner);
        if Some(&owner) == current.as_ref() {
            return None;
        }
        let row = self.change_row(g, id, table, time, 13, 2, &[(column, Some(owner))]);
        Some(self.by(row, user))
    }

    fn principal(&self, rng: &mut ChaCha8Rng) -> RecordRef {
        let model = self.model();
        if rng.random_bool(0.2) {
            let row = rng.random_range(0..model.rows(self.ents.team));
            self.pool_ref(self.ents.team, row)
        } else {
            self.user_ref(&model.users[model.people[rng.random_range(0..model.people.len())]])
        }
    }

    /// Share (14), Modify Share (48) or Unshare (49), following the record's current access.
    /// Gap: `operation` of non-CRUD row events is 2 (Update).
    fn share(
        &self,
        g: &mut Generated,
        rng: &mut ChaCha8Rng,
        user: &User,
        table: usize,
        time: i64,
    ) -> Option<AuditRow> {
        // Some shares are changed or revoked later (any record's), most grant new access.
        let existing = (!g.shares.is_empty() && rng.random_bool(0.3))
            .then(|| g.shares.keys().nth(rng.random_range(0..g.shares.len())).copied())
            .flatten();
        let id = match existing {
            Some((record, _)) => record,
            None => self.pick_record(g, rng, table)?,
        };
        let table = g.records.get(&id).map_or(table, |s| s.table);
        if !g.records.get(&id).is_some_and(|s| s.alive) {
            return None;
        }
        let (action, principal, old, new) = if let Some(key) = existing {
            let (principal, old) = g.shares.get(&key)?.clone();
            if rng.random_bool(0.6) {
                let mut new = pick_mask(rng);
                if new == old {
                    new = schema::ACCESS_MASKS[0].to_owned();
                }
                if new == old {
                    return None;
                }
                g.shares.insert(key, (principal.clone(), new.clone()));
                (48, principal, Some(old), Some(new))
            } else {
                g.shares.remove(&key);
                (49, principal, Some(old), None)
            }
        } else {
            let principal = self.principal(rng);
            if g.shares.contains_key(&(id, principal.id)) {
                return None;
            }
            let new = pick_mask(rng);
            g.shares.insert((id, principal.id), (principal.clone(), new.clone()));
            (14, principal, None, Some(new))
        };
        let mut row = self.row_base(time, action, 2, TABLES[table].name);
        row.object_id = id;
        row.object_name = g.records.get(&id).map(|s| s.name.clone()).unwrap_or_default();
        row.detail = AuditDetail::Share { principal, old_privileges: old, new_privileges: new };
        Some(self.by(row, user))
    }

    /// Associate (33) or Disassociate (34) through an N:N relationship, following current links.
    fn associate(
        &self,
        g: &mut Generated,
        rng: &mut ChaCha8Rng,
        user: &User,
        time: i64,
    ) -> Option<AuditRow> {
        let rel = rng.random_range(0..schema::RELATIONSHIPS.len());
        let (left, right, name) = schema::RELATIONSHIPS[rel];
        let left_table = TABLES.iter().position(|t| t.name == left)?;
        let right_table = TABLES.iter().position(|t| t.name == right)?;
        let existing: Vec<(usize, Uuid, Uuid)> =
            g.links.iter().filter(|(r, _, _)| *r == rel).copied().collect();
        let (action, left_id, right_id) = if !existing.is_empty() && rng.random_bool(0.3) {
            let link = existing[rng.random_range(0..existing.len())];
            g.links.remove(&link);
            (34, link.1, link.2)
        } else {
            let left_id = self.pick_record(g, rng, left_table)?;
            let right_id = self.pick_record(g, rng, right_table)?;
            if !g.links.insert((rel, left_id, right_id)) {
                return None;
            }
            (33, left_id, right_id)
        };
        let name_of = |g: &Generated, id: Uuid| g.records.get(&id).map(|s| s.name.clone());
        let mut row = self.row_base(time, action, 2, left);
        row.object_id = left_id;
        row.object_name = name_of(g, left_id).unwrap_or_default();
        row.detail = AuditDetail::Relationship {
            relationship: name.to_owned(),
            targets: vec![RecordRef {
                table: right.to_owned(),
                id: right_id,
                name: name_of(g, right_id).unwrap_or_default(),
            }],
        };
        Some(self.by(row, user))
    }

    fn admin(&self, rng: &mut ChaCha8Rng) -> Option<&User> {
        let model = self.model();
        let admins: Vec<&User> = model.users.iter().filter(|u| u.kind == UserKind::Admin).collect();
        (!admins.is_empty()).then(|| admins[rng.random_range(0..admins.len())])
    }

    /// Assign Role To User (55) / Remove Role From User (56), following current memberships.
    fn role_membership(
        &self,
        g: &mut Generated,
        rng: &mut ChaCha8Rng,
        time: i64,
    ) -> Option<AuditRow> {
        let model = self.model();
        let admin = self.admin(rng)?;
        let member = &model.users[model.people[rng.random_range(0..model.people.len())]];
        let member_id = member.system_user_id(self.org());
        let roles_total = model.rows(self.ents.role).max(1);
        let roles = g
            .user_roles
            .entry(member_id)
            .or_insert_with(|| BTreeSet::from([(member.index as u32 * 7) % roles_total.min(6)]));
        let (action, role) = if roles.len() > 1 && rng.random_bool(0.35) {
            let held: Vec<u32> = roles.iter().copied().collect();
            let role = held[rng.random_range(0..held.len())];
            roles.remove(&role);
            (56, role)
        } else {
            let role = rng.random_range(0..roles_total);
            if !roles.insert(role) {
                return None;
            }
            (55, role)
        };
        let mut row = self.row_base(time, action, 2, "systemuser");
        row.object_id = member_id;
        row.object_name = member.display_name.clone();
        row.detail = AuditDetail::Relationship {
            relationship: "systemuserroles_association".to_owned(),
            targets: vec![self.pool_ref(self.ents.role, role)],
        };
        Some(self.by(row, admin))
    }

    fn initial_privileges(&self, role: u32) -> Vec<RolePrivilege> {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed ^ 0x0B1E, u64::from(role)));
        let mut privileges = Vec::new();
        for name in schema::PRIVILEGES {
            if rng.random_bool(0.4) {
                let depth = schema::DEPTHS[rng.random_range(0..schema::DEPTHS.len())];
                privileges.push(self.privilege(name, depth));
            }
        }
        if privileges.is_empty() {
            privileges.push(self.privilege(schema::PRIVILEGES[0], "Basic"));
        }
        privileges.sort();
        privileges
    }

    fn privilege(&self, name: &str, depth: &str) -> RolePrivilege {
        RolePrivilege {
            name: name.to_owned(),
            privilege_id: privilege_id(name),
            depth: depth.to_owned(),
            business_unit_id: self.info.business_unit_id,
        }
    }

    /// Replace Privileges In Role (59): one privilege added, removed or given another depth.
    fn replace_privileges(
        &self,
        g: &mut Generated,
        rng: &mut ChaCha8Rng,
        time: i64,
    ) -> Option<AuditRow> {
        let admin = self.admin(rng)?;
        let role = rng.random_range(0..self.model().rows(self.ents.role));
        let old = match g.role_privileges.get(&role) {
            Some(current) => current.clone(),
            None => self.initial_privileges(role),
        };
        let mut new = old.clone();
        let name = schema::PRIVILEGES[rng.random_range(0..schema::PRIVILEGES.len())];
        let depth = schema::DEPTHS[rng.random_range(0..schema::DEPTHS.len())];
        match new.iter().position(|p| p.name == name) {
            Some(at) if new.len() > 1 && rng.random_bool(0.4) => {
                new.remove(at);
            }
            Some(at) => new[at].depth = depth.to_owned(),
            None => new.push(self.privilege(name, depth)),
        }
        new.sort();
        if new == old {
            return None;
        }
        g.role_privileges.insert(role, new.clone());
        let target = self.pool_ref(self.ents.role, role);
        let mut row = self.row_base(time, 59, 2, "role");
        row.object_id = target.id;
        row.object_name = target.name;
        row.detail = AuditDetail::RolePrivileges { old, new };
        Some(self.by(row, admin))
    }

    /// User Access via Web (64, operation 4), at most once per user per interval.
    fn user_access(&self, g: &mut Generated, user: usize, time: i64) -> Option<AuditRow> {
        let interval = i64::from(self.config.user_access_interval_hours.max(0)) * 3600;
        if let Some(last) = g.last_access.get(&user)
            && time < last + interval
        {
            return None;
        }
        g.last_access.insert(user, time);
        let person = &self.model().users[user];
        let mut row = self.row_base(time, 64, 4, "systemuser");
        row.object_id = person.system_user_id(self.org());
        row.object_name = person.display_name.clone();
        row.detail = AuditDetail::UserAccess {
            access_time: row.created_on,
            interval_hours: self.config.user_access_interval_hours,
        };
        Some(self.by(row, person))
    }

    /// Audit-setting and metadata rows. Gap: which record they point at is undocumented; 104
    /// (org level) and 111 (log deletion) point at the organization, 102 (entity level) at the
    /// table's metadata id with `objecttypecode` `entity`.
    fn meta(
        &self,
        g: &mut Generated,
        rng: &mut ChaCha8Rng,
        action: i32,
        time: i64,
    ) -> Option<AuditRow> {
        let admin = self.admin(rng)?;
        let row = match action {
            104 => {
                let old = g.retention;
                let mut new = [30, 90, 365, 730, -1][rng.random_range(0..5)];
                if new == old {
                    new = if old == 90 { 365 } else { 90 };
                }
                g.retention = new;
                let mut row = self.row_base(time, 104, 2, "organization");
                row.object_id = self.info.organization_id;
                row.object_name = self.info.name.clone();
                row.attribute_mask = vec![schema::RETENTION_COLUMN.number];
                let column = schema::RETENTION_COLUMN.name.to_owned();
                row.detail = AuditDetail::Attributes {
                    old: vec![(column.clone(), AuditValue::Integer(old))],
                    new: vec![(column, AuditValue::Integer(new))],
                };
                row
            }
            102 => {
                let table = TABLES[rng.random_range(0..TABLES.len())].name;
                let mut row = self.row_base(time, 102, 2, "entity");
                row.object_id = privilege_id(&format!("entity:{table}"));
                row.object_name = table.to_owned();
                row
            }
            _ => {
                let mut row = self.row_base(time, 111, 3, "organization");
                row.object_id = self.info.organization_id;
                row.object_name = self.info.name.clone();
                row
            }
        };
        Some(self.by(row, admin))
    }
}

fn named_values(table: usize, values: &[Option<AuditValue>]) -> BTreeMap<String, AuditValue> {
    TABLES[table]
        .columns
        .iter()
        .zip(values)
        .filter_map(|(c, v)| v.clone().map(|v| (c.name.to_owned(), v)))
        .collect()
}

fn pick_mask(rng: &mut ChaCha8Rng) -> String {
    schema::ACCESS_MASKS[rng.random_range(0..schema::ACCESS_MASKS.len())].to_owned()
}

/// Popular rows first: a few rows are touched by many people (as in the activity generator).
fn popular_row<R: Rng>(rng: &mut R, rows: u32) -> u32 {
    let u: f64 = rng.random();
    ((u.powf(2.2) * f64::from(rows)) as u32).min(rows.saturating_sub(1))
}

/// A stable GUID per name (privileges are the same in every environment).
fn privilege_id(name: &str) -> Uuid {
    let digest = Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

/// An audit id shaped like Dataverse's: random head, the environment's host suffix.
fn audit_id(rng: &mut ChaCha8Rng, org: &Organization, time: i64) -> Uuid {
    Uuid::from_bytes(crate::activity::shared::dataverse_guid(mix(rng.random(), time as u64), org))
}

impl AuditValue {
    /// The value as the Web API sends it (string, number, bool; a lookup's GUID as a string).
    pub fn json(&self) -> serde_json::Value {
        match self {
            AuditValue::Text(text) => serde_json::Value::String(text.clone()),
            AuditValue::Choice { value, .. } => serde_json::Value::from(*value),
            AuditValue::Money { cents } => serde_json::Number::from_f64(*cents as f64 / 100.0)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            AuditValue::Integer(value) => serde_json::Value::from(*value),
            AuditValue::Boolean(value) => serde_json::Value::Bool(*value),
            AuditValue::Date(date) => {
                serde_json::Value::String(date.format("%Y-%m-%d").to_string())
            }
            AuditValue::Lookup(target) => serde_json::Value::String(target.id.to_string()),
        }
    }

    /// `@OData.Community.Display.V1.FormattedValue` (en-US, UTC), if the type has one.
    pub fn formatted(&self) -> Option<String> {
        match self {
            AuditValue::Text(_) => None,
            AuditValue::Choice { label, .. } => Some(label.clone()),
            AuditValue::Money { cents } => {
                let sign = if *cents < 0 { "-" } else { "" };
                let abs = cents.unsigned_abs();
                Some(format!("{sign}${}.{:02}", group_thousands(abs / 100), abs % 100))
            }
            AuditValue::Integer(value) => {
                let sign = if *value < 0 { "-" } else { "" };
                Some(format!("{sign}{}", group_thousands(value.unsigned_abs())))
            }
            AuditValue::Boolean(value) => Some(if *value { "Yes" } else { "No" }.to_owned()),
            AuditValue::Date(date) => {
                Some(format!("{}/{}/{}", date.month(), date.day(), date.year()))
            }
            AuditValue::Lookup(target) => Some(target.name.clone()),
        }
    }

    /// `@Microsoft.Dynamics.CRM.lookuplogicalname` of a lookup.
    pub fn lookup_table(&self) -> Option<&str> {
        match self {
            AuditValue::Lookup(target) => Some(&target.table),
            _ => None,
        }
    }
}

fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `5/12/2022 3:19 PM`, the en-US formatted value of a date and time (in UTC).
pub(crate) fn formatted_time(at: DateTime<Utc>) -> String {
    let (pm, hour) = at.hour12();
    format!(
        "{}/{}/{} {}:{:02} {}",
        at.month(),
        at.day(),
        at.year(),
        hour,
        at.minute(),
        if pm { "PM" } else { "AM" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_values_read_like_dataverse() {
        assert_eq!(AuditValue::Money { cents: 1_234_567 }.formatted().unwrap(), "$12,345.67");
        assert_eq!(AuditValue::Integer(1500).formatted().unwrap(), "1,500");
        assert_eq!(AuditValue::Integer(-1).formatted().unwrap(), "-1");
        assert_eq!(AuditValue::Money { cents: 5_000_000 }.json(), serde_json::json!(50000.0));
        let at = Utc.with_ymd_and_hms(2022, 5, 12, 15, 19, 12).unwrap();
        assert_eq!(formatted_time(at), "5/12/2022 3:19 PM");
        assert_eq!(privilege_id("prvReadAccount"), privilege_id("prvReadAccount"));
    }
}
