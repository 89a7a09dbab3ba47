//! Telegram pieces both the bot (intake) and the sender (notifier) use: a
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
