//! The bot's answers to people, handed to the bot's one sender (issue 26).
//!
//! Front applies a Telegram update and, in the same transaction, queues
//! what the bot answers (a command's reply, a button's edit, the automatic
//! answer with the emergency text) in `bot_answers`; the process that
//! holds the bot's sending lease (the notifier) sends them first, before
//! consultants' replies, staff alerts and broadcasts, through the one
//! budget of [`super::budget`]. An answer is therefore durable from the
//! moment the person's update is recorded, and never lost to a broadcast
//! or a 429. When no process holds the sending lease (no notifier is
//! running), front sends its answers itself: nobody else is sending then.
//!
//! This module owns the table (it is the only code that writes it). The
//! method and its parameters (a chat id, a text) are sealed under each
//! row's own data key; nothing here logs them.

use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::budget::Class;
use nasvyazi_crypto::Keyring;

/// The PostgreSQL notification that wakes the sender.
pub const WAKE: &str = "bot_answers";

/// A row taken again when its sender stopped answering for this long.
const RECLAIM_SECS: f64 = 60.0;

/// A row given up after this many attempts (each one a sender that took
/// it and did not finish).
const MAX_ATTEMPTS: i32 = 5;

/// One Bot API call the bot makes for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub class: Class,
    /// `sendMessage`, `editMessageText`, `answerCallbackQuery`, ...
    pub method: String,
    /// Its parameters, `chat_id` among them (none for callback answers).
    pub params: Value,
}

impl Answer {
    /// The chat it goes to (`""` for a callback query's answer).
    pub fn chat(&self) -> String {
        match &self.params["chat_id"] {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => String::new(),
        }
    }

    /// Whether Telegram counts it as a message sent (an edit or a
    /// callback's answer is not one).
    pub fn is_message(&self) -> bool {
        self.method.starts_with("send") || self.method == "copyMessage"
    }
}

fn aad(id: Uuid) -> Vec<u8> {
    format!("bot_answer:{id}").into_bytes()
}

fn class_of(n: i16) -> Class {
    match n {
        0 => Class::Answer,
        1 => Class::Reply,
        2 => Class::Alert,
        _ => Class::Broadcast,
    }
}

/// Whether a process holds the bot's sending lease now (`telegram-send:
/// <bot id>`, renewed every few seconds while its holder lives).
pub async fn sender_live(conn: &mut PgConnection, bot_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM leases WHERE name = $1 AND expires_at > now())",
    )
    .bind(format!("telegram-send:{bot_id}"))
    .fetch_one(conn)
    .await
}

/// Queues `answers` for the bot's sender, in order, in the caller's
/// transaction; the sender is woken when it commits.
pub async fn enqueue(
    tx: &mut PgConnection,
    keys: &Keyring,
    bot_id: &str,
    answers: &[Answer],
) -> anyhow::Result<()> {
    for a in answers {
        let id = Uuid::now_v7();
        let (key, wrapped) = keys.new_data_key();
        let payload = serde_json::json!({"method": a.method, "params": a.params});
        let sealed = key.seal(serde_json::to_string(&payload)?.as_bytes(), &aad(id));
        sqlx::query(
            "INSERT INTO bot_answers (id, bot_id, class, data_key, payload_ct)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(bot_id)
        .bind(a.class as i16)
        .bind(&wrapped)
        .bind(&sealed)
        .execute(&mut *tx)
        .await?;
    }
    if !answers.is_empty() {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(WAKE)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// An answer taken by the sender.
#[derive(Debug)]
pub struct Claimed {
    pub id: Uuid,
    pub answer: Answer,
}

/// Takes up to `limit` waiting answers of the bot, in order (and those a
/// stopped sender held longer than a minute). Rows that cannot be opened,
/// or were tried too often, are dropped with a log line (ids only).
pub async fn claim(
    db: &PgPool,
    keys: &Keyring,
    bot_id: &str,
    limit: i64,
) -> anyhow::Result<Vec<Claimed>> {
    type Row = (Uuid, i64, i16, Vec<u8>, Vec<u8>, i32);
    let mut rows: Vec<Row> = sqlx::query_as(
        "WITH due AS (
             SELECT id FROM bot_answers
              WHERE bot_id = $1
                AND (claimed_at IS NULL OR claimed_at < now() - make_interval(secs => $3))
              ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)
         UPDATE bot_answers a SET claimed_at = now(), attempts = attempts + 1
           FROM due WHERE a.id = due.id
         RETURNING a.id, a.seq, a.class, a.data_key, a.payload_ct, a.attempts",
    )
    .bind(bot_id)
    .bind(limit)
    .bind(RECLAIM_SECS)
    .fetch_all(db)
    .await?;
    rows.sort_by_key(|r| r.1);
    let mut out = Vec::with_capacity(rows.len());
    for (id, _, class, wrapped, sealed, attempts) in rows {
        let opened = (|| -> anyhow::Result<Answer> {
            let key = keys.unwrap_data_key(&wrapped)?;
            let payload: Value = serde_json::from_str(&key.open_string(&sealed, &aad(id))?)?;
            Ok(Answer {
                class: class_of(class),
                method: payload["method"].as_str().unwrap_or_default().to_string(),
                params: payload["params"].clone(),
            })
        })();
        match opened {
            Ok(answer) if attempts <= MAX_ATTEMPTS => out.push(Claimed { id, answer }),
            Ok(_) => {
                tracing::warn!(answer_id = %id, attempts, "bot answer given up after its attempts");
                done(db, id).await?;
            }
            Err(e) => {
                tracing::warn!(answer_id = %id, error = %e, "bot answer cannot be opened; dropped");
                done(db, id).await?;
            }
        }
    }
    Ok(out)
}

/// The answer went (or Telegram refused it for good): the row goes.
pub async fn done(db: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM bot_answers WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Puts a taken answer back for another try.
pub async fn release(db: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE bot_answers SET claimed_at = NULL WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chats_and_messages() {
        let a = Answer {
            class: Class::Answer,
            method: "sendMessage".into(),
            params: json!({"chat_id": 5_000_000_000_001_i64, "text": "x"}),
        };
        assert_eq!(a.chat(), "5000000000001");
        assert!(a.is_message());
        let b = Answer {
            class: Class::Answer,
            method: "answerCallbackQuery".into(),
            params: json!({"callback_query_id": "1"}),
        };
        assert_eq!(b.chat(), "");
        assert!(!b.is_message());
        assert_eq!(class_of(Class::Reply as i16), Class::Reply);
    }
}
