//! The bot's side of the contacts table (channel `telegram`) and of
//! `telegram_bot_state`. A chat id is sealed under the row's own data key
//! and found again by its blind index; every state change announces itself
//! through front's outbox in the same transaction.

use chrono::Utc;
use nasvyazi_shared::crypto::{Keyring, random_token};
use nasvyazi_shared::events::Event;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_shared::outbox::{self, Outbox};
use nasvyazi_shared::telegram::BLIND_INDEX_KIND;
use nasvyazi_supporters::contacts::aad;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A Telegram contact as the dialog needs it (no chat id: the caller has it).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TgContact {
    pub id: Uuid,
    pub status: String,
    pub language: String,
    pub topics: Vec<String>,
}

impl TgContact {
    pub fn lang(&self) -> Lang {
        Lang::parse(&self.language).unwrap_or(Lang::Ru)
    }
}

/// The blind index of a chat id.
pub fn blind_index(keys: &Keyring, chat_id: i64) -> Vec<u8> {
    keys.blind_index(BLIND_INDEX_KIND, &chat_id.to_string())
}

/// Records that update `update_id` of bot `bot_id` is being processed in
/// this transaction; `false` if it (or a later one) already was.
pub async fn claim_update(
    conn: &mut PgConnection,
    bot_id: &str,
    update_id: i64,
) -> sqlx::Result<bool> {
    let row: Option<i32> = sqlx::query_scalar(
        "INSERT INTO telegram_bot_state (bot_id, last_update_id) VALUES ($1, $2)
         ON CONFLICT (bot_id) DO UPDATE SET last_update_id = EXCLUDED.last_update_id, updated_at = now()
             WHERE telegram_bot_state.last_update_id < EXCLUDED.last_update_id
                -- Telegram starts ids afresh (randomly) after a week of
                -- silence: an id far below the last one is a new update.
                OR telegram_bot_state.last_update_id - EXCLUDED.last_update_id > 1000000
         RETURNING 1",
    )
    .bind(bot_id)
    .bind(update_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// The getUpdates offset to resume from: the update after the last one
/// processed (0, "all pending", the first time).
pub async fn next_offset(db: &PgPool, bot_id: &str) -> sqlx::Result<i64> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT last_update_id FROM telegram_bot_state WHERE bot_id = $1")
            .bind(bot_id)
            .fetch_optional(db)
            .await?;
    Ok(last.map_or(0, |l| l + 1))
}

/// The chat's contact, locked for this transaction.
pub async fn find(conn: &mut PgConnection, bi: &[u8]) -> sqlx::Result<Option<TgContact>> {
    sqlx::query_as(
        "SELECT id, status, language, topics FROM contacts
         WHERE channel = 'telegram' AND blind_index = $1 FOR UPDATE",
    )
    .bind(bi)
    .fetch_optional(conn)
    .await
}

/// `/start` from a chat with no contact: a pending one, the chat id sealed.
/// The unsubscribe token exists as for email (the column is required and a
/// link may use it), though `/stop` needs none.
pub async fn create_pending(
    conn: &mut PgConnection,
    keys: &Keyring,
    chat_id: i64,
    lang: Lang,
    start_param: Option<&str>,
) -> sqlx::Result<TgContact> {
    let id = Uuid::now_v7();
    let (key, wrapped) = keys.new_data_key();
    let unsub = random_token(32);
    let bi = blind_index(keys, chat_id);
    sqlx::query(
        "INSERT INTO contacts (id, channel, status, blind_index, data_key, address_ct, language,
             unsub_token_hash, unsub_token_ct, start_param)
         VALUES ($1, 'telegram', 'pending', $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(&bi)
    .bind(&wrapped)
    .bind(key.seal(chat_id.to_string().as_bytes(), &aad(id, "address")))
    .bind(lang.code())
    .bind(keys.token_mac(&unsub))
    .bind(key.seal(unsub.as_bytes(), &aad(id, "unsubscribe")))
    .bind(start_param)
    .execute(conn)
    .await?;
    tracing::info!(contact_id = %id, "new pending Telegram contact");
    Ok(TgContact {
        id,
        status: "pending".into(),
        language: lang.code().into(),
        topics: Vec::new(),
    })
}

/// `/start` again: an unsubscribed contact is pending again (its topics are
/// kept as a suggestion); the deep-link code is recorded if there is one.
pub async fn restart(
    conn: &mut PgConnection,
    id: Uuid,
    start_param: Option<&str>,
) -> sqlx::Result<TgContact> {
    sqlx::query_as(
        "UPDATE contacts SET
             status = CASE WHEN status = 'unsubscribed' THEN 'pending' ELSE status END,
             start_param = COALESCE($2, start_param), updated_at = now()
         WHERE id = $1
         RETURNING id, status, language, topics",
    )
    .bind(id)
    .bind(start_param)
    .fetch_one(conn)
    .await
}

pub async fn set_language(conn: &mut PgConnection, id: Uuid, lang: Lang) -> sqlx::Result<()> {
    sqlx::query("UPDATE contacts SET language = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(lang.code())
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds or removes one topic; returns the topics now chosen.
pub async fn toggle_topic(
    conn: &mut PgConnection,
    id: Uuid,
    topic: &str,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "UPDATE contacts SET updated_at = now(),
             topics = CASE WHEN $2 = ANY(topics) THEN array_remove(topics, $2)
                           ELSE array_append(topics, $2) END
         WHERE id = $1 RETURNING topics",
    )
    .bind(id)
    .bind(topic)
    .fetch_one(conn)
    .await
}

/// Pending -> active, announced as `contact.confirmed`. `false` if the
/// contact was not pending (already active: preferences were edited).
pub async fn activate(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE contacts SET status = 'active', confirmed_at = $2, unsubscribed_at = NULL, updated_at = now()
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(Utc::now())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if done {
        outbox::enqueue(
            conn,
            Outbox::Front,
            Event::ContactConfirmed { contact_id: id },
        )
        .await?;
        tracing::info!(contact_id = %id, "Telegram contact confirmed");
    }
    Ok(done)
}

/// Unsubscribes a Telegram contact (`/stop`, a block), announced as
/// `contact.unsubscribed`. `false` if there was nothing to change.
pub async fn unsubscribe(
    conn: &mut PgConnection,
    id: Uuid,
    why: &'static str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE contacts SET status = 'unsubscribed', unsubscribed_at = now(), updated_at = now()
         WHERE id = $1 AND channel = 'telegram' AND status <> 'unsubscribed'",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if done {
        outbox::enqueue(
            conn,
            Outbox::Front,
            Event::ContactUnsubscribed { contact_id: id },
        )
        .await?;
        tracing::info!(contact_id = %id, why, "Telegram contact unsubscribed");
    }
    Ok(done)
}
