//! The signer's side of the one double opt-in
//! (`nasvyazi_supporters::opt_in`, shared with the subscriptions): a
//! [`SigningRequest`] records a pending signature holding a single-use confirmation token
//! (its keyed hash for the look-up, sealed so the notifier can put it in
//! the link) and announces `signature.pending` in the same transaction;
//! the notifier emails the link; the opt-in's `confirm::<Signatures>` takes the token while the
//! letter collects and announces `signature.confirmed`; [`janitor`]
//! deletes requests never confirmed. The decision, the token scheme and the
//! per-address budget of confirmation emails are the opt-in's.
//!
//! `sign` answers the same whatever the address's state (new, pending,
//! confirmed). Name, city, note and address are sealed under the row's
//! data key. It must never log a value or a token: ids only.

use chrono::{DateTime, Utc};
use nasvyazi_crypto::{Key, Keyring, random_token, token_hash};
use nasvyazi_mail::EmailAddress;
use nasvyazi_platform::events::Event;
use nasvyazi_supporters::opt_in::{self, Confirmation, Found, Held, Request, Table, Timing, Write};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::Signing;
use crate::signature_aad;

/// Sealed fields, the confirmation's token and the other fresh tokens
/// for row `id`.
struct Sealed {
    wrapped: Vec<u8>,
    name: Vec<u8>,
    city: Vec<u8>,
    note: Option<Vec<u8>>,
    email: Vec<u8>,
    confirm_ct: Vec<u8>,
    withdraw_hash: Vec<u8>,
    withdraw_ct: Vec<u8>,
    forget_hash: Vec<u8>,
    forget_ct: Vec<u8>,
}

fn seal(keys: &Keyring, id: Uuid, s: &Signing, c: &Confirmation) -> Sealed {
    let (key, wrapped) = keys.new_data_key();
    let put = |k: &Key, v: &str, field| k.seal(v.as_bytes(), &signature_aad(id, field));
    let withdraw = random_token(32);
    let forget = random_token(32);
    Sealed {
        name: put(&key, &s.name, "name"),
        city: put(&key, &s.city, "city"),
        note: s.note.as_deref().map(|n| put(&key, n, "note")),
        email: put(&key, s.email.expose(), "email"),
        confirm_ct: put(&key, &c.token, "confirm"),
        withdraw_hash: token_hash(&withdraw),
        withdraw_ct: put(&key, &withdraw, "withdraw"),
        forget_hash: token_hash(&forget),
        forget_ct: put(&key, &forget, "forget"),
        wrapped,
    }
}

/// The signatures' side of the opt-in: rows of `letter_signatures`,
/// announced by `signature.pending` and `signature.confirmed`; a
/// confirmation counts only while the letter collects.
pub struct Signatures;

impl Table for Signatures {
    const KIND: &'static str = "signature";
    const PENDING: fn(Uuid) -> Event = |signature_id| Event::SignaturePending { signature_id };
    const CONFIRMED: fn(Uuid) -> Event = |signature_id| Event::SignatureConfirmed { signature_id };
    const TAKE: &'static str = "UPDATE letter_signatures s SET confirmed_at = now(),
             confirm_token_hash = NULL, confirm_token_ct = NULL, confirm_expires_at = NULL
         FROM letters l
         WHERE s.confirm_token_hash = ANY($1) AND s.confirmed_at IS NULL AND s.withdrawn_at IS NULL
           AND s.confirm_expires_at > now() AND l.id = s.letter_id AND l.status = 'approved'
           AND (l.closes_at IS NULL OR l.closes_at > now())
         RETURNING s.id";
    const DELETE_STALE: &'static str = "DELETE FROM letter_signatures
         WHERE confirmed_at IS NULL AND withdrawn_at IS NULL
           AND coalesce(confirm_issued_at, created_at) < $1";
}

/// A signature request as the opt-in sees it: `opt_in::request(db, keys,
/// timing, &SigningRequest { letter_id, signing }, via_onion)` records it.
pub struct SigningRequest<'a> {
    /// The letter, which must be collecting (the caller checks).
    pub letter_id: Uuid,
    pub signing: &'a Signing,
}

#[async_trait::async_trait]
impl Request for SigningRequest<'_> {
    type Table = Signatures;

    fn email(&self) -> &EmailAddress {
        &self.signing.email
    }

    async fn find(&self, conn: &mut PgConnection, bi: &[u8]) -> sqlx::Result<Found> {
        type Existing = (
            Uuid,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
        );
        let existing: Option<Existing> = sqlx::query_as(
            "SELECT id, confirmed_at, withdrawn_at, confirm_issued_at FROM letter_signatures
             WHERE letter_id = $1 AND email_bi = $2 FOR UPDATE",
        )
        .bind(self.letter_id)
        .bind(bi)
        .fetch_optional(conn)
        .await?;
        Ok(match existing {
            None => Found::Nothing,
            // Withdrawn: signing again starts over (its data is gone).
            Some((id, _, Some(_), _)) => Found::Row(id, Held::Ended),
            Some((id, None, None, issued)) => Found::Row(id, Held::Pending { issued }),
            Some((id, Some(_), None, _)) => Found::Row(id, Held::Confirmed),
        })
    }

    async fn write(&self, conn: &mut PgConnection, w: &Write<'_>) -> anyhow::Result<bool> {
        let (s, id, c) = (self.signing, w.id, w.confirmation);
        let x = seal(w.keys, id, s, c);
        let sql = if w.fresh {
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
            .bind(self.letter_id)
            .bind(w.email_bi)
            .bind(&x.wrapped)
            .bind(&x.name)
            .bind(&x.city)
            .bind(&x.note)
            .bind(&x.email)
            .bind(s.language.code())
            .bind(s.allow_reply_to)
            .bind(c.issued)
            .bind(c.nonce)
            .bind(&c.hash)
            .bind(&x.confirm_ct)
            .bind(c.expires)
            .bind(&x.withdraw_hash)
            .bind(&x.withdraw_ct)
            .bind(&x.forget_hash)
            .bind(&x.forget_ct)
            .bind(w.via_onion)
            .execute(conn)
            .await?;
        Ok(true)
    }
}

/// Records a signature request for `letter_id` (which must be collecting:
/// the caller checks). Whatever the address's state, the caller answers
/// the same.
pub async fn sign(
    db: &PgPool,
    keys: &Keyring,
    timing: Timing,
    letter_id: Uuid,
    signing: &Signing,
) -> anyhow::Result<()> {
    let req = SigningRequest { letter_id, signing };
    opt_in::request(db, keys, timing, &req, false).await
}

/// Deletes signatures never confirmed within `ttl`.
pub async fn delete_stale_pending(db: &PgPool, ttl: chrono::Duration) -> sqlx::Result<u64> {
    opt_in::delete_stale::<Signatures>(db, ttl).await
}

/// The janitor: pending signatures that never confirmed go.
pub async fn janitor(
    infra: nasvyazi_platform::Infra,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    opt_in::janitor::<Signatures>(infra, shutdown).await
}
