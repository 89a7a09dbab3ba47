//! Test support: `spawn_app()` starts front, scheduler and notifier
//! in-process on port 0, against a fresh PostgreSQL database and a NATS
//! subject prefix of their own, so tests run in parallel without meeting.
//! Every log line is captured, so tests can search it for canaries.
//!
//! Where the servers are comes from NASVYAZI_TEST_PG_URL and
//! NASVYAZI_TEST_NATS_URL, or from `.data/env` written by `just prepare`.

pub mod agent;
pub mod cluster;
pub mod logs;
pub mod media;
pub mod smtp;
pub mod webdriver;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use nasvyazi_shared::auth::{self, Role};
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::{Config, Infra};
use secrecy::ExposeSecret;
use sqlx::{Connection, PgConnection};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Where the test servers are.
pub struct Servers {
    /// A URL of the `postgres` maintenance database (to create databases).
    pub pg_admin_url: String,
    pub nats_url: String,
}

/// Reads the servers' URLs from the environment or `.data/env`.
pub fn servers() -> Servers {
    let from_file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.data/env"))
        .unwrap_or_default();
    let lookup = |key: &str, default: &str| {
        std::env::var(key).ok().unwrap_or_else(|| {
            from_file
                .lines()
                .filter_map(|l| l.trim().strip_prefix("export "))
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .map(str::to_string)
                .unwrap_or_else(|| default.to_string())
        })
    };
    Servers {
        pg_admin_url: lookup(
            "NASVYAZI_TEST_PG_URL",
            "postgres://postgres:postgres@127.0.0.1:5432/postgres",
        ),
        nats_url: lookup("NASVYAZI_TEST_NATS_URL", "nats://127.0.0.1:4222"),
    }
}

/// A unique lowercase name: `<prefix>_<unix seconds>_<random>`.
pub fn unique_name(prefix: &str) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        "{prefix}_{secs}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// A fresh, empty database; returns its URL. Databases of earlier runs
/// older than two hours are dropped on the way.
pub async fn create_database() -> (String, String) {
    let servers = servers();
    let mut admin = PgConnection::connect(&servers.pg_admin_url)
        .await
        .expect("connect to the PostgreSQL maintenance database (run `just prepare`)");
    let name = unique_name("nvt");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    drop_stale_databases(&mut admin).await;
    let base = servers
        .pg_admin_url
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap();
    (format!("{base}/{name}"), name)
}

async fn drop_stale_databases(admin: &mut PgConnection) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'nvt\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let ts: Option<u64> = name.split('_').nth(1).and_then(|t| t.parse().ok());
        if ts.is_some_and(|t| t + 7200 < now) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *admin)
                .await;
        }
    }
}

/// Drops a test database (best effort).
pub async fn drop_database(name: &str) {
    if let Ok(mut admin) = PgConnection::connect(&servers().pg_admin_url).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
    }
}

/// A configuration for one test: its own database, NATS prefix, fresh keys,
/// ephemeral ports, short timings. `extra` is TOML merged on top.
pub fn test_config(database_url: &str, extra: &str) -> Config {
    test_config_at(database_url, "http://127.0.0.1:8080", extra)
}

/// As [`test_config`], with links in messages pointing at `public_url`.
pub fn test_config_at(database_url: &str, public_url: &str, extra: &str) -> Config {
    let servers = servers();
    let keys = Keyring::generate();
    let prefix = unique_name("t").replace('_', "-");
    let toml = format!(
        r#"
[database]
url = "{database_url}"
max_connections = 5
[nats]
url = "{nats}"
prefix = "{prefix}"
max_deliver = 3
ack_wait_secs = 2
duplicate_window_secs = 60
max_age_days = 1
[http]
listen = "127.0.0.1:0"
public_url = "{public_url}"
[console]
listen = "127.0.0.1:0"
[scheduler]
listen = "127.0.0.1:0"
[notifier]
listen = "127.0.0.1:0"
poll_interval_ms = 200
[outbox]
poll_interval_ms = 200
[limits]
# Proof of work in tests: cheap to solve, valid at once (the pow tests set
# their own).
proof_of_work_bits = 8
proof_of_work_wait_secs = 0
[email]
outbox_dir = "{outbox_dir}"
[crypto]
master_key = "{master}"
blind_index_key = "{blind}"
[log]
filter = "info,nasvyazi=debug"
"#,
        nats = servers.nats_url,
        master = keys.master_base64().expose_secret(),
        blind = keys.blind_base64().expose_secret(),
        outbox_dir = std::env::temp_dir().join(unique_name("outbox")).display(),
    );
    let merged = merge_toml(&toml, extra);
    Config::from_toml(&merged).expect("test configuration is valid")
}

pub(crate) fn merge_toml(base: &str, extra: &str) -> String {
    let mut a: toml::Table = base.parse().expect("base TOML");
    let b: toml::Table = extra.parse().expect("extra TOML");
    for (k, v) in b {
        match (a.get_mut(&k), v) {
            (Some(toml::Value::Table(t)), toml::Value::Table(u)) => t.extend(u),
            (_, v) => {
                a.insert(k, v);
            }
        }
    }
    toml::to_string(&a).unwrap()
}

/// The three services running in-process for one test.
pub struct TestApp {
    pub config: Arc<Config>,
    /// Direct handles on the test's database and NATS.
    pub infra: Infra,
    /// front's public listener (`http.listen`).
    pub front: SocketAddr,
    /// front's staff listener (`console.listen`): console, admin API,
    /// `/metrics`.
    pub console_addr: SocketAddr,
    pub scheduler: SocketAddr,
    pub notifier: SocketAddr,
    pub http: reqwest::Client,
    pub db_name: String,
    pub shutdown: CancellationToken,
    tasks: Option<JoinSet<anyhow::Result<()>>>,
}

/// Starts the app with the default test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with("").await
}

/// Starts the app with `extra` TOML merged into the test configuration.
pub async fn spawn_app_with(extra: &str) -> TestApp {
    spawn(extra, true).await
}

/// As [`spawn_app_with`] without a notifier: the test starts (and kills)
/// notifiers itself with [`TestApp::start_notifier`].
pub async fn spawn_app_without_notifier(extra: &str) -> TestApp {
    spawn(extra, false).await
}

async fn spawn(extra: &str, with_notifier: bool) -> TestApp {
    logs::init();
    let (url, db_name) = create_database().await;
    let bind = || async { TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let (li, ls, ln) = (bind().await, bind().await, bind().await);
    let lc = bind().await;
    let console_addr = lc.local_addr().unwrap();
    let public_url = format!("http://{}", li.local_addr().unwrap());
    let console = format!("[console]\nurl = \"http://{console_addr}\"\n");
    let config = Arc::new(test_config_at(
        &url,
        &public_url,
        &merge_toml(&console, extra),
    ));
    // Migrate and create streams once, before the services race to.
    let infra = Infra::connect(config.clone(), "test").await.expect("infra");
    let (front, scheduler, notifier) = (
        li.local_addr().unwrap(),
        ls.local_addr().unwrap(),
        ln.local_addr().unwrap(),
    );
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let listeners = nasvyazi_front::Listeners {
        public: li,
        console: lc,
    };
    tasks.spawn(nasvyazi_front::run(
        config.clone(),
        listeners,
        shutdown.clone(),
    ));
    tasks.spawn(nasvyazi_scheduler::run(
        config.clone(),
        ls,
        shutdown.clone(),
    ));
    let notifier = if with_notifier {
        tasks.spawn(nasvyazi_notifier::run(config.clone(), ln, shutdown.clone()));
        notifier
    } else {
        drop(ln);
        scheduler
    };
    let app = TestApp {
        config,
        infra,
        front,
        console_addr,
        scheduler,
        notifier,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        db_name,
        shutdown,
        tasks: Some(tasks),
    };
    for addr in [front, console_addr, scheduler, notifier] {
        app.wait_ready(addr).await;
    }
    app
}

/// A notifier started by a test, which can stop it gracefully or kill it.
pub struct RunningNotifier {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningNotifier {
    /// Simulates a crash: the task is dropped where it stands, nothing is
    /// released or recorded.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

impl TestApp {
    /// The URL of `path` on the listener that serves it: the staff
    /// listener for `/admin...`, `/api/v1/admin/...`, `/metrics` and
    /// `/api/openapi.json`, the public one for everything else.
    pub fn url(&self, path: &str) -> String {
        let staff = ["/admin", "/api/v1/admin/", "/metrics", "/api/openapi.json"]
            .iter()
            .any(|p| path.starts_with(p))
            || path.starts_with("/static/console.");
        if staff {
            self.console_url(path)
        } else {
            self.public_url(path)
        }
    }

    /// `http://<public listener>/<path>`.
    pub fn public_url(&self, path: &str) -> String {
        format!("http://{}{}", self.front, path)
    }

    /// `http://<staff listener>/<path>`.
    pub fn console_url(&self, path: &str) -> String {
        format!("http://{}{}", self.console_addr, path)
    }

    async fn wait_ready(&self, addr: SocketAddr) {
        let url = format!("http://{addr}/readyz");
        for _ in 0..200 {
            if let Ok(r) = self.http.get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{url} never became ready");
    }

    /// Starts one more notifier on this app's database and NATS prefix.
    pub async fn start_notifier(&self) -> RunningNotifier {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = self.shutdown.child_token();
        let task = tokio::spawn(nasvyazi_notifier::run(
            self.config.clone(),
            listener,
            shutdown.clone(),
        ));
        self.wait_ready(addr).await;
        RunningNotifier {
            addr,
            shutdown,
            task,
        }
    }

    /// Inserts a contact directly, sealed as front seals it (for fan-out
    /// and campaign tests that need many contacts fast).
    pub async fn insert_contact(&self, c: NewContact<'_>) -> uuid::Uuid {
        cluster::insert_contact(&self.infra.db, &self.config, c).await
    }

    /// A solved, unused proof of work from `GET /api/v1/challenge`, for the
    /// `X-Proof-Of-Work` header or a form's `pow` field (survey answers
    /// always need one; so does anything through the onion address).
    pub async fn proof_of_work(&self) -> String {
        let c: serde_json::Value = self
            .http
            .get(self.public_url("/api/v1/challenge"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let challenge = c["challenge"].as_str().expect("a challenge");
        let bits = c["bits"].as_u64().expect("bits") as u32;
        let counter = nasvyazi_shared::limits::pow::solve(challenge, bits);
        format!("{challenge}:{counter}")
    }

    /// A fresh admin API token of `role`.
    pub async fn token(&self, role: Role) -> String {
        let mut tx = self.infra.db.begin().await.unwrap();
        let t = auth::create_token(&mut tx, role, "test", "test")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        t.token.expose_secret().to_string()
    }

    /// The admin JSON API as a client holding `token` (from [`Self::token`]).
    pub fn admin<'a>(&'a self, token: &'a str) -> AdminClient<'a> {
        AdminClient { app: self, token }
    }

    /// Stops the services (as SIGTERM would) and waits for them; returns
    /// how long they took. Then removes the test's database and streams.
    pub async fn stop(mut self) -> Duration {
        let started = std::time::Instant::now();
        self.shutdown.cancel();
        if let Some(mut tasks) = self.tasks.take() {
            while let Some(r) = tasks.join_next().await {
                r.expect("service task panicked").expect("service failed");
            }
        }
        let took = started.elapsed();
        self.cleanup().await;
        took
    }

    async fn cleanup(&self) {
        let _ = self
            .infra
            .js
            .delete_stream(self.infra.subjects.events_stream())
            .await;
        let _ = self
            .infra
            .js
            .delete_stream(self.infra.subjects.dlq_stream())
            .await;
        self.infra.db.close().await;
        drop_database(&self.db_name).await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A contact for [`TestApp::insert_contact`].
pub struct NewContact<'a> {
    pub channel: &'a str,
    pub address: &'a str,
    pub status: &'a str,
    pub language: &'a str,
    pub topics: &'a [&'a str],
    pub region: Option<&'a str>,
}

impl<'a> NewContact<'a> {
    /// An active email contact in Russian with no topics or region.
    pub fn email(address: &'a str) -> Self {
        NewContact {
            channel: "email",
            address,
            status: "active",
            language: "ru",
            topics: &[],
            region: None,
        }
    }
}

/// Polls `f` until it returns `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("condition not met within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Searches captured logs, every message in the NATS streams and a
/// `pg_dump` of the database for `needle` (a canary address, chat id ...),
/// case-insensitively; panics where it is found.
pub async fn assert_no_plaintext(app: &TestApp, needle: &str) {
    let needle_lc = needle.to_lowercase();
    let logs = logs::captured().to_lowercase();
    assert!(!logs.contains(&needle_lc), "the canary is in a log line");

    for stream in [
        app.infra.subjects.events_stream(),
        app.infra.subjects.dlq_stream(),
    ] {
        let s = app.infra.js.get_stream(&stream).await.unwrap();
        let last = s.clone().info().await.unwrap().state.last_sequence;
        for seq in 1..=last {
            if let Ok(m) = s.get_raw_message(seq).await {
                let body = String::from_utf8_lossy(&m.payload).to_lowercase();
                assert!(
                    !body.contains(&needle_lc),
                    "the canary is in NATS message {seq}"
                );
                assert!(
                    !format!("{:?}", m.headers)
                        .to_lowercase()
                        .contains(&needle_lc)
                );
            }
        }
    }

    let url = app.config.database.url.expose_secret().to_string();
    let dump = std::process::Command::new("pg_dump")
        .arg("--no-owner")
        .arg(&url)
        .output()
        .expect("pg_dump runs (postgresql-client)");
    assert!(
        dump.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout).to_lowercase();
    assert!(
        dump.contains("create table public.contacts"),
        "the dump is real"
    );
    assert!(
        !dump.contains(&needle_lc),
        "the canary is in the database in plain text"
    );
}

/// The admin JSON API with one bearer token: `app.admin(&token).post(path,
/// body)` instead of a `post(app, token, …)` written again in each test
/// file. Requests go to the listener that serves the path ([`TestApp::url`]);
/// the answer is returned as it came, for the test to assert on.
#[derive(Clone, Copy)]
pub struct AdminClient<'a> {
    app: &'a TestApp,
    token: &'a str,
}

impl AdminClient<'_> {
    /// `POST path` with a JSON body.
    pub async fn post(self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.send(self.app.http.post(self.app.url(path)).json(&body))
            .await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.send(self.app.http.put(self.app.url(path)).json(&body))
            .await
    }

    /// `GET path`.
    pub async fn get(self, path: &str) -> reqwest::Response {
        self.send(self.app.http.get(self.app.url(path))).await
    }

    /// `GET path`: the status and the body as JSON (null when it is not).
    pub async fn get_json(self, path: &str) -> (reqwest::StatusCode, serde_json::Value) {
        Self::json(self.get(path).await).await
    }

    /// `POST path` with a JSON body: the status and the answer as JSON
    /// (null when it is not).
    pub async fn post_json(
        self,
        path: &str,
        body: serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        Self::json(self.post(path, body).await).await
    }

    async fn json(r: reqwest::Response) -> (reqwest::StatusCode, serde_json::Value) {
        let status = r.status();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    async fn send(self, request: reqwest::RequestBuilder) -> reqwest::Response {
        request.bearer_auth(self.token).send().await.unwrap()
    }
}
