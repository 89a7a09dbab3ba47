//! Files: sendPhoto, sendDocument, sendVoice, sendVideo, sendAnimation (a
//! file_id or a multipart upload), copyMessage and forwardMessage, getFile
//! and the download path `/file/bot<token>/<file_path>`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::api::{Outcome, read_formatted, resolve_chat};
use crate::error::{ApiError, Success};
use crate::outgoing::{Envelope, deliver};
use crate::params::Params;

/// The longest caption, in characters after entity parsing.
pub const MAX_CAPTION_CHARS: usize = 1024;
/// The largest photo a bot may upload.
pub const MAX_PHOTO_UPLOAD: usize = 10 * 1024 * 1024;
/// The largest other file a bot may upload.
pub const MAX_FILE_UPLOAD: usize = 50 * 1024 * 1024;
/// The largest file a bot may download (getFile).
pub const MAX_DOWNLOAD: usize = 20 * 1024 * 1024;

pub(crate) const WRONG_FILE: &str = "wrong file identifier/HTTP URL specified";

/// Where the file of a send comes from.
enum Source {
    FileId(String),
    Upload {
        filename: String,
        content_type: Option<String>,
        data: Vec<u8>,
    },
}

fn read_source(params: &Params, kind: &str) -> Result<Source, ApiError> {
    let upload = |name: &str| {
        params.upload(name).map(|u| Source::Upload {
            filename: u.filename.clone(),
            content_type: u.content_type.clone(),
            data: u.data.clone(),
        })
    };
    let source = match params.string(kind) {
        Some(value) => match value.strip_prefix("attach://") {
            Some(name) => upload(name).ok_or_else(|| ApiError::bad_request(WRONG_FILE))?,
            // The fake never downloads from elsewhere.
            None if value.starts_with("http://") || value.starts_with("https://") => {
                return Err(ApiError::bad_request(WRONG_FILE));
            }
            None => Source::FileId(value.trim().to_string()),
        },
        None => upload(kind)
            .ok_or_else(|| ApiError::bad_request(format!("there is no {kind} in the request")))?,
    };
    if let Source::Upload { data, .. } = &source {
        if data.is_empty() {
            return Err(ApiError::bad_request("file must be non-empty"));
        }
        if data.len() > MAX_FILE_UPLOAD {
            return Err(ApiError::too_large());
        }
        if kind == "photo" && data.len() > MAX_PHOTO_UPLOAD {
            return Err(ApiError::bad_request("file is too big"));
        }
    }
    Ok(source)
}

/// A PNG's or JPEG's width and height, read from its header.
fn image_size(data: &[u8]) -> Option<(i64, i64)> {
    let be16 = |at: usize| -> Option<i64> {
        Some(i64::from(u16::from_be_bytes([
            *data.get(at)?,
            *data.get(at + 1)?,
        ])))
    };
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        let be32 = |at: usize| -> Option<i64> {
            Some(i64::from(u32::from_be_bytes(
                data.get(at..at + 4)?.try_into().ok()?,
            )))
        };
        return Some((be32(16)?, be32(20)?));
    }
    if !data.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut at = 2;
    while at + 9 < data.len() {
        if data[at] != 0xFF {
            return None;
        }
        let marker = data[at + 1];
        if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            return Some((be16(at + 7)?, be16(at + 5)?));
        }
        at += 2 + usize::try_from(be16(at + 2)?).ok()?;
    }
    None
}

fn mime_of(filename: &str) -> &'static str {
    let extension = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "pdf" => "application/pdf",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "txt" => "text/plain",
        "ogg" | "oga" => "audio/ogg",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "mp4" => "video/mp4",
        "gif" => "image/gif",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// The Message field of an uploaded file, stored under a fresh file_id.
pub(crate) fn uploaded(
    state: &mut crate::state::State,
    kind: &'static str,
    params: &Params,
    filename: String,
    content_type: Option<String>,
    data: Vec<u8>,
) -> Value {
    let size = data.len();
    let int = |name: &str, default: i64| params.int(name).unwrap_or(default);
    let value = if kind == "photo" {
        let (width, height) = image_size(&data).unwrap_or((1280, 960));
        state.photo_sizes(data, width.max(1), height.max(1))
    } else {
        let extension = match kind {
            "voice" => "oga".to_string(),
            "video" | "animation" => "mp4".to_string(),
            _ => filename
                .rsplit_once('.')
                .map(|(_, e)| e.to_string())
                .unwrap_or_else(|| "bin".into()),
        };
        let mime = content_type
            .filter(|t| !t.is_empty() && t != "application/octet-stream")
            .unwrap_or_else(|| mime_of(&filename).to_string());
        let (file_id, unique_id) = state.store_file(kind, &extension, data);
        let mut value = json!({});
        match kind {
            "voice" => {
                value["duration"] = json!(int("duration", 0));
                value["mime_type"] = json!("audio/ogg");
            }
            "audio" => {
                value["duration"] = json!(int("duration", 0));
                for field in ["performer", "title"] {
                    if let Some(text) = params.string(field) {
                        value[field] = json!(text);
                    }
                }
                value["file_name"] = json!(filename);
                value["mime_type"] = json!(mime);
            }
            "video" | "animation" => {
                value["duration"] = json!(int("duration", 0));
                value["width"] = json!(int("width", 0));
                value["height"] = json!(int("height", 0));
                value["file_name"] = json!(filename);
                value["mime_type"] = json!("video/mp4");
            }
            _ => {
                value["file_name"] = json!(filename);
                value["mime_type"] = json!(mime);
            }
        }
        value["file_id"] = json!(file_id);
        value["file_unique_id"] = json!(unique_id);
        value["file_size"] = json!(size);
        value
    };
    state.remember(&value);
    value
}

/// sendPhoto, sendDocument, sendVoice, sendVideo, sendAnimation.
pub fn send_media(shared: &Shared, token: &str, params: &Params, kind: &'static str) -> Outcome {
    let method = match kind {
        "photo" => "sendPhoto",
        "voice" => "sendVoice",
        "video" => "sendVideo",
        "animation" => "sendAnimation",
        _ => "sendDocument",
    };
    let envelope = Envelope::read(params, method)?;
    let caption = read_formatted(
        params,
        "caption",
        "caption_entities",
        MAX_CAPTION_CHARS,
        "message caption is too long",
    )?;
    let source = read_source(params, kind)?;
    let message = deliver(shared, token, envelope, None, |state, _| {
        let value = match source {
            Source::FileId(file_id) => {
                let file = state
                    .files
                    .get(&file_id)
                    .ok_or_else(|| ApiError::bad_request(WRONG_FILE))?;
                if file.kind != kind {
                    return Err(ApiError::bad_request("type of file mismatch"));
                }
                file.meta.clone()
            }
            Source::Upload {
                filename,
                content_type,
                data,
            } => uploaded(state, kind, params, filename, content_type, data),
        };
        let mut content = Map::new();
        content.insert(kind.into(), value);
        if let Some(caption) = caption {
            content.insert("caption".into(), json!(caption.text));
            if !caption.entities.is_empty() {
                content.insert("caption_entities".into(), Value::Array(caption.entities));
            }
        }
        Ok(content)
    })?;
    Ok(Success::of(message))
}

/// The fields of a message that a copy or a forward carries.
const CONTENT_FIELDS: &[&str] = &[
    "text",
    "entities",
    "link_preview_options",
    "photo",
    "document",
    "voice",
    "video_note",
    "video",
    "animation",
    "audio",
    "sticker",
    "caption",
    "caption_entities",
];

/// copyMessage (`forward` false) and forwardMessage (`forward` true).
pub fn copy_message(shared: &Shared, token: &str, params: &Params, forward: bool) -> Outcome {
    let (method, verb, done) = if forward {
        ("forwardMessage", "forward", "forwarded")
    } else {
        ("copyMessage", "copy", "copied")
    };
    let mut envelope = Envelope::read(params, method)?;
    if forward {
        // forwardMessage takes no keyboard and no reply.
        envelope.markup = crate::markup::Markup::None;
        envelope.reply_to = None;
    }
    let from_chat = params
        .string("from_chat_id")
        .ok_or_else(|| ApiError::bad_request("chat not found"))?;
    let message_id = params.int("message_id").unwrap_or(0);
    let not_found = move || ApiError::bad_request(format!("message to {verb} not found"));
    let caption = if forward {
        None
    } else {
        read_formatted(
            params,
            "caption",
            "caption_entities",
            MAX_CAPTION_CHARS,
            "message caption is too long",
        )?
    };
    let caption_given = params.string("caption").is_some();
    // Found in the closure, returned for forwardMessage's origin.
    let source = {
        let state = shared.lock();
        let bot = state.bots.get(token).ok_or_else(ApiError::unauthorized)?;
        let from = resolve_chat(&state, bot, &from_chat)?;
        let bot_id = bot.id;
        state
            .messages
            .iter()
            .rev()
            .find(|m| m.bot_id == bot_id && m.chat_id == from.id && m.message_id == message_id)
            .map(|m| m.message.clone())
            .ok_or_else(not_found)?
    };
    if !CONTENT_FIELDS.iter().any(|f| source.get(*f).is_some()) {
        return Err(ApiError::bad_request(format!("message can't be {done}")));
    }
    if source["has_protected_content"] == json!(true) {
        return Err(ApiError::bad_request(format!("message can't be {done}")));
    }
    let origin = forward.then(|| {
        let date = source["date"].clone();
        if source.get("forward_origin").is_some() {
            source["forward_origin"].clone()
        } else if source["chat"]["type"] == json!("channel") {
            json!({"type": "channel", "chat": source["chat"], "message_id": source["message_id"], "date": date})
        } else {
            json!({"type": "user", "sender_user": source["from"], "date": date})
        }
    });
    let message = deliver(shared, token, envelope, origin, |_, _| {
        let mut content = Map::new();
        for field in CONTENT_FIELDS {
            if let Some(value) = source.get(*field) {
                content.insert((*field).to_string(), value.clone());
            }
        }
        let has_media = content.keys().any(|k| k != "text" && k != "entities");
        if caption_given && has_media && !content.contains_key("video_note") {
            content.remove("caption");
            content.remove("caption_entities");
            if let Some(caption) = caption {
                content.insert("caption".into(), json!(caption.text));
                if !caption.entities.is_empty() {
                    content.insert("caption_entities".into(), Value::Array(caption.entities));
                }
            }
        }
        Ok(content)
    })?;
    if forward {
        Ok(Success::of(message))
    } else {
        Ok(Success::of(json!({"message_id": message["message_id"]})))
    }
}

/// getFile.
pub fn get_file(shared: &Shared, params: &Params) -> Outcome {
    let invalid = || ApiError::bad_request("invalid file_id");
    let file_id = params.string("file_id").ok_or_else(invalid)?;
    let state = shared.lock();
    let file = state.files.get(file_id.trim()).ok_or_else(invalid)?;
    if file.bytes.len() > MAX_DOWNLOAD {
        return Err(ApiError::bad_request("file is too big"));
    }
    Ok(Success::of(json!({
        "file_id": file_id.trim(),
        "file_unique_id": file.unique_id,
        "file_size": file.bytes.len(),
        "file_path": file.path,
    })))
}

/// `GET /file/bot<token>/<file_path>`: the file's bytes; 404 for an
/// unknown token or path, as Telegram's file server answers.
pub async fn download(
    State(shared): State<Arc<Shared>>,
    Path((bot_token, path)): Path<(String, String)>,
) -> Response {
    let state = shared.lock();
    let known = bot_token
        .strip_prefix("bot")
        .is_some_and(|token| state.bots.contains_key(token));
    let file = state
        .files
        .values()
        .find(|f| f.path == path && f.bytes.len() <= MAX_DOWNLOAD);
    match file {
        Some(file) if known => (
            [(header::CONTENT_TYPE, mime_of(&file.path))],
            file.bytes.clone(),
        )
            .into_response(),
        _ => ApiError::not_found().into_response(),
    }
}
