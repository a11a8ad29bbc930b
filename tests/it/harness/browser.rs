//! One headless Chromium over WebDriver per test binary, shared by the browser tests.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::http;

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub const CHROMIUM: &str = "/usr/bin/chromium";

pub struct Driver {
    child: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Killing chromedriver alone leaves its Chromium running, orphaned, after the tests
        // end (and a benchmark after them waits for a quiet machine): ending the WebDriver
        // session first closes the browser.
        end_session(&self.base, &self.session);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `DELETE /session/{id}` (WebDriver §8.2, Delete Session), blocking and bounded, as `Drop` needs.
fn end_session(base: &str, session: &str) {
    use std::io::{Read, Write};
    let Some(addr) = base.strip_prefix("http://") else { return };
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else { return };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!("DELETE /session/{session} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_ok() {
        let _ = stream.read_to_end(&mut Vec::new());
    }
}

impl Driver {
    /// None when Chromium is not installed here; with `CI` set it must be (.ci/run installs it).
    pub(crate) async fn start() -> Option<Driver> {
        if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
            assert!(std::env::var_os("CI").is_none(), "CI is set but chromium/chromedriver are not installed");
            eprintln!("skipping: chromium and chromium-driver are not installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if http().get(format!("{base}/status")).send().await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not start");
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                     "--window-size=900,900", format!("--user-data-dir={}", profile.path().display())]
        }}}});
        let res: Value = http().post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session =
            res["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {res}")).to_string();
        Some(Driver { child, base, session, _profile: profile })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let req = http().request(method.clone(), url);
        let req =
            if method == reqwest::Method::GET || method == reqwest::Method::DELETE { req } else { req.json(&body) };
        let res = req.send().await.unwrap();
        res.json::<Value>().await.unwrap()["value"].clone()
    }

    pub(crate) async fn goto(&self, url: &str) {
        let v = self.call(reqwest::Method::POST, "/url", json!({ "url": url })).await;
        assert!(v.is_null(), "navigation failed: {v}");
    }

    pub(crate) async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", Value::Null).await.as_str().unwrap().to_string()
    }

    pub(crate) async fn find(&self, css: &str) -> String {
        let v = self.call(reqwest::Method::POST, "/element", json!({ "using": "css selector", "value": css })).await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(|id| id.as_str())
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{el}/value"), json!({ "text": text })).await;
    }

    pub(crate) async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{el}/click"), json!({})).await;
    }

    /// Clicks and waits (bounded) until the page it was on is gone: a next page with the same
    /// title would otherwise be read before it has loaded.
    pub(crate) async fn click_and_wait(&self, css: &str) {
        let body = self.find("body").await;
        self.click(css).await;
        for _ in 0..100 {
            let v = self.call(reqwest::Method::GET, &format!("/element/{body}/name"), Value::Null).await;
            if v.get("error").is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("clicking {css} did not leave the page");
    }

    pub(crate) async fn clear(&self, css: &str) {
        let el = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{el}/clear"), json!({})).await;
    }

    /// The current value of a form field (what the person sees in it).
    pub(crate) async fn value(&self, css: &str) -> String {
        let el = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{el}/property/value"), Value::Null)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub(crate) async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", Value::Null).await.as_str().unwrap_or("").to_string()
    }

    pub(crate) async fn title(&self) -> String {
        self.call(reqwest::Method::GET, "/title", Value::Null).await.as_str().unwrap_or("").to_string()
    }

    /// Waits (bounded) for a page with this title: a click returns before the next page has
    /// always finished loading on a busy machine.
    pub(crate) async fn expect_title(&self, expected: &str) {
        let mut last = String::new();
        for _ in 0..100 {
            last = self.title().await;
            if last == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected the page '{expected}', still on '{last}' at {}", self.url().await);
    }

    /// Runs a script in the page and returns its value.
    pub(crate) async fn execute(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", json!({ "script": script, "args": [] })).await
    }

    /// Forgets every cookie of the current page's host (a new person at the same browser).
    pub(crate) async fn delete_cookies(&self) {
        self.call(reqwest::Method::DELETE, "/cookie", Value::Null).await;
    }

    /// Waits (bounded) until the browser is at a URL starting with `prefix`; returns it.
    pub(crate) async fn wait_for_url(&self, prefix: &str) -> String {
        let mut at = String::new();
        for _ in 0..100 {
            at = self.url().await;
            if at.starts_with(prefix) {
                return at;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected to arrive at {prefix}, still at {at} ('{}')", self.title().await);
    }

    /// Adds a virtual authenticator to the browser (WebAuthn Level 2 §11.3, WebDriver
    /// extension): a platform authenticator that keeps discoverable passkeys, verifies the user
    /// and consents without a person; passkeys made in the browser live in it.
    pub(crate) async fn add_virtual_authenticator(&self) -> String {
        let options = json!({ "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
            "hasUserVerification": true, "isUserConsenting": true, "isUserVerified": true });
        let v = self.call(reqwest::Method::POST, "/webauthn/authenticator", options).await;
        v.as_str().unwrap_or_else(|| panic!("no virtual authenticator: {v}")).to_string()
    }

    /// The passkeys the virtual authenticator `id` holds.
    pub(crate) async fn passkeys(&self, id: &str) -> Vec<Value> {
        let v =
            self.call(reqwest::Method::GET, &format!("/webauthn/authenticator/{id}/credentials"), Value::Null).await;
        v.as_array().unwrap_or_else(|| panic!("no credential list: {v}")).clone()
    }

    pub(crate) async fn screenshot(&self, name: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", Value::Null).await;
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, png.as_str().unwrap()).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }
}
