//! scheduler: campaign schedules -> exactly one `campaign.triggered` per
//! occurrence, written with its occurrence row in one transaction and
//! published by the outbox relay.
//!
//! It must never fire an occurrence twice: the occurrence row is unique per
//! (campaign, instant) and its id is the event's `Nats-Msg-Id`.

use std::sync::Arc;
use std::time::Duration;

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
    let infra = Infra::connect(config, "scheduler").await?;
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
    tracing::info!("scheduler started");
    shutdown::supervise(tasks, shutdown).await
}
