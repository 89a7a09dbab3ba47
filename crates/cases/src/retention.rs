//! What appeals' and conversations' retention share: the hourly pass,
//! until shutdown. Each erases in batches claimed `FOR UPDATE SKIP LOCKED`
//! (replicas may run it at once), counts before it erases, and writes one
//! audit row per batch; a pass that fails is tried again the next hour.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

/// Rows erased per transaction.
pub const BATCH: i64 = 500;

/// One batch: erases at most [`BATCH`] due rows in the transaction it is
/// given (claimed `FOR UPDATE SKIP LOCKED`, counted first) and returns how
/// many went.
pub type Batch = for<'c> fn(
    &'c mut PgConnection,
    u32,
    &'c str,
) -> Pin<Box<dyn Future<Output = sqlx::Result<i64>> + Send + 'c>>;

/// Erases what is older than `days` in batches, each in its own
/// transaction with one audit row (`action`, how many, the retention),
/// until a batch comes back short. Returns how many went; logs the total
/// as `what`.
pub async fn in_batches(
    db: &PgPool,
    what: &'static str,
    action: &'static str,
    days: u32,
    time_zone: &str,
    batch: Batch,
) -> sqlx::Result<u64> {
    let mut total = 0;
    loop {
        let mut tx = db.begin().await?;
        let n = batch(&mut tx, days, time_zone).await?;
        if n > 0 {
            nasvyazi_shared::auth::audit(
                &mut tx,
                "retention",
                None,
                action,
                None,
                serde_json::json!({ "erased": n, "retention_days": days }),
            )
            .await?;
        }
        tx.commit().await?;
        total += n as u64;
        if n < BATCH {
            break;
        }
    }
    if total > 0 {
        tracing::info!(erased = total, what, "erased after retention");
    }
    Ok(total)
}

/// How often retention runs.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Runs `pass` now and then every [`EVERY`] until `shutdown`; a failed pass
/// is logged (with `what`, never with data) and left for the next one.
pub async fn hourly<F, Fut>(what: &'static str, shutdown: CancellationToken, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = sqlx::Result<u64>>,
{
    loop {
        if let Err(e) = pass().await {
            tracing::warn!(error = %e, what, "retention: cannot erase");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}
