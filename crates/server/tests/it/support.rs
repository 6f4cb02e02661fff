//! A real server on 127.0.0.1:0 over its own SQLite archive in a temporary folder, filled with
//! realistic records from the emulator's generator, plus a small HTTP client that keeps a
//! session cookie and the page's CSRF token like a browser would.

use std::sync::{Arc, OnceLock};

use archive::{AccessStore, Archive, IncomingRecord, IngestBatch, Role};
use archive_sqlite::SqliteArchive;

use chrono::{DateTime, TimeZone, Utc};
use clock::ManualClock;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use server::{Hooks, ServerSettings, ServerState};

/// A Tuesday morning, when people work.
pub(crate) fn tuesday(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 2, hour, 0, 0).unwrap()
}

/// "Now" for the tests: the evening of the generated day.
pub(crate) fn now() -> DateTime<Utc> {
    tuesday(20)
}

/// The records every test archive holds: 06:00 to 11:00 of a Tuesday, the first two hours
/// before working hours (generated once).
pub(crate) fn generated() -> &'static [String] {
    static RECORDS: OnceLock<Vec<String>> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let world = emulator::activity::TenantWorld::new(
            7,
            uuid::Uuid::parse_str("41463f53-8812-40f4-890f-865bf6e35190").unwrap(),
            "contoso.onmicrosoft.com",
            &emulator::activity::ActivityProfile::default(),
        );
        world.records("Audit.General", tuesday(6), tuesday(11))
    })
}

pub(crate) fn incoming(raw: &[u8]) -> IncomingRecord {
    IncomingRecord {
        raw: raw.to_vec(),
        record: record::parse_record(raw).expect("generated records parse"),
    }
}

/// Default settings as `d365audit serve` picks them on loopback (no `Secure` cookies).
pub(crate) fn settings() -> ServerSettings {
    ServerSettings { secure_cookies: false, ..ServerSettings::default() }
}

/// The password every test account gets.
pub(crate) const PASSWORD: &str = "correct horse battery staple";

pub(crate) struct TestServer {
    pub(crate) base: String,
    pub(crate) archive: SqliteArchive,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) http: reqwest::Client,
    /// Holds the archive's folder for the server's lifetime.
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// A server with default settings, the generated records, and one account per role
    /// (`viewer`, `auditor`, `admin`).
    pub(crate) async fn start() -> TestServer {
        TestServer::start_with(settings(), Hooks::default()).await
    }

    pub(crate) async fn start_with(settings: ServerSettings, hooks: Hooks) -> TestServer {
        let server = TestServer::empty_with(settings, hooks).await;
        server.ingest(generated().iter().map(|r| r.as_bytes().to_vec()).collect()).await;
        server
    }

    /// A server over an archive without records (accounts are still created).
    pub(crate) async fn empty_with(settings: ServerSettings, hooks: Hooks) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::frozen_at(now()));
        let archive = SqliteArchive::open(dir.path().join("archive.db"), clock.clone()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = ServerState::new(Arc::new(archive.clone()), clock.clone(), settings, hooks);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        let server = TestServer {
            base: format!("http://{addr}"),
            archive,
            clock,
            http: client(),
            _dir: dir,
            shutdown: Some(stop),
            task: Some(task),
        };
        for role in [Role::Viewer, Role::Auditor, Role::Admin] {
            server.add_account(role.as_str(), role).await;
        }
        server
    }

    /// Stores records (each as its own bytes).
    pub(crate) async fn ingest(&self, raws: Vec<Vec<u8>>) {
        for chunk in raws.chunks(1_000) {
            let batch = IngestBatch {
                records: chunk.iter().map(|raw| incoming(raw)).collect(),
                ..IngestBatch::default()
            };
            self.archive.ingest(batch).await.unwrap();
        }
    }

    /// Creates an account with [`PASSWORD`] through the same code the CLI uses.
    pub(crate) async fn add_account(&self, username: &str, role: Role) {
        server::accounts::add_account(
            &self.archive,
            &server::accounts::Actor::command_line(),
            username,
            &format!("{} person", username),
            role,
            server::secrets::Secret::new(PASSWORD),
            now(),
        )
        .await
        .unwrap();
    }

    /// An API token for `username`.
    pub(crate) async fn token(&self, username: &str) -> String {
        let (_, secret) = server::accounts::create_api_token(
            &self.archive,
            &server::accounts::Actor::command_line(),
            username,
            "test",
            None,
            now(),
        )
        .await
        .unwrap();
        secret.expose().to_string()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signs in through the form and returns the browser-like session.
    pub(crate) async fn sign_in(&self, username: &str) -> Browser {
        self.try_sign_in(username, PASSWORD).await.expect("sign-in works")
    }

    /// Signs in; `Err` with the final response when it did not succeed.
    pub(crate) async fn try_sign_in(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Browser, reqwest::Response> {
        let mut browser = Browser {
            base: self.base.clone(),
            http: client(),
            cookies: Vec::new(),
            csrf: String::new(),
        };
        let form_page = browser.get("/sign-in").await;
        let html = form_page.text().await.unwrap();
        let form_token = hidden_value(&html, "form_token").expect("the sign-in form has its token");
        let response = browser
            .post_form(
                "/sign-in",
                &[
                    ("username", username),
                    ("password", password),
                    ("form_token", &form_token),
                    ("next", ""),
                ],
            )
            .await;
        if response.status() != reqwest::StatusCode::SEE_OTHER {
            return Err(response);
        }
        let page = browser.get("/account").await;
        let html = page.text().await.unwrap();
        browser.csrf = hidden_value(&html, "csrf").expect("signed-in pages carry the CSRF token");
        Ok(browser)
    }

    /// Entries of the access log, newest first.
    pub(crate) async fn access_log(&self) -> Vec<archive::AccessEntry> {
        self.archive.access_log(1_000, None).await.unwrap()
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
    }
}

/// A client that follows no redirects (tests look at them).
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The value of the first hidden input named `name` in `html`.
pub(crate) fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

/// A signed-in browser: keeps the cookies the server sets and the CSRF token of its pages.
#[derive(Debug, Clone)]
pub(crate) struct Browser {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) cookies: Vec<(String, String)>,
    pub(crate) csrf: String,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            let expired = text.contains("Max-Age=0");
            if !expired {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> reqwest::Response {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        response
    }

    /// GET that must answer 200; returns the body.
    pub(crate) async fn page(&mut self, path: &str) -> String {
        let response = self.get(path).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub(crate) async fn post_form(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        response
    }

    /// POST a form with this session's CSRF token added.
    pub(crate) async fn submit(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let csrf = self.csrf.clone();
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf", &csrf));
        self.post_form(path, &fields).await
    }

    pub(crate) fn location(response: &reqwest::Response) -> String {
        response
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

/// A request with a bearer token.
pub(crate) fn with_token(request: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
    request.header(reqwest::header::AUTHORIZATION, format!("Bearer {token}"))
}

/// The JSON error of a response: (status, code, message).
pub(crate) async fn error_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("errors are JSON");
    (
        status,
        body["error"]["code"].as_str().expect("error.code").to_string(),
        body["error"]["message"].as_str().expect("error.message").to_string(),
    )
}

/// An `audits` row of the Dataverse Web API as it arrives (with annotations).
pub(crate) fn audit_row(
    audit_id: uuid::Uuid,
    at: DateTime<Utc>,
    action: i32,
    operation: i32,
    record: uuid::Uuid,
    record_name: &str,
    user: (uuid::Uuid, &str),
) -> String {
    serde_json::json!({
        "@odata.etag": "W/\"1\"",
        "auditid": audit_id.to_string(),
        "createdon": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "action": action,
        "operation": operation,
        "objecttypecode": "contact",
        "_objectid_value": record.to_string(),
        "_objectid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "contact",
        "_objectid_value@OData.Community.Display.V1.FormattedValue": record_name,
        "_userid_value": user.0.to_string(),
        "_userid_value@OData.Community.Display.V1.FormattedValue": user.1,
        "_callinguserid_value": null,
        "transactionid": "00000000-0000-0000-0000-000000000000",
        "attributemask": ",1,2,",
    })
    .to_string()
}

/// A `RetrieveAuditDetails` response for an attribute change (`OldValue`, `NewValue`).
pub(crate) fn attribute_detail(old: serde_json::Value, new: serde_json::Value) -> String {
    serde_json::json!({
        "@odata.context": "https://contoso.crm4.dynamics.com/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.RetrieveAuditDetailsResponse",
        "AuditDetail": {
            "@odata.type": "#Microsoft.Dynamics.CRM.AttributeAuditDetail",
            "OldValue": old,
            "NewValue": new,
            "InvalidNewValueAttributes": [],
            "LocLabelLanguageCode": 0,
            "DeletedAttributes": { "Count": 0, "Keys": [], "Values": [] }
        }
    })
    .to_string()
}

/// A `RetrieveAuditDetails` response for a share.
pub(crate) fn share_detail(principal: uuid::Uuid, name: &str, old: &str, new: &str) -> String {
    serde_json::json!({
        "AuditDetail": {
            "@odata.type": "#Microsoft.Dynamics.CRM.ShareAuditDetail",
            "OldPrivileges": old,
            "NewPrivileges": new,
            "Principal": {
                "@odata.type": "#Microsoft.Dynamics.CRM.systemuser",
                "systemuserid": principal.to_string(),
                "fullname": name
            }
        }
    })
    .to_string()
}

impl TestServer {
    /// Stores audit changes (row and detail bytes as received, parsed by `record`) through
    /// `ChangeStore::ingest_changes`, as the Dataverse sync does.
    pub(crate) async fn ingest_changes(&self, items: &[(String, Option<String>)]) {
        let changes = items
            .iter()
            .map(|(row, detail)| {
                let mut change = record::parse_audit_row(row.as_bytes()).expect("rows parse");
                if let Some(detail) = detail {
                    change.detail =
                        record::parse_audit_detail(detail.as_bytes()).expect("details parse");
                }
                archive::IncomingChange {
                    raw_row: row.as_bytes().to_vec(),
                    raw_detail: detail.as_ref().map(|d| d.as_bytes().to_vec()),
                    source: archive::ChangeSource::Dataverse {
                        environment: "https://contoso.crm4.dynamics.com".into(),
                    },
                    change,
                }
            })
            .collect();
        let receipt = archive::ChangeStore::ingest_changes(
            &self.archive,
            archive::ChangeBatch { changes, ..archive::ChangeBatch::default() },
        )
        .await
        .unwrap();
        assert_eq!(receipt.inserted as usize, items.len(), "{receipt:?}");
    }
}
