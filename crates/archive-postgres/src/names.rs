//! Repeated strings and tenants as integer ids (schema 7). Tenants get a 2-byte ref in
//! `d365audit.tenants`, which the record-bearing rows and keys hold instead of the 16-byte
//! tenant id. Users, workloads, operations, organizations,
//! entity names, messages, client IPs, primary values, result statuses and (ASCII-folded) field
//! names are stored once in `d365audit.names`, and the record rows, field values and report
//! counts hold their 4-byte id (the `_ref` columns).
//!
//! Names are unique by SHA-256 digest (a B-tree entry holds at most about 2.7 KB, a text may be
//! longer), and every lookup compares the text itself too: a text whose digest another text
//! already holds gets no id, and its batch fails saying so, rather than taking the other's id.
//!
//! A name's id never changes and names are never deleted, so a handle caches both directions
//! ([`Names`]). Ingest gives a batch's new names their ids in a short statement of their own,
//! before the batch's transaction (a name whose batch then fails just stays unused), so the
//! cache only ever holds committed ids. Queries find the ids of the (folded) texts they filter
//! on first ([`Names::folded_ids`]), and read the texts of the ids in their rows from the cache.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use archive::ArchiveError;
use deadpool_postgres::ClientWrapper;
use rustc_hash::FxHashMap;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::failure::failed;
use crate::plan::fold;

/// Cached names a handle keeps at most; past that the cache starts again (the ids stay valid).
const CACHE_LIMIT: usize = 1 << 20;

/// A handle's cache of names and their ids.
#[derive(Debug, Default)]
pub(crate) struct Names {
    inner: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    ids: HashMap<Arc<str>, i32>,
    names: HashMap<i32, Arc<str>>,
    tenants: HashMap<Uuid, i16>,
}

impl Cache {
    fn insert(&mut self, id: i32, name: &str) {
        if self.ids.len() >= CACHE_LIMIT {
            self.ids.clear();
            self.names.clear();
        }
        let name: Arc<str> = Arc::from(name);
        self.ids.insert(name.clone(), id);
        self.names.insert(id, name);
    }
}

// Both insert only what is not stored yet: an `ON CONFLICT` insert takes its row's id from the
// sequence before it finds the conflict, and every handle starts with an empty cache, so each
// process start would use up one of the 32,767 tenant refs per tenant. `ON CONFLICT` stays for
// two handles adding the same text at once (the loser's id is the only one lost).
const ADD_NAMES: &str = "INSERT INTO d365audit.names (name) \
    SELECT n FROM unnest($1::text[]) n \
    WHERE NOT EXISTS (SELECT 1 FROM d365audit.names x \
        WHERE d365audit.name_digest(x.name) = d365audit.name_digest(n)) \
    ORDER BY d365audit.name_digest(n) \
    ON CONFLICT ((d365audit.name_digest(name))) DO NOTHING";

const ADD_TENANTS: &str = "INSERT INTO d365audit.tenants (tenant_id) \
    SELECT t FROM unnest($1::uuid[]) t \
    WHERE NOT EXISTS (SELECT 1 FROM d365audit.tenants x WHERE x.tenant_id = t) \
    ORDER BY t ON CONFLICT DO NOTHING";

const TENANT_REFS: &str =
    "SELECT tenant_id, tenant_ref FROM d365audit.tenants WHERE tenant_id = ANY ($1::uuid[])";

/// The names whose digests `$1`'s texts have (the caller compares the texts).
const IDS_OF: &str = "SELECT id, name FROM d365audit.names \
    WHERE d365audit.name_digest(name) = \
        ANY (ARRAY(SELECT d365audit.name_digest(n) FROM unnest($1::text[]) n))";

const NAMES_OF: &str = "SELECT id, name FROM d365audit.names WHERE id = ANY ($1::integer[])";

/// Stores the values of `missing` not stored yet (`add`, autocommitted), then reads the ids of
/// all of them back (`read`): how names and tenants both get their ids.
async fn add_then_read(
    client: &ClientWrapper,
    add: &str,
    read: &str,
    missing: &(dyn ToSql + Sync),
    doing: &'static str,
) -> Result<Vec<Row>, ArchiveError> {
    let fail = failed(doing);
    let statement = client.prepare_cached(add).await.map_err(&fail)?;
    client.execute(&statement, &[missing]).await.map_err(&fail)?;
    let statement = client.prepare_cached(read).await.map_err(&fail)?;
    client.query(&statement, &[missing]).await.map_err(&fail)
}

impl Names {
    /// The ids of `wanted`, giving the names not stored yet their ids first (autocommitted, in
    /// digest order, so that replicas adding the same names wait for each other, never in a
    /// cycle).
    pub(crate) async fn ids<'a>(
        &self,
        client: &ClientWrapper,
        wanted: impl IntoIterator<Item = &'a str>,
    ) -> Result<FxHashMap<String, i32>, ArchiveError> {
        let mut found = FxHashMap::default();
        let mut missing: Vec<&str> = Vec::new();
        {
            let cache = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            for name in wanted {
                if found.contains_key(name) {
                    continue;
                }
                match cache.ids.get(name) {
                    Some(id) => {
                        found.insert(name.to_string(), *id);
                    }
                    None => missing.push(name),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        missing.sort_unstable();
        missing.dedup();
        let rows = add_then_read(client, ADD_NAMES, IDS_OF, &missing, "storing names").await?;
        let mut cache = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        for row in rows {
            let (id, name): (i32, String) = (row.get(0), row.get(1));
            cache.insert(id, &name);
            found.insert(name, id);
        }
        if let Some(lost) = missing.iter().find(|name| !found.contains_key(**name)) {
            // Another text with the same digest holds it (or the insert failed silently).
            return Err(ArchiveError::Storage {
                doing: "storing names".into(),
                message: format!(
                    "the text `{}` has no id in d365audit.names after being stored (another \
                     text with the same SHA-256 digest?)",
                    lost.chars().take(200).collect::<String>()
                ),
            });
        }
        Ok(found)
    }

    /// The refs of `tenants`, giving the tenants not stored yet their refs first (like
    /// [`Names::ids`]).
    pub(crate) async fn tenant_refs(
        &self,
        client: &ClientWrapper,
        tenants: impl IntoIterator<Item = Uuid>,
    ) -> Result<HashMap<Uuid, i16>, ArchiveError> {
        let mut found = HashMap::new();
        let mut missing: Vec<Uuid> = Vec::new();
        {
            let cache = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            for tenant in tenants {
                match cache.tenants.get(&tenant) {
                    Some(tenant_ref) => {
                        found.insert(tenant, *tenant_ref);
                    }
                    None => missing.push(tenant),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        missing.sort_unstable();
        missing.dedup();
        let rows =
            add_then_read(client, ADD_TENANTS, TENANT_REFS, &missing, "storing tenants").await?;
        let mut cache = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        for row in rows {
            let (tenant, tenant_ref): (Uuid, i16) = (row.get(0), row.get(1));
            cache.tenants.insert(tenant, tenant_ref);
            found.insert(tenant, tenant_ref);
        }
        if let Some(lost) = missing.iter().find(|tenant| !found.contains_key(*tenant)) {
            return Err(ArchiveError::Storage {
                doing: "storing tenants".into(),
                message: format!("the tenant {lost} has no ref after being stored"),
            });
        }
        Ok(found)
    }

    /// The texts of `ids` (ids 0 and below, "no value", are left out).
    pub(crate) async fn texts(
        &self,
        client: &ClientWrapper,
        ids: impl IntoIterator<Item = i32>,
    ) -> Result<HashMap<i32, Arc<str>>, ArchiveError> {
        let mut found = HashMap::new();
        let mut missing: Vec<i32> = Vec::new();
        {
            let cache = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            for id in ids.into_iter().filter(|id| *id > 0) {
                if found.contains_key(&id) {
                    continue;
                }
                match cache.names.get(&id) {
                    Some(name) => {
                        found.insert(id, name.clone());
                    }
                    None => missing.push(id),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        missing.sort_unstable();
        missing.dedup();
        let fail = failed("reading names");
        let statement = client.prepare_cached(NAMES_OF).await.map_err(&fail)?;
        let rows = client.query(&statement, &[&missing]).await.map_err(&fail)?;
        let mut cache = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        for row in rows {
            let (id, name): (i32, String) = (row.get(0), row.get(1));
            cache.insert(id, &name);
            found.insert(id, Arc::from(name.as_str()));
        }
        Ok(found)
    }
}

/// The ids of the names whose ASCII-folded text is one of `folded` (already folded): each
/// folded text with the ids of every spelling stored.
pub(crate) async fn folded_ids(
    client: &ClientWrapper,
    folded: &[String],
) -> Result<HashMap<String, Vec<i32>>, ArchiveError> {
    let mut out: HashMap<String, Vec<i32>> = HashMap::new();
    if folded.is_empty() {
        return Ok(out);
    }
    let wanted: Vec<&String> = folded.iter().collect::<HashSet<_>>().into_iter().collect();
    let fail = failed("looking up names");
    let sql = format!(
        "SELECT id, {name} FROM d365audit.names \
         WHERE hashtextextended({name}, 0) = \
             ANY (ARRAY(SELECT hashtextextended(t, 0) FROM unnest($1::text[]) t)) \
           AND {name} = ANY ($1::text[]) ORDER BY id",
        name = fold("name")
    );
    let statement = client.prepare_cached(&sql).await.map_err(&fail)?;
    for row in client.query(&statement, &[&wanted]).await.map_err(&fail)? {
        out.entry(row.get(1)).or_default().push(row.get(0));
    }
    Ok(out)
}

/// The ids of the names whose exact text is `name`.
pub(crate) async fn exact_ids(
    client: &ClientWrapper,
    name: &str,
) -> Result<Vec<i32>, ArchiveError> {
    let fail = failed("looking up names");
    let statement = client
        .prepare_cached(
            "SELECT id FROM d365audit.names \
             WHERE d365audit.name_digest(name) = d365audit.name_digest($1) AND name = $1",
        )
        .await
        .map_err(&fail)?;
    Ok(client.query(&statement, &[&name]).await.map_err(&fail)?.iter().map(|r| r.get(0)).collect())
}

/// The ids of the names whose ASCII-folded text contains `folded`.
pub(crate) async fn containing_ids(
    client: &ClientWrapper,
    folded: &str,
) -> Result<Vec<i32>, ArchiveError> {
    let fail = failed("looking up names");
    let sql = format!("SELECT id FROM d365audit.names WHERE strpos({}, $1) > 0", fold("name"));
    let statement = client.prepare_cached(&sql).await.map_err(&fail)?;
    Ok(client
        .query(&statement, &[&folded])
        .await
        .map_err(&fail)?
        .iter()
        .map(|r| r.get(0))
        .collect())
}
