//! sendMediaGroup: an album of 2-10 photos and videos, documents or audio
//! files, each by file_id or a multipart upload (`attach://<name>`), sent
//! as messages sharing a `media_group_id`.

use serde_json::{Map, Value, json};

use crate::Shared;
use crate::api::{Outcome, read_formatted};
use crate::error::{ApiError, Success};
use crate::markup::Markup;
use crate::media::{MAX_CAPTION_CHARS, MAX_FILE_UPLOAD, MAX_PHOTO_UPLOAD, WRONG_FILE, uploaded};
use crate::outgoing::{Envelope, deliver_all};
use crate::params::{Params, Upload};

/// The most items an album may have.
pub const MAX_ALBUM_ITEMS: usize = 10;

/// One InputMedia of the album, read and checked.
struct Item {
    kind: &'static str,
    params: Params,
    caption: Option<crate::api::Text>,
    source: ItemSource,
}

enum ItemSource {
    FileId(String),
    Upload(Upload),
}

/// The error of the album's `n`th message (from 1), as Telegram words it.
fn failed(n: usize, what: &str) -> ApiError {
    ApiError::bad_request(format!(
        "failed to send message #{n} with the error message \"{what}\""
    ))
}

fn read_item(params: &Params, value: &Value) -> Result<Item, ApiError> {
    let invalid = |what: &str| ApiError::bad_request(format!("can't parse InputMedia: {what}"));
    let object = value
        .as_object()
        .ok_or_else(|| invalid("Object expected"))?;
    let kind = match object.get("type").and_then(Value::as_str) {
        Some("photo") => "photo",
        Some("video") => "video",
        Some("document") => "document",
        Some("audio") => "audio",
        Some("animation") => {
            return Err(invalid(
                "type \"animation\" can't be used in sendMediaGroup",
            ));
        }
        Some(other) => return Err(invalid(&format!("type \"{other}\" is unsupported"))),
        None => return Err(invalid("Field \"type\" must be of type String")),
    };
    let media = object
        .get("media")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid("media not found"))?;
    let item_params = Params::from_object(object.clone());
    let caption = read_formatted(
        &item_params,
        "caption",
        "caption_entities",
        MAX_CAPTION_CHARS,
        "message caption is too long",
    )?;
    let source = match media.strip_prefix("attach://") {
        Some(name) => {
            let upload = params
                .upload(name)
                .ok_or_else(|| ApiError::bad_request(WRONG_FILE))?;
            if upload.data.is_empty() {
                return Err(ApiError::bad_request("file must be non-empty"));
            }
            if upload.data.len() > MAX_FILE_UPLOAD {
                return Err(ApiError::too_large());
            }
            if kind == "photo" && upload.data.len() > MAX_PHOTO_UPLOAD {
                return Err(ApiError::bad_request("file is too big"));
            }
            ItemSource::Upload(upload.clone())
        }
        None => ItemSource::FileId(media.trim().to_string()),
    };
    Ok(Item {
        kind,
        params: item_params,
        caption,
        source,
    })
}

/// sendMediaGroup.
pub fn send_media_group(shared: &Shared, token: &str, params: &Params) -> Outcome {
    let mut envelope = Envelope::read(params, "sendMediaGroup")?;
    // sendMediaGroup takes no keyboard.
    envelope.markup = Markup::None;
    let list = match params.json("media") {
        Ok(None) => return Err(ApiError::bad_request("parameter \"media\" is required")),
        Err(()) => return Err(ApiError::bad_request("can't parse media JSON object")),
        Ok(Some(Value::Array(list))) => list,
        Ok(Some(_)) => return Err(ApiError::bad_request("expected an Array of InputMedia")),
    };
    if list.is_empty() {
        return Err(ApiError::bad_request("there are no messages to send"));
    }
    if list.len() > MAX_ALBUM_ITEMS {
        return Err(ApiError::bad_request(
            "too many messages to send as an album",
        ));
    }
    let items = list
        .iter()
        .map(|value| read_item(params, value))
        .collect::<Result<Vec<_>, _>>()?;
    for alone in ["document", "audio"] {
        if items.iter().any(|i| i.kind == alone) && items.iter().any(|i| i.kind != alone) {
            return Err(ApiError::bad_request(format!(
                "{alone} can't be mixed with other media types"
            )));
        }
    }
    let grouped = items.len() > 1;
    let messages = deliver_all(shared, token, envelope, None, |state, _| {
        // Every file is checked before any message goes out.
        let mut known = Vec::with_capacity(items.len());
        for (n, item) in items.iter().enumerate() {
            if let ItemSource::FileId(file_id) = &item.source {
                let file = state
                    .files
                    .get(file_id)
                    .ok_or_else(|| failed(n + 1, "Wrong file identifier/HTTP URL specified"))?;
                if file.kind != item.kind {
                    return Err(failed(n + 1, "Type of file mismatch"));
                }
                known.push(Some(file.meta.clone()));
            } else {
                known.push(None);
            }
        }
        state.next_media_group += 1;
        let group_id = format!(
            "{}",
            13_000_000_000_000_000_u64 + state.next_media_group * 7_919
        );
        let mut contents = Vec::with_capacity(items.len());
        for (item, meta) in items.into_iter().zip(known) {
            let value = match (meta, item.source) {
                (Some(meta), _) => meta,
                (None, ItemSource::Upload(upload)) => uploaded(
                    state,
                    item.kind,
                    &item.params,
                    upload.filename,
                    upload.content_type,
                    upload.data,
                ),
                (None, ItemSource::FileId(_)) => return Err(ApiError::bad_request(WRONG_FILE)),
            };
            let mut content = Map::new();
            if grouped {
                content.insert("media_group_id".into(), json!(group_id));
            }
            content.insert(item.kind.into(), value);
            if let Some(caption) = item.caption {
                content.insert("caption".into(), json!(caption.text));
                if !caption.entities.is_empty() {
                    content.insert("caption_entities".into(), Value::Array(caption.entities));
                }
            }
            contents.push(content);
        }
        Ok(contents)
    })?;
    Ok(Success::of(Value::Array(messages)))
}
