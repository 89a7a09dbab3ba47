//! The control API under `/control/...` (JSON), for tests and the demo: it
//! plays Telegram's users and shows what the bots sent.
//!
//! - `POST /control/updates`: inject an update ([`Inject`]); answers it.
//! - `POST /control/block`, `POST /control/unblock`: `{"token","chat_id"}`.
//! - `POST /control/chats`: declare a chat ([`NewChat`]).
//! - `GET /control/sent[?chat_id=N]`: the messages bots sent, in order,
//!   edits applied.
//! - `GET /control/callback_answers`: the answerCallbackQuery calls.
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
use crate::state::{Inject, NewChat};

/// The control routes.
pub fn router() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route("/control/updates", post(inject))
        .route("/control/block", post(block))
        .route("/control/unblock", post(unblock))
        .route("/control/chats", post(add_chat))
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

async fn add_chat(State(shared): State<Arc<Shared>>, Json(value): Json<Value>) -> Response {
    let chat: NewChat = match body(value) {
        Ok(chat) => chat,
        Err(response) => return *response,
    };
    match shared.lock().add_chat(chat) {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(error) => refuse(error),
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
