//! NATS JetStream set-up: subjects under the configured prefix, the events
//! stream and the dead-letter stream, created or updated at start
//! (idempotent), file storage, duplicate window, configurable replicas.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, stream};
use secrecy::ExposeSecret;

use crate::config::NatsConfig;
use crate::events::{Event, FAMILIES};

/// Subject and stream names for one prefix. Tests give every app its own
/// prefix, so their streams and subjects never meet.
#[derive(Debug, Clone)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    pub fn new(prefix: &str) -> Self {
        Subjects {
            prefix: prefix.to_string(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>.<event type>`, e.g. `outreach.contact.pending`.
    pub fn event(&self, event: &Event) -> String {
        format!("{}.{}", self.prefix, event.event_type())
    }

    /// `<prefix>.<event type>` for a type given as text.
    pub fn event_type(&self, event_type: &str) -> String {
        format!("{}.{}", self.prefix, event_type)
    }

    /// Dead letters of one consumer: `<prefix>.dlq.<consumer>`.
    pub fn dead_letter(&self, consumer: &str) -> String {
        format!("{}.dlq.{}", self.prefix, consumer)
    }

    fn stream_base(&self) -> String {
        self.prefix.to_uppercase().replace('-', "_")
    }

    /// The stream that holds every event.
    pub fn events_stream(&self) -> String {
        format!("{}_EVENTS", self.stream_base())
    }

    /// The stream that holds dead letters.
    pub fn dlq_stream(&self) -> String {
        format!("{}_DLQ", self.stream_base())
    }
}

/// Connects to NATS with the configured URL(s) and optional token.
pub async fn connect(config: &NatsConfig, name: &str) -> anyhow::Result<async_nats::Client> {
    let mut opts = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        .retry_on_initial_connect();
    if let Some(token) = &config.token {
        opts = opts.token(token.expose_secret().to_string());
    }
    let urls: Vec<async_nats::ServerAddr> = config
        .url
        .split(',')
        .map(|u| u.trim().parse())
        .collect::<Result<_, _>>()
        .context("nats.url: not a valid server address")?;
    let client = tokio::time::timeout(Duration::from_secs(15), opts.connect(urls))
        .await
        .context("nats.url: no NATS server answered within 15 s")?
        .context("nats.url: cannot connect")?;
    Ok(client)
}

/// The JetStream context every service uses.
pub fn jetstream(client: async_nats::Client) -> jetstream::Context {
    jetstream::new(client)
}

/// Creates or updates the events stream and the dead-letter stream.
pub async fn ensure_streams(
    js: &jetstream::Context,
    subjects: &Subjects,
    config: &NatsConfig,
) -> anyhow::Result<()> {
    let events = stream::Config {
        name: subjects.events_stream(),
        description: Some("nasvyazi events: facts with ids only".into()),
        subjects: FAMILIES
            .iter()
            .map(|f| format!("{}.{}.>", subjects.prefix(), f))
            .collect(),
        storage: stream::StorageType::File,
        num_replicas: config.replicas,
        duplicate_window: Duration::from_secs(config.duplicate_window_secs),
        max_age: Duration::from_secs(config.max_age_days * 86_400),
        retention: stream::RetentionPolicy::Limits,
        ..Default::default()
    };
    js.create_or_update_stream(events).await.with_context(|| {
        format!(
            "cannot create or update stream {}",
            subjects.events_stream()
        )
    })?;
    let dlq = stream::Config {
        name: subjects.dlq_stream(),
        description: Some("nasvyazi dead letters: poison events with the reason".into()),
        subjects: vec![format!("{}.dlq.>", subjects.prefix())],
        storage: stream::StorageType::File,
        num_replicas: config.replicas,
        duplicate_window: Duration::from_secs(config.duplicate_window_secs),
        // Dead letters wait for a person; keep them longer than events.
        max_age: Duration::from_secs(config.max_age_days.max(30) * 86_400),
        ..Default::default()
    };
    js.create_or_update_stream(dlq)
        .await
        .with_context(|| format!("cannot create or update stream {}", subjects.dlq_stream()))?;
    Ok(())
}
