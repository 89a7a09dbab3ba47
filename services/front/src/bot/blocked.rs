//! `contact.blocked` -> the contact is unsubscribed. The notifier publishes
//! it when a send gets "403 bot was blocked by the user"; the contacts
//! table is front's, so front makes the change (and announces it as
//! `contact.unsubscribed`). The notifier has already suppressed the chat,
//! so nothing more is sent meanwhile.

use std::sync::Arc;

use nasvyazi_shared::Infra;
use nasvyazi_shared::consumer::{ConsumerRunner, ConsumerSpec, HandleError, Handler, Inbox};
use nasvyazi_shared::events::{Envelope, Event};
use sqlx::PgConnection;

use super::store;

/// The durable consumer's name.
pub const DURABLE: &str = "intake-contact-blocked";

pub struct ContactBlocked;

#[async_trait::async_trait]
impl Handler for ContactBlocked {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let Event::ContactBlocked { contact_id } = event.event else {
            return Err(HandleError::Permanent(anyhow::anyhow!(
                "unexpected event type {}",
                event.event.event_type()
            )));
        };
        // Erased meanwhile, or unsubscribed already: nothing to do.
        store::unsubscribe(tx, contact_id, "blocked the bot (403)").await?;
        Ok(())
    }
}

/// The consumer, ready to run.
pub fn runner(infra: &Infra) -> ConsumerRunner<ContactBlocked> {
    ConsumerRunner::new(
        infra,
        ConsumerSpec {
            durable: DURABLE.into(),
            event_type: "contact.blocked".into(),
            inbox: Inbox::Front,
        },
        Arc::new(ContactBlocked),
    )
}
