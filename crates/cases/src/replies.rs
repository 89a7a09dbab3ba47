//! The consultants' reply queue, at most once. A staff reply to a
//! Telegram conversation is a `conversation_messages` row in `queued`
//! (written by [`super::consultations::store`], which wakes the sender
//! with `NOTIFY` [`REPLY_WAKE`]); the sender (the notifier holding the
//! bot's sending lease) [`claim_due`]s rows into `sending` and commits,
//! sends with no transaction open, then [`record`]s `sent`, `failed`,
//! `unknown` or `queued` again (later). A row still `sending` after the
//! lease time (a crash) is [`flag_stale`]d `unknown`: shown as such in the
//! conversation, never sent again by itself.

use std::time::Duration;

use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// The PostgreSQL channel that wakes the reply sender.
pub const REPLY_WAKE: &str = "consultation_replies";

/// Wakes the reply sender (inside the queuing transaction: it fires on
/// commit).
pub async fn wake<'e>(conn: impl PgExecutor<'e>) -> sqlx::Result<()> {
    sqlx::query(&format!("NOTIFY {REPLY_WAKE}"))
        .execute(conn)
        .await
        .map(|_| ())
}

/// A claimed reply: id, conversation, sealed body, and the staff-group
/// message it copies (if any).
pub type Claimed = (Uuid, Uuid, Option<Vec<u8>>, Option<i64>);

/// Flags replies left in `sending` for longer than `lease` `unknown`.
pub async fn flag_stale(db: &PgPool, lease: Duration) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE conversation_messages SET delivery = 'unknown',
             delivery_error = 'the sender stopped while sending: it may or may not have arrived'
         WHERE delivery = 'sending' AND sending_at < now() - make_interval(secs => $1)",
    )
    .bind(lease.as_secs_f64())
    .execute(db)
    .await?
    .rows_affected())
}

/// Claims up to `limit` due replies into `sending` (committed before
/// anything is sent).
pub async fn claim_due(db: &PgPool, limit: i64) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as(
        "WITH due AS (
             SELECT id FROM conversation_messages
             WHERE delivery = 'queued' AND next_attempt_at <= now()
             ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         UPDATE conversation_messages m SET delivery = 'sending', sending_at = now(),
             attempts = attempts + 1
         FROM due WHERE m.id = due.id
         RETURNING m.id, m.conversation_id, m.body_ct, m.copy_of",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// What became of a claimed reply.
pub struct Settled<'a> {
    /// `sent`, `queued` (again, after `later`), `failed` or `unknown`.
    pub state: &'a str,
    pub error: Option<String>,
    /// The message id Telegram gave it.
    pub tg_message_id: Option<i64>,
    pub later: Option<Duration>,
}

/// Records what became of a claimed reply (only while it is `sending`).
pub async fn record(db: &PgPool, id: Uuid, s: Settled<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE conversation_messages SET delivery = $2, delivery_error = $3,
             tg_message_id = coalesce($4, tg_message_id),
             next_attempt_at = now() + make_interval(secs => $5)
         WHERE id = $1 AND delivery = 'sending'",
    )
    .bind(id)
    .bind(s.state)
    .bind(s.error)
    .bind(s.tg_message_id)
    .bind(s.later.map_or(0.0, |d| d.as_secs_f64()))
    .execute(db)
    .await
    .map(|_| ())
}
