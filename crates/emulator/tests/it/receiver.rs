//! A small webhook receiver on 127.0.0.1:0 that records what it gets and answers with a
//! configurable status.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Received {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    }

    pub(crate) fn is_validation(&self) -> bool {
        self.headers.contains_key("webhook-validationcode")
    }
}

#[derive(Debug, Default)]
struct Shared {
    log: Mutex<Vec<Received>>,
    validation_status: AtomicU16,
    notification_status: AtomicU16,
}

#[derive(Debug, Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    shared: Arc<Shared>,
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let received = Received { headers, body: body.to_vec() };
    let status = if received.is_validation() {
        shared.validation_status.load(Ordering::SeqCst)
    } else {
        shared.notification_status.load(Ordering::SeqCst)
    };
    shared.log.lock().unwrap().push(received);
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let shared = Arc::new(Shared::default());
        shared.validation_status.store(200, Ordering::SeqCst);
        shared.notification_status.store(200, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/o365", listener.local_addr().unwrap());
        let app = Router::new().fallback(receive).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, shared }
    }

    pub(crate) fn answer_validation_with(&self, status: u16) {
        self.shared.validation_status.store(status, Ordering::SeqCst);
    }

    pub(crate) fn answer_notifications_with(&self, status: u16) {
        self.shared.notification_status.store(status, Ordering::SeqCst);
    }

    pub(crate) fn validations(&self) -> Vec<Received> {
        self.shared.log.lock().unwrap().iter().filter(|r| r.is_validation()).cloned().collect()
    }

    pub(crate) fn notifications(&self) -> Vec<Received> {
        self.shared.log.lock().unwrap().iter().filter(|r| !r.is_validation()).cloned().collect()
    }
}

/// Polls `condition` every 10 ms for up to 10 s.
pub(crate) async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}
