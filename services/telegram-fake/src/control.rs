//! The control API under `/control/...` (JSON), for tests and the demo: it
//! plays Telegram's users and shows what the bots sent.
//!
//! - `POST /control/updates`: inject an update ([`Inject`]); answers it.
//! - `POST /control/block`, `POST /control/unblock`: `{"token","chat_id"}`.
//! - `POST /control/chats`: declare a chat ([`NewChat`]); a group or
//!   channel may also say `"bot_status"` (administrator, member, left) and
//!   any of the rights of [`BotMembership`](crate::BotMembership), which
//!   are otherwise all granted.
//! - `POST /control/forums`: declare a forum supergroup with the bots as
//!   administrators ([`NewForum`](crate::NewForum)).
//! - `POST /control/updates` with `"kind": "media"` (a user sends a photo,
//!   document, voice or video note: [`Media`](crate::Media)) or
//!   `"kind": "topic_message"` (a member writes in a forum topic).
//! - `GET /control/sent_records[?chat_id=N]`: per sent message the method,
//!   `has_forward_origin`, `protect_content`, `message_thread_id` and the
//!   Message.
//! - `GET /control/files/{file_id}`: a kept file's bytes.
//! - `POST /control/chat_member`: the bots' status and rights in a
//!   declared group or channel ([`BotMembership`](crate::BotMembership)).
//! - `GET /control/pinned?token=T&chat_id=N`: `{"pinned": [message ids,
//!   oldest first]}`.
//! - `GET /control/post_link?chat_id=N&message_id=M`: `{"url":
//!   "https://t.me/<username>/<M>"}` (`t.me/c/...` without a username);
//!   404 for a chat that has no post links.
//! - `POST /control/backdate`: `{"token","chat_id","message_id","seconds"}`
//!   makes a message older (deleteMessage refuses after 48 hours).
//! - `POST /control/updates` with `"kind": "service"`: a member's action
//!   that leaves a service message (`"action": {"type": "edit_topic",
//!   "name"}`, `close_topic`, `reopen_topic`, `pin` with `message_id`,
//!   `join` with `members`, `leave` with `member`, `title` with `title`;
//!   [`ServiceAction`](crate::ServiceAction)).
//! - `POST /control/chat_username`: `{"chat_id", "username"}` makes a
//!   declared group, supergroup or channel public under that username;
//!   `"username": null` makes it private again.
//! - `GET /control/sent[?chat_id=N]`: the messages bots sent, in order,
//!   edits applied.
//! - `GET /control/callback_answers`: the answerCallbackQuery calls.
//! - `POST /control/polls/vote`: `{"poll_id", "user_id", "option_ids"}`
//!   (0-based; an empty list retracts): a user votes in a poll a bot sent;
//!   the bot gets a `poll` update (see `poll.rs`).
//! - `GET /control/stats`: the counters ([`Stats`](crate::Stats)).
//! - `POST /control/reset`: forget everything but the bots.
//!
//! A refused request gets 400 (404 for an unknown token) and
//! `{"error": "..."}`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Shared;
use crate::state::{BotMembership, BotStatus, Inject, NewChat, NewForum};

/// The control routes.
pub fn router() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route("/control/updates", post(inject))
        .route("/control/block", post(block))
        .route("/control/unblock", post(unblock))
        .route("/control/chats", post(add_chat))
        .route("/control/forums", post(add_forum))
        .route("/control/sent_records", get(sent_records))
        .route("/control/chat_member", post(chat_member))
        .route("/control/chat_username", post(chat_username))
        .route("/control/pinned", get(pinned))
        .route("/control/post_link", get(post_link))
        .route("/control/backdate", post(crate::edit::backdate))
        .route("/control/files/{file_id}", get(file))
        .route("/control/sent", get(sent))
        .route("/control/callback_answers", get(callback_answers))
        .route("/control/stats", get(stats))
        .route("/control/reset", post(reset))
}

fn refuse(error: String) -> Response {
    let status = if error == "unknown bot token" {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::BAD_REQUEST
    };
    (status, Json(json!({"error": error}))).into_response()
}

/// Reads a JSON body into `T`, or refuses with serde's reason.
fn body<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Box<Response>> {
    serde_json::from_value(value).map_err(|e| Box::new(refuse(e.to_string())))
}

async fn inject(State(shared): State<Arc<Shared>>, Json(value): Json<Value>) -> Response {
    let request: Inject = match body(value) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    match shared.lock().inject(request) {
        Ok(update) => Json(update).into_response(),
        Err(error) => refuse(error),
    }
}

#[derive(Deserialize)]
struct BlockRequest {
    token: String,
    chat_id: i64,
}

fn set_blocked(shared: &Shared, value: Value, blocked: bool) -> Response {
    let request: BlockRequest = match body(value) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    match shared
        .lock()
        .block(&request.token, request.chat_id, blocked)
    {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(error) => refuse(error),
    }
}

async fn block(State(shared): State<Arc<Shared>>, Json(value): Json<Value>) -> Response {
    set_blocked(&shared, value, true)
}

async fn unblock(State(shared): State<Arc<Shared>>, Json(value): Json<Value>) -> Response {
    set_blocked(&shared, value, false)
}

/// What `POST /control/chats` may say of the bots' membership.
#[derive(Deserialize)]
struct ChatMembershipFields {
    bot_status: Option<BotStatus>,
    can_post_messages: Option<bool>,
    can_edit_messages: Option<bool>,
    can_delete_messages: Option<bool>,
    can_pin_messages: Option<bool>,
    can_manage_topics: Option<bool>,
}

async fn add_chat(State(shared): State<Arc<Shared>>, Json(value): Json<Value>) -> Response {
    let chat: NewChat = match body(value.clone()) {
        Ok(chat) => chat,
        Err(response) => return *response,
    };
    let fields: ChatMembershipFields = match body(value) {
        Ok(fields) => fields,
        Err(response) => return *response,
    };
    let id = chat.id;
    let mut state = shared.lock();
    if let Err(error) = state.add_chat(chat) {
        return refuse(error);
    }
    let rights = [
        fields.can_post_messages,
        fields.can_edit_messages,
        fields.can_delete_messages,
        fields.can_pin_messages,
        fields.can_manage_topics,
    ];
    if fields.bot_status.is_some() || rights.iter().any(Option::is_some) {
        let Some(declared) = state.chats.get(&id).cloned() else {
            return refuse(format!("chat {id} was not declared"));
        };
        let mut membership = state.membership(&declared);
        membership.status = fields.bot_status.unwrap_or(membership.status);
        let set = |right: &mut bool, given: Option<bool>| *right = given.unwrap_or(*right);
        set(&mut membership.can_post_messages, fields.can_post_messages);
        set(&mut membership.can_edit_messages, fields.can_edit_messages);
        set(
            &mut membership.can_delete_messages,
            fields.can_delete_messages,
        );
        set(&mut membership.can_pin_messages, fields.can_pin_messages);
        set(&mut membership.can_manage_topics, fields.can_manage_topics);
        if let Err(error) = state.set_membership(membership) {
            return refuse(error);
        }
    }
    Json(json!({"ok": true})).into_response()
}

async fn add_forum(State(shared): State<Arc<Shared>>, Json(value): Json<Value>) -> Response {
    let forum: NewForum = match body(value) {
        Ok(forum) => forum,
        Err(response) => return *response,
    };
    match shared.lock().add_forum(forum) {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(error) => refuse(error),
    }
}

async fn sent_records(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<SentQuery>,
) -> Response {
    Json(shared.lock().sent_records(query.chat_id)).into_response()
}

async fn file(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(file_id): axum::extract::Path<String>,
) -> Response {
    match shared.lock().files.get(&file_id) {
        Some(file) => file.bytes.clone().into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "unknown file_id"})),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct SentQuery {
    chat_id: Option<i64>,
}

async fn sent(State(shared): State<Arc<Shared>>, Query(query): Query<SentQuery>) -> Response {
    Json(shared.lock().sent(query.chat_id)).into_response()
}

async fn callback_answers(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock().callback_answers.clone()).into_response()
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock().stats.clone()).into_response()
}

async fn reset(State(shared): State<Arc<Shared>>) -> Response {
    shared.lock().reset();
    Json(json!({"ok": true})).into_response()
}

async fn chat_member(State(shared): State<Arc<Shared>>, Json(value): Json<Value>) -> Response {
    let membership: BotMembership = match body(value) {
        Ok(membership) => membership,
        Err(response) => return *response,
    };
    match shared.lock().set_membership(membership) {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(error) => refuse(error),
    }
}

#[derive(Deserialize)]
struct PinnedQuery {
    token: String,
    chat_id: i64,
}

async fn pinned(State(shared): State<Arc<Shared>>, Query(query): Query<PinnedQuery>) -> Response {
    let state = shared.lock();
    let Some(bot_id) = state.bots.get(&query.token).map(|b| b.id) else {
        return refuse("unknown bot token".into());
    };
    Json(json!({"pinned": state.pinned_ids(bot_id, query.chat_id)})).into_response()
}

#[derive(Deserialize)]
struct PostLinkQuery {
    chat_id: i64,
    message_id: i64,
}

async fn post_link(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<PostLinkQuery>,
) -> Response {
    match shared.lock().post_link(query.chat_id, query.message_id) {
        Some(url) => Json(json!({"url": url})).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no post link: not a declared channel or supergroup"})),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct UsernameRequest {
    chat_id: i64,
    username: Option<String>,
}

async fn chat_username(State(shared): State<Arc<Shared>>, Json(value): Json<Value>) -> Response {
    let request: UsernameRequest = match body(value) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    match shared
        .lock()
        .set_username(request.chat_id, request.username.as_deref())
    {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(error) => refuse(error),
    }
}
