//! scheduler: campaign schedules -> exactly one `campaign.triggered` per
//! occurrence, written with its occurrence row in one transaction and
//! published by the outbox relay.
//!
//! It must never fire an occurrence twice: the occurrence row is unique per
//! (campaign, instant) and its id is the event's `Nats-Msg-Id`.

pub mod engine;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;

use nasvyazi_shared::outbox::{Outbox, Relay};
use nasvyazi_shared::{Config, Infra, http, shutdown};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "nasvyazi scheduler",
        description = "Operations endpoints of the scheduler."
    ),
    paths(
        nasvyazi_shared::http::healthz,
        nasvyazi_shared::http::readyz,
        nasvyazi_shared::http::metrics
    )
)]
struct ApiDoc;

/// The scheduler's HTTP surface: health, readiness, metrics, OpenAPI.
pub fn router(infra: &Infra) -> axum::Router {
    let c = &infra.config.http;
    http::with_layers(
        http::basics_router(infra.clone(), &ApiDoc::openapi()),
        c.body_limit_bytes,
        Duration::from_secs(c.request_timeout_secs),
    )
}

/// Runs the scheduler until `shutdown`.
pub async fn run(
    config: Arc<Config>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Some(infra) =
        nasvyazi_shared::startup::connect(config, "scheduler", &listener, &shutdown).await?
    else {
        return Ok(());
    };
    run_with(infra, listener, shutdown).await
}

/// As [`run`], on connections already made.
pub async fn run_with(
    infra: Infra,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut tasks = JoinSet::new();
    tasks.spawn(http::serve(listener, router(&infra), shutdown.clone()));
    tasks.spawn(Relay::new(&infra, Outbox::Scheduler).run(shutdown.clone()));
    let (i, token) = (infra.clone(), shutdown.clone());
    tasks.spawn(shutdown::restarting(
        "scheduler",
        shutdown.clone(),
        move || schedule_loop(i.clone(), token.clone()),
    ));
    tracing::info!("scheduler started");
    shutdown::supervise(tasks, shutdown).await
}

/// Syncs and fires, then sleeps until the next due instant (at most one
/// second, and less when front says a campaign changed).
async fn schedule_loop(infra: Infra, shutdown: CancellationToken) -> anyhow::Result<()> {
    let engine = engine::Engine {
        db: infra.db.clone(),
        grace: Duration::from_secs(infra.config.scheduler.grace_window_secs),
    };
    let mut listener = PgListener::connect_with(&infra.db).await?;
    listener.listen(engine::CHANGED).await?;
    while !shutdown.is_cancelled() {
        let now = chrono::Utc::now();
        if let Err(e) = engine.sync(now).await {
            tracing::warn!(error = %format!("{e:#}"), "schedule sync failed");
        }
        match engine.fire_due(chrono::Utc::now()).await {
            Ok(f) if f.triggered + f.skipped > 0 => {
                tracing::info!(
                    triggered = f.triggered,
                    skipped = f.skipped,
                    "occurrences fired"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "firing due occurrences failed"),
        }
        let wait = match engine.next_due().await {
            Ok(Some(t)) => (t - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(Duration::from_secs(1)),
            _ => Duration::from_secs(1),
        };
        // Never spin: a few milliseconds at least between passes.
        let wait = wait.max(Duration::from_millis(5));
        tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.recv() => if r.is_err() { tokio::time::sleep(wait).await },
            _ = tokio::time::sleep(wait) => {}
        }
    }
    Ok(())
}
