//! Supporters' email subscriptions: subscribe and confirm (on the one
//! double opt-in, [`crate::opt_in`]), unsubscribe, forget
//! (crypto-shredding) and the pending contacts' clean-up.
//!
//! A subscription request (`opt_in::request` with a [`Subscription`])
//! does the same amount of work and returns the same nothing whatever the
//! address's state (new, pending, active, unsubscribed,
//! suppressed), so neither the answer nor its timing tells anyone whether a
//! person is subscribed. Sending happens behind the outbox.

use crate::contacts::{aad, topics};
use crate::regions;
use chrono::{DateTime, Utc};
use nasvyazi_crypto::{Keyring, random_token};
use nasvyazi_mail::EmailAddress;
use nasvyazi_platform::events::Event;
use nasvyazi_platform::i18n::Lang;
use nasvyazi_platform::outbox::{self, Outbox};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub use crate::opt_in::Timing;
use crate::opt_in::{self, Found, Held, Request, Table, Write, stored_forms};

/// A subscription request after parsing.
pub struct Subscription {
    pub email: EmailAddress,
    pub language: Lang,
    pub topics: Vec<String>,
    pub region: Option<String>,
}

/// What was wrong with a request; the field name and a catalog key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Email,
    Language,
    Topic,
    Region,
}

impl Invalid {
    pub fn field(self) -> &'static str {
        match self {
            Invalid::Email => "email",
            Invalid::Language => "language",
            Invalid::Topic => "topics",
            Invalid::Region => "region",
        }
    }

    pub fn message_key(self) -> &'static str {
        match self {
            Invalid::Email => "subscribe.invalid_email",
            Invalid::Language => "subscribe.invalid_language",
            Invalid::Topic => "subscribe.invalid_topic",
            Invalid::Region => "subscribe.invalid_region",
        }
    }
}

impl Subscription {
    /// Parses raw fields; `known_regions` is the merged reference list.
    pub fn parse(
        email: &str,
        language: &str,
        topic_list: &[String],
        region: Option<&str>,
        known_regions: &[regions::Region],
    ) -> Result<Self, Invalid> {
        let email = EmailAddress::parse(email).map_err(|_| Invalid::Email)?;
        let language = Lang::parse(language).ok_or(Invalid::Language)?;
        let mut chosen: Vec<String> = Vec::new();
        for t in topic_list {
            if !topics().iter().any(|k| k == t) {
                return Err(Invalid::Topic);
            }
            if !chosen.contains(t) {
                chosen.push(t.clone());
            }
        }
        let region = region.map(str::trim).filter(|r| !r.is_empty());
        if let Some(r) = region
            && !regions::is_known(known_regions, r, None)
        {
            return Err(Invalid::Region);
        }
        Ok(Subscription {
            email,
            language,
            topics: chosen,
            region: region.map(str::to_string),
        })
    }
}

/// The contacts' side of the one double opt-in ([`crate::opt_in`]): rows
/// of `contacts` (channel `email`), announced by `contact.pending` and
/// `contact.confirmed`.
pub struct Contacts;

impl Table for Contacts {
    const KIND: &'static str = "contact";
    const PENDING: fn(Uuid) -> Event = |contact_id| Event::ContactPending { contact_id };
    const CONFIRMED: fn(Uuid) -> Event = |contact_id| Event::ContactConfirmed { contact_id };
    const TAKE: &'static str = "UPDATE contacts SET status = 'active', confirmed_at = now(),
             updated_at = now(), confirm_token_hash = NULL, confirm_token_ct = NULL,
             confirm_expires_at = NULL
         WHERE confirm_token_hash = ANY($1) AND status = 'pending' AND confirm_expires_at > now()
         RETURNING id";
    const DELETE_STALE: &'static str = "DELETE FROM contacts
         WHERE status = 'pending' AND COALESCE(confirm_issued_at, created_at) < $1";
}

/// A subscription is the opt-in's request: `opt_in::request(db, keys,
/// timing, &subscription, via_onion)` records it.
#[async_trait::async_trait]
impl Request for Subscription {
    type Table = Contacts;

    fn email(&self) -> &EmailAddress {
        &self.email
    }

    async fn find(&self, conn: &mut PgConnection, bi: &[u8]) -> sqlx::Result<Found> {
        let suppressed: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM suppressions WHERE channel = 'email' AND blind_index = $1)",
        )
        .bind(bi)
        .fetch_one(&mut *conn)
        .await?;
        let existing: Option<(Uuid, String, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT id, status, confirm_issued_at FROM contacts
             WHERE channel = 'email' AND blind_index = $1 FOR UPDATE",
        )
        .bind(bi)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(match existing {
            _ if suppressed => Found::Refused("suppressed address"),
            None => Found::Nothing,
            Some((id, status, issued)) => Found::Row(
                id,
                match status.as_str() {
                    "unsubscribed" => Held::Ended,
                    "pending" => Held::Pending { issued },
                    // active: preferences change only through a confirmed channel
                    _ => Held::Confirmed,
                },
            ),
        })
    }

    async fn write(&self, conn: &mut PgConnection, w: &Write<'_>) -> anyhow::Result<bool> {
        let (keys, sub, id, c) = (w.keys, self, w.id, w.confirmation);
        if w.fresh {
            let (key, wrapped) = keys.new_data_key();
            let unsub = random_token(32);
            let inserted = sqlx::query(
                "INSERT INTO contacts (id, channel, status, blind_index, data_key, address_ct, language, topics, region,
                     confirm_nonce, confirm_token_hash, confirm_token_ct, confirm_issued_at, confirm_expires_at,
                     unsub_token_hash, unsub_token_ct, via_onion)
                 VALUES ($1, 'email', 'pending', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 ON CONFLICT (channel, blind_index) DO NOTHING",
            )
            .bind(id)
            .bind(w.email_bi)
            .bind(&wrapped)
            .bind(key.seal(sub.email.expose().as_bytes(), &aad(id, "address")))
            .bind(sub.language.code())
            .bind(&sub.topics)
            .bind(&sub.region)
            .bind(c.nonce)
            .bind(&c.hash)
            .bind(key.seal(c.token.as_bytes(), &aad(id, "confirm")))
            .bind(c.issued)
            .bind(c.expires)
            .bind(keys.token_mac(&unsub))
            .bind(key.seal(unsub.as_bytes(), &aad(id, "unsubscribe")))
            .bind(w.via_onion)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            return Ok(inserted == 1);
        }
        let wrapped: Vec<u8> = sqlx::query_scalar("SELECT data_key FROM contacts WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        let key = keys.unwrap_data_key(&wrapped)?;
        sqlx::query(
            "UPDATE contacts SET status = 'pending', language = $2, topics = $3, region = $4,
                 confirm_nonce = $5, confirm_token_hash = $6, confirm_token_ct = $7,
                 confirm_issued_at = $8, confirm_expires_at = $9, via_onion = $10,
                 updated_at = now()
             WHERE id = $1",
        )
        .bind(id)
        .bind(sub.language.code())
        .bind(&sub.topics)
        .bind(&sub.region)
        .bind(c.nonce)
        .bind(&c.hash)
        .bind(key.seal(c.token.as_bytes(), &aad(id, "confirm")))
        .bind(c.issued)
        .bind(c.expires)
        .bind(w.via_onion)
        .execute(&mut *conn)
        .await?;
        Ok(true)
    }
}

/// Confirms with a token from the confirmation mail. `Some(id)` if it was
/// valid and unused.
pub async fn confirm(db: &PgPool, keys: &Keyring, token: &str) -> anyhow::Result<Option<Uuid>> {
    opt_in::confirm::<Contacts>(db, keys, token).await
}

/// Whether an unsubscribe token belongs to a contact (for the GET page).
pub async fn unsubscribe_token_known(
    db: &PgPool,
    keys: &Keyring,
    token: &str,
) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM contacts WHERE unsub_token_hash = ANY($1))")
        .bind(stored_forms(keys, token))
        .fetch_one(db)
        .await
}

/// Unsubscribes (idempotent). `false` if the token is unknown.
pub async fn unsubscribe(db: &PgPool, keys: &Keyring, token: &str) -> anyhow::Result<bool> {
    let mut tx = db.begin().await?;
    let row: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT id, status FROM contacts WHERE unsub_token_hash = ANY($1) FOR UPDATE",
    )
    .bind(stored_forms(keys, token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, status)) = row else {
        return Ok(false);
    };
    // A row from before keyed hashes is upgraded on its first use.
    sqlx::query("UPDATE contacts SET unsub_token_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(keys.token_mac(token))
        .execute(&mut *tx)
        .await?;
    if status != "unsubscribed" {
        sqlx::query(
            "UPDATE contacts SET status = 'unsubscribed', unsubscribed_at = now(), updated_at = now(),
                 confirm_token_hash = NULL, confirm_token_ct = NULL, confirm_expires_at = NULL
             WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        outbox::enqueue(
            &mut tx,
            Outbox::Front,
            Event::ContactUnsubscribed { contact_id: id },
        )
        .await?;
        tracing::info!(contact_id = %id, "contact unsubscribed");
    }
    tx.commit().await?;
    Ok(true)
}

/// Erases a contact: the row, and with it the wrapped data key, goes.
/// Whatever ciphertext survives elsewhere (a backup) can no longer be
/// opened once the backup rotates out.
pub async fn erase(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let gone = sqlx::query("DELETE FROM contacts WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        == 1;
    if gone {
        outbox::enqueue(
            conn,
            Outbox::Front,
            Event::ContactUnsubscribed { contact_id: id },
        )
        .await?;
        tracing::info!(contact_id = %id, "contact erased");
    }
    Ok(gone)
}

/// "Forget me" from a link: erases the contact the token belongs to.
pub async fn forget(db: &PgPool, keys: &Keyring, token: &str) -> anyhow::Result<bool> {
    let mut tx = db.begin().await?;
    let id: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM contacts WHERE unsub_token_hash = ANY($1)")
            .bind(stored_forms(keys, token))
            .fetch_optional(&mut *tx)
            .await?;
    let gone = match id {
        Some(id) => erase(&mut tx, id).await?,
        None => false,
    };
    if gone {
        audit_erasure(&mut tx, "link").await?;
    }
    tx.commit().await?;
    Ok(gone)
}

/// Erases by address (the CLI and, later, the console). Returns the id.
pub async fn erase_by_email(
    db: &PgPool,
    keys: &Keyring,
    email: &EmailAddress,
    actor: &str,
) -> anyhow::Result<Option<Uuid>> {
    erase_person(db, keys, &Person::Email(email.clone()), actor).await
}

/// A person as staff name them when they ask to be unsubscribed or erased:
/// by their email address or by their Telegram chat (its numeric id).
#[derive(Clone)]
pub enum Person {
    Email(EmailAddress),
    Telegram(i64),
}

impl Person {
    /// An email address, or a Telegram chat id (digits, maybe a `-`).
    pub fn parse(input: &str) -> Option<Person> {
        let input = input.trim();
        if let Ok(chat) = input.parse::<i64>() {
            return Some(Person::Telegram(chat));
        }
        EmailAddress::parse(input).ok().map(Person::Email)
    }

    /// (channel, blind index) of the person's contact row.
    pub fn key(&self, keys: &Keyring) -> (&'static str, Vec<u8>) {
        match self {
            Person::Email(e) => ("email", keys.blind_index("email", &e.normalised())),
            Person::Telegram(chat) => (
                "telegram",
                keys.blind_index(nasvyazi_telegram::BLIND_INDEX_KIND, &chat.to_string()),
            ),
        }
    }
}

/// Erases a person's contact (crypto-shredding), audited as `actor`
/// without saying whom. Returns the id if there was one.
pub async fn erase_person(
    db: &PgPool,
    keys: &Keyring,
    person: &Person,
    actor: &str,
) -> anyhow::Result<Option<Uuid>> {
    let (channel, bi) = person.key(keys);
    let mut tx = db.begin().await?;
    let id: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM contacts WHERE channel = $1 AND blind_index = $2")
            .bind(channel)
            .bind(&bi)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(id) = id {
        erase(&mut tx, id).await?;
        audit_erasure(&mut tx, actor).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Records that an erasure happened, by whom it was asked (`actor`: a
/// staff member, `cli`, `telegram`, `link`), never whom it erased: no
/// contact id either (deliveries still carry it, so it would say who).
pub async fn audit_erasure(conn: &mut PgConnection, actor: &str) -> sqlx::Result<()> {
    nasvyazi_staff::auth::audit(
        conn,
        actor,
        None,
        "contact.erase",
        None,
        serde_json::json!({}),
    )
    .await
}

/// Unsubscribes by address (the console, on a supporter's request), audited
/// as `actor` in the same transaction. Returns the id if there was one.
pub async fn unsubscribe_by_email(
    db: &PgPool,
    keys: &Keyring,
    email: &EmailAddress,
    actor: &str,
) -> anyhow::Result<Option<Uuid>> {
    unsubscribe_person(db, keys, &Person::Email(email.clone()), actor).await
}

/// As [`unsubscribe_by_email`], for a person named either way.
pub async fn unsubscribe_person(
    db: &PgPool,
    keys: &Keyring,
    person: &Person,
    actor: &str,
) -> anyhow::Result<Option<Uuid>> {
    let (channel, bi) = person.key(keys);
    let mut tx = db.begin().await?;
    let found: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM contacts WHERE channel = $1 AND blind_index = $2 FOR UPDATE",
    )
    .bind(channel)
    .bind(&bi)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = found else {
        return Ok(None);
    };
    let changed = sqlx::query(
        "UPDATE contacts SET status = 'unsubscribed', unsubscribed_at = now(), updated_at = now(),
             confirm_token_hash = NULL, confirm_token_ct = NULL, confirm_expires_at = NULL
         WHERE id = $1 AND status <> 'unsubscribed'",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 1 {
        outbox::enqueue(
            &mut tx,
            Outbox::Front,
            Event::ContactUnsubscribed { contact_id: id },
        )
        .await?;
        tracing::info!(contact_id = %id, "contact unsubscribed on request");
    }
    nasvyazi_staff::auth::audit(
        &mut tx,
        actor,
        None,
        "contact.unsubscribe",
        Some(&id.to_string()),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Deletes pending contacts older than `ttl` that never confirmed.
pub async fn delete_stale_pending(db: &PgPool, ttl: chrono::Duration) -> sqlx::Result<u64> {
    opt_in::delete_stale::<Contacts>(db, ttl).await
}
