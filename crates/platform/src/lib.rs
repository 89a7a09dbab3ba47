//! nasvyazi's platform: what every service runs on and no domain owns —
//! configuration as data (each section's checks, at load), PostgreSQL
//! (pool, migrations), NATS (streams, subjects, events), the transactional
//! outbox and its relay, durable consumers, leases, start-up and shutdown,
//! HTTP basics and `ApiError`, telemetry and metrics, the ru / kk / en
//! catalogs, anti-abuse budgets and proof of work, office hours.
//!
//! What it must never do: know a domain (a campaign, an appeal, a
//! conversation), or put personal data in an event body, a log line, a
//! metric label or an error message. Types here carry ids.

pub mod config;
pub mod consumer;
pub mod csv_cell;
pub mod db;
pub mod error;
pub mod events;
pub mod hours;
pub mod http;
pub mod i18n;
pub mod lease;
pub mod limits;
pub mod nats;
pub mod observe;
pub mod openapi;
pub mod outbox;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
pub mod template_limits;

use std::sync::Arc;

use async_nats::jetstream;
use sqlx::PgPool;

pub use config::Config;

/// The connections a service runs on. Cheap to clone (all handles).
#[derive(Clone)]
pub struct Infra {
    pub config: Arc<Config>,
    pub db: PgPool,
    pub nats: async_nats::Client,
    pub js: jetstream::Context,
    pub subjects: nats::Subjects,
}

impl Infra {
    /// Connects to PostgreSQL (migrating if configured) and NATS, and makes
    /// sure the streams exist. `service` names the connections.
    pub async fn connect(config: Arc<Config>, service: &str) -> anyhow::Result<Self> {
        let db = db::connect(&config.database, &format!("nasvyazi-{service}")).await?;
        if config.database.migrate_on_start {
            db::migrate(&db).await?;
        }
        let nats = nats::connect(&config.nats, &format!("nasvyazi-{service}")).await?;
        let js = nats::jetstream(nats.clone());
        let subjects = nats::Subjects::new(&config.nats.prefix);
        nats::ensure_streams(&js, &subjects, &config.nats).await?;
        Ok(Infra {
            config,
            db,
            nats,
            js,
            subjects,
        })
    }
}
