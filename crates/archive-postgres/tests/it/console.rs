//! The SQL console on a real server: its role, writes PostgreSQL itself refuses (past the
//! screen), the account tables out of reach, the time limit, and cells of every common type.

use std::time::{Duration, Instant};

use archive::{
    AccessStore, Archive, ArchiveError, NewAccount, Role, SqlConsole, SqlLimits, SqlResult,
};
use archive_postgres::PostgresArchive;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use super::{TestDatabase, batch, open, records, server};

fn limits(max_rows: u32, millis: u64) -> SqlLimits {
    SqlLimits { max_rows, timeout: Duration::from_millis(millis) }
}

async fn run(archive: &PostgresArchive, statement: &str) -> SqlResult {
    archive.run_sql(statement, limits(100, 10_000)).await.expect(statement)
}

async fn refused(archive: &PostgresArchive, statement: &str) -> String {
    match archive.run_sql(statement, limits(100, 10_000)).await {
        Err(error @ ArchiveError::InvalidQuery(_)) => error.to_string(),
        other => panic!("`{statement}` should be refused, got {other:?}"),
    }
}

async fn archive_with_an_account(db: &TestDatabase) -> PostgresArchive {
    let archive = open(db).await;
    archive.ingest(batch(&records(1, 20))).await.expect("ingest");
    let account = NewAccount {
        username: "alice".into(),
        display_name: "Alice".into(),
        role: Role::Admin,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$secret-hash".into(),
    };
    archive.create_account(account, Utc::now()).await.expect("account");
    archive
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_run_as_the_console_role_in_a_read_only_transaction() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let archive = archive_with_an_account(&db).await;
    let who = run(
        &archive,
        "SELECT current_user AS who, current_setting('transaction_read_only') AS ro, \
           current_setting('search_path') AS path",
    )
    .await;
    assert_eq!(
        who.rows,
        vec![vec![json!("d365audit_console"), json!("on"), json!("d365audit, pg_catalog")]]
    );
    // Unqualified names are the archive's tables.
    let count = run(&archive, "SELECT count(*) FROM records").await;
    assert_eq!(count.rows, vec![vec![json!(20)]]);

    // Writes that pass the screen (they start with WITH or EXPLAIN) and PostgreSQL refuses.
    for statement in [
        "WITH gone AS (DELETE FROM records RETURNING 1) SELECT count(*) FROM gone",
        "WITH moved AS (UPDATE totals SET records = 0 RETURNING 1) SELECT * FROM moved",
        "WITH added AS (INSERT INTO cursors VALUES ('x', 'y', now()) RETURNING 1) TABLE added",
        "EXPLAIN ANALYZE DELETE FROM records",
        "EXPLAIN ANALYZE INSERT INTO seals SELECT * FROM seals",
        "SELECT * INTO evil FROM records",
        "SELECT 1 AS x INTO TEMPORARY evil",
        "WITH cut AS (UPDATE blob_queue SET state = 'done' RETURNING 1) SELECT 1",
    ] {
        let message = refused(&archive, statement).await;
        assert!(
            message.contains("read-only") || message.contains("may not"),
            "{statement}: {message}"
        );
    }
    // The accounts and what guards them are out of reach, even to read.
    for table in ["accounts", "sessions", "api_tokens", "access_log"] {
        let message = refused(&archive, &format!("SELECT * FROM {table}")).await;
        assert!(
            message.contains("may not do that") && message.contains("permission denied"),
            "{message}"
        );
    }
    let schema = archive.sql_schema().await.expect("schema");
    let tables: Vec<&str> = schema.iter().map(|(t, _)| t.as_str()).collect();
    assert!(tables.contains(&"records") && tables.contains(&"blob_queue"), "{tables:?}");
    assert!(!tables.contains(&"accounts") && !tables.contains(&"access_log"), "{tables:?}");
    assert!(!tables.iter().any(|t| t.starts_with("records_20")), "no partitions: {tables:?}");
    let records_columns = &schema.iter().find(|(t, _)| t == "records").expect("records").1;
    assert_eq!(&records_columns[..3], ["event_time", "seq", "user_ref"]);
    // Nothing changed.
    assert_eq!(archive.count(&archive::RecordQuery::default()).await.ok(), Some(20));
    assert!(archive.verify().await.expect("verify").is_intact());
    assert!(archive.account_by_username("alice").await.expect("account").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_time_limit_is_stopped_by_the_server() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let archive = open(&db).await;
    let started = Instant::now();
    match archive.run_sql("SELECT pg_sleep(30)", limits(10, 300)).await {
        Err(error @ ArchiveError::InvalidQuery(_)) => {
            let message = error.to_string();
            assert!(message.contains("longer than the 300 ms limit"), "{message}");
        }
        other => panic!("expected the time limit, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    // Nothing of the stopped statement lingers on the server.
    let sql = db.connect().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sleeping: i64 = sql
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%'",
            &[],
        )
        .await
        .expect("activity")
        .get(0);
    assert_eq!(sleeping, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cells_of_common_types_become_json() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let archive = open(&db).await;
    let result = run(
        &archive,
        "SELECT true AS b, 7::smallint AS i2, 2147483647 AS i4, 9007199254740993::bigint AS i8, \
           1.25::real AS f4, 'NaN'::float8 AS nan, 12345678901234567890.5::numeric AS big, \
           sum(x)::numeric AS total, 'x''y' AS t, 'ab'::char(3) AS c, \
           '6f1d2a3b-0c4d-4e5f-8a9b-0c1d2e3f4a5b'::uuid AS u, \
           '2026-06-10 12:34:56.789+02'::timestamptz AS ts, '2026-06-10 01:02:03'::timestamp AS lts, \
           '2026-06-10'::date AS d, 'infinity'::timestamptz AS inf, \
           '\\x00ff10'::bytea AS bytes, '{\"a\": [1, 2]}'::jsonb AS j, \
           '1 year 2 mons 3 days 04:05:06.5'::interval AS iv, '192.0.2.1'::inet AS ip, \
           '2001:db8::/32'::cidr AS net, ARRAY[1, NULL, 3] AS arr, ARRAY['a', 'b'] AS words, \
           NULL::text AS nothing, 'pg_class'::regclass AS other \
         FROM (VALUES (1), (2)) AS v (x)",
    )
    .await;
    let cells: Vec<(String, Value)> =
        result.columns.iter().cloned().zip(result.rows[0].clone()).collect();
    let expected: Vec<(&str, Value)> = vec![
        ("b", json!(true)),
        ("i2", json!(7)),
        ("i4", json!(2147483647)),
        ("i8", json!(9007199254740993_i64)),
        ("f4", json!(1.25)),
        ("nan", json!("NaN")),
        ("big", json!(12345678901234567890.5_f64)),
        ("total", json!(3)),
        ("t", json!("x'y")),
        ("c", json!("ab ")),
        ("u", json!("6f1d2a3b-0c4d-4e5f-8a9b-0c1d2e3f4a5b")),
        ("ts", json!("2026-06-10T10:34:56.789Z")),
        ("lts", json!("2026-06-10T01:02:03")),
        ("d", json!("2026-06-10")),
        ("inf", json!("infinity")),
        ("bytes", json!("00ff10")),
        ("j", json!("{\"a\":[1,2]}")),
        ("iv", json!("P1Y2M3DT4H5M6.5S")),
        ("ip", json!("192.0.2.1")),
        ("net", json!("2001:db8::/32")),
        ("arr", json!([1, null, 3])),
        ("words", json!(["a", "b"])),
        ("nothing", Value::Null),
    ];
    for (i, (name, value)) in expected.iter().enumerate() {
        assert_eq!(cells[i].0, *name);
        assert_eq!(cells[i].1, *value, "{name}");
    }
    let other = &cells[expected.len()];
    assert_eq!(other.0, "other");
    assert!(other.1.as_str().is_some_and(|s| s.contains("cast")), "{other:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_handle_runs_the_console_too() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    open(&db).await.ingest(batch(&records(1, 5))).await.expect("ingest");
    let reader = PostgresArchive::connect_read_only(&db.url).await.expect("read-only connects");
    let result =
        reader.run_sql("SELECT record_id FROM records_named ORDER BY seq", limits(3, 5000)).await;
    let result = result.expect("query");
    assert_eq!((result.rows.len(), result.truncated), (3, true));
    assert_eq!(result.rows[0], vec![json!(super::record_id(1))]);
    let at = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 37).single().expect("time");
    let first = reader.run_sql("SELECT min(event_time) FROM records", limits(3, 5000)).await;
    assert_eq!(
        first.expect("query").rows,
        vec![vec![json!(at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))]]
    );
}

/// An archive user that may not create roles: the console runs as that user, and the
/// read-only transaction still refuses every write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_console_role_statements_still_cannot_write() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let owner = format!("d365audit_owner_{}", uuid::Uuid::new_v4().simple());
    let sql = db.connect().await;
    sql.batch_execute(&format!(
        "CREATE ROLE {owner} LOGIN NOSUPERUSER NOCREATEROLE; \
         GRANT CREATE ON DATABASE {} TO {owner};",
        db.name
    ))
    .await
    .expect("an unprivileged owner");
    let Some(url) = db
        .url
        .contains("://postgres@")
        .then(|| db.url.replacen("://postgres@", &format!("://{owner}@"), 1))
    else {
        eprintln!("the test server's user is not `postgres`; skipping the unprivileged check");
        sql.batch_execute(&format!("DROP OWNED BY {owner}; DROP ROLE {owner}")).await.ok();
        return;
    };
    let archive = PostgresArchive::connect(&url, super::clock()).await.expect("owner connects");
    archive.ingest(batch(&records(1, 5))).await.expect("ingest");
    let who = run(&archive, "SELECT current_user AS who").await;
    assert_eq!(who.rows, vec![vec![json!(owner)]]);
    for statement in [
        "WITH gone AS (DELETE FROM records RETURNING 1) SELECT count(*) FROM gone",
        "EXPLAIN ANALYZE UPDATE totals SET records = 0",
        "WITH added AS (INSERT INTO cursors VALUES ('x', 'y', now()) RETURNING 1) TABLE added",
    ] {
        let message = refused(&archive, statement).await;
        assert!(message.contains("read-only"), "{statement}: {message}");
    }
    assert_eq!(archive.count(&archive::RecordQuery::default()).await.ok(), Some(5));
    archive.close();
    drop(archive);
    sql.batch_execute(&format!("DROP OWNED BY {owner}")).await.expect("drop owned");
    super::admin(&server)
        .await
        .batch_execute(&format!("DROP ROLE {owner}"))
        .await
        .expect("drop role");
}
