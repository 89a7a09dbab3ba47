//! What appeals' and conversations' retention share: the hourly pass,
//! until shutdown. Each erases in batches claimed `FOR UPDATE SKIP LOCKED`
//! (replicas may run it at once), counts before it erases, and writes one
//! audit row per batch; a pass that fails is tried again the next hour.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

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
