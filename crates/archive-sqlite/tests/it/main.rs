//! Integration tests of the SQLite archive on real files in temporary folders: the shared
//! behaviour suite, tampering that verification must name, reopening, migrations, read-only
//! handles and rollback of a failed batch; the blob queue, access store and SQL console (`ops`);
//! Dataverse audit changes (`changes`).

mod changes;
mod files;
mod ops;
mod suite;
mod tampering;
mod two_writers;

use std::path::Path;
use std::sync::Arc;

use archive::{IncomingRecord, IngestBatch};
use archive_sqlite::{SqliteArchive, SqliteOptions};
use chrono::{DateTime, TimeZone, Utc};

/// A clock frozen at a known instant, so seals are reproducible.
fn clock() -> Arc<dyn clock::Clock> {
    Arc::new(clock::ManualClock::frozen_at(
        Utc.with_ymd_and_hms(2026, 6, 10, 12, 0, 0).single().unwrap_or_default(),
    ))
}

/// Options that train the compression dictionary early, so small tests cover both codecs.
fn small_options() -> SqliteOptions {
    SqliteOptions {
        dictionary_after_records: 40,
        dictionary_samples: 200,
        dictionary_bytes: 8 << 10,
        ..SqliteOptions::default()
    }
}

fn open(path: &Path) -> SqliteArchive {
    SqliteArchive::open_with(path, clock(), small_options()).expect("archive opens")
}

/// A realistic CRM record with the given number as its identity.
fn crm_json(n: u32, time: DateTime<Utc>, user: &str, entity_id: &str, listed: &[&str]) -> Vec<u8> {
    let results =
        if listed.is_empty() { "null".to_string() } else { format!("\"{}\"", listed.join(", ")) };
    format!(
        r#"{{"CreationTime":"{time}","Id":"{n:08x}-1111-4222-8333-{n:012x}","Operation":"CrmDefaultActivity","OrganizationId":"41463f53-8812-40f4-890f-865bf6e35190","RecordType":21,"ResultStatus":"Success","UserKey":"10037FFE91510806","UserType":0,"Version":1,"Workload":"CRM","ClientIP":"203.0.113.{ip}","ObjectId":"https://contoso.crm4.dynamics.com/main.aspx?etn=account&pagetype=entityrecord&id={entity_id}","UserId":"{user}","CrmOrganizationUniqueName":"org1a2b3c4d","Fields":[{{"Name":"name","Value":"Account {n}"}}],"InstanceUrl":"https://contoso.crm4.dynamics.com/","ItemType":"account","ItemUrl":"https://contoso.crm4.dynamics.com/main.aspx?etn=account&pagetype=entityrecord&id={entity_id}","UserAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","CorrelationId":"00000000-0000-0000-0000-000000000000","EntityId":"{entity_id}","EntityName":"account","Message":"{message}","Query":null,"QueryResults":{results},"PrimaryFieldValue":"Account {n}","ServiceName":"CrmCore","SystemUserId":"0a1b2c3d-4e5f-4a7b-8c9d-{n:012x}","UserUpn":"{user}"}}"#,
        time = time.format("%Y-%m-%dT%H:%M:%S"),
        ip = n % 250,
        message = if listed.is_empty() { "Retrieve" } else { "RetrieveMultiple" },
    )
    .into_bytes()
}

fn record_id(n: u32) -> String {
    format!("{n:08x}-1111-4222-8333-{n:012x}")
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

/// `count` records spread over a day, `per_batch` to a batch; returns the raw bytes.
async fn fill(archive: &SqliteArchive, count: u32, per_batch: usize) -> Vec<Vec<u8>> {
    use archive::Archive;
    let start = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).single().unwrap_or_default();
    let raws: Vec<Vec<u8>> = (1..=count)
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
        .collect();
    for chunk in raws.chunks(per_batch) {
        archive.ingest(batch(chunk)).await.expect("ingest");
    }
    raws
}

/// Turns a closed archive of the current schema back into version 4: the record keys in one
/// table (as version 4 kept them), no key runs.
fn downgrade_to_v4(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.execute_batch(
        "CREATE TABLE record_keys_v4 (record_key BLOB PRIMARY KEY, seq INTEGER NOT NULL) \
             WITHOUT ROWID; \
         INSERT INTO record_keys_v4 SELECT record_key, seq FROM record_keys; \
         DROP TABLE record_keys; ALTER TABLE record_keys_v4 RENAME TO record_keys; \
         DROP TABLE key_runs; \
         PRAGMA user_version = 4;",
    )
    .expect("back to version 4");
}

/// Turns a closed archive of the current schema back into version 3: the timeline and field
/// entries in one main table each (as version 3 kept them), no index runs.
fn downgrade_to_v3(path: &Path) {
    downgrade_to_v4(path);
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.execute_batch(
        "CREATE TABLE timeline_v3 (entity_ref INTEGER NOT NULL, time INTEGER NOT NULL, \
             seq INTEGER NOT NULL, listed INTEGER NOT NULL, \
             PRIMARY KEY (entity_ref, time, seq)) WITHOUT ROWID; \
         INSERT INTO timeline_v3 SELECT entity_ref, time, seq, listed FROM timeline; \
         DROP TABLE timeline; ALTER TABLE timeline_v3 RENAME TO timeline; \
         CREATE TABLE fields_v3 (name INTEGER NOT NULL, value TEXT NOT NULL, \
             time INTEGER NOT NULL, seq INTEGER NOT NULL, \
             PRIMARY KEY (name, value, time, seq)) WITHOUT ROWID; \
         INSERT INTO fields_v3 SELECT name, value, time, seq FROM fields; \
         DROP TABLE fields; ALTER TABLE fields_v3 RENAME TO fields; \
         DROP TABLE index_runs; DROP TABLE daily_counts; DROP TABLE hourly_counts; \
         PRAGMA user_version = 3;",
    )
    .expect("back to version 3");
}

/// The records counted in `daily_counts` and in `hourly_counts`.
fn counted_records(path: &Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(path).expect("open");
    let sum = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT coalesce(sum(records), 0) FROM {table}"), [], |r| r.get(0))
            .expect("sum")
    };
    (sum("daily_counts"), sum("hourly_counts"))
}

/// Waits until the background training has published a compression dictionary.
async fn dictionary_trained(archive: &SqliteArchive) -> i64 {
    for _ in 0..500 {
        if let Some(id) = archive.compression_dictionary() {
            return id;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no compression dictionary after 10 s");
}
