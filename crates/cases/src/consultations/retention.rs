//! Conversations' retention: a closed conversation is erased
//! `consultations.retention_days` after it closed (the row, its data key,
//! every sealed message: crypto-shredding), counted first in
//! `consultation_stats` (month, first tag, channel, answered or not, time to
//! the first answer); its topic in the staff group is queued for deletion
//! in the same transaction (the front's staff-group clean-up, woken with
//! [`super::CLEANUP_WAKE`]). People with nothing left (and not blocked) go
//! too.

use nasvyazi_platform::Infra;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::retention::{BATCH, Erased, Retention};

/// Erases closed conversations older than `days` (by closing date), counted
/// first. Returns how many went.
pub async fn erase_expired(db: &PgPool, days: u32, time_zone: &str) -> sqlx::Result<u64> {
    CONVERSATIONS.erase(db, days, time_zone).await
}

fn batch<'c>(tx: &'c mut PgConnection, days: u32, time_zone: &'c str) -> Erased<'c> {
    Box::pin(async move {
        let (n, topics): (i64, i64) = sqlx::query_as(
            "WITH due AS (
                 SELECT id FROM conversations
                 WHERE state = 'closed' AND closed_at < now() - make_interval(days => $1)
                 ORDER BY closed_at LIMIT $3 FOR UPDATE SKIP LOCKED),
             gone AS (
                 DELETE FROM conversations c USING due WHERE c.id = due.id
                 RETURNING c.created_at, coalesce(c.tags[1], 'untagged') AS tag, c.channel,
                           c.first_response_at, c.staff_group_id, c.staff_thread_id),
             topics AS (
                 INSERT INTO staff_group_cleanup (group_id, thread_id)
                 SELECT staff_group_id, staff_thread_id FROM gone
                 WHERE staff_thread_id IS NOT NULL
                 ON CONFLICT DO NOTHING
                 RETURNING 1),
             counted AS (
                 INSERT INTO consultation_stats (month, tag, channel, resolution, conversations,
                                                 responded, first_response_secs)
                 SELECT date_trunc('month', created_at AT TIME ZONE $2)::date, tag, channel,
                        CASE WHEN first_response_at IS NULL THEN 'unanswered' ELSE 'answered' END,
                        count(*), count(first_response_at),
                        coalesce(sum(extract(epoch FROM first_response_at - created_at))::bigint, 0)
                 FROM gone GROUP BY 1, 2, 3, 4
                 ON CONFLICT (month, tag, channel, resolution) DO UPDATE SET
                     conversations = consultation_stats.conversations + excluded.conversations,
                     responded = consultation_stats.responded + excluded.responded,
                     first_response_secs = consultation_stats.first_response_secs + excluded.first_response_secs
                 RETURNING 1)
             SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM topics)",
        )
        .bind(days as i32)
        .bind(time_zone)
        .bind(BATCH)
        .fetch_one(&mut *tx)
        .await?;
        if topics > 0 {
            sqlx::query(&format!("NOTIFY {}", super::CLEANUP_WAKE))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "DELETE FROM consultation_people p WHERE p.blocked_at IS NULL
                 AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.person_id = p.id)",
        )
        .execute(&mut *tx)
        .await?;
        Ok(n)
    })
}

/// What the log and the audit call it, and its batch.
const CONVERSATIONS: Retention = Retention {
    what: "closed conversations",
    action: "conversation.erase",
    batch,
};

/// Runs [`erase_expired`] hourly until `shutdown`.
pub async fn run(infra: Infra, shutdown: CancellationToken) -> anyhow::Result<()> {
    let c = infra.config.consultations.clone();
    crate::retention::hourly("conversations", shutdown, || {
        erase_expired(&infra.db, c.retention_days, &c.time_zone)
    })
    .await;
    Ok(())
}
