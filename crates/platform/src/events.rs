//! Events: past-tense facts, versioned serde JSON, ids only.
//!
//! An event body must never carry personal data (an address, a chat id, a
//! name, an appeal's text): consumers read what they need from PostgreSQL by
//! id. Adding a variant is backward compatible; changing one means a new `v`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Current envelope version.
pub const VERSION: u16 = 1;

/// What is published on NATS: the envelope around one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Envelope format version.
    pub v: u16,
    /// The event's id: the outbox row id and the `Nats-Msg-Id`.
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    #[serde(flatten)]
    pub event: Event,
}

impl Envelope {
    pub fn new(event: Event) -> Self {
        Envelope {
            v: VERSION,
            id: Uuid::now_v7(),
            occurred_at: Utc::now(),
            event,
        }
    }
}

/// Every event the system publishes. The serde tag is the subject suffix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    #[serde(rename = "contact.pending")]
    ContactPending { contact_id: Uuid },
    #[serde(rename = "contact.confirmed")]
    ContactConfirmed { contact_id: Uuid },
    #[serde(rename = "contact.unsubscribed")]
    ContactUnsubscribed { contact_id: Uuid },
    /// A Telegram chat blocked the bot (a send got 403); front, which owns
    /// the contact, unsubscribes it.
    #[serde(rename = "contact.blocked")]
    ContactBlocked { contact_id: Uuid },
    /// A recipient reported our email as spam (an ARF complaint came back
    /// to the bounce listener); front unsubscribes the contact.
    #[serde(rename = "contact.complained")]
    ContactComplained { contact_id: Uuid },
    #[serde(rename = "appeal.received")]
    AppealReceived { appeal_id: Uuid },
    #[serde(rename = "appeal.status_changed")]
    AppealStatusChanged { appeal_id: Uuid },
    /// A letter was signed; the signer must confirm by email.
    #[serde(rename = "signature.pending")]
    SignaturePending { signature_id: Uuid },
    #[serde(rename = "signature.confirmed")]
    SignatureConfirmed { signature_id: Uuid },
    #[serde(rename = "campaign.triggered")]
    CampaignTriggered {
        campaign_id: Uuid,
        occurrence_id: Uuid,
    },
    /// An organiser asked to send the failed deliveries of a campaign again.
    #[serde(rename = "campaign.resend_requested")]
    CampaignResendRequested { campaign_id: Uuid },
    /// An organiser asked for a test send (the address is in
    /// `campaign_test_sends`, sealed).
    #[serde(rename = "campaign.test_requested")]
    CampaignTestRequested { test_send_id: Uuid },
    /// A console user asked for a sign-in link by email (the token is in
    /// `console_sign_in_links`, sealed).
    #[serde(rename = "console.sign_in_requested")]
    ConsoleSignInRequested { link_id: Uuid },
    /// A person opened a conversation (bot or /talk); staff are alerted
    /// with its number only.
    #[serde(rename = "conversation.opened")]
    ConversationOpened { conversation_id: Uuid },
    /// An alert to staff about a conversation (`conversation_alerts`:
    /// waiting too long, referred to a speciality).
    #[serde(rename = "conversation.alert")]
    ConversationAlert { alert_id: Uuid },
    #[serde(rename = "delivery.sent")]
    DeliverySent { delivery_id: Uuid },
    #[serde(rename = "delivery.failed")]
    DeliveryFailed { delivery_id: Uuid },
}

/// The first token of every event type: each is one subject family in the
/// events stream.
pub const FAMILIES: &[&str] = &[
    "contact",
    "appeal",
    "signature",
    "campaign",
    "console",
    "conversation",
    "delivery",
];

impl Event {
    /// The event type, e.g. `contact.pending`; the subject is `<prefix>.<type>`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::ContactPending { .. } => "contact.pending",
            Event::ContactConfirmed { .. } => "contact.confirmed",
            Event::ContactUnsubscribed { .. } => "contact.unsubscribed",
            Event::ContactBlocked { .. } => "contact.blocked",
            Event::ContactComplained { .. } => "contact.complained",
            Event::AppealReceived { .. } => "appeal.received",
            Event::AppealStatusChanged { .. } => "appeal.status_changed",
            Event::SignaturePending { .. } => "signature.pending",
            Event::SignatureConfirmed { .. } => "signature.confirmed",
            Event::CampaignTriggered { .. } => "campaign.triggered",
            Event::CampaignResendRequested { .. } => "campaign.resend_requested",
            Event::CampaignTestRequested { .. } => "campaign.test_requested",
            Event::ConsoleSignInRequested { .. } => "console.sign_in_requested",
            Event::ConversationOpened { .. } => "conversation.opened",
            Event::ConversationAlert { .. } => "conversation.alert",
            Event::DeliverySent { .. } => "delivery.sent",
            Event::DeliveryFailed { .. } => "delivery.failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_tagged_and_versioned() {
        let id = Uuid::nil();
        let env = Envelope {
            v: 1,
            id,
            occurred_at: DateTime::from_timestamp(0, 0).unwrap(),
            event: Event::ContactPending { contact_id: id },
        };
        let json = serde_json::to_value(&env).unwrap();
        assert_eq!(json["v"], 1);
        assert_eq!(json["type"], "contact.pending");
        assert_eq!(
            json["data"]["contact_id"],
            "00000000-0000-0000-0000-000000000000"
        );
        let back: Envelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, env);
        for e in [
            Event::AppealReceived { appeal_id: id },
            Event::CampaignTriggered {
                campaign_id: id,
                occurrence_id: id,
            },
        ] {
            let v = serde_json::to_value(&e).unwrap();
            assert_eq!(v["type"], e.event_type());
            assert!(FAMILIES.contains(&e.event_type().split('.').next().unwrap()));
        }
    }
}
