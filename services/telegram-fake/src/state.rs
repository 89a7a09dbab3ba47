//! What the fake remembers: bots, chats, users, messages, pending updates,
//! callback queries and counters. All of it in memory behind one mutex, with
//! bounds, and nothing that outlives the process.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
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
/// The bytes of files the fake keeps; the oldest files go first.
pub const MAX_STORED_FILE_BYTES: usize = 512 * 1024 * 1024;

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
    /// A supergroup with topics enabled.
    pub is_forum: bool,
    /// The bots' administrator rights in this chat, if they are admins.
    pub bot_rights: Option<BotRights>,
}

/// The administrator rights every bot has in a declared chat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotRights {
    /// May create, rename, close and reopen forum topics.
    #[serde(default)]
    pub can_manage_topics: bool,
    /// May pin and unpin messages.
    #[serde(default)]
    pub can_pin_messages: bool,
}

/// The bots' status in a declared group, supergroup or channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BotStatus {
    /// An administrator, with the rights of its [`BotMembership`].
    #[default]
    Administrator,
    /// A plain member: may write in groups, not post in channels.
    Member,
    /// Not in the chat: sends get 403.
    Left,
}

impl BotStatus {
    /// The Bot API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            BotStatus::Administrator => "administrator",
            BotStatus::Member => "member",
            BotStatus::Left => "left",
        }
    }
}

/// The bots' membership and administrator rights in a declared chat
/// (`POST /control/chat_member`). Until one is set, the bots are
/// administrators with every right below but `can_manage_topics`
/// (which a forum's `bot_rights` give).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotMembership {
    /// The chat (declared first, not a private chat).
    pub chat_id: i64,
    /// administrator, member or left.
    #[serde(default)]
    pub status: BotStatus,
    /// May post in a channel.
    #[serde(default)]
    pub can_post_messages: bool,
    /// May edit others' posts and pin in a channel.
    #[serde(default)]
    pub can_edit_messages: bool,
    /// May delete others' messages.
    #[serde(default)]
    pub can_delete_messages: bool,
    /// May pin in a group or supergroup.
    #[serde(default)]
    pub can_pin_messages: bool,
    /// May manage forum topics.
    #[serde(default)]
    pub can_manage_topics: bool,
}

/// A forum supergroup to declare (`POST /control/forums`): topics enabled,
/// the bots administrators with these rights.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewForum {
    /// The supergroup's id (-100...).
    pub id: i64,
    /// Its title.
    #[serde(default)]
    pub title: Option<String>,
    /// Its public username, without `@`.
    #[serde(default)]
    pub username: Option<String>,
    /// The bots' rights; `can_manage_topics` unless told otherwise.
    #[serde(default = "forum_rights")]
    pub bot_rights: BotRights,
}

fn forum_rights() -> BotRights {
    BotRights {
        can_manage_topics: true,
        can_pin_messages: true,
    }
}

/// A forum topic.
#[derive(Clone, Debug)]
pub struct Topic {
    /// Its name.
    pub name: String,
    /// Its icon colour (RGB).
    pub icon_color: i64,
    /// Its custom emoji icon, set with editForumTopic.
    pub icon_custom_emoji_id: Option<String>,
    /// Closed with closeForumTopic.
    pub closed: bool,
}

/// A file the fake keeps, as sent by users or uploaded by bots.
#[derive(Clone, Debug)]
pub struct StoredFile {
    /// The kind: photo, document, voice, video_note, video, animation.
    pub kind: &'static str,
    /// The stable unique id.
    pub unique_id: String,
    /// The path under `/file/bot<token>/`.
    pub path: String,
    /// The bytes.
    pub bytes: bytes::Bytes,
    /// What a Message shows of it: the PhotoSize array of a photo, the
    /// Document, Voice... object of the others.
    pub meta: Value,
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
        if self.is_forum {
            chat["is_forum"] = json!(true);
        }
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

/// When a bot sent a message or answered a callback query: the fake's
/// own record, for benchmarks that measure delays.
#[derive(Clone, Debug)]
pub struct Moment {
    pub at: std::time::Instant,
    /// The chat (0 for a callback query's answer).
    pub chat_id: i64,
    pub method: &'static str,
    /// The answered callback query.
    pub callback_query_id: Option<String>,
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
    /// The method that produced it ("inject" for users' messages).
    pub method: &'static str,
    /// It carries a forward origin (forwardMessage).
    pub forwarded: bool,
    /// Sent with protect_content.
    pub protect_content: bool,
    /// The forum topic it is in.
    pub thread_id: Option<i64>,
}

impl StoredMessage {
    /// The record `GET /control/sent_records` shows.
    pub fn record(&self) -> Value {
        json!({
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "method": self.method,
            "has_forward_origin": self.forwarded,
            "protect_content": self.protect_content,
            "message_thread_id": self.thread_id,
            "message": self.message,
        })
    }
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
    /// A user sends a photo, document, voice message or video note.
    Media {
        /// The bot's token.
        token: String,
        /// The user's id.
        from: i64,
        /// The chat; the user's private chat with the bot when absent.
        #[serde(default)]
        chat_id: Option<i64>,
        /// The forum topic, in a forum.
        #[serde(default)]
        message_thread_id: Option<i64>,
        /// What it is, and the file.
        media: Media,
        /// The caption (not for a video note, as in Telegram).
        #[serde(default)]
        caption: Option<String>,
    },
    /// A member of a group or supergroup does something that leaves a
    /// service message there ([`ServiceAction`]); every bot in the chat
    /// gets it as a `message` update, as from Telegram.
    Service {
        /// The bot's token.
        token: String,
        /// The member's id.
        from: i64,
        /// The group or supergroup.
        chat_id: i64,
        /// The forum topic (topic actions only).
        #[serde(default)]
        message_thread_id: Option<i64>,
        /// What they do.
        action: ServiceAction,
    },
    /// A member writes text into a forum topic.
    TopicMessage {
        /// The bot's token.
        token: String,
        /// The member's id.
        from: i64,
        /// The forum supergroup.
        chat_id: i64,
        /// The topic.
        message_thread_id: i64,
        /// The text.
        text: String,
        /// The member's first name.
        #[serde(default)]
        first_name: Option<String>,
    },
}

/// What a member does that leaves a service message ([`Inject::Service`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServiceAction {
    /// Renames a forum topic and/or changes its custom emoji icon
    /// (`forum_topic_edited`, in the topic).
    EditTopic {
        /// The new name (1-128 characters).
        #[serde(default)]
        name: Option<String>,
        /// The new custom emoji icon; an empty string removes it.
        #[serde(default)]
        icon_custom_emoji_id: Option<String>,
    },
    /// Closes a forum topic (`forum_topic_closed`, in the topic).
    CloseTopic,
    /// Reopens a forum topic (`forum_topic_reopened`, in the topic).
    ReopenTopic,
    /// Pins a message (`pinned_message`, in the message's topic).
    Pin {
        /// The message to pin, as the bot sees it.
        message_id: i64,
    },
    /// Members join (`new_chat_members`, with the older
    /// `new_chat_member` and `new_chat_participant`); none given: the
    /// member doing it joins by link.
    Join {
        /// The users added.
        #[serde(default)]
        members: Vec<i64>,
    },
    /// A member leaves, or is removed (`left_chat_member`, with the older
    /// `left_chat_participant`); none given: the member doing it leaves.
    Leave {
        /// The user removed.
        #[serde(default)]
        member: Option<i64>,
    },
    /// Renames the chat (`new_chat_title`).
    Title {
        /// The new title.
        title: String,
    },
}

/// A file a user sends; `data` is its bytes, or `size` generated bytes
/// (1 KiB when neither is given).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Media {
    /// photo, document, voice or video_note.
    pub kind: String,
    /// The bytes.
    #[serde(default)]
    pub data: Option<Vec<u8>>,
    /// How many generated bytes, when `data` is absent.
    #[serde(default)]
    pub size: Option<usize>,
    /// A document's file name ("file" when absent).
    #[serde(default)]
    pub file_name: Option<String>,
    /// A document's MIME type (application/octet-stream when absent).
    #[serde(default)]
    pub mime_type: Option<String>,
    /// A photo's width (1280 when absent).
    #[serde(default)]
    pub width: Option<i64>,
    /// A photo's height (960 when absent).
    #[serde(default)]
    pub height: Option<i64>,
    /// Seconds of a voice message or video note (3 when absent).
    #[serde(default)]
    pub duration: Option<i64>,
    /// A video note's diameter (240 when absent).
    #[serde(default)]
    pub length: Option<i64>,
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
    /// When each message was sent by a bot and each callback query was
    /// answered (for measuring delays; not part of the Bot API).
    pub timeline: VecDeque<Moment>,
    /// Flood limits.
    pub limits: Limits,
    /// Counters.
    pub stats: Stats,
    /// Files by file_id.
    pub files: HashMap<String, StoredFile>,
    /// Forum topics by (bot id, chat id, message_thread_id).
    pub topics: HashMap<(i64, i64, i64), Topic>,
    /// The bots' memberships set through the control API, by chat id.
    pub memberships: HashMap<i64, BotMembership>,
    /// Pinned message ids by (bot id, chat id).
    pub pinned: HashMap<(i64, i64), BTreeSet<i64>>,
    file_order: VecDeque<String>,
    file_bytes: usize,
    next_file: u64,
    next_callback_query: u64,
    /// The last media_group_id's counter.
    pub next_media_group: u64,
    /// Native polls the bots sent.
    pub polls: crate::poll::Polls,
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
            timeline: VecDeque::new(),
            limits: Limits::default(),
            stats: Stats::default(),
            files: HashMap::new(),
            topics: HashMap::new(),
            memberships: HashMap::new(),
            pinned: HashMap::new(),
            file_order: VecDeque::new(),
            file_bytes: 0,
            next_file: 0,
            next_callback_query: 0,
            next_media_group: 0,
            polls: Default::default(),
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
        self.files.clear();
        self.topics.clear();
        self.memberships.clear();
        self.pinned.clear();
        self.file_order.clear();
        self.file_bytes = 0;
        self.polls = Default::default();
    }

    /// Keeps a file under a fresh file_id; returns (file_id, file_unique_id).
    pub fn store_file(
        &mut self,
        kind: &'static str,
        extension: &str,
        bytes: Vec<u8>,
    ) -> (String, String) {
        self.next_file += 1;
        let n = self.next_file;
        let prefix = match kind {
            "photo" => "AgACAgIAAxkBAAI",
            "voice" => "AwACAgIAAxkBAAI",
            "video_note" => "DQACAgIAAxkBAAI",
            "video" => "BAACAgIAAxkBAAI",
            "animation" => "CgACAgIAAxkBAAI",
            "audio" => "CQACAgIAAxkBAAI",
            _ => "BQACAgIAAxkBAAI",
        };
        let stamp = unix_now().unsigned_abs();
        let file_id = format!(
            "{prefix}{n:08X}{stamp:012X}Fk{:016x}",
            n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        );
        let unique_id = format!(
            "AQAD{n:08X}{:06x}",
            n.wrapping_mul(2_654_435_761) & 0xFF_FFFF
        );
        let dir = match kind {
            "photo" => "photos",
            "voice" => "voice",
            "video_note" => "video_notes",
            "video" => "videos",
            "animation" => "animations",
            "audio" => "music",
            _ => "documents",
        };
        let path = format!("{dir}/file_{n}.{extension}");
        self.file_bytes += bytes.len();
        self.files.insert(
            file_id.clone(),
            StoredFile {
                kind,
                unique_id: unique_id.clone(),
                path,
                bytes: bytes::Bytes::from(bytes),
                meta: Value::Null,
            },
        );
        self.file_order.push_back(file_id.clone());
        while self.file_bytes > MAX_STORED_FILE_BYTES && self.file_order.len() > 1 {
            if let Some(old) = self.file_order.pop_front()
                && let Some(file) = self.files.remove(&old)
            {
                self.file_bytes -= file.bytes.len();
            }
        }
        (file_id, unique_id)
    }

    /// Remembers what a Message shows of its files, so that sending them
    /// again by file_id shows the same.
    pub fn remember(&mut self, value: &Value) {
        let ids: Vec<String> = match value {
            Value::Array(sizes) => sizes
                .iter()
                .filter_map(|s| s["file_id"].as_str().map(str::to_string))
                .collect(),
            other => other["file_id"]
                .as_str()
                .map(str::to_string)
                .into_iter()
                .collect(),
        };
        for id in ids {
            if let Some(file) = self.files.get_mut(&id) {
                file.meta = value.clone();
            }
        }
    }

    /// The Message fields of a file a user sends (`photo`, `document`...).
    pub fn media_fields(&mut self, media: Media) -> Result<(String, Value), String> {
        let (field, value) = self.new_media(media)?;
        self.remember(&value);
        Ok((field, value))
    }

    fn new_media(&mut self, media: Media) -> Result<(String, Value), String> {
        let bytes = match (media.data, media.size) {
            (Some(data), _) => data,
            (None, size) => generated_bytes(size.unwrap_or(1024)),
        };
        let size = bytes.len();
        match media.kind.as_str() {
            "photo" => {
                let width = media.width.unwrap_or(1280).max(1);
                let height = media.height.unwrap_or(960).max(1);
                Ok(("photo".into(), self.photo_sizes(bytes, width, height)))
            }
            "document" => {
                let file_name = media.file_name.unwrap_or_else(|| "file".into());
                let extension = file_name
                    .rsplit_once('.')
                    .map(|(_, e)| e.to_string())
                    .unwrap_or_else(|| "bin".into());
                let (file_id, unique_id) = self.store_file("document", &extension, bytes);
                Ok((
                    "document".into(),
                    json!({
                        "file_name": file_name,
                        "mime_type": media.mime_type.unwrap_or_else(|| "application/octet-stream".into()),
                        "file_id": file_id,
                        "file_unique_id": unique_id,
                        "file_size": size,
                    }),
                ))
            }
            "voice" => {
                let (file_id, unique_id) = self.store_file("voice", "oga", bytes);
                Ok((
                    "voice".into(),
                    json!({
                        "duration": media.duration.unwrap_or(3),
                        "mime_type": media.mime_type.unwrap_or_else(|| "audio/ogg".into()),
                        "file_id": file_id,
                        "file_unique_id": unique_id,
                        "file_size": size,
                    }),
                ))
            }
            "video_note" => {
                let (file_id, unique_id) = self.store_file("video_note", "mp4", bytes);
                Ok((
                    "video_note".into(),
                    json!({
                        "duration": media.duration.unwrap_or(3),
                        "length": media.length.unwrap_or(240),
                        "file_id": file_id,
                        "file_unique_id": unique_id,
                        "file_size": size,
                    }),
                ))
            }
            other => Err(format!(
                "unknown media kind {other:?}: photo, document, voice or video_note"
            )),
        }
    }

    /// A photo as Telegram stores it: smaller copies at 90, 320 and 800
    /// pixels on the longer side, then the photo itself (at most 2560).
    pub fn photo_sizes(&mut self, bytes: Vec<u8>, width: i64, height: i64) -> Value {
        let longer = width.max(height);
        let mut sizes = Vec::new();
        for side in [90, 320, 800] {
            if side >= longer {
                break;
            }
            let (w, h) = (width * side / longer, height * side / longer);
            let thumb = generated_bytes((bytes.len() as i64 * side / longer).max(64) as usize);
            let size = thumb.len();
            let (file_id, unique_id) = self.store_file("photo", "jpg", thumb);
            sizes.push(json!({"file_id": file_id, "file_unique_id": unique_id, "file_size": size, "width": w.max(1), "height": h.max(1)}));
        }
        let scale = |v: i64| if longer > 2560 { v * 2560 / longer } else { v };
        let size = bytes.len();
        let (file_id, unique_id) = self.store_file("photo", "jpg", bytes);
        sizes.push(json!({"file_id": file_id, "file_unique_id": unique_id, "file_size": size, "width": scale(width).max(1), "height": scale(height).max(1)}));
        Value::Array(sizes)
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
        if message.outgoing {
            self.moment(Moment {
                at: std::time::Instant::now(),
                chat_id: message.chat_id,
                method: message.method,
                callback_query_id: None,
            });
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
    pub(crate) fn push_update(
        &mut self,
        token: &str,
        kind: &str,
        payload: Value,
    ) -> Result<Value, String> {
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
                is_forum: false,
                bot_rights: None,
            },
        );
        // Declaring a chat again starts its membership afresh.
        self.memberships.remove(&chat.id);
        Ok(())
    }

    /// Declares a forum supergroup where the bots are administrators.
    pub fn add_forum(&mut self, forum: NewForum) -> Result<(), String> {
        if forum.id >= 0 {
            return Err("a supergroup has a negative id (-100...)".into());
        }
        self.add_chat(NewChat {
            id: forum.id,
            kind: ChatKind::Supergroup,
            title: forum.title,
            username: forum.username,
        })?;
        if let Some(chat) = self.chats.get_mut(&forum.id) {
            chat.is_forum = true;
            chat.bot_rights = Some(forum.bot_rights);
        }
        Ok(())
    }

    /// The bots' membership in a group or channel: as set, else an
    /// administrator with every right (forum topics as the forum's
    /// `bot_rights` say).
    pub fn membership(&self, chat: &Chat) -> BotMembership {
        if let Some(set) = self.memberships.get(&chat.id) {
            return *set;
        }
        BotMembership {
            chat_id: chat.id,
            status: BotStatus::Administrator,
            can_post_messages: true,
            can_edit_messages: true,
            can_delete_messages: true,
            can_pin_messages: chat.bot_rights.is_none_or(|r| r.can_pin_messages),
            can_manage_topics: chat.bot_rights.is_some_and(|r| r.can_manage_topics),
        }
    }

    /// Sets the bots' membership in a declared group or channel.
    pub fn set_membership(&mut self, membership: BotMembership) -> Result<(), String> {
        let chat = self
            .chats
            .get_mut(&membership.chat_id)
            .filter(|c| c.declared && c.kind != ChatKind::Private)
            .ok_or_else(|| {
                format!(
                    "declare group or channel {} first (POST /control/chats)",
                    membership.chat_id
                )
            })?;
        chat.bot_rights = (membership.status == BotStatus::Administrator).then_some(BotRights {
            can_manage_topics: membership.can_manage_topics,
            can_pin_messages: membership.can_pin_messages,
        });
        self.memberships.insert(membership.chat_id, membership);
        Ok(())
    }

    /// The public link of a post in a channel or supergroup:
    /// `https://t.me/<username>/<id>`, or `https://t.me/c/<id>/<id>` for
    /// one without a username; `None` for other chats.
    pub fn post_link(&self, chat_id: i64, message_id: i64) -> Option<String> {
        let chat = self.chats.get(&chat_id)?;
        if !matches!(chat.kind, ChatKind::Channel | ChatKind::Supergroup) || message_id <= 0 {
            return None;
        }
        Some(match &chat.username {
            Some(username) => format!("https://t.me/{username}/{message_id}"),
            None => {
                let internal = if -chat_id > 1_000_000_000_000 {
                    -chat_id - 1_000_000_000_000
                } else {
                    -chat_id
                };
                format!("https://t.me/c/{internal}/{message_id}")
            }
        })
    }

    /// The message ids a bot pinned in a chat, oldest first.
    pub fn pinned_ids(&self, bot_id: i64, chat_id: i64) -> Vec<i64> {
        self.pinned
            .get(&(bot_id, chat_id))
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
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
                let mut content = serde_json::Map::new();
                if text.starts_with('/') {
                    let command = text.split_whitespace().next().unwrap_or_default();
                    let length: usize = command.chars().map(char::len_utf16).sum();
                    content.insert(
                        "entities".into(),
                        json!([{"offset": 0, "length": length, "type": "bot_command"}]),
                    );
                }
                content.insert("text".into(), json!(text));
                let user = self.user(from, first_name, username, language_code);
                self.user_message(&token, user, chat_id, None, content, true)
            }
            Inject::Media {
                token,
                from,
                chat_id,
                message_thread_id,
                media,
                caption,
            } => {
                if media.kind == "video_note" && caption.is_some() {
                    return Err("a video note has no caption in Telegram".into());
                }
                self.bot_mut(&token)?;
                let user = self.user(from, None, None, None);
                let (field, value) = self.media_fields(media)?;
                let mut content = serde_json::Map::new();
                content.insert(field, value);
                if let Some(caption) = caption.filter(|c| !c.is_empty()) {
                    content.insert("caption".into(), json!(caption));
                }
                self.user_message(&token, user, chat_id, message_thread_id, content, true)
            }
            Inject::Service {
                token,
                from,
                chat_id,
                message_thread_id,
                action,
            } => self.service(&token, from, chat_id, message_thread_id, action),
            Inject::TopicMessage {
                token,
                from,
                chat_id,
                message_thread_id,
                text,
                first_name,
            } => {
                let user = self.user(from, first_name, None, None);
                let mut content = serde_json::Map::new();
                content.insert("text".into(), json!(text));
                self.user_message(
                    &token,
                    user,
                    Some(chat_id),
                    Some(message_thread_id),
                    content,
                    true,
                )
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

    /// A user's message with `content` (text, media or service fields) in
    /// `chat_id` (their private chat when absent), in a forum topic when
    /// `thread_id` (replying to the topic's creation when
    /// `implicit_reply`); stores it and queues the update.
    fn user_message(
        &mut self,
        token: &str,
        user: User,
        chat_id: Option<i64>,
        thread_id: Option<i64>,
        content: serde_json::Map<String, Value>,
        implicit_reply: bool,
    ) -> Result<Value, String> {
        let from = user.id;
        if from <= 0 {
            return Err("from must be a positive user id".into());
        }
        self.users.insert(from, user.clone());
        let chat_id = chat_id.unwrap_or(from);
        let chat = if chat_id == from {
            let chat = Chat {
                id: from,
                kind: ChatKind::Private,
                title: user.first_name.clone(),
                username: user.username.clone(),
                declared: self.chats.get(&from).is_some_and(|c| c.declared),
                is_forum: false,
                bot_rights: None,
            };
            self.chats.insert(from, chat.clone());
            chat
        } else {
            self.chats
                .get(&chat_id)
                .filter(|c| c.kind != ChatKind::Private)
                .cloned()
                .ok_or_else(|| format!("declare chat {chat_id} first (POST /control/chats)"))?
        };
        let bot_id = self.bot_mut(token)?.id;
        let topic_root = match thread_id {
            None => None,
            Some(thread) => {
                if !chat.is_forum {
                    return Err(format!(
                        "chat {chat_id} is not a forum (POST /control/forums)"
                    ));
                }
                if !self.topics.contains_key(&(bot_id, chat_id, thread)) {
                    return Err(format!(
                        "no topic {thread} in chat {chat_id} (createForumTopic)"
                    ));
                }
                self.find_message(bot_id, chat_id, thread)
                    .map(|m| m.message.clone())
                    .filter(|_| implicit_reply)
            }
        };
        let bot = self.bot_mut(token)?;
        if chat.kind == ChatKind::Private {
            // Writing to a bot starts it, and a client unblocks a
            // blocked bot when the user writes to it.
            bot.started.insert(from);
            bot.blocked.remove(&from);
        }
        let message_id = bot.next_message_id(chat_id);
        let mut message = serde_json::Map::new();
        message.insert("message_id".into(), json!(message_id));
        if let Some(thread) = thread_id {
            message.insert("message_thread_id".into(), json!(thread));
        }
        message.insert("from".into(), user.to_json());
        message.insert("chat".into(), chat.to_json());
        message.insert("date".into(), json!(unix_now()));
        if thread_id.is_some() {
            message.insert("is_topic_message".into(), json!(true));
        }
        if let Some(root) = topic_root {
            // In a topic, a message that replies to nothing else replies
            // to the topic's creation, as Telegram shows it.
            message.insert("reply_to_message".into(), root);
        }
        message.extend(content);
        let message = Value::Object(message);
        self.store(StoredMessage {
            bot_id,
            chat_id,
            message_id,
            outgoing: false,
            message: message.clone(),
            method: "inject",
            forwarded: false,
            protect_content: false,
            thread_id,
        });
        self.push_update(token, "message", message)
    }

    /// A member's action that leaves a service message in a group or
    /// supergroup: applies it (a topic renamed, closed or reopened, a
    /// message pinned, members joined or left, the chat renamed), then
    /// stores the service message and queues the update.
    fn service(
        &mut self,
        token: &str,
        from: i64,
        chat_id: i64,
        thread: Option<i64>,
        action: ServiceAction,
    ) -> Result<Value, String> {
        let bot_id = self.bot_mut(token)?.id;
        let chat = self
            .chats
            .get(&chat_id)
            .filter(|c| matches!(c.kind, ChatKind::Group | ChatKind::Supergroup))
            .cloned()
            .ok_or_else(|| format!("declare group or supergroup {chat_id} first"))?;
        let user = self.user(from, None, None, None);
        let mut content = serde_json::Map::new();
        let topic_key = |thread: Option<i64>| {
            thread
                .map(|t| (bot_id, chat_id, t))
                .ok_or_else(|| "a topic action needs message_thread_id".to_string())
        };
        let (thread, implicit_reply) = match action {
            ServiceAction::EditTopic {
                name,
                icon_custom_emoji_id,
            } => {
                let name = name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
                if name
                    .as_ref()
                    .is_some_and(|n| n.chars().count() > crate::forum::MAX_TOPIC_NAME_CHARS)
                {
                    return Err("TOPIC_TITLE_TOO_LONG".into());
                }
                let key = topic_key(thread)?;
                let topic = self
                    .topics
                    .get_mut(&key)
                    .ok_or_else(|| format!("no topic {} in chat {chat_id}", key.2))?;
                let edited = crate::forum::edit_topic(topic, name, icon_custom_emoji_id)?;
                content.insert("forum_topic_edited".into(), edited);
                (thread, true)
            }
            ServiceAction::CloseTopic | ServiceAction::ReopenTopic => {
                let closed = matches!(action, ServiceAction::CloseTopic);
                let key = topic_key(thread)?;
                let topic = self
                    .topics
                    .get_mut(&key)
                    .ok_or_else(|| format!("no topic {} in chat {chat_id}", key.2))?;
                if topic.closed == closed {
                    return Err("TOPIC_NOT_MODIFIED".into());
                }
                topic.closed = closed;
                let field = if closed {
                    "forum_topic_closed"
                } else {
                    "forum_topic_reopened"
                };
                content.insert(field.into(), json!({}));
                (thread, true)
            }
            ServiceAction::Pin { message_id } => {
                let (pinned, pinned_thread) = self
                    .find_message(bot_id, chat_id, message_id)
                    .map(|m| (crate::chat::quoted(&m.message), m.thread_id))
                    .ok_or_else(|| format!("no message {message_id} in chat {chat_id}"))?;
                if !self
                    .pinned
                    .entry((bot_id, chat_id))
                    .or_default()
                    .insert(message_id)
                {
                    return Err(format!("message {message_id} is pinned already"));
                }
                content.insert("pinned_message".into(), pinned);
                (pinned_thread, false)
            }
            ServiceAction::Join { members } => {
                let members = if members.is_empty() {
                    vec![from]
                } else {
                    members
                };
                let mut users = Vec::new();
                for id in members {
                    if id <= 0 {
                        return Err("members are positive user ids".into());
                    }
                    let member = self.user(id, None, None, None);
                    self.users.insert(id, member.clone());
                    users.push(member.to_json());
                }
                content.insert("new_chat_participant".into(), users[0].clone());
                content.insert("new_chat_member".into(), users[0].clone());
                content.insert("new_chat_members".into(), Value::Array(users));
                (None, false)
            }
            ServiceAction::Leave { member } => {
                let id = member.unwrap_or(from);
                let left = self.user(id, None, None, None).to_json();
                content.insert("left_chat_participant".into(), left.clone());
                content.insert("left_chat_member".into(), left);
                (None, false)
            }
            ServiceAction::Title { title } => {
                let title = title.trim().to_string();
                if title.is_empty() || title.chars().count() > 128 {
                    return Err("a chat title has 1-128 characters".into());
                }
                if let Some(chat) = self.chats.get_mut(&chat_id) {
                    chat.title = title.clone();
                }
                content.insert("new_chat_title".into(), json!(title));
                (None, false)
            }
        };
        if thread.is_some() && !chat.is_forum {
            return Err(format!("chat {chat_id} is not a forum"));
        }
        self.user_message(token, user, Some(chat_id), thread, content, implicit_reply)
    }

    /// Makes a group, supergroup or channel public (`Some(username)`) or
    /// private (`None`): getChat and every Chat object show it.
    pub fn set_username(&mut self, chat_id: i64, username: Option<&str>) -> Result<(), String> {
        let username = match username.map(|u| u.trim_start_matches('@')) {
            None => None,
            Some(u)
                if (5..=32).contains(&u.len())
                    && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && u.as_bytes()[0].is_ascii_alphabetic() =>
            {
                Some(u.to_string())
            }
            Some(_) => {
                return Err(
                    "a username has 5-32 characters of a-z, 0-9 and _, starting with a letter"
                        .into(),
                );
            }
        };
        let chat = self
            .chats
            .get_mut(&chat_id)
            .filter(|c| c.declared && c.kind != ChatKind::Private)
            .ok_or_else(|| format!("declare group or channel {chat_id} first"))?;
        chat.username = username;
        Ok(())
    }

    /// The records of the messages bots sent (method, forward origin,
    /// protect_content, topic), to one chat or to all, in order.
    pub fn sent_records(&self, chat_id: Option<i64>) -> Vec<Value> {
        self.messages
            .iter()
            .filter(|m| m.outgoing && chat_id.is_none_or(|id| id == m.chat_id))
            .map(StoredMessage::record)
            .collect()
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
        self.moment(Moment {
            at: std::time::Instant::now(),
            chat_id: 0,
            method: "answerCallbackQuery",
            callback_query_id: Some(id.to_string()),
        });
        true
    }

    fn moment(&mut self, m: Moment) {
        if self.timeline.len() >= MAX_STORED_MESSAGES {
            self.timeline.pop_front();
        }
        self.timeline.push_back(m);
    }
}

/// Bytes that stand for a file's content.
pub fn generated_bytes(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i.wrapping_mul(31) % 251) as u8)
        .collect()
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
