//! The front (the `front` service; the crate was `nasvyazi-front`): the
//! HTTP front door and the Telegram bot's webhook, adapting requests to the
//! domain crates (`nasvyazi-letters`, `nasvyazi-surveys`, `nasvyazi-media`,
//! …) and carrying the domains not yet carved out of it. Public pages and the JSON API for
//! supporters and appellants on the public listener (`http.listen`); the
//! console, the admin API and `/metrics` on the staff listener
//! (`console.listen`), which a deployment keeps private.
//!
//! It owns the tables it writes (see ARCHITECTURE.md) and announces every
//! state change through its outbox in the same transaction. It must never
//! reveal whether someone is subscribed, log personal data, or do slow work
//! (sending) inline: that happens behind the outbox.

pub mod api;
pub mod appeals;
pub mod auth;
pub mod bot;
pub mod channels;
pub mod complaints;
pub mod console;
pub mod consultations;
pub mod csrf;
pub mod forget;
pub mod limits;
pub mod media;
pub mod pages;
pub mod polls;
pub mod posts;
pub mod surveys;

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
    pub timing: nasvyazi_supporters::opt_in::Timing,
    /// The Telegram bot, when a bot token is configured.
    pub telegram: Option<Arc<bot::Bot>>,
    /// The console's in-memory state (the per-address sign-in lock-out).
    pub console: Arc<console::ConsoleState>,
    /// `http.trusted_proxies`, parsed: whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<nasvyazi_shared::limits::IpNet>>,
}

impl AppState {
    pub fn new(infra: Infra) -> anyhow::Result<Self> {
        let keys = Arc::new(Keyring::from_config(&infra.config.crypto)?);
        Ok(AppState {
            timing: nasvyazi_supporters::opt_in::Timing::from_config(&infra.config.subscriptions)
                .with_limits(&infra.config.limits),
            telegram: bot::Bot::from_config(&infra, keys.clone())?,
            console: Default::default(),
            trusted_proxies: Arc::new(
                infra
                    .config
                    .trusted_proxies()
                    .ok_or_else(|| anyhow::anyhow!("http.trusted_proxies: not a list of CIDRs"))?,
            ),
            infra,
            keys,
            templates: pages::templates(),
        })
    }

    /// `who`, acting on cases with this state's database and keys.
    pub fn staff<'a>(
        &'a self,
        who: &'a nasvyazi_shared::auth::Principal,
    ) -> nasvyazi_cases::staff::Staff<'a> {
        nasvyazi_cases::staff::Staff {
            db: &self.infra.db,
            keys: &self.keys,
            who,
        }
    }

    /// Records a double opt-in request (a subscription, a signature)
    /// made on this request's address (`via_onion`: the onion one).
    pub async fn request_opt_in(
        &self,
        req: &impl nasvyazi_supporters::opt_in::Request,
        via_onion: bool,
    ) -> anyhow::Result<()> {
        let (db, keys) = (&self.infra.db, &self.keys);
        nasvyazi_supporters::opt_in::request(db, keys, self.timing, req, via_onion).await
    }
}

/// What the public listener serves: pages, the public JSON API, the
/// Telegram webhook, `/healthz` and `/readyz`. Every public POST passes the
/// per-client limit; every answer, error pages included, carries the
/// security headers.
pub fn public_router(state: AppState) -> Router {
    use axum::routing::get;
    let config = state.infra.config.clone();
    let health = Router::new()
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .with_state(http::Basics {
            infra: state.infra.clone(),
            openapi: Arc::new(String::new()),
        });
    let app = api::public_router(state.clone()).merge(health).layer(
        axum::middleware::from_fn_with_state(state.clone(), limits::public_posts),
    );
    http::with_layers(
        app,
        config.http.body_limit_bytes,
        Duration::from_secs(config.http.request_timeout_secs),
    )
    .layer(axum::middleware::from_fn(pages::security_headers))
}

/// What the staff listener serves: the console (`/admin`), the admin API,
/// `/metrics`, `/healthz`, `/readyz` and the OpenAPI document.
pub fn console_router(state: AppState) -> Router {
    let config = state.infra.config.clone();
    let openapi = api::openapi();
    // The console's pages use the public stylesheet too.
    let site_css = Router::new().route("/static/site.css", axum::routing::get(pages::stylesheet));
    let app = api::staff_router(state.clone())
        .merge(console::routes(state.clone()).with_state(state.clone()))
        .merge(site_css)
        .merge(http::basics_router(state.infra.clone(), &openapi));
    http::with_layers(
        app,
        config.http.body_limit_bytes,
        Duration::from_secs(config.http.request_timeout_secs),
    )
    .layer(axum::middleware::from_fn(pages::security_headers))
}

/// front's two listeners: the public one (`http.listen`) and the staff
/// one (`console.listen`).
pub struct Listeners {
    pub public: TcpListener,
    pub console: TcpListener,
}

/// Runs front on its listeners until `shutdown`: both HTTP servers, the
/// bot and the outbox relay.
pub async fn run(
    config: Arc<Config>,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // While connecting, the interim server (with /metrics) answers on the
    // staff listener only; the public one waits in the kernel's backlog.
    let Some(infra) =
        nasvyazi_shared::startup::connect(config, "front", &listeners.console, &shutdown).await?
    else {
        return Ok(());
    };
    run_with(infra, listeners, shutdown).await
}

/// As [`run`], on connections already made.
pub async fn run_with(
    infra: Infra,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let state = AppState::new(infra.clone())?;
    // Refuse to start on data keys the configured keys cannot open (a
    // previous master key dropped too early): better down than losing data.
    nasvyazi_shared::rewrap::check_all_open(&infra.db, &state.keys).await?;
    let mut tasks = JoinSet::new();
    bot::spawn(&infra, state.telegram.clone(), &mut tasks, &shutdown);
    if let Some(bot) = state.telegram.clone() {
        tasks.spawn(consultations::staff_group::run(bot, shutdown.clone()));
    }
    tasks.spawn(complaints::runner(&infra).run(shutdown.clone()));
    tasks.spawn(http::serve(
        listeners.public,
        public_router(state.clone()),
        shutdown.clone(),
    ));
    tasks.spawn(http::serve(
        listeners.console,
        console_router(state),
        shutdown.clone(),
    ));
    tasks.spawn(Relay::new(&infra, Outbox::Front).run(shutdown.clone()));
    tasks.spawn(janitor(infra.clone(), shutdown.clone()));
    tasks.spawn(appeals::retention::run(infra.clone(), shutdown.clone()));
    tasks.spawn(consultations::retention::run(
        infra.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(nasvyazi_letters::signatures::janitor(
        infra.clone(),
        shutdown.clone(),
    ));
    tracing::info!("front started");
    shutdown::supervise(tasks, shutdown).await
}

/// Periodic clean-up of what front owns: pending contacts that never
/// confirmed.
async fn janitor(infra: Infra, shutdown: CancellationToken) -> anyhow::Result<()> {
    let ttl = chrono::Duration::hours(infra.config.subscriptions.pending_ttl_hours as i64);
    loop {
        if let Err(e) =
            nasvyazi_supporters::subscriptions::delete_stale_pending(&infra.db, ttl).await
        {
            tracing::warn!(error = %e, "janitor: cannot delete stale pending contacts");
        }
        if let Err(e) = limits::delete_refilled(&infra.db).await {
            tracing::warn!(error = %e, "janitor: cannot delete refilled limits");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
        }
    }
}
