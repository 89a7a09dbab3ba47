//! Long polling (getUpdates) for one bot token. Telegram serves one
//! getUpdates at a time per token, so front replicas take turns through a
//! lease (`telegram-poll:<bot id>`): the holder polls, the others wait. The
//! offset comes from `telegram_bot_state`, so a new holder resumes after
//! the last update applied.

use std::sync::Arc;
use std::time::Duration;

use nasvyazi_shared::lease::Lease;
use nasvyazi_shared::telegram::api::ApiError;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{ALLOWED_UPDATES, Bot};

/// How long one getUpdates waits for an update.
pub const POLL_SECONDS: u64 = 10;
/// The poller's lease lasts this long and is renewed every third of it.
pub const LEASE_TTL: Duration = Duration::from_secs(30);
/// The pause after a failed call.
const PAUSE: Duration = Duration::from_secs(2);

/// Polls until `shutdown` whenever this process holds the lease.
pub async fn run(bot: Arc<Bot>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let lease = Lease::new(format!("telegram-poll:{}", bot.api().bot_id()), LEASE_TTL);
    tokio::join!(
        lease.keep(&bot.db, &shutdown),
        poll(&bot, &lease, &shutdown)
    );
    Ok(())
}

async fn pause(shutdown: &CancellationToken, d: Duration) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}

async fn poll(bot: &Bot, lease: &Lease, shutdown: &CancellationToken) {
    let api = bot.api();
    // A webhook left from webhook mode would make getUpdates fail.
    let mut webhook_cleared = false;
    let mut offset: Option<i64> = None;
    while !shutdown.is_cancelled() {
        if !lease.is_held() {
            offset = None;
            pause(shutdown, Duration::from_secs(1)).await;
            continue;
        }
        if !webhook_cleared {
            match api.call("deleteWebhook", &json!({})).await {
                Ok(_) => webhook_cleared = true,
                Err(e) => {
                    tracing::warn!(error = %e, "telegram: deleteWebhook failed");
                    pause(shutdown, PAUSE).await;
                    continue;
                }
            }
        }
        // A new holder asks without an offset: Telegram returns what it has
        // not seen confirmed, and `claim_update` skips what was applied
        // already. (A stored offset could drop everything after Telegram
        // restarts its update ids, which it does after a week of silence.)
        let mut params = json!({"timeout": POLL_SECONDS, "allowed_updates": ALLOWED_UPDATES});
        if let Some(o) = offset {
            params["offset"] = json!(o);
        }
        let from = offset;
        let answer = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = api.call_with_timeout("getUpdates", &params, Duration::from_secs(POLL_SECONDS + 10)) => a,
        };
        match answer {
            Ok(Value::Array(updates)) => {
                offset = from;
                for update in &updates {
                    let Some(id) = update["update_id"].as_i64() else {
                        continue;
                    };
                    if let Err(e) = bot.handle_update(update).await {
                        // Not confirmed: the next poll brings it again.
                        tracing::warn!(update_id = id, error = %format!("{e:#}"), "telegram: update not applied; will retry");
                        pause(shutdown, PAUSE).await;
                        break;
                    }
                    offset = Some(id + 1);
                }
            }
            Ok(_) => {}
            Err(ApiError::Refused { code: 409, .. }) => {
                // Another getUpdates (a replica whose lease just lapsed) or
                // a webhook someone set.
                tracing::info!("telegram: getUpdates conflict; backing off");
                webhook_cleared = false;
                pause(shutdown, PAUSE).await;
            }
            Err(ApiError::Refused {
                retry_after: Some(d),
                ..
            }) => pause(shutdown, d).await,
            Err(e) => {
                tracing::warn!(error = %e, "telegram: getUpdates failed");
                pause(shutdown, PAUSE).await;
            }
        }
    }
}
