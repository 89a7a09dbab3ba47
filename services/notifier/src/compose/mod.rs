//! From a claimed ledger row to a rendered message: each delivery kind
//! resolves its recipient (decrypting only here, only for sending) and
//! renders its template. Adding a kind means a module and a match arm.

pub mod appeal_ack;
pub mod appeal_status;
pub mod campaign;
pub mod confirmation;
pub mod console_link;
pub mod letter;
pub mod letter_confirmation;
pub mod staff_alert;
pub mod subscriber;

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

/// Prepares the message a row stands for.
pub async fn prepare(worker: &Worker, row: &Claimed) -> Result<Prepared, NotReady> {
    match row.kind.as_str() {
        "confirmation" => confirmation::prepare(worker, row).await,
        "campaign" => campaign::prepare(worker, row).await,
        "campaign_test" => campaign::prepare_test(worker, row).await,
        "signature_confirmation" => letter_confirmation::prepare(worker, row).await,
        "appeal_ack" => appeal_ack::prepare(worker, row).await,
        "appeal_status" => appeal_status::prepare(worker, row).await,
        "staff_alert" => staff_alert::prepare(worker, row).await,
        console_link::KIND => console_link::prepare(worker, row).await,
        other => Err(NotReady::Fail(format!("unknown delivery kind {other}"))),
    }
}
