//! Bounces and complaints after the fact. Every message leaves with a VERP
//! envelope sender (`email.return_path`, `shared::email::verp`); reports
//! come back to our own SMTP listener for the bounce domain
//! ([`listener`]), are read ([`parse`]: RFC 3464 DSNs, RFC 5965 ARF) and
//! applied to the ledger and the suppression list ([`apply`]). The
//! listener is open to anyone who holds a bounce address (everyone we ever
//! wrote to), so it is bounded: [`admission`] (connections at once and per
//! address), [`lines`] (capped lines, budgets, deadlines).

pub mod admission;
pub mod apply;
pub mod lines;
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
    describe_metrics();
    let l = Arc::new(listener::Listener::new(
        infra.db.clone(),
        keys,
        infra.config.clone(),
    ));
    tasks.spawn(l.run(listener, shutdown.clone()));
    Ok(())
}

/// The listener's own figures, each series present from the start (after
/// the process-wide recorder is installed, or they would go nowhere).
fn describe_metrics() {
    nasvyazi_shared::http::metrics_handle();
    metrics::describe_counter!(
        "nasvyazi_bounce_listener_limited_total",
        "times a limit of the bounce listener was hit (connection refused, closed, line skipped, address refused), by limit"
    );
    for limit in listener::LIMITS {
        metrics::counter!("nasvyazi_bounce_listener_limited_total", "limit" => *limit).absolute(0);
    }
    metrics::describe_gauge!(
        "nasvyazi_bounce_listener_connections",
        "bounce listener conversations open now"
    );
    metrics::gauge!("nasvyazi_bounce_listener_connections").set(0.0);
    metrics::describe_gauge!(
        "nasvyazi_bounce_listener_line_bytes_max",
        metrics::Unit::Bytes,
        "the longest line the bounce listener has held in memory since start (capped at 2048 for commands, 1000 in DATA)"
    );
    metrics::gauge!("nasvyazi_bounce_listener_line_bytes_max").set(0.0);
    metrics::describe_gauge!(
        "nasvyazi_bounce_listener_message_bytes_max",
        metrics::Unit::Bytes,
        "the largest report the bounce listener has held in memory since start (capped at bounces.max_message_bytes)"
    );
    metrics::gauge!("nasvyazi_bounce_listener_message_bytes_max").set(0.0);
}
