//! Webhook mode: at start front registers `{http.public_url}/telegram/webhook`
//! with setWebhook and a secret token; Telegram then POSTs each update there
//! with `X-Telegram-Bot-Api-Secret-Token`, which is checked in constant time
//! before anything is read. One connection at a time (`max_connections`
//! 1), so updates are applied in order.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nasvyazi_shared::config::TelegramMode;
use nasvyazi_shared::crypto::token_hash;
use nasvyazi_shared::error::ApiError;
use nasvyazi_shared::telegram::api::ApiError as BotApiError;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{ALLOWED_UPDATES, Bot};
use crate::AppState;

/// The header Telegram sends the secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// The route.
pub const PATH: &str = "/telegram/webhook";

/// Equal secrets, compared without an early exit: the SHA-256 of each (so
/// lengths do not matter either), every byte looked at.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let (a, b) = (
        token_hash(&String::from_utf8_lossy(given)),
        token_hash(&String::from_utf8_lossy(expected)),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// `POST /telegram/webhook`: 404 unless in webhook mode, 401 without the
/// right secret, 400 for a body that is not an update, 200 once applied
/// (500 makes Telegram deliver it again).
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let config = &state.infra.config.telegram;
    let (Some(bot), TelegramMode::Webhook, Some(secret)) = (
        state.telegram.as_ref(),
        config.mode,
        config.webhook_secret.as_ref(),
    ) else {
        return ApiError::not_found().into_response();
    };
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !same_secret(given, secret.expose_secret().as_bytes()) {
        tracing::warn!("telegram webhook: wrong or missing secret token");
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid secret token is required",
        )
        .into_response();
    }
    let Ok(update) = serde_json::from_slice::<Value>(&body) else {
        return ApiError::bad_request("not a Telegram update").into_response();
    };
    match bot.handle_update(&update).await {
        Ok(()) => axum::Json(json!({})).into_response(),
        Err(e) => ApiError::internal(e.context("telegram webhook update")).into_response(),
    }
}

/// Registers the webhook, retrying until it is set or `shutdown`.
pub async fn register(bot: Arc<Bot>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let config = &bot.config;
    let url = format!("{}{PATH}", config.public_base());
    let secret = config
        .telegram
        .webhook_secret
        .as_ref()
        .map(|s| s.expose_secret().to_string())
        .unwrap_or_default();
    let params = json!({
        "url": url,
        "secret_token": secret,
        "allowed_updates": ALLOWED_UPDATES,
        "max_connections": 1,
    });
    loop {
        match bot.api().call("setWebhook", &params).await {
            Ok(_) => {
                tracing::info!("telegram webhook registered");
                return Ok(());
            }
            // Refused as asked (e.g. not HTTPS): asking again will not help.
            Err(e @ BotApiError::Refused { code: 400, .. }) => {
                tracing::error!(error = %e, "telegram: setWebhook refused; check http.public_url");
                return Ok(());
            }
            Err(e) => tracing::warn!(error = %e, "telegram: setWebhook failed; will retry"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_compare() {
        assert!(super::same_secret(b"s3cret_token", b"s3cret_token"));
        assert!(!super::same_secret(b"s3cret_tokeN", b"s3cret_token"));
        assert!(!super::same_secret(b"", b"s3cret_token"));
    }
}
