//! Forum topics: createForumTopic, closeForumTopic, reopenForumTopic. Each
//! leaves a service message in the chat (forum_topic_created, _closed,
//! _reopened) from the bot, which, like every message of its own, the bot
//! gets no update for.

use serde_json::{Value, json};

use crate::Shared;
use crate::api::{Outcome, check_blocked, resolve_chat};
use crate::error::{ApiError, Success};
use crate::params::Params;
use crate::state::{Chat, ChatKind, State, StoredMessage, Topic, unix_now};

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
        message,
        method,
        forwarded: false,
        protect_content: false,
        thread_id: Some(thread),
    });
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

/// deleteMessage: the bot's own messages anywhere, any message in a
/// private chat.
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
    if !state.messages[at].outgoing && chat.kind != ChatKind::Private {
        return Err(ApiError::bad_request("message can't be deleted"));
    }
    crate::edit::check_delete_window(&state.messages[at].message)?;
    state.messages.remove(at);
    if let Some(pins) = state.pinned.get_mut(&(bot_id, chat.id)) {
        pins.remove(&message_id);
    }
    Ok(Success::of(json!(true)))
}
