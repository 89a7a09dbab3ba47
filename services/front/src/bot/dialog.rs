//! The dialog: `/start [code]` -> language buttons -> topic buttons ->
//! "done" makes the chat an active contact; `/stop` unsubscribes; `/lang`
//! changes the language; `/forget` erases the chat's contact and every
//! consultation (crypto-shredding); `/help` tells who we are. Anything
//! else a person writes opens or continues a consultation
//! ([`crate::consultations::bot`]); a survey in progress (`/survey <slug>`
//! or `/start survey_<slug>[_<token>]`, [`crate::surveys::bot`]) takes a
//! text only as the answer to a question that asks for typed input, and
//! `/cancel` leaves it. A chat that blocks the bot is
//! unsubscribed (Telegram tells us with a my_chat_member update).
//!
//! Private chats are spoken to; in the staff group (`consultations.
//! staff_group`) the bot reads consultants' messages in conversation
//! topics and nothing else. The person's name and username are never read.

use nasvyazi_shared::i18n::{Lang, t};
use nasvyazi_supporters::contacts::topics;
use serde_json::Value;
use sqlx::PgConnection;

use super::Bot;
use super::replies::Reply;
use super::store::{self, TgContact};
use super::ui::{self, data};
use crate::consultations::bot::{self as consult, Content, content};
use crate::surveys::bot as survey_bot;

/// What an update asks of the bot.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// A command in a private chat; `arg` is what follows it.
    Command {
        chat: i64,
        command: String,
        arg: Option<String>,
        /// The person's client language, a hint for the first answer.
        hint: Option<Lang>,
    },
    /// Anything else in a private chat: a consultation message.
    Message {
        chat: i64,
        message_id: i64,
        hint: Option<Lang>,
        content: Content,
    },
    /// A message in a forum topic of a supergroup (the staff group, if it
    /// is the configured one) with something to send: text, a caption or
    /// a supported file. Service messages (a topic renamed, closed or
    /// reopened, a pin, members joining or leaving, a new title...) and
    /// what a person could not be sent (a location, a poll...) are
    /// [`Incoming::Ignored`]: none of them is a consultant's answer.
    Topic {
        chat: i64,
        /// The chat has a username: it is public.
        public: bool,
        thread: i64,
        message_id: i64,
        text: Option<String>,
        from_bot: bool,
        /// The staff member's Telegram user id (sealed in the audit, never
        /// stored or logged in plain).
        from: Option<i64>,
    },
    /// A button under one of the bot's messages in a private chat.
    Button {
        chat: i64,
        message_id: i64,
        callback_id: String,
        data: String,
    },
    /// The person blocked the bot.
    Blocked { chat: i64 },
    /// A poll the bot sent changed (votes, closed): the whole Poll.
    Poll { poll: Value },
    /// Anything else (groups, edits, the person unblocking the bot).
    Ignored,
}

impl Incoming {
    /// Reads what matters from an update; never fails.
    pub fn parse(update: &Value) -> Incoming {
        let private = |chat: &Value| chat["type"] == "private";
        let hint_of = |m: &Value| {
            m["from"]["language_code"]
                .as_str()
                .and_then(|c| Lang::parse(c.split('-').next().unwrap_or_default()))
        };
        if let Some(m) = update.get("message") {
            let (chat, text) = (&m["chat"], m["text"].as_str().unwrap_or_default());
            if chat["type"] == "supergroup"
                && m["is_topic_message"] == true
                && let (Some(id), Some(thread), Some(message_id)) = (
                    chat["id"].as_i64(),
                    m["message_thread_id"].as_i64(),
                    m["message_id"].as_i64(),
                )
            {
                if content(m) == Content::Unsupported {
                    return Incoming::Ignored;
                }
                let usernames = chat["active_usernames"]
                    .as_array()
                    .is_some_and(|u| !u.is_empty());
                return Incoming::Topic {
                    chat: id,
                    public: chat["username"].is_string() || usernames,
                    thread,
                    message_id,
                    text: m["text"]
                        .as_str()
                        .or(m["caption"].as_str())
                        .map(str::to_string),
                    from_bot: m["from"]["is_bot"] == true,
                    from: m["from"]["id"].as_i64(),
                };
            }
            let Some(id) = chat["id"].as_i64().filter(|_| private(chat)) else {
                return Incoming::Ignored;
            };
            if let Some(command) = text.strip_prefix('/') {
                let mut words = command.split_whitespace();
                let command = words.next().unwrap_or_default();
                // `/start@our_bot` in a client that adds the bot's name.
                let command = command.split('@').next().unwrap_or_default();
                return Incoming::Command {
                    chat: id,
                    command: command.to_ascii_lowercase(),
                    arg: words.next().map(str::to_string),
                    hint: hint_of(m),
                };
            }
            return Incoming::Message {
                chat: id,
                message_id: m["message_id"].as_i64().unwrap_or_default(),
                hint: hint_of(m),
                content: content(m),
            };
        }
        if let Some(q) = update.get("callback_query") {
            let m = &q["message"];
            return match (
                m["chat"]["id"].as_i64(),
                m["message_id"].as_i64(),
                q["id"].as_str(),
            ) {
                (Some(chat), Some(message_id), Some(id)) if private(&m["chat"]) => {
                    Incoming::Button {
                        chat,
                        message_id,
                        callback_id: id.to_string(),
                        data: q["data"].as_str().unwrap_or_default().to_string(),
                    }
                }
                _ => Incoming::Ignored,
            };
        }
        if let Some(poll) = update.get("poll") {
            return Incoming::Poll { poll: poll.clone() };
        }
        if let Some(m) = update.get("my_chat_member")
            && private(&m["chat"])
            && m["new_chat_member"]["status"] == "kicked"
            && let Some(chat) = m["chat"]["id"].as_i64()
        {
            return Incoming::Blocked { chat };
        }
        Incoming::Ignored
    }
}

/// A deep-link code as Telegram allows it; anything else is dropped.
fn start_code(arg: Option<&str>) -> Option<&str> {
    arg.filter(|a| {
        (1..=64).contains(&a.len())
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// Applies what an update asks in the transaction; returns the answers to
/// send once it has committed.
pub async fn apply(
    tx: &mut PgConnection,
    bot: &Bot,
    incoming: Incoming,
) -> anyhow::Result<Vec<Reply>> {
    let config = &bot.config;
    let send = |chat: i64, html: String, keyboard: Option<Value>| Reply::Send {
        chat,
        html,
        keyboard,
    };
    Ok(match incoming {
        Incoming::Ignored => Vec::new(),
        Incoming::Poll { poll } => {
            crate::polls::on_update(tx, &poll).await?;
            Vec::new()
        }
        Incoming::Message {
            chat,
            message_id,
            hint,
            content,
        } => {
            // A survey in progress takes a text as its answer only when its
            // question asks for typed input; anything else is a message to
            // us (the automatic answer with the emergency text), and the
            // person is reminded that the survey waits.
            let mut reminder = None;
            if let Content::Text(text) = &content {
                match survey_bot::on_text(tx, bot, chat, text).await? {
                    survey_bot::TextOutcome::Answered(replies) => return Ok(replies),
                    survey_bot::TextOutcome::NotAnAnswer { reminder: r } => reminder = r,
                }
            }
            let mut replies = consult::on_message(tx, bot, chat, message_id, hint, content).await?;
            replies.extend(reminder);
            replies
        }
        Incoming::Topic {
            chat,
            public,
            thread,
            message_id,
            text,
            from_bot,
            from,
        } => {
            let ours = crate::consultations::staff_group::is_staff_group(
                &config.consultations.staff_group,
                chat,
            );
            if !ours || from_bot {
                return Ok(Vec::new());
            }
            crate::consultations::staff_group::on_topic_message(
                tx,
                bot,
                crate::consultations::staff_group::TopicMessage {
                    chat,
                    public,
                    thread,
                    message_id,
                    text: text.as_deref(),
                    from,
                },
            )
            .await?
        }
        Incoming::Blocked { chat } => {
            if let Some(c) = contact(tx, bot, chat).await? {
                store::unsubscribe(tx, c.id, "blocked the bot").await?;
            }
            Vec::new()
        }
        Incoming::Command {
            chat,
            command,
            arg,
            hint,
        } => match command.as_str() {
            "survey" => survey_bot::start(tx, bot, chat, arg.as_deref(), None, hint).await?,
            // The way out of a survey in progress (also a button under
            // every question).
            "cancel" => match survey_bot::cancel(tx, bot, chat).await? {
                Some(replies) => replies,
                None => {
                    let lang = contact(tx, bot, chat)
                        .await?
                        .map_or(hint.unwrap_or(Lang::Ru), |c| c.lang());
                    vec![send(chat, t(lang, "survey_bot.nothing_to_cancel"), None)]
                }
            },
            "start" => {
                let code = start_code(arg.as_deref());
                if let Some((slug, token)) = code.and_then(survey_bot::deep_link) {
                    return survey_bot::start(tx, bot, chat, Some(slug), token, hint).await;
                }
                let c = match contact(tx, bot, chat).await? {
                    Some(c) => store::restart(tx, c.id, code).await?,
                    None => {
                        let lang = hint.unwrap_or(Lang::Ru);
                        store::create_pending(tx, &bot.keys, chat, lang, code).await?
                    }
                };
                vec![send(
                    chat,
                    ui::welcome(config, c.lang()),
                    Some(ui::language_keyboard(data::LANG)),
                )]
            }
            "stop" => match contact(tx, bot, chat).await? {
                Some(c) if c.status != "unsubscribed" => {
                    store::unsubscribe(tx, c.id, "/stop").await?;
                    vec![send(chat, t(c.lang(), "telegram.stopped"), None)]
                }
                c => {
                    let lang = c.map_or(hint.unwrap_or(Lang::Ru), |c| c.lang());
                    vec![send(chat, t(lang, "telegram.not_subscribed"), None)]
                }
            },
            // Erasure on request: the row and its data key go (crypto-
            // shredding); the audit says that it happened, never whom.
            "forget" => {
                let consulted = consult::forget(tx, bot, chat).await?;
                let surveyed = survey_bot::forget(tx, bot, chat).await?;
                match (contact(tx, bot, chat).await?, consulted) {
                    (Some(c), _) => {
                        nasvyazi_supporters::subscriptions::erase(tx, c.id).await?;
                        nasvyazi_supporters::subscriptions::audit_erasure(tx, "telegram").await?;
                        vec![send(chat, t(c.lang(), "telegram.forgotten"), None)]
                    }
                    (None, Some(lang)) => {
                        vec![send(chat, t(lang, "consult.forgotten"), None)]
                    }
                    (None, None) if surveyed => {
                        let lang = hint.unwrap_or(Lang::Ru);
                        vec![send(chat, t(lang, "survey_bot.forgotten"), None)]
                    }
                    (None, None) => {
                        let lang = hint.unwrap_or(Lang::Ru);
                        vec![send(chat, t(lang, "telegram.nothing_to_forget"), None)]
                    }
                }
            }
            "lang" => match contact(tx, bot, chat).await? {
                Some(c) if c.status != "unsubscribed" => vec![send(
                    chat,
                    t(c.lang(), "telegram.change_language"),
                    Some(ui::language_keyboard(data::SET_LANG)),
                )],
                c => {
                    let lang = c.map_or(hint.unwrap_or(Lang::Ru), |c| c.lang());
                    vec![send(chat, t(lang, "telegram.not_subscribed"), None)]
                }
            },
            "help" => {
                let lang = contact(tx, bot, chat)
                    .await?
                    .map_or(hint.unwrap_or(Lang::Ru), |c| c.lang());
                vec![send(chat, ui::help(config, lang), None)]
            }
            _ => {
                let lang = contact(tx, bot, chat)
                    .await?
                    .map_or(hint.unwrap_or(Lang::Ru), |c| c.lang());
                vec![send(chat, t(lang, "consult.unknown_command"), None)]
            }
        },
        Incoming::Button {
            chat,
            message_id,
            callback_id,
            data,
        } => {
            let mut replies = vec![Reply::Answer { callback_id }];
            if data.starts_with(survey_bot::BUTTON) {
                replies.extend(survey_bot::on_button(tx, bot, chat, message_id, &data).await?);
                return Ok(replies);
            }
            if let Some(code) = data.strip_prefix(consult::LANG_BUTTON) {
                replies.extend(consult::on_language(tx, bot, chat, message_id, code).await?);
                return Ok(replies);
            }
            let edit = |html: String, keyboard: Option<Value>| Reply::Edit {
                chat,
                message_id,
                html,
                keyboard,
            };
            let c = contact(tx, bot, chat)
                .await?
                .filter(|c| c.status != "unsubscribed");
            let Some(c) = c else {
                replies.push(edit(t(Lang::Ru, "telegram.stale_button"), None));
                return Ok(replies);
            };
            if let Some(code) = data.strip_prefix(data::LANG) {
                let lang = Lang::parse(code).unwrap_or(c.lang());
                store::set_language(tx, c.id, lang).await?;
                replies.push(edit(
                    ui::choose_topics(lang),
                    Some(ui::topics_keyboard(lang, &c.topics)),
                ));
            } else if let Some(code) = data.strip_prefix(data::SET_LANG) {
                let lang = Lang::parse(code).unwrap_or(c.lang());
                store::set_language(tx, c.id, lang).await?;
                replies.push(edit(t(lang, "telegram.language_changed"), None));
            } else if let Some(key) = data.strip_prefix(data::TOPIC) {
                if topics().iter().any(|k| k == key) {
                    let chosen = store::toggle_topic(tx, c.id, key).await?;
                    replies.push(edit(
                        ui::choose_topics(c.lang()),
                        Some(ui::topics_keyboard(c.lang(), &chosen)),
                    ));
                }
            } else if data == data::DONE {
                let newly = store::activate(tx, c.id).await?;
                replies.push(edit(ui::finished(c.lang(), newly, &c.topics), None));
            }
            replies
        }
    })
}

/// The chat's contact, if it has one (locked for the transaction).
async fn contact(tx: &mut PgConnection, bot: &Bot, chat: i64) -> sqlx::Result<Option<TgContact>> {
    store::find(tx, &store::blind_index(&bot.keys, chat)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_commands_buttons_and_blocks_from_private_chats_only() {
        let msg = |chat_type: &str, text: &str| {
            json!({"update_id": 1, "message": {"message_id": 1, "text": text,
                "from": {"id": 5, "language_code": "kk"},
                "chat": {"id": 5, "type": chat_type}}})
        };
        assert_eq!(
            Incoming::parse(&msg("private", "/start@fake_bot spring-2026")),
            Incoming::Command {
                chat: 5,
                command: "start".into(),
                arg: Some("spring-2026".into()),
                hint: Some(Lang::Kk)
            }
        );
        assert_eq!(Incoming::parse(&msg("group", "/start")), Incoming::Ignored);
        assert_eq!(
            Incoming::parse(&msg("private", "hello")),
            Incoming::Message {
                chat: 5,
                message_id: 1,
                hint: Some(Lang::Kk),
                content: Content::Text("hello".into())
            }
        );
        let topic = json!({"update_id": 3, "message": {"message_id": 9, "text": "ответ",
            "message_thread_id": 4, "is_topic_message": true, "from": {"id": 7, "is_bot": false},
            "chat": {"id": -100, "type": "supergroup", "is_forum": true}}});
        assert!(matches!(
            Incoming::parse(&topic),
            Incoming::Topic {
                chat: -100,
                thread: 4,
                message_id: 9,
                from_bot: false,
                from: Some(7),
                public: false,
                ..
            }
        ));
        // Service messages in a topic are no answer: a rename, a close, a
        // pin, members joining or leaving, a new title.
        for (field, value) in [
            ("forum_topic_edited", json!({"name": "renamed"})),
            ("forum_topic_closed", json!({})),
            ("forum_topic_reopened", json!({})),
            (
                "forum_topic_created",
                json!({"name": "x", "icon_color": 7_322_096}),
            ),
            ("pinned_message", json!({"message_id": 5, "text": "ответ"})),
            (
                "new_chat_members",
                json!([{"id": 8, "is_bot": false, "first_name": "A"}]),
            ),
            (
                "left_chat_member",
                json!({"id": 8, "is_bot": false, "first_name": "A"}),
            ),
            ("new_chat_title", json!("Staff")),
            ("location", json!({"latitude": 43.2, "longitude": 76.9})),
        ] {
            let mut service = topic.clone();
            let m = service["message"].as_object_mut().unwrap();
            m.remove("text");
            m.insert(field.into(), value);
            assert_eq!(Incoming::parse(&service), Incoming::Ignored, "{field}");
        }
        // A photo without a caption is an answer; a public group says so.
        let mut photo = topic.clone();
        let m = photo["message"].as_object_mut().unwrap();
        m.remove("text");
        m.insert(
            "photo".into(),
            json!([{"file_id": "p", "file_unique_id": "u", "width": 9, "height": 9}]),
        );
        photo["message"]["chat"]["username"] = json!("open_staff");
        assert!(matches!(
            Incoming::parse(&photo),
            Incoming::Topic {
                text: None,
                public: true,
                ..
            }
        ));
        let block = json!({"update_id": 2, "my_chat_member": {"chat": {"id": 5, "type": "private"},
            "new_chat_member": {"status": "kicked"}}});
        assert_eq!(Incoming::parse(&block), Incoming::Blocked { chat: 5 });
        assert_eq!(start_code(Some("spring-2026")), Some("spring-2026"));
        assert_eq!(start_code(Some("bad code!")), None);
    }
}
