//! editMessageCaption: the caption (and keyboard) of a message with media.

use serde_json::{Value, json};

use crate::Shared;
use crate::api::{NOT_MODIFIED, Outcome, check_blocked, read_formatted, resolve_chat};
use crate::error::{ApiError, Success};
use crate::markup;
use crate::media::MAX_CAPTION_CHARS;
use crate::params::Params;
use crate::state::unix_now;

/// The Message fields that carry a caption.
const CAPTIONED: &[&str] = &["photo", "video", "animation", "document", "audio", "voice"];

/// editMessageCaption (chat_id and message_id; no inline messages).
pub fn edit_message_caption(shared: &Shared, token: &str, params: &Params) -> Outcome {
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
    let caption = read_formatted(
        params,
        "caption",
        "caption_entities",
        MAX_CAPTION_CHARS,
        "MEDIA_CAPTION_TOO_LONG",
    )?;
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
    if !CAPTIONED.iter().any(|f| stored.message.get(*f).is_some()) {
        return Err(ApiError::bad_request(
            "there is no caption in the message to edit",
        ));
    }
    let message = &mut stored.message;
    let (text, entities) = match caption {
        Some(caption) => (Some(caption.text), caption.entities),
        None => (None, Vec::new()),
    };
    let old_entities = message
        .get("caption_entities")
        .cloned()
        .unwrap_or_else(|| json!([]));
    let unchanged = message.get("caption").and_then(Value::as_str) == text.as_deref()
        && old_entities == Value::Array(entities.clone())
        && message.get("reply_markup") == keyboard.as_ref();
    if unchanged {
        return Err(ApiError::bad_request(NOT_MODIFIED));
    }
    message["edit_date"] = json!(unix_now());
    if let Some(object) = message.as_object_mut() {
        match text {
            Some(text) => object.insert("caption".into(), json!(text)),
            None => object.remove("caption"),
        };
        if entities.is_empty() {
            object.remove("caption_entities");
        } else {
            object.insert("caption_entities".into(), Value::Array(entities));
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

/// How long after sending Telegram still lets a bot delete a message.
pub const DELETE_WINDOW_SECS: i64 = 48 * 3600;

/// deleteMessage's time rule: "a message can only be deleted if it was
/// sent less than 48 hours ago" (Telegram answers `Bad Request: message
/// can't be deleted`).
pub fn check_delete_window(message: &Value) -> Result<(), ApiError> {
    let sent = message.get("date").and_then(Value::as_i64).unwrap_or(0);
    if unix_now() - sent >= DELETE_WINDOW_SECS {
        return Err(ApiError::bad_request("message can't be deleted"));
    }
    Ok(())
}

/// `POST /control/backdate` `{"token", "chat_id", "message_id", "seconds"}`:
/// moves a kept message's `date` back by `seconds`, as if it had been sent
/// that long ago (to try Telegram's 48-hour rule of deleteMessage).
pub async fn backdate(
    axum::extract::State(shared): axum::extract::State<std::sync::Arc<Shared>>,
    axum::Json(value): axum::Json<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let refuse = |status: axum::http::StatusCode, error: &str| {
        (status, axum::Json(json!({"error": error}))).into_response()
    };
    let (Some(token), Some(chat_id), Some(message_id), Some(seconds)) = (
        value["token"].as_str(),
        value["chat_id"].as_i64(),
        value["message_id"].as_i64(),
        value["seconds"].as_i64().filter(|s| *s >= 0),
    ) else {
        return refuse(
            axum::http::StatusCode::BAD_REQUEST,
            "token, chat_id, message_id and seconds (>= 0) are required",
        );
    };
    let mut state = shared.lock();
    let Some(bot_id) = state.bots.get(token).map(|b| b.id) else {
        return refuse(axum::http::StatusCode::NOT_FOUND, "unknown bot token");
    };
    let Some(stored) = state.find_message(bot_id, chat_id, message_id) else {
        return refuse(axum::http::StatusCode::BAD_REQUEST, "no such message");
    };
    let date = stored.message["date"].as_i64().unwrap_or_else(unix_now);
    stored.message["date"] = json!(date - seconds);
    axum::Json(json!({"ok": true, "date": date - seconds})).into_response()
}
