//! Letters to officials, the notifier's side: the consumers that put
//! signatures' confirmation emails and letters in the ledger, and the
//! letter sender, a worker of its own because letters are at-most-once
//! (never reclaimed after a crash: flagged `unknown`), paced per official
//! and per recipient domain, and sent only in the official's office hours.
//!
//! It must never send a letter twice on its own, send from the signer's
//! address, or put a name or an address in a log line or an error.

pub mod claim;
pub mod clock;
pub mod queue;
pub mod sender;

use std::sync::Arc;

use crate::channels::Channel;
use nasvyazi_shared::Infra;
use nasvyazi_shared::consumer::{ConsumerRunner, ConsumerSpec, Inbox};
use nasvyazi_shared::crypto::Keyring;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use clock::{Clock, ManualClock, SystemClock};
pub use sender::LetterSender;

/// Starts the letters consumers and the letter sender (system clock).
pub fn spawn(
    infra: &Infra,
    keys: Arc<Keyring>,
    email: Arc<dyn Channel>,
    tasks: &mut JoinSet<anyhow::Result<()>>,
    shutdown: &CancellationToken,
) {
    let spec = |durable: &str, event_type: &str| ConsumerSpec {
        durable: durable.into(),
        event_type: event_type.into(),
        inbox: Inbox::Notifier,
    };
    tasks.spawn(
        ConsumerRunner::new(
            infra,
            spec("notifier-signature-pending", "signature.pending"),
            Arc::new(queue::SignaturePending),
        )
        .run(shutdown.clone()),
    );
    tasks.spawn(
        ConsumerRunner::new(
            infra,
            spec("notifier-signature-confirmed", "signature.confirmed"),
            Arc::new(queue::SignatureConfirmed),
        )
        .run(shutdown.clone()),
    );
    let sender = Arc::new(LetterSender {
        infra: infra.clone(),
        keys,
        email,
        clock: Arc::new(SystemClock),
    });
    tasks.spawn(sender.run(shutdown.clone()));
}
