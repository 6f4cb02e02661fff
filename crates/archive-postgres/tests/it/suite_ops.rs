//! The backend-independent behaviour suite of the blob queue, the access store and the SQL
//! console, each check on a fresh database.

use std::sync::{Arc, Mutex};

use super::{TestDatabase, open, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_operations_suite() {
    let Some(server) = server() else { return };
    let databases: Arc<Mutex<Vec<TestDatabase>>> = Arc::default();
    archive::suite_ops::run_all(|| {
        let (databases, server) = (databases.clone(), server.clone());
        async move {
            let db = TestDatabase::create(&server).await;
            let archive = open(&db).await;
            databases.lock().expect("not poisoned").push(db);
            archive
        }
    })
    .await;
}
