//! Integer ids of dictionary values: strings in `names`, Dataverse row GUIDs in `guids`, and
//! (GUID, user) pairs in `system_users`.
//!
//! [`KnownIds`] holds ids that are committed, shared by the packing threads (which resolve most
//! of a batch's values before it reaches the writer) and the writer (which resolves the rest and
//! creates new ones). The writer keeps the ids it creates in a transaction in [`PendingIds`] and
//! publishes them only after the commit, so a shared id always exists in the database and a
//! rollback needs no invalidation. The maps that grow with the archive are cleared when they
//! exceed a bound, so memory stays flat: a cleared id is simply looked up again.

use rustc_hash::FxHashMap as HashMap;
use std::sync::{PoisonError, RwLock};

use archive::columns::RecordColumns;
use rusqlite::{Connection, OptionalExtension, params};

use crate::encoding::guid_bytes;
use crate::schema::NameKind;

/// Entries kept per map (per kind for names) before it is cleared: enough for every user,
/// organization, message and field name, and for the names of the recent activity.
const BOUND: usize = 100_000;

/// Row GUIDs kept before the map is cleared: result sets list many rows, and a row missing here
/// costs the writer two index lookups (about 20 MiB at this bound).
const GUID_BOUND: usize = 400_000;

type NameMap = HashMap<NameKind, HashMap<String, i64>>;

/// Committed ids.
#[derive(Debug, Default)]
pub(crate) struct KnownIds {
    names: RwLock<NameMap>,
    guids: RwLock<HashMap<[u8; 16], i64>>,
    system_users: RwLock<HashMap<([u8; 16], i64), i64>>,
}

/// A record's ids found among the committed ones; `None` where the writer must resolve.
#[derive(Debug, Default, Clone)]
pub(crate) struct RecordIds {
    pub(crate) workload: Option<i64>,
    pub(crate) operation: Option<i64>,
    pub(crate) tenant: Option<i64>,
    pub(crate) user: Option<i64>,
    pub(crate) system_user: Option<i64>,
    pub(crate) organization: Option<i64>,
    pub(crate) entity: Option<i64>,
    pub(crate) message: Option<i64>,
    pub(crate) client_ip: Option<i64>,
    pub(crate) primary_value: Option<i64>,
    pub(crate) result_status: Option<i64>,
    pub(crate) entity_ref: Option<i64>,
    /// One per `columns.listed` entry.
    pub(crate) listed: Vec<Option<i64>>,
    /// One per `columns.fields` entry (the field name's id).
    pub(crate) fields: Vec<Option<i64>>,
}

/// The tenant as a `names` value, written into `buffer` (no allocation per record).
pub(crate) fn tenant_text<'b>(
    columns: &RecordColumns,
    buffer: &'b mut [u8; uuid::fmt::Hyphenated::LENGTH],
) -> Option<&'b str> {
    columns.tenant_id.map(|t| &*t.hyphenated().encode_lower(buffer))
}

impl KnownIds {
    /// Resolves what it can of every record's values, holding each map's lock once.
    pub(crate) fn resolve(&self, records: &[&RecordColumns]) -> Vec<RecordIds> {
        let names = self.names.read().unwrap_or_else(PoisonError::into_inner);
        let guids = self.guids.read().unwrap_or_else(PoisonError::into_inner);
        let system_users = self.system_users.read().unwrap_or_else(PoisonError::into_inner);
        let name = |kind: NameKind, value: Option<&str>| {
            value.and_then(|v| names.get(&kind).and_then(|m| m.get(v)).copied())
        };
        records
            .iter()
            .map(|c| {
                let user = name(NameKind::User, Some(&c.user));
                let system_user = match (guid_bytes(c.system_user_id), user) {
                    (Some(guid), Some(user)) => system_users.get(&(guid, user)).copied(),
                    _ => None,
                };
                RecordIds {
                    workload: name(NameKind::Workload, Some(&c.workload)),
                    operation: name(NameKind::Operation, Some(&c.operation)),
                    tenant: name(NameKind::Tenant, tenant_text(c, &mut [0; 36])),
                    user,
                    system_user,
                    organization: name(NameKind::Organization, c.organization.as_deref()),
                    entity: name(NameKind::Entity, c.entity.as_deref()),
                    message: name(NameKind::Message, c.message.as_deref()),
                    client_ip: name(NameKind::ClientIp, c.client_ip.as_deref()),
                    primary_value: name(NameKind::PrimaryValue, c.primary_field_value.as_deref()),
                    result_status: name(NameKind::ResultStatus, c.result_status.as_deref()),
                    entity_ref: guid_bytes(c.entity_id).and_then(|g| guids.get(&g).copied()),
                    listed: c
                        .listed
                        .iter()
                        .map(|l| guid_bytes(Some(*l)).and_then(|g| guids.get(&g).copied()))
                        .collect(),
                    fields: c.fields.iter().map(|(f, _)| name(NameKind::Field, Some(f))).collect(),
                }
            })
            .collect()
    }

    fn name(&self, kind: NameKind, value: &str) -> Option<i64> {
        let names = self.names.read().unwrap_or_else(PoisonError::into_inner);
        names.get(&kind).and_then(|m| m.get(value)).copied()
    }

    fn guid(&self, guid: &[u8; 16]) -> Option<i64> {
        self.guids.read().unwrap_or_else(PoisonError::into_inner).get(guid).copied()
    }

    fn system_user(&self, key: &([u8; 16], i64)) -> Option<i64> {
        self.system_users.read().unwrap_or_else(PoisonError::into_inner).get(key).copied()
    }

    /// Makes a committed transaction's ids known.
    pub(crate) fn publish(&self, pending: &mut PendingIds) {
        if !pending.names.is_empty() {
            let mut names = self.names.write().unwrap_or_else(PoisonError::into_inner);
            for (kind, values) in pending.names.drain() {
                let known = names.entry(kind).or_default();
                if known.len() + values.len() > BOUND {
                    known.clear();
                }
                known.extend(values);
            }
        }
        if !pending.guids.is_empty() {
            let mut guids = self.guids.write().unwrap_or_else(PoisonError::into_inner);
            if guids.len() + pending.guids.len() > GUID_BOUND {
                guids.clear();
            }
            guids.extend(pending.guids.drain());
        }
        if !pending.system_users.is_empty() {
            let mut users = self.system_users.write().unwrap_or_else(PoisonError::into_inner);
            if users.len() + pending.system_users.len() > BOUND {
                users.clear();
            }
            users.extend(pending.system_users.drain());
        }
    }
}

/// Ids the writer looked up or created in the current transaction, not yet shared.
#[derive(Debug, Default)]
pub(crate) struct PendingIds {
    names: NameMap,
    guids: HashMap<[u8; 16], i64>,
    system_users: HashMap<([u8; 16], i64), i64>,
}

impl PendingIds {
    pub(crate) fn clear(&mut self) {
        self.names.clear();
        self.guids.clear();
        self.system_users.clear();
    }
}

/// The writer's view: committed ids, this transaction's, and the database.
#[derive(Debug)]
pub(crate) struct IdWriter<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) known: &'a KnownIds,
    pub(crate) pending: &'a mut PendingIds,
}

impl IdWriter<'_> {
    /// The id of a string: `hint` from the packing thread, else known, else the database, which
    /// gets it if it is new.
    pub(crate) fn name(
        &mut self,
        kind: NameKind,
        value: &str,
        hint: Option<i64>,
    ) -> rusqlite::Result<i64> {
        if let Some(id) = hint.or_else(|| self.known.name(kind, value)) {
            return Ok(id);
        }
        if let Some(id) = self.pending.names.get(&kind).and_then(|m| m.get(value)) {
            return Ok(*id);
        }
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM names WHERE kind = ?1 AND value = ?2")?
            .query_row(params![kind.code(), value], |row| row.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                self.conn
                    .prepare_cached("INSERT INTO names (kind, value) VALUES (?1, ?2)")?
                    .execute(params![kind.code(), value])?;
                self.conn.last_insert_rowid()
            }
        };
        self.pending.names.entry(kind).or_default().insert(value.to_string(), id);
        Ok(id)
    }

    pub(crate) fn optional_name(
        &mut self,
        kind: NameKind,
        value: Option<&str>,
        hint: Option<i64>,
    ) -> rusqlite::Result<Option<i64>> {
        value.map(|v| self.name(kind, v, hint)).transpose()
    }

    /// The id of a Dataverse row GUID.
    pub(crate) fn guid(&mut self, guid: [u8; 16], hint: Option<i64>) -> rusqlite::Result<i64> {
        if let Some(id) = hint.or_else(|| self.known.guid(&guid)) {
            return Ok(id);
        }
        if let Some(id) = self.pending.guids.get(&guid) {
            return Ok(*id);
        }
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM guids WHERE guid = ?1")?
            .query_row([guid.as_slice()], |row| row.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                self.conn
                    .prepare_cached("INSERT INTO guids (guid) VALUES (?1)")?
                    .execute([guid.as_slice()])?;
                self.conn.last_insert_rowid()
            }
        };
        self.pending.guids.insert(guid, id);
        Ok(id)
    }

    /// The id of a (system user GUID, user) pair.
    pub(crate) fn system_user(
        &mut self,
        guid: [u8; 16],
        user: i64,
        hint: Option<i64>,
    ) -> rusqlite::Result<i64> {
        if let Some(id) = hint.or_else(|| self.known.system_user(&(guid, user))) {
            return Ok(id);
        }
        if let Some(id) = self.pending.system_users.get(&(guid, user)) {
            return Ok(*id);
        }
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM system_users WHERE guid = ?1 AND user = ?2")?
            .query_row(params![guid.as_slice(), user], |row| row.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                self.conn
                    .prepare_cached("INSERT INTO system_users (guid, user) VALUES (?1, ?2)")?
                    .execute(params![guid.as_slice(), user])?;
                self.conn.last_insert_rowid()
            }
        };
        self.pending.system_users.insert((guid, user), id);
        Ok(id)
    }
}
