//! Supporters as recipients: load and decrypt one contact, skipping the
//! erased and the suppressed. The batch sender preloads a chunk's contacts
//! in one query ([`Preloaded::fill`]); a load then takes its contact from
//! there instead of asking PostgreSQL again.

use std::collections::HashMap;
use std::sync::Mutex;

use nasvyazi_supporters::contacts::{self, ContactForSending};
use uuid::Uuid;

use super::ComposeCtx;
use super::NotReady;
use crate::deliveries::{self, Claimed};

/// Contacts of the chunk being sent, loaded together.
#[derive(Default)]
pub struct Preloaded(Mutex<HashMap<Uuid, contacts::Loaded>>);

impl Preloaded {
    /// Loads the contacts of `rows` that are supporters, in one query. A
    /// failure only means each load asks on its own.
    pub async fn fill(&self, cx: &ComposeCtx, rows: &[Claimed]) {
        let ids: Vec<Uuid> = rows
            .iter()
            .filter(|r| {
                // Campaign rows' contact is a supporter in `contacts`.
                r.kind() == Some(deliveries::Kind::Campaign) && r.channel != "telegram_channel"
            })
            .map(|r| r.contact_id)
            .collect();
        if ids.is_empty() {
            return;
        }
        match contacts::load_many_for_sending(&cx.infra.db, &cx.keys, &ids).await {
            Ok(map) => self.0.lock().expect("preload lock").extend(map),
            Err(e) => tracing::debug!(error = %e, "cannot preload contacts; loading one by one"),
        }
    }

    /// Forgets what is left of a chunk (it is done).
    pub fn forget(&self, rows: &[Claimed]) {
        let mut map = self.0.lock().expect("preload lock");
        for r in rows {
            map.remove(&r.contact_id);
        }
    }

    fn take(&self, id: Uuid) -> Option<contacts::Loaded> {
        self.0.lock().expect("preload lock").remove(&id)
    }
}

/// The contact to send to, if there still is one to send to.
pub async fn load(cx: &ComposeCtx, contact_id: Uuid) -> Result<ContactForSending, NotReady> {
    if let Some(loaded) = cx.preloaded.take(contact_id) {
        if loaded.suppressed {
            return Err(NotReady::Skip("suppressed"));
        }
        return loaded.contact.map_err(|_| undecryptable());
    }
    let contact = match contacts::load_for_sending(&cx.infra.db, &cx.keys, contact_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(NotReady::Skip("contact erased")),
        Err(contacts::LoadError::Db(e)) => return Err(e.into()),
        Err(contacts::LoadError::Crypto(_)) => return Err(undecryptable()),
    };
    if deliveries::is_suppressed(&cx.infra.db, &contact.channel, &contact.blind_index).await? {
        return Err(NotReady::Skip("suppressed"));
    }
    Ok(contact)
}

fn undecryptable() -> NotReady {
    NotReady::Fail("contact cannot be decrypted (wrong master key?)".into())
}
