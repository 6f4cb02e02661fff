//! Dynamics 365 activity for one minute of one tenant: who works now, what they do (open
//! forms, browse grids, edit, share, export, administer), and the records the SDK layer logs
//! for it (`RecordType` 21, `Operation` `CrmDefaultActivity`, the SDK message in `Message`).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::ShapeOddities;
use super::catalog::{self, ColumnKind, EntityKind, Namer};
use super::json::{self, AppContext, CrmRecord, Shape, Target, TenantText, TimeStyle};
use super::randomness::{mix, pick_cumulative, poisson, random_guid};
use super::world::{
    Organization, ResolvedColumnKind, Session, User, UserKind, World, push_decimal,
};

/// Mean records one person action produces (measured; keeps volume on the profile's target).
pub(crate) const RECORDS_PER_ACTION: f64 = 1.42;

/// Seconds per generation tick. Ticks are aligned to the Unix epoch; every record of a tick is a
/// pure function of the tick, so any window made of whole ticks is reproducible piecewise.
pub(crate) const TICK: i64 = 60;

/// A serialized record with its event time, for ordering a slot's output.
#[derive(Debug)]
pub(crate) struct Timed {
    pub(crate) time: i64,
    pub(crate) seq: u32,
    pub(crate) json: String,
}

/// Draws shapes and writes records into the tick's output.
pub(crate) struct Emitter<'w> {
    pub(crate) world: &'w World,
    pub(crate) tenant: &'w TenantText,
    pub(crate) oddities: &'w ShapeOddities,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) out: Vec<Timed>,
    parts: Vec<String>,
}

impl std::fmt::Debug for Emitter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter").field("records", &self.out.len()).finish_non_exhaustive()
    }
}

fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    p > 0.0 && rng.random::<f64>() < p
}

impl<'w> Emitter<'w> {
    pub(crate) fn new(
        world: &'w World,
        tenant: &'w TenantText,
        oddities: &'w ShapeOddities,
        rng: ChaCha8Rng,
    ) -> Self {
        Emitter { world, tenant, oddities, rng, out: Vec::new(), parts: Vec::new() }
    }

    pub(crate) fn push(&mut self, time: i64, json: String) {
        let seq = self.out.len() as u32;
        self.out.push(Timed { time, seq, json });
    }

    /// The odd shapes of one record, drawn from the profile's fractions.
    pub(crate) fn shape(&mut self) -> Shape {
        let odd = self.oddities;
        let rng = &mut self.rng;
        Shape {
            record_type_as_string: chance(rng, odd.record_type_as_string),
            client_port: if chance(rng, odd.client_ip_with_port) {
                Some(rng.random_range(49_152..65_535))
            } else {
                None
            },
            time: if chance(rng, odd.creation_time_with_zone) {
                if rng.random_bool(0.5) {
                    TimeStyle::Zulu
                } else {
                    TimeStyle::Fraction(rng.random_range(0..10_000_000))
                }
            } else {
                TimeStyle::Plain
            },
            fields_as_string: chance(rng, odd.fields_as_string),
            object_id_trailing_space: chance(rng, odd.object_id_trailing_space),
            status_variant: if chance(rng, odd.result_status_variants) {
                rng.random_range(1..=2)
            } else {
                0
            },
        }
    }

    fn emit(&mut self, record: CrmRecord<'_>) {
        let shape = self.shape();
        let correlation = if record.user.kind == UserKind::System {
            [0u8; 16]
        } else {
            random_guid(&mut self.rng)
        };
        let rng = &mut self.rng;
        let mut parts = std::mem::take(&mut self.parts);
        json::write_crm(&mut parts, self.tenant, &record, &shape, correlation, || random_guid(rng));
        for part in parts.drain(..) {
            self.push(record.time, part);
        }
        self.parts = parts;
    }
}

/// Each person's sessions of the local day being generated, cached across the ticks of one
/// request (a pure function of the world, so caching changes no output).
pub(crate) type DayPlans = Vec<Option<(i64, [Option<Session>; 2])>>;

/// Generates the Dynamics 365 records of the tick starting at `tick` (Unix seconds).
/// Returns the expected number of person records, used to mix in other workloads.
pub(crate) fn crm_tick(emitter: &mut Emitter<'_>, plans: &mut DayPlans, tick: i64) -> f64 {
    let world = emitter.world;
    background(emitter, tick);

    // Who works now, and how hard.
    let middle = tick + TICK / 2;
    plans.resize(world.people.len(), None);
    let mut cumulative = Vec::with_capacity(world.people.len());
    let mut total = 0.0;
    for (slot, &index) in world.people.iter().enumerate() {
        let user = &world.users[index];
        let day = World::local_day(user, tick);
        let sessions = match plans[slot] {
            Some((cached, sessions)) if cached == day => sessions,
            _ => {
                let sessions = world.sessions(user, day);
                plans[slot] = Some((day, sessions));
                sessions
            }
        };
        total += world.rate(user, &sessions, middle);
        cumulative.push(total);
        sign_in_out(emitter, user, &sessions, tick);
    }
    let expected_records = total * TICK as f64;
    let actions = poisson(&mut emitter.rng, expected_records / RECORDS_PER_ACTION);
    for _ in 0..actions {
        let draw = emitter.rng.random::<f64>() * total;
        let user = &world.users[world.people[pick_cumulative(&cumulative, draw)]];
        // Leave second 0 to the background job and room for a preceding record.
        let time = tick + emitter.rng.random_range(1..TICK);
        person_action(emitter, user, time);
    }
    expected_records
}

/// The platform's own jobs and the application users: something happens every minute.
fn background(emitter: &mut Emitter<'_>, tick: i64) {
    let world = emitter.world;
    let system = &world.users[world.system_user];
    // Always one system record at the first second of the tick, so no minute is empty.
    system_job(emitter, system, tick);
    let extra = poisson(&mut emitter.rng, 0.3);
    for _ in 0..extra {
        let time = tick + emitter.rng.random_range(0..TICK);
        system_job(emitter, system, time);
    }
    // Integrations and flows: about 8 % of the people's daily volume, around the clock.
    let people = world.people.len() as f64;
    let per_minute = world.records_per_user_day * people * 0.08 / 1440.0;
    if !world.applications.is_empty() {
        let count = poisson(&mut emitter.rng, per_minute);
        for _ in 0..count {
            let app = world.applications[emitter.rng.random_range(0..world.applications.len())];
            let time = tick + emitter.rng.random_range(0..TICK);
            application_action(emitter, &world.users[app], time);
        }
    }
    // Microsoft support with internal tools: a few times a week.
    if chance(&mut emitter.rng, 1.0 / 2000.0) {
        let time = tick + emitter.rng.random_range(0..TICK);
        support_action(emitter, &world.users[world.support_user], time);
    }
}

fn pick_org<'w>(emitter: &mut Emitter<'w>, user: &User) -> &'w Organization {
    let orgs = &emitter.world.organizations;
    if user.kind == UserKind::Person && (orgs.len() == 1 || emitter.rng.random::<f64>() < 0.85) {
        &orgs[user.home_organization % orgs.len()]
    } else {
        &orgs[emitter.rng.random_range(0..orgs.len())]
    }
}

/// A popular-first row choice: a few rows are touched by many people.
fn pick_row(rng: &mut ChaCha8Rng, rows: u32) -> u32 {
    let u: f64 = rng.random();
    // Key accounts, open escalations: a handful of rows everybody looks at.
    if u < 0.1 {
        return ((u * 100.0) as u32).min(rows.saturating_sub(1));
    }
    ((u.powf(2.2) * f64::from(rows)) as u32).min(rows.saturating_sub(1))
}

fn base<'w>(
    user: &'w User,
    org: &'w Organization,
    time: i64,
    message: &'w str,
    entity_name: &'w str,
    target: Target,
) -> CrmRecord<'w> {
    CrmRecord {
        time,
        user,
        org,
        message,
        entity_name,
        target,
        primary_value: None,
        fields: Vec::new(),
        query: None,
        results: None,
        failed: false,
        user_agent: &user.user_agent,
        app_context: None,
    }
}

fn system_job(emitter: &mut Emitter<'_>, system: &User, time: i64) {
    const JOBS: &[(&str, &str)] = &[
        ("UpdateRibbonClientMetadata", "Unknown"),
        ("RetrieveMultiple", "asyncoperation"),
        ("Update", "asyncoperation"),
        ("Create", "asyncoperation"),
        ("RetrieveMultiple", "workflow"),
        ("CalculateRollupField", "account"),
        ("Delete", "asyncoperation"),
    ];
    let world = emitter.world;
    let org = &world.organizations[emitter.rng.random_range(0..world.organizations.len())];
    let (message, entity) = JOBS[emitter.rng.random_range(0..JOBS.len())];
    let target = match (message, entity) {
        (_, "Unknown") => Target::None,
        ("RetrieveMultiple", _) => Target::Table,
        _ => Target::Row(random_guid(&mut emitter.rng)),
    };
    let mut record = base(system, org, time, message, entity, target);
    if message == "RetrieveMultiple" {
        record.query = Some(
            "<filter type=\"and\"><condition column=\"statecode\" operator=\"eq\" value=\"0\" /></filter>"
                .to_owned(),
        );
        record.results = Some(Vec::new());
    }
    emitter.emit(record);
}

fn sign_in_out(emitter: &mut Emitter<'_>, user: &User, sessions: &[Option<Session>; 2], tick: i64) {
    let world = emitter.world;
    for session in sessions.iter().flatten() {
        let again = session.signs_in_again.unwrap_or(i64::MIN);
        for (at, message) in
            [(session.start, "UserSignIn"), (again, "UserSignIn"), (session.end, "UserSignOut")]
        {
            if at < tick || at >= tick + TICK {
                continue;
            }
            if message == "UserSignOut" && !session.signs_out {
                continue;
            }
            let org = &world.organizations[user.home_organization % world.organizations.len()];
            let mut record = base(user, org, at, message, "Unknown", Target::None);
            record.app_context = Some(app_context(&mut emitter.rng, user, at));
            emitter.emit(record);
        }
    }
}

fn app_context(rng: &mut ChaCha8Rng, user: &User, session_start: i64) -> AppContext {
    let session = mix(user.key, session_start as u64);
    let mut session_id = [0u8; 16];
    session_id[..8].copy_from_slice(&session.to_le_bytes());
    session_id[8..].copy_from_slice(&mix(session, 1).to_le_bytes());
    session_id[6] = (session_id[6] & 0x0f) | 0x40;
    session_id[8] = (session_id[8] & 0x3f) | 0x80;
    AppContext {
        session: session_id,
        correlation: random_guid(rng),
        token: rng.random(),
        issued_at: session_start - rng.random_range(0..600),
    }
}

/// What a person does, as a weighted menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Open,
    Grid,
    QuickFind,
    Update,
    Create,
    Delete,
    Assign,
    Share,
    Associate,
    SetState,
    QualifyLead,
    Merge,
    Export,
    BulkEdit,
    Wall,
    RollUp,
    ExecuteFetch,
    PrincipalAccess,
    Search,
    ExportToWord,
    Admin,
}

const PERSON_ACTIONS: &[(Action, f64)] = &[
    (Action::Open, 40.0),
    (Action::Grid, 19.0),
    (Action::QuickFind, 6.0),
    (Action::Update, 10.0),
    (Action::Create, 4.5),
    (Action::Delete, 0.8),
    (Action::Assign, 1.2),
    (Action::Share, 0.8),
    (Action::Associate, 0.8),
    (Action::SetState, 1.0),
    (Action::QualifyLead, 0.3),
    (Action::Merge, 0.1),
    (Action::Export, 0.1),
    (Action::BulkEdit, 0.12),
    (Action::Wall, 0.6),
    (Action::RollUp, 0.3),
    (Action::ExecuteFetch, 0.3),
    (Action::PrincipalAccess, 0.6),
    (Action::Search, 0.4),
    (Action::ExportToWord, 0.05),
];

fn choose_action(rng: &mut ChaCha8Rng, admin: bool) -> Action {
    if admin && rng.random::<f64>() < 0.3 {
        return Action::Admin;
    }
    let total: f64 = PERSON_ACTIONS.iter().map(|(_, w)| w).sum();
    let mut draw = rng.random::<f64>() * total;
    for (action, weight) in PERSON_ACTIONS {
        if draw < *weight {
            return *action;
        }
        draw -= weight;
    }
    Action::Open
}

fn pick_entity(emitter: &mut Emitter<'_>, admin_table: bool) -> usize {
    let world = emitter.world;
    let cumulative =
        if admin_table { &world.admin_entity_cumulative } else { &world.user_entity_cumulative };
    let total = cumulative.last().copied().unwrap_or(1.0);
    pick_cumulative(cumulative, emitter.rng.random::<f64>() * total)
}

/// A row's id, name and the record skeleton targeting it.
fn row_record<'w: 'r, 'r>(
    emitter: &mut Emitter<'w>,
    user: &'r User,
    org: &'r Organization,
    time: i64,
    message: &'r str,
    entity: usize,
    row: u32,
) -> CrmRecord<'r> {
    let world = emitter.world;
    let id = world.row_id(org, entity, row);
    let mut name = String::new();
    world.push_row_name(&mut name, org, entity, row);
    let mut record =
        base(user, org, time, message, &world.entities[entity].logical_name, Target::Row(id));
    record.primary_value = Some(name);
    if user.is_person() && chance(&mut emitter.rng, 0.1) {
        let session_start = time - emitter.rng.random_range(60..14_400);
        record.app_context = Some(app_context(&mut emitter.rng, user, session_start));
    }
    if user.is_person() && chance(&mut emitter.rng, 0.003) {
        record.failed = true;
    }
    record
}

fn person_action(emitter: &mut Emitter<'_>, user: &User, time: i64) {
    let world = emitter.world;
    let org = pick_org(emitter, user);
    let action = choose_action(&mut emitter.rng, user.kind == UserKind::Admin);
    if action == Action::Admin {
        admin_action(emitter, user, org, time);
        return;
    }
    let entity = pick_entity(emitter, false);
    let rows = world.rows(entity);
    match action {
        Action::Open => {
            let row = pick_row(&mut emitter.rng, rows);
            let record = row_record(emitter, user, org, time, "Retrieve", entity, row);
            emitter.emit(record);
            if chance(&mut emitter.rng, 0.2) {
                // The form's sub-grid: related rows of a child table.
                let child = related_table(world, entity);
                let query = subgrid_query(world, org, entity, row);
                grid(emitter, user, org, time, child, Some(query), None);
            }
        }
        Action::Grid => grid(emitter, user, org, time, entity, None, None),
        Action::QuickFind => {
            let row = pick_row(&mut emitter.rng, rows);
            let query = quick_find_query(world, org, entity, row);
            grid(emitter, user, org, time, entity, Some(query), Some(1 + (row % 7) as usize));
        }
        Action::Update => {
            let row = pick_row(&mut emitter.rng, rows);
            let mut record = row_record(emitter, user, org, time, "Update", entity, row);
            let big = chance(&mut emitter.rng, 0.004);
            record.fields = changed_fields(emitter, org, entity, row, big);
            emitter.emit(record);
            if chance(&mut emitter.rng, 0.6) {
                // The form reloads after saving.
                let record = row_record(emitter, user, org, time, "Retrieve", entity, row);
                emitter.emit(record);
            }
        }
        Action::Create => create(emitter, user, org, time, entity),
        Action::Delete => {
            let row = rows.saturating_sub(1 + emitter.rng.random_range(0..rows.max(5) / 5));
            let record = row_record(emitter, user, org, time, "Delete", entity, row);
            emitter.emit(record);
        }
        Action::Assign => {
            let row = pick_row(&mut emitter.rng, rows);
            let mut record = row_record(emitter, user, org, time, "Assign", entity, row);
            let owner = owner_value(emitter, org);
            record.fields = vec![("ownerid".to_owned(), owner)];
            emitter.emit(record);
        }
        Action::Share => {
            let row = pick_row(&mut emitter.rng, rows);
            let message = match emitter.rng.random_range(0..10) {
                0..=6 => "GrantAccess",
                7 | 8 => "ModifyAccess",
                _ => "RevokeAccess",
            };
            let mut record = row_record(emitter, user, org, time, message, entity, row);
            let mut principal = String::from("systemuser:");
            principal.push_str(&owner_value(emitter, org));
            record.fields = vec![("Principal".to_owned(), principal)];
            if message != "RevokeAccess" {
                let mask = ["ReadAccess", "ReadAccess, WriteAccess", "ReadAccess, ShareAccess"]
                    [emitter.rng.random_range(0..3)];
                record.fields.push(("AccessMask".to_owned(), mask.to_owned()));
            }
            emitter.emit(record);
        }
        Action::Associate => {
            let account = world.entity_index("account").unwrap_or(0);
            let contact = world.entity_index("contact").unwrap_or(0);
            let lead = world.entity_index("lead").unwrap_or(0);
            let (left, right, relationship) = match emitter.rng.random_range(0..3) {
                0 => (contact, lead, "contactleads_association"),
                1 => (account, lead, "accountleads_association"),
                _ => (account, contact, "account_connections1"),
            };
            let message = if chance(&mut emitter.rng, 0.75) { "Associate" } else { "Disassociate" };
            let row = pick_row(&mut emitter.rng, world.rows(left));
            let mut record = row_record(emitter, user, org, time, message, left, row);
            let other = pick_row(&mut emitter.rng, world.rows(right));
            record.fields = vec![
                ("relationship".to_owned(), relationship.to_owned()),
                (
                    world.entities[right].logical_name.clone(),
                    guid_string(&world.row_id(org, right, other)),
                ),
            ];
            emitter.emit(record);
        }
        Action::SetState => {
            let row = pick_row(&mut emitter.rng, rows);
            let mut record = row_record(emitter, user, org, time, "SetState", entity, row);
            let state = emitter.rng.random_range(0..2u64);
            record.fields = vec![
                ("statecode".to_owned(), state.to_string()),
                (
                    "statuscode".to_owned(),
                    (state + 1 + emitter.rng.random_range(0..2u64)).to_string(),
                ),
            ];
            emitter.emit(record);
        }
        Action::QualifyLead => qualify_lead(emitter, user, org, time),
        Action::Merge => {
            let target = if chance(&mut emitter.rng, 0.5) {
                world.entity_index("account").unwrap_or(0)
            } else {
                world.entity_index("contact").unwrap_or(0)
            };
            let rows = world.rows(target);
            let row = pick_row(&mut emitter.rng, rows);
            let mut record = row_record(emitter, user, org, time, "Merge", target, row);
            let subordinate = rows.saturating_sub(1 + emitter.rng.random_range(0..rows / 3 + 1));
            record.fields = vec![
                ("SubordinateId".to_owned(), guid_string(&world.row_id(org, target, subordinate))),
                ("PerformParentingChecks".to_owned(), "False".to_owned()),
            ];
            emitter.emit(record);
        }
        Action::Export => {
            // The grid's RetrieveMultiple carries the query; ExportToExcel a second later the ids.
            grid(emitter, user, org, time - 1, entity, None, Some(50));
            let mut record = base(
                user,
                org,
                time,
                "ExportToExcel",
                &world.entities[entity].logical_name,
                Target::Table,
            );
            let count = emitter.rng.random_range(50..(rows.clamp(51, 1500) as usize));
            let start = pick_row(&mut emitter.rng, rows);
            record.results = Some(consecutive_rows(world, org, entity, start, count));
            emitter.emit(record);
        }
        Action::BulkEdit => {
            // "Edit selected records": one Update per row in the same second.
            let count = emitter.rng.random_range(5..30u32);
            let start = pick_row(&mut emitter.rng, rows);
            let fields = changed_fields(emitter, org, entity, start, false);
            for offset in 0..count {
                let row = (start + offset) % rows.max(1);
                let mut record = row_record(emitter, user, org, time, "Update", entity, row);
                record.fields = fields.clone();
                emitter.emit(record);
            }
        }
        Action::Wall => {
            let row = pick_row(&mut emitter.rng, rows);
            let record = row_record(emitter, user, org, time, "RetrieveRecordWall", entity, row);
            emitter.emit(record);
        }
        Action::RollUp => {
            let row = pick_row(&mut emitter.rng, rows);
            let query = subgrid_query(world, org, entity, row);
            let mut record = base(user, org, time, "RollUp", "activitypointer", Target::Table);
            record.query = Some(query);
            let count = emitter.rng.random_range(0..20);
            let email = world.entity_index("email").unwrap_or(0);
            let start = pick_row(&mut emitter.rng, world.rows(email));
            record.results = Some(consecutive_rows(world, org, email, start, count));
            emitter.emit(record);
        }
        Action::ExecuteFetch => {
            let mut record = base(
                user,
                org,
                time,
                "ExecuteFetch",
                &world.entities[entity].logical_name,
                Target::Table,
            );
            record.query = Some(view_query(&mut emitter.rng));
            emitter.emit(record);
        }
        Action::PrincipalAccess => {
            let row = pick_row(&mut emitter.rng, rows);
            let record =
                row_record(emitter, user, org, time, "RetrievePrincipalAccess", entity, row);
            emitter.emit(record);
        }
        Action::Search => {
            let mut record = base(user, org, time, "Search", "Unknown", Target::None);
            let row = pick_row(&mut emitter.rng, rows);
            let mut name = String::new();
            world.push_row_name(&mut name, org, entity, row);
            let term: String = name.chars().take(6).collect();
            record.fields = vec![("search".to_owned(), term)];
            emitter.emit(record);
        }
        Action::ExportToWord => {
            let row = pick_row(&mut emitter.rng, rows);
            let record = row_record(emitter, user, org, time, "ExportToWord", entity, row);
            emitter.emit(record);
        }
        Action::Admin => {}
    }
}

fn guid_string(bytes: &[u8; 16]) -> String {
    super::randomness::guid_text(bytes)
}

fn owner_value(emitter: &mut Emitter<'_>, org: &Organization) -> String {
    let world = emitter.world;
    let person = world.people[emitter.rng.random_range(0..world.people.len())];
    world.users[person].system_user_id(org).to_string()
}

/// The table a form's sub-grid shows for `entity`.
fn related_table(world: &World, entity: usize) -> usize {
    let name = match world.entities[entity].logical_name.as_str() {
        "account" => "contact",
        "contact" => "incident",
        "opportunity" => "quote",
        "incident" => "task",
        "new_project" => "annotation",
        _ => "email",
    };
    world.entity_index(name).unwrap_or(entity)
}

fn consecutive_rows(
    world: &World,
    org: &Organization,
    entity: usize,
    start: u32,
    count: usize,
) -> Vec<[u8; 16]> {
    let rows = world.rows(entity).max(1);
    let count = count.min(rows as usize);
    (0..count as u32).map(|i| world.row_id(org, entity, (start + i) % rows)).collect()
}

/// FetchXML filters of system and personal views.
fn view_query(rng: &mut ChaCha8Rng) -> String {
    const VIEWS: &[&str] = &[
        "<filter type=\"and\"><condition column=\"ownerid\" operator=\"eq-userid\" /><condition column=\"statecode\" operator=\"eq\" value=\"0\" /></filter>",
        "<filter type=\"and\"><condition column=\"statecode\" operator=\"eq\" value=\"0\" /></filter>",
        "<filter type=\"and\"><condition column=\"createdon\" operator=\"last-x-days\" value=\"30\" /></filter>",
        "<filter type=\"and\"><condition column=\"modifiedon\" operator=\"today\" /></filter>",
        "<filter type=\"and\"><condition column=\"statecode\" operator=\"eq\" value=\"1\" /></filter>",
        "<filter type=\"and\"><condition column=\"ownerid\" operator=\"eq-useroruserteams\" /></filter>",
        "<filter type=\"and\"><condition column=\"statecode\" operator=\"eq\" value=\"0\" /><condition column=\"createdon\" operator=\"this-month\" /></filter>",
    ];
    VIEWS[rng.random_range(0..VIEWS.len())].to_owned()
}

fn xml_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

fn quick_find_query(world: &World, org: &Organization, entity: usize, row: u32) -> String {
    let mut name = String::new();
    world.push_row_name(&mut name, org, entity, row);
    let term: String = name.chars().take(3 + (row % 4) as usize).collect();
    let primary = world.entities[entity]
        .columns
        .iter()
        .find(|c| c.kind == ResolvedColumnKind::Plain(ColumnKind::Primary))
        .map_or("name", |c| c.name.as_str());
    let mut query = String::from("<filter type=\"or\"><condition column=\"");
    query.push_str(primary);
    query.push_str("\" operator=\"like\" value=\"");
    xml_escaped(&mut query, &term);
    query.push_str("%\" /></filter>");
    query
}

fn subgrid_query(world: &World, org: &Organization, parent: usize, row: u32) -> String {
    let column = match world.entities[parent].logical_name.as_str() {
        "account" => "parentcustomerid",
        "contact" => "customerid",
        "opportunity" => "opportunityid",
        _ => "regardingobjectid",
    };
    let mut query = String::from("<filter type=\"and\"><condition column=\"");
    query.push_str(column);
    query.push_str("\" operator=\"eq\" value=\"");
    query.push_str(&guid_string(&world.row_id(org, parent, row)));
    query.push_str("\" /></filter>");
    query
}

/// A grid, view, lookup or sub-grid: `RetrieveMultiple` with its filter and the ids it returned.
fn grid(
    emitter: &mut Emitter<'_>,
    user: &User,
    org: &Organization,
    time: i64,
    entity: usize,
    query: Option<String>,
    count: Option<usize>,
) {
    let world = emitter.world;
    let rows = world.rows(entity);
    let rng = &mut emitter.rng;
    let query = query.unwrap_or_else(|| view_query(rng));
    let count = count.unwrap_or_else(|| {
        let draw: f64 = rng.random();
        if draw < 0.10 {
            0
        } else if draw < 0.55 {
            rng.random_range(1..10)
        } else if draw < 0.85 {
            rng.random_range(10..25)
        } else if draw < 0.99 {
            rng.random_range(25..45)
        } else {
            rng.random_range(50..251)
        }
    });
    let not_populated = chance(rng, 0.03);
    // Everybody opening the same view sees the same first page.
    let start = if chance(rng, 0.4) { 0 } else { pick_row(rng, rows) };
    let mut record = base(
        user,
        org,
        time,
        "RetrieveMultiple",
        &world.entities[entity].logical_name,
        Target::Table,
    );
    record.query = Some(query);
    record.results =
        if not_populated { None } else { Some(consecutive_rows(world, org, entity, start, count)) };
    emitter.emit(record);
}

fn create(emitter: &mut Emitter<'_>, user: &User, org: &Organization, time: i64, entity: usize) {
    let world = emitter.world;
    let new_id = super::world::dataverse_guid(emitter.rng.random(), org);
    let rows = world.rows(entity);
    // Name the new row like a row of the pool would be named.
    let name_row = emitter.rng.random_range(0..rows.max(1));
    let mut record = row_record(emitter, user, org, time, "Create", entity, name_row);
    record.target = Target::Row(new_id);
    let big = chance(&mut emitter.rng, 0.004);
    let mut fields =
        vec![(format!("{}id", world.entities[entity].logical_name), guid_string(&new_id))];
    fields.extend(changed_fields(emitter, org, entity, name_row, big));
    let primary = world.entities[entity]
        .columns
        .iter()
        .find(|c| c.kind == ResolvedColumnKind::Plain(ColumnKind::Primary));
    if let (Some(name), Some(primary)) = (&record.primary_value, primary) {
        fields.retain(|(n, _)| *n != primary.name);
        fields.insert(1, (primary.name.clone(), name.clone()));
    }
    record.fields = fields;
    emitter.emit(record);
    if chance(&mut emitter.rng, 0.7) {
        let mut reload = row_record(emitter, user, org, time, "Retrieve", entity, name_row);
        reload.target = Target::Row(new_id);
        emitter.emit(reload);
    }
}

/// The documented lead conversion: Create contact, Create opportunity, Update opportunity,
/// Update lead twice.
fn qualify_lead(emitter: &mut Emitter<'_>, user: &User, org: &Organization, time: i64) {
    let world = emitter.world;
    let (Some(lead), Some(contact), Some(opportunity)) = (
        world.entity_index("lead"),
        world.entity_index("contact"),
        world.entity_index("opportunity"),
    ) else {
        return;
    };
    let lead_row = pick_row(&mut emitter.rng, world.rows(lead));
    create(emitter, user, org, time, contact);
    let opportunity_id = super::world::dataverse_guid(emitter.rng.random(), org);
    let mut deal_name = String::new();
    world.push_row_name(&mut deal_name, org, opportunity, lead_row);
    let mut created = base(
        user,
        org,
        time,
        "Create",
        &world.entities[opportunity].logical_name,
        Target::Row(opportunity_id),
    );
    created.primary_value = Some(deal_name.clone());
    created.fields = vec![
        ("opportunityid".to_owned(), guid_string(&opportunity_id)),
        ("name".to_owned(), deal_name.clone()),
        ("originatingleadid".to_owned(), guid_string(&world.row_id(org, lead, lead_row))),
    ];
    let mut updated = created.clone();
    updated.message = "Update";
    updated.fields = vec![("stepname".to_owned(), "1-Qualify".to_owned())];
    emitter.emit(created);
    emitter.emit(updated);
    for fields in [
        vec![("statecode".to_owned(), "1".to_owned()), ("statuscode".to_owned(), "3".to_owned())],
        vec![("qualifyingopportunityid".to_owned(), guid_string(&opportunity_id))],
    ] {
        let mut record = row_record(emitter, user, org, time, "Update", lead, lead_row);
        record.fields = fields;
        emitter.emit(record);
    }
}

/// Column values for a Create or Update (secured columns masked `*`).
fn changed_fields(
    emitter: &mut Emitter<'_>,
    org: &Organization,
    entity: usize,
    row: u32,
    big: bool,
) -> Vec<(String, String)> {
    let world = emitter.world;
    let columns = &world.entities[entity].columns;
    let rng = &mut emitter.rng;
    let count = if big { columns.len() } else { rng.random_range(1..=columns.len().min(4)) };
    let mut chosen: Vec<usize> = if big {
        (0..columns.len()).collect()
    } else {
        let mut picks = Vec::with_capacity(count);
        while picks.len() < count {
            let pick = rng.random_range(0..columns.len());
            if !picks.contains(&pick) {
                picks.push(pick);
            }
        }
        picks
    };
    chosen.sort_unstable();
    let mut fields = Vec::with_capacity(chosen.len() + if big { 8 } else { 0 });
    for index in chosen {
        let column = &columns[index];
        let value = if column.secured {
            "*".to_owned()
        } else {
            column_value(world, org, entity, row, column.kind, big, rng)
        };
        fields.push((column.name.clone(), value));
    }
    if big {
        // Integrations write whole rows, address blocks included.
        for (name, text) in [
            ("address1_line1", "Industrieweg 12"),
            ("address1_line2", "Building C, 3rd floor"),
            ("address1_postalcode", "3044 AS"),
            ("address1_country", "Netherlands"),
            ("address2_line1", "P.O. Box 1024"),
            ("address2_city", "Rotterdam"),
        ] {
            fields.push((name.to_owned(), text.to_owned()));
        }
    }
    fields
}

fn column_value(
    world: &World,
    org: &Organization,
    entity: usize,
    row: u32,
    kind: ResolvedColumnKind,
    big: bool,
    rng: &mut ChaCha8Rng,
) -> String {
    let mut out = String::new();
    match kind {
        ResolvedColumnKind::Plain(kind) => match kind {
            ColumnKind::Primary => world.push_row_name(&mut out, org, entity, row),
            ColumnKind::FirstName => {
                out.push_str(catalog::FIRST_NAMES[rng.random_range(0..catalog::FIRST_NAMES.len())])
            }
            ColumnKind::LastName => {
                out.push_str(catalog::LAST_NAMES[rng.random_range(0..catalog::LAST_NAMES.len())])
            }
            ColumnKind::Text => {
                const TEXTS: &[&str] = &[
                    "Purchasing Manager",
                    "Head of IT",
                    "ACC-",
                    "Preferred customer",
                    "CFO",
                    "Field engineer",
                ];
                out.push_str(TEXTS[rng.random_range(0..TEXTS.len())]);
                if out.ends_with('-') {
                    push_decimal(&mut out, rng.random_range(10_000..99_999));
                }
            }
            ColumnKind::LongText => {
                const SENTENCES: &[&str] = &[
                    "Customer asked for an updated proposal including the maintenance option.",
                    "Called back, left a voicemail; will try again on Thursday.",
                    "Delivery address changed, see the notes from the last visit.",
                    "Discussed renewal terms: 3-year commitment with a 5% discount.",
                    "Escalated to the \"Tier 2\" team after the second outage this month.",
                    "Contact prefers e-mail over phone; do not call before 10:00.",
                ];
                let sentences = if big { rng.random_range(8..20) } else { rng.random_range(1..4) };
                for i in 0..sentences {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(SENTENCES[rng.random_range(0..SENTENCES.len())]);
                }
            }
            ColumnKind::Email => {
                out.push_str(
                    &catalog::FIRST_NAMES[rng.random_range(0..catalog::FIRST_NAMES.len())]
                        .to_lowercase(),
                );
                out.push_str("@example.com");
            }
            ColumnKind::Phone => {
                out.push_str("+31 10 555 ");
                push_decimal(&mut out, rng.random_range(1000..9999));
            }
            ColumnKind::City => {
                out.push_str(catalog::CITIES[rng.random_range(0..catalog::CITIES.len())])
            }
            ColumnKind::Url => out.push_str("https://www.example.com/"),
            ColumnKind::Money => {
                push_decimal(&mut out, rng.random_range(100..2_000_000));
                out.push_str(".00");
            }
            ColumnKind::Int => push_decimal(&mut out, rng.random_range(0..500)),
            ColumnKind::Option => push_decimal(&mut out, 100_000_000 + rng.random_range(0..8)),
            ColumnKind::Bool => out.push_str(if rng.random_bool(0.5) { "True" } else { "False" }),
            ColumnKind::Date => {
                let day = 20_500 + rng.random_range(0..400);
                json::push_time(&mut out, day * 86_400, TimeStyle::Zulu);
            }
            ColumnKind::Lookup(_) | ColumnKind::Owner => {}
        },
        ResolvedColumnKind::Lookup(target) => {
            let rows = world.rows(target);
            let pick = pick_row(rng, rows);
            out = guid_string(&world.row_id(org, target, pick));
        }
        ResolvedColumnKind::Owner => {
            let person = world.people[rng.random_range(0..world.people.len())];
            out = world.users[person].system_user_id(org).to_string();
        }
    }
    out
}

/// Administration: security roles, processes, plug-ins, customizations, settings.
fn admin_action(emitter: &mut Emitter<'_>, user: &User, org: &Organization, time: i64) {
    let world = emitter.world;
    let index_of = |name: &str| world.entity_index(name).unwrap_or(0);
    match emitter.rng.random_range(0..100) {
        // Role membership (systemuserroles_association), as Sentinel's rules read it.
        0..=9 => {
            let systemuser = index_of("systemuser");
            let role = index_of("role");
            let member = world.people[emitter.rng.random_range(0..world.people.len())];
            let message = if chance(&mut emitter.rng, 0.7) { "Associate" } else { "Disassociate" };
            let mut record =
                row_record(emitter, user, org, time, message, systemuser, member as u32);
            let role_row = emitter.rng.random_range(0..world.rows(role));
            record.fields = vec![
                ("relationship".to_owned(), "systemuserroles_association".to_owned()),
                ("role".to_owned(), guid_string(&world.row_id(org, role, role_row))),
            ];
            emitter.emit(record);
        }
        10..=15 => {
            let role = index_of("role");
            let row = emitter.rng.random_range(0..world.rows(role));
            let message = ["AddPrivilegesRole", "ReplacePrivilegesRole", "RemovePrivilegeRole"]
                [emitter.rng.random_range(0..3)];
            let mut record = row_record(emitter, user, org, time, message, role, row);
            let privilege = random_guid(&mut emitter.rng);
            record.fields = vec![
                ("PrivilegeId".to_owned(), guid_string(&privilege)),
                (
                    "Depth".to_owned(),
                    ["Basic", "Local", "Deep", "Global"][emitter.rng.random_range(0..4)].to_owned(),
                ),
            ];
            emitter.emit(record);
        }
        16..=20 => {
            let team = index_of("team");
            let row = emitter.rng.random_range(0..world.rows(team));
            let message =
                if chance(&mut emitter.rng, 0.7) { "AddMembersTeam" } else { "RemoveMembersTeam" };
            let mut record = row_record(emitter, user, org, time, message, team, row);
            record.fields = vec![("MemberIds".to_owned(), owner_value(emitter, org))];
            emitter.emit(record);
        }
        // Process or plug-in activation.
        21..=30 => {
            let entity = if chance(&mut emitter.rng, 0.5) {
                index_of("workflow")
            } else {
                index_of("sdkmessageprocessingstep")
            };
            let row = emitter.rng.random_range(0..world.rows(entity));
            let mut record = row_record(emitter, user, org, time, "SetState", entity, row);
            let activate = chance(&mut emitter.rng, 0.6);
            record.fields = vec![
                ("statecode".to_owned(), if activate { "1" } else { "0" }.to_owned()),
                ("statuscode".to_owned(), if activate { "2" } else { "1" }.to_owned()),
            ];
            emitter.emit(record);
        }
        31..=36 => {
            let message = ["PublishAllXml", "PublishXml", "ImportSolution", "ExportSolution"]
                [emitter.rng.random_range(0..4)];
            let mut record = base(user, org, time, message, "Unknown", Target::None);
            if message.ends_with("Solution") {
                let solution = index_of("solution");
                let row = emitter.rng.random_range(0..world.rows(solution));
                record = row_record(emitter, user, org, time, message, solution, row);
            }
            emitter.emit(record);
        }
        // Admin center: environment settings (Gap: marker chosen is the admin center user agent).
        37..=41 => {
            let organization = index_of("organization");
            let message = if chance(&mut emitter.rng, 0.5) { "Update" } else { "Retrieve" };
            let mut record = row_record(emitter, user, org, time, message, organization, 0);
            record.user_agent = "PowerPlatformAdminCenter/1.0";
            if message == "Update" {
                let setting = [
                    "isauditenabled",
                    "isuseraccessauditenabled",
                    "isreadauditenabled",
                    "auditretentionperiodv2",
                ][emitter.rng.random_range(0..4)];
                let value = if setting == "auditretentionperiodv2" {
                    ["30", "90", "365", "-1"][emitter.rng.random_range(0..4)]
                } else if chance(&mut emitter.rng, 0.9) {
                    "True"
                } else {
                    "False"
                };
                record.fields = vec![(setting.to_owned(), value.to_owned())];
            }
            emitter.emit(record);
        }
        // Bulk actions: bulk delete jobs and data imports.
        42..=44 => {
            let message =
                if chance(&mut emitter.rng, 0.5) { "BulkDelete" } else { "ImportRecordsImport" };
            let entity = pick_entity(emitter, false);
            let mut record =
                base(user, org, time, message, &world.entities[entity].logical_name, Target::Table);
            record.query = Some(view_query(&mut emitter.rng));
            emitter.emit(record);
        }
        // Everything else: reading and editing configuration tables.
        _ => {
            let entity = pick_entity(emitter, true);
            let rows = world.rows(entity);
            match emitter.rng.random_range(0..10) {
                0..=4 => {
                    let row = pick_row(&mut emitter.rng, rows);
                    let record = row_record(emitter, user, org, time, "Retrieve", entity, row);
                    emitter.emit(record);
                }
                5..=7 => grid(emitter, user, org, time, entity, None, None),
                8 => {
                    let row = pick_row(&mut emitter.rng, rows);
                    let mut record = row_record(emitter, user, org, time, "Update", entity, row);
                    record.fields = changed_fields(emitter, org, entity, row, false);
                    emitter.emit(record);
                }
                _ => {
                    if world.entities[entity].namer == Namer::Users
                        || world.entities[entity].namer == Namer::Organization
                    {
                        let row = pick_row(&mut emitter.rng, rows);
                        let record = row_record(emitter, user, org, time, "Retrieve", entity, row);
                        emitter.emit(record);
                    } else {
                        create(emitter, user, org, time, entity);
                    }
                }
            }
        }
    }
}

/// Integrations and flows: delta reads, upserts, bulk messages.
fn application_action(emitter: &mut Emitter<'_>, app: &User, time: i64) {
    let world = emitter.world;
    let org = &world.organizations[emitter.rng.random_range(0..world.organizations.len())];
    let entity = pick_entity(emitter, false);
    if world.entities[entity].kind == EntityKind::Admin {
        return grid(emitter, app, org, time, entity, None, None);
    }
    let rows = world.rows(entity);
    match emitter.rng.random_range(0..20) {
        0..=6 => grid(emitter, app, org, time, entity, None, None),
        7..=10 => {
            let row = pick_row(&mut emitter.rng, rows);
            let record = row_record(emitter, app, org, time, "Retrieve", entity, row);
            emitter.emit(record);
        }
        11..=15 => {
            let row = pick_row(&mut emitter.rng, rows);
            let mut record = row_record(emitter, app, org, time, "Update", entity, row);
            let big = chance(&mut emitter.rng, 0.02);
            record.fields = changed_fields(emitter, org, entity, row, big);
            emitter.emit(record);
        }
        16 | 17 => create(emitter, app, org, time, entity),
        _ => {
            let message = ["UpsertMultiple", "UpdateMultiple", "CreateMultiple"]
                [emitter.rng.random_range(0..3)];
            let mut record =
                base(app, org, time, message, &world.entities[entity].logical_name, Target::Table);
            let count = emitter.rng.random_range(2..40);
            let start = pick_row(&mut emitter.rng, rows);
            record.fields = consecutive_rows(world, org, entity, start, count)
                .iter()
                .map(|id| ("Target".to_owned(), guid_string(id)))
                .collect();
            emitter.emit(record);
        }
    }
}

/// Microsoft support engineers with internal tools (Gap: markers are the support account and the
/// `CRM.InternalTools` user agent).
fn support_action(emitter: &mut Emitter<'_>, support: &User, time: i64) {
    let world = emitter.world;
    let org = &world.organizations[emitter.rng.random_range(0..world.organizations.len())];
    let entity = pick_entity(emitter, true);
    let rows = world.rows(entity);
    let row = pick_row(&mut emitter.rng, rows);
    let message = ["Retrieve", "RetrieveMultiple", "Update"][emitter.rng.random_range(0..3)];
    if message == "RetrieveMultiple" {
        return grid(emitter, support, org, time, entity, None, None);
    }
    let mut record = row_record(emitter, support, org, time, message, entity, row);
    if message == "Update" {
        record.fields = changed_fields(emitter, org, entity, row, false);
    }
    emitter.emit(record);
}
