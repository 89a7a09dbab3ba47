//! Reading supporters' contacts (the table is written by intake only).
//!
//! The sealed fields are bound to their row and column through the AEAD's
//! associated data, so a ciphertext copied to another row does not open.

use sqlx::PgPool;
use uuid::Uuid;

use crate::crypto::{CryptoError, Keyring};
use crate::email::EmailAddress;
use crate::i18n::Lang;

/// Built-in topics a supporter can choose.
pub fn topics() -> &'static [String] {
    static TOPICS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    TOPICS.get_or_init(|| {
        serde_json::from_str(include_str!("../data/topics.json")).expect("topics.json is valid")
    })
}

/// Associated data for a sealed contact field.
pub fn aad(contact_id: Uuid, field: &str) -> Vec<u8> {
    format!("contact:{contact_id}:{field}").into_bytes()
}

/// What the notifier needs to send one contact a message.
pub struct ContactForSending {
    pub id: Uuid,
    pub status: String,
    pub channel: String,
    pub language: Lang,
    pub blind_index: Vec<u8>,
    /// The decrypted address (an email address or a Telegram chat id).
    pub address: String,
    pub confirm_token: Option<String>,
    /// Changes with every (re)issued confirmation token.
    pub confirm_nonce: Option<Uuid>,
    pub unsubscribe_token: String,
}

impl std::fmt::Debug for ContactForSending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContactForSending")
            .field("id", &self.id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl ContactForSending {
    pub fn email(&self) -> Option<EmailAddress> {
        EmailAddress::parse(&self.address).ok()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Loads and decrypts one contact; `None` if it was erased.
pub async fn load_for_sending(
    db: &PgPool,
    keys: &Keyring,
    id: Uuid,
) -> Result<Option<ContactForSending>, LoadError> {
    type Row = (
        String,
        String,
        String,
        Vec<u8>,
        Vec<u8>,
        Vec<u8>,
        Option<Vec<u8>>,
        Vec<u8>,
        Option<Uuid>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT status, channel, language, blind_index, data_key, address_ct, confirm_token_ct, unsub_token_ct, confirm_nonce
         FROM contacts WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    let Some((
        status,
        channel,
        language,
        blind_index,
        data_key,
        address_ct,
        confirm_ct,
        unsub_ct,
        confirm_nonce,
    )) = row
    else {
        return Ok(None);
    };
    let key = keys.unwrap_data_key(&data_key)?;
    Ok(Some(ContactForSending {
        id,
        status,
        channel,
        language: Lang::parse(&language).unwrap_or(Lang::Ru),
        blind_index,
        address: key.open_string(&address_ct, &aad(id, "address"))?,
        confirm_token: confirm_ct
            .map(|ct| key.open_string(&ct, &aad(id, "confirm")))
            .transpose()?,
        confirm_nonce,
        unsubscribe_token: key.open_string(&unsub_ct, &aad(id, "unsubscribe"))?,
    }))
}
