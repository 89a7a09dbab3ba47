//! Letters to officials, the domain: the officials directory, letter
//! campaigns and their targets, the signatures (a signer's double opt-in,
//! withdrawal, erasure), the letter templates and their rendering (what an
//! organiser previews is what an official receives), the stable
//! Message-ID of a letter, the progress read from the ledger, and the
//! pacing of letters per official and per recipient domain.
//!
//! It owns, and is the only crate that writes, the tables `officials`,
//! `letters`, `letter_targets`, `letter_signatures`, `letter_resolutions`
//! and `letter_pacing`. It reads the notifier's `deliveries` (the ledger)
//! but never writes it: the notifier puts letters in the ledger, claims
//! and sends them, and calls [`pacing`] for the pacing rows. Office hours
//! live in the platform (`nasvyazi_platform::hours`).
//!
//! What it must never do: import a service (front, notifier, scheduler),
//! send anything itself, or log, or put in an error, a name, a position, a
//! city, a note or an address. Personal values are sealed at rest under a
//! data key per row, bound to row and column; the decrypted types print
//! `[redacted]` and have no `Display`.

pub mod campaign;
pub mod officials;
pub mod pacing;
pub mod progress;
pub mod records;
pub mod render;
pub mod signatures;

use sqlx::PgConnection;
use uuid::Uuid;

pub use nasvyazi_platform::hours::OfficeHours;
pub use records::{Official, Signer};
pub use render::{LetterContext, LetterTemplate, LetterTemplates, RenderedLetter};

/// Associated data for a sealed official field: binds it to row and column.
pub fn official_aad(id: Uuid, field: &str) -> Vec<u8> {
    format!("official:{id}:{field}").into_bytes()
}

/// Associated data for a sealed signature field.
pub fn signature_aad(id: Uuid, field: &str) -> Vec<u8> {
    format!("signature:{id}:{field}").into_bytes()
}

/// The blind-index kind of a recipient domain (per-domain throttling).
pub const DOMAIN_BI: &str = "email_domain";

/// The ledger's `contact_id` of a collective letter (no single signer).
pub const COLLECTIVE: Uuid = Uuid::nil();

/// The PostgreSQL channel that wakes the notifier's letter sender.
pub const SENDER_WAKE: &str = "letters_wake";

/// Wakes the notifier's letter sender (collective fan-out, cancellations,
/// resolutions, new letters) when the caller's transaction commits.
pub async fn wake_sender(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(SENDER_WAKE)
        .execute(conn)
        .await?;
    Ok(())
}

/// The `Message-ID` of the letter of `signer` (nil: collective) in `letter`
/// to `official`, without angle brackets: the same every time it is built,
/// so a letter sent again by hand is recognisably the same letter.
pub fn message_id(letter: Uuid, signer: Uuid, official: Uuid, from: &str) -> String {
    let digest =
        nasvyazi_crypto::token_hash(&format!("nasvyazi-letter:{letter}:{signer}:{official}"));
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let domain = nasvyazi_mail::parse_mailbox(from)
        .map(|(_, a)| a.domain().to_string())
        .unwrap_or_else(|| "nasvyazi.local".into());
    format!("letter-{hex}@{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_stable_and_distinct() {
        let (l, s, o) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let from = "Forum <noreply@forum.example.kz>";
        let a = message_id(l, s, o, from);
        assert_eq!(a, message_id(l, s, o, from));
        assert!(a.ends_with("@forum.example.kz"), "{a}");
        assert_ne!(a, message_id(l, COLLECTIVE, o, from));
        assert_ne!(a, message_id(l, o, s, from));
    }
}
