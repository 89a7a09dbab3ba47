//! nasvyazi's common crate: configuration, events and subjects, NATS and
//! PostgreSQL set-up, the transactional outbox and its relay, durable
//! consumers, encryption at rest, admin tokens and audit, HTTP basics,
//! telemetry and reference data.
//!
//! What it must never do: put personal data in an event body, a log line, a
//! metric label or an error message. Types here carry ids; personal values
//! live encrypted in PostgreSQL and are read by id.

pub mod appeals;
pub mod auth;
pub mod campaigns;
pub mod channel;
pub mod config;
pub mod console;
pub mod consumer;
pub mod contacts;
pub mod crypto;
pub mod csv_cell;
pub mod db;
pub mod email;
pub mod error;
pub mod events;
pub mod http;
pub mod i18n;
pub mod lease;
pub mod letters;
pub mod limits;
pub mod nats;
pub mod observe;
pub mod openapi;
pub mod outbox;
pub mod regions;
pub mod rewrap;
pub mod schedule;
pub mod series;
pub mod shutdown;
pub mod startup;
pub mod suppression;
pub mod survey_tokens;
pub mod telegram;
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
