//! Where blob records come from: by default the activity generator (`activity::TenantWorld`),
//! one simulated world per tenant; tests may plug their own [`ActivitySource`].

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::activity::{ActivityProfile, TenantWorld};
use crate::content_type::ContentType;

/// Produces the records whose event time lies in `[from, to)`, each one serialized JSON object,
/// deterministically. The emulator asks for one blob slot at a time and never stores the result
/// beyond a small cache.
pub trait ActivitySource: Send + Sync + fmt::Debug {
    fn records(
        &self,
        tenant_id: Uuid,
        content_type: ContentType,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<String>;
}

/// The default source: the generator's simulated world of each tenant.
#[derive(Debug)]
pub(crate) struct GeneratedActivity {
    worlds: HashMap<Uuid, TenantWorld>,
}

impl GeneratedActivity {
    pub(crate) fn new<'a>(
        seed: u64,
        tenants: impl IntoIterator<Item = (Uuid, &'a str)>,
        profile: &ActivityProfile,
    ) -> GeneratedActivity {
        let worlds = tenants
            .into_iter()
            .map(|(tenant_id, domain)| {
                (tenant_id, TenantWorld::new(seed, tenant_id, domain, profile))
            })
            .collect();
        GeneratedActivity { worlds }
    }
}

impl ActivitySource for GeneratedActivity {
    fn records(
        &self,
        tenant_id: Uuid,
        content_type: ContentType,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<String> {
        self.worlds
            .get(&tenant_id)
            .map(|world| world.records(content_type.as_str(), from, to))
            .unwrap_or_default()
    }
}
