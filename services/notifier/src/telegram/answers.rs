//! The bot's answers to people, sent by the bot's one sender (issue 26):
//! what front queued in `bot_answers` (`nasvyazi_shared::telegram::
//! answers`) goes out in the class it was queued in (an answer to what a
//! person just did), ahead of every reply, alert and broadcast waiting in
//! the same budget. Only the holder of the bot's sending lease sends.
//!
//! One chat's answers go in the order they were made (the automatic answer
//! before the language question, a button's spinner before its edit); many
//! chats at once. An answer Telegram refuses for good (a 400, a blocked
//! chat) is dropped with a log line of ids; a 429 or a dropped connection
//! is tried again, a few times. Nothing here logs a chat id or a text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::lease::Lease;
use nasvyazi_shared::telegram::answers::{self, Claimed};
use nasvyazi_shared::telegram::api::ApiError;
use nasvyazi_shared::{Config, Infra};
use tokio_util::sync::CancellationToken;

use crate::channels::telegram::Telegram;

/// Answers taken in one pass.
const BATCH: i64 = 256;
/// Tries of one answer in this process before it is put back.
const TRIES: u32 = 4;

/// The sender of the bot's answers.
pub struct AnswerSender {
    pub infra: Infra,
    pub keys: Arc<Keyring>,
    pub telegram: Arc<Telegram>,
    pub lease: Arc<Lease>,
    /// Woken when front queues answers (see [`super::listen`]).
    pub wake: Arc<tokio::sync::Notify>,
    /// One lock per chat with answers in flight: a chat's answers go in
    /// order even when they were taken in different passes.
    chats: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl AnswerSender {
    pub fn new(
        infra: Infra,
        keys: Arc<Keyring>,
        telegram: Arc<Telegram>,
        lease: Arc<Lease>,
        wake: Arc<tokio::sync::Notify>,
    ) -> AnswerSender {
        AnswerSender {
            infra,
            keys,
            telegram,
            lease,
            wake,
            chats: Mutex::default(),
        }
    }

    fn config(&self) -> &Config {
        &self.infra.config
    }

    /// Runs until `shutdown`: woken by NOTIFY, with a poll as fallback.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> anyhow::Result<()> {
        let token = shutdown.clone();
        nasvyazi_shared::shutdown::restarting("bot-answers", shutdown, move || {
            let (this, token) = (self.clone(), token.clone());
            async move { this.run_once(token).await }
        })
        .await
    }

    async fn run_once(self: Arc<Self>, shutdown: CancellationToken) -> anyhow::Result<()> {
        let poll = Duration::from_millis(self.config().notifier.poll_interval_ms);
        while !shutdown.is_cancelled() {
            if self.lease.is_held() {
                match self.clone().pass().await {
                    Ok(n) if n > 0 => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "bot answers pass failed"),
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        Ok(())
    }

    /// Takes the waiting answers and starts sending them (one task per
    /// chat); returns how many it took.
    pub async fn pass(self: Arc<Self>) -> anyhow::Result<usize> {
        let bot = self.telegram.bot_id().to_string();
        let claimed = answers::claim(&self.infra.db, &self.keys, &bot, BATCH).await?;
        let n = claimed.len();
        let mut by_chat: Vec<(String, Vec<Claimed>)> = Vec::new();
        for c in claimed {
            let chat = c.answer.chat();
            match by_chat.iter_mut().find(|(k, _)| *k == chat) {
                Some((_, list)) => list.push(c),
                None => by_chat.push((chat, vec![c])),
            }
        }
        for (chat, list) in by_chat {
            if chat.is_empty() {
                // Callback queries' answers: no chat, no order to keep.
                for c in list {
                    let me = self.clone();
                    tokio::spawn(async move { me.send("", c).await });
                }
                continue;
            }
            let lock = self.chat_lock(&chat);
            let me = self.clone();
            tokio::spawn(async move {
                let _in_order = lock.lock().await;
                for c in list {
                    me.send(&chat, c).await;
                }
                drop(_in_order);
                me.forget_chat(&chat);
            });
        }
        Ok(n)
    }

    fn chat_lock(&self, chat: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.chats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(chat.to_string())
            .or_default()
            .clone()
    }

    /// Drops a chat's lock once nobody holds or waits for it.
    fn forget_chat(&self, chat: &str) {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        if chats.get(chat).is_some_and(|l| Arc::strong_count(l) == 1) {
            chats.remove(chat);
        }
    }

    /// Sends one answer (retrying a 429 or a dropped connection a few
    /// times), then removes it, or puts it back for a later pass.
    async fn send(&self, chat: &str, c: Claimed) {
        let a = &c.answer;
        let counted = a.is_message();
        let mut tries = 0;
        let finished = loop {
            tries += 1;
            let result = self
                .telegram
                .call_as(a.class, chat, &a.method, &a.params, counted)
                .await;
            match result {
                Ok(_) => break true,
                // Pressing the same button twice leaves the text as it was.
                Err(ApiError::Refused {
                    code: 400,
                    description,
                    ..
                }) if description.contains("message is not modified") => break true,
                Err(ApiError::Refused {
                    code: 429,
                    retry_after,
                    ..
                }) if tries < TRIES => {
                    metrics::counter!("nasvyazi_bot_answers_total", "outcome" => "429")
                        .increment(1);
                    tokio::time::sleep(retry_after.unwrap_or(Duration::from_secs(1))).await;
                }
                Err(ApiError::Transport(_)) if tries < TRIES => {
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(tries))).await;
                }
                Err(ApiError::Refused { code, .. })
                    if (400..500).contains(&code) && code != 429 =>
                {
                    tracing::info!(answer_id = %c.id, code, method = %a.method, "bot answer refused by Telegram");
                    metrics::counter!("nasvyazi_bot_answers_total", "outcome" => "refused")
                        .increment(1);
                    break true;
                }
                Err(e) => {
                    tracing::warn!(answer_id = %c.id, error = %e, "bot answer not sent yet");
                    break false;
                }
            }
        };
        let db = &self.infra.db;
        let recorded = if finished {
            metrics::counter!("nasvyazi_bot_answers_total", "outcome" => "sent").increment(1);
            answers::done(db, c.id).await
        } else {
            answers::release(db, c.id).await
        };
        if let Err(e) = recorded {
            tracing::warn!(answer_id = %c.id, error = %e, "bot answer outcome not recorded");
        }
    }
}
