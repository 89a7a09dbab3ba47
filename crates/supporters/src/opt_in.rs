//! The one double opt-in: a person asks by email (to subscribe, to sign a
//! letter), a single-use confirmation link goes to that address, and only
//! the link makes the request count. Subscriptions and letters' signatures
//! both run on this; each says only how its rows are found, written and
//! confirmed ([`Table`], [`Request`]).
//!
//! - [`request`]: in one transaction, finds the address's row, spends the
//!   per-address budget of confirmation emails (one budget for every form,
//!   `limits.confirmations_per_address_per_hour`), decides ([`step`]),
//!   writes the row with a fresh [`Confirmation`] and announces the
//!   kind's pending event through the outbox (the notifier sends the link).
//!   It does the same work and the caller answers the same whatever the
//!   address's state (new, pending, confirmed, ended, refused), so nothing
//!   tells anyone whether a person asked before.
//! - [`confirm`]: takes the token from the link (its keyed hash, or the
//!   unkeyed SHA-256 of rows made before keyed hashes) and announces the
//!   kind's confirmed event.
//! - [`delete_stale`] / [`janitor`]: requests never confirmed go.
//!
//! It must never log, or put in an error, an address or a token: ids only.

use std::time::Duration;

use chrono::{DateTime, Utc};
use nasvyazi_crypto::{Keyring, random_token, token_hash};
use nasvyazi_mail::EmailAddress;
use nasvyazi_platform::config::{LimitsConfig, SubscriptionsConfig};
use nasvyazi_platform::events::Event;
use nasvyazi_platform::limits::{self, Budget};
use nasvyazi_platform::outbox::{self, Outbox};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// How long a confirmation link lives, how soon a new one may be sent and
/// how many one address may get per hour, whatever the form.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// `subscriptions.confirm_ttl_hours`.
    pub confirm_ttl: chrono::Duration,
    /// `subscriptions.resend_after_minutes`.
    pub resend_after: chrono::Duration,
    /// `limits.confirmations_per_address_per_hour`.
    pub confirmations_per_hour: u32,
}

impl Timing {
    pub fn from_config(c: &SubscriptionsConfig) -> Self {
        Timing {
            confirm_ttl: chrono::Duration::hours(c.confirm_ttl_hours as i64),
            resend_after: chrono::Duration::minutes(c.resend_after_minutes as i64),
            confirmations_per_hour: 3,
        }
    }

    /// With the per-address budget of `limits`.
    pub fn with_limits(self, l: &LimitsConfig) -> Self {
        Timing {
            confirmations_per_hour: l.confirmations_per_address_per_hour,
            ..self
        }
    }
}

/// Where a request's row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Waiting for its link, the last one sent at `issued`.
    Pending { issued: Option<DateTime<Utc>> },
    /// Confirmed: a new request changes nothing.
    Confirmed,
    /// Ended (unsubscribed, withdrawn): a new request starts over.
    Ended,
}

/// What [`Request::find`] found for the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Nothing,
    Row(Uuid, Held),
    /// The address may not be asked (suppressed); the reason, for the log.
    Refused(&'static str),
}

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing; why, for the log.
    Ignore(&'static str),
    /// Writes row `id` with a fresh confirmation (`fresh`: a new row).
    Write { id: Uuid, fresh: bool },
}

/// The decision, the same for every kind: refused or over budget ->
/// nothing; no row -> a new one; ended -> start over; pending -> a new
/// link at most every `resend_after`; otherwise nothing.
pub fn step(found: Found, allowed: bool, now: DateTime<Utc>, timing: Timing) -> Step {
    match found {
        Found::Refused(why) => Step::Ignore(why),
        _ if !allowed => Step::Ignore("over the per-address limit"),
        Found::Nothing => Step::Write {
            id: Uuid::now_v7(),
            fresh: true,
        },
        Found::Row(id, Held::Ended) => Step::Write { id, fresh: false },
        Found::Row(id, Held::Pending { issued })
            if issued.is_none_or(|t| t + timing.resend_after <= now) =>
        {
            Step::Write { id, fresh: false }
        }
        Found::Row(..) => Step::Ignore("changes nothing"),
    }
}

/// A fresh confirmation: the token for the link (the kind seals it in its
/// row, so the notifier can put it in the email), its keyed hash for the
/// look-up, a nonce naming this issue of the link, and its times.
pub struct Confirmation {
    pub nonce: Uuid,
    pub token: String,
    pub hash: Vec<u8>,
    pub issued: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

impl Confirmation {
    fn new(keys: &Keyring, now: DateTime<Utc>, timing: Timing) -> Self {
        let token = random_token(32);
        Confirmation {
            nonce: Uuid::new_v4(),
            hash: keys.token_mac(&token),
            token,
            issued: now,
            expires: now + timing.confirm_ttl,
        }
    }
}

/// The forms a token's row may hold: the keyed hash ([`Keyring::token_mac`],
/// every row made since) and, for rows made before, the unkeyed SHA-256.
/// Old confirmation tokens thus work until they expire (hours).
pub fn stored_forms(keys: &Keyring, token: &str) -> Vec<Vec<u8>> {
    vec![keys.token_mac(token), token_hash(token)]
}

/// A kind of request's table, as data: the statements that take a
/// confirmation and delete stale requests, and the events that announce
/// them. The opt-in runs the statements; a kind only writes them.
pub trait Table: Send + Sync {
    /// The kind's name in logs ("contact", "signature").
    const KIND: &'static str;
    /// The event that asks the notifier to send the link.
    const PENDING: fn(Uuid) -> Event;
    /// The event that says the request counts.
    const CONFIRMED: fn(Uuid) -> Event;
    /// Marks confirmed the pending, unexpired row whose confirmation hash
    /// is one of `$1` (and whatever else the kind requires), clearing its
    /// token, `RETURNING` its id.
    const TAKE: &'static str;
    /// Deletes the requests never confirmed and last issued before `$1`.
    const DELETE_STALE: &'static str;
}

/// What the opt-in asks a kind to write: row `id` (a new one when
/// `fresh`, else starting it over) holding `confirmation`, for the address
/// whose blind index is `email_bi`, sealed under `keys`, and whether the
/// request came through the onion address (the link then points there).
pub struct Write<'a> {
    pub keys: &'a Keyring,
    pub id: Uuid,
    pub fresh: bool,
    pub confirmation: &'a Confirmation,
    pub email_bi: &'a [u8],
    pub via_onion: bool,
}

/// One person's request, as a kind sees it.
#[async_trait::async_trait]
pub trait Request: Send + Sync {
    type Table: Table;
    /// The address the confirmation link goes to.
    fn email(&self) -> &EmailAddress;
    /// The row for the address whose blind index is `email_bi`, locked.
    async fn find(&self, conn: &mut PgConnection, email_bi: &[u8]) -> sqlx::Result<Found>;
    /// Writes what `w` says; whether a row was written.
    async fn write(&self, conn: &mut PgConnection, w: &Write<'_>) -> anyhow::Result<bool>;
}

/// Records `req`, made through the onion address when `via_onion`.
/// Whatever the address's state, the caller answers the same.
pub async fn request<R: Request>(
    db: &PgPool,
    keys: &Keyring,
    timing: Timing,
    req: &R,
    via_onion: bool,
) -> anyhow::Result<()> {
    let kind = R::Table::KIND;
    let email_bi = keys.blind_index("email", &req.email().normalised());
    let mut tx = db.begin().await?;
    let found = req.find(&mut tx, &email_bi).await?;
    // Spent on every request, whatever the state, so the work is the same.
    let allowed =
        spend_confirmation(&mut tx, keys, timing.confirmations_per_hour, &email_bi).await?;
    let now = Utc::now();
    match step(found, allowed, now, timing) {
        Step::Ignore(why) => tracing::info!(request = kind, why, "opt-in request ignored"),
        Step::Write { id, fresh } => {
            let confirmation = Confirmation::new(keys, now, timing);
            let w = Write {
                keys,
                id,
                fresh,
                confirmation: &confirmation,
                email_bi: &email_bi,
                via_onion,
            };
            if req.write(&mut tx, &w).await? {
                outbox::enqueue(&mut tx, Outbox::Front, (R::Table::PENDING)(id)).await?;
                tracing::info!(request = kind, %id, fresh, "pending confirmation");
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Confirms with the token from the email. `Some(id)` if it was valid
/// and unused.
pub async fn confirm<T: Table>(
    db: &PgPool,
    keys: &Keyring,
    token: &str,
) -> anyhow::Result<Option<Uuid>> {
    let mut tx = db.begin().await?;
    let id: Option<Uuid> = sqlx::query_scalar(T::TAKE)
        .bind(stored_forms(keys, token))
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(id) = id {
        outbox::enqueue(&mut tx, Outbox::Front, (T::CONFIRMED)(id)).await?;
        tracing::info!(request = T::KIND, %id, "confirmed");
    }
    tx.commit().await?;
    Ok(id)
}

/// Whether one more confirmation email may go to the address whose blind
/// index is `email_bi`; spends one if so. One budget per address for every
/// form that sends one.
pub async fn spend_confirmation(
    conn: &mut PgConnection,
    keys: &Keyring,
    per_hour: u32,
    email_bi: &[u8],
) -> sqlx::Result<bool> {
    let key = limits::key(keys, "confirm:email", email_bi);
    let allowed = limits::take(conn, &key, Budget::per_hour(per_hour))
        .await?
        .is_ok();
    if !allowed {
        metrics::counter!("nasvyazi_limit_refusals_total", "limit" => "confirmations_per_address")
            .increment(1);
    }
    Ok(allowed)
}

/// Deletes requests of kind `T` never confirmed within `ttl`.
pub async fn delete_stale<T: Table>(db: &PgPool, ttl: chrono::Duration) -> sqlx::Result<u64> {
    let stale = sqlx::query(T::DELETE_STALE).bind(Utc::now() - ttl);
    let n = stale.execute(db).await?.rows_affected();
    if n > 0 {
        tracing::info!(
            request = T::KIND,
            deleted = n,
            "stale pending requests deleted"
        );
    }
    Ok(n)
}

/// Every ten minutes, requests of kind `T` older than
/// `subscriptions.pending_ttl_hours` that never confirmed go.
pub async fn janitor<T: Table>(
    infra: nasvyazi_platform::Infra,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let ttl = chrono::Duration::hours(infra.config.subscriptions.pending_ttl_hours as i64);
    loop {
        if let Err(e) = delete_stale::<T>(&infra.db, ttl).await {
            tracing::warn!(request = T::KIND, error = %e, "janitor: cannot delete stale pending requests");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> Timing {
        Timing {
            confirm_ttl: chrono::Duration::hours(48),
            resend_after: chrono::Duration::minutes(10),
            confirmations_per_hour: 3,
        }
    }

    #[test]
    fn one_decision_for_every_kind() {
        let now = Utc::now();
        let id = Uuid::now_v7();
        let t = timing();
        assert!(matches!(
            step(Found::Nothing, true, now, t),
            Step::Write { fresh: true, .. }
        ));
        assert_eq!(
            step(Found::Refused("suppressed"), true, now, t),
            Step::Ignore("suppressed")
        );
        assert!(matches!(
            step(Found::Nothing, false, now, t),
            Step::Ignore(_)
        ));
        assert_eq!(
            step(Found::Row(id, Held::Ended), true, now, t),
            Step::Write { id, fresh: false }
        );
        assert!(matches!(
            step(Found::Row(id, Held::Confirmed), true, now, t),
            Step::Ignore(_)
        ));
        let recent = Held::Pending {
            issued: Some(now - chrono::Duration::minutes(5)),
        };
        let old = Held::Pending {
            issued: Some(now - chrono::Duration::minutes(11)),
        };
        assert!(matches!(
            step(Found::Row(id, recent), true, now, t),
            Step::Ignore(_)
        ));
        assert_eq!(
            step(Found::Row(id, old), true, now, t),
            Step::Write { id, fresh: false }
        );
        // Over budget, even a row that would be reissued stays as it is.
        assert!(matches!(
            step(Found::Row(id, old), false, now, t),
            Step::Ignore(_)
        ));
    }
}
