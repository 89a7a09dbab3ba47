//! `contact.complained` -> the contact is unsubscribed. The notifier's
//! bounce listener publishes it when a recipient reported our email as
//! spam (an ARF report, RFC 5965); the notifier has already suppressed the
//! address, and the contacts table is front's, so front makes the change
//! and announces it as `contact.unsubscribed`.

use std::sync::Arc;

use nasvyazi_shared::Infra;
use nasvyazi_shared::consumer::{ConsumerRunner, ConsumerSpec, HandleError, Handler, Inbox};
use nasvyazi_shared::events::{Envelope, Event};
use nasvyazi_shared::outbox::{self, Outbox};
use sqlx::PgConnection;

/// The durable consumer's name.
pub const DURABLE: &str = "intake-contact-complained";

pub struct ContactComplained;

#[async_trait::async_trait]
impl Handler for ContactComplained {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let Event::ContactComplained { contact_id } = event.event else {
            return Err(HandleError::Permanent(anyhow::anyhow!(
                "unexpected event type {}",
                event.event.event_type()
            )));
        };
        // Erased meanwhile, or unsubscribed already: nothing to do.
        let done = sqlx::query(
            "UPDATE contacts SET status = 'unsubscribed', unsubscribed_at = now(), updated_at = now(),
                 confirm_token_hash = NULL, confirm_token_ct = NULL, confirm_expires_at = NULL
             WHERE id = $1 AND status <> 'unsubscribed'",
        )
        .bind(contact_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if done {
            outbox::enqueue(
                &mut *tx,
                Outbox::Front,
                Event::ContactUnsubscribed { contact_id },
            )
            .await?;
            tracing::info!(%contact_id, "contact unsubscribed after a complaint");
        }
        Ok(())
    }
}

/// The consumer, ready to run.
pub fn runner(infra: &Infra) -> ConsumerRunner<ContactComplained> {
    ConsumerRunner::new(
        infra,
        ConsumerSpec {
            durable: DURABLE.into(),
            event_type: "contact.complained".into(),
            inbox: Inbox::Front,
        },
        Arc::new(ContactComplained),
    )
}
