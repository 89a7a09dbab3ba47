//! NATS JetStream set-up: subjects under the configured prefix, the events
//! stream and the dead-letter stream, created or updated at start
//! (idempotent), file storage, duplicate window, configurable replicas.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::pull, stream};
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

/// How long one JetStream API request (stream or consumer info, create,
/// update) may take before it counts as lost. A create on a cluster is
/// answered by the new stream's leader once its Raft group has elected
/// one; 10 s is plenty on a healthy cluster and short enough to ask again
/// soon when the reply was lost (see [`ensure_stream`]).
pub const API_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times [`ensure_stream`] and [`ensure_consumer`] ask before they
/// give up (the start-up loop then waits and calls them again).
const ENSURE_ATTEMPTS: u32 = 6;

/// The JetStream context every service uses: API requests and publish
/// acknowledgements bounded by [`API_TIMEOUT`] (a publish to an R3 stream
/// during a leader election may wait that long; the outbox relay retries
/// an unacknowledged event with the same `Nats-Msg-Id`).
pub fn jetstream(client: async_nats::Client) -> jetstream::Context {
    jetstream::context::ContextBuilder::new()
        .timeout(API_TIMEOUT)
        .build(client)
}

/// The events stream's configuration.
pub fn events_stream_config(subjects: &Subjects, config: &NatsConfig) -> stream::Config {
    stream::Config {
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
    }
}

/// The dead-letter stream's configuration.
pub fn dlq_stream_config(subjects: &Subjects, config: &NatsConfig) -> stream::Config {
    stream::Config {
        name: subjects.dlq_stream(),
        description: Some("nasvyazi dead letters: poison events with the reason".into()),
        subjects: vec![format!("{}.dlq.>", subjects.prefix())],
        storage: stream::StorageType::File,
        num_replicas: config.replicas,
        duplicate_window: Duration::from_secs(config.duplicate_window_secs),
        // Dead letters wait for a person; keep them longer than events.
        max_age: Duration::from_secs(config.max_age_days.max(30) * 86_400),
        retention: stream::RetentionPolicy::Limits,
        ..Default::default()
    }
}

/// Creates or updates the events stream and the dead-letter stream.
pub async fn ensure_streams(
    js: &jetstream::Context,
    subjects: &Subjects,
    config: &NatsConfig,
) -> anyhow::Result<()> {
    ensure_stream(js, events_stream_config(subjects, config)).await?;
    ensure_stream(js, dlq_stream_config(subjects, config)).await?;
    Ok(())
}

/// What one attempt of an `ensure_*` step ended with.
enum Step<T> {
    Done(T),
    /// Lost reply, no meta leader yet, a concurrent creator: ask again.
    Again(anyhow::Error),
}

/// Makes sure stream `want.name` exists with `want`'s settings, safe to run
/// from many services and replicas at once on a cluster.
///
/// Why not `create_or_update_stream`: it sends an update first, and on a
/// JetStream cluster an update that reaches the meta leader while another
/// process's create of the same stream is still being proposed is never
/// answered, and neither is the create (nats-server 2.15: the stream is
/// created, all three starters of `nasvyazi up` time out). So: read the
/// stream's info (a read, it races with nothing); create it when it is
/// missing (concurrent creates with one configuration are all answered);
/// update it only when a setting we own differs; and after a lost reply
/// (timeout) read again instead of failing.
pub async fn ensure_stream(js: &jetstream::Context, want: stream::Config) -> anyhow::Result<()> {
    let name = want.name.clone();
    let mut pause = Duration::from_millis(250);
    let mut last = None;
    for attempt in 1..=ENSURE_ATTEMPTS {
        match ensure_stream_once(js, &want).await? {
            Step::Done(action) => {
                if attempt > 1 || action != "unchanged" {
                    tracing::info!(stream = %name, action, attempt, "JetStream stream ready");
                }
                return Ok(());
            }
            Step::Again(e) => {
                tracing::warn!(
                    stream = %name,
                    attempt,
                    retry_in_ms = pause.as_millis() as u64,
                    error = %format!("{e:#}"),
                    "waiting for JetStream (meta leader, stream leader) to create or update the stream"
                );
                last = Some(e);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(4));
            }
        }
    }
    Err(last
        .unwrap_or_else(|| anyhow::anyhow!("no answer"))
        .context(format!(
            "cannot create or update stream {name}: no answer after {ENSURE_ATTEMPTS} attempts"
        )))
}

async fn ensure_stream_once(
    js: &jetstream::Context,
    want: &stream::Config,
) -> anyhow::Result<Step<&'static str>> {
    use jetstream::ErrorCode;
    use jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind};

    let name = &want.name;
    let have = match bounded(INFO_TIMEOUT, js.get_stream(name)).await {
        Err(e) => return Ok(Step::Again(e.context(format!("stream {name}: info")))),
        Ok(Ok(s)) => Some(s.cached_info().config.clone()),
        Ok(Err(e)) => match e.kind() {
            GetStreamErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_NOT_FOUND => {
                None
            }
            GetStreamErrorKind::Request | GetStreamErrorKind::JetStream(_) => {
                return Ok(Step::Again(
                    anyhow::Error::new(e).context(format!("stream {name}: info")),
                ));
            }
            _ => return Err(anyhow::Error::new(e).context(format!("stream {name}: info"))),
        },
    };
    match have {
        Some(have) if stream_matches(&have, want) => Ok(Step::Done("unchanged")),
        Some(_) => match bounded(API_TIMEOUT, js.update_stream(want)).await {
            Err(e) => Ok(Step::Again(e.context(format!("stream {name}: update")))),
            Ok(Ok(_)) => Ok(Step::Done("updated")),
            Ok(Err(e)) => match e.kind() {
                CreateStreamErrorKind::TimedOut
                | CreateStreamErrorKind::JetStreamUnavailable
                | CreateStreamErrorKind::NotFound
                | CreateStreamErrorKind::Response => Ok(Step::Again(
                    anyhow::Error::new(e).context(format!("stream {name}: update")),
                )),
                _ => Err(anyhow::Error::new(e).context(format!("cannot update stream {name}"))),
            },
        },
        None => match bounded(API_TIMEOUT, js.create_stream(want)).await {
            Err(e) => Ok(Step::Again(e.context(format!("stream {name}: create")))),
            Ok(Ok(_)) => Ok(Step::Done("created")),
            Ok(Err(e)) => match e.kind() {
                // Someone else created it meanwhile (with other settings):
                // read it again and update it if ours differ.
                CreateStreamErrorKind::JetStream(j)
                    if j.error_code() == ErrorCode::STREAM_NAME_EXIST =>
                {
                    Ok(Step::Again(
                        anyhow::Error::new(e).context(format!("stream {name}: create")),
                    ))
                }
                CreateStreamErrorKind::TimedOut
                | CreateStreamErrorKind::JetStreamUnavailable
                | CreateStreamErrorKind::Response => Ok(Step::Again(
                    anyhow::Error::new(e).context(format!("stream {name}: create")),
                )),
                _ => Err(anyhow::Error::new(e).context(format!("cannot create stream {name}"))),
            },
        },
    }
}

/// The settings we own are as wanted (the server fills in the rest, e.g.
/// `max_msgs = -1`, so whole configurations never compare equal).
fn stream_matches(have: &stream::Config, want: &stream::Config) -> bool {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    sorted(&have.subjects) == sorted(&want.subjects)
        && have.storage == want.storage
        && have.num_replicas == want.num_replicas
        && have.duplicate_window == want.duplicate_window
        && have.max_age == want.max_age
        && have.retention == want.retention
        && have.description == want.description
}

/// Makes sure durable pull consumer `want.durable_name` exists on `stream`
/// with `want`'s settings and returns it; as [`ensure_stream`]: read first,
/// create or update only when missing or different, ask again after a lost
/// reply. Safe for many replicas of a service starting at once.
pub async fn ensure_consumer(
    stream: &jetstream::stream::Stream,
    want: pull::Config,
) -> anyhow::Result<jetstream::consumer::Consumer<pull::Config>> {
    let durable = want
        .durable_name
        .clone()
        .context("ensure_consumer: a durable name is required")?;
    let mut pause = Duration::from_millis(250);
    let mut last = None;
    for attempt in 1..=ENSURE_ATTEMPTS {
        let step = match bounded(INFO_TIMEOUT, stream.get_consumer::<pull::Config>(&durable)).await
        {
            Ok(Ok(c)) if consumer_matches(&c.cached_info().config, &want) => Step::Done(c),
            // Missing, different, or unreadable: create or update (the
            // server's create is create-or-update and idempotent).
            _ => match bounded(API_TIMEOUT, stream.create_consumer(want.clone())).await {
                Ok(Ok(c)) => Step::Done(c),
                Ok(Err(e)) => match e.kind() {
                    jetstream::stream::ConsumerErrorKind::TimedOut
                    | jetstream::stream::ConsumerErrorKind::Request => Step::Again(
                        anyhow::Error::new(e).context(format!("consumer {durable}: create")),
                    ),
                    jetstream::stream::ConsumerErrorKind::JetStream(j)
                        if is_transient_jetstream(&j) =>
                    {
                        Step::Again(
                            anyhow::Error::new(e).context(format!("consumer {durable}: create")),
                        )
                    }
                    _ => {
                        return Err(anyhow::Error::new(e)
                            .context(format!("cannot create consumer {durable}")));
                    }
                },
                Err(e) => Step::Again(e.context(format!("consumer {durable}: create"))),
            },
        };
        match step {
            Step::Done(c) => return Ok(c),
            Step::Again(e) => {
                tracing::warn!(
                    durable = %durable,
                    attempt,
                    retry_in_ms = pause.as_millis() as u64,
                    error = %format!("{e:#}"),
                    "waiting for JetStream (stream leader) to create the consumer"
                );
                last = Some(e);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(4));
            }
        }
    }
    Err(last
        .unwrap_or_else(|| anyhow::anyhow!("no answer"))
        .context(format!(
            "cannot create consumer {durable}: no answer after {ENSURE_ATTEMPTS} attempts"
        )))
}

fn consumer_matches(have: &jetstream::consumer::Config, want: &pull::Config) -> bool {
    have.filter_subject == want.filter_subject
        && have.ack_policy == want.ack_policy
        && have.ack_wait == want.ack_wait
        && have.max_deliver == want.max_deliver
}

/// JetStream errors that say "not now" rather than "never": no leader yet,
/// the cluster busy, a peer missing.
fn is_transient_jetstream(e: &jetstream::Error) -> bool {
    use jetstream::ErrorCode;
    matches!(
        e.error_code(),
        ErrorCode::CLUSTER_NOT_AVAILABLE
            | ErrorCode::CLUSTER_NOT_LEADER
            | ErrorCode::STREAM_NOT_FOUND
            | ErrorCode::INSUFFICIENT_RESOURCES
    ) || e.code() == 503
        || e.code() == 408
}

/// How long a read (stream or consumer info) may take: on a cluster, an
/// info request about a stream whose creation is still being proposed is
/// not answered at all, so ask again soon rather than wait [`API_TIMEOUT`].
const INFO_TIMEOUT: Duration = Duration::from_secs(2);

/// One JetStream request bounded by `limit`, whatever the context's own
/// timeout.
async fn bounded<F: std::future::Future>(limit: Duration, f: F) -> anyhow::Result<F::Output> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {limit:?}"))
}
