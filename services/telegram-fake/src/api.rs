//! The Bot API methods at `/bot<token>/<method>`, answering as Telegram does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::error::{ApiError, Success};
use crate::html;
use crate::markup;
use crate::outgoing::{Envelope, deliver};
use crate::params::Params;
use crate::state::{Bot, Chat, ChatKind, Webhook, unix_now};

/// The longest message text, in characters after entity parsing.
pub const MAX_TEXT_CHARS: usize = 4096;
/// The longest getUpdates long poll, in seconds.
pub const MAX_POLL_SECONDS: u64 = 50;

pub(crate) const NOT_MODIFIED: &str = "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";
const QUERY_INVALID: &str = "query is too old and response timeout expired or query ID is invalid";

/// A method call's outcome.
pub type Outcome = Result<Success, ApiError>;

/// The axum handler for `/{bot<token>}/{method}` (GET or POST).
pub async fn handle(
    State(shared): State<Arc<Shared>>,
    Path((bot_token, method)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = bot_token.strip_prefix("bot") else {
        return shared.count(Err(ApiError::not_found())).into_response();
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let outcome = match Params::read(query.as_deref(), content_type, &body) {
        Ok(params) => call(&shared, token, &method, params).await,
        Err(e) => Err(e),
    };
    match shared.count(outcome) {
        Ok(success) => success.into_response(),
        Err(error) => error.into_response(),
    }
}

/// Calls a method as a bot; method names are case-insensitive, as in
/// Telegram.
pub fn call<'a>(
    shared: &'a Arc<Shared>,
    token: &'a str,
    method: &'a str,
    params: Params,
) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
    Box::pin(async move {
        if !shared.lock().bots.contains_key(token) {
            return Err(ApiError::unauthorized());
        }
        match method.to_ascii_lowercase().as_str() {
            "getme" => get_me(shared, token),
            "getupdates" => get_updates(shared, token, &params).await,
            "setwebhook" => set_webhook(shared, token, &params),
            "deletewebhook" => delete_webhook(shared, token, &params),
            "getwebhookinfo" => get_webhook_info(shared, token),
            "sendmessage" => send_message(shared, token, &params),
            "editmessagetext" => edit_message_text(shared, token, &params),
            "answercallbackquery" => answer_callback_query(shared, token, &params),
            "sendphoto" => crate::media::send_media(shared, token, &params, "photo"),
            "senddocument" => crate::media::send_media(shared, token, &params, "document"),
            "sendvoice" => crate::media::send_media(shared, token, &params, "voice"),
            "sendvideo" => crate::media::send_media(shared, token, &params, "video"),
            "sendanimation" => crate::media::send_media(shared, token, &params, "animation"),
            "copymessage" => crate::media::copy_message(shared, token, &params, false),
            "forwardmessage" => crate::media::copy_message(shared, token, &params, true),
            "getfile" => crate::media::get_file(shared, &params),
            "deletemessage" => crate::forum::delete_message(shared, token, &params),
            "createforumtopic" => crate::forum::create(shared, token, &params),
            "editforumtopic" => crate::forum::edit(shared, token, &params),
            "deleteforumtopic" => crate::forum::delete_topic(shared, token, &params),
            "closeforumtopic" => crate::forum::set_closed(shared, token, &params, true),
            "reopenforumtopic" => crate::forum::set_closed(shared, token, &params, false),
            "sendmediagroup" => crate::album::send_media_group(shared, token, &params),
            "editmessagecaption" => crate::edit::edit_message_caption(shared, token, &params),
            "pinchatmessage" => crate::chat::pin(shared, token, &params),
            "unpinchatmessage" => crate::chat::unpin(shared, token, &params),
            "unpinallchatmessages" => crate::chat::unpin_all(shared, token, &params),
            "getchatmember" => crate::chat::get_chat_member(shared, token, &params),
            "getchat" => crate::chat::get_chat(shared, token, &params),
            "sendpoll" => crate::poll::send_poll(shared, token, &params),
            "stoppoll" => crate::poll::stop_poll(shared, token, &params),
            _ => Err(ApiError::not_found()),
        }
    })
}

/// Runs `f` on the bot (which `call` made sure exists).
pub(crate) fn with_bot<T>(
    shared: &Shared,
    token: &str,
    f: impl FnOnce(&mut Bot) -> T,
) -> Result<T, ApiError> {
    let mut state = shared.lock();
    let bot = state
        .bots
        .get_mut(token)
        .ok_or_else(ApiError::unauthorized)?;
    Ok(f(bot))
}

fn get_me(shared: &Shared, token: &str) -> Outcome {
    with_bot(shared, token, |bot| {
        let mut me = bot.user_json();
        me["can_join_groups"] = json!(true);
        me["can_read_all_group_messages"] = json!(false);
        me["supports_inline_queries"] = json!(false);
        me["can_connect_to_business"] = json!(false);
        me["has_main_web_app"] = json!(false);
        Success::of(me)
    })
}

/// Reads `allowed_updates`: `None` when absent.
fn allowed_updates(params: &Params) -> Result<Option<Vec<String>>, ApiError> {
    let invalid = || ApiError::bad_request("can't parse allowed_updates JSON object");
    let Some(value) = params.json("allowed_updates").map_err(|()| invalid())? else {
        return Ok(None);
    };
    let list = value.as_array().ok_or_else(invalid)?;
    list.iter()
        .map(|v| v.as_str().map(str::to_string).ok_or_else(invalid))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

async fn get_updates(shared: &Arc<Shared>, token: &str, params: &Params) -> Outcome {
    let offset = params.int("offset").unwrap_or(0);
    let limit = params.int("limit").unwrap_or(100).clamp(1, 100) as usize;
    let timeout = params
        .int("timeout")
        .unwrap_or(0)
        .clamp(0, MAX_POLL_SECONDS as i64) as u64;
    let allowed = allowed_updates(params)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let (notify, generation) = with_bot(shared, token, |bot| {
        if bot.webhook.is_some() {
            return Err(ApiError::conflict(
                "can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            ));
        }
        if let Some(allowed) = allowed {
            bot.allowed_updates = Some(allowed);
        }
        // Confirm: updates before `offset` are gone for good; a negative
        // offset keeps only that many of the newest.
        if offset > 0 {
            bot.pending
                .retain(|u| u["update_id"].as_i64().is_some_and(|id| id >= offset));
        } else if offset < 0 {
            let keep = offset.unsigned_abs() as usize;
            while bot.pending.len() > keep {
                bot.pending.pop_front();
            }
        }
        // A newer getUpdates ends an older long poll.
        bot.poll_generation += 1;
        bot.notify.notify_waiters();
        Ok((bot.notify.clone(), bot.poll_generation))
    })??;
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let ready = with_bot(shared, token, |bot| {
            if bot.poll_generation != generation {
                return Err(ApiError::conflict(
                    "terminated by other getUpdates request; make sure that only one bot instance is running",
                ));
            }
            if bot.webhook.is_some() {
                return Err(ApiError::conflict("terminated by setWebhook request"));
            }
            Ok(bot.pending.iter().take(limit).cloned().collect::<Vec<_>>())
        })??;
        if !ready.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(Success::of(Value::Array(ready)));
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(deadline) => {}
            () = shared.shutdown.cancelled() => return Ok(Success::of(json!([]))),
        }
    }
}

/// Checks a webhook URL; plain HTTP and any port are allowed, unlike in
/// Telegram, so a test can listen on 127.0.0.1.
fn check_webhook_url(url: &str) -> Result<(), ApiError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(ApiError::bad_request("invalid webhook URL specified"));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(ApiError::bad_request(
            "bad webhook: An HTTPS URL must be provided for webhook",
        ));
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || url.contains(char::is_whitespace) {
        return Err(ApiError::bad_request("invalid webhook URL specified"));
    }
    Ok(())
}

fn set_webhook(shared: &Arc<Shared>, token: &str, params: &Params) -> Outcome {
    let url = params.string("url").unwrap_or_default();
    if url.is_empty() {
        return delete_webhook(shared, token, params);
    }
    check_webhook_url(&url)?;
    let secret_token = params.string("secret_token");
    if let Some(secret) = &secret_token {
        if secret.len() > 256 {
            return Err(ApiError::bad_request("secret token is too long"));
        }
        if !secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ApiError::bad_request(
                "secret token contains unallowed characters",
            ));
        }
    }
    let max_connections = params.int("max_connections").unwrap_or(40).clamp(1, 100);
    let allowed = allowed_updates(params)?;
    let drop_pending = params.bool("drop_pending_updates");
    let started = with_bot(shared, token, |bot| {
        if let Some(allowed) = allowed {
            bot.allowed_updates = Some(allowed);
        }
        if drop_pending {
            bot.pending.clear();
        }
        if let Some(webhook) = &mut bot.webhook {
            if webhook.url == url && webhook.secret_token == secret_token {
                webhook.max_connections = max_connections;
                return None;
            }
            webhook.cancel.cancel();
        }
        let cancel = shared.shutdown.child_token();
        bot.webhook = Some(Webhook {
            url: url.clone(),
            secret_token: secret_token.clone(),
            max_connections,
            last_error_date: None,
            last_error_message: None,
            cancel: cancel.clone(),
        });
        // Ends a running long poll ("terminated by setWebhook request").
        bot.notify.notify_waiters();
        Some(cancel)
    })?;
    let description = match started {
        Some(cancel) => {
            tokio::spawn(crate::webhook::run(
                shared.clone(),
                token.to_string(),
                cancel,
            ));
            "Webhook was set"
        }
        None => "Webhook is already set",
    };
    Ok(Success {
        result: json!(true),
        description: Some(description),
    })
}

fn delete_webhook(shared: &Shared, token: &str, params: &Params) -> Outcome {
    let drop_pending = params.bool("drop_pending_updates");
    let deleted = with_bot(shared, token, |bot| {
        if drop_pending {
            bot.pending.clear();
        }
        let webhook = bot.webhook.take();
        if let Some(webhook) = &webhook {
            webhook.cancel.cancel();
        }
        webhook.is_some()
    })?;
    Ok(Success {
        result: json!(true),
        description: Some(if deleted {
            "Webhook was deleted"
        } else {
            "Webhook is already deleted"
        }),
    })
}

fn get_webhook_info(shared: &Shared, token: &str) -> Outcome {
    with_bot(shared, token, |bot| {
        let mut info = json!({
            "url": "",
            "has_custom_certificate": false,
            "pending_update_count": bot.pending.len(),
        });
        if let Some(webhook) = &bot.webhook {
            info["url"] = json!(webhook.url);
            info["max_connections"] = json!(webhook.max_connections);
            info["ip_address"] = json!("127.0.0.1");
            if let Some(date) = webhook.last_error_date {
                info["last_error_date"] = json!(date);
            }
            if let Some(message) = &webhook.last_error_message {
                info["last_error_message"] = json!(message);
            }
            if let Some(allowed) = &bot.allowed_updates {
                info["allowed_updates"] = json!(allowed);
            }
        }
        Success::of(info)
    })
}

/// A message text after parse_mode, trimmed as Telegram trims it.
pub(crate) struct Text {
    pub(crate) text: String,
    pub(crate) entities: Vec<Value>,
}

/// Reads `text`, `parse_mode` and `entities`; `too_long` is the description
/// of a text over [`MAX_TEXT_CHARS`].
fn read_text(params: &Params, too_long: &str) -> Result<Text, ApiError> {
    read_formatted(params, "text", "entities", MAX_TEXT_CHARS, too_long)?
        .ok_or_else(|| ApiError::bad_request("message text is empty"))
}

/// Reads a formatted field (`text` or `caption`) with `parse_mode` and its
/// entities field; `None` when absent or only white space.
pub(crate) fn read_formatted(
    params: &Params,
    field: &str,
    entities_field: &str,
    limit: usize,
    too_long: &str,
) -> Result<Option<Text>, ApiError> {
    let Some(raw) = params.string(field) else {
        return Ok(None);
    };
    let parse_mode = params.string("parse_mode").map(|m| m.to_ascii_lowercase());
    let (text, entities) = match parse_mode.as_deref() {
        Some("html") => {
            let parsed = html::parse(&raw)
                .map_err(|e| ApiError::bad_request(format!("can't parse entities: {e}")))?;
            (parsed.text, parsed.entities)
        }
        // Markdown is passed through unchecked.
        Some("markdown" | "markdownv2") | None => (raw, Vec::new()),
        Some(_) => return Err(ApiError::bad_request("unsupported parse_mode")),
    };
    let explicit = if parse_mode.is_none() {
        match params.json(entities_field) {
            Ok(Some(Value::Array(list))) => list,
            Ok(None) => Vec::new(),
            _ => return Err(ApiError::bad_request("can't parse entities JSON object")),
        }
    } else {
        Vec::new()
    };
    // Telegram strips leading and trailing white space.
    let start = text.len() - text.trim_start().len();
    let shift: usize = text[..start].encode_utf16().count();
    let trimmed = text.trim();
    let total: usize = trimmed.encode_utf16().count();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.chars().count() > limit {
        return Err(ApiError::bad_request(too_long));
    }
    let mut out = Vec::with_capacity(entities.len());
    for mut entity in entities {
        let begin = entity.offset.saturating_sub(shift).min(total);
        let end = (entity.offset + entity.length)
            .saturating_sub(shift)
            .min(total);
        if end > begin {
            entity.offset = begin;
            entity.length = end - begin;
            out.push(entity.to_json());
        }
    }
    out.extend(explicit);
    Ok(Some(Text {
        text: trimmed.to_string(),
        entities: out,
    }))
}

/// Finds the chat `chat_id` names (an id or `@username`) for a bot.
pub(crate) fn resolve_chat(
    state: &crate::state::State,
    bot: &Bot,
    chat_id: &str,
) -> Result<Chat, ApiError> {
    let not_found = || ApiError::bad_request("chat not found");
    let chat = if let Some(username) = chat_id.strip_prefix('@') {
        state.chats.values().find(|c| {
            c.kind != ChatKind::Private
                && c.username
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(username))
        })
    } else {
        let id: i64 = chat_id.trim().parse().map_err(|_| not_found())?;
        state.chats.get(&id)
    };
    let chat = chat.ok_or_else(not_found)?;
    if chat.kind == ChatKind::Private && !chat.declared && !bot.started.contains(&chat.id) {
        return Err(not_found());
    }
    Ok(chat.clone())
}

/// 403 when the user blocked the bot or the bot left the group.
pub(crate) fn check_blocked(bot: &Bot, chat: &Chat) -> Result<(), ApiError> {
    if !bot.blocked.contains(&chat.id) {
        return Ok(());
    }
    Err(ApiError::forbidden(match chat.kind {
        ChatKind::Private => "bot was blocked by the user",
        ChatKind::Group => "bot was kicked from the group chat",
        ChatKind::Supergroup => "bot was kicked from the supergroup chat",
        ChatKind::Channel => "bot is not a member of the channel chat",
    }))
}

/// The message a request replies to: `reply_parameters` or
/// `reply_to_message_id`.
pub(crate) fn reply_target(params: &Params) -> Result<Option<(i64, bool)>, ApiError> {
    let allow = params.bool("allow_sending_without_reply");
    match params.json("reply_parameters") {
        Ok(Some(Value::Object(reply))) => {
            Ok(reply.get("message_id").and_then(Value::as_i64).map(|id| {
                let allow = reply
                    .get("allow_sending_without_reply")
                    .and_then(Value::as_bool)
                    .unwrap_or(allow);
                (id, allow)
            }))
        }
        Ok(Some(_)) | Err(()) => Err(ApiError::bad_request(
            "can't parse reply parameters JSON object",
        )),
        Ok(None) => Ok(params
            .int("reply_to_message_id")
            .filter(|id| *id > 0)
            .map(|id| (id, allow))),
    }
}

fn link_preview_disabled(params: &Params) -> bool {
    params.bool("disable_web_page_preview")
        || matches!(params.json("link_preview_options"), Ok(Some(ref o)) if o["is_disabled"] == json!(true))
}

fn send_message(shared: &Shared, token: &str, params: &Params) -> Outcome {
    let envelope = Envelope::read(params, "sendMessage")?;
    let text = read_text(params, "message is too long")?;
    let no_preview = link_preview_disabled(params);
    let message = deliver(shared, token, envelope, None, |_, _| {
        let mut content = Map::new();
        if no_preview && (text.text.contains("http://") || text.text.contains("https://")) {
            content.insert("link_preview_options".into(), json!({"is_disabled": true}));
        }
        content.insert("text".into(), json!(text.text));
        if !text.entities.is_empty() {
            content.insert("entities".into(), Value::Array(text.entities));
        }
        Ok(content)
    })?;
    Ok(Success::of(message))
}

fn edit_message_text(shared: &Shared, token: &str, params: &Params) -> Outcome {
    if params.string("inline_message_id").is_some() {
        // The fake has no inline mode, so no inline message exists.
        return Err(ApiError::bad_request("MESSAGE_ID_INVALID"));
    }
    let chat_param = params
        .string("chat_id")
        .ok_or_else(|| ApiError::bad_request("chat_id is empty"))?;
    let message_id = params
        .int("message_id")
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad_request("message identifier is not specified"))?;
    let text = read_text(params, "MESSAGE_TOO_LONG")?;
    let keyboard = markup::read(params)?.inline().cloned();

    let mut guard = shared.lock();
    let state = &mut *guard;
    let bot = state.bots.get(token).ok_or_else(ApiError::unauthorized)?;
    let chat = resolve_chat(state, bot, &chat_param)?;
    check_blocked(bot, &chat)?;
    let bot_id = bot.id;
    let stored = state
        .find_message(bot_id, chat.id, message_id)
        .ok_or_else(|| ApiError::bad_request("message to edit not found"))?;
    if !stored.outgoing {
        return Err(ApiError::bad_request("message can't be edited"));
    }
    if stored.message.get("text").is_none() {
        return Err(ApiError::bad_request(
            "there is no text in the message to edit",
        ));
    }
    let message = &mut stored.message;
    let old_entities = message
        .get("entities")
        .cloned()
        .unwrap_or_else(|| json!([]));
    let unchanged = message["text"] == json!(text.text)
        && old_entities == Value::Array(text.entities.clone())
        && message.get("reply_markup") == keyboard.as_ref();
    if unchanged {
        return Err(ApiError::bad_request(NOT_MODIFIED));
    }
    message["text"] = json!(text.text);
    message["edit_date"] = json!(unix_now());
    if let Some(object) = message.as_object_mut() {
        if text.entities.is_empty() {
            object.remove("entities");
        } else {
            object.insert("entities".into(), Value::Array(text.entities));
        }
        // Without reply_markup an edit removes the keyboard, as in Telegram.
        match keyboard {
            Some(keyboard) => object.insert("reply_markup".into(), keyboard),
            None => object.remove("reply_markup"),
        };
    }
    let edited = message.clone();
    state.stats.edited += 1;
    Ok(Success::of(edited))
}

fn answer_callback_query(shared: &Shared, token: &str, params: &Params) -> Outcome {
    let id = params
        .string("callback_query_id")
        .ok_or_else(|| ApiError::bad_request(QUERY_INVALID))?;
    let mut answer = json!({
        "callback_query_id": id,
        "show_alert": params.bool("show_alert"),
    });
    for key in ["text", "url"] {
        if let Some(value) = params.string(key) {
            answer[key] = json!(value);
        }
    }
    if let Some(cache_time) = params.int("cache_time") {
        answer["cache_time"] = json!(cache_time);
    }
    if !shared.lock().answer_callback(token, &id, answer) {
        return Err(ApiError::bad_request(QUERY_INVALID));
    }
    Ok(Success::of(json!(true)))
}
