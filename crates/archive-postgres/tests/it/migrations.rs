//! Migrations: idempotent, safe when replicas start at once, and a newer or foreign schema is
//! refused.

use archive::{Archive, ArchiveError, RecordQuery};
use archive_postgres::{PostgresArchive, SCHEMA_VERSION};

use super::{TestDatabase, batch, clock, open, record_id, records, server};

async fn versions(db: &TestDatabase) -> Vec<i32> {
    db.connect()
        .await
        .query("SELECT version FROM d365audit.schema_migrations ORDER BY version", &[])
        .await
        .expect("versions")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_migrates_nothing_and_keeps_the_records() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let first = open(&db).await;
    first.ingest(batch(&records(1, 10))).await.expect("ingest");
    first.close();
    let again = open(&db).await;
    assert_eq!(again.count(&RecordQuery::default()).await.ok(), Some(10));
    let expected: Vec<i32> = (1..=SCHEMA_VERSION).collect();
    assert_eq!(versions(&db).await, expected);
    let receipt = again.ingest(batch(&records(11, 5))).await.expect("ingest");
    assert_eq!(receipt.sealed_batch, Some(2), "the chain continues");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_at_once_migrate_once() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move { PostgresArchive::connect(&url, clock()).await }));
    }
    let mut archives = Vec::new();
    for task in tasks {
        archives.push(task.await.expect("task").expect("every replica connects"));
    }
    let expected: Vec<i32> = (1..=SCHEMA_VERSION).collect();
    assert_eq!(versions(&db).await, expected);
    for archive in &archives {
        assert_eq!(archive.count(&RecordQuery::default()).await.ok(), Some(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused_with_a_message_to_upgrade() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    open(&db).await.close();
    db.connect()
        .await
        .execute(
            "INSERT INTO d365audit.schema_migrations (version, name) VALUES ($1, 'from the future')",
            &[&(SCHEMA_VERSION + 1)],
        )
        .await
        .expect("pretend a newer program ran");
    for result in [
        PostgresArchive::connect(&db.url, clock()).await,
        PostgresArchive::connect_read_only(&db.url).await,
    ] {
        match result {
            Err(ArchiveError::Incompatible { message }) => {
                assert!(message.contains("newer") && message.contains("upgrade"), "{message}");
            }
            other => panic!("expected Incompatible, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_handles_create_nothing_and_refuse_to_ingest() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    match PostgresArchive::connect_read_only(&db.url).await {
        Err(ArchiveError::Incompatible { message }) => {
            assert!(message.contains("no d365audit archive yet"), "{message}");
        }
        other => panic!("expected Incompatible, got {other:?}"),
    }
    let schemas: i64 = db
        .connect()
        .await
        .query_one("SELECT count(*) FROM pg_namespace WHERE nspname = 'd365audit'", &[])
        .await
        .expect("query")
        .get(0);
    assert_eq!(schemas, 0, "a read-only handle created nothing");
    open(&db).await.ingest(batch(&records(1, 3))).await.expect("ingest");
    let reader = PostgresArchive::connect_read_only(&db.url).await.expect("read-only connects");
    assert_eq!(reader.count(&RecordQuery::default()).await.ok(), Some(3));
    match reader.ingest(batch(&records(4, 1))).await {
        Err(ArchiveError::Storage { message, .. }) => assert!(message.contains("read-only")),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_d365audit_schema_is_left_alone() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    db.connect()
        .await
        .batch_execute("CREATE SCHEMA d365audit; CREATE TABLE d365audit.records (id int);")
        .await
        .expect("foreign schema");
    match PostgresArchive::connect(&db.url, clock()).await {
        Err(ArchiveError::Incompatible { message }) => {
            assert!(message.contains("belongs to something else"), "{message}");
        }
        other => panic!("expected Incompatible, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_of_schema_version_1_upgrades_and_keeps_its_records() {
    let Some(server) = server() else { return };
    // Back to what schema version 1 was: no queue, access or change tables, memberships as rows.
    let db = crate::downgraded(
        &server,
        1,
        "DROP TABLE d365audit.blob_queue, d365audit.blob_streams, d365audit.sessions, \
           d365audit.api_tokens, d365audit.access_log, d365audit.accounts, d365audit.changes, \
           d365audit.change_totals, d365audit.daily_counts, d365audit.hourly_counts;",
    )
    .await;
    let upgraded = open(&db).await;
    assert_eq!(versions(&db).await, (1..=SCHEMA_VERSION).collect::<Vec<i32>>());
    assert_eq!(upgraded.count(&RecordQuery::default()).await.ok(), Some(10));
    // The report counts of the records already stored were computed by the upgrade.
    let counted: i64 = db
        .connect()
        .await
        .query_one(
            "SELECT ((SELECT sum(records) FROM d365audit.daily_counts) \
                   + (SELECT sum(records) FROM d365audit.hourly_counts))::bigint",
            &[],
        )
        .await
        .expect("sum")
        .get(0);
    assert_eq!(counted, 20, "10 records counted per day and per hour");
    // The memberships moved into the records' rows: records 5 and 10 listed row 3.
    assert_eq!(
        row_3_vias(&upgraded).await,
        ROW_3_VIAS,
        "record 3 is about row 3, records 5 and 10 listed it"
    );
    let per_day = upgraded
        .aggregate(&RecordQuery::default(), archive::Dimension::Day, 100)
        .await
        .expect("aggregate");
    assert_eq!(per_day.iter().map(|b| b.count).sum::<u64>(), 10);
    let report = upgraded.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(archive::BlobQueue::queue_status(&upgraded).await.expect("status"), vec![]);
    assert_eq!(archive::AccessStore::accounts(&upgraded).await.expect("accounts"), vec![]);
    assert!(PostgresArchive::connect_read_only(&db.url).await.is_ok());
}

/// Records 1 to 10 with two more whose Ids are not GUIDs (one of exactly 16 bytes, the length
/// of a packed GUID).
fn with_text_ids() -> Vec<Vec<u8>> {
    let mut raws = records(1, 12);
    for (raw, id) in raws[10..].iter_mut().zip(["sanitized-000016", "sanitized-7"]) {
        let n = if id.len() == 16 { 11 } else { 12 };
        *raw = String::from_utf8_lossy(raw).replace(&record_id(n), id).into_bytes();
    }
    raws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_of_schema_version_5_gets_compact_keys_and_smaller_indexes() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let first = open(&db).await;
    first.ingest(batch(&with_text_ids())).await.expect("ingest");
    first.close();
    crate::downgrade(&db, 5, "").await;
    let sql = db.connect().await;
    let text_keys: i64 = sql
        .query_one(
            "SELECT count(*) FROM d365audit.record_keys \
             WHERE record_id IN ('sanitized-000016', 'sanitized-7')",
            &[],
        )
        .await
        .expect("schema 5 keys")
        .get(0);
    assert_eq!(text_keys, 2, "the downgrade wrote schema 5's keys");

    let upgraded = open(&db).await;
    assert_eq!(versions(&db).await, (1..=SCHEMA_VERSION).collect::<Vec<i32>>());
    assert_eq!(upgraded.count(&RecordQuery::default()).await.ok(), Some(12));
    // The keys computed by the migration are the ones ingest computes: everything again is a
    // duplicate, an Id with other bytes a variant.
    let again = upgraded.ingest(batch(&with_text_ids())).await.expect("ingest again");
    assert_eq!((again.inserted, again.duplicates, again.variants), (0, 12, 0));
    let mut changed = with_text_ids();
    for raw in &mut changed {
        *raw = String::from_utf8_lossy(raw).replace("\"Account ", "\"Changed ").into_bytes();
    }
    let variants = upgraded.ingest(batch(&changed[9..])).await.expect("ingest variants");
    assert_eq!((variants.inserted, variants.variants), (0, 3));
    for (id, raw) in [record_id(4), "sanitized-000016".into(), "sanitized-7".into()].iter().zip([
        &with_text_ids()[3],
        &with_text_ids()[10],
        &with_text_ids()[11],
    ]) {
        let stored = upgraded.record(id).await.expect("read").expect("found by its Id");
        assert_eq!(&stored.raw, raw, "{id}");
    }
    // The user and field indexes answer as before.
    let user = upgraded
        .count(&RecordQuery { users: vec!["User3@Contoso.com".into()], ..RecordQuery::default() })
        .await
        .expect("count");
    assert_eq!(user, 2, "records 3 and 10");
    let field = upgraded
        .count(&RecordQuery {
            field: Some(archive::query::FieldFilter {
                name: "NAME".into(),
                value: Some("Account 4".into()),
            }),
            ..RecordQuery::default()
        })
        .await
        .expect("count");
    assert_eq!(field, 1);
    // Row 3, listed by records 5 and 10.
    assert_eq!(row_3_vias(&upgraded).await, ROW_3_VIAS);
    upgraded.ingest(batch(&records(15, 1))).await.expect("ingest");
    let report = upgraded.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 13);
}

/// [`with_text_ids`] with one user and one field name in other spellings (case), so that a
/// folded filter meets two names.
fn with_spellings() -> Vec<Vec<u8>> {
    let mut raws = with_text_ids();
    raws[3] = String::from_utf8_lossy(&raws[3])
        .replace("user4@contoso.com", "USER4@Contoso.com")
        .replace(r#""Name":"name""#, r#""Name":"Name""#)
        .into_bytes();
    raws
}

/// What the queries of an archive answer, to compare two archives of the same records.
async fn answers(archive: &PostgresArchive) -> Vec<String> {
    use archive::query::FieldFilter;
    use archive::{Dimension, Order, PageRequest};
    use chrono::TimeZone;
    let page = PageRequest { limit: 100, after: None, order: Order::OldestFirst };
    let day = chrono::Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).single();
    let field = |name: &str, value: Option<&str>| FieldFilter {
        name: name.into(),
        value: value.map(Into::into),
    };
    let queries = [
        RecordQuery::default(),
        RecordQuery { users: vec!["user4@CONTOSO.com".into()], ..RecordQuery::default() },
        RecordQuery {
            users: vec!["0a1b2c3d-4e5f-4a7b-8c9d-000000000004".into()],
            ..RecordQuery::default()
        },
        RecordQuery { field: Some(field("NAME", Some("Account 4"))), ..RecordQuery::default() },
        RecordQuery { field: Some(field("name", None)), ..RecordQuery::default() },
        RecordQuery { text: Some("ACCOUNT 1".into()), ..RecordQuery::default() },
        RecordQuery { client_ip: Some("203.0.113.3".into()), ..RecordQuery::default() },
        RecordQuery {
            entity: Some("Account".into()),
            messages: vec!["retrievemultiple".into()],
            organization: Some("ORG1A2B3C4D".into()),
            workloads: vec!["crm".into()],
            ..RecordQuery::default()
        },
        RecordQuery {
            record_id: uuid::Uuid::parse_str("5f3b0b3e-1c2d-4e5f-9a8b-000000000003").ok(),
            ..RecordQuery::default()
        },
        RecordQuery { users: vec!["nobody@contoso.com".into()], ..RecordQuery::default() },
    ];
    let mut out = Vec::new();
    for q in &queries {
        let found = archive.search(q, &page).await.expect("search");
        out.push(format!("{q:?}: {:?}", found.rows));
        out.push(format!("{q:?}: {:?}", archive.count(q).await.expect("count")));
        let raws = archive.raw_page(q, &page).await.expect("raw page");
        out.push(format!("{q:?}: {:?}", raws.rows));
    }
    let whole_day = RecordQuery {
        from: day,
        to: day.map(|d| d + chrono::Duration::days(1)),
        ..RecordQuery::default()
    };
    let from_one =
        RecordQuery { from: day.map(|d| d + chrono::Duration::seconds(1)), ..whole_day.clone() };
    let one_user = RecordQuery { users: vec!["USER4@contoso.com".into()], ..whole_day.clone() };
    for q in [&whole_day, &from_one, &one_user] {
        for by in [
            Dimension::User,
            Dimension::Organization,
            Dimension::Entity,
            Dimension::Message,
            Dimension::HourOfDay,
        ] {
            let buckets = archive.aggregate(q, by, 100).await.expect("aggregate");
            out.push(format!("{q:?} by {by:?}: {buckets:?}"));
        }
    }
    for id in [record_id(4), "sanitized-000016".into(), "sanitized-7".into()] {
        let stored = archive.record(&id).await.expect("read").expect("found");
        out.push(format!("{stored:?}"));
    }
    out
}

/// What an archive of the current schema answers for [`with_spellings`], and another archive
/// of the same records taken back to schema `version` (no handle open), to upgrade.
async fn answers_and_downgraded(server: &str, version: i32) -> (Vec<String>, TestDatabase) {
    let fresh_db = TestDatabase::create(server).await;
    let fresh = open(&fresh_db).await;
    fresh.ingest(batch(&with_spellings())).await.expect("ingest");
    let expected = answers(&fresh).await;
    let db = TestDatabase::create(server).await;
    let first = open(&db).await;
    first.ingest(batch(&with_spellings())).await.expect("ingest");
    first.close();
    crate::downgrade(&db, version, "").await;
    (expected, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_of_schema_version_6_gets_names_as_ids_and_answers_as_before() {
    let Some(server) = server() else { return };
    let (expected, db) = answers_and_downgraded(&server, 6).await;
    let sql = db.connect().await;
    let texts: i64 = sql
        .query_one(
            "SELECT count(*) FROM d365audit.records \
             WHERE record_id IN ('sanitized-000016', 'sanitized-7') \
               AND user_name IN ('user4@contoso.com', 'USER4@Contoso.com', 'user5@contoso.com')",
            &[],
        )
        .await
        .expect("schema 6 records")
        .get(0);
    assert_eq!(texts, 2, "the downgrade wrote schema 6's rows");

    let upgraded = open(&db).await;
    assert_eq!(versions(&db).await, (1..=SCHEMA_VERSION).collect::<Vec<i32>>());
    let names: i64 = sql
        .query_one("SELECT count(*) FROM d365audit.names WHERE name IN ('name', 'Name')", &[])
        .await
        .expect("names")
        .get(0);
    assert_eq!(names, 1, "field names are stored folded");
    let got = answers(&upgraded).await;
    assert_eq!(got.len(), expected.len());
    for (got, expected) in got.iter().zip(&expected) {
        assert_eq!(got, expected);
    }
    // The row 4 spelling and its folded filter, and nobody: the comparison has substance.
    assert!(expected.iter().any(|a| a.contains("USER4@Contoso.com")), "{expected:?}");
    let report = upgraded.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 12);
    // Ingest goes on: everything again is a duplicate, new records are stored and found.
    let again = upgraded.ingest(batch(&with_spellings())).await.expect("ingest again");
    assert_eq!((again.inserted, again.duplicates, again.variants), (0, 12, 0));
    upgraded.ingest(batch(&records(20, 3))).await.expect("ingest");
    let user = upgraded
        .count(&RecordQuery { users: vec!["USER6@contoso.com".into()], ..RecordQuery::default() })
        .await
        .expect("count");
    assert_eq!(user, 2, "records 6 and 20");
    let report = upgraded.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 15);
}

/// The index definitions of `records` and `field_values` (their parents' indexes).
async fn record_indexes(db: &TestDatabase) -> Vec<String> {
    db.connect()
        .await
        .query(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'd365audit' \
               AND tablename IN ('records', 'field_values') ORDER BY indexname",
            &[],
        )
        .await
        .expect("indexes")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_of_schema_version_7_gets_hour_keyed_indexes_and_answers_as_before() {
    let Some(server) = server() else { return };
    let (expected, db) = answers_and_downgraded(&server, 7).await;
    let before = record_indexes(&db).await;
    assert!(
        before.iter().any(|d| d.contains("(user_ref, event_time, seq)")),
        "schema 7's user index: {before:?}"
    );
    let sql = db.connect().await;
    let widths: Vec<i32> = sql
        .query(
            "SELECT DISTINCT octet_length(hashes) / cardinality(raw_lens) \
             FROM d365audit.record_blocks",
            &[],
        )
        .await
        .expect("hash widths")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(widths, vec![32], "schema 7's blocks hold whole hashes");

    let upgraded = open(&db).await;
    assert_eq!(versions(&db).await, (1..=SCHEMA_VERSION).collect::<Vec<i32>>());
    let after = record_indexes(&db).await;
    assert_eq!(after.iter().filter(|d| d.contains("hour_of(event_time)")).count(), 2, "{after:?}");
    assert!(after.iter().any(|d| d.ends_with("(event_time)")), "the time index: {after:?}");
    let key_columns: i64 = sql
        .query_one(
            "SELECT count(*) FROM information_schema.columns \
             WHERE table_schema = 'd365audit' AND table_name = 'record_keys'",
            &[],
        )
        .await
        .expect("columns")
        .get(0);
    assert_eq!(key_columns, 3, "record keys without their seq");
    let got = answers(&upgraded).await;
    assert_eq!(got, expected);
    let report = upgraded.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 12);
    // Records already stored, with their whole hashes, are recognized again; one with other
    // bytes under a stored Id is a variant.
    let mut again = with_spellings();
    again[5] = String::from_utf8_lossy(&again[5]).replacen('{', "{ ", 1).into_bytes();
    let receipt = upgraded.ingest(batch(&again)).await.expect("ingest again");
    assert_eq!((receipt.inserted, receipt.duplicates, receipt.variants), (0, 12, 1));
    // New records get blocks with 8 bytes of hash each, and everything verifies.
    upgraded.ingest(batch(&records(20, 3))).await.expect("ingest");
    let widths: i64 = sql
        .query_one(
            "SELECT count(*) FROM d365audit.record_blocks \
             WHERE octet_length(hashes) = 8 * cardinality(raw_lens)",
            &[],
        )
        .await
        .expect("hash widths")
        .get(0);
    assert_eq!(widths, 1, "one new block");
    let report = upgraded.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 15);
}

/// Aggregations over whole UTC days read the report counts; other periods and filters read the
/// records. Shown by doubling the counts behind the archive's back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_day_reports_read_the_report_counts() {
    use archive::Dimension;
    use chrono::TimeZone;
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let archive = open(&db).await;
    archive.ingest(batch(&records(1, 100))).await.expect("ingest");
    let day = |h: u32, s: u32| chrono::Utc.with_ymd_and_hms(2026, 6, 1, h, 0, s).single();
    let whole_day = RecordQuery {
        from: day(0, 0),
        to: day(0, 0).map(|t| t + chrono::Duration::days(1)),
        ..RecordQuery::default()
    };
    let from_one = RecordQuery { from: day(0, 1), ..whole_day.clone() };
    let one_user = RecordQuery { users: vec!["user1@contoso.com".into()], ..whole_day.clone() };
    let total = |q: RecordQuery, by: Dimension| {
        let archive = archive.clone();
        async move {
            archive
                .aggregate(&q, by, 100)
                .await
                .expect("aggregate")
                .iter()
                .map(|b| b.count)
                .sum::<u64>()
        }
    };
    let users_day = total(one_user.clone(), Dimension::Day).await;
    assert_eq!(total(whole_day.clone(), Dimension::User).await, 100);
    db.connect()
        .await
        .batch_execute(
            "UPDATE d365audit.daily_counts SET records = records * 2; \
             UPDATE d365audit.hourly_counts SET records = records * 2;",
        )
        .await
        .expect("double the counts");
    for by in [Dimension::Day, Dimension::HourOfDay, Dimension::User, Dimension::Access] {
        assert_eq!(total(whole_day.clone(), by).await, 200, "{by:?} over the whole day");
        assert_eq!(total(from_one.clone(), by).await, 100, "{by:?} from 00:00:01");
    }
    assert_eq!(total(one_user.clone(), Dimension::Day).await, users_day * 2);
    assert_eq!(
        total(one_user, Dimension::HourOfDay).await,
        users_day,
        "hours of one user: records"
    );
}

/// Row 3's timeline in the upgrade tests: record 3 is about it, records 5 and 10 listed it.
const ROW_3_VIAS: [Option<archive::Via>; 3] = [
    Some(archive::Via::Entity),
    Some(archive::Via::QueryResults),
    Some(archive::Via::QueryResults),
];

/// How each record of row 3's timeline (oldest first) involves the row.
async fn row_3_vias(archive: &PostgresArchive) -> Vec<Option<archive::Via>> {
    let row_3 = uuid::Uuid::parse_str("5f3b0b3e-1c2d-4e5f-9a8b-000000000003").expect("guid");
    let page = archive
        .search(
            &RecordQuery { record_id: Some(row_3), ..RecordQuery::default() },
            &archive::PageRequest { limit: 100, after: None, order: archive::Order::OldestFirst },
        )
        .await
        .expect("search");
    page.rows.iter().map(|r| r.via).collect()
}
