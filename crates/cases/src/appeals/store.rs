//! The appellant's side in PostgreSQL: submit an appeal, look its status up
//! with the case number and access code, add information.
//!
//! The text, the contact and every addition are sealed under the appeal's
//! own data key, bound to row and column. A wrong case number and a wrong
//! access code are indistinguishable to the caller (same answer, one hash
//! comparison either way). Nothing here logs more than the appeal's id.

use crate::appeals::stored::aad;
use chrono::{DateTime, Utc};
use nasvyazi_crypto::Keyring;
use nasvyazi_platform::events::Event;
use nasvyazi_platform::outbox::{self, Outbox};
use sqlx::PgPool;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::model::{self, Valid};

/// What the appellant gets back, once.
pub struct Created {
    pub id: Uuid,
    pub case_number: String,
    pub access_code: Zeroizing<String>,
}

/// How many times a fresh case number may collide before giving up
/// (with 31^8 numbers, never in practice).
const CASE_NUMBER_ATTEMPTS: usize = 5;

/// Stores an appeal and its `appeal.received` event in one transaction.
pub async fn submit(db: &PgPool, keys: &Keyring, appeal: &Valid) -> anyhow::Result<Created> {
    submit_via(db, keys, appeal, false).await
}

/// [`submit`], recording whether the request came through the onion
/// address (the messages answering it then link there). An appeal with a
/// contact gets a "forget me" token: keyed hash for look-up, sealed for the
/// notifier's link.
pub async fn submit_via(
    db: &PgPool,
    keys: &Keyring,
    appeal: &Valid,
    via_onion: bool,
) -> anyhow::Result<Created> {
    let access_code = model::new_access_code();
    let access_hash = model::access_hash(keys, &access_code);
    for _ in 0..CASE_NUMBER_ATTEMPTS {
        let id = Uuid::now_v7();
        let case_number = model::new_case_number();
        let (key, wrapped) = keys.new_data_key();
        let (channel, contact_ct, contact_bi) = match &appeal.contact {
            Some(c) => (
                Some(c.channel()),
                Some(key.seal(c.normalised().as_bytes(), &aad(id, "contact"))),
                Some(keys.blind_index(c.blind_index_kind(), &c.normalised())),
            ),
            None => (None, None, None),
        };
        let forget = appeal
            .contact
            .as_ref()
            .map(|_| nasvyazi_crypto::random_token(32));
        let forget_hash = forget.as_deref().map(nasvyazi_crypto::token_hash);
        let forget_ct = forget
            .as_deref()
            .map(|t| key.seal(t.as_bytes(), &aad(id, "forget")));
        let mut tx = db.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO appeals (id, case_number, access_hash, category, region, city, site, language,
                 consent_to_forward, data_key, text_ct, contact_channel, contact_ct, contact_bi, status_nonce,
                 forget_token_hash, forget_token_ct, via_onion)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
             ON CONFLICT (case_number) DO NOTHING",
        )
        .bind(id)
        .bind(&case_number)
        .bind(&access_hash)
        .bind(appeal.category)
        .bind(&appeal.region)
        .bind(&appeal.city)
        .bind(&appeal.site)
        .bind(appeal.language.code())
        .bind(appeal.consent_to_forward)
        .bind(&wrapped)
        .bind(key.seal(appeal.text.as_bytes(), &aad(id, "text")))
        .bind(channel)
        .bind(contact_ct)
        .bind(contact_bi)
        .bind(Uuid::new_v4())
        .bind(forget_hash)
        .bind(forget_ct)
        .bind(via_onion)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            continue;
        }
        outbox::enqueue(
            &mut tx,
            Outbox::Front,
            Event::AppealReceived { appeal_id: id },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(appeal_id = %id, "appeal received");
        metrics::counter!("nasvyazi_appeals_received_total").increment(1);
        return Ok(Created {
            id,
            case_number,
            access_code,
        });
    }
    anyhow::bail!("no free case number after {CASE_NUMBER_ATTEMPTS} attempts")
}

/// What the appellant may see with the right pair. Its times are
/// rounded down to the hour: a page or answer seen by someone else (a
/// shared computer, a seized phone) must not match the microsecond of a
/// row or a log line elsewhere.
#[derive(Debug, Clone)]
pub struct PublicStatus {
    pub id: Uuid,
    pub case_number: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How many additions the appellant has made.
    pub additions: i64,
}

/// The appeal the pair opens, if any. Unknown case numbers, malformed
/// input and wrong codes all come back as `None` after the same work.
pub async fn lookup(
    db: &PgPool,
    keys: &Keyring,
    case_number: &str,
    access_code: &str,
) -> sqlx::Result<Option<PublicStatus>> {
    let presented = model::access_hash(keys, access_code);
    let canonical = model::canonical_case_number(case_number).unwrap_or_default();
    type Row = (
        Uuid,
        String,
        Vec<u8>,
        String,
        DateTime<Utc>,
        DateTime<Utc>,
        i64,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT a.id, a.case_number, a.access_hash, a.status,
             date_trunc('hour', a.created_at), date_trunc('hour', a.updated_at),
             (SELECT count(*) FROM appeal_notes n WHERE n.appeal_id = a.id AND n.kind = 'addition')
         FROM appeals a WHERE a.case_number = $1",
    )
    .bind(&canonical)
    .fetch_optional(db)
    .await?;
    // Compare against a hash no code has when the number is unknown, so
    // both misses cost the same.
    let stored = row
        .as_ref()
        .map(|r| r.2.clone())
        .unwrap_or_else(|| vec![0u8; presented.len()]);
    let matches = model::ct_eq(&presented, &stored);
    Ok(row.filter(|_| matches).map(
        |(id, case_number, _, status, created_at, updated_at, additions)| PublicStatus {
            id,
            case_number,
            status,
            created_at,
            updated_at,
            additions,
        },
    ))
}

/// Adds the appellant's information to the appeal the pair opens.
/// `false` for a wrong pair (nothing stored).
pub async fn add_information(
    db: &PgPool,
    keys: &Keyring,
    case_number: &str,
    access_code: &str,
    text: &str,
) -> anyhow::Result<bool> {
    let Some(found) = lookup(db, keys, case_number, access_code).await? else {
        return Ok(false);
    };
    let mut tx = db.begin().await?;
    let wrapped: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT data_key FROM appeals WHERE id = $1 FOR UPDATE")
            .bind(found.id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(wrapped) = wrapped else {
        return Ok(false); // erased in between
    };
    let key = keys.unwrap_data_key(&wrapped)?;
    let note_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO appeal_notes (id, appeal_id, kind, author, body_ct) VALUES ($1, $2, 'addition', 'appellant', $3)",
    )
    .bind(note_id)
    .bind(found.id)
    .bind(key.seal(text.as_bytes(), &aad(found.id, &format!("note:{note_id}"))))
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE appeals SET updated_at = now() WHERE id = $1")
        .bind(found.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(appeal_id = %found.id, "appellant added information");
    Ok(true)
}
