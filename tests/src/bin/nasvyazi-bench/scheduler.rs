//! 10,000 campaigns due at the same instant: the real scheduler binary's
//! trigger lateness (occurrence written minus scheduled instant), p50 and
//! p99 (target p99 under 1 s).

use std::time::{Duration, Instant};

use chrono::Utc;

use crate::results::Results;
use crate::support::{BenchDb, percentile, spawn_service, stop};

pub async fn run() -> anyhow::Result<Results> {
    let mut results = Results::child();
    let n: i64 = std::env::var("BENCH_CAMPAIGNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let db = BenchDb::new().await?;
    // Due 20 s from now, local Almaty time, all at once.
    let due = Utc::now() + chrono::Duration::seconds(20);
    let due_local = due.with_timezone(&chrono_tz::Asia::Almaty).naive_local();
    let due_local = due_local.with_nanosecond_zero();
    sqlx::query(
        "INSERT INTO campaigns (id, name, status, schedule_kind, once_at, time_zone, channels, templates, quiet_start, quiet_end)
         SELECT gen_random_uuid(), 'bench ' || i, 'approved', 'once', ARRAY[$1::timestamp], 'Asia/Almaty', ARRAY['email'],
                '{\"ru\": {\"email_subject\": \"s\", \"email_text\": \"t\"}}'::jsonb, '22:00', '09:00'
         FROM generate_series(1, $2) AS i",
    )
    .bind(due_local)
    .bind(n)
    .execute(&db.pool)
    .await?;
    let child = spawn_service("scheduler", &db.env())?;
    let started = Instant::now();
    loop {
        let fired: i64 = sqlx::query_scalar("SELECT count(*) FROM occurrences")
            .fetch_one(&db.pool)
            .await?;
        if fired >= n || started.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Give the relay a moment, then count what reached the outbox too.
    let lateness: Vec<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM (triggered_at - scheduled_at))::float8 FROM occurrences ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await?;
    stop(child).await;
    anyhow::ensure!(
        lateness.len() as i64 == n,
        "only {} of {n} occurrences fired",
        lateness.len()
    );
    let p50 = percentile(&lateness, 50.0);
    let p99 = percentile(&lateness, 99.0);
    results.target(
        &format!("scheduler: {n} campaigns due at once, trigger lateness p50"),
        p50 * 1000.0,
        "ms",
        "information",
        true,
    );
    results.target(
        &format!("scheduler: {n} campaigns due at once, trigger lateness p99"),
        p99 * 1000.0,
        "ms",
        "target p99 < 1000 ms",
        p99 < 1.0,
    );
    db.drop().await;
    Ok(results)
}

trait NoNanos {
    fn with_nanosecond_zero(self) -> Self;
}

impl NoNanos for chrono::NaiveDateTime {
    fn with_nanosecond_zero(self) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(0).unwrap_or(self)
    }
}
