//! The double opt-in confirmation email.

use crate::channels::Outgoing;

use super::ComposeCtx;
use super::{NotReady, Prepared, subscriber};
use crate::deliveries::Claimed;
use crate::render;

pub async fn prepare(cx: &ComposeCtx, row: &Claimed) -> Result<Prepared, NotReady> {
    let contact = subscriber::load(cx, row.contact_id).await?;
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
    .fetch_one(&cx.infra.db)
    .await?;
    let message = render::confirmation_via(
        &cx.templates,
        cx.config(),
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
