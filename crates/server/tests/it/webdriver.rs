//! A small W3C WebDriver client over chromedriver's HTTP API, driving a real headless
//! Chromium. Chromium and chromedriver must be installed (Debian: `apt-get install -y chromium
//! chromium-driver`; CI installs them); when they are missing the browser tests fail saying so.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

/// The key W3C WebDriver puts element references under.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(env) {
        return Some(PathBuf::from(path));
    }
    let paths = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&paths) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

pub(crate) struct Driver {
    process: Child,
    http: reqwest::Client,
    url: String,
    pub(crate) artifacts: PathBuf,
    pub(crate) downloads: PathBuf,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Where screenshots go: `target/test-artifacts/browser/` of the workspace.
fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("test-artifacts").join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Driver {
    /// Starts chromedriver and a headless Chromium session.
    pub(crate) async fn start() -> Driver {
        let missing = "the browser tests need Chromium and chromedriver: install them with \
                       `apt-get install -y chromium chromium-driver` (CI installs them), or set \
                       CHROME_BIN and CHROMEDRIVER to their paths";
        let chromedriver =
            find_program("CHROMEDRIVER", &["chromedriver"]).unwrap_or_else(|| panic!("{missing}"));
        let chrome = find_program("CHROME_BIN", &["chromium", "chromium-browser", "google-chrome"])
            .unwrap_or_else(|| panic!("{missing}"));
        let port = {
            let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            socket.local_addr().unwrap().port()
        };
        let process = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {missing}", chromedriver.display()));
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(response) = http.get(format!("{url}/status")).send().await
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not become ready on port {port}");
        let profile = tempfile::tempdir().unwrap();
        let downloads = profile.path().join("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        let mut driver = Driver {
            process,
            http,
            url,
            artifacts: artifacts_dir(),
            downloads: downloads.clone(),
            _profile: profile,
        };
        let user_data = driver._profile.path().join("user-data");
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chrome.to_string_lossy(),
                    "args": [
                        "--headless=new",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-dev-shm-usage",
                        "--disable-background-networking",
                        "--disable-extensions",
                        "--no-first-run",
                        "--window-size=1366,900",
                        format!("--user-data-dir={}", user_data.display()),
                    ],
                    "prefs": {
                        "download.default_directory": downloads.to_string_lossy(),
                        "download.prompt_for_download": false,
                    }
                }
            } }
        });
        let session = driver
            .http
            .post(format!("{}/session", driver.url))
            .json(&capabilities)
            .send()
            .await
            .unwrap();
        let body: Value = session.json().await.unwrap();
        let id = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver refused the session: {body}"))
            .to_string();
        driver.url = format!("{}/session/{id}", driver.url);
        driver
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let request = self.http.request(method.clone(), format!("{}{path}", self.url));
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap();
        assert!(status.is_success(), "WebDriver {method} {path}: {value}");
        value["value"].clone()
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    /// Scrolls the element matching `css` to the top of the window (for screenshots).
    pub(crate) async fn scroll_to(&self, css: &str) {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({
                "script": "arguments[0].scrollIntoView(true);",
                "args": [{ ELEMENT: element }]
            })),
        )
        .await;
    }

    pub(crate) async fn current_url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None).await.as_str().unwrap().to_string()
    }

    pub(crate) async fn title(&self) -> String {
        self.command(reqwest::Method::GET, "/title", None).await.as_str().unwrap().to_string()
    }

    /// The elements matching a CSS selector.
    pub(crate) async fn find_all(&self, css: &str) -> Vec<String> {
        let found = self
            .command(
                reqwest::Method::POST,
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found.as_array().unwrap().iter().map(|e| e[ELEMENT].as_str().unwrap().to_string()).collect()
    }

    /// The one element matching `css`, waiting up to 5 s for it.
    pub(crate) async fn find(&self, css: &str) -> String {
        for _ in 0..50 {
            if let Some(first) = self.find_all(css).await.into_iter().next() {
                return first;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no element matches {css} on {}", self.current_url().await);
    }

    /// Waits up to 5 s for the page's URL to contain `fragment` (a click's navigation may
    /// still be under way when the click returns).
    pub(crate) async fn wait_url(&self, fragment: &str) {
        for _ in 0..50 {
            if self.current_url().await.contains(fragment) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the URL never contained {fragment}: {}", self.current_url().await);
    }

    /// Waits up to 5 s for the element matching `css` to read `expected`.
    pub(crate) async fn wait_text(&self, css: &str, expected: &str) {
        let mut last = String::new();
        for _ in 0..50 {
            if let Some(element) = self.find_all(css).await.into_iter().next() {
                // The element may belong to the page being replaced.
                let request = format!("{}/element/{element}/text", self.url);
                if let Ok(response) = self.http.get(request).send().await
                    && let Ok(value) = response.json::<Value>().await
                {
                    last = value["value"].as_str().unwrap_or_default().to_string();
                    if last == expected {
                        return;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never read {expected:?} (last: {last:?})");
    }

    pub(crate) async fn text(&self, element: &str) -> String {
        self.command(reqwest::Method::GET, &format!("/element/{element}/text"), None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    pub(crate) async fn text_of(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.text(&element).await
    }

    pub(crate) async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{element}/click"), Some(json!({})))
            .await;
    }

    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{element}/clear"), Some(json!({})))
            .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Saves a PNG screenshot as `<name>.png` under the artifacts folder.
    pub(crate) async fn screenshot(&self, name: &str) -> PathBuf {
        let data = self.command(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap()).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let path = self.artifacts.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Waits up to 10 s for a finished download whose name starts with `prefix`.
    pub(crate) async fn downloaded(&self, prefix: &str) -> PathBuf {
        let mut names = Vec::new();
        for _ in 0..100 {
            names = std::fs::read_dir(&self.downloads)
                .unwrap()
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
                .collect();
            if let Some(name) =
                names.iter().find(|n| n.starts_with(prefix) && !n.ends_with(".crdownload"))
            {
                return self.downloads.join(name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no download named {prefix}… finished in {}: {names:?}", self.downloads.display());
    }

    pub(crate) async fn quit(self) {
        let _ = self.http.delete(&self.url).send().await;
    }
}
