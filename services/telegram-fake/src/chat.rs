//! Pins and membership: pinChatMessage, unpinChatMessage,
//! unpinAllChatMessages, getChatMember and getChat. A pin leaves the
//! `pinned_message` service message, which the pinning bot gets too.

use serde_json::{Value, json};

use crate::Shared;
use crate::api::{Outcome, check_blocked, resolve_chat};
use crate::error::{ApiError, Success};
use crate::params::Params;
use crate::state::{BotStatus, Chat, ChatKind, State, StoredMessage, unix_now};

const NO_PIN_RIGHTS: &str = "not enough rights to manage pinned messages in the chat";

/// The chat `chat_id` names and the bot's id, for the bot of `token`.
fn target(state: &State, token: &str, params: &Params) -> Result<(i64, Chat), ApiError> {
    let chat_param = params
        .string("chat_id")
        .ok_or_else(|| ApiError::bad_request("chat_id is empty"))?;
    let bot = state.bots.get(token).ok_or_else(ApiError::unauthorized)?;
    let chat = resolve_chat(state, bot, &chat_param)?;
    Ok((bot.id, chat))
}

/// Pinning needs an administrator with `can_pin_messages` in a group or
/// supergroup, `can_edit_messages` in a channel; any private chat will do.
fn check_pin_rights(state: &State, token: &str, chat: &Chat) -> Result<(), ApiError> {
    let bot = state.bots.get(token).ok_or_else(ApiError::unauthorized)?;
    check_blocked(bot, chat)?;
    if chat.kind == ChatKind::Private {
        return Ok(());
    }
    let membership = state.membership(chat);
    let allowed = membership.status == BotStatus::Administrator
        && if chat.kind == ChatKind::Channel {
            membership.can_edit_messages
        } else {
            membership.can_pin_messages
        };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::bad_request(NO_PIN_RIGHTS))
    }
}

/// A message as another message shows it (no nested reply).
pub(crate) fn quoted(message: &Value) -> Value {
    let mut message = message.clone();
    if let Some(object) = message.as_object_mut() {
        object.remove("reply_to_message");
    }
    message
}

/// pinChatMessage: pins, and leaves the service message Telegram shows.
pub fn pin(shared: &Shared, token: &str, params: &Params) -> Outcome {
    let mut guard = shared.lock();
    let state = &mut *guard;
    let (bot_id, chat) = target(state, token, params)?;
    check_pin_rights(state, token, &chat)?;
    let message_id = params.int("message_id").unwrap_or(0);
    let (pinned, thread) = state
        .find_message(bot_id, chat.id, message_id)
        .map(|m| (quoted(&m.message), m.thread_id))
        .ok_or_else(|| ApiError::bad_request("message to pin not found"))?;
    if !state
        .pinned
        .entry((bot_id, chat.id))
        .or_default()
        .insert(message_id)
    {
        return Ok(Success::of(json!(true)));
    }
    let bot = state
        .bots
        .get_mut(token)
        .ok_or_else(ApiError::unauthorized)?;
    let bot_user = bot.user_json();
    let service_id = bot.next_message_id(chat.id);
    let mut message = json!({"message_id": service_id});
    if chat.kind == ChatKind::Channel {
        message["sender_chat"] = chat.to_json();
    } else {
        message["from"] = bot_user;
    }
    message["chat"] = chat.to_json();
    message["date"] = json!(unix_now());
    // In a forum the service message goes to the pinned message's topic.
    if let Some(thread) = thread {
        message["message_thread_id"] = json!(thread);
        message["is_topic_message"] = json!(true);
    }
    message["pinned_message"] = pinned;
    state.store(StoredMessage {
        bot_id,
        chat_id: chat.id,
        message_id: service_id,
        outgoing: true,
        message: message.clone(),
        method: "pinChatMessage",
        forwarded: false,
        protect_content: false,
        thread_id: thread,
    });
    // The Bot API server passes a bot its own pins (a `channel_post` in a
    // channel).
    let kind = if chat.kind == ChatKind::Channel {
        "channel_post"
    } else {
        "message"
    };
    state
        .push_update(token, kind, message)
        .map_err(|_| ApiError::unauthorized())?;
    Ok(Success::of(json!(true)))
}

/// unpinChatMessage: `message_id`, or the most recent pinned message.
pub fn unpin(shared: &Shared, token: &str, params: &Params) -> Outcome {
    let mut guard = shared.lock();
    let state = &mut *guard;
    let (bot_id, chat) = target(state, token, params)?;
    check_pin_rights(state, token, &chat)?;
    let message_id = params.int("message_id").filter(|id| *id != 0);
    if let Some(id) = message_id
        && state.find_message(bot_id, chat.id, id).is_none()
    {
        return Err(ApiError::bad_request("message to unpin not found"));
    }
    if let Some(pins) = state.pinned.get_mut(&(bot_id, chat.id)) {
        match message_id {
            Some(id) => pins.remove(&id),
            None => pins.pop_last().is_some(),
        };
    }
    Ok(Success::of(json!(true)))
}

/// unpinAllChatMessages.
pub fn unpin_all(shared: &Shared, token: &str, params: &Params) -> Outcome {
    let mut guard = shared.lock();
    let state = &mut *guard;
    let (bot_id, chat) = target(state, token, params)?;
    check_pin_rights(state, token, &chat)?;
    state.pinned.remove(&(bot_id, chat.id));
    Ok(Success::of(json!(true)))
}

/// The bot as a ChatMember of `chat`.
fn bot_member(state: &State, token: &str, chat: &Chat) -> Result<Value, ApiError> {
    let bot = state.bots.get(token).ok_or_else(ApiError::unauthorized)?;
    let user = bot.user_json();
    if bot.blocked.contains(&chat.id) {
        return Ok(json!({"user": user, "status": "kicked", "until_date": 0}));
    }
    if chat.kind == ChatKind::Private {
        return Ok(json!({"user": user, "status": "member"}));
    }
    let membership = state.membership(chat);
    if membership.status != BotStatus::Administrator {
        return Ok(json!({"user": user, "status": membership.status.as_str()}));
    }
    let mut member = json!({
        "user": user,
        "status": "administrator",
        "can_be_edited": false,
        "is_anonymous": false,
        "can_manage_chat": true,
        "can_delete_messages": membership.can_delete_messages,
        "can_manage_video_chats": false,
        "can_restrict_members": false,
        "can_promote_members": false,
        "can_change_info": false,
        "can_invite_users": false,
        "can_post_stories": false,
        "can_edit_stories": false,
        "can_delete_stories": false,
    });
    match chat.kind {
        ChatKind::Channel => {
            member["can_post_messages"] = json!(membership.can_post_messages);
            member["can_edit_messages"] = json!(membership.can_edit_messages);
        }
        ChatKind::Supergroup => {
            member["can_pin_messages"] = json!(membership.can_pin_messages);
            member["can_manage_topics"] = json!(membership.can_manage_topics);
        }
        _ => member["can_pin_messages"] = json!(membership.can_pin_messages),
    }
    Ok(member)
}

/// getChatMember: the bot itself with its rights; a user who wrote in the
/// chat is a member, another known user has left; an unknown user is
/// refused.
pub fn get_chat_member(shared: &Shared, token: &str, params: &Params) -> Outcome {
    let state = shared.lock();
    let (bot_id, chat) = target(&state, token, params)?;
    let user_id = params.int("user_id").unwrap_or(0);
    if user_id == bot_id {
        return bot_member(&state, token, &chat).map(Success::of);
    }
    let user = state
        .users
        .get(&user_id)
        .filter(|_| user_id > 0)
        .ok_or_else(|| ApiError::bad_request("user not found"))?;
    let wrote = state.messages.iter().any(|m| {
        m.bot_id == bot_id
            && m.chat_id == chat.id
            && !m.outgoing
            && m.message["from"]["id"] == json!(user_id)
    });
    let status = if (chat.kind == ChatKind::Private && chat.id == user_id) || wrote {
        "member"
    } else {
        "left"
    };
    Ok(Success::of(
        json!({"user": user.to_json(), "status": status}),
    ))
}

/// getChat: the ChatFullInfo fields the fake knows, with the most recent
/// pinned message.
pub fn get_chat(shared: &Shared, token: &str, params: &Params) -> Outcome {
    let mut guard = shared.lock();
    let state = &mut *guard;
    let (bot_id, chat) = target(state, token, params)?;
    let mut info = chat.to_json();
    if let Some(username) = &chat.username {
        // A public chat's usernames (the fake has one each).
        info["active_usernames"] = json!([username]);
    }
    info["accent_color_id"] = json!(0);
    info["max_reaction_count"] = json!(11);
    info["accepted_gift_types"] = json!({
        "unlimited_gifts": false,
        "limited_gifts": false,
        "unique_gifts": false,
        "premium_subscription": false,
    });
    let last = state
        .pinned
        .get(&(bot_id, chat.id))
        .and_then(|pins| pins.last().copied());
    if let Some(id) = last
        && let Some(message) = state.find_message(bot_id, chat.id, id)
    {
        info["pinned_message"] = quoted(&message.message);
    }
    Ok(Success::of(info))
}
