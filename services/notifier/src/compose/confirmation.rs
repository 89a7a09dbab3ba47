//! The double opt-in confirmation email.

use nasvyazi_shared::channel::Outgoing;

use super::{NotReady, Prepared, subscriber};
use crate::deliveries::Claimed;
use crate::render;
use crate::worker::Worker;

pub async fn prepare(worker: &Worker, row: &Claimed) -> Result<Prepared, NotReady> {
    let contact = subscriber::load(worker, row.contact_id).await?;
    let token = match (&contact.confirm_token, contact.confirm_nonce) {
        (Some(t), Some(n)) if n == row.ref_id && contact.status == "pending" => t,
        _ => return Err(NotReady::Skip("confirmation no longer current")),
    };
    let to = contact
        .email()
        .ok_or_else(|| NotReady::Fail("stored address is not an email address".into()))?;
    let via_onion: bool = sqlx::query_scalar(
        "SELECT coalesce((SELECT via_onion FROM contacts WHERE id = $1), false)",
    )
    .bind(row.contact_id)
    .fetch_one(&worker.infra.db)
    .await?;
    let message = render::confirmation_via(
        &worker.templates,
        worker.config(),
        row.id,
        to,
        contact.language,
        (token, &contact.unsubscribe_token),
        via_onion,
    )
    .map_err(|e| NotReady::Fail(format!("template: {e}")))?;
    Ok(Prepared {
        message: Outgoing::Email(message),
        suppress_key: Some(contact.blind_index.clone()),
    })
}
