//! Supporters' email subscriptions: subscribe (double opt-in), confirm,
//! unsubscribe, forget (crypto-shredding) and the pending-contact janitor.
//!
//! `subscribe` does the same amount of work and returns the same nothing
//! whatever the address's state (new, pending, active, unsubscribed,
//! suppressed), so neither the answer nor its timing tells anyone whether a
//! person is subscribed. Sending happens behind the outbox.

use chrono::{Duration as ChronoDuration, Utc};
use nasvyazi_shared::contacts::{aad, topics};
use nasvyazi_shared::crypto::{Keyring, random_token, token_hash};
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::events::Event;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_shared::outbox::{self, Outbox};
use nasvyazi_shared::regions;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

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

/// Settings that shape the flow.
#[derive(Clone, Copy)]
pub struct Timing {
    pub confirm_ttl: ChronoDuration,
    pub resend_after: ChronoDuration,
    /// Confirmation emails to one address per hour, whatever the form
    /// (`limits.confirmations_per_address_per_hour`).
    pub confirmations_per_hour: u32,
}

impl Timing {
    pub fn from_config(c: &nasvyazi_shared::config::SubscriptionsConfig) -> Self {
        Timing {
            confirm_ttl: ChronoDuration::hours(c.confirm_ttl_hours as i64),
            resend_after: ChronoDuration::minutes(c.resend_after_minutes as i64),
            confirmations_per_hour: 3,
        }
    }

    /// With the per-address budget of `limits`.
    pub fn with_limits(self, l: &nasvyazi_shared::config::LimitsConfig) -> Self {
        Timing {
            confirmations_per_hour: l.confirmations_per_address_per_hour,
            ..self
        }
    }
}

/// A fresh confirmation token for `contact_id`: (nonce, keyed hash,
/// sealed).
fn confirm_token(
    keys: &Keyring,
    key: &nasvyazi_shared::crypto::Key,
    contact_id: Uuid,
) -> (Uuid, Vec<u8>, Vec<u8>) {
    let token = random_token(32);
    (
        Uuid::new_v4(),
        keys.token_mac(&token),
        key.seal(token.as_bytes(), &aad(contact_id, "confirm")),
    )
}

/// Records a subscription request. Whatever the address's state, the
/// caller answers the same.
pub async fn subscribe(
    db: &PgPool,
    keys: &Keyring,
    timing: Timing,
    sub: &Subscription,
) -> anyhow::Result<()> {
    subscribe_via(db, keys, timing, sub, false).await
}

/// [`subscribe`], recording whether the request came through the onion
/// address (the confirmation email then links there).
pub async fn subscribe_via(
    db: &PgPool,
    keys: &Keyring,
    timing: Timing,
    sub: &Subscription,
    via_onion: bool,
) -> anyhow::Result<()> {
    let bi = keys.blind_index("email", &sub.email.normalised());
    let mut tx = db.begin().await?;
    let suppressed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM suppressions WHERE channel = 'email' AND blind_index = $1)",
    )
    .bind(&bi)
    .fetch_one(&mut *tx)
    .await?;
    type Existing = (Uuid, String, Option<chrono::DateTime<Utc>>, Vec<u8>);
    let existing: Option<Existing> = sqlx::query_as(
        "SELECT id, status, confirm_issued_at, data_key FROM contacts
         WHERE channel = 'email' AND blind_index = $1 FOR UPDATE",
    )
    .bind(&bi)
    .fetch_optional(&mut *tx)
    .await?;
    // Spent on every request, whatever the state, so the work is the same.
    let allowed = crate::limits::confirmation_allowed(
        &mut tx,
        keys,
        timing.confirmations_per_hour,
        "email",
        &bi,
    )
    .await?;
    let now = Utc::now();
    match existing {
        _ if suppressed => {
            tracing::info!("subscription request for a suppressed address; ignored");
        }
        _ if !allowed => {
            tracing::info!("subscription request over the per-address limit; ignored");
        }
        None => {
            let id = Uuid::now_v7();
            let (key, wrapped) = keys.new_data_key();
            let (nonce, confirm_hash, confirm_ct) = confirm_token(keys, &key, id);
            let unsub = random_token(32);
            let inserted = sqlx::query(
                "INSERT INTO contacts (id, channel, status, blind_index, data_key, address_ct, language, topics, region,
                     confirm_nonce, confirm_token_hash, confirm_token_ct, confirm_issued_at, confirm_expires_at,
                     unsub_token_hash, unsub_token_ct, via_onion)
                 VALUES ($1, 'email', 'pending', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 ON CONFLICT (channel, blind_index) DO NOTHING",
            )
            .bind(id)
            .bind(&bi)
            .bind(&wrapped)
            .bind(key.seal(sub.email.expose().as_bytes(), &aad(id, "address")))
            .bind(sub.language.code())
            .bind(&sub.topics)
            .bind(&sub.region)
            .bind(nonce)
            .bind(&confirm_hash)
            .bind(&confirm_ct)
            .bind(now)
            .bind(now + timing.confirm_ttl)
            .bind(keys.token_mac(&unsub))
            .bind(key.seal(unsub.as_bytes(), &aad(id, "unsubscribe")))
            .bind(via_onion)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                outbox::enqueue(
                    &mut tx,
                    Outbox::Intake,
                    Event::ContactPending { contact_id: id },
                )
                .await?;
                tracing::info!(contact_id = %id, "new pending contact");
            }
        }
        Some((id, status, issued, wrapped)) => {
            let reissue = match status.as_str() {
                "unsubscribed" => true,
                "pending" => issued.is_none_or(|t| t + timing.resend_after <= now),
                _ => false, // active: preferences change only through a confirmed channel
            };
            if reissue {
                let key = keys.unwrap_data_key(&wrapped)?;
                let (nonce, confirm_hash, confirm_ct) = confirm_token(keys, &key, id);
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
                .bind(nonce)
                .bind(&confirm_hash)
                .bind(&confirm_ct)
                .bind(now)
                .bind(now + timing.confirm_ttl)
                .bind(via_onion)
                .execute(&mut *tx)
                .await?;
                outbox::enqueue(
                    &mut tx,
                    Outbox::Intake,
                    Event::ContactPending { contact_id: id },
                )
                .await?;
                tracing::info!(contact_id = %id, previous = %status, "confirmation reissued");
            } else {
                tracing::info!(contact_id = %id, "subscription request changes nothing");
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The forms a token's row may hold: the keyed hash ([`Keyring::token_mac`],
/// every row made since) and, for rows made before, the unkeyed SHA-256.
/// Old confirmation tokens thus work until they expire (hours); an old
/// unsubscribe token works, and is stored keyed from its first use on.
fn stored_forms(keys: &Keyring, token: &str) -> Vec<Vec<u8>> {
    vec![keys.token_mac(token), token_hash(token)]
}

/// Confirms with a token from the confirmation mail. `Some(id)` if it was
/// valid and unused.
pub async fn confirm(db: &PgPool, keys: &Keyring, token: &str) -> anyhow::Result<Option<Uuid>> {
    let mut tx = db.begin().await?;
    let id: Option<Uuid> = sqlx::query_scalar(
        "UPDATE contacts SET status = 'active', confirmed_at = now(), updated_at = now(),
             confirm_token_hash = NULL, confirm_token_ct = NULL, confirm_expires_at = NULL
         WHERE confirm_token_hash = ANY($1) AND status = 'pending' AND confirm_expires_at > now()
         RETURNING id",
    )
    .bind(stored_forms(keys, token))
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = id {
        outbox::enqueue(
            &mut tx,
            Outbox::Intake,
            Event::ContactConfirmed { contact_id: id },
        )
        .await?;
        tracing::info!(contact_id = %id, "contact confirmed");
    }
    tx.commit().await?;
    Ok(id)
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
            Outbox::Intake,
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
            Outbox::Intake,
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
                keys.blind_index(
                    nasvyazi_shared::telegram::BLIND_INDEX_KIND,
                    &chat.to_string(),
                ),
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
    nasvyazi_shared::auth::audit(
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
            Outbox::Intake,
            Event::ContactUnsubscribed { contact_id: id },
        )
        .await?;
        tracing::info!(contact_id = %id, "contact unsubscribed on request");
    }
    nasvyazi_shared::auth::audit(
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
pub async fn delete_stale_pending(db: &PgPool, ttl: ChronoDuration) -> sqlx::Result<u64> {
    let n = sqlx::query("DELETE FROM contacts WHERE status = 'pending' AND COALESCE(confirm_issued_at, created_at) < $1")
        .bind(Utc::now() - ttl)
        .execute(db)
        .await?
        .rows_affected();
    if n > 0 {
        tracing::info!(deleted = n, "stale pending contacts deleted");
    }
    Ok(n)
}
