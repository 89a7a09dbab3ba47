//! The `telegram` adapter: `sendMessage` with parse mode HTML through the
//! Bot API, within Telegram's limits, and the one classification the
//! worker needs.
//!
//! Limits: every send waits in the bot's one budget
//! (`nasvyazi_shared::telegram::budget`): 30 a second per bot, one a second
//! per private chat, 20 a minute per group or channel, each a little under
//! Telegram's, and what waits is served people first (answers to people,
//! consultants' replies, staff alerts, then broadcasts). A broadcast's
//! sends are classed [`Class::Broadcast`] unless the worker says otherwise
//! (`budget::with_class`).
//!
//! A text over 4096 characters goes as several messages split at paragraph
//! boundaries (the keyboard under the last). If a later part fails, the
//! retry sends the earlier parts again: the at-least-once we accept for
//! broadcasts.
//!
//! Media (campaign posts): a message with media goes as `sendPhoto`,
//! `sendAnimation`, `sendVideo` or `sendDocument` (one item) or
//! `sendMediaGroup` (an album of 2-10), the text as the (first item's)
//! caption and what does not fit a caption (1024) as text messages after
//! it; each call counts as one send against the limits above, as Telegram
//! counts it. The adapter keeps no database: compose gives each item
//! either Telegram's `file_id` for this bot (from `media_telegram_files`)
//! or the bytes. An item without a file id is uploaded (multipart) once:
//! concurrent sends of the same file wait for the first upload (a lock
//! per media id) and then reuse the file id it returned, which the
//! adapter remembers and reports in [`Sent::uploaded`] for the worker to
//! store, so later sends (other processes, later occurrences) reuse it.
//! A file id Telegram no longer knows (`wrong file identifier`), a file
//! too big, a caption too long: 400, permanent, like any other 400.
//!
//! Polls (campaign channel posts, issue 17): [`Outgoing::TelegramPoll`]
//! goes as its text (if any) in `sendMessage`s, then `sendPoll` with
//! `is_anonymous` true; [`Sent::poll_id`] carries Telegram's poll id for
//! the worker to record.
//!
//! Classification: 429 -> transient with `retry_after`; 403 (blocked,
//! deactivated, kicked) -> permanent and suppress; 400 -> permanent with
//! Telegram's description; 401/404 (a wrong token) -> transient, so fixing
//! the configuration delivers what waited; 5xx and connection faults ->
//! transient. Reasons carry Telegram's words, never a chat id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::channels::{
    Channel, Outgoing, SendError, Sent, TelegramMedia, TelegramMediaKind, TelegramMessage,
    TelegramPoll,
};
use nasvyazi_shared::config::TelegramConfig;
use nasvyazi_shared::telegram::api::{ApiError, BotApi, Upload};
use nasvyazi_shared::telegram::budget::{self, Class, Gate, Slot};
use nasvyazi_shared::telegram::text::{MAX_CAPTION_CHARS, MAX_MESSAGE_CHARS, split, split_caption};
use nasvyazi_shared::telegram::{is_private_chat, polls};
use serde_json::{Value, json};
use uuid::Uuid;

/// Every limit is kept this much under Telegram's.
pub const MARGIN: f64 = budget::MARGIN;

pub struct Telegram {
    api: BotApi,
    /// The bot's one budget: every send of this process for the bot (the
    /// lease holder's) waits here, people first.
    gate: Gate,
    /// File ids this adapter's bot got by uploading, by media id.
    file_ids: Mutex<HashMap<Uuid, String>>,
    /// One upload of a file at a time: the lock of each media id.
    uploading: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

impl Telegram {
    /// The adapter the configuration asks for; `None` without a token.
    pub fn from_config(c: &TelegramConfig) -> anyhow::Result<Option<Telegram>> {
        Ok(BotApi::from_config(c)?.map(|api| Telegram::new(api, c)))
    }

    pub fn new(api: BotApi, c: &TelegramConfig) -> Telegram {
        Telegram {
            api,
            gate: Gate::new(
                c.max_per_second,
                Duration::from_millis(c.private_chat_interval_ms),
                c.group_per_minute,
            ),
            file_ids: Mutex::default(),
            uploading: Mutex::default(),
        }
    }

    pub fn bot_id(&self) -> &str {
        self.api.bot_id()
    }

    /// Waits for the bot's budget to allow a send to `chat` now, in the
    /// class of the send being made ([`budget::current_class`]: a
    /// broadcast unless the caller said otherwise).
    async fn until_ready(&self, chat: &str) -> Slot {
        self.gate.until_ready(budget::current_class(), chat).await
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
        let slot = self.until_ready(chat).await;
        let result = self.api.call(method, params).await;
        self.gate.finished(&slot);
        result
    }

    /// A call in `class` (the answers front hands over: [`Class::Answer`]).
    /// A message waits for the budget; an edit or a callback query's
    /// answer is not a message Telegram counts and goes at once.
    pub async fn call_as(
        &self,
        class: Class,
        chat: &str,
        method: &str,
        params: &Value,
        counted: bool,
    ) -> Result<Value, ApiError> {
        if !counted {
            return self.api.call(method, params).await;
        }
        let slot = self.gate.until_ready(class, chat).await;
        let result = self.api.call(method, params).await;
        self.gate.finished(&slot);
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
        let msg = match message {
            Outgoing::Telegram(msg) => msg,
            Outgoing::TelegramPoll(poll) => return self.send_poll(poll).await,
            Outgoing::Email(_) => {
                return Err(SendError::Permanent {
                    reason: "the Telegram channel takes Telegram messages only".into(),
                    suppress: false,
                });
            }
        };
        if !msg.media.is_empty() {
            return self.send_post(msg).await;
        }
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
            let slot = self.until_ready(&msg.chat).await;
            let result = self.api.call("sendMessage", &params).await;
            self.gate.finished(&slot);
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
            uploaded: Vec::new(),
            poll_id: None,
        })
    }
}

impl Telegram {
    /// A channel poll (issue 17): the text first, if any, as message(s)
    /// of its own, then the anonymous poll (`sendPoll`). Never to a
    /// private chat. A retry after a failed poll sends the text again
    /// (at-least-once, as for long texts).
    async fn send_poll(&self, poll: &TelegramPoll) -> Result<Sent, SendError> {
        if is_private_chat(&poll.chat) {
            return Err(SendError::Permanent {
                reason: "a poll goes to channels only".into(),
                suppress: false,
            });
        }
        let (question, options) =
            polls::normalise(&poll.question, &poll.options).map_err(|reason| {
                SendError::Permanent {
                    reason: format!("poll: {reason}"),
                    suppress: false,
                }
            })?;
        let mut ids = Vec::new();
        for part in split(&poll.html, MAX_MESSAGE_CHARS) {
            let params = json!({
                "chat_id": chat_param(&poll.chat),
                "text": part,
                "parse_mode": "HTML",
            });
            let result = self
                .call_limited(&poll.chat, "sendMessage", &params)
                .await
                .map_err(classify)?;
            ids.push(result["message_id"].as_i64().unwrap_or_default());
        }
        let params = polls::send_params(
            chat_param(&poll.chat),
            &question,
            &options,
            poll.allows_multiple_answers,
        );
        let result = self
            .call_limited(&poll.chat, "sendPoll", &params)
            .await
            .map_err(classify)?;
        let Some((poll_id, message_id)) = polls::sent_ids(&result) else {
            return Err(SendError::Permanent {
                reason: "sendPoll answered without a poll".into(),
                suppress: false,
            });
        };
        ids.push(message_id);
        Ok(Sent {
            reply: format!("ok: {} message(s), a poll", ids.len()),
            provider_message_id: Some(ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")),
            uploaded: Vec::new(),
            poll_id: Some(poll_id.to_string()),
        })
    }
}

/// A media item resolved for one send.
enum Source<'a> {
    FileId(String),
    Upload(&'a TelegramMedia),
}

impl Telegram {
    /// A file id known to this adapter (given, or uploaded before).
    fn known_file_id(&self, m: &TelegramMedia) -> Option<String> {
        m.file_id.clone().or_else(|| {
            self.file_ids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&m.media_id)
                .cloned()
        })
    }

    fn upload_lock(&self, media_id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        self.uploading
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(media_id)
            .or_default()
            .clone()
    }

    /// A post with media: the media (caption on the first item), then the
    /// text that did not fit the caption.
    async fn send_post(&self, msg: &TelegramMessage) -> Result<Sent, SendError> {
        if msg.media.len() > 10 {
            return Err(SendError::Permanent {
                reason: "more than 10 media in one post".into(),
                suppress: false,
            });
        }
        let (caption, rest) = split_caption(&msg.html, MAX_CAPTION_CHARS);
        // Files without a known id: take their upload locks (in id order,
        // so two albums never wait for each other), then look again, since
        // a send that held the lock may just have uploaded them.
        let mut pending: Vec<Uuid> = msg
            .media
            .iter()
            .filter(|m| self.known_file_id(m).is_none())
            .map(|m| m.media_id)
            .collect();
        pending.sort();
        pending.dedup();
        let locks: Vec<_> = pending.iter().map(|id| self.upload_lock(*id)).collect();
        let mut _guards = Vec::with_capacity(locks.len());
        for lock in &locks {
            _guards.push(lock.lock().await);
        }
        let sources: Vec<Source<'_>> = msg
            .media
            .iter()
            .map(|m| match self.known_file_id(m) {
                Some(id) => Ok(Source::FileId(id)),
                None if m.bytes.is_some() => Ok(Source::Upload(m)),
                None => Err(SendError::Permanent {
                    reason: "a media file has neither a file id nor bytes".into(),
                    suppress: false,
                }),
            })
            .collect::<Result<_, _>>()?;
        let markup_on_media = rest.is_empty() && msg.media.len() == 1;
        let (mut ids, uploaded) = self
            .send_media(msg, &sources, &caption, markup_on_media)
            .await?;
        if !uploaded.is_empty() {
            let mut known = self.file_ids.lock().unwrap_or_else(|e| e.into_inner());
            for (media_id, file_id) in &uploaded {
                known.insert(*media_id, file_id.clone());
            }
        }
        drop(_guards);
        for (i, part) in rest.iter().enumerate() {
            let mut params = json!({
                "chat_id": chat_param(&msg.chat),
                "text": part,
                "parse_mode": "HTML",
            });
            if i + 1 == rest.len()
                && let Some(markup) = &msg.reply_markup
            {
                params["reply_markup"] = markup.clone();
            }
            let result = self
                .call_limited(&msg.chat, "sendMessage", &params)
                .await
                .map_err(classify)?;
            ids.push(result["message_id"].as_i64().unwrap_or_default());
        }
        Ok(Sent {
            reply: format!("ok: {} message(s), {} upload(s)", ids.len(), uploaded.len()),
            provider_message_id: Some(ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")),
            uploaded,
            poll_id: None,
        })
    }

    /// The media call: message ids, and the file ids of what it uploaded.
    async fn send_media(
        &self,
        msg: &TelegramMessage,
        sources: &[Source<'_>],
        caption: &str,
        with_markup: bool,
    ) -> Result<(Vec<i64>, Vec<(Uuid, String)>), SendError> {
        let mut files = Vec::new();
        let upload = |m: &TelegramMedia, name: String| Upload {
            name,
            filename: m.filename.clone(),
            mime: m.mime.clone(),
            bytes: m.bytes.clone().unwrap_or_default(),
        };
        let (method, params) = if let [source] = sources {
            let m = &msg.media[0];
            let field = m.kind.api_name();
            let mut params = json!({"chat_id": chat_param(&msg.chat)});
            if !caption.is_empty() {
                params["caption"] = json!(caption);
                params["parse_mode"] = json!("HTML");
            }
            if with_markup && let Some(markup) = &msg.reply_markup {
                params["reply_markup"] = markup.clone();
            }
            match source {
                Source::FileId(id) => params[field] = json!(id),
                Source::Upload(m) => files.push(upload(m, field.to_string())),
            }
            (m.kind.method(), params)
        } else {
            let items: Vec<Value> = sources
                .iter()
                .zip(&msg.media)
                .enumerate()
                .map(|(i, (source, m))| {
                    let media = match source {
                        Source::FileId(id) => id.clone(),
                        Source::Upload(m) => {
                            files.push(upload(m, format!("file{i}")));
                            format!("attach://file{i}")
                        }
                    };
                    let mut item = json!({"type": m.kind.api_name(), "media": media});
                    if i == 0 && !caption.is_empty() {
                        item["caption"] = json!(caption);
                        item["parse_mode"] = json!("HTML");
                    }
                    item
                })
                .collect();
            (
                "sendMediaGroup",
                json!({"chat_id": chat_param(&msg.chat), "media": items}),
            )
        };
        let slot = self.until_ready(&msg.chat).await;
        let result = if files.is_empty() {
            self.api.call(method, &params).await
        } else {
            self.api.call_multipart(method, &params, &files).await
        };
        self.gate.finished(&slot);
        let result = result.map_err(classify)?;
        let messages = match result {
            Value::Array(list) => list,
            one => vec![one],
        };
        let ids = messages
            .iter()
            .map(|m| m["message_id"].as_i64().unwrap_or_default())
            .collect();
        let mut uploaded = Vec::new();
        for ((source, m), message) in sources.iter().zip(&msg.media).zip(&messages) {
            if let Source::Upload(_) = source
                && let Some(file_id) = file_id_of(message, m.kind)
            {
                uploaded.push((m.media_id, file_id));
            }
        }
        Ok((ids, uploaded))
    }
}

/// The file id a sent message carries for a file of `kind`: a photo's
/// largest size; an animation may come back as `animation` and
/// `document`.
fn file_id_of(message: &Value, kind: TelegramMediaKind) -> Option<String> {
    let value = match kind {
        TelegramMediaKind::Photo => message["photo"].as_array()?.last()?.clone(),
        TelegramMediaKind::Animation => {
            if message.get("animation").is_some() {
                message["animation"].clone()
            } else {
                message["document"].clone()
            }
        }
        other => message[other.api_name()].clone(),
    };
    value["file_id"].as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let photo = json!({"photo": [{"file_id": "small"}, {"file_id": "big"}]});
        assert_eq!(
            file_id_of(&photo, TelegramMediaKind::Photo).as_deref(),
            Some("big")
        );
        let gif = json!({"document": {"file_id": "g"}});
        assert_eq!(
            file_id_of(&gif, TelegramMediaKind::Animation).as_deref(),
            Some("g")
        );
        assert_eq!(chat_param("@forum"), json!("@forum"));
    }
}
