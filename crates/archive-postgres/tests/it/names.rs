//! Texts stored once in `names` (schema 7): any length, every spelling its own id, filters that
//! meet no name, no id used up by texts and tenants already stored.

use archive::{Archive, RecordQuery};

use super::{TestDatabase, batch, open, records, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_longer_than_an_index_entry_gets_an_id_and_is_found() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let archive = open(&db).await;
    // Random-looking, so that it does not compress below the 2.7 KB a B-tree entry may hold.
    let long: String = (0..6000u32)
        .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26))
        .collect();
    let mut raws = records(1, 3);
    raws[1] = String::from_utf8_lossy(&raws[1])
        .replace(r#""PrimaryFieldValue":"Account 2""#, &format!(r#""PrimaryFieldValue":"{long}""#))
        .into_bytes();
    let receipt = archive.ingest(batch(&raws)).await.expect("ingest");
    assert_eq!(receipt.inserted, 3);
    let found = archive
        .search(
            &RecordQuery { text: Some(long[1000..1100].to_uppercase()), ..RecordQuery::default() },
            &archive::PageRequest { limit: 10, after: None, order: archive::Order::OldestFirst },
        )
        .await
        .expect("search");
    assert_eq!(found.rows.len(), 1);
    assert_eq!(found.rows[0].primary_field_value.as_deref(), Some(long.as_str()));
    // Stored once: ingesting it again adds no name.
    let names = || async {
        db.connect()
            .await
            .query_one("SELECT count(*) FROM d365audit.names", &[])
            .await
            .expect("names")
            .get::<_, i64>(0)
    };
    let before = names().await;
    let again = archive.ingest(batch(&raws)).await.expect("ingest again");
    assert_eq!(again.duplicates, 3);
    assert_eq!(names().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_on_texts_no_record_has_find_nothing() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let archive = open(&db).await;
    archive.ingest(batch(&records(1, 10))).await.expect("ingest");
    for q in [
        RecordQuery { users: vec!["nobody@contoso.com".into()], ..RecordQuery::default() },
        RecordQuery { entity: Some("contact".into()), ..RecordQuery::default() },
        RecordQuery { client_ip: Some("198.51.100.1".into()), ..RecordQuery::default() },
        RecordQuery { text: Some("no such text".into()), ..RecordQuery::default() },
        RecordQuery {
            field: Some(archive::query::FieldFilter { name: "telephone1".into(), value: None }),
            ..RecordQuery::default()
        },
    ] {
        assert_eq!(archive.count(&q).await.expect("count"), 0, "{q:?}");
    }
    // And the same filters with texts the records have find them.
    for q in [
        RecordQuery { users: vec!["USER1@contoso.com".into()], ..RecordQuery::default() },
        RecordQuery { entity: Some("Account".into()), ..RecordQuery::default() },
        RecordQuery { client_ip: Some("203.0.113.3".into()), ..RecordQuery::default() },
        RecordQuery { text: Some("account 1".into()), ..RecordQuery::default() },
        RecordQuery {
            field: Some(archive::query::FieldFilter { name: "NAME".into(), value: None }),
            ..RecordQuery::default()
        },
    ] {
        assert!(archive.count(&q).await.expect("count") > 0, "{q:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_that_meet_stored_texts_and_tenants_use_up_no_ids() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let sql = db.connect().await;
    // (the sequence's last value, the greatest id stored) for names and for tenants
    let ids = || async {
        let row = sql
            .query_one(
                "SELECT (SELECT last_value FROM d365audit.name_ids), \
                        (SELECT max(id) FROM d365audit.names)::bigint, \
                        (SELECT last_value FROM d365audit.tenant_refs), \
                        (SELECT max(tenant_ref) FROM d365audit.tenants)::bigint",
                &[],
            )
            .await
            .expect("sequences");
        (row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2), row.get::<_, i64>(3))
    };
    let first = open(&db).await;
    first.ingest(batch(&records(1, 20))).await.expect("first ingest");
    let (names_last, names_max, tenants_last, tenants_max) = ids().await;
    assert_eq!((names_last, tenants_last), (names_max, tenants_max));
    assert_eq!(tenants_max, 1);
    // Each new handle (a restarted process) starts with an empty cache. Its batches hold new
    // records whose users, entities and tenant are all stored already, then the first batch
    // again (all duplicates).
    for (n, first_record) in [(1, 21), (2, 41), (3, 1)] {
        let fresh = open(&db).await;
        let receipt = fresh.ingest(batch(&records(first_record, 20))).await.expect("ingest");
        assert_eq!(receipt.inserted + receipt.duplicates, 20, "handle {n}");
        let (names_last, names_max, tenants_last, tenants_max) = ids().await;
        assert_eq!(tenants_max, 1, "handle {n}");
        assert_eq!((names_last, tenants_last), (names_max, tenants_max), "handle {n}");
    }
}
