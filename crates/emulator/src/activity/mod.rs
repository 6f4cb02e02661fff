//! The generator of realistic Dynamics 365 activity: a deterministic simulated world per tenant
//! (organizations, users, entities) that produces Management Activity API records for any time
//! slot on demand, so that a week or a million records never have to sit in memory.
//!
//! CONTRACT (fixed before implementation; the server side of the emulator relies on it):
//! - `TenantWorld::new(seed, tenant_id, domain, &profile)` is cheap enough to call once per tenant.
//! - `world.records(content_type, from, to)` returns every record whose event time lies in
//!   `[from, to)`, each serialized as one JSON object (the exact bytes the blob will carry),
//!   deterministic in `(seed, tenant_id, content_type, from, to)` and never empty for a slot of a
//!   minute or more (background system activity always exists).
//! - Records over 3 KB are split into parts sharing a `CorrelationId`, all inside the same call.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod catalog;
mod crm;
mod json;
mod other;
mod randomness;
mod world;

#[cfg(test)]
mod tests;

/// What the Dataverse audit generator (`crate::dataverse`) reuses of this world: the world model
/// (organizations, users, tables, row ids and names, working sessions) and its randomness.
pub(crate) mod shared {
    pub(crate) use super::catalog::{CITIES, FIRST_NAMES, LAST_NAMES};
    pub(crate) use super::randomness::{mix, poisson, slot_rng};
    pub(crate) use super::world::{World, dataverse_guid};
}

pub use catalog::EntityKind;
pub use world::{Entity, Organization, User, UserKind};

use crm::{Emitter, TICK};
use json::TenantText;
use randomness::{poisson, slot_rng};
use world::World;

/// The content types of the Management Activity API.
pub const CONTENT_TYPES: [&str; 5] = [
    "Audit.AzureActiveDirectory",
    "Audit.Exchange",
    "Audit.SharePoint",
    "Audit.General",
    "DLP.All",
];

/// How much activity a tenant produces and how odd its records look.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ActivityProfile {
    /// Dynamics 365 organizations (environments) in the tenant.
    pub organizations: usize,
    /// People who use Dynamics 365 (plus a few admins and application users).
    pub users: usize,
    /// Mean Dynamics 365 records per user on a working day.
    pub crm_records_per_user_day: f64,
    /// Share of `Audit.General` records that come from other workloads (Power Apps, Power
    /// Automate, Power BI, ...), which a collector must be able to filter out.
    pub other_workload_share: f64,
    pub oddities: ShapeOddities,
    /// Share of working sessions that end with an explicit `UserSignOut` record (most sessions
    /// just expire). Gap: Microsoft documents the "Signed in or out" report but not the message
    /// names; `UserSignIn` is the name Microsoft Sentinel's Dataverse rules query, `UserSignOut`
    /// is assumed. 0 turns sign-out records off.
    pub sign_out_share: f64,
    /// Mean records per minute of each non-General content type (Entra ID, Exchange,
    /// SharePoint, DLP) on top of the one record every minute always has.
    pub other_content_per_minute: f64,
}

/// The shapes seen in the wild, each as the fraction of records that carry it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ShapeOddities {
    /// `"RecordType":"21"` instead of `21`.
    pub record_type_as_string: f64,
    /// `52.163.88.69:50749` or `[2a01:111::1]:50749`.
    pub client_ip_with_port: f64,
    /// `CreationTime` with `Z` or a 7-digit fraction instead of the documented plain form.
    pub creation_time_with_zone: f64,
    /// `Fields` as a JSON-encoded string instead of an array.
    pub fields_as_string: f64,
    /// `ObjectId` with a trailing space (as in the production record of MicrosoftDocs issue #134).
    pub object_id_trailing_space: f64,
    /// `ResultStatus` `Succeeded` or lowercase `success` instead of the usual word.
    pub result_status_variants: f64,
}

impl Default for ActivityProfile {
    fn default() -> Self {
        ActivityProfile {
            organizations: 3,
            users: 40,
            crm_records_per_user_day: 300.0,
            other_workload_share: 0.15,
            oddities: ShapeOddities::default(),
            sign_out_share: 0.4,
            other_content_per_minute: 0.5,
        }
    }
}

impl Default for ShapeOddities {
    fn default() -> Self {
        ShapeOddities {
            record_type_as_string: 0.01,
            client_ip_with_port: 0.05,
            creation_time_with_zone: 0.01,
            fields_as_string: 0.02,
            object_id_trailing_space: 0.02,
            result_status_variants: 0.03,
        }
    }
}

/// One table row as the generator knows it: the truth tests compare the archive against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityRow {
    pub id: Uuid,
    /// Value of the primary name column (`PrimaryFieldValue`).
    pub primary_name: String,
}

/// The simulated world of one tenant.
#[derive(Debug)]
pub struct TenantWorld {
    seed: u64,
    tenant_id: Uuid,
    profile: ActivityProfile,
    world: World,
    tenant: TenantText,
}

impl TenantWorld {
    pub fn new(seed: u64, tenant_id: Uuid, domain: &str, profile: &ActivityProfile) -> Self {
        TenantWorld {
            seed,
            tenant_id,
            profile: profile.clone(),
            world: World::build(seed, tenant_id, domain, profile),
            tenant: TenantText { tenant_id: tenant_id.to_string() },
        }
    }

    /// Every record with event time in `[from, to)` for `content_type`, one JSON object each,
    /// ordered by event time. Unknown content types have no records.
    ///
    /// Records are generated per minute aligned to the Unix epoch, each minute from its own
    /// generator seeded with `(seed, tenant, content type, minute start, minute end)`: a window
    /// made of whole minutes gives exactly the records of its minutes, however it is cut.
    pub fn records(
        &self,
        content_type: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<String> {
        if !CONTENT_TYPES.contains(&content_type) {
            return Vec::new();
        }
        // Event times are whole seconds: include second s when from <= s < to.
        let first = from.timestamp() + i64::from(from.timestamp_subsec_nanos() > 0);
        let limit = to.timestamp() + i64::from(to.timestamp_subsec_nanos() > 0);
        let mut records = Vec::new();
        if limit <= first {
            return records;
        }
        let mut tick = first.div_euclid(TICK) * TICK;
        let mut plans = crm::DayPlans::new();
        while tick < limit {
            let mut timed = self.tick(content_type, tick, &mut plans);
            timed.retain(|t| t.time >= first && t.time < limit);
            timed.sort_by_key(|t| (t.time, t.seq));
            records.extend(timed.into_iter().map(|t| t.json));
            tick += TICK;
        }
        records
    }

    fn tick(&self, content_type: &str, tick: i64, plans: &mut crm::DayPlans) -> Vec<crm::Timed> {
        let rng = slot_rng(self.seed, self.tenant_id, content_type, tick, tick + TICK);
        let mut emitter = Emitter::new(&self.world, &self.tenant, &self.profile.oddities, rng);
        if content_type == "Audit.General" {
            let expected_people = crm::crm_tick(&mut emitter, plans, tick);
            let share = self.profile.other_workload_share.clamp(0.0, 0.95);
            let background = 1.3
                + self.world.records_per_user_day * self.world.people.len() as f64 * 0.08 / 1440.0;
            let others = (expected_people + background) * share / (1.0 - share);
            let count = poisson(&mut emitter.rng, others);
            for _ in 0..count {
                let time = tick + rand::Rng::random_range(&mut emitter.rng, 0..TICK);
                other::power_platform_record(&mut emitter, time);
            }
        } else {
            other::content_type_record(&mut emitter, content_type, tick);
            let extra = poisson(&mut emitter.rng, self.profile.other_content_per_minute.max(0.0));
            for _ in 0..extra {
                let time = tick + rand::Rng::random_range(&mut emitter.rng, 0..TICK);
                other::content_type_record(&mut emitter, content_type, time);
            }
        }
        emitter.out
    }

    /// The world model behind the records (for the Dataverse audit generator).
    pub(crate) fn model(&self) -> &World {
        &self.world
    }

    /// The organizations (environments) of the tenant.
    pub fn organizations(&self) -> &[Organization] {
        &self.world.organizations
    }

    /// Every account that appears in records: people, admins, application users, the system
    /// account and Microsoft support.
    pub fn users(&self) -> &[User] {
        &self.world.users
    }

    /// The user whose records carry `upn` as `UserId`.
    pub fn user_by_upn(&self, upn: &str) -> Option<&User> {
        self.world.users.iter().find(|u| u.upn.eq_ignore_ascii_case(upn))
    }

    /// The tables of every organization.
    pub fn entities(&self) -> &[Entity] {
        &self.world.entities
    }

    /// Row `row` of table `logical_name` in organization `organization`.
    pub fn row(&self, organization: usize, logical_name: &str, row: u32) -> Option<EntityRow> {
        let org = self.world.organizations.get(organization)?;
        let entity = self.world.entity_index(logical_name)?;
        if row >= self.world.rows(entity) {
            return None;
        }
        let mut primary_name = String::new();
        self.world.push_row_name(&mut primary_name, org, entity, row);
        Some(EntityRow { id: Uuid::from_bytes(self.world.row_id(org, entity, row)), primary_name })
    }

    /// Every row of table `logical_name` in organization `organization` (the stable pool that
    /// reads, grids and updates draw from; rows created during the simulation are not in it).
    pub fn rows(&self, organization: usize, logical_name: &str) -> Vec<EntityRow> {
        let Some(entity) = self.world.entity_index(logical_name) else {
            return Vec::new();
        };
        (0..self.world.rows(entity))
            .filter_map(|row| self.row(organization, logical_name, row))
            .collect()
    }
}
