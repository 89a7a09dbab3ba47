//! The person's side in the bot: anything that is not a command opens (or
//! continues) a conversation. The first message of a conversation gets the
//! automatic answer (received, when we answer, the emergency text), in the
//! person's language, asked once if unknown. Photos, documents, voice
//! messages and video notes are kept as Telegram `file_id`s, sealed; our
//! disk never holds the file. Locations, contacts and the like are refused
//! for the person's own safety, and nothing of them is stored.
//!
//! The help path is never silenced: a blocked person, one over the flood
//! limit, or anyone who writes while the bot's budget of new conversations
//! is spent gets the emergency text (and nothing is stored). The bot's
//! budget is its own: the web's `/talk` spends another.

use nasvyazi_shared::i18n::{Lang, t};
use nasvyazi_shared::limits::{self, Budget};
use serde_json::Value;
use sqlx::PgConnection;

use super::store::{self, Media, NewMessage, Person};
use super::{auto_answer, chat_index};
use crate::bot::Bot;
use crate::bot::replies::{Mirror, Reply};
use crate::bot::ui;

/// Callback data of the language question.
pub const LANG_BUTTON: &str = "clang:";

/// What a person's message carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text(String),
    Media {
        media: MediaRef,
        caption: Option<String>,
    },
    /// Something we do not accept (location, contact, poll...).
    Unsupported,
}

/// A file as the update names it.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRef {
    pub kind: &'static str,
    pub file_id: String,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub file_size: Option<i64>,
}

impl MediaRef {
    fn to_media(&self) -> Media {
        Media {
            kind: self.kind.to_string(),
            file_id: self.file_id.clone(),
            file_name: self.file_name.clone(),
            mime_type: self.mime_type.clone(),
            file_size: self.file_size,
        }
    }
}

/// Reads what a message carries; never fails.
pub fn content(m: &Value) -> Content {
    let caption = m["caption"].as_str().map(str::to_string);
    let file = |kind: &'static str, f: &Value| {
        f["file_id"].as_str().map(|id| MediaRef {
            kind,
            file_id: id.to_string(),
            file_name: f["file_name"].as_str().map(str::to_string),
            mime_type: f["mime_type"].as_str().map(str::to_string),
            file_size: f["file_size"].as_i64(),
        })
    };
    // A photo comes in several sizes: the largest is the last.
    if let Some(sizes) = m["photo"].as_array()
        && let Some(media) = sizes.last().and_then(|p| file("photo", p))
    {
        return Content::Media { media, caption };
    }
    for kind in [
        "document",
        "voice",
        "video_note",
        "video",
        "audio",
        "animation",
        "sticker",
    ] {
        if m.get(kind).is_some() {
            // An animation also carries `document`; prefer the animation.
            let kind = if kind == "document" && m.get("animation").is_some() {
                "animation"
            } else {
                kind
            };
            if let Some(media) = file(kind, &m[kind]) {
                return Content::Media { media, caption };
            }
        }
    }
    match m["text"].as_str() {
        Some(text) if !text.trim().is_empty() => Content::Text(text.to_string()),
        _ => Content::Unsupported,
    }
}

/// The language to answer in, if we know it: the person's, else their
/// subscription's, else their client's.
async fn known_language(
    tx: &mut PgConnection,
    bot: &Bot,
    person: Option<&Person>,
    chat: i64,
    hint: Option<Lang>,
) -> sqlx::Result<Option<Lang>> {
    if let Some(lang) = person.and_then(|p| p.language) {
        return Ok(Some(lang));
    }
    let bi = crate::bot::store::blind_index(&bot.keys, chat);
    let subscribed: Option<String> = sqlx::query_scalar(
        "SELECT language FROM contacts WHERE channel = 'telegram' AND blind_index = $1",
    )
    .bind(bi)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(subscribed.as_deref().and_then(Lang::parse).or(hint))
}

/// The bot's new-conversation budget: its own, never shared with the web's
/// (a flood of `/talk` cannot silence the bot).
pub const NEW_CONVERSATIONS_KEY: &str = "new-conversations:bot";

/// The answer to a message that is not stored (a flood, the bot's budget
/// of new conversations, a blocked person): the emergency text, always.
/// It costs one message and stores nothing. A blocked person gets the
/// emergency text alone (they are not told they are blocked); the others
/// are told to write again.
fn unstored(
    c: &nasvyazi_shared::config::ConsultationsConfig,
    chat: i64,
    lang: Lang,
    why: &'static str,
) -> Vec<Reply> {
    metrics::counter!("nasvyazi_conversation_messages_dropped_total", "reason" => why).increment(1);
    metrics::counter!("nasvyazi_emergency_answers_total", "reason" => why).increment(1);
    let html = if why == "blocked" {
        c.emergency_text.get(lang).to_string()
    } else {
        format!(
            "{}\n\n{}",
            super::html_escape(&t(lang, "consult.not_stored")),
            c.emergency_text.get(lang)
        )
    };
    vec![Reply::Send {
        chat,
        html,
        keyboard: None,
    }]
}

/// A message from a person in a private chat. Whatever happens to it —
/// stored, refused by a budget, from a blocked person — the person gets
/// the emergency text: with the automatic answer when a conversation
/// opens, alone (and nothing stored) when the message is refused.
pub async fn on_message(
    tx: &mut PgConnection,
    bot: &Bot,
    chat: i64,
    message_id: i64,
    hint: Option<Lang>,
    content: Content,
) -> anyhow::Result<Vec<Reply>> {
    let c = &bot.config.consultations;
    let found = store::find_person(tx, &bot.keys, chat).await?;
    let lang = known_language(tx, bot, found.as_ref(), chat, hint).await?;
    let answer_lang = lang.unwrap_or(Lang::Ru);
    if found.as_ref().is_some_and(|p| p.blocked) {
        return Ok(unstored(c, chat, answer_lang, "blocked"));
    }
    let flood_key = limits::key(&bot.keys, "consult-person", &chat_index(&bot.keys, chat));
    if limits::take(
        tx,
        &flood_key,
        Budget::per_minute(c.person_messages_per_minute),
    )
    .await?
    .is_err()
    {
        return Ok(unstored(c, chat, answer_lang, "flood"));
    }
    if content == Content::Unsupported {
        // A location or a contact may come from someone in danger: the
        // refusal carries the emergency text too.
        return Ok(vec![Reply::Send {
            chat,
            html: format!(
                "{}\n\n{}",
                super::html_escape(&t(answer_lang, "consult.unsupported")),
                c.emergency_text.get(answer_lang)
            ),
            keyboard: None,
        }]);
    }
    let has_open = match &found {
        Some(p) => sqlx::query_scalar::<_, i32>(
            "SELECT 1 FROM conversations WHERE person_id = $1 AND state = 'open'",
        )
        .bind(p.id)
        .fetch_optional(&mut *tx)
        .await?
        .is_some(),
        None => false,
    };
    if !has_open
        && limits::take(
            tx,
            &limits::global_key(NEW_CONVERSATIONS_KEY),
            Budget::per_minute(c.new_conversations_per_minute),
        )
        .await?
        .is_err()
    {
        return Ok(unstored(c, chat, answer_lang, "global"));
    }
    let person = match found {
        Some(p) => p,
        None => store::create_person(tx, &bot.keys, Some(chat), lang).await?,
    };
    let opened = store::open_for(tx, &bot.keys, &person, "telegram", answer_lang, None).await?;
    let key = store::conversation_key(tx, &bot.keys, opened.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("conversation vanished"))?;
    let (text, media) = match &content {
        Content::Text(text) => (Some(text.as_str()), None),
        Content::Media { media, caption } => (caption.as_deref(), Some(media.to_media())),
        Content::Unsupported => (None, None),
    };
    store::add_message(
        tx,
        &key,
        opened.id,
        NewMessage {
            author: "person",
            staff_id: None,
            text,
            media: media.as_ref(),
            delivery: None,
            copy_of: None,
        },
    )
    .await?;
    tracing::info!(conversation_id = %opened.id, new = opened.created, "person wrote");
    let mut replies = Vec::new();
    if opened.created {
        let html = auto_answer(c, answer_lang, chrono::Utc::now());
        store::add_message(
            tx,
            &key,
            opened.id,
            NewMessage {
                author: "system",
                staff_id: None,
                text: Some(&html),
                media: None,
                delivery: None,
                copy_of: None,
            },
        )
        .await?;
        replies.push(Reply::Send {
            chat,
            html,
            keyboard: None,
        });
        if lang.is_none() {
            replies.push(Reply::Send {
                chat,
                html: t(Lang::Ru, "consult.choose_language"),
                keyboard: Some(ui::language_keyboard(LANG_BUTTON)),
            });
        }
    }
    if !c.staff_group.trim().is_empty() {
        replies.push(Reply::Mirror(Mirror {
            conversation_id: opened.id,
            from_chat: chat,
            message_id,
        }));
    }
    Ok(replies)
}

/// The answer to the language question: remembered, and the automatic
/// answer again in that language.
pub async fn on_language(
    tx: &mut PgConnection,
    bot: &Bot,
    chat: i64,
    message_id: i64,
    code: &str,
) -> anyhow::Result<Vec<Reply>> {
    let Some(lang) = Lang::parse(code) else {
        return Ok(Vec::new());
    };
    let Some(person) = store::find_person(tx, &bot.keys, chat).await? else {
        return Ok(vec![Reply::Edit {
            chat,
            message_id,
            html: t(Lang::Ru, "telegram.stale_button"),
            keyboard: None,
        }]);
    };
    store::set_person_language(tx, person.id, lang).await?;
    Ok(vec![Reply::Edit {
        chat,
        message_id,
        html: auto_answer(&bot.config.consultations, lang, chrono::Utc::now()),
        keyboard: None,
    }])
}

/// `/forget`: erases the person and every conversation of theirs. Whether
/// there was anything.
pub async fn forget(tx: &mut PgConnection, bot: &Bot, chat: i64) -> sqlx::Result<Option<Lang>> {
    match store::find_person(tx, &bot.keys, chat).await? {
        Some(p) => {
            store::erase_person(tx, p.id, "telegram").await?;
            Ok(Some(p.language.unwrap_or(Lang::Ru)))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_text_media_and_refuses_the_rest() {
        assert_eq!(
            content(&json!({"text": "help"})),
            Content::Text("help".into())
        );
        let photo = content(&json!({"photo": [
            {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
            {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 960, "file_size": 99}],
            "caption": "look"}));
        match photo {
            Content::Media { media, caption } => {
                assert_eq!(media.file_id, "big");
                assert_eq!(media.kind, "photo");
                assert_eq!(caption.as_deref(), Some("look"));
            }
            other => panic!("{other:?}"),
        }
        let voice =
            content(&json!({"voice": {"file_id": "v", "duration": 3, "mime_type": "audio/ogg"}}));
        assert!(matches!(voice, Content::Media { media, .. } if media.kind == "voice"));
        let gif = content(&json!({"animation": {"file_id": "a"}, "document": {"file_id": "a"}}));
        assert!(matches!(gif, Content::Media { media, .. } if media.kind == "animation"));
        assert_eq!(
            content(&json!({"location": {"latitude": 1.0, "longitude": 2.0}})),
            Content::Unsupported
        );
    }
}
