//! Conversations in PostgreSQL: people, conversations, messages, and every
//! staff action on them. Messages are sealed under the conversation's data
//! key; a person's chat id under the person's. Staff actions write an
//! audit row (ids only) in their own transaction.

use chrono::{DateTime, Utc};
use nasvyazi_crypto::{Key, Keyring};
use nasvyazi_platform::events::Event;
use nasvyazi_platform::i18n::Lang;
use nasvyazi_platform::outbox::{self, Outbox};
use nasvyazi_staff::auth::{self, Principal};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{chat_index, message_aad, new_number, person_aad, pseudonym};
use crate::replies;

/// A person as the bot needs it (no chat id: the caller has it).
#[derive(Debug, Clone)]
pub struct Person {
    pub id: Uuid,
    pub language: Option<Lang>,
    pub blocked: bool,
}

type PersonRow = (Uuid, Option<String>, Option<DateTime<Utc>>);

fn person((id, language, blocked_at): PersonRow) -> Person {
    Person {
        id,
        language: language.as_deref().and_then(Lang::parse),
        blocked: blocked_at.is_some(),
    }
}

/// The person writing from `chat`, locked for the transaction.
pub async fn find_person(
    tx: &mut PgConnection,
    keys: &Keyring,
    chat: i64,
) -> sqlx::Result<Option<Person>> {
    let row: Option<PersonRow> = sqlx::query_as(
        "SELECT id, language, blocked_at FROM consultation_people WHERE chat_bi = $1 FOR UPDATE",
    )
    .bind(chat_index(keys, chat))
    .fetch_optional(tx)
    .await?;
    Ok(row.map(person))
}

/// A new person: from Telegram (`chat`) or from the web (`None`).
pub async fn create_person(
    tx: &mut PgConnection,
    keys: &Keyring,
    chat: Option<i64>,
    language: Option<Lang>,
) -> sqlx::Result<Person> {
    let id = Uuid::now_v7();
    let (key, wrapped) = keys.new_data_key();
    let index = chat.map(|c| chat_index(keys, c));
    let chat_ct = chat.map(|c| key.seal(c.to_string().as_bytes(), &person_aad(id)));
    sqlx::query(
        "INSERT INTO consultation_people (id, chat_bi, data_key, chat_ct, pseudonym, language)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(&index)
    .bind(&wrapped)
    .bind(chat_ct)
    .bind(pseudonym(index.as_deref()))
    .bind(language.map(Lang::code))
    .execute(tx)
    .await?;
    Ok(Person {
        id,
        language,
        blocked: false,
    })
}

pub async fn set_person_language(
    tx: &mut PgConnection,
    person: Uuid,
    lang: Lang,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE consultation_people SET language = $2 WHERE id = $1")
        .bind(person)
        .bind(lang.code())
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE conversations SET language = $2 WHERE person_id = $1 AND state = 'open'")
        .bind(person)
        .bind(lang.code())
        .execute(tx)
        .await?;
    Ok(())
}

/// The open conversation a message goes to.
#[derive(Debug, Clone)]
pub struct Opened {
    pub id: Uuid,
    pub number: String,
    /// It did not exist before this message.
    pub created: bool,
    pub staff_thread_id: Option<i64>,
}

/// The person's open conversation, or a new one (announced through the
/// outbox as `conversation.opened`, which alerts staff).
pub async fn open_for(
    tx: &mut PgConnection,
    keys: &Keyring,
    person: &Person,
    channel: &str,
    lang: Lang,
    access_hash: Option<&[u8]>,
) -> anyhow::Result<Opened> {
    let open: Option<(Uuid, String, Option<i64>)> = sqlx::query_as(
        "SELECT id, number, staff_thread_id FROM conversations WHERE person_id = $1 AND state = 'open'",
    )
    .bind(person.id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((id, number, staff_thread_id)) = open {
        return Ok(Opened {
            id,
            number,
            created: false,
            staff_thread_id,
        });
    }
    for _ in 0..5 {
        let id = Uuid::now_v7();
        let number = new_number();
        let (_, wrapped) = keys.new_data_key();
        let inserted = sqlx::query(
            "INSERT INTO conversations (id, number, person_id, channel, access_hash, language, data_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (number) DO NOTHING",
        )
        .bind(id)
        .bind(&number)
        .bind(person.id)
        .bind(channel)
        .bind(access_hash)
        .bind(lang.code())
        .bind(&wrapped)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            outbox::enqueue(
                tx,
                Outbox::Front,
                Event::ConversationOpened {
                    conversation_id: id,
                },
            )
            .await?;
            metrics::counter!("nasvyazi_conversations_opened_total", "channel" => channel.to_string())
                .increment(1);
            return Ok(Opened {
                id,
                number,
                created: true,
                staff_thread_id: None,
            });
        }
    }
    anyhow::bail!("no free conversation number")
}

/// A Telegram file a person sent (relayed by `file_id`, never stored).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Media {
    /// `photo`, `document`, `voice`, `video_note`, `video`, `audio`,
    /// `animation` or `sticker`.
    pub kind: String,
    #[serde(skip_serializing)]
    #[schema(ignore)]
    pub file_id: String,
    /// The file's name as sent (documents only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_size: Option<i64>,
}

/// What is stored sealed (the file id included).
#[derive(Serialize, Deserialize)]
struct SealedMedia {
    kind: String,
    file_id: String,
    file_name: Option<String>,
    mime_type: Option<String>,
    file_size: Option<i64>,
}

/// The conversation's data key.
pub async fn conversation_key(
    conn: &mut PgConnection,
    keys: &Keyring,
    id: Uuid,
) -> anyhow::Result<Option<Key>> {
    let wrapped: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT data_key FROM conversations WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(match wrapped {
        Some(w) => Some(keys.unwrap_data_key(&w)?),
        None => None,
    })
}

/// A message to store.
pub struct NewMessage<'a> {
    pub author: &'static str,
    pub staff_id: Option<Uuid>,
    pub text: Option<&'a str>,
    pub media: Option<&'a Media>,
    /// `queued` for a staff reply the notifier delivers; `None` otherwise.
    pub delivery: Option<&'static str>,
    /// A consultant's message in the staff topic to copy to the person.
    pub copy_of: Option<i64>,
}

/// Stores a message sealed and moves the conversation's clock: a person's
/// message makes it wait for us, a staff reply for the person.
pub async fn add_message(
    tx: &mut PgConnection,
    key: &Key,
    conversation: Uuid,
    m: NewMessage<'_>,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    let body = m
        .text
        .map(|t| key.seal(t.as_bytes(), &message_aad(conversation, id, "body")));
    let media = m.media.map(|media| {
        let sealed = SealedMedia {
            kind: media.kind.clone(),
            file_id: media.file_id.clone(),
            file_name: media.file_name.clone(),
            mime_type: media.mime_type.clone(),
            file_size: media.file_size,
        };
        let json = serde_json::to_vec(&sealed).expect("serialisable");
        key.seal(&json, &message_aad(conversation, id, "media"))
    });
    sqlx::query(
        "INSERT INTO conversation_messages (id, conversation_id, author, staff_id, body_ct, media_ct,
             delivery, next_attempt_at, copy_of)
         VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $7 IS NULL THEN NULL ELSE now() END, $8)",
    )
    .bind(id)
    .bind(conversation)
    .bind(m.author)
    .bind(m.staff_id)
    .bind(body)
    .bind(media)
    .bind(m.delivery)
    .bind(m.copy_of)
    .execute(&mut *tx)
    .await?;
    let clock = match m.author {
        "person" => {
            "UPDATE conversations SET last_message_at = now(), waiting_for = 'staff',
                 waiting_since = coalesce(waiting_since, now()) WHERE id = $1"
        }
        "staff" => {
            "UPDATE conversations SET last_message_at = now(), waiting_for = 'person',
                 waiting_since = NULL, alerted_at = NULL,
                 first_response_at = coalesce(first_response_at, now()) WHERE id = $1"
        }
        _ => "SELECT $1::uuid",
    };
    sqlx::query(clock)
        .bind(conversation)
        .execute(&mut *tx)
        .await?;
    if m.delivery.is_some() {
        replies::wake(&mut *tx).await?;
    }
    Ok(id)
}

/// Erases a person and every conversation of theirs (the rows and their
/// data keys: crypto-shredding), and queues their conversations' topics
/// in the staff group for deletion (`staff_group::clean_up` deletes them
/// once this commits; only the group and thread ids wait there). The audit
/// says that it happened, never whom.
pub async fn erase_person(tx: &mut PgConnection, person: Uuid, actor: &str) -> sqlx::Result<()> {
    let topics = sqlx::query(
        "INSERT INTO staff_group_cleanup (group_id, thread_id)
         SELECT staff_group_id, staff_thread_id FROM conversations
         WHERE person_id = $1 AND staff_thread_id IS NOT NULL
         ON CONFLICT DO NOTHING",
    )
    .bind(person)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if topics > 0 {
        sqlx::query(&format!("NOTIFY {}", super::CLEANUP_WAKE))
            .execute(&mut *tx)
            .await?;
    }
    let gone = sqlx::query("DELETE FROM consultation_people WHERE id = $1")
        .bind(person)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if gone > 0 {
        auth::audit(
            tx,
            actor,
            None,
            "consultation.person_erased",
            None,
            serde_json::json!({}),
        )
        .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- staff

use crate::staff::Case;
pub use crate::staff::Staff;
pub use crate::staff::StaffError;

/// One conversation in the inbox.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ConversationItem {
    pub id: Uuid,
    /// `NS-XXXX-XXXX`.
    pub number: String,
    /// How staff see the person, e.g. «Гость 7F3K».
    pub pseudonym: String,
    /// `open` or `closed`.
    pub state: String,
    /// `telegram` or `web`.
    pub channel: String,
    /// The principal (console user or token) it is assigned to.
    pub assigned_to: Option<Uuid>,
    pub last_message_at: DateTime<Utc>,
    /// `staff` (the person waits for us) or `person`.
    pub waiting_for: String,
    pub language: String,
    pub tags: Vec<String>,
    pub referred_to: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The inbox's filters.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub state: Option<String>,
    /// `unassigned`, `mine`, `waiting_for_us`, `waiting_for_person`.
    pub view: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

pub const VIEWS: &[&str] = &["unassigned", "mine", "waiting_for_us", "waiting_for_person"];

/// Conversations, newest first.
pub async fn list(st: Staff<'_>, f: &Filter) -> sqlx::Result<Vec<ConversationItem>> {
    sqlx::query_as(
        "SELECT c.id, c.number, p.pseudonym, c.state, c.channel, c.assigned_to, c.last_message_at,
                c.waiting_for, c.language, c.tags, c.referred_to, c.created_at
         FROM conversations c JOIN consultation_people p ON p.id = c.person_id
         WHERE ($1::text IS NULL OR c.state = $1)
           AND ($2::text IS NULL
                OR ($2 = 'unassigned' AND c.assigned_to IS NULL)
                OR ($2 = 'mine' AND c.assigned_to = $3)
                OR ($2 = 'waiting_for_us' AND c.waiting_for = 'staff' AND c.state = 'open')
                OR ($2 = 'waiting_for_person' AND c.waiting_for = 'person' AND c.state = 'open'))
         ORDER BY c.last_message_at DESC, c.id DESC LIMIT $4 OFFSET $5",
    )
    .bind(&f.state)
    .bind(&f.view)
    .bind(st.who.token_id)
    .bind(f.limit)
    .bind(f.offset)
    .fetch_all(st.db)
    .await
}

/// One message as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    /// `person`, `staff` or `system` (notes are listed apart).
    pub from: String,
    pub text: Option<String>,
    pub media: Option<MediaView>,
    pub at: DateTime<Utc>,
    /// For staff replies to Telegram: `queued`, `sending`, `sent`,
    /// `failed` or `unknown` (a crash while sending: it may or may not
    /// have arrived, and is never sent again by itself).
    pub delivery: Option<String>,
    /// Why delivery failed, in Telegram's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_error: Option<String>,
}

/// A file in a message: what it is, and where the console fetches it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaView {
    #[serde(flatten)]
    pub media: Media,
    /// The console's proxy (staff listener): the bot token never leaves
    /// the server.
    pub url: String,
}

/// An internal note.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoteView {
    pub id: Uuid,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// A conversation, decrypted.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub item: ConversationItem,
    pub messages: Vec<MessageView>,
    pub notes: Vec<NoteView>,
}

async fn item(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<ConversationItem>> {
    sqlx::query_as(
        "SELECT c.id, c.number, p.pseudonym, c.state, c.channel, c.assigned_to, c.last_message_at,
                c.waiting_for, c.language, c.tags, c.referred_to, c.created_at
         FROM conversations c JOIN consultation_people p ON p.id = c.person_id WHERE c.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

type MessageRow = (
    Uuid,
    String,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    DateTime<Utc>,
    Option<String>,
    Option<String>,
);

/// The messages of a conversation, opened with its key.
pub async fn messages(
    conn: &mut PgConnection,
    key: &Key,
    id: Uuid,
    media_base: &str,
) -> anyhow::Result<(Vec<MessageView>, Vec<NoteView>)> {
    let rows: Vec<MessageRow> = sqlx::query_as(
        "SELECT id, author, body_ct, media_ct, created_at, delivery, delivery_error
         FROM conversation_messages WHERE conversation_id = $1 ORDER BY created_at, id",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    let (mut messages, mut notes) = (Vec::new(), Vec::new());
    for (mid, author, body, media, at, delivery, delivery_error) in rows {
        let text = body
            .map(|b| key.open_string(&b, &message_aad(id, mid, "body")))
            .transpose()?;
        if author == "note" {
            notes.push(NoteView {
                id: mid,
                text: text.unwrap_or_default(),
                at,
            });
            continue;
        }
        let media = match media {
            Some(m) => {
                let json = key.open(&m, &message_aad(id, mid, "media"))?;
                let s: SealedMedia = serde_json::from_slice(&json)?;
                Some(MediaView {
                    media: Media {
                        kind: s.kind,
                        file_id: s.file_id,
                        file_name: s.file_name,
                        mime_type: s.mime_type,
                        file_size: s.file_size,
                    },
                    url: format!("{media_base}/{id}/media/{mid}"),
                })
            }
            None => None,
        };
        messages.push(MessageView {
            id: mid,
            from: author,
            text,
            media,
            at,
            delivery,
            delivery_error,
        });
    }
    Ok((messages, notes))
}

/// Reads a conversation (audited).
pub async fn read(st: Staff<'_>, id: Uuid) -> Result<ConversationDetail, StaffError> {
    let mut act = st.act(Case::Conversation(id)).await?;
    // One snapshot for the conversation and its messages: a reply recorded
    // between the two reads must not show beside the state from before it.
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(act.conn())
        .await?;
    let item = item(act.conn(), id).await?.ok_or(StaffError::NotFound)?;
    let key = conversation_key(act.conn(), st.keys, id).await?;
    let key = key.ok_or(StaffError::NotFound)?;
    let staff_api = "/api/v1/admin/conversations";
    let (messages, notes) = messages(act.conn(), &key, id, staff_api).await?;
    act.commit("conversation.read", serde_json::json!({}))
        .await?;
    Ok(ConversationDetail {
        item,
        messages,
        notes,
    })
}

/// The id of a conversation from its uuid or number.
pub async fn resolve(db: &PgPool, key: &str) -> Result<Uuid, StaffError> {
    if let Ok(id) = key.parse::<Uuid>() {
        return Ok(id);
    }
    let number = super::canonical_number(key).ok_or(StaffError::NotFound)?;
    sqlx::query_scalar("SELECT id FROM conversations WHERE number = $1")
        .bind(number)
        .fetch_optional(db)
        .await?
        .ok_or(StaffError::NotFound)
}

/// Locks a conversation: (state, channel, language, staff thread).
async fn lock(
    tx: &mut PgConnection,
    id: Uuid,
) -> Result<(String, String, String, Option<i64>), StaffError> {
    sqlx::query_as(
        "SELECT state, channel, language, staff_thread_id FROM conversations WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(tx)
    .await?
    .ok_or(StaffError::NotFound)
}

/// The longest reply or note, in characters (Telegram's message limit).
pub const MAX_REPLY_CHARS: usize = 4096;

fn valid_text(text: &str) -> Result<&str, StaffError> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > MAX_REPLY_CHARS || t.contains('\0') {
        return Err(StaffError::Invalid(format!(
            "text: 1 to {MAX_REPLY_CHARS} characters, not only spaces"
        )));
    }
    Ok(t)
}

/// A reply: for Telegram queued for the notifier (delivered at most once),
/// for the web stored for the person to read. A reply to a closed
/// conversation reopens nothing: it is refused.
pub async fn reply(
    st: Staff<'_>,
    id: Uuid,
    text: &str,
    telegram_html: bool,
) -> Result<Uuid, StaffError> {
    let text = valid_text(text)?;
    if telegram_html {
        nasvyazi_telegram::text::check_html(text)
            .map_err(|e| StaffError::Invalid(format!("text: {e}")))?;
    }
    let mut act = st.act(Case::Conversation(id)).await?;
    let (state, channel, _, _) = lock(act.conn(), id).await?;
    if state != "open" {
        return Err(StaffError::Conflict("the conversation is closed"));
    }
    let key = conversation_key(act.conn(), st.keys, id).await?;
    let key = key.ok_or(StaffError::NotFound)?;
    let delivery = (channel == "telegram").then_some("queued");
    let mid = add_message(
        act.conn(),
        &key,
        id,
        NewMessage {
            author: "staff",
            staff_id: Some(st.who.token_id),
            text: Some(text),
            media: None,
            delivery,
            copy_of: None,
        },
    )
    .await?;
    // Whoever answers first takes an unassigned conversation.
    act.set("assigned_to = coalesce(assigned_to, $2)", st.who.token_id)
        .await?;
    act.commit(
        "conversation.replied",
        serde_json::json!({ "message": mid }),
    )
    .await?;
    metrics::counter!("nasvyazi_conversation_replies_total").increment(1);
    Ok(mid)
}

/// An internal note (never sent).
pub async fn note(st: Staff<'_>, id: Uuid, text: &str) -> Result<Uuid, StaffError> {
    let text = valid_text(text)?;
    let mut act = st.act(Case::Conversation(id)).await?;
    act.lock().await?;
    let key = conversation_key(act.conn(), st.keys, id).await?;
    let key = key.ok_or(StaffError::NotFound)?;
    let mid = add_message(
        act.conn(),
        &key,
        id,
        NewMessage {
            author: "note",
            staff_id: Some(st.who.token_id),
            text: Some(text),
            media: None,
            delivery: None,
            copy_of: None,
        },
    )
    .await?;
    act.commit("conversation.noted", serde_json::json!({ "message": mid }))
        .await?;
    Ok(mid)
}

/// What closing or reopening did, for the caller's side effects (the
/// staff topic).
pub struct StateChange {
    pub staff_thread_id: Option<i64>,
    pub channel: String,
    pub language: Lang,
}

/// Closes or reopens. Reopening fails if the person has opened another
/// conversation since.
pub async fn set_state(st: Staff<'_>, id: Uuid, open: bool) -> Result<StateChange, StaffError> {
    let mut act = st.act(Case::Conversation(id)).await?;
    let (state, channel, language, thread) = lock(act.conn(), id).await?;
    let target = if open { "open" } else { "closed" };
    if state != target {
        let set = "state = $2, closed_at = CASE WHEN $2 = 'closed' THEN now() END,
             waiting_since = CASE WHEN $2 = 'closed' THEN NULL ELSE waiting_since END";
        match act.set(set, target).await {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StaffError::Conflict(
                    "the person has another open conversation",
                ));
            }
            r => r?,
        }
        let action = if open { "reopened" } else { "closed" };
        act.audit(&format!("conversation.{action}"), serde_json::json!({}))
            .await?;
    }
    act.done().await?;
    Ok(StateChange {
        staff_thread_id: thread,
        channel,
        language: Lang::parse(&language).unwrap_or(Lang::Ru),
    })
}

/// Blocks the person behind a conversation: their messages are dropped
/// unanswered from now on, and the conversation closes.
pub async fn block(st: Staff<'_>, id: Uuid) -> Result<(), StaffError> {
    let mut act = st.act(Case::Conversation(id)).await?;
    act.lock().await?;
    sqlx::query(
        "UPDATE consultation_people SET blocked_at = coalesce(blocked_at, now())
         WHERE id = (SELECT person_id FROM conversations WHERE id = $1)",
    )
    .bind(id)
    .execute(act.conn())
    .await?;
    act.update("state = 'closed', closed_at = coalesce(closed_at, now()), waiting_since = NULL")
        .await?;
    act.commit("conversation.person_blocked", serde_json::json!({}))
        .await
}

/// Sets the conversation's topic tags (each from `consultations.tags`).
pub async fn set_tags(
    st: Staff<'_>,
    id: Uuid,
    tags: &[String],
    allowed: &[String],
) -> Result<(), StaffError> {
    if tags.iter().any(|t| !allowed.contains(t)) {
        return Err(StaffError::Invalid(format!(
            "tags: each one of {}",
            allowed.join(", ")
        )));
    }
    let mut act = st.act(Case::Conversation(id)).await?;
    act.lock().await?;
    let mut tags = tags.to_vec();
    tags.sort();
    tags.dedup();
    act.set("tags = $2", &tags).await?;
    act.commit("conversation.tagged", serde_json::json!({ "tags": tags }))
        .await
}

/// Refers the conversation to a speciality (lawyer, psychologist, medic):
/// console users with it are alerted (by number only).
pub async fn refer(
    st: Staff<'_>,
    id: Uuid,
    speciality: &str,
    allowed: &[String],
) -> Result<(), StaffError> {
    if !allowed.iter().any(|s| s == speciality) {
        return Err(StaffError::Invalid(format!(
            "to: one of {}",
            allowed.join(", ")
        )));
    }
    let mut act = st.act(Case::Conversation(id)).await?;
    act.lock().await?;
    act.set("referred_to = $2", speciality).await?;
    let alert = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO conversation_alerts (id, conversation_id, reason, speciality)
         VALUES ($1, $2, 'referral', $3)",
    )
    .bind(alert)
    .bind(id)
    .bind(speciality)
    .execute(act.conn())
    .await?;
    act.announce(Event::ConversationAlert { alert_id: alert })
        .await?;
    act.commit(
        "conversation.referred",
        serde_json::json!({ "to": speciality }),
    )
    .await
}

// ---------------------------------------------------------------- canned answers

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct CannedAnswer {
    pub id: Uuid,
    /// `ru`, `kk` or `en`.
    pub language: String,
    pub title: String,
    /// Telegram HTML, as a reply.
    pub body: String,
    pub updated_at: DateTime<Utc>,
}

pub async fn canned_list(db: &PgPool, lang: Option<Lang>) -> sqlx::Result<Vec<CannedAnswer>> {
    sqlx::query_as(
        "SELECT id, language, title, body, updated_at FROM canned_answers
         WHERE ($1::text IS NULL OR language = $1) ORDER BY language, title",
    )
    .bind(lang.map(Lang::code))
    .fetch_all(db)
    .await
}

/// Creates a canned answer, or replaces one (`id`).
pub async fn canned_save(
    db: &PgPool,
    who: &Principal,
    id: Option<Uuid>,
    lang: Lang,
    title: &str,
    body: &str,
) -> Result<CannedAnswer, StaffError> {
    let (title, body) = (title.trim(), body.trim());
    if title.is_empty() || title.chars().count() > 200 {
        return Err(StaffError::Invalid("title: 1 to 200 characters".into()));
    }
    if body.is_empty() || body.chars().count() > 4000 {
        return Err(StaffError::Invalid("body: 1 to 4000 characters".into()));
    }
    nasvyazi_telegram::text::check_html(body)
        .map_err(|e| StaffError::Invalid(format!("body: {e}")))?;
    let mut tx = db.begin().await?;
    let saved: Option<CannedAnswer> = sqlx::query_as(
        "INSERT INTO canned_answers (id, language, title, body) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET language = $2, title = $3, body = $4, updated_at = now()
         RETURNING id, language, title, body, updated_at",
    )
    .bind(id.unwrap_or_else(Uuid::now_v7))
    .bind(lang.code())
    .bind(title)
    .bind(body)
    .fetch_optional(&mut *tx)
    .await?;
    let saved = saved.ok_or(StaffError::NotFound)?;
    auth::audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "canned_answer.saved",
        Some(&format!("canned_answer:{}", saved.id)),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(saved)
}

pub async fn canned_delete(db: &PgPool, who: &Principal, id: Uuid) -> Result<(), StaffError> {
    let mut tx = db.begin().await?;
    let n = sqlx::query("DELETE FROM canned_answers WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StaffError::NotFound);
    }
    auth::audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "canned_answer.deleted",
        Some(&format!("canned_answer:{id}")),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
