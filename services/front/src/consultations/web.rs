//! Consultations without Telegram: a conversation opened from the web is
//! answered with a number and a secret access code (as appeals are); with
//! both, the person reads the answers and writes again. No account, no IP
//! address stored. A wrong pair and an unknown number cost the same and
//! answer the same.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_shared::limits::{self, Budget};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::store::{self, NewMessage};
use super::{access_hash, auto_answer, canonical_number};
use crate::appeals::model::ct_eq;

/// The web's new-conversation budget: its own, never the bot's (a flood
/// of `/talk` cannot silence the bot).
pub const NEW_CONVERSATIONS_KEY: &str = "new-conversations:web";

/// The longest message from a person, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// A person's text, trimmed, if acceptable.
pub fn valid_text(text: &str) -> Option<&str> {
    let t = text.trim();
    (!t.is_empty() && t.chars().count() <= MAX_TEXT_CHARS && !t.contains('\0')).then_some(t)
}

/// What the person gets back once.
pub struct Created {
    pub id: Uuid,
    pub number: String,
    pub access_code: Zeroizing<String>,
}

/// Why a conversation could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("too many new conversations right now")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Opens a conversation from the web with its first message.
pub async fn create(
    db: &PgPool,
    keys: &Keyring,
    config: &nasvyazi_shared::config::ConsultationsConfig,
    text: &str,
    lang: Lang,
) -> Result<Created, OpenError> {
    let code = super::new_access_code();
    let hash = access_hash(keys, &code);
    let mut tx = db.begin().await.map_err(anyhow::Error::from)?;
    let budget = Budget::per_minute(config.new_conversations_per_minute);
    if limits::take(&mut tx, &limits::global_key(NEW_CONVERSATIONS_KEY), budget)
        .await
        .map_err(anyhow::Error::from)?
        .is_err()
    {
        return Err(OpenError::Busy);
    }
    let person = store::create_person(&mut tx, keys, None, Some(lang))
        .await
        .map_err(anyhow::Error::from)?;
    let opened = store::open_for(&mut tx, keys, &person, "web", lang, Some(&hash)).await?;
    let key = store::conversation_key(&mut tx, keys, opened.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("conversation vanished"))?;
    for (author, text) in [
        ("person", text.to_string()),
        ("system", auto_answer(config, lang, Utc::now())),
    ] {
        store::add_message(
            &mut tx,
            &key,
            opened.id,
            NewMessage {
                author,
                staff_id: None,
                text: Some(&text),
                media: None,
                delivery: None,
                copy_of: None,
            },
        )
        .await
        .map_err(anyhow::Error::from)?;
    }
    tx.commit().await.map_err(anyhow::Error::from)?;
    tracing::info!(conversation_id = %opened.id, "conversation opened on the web");
    Ok(Created {
        id: opened.id,
        number: opened.number,
        access_code: code,
    })
}

/// The conversation a pair opens, if any (same work either way).
pub async fn lookup(
    db: &PgPool,
    keys: &Keyring,
    number: &str,
    code: &str,
) -> sqlx::Result<Option<Uuid>> {
    let presented = access_hash(keys, code);
    let canonical = canonical_number(number).unwrap_or_default();
    let row: Option<(Uuid, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT id, access_hash FROM conversations WHERE number = $1 AND channel = 'web'",
    )
    .bind(&canonical)
    .fetch_optional(db)
    .await?;
    let stored = row
        .as_ref()
        .and_then(|r| r.1.clone())
        .unwrap_or_else(|| vec![0u8; presented.len()]);
    let matches = ct_eq(&presented, &stored);
    Ok(row.filter(|_| matches).map(|r| r.0))
}

/// One message as the person sees it: staff are the organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicMessage {
    /// `person` (you), `staff` (the organisation) or `system` (automatic).
    pub from: String,
    pub text: String,
    /// To the minute.
    pub at: DateTime<Utc>,
}

/// A web conversation as its person sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicConversation {
    pub number: String,
    /// `open` or `closed` (writing again reopens it).
    pub state: String,
    pub language: Lang,
    pub messages: Vec<PublicMessage>,
}

/// The conversation, decrypted for its person (no notes, no staff ids).
pub async fn read(
    db: &PgPool,
    keys: &Keyring,
    id: Uuid,
) -> anyhow::Result<Option<PublicConversation>> {
    let mut conn = db.acquire().await?;
    let row: Option<(String, String, String)> =
        sqlx::query_as("SELECT number, state, language FROM conversations WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((number, state, language)) = row else {
        return Ok(None);
    };
    let Some(key) = store::conversation_key(&mut conn, keys, id).await? else {
        return Ok(None);
    };
    let (messages, _notes) = store::messages(&mut conn, &key, id, "").await?;
    let minute = TimeDelta::minutes(1);
    Ok(Some(PublicConversation {
        number,
        state,
        language: Lang::parse(&language).unwrap_or(Lang::Ru),
        messages: messages
            .into_iter()
            .map(|m| PublicMessage {
                from: m.from,
                text: m.text.unwrap_or_default(),
                at: m.at.duration_trunc(minute).unwrap_or(m.at),
            })
            .collect(),
    }))
}

/// Another message from the person: a closed conversation opens again.
pub async fn add(db: &PgPool, keys: &Keyring, id: Uuid, text: &str) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    let blocked: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
        "SELECT p.blocked_at FROM conversations c JOIN consultation_people p ON p.id = c.person_id
         WHERE c.id = $1 FOR UPDATE OF c",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    match blocked {
        None => return Ok(()),
        // A blocked person is not told so; nothing is stored.
        Some(Some(_)) => return Ok(()),
        Some(None) => {}
    }
    sqlx::query(
        "UPDATE conversations SET state = 'open', closed_at = NULL WHERE id = $1 AND state = 'closed'",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let key = store::conversation_key(&mut tx, keys, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("conversation vanished"))?;
    store::add_message(
        &mut tx,
        &key,
        id,
        NewMessage {
            author: "person",
            staff_id: None,
            text: Some(text),
            media: None,
            delivery: None,
            copy_of: None,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(conversation_id = %id, "person wrote on the web");
    Ok(())
}
