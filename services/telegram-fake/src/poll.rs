//! Native polls: sendPoll and stopPoll, and the control endpoint that
//! plays the voters (`POST /control/polls/vote`).
//!
//! As in Telegram: a question of 1-300 characters, 2-12 options of 1-100
//! characters each (as strings or InputPollOption objects), anonymous
//! unless `is_anonymous` is false, `allows_multiple_answers`, `is_closed`
//! to send it closed. The Message carries the Poll; every change of a
//! poll the bot sent (a vote, a retracted vote, stopPoll) gives the bot a
//! `poll` update with the whole Poll (voter counts only, never who).
//!
//! Where it knowingly differs: quizzes (`type` quiz) are refused as
//! `wrong poll type specified` (nasvyazi sends regular polls only);
//! `open_period`, `close_date`, the explanation and the newer options
//! (revoting, shuffling, added options, descriptions) are ignored; a
//! non-anonymous poll in a channel gets `non-anonymous polls can't be sent
//! to channel chats` and a stopPoll of a message that is not a poll
//! `message with poll to stop not found` (both unconfirmed guesses at
//! Telegram's texts); `poll_answer` updates (non-anonymous votes) are
//! not produced.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::api::{Outcome, check_blocked, resolve_chat};
use crate::error::{ApiError, Success};
use crate::markup;
use crate::outgoing::{Envelope, deliver};
use crate::params::Params;
use crate::state::{ChatKind, unix_now};

/// The longest question, in characters.
pub const MAX_QUESTION_CHARS: usize = 300;
/// The longest option, in characters.
pub const MAX_OPTION_CHARS: usize = 100;
/// The most options (Bot API 9.1 raised it from 10 to 12).
pub const MAX_OPTIONS: usize = 12;
/// The polls kept at most (the oldest are forgotten).
const MAX_POLLS: usize = 10_000;

/// A poll a bot sent.
#[derive(Debug, Clone)]
pub struct StoredPoll {
    token: String,
    bot_id: i64,
    chat_id: i64,
    message_id: i64,
    question: String,
    options: Vec<String>,
    anonymous: bool,
    multiple: bool,
    closed: bool,
    /// Each voter's chosen options.
    votes: HashMap<i64, Vec<usize>>,
}

impl StoredPoll {
    /// The Poll object.
    fn to_json(&self, id: &str) -> Value {
        let mut counts = vec![0u64; self.options.len()];
        for chosen in self.votes.values() {
            for &i in chosen {
                counts[i] += 1;
            }
        }
        let options: Vec<Value> = self
            .options
            .iter()
            .zip(counts)
            .map(|(text, n)| json!({"text": text, "voter_count": n}))
            .collect();
        json!({
            "id": id,
            "question": self.question,
            "options": options,
            "total_voter_count": self.votes.len(),
            "is_closed": self.closed,
            "is_anonymous": self.anonymous,
            "type": "regular",
            "allows_multiple_answers": self.multiple,
        })
    }
}

/// Every poll, by poll id.
#[derive(Debug, Default)]
pub struct Polls {
    by_id: HashMap<String, StoredPoll>,
    order: std::collections::VecDeque<String>,
    next: u64,
}

fn too_few() -> ApiError {
    ApiError::bad_request("poll must have at least 2 option")
}

/// Reads `options`: strings or InputPollOption objects.
fn read_options(params: &Params) -> Result<Vec<String>, ApiError> {
    let list = match params.json("options") {
        Ok(Some(Value::Array(list))) => list,
        Ok(None) => return Err(too_few()),
        _ => return Err(ApiError::bad_request("can't parse options JSON object")),
    };
    let mut out = Vec::with_capacity(list.len());
    for item in &list {
        let text = match item {
            Value::String(s) => s.as_str(),
            Value::Object(o) => match o.get("text") {
                Some(Value::String(s)) => s.as_str(),
                _ => return Err(ApiError::bad_request("can't parse InputPollOption")),
            },
            _ => return Err(ApiError::bad_request("can't parse InputPollOption")),
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(ApiError::bad_request("poll options must be non-empty"));
        }
        if text.chars().count() > MAX_OPTION_CHARS {
            return Err(ApiError::bad_request(format!(
                "poll options length must not exceed {MAX_OPTION_CHARS}"
            )));
        }
        out.push(text.to_string());
    }
    if out.len() < 2 {
        return Err(too_few());
    }
    if out.len() > MAX_OPTIONS {
        return Err(ApiError::bad_request(format!(
            "poll can't have more than {MAX_OPTIONS} options"
        )));
    }
    Ok(out)
}

/// sendPoll.
pub fn send_poll(shared: &Shared, token: &str, params: &Params) -> Outcome {
    let envelope = Envelope::read(params, "sendPoll")?;
    let question = params.string("question").unwrap_or_default();
    let question = question.trim();
    if question.is_empty() {
        return Err(ApiError::bad_request("poll question must be non-empty"));
    }
    if question.chars().count() > MAX_QUESTION_CHARS {
        return Err(ApiError::bad_request(format!(
            "poll question length must not exceed {MAX_QUESTION_CHARS}"
        )));
    }
    let options = read_options(params)?;
    match params.string("type").as_deref() {
        None | Some("regular") => {}
        Some(_) => return Err(ApiError::bad_request("wrong poll type specified")),
    }
    // Anonymous unless said otherwise.
    let anonymous = params.get("is_anonymous").is_none() || params.bool("is_anonymous");
    let multiple = params.bool("allows_multiple_answers");
    let closed = params.bool("is_closed");
    let question = question.to_string();
    let mut made: Option<String> = None;
    let message = deliver(shared, token, envelope, None, |state, chat| {
        if chat.kind == ChatKind::Channel && !anonymous {
            return Err(ApiError::bad_request(
                "non-anonymous polls can't be sent to channel chats",
            ));
        }
        let bot_id = state
            .bots
            .get(token)
            .map(|b| b.id)
            .ok_or_else(ApiError::unauthorized)?;
        let polls = &mut state.polls;
        polls.next += 1;
        let id = format!(
            "{}{:010}",
            bot_id.unsigned_abs() % 1_000_000_000,
            polls.next
        );
        let poll = StoredPoll {
            token: token.to_string(),
            bot_id,
            chat_id: chat.id,
            message_id: 0,
            question: question.clone(),
            options: options.clone(),
            anonymous,
            multiple,
            closed,
            votes: HashMap::new(),
        };
        let mut content = Map::new();
        content.insert("poll".into(), poll.to_json(&id));
        if polls.order.len() >= MAX_POLLS
            && let Some(old) = polls.order.pop_front()
        {
            polls.by_id.remove(&old);
        }
        polls.order.push_back(id.clone());
        polls.by_id.insert(id.clone(), poll);
        made = Some(id);
        Ok(content)
    })?;
    if let (Some(id), Some(message_id)) = (made, message["message_id"].as_i64())
        && let Some(poll) = shared.lock().polls.by_id.get_mut(&id)
    {
        poll.message_id = message_id;
    }
    Ok(Success::of(message))
}

/// Rewrites the poll in its Message and tells the bot (a `poll` update).
fn publish(state: &mut crate::state::State, id: &str) -> Result<Value, String> {
    let poll = state
        .polls
        .by_id
        .get(id)
        .cloned()
        .ok_or_else(|| "unknown poll_id".to_string())?;
    let json = poll.to_json(id);
    if let Some(stored) = state.find_message(poll.bot_id, poll.chat_id, poll.message_id) {
        stored.message["poll"] = json.clone();
    }
    state.push_update(&poll.token, "poll", json.clone())?;
    Ok(json)
}

/// stopPoll: closes a poll the bot sent; answers the final Poll.
pub fn stop_poll(shared: &Shared, token: &str, params: &Params) -> Outcome {
    let chat_param = params
        .string("chat_id")
        .ok_or_else(|| ApiError::bad_request("chat_id is empty"))?;
    let message_id = params
        .int("message_id")
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad_request("message identifier is not specified"))?;
    let keyboard = markup::read(params)?.inline().cloned();
    let mut guard = shared.lock();
    let state = &mut *guard;
    let bot = state.bots.get(token).ok_or_else(ApiError::unauthorized)?;
    let chat = resolve_chat(state, bot, &chat_param)?;
    check_blocked(bot, &chat)?;
    let bot_id = bot.id;
    let not_found = || ApiError::bad_request("message with poll to stop not found");
    let stored = state
        .find_message(bot_id, chat.id, message_id)
        .filter(|m| m.outgoing)
        .ok_or_else(not_found)?;
    let id = stored.message["poll"]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(not_found)?;
    if let Some(object) = stored.message.as_object_mut() {
        match keyboard {
            Some(k) => object.insert("reply_markup".into(), k),
            None => object.remove("reply_markup"),
        };
    }
    let poll = state.polls.by_id.get_mut(&id).ok_or_else(not_found)?;
    if poll.closed {
        return Err(ApiError::bad_request("poll has already been closed"));
    }
    poll.closed = true;
    let json = publish(state, &id).map_err(ApiError::bad_request)?;
    if let Some(stored) = state.find_message(bot_id, chat.id, message_id) {
        stored.message["edit_date"] = json!(unix_now());
    }
    Ok(Success::of(json))
}

/// `POST /control/polls/vote`: `{"poll_id", "user_id", "option_ids"}`
/// (an empty list retracts the vote).
#[derive(Debug, Clone, Deserialize)]
pub struct Vote {
    pub poll_id: String,
    pub user_id: i64,
    #[serde(default)]
    pub option_ids: Vec<usize>,
}

/// Casts (or retracts) a vote; returns the Poll after it.
pub fn vote(state: &mut crate::state::State, vote: Vote) -> Result<Value, String> {
    let poll = state
        .polls
        .by_id
        .get_mut(&vote.poll_id)
        .ok_or_else(|| "unknown poll_id".to_string())?;
    if poll.closed {
        return Err("the poll is closed".into());
    }
    if vote.user_id <= 0 {
        return Err("user_id must be positive".into());
    }
    let mut chosen = vote.option_ids.clone();
    chosen.sort_unstable();
    chosen.dedup();
    if chosen.iter().any(|&i| i >= poll.options.len()) {
        return Err("option_ids: no such option".into());
    }
    if chosen.len() > 1 && !poll.multiple {
        return Err("the poll allows one answer".into());
    }
    if chosen.is_empty() {
        poll.votes.remove(&vote.user_id);
    } else {
        poll.votes.insert(vote.user_id, chosen);
    }
    publish(state, &vote.poll_id)
}

/// The control route.
pub fn router() -> axum::Router<Arc<Shared>> {
    axum::Router::new().route("/control/polls/vote", post(vote_route))
}

async fn vote_route(State(shared): State<Arc<Shared>>, Json(value): Json<Value>) -> Response {
    let request: Vote = match serde_json::from_value(value) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": e.to_string()})),
            )
                .into_response();
        }
    };
    match vote(&mut shared.lock(), request) {
        Ok(poll) => Json(poll).into_response(),
        Err(error) => (StatusCode::BAD_REQUEST, Json(json!({"error": error}))).into_response(),
    }
}
