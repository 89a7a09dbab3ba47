//! What the fake remembers: bots, chats, users, messages, pending updates,
//! callback queries and counters. All of it in memory behind one mutex, with
//! bounds, and nothing that outlives the process.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::limits::Limits;

/// Pending updates a bot may have; the oldest go first (Telegram keeps them
/// for 24 hours).
pub const MAX_PENDING_UPDATES: usize = 10_000;
/// Messages the fake keeps; the oldest go first.
pub const MAX_STORED_MESSAGES: usize = 100_000;

/// The kind of a chat, as the Bot API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    /// A one-to-one chat between a user and the bot.
    Private,
    /// A basic group.
    Group,
    /// A supergroup (id -100...).
    Supergroup,
    /// A channel (id -100...).
    Channel,
}

impl ChatKind {
    /// The Bot API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::Private => "private",
            ChatKind::Group => "group",
            ChatKind::Supergroup => "supergroup",
            ChatKind::Channel => "channel",
        }
    }
}

/// A chat to declare through the control API (`POST /control/chats`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewChat {
    /// Positive for a private chat (the user's id), negative otherwise
    /// (e.g. -1001234567890 for a channel or supergroup).
    pub id: i64,
    /// The chat's kind.
    #[serde(rename = "type")]
    pub kind: ChatKind,
    /// The title of a group or channel; the first name of a private chat.
    #[serde(default)]
    pub title: Option<String>,
    /// The public username, without `@`, so `@username` resolves.
    #[serde(default)]
    pub username: Option<String>,
}

/// A chat the fake knows.
#[derive(Clone, Debug)]
pub struct Chat {
    /// The chat id.
    pub id: i64,
    /// The chat kind.
    pub kind: ChatKind,
    /// Title (groups, channels) or first name (private chats).
    pub title: String,
    /// Public username, if any.
    pub username: Option<String>,
    /// Declared through the control API: every bot may write to it.
    pub declared: bool,
}

impl Chat {
    /// The chat as a Bot API Chat object.
    pub fn to_json(&self) -> Value {
        let mut chat = json!({"id": self.id});
        if self.kind == ChatKind::Private {
            chat["first_name"] = json!(self.title);
        } else {
            chat["title"] = json!(self.title);
        }
        if let Some(username) = &self.username {
            chat["username"] = json!(username);
        }
        chat["type"] = json!(self.kind.as_str());
        chat
    }
}

/// A user of the fake Telegram (never a bot).
#[derive(Clone, Debug)]
pub struct User {
    /// The user id.
    pub id: i64,
    /// First name, "Test" unless told otherwise.
    pub first_name: String,
    /// Username, if any.
    pub username: Option<String>,
    /// IETF language tag of the user's client.
    pub language_code: String,
}

impl User {
    /// The user as a Bot API User object.
    pub fn to_json(&self) -> Value {
        let mut user = json!({"id": self.id, "is_bot": false, "first_name": self.first_name});
        if let Some(username) = &self.username {
            user["username"] = json!(username);
        }
        user["language_code"] = json!(self.language_code);
        user
    }
}

/// A message in a chat, from the bot or to it.
#[derive(Clone, Debug)]
pub struct StoredMessage {
    /// The bot whose chat it is in.
    pub bot_id: i64,
    /// The chat.
    pub chat_id: i64,
    /// The message id in that chat.
    pub message_id: i64,
    /// Sent by the bot (rather than by a user).
    pub outgoing: bool,
    /// The Message object in its current state.
    pub message: Value,
}

/// A webhook set with setWebhook.
#[derive(Debug)]
pub struct Webhook {
    /// Where updates are POSTed.
    pub url: String,
    /// Sent as `X-Telegram-Bot-Api-Secret-Token` when set.
    pub secret_token: Option<String>,
    /// The max_connections reported by getWebhookInfo.
    pub max_connections: i64,
    /// When delivery last failed (unix seconds).
    pub last_error_date: Option<i64>,
    /// Why delivery last failed.
    pub last_error_message: Option<String>,
    /// Stops this webhook's delivery task.
    pub cancel: CancellationToken,
}

/// One bot token the fake accepts, and its state.
#[derive(Debug)]
pub struct Bot {
    /// The bot's user id: the number before ':' in its token.
    pub id: i64,
    /// The bot's username.
    pub username: String,
    /// The bot's first name.
    pub first_name: String,
    /// The id the next update gets.
    pub next_update_id: i64,
    /// Updates not yet confirmed (getUpdates) or delivered (webhook).
    pub pending: VecDeque<Value>,
    /// The update types the bot asked for; `None` for Telegram's default.
    pub allowed_updates: Option<Vec<String>>,
    /// The webhook, when one is set.
    pub webhook: Option<Webhook>,
    /// Users who started the bot (wrote to it).
    pub started: HashSet<i64>,
    /// Chats where the user blocked the bot (or the bot was removed).
    pub blocked: HashSet<i64>,
    /// The last message id in each chat.
    pub last_message_id: HashMap<i64, i64>,
    /// Unanswered callback queries: id -> the user who pressed.
    pub callback_queries: HashMap<String, i64>,
    /// Bumped by each getUpdates, so an older long poll knows it was replaced.
    pub poll_generation: u64,
    /// Woken on each new update, webhook change or getUpdates.
    pub notify: Arc<Notify>,
}

impl Bot {
    fn new(token: &str) -> anyhow::Result<Bot> {
        let id = token
            .split_once(':')
            .and_then(|(id, _)| id.parse::<i64>().ok())
            .filter(|id| *id > 0)
            .ok_or_else(|| anyhow::anyhow!("a bot token looks like 123456:ABC-DEF"))?;
        Ok(Bot {
            id,
            username: format!("fake{id}_bot"),
            first_name: "Nasvyazi Fake Bot".to_string(),
            // Like Telegram's, ids only grow, also across restarts of the
            // fake (a bot that stored its last update id must not ignore
            // a restarted fake's updates).
            next_update_id: first_update_id(),
            pending: VecDeque::new(),
            allowed_updates: None,
            webhook: None,
            started: HashSet::new(),
            blocked: HashSet::new(),
            last_message_id: HashMap::new(),
            callback_queries: HashMap::new(),
            poll_generation: 0,
            notify: Arc::new(Notify::new()),
        })
    }

    /// The bot as a Bot API User object.
    pub fn user_json(&self) -> Value {
        json!({
            "id": self.id,
            "is_bot": true,
            "first_name": self.first_name,
            "username": self.username,
        })
    }

    /// Takes the next message id in a chat.
    pub fn next_message_id(&mut self, chat_id: i64) -> i64 {
        let last = self.last_message_id.entry(chat_id).or_insert(0);
        *last += 1;
        *last
    }

    /// Whether an update of this type reaches the bot under its
    /// allowed_updates (the default leaves out chat_member and reactions).
    fn wants(&self, kind: &str) -> bool {
        match &self.allowed_updates {
            Some(list) if !list.is_empty() => list.iter().any(|k| k == kind),
            _ => !matches!(
                kind,
                "chat_member" | "message_reaction" | "message_reaction_count"
            ),
        }
    }

    /// Forgets everything but who the bot is; stops its webhook.
    fn clear(&mut self) {
        if let Some(webhook) = self.webhook.take() {
            webhook.cancel.cancel();
        }
        self.pending.clear();
        self.allowed_updates = None;
        self.started.clear();
        self.blocked.clear();
        self.last_message_id.clear();
        self.callback_queries.clear();
        self.notify.notify_waiters();
    }
}

/// Counters, as `GET /control/stats` shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Messages the bots sent.
    pub sent: u64,
    /// Messages the bots edited.
    pub edited: u64,
    /// Requests answered 429 Too Many Requests.
    pub too_many_requests: u64,
    /// Requests answered with any 4xx, 429 included.
    pub client_errors: u64,
    /// Updates created (injected messages, button presses, blocks).
    pub updates: u64,
    /// Updates delivered to a webhook.
    pub webhook_deliveries: u64,
    /// Webhook deliveries that failed (each attempt).
    pub webhook_failures: u64,
}

/// An update to inject through the control API (`POST /control/updates`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Inject {
    /// A user writes a text message to the bot.
    Message {
        /// The bot's token.
        token: String,
        /// The user's id.
        from: i64,
        /// The chat; the user's private chat with the bot when absent.
        #[serde(default)]
        chat_id: Option<i64>,
        /// The text.
        text: String,
        /// The user's first name ("Test" when absent).
        #[serde(default)]
        first_name: Option<String>,
        /// The user's username.
        #[serde(default)]
        username: Option<String>,
        /// The user's language ("ru" when absent).
        #[serde(default)]
        language_code: Option<String>,
    },
    /// A user presses an inline keyboard button under a bot's message.
    CallbackQuery {
        /// The bot's token.
        token: String,
        /// The user's id.
        from: i64,
        /// The chat of the message with the button.
        chat_id: i64,
        /// The message with the button.
        message_id: i64,
        /// The button's callback_data.
        data: String,
    },
}

/// Everything the fake knows.
#[derive(Debug)]
pub struct State {
    /// Bots by token.
    pub bots: HashMap<String, Bot>,
    /// Chats by id.
    pub chats: HashMap<i64, Chat>,
    /// Users by id.
    pub users: HashMap<i64, User>,
    /// Every message, in order.
    pub messages: VecDeque<StoredMessage>,
    /// answerCallbackQuery calls, in order.
    pub callback_answers: Vec<Value>,
    /// Flood limits.
    pub limits: Limits,
    /// Counters.
    pub stats: Stats,
    next_callback_query: u64,
}

/// Now, in unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl State {
    /// A fresh state for these tokens.
    pub fn new(tokens: &[String]) -> anyhow::Result<State> {
        let mut bots = HashMap::new();
        for token in tokens {
            bots.insert(token.clone(), Bot::new(token)?);
        }
        Ok(State {
            bots,
            chats: HashMap::new(),
            users: HashMap::new(),
            messages: VecDeque::new(),
            callback_answers: Vec::new(),
            limits: Limits::default(),
            stats: Stats::default(),
            next_callback_query: 0,
        })
    }

    /// Forgets chats, messages, updates, blocks, webhooks and counters; the
    /// bots stay.
    pub fn reset(&mut self) {
        for bot in self.bots.values_mut() {
            bot.clear();
        }
        self.chats.clear();
        self.users.clear();
        self.messages.clear();
        self.callback_answers.clear();
        self.limits.clear();
        self.stats = Stats::default();
    }

    fn bot_mut(&mut self, token: &str) -> Result<&mut Bot, String> {
        self.bots
            .get_mut(token)
            .ok_or_else(|| "unknown bot token".to_string())
    }

    /// Keeps a message, dropping the oldest past the bound.
    pub fn store(&mut self, message: StoredMessage) {
        if self.messages.len() >= MAX_STORED_MESSAGES {
            self.messages.pop_front();
        }
        self.messages.push_back(message);
    }

    /// The message `message_id` in a bot's chat.
    pub fn find_message(
        &mut self,
        bot_id: i64,
        chat_id: i64,
        message_id: i64,
    ) -> Option<&mut StoredMessage> {
        self.messages
            .iter_mut()
            .rev()
            .find(|m| m.bot_id == bot_id && m.chat_id == chat_id && m.message_id == message_id)
    }

    /// The messages bots sent, to one chat or to all, in order.
    pub fn sent(&self, chat_id: Option<i64>) -> Vec<Value> {
        self.messages
            .iter()
            .filter(|m| m.outgoing && chat_id.is_none_or(|id| id == m.chat_id))
            .map(|m| m.message.clone())
            .collect()
    }

    /// Queues an update of `kind` for a bot unless its allowed_updates leave
    /// it out; returns it with its update_id.
    fn push_update(&mut self, token: &str, kind: &str, payload: Value) -> Result<Value, String> {
        let bot = self.bot_mut(token)?;
        let update_id = bot.next_update_id;
        bot.next_update_id += 1;
        let mut update = serde_json::Map::new();
        update.insert("update_id".into(), json!(update_id));
        update.insert(kind.into(), payload);
        let update = Value::Object(update);
        if bot.wants(kind) {
            if bot.pending.len() >= MAX_PENDING_UPDATES {
                bot.pending.pop_front();
            }
            bot.pending.push_back(update.clone());
            bot.notify.notify_waiters();
        }
        self.stats.updates += 1;
        Ok(update)
    }

    /// Declares a chat (or updates it).
    pub fn add_chat(&mut self, chat: NewChat) -> Result<(), String> {
        let private = chat.kind == ChatKind::Private;
        if chat.id == 0 || (chat.id > 0) != private {
            return Err(
                "private chats have positive ids, groups and channels negative ones".into(),
            );
        }
        let title = chat.title.unwrap_or_else(|| {
            if private {
                "Test".to_string()
            } else {
                format!("Chat {}", chat.id)
            }
        });
        if private {
            let user = self.user(chat.id, Some(title.clone()), chat.username.clone(), None);
            self.users.insert(chat.id, user);
        }
        self.chats.insert(
            chat.id,
            Chat {
                id: chat.id,
                kind: chat.kind,
                title,
                username: chat.username.map(|u| u.trim_start_matches('@').to_string()),
                declared: true,
            },
        );
        Ok(())
    }

    /// The user `id`, with any new details applied.
    fn user(
        &self,
        id: i64,
        first_name: Option<String>,
        username: Option<String>,
        language_code: Option<String>,
    ) -> User {
        let known = self.users.get(&id);
        User {
            id,
            first_name: first_name
                .or_else(|| known.map(|u| u.first_name.clone()))
                .unwrap_or_else(|| "Test".to_string()),
            username: username.or_else(|| known.and_then(|u| u.username.clone())),
            language_code: language_code
                .or_else(|| known.map(|u| u.language_code.clone()))
                .unwrap_or_else(|| "ru".to_string()),
        }
    }

    /// Injects an update as a user would cause it; returns the update.
    pub fn inject(&mut self, inject: Inject) -> Result<Value, String> {
        match inject {
            Inject::Message {
                token,
                from,
                chat_id,
                text,
                first_name,
                username,
                language_code,
            } => {
                if from <= 0 {
                    return Err("from must be a positive user id".into());
                }
                let user = self.user(from, first_name, username, language_code);
                self.users.insert(from, user.clone());
                let chat_id = chat_id.unwrap_or(from);
                let chat = if chat_id == from {
                    let chat = Chat {
                        id: from,
                        kind: ChatKind::Private,
                        title: user.first_name.clone(),
                        username: user.username.clone(),
                        declared: self.chats.get(&from).is_some_and(|c| c.declared),
                    };
                    self.chats.insert(from, chat.clone());
                    chat
                } else {
                    self.chats
                        .get(&chat_id)
                        .filter(|c| c.kind != ChatKind::Private)
                        .cloned()
                        .ok_or_else(|| {
                            format!("declare chat {chat_id} first (POST /control/chats)")
                        })?
                };
                let bot = self.bot_mut(&token)?;
                if chat.kind == ChatKind::Private {
                    // Writing to a bot starts it, and a client unblocks a
                    // blocked bot when the user writes to it.
                    bot.started.insert(from);
                    bot.blocked.remove(&from);
                }
                let bot_id = bot.id;
                let message_id = bot.next_message_id(chat_id);
                let mut message = json!({
                    "message_id": message_id,
                    "from": user.to_json(),
                    "chat": chat.to_json(),
                    "date": unix_now(),
                    "text": text,
                });
                if text.starts_with('/') {
                    let command = text.split_whitespace().next().unwrap_or_default();
                    let length: usize = command.chars().map(char::len_utf16).sum();
                    message["entities"] =
                        json!([{"offset": 0, "length": length, "type": "bot_command"}]);
                }
                self.store(StoredMessage {
                    bot_id,
                    chat_id,
                    message_id,
                    outgoing: false,
                    message: message.clone(),
                });
                self.push_update(&token, "message", message)
            }
            Inject::CallbackQuery {
                token,
                from,
                chat_id,
                message_id,
                data,
            } => {
                let user = self.user(from, None, None, None);
                self.users.insert(from, user.clone());
                let bot_id = self.bot_mut(&token)?.id;
                let message = self
                    .find_message(bot_id, chat_id, message_id)
                    .filter(|m| m.outgoing)
                    .map(|m| m.message.clone())
                    .ok_or_else(|| {
                        format!("the bot sent no message {message_id} to chat {chat_id}")
                    })?;
                self.next_callback_query += 1;
                let id = format!(
                    "{}{:08}",
                    bot_id.unsigned_abs() % 1_000_000_000,
                    self.next_callback_query
                );
                let chat_instance = (chat_id.wrapping_mul(7_919) ^ bot_id)
                    .wrapping_abs()
                    .to_string();
                let query = json!({
                    "id": id,
                    "from": user.to_json(),
                    "message": message,
                    "chat_instance": format!("-{chat_instance}"),
                    "data": data,
                });
                self.bot_mut(&token)?.callback_queries.insert(id, from);
                self.push_update(&token, "callback_query", query)
            }
        }
    }

    /// The user (or a group) blocks the bot: sends fail with 403, and the bot
    /// gets a my_chat_member update as from Telegram.
    pub fn block(&mut self, token: &str, chat_id: i64, blocked: bool) -> Result<(), String> {
        let bot = self.bot_mut(token)?;
        let changed = if blocked {
            bot.blocked.insert(chat_id)
        } else {
            bot.blocked.remove(&chat_id)
        };
        let bot_user = bot.user_json();
        if !changed {
            return Ok(());
        }
        let Some(chat) = self.chats.get(&chat_id).cloned() else {
            return Ok(());
        };
        let from = if chat.kind == ChatKind::Private {
            self.user(chat_id, None, None, None).to_json()
        } else {
            self.user(777_000, Some("Telegram".into()), None, None)
                .to_json()
        };
        let (old, new) = if blocked {
            ("member", "kicked")
        } else {
            ("kicked", "member")
        };
        let member = |status: &str| {
            let mut member = json!({"user": bot_user, "status": status});
            if status == "kicked" {
                member["until_date"] = json!(0);
            }
            member
        };
        let update = json!({
            "chat": chat.to_json(),
            "from": from,
            "date": unix_now(),
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        });
        self.push_update(token, "my_chat_member", update)
            .map(|_| ())
    }

    /// Records an answerCallbackQuery; false when the query is unknown or
    /// was answered already.
    pub fn answer_callback(&mut self, token: &str, id: &str, answer: Value) -> bool {
        let Some(bot) = self.bots.get_mut(token) else {
            return false;
        };
        if bot.callback_queries.remove(id).is_none() {
            return false;
        }
        self.callback_answers.push(answer);
        true
    }
}

/// A first update id above any a previous run of the fake handed out:
/// a hundred per second since 2020.
fn first_update_id() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    (secs - 1_577_836_800).max(1) * 100
}
