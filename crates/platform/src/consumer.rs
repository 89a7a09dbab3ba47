//! Durable pull consumers with explicit acknowledgement after the handler's
//! transaction commits, processed-event keys for idempotency, backoff on
//! transient failures and a dead-letter subject for poison messages.
//!
//! The handler runs inside a transaction that also records the event id in
//! the service's inbox table; a redelivered event whose id is already there
//! is acknowledged without running the handler again. Handler errors must
//! not carry personal data: their text goes to logs and to the dead letter.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::StreamExt;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::events::Envelope;
use crate::nats::Subjects;

/// How a handler failed: the runner looks only at the class.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Worth retrying later (database busy, provider down).
    #[error("transient: {0:#}")]
    Transient(anyhow::Error),
    /// Will fail the same way every time: dead-letter it now.
    #[error("permanent: {0:#}")]
    Permanent(anyhow::Error),
}

impl From<sqlx::Error> for HandleError {
    fn from(e: sqlx::Error) -> Self {
        HandleError::Transient(e.into())
    }
}

/// One event handler. It gets the open transaction; the runner commits it
/// and then acknowledges the message.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError>;
}

/// The processed-event table of a consuming service.
#[derive(Debug, Clone, Copy)]
pub enum Inbox {
    Front,
    Notifier,
}

impl Inbox {
    fn table(self) -> &'static str {
        match self {
            Inbox::Front => "front_inbox",
            Inbox::Notifier => "notifier_inbox",
        }
    }
}

/// What one consumer listens to and where it records processed events.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Durable consumer name, e.g. `notifier-contact-pending`.
    pub durable: String,
    /// Event type it consumes, e.g. `contact.pending`.
    pub event_type: String,
    pub inbox: Inbox,
}

/// Runs one durable consumer until `shutdown`.
pub struct ConsumerRunner<H: Handler> {
    pub db: PgPool,
    pub js: jetstream::Context,
    pub subjects: Subjects,
    pub spec: ConsumerSpec,
    pub handler: Arc<H>,
    /// After this many failed deliveries the message is dead-lettered.
    pub max_deliver: i64,
    pub ack_wait: Duration,
}

/// Headers added to a dead letter, beside the original headers.
pub const DLQ_REASON: &str = "Nasvyazi-Dlq-Reason";
pub const DLQ_SUBJECT: &str = "Nasvyazi-Dlq-Subject";
pub const DLQ_CONSUMER: &str = "Nasvyazi-Dlq-Consumer";
pub const DLQ_DELIVERIES: &str = "Nasvyazi-Dlq-Deliveries";
pub const DLQ_STREAM_SEQ: &str = "Nasvyazi-Dlq-Stream-Seq";

enum Outcome {
    Done,
    Retry(Duration),
    DeadLetter(String),
}

impl<H: Handler> ConsumerRunner<H> {
    pub fn new(infra: &crate::Infra, spec: ConsumerSpec, handler: Arc<H>) -> Self {
        ConsumerRunner {
            db: infra.db.clone(),
            js: infra.js.clone(),
            subjects: infra.subjects.clone(),
            spec,
            handler,
            max_deliver: infra.config.nats.max_deliver,
            ack_wait: Duration::from_secs(infra.config.nats.ack_wait_secs),
        }
    }

    /// Creates (or updates) the durable consumer; idempotent.
    pub async fn consumer(&self) -> anyhow::Result<jetstream::consumer::Consumer<pull::Config>> {
        let stream = self
            .js
            .get_stream(self.subjects.events_stream())
            .await
            .context("events stream missing")?;
        // Read first, create or update only when needed, and ride out a
        // cluster's lost replies (see `nats::ensure_consumer`).
        crate::nats::ensure_consumer(
            &stream,
            pull::Config {
                durable_name: Some(self.spec.durable.clone()),
                filter_subject: self.subjects.event_type(&self.spec.event_type),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: self.ack_wait,
                // One more than ours: the runner dead-letters on the last
                // attempt itself, with the reason.
                max_deliver: self.max_deliver + 1,
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("cannot create consumer {}", self.spec.durable))
    }

    /// Runs until `shutdown`; a panic or an error (the stream unreachable
    /// during a cluster election, say) restarts the loop with backoff
    /// rather than taking the process down (`shutdown::restarting`).
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let this = Arc::new(self);
        let token = shutdown.clone();
        crate::shutdown::restarting("consumer", shutdown, move || {
            let (this, token) = (this.clone(), token.clone());
            async move { this.run_once(token).await }
        })
        .await
    }

    async fn run_once(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let consumer = self.consumer().await?;
        while !shutdown.is_cancelled() {
            let batch = tokio::select! {
                _ = shutdown.cancelled() => break,
                b = consumer.batch().max_messages(16).expires(Duration::from_secs(2)).messages() => b,
            };
            let mut batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(durable = %self.spec.durable, error = %e, "pull failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => None,
                    m = batch.next() => m,
                };
                let Some(msg) = next else { break };
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::debug!(error = %e, "batch ended");
                        break;
                    }
                };
                if shutdown.is_cancelled() {
                    // Release what we hold: redeliver at once to someone else.
                    let _ = msg.ack_with(AckKind::Nak(None)).await;
                    break;
                }
                self.process(msg).await;
            }
        }
        Ok(())
    }

    async fn process(&self, msg: jetstream::Message) {
        let (delivered, stream_seq) = msg
            .info()
            .map(|i| (i.delivered, i.stream_sequence))
            .unwrap_or((1, 0));
        let outcome = self.outcome(&msg, delivered).await;
        let result = match outcome {
            Outcome::Done => msg.ack().await,
            Outcome::Retry(delay) => msg.ack_with(AckKind::Nak(Some(delay))).await,
            Outcome::DeadLetter(reason) => {
                metrics::counter!("nasvyazi_dead_letters_total", "consumer" => self.spec.durable.clone())
                    .increment(1);
                match self.dead_letter(&msg, &reason, delivered, stream_seq).await {
                    Ok(()) => msg.ack_with(AckKind::Term).await,
                    Err(e) => {
                        tracing::error!(durable = %self.spec.durable, error = %format!("{e:#}"), "cannot dead-letter; will redeliver");
                        msg.ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
                            .await
                    }
                }
            }
        };
        if let Err(e) = result {
            tracing::warn!(durable = %self.spec.durable, error = %e, "acknowledgement failed; the message will be redelivered");
        }
    }

    async fn outcome(&self, msg: &jetstream::Message, delivered: i64) -> Outcome {
        let envelope: Envelope = match serde_json::from_slice(&msg.payload) {
            Ok(e) => e,
            Err(e) => return Outcome::DeadLetter(format!("unreadable event body: {e}")),
        };
        let span = tracing::info_span!("event", durable = %self.spec.durable, event_id = %envelope.id, r#type = envelope.event.event_type());
        // The span follows the future (`Instrument`), never a guard held
        // across `.await`: a guard leaks the span into whatever else the
        // thread polls and panics the subscriber once the span closes.
        self.settle(msg, &envelope, delivered)
            .instrument(span)
            .await
    }

    /// Runs the handler (with progress acknowledgements) and classifies the
    /// result.
    async fn settle(
        &self,
        msg: &jetstream::Message,
        envelope: &Envelope,
        delivered: i64,
    ) -> Outcome {
        // A long handler (a million-row fan-out) tells the server it is
        // still working, so the message is not redelivered meanwhile.
        let work = self.handle_once(envelope);
        tokio::pin!(work);
        let mut beat = tokio::time::interval(self.ack_wait / 3);
        beat.tick().await;
        let result = loop {
            tokio::select! {
                r = &mut work => break r,
                _ = beat.tick() => {
                    if let Err(e) = msg.ack_with(AckKind::Progress).await {
                        tracing::debug!(error = %e, "progress acknowledgement failed");
                    }
                }
            }
        };
        match result {
            Ok(()) => Outcome::Done,
            Err(HandleError::Permanent(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "permanent failure");
                Outcome::DeadLetter(format!("{e:#}"))
            }
            Err(HandleError::Transient(e)) if delivered >= self.max_deliver => {
                tracing::warn!(error = %format!("{e:#}"), delivered, "giving up after the last attempt");
                Outcome::DeadLetter(format!("failed {delivered} times; last error: {e:#}"))
            }
            Err(HandleError::Transient(e)) => {
                let delay = backoff(delivered);
                tracing::info!(error = %format!("{e:#}"), delivered, ?delay, "transient failure; will retry");
                Outcome::Retry(delay)
            }
        }
    }

    /// Runs the handler in a transaction together with the processed key.
    async fn handle_once(&self, envelope: &Envelope) -> Result<(), HandleError> {
        let mut tx = self.db.begin().await?;
        let fresh = sqlx::query(&format!(
            "INSERT INTO {} (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            self.spec.inbox.table()
        ))
        .bind(&self.spec.durable)
        .bind(envelope.id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if fresh {
            self.handler.handle(&mut tx, envelope).await?;
        } else {
            tracing::debug!("already processed; acknowledging");
        }
        tx.commit().await?;
        Ok(())
    }

    async fn dead_letter(
        &self,
        msg: &jetstream::Message,
        reason: &str,
        delivered: i64,
        stream_seq: u64,
    ) -> anyhow::Result<()> {
        let mut headers = msg.headers.clone().unwrap_or_default();
        let original_id = headers
            .get("Nats-Msg-Id")
            .map(|v| v.to_string())
            .unwrap_or_else(|| stream_seq.to_string());
        headers.insert(
            "Nats-Msg-Id",
            format!("dlq:{}:{}", self.spec.durable, original_id).as_str(),
        );
        headers.insert(DLQ_REASON, one_line(reason).as_str());
        headers.insert(DLQ_SUBJECT, msg.subject.as_str());
        headers.insert(DLQ_CONSUMER, self.spec.durable.as_str());
        headers.insert(DLQ_DELIVERIES, delivered.to_string().as_str());
        headers.insert(DLQ_STREAM_SEQ, stream_seq.to_string().as_str());
        self.js
            .publish_with_headers(
                self.subjects.dead_letter(&self.spec.durable),
                headers,
                msg.payload.clone(),
            )
            .await?
            .await?;
        Ok(())
    }
}

/// Retry delay after `delivered` attempts: 1 s, 2 s, 4 s ... capped at 60 s,
/// with up to 25% jitter so retries of many messages spread out.
pub fn backoff(delivered: i64) -> Duration {
    use rand::Rng;
    let base = 1u64 << delivered.clamp(0, 6);
    let jitter = rand::thread_rng().gen_range(0..=base * 250);
    Duration::from_millis((base * 1000).min(60_000) + jitter)
}

/// Header values are one line.
fn one_line(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    s.chars().take(500).collect()
}

/// Headers of the original message that a dead letter keeps.
pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| v.to_string())
}
