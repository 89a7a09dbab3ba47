//! A faithful local Telegram Bot API, for tests and the demo.
//!
//! Telegram cannot be reached from where nasvyazi is built and tested, so our
//! Telegram sender and bot talk to this fake instead, and it must answer as
//! Telegram answers on the wire: methods at `/bot<token>/<method>` by GET or
//! POST, parameters in the query string, a form, a JSON or a multipart body,
//! `{"ok":true,"result":...}` or `{"ok":false,"error_code":N,"description":...}`
//! with the HTTP status equal to the error code and Telegram's own
//! descriptions. It enforces what Telegram enforces: HTML entity parsing
//! (a port of Telegram's parser, [`html`]), the 4096-character limit, unknown
//! chats, blocked users, flood limits with `retry_after` ([`PER_BOT_PER_SECOND`] and others), the
//! webhook/getUpdates exclusivity, long polling and update confirmation.
//! Methods: getMe, getUpdates, setWebhook, deleteWebhook, getWebhookInfo,
//! sendMessage, editMessageText, answerCallbackQuery.
//!
//! A control API (`/control/...`, and the same helpers on [`TelegramFake`]) plays
//! the users: inject messages and button presses, block the bot, declare
//! groups and channels, and read what the bots sent.
//!
//! Where it knowingly differs from Telegram: webhooks may be plain HTTP on
//! any port (so tests can listen on 127.0.0.1); a failing webhook is retried
//! a few times within a second, not for hours; Markdown parse modes are
//! passed through unchecked; files cannot be uploaded; the flood limits allow
//! no burst at all.
//!
//! What it must never do: contact Telegram or any host other than a webhook
//! URL a bot set itself; be used with real bot tokens or real people's data;
//! keep anything beyond the process or without a bound (state is in memory,
//! capped, and forgotten on reset); wait without bound (long polls end after
//! at most 50 s or at shutdown); or accept what Telegram refuses, or refuse
//! what it accepts, without saying so above.

mod api;
mod control;
mod error;
pub mod html;
mod limits;
mod markup;
mod params;
mod state;
mod webhook;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use axum::response::IntoResponse;
use axum::routing::any;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::limits::{PER_BOT_PER_SECOND, PER_GROUP_PER_MINUTE, PER_PRIVATE_CHAT_PER_SECOND};
pub use crate::state::{ChatKind, Inject, NewChat, Stats};

/// How the fake is set up.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// The bot tokens it accepts, e.g. `123456:ABC-DEF`; the number before
    /// `:` is the bot's user id.
    pub tokens: Vec<String>,
    /// Enforce Telegram's flood limits (429 Too Many Requests).
    pub rate_limits: bool,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            tokens: Vec::new(),
            rate_limits: true,
        }
    }
}

/// What the HTTP handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<state::State>,
    rate_limits: bool,
    shutdown: CancellationToken,
    http: reqwest::Client,
}

impl Shared {
    fn new(config: &FakeConfig, shutdown: CancellationToken) -> anyhow::Result<Shared> {
        let http = reqwest::Client::builder()
            .user_agent("nasvyazi-telegram-fake")
            .build()
            .context("building the webhook client")?;
        Ok(Shared {
            state: Mutex::new(state::State::new(&config.tokens)?),
            rate_limits: config.rate_limits,
            shutdown,
            http,
        })
    }

    /// The state; a panic elsewhere does not make it unusable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a refused request in the stats, and passes the outcome on.
    pub(crate) fn count(&self, outcome: api::Outcome) -> api::Outcome {
        if let Err(error) = &outcome {
            let mut state = self.lock();
            if error.code == 429 {
                state.stats.too_many_requests += 1;
            }
            if (400..500).contains(&error.code) {
                state.stats.client_errors += 1;
            }
        }
        outcome
    }
}

fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .merge(control::router())
        .route("/{bot_token}/{method}", any(api::handle))
        .fallback(|| async { error::ApiError::not_found().into_response() })
        .with_state(shared)
}

async fn run(listener: TcpListener, shared: Arc<Shared>) -> anyhow::Result<()> {
    let shutdown = shared.shutdown.clone();
    axum::serve(listener, router(shared))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("serving the Telegram fake")
}

/// Serves the fake on `listener` until `shutdown` (for the CLI).
pub async fn serve(
    listener: TcpListener,
    config: FakeConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared::new(&config, shutdown)?);
    run(listener, shared).await
}

/// A running fake on 127.0.0.1, with in-process control; it stops when
/// dropped.
#[derive(Debug)]
pub struct TelegramFake {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TelegramFake {
    /// Binds 127.0.0.1 on a free port and starts serving.
    pub async fn start(config: FakeConfig) -> anyhow::Result<TelegramFake> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the Telegram fake")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(&config, CancellationToken::new())?);
        let server = tokio::spawn(run(listener, shared.clone()));
        Ok(TelegramFake {
            shared,
            addr,
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:PORT`: methods are at `{base_url}/bot{token}/{method}`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Message objects bots sent to `chat_id`, in order, edits applied.
    pub fn sent_to(&self, chat_id: i64) -> Vec<Value> {
        self.shared.lock().sent(Some(chat_id))
    }

    /// Every Message object bots sent, in order, edits applied.
    pub fn sent(&self) -> Vec<Value> {
        self.shared.lock().sent(None)
    }

    /// Injects any update (see [`Inject`]); returns it with its update_id.
    pub fn inject(&self, inject: Inject) -> anyhow::Result<Value> {
        self.shared
            .lock()
            .inject(inject)
            .map_err(anyhow::Error::msg)
    }

    /// User `from_user_id` writes `text` in `chat_id` (their own id for the
    /// private chat with the bot); returns the update.
    pub fn inject_text(
        &self,
        token: &str,
        from_user_id: i64,
        chat_id: i64,
        text: &str,
    ) -> anyhow::Result<Value> {
        self.inject(Inject::Message {
            token: token.to_string(),
            from: from_user_id,
            chat_id: Some(chat_id),
            text: text.to_string(),
            first_name: None,
            username: None,
            language_code: None,
        })
    }

    /// User `from_user_id` presses a button with `data` under the bot's
    /// message `message_id` in `chat_id`; returns the update, whose
    /// `callback_query.id` answerCallbackQuery takes.
    pub fn inject_callback(
        &self,
        token: &str,
        from_user_id: i64,
        chat_id: i64,
        message_id: i64,
        data: &str,
    ) -> anyhow::Result<Value> {
        self.inject(Inject::CallbackQuery {
            token: token.to_string(),
            from: from_user_id,
            chat_id,
            message_id,
            data: data.to_string(),
        })
    }

    /// The user of `chat_id` blocks the bot (or the bot is removed from the
    /// group): sends get 403, and the bot gets a my_chat_member update.
    pub fn block(&self, token: &str, chat_id: i64) -> anyhow::Result<()> {
        self.shared
            .lock()
            .block(token, chat_id, true)
            .map_err(anyhow::Error::msg)
    }

    /// Undoes [`block`](Self::block).
    pub fn unblock(&self, token: &str, chat_id: i64) -> anyhow::Result<()> {
        self.shared
            .lock()
            .block(token, chat_id, false)
            .map_err(anyhow::Error::msg)
    }

    /// Declares a chat: a group, supergroup or channel (negative id) or a
    /// private chat every bot may write to (positive id).
    pub fn add_chat(&self, chat: NewChat) -> anyhow::Result<()> {
        self.shared
            .lock()
            .add_chat(chat)
            .map_err(anyhow::Error::msg)
    }

    /// The answerCallbackQuery calls, in order.
    pub fn callback_answers(&self) -> Vec<Value> {
        self.shared.lock().callback_answers.clone()
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    /// How many requests were answered 429.
    pub fn count_429(&self) -> u64 {
        self.shared.lock().stats.too_many_requests
    }

    /// Forgets chats, messages, updates, blocks, webhooks and counters.
    pub fn reset(&self) {
        self.shared.lock().reset();
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shared.shutdown.cancel();
        match self.server.take() {
            Some(server) => server.await.context("the Telegram fake's task")?,
            None => Ok(()),
        }
    }
}

impl Drop for TelegramFake {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}
