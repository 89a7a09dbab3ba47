//! Retention: closed appeals are erased `appeals.retention_days` after they
//! were closed. Erasure is crypto-shredding: the row goes, and with it the
//! wrapped data key, the sealed text, contact and forwarding record, and
//! (by cascade) every sealed note. What survives is a count in
//! `appeal_counts` (month, region, city, site, category), so statistics
//! still include the appeal.
//!
//! Several front replicas may run this at once: rows are claimed with
//! `FOR UPDATE SKIP LOCKED`, so none is counted twice.

use nasvyazi_platform::Infra;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::retention::{BATCH, Erased, Retention};

/// Erases closed appeals older than `retention_days` (by closing date) and
/// keeps their counts. Returns how many were erased.
pub async fn erase_expired(db: &PgPool, retention_days: u32, time_zone: &str) -> sqlx::Result<u64> {
    APPEALS.erase(db, retention_days, time_zone).await
}

fn batch<'c>(tx: &'c mut PgConnection, days: u32, time_zone: &'c str) -> Erased<'c> {
    Box::pin(
        sqlx::query_scalar(
                "WITH due AS (
                     SELECT id FROM appeals
                     WHERE status = 'closed' AND closed_at < now() - make_interval(days => $1)
                     ORDER BY closed_at LIMIT $3
                     FOR UPDATE SKIP LOCKED),
                 gone AS (
                     DELETE FROM appeals a USING due WHERE a.id = due.id
                     RETURNING a.created_at, a.region, a.city, coalesce(a.site, '') AS site, a.category),
                 counted AS (
                     INSERT INTO appeal_counts (month, region, city, site, category, n)
                     SELECT date_trunc('month', created_at AT TIME ZONE $2)::date, region, city, site, category, count(*)
                     FROM gone GROUP BY 1, 2, 3, 4, 5
                     ON CONFLICT (month, region, city, site, category) DO UPDATE SET n = appeal_counts.n + excluded.n
                     RETURNING 1)
                 SELECT count(*) FROM gone",
            )
            .bind(days as i32)
            .bind(time_zone)
            .bind(BATCH)
            .fetch_one(tx),
    )
}

/// What the log and the audit call it, and its batch.
const APPEALS: Retention = Retention {
    what: "closed appeals",
    action: "appeal.erase",
    batch,
};

/// Runs [`erase_expired`] hourly until `shutdown`.
pub async fn run(infra: Infra, shutdown: CancellationToken) -> anyhow::Result<()> {
    let days = infra.config.appeals.retention_days;
    let tz = infra.config.campaigns.default_time_zone.clone();
    crate::retention::hourly("appeals", shutdown, || erase_expired(&infra.db, days, &tz)).await;
    Ok(())
}
