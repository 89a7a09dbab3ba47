//! The signer's double opt-in, the same mechanism as the subscribers'
//! (a later step unifies the two): [`sign`] records a pending signature
//! with a single-use confirmation token (stored hashed for look-up and
//! sealed so the notifier can put it in the link) and announces
//! `signature.pending` in the same transaction; the notifier emails the
//! link; [`confirm`] takes the token while the letter collects and
//! announces `signature.confirmed`; [`janitor`] deletes requests never
//! confirmed. The per-address budget of confirmation emails is the
//! caller's ([`ConfirmationBudget`]), shared with subscriptions.
//!
//! `sign` answers the same whatever the address's state (new, pending,
//! confirmed). Name, city, note and address are sealed under the row's
//! data key. It must never log a value or a token: ids only.

use chrono::Utc;
use nasvyazi_crypto::{Key, Keyring, random_token, token_hash};
use nasvyazi_platform::config::SubscriptionsConfig;
use nasvyazi_platform::events::Event;
use nasvyazi_platform::outbox::{self, Outbox};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::Signing;
use crate::signature_aad;

/// How long a confirmation link lives and how soon a new one may be sent:
/// the subscriptions' settings (`subscriptions.confirm_ttl_hours`,
/// `subscriptions.resend_after_minutes`).
#[derive(Debug, Clone, Copy)]
pub struct OptInTiming {
    pub confirm_ttl: chrono::Duration,
    pub resend_after: chrono::Duration,
}

impl OptInTiming {
    pub fn from_config(c: &SubscriptionsConfig) -> Self {
        OptInTiming {
            confirm_ttl: chrono::Duration::hours(c.confirm_ttl_hours as i64),
            resend_after: chrono::Duration::minutes(c.resend_after_minutes as i64),
        }
    }
}

/// The per-address budget of confirmation emails, which the caller keeps
/// (one budget per address with the subscriptions).
#[async_trait::async_trait]
pub trait ConfirmationBudget: Send + Sync {
    /// Spends one confirmation email to the address whose blind index is
    /// `email_bi`, in the caller's transaction; `false` when none is left.
    async fn spend(&self, conn: &mut PgConnection, email_bi: &[u8]) -> sqlx::Result<bool>;
}

/// Sealed fields and fresh tokens for row `id`.
struct Sealed {
    wrapped: Vec<u8>,
    name: Vec<u8>,
    city: Vec<u8>,
    note: Option<Vec<u8>>,
    email: Vec<u8>,
    nonce: Uuid,
    confirm_hash: Vec<u8>,
    confirm_ct: Vec<u8>,
    withdraw_hash: Vec<u8>,
    withdraw_ct: Vec<u8>,
    forget_hash: Vec<u8>,
    forget_ct: Vec<u8>,
}

fn seal(keys: &Keyring, id: Uuid, s: &Signing) -> Sealed {
    let (key, wrapped) = keys.new_data_key();
    let put = |k: &Key, v: &str, field| k.seal(v.as_bytes(), &signature_aad(id, field));
    let confirm = random_token(32);
    let withdraw = random_token(32);
    let forget = random_token(32);
    Sealed {
        name: put(&key, &s.name, "name"),
        city: put(&key, &s.city, "city"),
        note: s.note.as_deref().map(|n| put(&key, n, "note")),
        email: put(&key, s.email.expose(), "email"),
        nonce: Uuid::new_v4(),
        confirm_hash: token_hash(&confirm),
        confirm_ct: put(&key, &confirm, "confirm"),
        withdraw_hash: token_hash(&withdraw),
        withdraw_ct: put(&key, &withdraw, "withdraw"),
        forget_hash: token_hash(&forget),
        forget_ct: put(&key, &forget, "forget"),
        wrapped,
    }
}

/// Records a signature request for `letter_id` (which must be collecting:
/// the caller checks). Whatever the address's state, the caller answers
/// the same.
pub async fn sign(
    db: &PgPool,
    keys: &Keyring,
    timing: OptInTiming,
    budget: &dyn ConfirmationBudget,
    letter_id: Uuid,
    s: &Signing,
) -> anyhow::Result<()> {
    sign_via(db, keys, timing, budget, letter_id, s, false).await
}

/// [`sign`], recording whether the request came through the onion address
/// (the confirmation email then links there).
pub async fn sign_via(
    db: &PgPool,
    keys: &Keyring,
    timing: OptInTiming,
    budget: &dyn ConfirmationBudget,
    letter_id: Uuid,
    s: &Signing,
    via_onion: bool,
) -> anyhow::Result<()> {
    let bi = keys.blind_index("email", &s.email.normalised());
    let mut tx = db.begin().await?;
    type Existing = (
        Uuid,
        Option<chrono::DateTime<Utc>>,
        Option<chrono::DateTime<Utc>>,
        Option<chrono::DateTime<Utc>>,
    );
    let existing: Option<Existing> = sqlx::query_as(
        "SELECT id, confirmed_at, withdrawn_at, confirm_issued_at FROM letter_signatures
         WHERE letter_id = $1 AND email_bi = $2 FOR UPDATE",
    )
    .bind(letter_id)
    .bind(&bi)
    .fetch_optional(&mut *tx)
    .await?;
    // One budget per address with subscriptions, spent whatever the state.
    let allowed = budget.spend(&mut tx, &bi).await?;
    let now = Utc::now();
    let (id, fresh) = match existing {
        _ if !allowed => {
            tracing::info!(%letter_id, "signature request over the per-address limit; ignored");
            tx.commit().await?;
            return Ok(());
        }
        None => (Uuid::now_v7(), true),
        // Withdrawn: signing again starts over (its data is gone).
        Some((id, _, Some(_), _)) => (id, false),
        // Pending: a new confirmation at most every resend_after.
        Some((id, None, None, issued)) if issued.is_none_or(|t| t + timing.resend_after <= now) => {
            (id, false)
        }
        Some((id, _, _, _)) => {
            tracing::info!(signature_id = %id, "signature request changes nothing");
            tx.commit().await?;
            return Ok(());
        }
    };
    let x = seal(keys, id, s);
    let sql = if fresh {
        "INSERT INTO letter_signatures (id, letter_id, email_bi, data_key, name_ct, city_ct, note_ct, email_ct,
             language, allow_reply_to, consent_at, confirm_nonce, confirm_token_hash, confirm_token_ct,
             confirm_issued_at, confirm_expires_at, withdraw_token_hash, withdraw_token_ct,
             forget_token_hash, forget_token_ct, via_onion)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $11, $15, $16, $17, $18, $19, $20)"
    } else {
        "UPDATE letter_signatures SET data_key = $4, name_ct = $5, city_ct = $6, note_ct = $7, email_ct = $8,
             language = $9, allow_reply_to = $10, consent_at = $11, confirm_nonce = $12,
             confirm_token_hash = $13, confirm_token_ct = $14, confirm_issued_at = $11,
             confirm_expires_at = $15, withdraw_token_hash = $16, withdraw_token_ct = $17,
             forget_token_hash = $18, forget_token_ct = $19, via_onion = $20,
             confirmed_at = NULL, withdrawn_at = NULL
         WHERE id = $1 AND letter_id = $2 AND email_bi = $3"
    };
    sqlx::query(sql)
        .bind(id)
        .bind(letter_id)
        .bind(&bi)
        .bind(&x.wrapped)
        .bind(&x.name)
        .bind(&x.city)
        .bind(&x.note)
        .bind(&x.email)
        .bind(s.language.code())
        .bind(s.allow_reply_to)
        .bind(now)
        .bind(x.nonce)
        .bind(&x.confirm_hash)
        .bind(&x.confirm_ct)
        .bind(now + timing.confirm_ttl)
        .bind(&x.withdraw_hash)
        .bind(&x.withdraw_ct)
        .bind(&x.forget_hash)
        .bind(&x.forget_ct)
        .bind(via_onion)
        .execute(&mut *tx)
        .await?;
    outbox::enqueue(
        &mut tx,
        Outbox::Intake,
        Event::SignaturePending { signature_id: id },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(signature_id = %id, %letter_id, "signature pending confirmation");
    Ok(())
}

/// Confirms with the token from the email, while the letter collects.
/// `Some(id)` if it was valid and unused.
pub async fn confirm(db: &PgPool, token: &str) -> anyhow::Result<Option<Uuid>> {
    let mut tx = db.begin().await?;
    let id: Option<Uuid> = sqlx::query_scalar(
        "UPDATE letter_signatures s SET confirmed_at = now(), confirm_token_hash = NULL,
             confirm_token_ct = NULL, confirm_expires_at = NULL
         FROM letters l
         WHERE s.confirm_token_hash = $1 AND s.confirmed_at IS NULL AND s.withdrawn_at IS NULL
           AND s.confirm_expires_at > now() AND l.id = s.letter_id AND l.status = 'approved'
           AND (l.closes_at IS NULL OR l.closes_at > now())
         RETURNING s.id",
    )
    .bind(token_hash(token))
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = id {
        outbox::enqueue(
            &mut tx,
            Outbox::Intake,
            Event::SignatureConfirmed { signature_id: id },
        )
        .await?;
        tracing::info!(signature_id = %id, "signature confirmed");
    }
    tx.commit().await?;
    Ok(id)
}

/// Deletes signatures never confirmed within `ttl`.
pub async fn delete_stale_pending(db: &PgPool, ttl: chrono::Duration) -> sqlx::Result<u64> {
    let n = sqlx::query(
        "DELETE FROM letter_signatures WHERE confirmed_at IS NULL AND withdrawn_at IS NULL
             AND coalesce(confirm_issued_at, created_at) < $1",
    )
    .bind(Utc::now() - ttl)
    .execute(db)
    .await?
    .rows_affected();
    if n > 0 {
        tracing::info!(deleted = n, "stale pending signatures deleted");
    }
    Ok(n)
}

/// The janitor: pending signatures that never confirmed go.
pub async fn janitor(
    infra: nasvyazi_platform::Infra,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let ttl = chrono::Duration::hours(infra.config.subscriptions.pending_ttl_hours as i64);
    loop {
        if let Err(e) = delete_stale_pending(&infra.db, ttl).await {
            tracing::warn!(error = %e, "janitor: cannot delete stale pending signatures");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
        }
    }
}
