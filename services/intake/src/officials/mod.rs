//! The officials directory (intake owns the table): validation, sealing at
//! rest (a data key per row, every field bound to row and column), the
//! email's blind index against duplicates, and the CSV import that stores
//! all rows or none.
//!
//! It must never log or put in an error a name, a position or an address:
//! errors name the row, the column and the reason.

pub mod csv_io;

use nasvyazi_shared::Config;
use nasvyazi_shared::auth::{self, Principal};
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_shared::letters::records::{OFFICIAL_COLUMNS, OfficialRow};
use nasvyazi_shared::letters::{DOMAIN_BI, OfficeHours, Official, official_aad};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

/// An official as given (JSON or one CSV row).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfficialInput {
    /// One line, 1 to 300 characters.
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// One line, 1 to 300 characters.
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub position: String,
    /// One line, 1 to 300 characters.
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub organisation: String,
    #[schema(
        max_length = 254,
        pattern = "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,30}(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}){0,2}@([A-Za-z0-9]{1,20}\\.){1,3}[A-Za-z]{2,10}$"
    )]
    pub email: String,
    /// ru, kk or en (blank: ru): the language letters to them are written in.
    #[schema(value_type = Option<OfficialLanguage>)]
    pub language: Option<String>,
    /// IANA time zone (blank: `campaigns.default_time_zone`).
    #[schema(value_type = Option<TimeZoneName>)]
    pub time_zone: Option<String>,
    /// Days (`Mon`..`Sun`, ranges and commas) and a local window, e.g.
    /// `Mon-Fri 09:00-18:00` (default `letters.office_hours`); any window
    /// whose end is after its start is accepted (`24:00` ends at midnight).
    #[schema(
        pattern = r"^([\t\n\r ]*|(Mon(-(Mon|Tue|Wed|Thu|Fri|Sat|Sun))?|Tue(-(Tue|Wed|Thu|Fri|Sat|Sun))?|Wed(-(Wed|Thu|Fri|Sat|Sun))?|Thu(-(Thu|Fri|Sat|Sun))?|Fri(-(Fri|Sat|Sun))?|Sat(-(Sat|Sun))?|Sun(-Sun)?)(,(Mon(-(Mon|Tue|Wed|Thu|Fri|Sat|Sun))?|Tue(-(Tue|Wed|Thu|Fri|Sat|Sun))?|Wed(-(Wed|Thu|Fri|Sat|Sun))?|Thu(-(Thu|Fri|Sat|Sun))?|Fri(-(Fri|Sat|Sun))?|Sat(-(Sat|Sun))?|Sun(-Sun)?))* (0[0-9]|1[01]):[0-5][0-9]-((1[2-9]|2[0-3]):[0-5][0-9]|24:00))$"
    )]
    pub office_hours: Option<String>,
    /// Letters per local day at most, 1 to 100000 (default
    /// `letters.official_daily_cap`).
    #[schema(minimum = 1, maximum = 100000)]
    pub daily_cap: Option<u32>,
}

/// Documentation only: the language of an official's letters (`kz` is
/// read as `kk`; blank is `ru`).
pub struct OfficialLanguage;

impl PartialSchema for OfficialLanguage {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "The language letters are written in: ru, kk or en (`kz` is read as `kk`; blank is `ru`).",
            ))
            .enum_values(Some(["ru", "kk", "kz", "en", ""]))
            .into()
    }
}

impl ToSchema for OfficialLanguage {}

/// Documentation only: an IANA time zone name (the names the server knows),
/// or blank for the default.
pub struct TimeZoneName;

impl PartialSchema for TimeZoneName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An IANA time zone, e.g. `Asia/Almaty`; blank for the default.",
            ))
            .enum_values(Some(
                chrono_tz::TZ_VARIANTS
                    .iter()
                    .map(|tz| tz.name())
                    .chain([""]),
            ))
            .into()
    }
}

impl ToSchema for TimeZoneName {}

/// A column that is wrong, and why (no value quoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub column: &'static str,
    pub reason: &'static str,
}

fn err(column: &'static str, reason: &'static str) -> FieldError {
    FieldError { column, reason }
}

/// A validated official, ready to seal.
pub struct Valid {
    pub name: String,
    pub position: String,
    pub organisation: String,
    pub email: EmailAddress,
    pub language: Lang,
    pub time_zone: String,
    pub hours: OfficeHours,
    pub daily_cap: Option<i32>,
}

fn text(column: &'static str, v: &str, max: usize) -> Result<String, FieldError> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(|c| c.is_control()) {
        return Err(err(column, "required, one line, at most 300 characters"));
    }
    Ok(v.to_string())
}

fn blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl OfficialInput {
    pub fn validate(&self, config: &Config) -> Result<Valid, FieldError> {
        let language = match blank(&self.language) {
            None => Lang::Ru,
            Some(l) => Lang::parse(l).ok_or(err("language", "ru, kk or en"))?,
        };
        let time_zone = blank(&self.time_zone)
            .unwrap_or(&config.campaigns.default_time_zone)
            .to_string();
        nasvyazi_shared::schedule::parse_tz(&time_zone)
            .map_err(|_| err("time_zone", "an IANA time zone such as Asia/Almaty"))?;
        let hours =
            OfficeHours::parse(blank(&self.office_hours).unwrap_or(&config.letters.office_hours))
                .map_err(|_| err("office_hours", "days and hours like Mon-Fri 09:00-18:00"))?;
        let daily_cap = match self.daily_cap {
            Some(0) => return Err(err("daily_cap", "a whole number of at least 1, or empty")),
            Some(n) if n > 100_000 => return Err(err("daily_cap", "at most 100000")),
            Some(n) => Some(n as i32),
            None => None,
        };
        Ok(Valid {
            name: text("name", &self.name, 300)?,
            position: text("position", &self.position, 300)?,
            organisation: text("organisation", &self.organisation, 300)?,
            email: EmailAddress::parse(&self.email)
                .map_err(|_| err("email", "not a valid email address"))?,
            language,
            time_zone,
            hours,
            daily_cap,
        })
    }
}

impl Valid {
    /// The email's blind index (duplicates are found with it).
    pub fn email_bi(&self, keys: &Keyring) -> Vec<u8> {
        keys.blind_index("email", &self.email.normalised())
    }
}

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
    actor_role: Option<nasvyazi_shared::auth::Role>,
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
