//! The simulated tenant: organizations (environments), the people and service accounts who use
//! them, the tables and their stable rows, and each person's working days.
//!
//! Everything here is derived from the seed. Rows are not stored: a row's GUID and primary name
//! are computed from `(organization, table, row number)` on demand, so pools of thousands of rows
//! per table cost nothing and tests can ask for the truth at any time.

use uuid::Uuid;

use super::ActivityProfile;
use super::catalog::{self, ColumnKind, EntityDef, EntityKind, Namer};
use super::randomness::{Stream, mix, push_hex};

/// One Dynamics 365 organization (a Dataverse environment) of the tenant.
#[derive(Debug, Clone)]
pub struct Organization {
    /// Position in [`super::TenantWorld::organizations`].
    pub index: usize,
    /// `CrmOrganizationUniqueName`, e.g. `org1a2b3c4d`.
    pub unique_name: String,
    /// `InstanceUrl`, e.g. `https://contoso.crm4.dynamics.com/` (always with the trailing slash).
    pub instance_url: String,
    /// Friendly name of the environment.
    pub display_name: String,
    /// The `organizationid` of the environment (the row of the `organization` table).
    pub organization_id: Uuid,
    pub(crate) key: u64,
    /// Last GUID group (6 bytes) of rows created in this organization.
    pub(crate) mac_suffixes: Vec<[u8; 6]>,
    /// Separator of `QueryResults` ids: Microsoft's own example uses `", "`, others `","`.
    pub(crate) results_separator: &'static str,
}

/// Who is behind a user account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserKind {
    /// A person using Dynamics 365.
    Person,
    /// A person who also administers the environments (roles, processes, settings).
    Admin,
    /// A Dataverse application user (integration, flows); `UserId` `<name>@<app guid>.com`.
    Application,
    /// The platform's own background jobs: `UserId` and `UserKey` `Unknown`, `crm-bts-jobs/1.0`.
    System,
    /// Microsoft support engineers using internal tools (Gap: undocumented representation).
    Support,
}

/// One user account of the tenant.
#[derive(Debug, Clone)]
pub struct User {
    /// Position in [`super::TenantWorld::users`].
    pub index: usize,
    pub kind: UserKind,
    /// `UserId` / `UserUpn` of the records: the UPN, or `Unknown` for the system account.
    pub upn: String,
    pub display_name: String,
    /// PUID-like `UserKey` (`10037FFE91510806`), or `Unknown`.
    pub user_key: String,
    /// The address this user's requests come from (IPv4 mostly, some IPv6).
    pub client_ip: String,
    /// Browser or client the user works with.
    pub user_agent: String,
    /// Where the user works, as minutes east of UTC (no daylight saving time).
    pub utc_offset_minutes: i32,
    /// Works late afternoons and evenings instead of office hours.
    pub night_owl: bool,
    /// Organization the user mostly works in (index into organizations).
    pub home_organization: usize,
    /// `UserType` of the common schema.
    pub user_type: u8,
    pub(crate) key: u64,
    /// Relative activity (1.0 = the profile's mean).
    pub(crate) activity: f64,
    /// Usual start of the working day, hours after local midnight.
    pub(crate) start_hour: f64,
    /// Chance per day of a short session around 3 a.m. local time.
    pub(crate) small_hours_chance: f64,
}

impl User {
    /// The user's `systemuserid` in an organization (stable, different per organization).
    pub fn system_user_id(&self, organization: &Organization) -> Uuid {
        match self.kind {
            UserKind::System => Uuid::nil(),
            _ => Uuid::from_bytes(dataverse_guid(
                mix(self.key, organization.key ^ 0x5157_5553),
                organization,
            )),
        }
    }

    /// Whether the user is a person (as opposed to an application or the platform).
    pub fn is_person(&self) -> bool {
        matches!(self.kind, UserKind::Person | UserKind::Admin)
    }
}

/// One table (entity) as it exists in every organization of the tenant.
#[derive(Debug, Clone)]
pub struct Entity {
    /// Position in [`super::TenantWorld::entities`].
    pub index: usize,
    /// Logical name, e.g. `account`, `contoso_contract`.
    pub logical_name: String,
    pub kind: EntityKind,
    /// Rows per organization.
    pub rows: u32,
    pub(crate) namer: Namer,
    pub(crate) user_weight: u32,
    pub(crate) admin_weight: u32,
    pub(crate) columns: Vec<Column>,
}

#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) kind: ResolvedColumnKind,
    pub(crate) secured: bool,
}

/// A column kind with lookups resolved to table indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResolvedColumnKind {
    Plain(ColumnKind),
    Lookup(usize),
    Owner,
}

/// A working session of a person on one local day, in UTC seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Session {
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// Records per second while the session runs (before the hour-of-day shape).
    pub(crate) intensity: f64,
    /// Whether the session ends with an explicit sign-out record.
    pub(crate) signs_out: bool,
    /// A second sign-in during the session (token expired, new browser, back from lunch).
    pub(crate) signs_in_again: Option<i64>,
}

/// Everything derived from the seed for one tenant.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) organizations: Vec<Organization>,
    pub(crate) users: Vec<User>,
    pub(crate) entities: Vec<Entity>,
    /// Cumulative `user_weight` over entities (ordinary users' table choice).
    pub(crate) user_entity_cumulative: Vec<f64>,
    /// Cumulative `admin_weight` over entities.
    pub(crate) admin_entity_cumulative: Vec<f64>,
    pub(crate) people: Vec<usize>,
    pub(crate) applications: Vec<usize>,
    pub(crate) system_user: usize,
    pub(crate) support_user: usize,
    pub(crate) records_per_user_day: f64,
    pub(crate) sign_out_share: f64,
}

const DAY: i64 = 86_400;

impl World {
    pub(crate) fn build(seed: u64, tenant: Uuid, domain: &str, profile: &ActivityProfile) -> World {
        let (hi, lo) = tenant.as_u64_pair();
        let key = mix(mix(seed, hi), lo);
        let mut stream = Stream::new(mix(key, 1));
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        let domain = if domain.is_empty() { "contoso.onmicrosoft.com".to_owned() } else { domain };
        let stem: String = domain
            .split('.')
            .next()
            .unwrap_or("contoso")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let stem = if stem.is_empty() { "contoso".to_owned() } else { stem };
        let prefix: String = stem.chars().take(8).collect();

        let organizations = build_organizations(&mut stream, &stem, profile.organizations.max(1));
        let entities = build_entities(&prefix);
        let mut users = build_people(&mut stream, &domain, profile, organizations.len());
        add_service_accounts(&mut stream, &mut users, &stem);

        let user_entity_cumulative = cumulative(entities.iter().map(|e| f64::from(e.user_weight)));
        let admin_entity_cumulative =
            cumulative(entities.iter().map(|e| f64::from(e.admin_weight)));
        let people = users.iter().filter(|u| u.is_person()).map(|u| u.index).collect();
        let applications =
            users.iter().filter(|u| u.kind == UserKind::Application).map(|u| u.index).collect();
        let system_user = users.iter().position(|u| u.kind == UserKind::System).unwrap_or_default();
        let support_user =
            users.iter().position(|u| u.kind == UserKind::Support).unwrap_or_default();
        World {
            organizations,
            users,
            entities,
            user_entity_cumulative,
            admin_entity_cumulative,
            people,
            applications,
            system_user,
            support_user,
            records_per_user_day: profile.crm_records_per_user_day.max(0.0),
            sign_out_share: profile.sign_out_share.clamp(0.0, 1.0),
        }
    }

    pub(crate) fn entity_index(&self, logical_name: &str) -> Option<usize> {
        self.entities.iter().position(|e| e.logical_name == logical_name)
    }

    /// Rows of a table in an organization (the users table holds every account but `System`).
    pub(crate) fn rows(&self, entity: usize) -> u32 {
        let entity = &self.entities[entity];
        match entity.namer {
            Namer::Users => self.users.len() as u32,
            _ => entity.rows,
        }
    }

    /// The GUID of a row.
    pub(crate) fn row_id(&self, org: &Organization, entity: usize, row: u32) -> [u8; 16] {
        match self.entities[entity].namer {
            Namer::Users => {
                let user = &self.users[row as usize % self.users.len()];
                *user.system_user_id(org).as_bytes()
            }
            Namer::Organization => *org.organization_id.as_bytes(),
            _ => dataverse_guid(mix(mix(org.key, entity as u64 + 0x100), u64::from(row)), org),
        }
    }

    /// The primary name of a row, appended to `out`.
    pub(crate) fn push_row_name(
        &self,
        out: &mut String,
        org: &Organization,
        entity: usize,
        row: u32,
    ) {
        let h = mix(mix(org.key ^ 0xA5A5, entity as u64), u64::from(row));
        let pick =
            |list: &[&'static str], salt: u64| list[(mix(h, salt) % list.len() as u64) as usize];
        match self.entities[entity].namer {
            Namer::Company => push_company(out, row),
            Namer::Person => push_person(out, h),
            Namer::Subject => fill_template(out, pick(catalog::SUBJECT_TEMPLATES, 1), h),
            Namer::CaseTitle => fill_template(out, pick(catalog::CASE_TEMPLATES, 1), h),
            Namer::Deal => fill_template(out, pick(catalog::DEAL_TEMPLATES, 1), h),
            Namer::Product => {
                out.push_str(pick(catalog::PRODUCTS, 1));
                if row >= catalog::PRODUCTS.len() as u32 {
                    out.push_str(" v");
                    push_decimal(out, u64::from(row / catalog::PRODUCTS.len() as u32 + 1));
                }
            }
            Namer::Project => {
                out.push_str("Project ");
                out.push_str(pick(catalog::CITIES, 2));
                out.push(' ');
                push_decimal(out, 2019 + u64::from(row % 8));
                out.push('-');
                push_decimal(out, u64::from(row));
            }
            Namer::Contract => {
                out.push_str("CTR-");
                push_decimal(out, 10_000 + u64::from(row));
                out.push(' ');
                push_company(out, (mix(h, 3) % 3000) as u32);
            }
            Namer::Users => out.push_str(&self.users[row as usize % self.users.len()].display_name),
            Namer::Role => push_numbered(out, catalog::ROLES, row),
            Namer::BusinessUnit => {
                if row == 0 {
                    out.push_str(&org.unique_name);
                } else {
                    push_numbered(out, catalog::BUSINESS_UNITS, row - 1);
                }
            }
            Namer::Team => push_numbered(out, catalog::TEAMS, row),
            Namer::Organization => out.push_str(&org.display_name),
            Namer::PluginType => push_numbered(out, catalog::PLUGINS, row),
            Namer::PluginStep => {
                push_numbered(out, catalog::PLUGINS, row / 3);
                out.push_str(": ");
                out.push_str(
                    ["Create of account", "Update of contact", "Create of incident"]
                        [(row % 3) as usize],
                );
            }
            Namer::Process => push_numbered(out, catalog::PROCESSES, row),
            Namer::Solution => push_numbered(out, catalog::SOLUTIONS, row),
            Namer::View => {
                out.push_str(
                    ["My Active ", "Active ", "Inactive ", "All ", "Recently Modified "]
                        [(row % 5) as usize],
                );
                let target = &self.entities[(row as usize / 5) % 15];
                out.push_str(&target.logical_name);
                out.push_str(" records");
            }
            Namer::Form => {
                let target = &self.entities[row as usize % 15];
                out.push_str(&target.logical_name);
                out.push_str(
                    [" Main form", " Quick Create", " Card form", " Quick View"]
                        [(row as usize / 15) % 4],
                );
            }
            Namer::Note => fill_template(out, pick(catalog::SUBJECT_TEMPLATES, 5), h),
        }
    }

    /// The local day number (since 1970-01-01) of a user at `utc` seconds.
    pub(crate) fn local_day(user: &User, utc: i64) -> i64 {
        (utc + i64::from(user.utc_offset_minutes) * 60).div_euclid(DAY)
    }

    /// The sessions of a person on one local day (local day number since 1970-01-01).
    pub(crate) fn sessions(&self, user: &User, local_day: i64) -> [Option<Session>; 2] {
        let mut stream = Stream::new(mix(mix(user.key, 0xDA7), local_day as u64));
        let offset = i64::from(user.utc_offset_minutes) * 60;
        let day_start_utc = local_day * DAY - offset;
        // 1970-01-01 was a Thursday: weekday 0 = Monday.
        let weekday = (local_day + 3).rem_euclid(7);
        let weekend = weekday >= 5;
        let per_day = self.records_per_user_day * user.activity;
        let mut sessions = [None, None];
        let at = |hours: f64| day_start_utc + (hours.clamp(0.0, 24.0) * 3600.0) as i64;

        let works = if weekend {
            stream.unit() < if user.night_owl || user.kind == UserKind::Admin { 0.25 } else { 0.06 }
        } else {
            stream.unit() < 0.93
        };
        if works {
            let (start, length, scale) = if weekend {
                (9.0 + stream.unit() * 10.0, 0.5 + stream.unit() * 2.5, 0.6)
            } else {
                (user.start_hour + (stream.unit() - 0.5), 7.5 + stream.unit() * 2.0, 1.0)
            };
            let end = (start + length).min(23.99);
            let seconds = ((end - start) * 3600.0).max(600.0);
            // On a working day the whole day's volume falls into the session; the lunch dip
            // and morning ramp remove about 6 % and absences 7 %, compensated here.
            let intensity = if weekend { per_day / (8.5 * 3600.0) } else { per_day / seconds }
                * scale
                / (0.94 * 0.93);
            let signs_out = stream.unit() < self.sign_out_share;
            let again = stream.unit() < 0.5;
            let midway = start + length * (0.4 + stream.unit() * 0.2);
            sessions[0] = Some(Session {
                start: at(start),
                end: at(end),
                intensity,
                signs_out,
                signs_in_again: (again && !weekend).then(|| at(midway)),
            });
        }
        if stream.unit() < user.small_hours_chance {
            let start = 2.0 + stream.unit() * 2.0;
            let length = 0.15 + stream.unit() * 0.7;
            sessions[1] = Some(Session {
                start: at(start),
                end: at(start + length),
                intensity: per_day / (8.5 * 3600.0) * 0.5,
                signs_out: stream.unit() < self.sign_out_share,
                signs_in_again: None,
            });
        }
        sessions
    }

    /// The rate (records per second) at which a person produces records at `utc` seconds,
    /// given the sessions of the user's local day containing `utc`.
    pub(crate) fn rate(&self, user: &User, sessions: &[Option<Session>; 2], utc: i64) -> f64 {
        let local = utc + i64::from(user.utc_offset_minutes) * 60;
        let local_hour = local.rem_euclid(DAY) as f64 / 3600.0;
        let mut rate = 0.0;
        for session in sessions.iter().flatten() {
            if utc >= session.start && utc < session.end {
                let since_start = (utc - session.start) as f64 / 3600.0;
                let mut shape = 1.0;
                if since_start < 0.5 {
                    shape *= 0.7;
                }
                if (12.0..13.0).contains(&local_hour) && !user.night_owl {
                    shape *= 0.5;
                }
                rate += session.intensity * shape;
            }
        }
        rate
    }
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut total = 0.0;
    weights
        .map(|w| {
            total += w;
            total
        })
        .collect()
}

/// A GUID shaped like the ones Dataverse generates for new rows
/// (`dc136b61-6c1e-e811-a952-000d3a732d76`): random head, a year code, the host's NIC address.
pub(crate) fn dataverse_guid(h: u64, org: &Organization) -> [u8; 16] {
    let h2 = mix(h, 0xC0FFEE);
    let year = catalog::YEAR_CODES[(h2 % catalog::YEAR_CODES.len() as u64) as usize];
    let suffix = &org.mac_suffixes[((h2 >> 8) % org.mac_suffixes.len() as u64) as usize];
    let mut bytes = [0u8; 16];
    bytes[0..4].copy_from_slice(&((h >> 32) as u32).to_be_bytes());
    bytes[4..6].copy_from_slice(&(((h >> 16) & 0xffff) as u16).to_be_bytes());
    bytes[6..8].copy_from_slice(&year);
    bytes[8..10].copy_from_slice(&(((h2 >> 24) & 0xffff) as u16).to_be_bytes());
    bytes[10..16].copy_from_slice(suffix);
    bytes
}

fn build_organizations(stream: &mut Stream, stem: &str, count: usize) -> Vec<Organization> {
    const PURPOSES: &[(&str, &str)] = &[
        ("", "Production"),
        ("sales", "Sales"),
        ("service", "Customer Service"),
        ("fs", "Field Service"),
        ("mkt", "Marketing"),
        ("hr", "HR"),
        ("finance", "Finance"),
        ("partner", "Partner Portal"),
    ];
    let mut seen_names = std::collections::HashSet::new();
    (0..count)
        .map(|index| {
            let key = stream.next_u64();
            let mut unique_name;
            loop {
                unique_name = String::from("org");
                push_hex(&mut unique_name, stream.next_u64() & 0xffff_ffff, 8);
                if seen_names.insert(unique_name.clone()) {
                    break;
                }
            }
            let (purpose, label) = PURPOSES[index % PURPOSES.len()];
            let mut host = stem.to_owned();
            if !purpose.is_empty() {
                host.push('-');
                host.push_str(purpose);
            }
            if index >= PURPOSES.len() {
                push_decimal(&mut host, (index / PURPOSES.len()) as u64 + 1);
            }
            let region = catalog::REGIONS[stream.below(catalog::REGIONS.len() as u64) as usize];
            let instance_url = format!("https://{host}.{region}.dynamics.com/");
            let mac_suffixes = (0..3)
                .map(|_| {
                    let prefix = catalog::MAC_PREFIXES
                        [stream.below(catalog::MAC_PREFIXES.len() as u64) as usize];
                    let tail = stream.next_u64().to_be_bytes();
                    [prefix[0], prefix[1], prefix[2], tail[5], tail[6], tail[7]]
                })
                .collect();
            let mut org = Organization {
                index,
                unique_name,
                instance_url,
                display_name: format!("{} {label}", capitalize(stem)),
                organization_id: Uuid::nil(),
                key,
                mac_suffixes,
                results_separator: if index % 2 == 0 { "," } else { ", " },
            };
            org.organization_id = Uuid::from_bytes(dataverse_guid(mix(key, 0x0E6), &org));
            org
        })
        .collect()
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn build_entities(prefix: &str) -> Vec<Entity> {
    let resolve = |name: &str| name.replace("{p}", prefix);
    let names: Vec<String> = catalog::ENTITIES.iter().map(|d| resolve(d.name)).collect();
    catalog::ENTITIES
        .iter()
        .enumerate()
        .map(|(index, def): (usize, &EntityDef)| Entity {
            index,
            logical_name: names[index].clone(),
            kind: def.kind,
            rows: def.pool,
            namer: def.namer,
            user_weight: def.user_weight,
            admin_weight: def.admin_weight,
            columns: def
                .columns
                .iter()
                .map(|c| Column {
                    name: resolve(c.name),
                    kind: match c.kind {
                        ColumnKind::Lookup(target) => {
                            let target = resolve(target);
                            ResolvedColumnKind::Lookup(
                                names.iter().position(|n| *n == target).unwrap_or(0),
                            )
                        }
                        ColumnKind::Owner => ResolvedColumnKind::Owner,
                        other => ResolvedColumnKind::Plain(other),
                    },
                    secured: c.secured,
                })
                .collect(),
        })
        .collect()
}

fn build_people(
    stream: &mut Stream,
    domain: &str,
    profile: &ActivityProfile,
    organizations: usize,
) -> Vec<User> {
    let count = profile.users.max(1);
    let admins = (count / 12).max(1);
    let zone_total: u32 = catalog::TIME_ZONES.iter().map(|(_, w)| w).sum();
    // Most of a tenant sits in one or two home zones; the rest is spread.
    let home_zone = stream.below(catalog::TIME_ZONES.len() as u64) as usize;
    let mut used_upns = std::collections::HashSet::new();
    let mut users: Vec<User> = (0..count)
        .map(|index| {
            let key = stream.next_u64();
            let first =
                catalog::FIRST_NAMES[stream.below(catalog::FIRST_NAMES.len() as u64) as usize];
            let last = catalog::LAST_NAMES[stream.below(catalog::LAST_NAMES.len() as u64) as usize];
            let base = format!("{}.{}", ascii_mailbox(first), ascii_mailbox(last));
            let mut local = base.clone();
            let mut n = 2;
            while !used_upns.insert(local.clone()) {
                local = format!("{base}{n}");
                n += 1;
            }
            let zone = if stream.unit() < 0.6 {
                catalog::TIME_ZONES[home_zone].0
            } else {
                let mut draw = stream.below(u64::from(zone_total)) as u32;
                let mut chosen = catalog::TIME_ZONES[0].0;
                for (offset, weight) in catalog::TIME_ZONES {
                    if draw < *weight {
                        chosen = *offset;
                        break;
                    }
                    draw -= weight;
                }
                chosen
            };
            let night_owl = stream.unit() < 0.08;
            let start_hour =
                if night_owl { 12.5 + stream.unit() * 2.5 } else { 7.0 + stream.unit() * 2.5 };
            let kind = if index < admins { UserKind::Admin } else { UserKind::Person };
            let small_hours_chance = if index % 17 == 5 { 0.25 } else { 0.015 };
            // Log-normal-ish spread of activity; normalized below.
            let activity = (0.6 * super::randomness::standard_normal_from(stream)).exp();
            let client_ip = if stream.unit() < 0.15 {
                format!(
                    "2a01:111:f400:{:x}:{:x}::{:x}",
                    stream.below(0xffff),
                    stream.below(0xffff),
                    stream.below(0xffff) + 1
                )
            } else {
                let blocks: [u8; 4] = [
                    [20, 40, 52, 81, 86, 91, 131, 145, 176, 185, 195, 203]
                        [stream.below(12) as usize],
                    stream.below(255) as u8,
                    stream.below(255) as u8,
                    1 + stream.below(253) as u8,
                ];
                format!("{}.{}.{}.{}", blocks[0], blocks[1], blocks[2], blocks[3])
            };
            let mut user_key = String::from("1003");
            push_hex(&mut user_key, stream.next_u64() & 0xfff_ffff_ffff, 12);
            User {
                index,
                kind,
                upn: format!("{local}@{domain}"),
                display_name: format!("{first} {last}"),
                user_key: user_key.to_ascii_uppercase(),
                client_ip,
                user_agent: catalog::BROWSERS
                    [stream.below(catalog::BROWSERS.len() as u64) as usize]
                    .to_owned(),
                utc_offset_minutes: zone,
                night_owl,
                home_organization: index % organizations,
                user_type: 0,
                key,
                activity,
                start_hour,
                small_hours_chance,
            }
        })
        .collect();
    let mean = users.iter().map(|u| u.activity).sum::<f64>() / users.len() as f64;
    for user in &mut users {
        user.activity /= mean;
    }
    users
}

fn ascii_mailbox(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            'á' | 'à' | 'â' => Some('a'),
            'é' | 'è' | 'ê' => Some('e'),
            'í' => Some('i'),
            'ó' | 'ö' | 'ø' | 'Ø' => Some('o'),
            'ú' | 'ü' => Some('u'),
            'ç' => Some('c'),
            'ş' => Some('s'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

fn add_service_accounts(stream: &mut Stream, users: &mut Vec<User>, stem: &str) {
    let integration = Uuid::from_u64_pair(stream.next_u64(), stream.next_u64());
    let flows = Uuid::from_u64_pair(stream.next_u64(), stream.next_u64());
    let mut push = |users: &mut Vec<User>, kind, upn: String, name: &str, agent: &str, ip: &str| {
        let index = users.len();
        let key = stream.next_u64();
        let (user_key, user_type) = match kind {
            UserKind::System => ("Unknown".to_owned(), 0),
            UserKind::Application => {
                let mut k = String::from("1003");
                push_hex(&mut k, key & 0xfff_ffff_ffff, 12);
                (k.to_ascii_uppercase(), 5)
            }
            _ => {
                let mut k = String::from("1003");
                push_hex(&mut k, key & 0xfff_ffff_ffff, 12);
                (k.to_ascii_uppercase(), 3)
            }
        };
        users.push(User {
            index,
            kind,
            upn,
            display_name: name.to_owned(),
            user_key,
            client_ip: ip.to_owned(),
            user_agent: agent.to_owned(),
            utc_offset_minutes: 0,
            night_owl: false,
            home_organization: 0,
            user_type,
            key,
            activity: 1.0,
            start_hour: 0.0,
            small_hours_chance: 0.0,
        });
    };
    push(
        users,
        UserKind::Application,
        format!("{stem}-erp-sync@{integration}.com"),
        "ERP Integration",
        "Microsoft.PowerPlatform.Dataverse.Client/1.2.3",
        "20.50.2.17",
    );
    push(
        users,
        UserKind::Application,
        format!("flows@{flows}.com"),
        "Power Automate flows",
        "azure-logic-apps/1.0 (workflow 7c4a; version 08584)",
        "40.113.12.95",
    );
    push(
        users,
        UserKind::System,
        "Unknown".to_owned(),
        "SYSTEM",
        "crm-bts-jobs/1.0",
        "52.163.88.69",
    );
    push(
        users,
        UserKind::Support,
        "crmsupport@microsoft.com".to_owned(),
        "Microsoft Support",
        "CRM.InternalTools/9.2",
        "13.107.6.152",
    );
}

pub(crate) fn push_decimal(out: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(d as char);
    }
}

fn push_numbered(out: &mut String, list: &[&str], row: u32) {
    out.push_str(list[row as usize % list.len()]);
    let round = row as usize / list.len();
    if round > 0 {
        out.push_str(" (");
        push_decimal(out, round as u64 + 1);
        out.push(')');
    }
}

fn push_company(out: &mut String, row: u32) {
    let stems = catalog::COMPANY_STEMS.len() as u32;
    let cities = catalog::CITIES.len() as u32;
    // Spread consecutive rows over different stems so popular rows are not all "Fabrikam".
    let r = row.wrapping_mul(7919) % (stems * cities * catalog::COMPANY_SUFFIXES.len() as u32);
    out.push_str(catalog::COMPANY_STEMS[(r % stems) as usize]);
    out.push(' ');
    out.push_str(catalog::CITIES[((r / stems) % cities) as usize]);
    out.push(' ');
    out.push_str(catalog::COMPANY_SUFFIXES[(r / (stems * cities)) as usize]);
}

fn push_person(out: &mut String, h: u64) {
    out.push_str(catalog::FIRST_NAMES[(h % catalog::FIRST_NAMES.len() as u64) as usize]);
    out.push(' ');
    out.push_str(catalog::LAST_NAMES[((h >> 20) % catalog::LAST_NAMES.len() as u64) as usize]);
}

fn fill_template(out: &mut String, template: &str, h: u64) {
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tag = rest.as_bytes().get(at + 1).copied().unwrap_or(b'?');
        match tag {
            b'c' => push_company(out, (mix(h, 11) % 3000) as u32),
            b'n' => push_person(out, mix(h, 12)),
            b'k' => push_decimal(out, 5 + mix(h, 13) % 495),
            _ => {}
        }
        rest = rest.get(at + 3..).unwrap_or("");
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        World::build(7, Uuid::from_u128(42), "contoso.com", &ActivityProfile::default())
    }

    #[test]
    fn organizations_have_unique_names_and_instance_urls() {
        let world = World::build(
            3,
            Uuid::from_u128(1),
            "contoso.com",
            &ActivityProfile { organizations: 12, ..ActivityProfile::default() },
        );
        let names: std::collections::HashSet<_> =
            world.organizations.iter().map(|o| o.unique_name.clone()).collect();
        let urls: std::collections::HashSet<_> =
            world.organizations.iter().map(|o| o.instance_url.clone()).collect();
        assert_eq!(names.len(), 12);
        assert_eq!(urls.len(), 12);
        for org in &world.organizations {
            assert!(org.unique_name.starts_with("org") && org.unique_name.len() == 11);
            assert!(org.instance_url.starts_with("https://contoso"), "{}", org.instance_url);
            assert!(org.instance_url.ends_with(".dynamics.com/"), "{}", org.instance_url);
        }
    }

    #[test]
    fn users_have_unique_upns_and_stable_ids() {
        let world = world();
        let upns: std::collections::HashSet<_> = world.users.iter().map(|u| &u.upn).collect();
        assert_eq!(upns.len(), world.users.len());
        let people = world.users.iter().filter(|u| u.is_person()).count();
        assert_eq!(people, ActivityProfile::default().users);
        let user = &world.users[3];
        assert!(user.upn.ends_with("@contoso.com"));
        assert_eq!(user.user_key.len(), 16);
        let org = &world.organizations[0];
        assert_eq!(user.system_user_id(org), user.system_user_id(org));
        assert_ne!(user.system_user_id(org), user.system_user_id(&world.organizations[1]));
        let again = self::world();
        assert_eq!(
            again.users[3].system_user_id(&again.organizations[0]),
            user.system_user_id(org)
        );
    }

    #[test]
    fn row_ids_are_dataverse_shaped_and_distinct() {
        let world = world();
        let org = &world.organizations[0];
        let account = world.entity_index("account").expect("account");
        let mut seen = std::collections::HashSet::new();
        for row in 0..world.rows(account) {
            let id = Uuid::from_bytes(world.row_id(org, account, row));
            assert!(seen.insert(id), "duplicate row id");
        }
        let text = Uuid::from_bytes(world.row_id(org, account, 0)).to_string();
        let year = u16::from_str_radix(&text[14..18], 16).expect("hex");
        assert!(catalog::YEAR_CODES.iter().any(|c| u16::from_be_bytes(*c) == year), "{text}");
        let mut name = String::new();
        world.push_row_name(&mut name, org, account, 0);
        assert!(!name.is_empty());
    }

    #[test]
    fn custom_tables_carry_the_publisher_prefix() {
        let world = world();
        assert!(world.entity_index("contoso_contract").is_some());
        assert!(world.entity_index("new_project").is_some());
    }

    #[test]
    fn weekdays_are_busier_than_weekends() {
        let world = world();
        // 2026-06-02 is a Tuesday, 2026-06-07 a Sunday (days since epoch).
        let tuesday = 20_606;
        let sunday = 20_611;
        let mut weekday_sessions = 0;
        let mut weekend_sessions = 0;
        for user in world.users.iter().filter(|u| u.is_person()) {
            for week in 0..8 {
                weekday_sessions += world.sessions(user, tuesday + 7 * week)[0].is_some() as u32;
                weekend_sessions += world.sessions(user, sunday + 7 * week)[0].is_some() as u32;
            }
        }
        assert!(
            weekday_sessions > 4 * weekend_sessions,
            "{weekday_sessions} vs {weekend_sessions}"
        );
    }
}
