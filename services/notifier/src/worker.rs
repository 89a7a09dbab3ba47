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
    /// The contacts of the chunk being sent, loaded in one query.
    pub preloaded: crate::compose::subscriber::Preloaded,
}

/// Rows per chunk: one contacts query and one outcome statement each.
pub const CHUNK: usize = 32;

/// Chunks sent at once by one worker. `CHUNK * CHUNKS_IN_FLIGHT` (64) is
/// the bound on duplicates after a crash: at most that many messages per
/// notifier can have been sent and not yet recorded.
pub const CHUNKS_IN_FLIGHT: usize = 2;

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

    /// Sends a claimed batch in chunks of [`CHUNK`]: one query loads a
    /// chunk's contacts, its messages go out with bounded concurrency (over
    /// the SMTP pool's connections), and one statement records every
    /// outcome of the chunk. No transaction is open while sending.
    pub async fn process(self: Arc<Self>, rows: Vec<Claimed>, shutdown: &CancellationToken) {
        // Two chunks at a time: while one waits for PostgreSQL (loading or
        // recording), the other keeps the SMTP connections busy.
        let chunks: Vec<Vec<Claimed>> = rows.chunks(CHUNK).map(<[Claimed]>::to_vec).collect();
        futures::stream::iter(chunks)
            .map(|chunk| self.clone().process_chunk(chunk, shutdown.clone()))
            .buffer_unordered(CHUNKS_IN_FLIGHT)
            .collect::<()>()
            .await;
    }

    async fn process_chunk(self: Arc<Self>, chunk: Vec<Claimed>, shutdown: CancellationToken) {
        let concurrency = self.config().notifier.concurrency.max(1);
        let ids: Vec<uuid::Uuid> = chunk.iter().map(|r| r.id).collect();
        if shutdown.is_cancelled() {
            if let Err(e) = deliveries::release_many(&self.infra.db, &ids).await {
                tracing::warn!(error = %e, "cannot release deliveries; their lease will expire");
            }
            return;
        }
        self.preloaded.fill(&self, &chunk).await;
        let updates: Vec<deliveries::Update> = futures::stream::iter(chunk.iter().cloned())
            .map(|row| {
                let me = self.clone();
                async move { me.deliver(row).await }
            })
            .buffer_unordered(concurrency)
            .filter_map(|u| async move { u })
            .collect()
            .await;
        self.preloaded.forget(&chunk);
        if let Err(e) = deliveries::record_many(&self.infra.db, &updates).await {
            // The rows stay `sending`; their lease expires and another
            // pass sends them again: at-least-once, bounded by the chunks
            // in flight.
            tracing::error!(error = %e, rows = updates.len(), "cannot record the outcomes");
        }
    }

    /// Tries one row; the outcome to record (`None`: already recorded, as
    /// a deferral is).
    #[tracing::instrument(skip_all, fields(delivery_id = %row.id, kind = %row.kind, attempt = row.attempts))]
    async fn deliver(&self, row: Claimed) -> Option<deliveries::Update> {
        if CONFIRMATIONS.contains(&row.kind.as_str()) && !self.within_email_budget(&row).await {
            return None;
        }
        let outcome = self.attempt(&row).await;
        let db = &self.infra.db;
        let channel = row.channel.clone();
        let (label, update) = match outcome {
            Outcome::Sent { id, reply } => {
                tracing::debug!("sent");
                ("sent", deliveries::Update::sent(row.id, id, reply))
            }
            Outcome::Skipped(reason) => {
                tracing::info!(reason, "skipped");
                (
                    "skipped",
                    deliveries::Update::last(row.id, "skipped", reason),
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
                    deliveries::Update::last(row.id, "failed", &reason),
                )
            }
            Outcome::Retry(err) => {
                let max = self.config().notifier.max_attempts;
                if row.attempts >= max {
                    tracing::warn!(error = %err, "giving up after the last attempt");
                    let reason = format!("gave up after {} attempts: {err}", row.attempts);
                    (
                        "failed",
                        deliveries::Update::last(row.id, "failed", &reason),
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
                        deliveries::Update::retry(row.id, at, &err.to_string()),
                    )
                }
            }
        };
        metrics::counter!("nasvyazi_deliveries_total", "kind" => row.kind.clone(), "channel" => channel, "outcome" => label)
            .increment(1);
        Some(update)
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
            Outgoing::Telegram(_) | Outgoing::TelegramPoll(_) => self.telegram.as_ref(),
        };
        let Some(channel) = channel else {
            return Outcome::Failed {
                reason: "no Telegram channel configured".into(),
                suppress: None,
            };
        };
        // People first in the bot's one budget: alerts to staff and
        // messages about a person's own case before broadcasts.
        let class = crate::telegram::class_of(&row.kind);
        let sent =
            nasvyazi_shared::telegram::budget::with_class(class, channel.send(&prepared.message))
                .await;
        match sent {
            Ok(sent) => {
                // Channel posts and uploaded media's file ids (issue 16).
                crate::telegram::posts::after_sent(
                    &self.infra.db,
                    self.config(),
                    row,
                    &prepared.message,
                    &sent,
                )
                .await;
                Outcome::Sent {
                    id: sent.provider_message_id,
                    reply: sent.reply,
                }
            }
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
