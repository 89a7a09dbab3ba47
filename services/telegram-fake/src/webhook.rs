//! Delivering updates to a webhook: one at a time and in order, as a JSON
//! POST with `X-Telegram-Bot-Api-Secret-Token` when a secret is set. A
//! failed delivery is retried a few times with a growing pause (Telegram
//! keeps trying for longer), then the update is dropped and the failure shows
//! in getWebhookInfo. A JSON reply with a `method` field is executed as a
//! method call, as Telegram does.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::Shared;
use crate::params::Params;
use crate::state::unix_now;

/// Delivery attempts for one update.
pub const ATTEMPTS: u32 = 4;
/// The pause after the first failed attempt; it doubles after each.
pub const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(100);
/// How long one delivery may take.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Delivers a bot's pending updates to its webhook until `cancel`.
pub async fn run(shared: Arc<Shared>, token: String, cancel: CancellationToken) {
    let Some(notify) = shared.lock().bots.get(&token).map(|b| b.notify.clone()) else {
        return;
    };
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let job = {
            let state = shared.lock();
            let Some(bot) = state.bots.get(&token) else {
                return;
            };
            let Some(webhook) = bot.webhook.as_ref().filter(|_| !cancel.is_cancelled()) else {
                return;
            };
            bot.pending
                .front()
                .cloned()
                .map(|update| (update, webhook.url.clone(), webhook.secret_token.clone()))
        };
        let Some((update, url, secret)) = job else {
            tokio::select! {
                () = &mut notified => continue,
                () = cancel.cancelled() => return,
            }
        };
        let outcome = tokio::select! {
            outcome = deliver(&shared, &token, &url, secret.as_deref(), &update) => outcome,
            () = cancel.cancelled() => return,
        };
        let update_id = update["update_id"].as_i64();
        {
            let mut state = shared.lock();
            if let Some(bot) = state.bots.get_mut(&token) {
                bot.pending.retain(|u| u["update_id"].as_i64() != update_id);
            }
            if outcome.is_ok() {
                state.stats.webhook_deliveries += 1;
            }
        }
        if let Ok(Some(Value::Object(mut reply))) = outcome
            && let Some(Value::String(method)) = reply.remove("method")
        {
            let _ = crate::api::call(&shared, &token, &method, Params::from_object(reply)).await;
        }
    }
}

/// POSTs one update, retrying; returns the reply's JSON (if any) or the last
/// error. Each failure shows in getWebhookInfo's last_error_message.
async fn deliver(
    shared: &Shared,
    token: &str,
    url: &str,
    secret: Option<&str>,
    update: &Value,
) -> Result<Option<Value>, String> {
    let mut pause = FIRST_RETRY_PAUSE;
    let mut last_error = String::new();
    for attempt in 1..=ATTEMPTS {
        let mut request = shared.http.post(url).timeout(DELIVERY_TIMEOUT).json(update);
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                let body = response.bytes().await.unwrap_or_default();
                return Ok(serde_json::from_slice(&body).ok());
            }
            Ok(response) => {
                last_error = format!("Wrong response from the webhook: {}", response.status());
            }
            Err(e) if e.is_timeout() => last_error = "Read timeout expired".to_string(),
            Err(e) if e.is_connect() => last_error = "Connection refused".to_string(),
            Err(e) => last_error = format!("Failed to deliver: {e}"),
        }
        {
            let mut state = shared.lock();
            state.stats.webhook_failures += 1;
            if let Some(webhook) = state.bots.get_mut(token).and_then(|b| b.webhook.as_mut()) {
                webhook.last_error_date = Some(unix_now());
                webhook.last_error_message = Some(last_error.clone());
            }
        }
        tracing::debug!(attempt, %last_error, "webhook delivery failed");
        if attempt < ATTEMPTS {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    Err(last_error)
}
