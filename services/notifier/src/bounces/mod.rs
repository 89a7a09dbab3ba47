//! Bounces and complaints after the fact. Every message leaves with a VERP
//! envelope sender (`email.return_path`, `shared::email::verp`); reports
//! come back to our own SMTP listener for the bounce domain
//! ([`listener`]), are read ([`parse`]: RFC 3464 DSNs, RFC 5965 ARF) and
//! applied to the ledger and the suppression list ([`apply`]).

pub mod apply;
pub mod listener;
pub mod parse;

use std::sync::Arc;

use nasvyazi_shared::Infra;
use nasvyazi_shared::crypto::Keyring;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Starts the listener when `bounces.listen` is set (a bind failure stops
/// the notifier: it is configuration).
pub async fn spawn(
    infra: &Infra,
    keys: Arc<Keyring>,
    tasks: &mut JoinSet<anyhow::Result<()>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let c = &infra.config;
    if c.bounces.listen.trim().is_empty() {
        return Ok(());
    }
    if !c.email.return_path.contains("{token}") {
        anyhow::bail!("bounces.listen is set but email.return_path has no {{token}}");
    }
    let listener = tokio::net::TcpListener::bind(c.bounces.listen.trim())
        .await
        .map_err(|e| anyhow::anyhow!("bounces.listen: cannot bind: {e}"))?;
    tracing::info!(addr = %listener.local_addr()?, "bounce listener started");
    let l = Arc::new(listener::Listener {
        db: infra.db.clone(),
        keys,
        config: infra.config.clone(),
    });
    tasks.spawn(l.run(listener, shutdown.clone()));
    Ok(())
}
