//! The heaviest path: a 1,000,000-contact campaign. Fan-out through the
//! notifier's code against the same `INSERT ... SELECT` run directly with
//! psql on the same data (target ratio <= 1.3); then the real notifier
//! binary expanding and sending it, with its peak resident memory (target
//! under 150 MiB) and its end-to-end send rate.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nasvyazi_campaigns::Campaign;
use nasvyazi_notifier::fanout::{AUDIENCE_SQL, expand};
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
    // The same subject, text and HTML as the SMTP section's sample message,
    // so smtp-source's reference below sends messages of the same size.
    .bind(serde_json::json!({"ru": {"email_subject": "Международный день информирования о передозировках",
        "email_text": format!("{}\n\nОтписаться: {{{{ unsubscribe_url }}}}",
            "Сегодня мы вспоминаем тех, кого потеряли, и требуем доступа к налоксону. ".repeat(12)),
        "email_html": format!("<p>{}</p><p><a href=\"{{{{ unsubscribe_url }}}}\">Отписаться</a></p>",
            "Сегодня мы вспоминаем тех, кого потеряли. ".repeat(12))}}))
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
    let mut counters_at_expansion = None;
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
                counters_at_expansion = Some(Counters::read(&db, pid).await?);
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
    let counters_at_end = Counters::read(&db, pid).await?;
    stop(child).await;
    drop(sink);
    results.target(
        &format!("notifier peak RSS during the {n}-contact campaign"),
        peak,
        "MiB",
        &format!("target < 50 MiB (fan-out, then {secs} s of sending)"),
        peak < 50.0,
    );
    if let (Some(t), Some(before)) = (expanded_at, counters_at_expansion) {
        let sending = t.elapsed().as_secs_f64();
        let rate = sent as f64 / sending.max(0.001);
        let msgs = (sent as f64).max(1.0);
        // The reference in the same run: smtp-source into the same kind of
        // sink, the same connection count and message size.
        match crate::smtp::sink_tools() {
            Some((sink_bin, source_bin)) => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")?
                    .local_addr()?
                    .port();
                let mut sink_proc = Command::new(&sink_bin)
                    .args(crate::support::sink_args(port))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()?;
                tokio::time::sleep(Duration::from_millis(300)).await;
                let size = nasvyazi_notifier::channels::mime::build(&crate::smtp::sample(0), None)
                    .map(|m| m.formatted().len())
                    .unwrap_or(4000);
                let reference =
                    crate::smtp::smtp_source_rate(&source_bin, port, 100_000, size)?;
                let _ = sink_proc.kill();
                let _ = sink_proc.wait();
                results.ratio(
                    "campaign email end to end (ledger -> contact -> render -> SMTP -> recorded), notifier",
                    rate,
                    "msg/s",
                    &format!(
                        "{sent} sent in {sending:.0} s, pool {c}; Postfix smtp-source -> smtp-sink, {c} connections, {size} bytes: {reference:.0} msg/s",
                        c = crate::smtp::CONNECTIONS
                    ),
                    reference,
                    "ratio >= 0.8",
                    |r| r >= 0.8,
                );
            }
            None => results.target(
                "campaign email end to end (ledger -> contact -> render -> SMTP -> recorded), notifier",
                rate,
                "msg/s",
                &format!("{sent} sent in {sending:.0} s; smtp-source not installed"),
                true,
            ),
        }
        let d = counters_at_end.since(&before);
        results.target(
            "PostgreSQL transactions per campaign message (round trips, notifier's database)",
            d.transactions / msgs,
            "tx/msg",
            "pg_stat_database xact_commit + xact_rollback while sending; information",
            true,
        );
        results.target(
            "notifier CPU per 1,000 campaign messages",
            d.notifier_cpu / msgs * 1000.0,
            "CPU s",
            "utime + stime of the notifier process while sending; information",
            true,
        );
        results.target(
            "PostgreSQL CPU per 1,000 campaign messages",
            d.postgres_cpu / msgs * 1000.0,
            "CPU s",
            "utime + stime of every postgres process while sending; information",
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

/// Counters read before and after the sending window.
struct Counters {
    transactions: f64,
    notifier_cpu: f64,
    postgres_cpu: f64,
}

impl Counters {
    async fn read(db: &crate::support::BenchDb, notifier: u32) -> anyhow::Result<Counters> {
        let tx: i64 = sqlx::query_scalar(
            "SELECT (xact_commit + xact_rollback)::int8 FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&db.pool)
        .await?;
        Ok(Counters {
            transactions: tx as f64,
            notifier_cpu: cpu_seconds(notifier).unwrap_or(0.0),
            postgres_cpu: postgres_cpu_seconds(),
        })
    }

    fn since(&self, before: &Counters) -> Counters {
        Counters {
            transactions: self.transactions - before.transactions,
            notifier_cpu: self.notifier_cpu - before.notifier_cpu,
            postgres_cpu: self.postgres_cpu - before.postgres_cpu,
        }
    }
}

/// utime + stime of a process, in seconds (clock ticks of 100 Hz).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU seconds of every `postgres` process on the machine (the server and
/// its backends; the bench is the only client while it runs).
fn postgres_cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| c.trim() == "postgres")
                .unwrap_or(false)
        })
        .filter_map(cpu_seconds)
        .sum()
}
