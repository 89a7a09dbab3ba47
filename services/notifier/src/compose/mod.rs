//! From a claimed ledger row to a rendered message: each delivery kind
//! resolves its recipient (decrypting only here, only for sending) and
//! renders its template. Adding a kind means a module and a match arm.

pub mod appeal_ack;
pub mod appeal_status;
pub mod campaign;
pub mod confirmation;
pub mod console_link;
pub mod inline_images;
pub mod letter;
pub mod letter_confirmation;
pub mod staff_alert;
pub mod subscriber;
pub mod survey_invite;
pub mod telegram_media;

use std::sync::Arc;

use crate::channels::{Outgoing, SendError};
use minijinja::Environment;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::{Config, Infra};

use crate::deliveries::Claimed;

/// What composing a message needs, and nothing of sending it: no channel,
/// no lease. The worker owns one; every kind's `prepare` takes it.
pub struct ComposeCtx {
    pub infra: Infra,
    pub keys: Arc<Keyring>,
    pub templates: Arc<Environment<'static>>,
    /// Whether a bot token is configured (Telegram messages can go out).
    pub telegram: bool,
    /// Campaigns by occurrence, briefly cached.
    pub campaigns: campaign::Cache,
    /// The contacts of the chunks being sent, loaded one query a chunk.
    pub preloaded: subscriber::Preloaded,
}

impl ComposeCtx {
    pub fn config(&self) -> &Config {
        &self.infra.config
    }
}

/// A message ready to send.
pub struct Prepared {
    pub message: Outgoing,
    /// The recipient's blind index, to suppress on a permanent refusal.
    pub suppress_key: Option<Vec<u8>>,
}

/// Why there is nothing to send (yet).
pub enum NotReady {
    /// Nothing to send any more (erased, suppressed, superseded).
    Skip(&'static str),
    /// Try again later (database busy).
    Retry(SendError),
    /// Cannot ever be sent; the reason carries no personal data.
    Fail(String),
}

impl From<sqlx::Error> for NotReady {
    fn from(e: sqlx::Error) -> Self {
        NotReady::Retry(SendError::Transient {
            reason: format!("database: {e}"),
            retry_after: None,
        })
    }
}

/// Prepares the message a row stands for; email gets the VERP return path
/// of its delivery when `email.return_path` is set.
pub async fn prepare(cx: &ComposeCtx, row: &Claimed) -> Result<Prepared, NotReady> {
    let mut prepared = prepare_kind(cx, row).await?;
    if let Outgoing::Email(m) = &mut prepared.message {
        add_return_path(m, &cx.keys, cx.config(), row.id);
    }
    Ok(prepared)
}

/// Asks the channel for the VERP envelope sender of `delivery`.
pub fn add_return_path(
    m: &mut crate::channels::EmailMessage,
    keys: &nasvyazi_shared::crypto::Keyring,
    config: &nasvyazi_shared::Config,
    delivery: uuid::Uuid,
) {
    if let Some(a) =
        nasvyazi_shared::email::verp::address(keys, &config.email.return_path, delivery)
    {
        m.headers
            .push((crate::channels::mime::ENVELOPE_FROM.to_string(), a));
    }
}

async fn prepare_kind(cx: &ComposeCtx, row: &Claimed) -> Result<Prepared, NotReady> {
    use crate::deliveries::Kind;
    match row.kind() {
        Some(Kind::Confirmation) => confirmation::prepare(cx, row).await,
        Some(Kind::Campaign) => campaign::prepare(cx, row).await,
        Some(Kind::CampaignTest) => campaign::prepare_test(cx, row).await,
        Some(Kind::SignatureConfirmation) => letter_confirmation::prepare(cx, row).await,
        Some(Kind::AppealAck) => appeal_ack::prepare(cx, row).await,
        Some(Kind::AppealStatus) => appeal_status::prepare(cx, row).await,
        Some(Kind::StaffAlert) => staff_alert::prepare(cx, row).await,
        Some(Kind::ConsoleLink) => console_link::prepare(cx, row).await,
        Some(Kind::ConsultationAlert) => crate::consultations::prepare_alert(cx, row).await,
        // Letters have their own at-most-once sender; the broadcast claim
        // never takes them.
        Some(Kind::Letter) | None => Err(NotReady::Fail(format!(
            "unknown delivery kind {}",
            row.kind
        ))),
    }
}
