//! Start-up that waits for its dependencies instead of dying.
//!
//! A service starts before PostgreSQL, NATS or the JetStream meta leader are
//! ready more often than not (a reboot, a cluster election, a container
//! orchestrator starting everything at once). [`connect`] retries each step
//! with capped exponential backoff and says in the log what it waits for;
//! meanwhile the service's listener already answers `/healthz` (200) and
//! `/readyz` (503, with what it waits for). Only a bad configuration (a
//! refused password, a database that does not exist, a stream definition
//! the server rejects) stops it at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{Config, Infra, db, nats};

/// What start-up is waiting for right now (shown on `/readyz`).
#[derive(Clone, Default)]
struct Waiting(Arc<Mutex<&'static str>>);

impl Waiting {
    fn set(&self, what: &'static str) {
        *self.0.lock().expect("waiting lock") = what;
    }
    fn get(&self) -> &'static str {
        *self.0.lock().expect("waiting lock")
    }
}

#[derive(Serialize)]
struct Starting {
    status: &'static str,
    database: bool,
    nats: bool,
    waiting_for: &'static str,
}

async fn readyz_starting(State(w): State<Waiting>) -> Response {
    let waiting_for = w.get();
    let body = Starting {
        status: "starting",
        database: waiting_for != "postgresql",
        nats: !matches!(waiting_for, "postgresql" | "nats"),
        waiting_for,
    };
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

async fn unavailable() -> crate::error::ApiError {
    crate::error::ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the service is starting",
    )
}

/// How a start-up step failed.
pub enum StepError {
    /// Worth waiting for (refused connection, timeout, no leader yet).
    Wait(anyhow::Error),
    /// Configuration the server refuses: stop now.
    Fatal(anyhow::Error),
}

/// Retries `step` with backoff (0.5 s doubling to 30 s) until it succeeds,
/// fails fatally or `shutdown` fires (then `Ok(None)`).
pub async fn retry<T, F, Fut>(
    what: &'static str,
    shutdown: &CancellationToken,
    mut step: F,
) -> anyhow::Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StepError>>,
{
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1u32;
    loop {
        match step().await {
            Ok(v) => {
                if attempt > 1 {
                    tracing::info!(dependency = what, attempt, "dependency ready");
                }
                return Ok(Some(v));
            }
            Err(StepError::Fatal(e)) => return Err(e),
            Err(StepError::Wait(e)) => {
                metrics::counter!("nasvyazi_startup_retries_total", "dependency" => what)
                    .increment(1);
                tracing::warn!(
                    dependency = what,
                    attempt,
                    retry_in_ms = delay.as_millis() as u64,
                    error = %format!("{e:#}"),
                    "waiting for a dependency"
                );
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(30));
        attempt += 1;
    }
}

/// Connects to PostgreSQL (migrating if configured), NATS and the streams,
/// waiting for each; meanwhile `listener` answers `/healthz` and a 503
/// `/readyz`. `Ok(None)`: shut down before everything was ready.
pub async fn connect(
    config: Arc<Config>,
    service: &str,
    listener: &TcpListener,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Infra>> {
    let waiting = Waiting::default();
    waiting.set("postgresql");
    let stop_interim = CancellationToken::new();
    let interim = interim_server(listener, waiting.clone(), stop_interim.clone());
    let result = connect_steps(config, service, &waiting, shutdown).await;
    stop_interim.cancel();
    if let Some(h) = interim {
        let _ = h.await;
    }
    result
}

/// While starting, a clone of the listener's socket answers the basics.
fn interim_server(
    listener: &TcpListener,
    waiting: Waiting,
    stop: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let clone = TcpListener::from_std(dup_listener(listener)?).ok()?;
    let router = Router::new()
        .route("/healthz", get(crate::http::healthz))
        .route("/readyz", get(readyz_starting))
        .route("/metrics", get(crate::http::metrics))
        .fallback(unavailable)
        .with_state(waiting);
    Some(tokio::spawn(async move {
        let _ = axum::serve(clone, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    }))
}

/// A second handle on the same listening socket (`dup`), non-blocking.
fn dup_listener(listener: &TcpListener) -> Option<std::net::TcpListener> {
    use std::os::fd::{AsFd, OwnedFd};
    let fd: OwnedFd = listener.as_fd().try_clone_to_owned().ok()?;
    let std = std::net::TcpListener::from(fd);
    std.set_nonblocking(true).ok()?;
    Some(std)
}

async fn connect_steps(
    config: Arc<Config>,
    service: &str,
    waiting: &Waiting,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Infra>> {
    let name = format!("nasvyazi-{service}");
    waiting.set("postgresql");
    let Some(pool) = retry("postgresql", shutdown, || async {
        db::connect(&config.database, &name)
            .await
            .map_err(classify_db)
    })
    .await?
    else {
        return Ok(None);
    };
    if config.database.migrate_on_start {
        waiting.set("migrations");
        let ok = retry("migrations", shutdown, || async {
            db::migrate(&pool).await.map_err(StepError::Wait)
        })
        .await?;
        if ok.is_none() {
            return Ok(None);
        }
    }
    waiting.set("nats");
    let Some(client) = retry("nats", shutdown, || async {
        nats::connect(&config.nats, &name)
            .await
            .map_err(classify_nats)
    })
    .await?
    else {
        return Ok(None);
    };
    let js = nats::jetstream(client.clone());
    let subjects = nats::Subjects::new(&config.nats.prefix);
    waiting.set("jetstream");
    let ready = retry("jetstream", shutdown, || async {
        nats::ensure_streams(&js, &subjects, &config.nats)
            .await
            .map_err(classify_streams)
    })
    .await?;
    if ready.is_none() {
        return Ok(None);
    }
    Ok(Some(Infra {
        config,
        db: pool,
        nats: client,
        js,
        subjects,
    }))
}

/// Fatal when the error names one of `markers` (configuration that will
/// not fix itself), otherwise worth waiting for.
fn classify(e: anyhow::Error, markers: &[&str]) -> StepError {
    let text = format!("{e:#}").to_ascii_lowercase();
    if markers.iter().any(|m| text.contains(m)) {
        StepError::Fatal(e)
    } else {
        StepError::Wait(e)
    }
}

/// A refused password or a missing database will not fix itself.
fn classify_db(e: anyhow::Error) -> StepError {
    classify(
        e,
        &[
            "password authentication failed",
            "does not exist",
            "not a valid",
        ],
    )
}

fn classify_nats(e: anyhow::Error) -> StepError {
    classify(e, &["authorization", "not a valid server address"])
}

/// The server rejecting the stream definition itself (overlapping subjects)
/// is configuration; a replica count above the nodes up so far is waited
/// for (nodes may still be joining).
fn classify_streams(e: anyhow::Error) -> StepError {
    classify(e, &["subjects overlap", "invalid", "jetstream not enabled"])
}
