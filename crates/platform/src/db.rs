//! PostgreSQL: the pool and the embedded migrations.

use std::time::Duration;

use anyhow::Context as _;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::DatabaseConfig;

/// Every migration, embedded in the binary. sqlx takes a PostgreSQL advisory
/// lock around the run, so processes that start together migrate one after
/// the other and the later ones find nothing to do.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Opens a pool; the error names the key, never the URL (it may hold a
/// password).
pub async fn connect(config: &DatabaseConfig, app_name: &str) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = config
        .url
        .expose_secret()
        .parse()
        .map_err(|_| anyhow::anyhow!("database.url: not a valid PostgreSQL URL"))?;
    let options = options.application_name(app_name);
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|e| anyhow::anyhow!("database.url: cannot connect: {}", redact_db_error(&e)))
}

/// Applies pending migrations under the advisory lock.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("cannot apply database migrations")
}

/// sqlx connection errors can quote the connection string; keep the kind only.
fn redact_db_error(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::PoolTimedOut => "timed out".into(),
        sqlx::Error::Tls(_) => "TLS error".into(),
        _ => "connection failed".into(),
    }
}
