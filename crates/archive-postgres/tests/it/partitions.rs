//! Monthly partitions created on demand, across month boundaries and by replicas at once.

use archive::{Archive, Order, PageRequest, RecordQuery};
use chrono::{TimeZone, Utc};

use super::{TestDatabase, batch, crm_json, open, record_id, server};

async fn partitions_of(sql: &tokio_postgres::Client, table: &str) -> Vec<String> {
    let mut names: Vec<String> = sql
        .query(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = ('d365audit.' || $1)::regclass",
            &[&table],
        )
        .await
        .expect("partitions")
        .iter()
        .map(|row| row.get(0))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_across_a_month_boundary_lands_in_both_months() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let archive = open(&db).await;
    let sql = db.connect().await;
    // The clock says June 2026: June and July exist from the start.
    assert_eq!(partitions_of(&sql, "records").await, ["records_2026_06", "records_2026_07"]);
    let entity = "5f3b0b3e-1c2d-4e5f-9a8b-000000000001";
    let at =
        |y, m, d, h, min, s| Utc.with_ymd_and_hms(y, m, d, h, min, s).single().unwrap_or_default();
    let raws = vec![
        crm_json(1, at(2026, 7, 31, 23, 59, 59), "a@contoso.com", entity, &[entity]),
        crm_json(2, at(2026, 8, 1, 0, 0, 0), "a@contoso.com", entity, &[]),
        crm_json(3, at(2025, 12, 31, 23, 0, 0), "a@contoso.com", entity, &[]),
        crm_json(4, at(2026, 8, 1, 0, 0, 1), "a@contoso.com", entity, &[]),
    ];
    let receipt = archive.ingest(batch(&raws)).await.expect("ingest");
    assert_eq!(receipt.inserted, 4);
    for table in ["records", "record_blocks", "field_values"] {
        let names = partitions_of(&sql, table).await;
        for month in ["2025_12", "2026_06", "2026_07", "2026_08"] {
            assert!(names.contains(&format!("{table}_{month}")), "{table}: {names:?}");
        }
    }
    let in_august: i64 = sql
        .query_one("SELECT count(*) FROM d365audit.records_2026_08", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(in_august, 2);
    // A timeline across the boundary reads in time order.
    let page = archive
        .search(
            &RecordQuery { users: vec!["A@contoso.com".into()], ..RecordQuery::default() },
            &PageRequest { order: Order::OldestFirst, ..PageRequest::default() },
        )
        .await
        .expect("search");
    let ids: Vec<String> = page.rows.into_iter().map(|r| r.id).collect();
    assert_eq!(ids, [record_id(3), record_id(1), record_id(2), record_id(4)]);
    let july_only = RecordQuery {
        from: Some(at(2026, 7, 1, 0, 0, 0)),
        to: Some(at(2026, 8, 1, 0, 0, 0)),
        ..RecordQuery::default()
    };
    assert_eq!(archive.count(&july_only).await.ok(), Some(1));
    let report = archive.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_creating_the_same_month_at_once_both_succeed() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let (one, two) = (open(&db).await, open(&db).await);
    let entity = "5f3b0b3e-1c2d-4e5f-9a8b-000000000001";
    let mut tasks = Vec::new();
    for (i, archive) in [one.clone(), two.clone(), one, two].into_iter().enumerate() {
        let raws: Vec<Vec<u8>> = (0..5u32)
            .map(|k| {
                let n = 100 + i as u32 * 10 + k;
                let time =
                    Utc.with_ymd_and_hms(2024, 2, 1 + k, 8, 0, 0).single().unwrap_or_default();
                crm_json(n, time, "b@contoso.com", entity, &[])
            })
            .collect();
        tasks.push(tokio::spawn(async move { archive.ingest(batch(&raws)).await }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("ingest").inserted, 5);
    }
    let sql = db.connect().await;
    let names = partitions_of(&sql, "records").await;
    assert_eq!(names.iter().filter(|n| n.as_str() == "records_2024_02").count(), 1, "{names:?}");
}

/// The hour the indexes are keyed by (migration 8) is the hour since the Unix epoch rounded
/// down, as the query planner computes it, before and after the epoch, to the microsecond, and
/// at the far end of the years a record can carry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_indexed_hour_of_a_time_is_rounded_down_to_the_microsecond() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let _archive = open(&db).await;
    let sql = db.connect().await;
    let micros = [
        0i64,
        3_599_999_999,
        3_600_000_000,
        -1,
        -3_600_000_000,
        -3_600_000_001,
        1_780_304_400_000_000,
        1_780_307_999_999_999,
        // The last microsecond of an hour in the year 262,142 (chrono's last), and the first of
        // the next.
        Utc.with_ymd_and_hms(262_142, 12, 31, 22, 59, 59).single().expect("a time").timestamp()
            * 1_000_000
            + 999_999,
        Utc.with_ymd_and_hms(262_142, 12, 31, 23, 0, 0).single().expect("a time").timestamp()
            * 1_000_000,
    ];
    for micros in micros {
        let time = chrono::DateTime::from_timestamp_micros(micros).expect("a time");
        let hour: i64 =
            sql.query_one("SELECT d365audit.hour_of($1)", &[&time]).await.expect("hour_of").get(0);
        assert_eq!(hour, micros.div_euclid(3_600_000_000), "{time}");
    }
}
