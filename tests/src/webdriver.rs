//! A small W3C WebDriver client on reqwest, for the console's browser tests:
//! one chromedriver per test on a free port, one headless Chromium on a
//! 360 x 740 window with a fresh profile, and the few commands the tests
//! use (navigate, find, click, type, read, cookies, screenshots).
//!
//! Debian's `chromium` and `chromium-driver` must be installed
//! (`deploy/dev/prepare.sh` installs them). Without them the tests fail
//! with a message saying so: they never skip silently.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// How long a find or a wait polls before it fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// The key W3C uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The window size every test uses: a small phone.
pub const WIDTH: u32 = 360;
pub const HEIGHT: u32 = 740;

/// A running chromedriver with one browser session.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    driver: Child,
    profile: PathBuf,
}

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([
        PathBuf::from("/usr/bin"),
        PathBuf::from("/usr/lib/chromium"),
    ]) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Where screenshots go: `target/screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("screenshots")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium (360 x 740). Panics with
    /// instructions when either is missing.
    pub async fn start() -> Browser {
        let chromium = find_binary(&["chromium", "chromium-browser", "google-chrome"]).expect(
            "chromium is not installed: the console's browser tests need Debian's `chromium` \
             and `chromium-driver` (run `just prepare`, or apt-get install chromium chromium-driver)",
        );
        let chromedriver = find_binary(&["chromedriver"]).expect(
            "chromedriver is not installed: the console's browser tests need Debian's \
             `chromium-driver` (run `just prepare`, or apt-get install chromium-driver)",
        );
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http
                .get(format!("{base}/status"))
                .send()
                .await
                .ok()
                .and_then(|r| r.status().is_success().then_some(()))
                .is_some();
            if ready {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not answer on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!(
            "nasvyazi-chromium-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--hide-scrollbars".into(),
            "--force-device-scale-factor=1".into(),
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={WIDTH},{HEIGHT}"),
        ];
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": { "binary": chromium.display().to_string(), "args": args },
            }}
        });
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {r}"))
            .to_string();
        let browser = Browser {
            http,
            base,
            session,
            driver,
            profile,
        };
        // Headless Chromium keeps windows at least 500 pixels wide: the
        // phone's screen is emulated instead (as DevTools' device mode does).
        browser.emulate(HEIGHT).await;
        browser
    }

    /// A 360-pixel-wide phone screen, `height` pixels tall.
    async fn emulate(&self, height: u32) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": true }),
        )
        .await;
    }

    /// A Chrome DevTools Protocol command through chromedriver.
    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.post("/goog/cdp/execute", json!({ "cmd": cmd, "params": params }))
            .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r: Value = req
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("chromedriver answers JSON");
        r["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let v = self.call(reqwest::Method::POST, path, Some(body)).await;
        if let Some(e) = v.get("error") {
            panic!("WebDriver {path}: {e}: {}", v["message"]);
        }
        v
    }

    async fn get(&self, path: &str) -> Value {
        let v = self.call(reqwest::Method::GET, path, None).await;
        if let Some(e) = v.get("error") {
            panic!("WebDriver {path}: {e}: {}", v["message"]);
        }
        v
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub async fn current_url(&self) -> String {
        self.get("/url").await.as_str().unwrap_or("").to_string()
    }

    pub async fn source(&self) -> String {
        self.get("/source").await.as_str().unwrap_or("").to_string()
    }

    /// Runs a script in the page (`return ...;`).
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    async fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        v.get(ELEMENT).and_then(|id| id.as_str()).map(|id| Element {
            browser: self,
            id: id.to_string(),
        })
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Element<'_> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            if tokio::time::Instant::now() > deadline {
                let url = self.current_url().await;
                panic!("no element {css} on {url}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every element matching `css` now.
    pub async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let v = self
            .post(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT].as_str())
            .map(|id| Element {
                browser: self,
                id: id.to_string(),
            })
            .collect()
    }

    /// Waits until the text of `css` contains `needle`; returns the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // The page may change under us (a form was just sent): an
            // element gone stale is looked for again.
            if let Some(e) = self.try_find(css).await {
                let text = self
                    .call(reqwest::Method::GET, &e.path("/text"), None)
                    .await
                    .as_str()
                    .map(str::to_string);
                if let Some(text) = &text
                    && text.contains(needle)
                {
                    return text.clone();
                }
                if tokio::time::Instant::now() > deadline {
                    panic!("{css} says {text:?}, not {needle:?}");
                }
            } else if tokio::time::Instant::now() > deadline {
                panic!("no element {css} on {}", self.current_url().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the current URL contains `part`.
    pub async fn wait_url(&self, part: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let url = self.current_url().await;
            if url.contains(part) {
                return url;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still on {url}, expected {part}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A cookie as the browser holds it (including `httpOnly`, `secure`,
    /// `sameSite`), if any.
    pub async fn cookie(&self, name: &str) -> Option<Value> {
        let v = self
            .call(reqwest::Method::GET, &format!("/cookie/{name}"), None)
            .await;
        v.get("name").is_some().then_some(v)
    }

    /// Saves a PNG of the viewport as `target/screenshots/<name>.png` and
    /// returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or(""))
            .expect("a base64 PNG");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// A screenshot of the whole page, however long: the screen is made as
    /// tall as the page for the picture (same width), then put back.
    pub async fn screenshot_full(&self, name: &str) -> PathBuf {
        let height = self
            .execute(
                "return Math.ceil(document.documentElement.scrollHeight);",
                vec![],
            )
            .await
            .as_u64()
            .unwrap_or(HEIGHT as u64)
            .clamp(HEIGHT as u64, 8000);
        self.execute("window.scrollTo(0, 0); return 0;", vec![])
            .await;
        self.emulate(height as u32).await;
        let path = self.screenshot(name).await;
        self.emulate(HEIGHT).await;
        path
    }

    /// Whether anything on the page is wider than the viewport (the
    /// elements that stick out, by tag and class).
    pub async fn overflowing(&self) -> Vec<String> {
        let v = self
            .execute(
                "const w = document.documentElement.clientWidth; const out = [];
                 for (const el of document.querySelectorAll('body *')) {
                   const r = el.getBoundingClientRect();
                   if (r.width > 0 && (r.right > w + 1 || r.left < -1)) {
                     let inScroll = false;
                     for (let p = el.parentElement; p; p = p.parentElement) {
                       const s = getComputedStyle(p);
                       if (s.overflowX === 'auto' || s.overflowX === 'scroll' || s.overflowX === 'hidden') { inScroll = true; break; }
                     }
                     if (!inScroll) out.push(el.tagName.toLowerCase() + '.' + el.className + ' ' + Math.round(r.left) + '-' + Math.round(r.right));
                   }
                 }
                 return out;",
                vec![],
            )
            .await;
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    }

    /// Ends the session and stops chromedriver.
    pub async fn quit(mut self) {
        let _ = self.call(reqwest::Method::DELETE, "", None).await;
        let _ = self.driver.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // kill_on_drop stops chromedriver (and with it the browser).
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// An element of the current page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/element/{}{rest}", self.id)
    }

    /// Scrolls the element into view, then clicks it.
    pub async fn click(&self) {
        self.browser
            .execute(
                "arguments[0].scrollIntoView({block: 'center'}); return 0;",
                vec![json!({ ELEMENT: self.id })],
            )
            .await;
        self.browser.post(&self.path("/click"), json!({})).await;
    }

    pub async fn clear(&self) {
        self.browser.post(&self.path("/clear"), json!({})).await;
    }

    /// Types `text` (a file path for a file input).
    pub async fn send_keys(&self, text: &str) {
        self.browser
            .post(&self.path("/value"), json!({ "text": text }))
            .await;
    }

    pub async fn text(&self) -> String {
        self.browser
            .get(&self.path("/text"))
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub async fn attribute(&self, name: &str) -> Option<String> {
        self.browser
            .get(&self.path(&format!("/attribute/{name}")))
            .await
            .as_str()
            .map(str::to_string)
    }

    /// The element's box: (x, y, width, height) in CSS pixels.
    pub async fn rect(&self) -> (f64, f64, f64, f64) {
        let r = self.browser.get(&self.path("/rect")).await;
        let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
        (f("x"), f("y"), f("width"), f("height"))
    }
}
