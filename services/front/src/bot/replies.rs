//! The bot's answers to a person's own action (a command, a button, the
//! automatic answer with the emergency text). Every message the bot sends
//! spends one budget per bot, people first (issue 26): while a process
//! holds the bot's sending lease (the notifier), front queues its answers
//! for it ([`queued`], `nasvyazi_shared::telegram::answers`) in the
//! update's own transaction, and that sender serves them before replies,
//! alerts and broadcasts. When nobody holds the lease (no notifier runs,
//! so nothing else is sending), front sends them itself here: at most one
//! message a second to a chat, as Telegram asks, and a 429 waited out,
//! never dropped.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use nasvyazi_shared::telegram::answers::Answer;
use nasvyazi_shared::telegram::api::{ApiError, BotApi};
use nasvyazi_shared::telegram::budget::Class;
use serde_json::{Value, json};

/// The longest an answer waits for its chat's rate limit before it is
/// sent anyway (a 429 is then waited out).
pub const MAX_WAIT: Duration = Duration::from_secs(5);

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
        let Some((method, params)) = call_of(reply) else {
            return Ok(());
        };
        if let Reply::Send { chat, .. } = reply {
            // Answers are few when no broadcast runs (this path is taken
            // only when no sender holds the bot's lease): wait the chat's
            // turn rather than drop an answer.
            let ready = tokio::time::timeout(MAX_WAIT, self.per_chat.until_key_ready(chat));
            if ready.await.is_err() {
                tracing::info!("bot answer waited its chat's limit for long; sending");
            }
        }
        let method: &str = &method;
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
                retry_after,
                ..
            }) => {
                // Never dropped for a 429: wait as Telegram says, twice.
                for _ in 0..2 {
                    tokio::time::sleep(retry_after.unwrap_or(Duration::from_secs(1))).await;
                    match self.api.call(method, &params).await {
                        Err(ApiError::Refused { code: 429, .. }) => continue,
                        other => return other.map(|_| ()),
                    }
                }
                self.api.call(method, &params).await.map(|_| ())
            }
            Err(e) => Err(e),
        }
    }
}

/// The Bot API call of an answer (`None` for a mirror, which the bot makes
/// itself after the others).
pub fn call_of(reply: &Reply) -> Option<(String, Value)> {
    Some(match reply {
        Reply::Send {
            chat,
            html,
            keyboard,
        } => {
            let mut p = json!({"chat_id": chat, "text": html, "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": true}});
            if let Some(k) = keyboard {
                p["reply_markup"] = k.clone();
            }
            ("sendMessage".to_string(), p)
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
            ("editMessageText".to_string(), p)
        }
        Reply::Mirror(_) => return None,
        Reply::Api { method, params } => (method.to_string(), params.clone()),
        Reply::Answer { callback_id } => (
            "answerCallbackQuery".to_string(),
            json!({"callback_query_id": callback_id}),
        ),
    })
}

/// The answer to queue for the bot's one sender: what answers a person
/// (a message, an edit, a button's spinner). Calls into the staff group
/// (`Reply::Api`) and mirrors stay with front.
pub fn queued(reply: &Reply) -> Option<Answer> {
    match reply {
        Reply::Send { .. } | Reply::Edit { .. } | Reply::Answer { .. } => {
            call_of(reply).map(|(method, params)| Answer {
                class: Class::Answer,
                method,
                params,
            })
        }
        Reply::Mirror(_) | Reply::Api { .. } => None,
    }
}
