//! The letter sender: a worker of its own beside the broadcast worker,
//! because letters are at-most-once. Each pass applies organisers'
//! resolutions, flags letters left in `sending` by a crash as `unknown`,
//! queues due collective letters, claims (office hours, throttles), sends
//! with no transaction open, and records each outcome:
//!
//! - accepted -> `sent`;
//! - a 4xx reply or no connection (the server certainly did not take it)
//!   -> `retry` (the claim keeps it inside office hours);
//! - a 5xx reply -> `failed` with the server's reply (addresses scrubbed);
//! - anything after which the server may have taken it (a dropped
//!   connection, no answer in time) -> `unknown`, never resent by itself.

use std::sync::Arc;
use std::time::Duration;

use crate::channels::{Channel, Outgoing, SendError};
use nasvyazi_shared::Infra;
use nasvyazi_shared::crypto::Keyring;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::claim::{self, Claimed};
use super::clock::Clock;
use super::queue;
use crate::compose::NotReady;

pub struct LetterSender {
    pub infra: Infra,
    pub keys: Arc<Keyring>,
    pub email: Arc<dyn Channel>,
    pub clock: Arc<dyn Clock>,
}

/// What became of one letter.
enum Outcome {
    Sent { id: Option<String>, reply: String },
    Retry(String),
    Failed(String),
    Unknown(String),
    Skipped(&'static str),
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Sent { .. } => "sent",
            Outcome::Retry(_) => "retry",
            Outcome::Failed(_) => "failed",
            Outcome::Unknown(_) => "unknown",
            Outcome::Skipped(_) => "skipped",
        }
    }
}

/// Whether a transient failure proves the server did not take the letter:
/// a 4xx reply (lettre: `transient error (4xx)`) or no connection at all.
/// Anything else (a connection lost after the data, a timeout) may have
/// delivered it.
fn certainly_not_sent(reason: &str) -> bool {
    [
        "transient error (",
        "cannot connect",
        "pool closed",
        "cannot write to the outbox folder",
    ]
    .iter()
    .any(|p| reason.starts_with(p))
}

impl LetterSender {
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.infra.config.letters.lease_secs as i64)
    }

    /// Runs until `shutdown`: woken by NOTIFY, with a poll as fallback;
    /// reconciles every minute.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> anyhow::Result<()> {
        let token = shutdown.clone();
        nasvyazi_shared::shutdown::restarting("letter-sender", shutdown, move || {
            let (this, token) = (self.clone(), token.clone());
            async move { this.run_once(token).await }
        })
        .await
    }

    async fn run_once(self: Arc<Self>, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut listener = PgListener::connect_with(&self.infra.db).await?;
        listener
            .listen_all([queue::WAKE, crate::deliveries::WAKE])
            .await?;
        let poll = Duration::from_millis(self.infra.config.notifier.poll_interval_ms);
        let mut last_reconcile = tokio::time::Instant::now();
        while !shutdown.is_cancelled() {
            match self.tick().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "letter sender pass failed"),
            }
            if last_reconcile.elapsed() > Duration::from_secs(60) {
                last_reconcile = tokio::time::Instant::now();
                if let Err(e) = queue::reconcile(&self.infra.db, Duration::from_secs(120)).await {
                    tracing::warn!(error = %e, "letters reconciliation failed");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = listener.recv() => if r.is_err() { tokio::time::sleep(poll).await },
                _ = tokio::time::sleep(poll) => {}
            }
        }
        Ok(())
    }

    /// One pass; returns how many letters it settled (sent, failed,
    /// skipped, deferred...). Zero: nothing to do right now.
    pub async fn tick(&self) -> anyhow::Result<usize> {
        let db = &self.infra.db;
        let now = self.clock.now();
        queue::apply_resolutions(db).await?;
        queue::flag_unknown(db, now).await?;
        queue::skip_withdrawn(db).await?;
        queue::fan_out_collective(db, now).await?;
        let out = claim::claim(db, now, &self.infra.config.letters, self.lease()).await?;
        let n = out.claimed.len() + out.settled;
        futures::future::join_all(out.claimed.into_iter().map(|c| self.deliver(c))).await;
        Ok(n)
    }

    /// Passes until one finds nothing to do (tests; the clock stands still).
    pub async fn drain(&self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let n = self.tick().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    #[tracing::instrument(skip_all, fields(delivery_id = %c.id, letter_id = %c.letter_id, official_id = %c.official_id, attempt = c.attempts))]
    async fn deliver(&self, c: Claimed) {
        let outcome = self.attempt(&c).await;
        let finished = self.clock.now();
        let label = outcome.label();
        let db = &self.infra.db;
        let recorded = match &outcome {
            Outcome::Sent { id, reply } => {
                tracing::info!("letter sent");
                sqlx::query(
                    "UPDATE deliveries SET status = 'sent', sent_at = now(), locked_until = NULL, updated_at = now(),
                         provider_message_id = $2, provider_reply = $3, last_error = NULL
                     WHERE id = $1 AND status = 'sending'",
                )
                .bind(c.id)
                .bind(id)
                .bind(reply)
                .execute(db)
                .await
            }
            Outcome::Retry(reason) if c.attempts < self.infra.config.notifier.max_attempts => {
                let delay = nasvyazi_shared::consumer::backoff(c.attempts as i64);
                tracing::info!(%reason, ?delay, "letter not taken; will retry in office hours");
                sqlx::query(
                    "UPDATE deliveries SET status = 'retry', next_attempt_at = $2, locked_until = NULL,
                         last_error = $3, updated_at = now()
                     WHERE id = $1 AND status = 'sending'",
                )
                .bind(c.id)
                .bind(finished + chrono::Duration::from_std(delay).unwrap_or_default())
                .bind(reason)
                .execute(db)
                .await
            }
            Outcome::Retry(reason) | Outcome::Failed(reason) | Outcome::Unknown(reason) => {
                let status = if matches!(outcome, Outcome::Unknown(_)) {
                    "unknown"
                } else {
                    "failed"
                };
                tracing::warn!(%reason, status, "letter not delivered");
                sqlx::query(
                    "UPDATE deliveries SET status = $2, locked_until = NULL, last_error = $3, updated_at = now()
                     WHERE id = $1 AND status = 'sending'",
                )
                .bind(c.id)
                .bind(status)
                .bind(reason)
                .execute(db)
                .await
            }
            Outcome::Skipped(reason) => {
                tracing::info!(reason, "letter skipped");
                sqlx::query(
                    "UPDATE deliveries SET status = 'skipped', locked_until = NULL, last_error = $2, updated_at = now()
                     WHERE id = $1 AND status = 'sending'",
                )
                .bind(c.id)
                .bind(reason)
                .execute(db)
                .await
            }
        };
        if let Err(e) = recorded {
            // The row stays `sending` and becomes `unknown`: never resent.
            tracing::error!(error = %e, "cannot record the letter's outcome");
        }
        // A skipped letter never reached the server: no pause after it.
        let talked = !matches!(outcome, Outcome::Skipped(_));
        let uncount = matches!(outcome, Outcome::Retry(_) | Outcome::Skipped(_));
        if let Err(e) = claim::release(db, &c, finished, talked, uncount).await {
            tracing::warn!(error = %e, "cannot release the letter's pacing (it expires with the lease)");
        }
        metrics::counter!("nasvyazi_letters_total", "outcome" => label).increment(1);
    }

    async fn attempt(&self, c: &Claimed) -> Outcome {
        let config = &self.infra.config;
        let message =
            match crate::compose::letter::prepare(&self.infra.db, &self.keys, config, c).await {
                Ok(m) => m,
                Err(NotReady::Skip(reason)) => return Outcome::Skipped(reason),
                Err(NotReady::Fail(reason)) => return Outcome::Failed(reason),
                Err(NotReady::Retry(e)) => return Outcome::Retry(e.to_string()),
            };
        // Answer well inside the lease, so that a row left in `sending`
        // past it always means the sender itself stopped.
        let budget = (self.lease() * 3 / 4)
            .to_std()
            .unwrap_or(Duration::from_secs(60));
        match tokio::time::timeout(budget, self.email.send(&Outgoing::Email(message))).await {
            Ok(Ok(sent)) => Outcome::Sent {
                id: sent.provider_message_id,
                reply: sent.reply,
            },
            Ok(Err(SendError::Transient { reason, .. })) if certainly_not_sent(&reason) => {
                Outcome::Retry(reason)
            }
            Ok(Err(SendError::Transient { reason, .. })) => {
                Outcome::Unknown(format!("the server may have taken it: {reason}"))
            }
            Ok(Err(SendError::Permanent { reason, .. })) => Outcome::Failed(reason),
            Err(_) => Outcome::Unknown(format!(
                "no answer within {budget:?}: the server may have taken it"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_proof_of_refusal_allows_a_retry() {
        use super::certainly_not_sent as sure;
        assert!(sure("transient error (451): Rejected by the test server"));
        assert!(sure("cannot connect to the SMTP server: ConnectionRefused"));
        assert!(!sure("network error: connection reset by peer"));
        assert!(!sure("SMTP conversation timed out after 30s"));
        assert!(!sure("SMTP connection failed"));
    }
}
