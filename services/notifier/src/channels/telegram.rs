//! The `telegram` adapter: `sendMessage` with parse mode HTML through the
//! Bot API, within Telegram's limits, and the one classification the
//! worker needs.
//!
//! Limits, layered (each a little under Telegram's, because Telegram
//! counts when a request arrives and we when we let it go):
//! - per bot: at most `max_per_second` sends in any sliding window of 1.02 s,
//!   a log of recent sends rather than a GCRA: a GCRA with burst 1 loses the
//!   timer's lateness on every send (~3% of the rate), and with a larger
//!   burst lets one window hold more than the limit;
//! - per private chat (a positive id): one per `private_chat_interval_ms`
//!   (governor, keyed by chat, burst 1);
//! - per group or channel (a negative id or `@name`): `group_per_minute`
//!   (governor, keyed by chat, burst 1, so no minute ever holds more).
//!
//! The chat's limit is taken after the bot's, at the moment of sending, so
//! a wait for the bot never shortens the gap before the chat's next message.
//!
//! A text over 4096 characters goes as several messages split at paragraph
//! boundaries (the keyboard under the last). If a later part fails, the
//! retry sends the earlier parts again: the at-least-once we accept for
//! broadcasts.
//!
//! Classification: 429 -> transient with `retry_after`; 403 (blocked,
//! deactivated, kicked) -> permanent and suppress; 400 -> permanent with
//! Telegram's description; 401/404 (a wrong token) -> transient, so fixing
//! the configuration delivers what waited; 5xx and connection faults ->
//! transient. Reasons carry Telegram's words, never a chat id.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use nasvyazi_shared::channel::{Channel, Outgoing, SendError, Sent};
use nasvyazi_shared::config::TelegramConfig;
use nasvyazi_shared::telegram::api::{ApiError, BotApi};
use nasvyazi_shared::telegram::is_private_chat;
use nasvyazi_shared::telegram::text::{MAX_MESSAGE_CHARS, split};
use serde_json::{Value, json};

/// Every limit is kept this much under Telegram's.
pub const MARGIN: f64 = 1.02;

/// At most `limit` sends in any sliding `window`.
struct Window {
    limit: usize,
    window: Duration,
    sends: Mutex<VecDeque<Instant>>,
}

impl Window {
    fn new(limit: u32, window: Duration) -> Window {
        Window {
            limit: limit.max(1) as usize,
            window,
            sends: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits until one more send fits, and counts it; returns its stamp.
    async fn until_ready(&self) -> Instant {
        loop {
            let wait = {
                let mut sends = self.sends.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                while sends
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    sends.pop_front();
                }
                if sends.len() < self.limit {
                    sends.push_back(now);
                    return now;
                }
                (sends[sends.len() - self.limit] + self.window).saturating_duration_since(now)
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// Moves a finished send's stamp to when its answer came: the server
    /// counted it somewhere between start and answer, so counting it at the
    /// answer keeps any of the server's one-second windows within the limit
    /// even when requests are delayed on the way.
    fn finished(&self, stamp: Instant) {
        let mut sends = self.sends.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = sends.iter().rposition(|t| *t == stamp) {
            sends[i] = Instant::now();
            sends.make_contiguous().sort();
        }
    }

    /// Un-counts a send that did not happen after all.
    fn forget(&self, stamp: Instant) {
        let mut sends = self.sends.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = sends.iter().rposition(|t| *t == stamp) {
            sends.remove(i);
        }
    }
}

pub struct Telegram {
    api: BotApi,
    per_bot: Window,
    private: DefaultKeyedRateLimiter<String>,
    groups: DefaultKeyedRateLimiter<String>,
    /// Sends so far, to forget idle chats' limiter state now and then.
    sends: AtomicU64,
    clock: DefaultClock,
}

fn per_chat_quota(period: Duration) -> Quota {
    Quota::with_period(period.mul_f64(MARGIN).max(Duration::from_millis(1)))
        .expect("period is positive")
        .allow_burst(NonZeroU32::MIN)
}

impl Telegram {
    /// The adapter the configuration asks for; `None` without a token.
    pub fn from_config(c: &TelegramConfig) -> anyhow::Result<Option<Telegram>> {
        Ok(BotApi::from_config(c)?.map(|api| Telegram::new(api, c)))
    }

    pub fn new(api: BotApi, c: &TelegramConfig) -> Telegram {
        let group_period = Duration::from_secs(60) / c.group_per_minute.max(1);
        Telegram {
            api,
            per_bot: Window::new(c.max_per_second, Duration::from_secs(1).mul_f64(MARGIN)),
            private: RateLimiter::keyed(per_chat_quota(Duration::from_millis(
                c.private_chat_interval_ms,
            ))),
            groups: RateLimiter::keyed(per_chat_quota(group_period)),
            sends: AtomicU64::new(0),
            clock: DefaultClock::default(),
        }
    }

    pub fn bot_id(&self) -> &str {
        self.api.bot_id()
    }

    /// Waits until both the bot's and the chat's limits allow a send now.
    /// The chat's is taken only once the bot's is (a send that waited for
    /// the bot must not leave the chat's next message too little room).
    async fn until_ready(&self, chat: &str) -> Instant {
        let key = chat.trim().to_ascii_lowercase();
        let limiter = if is_private_chat(chat) {
            &self.private
        } else {
            &self.groups
        };
        let stamp = loop {
            let stamp = self.per_bot.until_ready().await;
            match limiter.check_key(&key) {
                Ok(()) => break stamp,
                Err(not_until) => {
                    self.per_bot.forget(stamp);
                    let wait = not_until.wait_time_from(self.clock.now());
                    tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
                }
            }
        };
        if self.sends.fetch_add(1, Ordering::Relaxed) % 1000 == 999 {
            self.private.retain_recent();
            self.groups.retain_recent();
        }
        stamp
    }
}

impl Telegram {
    /// Calls any sending method for `chat` within the same limits as
    /// [`Channel::send`] (consultation replies: `sendMessage`,
    /// `copyMessage`); the raw result, for the caller to classify.
    pub async fn call_limited(
        &self,
        chat: &str,
        method: &str,
        params: &Value,
    ) -> Result<Value, ApiError> {
        let stamp = self.until_ready(chat).await;
        let result = self.api.call(method, params).await;
        self.per_bot.finished(stamp);
        result
    }
}

/// `chat_id` as the Bot API takes it: a number, or `@name`.
fn chat_param(chat: &str) -> Value {
    match chat.trim().parse::<i64>() {
        Ok(id) => json!(id),
        Err(_) => json!(chat.trim()),
    }
}

/// Sorts a refusal into the worker's two classes.
pub fn classify(e: ApiError) -> SendError {
    match e {
        ApiError::Refused {
            code: 429,
            description,
            retry_after,
        } => SendError::Transient {
            reason: format!("telegram 429: {description}"),
            retry_after: retry_after.or(Some(Duration::from_secs(1))),
        },
        ApiError::Refused {
            code: 403,
            description,
            ..
        } => SendError::Permanent {
            reason: format!("telegram 403: {description}"),
            suppress: true,
        },
        ApiError::Refused {
            code: 400,
            description,
            ..
        } => SendError::Permanent {
            reason: format!("telegram 400: {description}"),
            suppress: false,
        },
        ApiError::Refused {
            code: code @ (401 | 404),
            description,
            ..
        } => SendError::Transient {
            reason: format!("telegram {code}: {description} (is telegram.token right?)"),
            retry_after: Some(Duration::from_secs(60)),
        },
        ApiError::Refused {
            code,
            description,
            retry_after,
        } => SendError::Transient {
            reason: format!("telegram {code}: {description}"),
            retry_after,
        },
        ApiError::Transport(reason) => SendError::Transient {
            reason: format!("telegram: {reason}"),
            retry_after: None,
        },
    }
}

#[async_trait::async_trait]
impl Channel for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
    }

    async fn send(&self, message: &Outgoing) -> Result<Sent, SendError> {
        let Outgoing::Telegram(msg) = message else {
            return Err(SendError::Permanent {
                reason: "the Telegram channel takes Telegram messages only".into(),
                suppress: false,
            });
        };
        let parts = split(&msg.html, MAX_MESSAGE_CHARS);
        if parts.is_empty() {
            return Err(SendError::Permanent {
                reason: "empty message".into(),
                suppress: false,
            });
        }
        let mut ids = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let mut params = json!({
                "chat_id": chat_param(&msg.chat),
                "text": part,
                "parse_mode": "HTML",
            });
            if i + 1 == parts.len()
                && let Some(markup) = &msg.reply_markup
            {
                params["reply_markup"] = markup.clone();
            }
            let stamp = self.until_ready(&msg.chat).await;
            let result = self.api.call("sendMessage", &params).await;
            self.per_bot.finished(stamp);
            let result = result.map_err(classify)?;
            ids.push(
                result["message_id"]
                    .as_i64()
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
            );
        }
        Ok(Sent {
            reply: format!("ok: {} message(s)", ids.len()),
            provider_message_id: Some(ids.join(",")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_window_never_holds_more_than_the_limit() {
        let w = Window::new(5, Duration::from_millis(200));
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..12 {
            w.until_ready().await;
            times.push(start.elapsed());
        }
        for i in 5..times.len() {
            assert!(
                times[i] - times[i - 5] >= Duration::from_millis(200),
                "{times:?}"
            );
        }
        assert!(times[11] < Duration::from_millis(700), "{times:?}");
    }

    #[test]
    fn classification() {
        let refused = |code, retry| ApiError::Refused {
            code,
            description: "d".into(),
            retry_after: retry,
        };
        assert!(matches!(
            classify(refused(429, Some(Duration::from_secs(7)))),
            SendError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(7)
        ));
        assert!(matches!(
            classify(refused(403, None)),
            SendError::Permanent { suppress: true, .. }
        ));
        assert!(matches!(
            classify(refused(400, None)),
            SendError::Permanent {
                suppress: false,
                ..
            }
        ));
        assert!(matches!(
            classify(refused(502, None)),
            SendError::Transient { .. }
        ));
        assert!(matches!(
            classify(ApiError::Transport("x".into())),
            SendError::Transient { .. }
        ));
        assert_eq!(chat_param(" 42 "), json!(42));
        assert_eq!(chat_param("@forum"), json!("@forum"));
    }
}
