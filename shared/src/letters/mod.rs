//! Letters to officials, as intake and the notifier both need them: the
//! officials' office hours, the letter templates and their rendering (what
//! an organiser previews is what an official receives), the stable
//! Message-ID of a letter, and reading the sealed officials and signers.
//!
//! Intake writes the tables; this module only reads and renders. It must
//! never log, or put in an error, a name, a city, a note or an address.

pub use nasvyazi_platform::hours;
pub mod records;
pub mod render;

use uuid::Uuid;

pub use hours::OfficeHours;
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

/// The `Message-ID` of the letter of `signer` (nil: collective) in `letter`
/// to `official`, without angle brackets: the same every time it is built,
/// so a letter sent again by hand is recognisably the same letter.
pub fn message_id(letter: Uuid, signer: Uuid, official: Uuid, from: &str) -> String {
    let digest =
        crate::crypto::token_hash(&format!("nasvyazi-letter:{letter}:{signer}:{official}"));
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let domain = crate::email::parse_mailbox(from)
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
