//! What every sending method shares: the target chat, the forum topic,
//! the reply, protect_content, the keyboard and the flood limits, then the
//! Message as Telegram builds it and the record the control API shows.

use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::Shared;
use crate::api::{check_blocked, reply_target, resolve_chat};
use crate::error::ApiError;
use crate::markup::{self, Markup};
use crate::params::Params;
use crate::state::{BotStatus, Chat, ChatKind, State, StoredMessage, unix_now};

/// The parameters every sending method takes.
pub struct Envelope {
    /// `chat_id` as given (an id or `@username`).
    pub chat: String,
    /// `message_thread_id`.
    pub thread: Option<i64>,
    /// `protect_content`.
    pub protect: bool,
    /// `reply_markup`.
    pub markup: Markup,
    /// The message replied to, and whether a missing one is allowed.
    pub reply_to: Option<(i64, bool)>,
    /// The method, for the record.
    pub method: &'static str,
}

impl Envelope {
    /// Reads them.
    pub fn read(params: &Params, method: &'static str) -> Result<Envelope, ApiError> {
        let chat = params
            .string("chat_id")
            .ok_or_else(|| ApiError::bad_request("chat_id is empty"))?;
        Ok(Envelope {
            chat,
            thread: params.int("message_thread_id").filter(|id| *id != 0),
            protect: params.bool("protect_content"),
            markup: markup::read(params)?,
            reply_to: reply_target(params)?,
            method,
        })
    }
}

/// Checks `message_thread_id` in `chat`; returns the topic (None in a
/// private chat, where Telegram ignores it).
pub fn check_thread(
    state: &State,
    bot_id: i64,
    chat: &Chat,
    thread: Option<i64>,
) -> Result<Option<i64>, ApiError> {
    let Some(thread) = thread else {
        return Ok(None);
    };
    if chat.kind == ChatKind::Private {
        return Ok(None);
    }
    let not_found = || ApiError::bad_request("message thread not found");
    if !chat.is_forum {
        return Err(not_found());
    }
    let topic = state
        .topics
        .get(&(bot_id, chat.id, thread))
        .ok_or_else(not_found)?;
    if topic.closed {
        return Err(ApiError::bad_request("TOPIC_CLOSED"));
    }
    Ok(Some(thread))
}

/// Sends a message: checks the envelope, builds the content with `content`
/// (after every other check, before the flood limits are counted), stores
/// the Message and returns it. `forward_origin` makes it a forward.
pub fn deliver(
    shared: &Shared,
    token: &str,
    envelope: Envelope,
    forward_origin: Option<Value>,
    content: impl FnOnce(&mut State, &Chat) -> Result<Map<String, Value>, ApiError>,
) -> Result<Value, ApiError> {
    let mut messages = deliver_all(shared, token, envelope, forward_origin, |state, chat| {
        content(state, chat).map(|c| vec![c])
    })?;
    messages
        .pop()
        .ok_or_else(|| ApiError::bad_request("message must be non-empty"))
}

/// Checks that the bot may post in `chat`: 403 where it is not a member,
/// 400 in a channel where it may not post.
pub fn check_can_post(state: &State, chat: &Chat) -> Result<(), ApiError> {
    if chat.kind == ChatKind::Private {
        return Ok(());
    }
    let membership = state.membership(chat);
    match membership.status {
        BotStatus::Left => Err(ApiError::forbidden(format!(
            "bot is not a member of the {} chat",
            chat.kind.as_str()
        ))),
        BotStatus::Administrator
            if chat.kind != ChatKind::Channel || membership.can_post_messages =>
        {
            Ok(())
        }
        BotStatus::Member if chat.kind != ChatKind::Channel => Ok(()),
        _ => Err(ApiError::bad_request(
            "need administrator rights in the channel chat",
        )),
    }
}

/// Sends one message per item `content` builds (an album: all of them
/// or none), each with the envelope; the flood limits count the call once.
pub fn deliver_all(
    shared: &Shared,
    token: &str,
    envelope: Envelope,
    forward_origin: Option<Value>,
    content: impl FnOnce(&mut State, &Chat) -> Result<Vec<Map<String, Value>>, ApiError>,
) -> Result<Vec<Value>, ApiError> {
    let now = Instant::now();
    let mut guard = shared.lock();
    let state = &mut *guard;
    let bot = state.bots.get(token).ok_or_else(ApiError::unauthorized)?;
    let chat = resolve_chat(state, bot, &envelope.chat)?;
    check_blocked(bot, &chat)?;
    let (bot_id, bot_user) = (bot.id, bot.user_json());
    check_can_post(state, &chat)?;
    let thread = check_thread(state, bot_id, &chat, envelope.thread)?;
    let reply = match envelope.reply_to {
        None => None,
        Some((id, allow)) => match state.find_message(bot_id, chat.id, id) {
            Some(found) => {
                let mut replied = found.message.clone();
                if let Some(object) = replied.as_object_mut() {
                    object.remove("reply_to_message");
                }
                Some(replied)
            }
            None if allow => None,
            None => return Err(ApiError::bad_request("message to be replied not found")),
        },
    };
    // In a topic, a message that replies to nothing else replies to the
    // topic's creation, as Telegram shows it.
    let reply = match (reply, thread) {
        (Some(reply), _) => Some(reply),
        (None, Some(thread)) => state
            .find_message(bot_id, chat.id, thread)
            .map(|m| m.message.clone()),
        (None, None) => None,
    };
    let private = chat.kind == ChatKind::Private;
    if shared.rate_limits {
        state
            .limits
            .check(bot_id, chat.id, private, now)
            .map_err(ApiError::too_many_requests)?;
    }
    let contents = content(state, &chat)?;
    let forwarded = forward_origin.is_some();
    let mut sent = Vec::with_capacity(contents.len());
    for content in contents {
        let bot = state
            .bots
            .get_mut(token)
            .ok_or_else(ApiError::unauthorized)?;
        let message_id = bot.next_message_id(chat.id);
        let mut message = Map::new();
        message.insert("message_id".into(), json!(message_id));
        if let Some(thread) = thread {
            message.insert("message_thread_id".into(), json!(thread));
        }
        if chat.kind == ChatKind::Channel {
            // A channel post has no author but the channel (and no
            // author_signature: the fake's channels don't sign posts).
            message.insert("sender_chat".into(), chat.to_json());
        } else {
            message.insert("from".into(), bot_user.clone());
        }
        message.insert("chat".into(), chat.to_json());
        message.insert("date".into(), json!(unix_now()));
        if let Some(origin) = &forward_origin {
            message.insert("forward_origin".into(), origin.clone());
        }
        if thread.is_some() {
            message.insert("is_topic_message".into(), json!(true));
        }
        if let Some(reply) = &reply {
            message.insert("reply_to_message".into(), reply.clone());
        }
        message.extend(content);
        if envelope.protect {
            message.insert("has_protected_content".into(), json!(true));
        }
        if let Markup::Inline(keyboard) = &envelope.markup {
            message.insert("reply_markup".into(), keyboard.clone());
        }
        let message = Value::Object(message);
        state.stats.sent += 1;
        state.store(StoredMessage {
            bot_id,
            chat_id: chat.id,
            message_id,
            outgoing: true,
            message: message.clone(),
            method: envelope.method,
            forwarded,
            protect_content: envelope.protect,
            thread_id: thread,
        });
        sent.push(message);
    }
    state.limits.record(bot_id, chat.id, private, now);
    Ok(sent)
}
