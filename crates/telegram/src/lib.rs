//! Telegram pieces both the bot (front) and the sender (notifier) use: a
//! small Bot API client ([`api`]) and the text helpers for HTML parse mode
//! ([`text`]: escaping substituted values, splitting long messages).
//!
//! Chat ids are personal data: nothing here logs one, and no error carries
//! one (nor the bot token, which sits in every method URL).

pub mod answers;
pub mod api;
pub mod budget;
pub mod polls;
pub mod text;

/// The bot's user id: the number before `:` in its token. Not a secret (it
/// is the bot's public id); names the per-bot leases.
pub fn bot_id(token: &str) -> &str {
    token.split_once(':').map(|(id, _)| id).unwrap_or("0")
}

/// The blind-index kind of a Telegram chat id (see `Keyring::blind_index`).
pub const BLIND_INDEX_KIND: &str = "telegram";

/// Whether a chat (an id, or `@name`) is a private chat with one person:
/// positive ids are users; groups and channels have negative ids or names.
pub fn is_private_chat(chat: &str) -> bool {
    chat.trim().parse::<i64>().is_ok_and(|id| id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_ids_and_chat_kinds() {
        assert_eq!(bot_id("123456:ABC-DEF"), "123456");
        assert!(is_private_chat("5000000001"));
        assert!(!is_private_chat("-1001234567890"));
        assert!(!is_private_chat("@kz_forum"));
    }
}

/// The bot (`[telegram]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    Polling,
    Webhook,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    pub api_base: String,
    #[serde(default, serialize_with = "nasvyazi_crypto::redact::secret_opt")]
    pub token: Option<secrecy::SecretString>,
    pub mode: TelegramMode,
    #[serde(default, serialize_with = "nasvyazi_crypto::redact::secret_opt")]
    pub webhook_secret: Option<secrecy::SecretString>,
    /// `@name` or a chat id; a bare number (as an environment variable
    /// gives it) is taken as the id.
    #[serde(deserialize_with = "deserialize_chat_id")]
    pub channel: String,
    #[serde(deserialize_with = "deserialize_chat_id")]
    pub staff_chat: String,
    pub max_per_second: u32,
    pub private_chat_interval_ms: u64,
    pub group_per_minute: u32,
}

/// A Telegram chat: a string, or an integer id.
pub fn deserialize_chat_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Chat {
        Id(i64),
        Name(String),
    }
    Ok(match <Chat as serde::Deserialize>::deserialize(d)? {
        Chat::Id(id) => id.to_string(),
        Chat::Name(name) => name,
    })
}
