//! The bot's answers to a person's own action (a command, a button), sent
//! by intake directly: they answer what the person just did, so they are
//! not broadcasts and need no ledger. Broadcasts go through the notifier's
//! ledger and its sending lease (see ARCHITECTURE.md).
//!
//! At most one message a second to a chat, as Telegram asks. An answer
//! that would have to wait longer than [`MAX_WAIT`] (someone pressing
//! /help ten times) is dropped rather than holding up everyone else's.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use nasvyazi_shared::telegram::api::{ApiError, BotApi};
use serde_json::{Value, json};

/// The longest an answer waits for its chat's rate limit.
pub const MAX_WAIT: Duration = Duration::from_millis(1500);

/// One answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A new message (sendMessage, HTML).
    Send {
        chat: i64,
        html: String,
        keyboard: Option<Value>,
    },
    /// The bot's message with the buttons, rewritten (editMessageText).
    Edit {
        chat: i64,
        message_id: i64,
        html: String,
        keyboard: Option<Value>,
    },
    /// Ends the button's spinner (answerCallbackQuery).
    Answer { callback_id: String },
    /// A person's message copied into the staff group's topic of its
    /// conversation (the bot sends these itself, after the others).
    Mirror(Mirror),
    /// Any other Bot API call (forum topics in the staff group).
    Api { method: &'static str, params: Value },
}

/// A person's message to copy into the staff topic.
#[derive(Debug, Clone)]
pub struct Mirror {
    pub conversation_id: uuid::Uuid,
    pub from_chat: i64,
    pub message_id: i64,
}

/// Sends answers within the per-chat limit.
pub struct Replies {
    api: BotApi,
    per_chat: DefaultKeyedRateLimiter<i64>,
}

impl Replies {
    /// `interval`: the least time between two messages to one chat.
    pub fn new(api: BotApi, interval: Duration) -> Replies {
        // A little over the interval: the server counts from when a
        // request arrives, not from when we let it go.
        let period = interval.mul_f64(1.02).max(Duration::from_millis(1));
        let quota = Quota::with_period(period)
            .expect("period is positive")
            .allow_burst(NonZeroU32::MIN);
        Replies {
            api,
            per_chat: RateLimiter::keyed(quota),
        }
    }

    pub fn api(&self) -> &BotApi {
        &self.api
    }

    /// Sends each answer in order; failures are logged, never returned (a
    /// lost answer is repaired by the person pressing again).
    pub async fn send_all(&self, replies: Vec<Reply>) {
        for reply in replies {
            if let Err(e) = self.send(&reply).await {
                tracing::warn!(error = %e, "bot answer not sent");
            }
        }
    }

    async fn send(&self, reply: &Reply) -> Result<(), ApiError> {
        let (method, params) = match reply {
            Reply::Send {
                chat,
                html,
                keyboard,
            } => {
                let ready = tokio::time::timeout(MAX_WAIT, self.per_chat.until_key_ready(chat));
                if ready.await.is_err() {
                    tracing::info!("bot answer dropped: the chat's rate limit");
                    return Ok(());
                }
                let mut p = json!({"chat_id": chat, "text": html, "parse_mode": "HTML",
                    "link_preview_options": {"is_disabled": true}});
                if let Some(k) = keyboard {
                    p["reply_markup"] = k.clone();
                }
                ("sendMessage", p)
            }
            Reply::Edit {
                chat,
                message_id,
                html,
                keyboard,
            } => {
                let mut p = json!({"chat_id": chat, "message_id": message_id, "text": html,
                    "parse_mode": "HTML", "link_preview_options": {"is_disabled": true}});
                if let Some(k) = keyboard {
                    p["reply_markup"] = k.clone();
                }
                ("editMessageText", p)
            }
            Reply::Mirror(_) => return Ok(()),
            Reply::Api { method, params } => (*method, params.clone()),
            Reply::Answer { callback_id } => (
                "answerCallbackQuery",
                json!({"callback_query_id": callback_id}),
            ),
        };
        match self.api.call(method, &params).await {
            Ok(_) => Ok(()),
            // Pressing the same button twice leaves the text as it was.
            Err(ApiError::Refused {
                code: 400,
                description,
                ..
            }) if description.contains("message is not modified") => Ok(()),
            Err(ApiError::Refused {
                code: 429,
                retry_after: Some(wait),
                ..
            }) if wait <= Duration::from_secs(3) => {
                tokio::time::sleep(wait).await;
                self.api.call(method, &params).await.map(|_| ())
            }
            Err(e) => Err(e),
        }
    }
}
