//! One shutdown story: SIGINT or SIGTERM cancels a token; every task watches
//! it, stops taking work and finishes or releases what it holds; the process
//! waits at most a deadline for them.

use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long tasks get after the signal before the process exits anyway.
pub const DEADLINE: Duration = Duration::from_secs(9);

/// Cancels `token` on SIGINT (ctrl-c) or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
        tracing::info!("shutdown requested");
        token.cancel();
    });
}

/// Waits for every task; the first error cancels the others. After
/// cancellation, tasks get [`DEADLINE`] to finish.
pub async fn supervise(
    mut tasks: JoinSet<anyhow::Result<()>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut first_error: Option<anyhow::Error> = None;
    loop {
        let next = if shutdown.is_cancelled() {
            match tokio::time::timeout(DEADLINE, tasks.join_next()).await {
                Ok(n) => n,
                Err(_) => {
                    tracing::warn!("tasks did not stop within the deadline; aborting them");
                    tasks.abort_all();
                    break;
                }
            }
        } else {
            tokio::select! {
                n = tasks.join_next() => n,
                _ = shutdown.cancelled() => continue,
            }
        };
        let Some(result) = next else { break };
        let err = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(join) if join.is_panic() => Some(anyhow::anyhow!("a task panicked")),
            Err(_) => None,
        };
        if let Some(e) = err {
            tracing::error!(error = %format!("{e:#}"), "task failed; stopping");
            first_error.get_or_insert(e);
            shutdown.cancel();
        } else if !shutdown.is_cancelled() {
            // A task that ends by itself before shutdown: nothing else to do.
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
