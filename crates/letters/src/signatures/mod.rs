//! Signatures (this crate owns `letter_signatures`): what a signer
//! submits, parsed ([`Signing`]); the signer's double opt-in
//! ([`opt_in`]: request -> confirmation email -> confirm, and the janitor
//! for requests never confirmed); the end of a signature ([`withdrawal`]:
//! withdrawn until the letter is sent, erased by a "forget me" link, and
//! the share lock the notifier's claim takes against both).
//!
//! It must never log, or put in an error, a name, a city, a note or an
//! address; the signing form answers the same whatever the address's
//! state, so the page reveals nobody's signature.

pub mod opt_in;
pub mod withdrawal;

use nasvyazi_mail::EmailAddress;
use nasvyazi_platform::i18n::Lang;
use sqlx::PgPool;
use uuid::Uuid;

pub use opt_in::{Signatures, SigningRequest, delete_stale_pending, janitor, sign};
pub use withdrawal::{
    Withdrawal, erase_by_forget_token, share_lock_for_sending, withdraw, withdraw_token_known,
};

/// A signature as submitted, parsed.
pub struct Signing {
    pub name: String,
    pub city: String,
    pub note: Option<String>,
    pub email: EmailAddress,
    pub language: Lang,
    pub allow_reply_to: bool,
}

/// What was wrong with the form: a catalog key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Name,
    City,
    Email,
    Note,
    Consent,
}

impl Invalid {
    pub fn message_key(self) -> &'static str {
        match self {
            Invalid::Name => "letters.invalid_name",
            Invalid::City => "letters.invalid_city",
            Invalid::Email => "letters.invalid_email",
            Invalid::Note => "letters.invalid_note",
            Invalid::Consent => "letters.invalid_consent",
        }
    }
}

fn one_line(s: &str, max: usize) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control))
        .then(|| s.to_string())
}

impl Signing {
    pub fn parse(
        name: &str,
        city: &str,
        email: &str,
        note: &str,
        consent: bool,
        allow_reply_to: bool,
        language: Lang,
    ) -> Result<Self, Invalid> {
        let name = one_line(name, 200).ok_or(Invalid::Name)?;
        let city = one_line(city, 100).ok_or(Invalid::City)?;
        let email = EmailAddress::parse(email).map_err(|_| Invalid::Email)?;
        let note = note.trim().replace("\r\n", "\n");
        if note.chars().count() > 1000 || note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(Invalid::Note);
        }
        if !consent {
            return Err(Invalid::Consent);
        }
        Ok(Signing {
            name,
            city,
            note: (!note.is_empty()).then_some(note),
            email,
            language,
            allow_reply_to,
        })
    }
}

/// Confirmed, non-withdrawn signatures of a letter (the count its pages
/// show).
pub async fn confirmed_count(db: &PgPool, letter_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM letter_signatures WHERE letter_id = $1 AND confirmed_at IS NOT NULL AND withdrawn_at IS NULL",
    )
    .bind(letter_id)
    .fetch_one(db)
    .await
}
