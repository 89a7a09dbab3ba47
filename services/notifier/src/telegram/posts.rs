//! Messages to the organisation's own chats: one post per campaign
//! occurrence to the configured channel (`telegram.channel`, `@name` or
//! an id; ledger rows of kind `campaign`, channel `telegram_channel`,
//! contact the nil id) and to each registered channel the campaign names
//! (`telegram_channel:<id>` in its channels; contact the
//! `telegram_channels` row's id, posted in that row's language), and
//! alerts to the staff group (`telegram.staff_chat`). No chat here is a
//! person's, so none is sealed or suppressed.
//!
//! After a channel post is sent, [`after_sent`] records it in
//! `campaign_posts` (its message ids, which one carries the text, whether
//! as a caption; kind `poll` for a native poll, which also goes into
//! `telegram_polls` with its campaign so `poll` updates count it), for
//! editing, deleting, pinning and linking it later;
//! and, for any send, keeps the file ids of media it uploaded in
//! `media_telegram_files`.

use crate::channels::{Outgoing, Sent, TelegramMessage, TelegramPoll};
use chrono::{DateTime, Utc};
use nasvyazi_shared::Config;
use nasvyazi_shared::telegram::polls;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::deliveries::Claimed;

/// The ledger channel of channel posts.
pub const CHANNEL_POST: &str = "telegram_channel";

/// The prefix of a registered channel in a campaign's channels:
/// `telegram_channel:<telegram_channels id>`.
pub const REGISTERED_PREFIX: &str = "telegram_channel:";

/// The registered channels a campaign's channels name (ids that do not
/// parse are left out; front refuses them).
pub fn registered_channels(channels: &[String]) -> Vec<Uuid> {
    let mut out: Vec<Uuid> = channels
        .iter()
        .filter_map(|c| c.strip_prefix(REGISTERED_PREFIX))
        .filter_map(|id| Uuid::parse_str(id.trim()).ok())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A registered channel: its chat and language.
pub async fn registered(db: &PgPool, id: Uuid) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query_as("SELECT chat, language FROM telegram_channels WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Queues one post per registered channel of an occurrence (idempotent;
/// a channel deleted from the registry meanwhile is left out).
pub async fn queue_registered_posts(
    conn: &mut PgConnection,
    occurrence_id: Uuid,
    channels: &[Uuid],
    at: DateTime<Utc>,
) -> sqlx::Result<u64> {
    if channels.is_empty() {
        return Ok(0);
    }
    Ok(sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel, next_attempt_at)
         SELECT gen_random_uuid(), 'campaign', $1, t.id, $3, $4
         FROM telegram_channels t WHERE t.id = ANY($2)
         ON CONFLICT DO NOTHING",
    )
    .bind(occurrence_id)
    .bind(channels)
    .bind(CHANNEL_POST)
    .bind(at)
    .execute(conn)
    .await?
    .rows_affected())
}

/// After a send: keeps the file ids it uploaded (per bot), and records a
/// campaign's channel post. A failure here is logged, never undoes the
/// send (the post is out; a missing file id only means one more upload).
pub async fn after_sent(
    db: &PgPool,
    config: &Config,
    row: &Claimed,
    message: &Outgoing,
    sent: &Sent,
) {
    if !sent.uploaded.is_empty()
        && let Some(token) = &config.telegram.token
    {
        use secrecy::ExposeSecret;
        let bot_id = nasvyazi_shared::telegram::bot_id(token.expose_secret()).to_string();
        if let Err(e) = remember_file_ids(db, &bot_id, &sent.uploaded).await {
            tracing::warn!(error = %e, "cannot keep the uploaded file ids; the next send uploads again");
        }
    }
    if row.kind() == Some(crate::deliveries::Kind::Campaign) && row.channel == CHANNEL_POST {
        let recorded = match message {
            Outgoing::Telegram(m) => record_post(db, row, m, sent).await,
            Outgoing::TelegramPoll(p) => record_poll(db, row, p, sent).await,
            Outgoing::Email(_) => Ok(()),
        };
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "cannot record the channel post");
        }
    }
}

/// The message ids a send reported, in order.
fn sent_ids(sent: &Sent) -> Vec<i64> {
    sent.provider_message_id
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// A channel post that is a poll (issue 17): the `campaign_posts` row of
/// kind `poll` (the text's message first if there was a text, else the
/// poll's), and the poll in `telegram_polls` with its campaign, so the
/// `poll` updates count it and the polls page and API show it.
async fn record_poll(
    db: &PgPool,
    row: &Claimed,
    poll: &TelegramPoll,
    sent: &Sent,
) -> sqlx::Result<()> {
    let ids = sent_ids(sent);
    let (Some(poll_id), Some(&first), Some(&poll_message)) =
        (sent.poll_id.as_deref(), ids.first(), ids.last())
    else {
        return Ok(());
    };
    let channel_id = (!row.contact_id.is_nil()).then_some(row.contact_id);
    let mut tx = db.begin().await?;
    let campaign_id: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO campaign_posts (id, delivery_id, campaign_id, occurrence_id, channel_id, chat,
             message_ids, text_message_id, text_is_caption, kind)
         SELECT $1, $2, o.campaign_id, o.id, $4, $5, $6, $7, false, 'poll'
         FROM occurrences o WHERE o.id = $3
         ON CONFLICT (delivery_id) DO UPDATE SET message_ids = EXCLUDED.message_ids,
             text_message_id = EXCLUDED.text_message_id, text_is_caption = false,
             kind = 'poll', chat = EXCLUDED.chat, state = 'posted', posted_at = now()
         RETURNING campaign_id",
    )
    .bind(Uuid::now_v7())
    .bind(row.id)
    .bind(row.ref_id)
    .bind(channel_id)
    .bind(&poll.chat)
    .bind(&ids)
    .bind(first)
    .fetch_optional(&mut *tx)
    .await?;
    let (question, options) = polls::normalise(&poll.question, &poll.options)
        .unwrap_or_else(|_| (poll.question.clone(), poll.options.clone()));
    polls::record(
        &mut tx,
        &polls::Record {
            poll_id,
            channel_id,
            chat: &poll.chat,
            message_id: poll_message,
            question: &question,
            options: &options,
            allows_multiple_answers: poll.allows_multiple_answers,
            campaign_id,
            created_by: "campaign",
        },
    )
    .await?;
    tx.commit().await
}

/// Keeps Telegram's file ids of uploaded media for `bot_id`.
pub async fn remember_file_ids(
    db: &PgPool,
    bot_id: &str,
    files: &[(Uuid, String)],
) -> sqlx::Result<()> {
    let (media, ids): (Vec<Uuid>, Vec<String>) = files.iter().cloned().unzip();
    sqlx::query(
        "INSERT INTO media_telegram_files (media_id, bot_id, file_id)
         SELECT m, $2, f FROM unnest($1::uuid[], $3::text[]) AS u(m, f)
         WHERE EXISTS (SELECT 1 FROM media WHERE id = m)
         ON CONFLICT (media_id, bot_id) DO UPDATE SET file_id = EXCLUDED.file_id, created_at = now()",
    )
    .bind(&media)
    .bind(bot_id)
    .bind(&ids)
    .execute(db)
    .await?;
    Ok(())
}

/// What a post's messages are, given what was sent (every message id in
/// order): the one that carries the text, whether as a caption, and the
/// post's kind. With media the first item carries the caption (the part of
/// a long text that fits; the rest follows as text messages).
pub fn post_shape(message: &TelegramMessage, ids: &[i64]) -> Option<(i64, bool, &'static str)> {
    let first = *ids.first()?;
    Some(if message.media.is_empty() {
        (first, false, "text")
    } else {
        (first, true, "media")
    })
}

async fn record_post(
    db: &PgPool,
    row: &Claimed,
    message: &TelegramMessage,
    sent: &Sent,
) -> sqlx::Result<()> {
    let ids = sent_ids(sent);
    let Some((text_id, is_caption, kind)) = post_shape(message, &ids) else {
        return Ok(());
    };
    let channel_id = (!row.contact_id.is_nil()).then_some(row.contact_id);
    sqlx::query(
        "INSERT INTO campaign_posts (id, delivery_id, campaign_id, occurrence_id, channel_id, chat,
             message_ids, text_message_id, text_is_caption, kind)
         SELECT $1, $2, o.campaign_id, o.id, $4, $5, $6, $7, $8, $9
         FROM occurrences o WHERE o.id = $3
         ON CONFLICT (delivery_id) DO UPDATE SET message_ids = EXCLUDED.message_ids,
             text_message_id = EXCLUDED.text_message_id, text_is_caption = EXCLUDED.text_is_caption,
             kind = EXCLUDED.kind, chat = EXCLUDED.chat, state = 'posted', posted_at = now()",
    )
    .bind(Uuid::now_v7())
    .bind(row.id)
    .bind(row.ref_id)
    .bind(channel_id)
    .bind(&message.chat)
    .bind(&ids)
    .bind(text_id)
    .bind(is_caption)
    .bind(kind)
    .execute(db)
    .await?;
    Ok(())
}

fn to(chat: &str, html: String) -> Option<Outgoing> {
    let chat = chat.trim();
    (!chat.is_empty()).then(|| {
        Outgoing::Telegram(TelegramMessage {
            chat: chat.to_string(),
            html,
            reply_markup: None,
            media: Vec::new(),
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
