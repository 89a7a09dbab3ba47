//! Reading supporters' contacts (the table is written by front only).
//!
//! The sealed fields are bound to their row and column through the AEAD's
//! associated data, so a ciphertext copied to another row does not open.

use sqlx::PgPool;
use uuid::Uuid;

use nasvyazi_crypto::{CryptoError, Keyring};
use nasvyazi_mail::EmailAddress;
use nasvyazi_platform::i18n::Lang;

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
    let row: Option<SendingRow> = sqlx::query_as(&format!("{SENDING_COLUMNS} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    match row {
        Some(r) => Ok(Some(open(keys, r)?)),
        None => Ok(None),
    }
}

/// A contact loaded for sending in a batch, with whether its address is
/// suppressed on its channel.
pub struct Loaded {
    pub contact: Result<ContactForSending, CryptoError>,
    pub suppressed: bool,
}

/// Loads and decrypts many contacts in one query (with their suppression
/// state, joined in the same query): the batch sender's one round trip for
/// a chunk of deliveries. Erased contacts are simply absent.
pub async fn load_many_for_sending(
    db: &PgPool,
    keys: &Keyring,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Loaded>, sqlx::Error> {
    let rows: Vec<SendingRow> = sqlx::query_as(&format!("{SENDING_COLUMNS} WHERE c.id = ANY($1)"))
        .bind(ids)
        .fetch_all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let (id, suppressed) = (r.0, r.10);
            (
                id,
                Loaded {
                    contact: open(keys, r),
                    suppressed,
                },
            )
        })
        .collect())
}

type SendingRow = (
    Uuid,
    String,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    Vec<u8>,
    Option<Uuid>,
    bool,
);

const SENDING_COLUMNS: &str = "SELECT c.id, c.status, c.channel, c.language, c.blind_index, c.data_key, c.address_ct,
        c.confirm_token_ct, c.unsub_token_ct, c.confirm_nonce,
        EXISTS (SELECT 1 FROM suppressions s WHERE s.channel = c.channel AND s.blind_index = c.blind_index)
     FROM contacts c";

fn open(keys: &Keyring, row: SendingRow) -> Result<ContactForSending, CryptoError> {
    let (
        id,
        status,
        channel,
        language,
        blind_index,
        data_key,
        address_ct,
        confirm_ct,
        unsub_ct,
        confirm_nonce,
        _suppressed,
    ) = row;
    let key = keys.unwrap_data_key(&data_key)?;
    Ok(ContactForSending {
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
    })
}

/// A topic code (the built-in list, `GET /api/v1/topics`).
#[derive(utoipa::ToSchema)]
#[schema(as = TopicCode)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum TopicCode {
    Ost,
    HarmReduction,
    Hiv,
    Hepatitis,
    Overdose,
    HumanRights,
    DrugPolicy,
    Events,
}
