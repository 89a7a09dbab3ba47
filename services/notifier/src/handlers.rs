//! Event handlers: each turns an event into ledger rows in the consumer's
//! transaction (idempotent through the ledger's unique key).

use nasvyazi_shared::consumer::{HandleError, Handler};
use nasvyazi_shared::events::{Envelope, Event};
use sqlx::PgConnection;

use crate::deliveries;

/// `contact.pending` -> the confirmation email.
pub struct ContactPending;

#[async_trait::async_trait]
impl Handler for ContactPending {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        match event.event {
            Event::ContactPending { contact_id } => {
                deliveries::queue_confirmation(tx, contact_id).await?;
                Ok(())
            }
            _ => Err(HandleError::Permanent(anyhow::anyhow!(
                "unexpected event type {}",
                event.event.event_type()
            ))),
        }
    }
}
