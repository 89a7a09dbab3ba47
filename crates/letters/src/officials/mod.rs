//! The officials directory (this crate owns `officials`): sealing at rest
//! (a data key per row, every field bound to row and column), the email's
//! blind index against duplicates, create / update / delete (audited in
//! their transaction), the list, and the CSV import that stores all rows
//! or none. What an organiser gives, and its validation, is [`input`].
//!
//! It must never log or put in an error a name, a position or an address:
//! errors name the row, the column and the reason.

pub mod csv_io;
pub mod input;

use nasvyazi_crypto::Keyring;
use nasvyazi_platform::Config;
use nasvyazi_staff::auth::{self, Principal};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

pub use input::{FieldError, OfficialInput, OfficialLanguage, TimeZoneName, Valid};

use crate::records::{OFFICIAL_COLUMNS, OfficialRow};
use crate::{DOMAIN_BI, Official, official_aad};

/// Inserts (`existing` false) or replaces row `id`, sealed under a fresh
/// data key, in the caller's transaction.
pub async fn store(
    conn: &mut PgConnection,
    keys: &Keyring,
    id: Uuid,
    v: &Valid,
    existing: bool,
) -> sqlx::Result<()> {
    let (key, wrapped) = keys.new_data_key();
    let seal = |value: &str, field| key.seal(value.as_bytes(), &official_aad(id, field));
    let sql = if existing {
        "UPDATE officials SET data_key = $2, name_ct = $3, position_ct = $4, organisation_ct = $5, email_ct = $6,
             email_bi = $7, domain_bi = $8, language = $9, time_zone = $10, office_days = $11, office_start = $12,
             office_end = $13, daily_cap = $14, version = version + 1, updated_at = now()
         WHERE id = $1"
    } else {
        "INSERT INTO officials (id, data_key, name_ct, position_ct, organisation_ct, email_ct, email_bi, domain_bi,
             language, time_zone, office_days, office_start, office_end, daily_cap)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    };
    sqlx::query(sql)
        .bind(id)
        .bind(&wrapped)
        .bind(seal(&v.name, "name"))
        .bind(seal(&v.position, "position"))
        .bind(seal(&v.organisation, "organisation"))
        .bind(seal(v.email.expose(), "email"))
        .bind(v.email_bi(keys))
        .bind(keys.blind_index(DOMAIN_BI, v.email.domain()))
        .bind(v.language.code())
        .bind(&v.time_zone)
        .bind(&v.hours.days)
        .bind(v.hours.start)
        .bind(v.hours.end)
        .bind(v.daily_cap)
        .execute(conn)
        .await?;
    Ok(())
}

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    NotFound,
    /// Another official has this address.
    Duplicate,
    /// An approved letter still targets the official.
    InUse,
}

async fn owner_of(conn: &mut PgConnection, bi: &[u8]) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM officials WHERE email_bi = $1")
        .bind(bi)
        .fetch_optional(conn)
        .await
}

pub async fn create(
    db: &PgPool,
    keys: &Keyring,
    who: &Principal,
    v: &Valid,
) -> anyhow::Result<Result<Uuid, Refused>> {
    let mut tx = db.begin().await?;
    if owner_of(&mut tx, &v.email_bi(keys)).await?.is_some() {
        return Ok(Err(Refused::Duplicate));
    }
    let id = Uuid::now_v7();
    store(&mut tx, keys, id, v, false).await?;
    audit(
        &mut tx,
        who,
        "official.create",
        Some(id),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(id))
}

pub async fn update(
    db: &PgPool,
    keys: &Keyring,
    who: &Principal,
    id: Uuid,
    v: &Valid,
) -> anyhow::Result<Result<(), Refused>> {
    let mut tx = db.begin().await?;
    let found: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM officials WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if found.is_none() {
        return Ok(Err(Refused::NotFound));
    }
    if owner_of(&mut tx, &v.email_bi(keys))
        .await?
        .is_some_and(|o| o != id)
    {
        return Ok(Err(Refused::Duplicate));
    }
    store(&mut tx, keys, id, v, true).await?;
    audit(
        &mut tx,
        who,
        "official.update",
        Some(id),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Deletes an official no approved letter targets (drafts lose the target).
pub async fn delete(db: &PgPool, who: &Principal, id: Uuid) -> anyhow::Result<Result<(), Refused>> {
    let mut tx = db.begin().await?;
    let found: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM officials WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if found.is_none() {
        return Ok(Err(Refused::NotFound));
    }
    let in_use: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM letter_targets t JOIN letters l ON l.id = t.letter_id
                        WHERE t.official_id = $1 AND l.status <> 'draft')",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if in_use {
        return Ok(Err(Refused::InUse));
    }
    sqlx::query("DELETE FROM letter_targets WHERE official_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM officials WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        who,
        "official.delete",
        Some(id),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Every official, decrypted, by organisation and name.
pub async fn list(db: &PgPool, keys: &Keyring) -> anyhow::Result<Vec<Official>> {
    let rows: Vec<OfficialRow> = sqlx::query_as(&format!(
        "SELECT {OFFICIAL_COLUMNS} FROM officials ORDER BY created_at, id"
    ))
    .fetch_all(db)
    .await?;
    let mut out = rows
        .into_iter()
        .map(|r| r.open(keys))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by(|a, b| (&a.organisation, &a.name).cmp(&(&b.organisation, &b.name)));
    Ok(out)
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Imported {
    pub created: u64,
    pub updated: u64,
}

/// Stores validated rows in one transaction: a row whose address is
/// already in the directory updates that official, the others are new.
pub async fn import(
    db: &PgPool,
    keys: &Keyring,
    actor: &str,
    actor_role: Option<auth::Role>,
    rows: &[Valid],
) -> anyhow::Result<Imported> {
    let mut tx = db.begin().await?;
    // Imports are rare and must not interleave (the blind-index look-up and
    // the insert are one decision).
    sqlx::query("LOCK TABLE officials IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let mut done = Imported::default();
    for v in rows {
        match owner_of(&mut tx, &v.email_bi(keys)).await? {
            Some(id) => {
                store(&mut tx, keys, id, v, true).await?;
                done.updated += 1;
            }
            None => {
                store(&mut tx, keys, Uuid::now_v7(), v, false).await?;
                done.created += 1;
            }
        }
    }
    auth::audit(
        &mut tx,
        actor,
        actor_role,
        "official.import",
        None,
        serde_json::json!({ "created": done.created, "updated": done.updated }),
    )
    .await?;
    tx.commit().await?;
    Ok(done)
}

/// Parses and stores a CSV file (the CLI's and the API's import): the
/// counts, or every bad row and nothing stored.
pub async fn import_csv(
    db: &PgPool,
    keys: &Keyring,
    config: &Config,
    bytes: &[u8],
    actor: &str,
) -> anyhow::Result<Result<Imported, Vec<csv_io::RowError>>> {
    match csv_io::parse(config, bytes) {
        Ok(rows) => Ok(Ok(import(db, keys, actor, None, &rows).await?)),
        Err(errors) => Ok(Err(errors)),
    }
}

async fn audit(
    tx: &mut PgConnection,
    who: &Principal,
    action: &str,
    id: Option<Uuid>,
    details: serde_json::Value,
) -> sqlx::Result<()> {
    auth::audit(
        tx,
        &who.actor(),
        Some(who.role),
        action,
        id.map(|i| i.to_string()).as_deref(),
        details,
    )
    .await
}
