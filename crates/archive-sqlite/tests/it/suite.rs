//! The backend-independent behaviour suite, on real SQLite files.

use std::sync::{Arc, Mutex};

use archive_sqlite::{SqliteArchive, SqliteOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_behaviour_suite() {
    let folders: Arc<Mutex<Vec<tempfile::TempDir>>> = Arc::default();
    archive::suite::run_all(|| {
        let folders = folders.clone();
        async move {
            let folder = tempfile::tempdir().expect("temporary folder");
            let path = folder.path().join("archive.sqlite");
            folders.lock().expect("not poisoned").push(folder);
            SqliteArchive::open(path, super::clock()).expect("archive opens")
        }
    })
    .await;
}

/// The suite again with a dictionary trained after a handful of records and staged index
/// entries merged every few records, so every check also runs on dictionary-compressed records
/// and on indexes split across both levels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_behaviour_suite_with_early_dictionaries_and_merges() {
    let folders: Arc<Mutex<Vec<tempfile::TempDir>>> = Arc::default();
    archive::suite::run_all(|| {
        let folders = folders.clone();
        async move {
            let folder = tempfile::tempdir().expect("temporary folder");
            let path = folder.path().join("archive.sqlite");
            folders.lock().expect("not poisoned").push(folder);
            let options = SqliteOptions {
                dictionary_after_records: 8,
                dictionary_samples: 64,
                dictionary_bytes: 4096,
                merge_min_records: 7,
                merge_max_records: 7,
                ..SqliteOptions::default()
            };
            SqliteArchive::open_with(path, super::clock(), options).expect("archive opens")
        }
    })
    .await;
}
