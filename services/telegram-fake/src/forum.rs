//! Forum topics: createForumTopic, editForumTopic, closeForumTopic,
//! reopenForumTopic, deleteForumTopic; and deleteMessage. Each change
//! leaves a service message in the topic (forum_topic_created, _edited,
//! _closed, _reopened) from the bot, and the bot gets it as a `message`
//! update: the Bot API server skips a bot's own outgoing messages except
//! such service messages (`need_skip_update_message` in its Client.cpp).
//! Deleting a topic deletes every message in it, its creation included.

use serde_json::{Value, json};

use crate::Shared;
use crate::api::{Outcome, check_blocked, resolve_chat};
use crate::error::{ApiError, Success};
use crate::params::Params;
use crate::state::{BotStatus, Chat, ChatKind, State, StoredMessage, Topic, unix_now};

/// The icon colours Telegram allows; the first is the default here.
pub const ICON_COLORS: [i64; 6] = [
    0x6F_B9F0, 0xFF_D67E, 0xCB_86DB, 0x8E_EE98, 0xFF_93B2, 0xFB_6F5F,
];
/// The longest topic name, in characters.
pub const MAX_TOPIC_NAME_CHARS: usize = 128;

/// The forum `chat_id` names, for the bot of `token`.
fn forum(state: &State, token: &str, params: &Params) -> Result<(i64, Chat), ApiError> {
    let chat_param = params
        .string("chat_id")
        .ok_or_else(|| ApiError::bad_request("chat_id is empty"))?;
    let bot = state.bots.get(token).ok_or_else(ApiError::unauthorized)?;
    let chat = resolve_chat(state, bot, &chat_param)?;
    check_blocked(bot, &chat)?;
    if chat.kind != ChatKind::Supergroup || !chat.is_forum {
        return Err(ApiError::bad_request("the chat is not a forum"));
    }
    Ok((bot.id, chat))
}

/// Stores a service message of the bot in a topic; returns its id.
fn service_message(
    state: &mut State,
    token: &str,
    chat: &Chat,
    thread: Option<i64>,
    method: &'static str,
    field: &str,
    value: Value,
) -> Result<i64, ApiError> {
    let bot = state
        .bots
        .get_mut(token)
        .ok_or_else(ApiError::unauthorized)?;
    let (bot_id, bot_user) = (bot.id, bot.user_json());
    let message_id = bot.next_message_id(chat.id);
    let thread = thread.unwrap_or(message_id);
    let mut message = json!({
        "message_id": message_id,
        "message_thread_id": thread,
        "from": bot_user,
        "chat": chat.to_json(),
        "date": unix_now(),
        "is_topic_message": true,
    });
    if thread != message_id
        && let Some(root) = state.find_message(bot_id, chat.id, thread)
    {
        message["reply_to_message"] = root.message.clone();
    }
    message[field] = value;
    state.store(StoredMessage {
        bot_id,
        chat_id: chat.id,
        message_id,
        outgoing: true,
        message: message.clone(),
        method,
        forwarded: false,
        protect_content: false,
        thread_id: Some(thread),
    });
    state
        .push_update(token, "message", message)
        .map_err(|_| ApiError::unauthorized())?;
    Ok(message_id)
}

/// createForumTopic.
pub fn create(shared: &Shared, token: &str, params: &Params) -> Outcome {
    let mut guard = shared.lock();
    let state = &mut *guard;
    let (bot_id, chat) = forum(state, token, params)?;
    if !chat.bot_rights.is_some_and(|r| r.can_manage_topics) {
        return Err(ApiError::bad_request("not enough rights to create a topic"));
    }
    let name = params.string("name").unwrap_or_default();
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::bad_request("TOPIC_TITLE_EMPTY"));
    }
    if name.chars().count() > MAX_TOPIC_NAME_CHARS {
        return Err(ApiError::bad_request("TOPIC_TITLE_TOO_LONG"));
    }
    let icon_color = params.int("icon_color").unwrap_or(ICON_COLORS[0]);
    if !ICON_COLORS.contains(&icon_color) {
        return Err(ApiError::bad_request("TOPIC_ICON_COLOR_INVALID"));
    }
    let created = json!({"name": name, "icon_color": icon_color});
    let thread = service_message(
        state,
        token,
        &chat,
        None,
        "createForumTopic",
        "forum_topic_created",
        created,
    )?;
    state.topics.insert(
        (bot_id, chat.id, thread),
        Topic {
            name: name.to_string(),
            icon_color,
            icon_custom_emoji_id: None,
            closed: false,
        },
    );
    Ok(Success::of(json!({
        "message_thread_id": thread,
        "name": name,
        "icon_color": icon_color,
    })))
}

/// closeForumTopic (`closed` true) and reopenForumTopic.
pub fn set_closed(shared: &Shared, token: &str, params: &Params, closed: bool) -> Outcome {
    let mut guard = shared.lock();
    let state = &mut *guard;
    let (bot_id, chat) = forum(state, token, params)?;
    let thread = params.int("message_thread_id").unwrap_or(0);
    let topic = state
        .topics
        .get_mut(&(bot_id, chat.id, thread))
        .ok_or_else(|| ApiError::bad_request("message thread not found"))?;
    if topic.closed == closed {
        return Err(ApiError::bad_request("TOPIC_NOT_MODIFIED"));
    }
    topic.closed = closed;
    let (method, field) = if closed {
        ("closeForumTopic", "forum_topic_closed")
    } else {
        ("reopenForumTopic", "forum_topic_reopened")
    };
    service_message(state, token, &chat, Some(thread), method, field, json!({}))?;
    Ok(Success::of(json!(true)))
}

/// The topic `message_thread_id` names, or Telegram's `TOPIC_ID_INVALID`.
fn known_thread(state: &State, bot_id: i64, chat: &Chat, params: &Params) -> Result<i64, ApiError> {
    let thread = params.int("message_thread_id").unwrap_or(0);
    if thread <= 0 {
        return Err(ApiError::bad_request(
            "invalid forum topic identifier specified",
        ));
    }
    if !state.topics.contains_key(&(bot_id, chat.id, thread)) {
        return Err(ApiError::bad_request("TOPIC_ID_INVALID"));
    }
    Ok(thread)
}

/// editForumTopic: a new name (1-128 characters; empty or absent keeps
/// the old one) and/or a custom emoji icon (an empty string removes it).
/// Nothing to change: true and no service message; the same name again:
/// `TOPIC_NOT_MODIFIED`.
pub fn edit(shared: &Shared, token: &str, params: &Params) -> Outcome {
    let mut guard = shared.lock();
    let state = &mut *guard;
    let (bot_id, chat) = forum(state, token, params)?;
    let thread = known_thread(state, bot_id, &chat, params)?;
    let name = params
        .string("name")
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_TOPIC_NAME_CHARS)
    {
        return Err(ApiError::bad_request("TOPIC_TITLE_TOO_LONG"));
    }
    let icon = params.string("icon_custom_emoji_id");
    if name.is_none() && icon.is_none() {
        return Ok(Success::of(json!(true)));
    }
    let topic = state
        .topics
        .get_mut(&(bot_id, chat.id, thread))
        .ok_or_else(|| ApiError::bad_request("TOPIC_ID_INVALID"))?;
    let edited = edit_topic(topic, name, icon).map_err(ApiError::bad_request)?;
    service_message(
        state,
        token,
        &chat,
        Some(thread),
        "editForumTopic",
        "forum_topic_edited",
        edited,
    )?;
    Ok(Success::of(json!(true)))
}

/// Applies a rename and/or an icon to a topic; returns the
/// ForumTopicEdited object, or `TOPIC_NOT_MODIFIED` when nothing changes.
pub fn edit_topic(
    topic: &mut Topic,
    name: Option<String>,
    icon: Option<String>,
) -> Result<Value, &'static str> {
    let name = name.filter(|n| *n != topic.name);
    let icon = icon.filter(|i| Some(i) != topic.icon_custom_emoji_id.as_ref());
    if name.is_none() && icon.is_none() {
        return Err("TOPIC_NOT_MODIFIED");
    }
    let mut edited = json!({});
    if let Some(name) = name {
        edited["name"] = json!(name);
        topic.name = name;
    }
    if let Some(icon) = icon {
        edited["icon_custom_emoji_id"] = json!(icon);
        topic.icon_custom_emoji_id = (!icon.is_empty()).then_some(icon);
    }
    Ok(edited)
}

/// The most messages a topic may hold for a bot without
/// `can_delete_messages` to delete it (its own topic, nobody else wrote).
pub const DELETE_OWN_TOPIC_MAX_MESSAGES: usize = 11;

/// deleteForumTopic: the topic and every message in it go (pins too).
/// It takes an administrator with `can_delete_messages`, except, as TDLib
/// allows, for the topic's creator when nobody else wrote in it and it
/// holds at most 11 messages.
pub fn delete_topic(shared: &Shared, token: &str, params: &Params) -> Outcome {
    let mut guard = shared.lock();
    let state = &mut *guard;
    let (bot_id, chat) = forum(state, token, params)?;
    let thread = known_thread(state, bot_id, &chat, params)?;
    let in_topic = |m: &StoredMessage| {
        m.bot_id == bot_id && m.chat_id == chat.id && m.thread_id == Some(thread)
    };
    let membership = state.membership(&chat);
    let may_delete =
        membership.status == BotStatus::Administrator && membership.can_delete_messages;
    if !may_delete {
        let (count, others) = state
            .messages
            .iter()
            .filter(|m| in_topic(m))
            .fold((0, false), |(n, others), m| (n + 1, others || !m.outgoing));
        if others || count > DELETE_OWN_TOPIC_MAX_MESSAGES {
            return Err(ApiError::bad_request(
                "not enough rights to delete the topic",
            ));
        }
    }
    let gone: Vec<i64> = state
        .messages
        .iter()
        .filter(|m| in_topic(m))
        .map(|m| m.message_id)
        .collect();
    state.messages.retain(|m| !in_topic(m));
    state.topics.remove(&(bot_id, chat.id, thread));
    if let Some(pins) = state.pinned.get_mut(&(bot_id, chat.id)) {
        for id in gone {
            pins.remove(&id);
        }
    }
    Ok(Success::of(json!(true)))
}

/// deleteMessage, as the Bot API documents it: a bot deletes its own
/// messages (in a channel with `can_post_messages`), any message in a
/// private chat, anyone's in a basic group where it is an administrator
/// and in a supergroup or channel where it has `can_delete_messages`;
/// never a message sent 48 hours ago or more, nor the service message
/// that created a forum topic.
pub fn delete_message(shared: &Shared, token: &str, params: &Params) -> Outcome {
    let chat_param = params
        .string("chat_id")
        .ok_or_else(|| ApiError::bad_request("chat_id is empty"))?;
    let message_id = params.int("message_id").unwrap_or(0);
    let mut guard = shared.lock();
    let state = &mut *guard;
    let bot = state.bots.get(token).ok_or_else(ApiError::unauthorized)?;
    let chat = resolve_chat(state, bot, &chat_param)?;
    let bot_id = bot.id;
    let at = state
        .messages
        .iter()
        .rposition(|m| m.bot_id == bot_id && m.chat_id == chat.id && m.message_id == message_id)
        .ok_or_else(|| ApiError::bad_request("message to delete not found"))?;
    let cant = || ApiError::bad_request("message can't be deleted");
    let stored = &state.messages[at];
    let membership = state.membership(&chat);
    let admin = membership.status == BotStatus::Administrator;
    let allowed = match chat.kind {
        ChatKind::Private => true,
        ChatKind::Group => stored.outgoing || admin,
        ChatKind::Supergroup => stored.outgoing || (admin && membership.can_delete_messages),
        ChatKind::Channel => {
            admin
                && if stored.outgoing {
                    membership.can_post_messages || membership.can_delete_messages
                } else {
                    membership.can_delete_messages
                }
        }
    };
    if !allowed || stored.message.get("forum_topic_created").is_some() {
        return Err(cant());
    }
    crate::edit::check_delete_window(&stored.message)?;
    state.messages.remove(at);
    if let Some(pins) = state.pinned.get_mut(&(bot_id, chat.id)) {
        pins.remove(&message_id);
    }
    Ok(Success::of(json!(true)))
}
