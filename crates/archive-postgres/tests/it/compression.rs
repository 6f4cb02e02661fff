//! The compression dictionary: trained once from the archive's first records, shared by every
//! replica, and every record still reads back byte for byte.

use archive::{Archive, Order, PageRequest, RecordQuery};
use archive_postgres::PostgresOptions;

use super::{TestDatabase, batch, open_with, records, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_trained_dictionary() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server).await;
    let options = PostgresOptions {
        dictionary_after_records: 100,
        dictionary_samples: 100,
        dictionary_bytes: 8 << 10,
        ..PostgresOptions::default()
    };
    let one = open_with(&db, options.clone()).await;
    let two = open_with(&db, options).await;
    one.ingest(batch(&records(1, 150))).await.expect("ingest");
    // The second replica compresses this batch without a dictionary, then finds the one the
    // first replica trained instead of training its own.
    two.ingest(batch(&records(151, 50))).await.expect("ingest");
    one.ingest(batch(&records(201, 50))).await.expect("ingest");
    two.ingest(batch(&records(251, 50))).await.expect("ingest");
    let sql = db.connect().await;
    let dictionaries: i64 = sql
        .query_one("SELECT count(*) FROM d365audit.dictionaries", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(dictionaries, 1);
    // Records per block, and compressed bytes per record, with and without the dictionary.
    let row = sql
        .query_one(
            "SELECT coalesce(sum(cardinality(raw_lens)) \
                      FILTER (WHERE dictionary IS NOT NULL), 0)::bigint, \
                    (sum(length(bytes)) FILTER (WHERE dictionary IS NOT NULL))::float8 \
                      / sum(cardinality(raw_lens)) \
                      FILTER (WHERE dictionary IS NOT NULL), \
                    (sum(length(bytes)) FILTER (WHERE dictionary IS NULL))::float8 \
                      / sum(cardinality(raw_lens)) FILTER (WHERE dictionary IS NULL) \
             FROM d365audit.record_blocks",
            &[],
        )
        .await
        .expect("sizes");
    let (with, packed_with, packed_without): (i64, f64, f64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(with, 100, "records 201..=300 use the dictionary");
    assert!(packed_with < packed_without, "{packed_with} vs {packed_without}");
    let expected = records(1, 300);
    for archive in [&one, &two] {
        let page = archive
            .raw_page(
                &RecordQuery::default(),
                &PageRequest { limit: 1000, after: None, order: Order::OldestFirst },
            )
            .await
            .expect("raw page");
        let found: Vec<Vec<u8>> = page.rows.into_iter().map(|r| r.raw).collect();
        assert_eq!(found, expected);
    }
    let report = two.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 300);
}
