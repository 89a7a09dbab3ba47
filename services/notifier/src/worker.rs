//! The delivery worker: claim a batch, commit, and hand its chunks to a
//! sender running beside the claim loop, which sends each message with
//! bounded concurrency and records each chunk's outcomes. Woken by NOTIFY,
//! with a poll as fallback; on shutdown it stops claiming, finishes what it
//! is sending within the deadline, and releases the rest.

use std::sync::Arc;
use std::time::Duration;

use crate::channels::{Channel, Outgoing, SendError, Sent};
use chrono::Utc;
use futures::StreamExt;
use nasvyazi_shared::Config;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use crate::compose::{self, ComposeCtx, NotReady};
use crate::deliveries::{self, Claimed};

/// Everything a worker needs, shared by its concurrent sends: what
/// composing needs ([`ComposeCtx`]) and what sending needs.
pub struct Worker {
    pub compose: ComposeCtx,
    pub email: Arc<dyn Channel>,
    /// The Telegram channel, when a bot token is configured.
    pub telegram: Option<Arc<dyn Channel>>,
    /// The bot's sending lease (with a token): without it, this worker
    /// claims no Telegram deliveries.
    pub telegram_lease: Option<Arc<nasvyazi_shared::lease::Lease>>,
    /// Rows claimed and not yet recorded (see [`Worker::not_in_flight`]).
    pub in_flight: std::sync::Mutex<std::collections::HashSet<uuid::Uuid>>,
}

/// Rows per chunk at most: one contacts query and one outcome statement
/// each.
pub const CHUNK: usize = 32;

/// Chunks sent at once by one worker. At most `min(batch_size, CHUNK *
/// CHUNKS_IN_FLIGHT)` (64) messages per notifier can have been sent and
/// not yet recorded: the bound on duplicates after a crash.
pub const CHUNKS_IN_FLIGHT: usize = 2;

/// Rows per chunk and chunks at once for a batch size: [`CHUNK`] and
/// [`CHUNKS_IN_FLIGHT`], or less for small batches, so that the chunks in
/// flight never hold more rows than one batch.
pub fn chunking(batch: i64) -> (usize, usize) {
    let batch = batch.max(1) as usize;
    let parallel = CHUNKS_IN_FLIGHT.min(batch);
    ((batch / parallel).clamp(1, CHUNK), parallel)
}

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
        &self.compose.infra.config
    }

    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> anyhow::Result<()> {
        let token = shutdown.clone();
        nasvyazi_shared::shutdown::restarting("delivery-worker", shutdown, move || {
            let (this, token) = (self.clone(), token.clone());
            async move { this.run_once(token).await }
        })
        .await
    }

    /// Claims batches and hands their chunks to the sender, which runs
    /// beside it: while the last chunks of one batch go out, the next batch
    /// is claimed, so the connections never wait on the claim (issue 26).
    /// At most one chunk waits between the two.
    async fn run_once(self: Arc<Self>, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut listener = PgListener::connect_with(&self.compose.infra.db).await?;
        listener.listen(deliveries::WAKE).await?;
        let poll = Duration::from_millis(self.config().notifier.poll_interval_ms);
        let lease = Duration::from_secs(self.config().notifier.lease_secs);
        let batch = self.config().notifier.batch_size;
        let (chunk, parallel) = chunking(batch);
        let (chunks, waiting) = tokio::sync::mpsc::channel::<Vec<Claimed>>(1);
        let sender = tokio::spawn(
            self.clone()
                .send_chunks(waiting, parallel, shutdown.clone()),
        );
        'claiming: while !shutdown.is_cancelled() {
            // Without a token, Telegram rows are claimed and fail visibly.
            let telegram = self.telegram_lease.as_ref().is_none_or(|l| l.is_held());
            match deliveries::claim(&self.compose.infra.db, batch, lease, telegram).await {
                Ok(rows) if !rows.is_empty() => {
                    for part in self.not_in_flight(rows).chunks(chunk) {
                        if chunks.send(part.to_vec()).await.is_err() {
                            break 'claiming;
                        }
                    }
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
        // The sender finishes what it holds (or releases it, on shutdown).
        drop(chunks);
        sender.await?;
        Ok(())
    }

    /// Sends chunks as they come, `parallel` at a time.
    async fn send_chunks(
        self: Arc<Self>,
        waiting: tokio::sync::mpsc::Receiver<Vec<Claimed>>,
        parallel: usize,
        shutdown: CancellationToken,
    ) {
        futures::stream::unfold(
            waiting,
            |mut w| async move { w.recv().await.map(|c| (c, w)) },
        )
        .map(|chunk| self.clone().process_chunk(chunk, shutdown.clone()))
        .buffer_unordered(parallel)
        .collect::<()>()
        .await;
    }

    /// Drops rows this worker already holds: a row whose lease ran out
    /// while it waited here is claimed again, and must not go out twice
    /// from the same process.
    fn not_in_flight(&self, rows: Vec<Claimed>) -> Vec<Claimed> {
        let mut held = self.in_flight.lock().expect("in-flight set");
        rows.into_iter().filter(|r| held.insert(r.id)).collect()
    }

    /// Sends one chunk: one query loads its contacts, its messages go out
    /// with bounded concurrency (over the SMTP pool's connections), and one
    /// statement records every outcome. No transaction is open while
    /// sending.
    async fn process_chunk(self: Arc<Self>, chunk: Vec<Claimed>, shutdown: CancellationToken) {
        let concurrency = self.config().notifier.concurrency.max(1);
        let ids: Vec<uuid::Uuid> = chunk.iter().map(|r| r.id).collect();
        if shutdown.is_cancelled() {
            if let Err(e) = deliveries::release_many(&self.compose.infra.db, &ids).await {
                tracing::warn!(error = %e, "cannot release deliveries; their lease will expire");
            }
            self.landed(&ids);
            return;
        }
        self.compose.preloaded.fill(&self.compose, &chunk).await;
        let updates: Vec<deliveries::Update> = futures::stream::iter(chunk.iter().cloned())
            .map(|row| {
                let me = self.clone();
                async move { me.deliver(row).await }
            })
            .buffer_unordered(concurrency)
            .filter_map(|u| async move { u })
            .collect()
            .await;
        self.compose.preloaded.forget(&chunk);
        if let Err(e) = deliveries::record_many(&self.compose.infra.db, &updates).await {
            // The rows stay `sending`; their lease expires and another
            // pass sends them again: at-least-once, bounded by the chunks
            // in flight.
            tracing::error!(error = %e, rows = updates.len(), "cannot record the outcomes");
        }
        self.landed(&ids);
    }

    /// The chunk is recorded (or released): its rows may be claimed again.
    fn landed(&self, ids: &[uuid::Uuid]) {
        let mut held = self.in_flight.lock().expect("in-flight set");
        for id in ids {
            held.remove(id);
        }
    }

    /// Tries one row; the outcome to record (`None`: already recorded, as
    /// a deferral is).
    #[tracing::instrument(skip_all, fields(delivery_id = %row.id, kind = %row.kind, attempt = row.attempts))]
    async fn deliver(&self, row: Claimed) -> Option<deliveries::Update> {
        // Confirmations spend the global confirmation-email budget.
        let confirmation = matches!(
            row.kind(),
            Some(deliveries::Kind::Confirmation | deliveries::Kind::SignatureConfirmation)
        );
        if confirmation && !self.within_email_budget(&row).await {
            return None;
        }
        let outcome = self.attempt(&row).await;
        let db = &self.compose.infra.db;
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
                    // A chat that blocked the bot: front unsubscribes it.
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
        let verdict = match self.compose.infra.db.acquire().await {
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
        if let Err(e) = deliveries::defer(&self.compose.infra.db, row.id, at).await {
            tracing::warn!(error = %e, "cannot defer the delivery; its lease will expire");
        }
        false
    }

    async fn attempt(&self, row: &Claimed) -> Outcome {
        let prepared = match compose::prepare(&self.compose, row).await {
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
        let sent = match &prepared.message {
            Outgoing::Email(_) => self.email.send(&prepared.message).await,
            Outgoing::Telegram(_) | Outgoing::TelegramPoll(_) => {
                let Some(telegram) = &self.telegram else {
                    return Outcome::Failed {
                        reason: "no Telegram channel configured".into(),
                        suppress: None,
                    };
                };
                self.telegram_send(telegram.as_ref(), row, &prepared.message)
                    .await
            }
        };
        match sent {
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

    /// A Telegram send: in the bot's one budget, people first (alerts to
    /// staff and messages about a person's own case before broadcasts);
    /// once sent, the file ids it uploaded are kept and a campaign's
    /// channel post is recorded (issue 16).
    async fn telegram_send(
        &self,
        telegram: &dyn Channel,
        row: &Claimed,
        message: &Outgoing,
    ) -> Result<Sent, SendError> {
        let class = crate::telegram::class_of(&row.kind);
        let sent =
            nasvyazi_shared::telegram::budget::with_class(class, telegram.send(message)).await;
        if let Ok(sent) = &sent {
            let db = &self.compose.infra.db;
            crate::telegram::posts::after_sent(db, self.config(), row, message, sent).await;
        }
        sent
    }
}
