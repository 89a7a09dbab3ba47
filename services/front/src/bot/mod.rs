//! The Telegram bot: the front door for supporters who prefer Telegram.
//! Updates arrive by long polling (the default: no public address needed;
//! one poller per bot token, by lease) or by webhook (`POST
//! /telegram/webhook`, with the secret-token check); either way each update
//! is applied in one transaction that also records its id, so an update
//! seen twice changes nothing twice. The answers are queued in that
//! transaction for the bot's one sender (the notifier holding the bot's
//! sending lease), which serves people before broadcasts; without a live
//! sender front sends them itself after the commit.
//!
//! Chat ids are personal data: sealed in `contacts`, found by blind index,
//! never logged, never on the bus. Log lines carry contact and update ids.

pub mod blocked;
pub mod dialog;
pub mod poll;
pub mod replies;
pub mod store;
pub mod ui;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use nasvyazi_shared::config::TelegramMode;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::telegram::answers;
use nasvyazi_shared::telegram::api::BotApi;
use nasvyazi_shared::telegram::budget::Class;
use nasvyazi_shared::{Config, Infra};
use serde_json::Value;
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::dialog::Incoming;
use self::replies::Replies;

/// The update types the bot asks for.
/// (`poll`: the counts of the polls the bot sent, see [`crate::polls`].)
pub const ALLOWED_UPDATES: [&str; 4] = ["message", "callback_query", "my_chat_member", "poll"];

/// The bot: its API client, the database and the keys.
pub struct Bot {
    pub config: Arc<Config>,
    pub db: PgPool,
    pub keys: Arc<Keyring>,
    pub replies: Replies,
}

impl Bot {
    /// The bot the configuration asks for; `None` without a token.
    pub fn from_config(infra: &Infra, keys: Arc<Keyring>) -> anyhow::Result<Option<Arc<Bot>>> {
        let config = infra.config.clone();
        let Some(api) = BotApi::from_config(&config.telegram)? else {
            return Ok(None);
        };
        let interval = Duration::from_millis(config.telegram.private_chat_interval_ms);
        Ok(Some(Arc::new(Bot {
            replies: Replies::new(api, interval),
            db: infra.db.clone(),
            keys,
            config,
        })))
    }

    pub fn api(&self) -> &BotApi {
        self.replies.api()
    }

    /// One call the bot makes on its own (not an answer inside an
    /// update's transaction): queued for the bot's one sender when one is
    /// live, else made here at once.
    pub async fn send_or_queue(
        &self,
        class: Class,
        method: &str,
        params: Value,
    ) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        let bot_id = self.api().bot_id().to_string();
        if answers::sender_live(&mut tx, &bot_id).await? {
            let answer = answers::Answer {
                class,
                method: method.to_string(),
                params,
            };
            answers::enqueue(&mut tx, &self.keys, &bot_id, &[answer]).await?;
            tx.commit().await?;
            return Ok(());
        }
        drop(tx);
        self.api().call(method, &params).await?;
        Ok(())
    }

    /// Applies one update (once, whatever how often it comes) and answers.
    pub async fn handle_update(&self, update: &Value) -> anyhow::Result<()> {
        let Some(update_id) = update["update_id"].as_i64() else {
            return Ok(());
        };
        let mut tx = self.db.begin().await?;
        if !store::claim_update(&mut tx, self.api().bot_id(), update_id).await? {
            tracing::debug!(update_id, "update already processed");
            return Ok(());
        }
        let replies = dialog::apply(&mut tx, self, Incoming::parse(update)).await?;
        let (mirrors, mut replies): (Vec<_>, Vec<_>) = replies
            .into_iter()
            .partition(|r| matches!(r, replies::Reply::Mirror(_)));
        // The bot's one budget: with a live sender (the lease holder), the
        // answers go to it, queued with the update; without one, front
        // sends them itself after the commit.
        let bot_id = self.api().bot_id().to_string();
        if !replies.is_empty() && answers::sender_live(&mut tx, &bot_id).await? {
            let queued: Vec<_> = replies.iter().filter_map(replies::queued).collect();
            answers::enqueue(&mut tx, &self.keys, &bot_id, &queued).await?;
            replies.retain(|r| replies::queued(r).is_none());
        }
        tx.commit().await?;
        tracing::debug!(update_id, direct = replies.len(), "update applied");
        self.replies.send_all(replies).await;
        for m in mirrors {
            if let replies::Reply::Mirror(m) = m {
                crate::consultations::staff_group::mirror(self, &m).await;
            }
        }
        Ok(())
    }
}

/// Starts what the bot needs beside the HTTP server: the consumer that
/// unsubscribes blocked chats (always), and the poller or the webhook
/// registration (with a token).
pub fn spawn(
    infra: &Infra,
    bot: Option<Arc<Bot>>,
    tasks: &mut JoinSet<anyhow::Result<()>>,
    shutdown: &CancellationToken,
) {
    tasks.spawn(blocked::runner(infra).run(shutdown.clone()));
    let Some(bot) = bot else { return };
    match infra.config.telegram.mode {
        TelegramMode::Polling => {
            let token = shutdown.clone();
            tasks.spawn(nasvyazi_shared::shutdown::restarting(
                "telegram-bot",
                shutdown.clone(),
                move || poll::run(bot.clone(), token.clone()),
            ));
        }
        TelegramMode::Webhook => {
            tasks.spawn(webhook::register(bot, shutdown.clone()));
        }
    }
}
