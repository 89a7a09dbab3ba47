//! `reply_markup`, checked as Telegram checks it. An inline keyboard is kept
//! (and echoed in the Message, URLs normalised); the other keyboards are
//! accepted and, as in Telegram, not echoed.

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::html::normalize_url;
use crate::params::Params;

/// The most bytes of `callback_data`.
pub const MAX_CALLBACK_DATA_BYTES: usize = 64;

/// Button fields that make an inline button do something, besides `url` and
/// `callback_data`; passed through unchecked.
const OTHER_ACTIONS: &[&str] = &[
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
];

/// What a request's reply_markup says.
#[derive(Clone, Debug, PartialEq)]
pub enum Markup {
    /// No reply_markup (or an empty inline keyboard).
    None,
    /// An inline keyboard, as the Message will show it.
    Inline(Value),
    /// A reply keyboard, its removal or a forced reply.
    Other,
}

impl Markup {
    /// The inline keyboard, if that is what it is.
    pub fn inline(&self) -> Option<&Value> {
        match self {
            Markup::Inline(keyboard) => Some(keyboard),
            _ => None,
        }
    }
}

fn button_error(what: &str) -> ApiError {
    ApiError::bad_request(format!("can't parse inline keyboard button: {what}"))
}

/// Reads and checks `reply_markup`.
pub fn read(params: &Params) -> Result<Markup, ApiError> {
    let markup = params
        .json("reply_markup")
        .map_err(|()| ApiError::bad_request("can't parse reply keyboard markup JSON object"))?;
    let Some(markup) = markup else {
        return Ok(Markup::None);
    };
    let Value::Object(markup) = markup else {
        return Err(ApiError::bad_request("object expected as reply markup"));
    };
    let Some(rows) = markup.get("inline_keyboard") else {
        return Ok(Markup::Other);
    };
    let array_of_arrays = || {
        ApiError::bad_request(
            "field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays",
        )
    };
    let rows = rows.as_array().ok_or_else(array_of_arrays)?;
    let mut keyboard = Vec::with_capacity(rows.len());
    for row in rows {
        let row = row.as_array().ok_or_else(array_of_arrays)?;
        let buttons = row.iter().map(button).collect::<Result<Vec<_>, _>>()?;
        if !buttons.is_empty() {
            keyboard.push(Value::Array(buttons));
        }
    }
    if keyboard.is_empty() {
        return Ok(Markup::None);
    }
    Ok(Markup::Inline(json!({"inline_keyboard": keyboard})))
}

/// Checks one inline button; returns it as Telegram echoes it.
fn button(button: &Value) -> Result<Value, ApiError> {
    let Value::Object(button) = button else {
        return Err(button_error("InlineKeyboardButton must be an Object"));
    };
    let text = match button.get("text") {
        None => return Err(button_error("Can't find field \"text\"")),
        Some(Value::String(text)) => text.clone(),
        Some(_) => return Err(button_error("Field \"text\" must be of type String")),
    };
    let mut out = Map::new();
    out.insert("text".into(), Value::String(text));
    if let Some(url) = button.get("url") {
        let url = url
            .as_str()
            .ok_or_else(|| button_error("Field \"url\" must be of type String"))?;
        let url = normalize_url(url).ok_or_else(|| ApiError::bad_request("BUTTON_URL_INVALID"))?;
        out.insert("url".into(), Value::String(url));
    } else if let Some(data) = button.get("callback_data") {
        let data = data
            .as_str()
            .ok_or_else(|| button_error("Field \"callback_data\" must be of type String"))?;
        if data.is_empty() || data.len() > MAX_CALLBACK_DATA_BYTES {
            return Err(ApiError::bad_request("BUTTON_DATA_INVALID"));
        }
        out.insert("callback_data".into(), Value::String(data.to_string()));
    } else if let Some((key, value)) = OTHER_ACTIONS
        .iter()
        .find_map(|key| button.get(*key).map(|v| (*key, v.clone())))
    {
        out.insert(key.into(), value);
    } else {
        return Err(button_error(
            "Text buttons are unallowed in the inline keyboard",
        ));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_json(markup: Value) -> Result<Markup, String> {
        let params = Params::from_object(
            json!({"reply_markup": markup.to_string()})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        read(&params).map_err(|e| e.description)
    }

    #[test]
    fn checks_inline_keyboards() {
        let ok = read_json(
            json!({"inline_keyboard": [[{"text": "A", "callback_data": "a"}, {"text": "B", "url": "https://example.com"}]]}),
        );
        assert_eq!(
            ok,
            Ok(Markup::Inline(
                json!({"inline_keyboard": [[{"text": "A", "callback_data": "a"}, {"text": "B", "url": "https://example.com/"}]]})
            ))
        );
        assert_eq!(
            read_json(json!({"inline_keyboard": [{"text": "A"}]})),
            Err("Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays".into())
        );
        assert_eq!(
            read_json(json!({"inline_keyboard": [[{"text": "A"}]]})),
            Err("Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard".into())
        );
        assert_eq!(
            read_json(
                json!({"inline_keyboard": [[{"text": "A", "callback_data": "x".repeat(65)}]]})
            ),
            Err("Bad Request: BUTTON_DATA_INVALID".into())
        );
        assert_eq!(
            read_json(json!({"remove_keyboard": true})),
            Ok(Markup::Other)
        );
    }
}
