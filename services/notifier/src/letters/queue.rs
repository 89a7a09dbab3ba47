//! Letters into the ledger (the notifier owns `deliveries`): the
//! confirmation email of a new signature, one letter per target for a
//! confirmed signature (`each`), one per target when a collective letter
//! is due; the reconciliation that finds the same work in PostgreSQL when
//! an event was lost; the organisers' resolutions of `unknown` letters;
//! and the flagging of letters found in `sending` after a crash.
//!
//! Every insert is set-based and idempotent through the ledger's unique
//! key (kind, target = letter x official, signer, channel).

use std::time::Duration;

use chrono::{DateTime, Utc};
use nasvyazi_letters::COLLECTIVE;
use nasvyazi_shared::consumer::{HandleError, Handler};
use nasvyazi_shared::events::{Envelope, Event};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::deliveries;

/// The channel that wakes the letter sender (named once, by the letters).
pub const WAKE: &str = nasvyazi_letters::SENDER_WAKE;

/// The confirmation email of a pending signature (one per nonce).
pub async fn queue_confirmation(conn: &mut PgConnection, signature_id: Uuid) -> sqlx::Result<u64> {
    let n = sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
         SELECT gen_random_uuid(), 'signature_confirmation', confirm_nonce, id, 'email'
         FROM letter_signatures
         WHERE id = $1 AND confirmed_at IS NULL AND withdrawn_at IS NULL
           AND confirm_nonce IS NOT NULL AND confirm_expires_at > now()
         ON CONFLICT DO NOTHING",
    )
    .bind(signature_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    deliveries::wake(conn).await?;
    Ok(n)
}

/// The letters of confirmed `each` signatures matching `filter` (a
/// signature id, or the reconciliation's age condition). With `revive`, a
/// letter skipped because its signer withdrew comes back if they signed
/// and confirmed again.
fn queue_each_sql(filter: &str, revive: bool) -> String {
    let conflict = if revive {
        "DO UPDATE SET status = 'queued', attempts = 0, next_attempt_at = excluded.next_attempt_at,
             last_error = NULL, updated_at = now()
         WHERE deliveries.status = 'skipped'"
    } else {
        "DO NOTHING"
    };
    format!(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel, next_attempt_at)
         SELECT gen_random_uuid(), 'letter', t.id, s.id, 'email', greatest(now(), coalesce(l.send_at, now()))
         FROM letter_signatures s
         JOIN letters l ON l.id = s.letter_id
         JOIN letter_targets t ON t.letter_id = l.id
         WHERE l.mode = 'each' AND l.status = 'approved'
           AND s.confirmed_at IS NOT NULL AND s.withdrawn_at IS NULL AND {filter}
         ON CONFLICT (kind, ref_id, contact_id, channel) {conflict}"
    )
}

/// One letter per target for a confirmed signature.
pub async fn queue_signature(conn: &mut PgConnection, signature_id: Uuid) -> sqlx::Result<u64> {
    let n = sqlx::query(&queue_each_sql("s.id = $1", true))
        .bind(signature_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    wake(conn).await?;
    Ok(n)
}

/// Collective letters whose time has come: one row per target (nil
/// signer), sent by the letter sender with the signatories of that moment.
pub async fn fan_out_collective(db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<u64> {
    sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel, next_attempt_at)
         SELECT gen_random_uuid(), 'letter', t.id, $2, 'email', l.send_at
         FROM letters l JOIN letter_targets t ON t.letter_id = l.id
         WHERE l.mode = 'collective' AND l.status = 'approved' AND l.send_at <= $1
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.kind = 'letter' AND d.ref_id = t.id)
         ON CONFLICT DO NOTHING",
    )
    .bind(now)
    .bind(COLLECTIVE)
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}

/// Letters that will never go (their signer withdrew, their letter was
/// cancelled) are recorded as skipped at once, not when their turn comes.
/// (The claim checks again under lock.)
pub async fn skip_withdrawn(db: &PgPool) -> sqlx::Result<u64> {
    let n = sqlx::query(
        "UPDATE deliveries d SET status = 'skipped', locked_until = NULL, updated_at = now(),
             last_error = CASE WHEN l.status = 'cancelled' THEN 'letter cancelled' ELSE 'signature withdrawn' END
         FROM letter_targets t
         JOIN letters l ON l.id = t.letter_id
         WHERE d.kind = 'letter' AND d.status IN ('queued', 'retry') AND t.id = d.ref_id
           AND (l.status = 'cancelled'
                OR EXISTS (SELECT 1 FROM letter_signatures s WHERE s.id = d.contact_id AND s.withdrawn_at IS NOT NULL))",
    )
    .execute(db)
    .await?
    .rows_affected();
    if n > 0 {
        tracing::info!(
            letters = n,
            "letters of withdrawn signatures or cancelled letters skipped"
        );
    }
    Ok(n)
}

/// Reconciliation: work whose event (`signature.pending`,
/// `signature.confirmed`) was lost is queued from PostgreSQL after `grace`.
pub async fn reconcile(db: &PgPool, grace: Duration) -> sqlx::Result<u64> {
    let mut conn = db.acquire().await?;
    let secs = grace.as_secs_f64();
    let confirmations = sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
         SELECT gen_random_uuid(), 'signature_confirmation', confirm_nonce, id, 'email'
         FROM letter_signatures
         WHERE confirmed_at IS NULL AND withdrawn_at IS NULL AND confirm_nonce IS NOT NULL
           AND confirm_expires_at > now() AND confirm_issued_at < now() - make_interval(secs => $1)
         ON CONFLICT DO NOTHING",
    )
    .bind(secs)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let letters = sqlx::query(&queue_each_sql(
        "s.confirmed_at < now() - make_interval(secs => $1)",
        false,
    ))
    .bind(secs)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let n = confirmations + letters;
    if n > 0 {
        tracing::info!(
            confirmations,
            letters,
            "reconciliation queued letters work whose event was lost"
        );
        deliveries::wake(&mut conn).await?;
        wake(&mut conn).await?;
    }
    Ok(n)
}

/// Applies organisers' resolutions newer than the row's last change:
/// `sent` records the letter as sent, `requeue` puts it back in the queue.
pub async fn apply_resolutions(db: &PgPool) -> sqlx::Result<u64> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "UPDATE deliveries d SET
             status = CASE r.resolution WHEN 'sent' THEN 'sent' ELSE 'queued' END,
             sent_at = CASE r.resolution WHEN 'sent' THEN coalesce(d.sent_at, r.created_at) ELSE d.sent_at END,
             attempts = CASE r.resolution WHEN 'sent' THEN d.attempts ELSE 0 END,
             next_attempt_at = now(), locked_until = NULL, updated_at = now(),
             last_error = 'resolved by an organiser: ' || r.resolution
         FROM (SELECT DISTINCT ON (delivery_id) delivery_id, resolution, created_at
               FROM letter_resolutions ORDER BY delivery_id, created_at DESC) r
         WHERE r.delivery_id = d.id AND d.kind = 'letter' AND d.status = 'unknown'
           AND r.created_at > d.updated_at
         RETURNING d.id, r.resolution",
    )
    .fetch_all(db)
    .await?;
    for (id, resolution) in &rows {
        tracing::info!(delivery_id = %id, %resolution, "unknown letter resolved by an organiser");
    }
    Ok(rows.len() as u64)
}

/// Letters still `sending` after their lease: the sender died between
/// handing the letter to the server and recording the answer. They are
/// never retried automatically (at-most-once): an organiser checks.
pub async fn flag_unknown(db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE deliveries SET status = 'unknown', locked_until = NULL, updated_at = now(),
             last_error = 'the sender stopped while sending: the letter may or may not have arrived; check, then resolve'
         WHERE kind = 'letter' AND status = 'sending' AND locked_until < $1
         RETURNING id",
    )
    .bind(now)
    .fetch_all(db)
    .await?;
    for id in &ids {
        tracing::warn!(delivery_id = %id, "letter found in sending after its lease: flagged unknown, not resent");
    }
    Ok(ids.len() as u64)
}

pub async fn wake(conn: &mut PgConnection) -> sqlx::Result<()> {
    nasvyazi_letters::wake_sender(conn).await
}

fn unexpected(event: &Envelope) -> HandleError {
    HandleError::Permanent(anyhow::anyhow!(
        "unexpected event type {}",
        event.event.event_type()
    ))
}

/// `signature.pending` -> the confirmation email.
pub struct SignaturePending;

#[async_trait::async_trait]
impl Handler for SignaturePending {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let Event::SignaturePending { signature_id } = event.event else {
            return Err(unexpected(event));
        };
        queue_confirmation(tx, signature_id).await?;
        Ok(())
    }
}

/// `signature.confirmed` -> the signer's letters (`each` mode).
pub struct SignatureConfirmed;

#[async_trait::async_trait]
impl Handler for SignatureConfirmed {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let Event::SignatureConfirmed { signature_id } = event.event else {
            return Err(unexpected(event));
        };
        let n = queue_signature(tx, signature_id).await?;
        tracing::debug!(%signature_id, letters = n, "letters queued");
        Ok(())
    }
}
