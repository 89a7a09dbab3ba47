//! The channels: the `Channel` trait every way of reaching a person
//! implements, the messages it carries and its typed outcomes, and the
//! adapters: `outbox` (a folder of `.eml` files, the default), `smtp`
//! (lettre), and `telegram` (the Bot API; on when a bot token is
//! configured), selected by configuration. The worker sees only
//! [`SendError`]'s class.

pub mod folder;
pub mod mime;
pub mod smtp;
pub mod telegram;

use std::sync::Arc;
use std::time::Duration;

use nasvyazi_shared::config::{Config, EmailTransport};

/// The email channel the configuration asks for.
pub fn email_channel(config: &Config) -> anyhow::Result<Arc<dyn Channel>> {
    let dkim = mime::Dkim::from_config(&config.email)?;
    Ok(match config.email.transport {
        EmailTransport::Outbox => Arc::new(folder::FolderOutbox::new(
            config.email.outbox_dir.clone(),
            dkim,
        )?),
        EmailTransport::Smtp => Arc::new(smtp::Smtp::new(&config.email, dkim)?),
    })
}

/// A rendered email, ready to send. `to` is personal data: adapters never
/// log it.
#[derive(Clone)]
pub struct EmailMessage {
    pub to: nasvyazi_shared::email::EmailAddress,
    /// `Name <address>` of the organisation.
    pub from: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// Without angle brackets: `<id>@<domain>`.
    pub message_id: String,
    /// `Content-Language`.
    pub language: String,
    /// Extra headers (List-Unsubscribe, List-Unsubscribe-Post, ...).
    pub headers: Vec<(String, String)>,
    /// Images the HTML part shows by `cid:` (sent as `multipart/related`
    /// next to the HTML); empty for most messages.
    pub inline: Vec<InlineImage>,
}

/// An image carried inside an email and referenced from its HTML part as
/// `<img src="cid:{cid}" alt="{alt}">`. The bytes are shared (loaded once
/// per campaign occurrence, not per recipient).
#[derive(Clone)]
pub struct InlineImage {
    /// The Content-ID without angle brackets: `<id>@nasvyazi`.
    pub cid: String,
    /// `image/jpeg`, `image/png`, `image/gif` or `image/webp`.
    pub mime: String,
    pub bytes: std::sync::Arc<[u8]>,
    /// The alt text in the recipient's language (already in the HTML).
    pub alt: String,
}

impl std::fmt::Debug for InlineImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineImage")
            .field("cid", &self.cid)
            .field("mime", &self.mime)
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for EmailMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailMessage")
            .field("message_id", &self.message_id)
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

/// A rendered Telegram message (HTML parse mode).
#[derive(Clone)]
pub struct TelegramMessage {
    /// A chat id, or `@channelname` for a public channel.
    pub chat: String,
    pub html: String,
    /// Inline keyboard rows, as the Bot API's `reply_markup`.
    pub reply_markup: Option<serde_json::Value>,
    /// Media the text goes with (campaign posts): one item is sent with
    /// `sendPhoto`/`sendAnimation`/`sendVideo`/`sendDocument`, 2-10 as an
    /// album (`sendMediaGroup`), the text as the (first item's) caption,
    /// what does not fit a caption as text messages after it. Empty for
    /// text messages.
    pub media: Vec<TelegramMedia>,
}

/// What Telegram calls a file of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TelegramMediaKind {
    Photo,
    Animation,
    Video,
    Document,
}

impl TelegramMediaKind {
    /// The kind of a media library item (`media.kind`).
    pub fn of_library(kind: &str) -> Option<TelegramMediaKind> {
        Some(match kind {
            "image" => TelegramMediaKind::Photo,
            "animation" => TelegramMediaKind::Animation,
            "video" => TelegramMediaKind::Video,
            "document" => TelegramMediaKind::Document,
            _ => return None,
        })
    }

    /// The Bot API's name (`InputMedia` type, the send method's field).
    pub fn api_name(self) -> &'static str {
        match self {
            TelegramMediaKind::Photo => "photo",
            TelegramMediaKind::Animation => "animation",
            TelegramMediaKind::Video => "video",
            TelegramMediaKind::Document => "document",
        }
    }

    /// The method that sends one.
    pub fn method(self) -> &'static str {
        match self {
            TelegramMediaKind::Photo => "sendPhoto",
            TelegramMediaKind::Animation => "sendAnimation",
            TelegramMediaKind::Video => "sendVideo",
            TelegramMediaKind::Document => "sendDocument",
        }
    }
}

/// One file of a Telegram post: Telegram's `file_id` when this bot has
/// uploaded it before, else the bytes to upload.
#[derive(Clone)]
pub struct TelegramMedia {
    /// The media library's id.
    pub media_id: uuid::Uuid,
    pub kind: TelegramMediaKind,
    pub mime: String,
    /// The file name the upload carries (`<id>.jpg`).
    pub filename: String,
    /// Telegram's file id for this bot, if known (`media_telegram_files`).
    pub file_id: Option<String>,
    /// The stored bytes, when no file id is known (shared, loaded once
    /// per campaign, not per chat).
    pub bytes: Option<bytes::Bytes>,
}

impl std::fmt::Debug for TelegramMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramMedia")
            .field("media_id", &self.media_id)
            .field("kind", &self.kind)
            .field("file_id", &self.file_id.is_some())
            .field("bytes", &self.bytes.as_ref().map(bytes::Bytes::len))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TelegramMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TelegramMessage([redacted])")
    }
}

/// A native anonymous poll to a channel (a campaign's channel post,
/// issue 17): `sendPoll` with `is_anonymous` true, after the text as its
/// own message(s) when there is one. Never to a private chat.
#[derive(Clone)]
pub struct TelegramPoll {
    /// `@channelname` or the channel's id.
    pub chat: String,
    /// Telegram HTML sent first; empty for a poll alone.
    pub html: String,
    pub question: String,
    pub options: Vec<String>,
    pub allows_multiple_answers: bool,
}

impl std::fmt::Debug for TelegramPoll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramPoll")
            .field("options", &self.options.len())
            .finish_non_exhaustive()
    }
}

/// What a channel is asked to deliver.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Email(EmailMessage),
    Telegram(TelegramMessage),
    TelegramPoll(TelegramPoll),
}

/// A delivery the provider accepted.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The provider's id for it (Message-ID, Telegram message_id).
    pub provider_message_id: Option<String>,
    /// The provider's answer, e.g. `250 2.0.0 Ok: queued as 4F1C2`.
    pub reply: String,
    /// Telegram's file ids of media this send uploaded (media id, file
    /// id), for the worker to keep in `media_telegram_files` so later
    /// sends reuse them; empty otherwise.
    pub uploaded: Vec<(uuid::Uuid, String)>,
    /// Telegram's poll id of a poll this send made (the last message id
    /// in `provider_message_id` is its message); `None` otherwise.
    pub poll_id: Option<String>,
}

/// Why a delivery failed, classified once. Reasons never carry the address.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Try again later (4xx, connection trouble, 429, 5xx from an HTTP API).
    #[error("transient: {reason}")]
    Transient {
        reason: String,
        /// The provider said when (Telegram's retry_after).
        retry_after: Option<Duration>,
    },
    /// Will not work: fail now. `suppress` asks to stop contacting the
    /// recipient (hard bounce, blocked bot).
    #[error("permanent: {reason}")]
    Permanent { reason: String, suppress: bool },
}

#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    /// `smtp`, `outbox`, `telegram`: for metrics labels and the ledger.
    fn name(&self) -> &'static str;
    async fn send(&self, message: &Outgoing) -> Result<Sent, SendError>;
}
