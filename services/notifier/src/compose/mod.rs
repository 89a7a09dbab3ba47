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

use nasvyazi_shared::channel::{Outgoing, SendError};

use crate::deliveries::Claimed;
use crate::worker::Worker;

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
pub async fn prepare(worker: &Worker, row: &Claimed) -> Result<Prepared, NotReady> {
    let mut prepared = prepare_kind(worker, row).await?;
    if let Outgoing::Email(m) = &mut prepared.message {
        add_return_path(m, &worker.keys, worker.config(), row.id);
    }
    Ok(prepared)
}

/// Asks the channel for the VERP envelope sender of `delivery`.
pub fn add_return_path(
    m: &mut nasvyazi_shared::channel::EmailMessage,
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

async fn prepare_kind(worker: &Worker, row: &Claimed) -> Result<Prepared, NotReady> {
    match row.kind.as_str() {
        "confirmation" => confirmation::prepare(worker, row).await,
        "campaign" => campaign::prepare(worker, row).await,
        "campaign_test" => campaign::prepare_test(worker, row).await,
        "signature_confirmation" => letter_confirmation::prepare(worker, row).await,
        "appeal_ack" => appeal_ack::prepare(worker, row).await,
        "appeal_status" => appeal_status::prepare(worker, row).await,
        "staff_alert" => staff_alert::prepare(worker, row).await,
        console_link::KIND => console_link::prepare(worker, row).await,
        crate::consultations::ALERT_KIND => crate::consultations::prepare_alert(worker, row).await,
        other => Err(NotReady::Fail(format!("unknown delivery kind {other}"))),
    }
}
