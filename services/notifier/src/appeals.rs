//! Appeals in the notifier: `appeal.received` -> an alert to staff (email
//! and/or the staff Telegram chat) and an acknowledgement to the appellant
//! if they left a contact; `appeal.status_changed` -> a message to the
//! appellant. Each is a ledger row inserted in the consumer's transaction
//! (idempotent through the ledger's unique key); the reconciliation path
//! finds the same work in PostgreSQL when an event was lost.
//!
//! Ledger rows: `staff_alert` (ref and contact = the appeal, channel
//! `email` or `telegram`), `appeal_ack` (ref and contact = the appeal,
//! channel = the appellant's), `appeal_status` (ref = the appeal's status
//! nonce, so each change is one message and a superseded one is skipped).
//!
//! What it must never do: read an appeal's text, or put a contact in a row,
//! a log line or an error.

use std::time::Duration;

use nasvyazi_shared::Config;
use nasvyazi_shared::consumer::{HandleError, Handler};
use nasvyazi_shared::events::{Envelope, Event};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::deliveries;

/// The staff channels alerts go to, from configuration.
pub fn staff_channels(config: &Config) -> Vec<String> {
    let mut channels = Vec::new();
    if !config.appeals.staff_email.trim().is_empty() {
        channels.push("email".to_string());
    }
    if !config.telegram.staff_chat.trim().is_empty() {
        channels.push("telegram".to_string());
    }
    channels
}

/// Queues the staff alerts and the acknowledgement of one appeal.
pub async fn queue_received(
    conn: &mut PgConnection,
    appeal_id: Uuid,
    staff: &[String],
) -> sqlx::Result<u64> {
    let alerts = sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
         SELECT gen_random_uuid(), 'staff_alert', a.id, a.id, ch
         FROM appeals a CROSS JOIN unnest($2::text[]) AS ch
         WHERE a.id = $1
         ON CONFLICT DO NOTHING",
    )
    .bind(appeal_id)
    .bind(staff)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let ack = sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
         SELECT gen_random_uuid(), 'appeal_ack', id, id, contact_channel
         FROM appeals WHERE id = $1 AND contact_channel IS NOT NULL
         ON CONFLICT DO NOTHING",
    )
    .bind(appeal_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    deliveries::wake(conn).await?;
    Ok(alerts + ack)
}

/// Queues the status message of an appeal's current status (one per
/// status nonce).
pub async fn queue_status(conn: &mut PgConnection, appeal_id: Uuid) -> sqlx::Result<u64> {
    let n = sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
         SELECT gen_random_uuid(), 'appeal_status', status_nonce, id, contact_channel
         FROM appeals WHERE id = $1 AND contact_channel IS NOT NULL
         ON CONFLICT DO NOTHING",
    )
    .bind(appeal_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    deliveries::wake(conn).await?;
    Ok(n)
}

/// `appeal.received` -> staff alerts and the acknowledgement.
pub struct AppealReceived {
    /// Where staff alerts go (`email`, `telegram`).
    pub staff: Vec<String>,
}

#[async_trait::async_trait]
impl Handler for AppealReceived {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let Event::AppealReceived { appeal_id } = event.event else {
            return Err(HandleError::Permanent(anyhow::anyhow!(
                "unexpected event type {}",
                event.event.event_type()
            )));
        };
        let n = queue_received(tx, appeal_id, &self.staff).await?;
        tracing::info!(%appeal_id, deliveries = n, "appeal alerts queued");
        Ok(())
    }
}

/// `appeal.status_changed` -> the appellant's status message.
pub struct AppealStatusChanged;

#[async_trait::async_trait]
impl Handler for AppealStatusChanged {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let Event::AppealStatusChanged { appeal_id } = event.event else {
            return Err(HandleError::Permanent(anyhow::anyhow!(
                "unexpected event type {}",
                event.event.event_type()
            )));
        };
        let n = queue_status(tx, appeal_id).await?;
        tracing::info!(%appeal_id, deliveries = n, "appeal status message queued");
        Ok(())
    }
}

/// Reconciliation: appeals received (or changed) more than `grace` ago,
/// within the last week, whose alerts, acknowledgement or status message
/// were never queued because the event was lost. Set-based; the ledger's
/// unique key makes it a no-op for work already queued.
pub async fn reconcile(db: &PgPool, staff: &[String], grace: Duration) -> sqlx::Result<u64> {
    let mut conn = db.acquire().await?;
    let grace = grace.as_secs_f64();
    let alerts = sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
         SELECT gen_random_uuid(), 'staff_alert', a.id, a.id, ch
         FROM appeals a CROSS JOIN unnest($1::text[]) AS ch
         WHERE a.created_at < now() - make_interval(secs => $2)
           AND a.created_at > now() - interval '7 days'
           AND NOT EXISTS (SELECT 1 FROM deliveries d
                           WHERE d.kind = 'staff_alert' AND d.ref_id = a.id AND d.channel = ch)
         ON CONFLICT DO NOTHING",
    )
    .bind(staff)
    .bind(grace)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let acks = sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
         SELECT gen_random_uuid(), 'appeal_ack', a.id, a.id, a.contact_channel
         FROM appeals a
         WHERE a.contact_channel IS NOT NULL
           AND a.created_at < now() - make_interval(secs => $1)
           AND a.created_at > now() - interval '7 days'
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.kind = 'appeal_ack' AND d.ref_id = a.id)
         ON CONFLICT DO NOTHING",
    )
    .bind(grace)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    // Only real changes: at creation status_changed_at = created_at.
    let statuses = sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
         SELECT gen_random_uuid(), 'appeal_status', a.status_nonce, a.id, a.contact_channel
         FROM appeals a
         WHERE a.contact_channel IS NOT NULL AND a.status_changed_at > a.created_at
           AND a.status_changed_at < now() - make_interval(secs => $1)
           AND a.status_changed_at > now() - interval '7 days'
           AND NOT EXISTS (SELECT 1 FROM deliveries d
                           WHERE d.kind = 'appeal_status' AND d.ref_id = a.status_nonce)
         ON CONFLICT DO NOTHING",
    )
    .bind(grace)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let n = alerts + acks + statuses;
    if n > 0 {
        tracing::info!(
            queued = n,
            "reconciliation queued appeal messages whose event was lost"
        );
        deliveries::wake(&mut conn).await?;
    }
    Ok(n)
}
