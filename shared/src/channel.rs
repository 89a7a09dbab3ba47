//! The `Channel` trait: one way to reach a person (email through SMTP or a
//! folder outbox, Telegram through the Bot API). Adapters live in the
//! notifier; the worker sees only [`SendError`]'s class.

use std::time::Duration;

/// A rendered email, ready to send. `to` is personal data: adapters never
/// log it.
#[derive(Clone)]
pub struct EmailMessage {
    pub to: crate::email::EmailAddress,
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
}

impl std::fmt::Debug for TelegramMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TelegramMessage([redacted])")
    }
}

/// What a channel is asked to deliver.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Email(EmailMessage),
    Telegram(TelegramMessage),
}

/// A delivery the provider accepted.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The provider's id for it (Message-ID, Telegram message_id).
    pub provider_message_id: Option<String>,
    /// The provider's answer, e.g. `250 2.0.0 Ok: queued as 4F1C2`.
    pub reply: String,
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
