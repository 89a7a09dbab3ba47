//! The optional staff group (`consultations.staff_group`): a private
//! Telegram supergroup with forum topics, one topic per conversation. A
//! person's messages are copied into it (`copyMessage`: no origin, no
//! name); what a consultant writes in the topic (text, a caption or a
//! file: never a service message) goes to the person from the bot (queued
//! for the notifier's sender, copied at most once); `/note ...` in the
//! topic is an internal note, `/close` closes the conversation and the
//! topic. The console and the group stay in step: both read and write the
//! same rows.
//!
//! - **Only while private.** A group with a username is public: anyone
//!   can find it, join, read every conversation and answer as the
//!   organisation. The group is checked ([`check`], getChat and the bot's
//!   rights) every [`CHECK_EVERY`] and before a mirror when the last check
//!   is older; the result is `staff_group_state`. Nothing is copied or
//!   sent into the group, and nothing from it is accepted, unless the last
//!   check of the configured group found it private.
//! - **Erasure reaches the group.** Erasing a conversation (`/forget`,
//!   retention) queues its topic in `staff_group_cleanup` (group and
//!   thread id only) in the erasing transaction; [`clean_up`] deletes the
//!   topic with all its messages (`deleteForumTopic`) and the row, or
//!   counts the attempt and retries later. The console shows how many are
//!   waiting, never which.
//! - **Who answered.** Audit rows of what staff do in the group name the
//!   staff member as a row of `staff_identities`: the Telegram user id
//!   sealed under that row's own data key (re-wrapped with every other on
//!   a key rotation), found by its blind index, never kept in plain.
//!
//! Never logged: chat ids of people, Telegram user ids, message text.

use std::time::Duration;

use nasvyazi_shared::auth::Role;
use nasvyazi_shared::config::staff_group_id;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::i18n::{Lang, t};
use nasvyazi_shared::telegram::api::ApiError;
use nasvyazi_shared::telegram::budget::Class;
use serde_json::{Value, json};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::store::{self, NewMessage};
use crate::bot::Bot;
use crate::bot::replies::{Mirror, Reply};

/// How often the group is checked and the clean-up retried.
pub const CHECK_EVERY: Duration = Duration::from_secs(60);

pub use nasvyazi_cases::consultations::CLEANUP_WAKE;

/// The audit actor of what staff do in the group.
pub const ACTOR: &str = "telegram-staff-group";
/// Topics deleted per clean-up pass (then the next pass).
const CLEANUP_BATCH: i64 = 20;
/// The longest wait between two attempts to delete a topic.
const MAX_BACKOFF_SECS: i64 = 6 * 3600;

/// Whether `chat` is the configured staff group (its numeric id: a
/// `@username` is refused at start-up).
pub fn is_staff_group(configured: &str, chat: i64) -> bool {
    staff_group_id(configured) == Some(chat)
}

/// The configured group's id, if any.
fn configured(bot: &Bot) -> Option<i64> {
    staff_group_id(&bot.config.consultations.staff_group)
}

// ---------------------------------------------------------------- the check

/// What the last check of the configured group found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupState {
    /// It has a username (or active usernames): anyone can join.
    pub public: bool,
    /// The bot may delete messages there (erasure needs it).
    pub can_delete: bool,
}

/// The last check of `group`: `None` if it was never checked (or another
/// group was).
pub async fn state(conn: &mut PgConnection, group: i64) -> sqlx::Result<Option<GroupState>> {
    let row: Option<(bool, bool)> =
        sqlx::query_as("SELECT public, can_delete FROM staff_group_state WHERE group_id = $1")
            .bind(group)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(public, can_delete)| GroupState { public, can_delete }))
}

/// Whether the group may be used now: its last check found it private.
async fn usable(conn: &mut PgConnection, group: i64) -> sqlx::Result<bool> {
    Ok(state(conn, group).await?.is_some_and(|s| !s.public))
}

/// Records a check, and says so in the log when the group became public
/// or private again, or the bot lost or got the right to delete.
async fn record(db: &PgPool, group: i64, now: GroupState) -> sqlx::Result<()> {
    let before: Option<(i64, bool, bool)> =
        sqlx::query_as("SELECT group_id, public, can_delete FROM staff_group_state")
            .fetch_optional(db)
            .await?;
    sqlx::query(
        "INSERT INTO staff_group_state (group_id, public, can_delete) VALUES ($1, $2, $3)
         ON CONFLICT (singleton) DO UPDATE SET group_id = $1, public = $2, can_delete = $3,
             checked_at = now()",
    )
    .bind(group)
    .bind(now.public)
    .bind(now.can_delete)
    .execute(db)
    .await?;
    let before = before
        .filter(|b| b.0 == group)
        .map(|(_, public, can_delete)| GroupState { public, can_delete });
    metrics::gauge!("nasvyazi_staff_group_public").set(if now.public { 1.0 } else { 0.0 });
    if now.public && before.is_none_or(|b| !b.public) {
        tracing::error!(
            "the staff group is public (it has a username): nothing is copied there and \
             replies from it are refused until it is private again"
        );
    } else if !now.public && before.is_some_and(|b| b.public) {
        tracing::info!("the staff group is private again: mirroring resumes");
    }
    if !now.can_delete && before.is_none_or(|b| b.can_delete) {
        tracing::warn!(
            "the bot may not delete messages in the staff group: erased conversations' topics \
             cannot be deleted there"
        );
    }
    Ok(())
}

/// Checks the configured group now (getChat, getChatMember for the bot)
/// and records what it found. A group Telegram refuses to describe (the
/// bot removed, the group gone) is forgotten, so that nothing uses it.
pub async fn check(bot: &Bot) -> anyhow::Result<Option<GroupState>> {
    let Some(group) = configured(bot) else {
        return Ok(None);
    };
    let chat = match bot.api().call("getChat", &json!({"chat_id": group})).await {
        Ok(chat) => chat,
        Err(ApiError::Refused { code, .. }) if code == 400 || code == 403 => {
            sqlx::query("DELETE FROM staff_group_state")
                .execute(&bot.db)
                .await?;
            anyhow::bail!("getChat of the staff group refused ({code}): not used until it answers");
        }
        Err(e) => anyhow::bail!("getChat of the staff group: {e}"),
    };
    let public = chat["username"].as_str().is_some_and(|u| !u.is_empty())
        || chat["active_usernames"]
            .as_array()
            .is_some_and(|u| !u.is_empty());
    let me: i64 = bot.api().bot_id().parse().unwrap_or_default();
    let member = bot
        .api()
        .call("getChatMember", &json!({"chat_id": group, "user_id": me}))
        .await
        .map_err(|e| anyhow::anyhow!("getChatMember in the staff group: {e}"))?;
    let can_delete = member["status"] == "creator"
        || (member["status"] == "administrator" && member["can_delete_messages"] == true);
    let now = GroupState { public, can_delete };
    record(&bot.db, group, now).await?;
    Ok(Some(now))
}

/// Whether the group may be used for a mirror: checks first when the last
/// check is older than [`CHECK_EVERY`] (or there was none).
async fn ensure_usable(bot: &Bot, group: i64) -> anyhow::Result<bool> {
    let fresh: Option<bool> = sqlx::query_scalar(
        "SELECT NOT public FROM staff_group_state
         WHERE group_id = $1 AND checked_at > now() - make_interval(secs => $2)",
    )
    .bind(group)
    .bind(CHECK_EVERY.as_secs_f64())
    .fetch_optional(&bot.db)
    .await?;
    if let Some(private) = fresh {
        return Ok(private);
    }
    match check(bot).await {
        Ok(Some(s)) => Ok(!s.public),
        Ok(None) => Ok(false),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "staff group not checked");
            // The last known result stands while Telegram is unreachable.
            let mut conn = bot.db.acquire().await?;
            Ok(usable(&mut conn, group).await?)
        }
    }
}

/// Marks the group public from an update that showed its username.
async fn mark_public(tx: &mut PgConnection, group: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO staff_group_state (group_id, public, can_delete) VALUES ($1, true, true)
         ON CONFLICT (singleton) DO UPDATE SET group_id = $1, public = true, checked_at = now()",
    )
    .bind(group)
    .execute(tx)
    .await?;
    metrics::gauge!("nasvyazi_staff_group_public").set(1.0);
    Ok(())
}

// ---------------------------------------------------------------- the topics

/// The topic of a conversation, created the first time (name: pseudonym
/// and number, nothing else).
async fn topic(bot: &Bot, group: i64, conversation: Uuid) -> anyhow::Result<Option<i64>> {
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
    let created = bot
        .api()
        .call(
            "createForumTopic",
            &json!({"chat_id": group, "name": format!("{pseudonym} · {number}")}),
        )
        .await
        .map_err(|e| anyhow::anyhow!("createForumTopic: {e}"))?;
    let Some(thread) = created["message_thread_id"].as_i64() else {
        anyhow::bail!("createForumTopic: no message_thread_id");
    };
    let mut tx = bot.db.begin().await?;
    let stored: Option<Option<i64>> = sqlx::query_scalar(
        "UPDATE conversations SET staff_thread_id = coalesce(staff_thread_id, $2),
             staff_group_id = CASE WHEN staff_thread_id IS NULL THEN $3 ELSE staff_group_id END
         WHERE id = $1 RETURNING staff_thread_id",
    )
    .bind(conversation)
    .bind(thread)
    .bind(group)
    .fetch_optional(&mut *tx)
    .await?;
    let stored = stored.flatten();
    if stored != Some(thread) {
        // Erased meanwhile, or another topic won: this one goes.
        queue_cleanup(&mut tx, Some(group), thread).await?;
    }
    tx.commit().await?;
    Ok(stored)
}

/// Copies a person's message into its conversation's topic. Best effort:
/// a failure is logged (ids only) and the console still has the message.
/// Nothing is copied while the group is not known to be private.
pub async fn mirror(bot: &Bot, m: &Mirror) {
    let result = async {
        let Some(group) = configured(bot) else {
            return Ok(());
        };
        if !ensure_usable(bot, group).await? {
            metrics::counter!("nasvyazi_staff_group_refused_total", "what" => "mirror")
                .increment(1);
            tracing::warn!(conversation_id = %m.conversation_id,
                "message not mirrored: the staff group is public or unchecked");
            return Ok(());
        }
        let Some(thread) = topic(bot, group, m.conversation_id).await? else {
            return Ok(());
        };
        // Through the bot's one budget (a consultant's side of the work:
        // ahead of broadcasts, behind answers to people).
        bot.send_or_queue(
            Class::Reply,
            "copyMessage",
            json!({"chat_id": group, "from_chat_id": m.from_chat,
                   "message_id": m.message_id, "message_thread_id": thread}),
        )
        .await
        .map_err(|e| anyhow::anyhow!("copyMessage: {e:#}"))?;
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(conversation_id = %m.conversation_id, error = %format!("{e:#}"),
            "message not mirrored to the staff group");
    }
}

/// Opens or closes a conversation's topic (after the console did), while
/// the group is private.
pub async fn set_topic_open(bot: &Bot, thread: i64, open: bool) {
    let Some(group) = configured(bot) else {
        return;
    };
    match ensure_usable(bot, group).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(
                thread,
                "staff topic not updated: the group is public or unchecked"
            );
            return;
        }
        Err(e) => {
            tracing::warn!(thread, error = %format!("{e:#}"), "staff topic not updated");
            return;
        }
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
            &json!({"chat_id": group, "message_thread_id": thread}),
        )
        .await
    {
        Ok(_) => {}
        Err(ApiError::Refused { description, .. })
            if description.contains("TOPIC_NOT_MODIFIED") => {}
        Err(e) => tracing::warn!(thread, error = %e, "staff topic not updated"),
    }
}

// ---------------------------------------------------------------- staff messages

/// A consultant's message in a topic of the staff group, as the update
/// has it.
#[derive(Debug)]
pub struct TopicMessage<'a> {
    pub chat: i64,
    /// The update showed the chat's username.
    pub public: bool,
    pub thread: i64,
    pub message_id: i64,
    pub text: Option<&'a str>,
    /// The staff member's Telegram user id.
    pub from: Option<i64>,
}

/// The blind-index kind of a staff member's Telegram user id.
pub const STAFF_KIND: &str = "staff_telegram_user";

/// Associated data of a staff member's sealed Telegram user id.
fn staff_aad(id: Uuid) -> Vec<u8> {
    format!("staff_identity:{id}:telegram_user").into_bytes()
}

/// The staff member behind a Telegram user id: a row of
/// `staff_identities` (the id sealed under the row's own data key, found
/// by its blind index), made the first time. Audit rows name this row,
/// never the Telegram id.
async fn staff_identity(tx: &mut PgConnection, keys: &Keyring, user: i64) -> sqlx::Result<Uuid> {
    let index = keys.blind_index(STAFF_KIND, &user.to_string());
    let known: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM staff_identities WHERE user_bi = $1")
            .bind(&index)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(id) = known {
        return Ok(id);
    }
    let id = Uuid::now_v7();
    let (key, wrapped) = keys.new_data_key();
    let sealed = key.seal(user.to_string().as_bytes(), &staff_aad(id));
    sqlx::query(
        "INSERT INTO staff_identities (id, user_bi, data_key, user_ct) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_bi) DO NOTHING",
    )
    .bind(id)
    .bind(&index)
    .bind(&wrapped)
    .bind(&sealed)
    .execute(&mut *tx)
    .await?;
    sqlx::query_scalar("SELECT id FROM staff_identities WHERE user_bi = $1")
        .bind(&index)
        .fetch_one(&mut *tx)
        .await
}

/// Opens the Telegram user id of the staff member an audit row names (its
/// `staff` detail), for an investigation with the keys; `None` if there is
/// no such row (erased).
pub async fn open_staff_identity(
    conn: &mut PgConnection,
    keys: &Keyring,
    id: Uuid,
) -> anyhow::Result<Option<i64>> {
    let row: Option<(Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT data_key, user_ct FROM staff_identities WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    let Some((wrapped, sealed)) = row else {
        return Ok(None);
    };
    let key = keys.unwrap_data_key(&wrapped)?;
    Ok(Some(key.open_string(&sealed, &staff_aad(id))?.parse()?))
}

/// A staff action from the group, audited with the staff member's
/// identity (`staff`: a `staff_identities` id), never the Telegram id.
async fn audit(
    tx: &mut PgConnection,
    keys: &Keyring,
    action: &str,
    conversation: Uuid,
    user: Option<i64>,
    mut details: Value,
) -> sqlx::Result<()> {
    if let Some(user) = user {
        details["staff"] = json!(staff_identity(tx, keys, user).await?);
    }
    nasvyazi_shared::auth::audit(
        tx,
        ACTOR,
        Some(Role::Consultant),
        action,
        Some(&format!("conversation:{conversation}")),
        details,
    )
    .await
}

/// A consultant's message in a topic of the staff group: refused (nothing
/// stored, nothing said in the group) unless the group's last check found
/// it private and the update shows no username.
pub async fn on_topic_message(
    tx: &mut PgConnection,
    bot: &Bot,
    m: TopicMessage<'_>,
) -> anyhow::Result<Vec<Reply>> {
    let TopicMessage {
        chat,
        public,
        thread,
        message_id,
        text,
        from,
    } = m;
    if public {
        mark_public(tx, chat).await?;
        metrics::counter!("nasvyazi_staff_group_refused_total", "what" => "reply").increment(1);
        tracing::error!(
            "message from the staff group refused: the group is public (it has a username)"
        );
        return Ok(Vec::new());
    }
    if !usable(tx, chat).await? {
        metrics::counter!("nasvyazi_staff_group_refused_total", "what" => "reply").increment(1);
        tracing::warn!("message from the staff group refused: the group is public or unchecked");
        return Ok(Vec::new());
    }
    let found: Option<(Uuid, String, String)> = sqlx::query_as(
        "SELECT id, state, channel FROM conversations WHERE staff_thread_id = $1
             AND coalesce(staff_group_id, $2) = $2 FOR UPDATE",
    )
    .bind(thread)
    .bind(chat)
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
        audit(tx, &bot.keys, "conversation.closed", id, from, json!({})).await?;
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
            let mid = store::add_message(
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
            audit(
                tx,
                &bot.keys,
                "conversation.noted",
                id,
                from,
                json!({ "message": mid }),
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
    audit(
        tx,
        &bot.keys,
        "conversation.replied",
        id,
        from,
        json!({ "message": mid }),
    )
    .await?;
    tracing::info!(conversation_id = %id, "consultant replied in the staff group");
    Ok(Vec::new())
}

// ---------------------------------------------------------------- erasure

/// Queues a topic for deletion (in the erasing transaction) and wakes the
/// clean-up once that commits. `group`: `None` for the configured one.
pub async fn queue_cleanup(
    tx: &mut PgConnection,
    group: Option<i64>,
    thread: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO staff_group_cleanup (group_id, thread_id) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
    )
    .bind(group)
    .bind(thread)
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!("NOTIFY {CLEANUP_WAKE}"))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// What one clean-up pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanUp {
    /// Topics deleted (or found gone already).
    pub deleted: u64,
    /// Topics Telegram refused to delete (tried again later).
    pub refused: u64,
}

/// The wait before attempt `attempts + 1`: 30 s doubling, at most 6 hours.
fn backoff_secs(attempts: i32) -> i64 {
    (30_i64 << attempts.clamp(0, 20)).min(MAX_BACKOFF_SECS)
}

/// Deletes the queued topics that are due (`deleteForumTopic`: the topic
/// and every message in it). A topic Telegram no longer has counts as
/// deleted; a refusal is counted and tried again later (429: after
/// Telegram's wait, not counted).
pub async fn clean_up(bot: &Bot) -> anyhow::Result<CleanUp> {
    let mut done = CleanUp::default();
    let group = configured(bot);
    loop {
        let claimed: Vec<(i64, i64, i64, i32)> = sqlx::query_as(
            "WITH due AS (
                 SELECT id FROM staff_group_cleanup
                 WHERE next_attempt_at <= now()
                   AND (locked_until IS NULL OR locked_until < now())
                   AND (group_id IS NOT NULL OR $1::bigint IS NOT NULL)
                 ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
             UPDATE staff_group_cleanup c SET locked_until = now() + interval '2 minutes'
             FROM due WHERE c.id = due.id
             RETURNING c.id, coalesce(c.group_id, $1), c.thread_id, c.attempts",
        )
        .bind(group)
        .bind(CLEANUP_BATCH)
        .fetch_all(&bot.db)
        .await?;
        let n = claimed.len() as i64;
        for (id, group, thread, attempts) in claimed {
            let result = bot
                .api()
                .call(
                    "deleteForumTopic",
                    &json!({"chat_id": group, "message_thread_id": thread}),
                )
                .await;
            match result {
                Ok(_) => gone(&bot.db, id, &mut done, "deleted").await?,
                Err(ApiError::Refused { description, .. })
                    if description.contains("TOPIC_ID_INVALID")
                        || description.contains("message thread not found") =>
                {
                    gone(&bot.db, id, &mut done, "gone").await?
                }
                Err(ApiError::Refused {
                    code: 429,
                    retry_after,
                    ..
                }) => {
                    let wait = retry_after.map_or(30.0, |d| d.as_secs_f64());
                    sqlx::query(
                        "UPDATE staff_group_cleanup SET locked_until = NULL,
                             next_attempt_at = now() + make_interval(secs => $2) WHERE id = $1",
                    )
                    .bind(id)
                    .bind(wait)
                    .execute(&bot.db)
                    .await?;
                }
                Err(e) => {
                    done.refused += 1;
                    metrics::counter!("nasvyazi_staff_group_cleanup_total", "outcome" => "refused")
                        .increment(1);
                    sqlx::query(
                        "UPDATE staff_group_cleanup SET locked_until = NULL, attempts = attempts + 1,
                             next_attempt_at = now() + make_interval(secs => $2) WHERE id = $1",
                    )
                    .bind(id)
                    .bind(backoff_secs(attempts) as f64)
                    .execute(&bot.db)
                    .await?;
                    tracing::warn!(cleanup_id = id, attempts = attempts + 1, error = %e,
                        "an erased conversation's topic could not be deleted from the staff group; \
                         retrying later");
                }
            }
        }
        if n < CLEANUP_BATCH {
            return Ok(done);
        }
    }
}

async fn gone(db: &PgPool, id: i64, done: &mut CleanUp, outcome: &'static str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM staff_group_cleanup WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    done.deleted += 1;
    metrics::counter!("nasvyazi_staff_group_cleanup_total", "outcome" => outcome).increment(1);
    tracing::info!(
        cleanup_id = id,
        "an erased conversation's topic is gone from the staff group"
    );
    Ok(())
}

// ---------------------------------------------------------------- the console

/// What the console says about the staff group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsoleStatus {
    /// A staff group is configured.
    pub configured: bool,
    /// Its last check found it public.
    pub public: bool,
    /// It was never checked (Telegram unreachable, the bot not in it).
    pub unchecked: bool,
    /// The bot may not delete messages there.
    pub cannot_delete: bool,
    /// Erased conversations whose topic Telegram refused to delete so far
    /// (retried).
    pub pending_cleanup: i64,
}

/// The staff group's state for the console: counts and flags, never which
/// conversation.
pub async fn console_status(db: &PgPool, staff_group: &str) -> sqlx::Result<ConsoleStatus> {
    let pending_cleanup: i64 =
        sqlx::query_scalar("SELECT count(*) FROM staff_group_cleanup WHERE attempts > 0")
            .fetch_one(db)
            .await?;
    let Some(group) = staff_group_id(staff_group) else {
        return Ok(ConsoleStatus {
            pending_cleanup,
            ..ConsoleStatus::default()
        });
    };
    let mut conn = db.acquire().await?;
    let s = state(&mut conn, group).await?;
    Ok(ConsoleStatus {
        configured: true,
        public: s.is_some_and(|s| s.public),
        unchecked: s.is_none(),
        cannot_delete: s.is_some_and(|s| !s.can_delete),
        pending_cleanup,
    })
}

// ---------------------------------------------------------------- the loop

/// Checks the group and deletes erased conversations' topics: at once
/// when an erasure wakes it, else every [`CHECK_EVERY`], until `shutdown`.
pub async fn run(bot: Arc<Bot>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let token = shutdown.clone();
    nasvyazi_shared::shutdown::restarting("staff-group", shutdown, move || {
        let (bot, token) = (bot.clone(), token.clone());
        async move { run_once(bot, token).await }
    })
    .await
}

async fn run_once(bot: Arc<Bot>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut listener = PgListener::connect_with(&bot.db).await?;
    listener.listen(CLEANUP_WAKE).await?;
    let mut next_check = tokio::time::Instant::now();
    while !shutdown.is_cancelled() {
        if tokio::time::Instant::now() >= next_check {
            if let Err(e) = check(&bot).await {
                tracing::warn!(error = %format!("{e:#}"), "staff group not checked");
            }
            next_check = tokio::time::Instant::now() + CHECK_EVERY;
        }
        if let Err(e) = clean_up(&bot).await {
            tracing::warn!(error = %format!("{e:#}"), "staff group clean-up pass failed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.recv() => if r.is_err() { tokio::time::sleep(CHECK_EVERY).await },
            _ = tokio::time::sleep_until(next_check) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_staff_group_by_id_only() {
        assert!(is_staff_group("-1001234567890", -1_001_234_567_890));
        assert!(!is_staff_group("-1001234567890", -1_001_234_567_891));
        assert!(!is_staff_group("@Staff_Room", -1_001_234_567_890));
        assert!(!is_staff_group("", -1));
    }

    #[test]
    fn backoff_doubles_to_six_hours() {
        assert_eq!(backoff_secs(0), 30);
        assert_eq!(backoff_secs(1), 60);
        assert_eq!(backoff_secs(30), MAX_BACKOFF_SECS);
    }
}
