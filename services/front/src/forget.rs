//! "Forget me" for appellants and signers: the link in every message to
//! them carries a single-purpose random token (stored as its hash for
//! look-up and sealed under the row's data key for the notifier's link).
//!
//! - An appellant's link erases the appeal's contact: its ciphertext, its
//!   blind index and the token go. The appeal itself stays as what appeals
//!   are by default, anonymous (text and case under the appeal's key, the
//!   access code still opens the status); nobody can write to the
//!   appellant any more, and queued messages to them are skipped.
//! - A signer's link erases the signature's personal data: the wrapped data
//!   key, every sealed field and token, and the address's blind index
//!   (replaced by random bytes, so nothing links the row to the address).
//!   The signature stops counting. A letter already sent keeps the
//!   signature it carried: that cannot be recalled.
//!
//! The signer's erasure itself is `nasvyazi_letters::signatures`' (it owns
//! the table); this module keeps the link's flow and the audit.
//!
//! The audit records that an erasure happened (`appeal.contact_erase`,
//! `signature.erase`, actor `link`), never which row or whom.

use nasvyazi_shared::crypto::token_hash;
use sqlx::PgPool;
use uuid::Uuid;

/// Whose "forget me" link a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Appellant,
    Signer,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Appellant => "appeals",
            Kind::Signer => "letter_signatures",
        }
    }
}

/// Whether `token` is a live "forget me" token of `kind`.
pub async fn token_known(db: &PgPool, kind: Kind, token: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {} WHERE forget_token_hash = $1)",
        kind.table()
    ))
    .bind(token_hash(token))
    .fetch_one(db)
    .await
}

/// Erases what the token stands for; `false` for an unknown or used token.
pub async fn erase(db: &PgPool, kind: Kind, token: &str) -> anyhow::Result<bool> {
    let hash = token_hash(token);
    let mut tx = db.begin().await?;
    let (id, action): (Option<Uuid>, _) = match kind {
        Kind::Appellant => (
            sqlx::query_scalar(
                "UPDATE appeals SET contact_channel = NULL, contact_ct = NULL, contact_bi = NULL,
                     forget_token_hash = NULL, forget_token_ct = NULL, updated_at = now()
                 WHERE forget_token_hash = $1
                 RETURNING id",
            )
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?,
            "appeal.contact_erase",
        ),
        Kind::Signer => (
            nasvyazi_letters::signatures::erase_by_forget_token(&mut tx, &hash).await?,
            "signature.erase",
        ),
    };
    if id.is_none() {
        return Ok(false);
    }
    nasvyazi_shared::auth::audit(&mut tx, "link", None, action, None, serde_json::json!({}))
        .await?;
    tx.commit().await?;
    // Not even the row's id: with the audit row's time it would say whose
    // erasure it was.
    tracing::info!(action, "erased by a \"forget me\" link");
    Ok(true)
}
