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

/// `campaign.triggered` -> the occurrence's deliveries (set-based).
pub struct CampaignTriggered;

#[async_trait::async_trait]
impl Handler for CampaignTriggered {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let Event::CampaignTriggered {
            campaign_id,
            occurrence_id,
        } = event.event
        else {
            return Err(HandleError::Permanent(anyhow::anyhow!(
                "unexpected event type"
            )));
        };
        let campaign = load_campaign(tx, campaign_id).await?;
        let Some(campaign) = campaign else {
            return Err(HandleError::Permanent(anyhow::anyhow!(
                "campaign {campaign_id} does not exist"
            )));
        };
        if campaign.status == "cancelled" {
            tracing::info!(%campaign_id, %occurrence_id, "campaign cancelled; occurrence not expanded");
            return Ok(());
        }
        let n = crate::fanout::expand(tx, &campaign, occurrence_id, chrono::Utc::now()).await?;
        tracing::info!(%campaign_id, %occurrence_id, deliveries = n, "occurrence expanded");
        Ok(())
    }
}

async fn load_campaign(
    tx: &mut PgConnection,
    id: uuid::Uuid,
) -> Result<Option<nasvyazi_campaigns::Campaign>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {} FROM campaigns WHERE id = $1",
        nasvyazi_campaigns::COLUMNS
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
}

/// `campaign.resend_requested` -> failed deliveries queued again.
pub struct CampaignResend;

#[async_trait::async_trait]
impl Handler for CampaignResend {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let Event::CampaignResendRequested { campaign_id } = event.event else {
            return Err(HandleError::Permanent(anyhow::anyhow!(
                "unexpected event type"
            )));
        };
        let n = deliveries::resend_failed(tx, campaign_id).await?;
        tracing::info!(%campaign_id, requeued = n, "failed deliveries queued again");
        Ok(())
    }
}

/// `console.sign_in_requested` -> the sign-in link email.
pub struct ConsoleSignIn;

#[async_trait::async_trait]
impl Handler for ConsoleSignIn {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let Event::ConsoleSignInRequested { link_id } = event.event else {
            return Err(HandleError::Permanent(anyhow::anyhow!(
                "unexpected event type"
            )));
        };
        crate::compose::console_link::queue(tx, link_id).await?;
        Ok(())
    }
}

/// `campaign.test_requested` -> one test delivery.
pub struct CampaignTest;

#[async_trait::async_trait]
impl Handler for CampaignTest {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let Event::CampaignTestRequested { test_send_id } = event.event else {
            return Err(HandleError::Permanent(anyhow::anyhow!(
                "unexpected event type"
            )));
        };
        sqlx::query(
            "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
             SELECT gen_random_uuid(), 'campaign_test', id, $2, channel FROM campaign_test_sends WHERE id = $1
             ON CONFLICT DO NOTHING",
        )
        .bind(test_send_id)
        .bind(uuid::Uuid::nil())
        .execute(&mut *tx)
        .await?;
        deliveries::wake(tx).await?;
        Ok(())
    }
}
