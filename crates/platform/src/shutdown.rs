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

/// Names of the restartable workers, so their restart counter is exported
/// at zero from the start (a Prometheus user can graph it before anything
/// happens).
pub const WORKERS: &[&str] = &[
    "outbox-relay",
    "consumer",
    "delivery-worker",
    "letter-sender",
    "telegram-sender",
    "telegram-bot",
    "scheduler",
    "janitor",
    "reconciler",
];

/// Runs a long-lived worker and restarts it, with backoff (1 s doubling to
/// 60 s, reset after a minute of good health), when it panics or returns an
/// error before `shutdown`. The panic is logged (the worker's name and the
/// panic's location, never data) and counted in
/// `nasvyazi_worker_restarts_total{worker}`. The ledger makes a restart
/// safe: work the dead worker held is reclaimed when its lease expires.
///
/// Each run is its own task, so a panic unwinds only that worker; the rest
/// of the process keeps serving.
pub async fn restarting<F, Fut>(
    worker: &'static str,
    shutdown: CancellationToken,
    mut start: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut delay = Duration::from_secs(1);
    loop {
        let started = tokio::time::Instant::now();
        // Aborted with us: dropping this future (a killed service, a
        // test's crash) must stop the worker too, not leave it detached.
        let outcome = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(start())).await;
        if shutdown.is_cancelled() {
            return Ok(());
        }
        match outcome {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => {
                tracing::error!(worker, error = %format!("{e:#}"), restart_in_ms = delay.as_millis() as u64, "worker failed; restarting it");
            }
            Err(join) if join.is_panic() => {
                tracing::error!(
                    worker,
                    restart_in_ms = delay.as_millis() as u64,
                    "worker panicked; restarting it"
                );
            }
            Err(_) => return Ok(()),
        }
        metrics::counter!("nasvyazi_worker_restarts_total", "worker" => worker).increment(1);
        if started.elapsed() > Duration::from_secs(60) {
            delay = Duration::from_secs(1);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A worker that panics is started again; the process (here: the test)
    /// goes on, and the worker's next run finishes its work.
    #[tokio::test]
    async fn a_panicking_worker_is_restarted() {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        let result = restarting("delivery-worker", CancellationToken::new(), move || {
            let counter = counter.clone();
            async move {
                match counter.fetch_add(1, Ordering::SeqCst) {
                    0 => panic!("first run fails"),
                    1 => anyhow::bail!("second run fails"),
                    _ => Ok(()),
                }
            }
        })
        .await;
        assert!(result.is_ok());
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_worker_is_not_restarted_after_shutdown() {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        let token = CancellationToken::new();
        let t = token.clone();
        restarting("consumer", token, move || {
            let (counter, t) = (counter.clone(), t.clone());
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                t.cancel();
                anyhow::bail!("fails during shutdown")
            }
        })
        .await
        .unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    /// A service killed where it stands (its task aborted) takes its
    /// workers with it: none keeps running detached.
    #[tokio::test]
    async fn aborting_the_service_stops_its_workers() {
        let ticks = Arc::new(AtomicU32::new(0));
        let counter = ticks.clone();
        let service = tokio::spawn(restarting(
            "delivery-worker",
            CancellationToken::new(),
            move || {
                let counter = counter.clone();
                async move {
                    loop {
                        counter.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            },
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
        service.abort();
        let _ = service.await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let after_kill = ticks.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(after_kill > 0);
        assert_eq!(
            ticks.load(Ordering::SeqCst),
            after_kill,
            "the worker outlived its service"
        );
    }
}
