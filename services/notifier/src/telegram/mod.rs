//! Telegram in the notifier: the sender (the `telegram` channel adapter
//! with its lease), what a block does, and the messages to the configured
//! channel and staff chat.
//!
//! One process sends for a bot token at a time (lease `telegram-send:<bot
//! id>`), so replicas never exceed the bot's limits together: a notifier
//! without the lease claims no Telegram deliveries (every ledger channel
//! whose name starts with `telegram`). The lease holder is the bot's one
//! sender: it also sends what front answers to people ([`answers`]), and
//! every send waits in the bot's one budget, people first.

pub mod answers;
pub mod blocked;
pub mod posts;

use std::sync::Arc;
use std::time::Duration;

use crate::channels::Channel;
use nasvyazi_shared::Config;
use nasvyazi_shared::lease::Lease;
use nasvyazi_shared::telegram::budget::Class;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::channels::telegram::Telegram;

/// The sending lease lasts this long and is renewed every third of it; a
/// notifier that dies hands over within it.
pub const LEASE_TTL: Duration = Duration::from_secs(15);

/// The Telegram channel and its sending lease.
pub struct Sender {
    pub channel: Arc<dyn Channel>,
    /// The same adapter, for calls beyond `Channel::send` (consultations).
    pub telegram: Arc<Telegram>,
    pub lease: Arc<Lease>,
}

impl Sender {
    /// The sender the configuration asks for; `None` without a token.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Sender>> {
        Ok(Telegram::from_config(&config.telegram)?.map(|t| {
            let t = Arc::new(t);
            Sender {
                lease: Arc::new(Lease::new(
                    format!("telegram-send:{}", t.bot_id()),
                    LEASE_TTL,
                )),
                channel: t.clone(),
                telegram: t,
            }
        }))
    }
}

/// One LISTEN connection for the bot's senders (consultants' replies and
/// the answers front hands over): each channel's [`Notify`] is woken when
/// its NOTIFY arrives, and all of them when the connection is made again
/// (a wake-up may have been missed meanwhile). One connection, not one per
/// sender, so the pool keeps its connections for work.
pub async fn listen(
    db: PgPool,
    channels: Vec<(&'static str, Arc<Notify>)>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let token = shutdown.clone();
    nasvyazi_shared::shutdown::restarting("telegram-wakes", shutdown, move || {
        let (db, channels, token) = (db.clone(), channels.clone(), token.clone());
        async move {
            let mut listener = PgListener::connect_with(&db).await?;
            let names: Vec<&str> = channels.iter().map(|c| c.0).collect();
            listener.listen_all(names).await?;
            for (_, wake) in &channels {
                wake.notify_one();
            }
            loop {
                tokio::select! {
                    _ = token.cancelled() => return Ok(()),
                    n = listener.recv() => {
                        let n = n?;
                        for (name, wake) in &channels {
                            if n.channel() == *name {
                                wake.notify_one();
                            }
                        }
                    }
                }
            }
        }
    })
    .await
}

/// The class a ledger row's Telegram send waits in (the bot's one budget,
/// people first): a message about a person's own case is a reply, an
/// alert to staff an alert, everything else (campaigns, posts) a
/// broadcast.
pub fn class_of(kind: &str) -> Class {
    use crate::deliveries::Kind;
    match Kind::parse(kind) {
        Some(
            Kind::AppealAck | Kind::AppealStatus | Kind::Confirmation | Kind::SignatureConfirmation,
        ) => Class::Reply,
        Some(Kind::StaffAlert | Kind::ConsultationAlert) => Class::Alert,
        _ => Class::Broadcast,
    }
}

/// Whether deliveries on ledger channel `channel` go through Telegram.
pub fn is_telegram(channel: &str) -> bool {
    channel.starts_with("telegram")
}
