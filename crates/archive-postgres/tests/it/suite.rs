//! The backend-independent behaviour suite, each check on a fresh database.

use std::sync::{Arc, Mutex};

use archive_postgres::PostgresOptions;

use super::{TestDatabase, open_with, server};

async fn run_suite(options: PostgresOptions) {
    let Some(server) = server() else { return };
    let databases: Arc<Mutex<Vec<TestDatabase>>> = Arc::default();
    archive::suite::run_all(|| {
        let (databases, server, options) = (databases.clone(), server.clone(), options.clone());
        async move {
            let db = TestDatabase::create(&server).await;
            let archive = open_with(&db, options).await;
            databases.lock().expect("not poisoned").push(db);
            archive
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_behaviour_suite() {
    run_suite(PostgresOptions::default()).await;
}

/// The suite again with a dictionary trained after a handful of records, so every check also
/// runs on dictionary-compressed records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_behaviour_suite_with_an_early_dictionary() {
    run_suite(PostgresOptions {
        dictionary_after_records: 8,
        dictionary_samples: 64,
        dictionary_bytes: 4096,
        ..PostgresOptions::default()
    })
    .await;
}
