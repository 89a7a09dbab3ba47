//! Supporters as recipients: load and decrypt one contact, skipping the
//! erased and the suppressed.

use nasvyazi_shared::contacts::{self, ContactForSending};
use uuid::Uuid;

use super::NotReady;
use crate::deliveries;
use crate::worker::Worker;

/// The contact to send to, if there still is one to send to.
pub async fn load(worker: &Worker, contact_id: Uuid) -> Result<ContactForSending, NotReady> {
    let contact = match contacts::load_for_sending(&worker.infra.db, &worker.keys, contact_id).await
    {
        Ok(Some(c)) => c,
        Ok(None) => return Err(NotReady::Skip("contact erased")),
        Err(contacts::LoadError::Db(e)) => return Err(e.into()),
        Err(contacts::LoadError::Crypto(_)) => {
            return Err(NotReady::Fail(
                "contact cannot be decrypted (wrong master key?)".into(),
            ));
        }
    };
    if deliveries::is_suppressed(&worker.infra.db, &contact.channel, &contact.blind_index).await? {
        return Err(NotReady::Skip("suppressed"));
    }
    Ok(contact)
}
