//! Native anonymous Telegram polls (issue 17), as both services use them:
//! Telegram's limits and the check of a question and its options, the
//! `sendPoll` parameters (always `is_anonymous`: Telegram then tells the
//! bot counts only, never who voted), and the `telegram_polls` row a sent
//! poll is recorded in, whose counts the `poll` updates keep current.
//! Front sends polls from the admin API; the notifier sends a campaign's
//! channel post as a poll when its template has one.

use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

/// The question's longest length, as Telegram allows it.
pub const MAX_QUESTION: usize = 300;
/// An option's longest length.
pub const MAX_OPTION: usize = 100;
/// The most options Telegram takes (Bot API 9.1).
pub const MAX_OPTIONS: usize = 12;

/// The question and options trimmed, if within Telegram's limits (1-300
/// characters; 2-12 options of 1-100); else why not, naming the part
/// (`question: ...`, `options: ...`, `options[1]: ...`).
pub fn normalise(question: &str, options: &[String]) -> Result<(String, Vec<String>), String> {
    let question = question.trim();
    if question.is_empty() || question.chars().count() > MAX_QUESTION {
        return Err(format!("question: 1 to {MAX_QUESTION} characters"));
    }
    if options.len() < 2 || options.len() > MAX_OPTIONS {
        return Err(format!("options: 2 to {MAX_OPTIONS} options"));
    }
    let mut out = Vec::with_capacity(options.len());
    for (i, o) in options.iter().enumerate() {
        let o = o.trim();
        if o.is_empty() || o.chars().count() > MAX_OPTION {
            return Err(format!("options[{i}]: 1 to {MAX_OPTION} characters"));
        }
        out.push(o.to_string());
    }
    Ok((question.to_string(), out))
}

/// `sendPoll`'s parameters for an anonymous poll in `chat` (the Bot API's
/// `chat_id` value: a number or `@name`).
pub fn send_params(
    chat: Value,
    question: &str,
    options: &[String],
    allows_multiple_answers: bool,
) -> Value {
    json!({
        "chat_id": chat,
        "question": question,
        "options": options.iter().map(|o| json!({"text": o})).collect::<Vec<_>>(),
        "is_anonymous": true,
        "allows_multiple_answers": allows_multiple_answers,
    })
}

/// Telegram's poll id and the message id of a sent poll message.
pub fn sent_ids(message: &Value) -> Option<(&str, i64)> {
    Some((
        message["poll"]["id"].as_str()?,
        message["message_id"].as_i64()?,
    ))
}

/// A poll just sent, to record.
pub struct Record<'a> {
    /// Telegram's poll id.
    pub poll_id: &'a str,
    /// The registry row, if sent to a registered channel.
    pub channel_id: Option<Uuid>,
    /// `@name` or the numeric id, as sent to.
    pub chat: &'a str,
    pub message_id: i64,
    pub question: &'a str,
    pub options: &'a [String],
    pub allows_multiple_answers: bool,
    /// The campaign whose channel post it is, if any.
    pub campaign_id: Option<Uuid>,
    /// Who sent it (an actor, or `campaign` for a campaign's post).
    pub created_by: &'a str,
}

/// Records a sent poll in `telegram_polls` with zero counts (idempotent
/// on Telegram's poll id); its id, or `None` if it was recorded before.
pub async fn record(conn: &mut PgConnection, r: &Record<'_>) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "INSERT INTO telegram_polls (id, poll_id, channel_id, chat, message_id, question, options,
             counts, allows_multiple_answers, campaign_id, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (poll_id) DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(r.poll_id)
    .bind(r.channel_id)
    .bind(r.chat)
    .bind(r.message_id)
    .bind(r.question)
    .bind(sqlx::types::Json(r.options))
    .bind(vec![0i64; r.options.len()])
    .bind(r.allows_multiple_answers)
    .bind(r.campaign_id)
    .bind(r.created_by)
    .fetch_optional(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_parameters() {
        let o = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            normalise(" Q? ", &o(&[" a", "b "])).unwrap(),
            ("Q?".to_string(), o(&["a", "b"]))
        );
        assert!(
            normalise(" ", &o(&["a", "b"]))
                .unwrap_err()
                .starts_with("question")
        );
        assert!(normalise(&"q".repeat(301), &o(&["a", "b"])).is_err());
        assert!(
            normalise("Q?", &o(&["a"]))
                .unwrap_err()
                .starts_with("options")
        );
        assert!(normalise("Q?", &o(&["o"; 13])).is_err());
        assert!(normalise("Q?", &o(&["o"; 12])).is_ok());
        assert_eq!(
            normalise("Q?", &o(&["a", &"x".repeat(101)])).unwrap_err(),
            "options[1]: 1 to 100 characters"
        );
        let p = send_params(json!("@c"), "Q?", &o(&["a", "b"]), true);
        assert_eq!(p["is_anonymous"], true);
        assert_eq!(p["options"], json!([{"text": "a"}, {"text": "b"}]));
        let m = json!({"message_id": 7, "poll": {"id": "55"}});
        assert_eq!(sent_ids(&m), Some(("55", 7)));
        assert_eq!(sent_ids(&json!({"message_id": 7})), None);
    }
}
