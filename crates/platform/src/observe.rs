//! What `/metrics` shows: every metric described and exported at zero from
//! the start (a Prometheus user can graph and alert before anything
//! happens), HTTP request counts and latencies per route template, process
//! figures, build info, and gauges of the queues an organiser must hear
//! about (deliveries due and their age, outbox lag, consumer backlog, dead
//! letters).
//!
//! Labels are ids, route templates, kinds and states: never a raw path
//! (it may hold a token), an address or a name.

use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use axum::http::Request;
use axum::response::Response;
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use tokio_util::sync::CancellationToken;

use crate::Infra;

/// Durable consumers of every service (for zeroed dead-letter counters).
pub const CONSUMERS: &[&str] = &[
    "notifier-contact-pending",
    "notifier-contact-confirmed",
    "intake-contact-blocked",
    "notifier-campaign-triggered",
    "notifier-campaign-resend",
    "notifier-campaign-test",
    "notifier-console-sign-in",
    "notifier-appeal-received",
    "notifier-signature-pending",
    "notifier-signature-confirmed",
    "notifier-appeal-status",
];

/// The outbox tables (labels of the outbox metrics).
pub const OUTBOXES: &[&str] = &["front_outbox", "notifier_outbox", "scheduler_outbox"];

/// Delivery channels (labels of the queue gauges).
pub const CHANNELS: &[&str] = &["email", "telegram"];

/// Histogram buckets for request latencies, in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Describes every metric and sets each (with its known labels) to zero.
/// Called once, when the recorder is installed.
pub fn register_all() {
    describe_counter!(
        "nasvyazi_http_requests_total",
        "HTTP requests answered, by method, route template and status"
    );
    describe_histogram!(
        "nasvyazi_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency, by method and route template"
    );
    describe_counter!(
        "nasvyazi_deliveries_total",
        "delivery attempts by kind, channel and outcome"
    );
    for channel in CHANNELS {
        for outcome in ["sent", "retry", "failed", "skipped"] {
            counter!("nasvyazi_deliveries_total", "kind" => "campaign", "channel" => *channel, "outcome" => outcome)
                .absolute(0);
        }
    }
    describe_counter!("nasvyazi_letters_total", "letters to officials by outcome");
    for outcome in ["sent", "retry", "failed", "unknown", "skipped"] {
        counter!("nasvyazi_letters_total", "outcome" => outcome).absolute(0);
    }
    describe_counter!(
        "nasvyazi_dead_letters_total",
        "events dead-lettered, by consumer"
    );
    for c in CONSUMERS {
        counter!("nasvyazi_dead_letters_total", "consumer" => *c).absolute(0);
    }
    describe_counter!(
        "nasvyazi_outbox_published_total",
        "events published by each outbox relay"
    );
    for o in OUTBOXES {
        counter!("nasvyazi_outbox_published_total", "outbox" => *o).absolute(0);
    }
    describe_counter!(
        "nasvyazi_appeals_received_total",
        "appeals received (no category: counts only)"
    );
    counter!("nasvyazi_appeals_received_total").absolute(0);
    describe_counter!(
        "nasvyazi_occurrences_total",
        "campaign occurrences triggered by the scheduler"
    );
    counter!("nasvyazi_occurrences_total", "status" => "triggered").absolute(0);
    describe_histogram!(
        "nasvyazi_trigger_lateness_seconds",
        Unit::Seconds,
        "how late an occurrence was triggered after its due time"
    );
    describe_counter!(
        "nasvyazi_worker_restarts_total",
        "long-lived workers restarted after a panic or an error"
    );
    for w in crate::shutdown::WORKERS {
        counter!("nasvyazi_worker_restarts_total", "worker" => *w).absolute(0);
    }
    describe_counter!("nasvyazi_panics_total", "panics caught in the process");
    counter!("nasvyazi_panics_total").absolute(0);
    describe_counter!(
        "nasvyazi_startup_retries_total",
        "start-up attempts that waited for a dependency"
    );
    for d in ["postgresql", "migrations", "nats", "jetstream"] {
        counter!("nasvyazi_startup_retries_total", "dependency" => d).absolute(0);
    }
    describe_gauge!(
        "nasvyazi_campaign_deliveries",
        "deliveries of recent campaign occurrences by channel and state"
    );
    describe_gauge!(
        "nasvyazi_deliveries_due",
        "deliveries queued or waiting for a retry whose time has come, by channel"
    );
    describe_gauge!(
        "nasvyazi_deliveries_oldest_due_age_seconds",
        Unit::Seconds,
        "age of the oldest delivery whose time has come, by channel"
    );
    for c in CHANNELS {
        gauge!("nasvyazi_deliveries_due", "channel" => *c).set(0.0);
        gauge!("nasvyazi_deliveries_oldest_due_age_seconds", "channel" => *c).set(0.0);
    }
    describe_gauge!(
        "nasvyazi_outbox_unpublished",
        "outbox rows not yet published to NATS"
    );
    describe_gauge!(
        "nasvyazi_outbox_lag_seconds",
        Unit::Seconds,
        "age of the oldest unpublished outbox row"
    );
    for o in OUTBOXES {
        gauge!("nasvyazi_outbox_unpublished", "outbox" => *o).set(0.0);
        gauge!("nasvyazi_outbox_lag_seconds", "outbox" => *o).set(0.0);
    }
    describe_gauge!(
        "nasvyazi_consumer_pending",
        "events waiting for each durable consumer (JetStream num_pending + ack pending)"
    );
    for c in CONSUMERS {
        gauge!("nasvyazi_consumer_pending", "consumer" => *c).set(0.0);
    }
    describe_gauge!(
        "nasvyazi_dead_letters_stored",
        "messages in the dead-letter stream waiting for a person"
    );
    gauge!("nasvyazi_dead_letters_stored").set(0.0);
    describe_gauge!(
        "nasvyazi_build_info",
        "build information (value 1), labelled with the version"
    );
    gauge!("nasvyazi_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    process_collector().describe();
    process_collector().collect();
}

/// Process figures (RSS, open file descriptors, CPU seconds, start time).
pub fn process_collector() -> &'static metrics_process::Collector {
    static C: std::sync::OnceLock<metrics_process::Collector> = std::sync::OnceLock::new();
    C.get_or_init(|| metrics_process::Collector::new("nasvyazi_"))
}

/// Middleware: counts and times every request by route template.
pub async fn http_metrics(
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".into());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    counter!("nasvyazi_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("nasvyazi_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    res
}

/// Every 15 s: the queue gauges from PostgreSQL and JetStream. Runs in the
/// notifier (one copy per process is enough: the figures are global).
pub async fn queue_gauges(infra: Infra, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        if let Err(e) = sample(&infra).await {
            tracing::debug!(error = %format!("{e:#}"), "queue gauges not updated");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(15)) => {}
        }
    }
}

async fn sample(infra: &Infra) -> anyhow::Result<()> {
    let due: Vec<(String, i64, f64)> = sqlx::query_as(
        "SELECT channel, count(*),
                COALESCE(EXTRACT(EPOCH FROM now() - min(next_attempt_at)), 0)::float8
         FROM deliveries
         WHERE status IN ('queued', 'retry') AND next_attempt_at <= now()
         GROUP BY channel",
    )
    .fetch_all(&infra.db)
    .await?;
    for c in CHANNELS {
        let (n, age) = due
            .iter()
            .find(|(ch, _, _)| ch == c)
            .map(|(_, n, a)| (*n as f64, *a))
            .unwrap_or((0.0, 0.0));
        gauge!("nasvyazi_deliveries_due", "channel" => *c).set(n);
        gauge!("nasvyazi_deliveries_oldest_due_age_seconds", "channel" => *c).set(age);
    }
    for o in OUTBOXES {
        let (n, lag): (i64, f64) = sqlx::query_as(&format!(
            "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8
             FROM {o} WHERE published_at IS NULL"
        ))
        .fetch_one(&infra.db)
        .await?;
        gauge!("nasvyazi_outbox_unpublished", "outbox" => *o).set(n as f64);
        gauge!("nasvyazi_outbox_lag_seconds", "outbox" => *o).set(lag);
    }
    let events = infra.js.get_stream(infra.subjects.events_stream()).await?;
    for c in CONSUMERS {
        if let Ok(info) = events.consumer_info(*c).await {
            let pending = info.num_pending as f64 + info.num_ack_pending as f64;
            gauge!("nasvyazi_consumer_pending", "consumer" => *c).set(pending);
        }
    }
    let mut dlq = infra.js.get_stream(infra.subjects.dlq_stream()).await?;
    let info = dlq.info().await?;
    gauge!("nasvyazi_dead_letters_stored").set(info.state.messages as f64);
    Ok(())
}
