//! The bot's survey sessions (`survey_bot_sessions`): where a person is in
//! a survey, one row per chat, found by the chat's keyed blind index (kind
//! [`KIND`], never the chat id), the progress (answers so far, the
//! invitation token) sealed under the row's own data key. A session
//! expires [`TTL_DAYS`] after the last step, and is deleted when the
//! answers are sent, when the person stops, and by `/forget`. It must
//! never hold a chat id or an answer in the clear.

use chrono::Utc;
use nasvyazi_crypto::{Key, Keyring};
use nasvyazi_platform::i18n::Lang;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::model::Question;
use crate::store::{self, Survey};

/// The blind-index kind of a chat's survey session.
pub const KIND: &str = "survey_bot:v1";
/// A session ends this long after its last step.
pub const TTL_DAYS: i64 = 7;

/// Where a person is in a survey (sealed).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Progress {
    #[serde(default)]
    pub(crate) token: Option<String>,
    pub(crate) at: usize,
    /// The questions answered or skipped before `at`, for "back".
    #[serde(default)]
    pub(crate) history: Vec<usize>,
    /// Question id -> the value as the JSON API takes it.
    #[serde(default)]
    pub(crate) answers: Map<String, Value>,
    /// The options ticked so far on a multiple-choice question.
    #[serde(default)]
    pub(crate) picked: Vec<String>,
}

/// A chat's survey in progress, its row locked by the caller's
/// transaction from [`load`] (or [`create`]) until it commits.
pub struct Session {
    id: Uuid,
    survey: Survey,
    lang: Lang,
    key: Key,
    pub(crate) progress: Progress,
}

impl Session {
    /// The survey being answered.
    pub fn survey(&self) -> &Survey {
        &self.survey
    }

    /// The language the session speaks (chosen when it started).
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The current question's index.
    pub fn at(&self) -> usize {
        self.progress.at
    }

    /// The current question.
    pub fn question(&self) -> &Question {
        &self.survey.questions.0[self.progress.at]
    }

    /// The options ticked so far on the current multiple-choice question.
    pub fn picked(&self) -> &[String] {
        &self.progress.picked
    }

    /// Whether "back" leads anywhere.
    pub fn can_go_back(&self) -> bool {
        !self.progress.history.is_empty()
    }

    /// The invitation token the session started with.
    pub fn token(&self) -> Option<&str> {
        self.progress.token.as_deref()
    }
}

/// The blind index of a chat, for survey sessions.
pub fn chat_index(keys: &Keyring, chat: i64) -> Vec<u8> {
    keys.blind_index(KIND, &chat.to_string())
}

fn aad(id: Uuid) -> Vec<u8> {
    format!("survey_bot_session:{id}").into_bytes()
}

/// Deletes every expired session.
pub async fn purge_expired(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM survey_bot_sessions WHERE expires_at < now()")
        .execute(conn)
        .await?;
    Ok(())
}

/// The chat's session, locked; an expired one, or one of a survey that no
/// longer takes answers, is deleted and `None`.
pub async fn load(
    conn: &mut PgConnection,
    db: &PgPool,
    keys: &Keyring,
    chat: i64,
) -> anyhow::Result<Option<Session>> {
    type Row = (Uuid, Uuid, String, Vec<u8>, Vec<u8>, bool);
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, survey_id, language, data_key, progress_ct, expires_at < now()
           FROM survey_bot_sessions WHERE chat_bi = $1 FOR UPDATE",
    )
    .bind(chat_index(keys, chat))
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, survey_id, language, wrapped, sealed, expired)) = row else {
        return Ok(None);
    };
    let survey = match store::load(db, survey_id).await? {
        Some(s) if !expired && s.accepting(Utc::now()) => s,
        _ => {
            delete_row(conn, id).await?;
            return Ok(None);
        }
    };
    let key = keys.unwrap_data_key(&wrapped)?;
    let progress: Progress = serde_json::from_str(&key.open_string(&sealed, &aad(id))?)?;
    // A definition changed under the session (it should not): start again.
    if progress.at >= survey.questions.0.len() {
        delete_row(conn, id).await?;
        return Ok(None);
    }
    Ok(Some(Session {
        id,
        survey,
        lang: Lang::parse(&language).unwrap_or(Lang::Ru),
        key,
        progress,
    }))
}

async fn delete_row(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM survey_bot_sessions WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends the session (stopped, or its answers sent): the row goes.
pub async fn end(conn: &mut PgConnection, s: &Session) -> sqlx::Result<()> {
    delete_row(conn, s.id).await
}

/// Seals and stores the progress; the session lives another [`TTL_DAYS`].
pub(crate) async fn save(conn: &mut PgConnection, s: &Session) -> anyhow::Result<()> {
    let sealed = s
        .key
        .seal(serde_json::to_string(&s.progress)?.as_bytes(), &aad(s.id));
    sqlx::query(
        "UPDATE survey_bot_sessions SET progress_ct = $2, updated_at = now(),
             expires_at = now() + make_interval(days => $3::int)
         WHERE id = $1",
    )
    .bind(s.id)
    .bind(sealed)
    .bind(TTL_DAYS as i32)
    .execute(conn)
    .await?;
    Ok(())
}

/// A new session for the chat (replacing any other).
pub(crate) async fn create(
    conn: &mut PgConnection,
    keys: &Keyring,
    chat: i64,
    survey: Survey,
    lang: Lang,
    token: Option<&str>,
) -> anyhow::Result<Session> {
    let bi = chat_index(keys, chat);
    sqlx::query("DELETE FROM survey_bot_sessions WHERE chat_bi = $1")
        .bind(&bi)
        .execute(&mut *conn)
        .await?;
    let id = Uuid::new_v4();
    let (key, wrapped) = keys.new_data_key();
    let progress = Progress {
        token: token.map(str::to_string),
        ..Progress::default()
    };
    let sealed = key.seal(serde_json::to_string(&progress)?.as_bytes(), &aad(id));
    sqlx::query(
        "INSERT INTO survey_bot_sessions (id, chat_bi, survey_id, language, data_key, progress_ct, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(days => $7::int))",
    )
    .bind(id)
    .bind(&bi)
    .bind(survey.id)
    .bind(lang.code())
    .bind(&wrapped)
    .bind(sealed)
    .bind(TTL_DAYS as i32)
    .execute(&mut *conn)
    .await?;
    tracing::info!(survey_id = %survey.id, "survey started in the bot");
    Ok(Session {
        id,
        survey,
        lang,
        key,
        progress,
    })
}

/// `/forget`: deletes the chat's survey in progress; whether there was one.
pub async fn forget(conn: &mut PgConnection, keys: &Keyring, chat: i64) -> sqlx::Result<bool> {
    let gone = sqlx::query("DELETE FROM survey_bot_sessions WHERE chat_bi = $1")
        .bind(chat_index(keys, chat))
        .execute(conn)
        .await?
        .rows_affected();
    Ok(gone > 0)
}
