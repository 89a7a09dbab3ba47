//! A chat that blocked the bot: the send got 403. The notifier suppresses
//! the chat at once (its own table, so nothing more goes out) and publishes
//! `contact.blocked` in the same transaction; front, which owns the
//! contact, unsubscribes it. When the person starts the bot again (a
//! `contact.confirmed` of a Telegram contact), the suppression is lifted:
//! only that person can write from that chat, so the new start is theirs.

use nasvyazi_shared::consumer::{HandleError, Handler};
use nasvyazi_shared::events::{Envelope, Event};
use nasvyazi_shared::outbox::{self, Outbox};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// The suppression reason of a blocked chat.
pub const REASON: &str = "blocked";

/// Suppresses the chat and announces `contact.blocked`, in one transaction.
pub async fn record(db: &PgPool, contact_id: Uuid, blind_index: &[u8]) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO suppressions (channel, blind_index, reason) VALUES ('telegram', $1, $2)
         ON CONFLICT DO NOTHING",
    )
    .bind(blind_index)
    .bind(REASON)
    .execute(&mut *tx)
    .await?;
    if !contact_id.is_nil() {
        outbox::enqueue(
            &mut tx,
            Outbox::Notifier,
            Event::ContactBlocked { contact_id },
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(%contact_id, "Telegram chat blocked the bot; suppressed");
    Ok(())
}

/// `contact.confirmed` -> a Telegram contact's "blocked" suppression goes.
pub struct ContactConfirmed;

#[async_trait::async_trait]
impl Handler for ContactConfirmed {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let Event::ContactConfirmed { contact_id } = event.event else {
            return Err(HandleError::Permanent(anyhow::anyhow!(
                "unexpected event type {}",
                event.event.event_type()
            )));
        };
        let lifted = sqlx::query(
            "DELETE FROM suppressions s USING contacts c
             WHERE c.id = $1 AND c.channel = 'telegram' AND c.status = 'active'
               AND s.channel = 'telegram' AND s.blind_index = c.blind_index AND s.reason = $2",
        )
        .bind(contact_id)
        .bind(REASON)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if lifted > 0 {
            tracing::info!(%contact_id, "Telegram contact started the bot again; suppression lifted");
        }
        Ok(())
    }
}
