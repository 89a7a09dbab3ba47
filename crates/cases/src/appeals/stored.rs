//! Appeals as other services read them (the tables are written by this
//! crate only): the categories and statuses, the associated data that binds a
//! sealed field to its row and column, the contact forms an appellant may
//! leave, and loading one appeal for a message.
//!
//! What it must never do: print a contact or an appeal's text. [`Contact`]
//! has no `Display`, and its `Debug` is redacted.

use sqlx::PgPool;
use uuid::Uuid;

use nasvyazi_crypto::Keyring;
use nasvyazi_mail::EmailAddress;
use nasvyazi_platform::i18n::Lang;
use nasvyazi_supporters::contacts::LoadError;

/// What an appeal is about (the `category` column's values).
pub const CATEGORIES: &[&str] = &[
    "hospital_no_ost",
    "take_home_refused",
    "supply_interruption",
    "police",
    "discrimination",
    "hiv_hepatitis_tb",
    "other",
];

/// The life of a case (the `status` column's values), in order.
pub const STATUSES: &[&str] = &["new", "triaged", "forwarded", "resolved", "closed"];

/// Associated data for a sealed appeal field (`text`, `contact`,
/// `forward`, `note:<id>`).
pub fn aad(appeal_id: Uuid, field: &str) -> Vec<u8> {
    format!("appeal:{appeal_id}:{field}").into_bytes()
}

/// How an appellant can be reached, if they chose to be.
#[derive(Clone)]
pub enum Contact {
    Email(EmailAddress),
    /// `@username` (lowercase) or a numeric chat id.
    Telegram(String),
}

impl std::fmt::Debug for Contact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Contact::Email(_) => f.write_str("Contact::Email([redacted])"),
            Contact::Telegram(_) => f.write_str("Contact::Telegram([redacted])"),
        }
    }
}

impl Contact {
    /// `email` or `telegram`: the `contact_channel` column.
    pub fn channel(&self) -> &'static str {
        match self {
            Contact::Email(_) => "email",
            Contact::Telegram(_) => "telegram",
        }
    }

    /// The normalised value, as sealed and as the blind index sees it.
    pub fn normalised(&self) -> String {
        match self {
            Contact::Email(e) => e.normalised(),
            Contact::Telegram(t) => t.clone(),
        }
    }

    /// The domain of the contact's blind index. Kept apart from the
    /// supporters' (`email`, `telegram`) so appellants and subscribers
    /// cannot be joined by their hashes.
    pub fn blind_index_kind(&self) -> &'static str {
        match self {
            Contact::Email(_) => "appeal_email",
            Contact::Telegram(_) => "appeal_telegram",
        }
    }

    /// Reads a stored contact back.
    pub fn from_stored(channel: &str, value: &str) -> Option<Contact> {
        match channel {
            "email" => EmailAddress::parse(value).ok().map(Contact::Email),
            "telegram" => normalise_telegram(value).map(Contact::Telegram),
            _ => None,
        }
    }
}

/// A Telegram `@username` (5-32 of a-z, 0-9, `_`; lowercased, with `@`) or
/// a numeric chat id; `None` if it is neither.
pub fn normalise_telegram(raw: &str) -> Option<String> {
    let s = raw.trim();
    let s = s
        .strip_prefix("https://t.me/")
        .or_else(|| s.strip_prefix("t.me/"))
        .unwrap_or(s);
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(s.to_string());
    }
    let name = s.strip_prefix('@').unwrap_or(s);
    let ok = (5..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.as_bytes()[0].is_ascii_alphabetic();
    ok.then(|| format!("@{}", name.to_ascii_lowercase()))
}

/// The parts of an appeal a message may show: never the text or contact.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppealSummary {
    pub id: Uuid,
    pub case_number: String,
    pub status: String,
    pub status_nonce: Uuid,
    pub category: String,
    pub region: String,
    pub city: String,
    pub site: Option<String>,
    pub language: String,
    pub contact_channel: Option<String>,
}

impl AppealSummary {
    pub fn lang(&self) -> Lang {
        Lang::parse(&self.language).unwrap_or(Lang::Ru)
    }
}

/// One appeal's summary; `None` if it was erased.
pub async fn load_summary(db: &PgPool, id: Uuid) -> sqlx::Result<Option<AppealSummary>> {
    sqlx::query_as(
        "SELECT id, case_number, status, status_nonce, category, region, city, site, language, contact_channel
         FROM appeals WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Decrypts one appeal's contact: `Ok(None)` if it was erased or left
/// none. Only for sending the appellant a message.
pub async fn load_contact(
    db: &PgPool,
    keys: &Keyring,
    id: Uuid,
) -> Result<Option<Contact>, LoadError> {
    type Row = (Vec<u8>, Option<String>, Option<Vec<u8>>);
    let row: Option<Row> =
        sqlx::query_as("SELECT data_key, contact_channel, contact_ct FROM appeals WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
    let Some((wrapped, Some(channel), Some(ct))) = row else {
        return Ok(None);
    };
    let key = keys.unwrap_data_key(&wrapped)?;
    let value = key.open_string(&ct, &aad(id, "contact"))?;
    Ok(Contact::from_stored(&channel, &value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_contacts_normalise() {
        assert_eq!(
            normalise_telegram(" @Some_User1 ").as_deref(),
            Some("@some_user1")
        );
        assert_eq!(
            normalise_telegram("https://t.me/Some_User1").as_deref(),
            Some("@some_user1")
        );
        assert_eq!(
            normalise_telegram("123456789").as_deref(),
            Some("123456789")
        );
        assert_eq!(normalise_telegram("-100123").as_deref(), Some("-100123"));
        for bad in ["", "@abc", "@1user", "a b c d e", "@user-name", "-"] {
            assert_eq!(normalise_telegram(bad), None, "{bad}");
        }
    }

    #[test]
    fn contact_debug_is_redacted() {
        let c = Contact::Telegram("@secret_name".into());
        assert!(!format!("{c:?}").contains("secret"));
    }
}
