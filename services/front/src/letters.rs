//! The front's glue to `nasvyazi-letters`: the signers' opt-in spends the
//! per-address budget of confirmation emails the front keeps
//! (`crate::limits`, one budget per address with the subscriptions), and
//! takes its timing from the front's [`Timing`].
//!
//! It must never hold the letters' SQL (that is the crate's), nor log an
//! address or a limiter key.

use nasvyazi_letters::signatures::{self, ConfirmationBudget, OptInTiming, Signing};
use nasvyazi_shared::crypto::Keyring;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::subscriptions::Timing;

/// `limits.confirmations_per_address_per_hour`, spent under the purpose
/// the subscriptions spend it under.
struct AddressBudget<'a> {
    keys: &'a Keyring,
    per_hour: u32,
}

#[async_trait::async_trait]
impl ConfirmationBudget for AddressBudget<'_> {
    async fn spend(&self, conn: &mut PgConnection, email_bi: &[u8]) -> sqlx::Result<bool> {
        crate::limits::confirmation_allowed(conn, self.keys, self.per_hour, "email", email_bi).await
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
    s: &Signing,
) -> anyhow::Result<()> {
    sign_via(db, keys, timing, letter_id, s, false).await
}

/// [`sign`], recording whether the request came through the onion address
/// (the confirmation email then links there).
pub async fn sign_via(
    db: &PgPool,
    keys: &Keyring,
    timing: Timing,
    letter_id: Uuid,
    s: &Signing,
    via_onion: bool,
) -> anyhow::Result<()> {
    let budget = AddressBudget {
        keys,
        per_hour: timing.confirmations_per_hour,
    };
    let timing = OptInTiming {
        confirm_ttl: timing.confirm_ttl,
        resend_after: timing.resend_after,
    };
    signatures::sign_via(db, keys, timing, &budget, letter_id, s, via_onion).await
}
