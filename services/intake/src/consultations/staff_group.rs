//! The optional staff group (`consultations.staff_group`): a Telegram
//! supergroup with forum topics, one topic per conversation. A person's
//! messages are copied into it (`copyMessage`: no origin, no name); what a
//! consultant writes in the topic goes to the person from the bot (queued
//! for the notifier's sender, copied at most once); `/note ...` in the
//! topic is an internal note, `/close` closes the conversation and the
//! topic. The console and the group stay in step: both read and write the
//! same rows.

use nasvyazi_shared::auth::Role;
use nasvyazi_shared::i18n::{Lang, t};
use nasvyazi_shared::telegram::api::ApiError;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::store::{self, NewMessage};
use crate::telegram::Bot;
use crate::telegram::replies::{Mirror, Reply};

/// Whether `chat` is the configured staff group (`@name` or id).
pub fn is_staff_group(configured: &str, chat: i64, username: Option<&str>) -> bool {
    let c = configured.trim();
    if c.is_empty() {
        return false;
    }
    match c.strip_prefix('@') {
        Some(name) => username.is_some_and(|u| u.eq_ignore_ascii_case(name)),
        None => c.parse::<i64>() == Ok(chat),
    }
}

/// The group's `chat_id` parameter.
fn group_param(configured: &str) -> serde_json::Value {
    match configured.trim().parse::<i64>() {
        Ok(id) => json!(id),
        Err(_) => json!(configured.trim()),
    }
}

/// The topic of a conversation, created the first time (name: pseudonym
/// and number, nothing else).
async fn topic(bot: &Bot, conversation: Uuid) -> anyhow::Result<Option<i64>> {
    let row: Option<(Option<i64>, String, String)> = sqlx::query_as(
        "SELECT c.staff_thread_id, c.number, p.pseudonym FROM conversations c
         JOIN consultation_people p ON p.id = c.person_id WHERE c.id = $1",
    )
    .bind(conversation)
    .fetch_optional(&bot.db)
    .await?;
    let Some((thread, number, pseudonym)) = row else {
        return Ok(None);
    };
    if thread.is_some() {
        return Ok(thread);
    }
    let group = &bot.config.consultations.staff_group;
    let created = bot
        .api()
        .call(
            "createForumTopic",
            &json!({"chat_id": group_param(group), "name": format!("{pseudonym} · {number}")}),
        )
        .await
        .map_err(|e| anyhow::anyhow!("createForumTopic: {e}"))?;
    let Some(thread) = created["message_thread_id"].as_i64() else {
        anyhow::bail!("createForumTopic: no message_thread_id");
    };
    let stored: Option<i64> = sqlx::query_scalar(
        "UPDATE conversations SET staff_thread_id = coalesce(staff_thread_id, $2)
         WHERE id = $1 RETURNING staff_thread_id",
    )
    .bind(conversation)
    .bind(thread)
    .fetch_optional(&bot.db)
    .await?
    .flatten();
    Ok(stored)
}

/// Copies a person's message into its conversation's topic. Best effort:
/// a failure is logged (ids only) and the console still has the message.
pub async fn mirror(bot: &Bot, m: &Mirror) {
    let result = async {
        let Some(thread) = topic(bot, m.conversation_id).await? else {
            return Ok(());
        };
        let group = &bot.config.consultations.staff_group;
        bot.api()
            .call(
                "copyMessage",
                &json!({"chat_id": group_param(group), "from_chat_id": m.from_chat,
                        "message_id": m.message_id, "message_thread_id": thread}),
            )
            .await
            .map_err(|e: ApiError| anyhow::anyhow!("copyMessage: {e}"))?;
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(conversation_id = %m.conversation_id, error = %format!("{e:#}"),
            "message not mirrored to the staff group");
    }
}

/// Opens or closes a conversation's topic (after the console did).
pub async fn set_topic_open(bot: &Bot, thread: i64, open: bool) {
    let group = &bot.config.consultations.staff_group;
    if group.trim().is_empty() {
        return;
    }
    let method = if open {
        "reopenForumTopic"
    } else {
        "closeForumTopic"
    };
    match bot
        .api()
        .call(
            method,
            &json!({"chat_id": group_param(group), "message_thread_id": thread}),
        )
        .await
    {
        Ok(_) => {}
        Err(ApiError::Refused { description, .. })
            if description.contains("TOPIC_NOT_MODIFIED") => {}
        Err(e) => tracing::warn!(thread, error = %e, "staff topic not updated"),
    }
}

/// A consultant's message in a topic of the staff group.
pub async fn on_topic_message(
    tx: &mut PgConnection,
    bot: &Bot,
    chat: i64,
    thread: i64,
    message_id: i64,
    text: Option<&str>,
) -> anyhow::Result<Vec<Reply>> {
    let found: Option<(Uuid, String, String)> = sqlx::query_as(
        "SELECT id, state, channel FROM conversations WHERE staff_thread_id = $1 FOR UPDATE",
    )
    .bind(thread)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, state, channel)) = found else {
        return Ok(Vec::new());
    };
    let say = |html: String| Reply::Api {
        method: "sendMessage",
        params: json!({"chat_id": chat, "message_thread_id": thread, "text": html,
                       "parse_mode": "HTML"}),
    };
    let key = store::conversation_key(tx, &bot.keys, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("conversation vanished"))?;
    let trimmed = text.map(str::trim).unwrap_or_default();
    if trimmed == "/close" || trimmed.starts_with("/close@") {
        sqlx::query(
            "UPDATE conversations SET state = 'closed', closed_at = now(), waiting_since = NULL
             WHERE id = $1 AND state = 'open'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        nasvyazi_shared::auth::audit(
            tx,
            "telegram-staff-group",
            Some(Role::Consultant),
            "conversation.closed",
            Some(&format!("conversation:{id}")),
            json!({}),
        )
        .await?;
        return Ok(vec![
            say(t(Lang::Ru, "consult.staff_topic_closed")),
            Reply::Api {
                method: "closeForumTopic",
                params: json!({"chat_id": chat, "message_thread_id": thread}),
            },
        ]);
    }
    if let Some(note) = trimmed.strip_prefix("/note") {
        let note = note.trim();
        if !note.is_empty() {
            store::add_message(
                tx,
                &key,
                id,
                NewMessage {
                    author: "note",
                    staff_id: None,
                    text: Some(note),
                    media: None,
                    delivery: None,
                    copy_of: None,
                },
            )
            .await?;
        }
        return Ok(Vec::new());
    }
    if trimmed.starts_with('/') {
        return Ok(Vec::new());
    }
    if state != "open" {
        return Ok(vec![say(t(Lang::Ru, "consult.staff_topic_closed"))]);
    }
    // Telegram: the notifier copies the consultant's message as it is (text
    // or media); the web: the text is what the person will read.
    let telegram = channel == "telegram";
    if !telegram && trimmed.is_empty() {
        return Ok(Vec::new());
    }
    let mid = store::add_message(
        tx,
        &key,
        id,
        NewMessage {
            author: "staff",
            staff_id: None,
            text: (!trimmed.is_empty()).then_some(trimmed),
            media: None,
            delivery: telegram.then_some("queued"),
            copy_of: telegram.then_some(message_id),
        },
    )
    .await?;
    nasvyazi_shared::auth::audit(
        tx,
        "telegram-staff-group",
        Some(Role::Consultant),
        "conversation.replied",
        Some(&format!("conversation:{id}")),
        json!({ "message": mid }),
    )
    .await?;
    tracing::info!(conversation_id = %id, "consultant replied in the staff group");
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_staff_group() {
        assert!(is_staff_group("-100123", -100123, None));
        assert!(!is_staff_group("-100123", -100124, None));
        assert!(is_staff_group("@Staff_Room", -1, Some("staff_room")));
        assert!(!is_staff_group("", -1, Some("x")));
    }
}
