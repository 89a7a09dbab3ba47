//! The end of a signature: withdrawn by the signer's link until a letter
//! bearing it is out, or erased by their "forget me" link; and the share
//! lock the notifier's claim takes on the signatures it is about to send,
//! which orders both against the claim.
//!
//! Withdrawal and erasure wipe the data key and every sealed field; an
//! erasure also replaces the address's blind index by random bytes, so
//! nothing links the row to the address. It must never log which row an
//! erasure was, nor any value.

use nasvyazi_crypto::token_hash;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Whether a withdrawal token belongs to a signature not yet withdrawn.
pub async fn withdraw_token_known(db: &PgPool, token: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM letter_signatures WHERE withdraw_token_hash = $1 AND withdrawn_at IS NULL)",
    )
    .bind(token_hash(token))
    .fetch_one(db)
    .await
}

/// What a withdrawal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawal {
    Done,
    /// A letter bearing the signature is sent (or being sent): too late.
    TooLate,
    /// Unknown token, or withdrawn already.
    Invalid,
}

/// Withdraws a signature and wipes its data, unless a letter bearing it is
/// already out. The row lock orders this against the notifier's claim,
/// which holds a share lock on the signatures it sends.
pub async fn withdraw(db: &PgPool, token: &str) -> anyhow::Result<Withdrawal> {
    let mut tx = db.begin().await?;
    let row: Option<(Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT s.id, s.letter_id, l.mode FROM letter_signatures s JOIN letters l ON l.id = s.letter_id
         WHERE s.withdraw_token_hash = $1 AND s.withdrawn_at IS NULL
         FOR UPDATE OF s",
    )
    .bind(token_hash(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, letter_id, mode)) = row else {
        return Ok(Withdrawal::Invalid);
    };
    if letter_out(&mut tx, id, letter_id, &mode).await? {
        return Ok(Withdrawal::TooLate);
    }
    sqlx::query(
        "UPDATE letter_signatures SET withdrawn_at = now(), data_key = NULL, name_ct = NULL, city_ct = NULL,
             note_ct = NULL, email_ct = NULL, confirm_token_hash = NULL, confirm_token_ct = NULL,
             confirm_expires_at = NULL, withdraw_token_ct = NULL, forget_token_ct = NULL
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(signature_id = %id, %letter_id, "signature withdrawn");
    Ok(Withdrawal::Done)
}

/// Whether a letter bearing the signature left (or may have left).
async fn letter_out(
    conn: &mut PgConnection,
    id: Uuid,
    letter_id: Uuid,
    mode: &str,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM deliveries d JOIN letter_targets t ON t.id = d.ref_id
                        WHERE d.kind = 'letter' AND t.letter_id = $2
                          AND d.status IN ('sending', 'sent', 'unknown')
                          AND (d.contact_id = $1 OR $3 = 'collective'))",
    )
    .bind(id)
    .bind(letter_id)
    .bind(mode)
    .fetch_one(conn)
    .await
}

/// Erases the signature whose "forget me" token hashes to `token_hash`, in
/// the caller's transaction (which audits it): every sealed field and
/// token goes and the blind index is replaced by random bytes. `None` for
/// an unknown or used token. The row lock orders this against the
/// notifier's claim of a letter bearing the signature (it holds a share
/// lock).
pub async fn erase_by_forget_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> sqlx::Result<Option<Uuid>> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM letter_signatures WHERE forget_token_hash = $1 FOR UPDATE",
    )
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = id {
        let mut unlinked = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut unlinked);
        sqlx::query(
            "UPDATE letter_signatures SET withdrawn_at = coalesce(withdrawn_at, now()),
                 data_key = NULL, name_ct = NULL, city_ct = NULL, note_ct = NULL, email_ct = NULL,
                 email_bi = $2, confirm_token_hash = NULL, confirm_token_ct = NULL,
                 confirm_expires_at = NULL, withdraw_token_ct = NULL,
                 forget_token_hash = NULL, forget_token_ct = NULL
             WHERE id = $1",
        )
        .bind(id)
        .bind(&unlinked[..])
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

/// Share-locks the signatures letters about to be sent carry (`signers`:
/// each-signer letters; `collective_letters`: every confirmed signature
/// of those letters), in the claim's transaction, so a withdrawal (which
/// locks its signature for update) is ordered before or after the claim:
/// before, the letter is skipped; after, the withdrawal sees the letter on
/// its way and is refused. Returns the signers still live (not withdrawn).
pub async fn share_lock_for_sending(
    conn: &mut PgConnection,
    signers: &[Uuid],
    collective_letters: &[Uuid],
) -> sqlx::Result<Vec<Uuid>> {
    let live: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM letter_signatures WHERE id = ANY($1) AND withdrawn_at IS NULL ORDER BY id FOR SHARE",
    )
    .bind(signers)
    .fetch_all(&mut *conn)
    .await?;
    if !collective_letters.is_empty() {
        sqlx::query(
            "SELECT id FROM letter_signatures WHERE letter_id = ANY($1) AND confirmed_at IS NOT NULL
             ORDER BY id FOR SHARE",
        )
        .bind(collective_letters)
        .fetch_all(&mut *conn)
        .await?;
    }
    Ok(live)
}
