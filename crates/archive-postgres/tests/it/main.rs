//! Integration tests of the PostgreSQL archive against a real server: the shared behaviour
//! suites (records; blob queue, access store and SQL console), tampering that verification must
//! name, replicas ingesting and sharing the blob queue at once, the SQL console's defences,
//! monthly partitions, migrations and connection handling, and Dataverse audit changes.
//!
//! The server comes from `D365AUDIT_TEST_POSTGRES` (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`, a user allowed to create databases). Each
//! test creates its own database with a random name and drops it at the end, also when the test
//! fails. Without the variable every test prints that it is skipped and passes.

mod changes;
mod compression;
mod concurrency;
mod connections;
mod console;
mod migrations;
mod names;
mod partitions;
mod queue;
mod suite;
mod suite_ops;
mod tampering;

use std::sync::Arc;

use archive::{Archive, IncomingRecord, IngestBatch};
use archive_postgres::{PostgresArchive, PostgresOptions};
use chrono::{DateTime, TimeZone, Utc};

/// The test server's URL, or `None` (after saying so) when tests should be skipped.
fn server() -> Option<String> {
    match std::env::var("D365AUDIT_TEST_POSTGRES") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_string()),
        _ => {
            eprintln!(
                "skipping PostgreSQL tests: set \
                 D365AUDIT_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres"
            );
            None
        }
    }
}

/// A database created for one test, dropped (with its connections) when this value is dropped,
/// including while a failed test unwinds.
struct TestDatabase {
    server: String,
    name: String,
    /// The URL of this database.
    url: String,
}

impl TestDatabase {
    async fn create(server: &str) -> TestDatabase {
        let name = format!("d365audit_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin(server).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        TestDatabase { server: server.to_string(), url: with_database(server, &name), name }
    }

    /// A plain connection to this database, for looking behind the archive's back.
    async fn connect(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        client
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop may run inside a runtime (or while unwinding): use a thread with its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let admin = admin(&server).await;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .map_err(std::io::Error::other)
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

async fn admin(server: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls)
        .await
        .expect("D365AUDIT_TEST_POSTGRES names a reachable server");
    tokio::spawn(connection);
    client
}

/// `server` with its database replaced by `name` (URL or key=value form).
fn with_database(server: &str, name: &str) -> String {
    if !server.starts_with("postgres://") && !server.starts_with("postgresql://") {
        return format!("{server} dbname={name}");
    }
    let (base, query) = server.split_once('?').map_or((server, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    match query {
        Some(query) => format!("{}/{name}?{query}", &base[..path]),
        None => format!("{}/{name}", &base[..path]),
    }
}

/// A clock frozen at a known instant, so seals are reproducible.
fn clock() -> Arc<dyn clock::Clock> {
    Arc::new(clock::ManualClock::frozen_at(
        Utc.with_ymd_and_hms(2026, 6, 10, 12, 0, 0).single().unwrap_or_default(),
    ))
}

async fn open(db: &TestDatabase) -> PostgresArchive {
    PostgresArchive::connect(&db.url, clock()).await.expect("archive connects")
}

async fn open_with(db: &TestDatabase, options: PostgresOptions) -> PostgresArchive {
    PostgresArchive::connect_with(&db.url, clock(), options).await.expect("archive connects")
}

fn record_id(n: u32) -> String {
    format!("{n:08x}-2222-4333-8444-{n:012x}")
}

/// A realistic CRM record numbered `n`.
fn crm_json(n: u32, time: DateTime<Utc>, user: &str, entity_id: &str, listed: &[&str]) -> Vec<u8> {
    let results =
        if listed.is_empty() { "null".to_string() } else { format!("\"{}\"", listed.join(", ")) };
    format!(
        r#"{{"CreationTime":"{time}","Id":"{id}","Operation":"CrmDefaultActivity","OrganizationId":"41463f53-8812-40f4-890f-865bf6e35190","RecordType":21,"ResultStatus":"Success","UserKey":"10037FFE91510806","UserType":0,"Version":1,"Workload":"CRM","ClientIP":"203.0.113.{ip}","ObjectId":"https://contoso.crm4.dynamics.com/main.aspx?etn=account&pagetype=entityrecord&id={entity_id}","UserId":"{user}","CrmOrganizationUniqueName":"org1a2b3c4d","Fields":[{{"Name":"name","Value":"Account {n}"}}],"InstanceUrl":"https://contoso.crm4.dynamics.com/","ItemType":"account","EntityId":"{entity_id}","EntityName":"account","Message":"{message}","QueryResults":{results},"PrimaryFieldValue":"Account {n}","SystemUserId":"0a1b2c3d-4e5f-4a7b-8c9d-{n:012x}","UserUpn":"{user}"}}"#,
        id = record_id(n),
        time = time.format("%Y-%m-%dT%H:%M:%S"),
        ip = n % 250,
        message = if listed.is_empty() { "Retrieve" } else { "RetrieveMultiple" },
    )
    .into_bytes()
}

fn batch(raws: &[Vec<u8>]) -> IngestBatch {
    IngestBatch {
        records: raws
            .iter()
            .map(|raw| IncomingRecord {
                raw: raw.clone(),
                record: record::parse_record(raw).expect("test record parses"),
            })
            .collect(),
        ..IngestBatch::default()
    }
}

/// Takes a database of the current schema back to before migration 8: system user ids in the
/// records' rows, schema 7's indexes on the time, the user and the field values and its GIN
/// index, record keys with their seq, report counts with full pages (and a view of the records
/// that needs the same columns as schema 7's).
const BEFORE_HOUR_INDEXES: &str = "\
    DROP VIEW d365audit.records_named; \
    ALTER TABLE d365audit.records ADD COLUMN system_user_id uuid; \
    UPDATE d365audit.records r SET system_user_id = n.name::uuid FROM d365audit.names n \
        WHERE n.id = r.system_user_ref; \
    ALTER TABLE d365audit.records DROP COLUMN system_user_ref; \
    CREATE VIEW d365audit.records_named AS SELECT t.tenant_id, r.event_time, r.seq, \
        r.record_type::integer & 65535 AS record_type, r.system_user_id \
        FROM d365audit.records r LEFT JOIN d365audit.tenants t ON t.tenant_ref = r.tenant_ref; \
    DROP INDEX d365audit.records_time, d365audit.records_user, d365audit.field_values_key, \
        d365audit.names_folded; \
    CREATE INDEX names_folded ON d365audit.names (d365audit.name_digest( \
        translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'))); \
    DROP FUNCTION d365audit.hour_of(timestamptz); \
    CREATE INDEX records_time ON d365audit.records (event_time, seq); \
    CREATE INDEX records_user ON d365audit.records (user_ref, event_time, seq); \
    CREATE INDEX field_values_key ON d365audit.field_values \
        (((name_ref::bigint << 32) | (hashtext(value)::bigint & 4294967295)), event_time, seq); \
    ALTER TABLE d365audit.record_keys ADD COLUMN seq bigint; \
    UPDATE d365audit.record_keys k SET seq = a.seq FROM d365audit.records a \
        WHERE a.tenant_ref = k.tenant_ref AND a.record_key = k.record_key; \
    ALTER TABLE d365audit.record_keys ALTER COLUMN seq SET NOT NULL; \
    ALTER TABLE d365audit.daily_counts RESET (fillfactor); \
    ALTER TABLE d365audit.hourly_counts RESET (fillfactor); \
    DROP INDEX d365audit.records_dataverse_rows; \
    CREATE INDEX records_dataverse_rows ON d365audit.records \
        USING gin ((array_append(listed, entity_id)));";

/// Takes a database of schema 7 back to before migration 7: tenant ids instead of
/// refs, names as text in `records`, `field_values` and the report counts (tables of schema 6's shape, in partitions of
/// the same bounds), the Id as text in `records`, schema 6's indexes, no `names`.
const BEFORE_NAMES: &str = "\
    DROP VIEW d365audit.records_named, d365audit.field_values_named; \
    DROP INDEX d365audit.records_time, d365audit.records_user, d365audit.records_seq, \
        d365audit.records_dataverse_rows, d365audit.field_values_key; \
    ALTER TABLE d365audit.record_keys ADD COLUMN tenant_id uuid; \
    UPDATE d365audit.record_keys k SET tenant_id = t.tenant_id FROM d365audit.tenants t \
        WHERE t.tenant_ref = k.tenant_ref; \
    ALTER TABLE d365audit.record_keys DROP CONSTRAINT record_keys_pkey; \
    ALTER TABLE d365audit.record_keys DROP COLUMN tenant_ref; \
    ALTER TABLE d365audit.record_keys ALTER COLUMN tenant_id SET NOT NULL; \
    ALTER TABLE d365audit.record_keys ADD PRIMARY KEY (record_key, tenant_id); \
    ALTER TABLE d365audit.record_blocks ADD COLUMN tenant_id uuid; \
    UPDATE d365audit.record_blocks b SET tenant_id = t.tenant_id FROM d365audit.tenants t \
        WHERE t.tenant_ref = b.tenant_ref; \
    ALTER TABLE d365audit.record_blocks DROP COLUMN tenant_ref; \
    ALTER TABLE d365audit.record_blocks ALTER COLUMN tenant_id SET NOT NULL; \
    ALTER TABLE d365audit.records RENAME TO records_7; \
    ALTER TABLE d365audit.field_values RENAME TO field_values_7; \
    CREATE TABLE d365audit.records (tenant_id uuid NOT NULL, event_time timestamptz NOT NULL, \
        seq bigint NOT NULL, record_id text COLLATE \"C\" NOT NULL, record_type integer NOT NULL, \
        workload text NOT NULL, operation text NOT NULL, user_name text COLLATE \"C\" NOT NULL, \
        system_user_id uuid, organization text, entity text, entity_id uuid, message text, \
        access smallint NOT NULL, categories integer NOT NULL, client_ip text, \
        primary_value text, correlation_id uuid, result_status text, listed uuid[]) \
        PARTITION BY RANGE (event_time); \
    CREATE TABLE d365audit.field_values (tenant_id uuid NOT NULL, name text COLLATE \"C\" NOT NULL, \
        value text NOT NULL, event_time timestamptz NOT NULL, seq bigint NOT NULL) \
        PARTITION BY RANGE (event_time); \
    DO $p$ DECLARE part record; BEGIN \
      FOR part IN SELECT c.relname, p.relname AS parent, pg_get_expr(c.relpartbound, c.oid) AS bound \
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent \
        WHERE i.inhparent IN ('d365audit.records_7'::regclass, 'd365audit.field_values_7'::regclass) LOOP \
        EXECUTE format('ALTER TABLE d365audit.%I RENAME TO %I', part.relname, part.relname || '_7'); \
        EXECUTE format('CREATE TABLE d365audit.%I PARTITION OF d365audit.%I %s', part.relname, \
          replace(part.parent, '_7', ''), part.bound); \
      END LOOP; END $p$; \
    INSERT INTO d365audit.records SELECT tt.tenant_id, r.event_time, r.seq, \
        CASE WHEN octet_length(r.record_key) = 16 THEN encode(r.record_key, 'hex')::uuid::text \
             WHEN octet_length(r.record_key) = 17 AND get_byte(r.record_key, 16) = 255 \
                THEN convert_from(substring(r.record_key FROM 1 FOR 16), 'UTF8') \
             ELSE convert_from(r.record_key, 'UTF8') END, \
        r.record_type, w.name, o.name, u.name, r.system_user_id, org.name, e.name, r.entity_id, \
        m.name, r.access, r.categories, ip.name, pv.name, r.correlation_id, rs.name, r.listed \
      FROM d365audit.records_7 r JOIN d365audit.tenants tt ON tt.tenant_ref = r.tenant_ref \
      JOIN d365audit.names u ON u.id = r.user_ref JOIN d365audit.names w ON w.id = r.workload_ref \
      JOIN d365audit.names o ON o.id = r.operation_ref \
      LEFT JOIN d365audit.names org ON org.id = r.organization_ref \
      LEFT JOIN d365audit.names e ON e.id = r.entity_ref \
      LEFT JOIN d365audit.names m ON m.id = r.message_ref \
      LEFT JOIN d365audit.names ip ON ip.id = r.client_ip_ref \
      LEFT JOIN d365audit.names pv ON pv.id = r.primary_value_ref \
      LEFT JOIN d365audit.names rs ON rs.id = r.result_status_ref; \
    INSERT INTO d365audit.field_values SELECT tt.tenant_id, n.name, f.value, f.event_time, f.seq \
      FROM d365audit.field_values_7 f JOIN d365audit.names n ON n.id = f.name_ref \
      JOIN d365audit.tenants tt ON tt.tenant_ref = f.tenant_ref; \
    DROP TABLE d365audit.records_7, d365audit.field_values_7; \
    ALTER TABLE d365audit.records ADD PRIMARY KEY (event_time, seq, tenant_id); \
    CREATE INDEX records_user ON d365audit.records (hashtextextended(translate(user_name, \
        'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), 0), event_time, seq); \
    CREATE INDEX records_entity ON d365audit.records (entity_id, event_time, seq) \
        WHERE entity_id IS NOT NULL; \
    CREATE INDEX records_seq ON d365audit.records (seq); \
    CREATE INDEX records_listed ON d365audit.records USING gin (listed); \
    CREATE INDEX field_values_value ON d365audit.field_values (hashtextextended(translate(name, \
        'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), 0), \
        hashtextextended(value, 0), event_time, seq); \
    ALTER TABLE d365audit.daily_counts RENAME TO daily_counts_7; \
    ALTER INDEX d365audit.daily_counts_pkey RENAME TO daily_counts_7_pkey; \
    CREATE TABLE d365audit.daily_counts (tenant_id uuid NOT NULL, day date NOT NULL, \
        organization text COLLATE \"C\" NOT NULL, user_name text COLLATE \"C\" NOT NULL, \
        entity text COLLATE \"C\" NOT NULL, message text COLLATE \"C\" NOT NULL, \
        access smallint NOT NULL, categories integer NOT NULL, workload text COLLATE \"C\" NOT NULL, \
        records bigint NOT NULL, PRIMARY KEY (tenant_id, day, organization, user_name, entity, \
        message, access, categories, workload)); \
    INSERT INTO d365audit.daily_counts SELECT tt.tenant_id, c.day, coalesce(org.name, ''), \
        u.name, coalesce(e.name, ''), coalesce(m.name, ''), c.access, c.categories, w.name, \
        c.records FROM d365audit.daily_counts_7 c \
      JOIN d365audit.tenants tt ON tt.tenant_ref = c.tenant_ref \
      JOIN d365audit.names u ON u.id = c.user_ref JOIN d365audit.names w ON w.id = c.workload_ref \
      LEFT JOIN d365audit.names org ON org.id = c.organization_ref \
      LEFT JOIN d365audit.names e ON e.id = c.entity_ref \
      LEFT JOIN d365audit.names m ON m.id = c.message_ref; \
    ALTER TABLE d365audit.hourly_counts RENAME TO hourly_counts_7; \
    ALTER INDEX d365audit.hourly_counts_pkey RENAME TO hourly_counts_7_pkey; \
    CREATE TABLE d365audit.hourly_counts (tenant_id uuid NOT NULL, day date NOT NULL, \
        hour integer NOT NULL, organization text COLLATE \"C\" NOT NULL, records bigint NOT NULL, \
        PRIMARY KEY (tenant_id, day, hour, organization)); \
    INSERT INTO d365audit.hourly_counts SELECT tt.tenant_id, c.day, c.hour, \
        coalesce(org.name, ''), c.records FROM d365audit.hourly_counts_7 c \
      JOIN d365audit.tenants tt ON tt.tenant_ref = c.tenant_ref \
      LEFT JOIN d365audit.names org ON org.id = c.organization_ref; \
    DROP TABLE d365audit.daily_counts_7, d365audit.hourly_counts_7, d365audit.names, \
        d365audit.tenants; \
    DROP FUNCTION d365audit.name_digest(text); \
    DELETE FROM d365audit.schema_migrations WHERE version >= 7;";

/// Takes a database of schema 6 back to before migration 6 once [`unpack_blocks`] has
/// made `record_bytes` again: Ids as text and hashes in `record_keys`, the user and field
/// indexes on text, the index on correlation ids, and the primary key of
/// `record_bytes`.
const BEFORE_COMPACT: &str = "\
    ALTER TABLE d365audit.record_keys RENAME COLUMN record_key TO record_id; \
    ALTER TABLE d365audit.record_keys ALTER COLUMN record_id TYPE text COLLATE \"C\" USING \
        CASE WHEN octet_length(record_id) = 16 THEN encode(record_id, 'hex')::uuid::text \
             WHEN octet_length(record_id) = 17 AND get_byte(record_id, 16) = 255 \
                THEN convert_from(substring(record_id FROM 1 FOR 16), 'UTF8') \
             ELSE convert_from(record_id, 'UTF8') END; \
    ALTER TABLE d365audit.record_keys ADD COLUMN hash bytea; \
    UPDATE d365audit.record_keys k SET hash = b.hash FROM d365audit.record_bytes b \
        WHERE b.seq = k.seq; \
    ALTER TABLE d365audit.record_keys ALTER COLUMN hash SET NOT NULL; \
    DROP INDEX d365audit.records_user; \
    CREATE INDEX records_user ON d365audit.records (translate(user_name, \
        'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), event_time, seq); \
    DROP INDEX d365audit.field_values_value; \
    CREATE INDEX field_values_value ON d365audit.field_values (translate(name, \
        'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), (md5(value)::uuid), \
        event_time, seq); \
    CREATE INDEX records_correlation ON d365audit.records (correlation_id) \
        WHERE correlation_id IS NOT NULL; \
    ALTER TABLE d365audit.record_bytes ADD PRIMARY KEY (seq, event_time, tenant_id); \
    DELETE FROM d365audit.schema_migrations WHERE version >= 6;";

/// Takes a database of schema 5 back to before migration 5: QueryResults memberships
/// as rows of `listed_records` (in a default partition), not arrays in the records' rows.
const BEFORE_LISTED_ARRAYS: &str = "\
    CREATE TABLE d365audit.listed_records (tenant_id uuid NOT NULL, entity_id uuid NOT NULL, \
        event_time timestamptz NOT NULL, seq bigint NOT NULL) PARTITION BY RANGE (event_time); \
    CREATE INDEX listed_records_entity ON d365audit.listed_records (entity_id, event_time, seq); \
    CREATE TABLE d365audit.listed_records_default PARTITION OF d365audit.listed_records DEFAULT; \
    INSERT INTO d365audit.listed_records \
        SELECT tenant_id, unnest(listed), event_time, seq FROM d365audit.records \
        WHERE listed IS NOT NULL; \
    DROP INDEX d365audit.records_listed; \
    ALTER TABLE d365audit.records DROP COLUMN listed; \
    DELETE FROM d365audit.schema_migrations WHERE version >= 5;";

/// A new database holding records 1 to 10, taken back to schema `version`: migration 7 undone,
/// migration 6 too below version 6 and migration 5 below version 5, then `drops` (the tables later migrations created). A
/// read-only handle must then refuse it and ask for the upgrade.
async fn downgraded(server: &str, version: i32, drops: &str) -> TestDatabase {
    let db = TestDatabase::create(server).await;
    let first = open(&db).await;
    first.ingest(batch(&records(1, 10))).await.expect("ingest");
    first.close();
    downgrade(&db, version, drops).await;
    db
}

/// Blocks as schema 7 wrote them: the whole 32-byte hash of each record instead of its first 8
/// bytes.
async fn widen_hashes(sql: &tokio_postgres::Client) {
    let blocks = sql
        .query("SELECT first_seq, raw_lens, bytes, dictionary FROM d365audit.record_blocks", &[])
        .await
        .expect("blocks");
    for block in blocks {
        assert_eq!(block.get::<_, Option<i32>>(3), None, "no dictionary in a test archive");
        let lens: Vec<i32> = block.get(1);
        let total = lens.iter().map(|l| *l as usize).sum();
        let raw = zstd::bulk::decompress(block.get::<_, &[u8]>(2), total).expect("decompress");
        let mut hashes = Vec::new();
        let mut start = 0;
        for len in &lens {
            let one = &raw[start..start + *len as usize];
            hashes.extend_from_slice(&archive::evidence::record_hash(one).0);
            start += *len as usize;
        }
        sql.execute(
            "UPDATE d365audit.record_blocks SET hashes = $2 WHERE first_seq = $1",
            &[&block.get::<_, i64>(0), &hashes],
        )
        .await
        .expect("whole hashes");
    }
}

/// Schema 5's `record_bytes` (one row per record, compressed alone, in partitions like the
/// blocks') made from schema 6's `record_blocks`, which it replaces. Test archives are too small
/// for a compression dictionary.
async fn unpack_blocks(sql: &tokio_postgres::Client) {
    sql.batch_execute(
        "CREATE TABLE d365audit.record_bytes (tenant_id uuid NOT NULL, \
           event_time timestamptz NOT NULL, seq bigint NOT NULL, dictionary integer, \
           raw_len integer NOT NULL, hash bytea NOT NULL, bytes bytea NOT NULL) \
           PARTITION BY RANGE (event_time); \
         DO $p$ DECLARE part record; BEGIN \
           FOR part IN SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound \
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'd365audit.record_blocks'::regclass LOOP \
             EXECUTE format('CREATE TABLE d365audit.%I PARTITION OF d365audit.record_bytes %s', \
               replace(part.relname, 'record_blocks', 'record_bytes'), part.bound); \
           END LOOP; END $p$;",
    )
    .await
    .expect("record_bytes");
    let blocks = sql
        .query(
            "SELECT first_seq, seq_offsets, raw_lens, bytes, dictionary \
             FROM d365audit.record_blocks",
            &[],
        )
        .await
        .expect("blocks");
    for block in blocks {
        assert_eq!(block.get::<_, Option<i32>>(4), None, "no dictionary in a test archive");
        let first: i64 = block.get(0);
        let lens: Vec<i32> = block.get(2);
        let offsets: Vec<i32> =
            block.get::<_, Option<Vec<i32>>>(1).unwrap_or_else(|| (0..lens.len() as i32).collect());
        let total = lens.iter().map(|l| *l as usize).sum();
        let raw = zstd::bulk::decompress(block.get::<_, &[u8]>(3), total).expect("decompress");
        let mut start = 0;
        for (offset, len) in offsets.iter().zip(&lens) {
            let one = &raw[start..start + *len as usize];
            start += *len as usize;
            sql.execute(
                "INSERT INTO d365audit.record_bytes SELECT tenant_id, event_time, seq, NULL, $2, \
                   $3, $4 FROM d365audit.records WHERE seq = $1",
                &[
                    &(first + i64::from(*offset)),
                    len,
                    &archive::evidence::record_hash(one).0.as_slice(),
                    &zstd::bulk::compress(one, 3).expect("compress"),
                ],
            )
            .await
            .expect("one record's bytes");
        }
    }
    sql.batch_execute("DROP TABLE d365audit.record_blocks").await.expect("drop the blocks");
}

/// Takes `db` (of the current schema, no handle open) back to schema `version`, like
/// [`downgraded`].
async fn downgrade(db: &TestDatabase, version: i32, drops: &str) {
    db.connect().await.batch_execute(BEFORE_HOUR_INDEXES).await.expect("downgrade to 7");
    widen_hashes(&db.connect().await).await;
    if version < 7 {
        db.connect().await.batch_execute(BEFORE_NAMES).await.expect("downgrade to 6");
    }
    if version < 6 {
        unpack_blocks(&db.connect().await).await;
        db.connect().await.batch_execute(BEFORE_COMPACT).await.expect("downgrade to 5");
    }
    if version < 5 {
        db.connect().await.batch_execute(BEFORE_LISTED_ARRAYS).await.expect("downgrade to 4");
    }
    let forget = format!("DELETE FROM d365audit.schema_migrations WHERE version > {version};");
    db.connect().await.batch_execute(&format!("{drops} {forget}")).await.expect("downgrade");
    match PostgresArchive::connect_read_only(&db.url).await {
        Err(archive::ArchiveError::Incompatible { message }) => assert!(
            message.contains(&format!("schema version {version}")) && message.contains("upgrade"),
            "{message}"
        ),
        other => panic!("expected a request to upgrade, got {other:?}"),
    }
}

/// `count` records numbered from `first`, 37 seconds apart from June 1st 2026.
fn records(first: u32, count: u32) -> Vec<Vec<u8>> {
    let start = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).single().unwrap_or_default();
    (first..first + count)
        .map(|n| {
            let entity = format!("5f3b0b3e-1c2d-4e5f-9a8b-{:012x}", n % 17);
            let listed = ["5f3b0b3e-1c2d-4e5f-9a8b-000000000003"];
            let listed: &[&str] = if n % 5 == 0 { &listed } else { &[] };
            let user = format!("user{}@contoso.com", n % 7);
            crm_json(
                n,
                start + chrono::Duration::seconds(i64::from(n) * 37),
                &user,
                &entity,
                listed,
            )
        })
        .collect()
}

#[test]
fn test_urls_replace_the_database() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database("postgres://u:p@h/postgres?sslmode=disable", "t1"),
        "postgres://u:p@h/t1?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h:1", "t1"), "postgres://u@h:1/t1");
    assert_eq!(with_database("host=h user=u", "t1"), "host=h user=u dbname=t1");
}
