//! The delivery worker: claim a batch, commit, send each message with
//! bounded concurrency, record each outcome. Woken by NOTIFY, with a poll
//! as fallback; on shutdown it stops claiming, finishes what it is sending
//! within the deadline, and releases the rest.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use minijinja::Environment;
use nasvyazi_shared::channel::{Channel, Outgoing, SendError};
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::{Config, Infra};
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use crate::compose::{self, NotReady};
use crate::deliveries::{self, Claimed};

/// Everything a worker needs, shared by its concurrent sends.
pub struct Worker {
    pub infra: Infra,
    pub keys: Arc<Keyring>,
    pub email: Arc<dyn Channel>,
    /// The Telegram channel, when a bot token is configured.
    pub telegram: Option<Arc<dyn Channel>>,
    /// The bot's sending lease (with a token): without it, this worker
    /// claims no Telegram deliveries.
    pub telegram_lease: Option<Arc<nasvyazi_shared::lease::Lease>>,
    pub templates: Arc<Environment<'static>>,
    /// Campaigns by occurrence, briefly cached.
    pub campaigns: crate::compose::campaign::Cache,
}

/// Kinds that spend the global confirmation-email budget.
const CONFIRMATIONS: &[&str] = &["confirmation", "signature_confirmation"];

/// What to do with a claimed row after trying it.
enum Outcome {
    Sent {
        id: Option<String>,
        reply: String,
    },
    Retry(SendError),
    Failed {
        reason: String,
        suppress: Option<Vec<u8>>,
    },
    Skipped(&'static str),
}

impl Worker {
    pub fn config(&self) -> &Config {
        &self.infra.config
    }

    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> anyhow::Result<()> {
        let token = shutdown.clone();
        nasvyazi_shared::shutdown::restarting("delivery-worker", shutdown, move || {
            let (this, token) = (self.clone(), token.clone());
            async move { this.run_once(token).await }
        })
        .await
    }

    async fn run_once(self: Arc<Self>, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut listener = PgListener::connect_with(&self.infra.db).await?;
        listener.listen(deliveries::WAKE).await?;
        let poll = Duration::from_millis(self.config().notifier.poll_interval_ms);
        let lease = Duration::from_secs(self.config().notifier.lease_secs);
        let batch = self.config().notifier.batch_size;
        while !shutdown.is_cancelled() {
            // Without a token, Telegram rows are claimed and fail visibly.
            let telegram = self.telegram_lease.as_ref().is_none_or(|l| l.is_held());
            match deliveries::claim(&self.infra.db, batch, lease, telegram).await {
                Ok(rows) if !rows.is_empty() => {
                    self.clone().process(rows, &shutdown).await;
                    continue; // there may be more
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot claim deliveries"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = listener.recv() => if r.is_err() { tokio::time::sleep(poll).await },
                _ = tokio::time::sleep(poll) => {}
            }
        }
        Ok(())
    }

    /// Sends a claimed batch with bounded concurrency.
    pub async fn process(self: Arc<Self>, rows: Vec<Claimed>, shutdown: &CancellationToken) {
        let concurrency = self.config().notifier.concurrency;
        futures::stream::iter(rows)
            .for_each_concurrent(concurrency, |row| {
                let me = self.clone();
                let shutdown = shutdown.clone();
                async move {
                    if shutdown.is_cancelled() {
                        if let Err(e) = deliveries::release(&me.infra.db, row.id).await {
                            tracing::warn!(delivery_id = %row.id, error = %e, "cannot release delivery");
                        }
                        return;
                    }
                    me.deliver(row).await;
                }
            })
            .await;
    }

    #[tracing::instrument(skip_all, fields(delivery_id = %row.id, kind = %row.kind, attempt = row.attempts))]
    async fn deliver(&self, row: Claimed) {
        if CONFIRMATIONS.contains(&row.kind.as_str()) && !self.within_email_budget(&row).await {
            return;
        }
        let outcome = self.attempt(&row).await;
        let db = &self.infra.db;
        let channel = row.channel.clone();
        let (label, result) = match outcome {
            Outcome::Sent { id, reply } => {
                tracing::info!("sent");
                (
                    "sent",
                    deliveries::mark_sent(db, row.id, id.as_deref(), &reply).await,
                )
            }
            Outcome::Skipped(reason) => {
                tracing::info!(reason, "skipped");
                (
                    "skipped",
                    deliveries::mark_final(db, row.id, "skipped", reason).await,
                )
            }
            Outcome::Failed { reason, suppress } => {
                tracing::warn!(%reason, "failed permanently");
                let suppressed = match &suppress {
                    // A chat that blocked the bot: intake unsubscribes it.
                    Some(bi) if channel == "telegram" => {
                        crate::telegram::blocked::record(db, row.contact_id, bi).await
                    }
                    Some(bi) => deliveries::suppress(db, &channel, bi, "hard_bounce").await,
                    None => Ok(()),
                };
                if let Err(e) = suppressed {
                    tracing::warn!(error = %e, "cannot record suppression");
                }
                (
                    "failed",
                    deliveries::mark_final(db, row.id, "failed", &reason).await,
                )
            }
            Outcome::Retry(err) => {
                let max = self.config().notifier.max_attempts;
                if row.attempts >= max {
                    tracing::warn!(error = %err, "giving up after the last attempt");
                    let reason = format!("gave up after {} attempts: {err}", row.attempts);
                    (
                        "failed",
                        deliveries::mark_final(db, row.id, "failed", &reason).await,
                    )
                } else {
                    let delay = match &err {
                        SendError::Transient {
                            retry_after: Some(d),
                            ..
                        } => *d,
                        _ => nasvyazi_shared::consumer::backoff(row.attempts as i64),
                    };
                    tracing::info!(error = %err, ?delay, "transient failure; will retry");
                    let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                    (
                        "retry",
                        deliveries::mark_retry(db, row.id, at, &err.to_string()).await,
                    )
                }
            }
        };
        metrics::counter!("nasvyazi_deliveries_total", "kind" => row.kind.clone(), "channel" => channel, "outcome" => label)
            .increment(1);
        if let Err(e) = result {
            // The lease expires and another worker retries: at-least-once.
            tracing::error!(error = %e, "cannot record the outcome");
        }
    }

    /// Spends one of `limits.confirmation_emails_per_hour` (shared by every
    /// notifier, in PostgreSQL). When none is left the row goes back to the
    /// queue for when one will be (plus a little jitter, so deferred rows
    /// do not all come back at once): confirmations wait, never drop. If
    /// the budget cannot be read, the email goes (the per-client and
    /// per-address limits still hold).
    async fn within_email_budget(&self, row: &Claimed) -> bool {
        use nasvyazi_shared::limits::{self, Budget};
        let budget = Budget::per_hour(self.config().limits.confirmation_emails_per_hour);
        let key = limits::global_key("confirmation_emails");
        let verdict = match self.infra.db.acquire().await {
            Ok(mut conn) => limits::take(&mut conn, &key, budget).await,
            Err(e) => Err(e),
        };
        let wait = match verdict {
            Ok(Ok(())) => return true,
            Ok(Err(wait)) => wait,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the confirmation-email budget; sending");
                return true;
            }
        };
        let jitter = rand::random::<f64>() * wait.as_secs_f64().min(60.0);
        let at = Utc::now()
            + chrono::Duration::from_std(wait + Duration::from_secs_f64(jitter))
                .unwrap_or_default();
        tracing::info!(?wait, "confirmation-email budget spent; deferred");
        metrics::counter!("nasvyazi_deliveries_deferred_total", "kind" => row.kind.clone())
            .increment(1);
        if let Err(e) = deliveries::defer(&self.infra.db, row.id, at).await {
            tracing::warn!(error = %e, "cannot defer the delivery; its lease will expire");
        }
        false
    }

    async fn attempt(&self, row: &Claimed) -> Outcome {
        let prepared = match compose::prepare(self, row).await {
            Ok(p) => p,
            Err(NotReady::Skip(reason)) => return Outcome::Skipped(reason),
            Err(NotReady::Retry(e)) => return Outcome::Retry(e),
            Err(NotReady::Fail(reason)) => {
                return Outcome::Failed {
                    reason,
                    suppress: None,
                };
            }
        };
        let channel = match &prepared.message {
            Outgoing::Email(_) => Some(&self.email),
            Outgoing::Telegram(_) => self.telegram.as_ref(),
        };
        let Some(channel) = channel else {
            return Outcome::Failed {
                reason: "no Telegram channel configured".into(),
                suppress: None,
            };
        };
        match channel.send(&prepared.message).await {
            Ok(sent) => Outcome::Sent {
                id: sent.provider_message_id,
                reply: sent.reply,
            },
            Err(e @ SendError::Transient { .. }) => Outcome::Retry(e),
            Err(SendError::Permanent { reason, suppress }) => Outcome::Failed {
                reason,
                suppress: if suppress {
                    prepared.suppress_key
                } else {
                    None
                },
            },
        }
    }
}
