//! Transactional outbox: a service writes its state change and the event row
//! in one transaction ([`enqueue`]); a [`Relay`] publishes unpublished rows to
//! JetStream with `Nats-Msg-Id` = the row id and marks them published.
//!
//! Crash between commit and publish: the row stays unpublished and the next
//! relay publishes it. Crash between publish and marking: the row is
//! published again with the same `Nats-Msg-Id`, and the stream's duplicate
//! window stores it once (consumers are idempotent past the window too).
//! Several relays at once are safe: each claims rows with `FOR UPDATE SKIP
//! LOCKED`, so no row is published by two relays at the same moment.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::HeaderMap;
use async_nats::jetstream;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::events::{Envelope, Event};
use crate::nats::Subjects;

/// The outbox of one service. Each table is written only by its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbox {
    Front,
    Scheduler,
    Notifier,
}

impl Outbox {
    pub fn table(self) -> &'static str {
        match self {
            Outbox::Front => "front_outbox",
            Outbox::Scheduler => "scheduler_outbox",
            Outbox::Notifier => "notifier_outbox",
        }
    }

    /// The LISTEN/NOTIFY channel that wakes this outbox's relay.
    pub fn channel(self) -> &'static str {
        match self {
            Outbox::Front => "front_outbox_wake",
            Outbox::Scheduler => "scheduler_outbox_wake",
            Outbox::Notifier => "notifier_outbox_wake",
        }
    }
}

/// Writes `event` into the caller's transaction. Returns the event id, which
/// becomes the `Nats-Msg-Id`. The notify is delivered only if the
/// transaction commits.
pub async fn enqueue(conn: &mut PgConnection, outbox: Outbox, event: Event) -> sqlx::Result<Uuid> {
    enqueue_envelope(conn, outbox, Envelope::new(event)).await
}

/// As [`enqueue`], with an envelope whose id the caller chose (e.g. the
/// occurrence id of a `campaign.triggered`).
pub async fn enqueue_envelope(
    conn: &mut PgConnection,
    outbox: Outbox,
    envelope: Envelope,
) -> sqlx::Result<Uuid> {
    let payload = serde_json::to_value(&envelope).expect("events always serialise");
    let sql = format!(
        "INSERT INTO {} (id, event_type, payload) VALUES ($1, $2, $3)",
        outbox.table()
    );
    sqlx::query(&sql)
        .bind(envelope.id)
        .bind(envelope.event.event_type())
        .bind(payload)
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(outbox.channel())
        .execute(&mut *conn)
        .await?;
    Ok(envelope.id)
}

/// Publishes one service's outbox rows to JetStream.
pub struct Relay {
    /// The service's pool; the relay holds one connection per batch.
    pub db: PgPool,
    pub js: jetstream::Context,
    pub subjects: Subjects,
    pub outbox: Outbox,
    /// The fallback poll, in case a notification was missed.
    pub poll_interval: Duration,
    pub batch_size: i64,
    /// Published rows older than this are deleted.
    pub retention: Duration,
}

impl Relay {
    pub fn new(infra: &crate::Infra, outbox: Outbox) -> Self {
        let c = &infra.config.outbox;
        Relay {
            db: infra.db.clone(),
            js: infra.js.clone(),
            subjects: infra.subjects.clone(),
            outbox,
            poll_interval: Duration::from_millis(c.poll_interval_ms),
            batch_size: c.batch_size,
            retention: Duration::from_secs(c.retention_days.max(0) as u64 * 86_400),
        }
    }

    /// Runs until `shutdown`: woken by NOTIFY, with the poll as a fallback.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let this = std::sync::Arc::new(self);
        let token = shutdown.clone();
        crate::shutdown::restarting("outbox-relay", shutdown, move || {
            let (this, token) = (this.clone(), token.clone());
            async move { this.run_once(token).await }
        })
        .await
    }

    async fn run_once(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        // Listen before the first drain, so a row committed in between still
        // rings the bell.
        let mut listener = PgListener::connect_with(&self.db)
            .await
            .context("outbox relay: cannot open a LISTEN connection")?;
        listener
            .listen(self.outbox.channel())
            .await
            .context("outbox relay: LISTEN failed")?;
        let mut last_cleanup = Instant::now() - Duration::from_secs(3600);
        loop {
            if let Err(e) = self.drain().await {
                tracing::warn!(outbox = self.outbox.table(), error = %format!("{e:#}"), "outbox relay: publish failed; will retry");
            }
            if last_cleanup.elapsed() > Duration::from_secs(600) {
                last_cleanup = Instant::now();
                if let Err(e) = self.cleanup().await {
                    tracing::warn!(outbox = self.outbox.table(), error = %e, "outbox cleanup failed");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                n = listener.recv() => {
                    if n.is_err() {
                        // The listener reconnects by itself; don't spin meanwhile.
                        tokio::time::sleep(self.poll_interval).await;
                    }
                }
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
        }
        Ok(())
    }

    /// Publishes every unpublished row, batch by batch. Returns how many.
    pub async fn drain(&self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let n = self.publish_batch().await?;
            total += n;
            if n < self.batch_size as usize {
                return Ok(total);
            }
        }
    }

    /// Claims up to one batch, publishes it, marks it published, commits.
    async fn publish_batch(&self) -> anyhow::Result<usize> {
        let table = self.outbox.table();
        let mut tx = self.db.begin().await?;
        let rows: Vec<(Uuid, String, serde_json::Value)> = sqlx::query_as(&format!(
            "SELECT id, event_type, payload FROM {table}
             WHERE published_at IS NULL ORDER BY seq LIMIT $1
             FOR UPDATE SKIP LOCKED"
        ))
        .bind(self.batch_size)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        // Publish the whole batch, then wait for every acknowledgement.
        let mut acks = Vec::with_capacity(rows.len());
        for (id, event_type, payload) in &rows {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", id.to_string().as_str());
            headers.insert("Nasvyazi-Event-Type", event_type.as_str());
            let body = serde_json::to_vec(payload)?;
            let ack = self
                .js
                .publish_with_headers(self.subjects.event_type(event_type), headers, body.into())
                .await
                .context("publish")?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await.context("publish acknowledgement")?;
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
        sqlx::query(&format!(
            "UPDATE {table} SET published_at = now() WHERE id = ANY($1)"
        ))
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        metrics::counter!("nasvyazi_outbox_published_total", "outbox" => table)
            .increment(rows.len() as u64);
        Ok(rows.len())
    }

    async fn cleanup(&self) -> sqlx::Result<()> {
        let secs = self.retention.as_secs() as f64;
        sqlx::query(&format!(
            "DELETE FROM {} WHERE published_at < now() - make_interval(secs => $1)",
            self.outbox.table()
        ))
        .bind(secs)
        .execute(&self.db)
        .await?;
        Ok(())
    }
}
