//! The heaviest path: a 1,000,000-contact campaign. Fan-out through the
//! notifier's code against the same `INSERT ... SELECT` run directly with
//! psql on the same data (target ratio <= 1.3); then the real notifier
//! binary expanding and sending it, with its peak resident memory (target
//! under 150 MiB) and its end-to-end send rate.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nasvyazi_notifier::fanout::{AUDIENCE_SQL, expand};
use nasvyazi_shared::campaigns::Campaign;
use uuid::Uuid;

use crate::results::Results;
use crate::support::{BenchDb, peak_rss_mib, spawn_service, stop};

pub async fn run() -> anyhow::Result<Results> {
    let mut results = Results::child();
    let n: usize = std::env::var("BENCH_CONTACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let db = BenchDb::new().await?;
    let started = Instant::now();
    db.insert_contacts(n, "example.kz").await?;
    eprintln!(
        "   {n} sealed contacts inserted in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let campaign_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO campaigns (id, name, status, schedule_kind, once_at, time_zone, topics, channels, templates, quiet_start, quiet_end)
         VALUES ($1, 'bench', 'approved', 'once', ARRAY['2030-01-01 10:00'::timestamp], 'Asia/Almaty', ARRAY['overdose'], ARRAY['email'],
                 $2, '00:00', '00:00')",
    )
    .bind(campaign_id)
    .bind(serde_json::json!({"ru": {"email_subject": "Международный день информирования о передозировках",
        "email_text": "Сегодня мы вспоминаем тех, кого потеряли.\n\nОтписаться: {{ unsubscribe_url }}"}}))
    .execute(&db.pool)
    .await?;
    let campaign = Campaign::load(&db.pool, campaign_id)
        .await?
        .expect("campaign");
    let expected = (0..n).filter(|j| j % 4 != 3).count() as u64;

    let (mut ours, mut psql) = (Vec::new(), Vec::new());
    for _round in 0..2 {
        let occurrence = new_occurrence(&db, campaign_id).await?;
        let t = Instant::now();
        let mut tx = db.pool.begin().await?;
        let made = expand(&mut tx, &campaign, occurrence, chrono::Utc::now()).await?;
        tx.commit().await?;
        ours.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(made == expected, "fan-out made {made}, expected {expected}");
        reset(&db).await?;

        let occurrence = new_occurrence(&db, campaign_id).await?;
        let sql = AUDIENCE_SQL
            .replace("$1", &format!("'{occurrence}'::uuid"))
            .replace("$2", "now()")
            .replace("$3", "ARRAY['email']")
            .replace("$4", "ARRAY['overdose']")
            .replace("$5", "ARRAY[]::text[]")
            .replace("$6", "ARRAY[]::text[]");
        psql.push(psql_time(&db.url, &sql)?);
        reset(&db).await?;
    }
    let best = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
    results.ratio(
        &format!("fan-out: {n} contacts -> {expected} deliveries (notifier code)"),
        best(&ours),
        "s",
        &format!("the same INSERT ... SELECT with psql: {:.2} s", best(&psql)),
        best(&psql),
        "ratio <= 1.3",
        |r| r <= 1.3,
    );

    // The real notifier: expands and sends the campaign; peak memory.
    let (sink, port) = sink()?;
    let secs: u64 = std::env::var("BENCH_SEND_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let mut env = db.env();
    env.extend([
        ("NASVYAZI_EMAIL__TRANSPORT".to_string(), "smtp".to_string()),
        (
            "NASVYAZI_EMAIL__SMTP_URL".into(),
            format!("smtp://127.0.0.1:{port}"),
        ),
        ("NASVYAZI_EMAIL__POOL_SIZE".into(), "4".into()),
        ("NASVYAZI_EMAIL__MAX_PER_SECOND".into(), "100000".into()),
        (
            "NASVYAZI_EMAIL__MAX_PER_DOMAIN_PER_MINUTE".into(),
            "100000000".into(),
        ),
        ("NASVYAZI_NOTIFIER__BATCH_SIZE".into(), "200".into()),
        ("NASVYAZI_NOTIFIER__CONCURRENCY".into(), "8".into()),
    ]);
    let child = spawn_service("notifier", &env)?;
    let pid = child.id();
    // Wait for the notifier's streams, then ring the doorbell as the
    // scheduler's relay would.
    let nats = async_nats::connect(nasvyazi_tests::servers().nats_url).await?;
    let js = async_nats::jetstream::new(nats);
    let subjects = nasvyazi_shared::nats::Subjects::new(&db.prefix);
    for _ in 0..100 {
        if js.get_stream(subjects.events_stream()).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let occurrence = new_occurrence(&db, campaign_id).await?;
    let envelope = nasvyazi_shared::events::Envelope {
        v: 1,
        id: occurrence,
        occurred_at: chrono::Utc::now(),
        event: nasvyazi_shared::events::Event::CampaignTriggered {
            campaign_id,
            occurrence_id: occurrence,
        },
    };
    let started = Instant::now();
    js.publish(
        subjects.event_type("campaign.triggered"),
        serde_json::to_vec(&envelope)?.into(),
    )
    .await?
    .await?;
    let mut peak = 0.0f64;
    let mut expanded_at = None;
    loop {
        if let Some(m) = peak_rss_mib(pid) {
            peak = peak.max(m);
        }
        if expanded_at.is_none() {
            let done: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM fanouts WHERE occurrence_id = $1)",
            )
            .bind(occurrence)
            .fetch_one(&db.pool)
            .await?;
            if done {
                expanded_at = Some(Instant::now());
            }
        } else if expanded_at.is_some_and(|t| t.elapsed() > Duration::from_secs(secs)) {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sent: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE ref_id = $1 AND status = 'sent'")
            .bind(occurrence)
            .fetch_one(&db.pool)
            .await?;
    stop(child).await;
    drop(sink);
    results.target(
        &format!("notifier peak RSS during the {n}-contact campaign"),
        peak,
        "MiB",
        &format!("target < 150 MiB (fan-out, then {secs} s of sending)"),
        peak < 150.0,
    );
    if let Some(t) = expanded_at {
        let sending = t.elapsed().as_secs_f64();
        results.target(
            "campaign email sent end to end (ledger -> render -> SMTP), notifier",
            sent as f64 / sending.max(0.001),
            "msg/s",
            &format!("{sent} sent in {sending:.0} s, pool 4; information"),
            true,
        );
    }
    db.drop().await;
    Ok(results)
}

async fn new_occurrence(db: &BenchDb, campaign_id: Uuid) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO occurrences (id, campaign_id, scheduled_at, status) VALUES ($1, $2, now(), 'triggered')")
        .bind(id)
        .bind(campaign_id)
        .execute(&db.pool)
        .await?;
    Ok(id)
}

async fn reset(db: &BenchDb) -> anyhow::Result<()> {
    sqlx::query("TRUNCATE deliveries, fanouts")
        .execute(&db.pool)
        .await?;
    sqlx::query("VACUUM ANALYZE deliveries")
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Runs `sql` with psql and returns psql's own `\timing`, in seconds.
fn psql_time(url: &str, sql: &str) -> anyhow::Result<f64> {
    let out = Command::new("psql")
        .args([
            url,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "\\timing on",
            "-c",
            sql,
        ])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let ms: f64 = text
        .lines()
        .filter_map(|l| l.strip_prefix("Time: "))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|v| v.parse().ok())
        .next_back()
        .ok_or_else(|| anyhow::anyhow!("no timing in psql output: {text}"))?;
    Ok(ms / 1000.0)
}

/// Postfix's smtp-sink if installed, else our loopback server.
enum Sink {
    Postfix(std::process::Child),
    /// Held only so the server lives as long as the sink.
    Ours(#[allow(dead_code)] nasvyazi_tests::smtp::SmtpServer),
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Sink::Postfix(c) = self {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn sink() -> anyhow::Result<(Sink, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    if std::path::Path::new("/usr/sbin/smtp-sink").exists() {
        let c = Command::new("/usr/sbin/smtp-sink")
            .args(crate::support::sink_args(port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        std::thread::sleep(Duration::from_millis(300));
        Ok((Sink::Postfix(c), port))
    } else {
        let server = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(nasvyazi_tests::smtp::SmtpServer::start())
        });
        let port = server.port();
        Ok((Sink::Ours(server), port))
    }
}
