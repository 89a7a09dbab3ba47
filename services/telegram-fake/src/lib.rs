//! A faithful local Telegram Bot API, for tests and the demo.
//!
//! Telegram cannot be reached from where nasvyazi is built and tested, so our
//! Telegram sender and bot talk to this fake instead, and it must answer as
//! Telegram answers on the wire: methods at `/bot<token>/<method>` by GET or
//! POST, parameters in the query string, a form, a JSON or a multipart body,
//! `{"ok":true,"result":...}` or `{"ok":false,"error_code":N,"description":...}`
//! with the HTTP status equal to the error code and Telegram's own
//! descriptions. It enforces what Telegram enforces: HTML entity parsing
//! (a port of Telegram's parser, [`html`]), the 4096-character limit, unknown
//! chats, blocked users, flood limits with `retry_after` ([`PER_BOT_PER_SECOND`] and others), the
//! webhook/getUpdates exclusivity, long polling and update confirmation.
//! Methods: getMe, getUpdates, setWebhook, deleteWebhook, getWebhookInfo,
//! sendMessage, editMessageText, answerCallbackQuery; sendPhoto,
//! sendDocument, sendVoice, sendVideo, sendAnimation (by file_id or a
//! multipart upload: photos up to 10 MB, other files up to 50 MB, then
//! `Bad Request: file is too big` / 413 `Request Entity Too Large`; captions
//! up to 1024 characters after entity parsing); copyMessage (no forward
//! origin) and forwardMessage (with `forward_origin`); getFile (up to 20 MB)
//! and the download path `/file/bot<token>/<file_path>`; createForumTopic,
//! editForumTopic, closeForumTopic, reopenForumTopic, deleteForumTopic (the
//! topic and all its messages; `can_delete_messages`, or the bot's own
//! topic where nobody else wrote and at most 11 messages, as TDLib allows;
//! `TOPIC_ID_INVALID` for a topic that is not there); deleteMessage (the
//! bot's own messages, anyone's with `can_delete_messages`, any in a
//! private chat; never after 48 hours nor a topic's creation); sendMediaGroup (up to
//! 10 photos and videos, documents or audio files, by file_id or
//! `attach://<name>`, sharing a `media_group_id`); editMessageCaption (and
//! editMessageText refuses a message without text); pinChatMessage,
//! unpinChatMessage, unpinAllChatMessages (an administrator with
//! `can_pin_messages`, `can_edit_messages` in a channel); getChatMember and
//! getChat (with `pinned_message`); sendPoll and stopPoll (see `poll.rs`:
//! the votes are cast through `POST /control/polls/vote`). The sending methods take
//! `message_thread_id` (a forum topic: `message thread not found`,
//! `TOPIC_CLOSED`) and `protect_content` (`has_protected_content`); in a
//! group or channel the bots are administrators with every right unless
//! the control API says otherwise (a bot that left gets 403, one that may
//! not post in a channel `need administrator rights in the channel chat`).
//! A channel post has `sender_chat` and no `from` or `author_signature`.
//!
//! A bot gets, as updates, the service messages its own topic changes and
//! pins leave (`forum_topic_created`, `_edited`, `_closed`, `_reopened`,
//! `pinned_message`), as the Bot API server passes them on
//! (`need_skip_update_message` in its Client.cpp), and every service
//! message members' actions leave.
//!
//! A control API (`/control/...`, and the same helpers on [`TelegramFake`]) plays
//! the users: inject messages (text, photos, documents, voice messages, video
//! notes, messages in forum topics), members' service actions (renaming,
//! closing and reopening topics, pinning, joining, leaving, renaming the
//! chat: the service messages Telegram sends) and button presses, block the
//! bot, declare groups, channels and forum supergroups, make them public or
//! private (a username), and read what the bots sent, with, per message,
//! the method that sent it, whether it carries a forward origin,
//! protect_content and its topic; set the bots' status and rights in a
//! chat, read the pinned messages and a post's public link.
//!
//! Where it knowingly differs from Telegram: webhooks may be plain HTTP on
//! any port (so tests can listen on 127.0.0.1); a failing webhook is retried
//! a few times within a second, not for hours; Markdown parse modes are
//! passed through unchecked; files are never fetched from an HTTP URL (such
//! a URL gets `wrong file identifier/HTTP URL specified`); uploaded images
//! are not decoded (a PNG's or JPEG's size is read from its header, else
//! 1280x960, and the smaller PhotoSizes hold stand-in bytes), voice and video
//! durations are what the bot says, not measured; file_ids work for every bot;
//! an album of one item is sent as a single message without a
//! media_group_id (as TDLib does; the documentation asks for 2-10 items),
//! an album counts once against the flood limits, `reply_markup` is
//! read (and a bad one refused) though an album shows none, and
//! `has_spoiler`, `show_caption_above_media` and thumbnails are ignored; the
//! refusals of an album's item that are unconfirmed guesses: a photo over
//! 10 MB (`file is too big`, unwrapped), `Type of file mismatch` wrapped in
//! `failed to send message #N with the error message "..."`, a non-object
//! item, a missing `type`; editMessageCaption over 1024 characters gets
//! `MEDIA_CAPTION_TOO_LONG` (as editMessageText gets `MESSAGE_TOO_LONG`);
//! pinning leaves a service message (`pinned_message`, from the bot or
//! the channel, in the pinned message's forum topic) unless the message is
//! pinned already, and unpinning a
//! message that is not pinned succeeds; getChat answers id, type, title
//! (first_name), username, is_forum, pinned_message, `accent_color_id` 0,
//! `max_reaction_count` 11 and no accepted gifts, also to a bot that left
//! a channel; the bots' membership and rights are one per chat, shared by
//! every bot; getChatMember for another user says `member` when they wrote
//! in the chat, else `left`, and `user not found` for a user the fake
//! never saw;
//! a closed topic refuses the bot even when it may manage topics (Telegram
//! lets such an admin write there); the descriptions for a bad topic name
//! or icon colour (`TOPIC_TITLE_EMPTY`, `TOPIC_TITLE_TOO_LONG`,
//! `TOPIC_ICON_COLOR_INVALID`) are unconfirmed guesses, and so is
//! deleteForumTopic's `not enough rights to delete the topic` for the bot's
//! own topic (TDLib gives that text for others' topics and passes its own
//! on to Telegram); closing or reopening an unknown topic says `message
//! thread not found`; topics are all the bot's own (members cannot create
//! them), and topic actions and members' service actions need no rights;
//! getChat shows one `active_usernames` entry, the username; the flood
//! limits allow no burst at all.
//!
//! What it must never do: contact Telegram or any host other than a webhook
//! URL a bot set itself; be used with real bot tokens or real people's data;
//! keep anything beyond the process or without a bound (state is in memory,
//! capped, and forgotten on reset); wait without bound (long polls end after
//! at most 50 s or at shutdown); or accept what Telegram refuses, or refuse
//! what it accepts, without saying so above.

mod album;
mod api;
mod chat;
mod control;
mod edit;
mod error;
mod forum;
pub mod html;
mod limits;
mod markup;
mod media;
mod outgoing;
mod params;
mod poll;
mod state;
mod webhook;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::limits::{PER_BOT_PER_SECOND, PER_GROUP_PER_MINUTE, PER_PRIVATE_CHAT_PER_SECOND};
pub use crate::state::{
    BotMembership, BotRights, BotStatus, ChatKind, Inject, Media, Moment, NewChat, NewForum,
    ServiceAction, Stats,
};

/// The largest request body read (a 50 MB upload and its other fields).
const MAX_REQUEST_BYTES: usize = 52 * 1024 * 1024;

/// How the fake is set up.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// The bot tokens it accepts, e.g. `123456:ABC-DEF`; the number before
    /// `:` is the bot's user id.
    pub tokens: Vec<String>,
    /// Enforce Telegram's flood limits (429 Too Many Requests).
    pub rate_limits: bool,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            tokens: Vec::new(),
            rate_limits: true,
        }
    }
}

/// What the HTTP handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<state::State>,
    rate_limits: bool,
    shutdown: CancellationToken,
    http: reqwest::Client,
}

impl Shared {
    fn new(config: &FakeConfig, shutdown: CancellationToken) -> anyhow::Result<Shared> {
        let http = reqwest::Client::builder()
            .user_agent("nasvyazi-telegram-fake")
            .build()
            .context("building the webhook client")?;
        Ok(Shared {
            state: Mutex::new(state::State::new(&config.tokens)?),
            rate_limits: config.rate_limits,
            shutdown,
            http,
        })
    }

    /// The state; a panic elsewhere does not make it unusable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a refused request in the stats, and passes the outcome on.
    pub(crate) fn count(&self, outcome: api::Outcome) -> api::Outcome {
        if let Err(error) = &outcome {
            let mut state = self.lock();
            if error.code == 429 {
                state.stats.too_many_requests += 1;
            }
            if (400..500).contains(&error.code) {
                state.stats.client_errors += 1;
            }
        }
        outcome
    }
}

fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .merge(control::router())
        .merge(poll::router())
        .route("/{bot_token}/{method}", any(api::handle))
        .route("/file/{bot_token}/{*file_path}", get(media::download))
        // Uploads up to 50 MB a file; more is refused with 413 as Telegram does.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .fallback(|| async { error::ApiError::not_found().into_response() })
        .with_state(shared)
}

async fn run(listener: TcpListener, shared: Arc<Shared>) -> anyhow::Result<()> {
    let shutdown = shared.shutdown.clone();
    axum::serve(listener, router(shared))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("serving the Telegram fake")
}

/// Serves the fake on `listener` until `shutdown` (for the CLI).
pub async fn serve(
    listener: TcpListener,
    config: FakeConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared::new(&config, shutdown)?);
    run(listener, shared).await
}

/// A running fake on 127.0.0.1, with in-process control; it stops when
/// dropped.
#[derive(Debug)]
pub struct TelegramFake {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TelegramFake {
    /// Binds 127.0.0.1 on a free port and starts serving.
    pub async fn start(config: FakeConfig) -> anyhow::Result<TelegramFake> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the Telegram fake")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(&config, CancellationToken::new())?);
        let server = tokio::spawn(run(listener, shared.clone()));
        Ok(TelegramFake {
            shared,
            addr,
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:PORT`: methods are at `{base_url}/bot{token}/{method}`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Message objects bots sent to `chat_id`, in order, edits applied.
    pub fn sent_to(&self, chat_id: i64) -> Vec<Value> {
        self.shared.lock().sent(Some(chat_id))
    }

    /// Every Message object bots sent, in order, edits applied.
    pub fn sent(&self) -> Vec<Value> {
        self.shared.lock().sent(None)
    }

    /// Injects any update (see [`Inject`]); returns it with its update_id.
    pub fn inject(&self, inject: Inject) -> anyhow::Result<Value> {
        self.shared
            .lock()
            .inject(inject)
            .map_err(anyhow::Error::msg)
    }

    /// User `from_user_id` writes `text` in `chat_id` (their own id for the
    /// private chat with the bot); returns the update.
    pub fn inject_text(
        &self,
        token: &str,
        from_user_id: i64,
        chat_id: i64,
        text: &str,
    ) -> anyhow::Result<Value> {
        self.inject(Inject::Message {
            token: token.to_string(),
            from: from_user_id,
            chat_id: Some(chat_id),
            text: text.to_string(),
            first_name: None,
            username: None,
            language_code: None,
        })
    }

    /// User `from_user_id` presses a button with `data` under the bot's
    /// message `message_id` in `chat_id`; returns the update, whose
    /// `callback_query.id` answerCallbackQuery takes.
    pub fn inject_callback(
        &self,
        token: &str,
        from_user_id: i64,
        chat_id: i64,
        message_id: i64,
        data: &str,
    ) -> anyhow::Result<Value> {
        self.inject(Inject::CallbackQuery {
            token: token.to_string(),
            from: from_user_id,
            chat_id,
            message_id,
            data: data.to_string(),
        })
    }

    /// The user of `chat_id` blocks the bot (or the bot is removed from the
    /// group): sends get 403, and the bot gets a my_chat_member update.
    pub fn block(&self, token: &str, chat_id: i64) -> anyhow::Result<()> {
        self.shared
            .lock()
            .block(token, chat_id, true)
            .map_err(anyhow::Error::msg)
    }

    /// Undoes [`block`](Self::block).
    pub fn unblock(&self, token: &str, chat_id: i64) -> anyhow::Result<()> {
        self.shared
            .lock()
            .block(token, chat_id, false)
            .map_err(anyhow::Error::msg)
    }

    /// Declares a chat: a group, supergroup or channel (negative id) or a
    /// private chat every bot may write to (positive id).
    pub fn add_chat(&self, chat: NewChat) -> anyhow::Result<()> {
        self.shared
            .lock()
            .add_chat(chat)
            .map_err(anyhow::Error::msg)
    }

    /// Declares a forum supergroup (topics enabled) where the bots are
    /// administrators with `forum.bot_rights`.
    pub fn add_forum(&self, forum: NewForum) -> anyhow::Result<()> {
        self.shared
            .lock()
            .add_forum(forum)
            .map_err(anyhow::Error::msg)
    }

    /// User `from_user_id` sends `media` (a photo, document, voice message
    /// or video note) with an optional caption in `chat_id` (their own id
    /// for the private chat); the file is kept under a fresh file_id, for
    /// getFile and the download path. Returns the update.
    pub fn inject_media(
        &self,
        token: &str,
        from_user_id: i64,
        chat_id: i64,
        media: Media,
        caption: Option<&str>,
    ) -> anyhow::Result<Value> {
        self.inject(Inject::Media {
            token: token.to_string(),
            from: from_user_id,
            chat_id: Some(chat_id),
            message_thread_id: None,
            media,
            caption: caption.map(str::to_string),
        })
    }

    /// User `from_user_id` sends a photo of `bytes` (`width` x `height`).
    pub fn inject_photo(
        &self,
        token: &str,
        from_user_id: i64,
        bytes: Vec<u8>,
        width: i64,
        height: i64,
        caption: Option<&str>,
    ) -> anyhow::Result<Value> {
        let media = Media {
            kind: "photo".into(),
            data: Some(bytes),
            width: Some(width),
            height: Some(height),
            ..Media::default()
        };
        self.inject_media(token, from_user_id, from_user_id, media, caption)
    }

    /// User `from_user_id` sends a document of `bytes` in their private chat.
    pub fn inject_document(
        &self,
        token: &str,
        from_user_id: i64,
        bytes: Vec<u8>,
        file_name: &str,
        mime_type: &str,
        caption: Option<&str>,
    ) -> anyhow::Result<Value> {
        let media = Media {
            kind: "document".into(),
            data: Some(bytes),
            file_name: Some(file_name.to_string()),
            mime_type: Some(mime_type.to_string()),
            ..Media::default()
        };
        self.inject_media(token, from_user_id, from_user_id, media, caption)
    }

    /// User `from_user_id` sends a voice message (audio/ogg) of `bytes`
    /// lasting `duration` seconds in their private chat.
    pub fn inject_voice(
        &self,
        token: &str,
        from_user_id: i64,
        bytes: Vec<u8>,
        duration: i64,
        caption: Option<&str>,
    ) -> anyhow::Result<Value> {
        let media = Media {
            kind: "voice".into(),
            data: Some(bytes),
            duration: Some(duration),
            ..Media::default()
        };
        self.inject_media(token, from_user_id, from_user_id, media, caption)
    }

    /// User `from_user_id` sends a video note (`length` pixels across,
    /// `duration` seconds; no caption, as in Telegram) in their private chat.
    pub fn inject_video_note(
        &self,
        token: &str,
        from_user_id: i64,
        bytes: Vec<u8>,
        length: i64,
        duration: i64,
    ) -> anyhow::Result<Value> {
        let media = Media {
            kind: "video_note".into(),
            data: Some(bytes),
            length: Some(length),
            duration: Some(duration),
            ..Media::default()
        };
        self.inject_media(token, from_user_id, from_user_id, media, None)
    }

    /// Member `from_user_id` writes `text` into topic `message_thread_id`
    /// of forum `chat_id` (a staff member answering in a topic); returns
    /// the update.
    pub fn inject_topic_text(
        &self,
        token: &str,
        from_user_id: i64,
        chat_id: i64,
        message_thread_id: i64,
        text: &str,
    ) -> anyhow::Result<Value> {
        self.inject(Inject::TopicMessage {
            token: token.to_string(),
            from: from_user_id,
            chat_id,
            message_thread_id,
            text: text.to_string(),
            first_name: None,
        })
    }

    /// Member `from_user_id` sends `media` into topic `message_thread_id`
    /// of forum `chat_id`.
    pub fn inject_topic_media(
        &self,
        token: &str,
        from_user_id: i64,
        chat_id: i64,
        message_thread_id: i64,
        media: Media,
        caption: Option<&str>,
    ) -> anyhow::Result<Value> {
        self.inject(Inject::Media {
            token: token.to_string(),
            from: from_user_id,
            chat_id: Some(chat_id),
            message_thread_id: Some(message_thread_id),
            media,
            caption: caption.map(str::to_string),
        })
    }

    /// Member `from_user_id` does something in group or supergroup
    /// `chat_id` that leaves a service message (renames, closes or reopens
    /// topic `message_thread_id`, pins a message, adds or removes members,
    /// renames the chat); the bot gets the `message` update Telegram
    /// sends. Returns the update.
    pub fn inject_service(
        &self,
        token: &str,
        from_user_id: i64,
        chat_id: i64,
        message_thread_id: Option<i64>,
        action: ServiceAction,
    ) -> anyhow::Result<Value> {
        self.inject(Inject::Service {
            token: token.to_string(),
            from: from_user_id,
            chat_id,
            message_thread_id,
            action,
        })
    }

    /// Makes a declared group, supergroup or channel public with
    /// `username` (anyone can find and join it), or private again with
    /// `None`; getChat and every Chat object in updates show it.
    pub fn set_chat_username(&self, chat_id: i64, username: Option<&str>) -> anyhow::Result<()> {
        self.shared
            .lock()
            .set_username(chat_id, username)
            .map_err(anyhow::Error::msg)
    }

    /// Whether a bot's message `message_id` is still in `chat_id` (sent or
    /// received; deleted messages and deleted topics' messages are gone).
    pub fn has_message(&self, token: &str, chat_id: i64, message_id: i64) -> bool {
        let mut state = self.shared.lock();
        let Some(bot_id) = state.bots.get(token).map(|b| b.id) else {
            return false;
        };
        state.find_message(bot_id, chat_id, message_id).is_some()
    }

    /// The messages in forum topic `message_thread_id` of `chat_id` as the
    /// bot of `token` sees them (sent and received, service messages
    /// included), in order.
    pub fn topic_messages(&self, token: &str, chat_id: i64, message_thread_id: i64) -> Vec<Value> {
        let state = self.shared.lock();
        let Some(bot_id) = state.bots.get(token).map(|b| b.id) else {
            return Vec::new();
        };
        state
            .messages
            .iter()
            .filter(|m| {
                m.bot_id == bot_id && m.chat_id == chat_id && m.thread_id == Some(message_thread_id)
            })
            .map(|m| m.message.clone())
            .collect()
    }

    /// The bytes of a file the fake keeps (sent by a user or uploaded by a
    /// bot), by file_id.
    pub fn file_bytes(&self, file_id: &str) -> Option<Vec<u8>> {
        self.shared
            .lock()
            .files
            .get(file_id)
            .map(|f| f.bytes.to_vec())
    }

    /// Records of the messages bots sent to `chat_id` (all chats when
    /// `None`), in order: `{"chat_id", "message_id", "method",
    /// "has_forward_origin", "protect_content", "message_thread_id",
    /// "message"}`; service messages of forum topics included.
    /// When each message was sent and each callback query answered, in
    /// order (the fake's own clock; not part of the Bot API).
    pub fn timeline(&self) -> Vec<Moment> {
        self.shared.lock().timeline.iter().cloned().collect()
    }

    pub fn sent_records(&self, chat_id: Option<i64>) -> Vec<Value> {
        self.shared.lock().sent_records(chat_id)
    }

    /// The forum topics a bot made in `chat_id` (deleted ones gone):
    /// `{"message_thread_id", "name", "icon_color", "is_closed"}`, by
    /// thread id.
    pub fn topics(&self, token: &str, chat_id: i64) -> Vec<Value> {
        let state = self.shared.lock();
        let Some(bot_id) = state.bots.get(token).map(|b| b.id) else {
            return Vec::new();
        };
        let mut topics: Vec<(i64, Value)> = state
            .topics
            .iter()
            .filter(|((bot, chat, _), _)| *bot == bot_id && *chat == chat_id)
            .map(|((_, _, thread), t)| {
                let topic = serde_json::json!({"message_thread_id": thread, "name": t.name, "icon_color": t.icon_color, "is_closed": t.closed});
                (*thread, topic)
            })
            .collect();
        topics.sort_by_key(|(thread, _)| *thread);
        topics.into_iter().map(|(_, t)| t).collect()
    }

    /// Sets the bots' status and administrator rights in a declared group
    /// or channel (by default they are administrators with every right).
    pub fn set_bot_membership(&self, membership: BotMembership) -> anyhow::Result<()> {
        self.shared
            .lock()
            .set_membership(membership)
            .map_err(anyhow::Error::msg)
    }

    /// The message ids the bot of `token` pinned in `chat_id`, oldest
    /// first (getChat's `pinned_message` is the last).
    pub fn pinned(&self, token: &str, chat_id: i64) -> Vec<i64> {
        let state = self.shared.lock();
        state
            .bots
            .get(token)
            .map(|bot| state.pinned_ids(bot.id, chat_id))
            .unwrap_or_default()
    }

    /// A post's public link, as Telegram shows it: `https://t.me/<username>/<id>`
    /// (`https://t.me/c/<internal id>/<id>` without a username); `None` for
    /// a chat that is not a declared channel or supergroup.
    pub fn post_link(&self, chat_id: i64, message_id: i64) -> Option<String> {
        self.shared.lock().post_link(chat_id, message_id)
    }

    /// User `user_id` votes for `option_ids` (0-based; none retracts) in
    /// poll `poll_id`; the bot that sent it gets a `poll` update. Returns
    /// the Poll.
    pub fn vote(&self, poll_id: &str, user_id: i64, option_ids: &[usize]) -> anyhow::Result<Value> {
        poll::vote(
            &mut self.shared.lock(),
            poll::Vote {
                poll_id: poll_id.to_string(),
                user_id,
                option_ids: option_ids.to_vec(),
            },
        )
        .map_err(anyhow::Error::msg)
    }

    /// The answerCallbackQuery calls, in order.
    pub fn callback_answers(&self) -> Vec<Value> {
        self.shared.lock().callback_answers.clone()
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    /// How many requests were answered 429.
    pub fn count_429(&self) -> u64 {
        self.shared.lock().stats.too_many_requests
    }

    /// Forgets chats, messages, updates, blocks, webhooks and counters.
    pub fn reset(&self) {
        self.shared.lock().reset();
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shared.shutdown.cancel();
        match self.server.take() {
            Some(server) => server.await.context("the Telegram fake's task")?,
            None => Ok(()),
        }
    }
}

impl Drop for TelegramFake {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}
