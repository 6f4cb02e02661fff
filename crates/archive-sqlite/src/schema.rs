//! The archive's SQLite schema and its versioned migrations, applied when an archive is opened.
//!
//! The schema version lives in `PRAGMA user_version` and the file is marked as a d365audit
//! archive with `PRAGMA application_id`, so that another program's SQLite file is refused rather
//! than altered. Migrations only ever move forward; an archive written by a newer program is
//! refused with a message that says to upgrade.
//!
//! Layout, narrow where it is scanned and compressed where it is kept:
//! - `activity`: one row per record, every repeated string as an integer id into `names`,
//!   Dataverse row ids as integer ids into `guids` (16-byte BLOBs), other GUIDs as 16-byte
//!   BLOBs, times as integer microseconds (UTC). `seq` (the rowid) is the insertion order and the
//!   tie-breaker of every timeline.
//! - `raw`: the verbatim bytes, zstd-compressed (with a dictionary trained on the archive's own
//!   first records once one exists), their length and BLAKE3 hash; same `seq` as `activity`.
//! - `record_keys` (`Id` -> `seq`: dedupe and lookup), `timeline` (a Dataverse row's events:
//!   `listed` 0 = the event is about the row, 1 = a result set listed it) and `fields` (field
//!   values): WITHOUT ROWID tables keyed by random values (after the run they belong to), each
//!   in two levels (see below).
//! - `seals`: one row per committed batch (the hash chain), with the `seq` range it covers.
//! - `variants`: records whose `Id` was already stored with different bytes, kept verbatim.
//! - `quarantine`, `cursors`, `dictionaries`, `totals`.
//! - Version 2: the blob queue (`blobs`, `blob_counts`; see the `queue` module) and the access
//!   store (`accounts`, `sessions`, `api_tokens`, `access_log`; see the `access` module).
//! - Version 3: Dataverse audit changes (`changes`, `change_fields`; see the `changes` module)
//!   and their count in `totals`.
//! - Version 4: index runs (`index_runs`, see below) and the per-day counts reports read
//!   (`daily_counts`, `hourly_counts`).
//! - Version 5: record keys in runs with Bloom filters (`key_runs`; see the `key_runs` module).
//!
//! Two-level indexes. An index keyed by a random value (a GUID, a field value) costs one page
//! write per insert once it outgrows the page cache, and the ingest rate collapses with the
//! archive's size. So new entries go to `*_staged` tables, small enough to stay cached, and the
//! writer moves them to the main level in one sorted pass when they grow. The main level is a
//! list of sorted *runs*: the key starts with the run, so a merge appends a new run at the end
//! of the B-tree and its cost does not grow with the archive. For `timeline` and `fields`
//! (version 4, `index_runs`) a query reads each run and the staged level and merges them in
//! order; these runs are not compacted (one per merge: 50 at 10M records, read in about a
//! millisecond). For `record_keys` (version 5, `key_runs`) a key is looked up only in the runs
//! whose Bloom filter may hold it, and runs of similar size are compacted into one. Moving
//! entries is one transaction, so a reader (whose query and run list come from one read
//! transaction) sees an entry exactly once.
//!
//! Indexes on `activity`, each for a question: `activity_time` (covering: time scans, filters on
//! the small columns and every aggregation read only the index) and `activity_user` (user
//! timelines). Both grow at their end (time) or at one end per user, so they stay cheap to
//! maintain. Correlation ids are not indexed: the parts of a split record share a correlation id
//! *and* lie within a minute of each other, so they are found through the time index; a
//! correlation filter without a time range scans the table.

use rusqlite::Connection;

/// `PRAGMA application_id` of a d365audit archive ("d365" in ASCII).
pub(crate) const APPLICATION_ID: i32 = 0x6433_3635;

/// The schema version this program writes and reads.
pub(crate) const SCHEMA_VERSION: i32 = 5;

/// Kinds of strings in the `names` dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum NameKind {
    Workload = 1,
    Operation = 2,
    Tenant = 3,
    User = 4,
    Organization = 5,
    Entity = 6,
    Message = 7,
    ResultStatus = 8,
    Field = 9,
    // Kinds from 20 on grow with the archive and have no case-insensitive index.
    PrimaryValue = 20,
    ClientIp = 21,
}

impl NameKind {
    pub(crate) fn code(self) -> i64 {
        self as i64
    }

    /// Kinds with few distinct values, cached in full by the writer. The others (primary field
    /// values, client addresses) grow with the archive and are cached only up to a bound.
    pub(crate) fn is_small(self) -> bool {
        (self as i64) < 20
    }
}

/// Migration `i` moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

/// The staged levels of the two-level indexes, empty (also used to empty them after a merge).
pub(crate) const STAGED_TABLES_RESET: &str = r#"
DROP TABLE IF EXISTS record_keys_staged;
CREATE TABLE record_keys_staged (
    record_key BLOB PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
DROP TABLE IF EXISTS timeline_staged;
CREATE TABLE timeline_staged (
    entity_ref INTEGER NOT NULL,
    time INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    listed INTEGER NOT NULL,
    PRIMARY KEY (entity_ref, time, seq)
) WITHOUT ROWID;
DROP TABLE IF EXISTS fields_staged;
CREATE TABLE fields_staged (
    name INTEGER NOT NULL,
    value TEXT NOT NULL,
    time INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (name, value, time, seq)
) WITHOUT ROWID;
"#;

const V1: &str = r#"
CREATE TABLE names (
    id INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    value TEXT NOT NULL
);
CREATE UNIQUE INDEX names_value ON names(kind, value);
CREATE INDEX names_nocase ON names(kind, value COLLATE NOCASE) WHERE kind < 20;

CREATE TABLE guids (
    id INTEGER PRIMARY KEY,
    guid BLOB NOT NULL
);
CREATE UNIQUE INDEX guids_guid ON guids(guid);

CREATE TABLE system_users (
    id INTEGER PRIMARY KEY,
    guid BLOB NOT NULL,
    user INTEGER NOT NULL
);
CREATE UNIQUE INDEX system_users_guid ON system_users(guid, user);

CREATE TABLE activity (
    seq INTEGER PRIMARY KEY,
    record_key BLOB NOT NULL,
    time INTEGER NOT NULL,
    record_type INTEGER NOT NULL,
    workload INTEGER NOT NULL,
    operation INTEGER NOT NULL,
    tenant INTEGER,
    user INTEGER NOT NULL,
    system_user INTEGER,
    organization INTEGER,
    entity INTEGER,
    entity_ref INTEGER,
    message INTEGER,
    access INTEGER NOT NULL,
    categories INTEGER NOT NULL,
    client_ip INTEGER,
    primary_value INTEGER,
    correlation_id BLOB,
    result_status INTEGER
);
CREATE INDEX activity_time
    ON activity(time, seq, workload, user, organization, entity, message, access, categories);
CREATE INDEX activity_user ON activity(user, time);

CREATE TABLE raw (
    seq INTEGER PRIMARY KEY,
    dictionary INTEGER,
    raw_len INTEGER NOT NULL,
    hash BLOB NOT NULL,
    bytes BLOB NOT NULL
);

CREATE TABLE record_keys (
    record_key BLOB PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE timeline (
    entity_ref INTEGER NOT NULL,
    time INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    listed INTEGER NOT NULL,
    PRIMARY KEY (entity_ref, time, seq)
) WITHOUT ROWID;
CREATE TABLE fields (
    name INTEGER NOT NULL,
    value TEXT NOT NULL,
    time INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (name, value, time, seq)
) WITHOUT ROWID;
CREATE TABLE seals (
    seq INTEGER PRIMARY KEY,
    scheme INTEGER NOT NULL,
    committed_at INTEGER NOT NULL,
    record_count INTEGER NOT NULL,
    digest BLOB NOT NULL,
    link BLOB NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
);
CREATE INDEX seals_first ON seals(first_seq);

CREATE TABLE variants (
    id INTEGER PRIMARY KEY,
    record_key BLOB NOT NULL,
    first_seq INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    hash BLOB NOT NULL,
    dictionary INTEGER,
    raw_len INTEGER NOT NULL,
    bytes BLOB NOT NULL
);
CREATE UNIQUE INDEX variants_hash ON variants(record_key, hash);

CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw BLOB NOT NULL
);

CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE dictionaries (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    sample_count INTEGER NOT NULL,
    bytes BLOB NOT NULL
);

CREATE TABLE totals (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    records INTEGER NOT NULL,
    raw_bytes INTEGER NOT NULL,
    quarantined INTEGER NOT NULL,
    variants INTEGER NOT NULL,
    staged INTEGER NOT NULL
);
INSERT INTO totals (id, records, raw_bytes, quarantined, variants, staged)
    VALUES (1, 0, 0, 0, 0, 0);
"#;

/// The blob queue and the access store.
const V2: &str = r#"
CREATE TABLE blobs (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content_id TEXT NOT NULL,
    content_uri TEXT NOT NULL,
    content_created INTEGER NOT NULL,
    content_expiration INTEGER NOT NULL,
    -- 'poll' (with the listing window's start) or 'webhook'.
    discovery TEXT NOT NULL,
    window_start INTEGER,
    announced_at INTEGER NOT NULL,
    -- pending, leased, done, expired, quarantined, failed
    state TEXT NOT NULL,
    -- Settled attempts (done, retry, gap); a lease that ran out is none.
    attempts INTEGER NOT NULL DEFAULT 0,
    -- A pending blob is due from then; NULL: at once.
    next_attempt INTEGER,
    lease_token TEXT,
    leased_until INTEGER,
    -- The last failure; cleared when the blob is done.
    last_error TEXT,
    -- Records the blob stored for the first time, and records it held out of scope.
    records INTEGER NOT NULL DEFAULT 0,
    out_of_scope INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX blobs_key ON blobs(tenant_id, content_id);
CREATE INDEX blobs_waiting ON blobs(content_created, state, next_attempt, leased_until)
    WHERE state IN ('pending', 'leased');
CREATE INDEX blobs_backlog ON blobs(tenant_id, content_type, content_created)
    WHERE state IN ('pending', 'leased');
CREATE INDEX blobs_gaps ON blobs(updated_at)
    WHERE state IN ('expired', 'quarantined', 'failed');
CREATE INDEX blobs_errors ON blobs(tenant_id, content_type, updated_at)
    WHERE last_error IS NOT NULL;

CREATE TABLE blob_counts (
    tenant_id TEXT NOT NULL,
    content_type TEXT NOT NULL,
    state TEXT NOT NULL,
    blobs INTEGER NOT NULL,
    records INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, content_type, state)
) WITHOUT ROWID;
CREATE TRIGGER blobs_counted_insert AFTER INSERT ON blobs BEGIN
    INSERT INTO blob_counts (tenant_id, content_type, state, blobs, records)
        VALUES (new.tenant_id, new.content_type, new.state, 1, new.records)
        ON CONFLICT (tenant_id, content_type, state)
        DO UPDATE SET blobs = blobs + 1, records = records + excluded.records;
END;
CREATE TRIGGER blobs_counted_update AFTER UPDATE OF tenant_id, content_type, state, records
    ON blobs
    WHEN old.state IS NOT new.state OR old.records IS NOT new.records
        OR old.tenant_id IS NOT new.tenant_id OR old.content_type IS NOT new.content_type
BEGIN
    UPDATE blob_counts SET blobs = blobs - 1, records = records - old.records
        WHERE tenant_id = old.tenant_id AND content_type = old.content_type
        AND state = old.state;
    INSERT INTO blob_counts (tenant_id, content_type, state, blobs, records)
        VALUES (new.tenant_id, new.content_type, new.state, 1, new.records)
        ON CONFLICT (tenant_id, content_type, state)
        DO UPDATE SET blobs = blobs + 1, records = records + excluded.records;
END;
CREATE TRIGGER blobs_counted_delete AFTER DELETE ON blobs BEGIN
    UPDATE blob_counts SET blobs = blobs - 1, records = records - old.records
        WHERE tenant_id = old.tenant_id AND content_type = old.content_type
        AND state = old.state;
END;

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    -- The trimmed username in lower case: what makes it unique.
    username_folded TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX accounts_username ON accounts(username_folded);

CREATE TABLE sessions (
    digest BLOB PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    csrf_digest BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_account ON sessions(account_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    digest BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    last_used_at INTEGER,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX api_tokens_digest ON api_tokens(digest);
CREATE INDEX api_tokens_account ON api_tokens(account_id);

CREATE TABLE access_log (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    username TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    rows INTEGER,
    client_ip TEXT,
    channel TEXT NOT NULL
);
CREATE INDEX access_log_at ON access_log(at);
"#;

/// Dataverse audit changes (`archive::ChangeStore`).
///
/// `changes`: one row per `auditid` (a 16-byte BLOB, unique: the dedupe), GUIDs as 16-byte
/// BLOBs, times as integer microseconds, the decoded detail, attribute mask and source as JSON
/// text (readable in the SQL console), and the verbatim row and detail zstd-compressed like
/// records' bytes (`dictionary`: the record dictionary they were compressed with, if any) with
/// their lengths and the BLAKE3 hash of both. Indexes: a record's history
/// (`object_id, created_on, audit_id`), a user's changes (`user_id, created_on, audit_id`), and
/// `created_on` for the earliest and latest. `change_fields`: the lower-case names of the
/// columns each change's detail names, keyed by the record first, so that a record's history of
/// one column is a range of this table.
const V3: &str = r#"
CREATE TABLE changes (
    id INTEGER PRIMARY KEY,
    audit_id BLOB NOT NULL,
    created_on INTEGER NOT NULL,
    action INTEGER NOT NULL,
    operation INTEGER NOT NULL,
    table_name TEXT NOT NULL,
    object_id BLOB,
    object_name TEXT,
    user_id BLOB,
    user_name TEXT,
    calling_user_id BLOB,
    transaction_id BLOB,
    attribute_mask TEXT NOT NULL,
    source TEXT NOT NULL,
    detail TEXT NOT NULL,
    ingested_at INTEGER NOT NULL,
    hash BLOB NOT NULL,
    dictionary INTEGER,
    row_len INTEGER NOT NULL,
    row_bytes BLOB NOT NULL,
    detail_len INTEGER,
    detail_bytes BLOB
);
CREATE UNIQUE INDEX changes_audit_id ON changes(audit_id);
CREATE INDEX changes_object ON changes(object_id, created_on, audit_id)
    WHERE object_id IS NOT NULL;
CREATE INDEX changes_user ON changes(user_id, created_on, audit_id) WHERE user_id IS NOT NULL;
CREATE INDEX changes_created ON changes(created_on);

CREATE TABLE change_fields (
    object_id BLOB NOT NULL,
    field TEXT NOT NULL,
    change INTEGER NOT NULL,
    PRIMARY KEY (object_id, field, change)
) WITHOUT ROWID;

ALTER TABLE totals ADD COLUMN changes INTEGER NOT NULL DEFAULT 0;
"#;

/// Version 4.
///
/// Index runs: the main levels of `timeline` and `fields` become sorted runs, one per merge of
/// the staged entries, keyed by the run first. A merge then appends at the end of each B-tree
/// (every page written once) instead of inserting into the middle of an index that grows with
/// the archive; queries read each run (see `index_runs`). The entries of an older archive become
/// run 0.
///
/// Report counts: `daily_counts` holds the number of records per UTC day and combination of the
/// dimensions reports filter and group by (0 where a record has no value), `hourly_counts` per
/// UTC day, hour and organization. The writer adds each batch's counts in the batch's
/// transaction, so that a report over whole days reads a few thousand rows per day instead of
/// every record. An older archive's counts are computed once, here.
const V4: &str = r#"
CREATE TABLE index_runs (
    run INTEGER PRIMARY KEY,
    -- The records whose entries the run holds: seq first_seq ..= last_seq.
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    records INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO index_runs (run, first_seq, last_seq, records, created_at)
    SELECT 0, 0, coalesce((SELECT max(seq) FROM activity), 0), (SELECT count(*) FROM activity), 0
    WHERE EXISTS (SELECT 1 FROM timeline) OR EXISTS (SELECT 1 FROM fields);

CREATE TABLE timeline_v4 (
    run INTEGER NOT NULL,
    entity_ref INTEGER NOT NULL,
    time INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    listed INTEGER NOT NULL,
    PRIMARY KEY (run, entity_ref, time, seq)
) WITHOUT ROWID;
INSERT INTO timeline_v4 (run, entity_ref, time, seq, listed)
    SELECT 0, entity_ref, time, seq, listed FROM timeline ORDER BY entity_ref, time, seq;
DROP TABLE timeline;
ALTER TABLE timeline_v4 RENAME TO timeline;

CREATE TABLE fields_v4 (
    run INTEGER NOT NULL,
    name INTEGER NOT NULL,
    value TEXT NOT NULL,
    time INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (run, name, value, time, seq)
) WITHOUT ROWID;
INSERT INTO fields_v4 (run, name, value, time, seq)
    SELECT 0, name, value, time, seq FROM fields ORDER BY name, value, time, seq;
DROP TABLE fields;
ALTER TABLE fields_v4 RENAME TO fields;

CREATE TABLE daily_counts (
    day INTEGER NOT NULL,
    organization INTEGER NOT NULL,
    user INTEGER NOT NULL,
    entity INTEGER NOT NULL,
    message INTEGER NOT NULL,
    access INTEGER NOT NULL,
    categories INTEGER NOT NULL,
    workload INTEGER NOT NULL,
    records INTEGER NOT NULL,
    PRIMARY KEY (day, organization, user, entity, message, access, categories, workload)
) WITHOUT ROWID;
INSERT INTO daily_counts
    SELECT time / 86400000000, coalesce(organization, 0), user, coalesce(entity, 0),
        coalesce(message, 0), access, categories, workload, count(*)
    FROM activity GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

CREATE TABLE hourly_counts (
    day INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    organization INTEGER NOT NULL,
    records INTEGER NOT NULL,
    PRIMARY KEY (day, hour, organization)
) WITHOUT ROWID;
INSERT INTO hourly_counts
    SELECT time / 86400000000, (time / 3600000000) % 24, coalesce(organization, 0), count(*)
    FROM activity GROUP BY 1, 2, 3;
"#;

/// Version 5.
///
/// Record keys in runs (see the `key_runs` module): `record_keys` is keyed by (run, `Id`), so a
/// merge appends the staged keys at the end of the B-tree instead of inserting them among every
/// key stored before; `key_runs` lists the runs with their size and Bloom filter. The keys of an
/// older archive become run 0, whose filter `migrate` builds right after this SQL, in the same
/// transaction.
const V5: &str = r#"
CREATE TABLE key_runs (
    run INTEGER PRIMARY KEY,
    keys INTEGER NOT NULL,
    -- NULL, or of an unknown format: the run is searched for every key.
    filter BLOB
);
CREATE TABLE record_keys_v5 (
    run INTEGER NOT NULL,
    record_key BLOB NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (run, record_key)
) WITHOUT ROWID;
INSERT INTO record_keys_v5 (run, record_key, seq)
    SELECT 0, record_key, seq FROM record_keys ORDER BY record_key;
INSERT INTO key_runs (run, keys, filter)
    SELECT 0, count(*), NULL FROM record_keys HAVING count(*) > 0;
DROP TABLE record_keys;
ALTER TABLE record_keys_v5 RENAME TO record_keys;
"#;

/// Why a file cannot be used as an archive.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SchemaError {
    #[error(
        "the archive was written by a newer d365audit (schema version {found}, this program \
         knows up to {known}); upgrade d365audit to open it"
    )]
    Newer { found: i32, known: i32 },
    #[error(
        "the archive has schema version {found} and this program needs {known}; open it once \
         read-write (for example with the collector) to upgrade it, then retry"
    )]
    NeedsUpgrade { found: i32, known: i32 },
    #[error(
        "the file is a SQLite database but not a d365audit archive (application id {0:#x}); \
         choose another path"
    )]
    Foreign(i32),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

fn application_id(conn: &Connection) -> rusqlite::Result<i32> {
    conn.query_row("PRAGMA application_id", [], |row| row.get(0))
}

fn user_version(conn: &Connection) -> rusqlite::Result<i32> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Checks that `conn` is a d365audit archive this program can read, without changing it.
pub(crate) fn check_readable(conn: &Connection) -> Result<(), SchemaError> {
    let id = application_id(conn)?;
    if id != APPLICATION_ID {
        return Err(SchemaError::Foreign(id));
    }
    let found = user_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(SchemaError::Newer { found, known: SCHEMA_VERSION });
    }
    if found < SCHEMA_VERSION {
        return Err(SchemaError::NeedsUpgrade { found, known: SCHEMA_VERSION });
    }
    Ok(())
}

/// Creates the schema in an empty file or brings an older archive up to date, in one
/// transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), SchemaError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let id = application_id(&tx)?;
    let found = user_version(&tx)?;
    if id == 0 {
        let tables: i64 = tx.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        if tables > 0 {
            return Err(SchemaError::Foreign(id));
        }
    } else if id != APPLICATION_ID {
        return Err(SchemaError::Foreign(id));
    }
    if found > SCHEMA_VERSION {
        return Err(SchemaError::Newer { found, known: SCHEMA_VERSION });
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(sql)?;
        if from == 0 {
            tx.execute_batch(STAGED_TABLES_RESET)?;
        }
        if from == 4 {
            crate::key_runs::build_missing_filters(&tx)?;
        }
        tracing::info!(from_version = from, to_version = from + 1, "archive schema migrated");
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}
