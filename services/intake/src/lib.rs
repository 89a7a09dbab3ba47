//! intake: the HTTP front door. Public pages and the JSON API for
//! supporters and appellants, the admin API for staff.
//!
//! It owns the tables it writes (see ARCHITECTURE.md) and announces every
//! state change through its outbox in the same transaction. It must never
//! reveal whether someone is subscribed, log personal data, or do slow work
//! (sending) inline: that happens behind the outbox.

pub mod appeals;
pub mod auth;
pub mod campaigns;
pub mod console;
pub mod letters;
pub mod officials;
pub mod pages;
pub mod routes;
pub mod subscriptions;
pub mod telegram;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::outbox::{Outbox, Relay};
use nasvyazi_shared::{Config, Infra, http, shutdown};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub infra: Infra,
    /// Keys for sealing contacts and computing blind indexes.
    pub keys: Arc<Keyring>,
    /// Page templates, parsed once.
    pub templates: Arc<minijinja::Environment<'static>>,
    pub timing: subscriptions::Timing,
    /// The Telegram bot, when a bot token is configured.
    pub telegram: Option<Arc<telegram::Bot>>,
    /// The appeals rate limit (keyed by an hourly keyed hash of addresses).
    pub appeal_limit: Arc<appeals::AppealRateLimit>,
    /// The console's in-memory state (the per-address sign-in lock-out).
    pub console: Arc<console::ConsoleState>,
}

impl AppState {
    pub fn new(infra: Infra) -> anyhow::Result<Self> {
        let keys = Arc::new(Keyring::from_config(&infra.config.crypto)?);
        Ok(AppState {
            timing: subscriptions::Timing::from_config(&infra.config.subscriptions),
            telegram: telegram::Bot::from_config(&infra, keys.clone())?,
            appeal_limit: Arc::new(appeals::AppealRateLimit::new(
                infra.config.appeals.rate_limit_per_minute,
            )),
            console: Default::default(),
            infra,
            keys,
            templates: pages::templates(),
        })
    }
}

/// Builds the full router (what tests and `run` serve).
pub fn router(state: AppState) -> Router {
    let config = state.infra.config.clone();
    let openapi = routes::openapi();
    let app = routes::router(state.clone())
        .merge(console::routes(state.clone()).with_state(state.clone()))
        .merge(http::basics_router(state.infra.clone(), &openapi))
        .layer(axum::middleware::from_fn(pages::security_headers));
    http::with_layers(
        app,
        config.http.body_limit_bytes,
        Duration::from_secs(config.http.request_timeout_secs),
    )
}

/// Runs intake on `listener` until `shutdown`: the HTTP server and the
/// outbox relay.
pub async fn run(
    config: Arc<Config>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let infra = Infra::connect(config, "intake").await?;
    run_with(infra, listener, shutdown).await
}

/// As [`run`], on connections already made.
pub async fn run_with(
    infra: Infra,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let state = AppState::new(infra.clone())?;
    let mut tasks = JoinSet::new();
    telegram::spawn(&infra, state.telegram.clone(), &mut tasks, &shutdown);
    tasks.spawn(http::serve(listener, router(state), shutdown.clone()));
    tasks.spawn(Relay::new(&infra, Outbox::Intake).run(shutdown.clone()));
    tasks.spawn(janitor(infra.clone(), shutdown.clone()));
    tasks.spawn(appeals::retention::run(infra.clone(), shutdown.clone()));
    tasks.spawn(letters::signatures::janitor(
        infra.clone(),
        shutdown.clone(),
    ));
    tracing::info!("intake started");
    shutdown::supervise(tasks, shutdown).await
}

/// Periodic clean-up of what intake owns: pending contacts that never
/// confirmed.
async fn janitor(infra: Infra, shutdown: CancellationToken) -> anyhow::Result<()> {
    let ttl = chrono::Duration::hours(infra.config.subscriptions.pending_ttl_hours as i64);
    loop {
        if let Err(e) = subscriptions::delete_stale_pending(&infra.db, ttl).await {
            tracing::warn!(error = %e, "janitor: cannot delete stale pending contacts");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
        }
    }
}
