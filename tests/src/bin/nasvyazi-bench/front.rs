//! The front door under load: `POST /api/v1/subscriptions` and
//! `POST /api/v1/appeals` at a fixed rate (500 requests/s for 60 s by
//! default) against the release `nasvyazi front`, with p50/p99 latency
//! and errors; beside it, pgbench's single-row inserts at the same rate on
//! the same machine as the reference (target: p99 < 50 ms, no error).
//!
//! The load generator is this bench's own open-loop client (tokio +
//! reqwest, one request every 2 ms whatever the answers do): wrk, the load
//! tool Debian has, holds connections busy rather than a rate, which hides
//! queueing delay (coordinated omission). Each request's latency is counted
//! from the moment it was due.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::results::Results;
use crate::support::{BenchDb, percentile, spawn_service, stop};

pub async fn run() -> anyhow::Result<Results> {
    let mut results = Results::child();
    // `BENCH_INTAKE_*`, the names from before the service was called
    // front, still work.
    let rate: u64 = env_or("BENCH_FRONT_RATE", env_or("BENCH_INTAKE_RATE", 500));
    let secs: u64 = env_or("BENCH_FRONT_SECS", env_or("BENCH_INTAKE_SECS", 60));
    let db = BenchDb::new().await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut env = db.env();
    env.retain(|(k, _)| k != "NASVYAZI_HTTP__LISTEN");
    env.extend([
        (
            "NASVYAZI_HTTP__LISTEN".to_string(),
            format!("127.0.0.1:{port}"),
        ),
        // The anti-abuse limits would (rightly) refuse one client sending
        // 500 requests a second: the bench measures the work, not the
        // refusal.
        (
            "NASVYAZI_LIMITS__PUBLIC_POSTS_PER_MINUTE".into(),
            "100000000".into(),
        ),
        (
            "NASVYAZI_LIMITS__CONFIRMATIONS_PER_ADDRESS_PER_HOUR".into(),
            "100000000".into(),
        ),
        (
            "NASVYAZI_APPEALS__RATE_LIMIT_PER_MINUTE".into(),
            "100000000".into(),
        ),
    ]);
    let child = spawn_service("front", &env)?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(10))
        .build()?;
    wait_ready(&http, &base).await?;

    for (name, path) in [
        ("subscriptions", "/api/v1/subscriptions"),
        ("appeals", "/api/v1/appeals"),
    ] {
        let (lat, errors, sent) = load(&http, &format!("{base}{path}"), name, rate, secs).await;
        let p50 = percentile(&lat, 50.0) * 1000.0;
        let p99 = percentile(&lat, 99.0) * 1000.0;
        results.target(
            &format!("front: POST {path} at {rate}/s for {secs} s, p99 latency"),
            p99,
            "ms",
            &format!("p50 {p50:.1} ms; {errors} errors of {sent}; target p99 < 50 ms and no error"),
            p99 < 50.0 && errors == 0,
        );
    }
    stop(child).await;

    match pgbench(&db.url, rate, secs.min(30)) {
        Ok((p50, p99)) => results.target(
            &format!("reference: pgbench single-row INSERT at {rate}/s, p99 latency"),
            p99,
            "ms",
            &format!("p50 {p50:.2} ms; the database alone on the same machine; information"),
            true,
        ),
        Err(e) => results.note("front", &format!("pgbench reference skipped: {e:#}")),
    }
    db.drop().await;
    Ok(results)
}

fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn wait_ready(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            // /readyz is on the staff listener; the public one answers
            // real requests once start-up is done.
            if let Ok(r) = http.get(format!("{base}/api/v1/regions")).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("front never became ready")
}

const LANGS: [&str; 3] = ["ru", "kk", "en"];

fn body(kind: &str, i: u64) -> serde_json::Value {
    match kind {
        "subscriptions" => serde_json::json!({
            "email": format!("load{i}@example.kz"),
            "language": LANGS[(i % 3) as usize],
            "topics": ["overdose"],
        }),
        _ => serde_json::json!({
            "category": "hospital_no_ost",
            "region": "pavlodar",
            "city": "pavlodar",
            "text": "В больнице не дали метадон, пришлось уйти раньше срока.",
            "language": "ru",
        }),
    }
}

/// Open loop: request `i` is due at `i / rate`; its latency runs from then.
async fn load(
    http: &reqwest::Client,
    url: &str,
    kind: &'static str,
    rate: u64,
    secs: u64,
) -> (Vec<f64>, usize, usize) {
    let latencies = Arc::new(Mutex::new(Vec::with_capacity((rate * secs) as usize)));
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let total = rate * secs;
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + Duration::from_micros(i * 1_000_000 / rate);
        tokio::time::sleep_until(due).await;
        let (http, url) = (http.clone(), url.to_string());
        let (latencies, errors) = (latencies.clone(), errors.clone());
        tasks.spawn(async move {
            let ok = match http.post(&url).json(&body(kind, i)).send().await {
                Ok(r) => r.status().is_success(),
                Err(_) => false,
            };
            let took = Instant::now().duration_since(due.into_std()).as_secs_f64();
            latencies.lock().await.push(took);
            if !ok {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let mut lat = std::mem::take(&mut *latencies.lock().await);
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let sent = lat.len();
    (lat, errors.load(std::sync::atomic::Ordering::Relaxed), sent)
}

/// pgbench, rate-limited, one-row inserts; p50/p99 from its per-transaction
/// log (microseconds in the third column).
fn pgbench(url: &str, rate: u64, secs: u64) -> anyhow::Result<(f64, f64)> {
    let dir = std::env::temp_dir().join(nasvyazi_tests::unique_name("pgbench"));
    std::fs::create_dir_all(&dir)?;
    let ok = Command::new("psql")
        .args([url, "-X", "-q", "-c", "CREATE TABLE IF NOT EXISTS bench_rows (id bigserial PRIMARY KEY, body text NOT NULL, at timestamptz NOT NULL DEFAULT now())"])
        .status()?
        .success();
    anyhow::ensure!(ok, "psql could not create the table");
    let script = dir.join("insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO bench_rows (body) VALUES ('В больнице не дали метадон');\n",
    )?;
    let out = Command::new("pgbench")
        .current_dir(&dir)
        .args([
            "-n",
            "-c",
            "8",
            "-j",
            "2",
            "-R",
            &rate.to_string(),
            "-T",
            &secs.to_string(),
            "-l",
            "-f",
        ])
        .arg(&script)
        .arg(url)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "pgbench: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lat = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("pgbench_log"))
        {
            for line in std::fs::read_to_string(&path)?.lines() {
                if let Some(us) = line
                    .split_whitespace()
                    .nth(2)
                    .and_then(|v| v.parse::<f64>().ok())
                {
                    lat.push(us / 1000.0);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(!lat.is_empty(), "pgbench wrote no log");
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Ok((percentile(&lat, 50.0), percentile(&lat, 99.0)))
}
