//! The deliveries ledger: one row per (kind, reference, contact, channel).
//!
//! Workers claim rows with `FOR UPDATE SKIP LOCKED` and a lease, commit,
//! send, then record the outcome: no transaction is open during an SMTP or
//! HTTP call. A worker that dies leaves rows in `sending` whose lease
//! expires; another worker reclaims them. Broadcasts are therefore
//! at-least-once: duplicates are bounded by what was in flight.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// The channel that wakes delivery workers.
pub const WAKE: &str = "deliveries_wake";

/// A claimed delivery.
/// What a ledger row stands for (`deliveries.kind`): each name spelled
/// once, here; everything that dispatches on a row matches on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A supporter's double opt-in email.
    Confirmation,
    /// A campaign message to a supporter or a channel.
    Campaign,
    /// An organiser's test send of a campaign.
    CampaignTest,
    /// A letter to an official (its own at-most-once sender).
    Letter,
    /// A signer's double opt-in email.
    SignatureConfirmation,
    /// The acknowledgement to an appellant.
    AppealAck,
    /// An appeal's status change, to the appellant.
    AppealStatus,
    /// A new appeal, to staff.
    StaffAlert,
    /// A sign-in or invitation link to a console user.
    ConsoleLink,
    /// A conversation waiting for staff.
    ConsultationAlert,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Confirmation,
        Kind::Campaign,
        Kind::CampaignTest,
        Kind::Letter,
        Kind::SignatureConfirmation,
        Kind::AppealAck,
        Kind::AppealStatus,
        Kind::StaffAlert,
        Kind::ConsoleLink,
        Kind::ConsultationAlert,
    ];

    /// The name stored in `deliveries.kind` (and used as a metric label).
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Confirmation => "confirmation",
            Kind::Campaign => "campaign",
            Kind::CampaignTest => "campaign_test",
            Kind::Letter => "letter",
            Kind::SignatureConfirmation => "signature_confirmation",
            Kind::AppealAck => "appeal_ack",
            Kind::AppealStatus => "appeal_status",
            Kind::StaffAlert => "staff_alert",
            Kind::ConsoleLink => "console_link",
            Kind::ConsultationAlert => "consultation_alert",
        }
    }

    /// The kind a stored name stands for (`None`: not one of ours).
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub kind: String,
    pub ref_id: Uuid,
    pub contact_id: Uuid,
    pub channel: String,
    /// Including this one.
    pub attempts: i32,
}

impl Claimed {
    /// What the row stands for (`None`: a kind this notifier does not
    /// know, which fails visibly).
    pub fn kind(&self) -> Option<Kind> {
        Kind::parse(&self.kind)
    }
}

/// Queues the confirmation email of a pending contact (idempotent: one per
/// confirmation nonce) and wakes the workers.
pub async fn queue_confirmation(conn: &mut PgConnection, contact_id: Uuid) -> sqlx::Result<u64> {
    let n = sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
         SELECT gen_random_uuid(), 'confirmation', confirm_nonce, id, 'email'
         FROM contacts
         WHERE id = $1 AND status = 'pending' AND confirm_nonce IS NOT NULL AND confirm_expires_at > now()
         ON CONFLICT DO NOTHING",
    )
    .bind(contact_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    wake(conn).await?;
    Ok(n)
}

/// Reconciliation: confirmations whose `contact.pending` event was lost
/// (NATS acknowledged it but crashed before it reached disk) are queued
/// from PostgreSQL after `grace`.
pub async fn reconcile_confirmations(db: &PgPool, grace: Duration) -> sqlx::Result<u64> {
    let mut conn = db.acquire().await?;
    let n = sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
         SELECT gen_random_uuid(), 'confirmation', confirm_nonce, id, 'email'
         FROM contacts
         WHERE status = 'pending' AND confirm_nonce IS NOT NULL AND confirm_expires_at > now()
           AND confirm_issued_at < now() - make_interval(secs => $1)
         ON CONFLICT DO NOTHING",
    )
    .bind(grace.as_secs_f64())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n > 0 {
        tracing::info!(
            queued = n,
            "reconciliation queued confirmations whose event was lost"
        );
        wake(&mut conn).await?;
    }
    Ok(n)
}

pub async fn wake(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(WAKE)
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims up to `limit` due rows (and rows whose lease expired) for `lease`.
/// Without `telegram` (another notifier holds the bot's sending lease), rows
/// on Telegram channels (`telegram`, `telegram_channel`, ...) are left alone.
pub async fn claim(
    db: &PgPool,
    limit: i64,
    lease: Duration,
    telegram: bool,
) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as::<_, Claimed>(
        // Two index-ordered scans (expired leases first, then due rows)
        // rather than one `OR`: with the `OR` PostgreSQL sorts every due
        // row of a million-row campaign on each claim (and JIT-compiles
        // that plan), ~0.4 s a claim; this way each claim reads about
        // `limit` index entries (~1 ms).
        "WITH expired AS (
             SELECT id FROM deliveries
             WHERE status = 'sending' AND locked_until < now()
               AND NOT (kind = 'campaign' AND EXISTS (
                   SELECT 1 FROM occurrences o JOIN campaigns c ON c.id = o.campaign_id
                   WHERE o.id = deliveries.ref_id AND c.status = 'paused'))
               AND ($3 OR channel NOT LIKE 'telegram%')
               AND kind <> 'letter'
             ORDER BY locked_until
             LIMIT $1
             FOR UPDATE SKIP LOCKED),
         due AS (
             SELECT id FROM deliveries
             WHERE status IN ('queued', 'retry') AND next_attempt_at <= now()
               -- A paused campaign's deliveries wait where they are.
               AND NOT (kind = 'campaign' AND EXISTS (
                   SELECT 1 FROM occurrences o JOIN campaigns c ON c.id = o.campaign_id
                   WHERE o.id = deliveries.ref_id AND c.status = 'paused'))
               AND ($3 OR channel NOT LIKE 'telegram%')
               -- Letters are at-most-once: only the letter sender takes them.
               AND kind <> 'letter'
             ORDER BY next_attempt_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED),
         picked AS (SELECT id FROM expired UNION ALL SELECT id FROM due LIMIT $1)
         UPDATE deliveries d
         SET status = 'sending', attempts = d.attempts + 1,
             locked_until = now() + make_interval(secs => $2), updated_at = now()
         FROM picked WHERE d.id = picked.id
         RETURNING d.id, d.kind, d.ref_id, d.contact_id, d.channel, d.attempts",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .bind(telegram)
    .fetch_all(db)
    .await
}

/// One claimed row's outcome, to record with the rest of its chunk.
#[derive(Debug)]
pub struct Update {
    pub id: Uuid,
    /// `sent`, `retry`, `failed` or `skipped`.
    pub status: &'static str,
    pub provider_message_id: Option<String>,
    pub reply: Option<String>,
    pub error: Option<String>,
    /// For `retry`: when to try again.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl Update {
    pub fn sent(id: Uuid, provider_message_id: Option<String>, reply: String) -> Self {
        Update {
            id,
            status: "sent",
            provider_message_id,
            reply: Some(reply),
            error: None,
            next_attempt_at: None,
        }
    }

    pub fn retry(id: Uuid, at: DateTime<Utc>, error: &str) -> Self {
        Update {
            id,
            status: "retry",
            provider_message_id: None,
            reply: None,
            error: Some(error.to_string()),
            next_attempt_at: Some(at),
        }
    }

    /// `failed` or `skipped`: nothing more to do.
    pub fn last(id: Uuid, status: &'static str, error: &str) -> Self {
        Update {
            id,
            status,
            provider_message_id: None,
            reply: None,
            error: Some(error.to_string()),
            next_attempt_at: None,
        }
    }
}

/// Records a chunk's outcomes in one statement (`UPDATE ... FROM unnest`).
/// Only rows still `sending` change: a row whose lease expired and was
/// taken by another worker meanwhile is that worker's to record.
pub async fn record_many(db: &PgPool, updates: &[Update]) -> sqlx::Result<u64> {
    if updates.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(updates.len());
    let mut statuses = Vec::with_capacity(updates.len());
    let mut provider_ids = Vec::with_capacity(updates.len());
    let mut replies = Vec::with_capacity(updates.len());
    let mut errors = Vec::with_capacity(updates.len());
    let mut next = Vec::with_capacity(updates.len());
    for u in updates {
        ids.push(u.id);
        statuses.push(u.status);
        provider_ids.push(u.provider_message_id.as_deref());
        replies.push(u.reply.as_deref());
        errors.push(u.error.as_deref());
        next.push(u.next_attempt_at);
    }
    let n = sqlx::query(
        "UPDATE deliveries d SET
             status = u.status,
             sent_at = CASE WHEN u.status = 'sent' THEN now() ELSE d.sent_at END,
             provider_message_id = CASE WHEN u.status = 'sent' THEN u.provider_id ELSE d.provider_message_id END,
             provider_reply = CASE WHEN u.status = 'sent' THEN u.reply ELSE d.provider_reply END,
             last_error = u.error,
             next_attempt_at = COALESCE(u.next_at, d.next_attempt_at),
             locked_until = NULL,
             updated_at = now()
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
              AS u(id, status, provider_id, reply, error, next_at)
         WHERE d.id = u.id AND d.status = 'sending'",
    )
    .bind(&ids)
    .bind(&statuses)
    .bind(&provider_ids)
    .bind(&replies)
    .bind(&errors)
    .bind(&next)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n)
}

/// Puts claimed rows back in the queue, as if never tried (shutdown).
pub async fn release_many(db: &PgPool, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE deliveries SET status = 'queued', attempts = greatest(attempts - 1, 0), locked_until = NULL,
             updated_at = now()
         WHERE id = ANY($1) AND status = 'sending'",
    )
    .bind(ids)
    .execute(db)
    .await?;
    Ok(())
}

/// Puts a claimed row back in the queue until `at`, as if never tried
/// (the global confirmation-email budget is spent: it waits, never drops).
pub async fn defer(db: &PgPool, id: Uuid, at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE deliveries SET status = 'queued', attempts = greatest(attempts - 1, 0), locked_until = NULL,
             next_attempt_at = $2, updated_at = now()
         WHERE id = $1 AND status = 'sending'",
    )
    .bind(id)
    .bind(at)
    .execute(db)
    .await?;
    Ok(())
}

/// Stops contacting an address (hard bounce, complaint).
pub async fn suppress(
    db: &PgPool,
    channel: &str,
    blind_index: &[u8],
    reason: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO suppressions (channel, blind_index, reason) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(channel)
    .bind(blind_index)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn is_suppressed(db: &PgPool, channel: &str, blind_index: &[u8]) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM suppressions WHERE channel = $1 AND blind_index = $2)",
    )
    .bind(channel)
    .bind(blind_index)
    .fetch_one(db)
    .await
}

/// "Resend failed": one query puts a campaign's failed deliveries back in
/// the queue.
pub async fn resend_failed(conn: &mut PgConnection, campaign_id: Uuid) -> sqlx::Result<u64> {
    let n = sqlx::query(
        "UPDATE deliveries d SET status = 'queued', attempts = 0, next_attempt_at = now(),
             last_error = NULL, locked_until = NULL, updated_at = now()
         FROM occurrences o
         WHERE o.id = d.ref_id AND o.campaign_id = $1 AND d.kind = 'campaign' AND d.status = 'failed'",
    )
    .bind(campaign_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    wake(conn).await?;
    Ok(n)
}

/// Reconciliation: occurrences triggered more than `grace` ago and never
/// expanded (their `campaign.triggered` was lost).
pub async fn unexpanded_occurrences(
    db: &PgPool,
    grace: Duration,
) -> sqlx::Result<Vec<(Uuid, Uuid)>> {
    sqlx::query_as(
        "SELECT o.id, o.campaign_id FROM occurrences o
         WHERE o.status = 'triggered' AND o.triggered_at < now() - make_interval(secs => $1)
           AND o.triggered_at > now() - interval '2 days'
           AND NOT EXISTS (SELECT 1 FROM fanouts f WHERE f.occurrence_id = o.id)
         ORDER BY o.triggered_at LIMIT 100",
    )
    .bind(grace.as_secs_f64())
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod kind_tests {
    use super::Kind;

    #[test]
    fn every_kind_has_one_stored_name_and_reads_back() {
        let names: std::collections::HashSet<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), Kind::ALL.len(), "names are distinct");
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("Campaign"), None, "stored names are exact");
        assert_eq!(Kind::parse("other"), None);
    }
}
