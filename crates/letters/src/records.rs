//! Reading sealed officials and signers, decrypted (for the front's pages
//! and the notifier's letters alike). Only reads: the writes are in
//! `officials` and `signatures`.
//!
//! It must never log, or put in an error, a decrypted value: the decrypted
//! types print `[redacted]` and have no `Display`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use nasvyazi_crypto::{CryptoError, Keyring};
use nasvyazi_mail::EmailAddress;
use nasvyazi_platform::i18n::Lang;
use sqlx::PgPool;
use uuid::Uuid;

use crate::OfficeHours;
use crate::{official_aad, signature_aad};

/// Why a sealed row could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// The row's data key or a field does not open (wrong master key?).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// An official, decrypted (personal data: never logged).
#[derive(Clone)]
pub struct Official {
    pub id: Uuid,
    pub name: String,
    pub position: String,
    pub organisation: String,
    pub email: EmailAddress,
    pub language: Lang,
    pub time_zone: Tz,
    pub hours: OfficeHours,
    pub daily_cap: Option<i32>,
    pub version: i32,
}

impl std::fmt::Debug for Official {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Official")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The columns [`OfficialRow`] reads.
pub const OFFICIAL_COLUMNS: &str = "id, data_key, name_ct, position_ct, organisation_ct, email_ct, language, \
     time_zone, office_days, office_start, office_end, daily_cap, version";

/// An official as stored.
#[derive(sqlx::FromRow)]
pub struct OfficialRow {
    pub id: Uuid,
    pub data_key: Vec<u8>,
    pub name_ct: Vec<u8>,
    pub position_ct: Vec<u8>,
    pub organisation_ct: Vec<u8>,
    pub email_ct: Vec<u8>,
    pub language: String,
    pub time_zone: String,
    pub office_days: Vec<i32>,
    pub office_start: i32,
    pub office_end: i32,
    pub daily_cap: Option<i32>,
    pub version: i32,
}

impl OfficialRow {
    pub fn open(self, keys: &Keyring) -> Result<Official, CryptoError> {
        let id = self.id;
        let key = keys.unwrap_data_key(&self.data_key)?;
        let open = |ct: &[u8], field| key.open_string(ct, &official_aad(id, field));
        Ok(Official {
            id,
            name: open(&self.name_ct, "name")?,
            position: open(&self.position_ct, "position")?,
            organisation: open(&self.organisation_ct, "organisation")?,
            email: EmailAddress::parse(&open(&self.email_ct, "email")?)
                .map_err(|_| CryptoError::Format)?,
            language: Lang::parse(&self.language).unwrap_or(Lang::Ru),
            time_zone: self.time_zone.parse().unwrap_or(chrono_tz::Asia::Almaty),
            hours: OfficeHours::from_columns(self.office_days, self.office_start, self.office_end)
                .unwrap_or_default(),
            daily_cap: self.daily_cap,
            version: self.version,
        })
    }
}

/// Loads and decrypts one official; `None` if there is none.
pub async fn load_official(
    db: &PgPool,
    keys: &Keyring,
    id: Uuid,
) -> Result<Option<Official>, LoadError> {
    let row: Option<OfficialRow> = sqlx::query_as(&format!(
        "SELECT {OFFICIAL_COLUMNS} FROM officials WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| r.open(keys)).transpose()?)
}

/// A signer, decrypted (personal data: never logged).
#[derive(Clone)]
pub struct Signer {
    pub id: Uuid,
    pub letter_id: Uuid,
    pub name: String,
    pub city: String,
    pub note: Option<String>,
    pub email: EmailAddress,
    pub language: Lang,
    pub allow_reply_to: bool,
    pub confirmed_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The columns [`SignerRow`] reads.
pub const SIGNER_COLUMNS: &str = "id, letter_id, data_key, name_ct, city_ct, note_ct, email_ct, language, \
     allow_reply_to, confirmed_at, withdrawn_at";

/// A signature as stored.
#[derive(sqlx::FromRow)]
pub struct SignerRow {
    pub id: Uuid,
    pub letter_id: Uuid,
    pub data_key: Option<Vec<u8>>,
    pub name_ct: Option<Vec<u8>>,
    pub city_ct: Option<Vec<u8>>,
    pub note_ct: Option<Vec<u8>>,
    pub email_ct: Option<Vec<u8>>,
    pub language: String,
    pub allow_reply_to: bool,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl SignerRow {
    /// `None` for a withdrawn signature (its fields are wiped).
    pub fn open(self, keys: &Keyring) -> Result<Option<Signer>, CryptoError> {
        let (Some(data_key), Some(name), Some(city), Some(email), None) = (
            self.data_key,
            self.name_ct,
            self.city_ct,
            self.email_ct,
            self.withdrawn_at,
        ) else {
            return Ok(None);
        };
        let id = self.id;
        let key = keys.unwrap_data_key(&data_key)?;
        let open = |ct: &[u8], field| key.open_string(ct, &signature_aad(id, field));
        Ok(Some(Signer {
            id,
            letter_id: self.letter_id,
            name: open(&name, "name")?,
            city: open(&city, "city")?,
            note: self.note_ct.map(|ct| open(&ct, "note")).transpose()?,
            email: EmailAddress::parse(&open(&email, "email")?).map_err(|_| CryptoError::Format)?,
            language: Lang::parse(&self.language).unwrap_or(Lang::Ru),
            allow_reply_to: self.allow_reply_to,
            confirmed_at: self.confirmed_at,
        }))
    }
}

/// Loads and decrypts one signer; `None` if absent or withdrawn.
pub async fn load_signer(
    db: &PgPool,
    keys: &Keyring,
    id: Uuid,
) -> Result<Option<Signer>, LoadError> {
    let row: Option<SignerRow> = sqlx::query_as(&format!(
        "SELECT {SIGNER_COLUMNS} FROM letter_signatures WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?;
    match row {
        Some(r) => Ok(r.open(keys)?),
        None => Ok(None),
    }
}

/// Every confirmed, non-withdrawn signer of a letter, oldest first.
pub async fn confirmed_signers(
    db: &PgPool,
    keys: &Keyring,
    letter_id: Uuid,
) -> Result<Vec<Signer>, LoadError> {
    let rows: Vec<SignerRow> = sqlx::query_as(&format!(
        "SELECT {SIGNER_COLUMNS} FROM letter_signatures
         WHERE letter_id = $1 AND confirmed_at IS NOT NULL AND withdrawn_at IS NULL
         ORDER BY confirmed_at, id"
    ))
    .bind(letter_id)
    .fetch_all(db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if let Some(s) = r.open(keys)? {
            out.push(s);
        }
    }
    Ok(out)
}
