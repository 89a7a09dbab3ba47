//! Messages to the organisation's own chats: one post per campaign
//! occurrence to the configured channel (`telegram.channel`, `@name` or
//! an id; ledger rows of kind `campaign`, channel `telegram_channel`,
//! contact the nil id) and alerts to the staff group (`telegram.staff_chat`).
//! Neither chat is a person's, so neither is sealed or suppressed.

use chrono::{DateTime, Utc};
use nasvyazi_shared::Config;
use nasvyazi_shared::channel::{Outgoing, TelegramMessage};
use sqlx::PgConnection;
use uuid::Uuid;

/// The ledger channel of channel posts.
pub const CHANNEL_POST: &str = "telegram_channel";

fn to(chat: &str, html: String) -> Option<Outgoing> {
    let chat = chat.trim();
    (!chat.is_empty()).then(|| {
        Outgoing::Telegram(TelegramMessage {
            chat: chat.to_string(),
            html,
            reply_markup: None,
        })
    })
}

/// A post to the configured channel; `None` if none is configured. `html`
/// is Telegram HTML with every substituted value already escaped.
pub fn channel_post(config: &Config, html: String) -> Option<Outgoing> {
    to(&config.telegram.channel, html)
}

/// An alert to the staff chat; `None` if none is configured. Alerts carry
/// ids and case numbers, never an appeal's text.
pub fn staff_alert(config: &Config, html: String) -> Option<Outgoing> {
    to(&config.telegram.staff_chat, html)
}

/// Queues the one channel post of an occurrence (idempotent: the ledger's
/// unique key), due at `at`.
pub async fn queue_channel_post(
    conn: &mut PgConnection,
    occurrence_id: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel, next_attempt_at)
         VALUES (gen_random_uuid(), 'campaign', $1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(occurrence_id)
    .bind(Uuid::nil())
    .bind(CHANNEL_POST)
    .bind(at)
    .execute(conn)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_go_to_the_configured_chats_only() {
        let config =
            Config::from_toml("[telegram]\nchannel = \"@forum_kz\"\nstaff_chat = \"-1001234\"\n")
                .unwrap();
        let Some(Outgoing::Telegram(m)) = channel_post(&config, "<b>x</b>".into()) else {
            panic!("a channel post")
        };
        assert_eq!(m.chat, "@forum_kz");
        let Some(Outgoing::Telegram(m)) = staff_alert(&config, "y".into()) else {
            panic!("a staff alert")
        };
        assert_eq!(m.chat, "-1001234");
        let none = Config::from_toml("").unwrap();
        assert!(channel_post(&none, "x".into()).is_none());
        assert!(staff_alert(&none, "x".into()).is_none());
    }
}
