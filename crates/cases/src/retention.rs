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

/// How many rows a batch erased, when it has run.
pub type Erased<'c> = Pin<Box<dyn Future<Output = sqlx::Result<i64>> + Send + 'c>>;

/// One batch: erases at most [`BATCH`] rows due after `days` in the
/// transaction it is given (claimed `FOR UPDATE SKIP LOCKED`, counted
/// first, months in `time_zone`) and returns how many went.
pub type Batch = for<'c> fn(&'c mut PgConnection, u32, &'c str) -> Erased<'c>;

/// One kind of case's retention, as data: its batch, and how the log and
/// the audit name what it erases.
pub struct Retention {
    /// In the log: "closed appeals".
    pub what: &'static str,
    /// The audit row's action: "appeal.erase".
    pub action: &'static str,
    pub batch: Batch,
}

impl Retention {
    /// Erases what is older than `days` in batches, each in its own
    /// transaction with one audit row (`action`, how many, the retention),
    /// until a batch comes back short. Returns how many went; logs the
    /// total as `what`.
    pub async fn erase(&self, db: &PgPool, days: u32, time_zone: &str) -> sqlx::Result<u64> {
        let mut total = 0;
        loop {
            let mut tx = db.begin().await?;
            let n = (self.batch)(&mut tx, days, time_zone).await?;
            if n > 0 {
                nasvyazi_staff::auth::audit(
                    &mut tx,
                    "retention",
                    None,
                    self.action,
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
            tracing::info!(erased = total, what = self.what, "erased after retention");
        }
        Ok(total)
    }
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
