//! Letter campaigns (this crate owns `letters` and `letter_targets`): the
//! organisers' decisions (draft -> approved, close, cancel), and the
//! derived status (collecting, sending, done) read from signatures and the
//! ledger, so the table has one writer. Every change is audited in its
//! transaction. What an organiser gives, and its validation, is [`input`].
//!
//! It must never send anything or write the ledger: approving, closing and
//! cancelling only wake the notifier's letter sender.

pub mod input;

use chrono::{DateTime, Utc};
use nasvyazi_platform::i18n::Lang;
use nasvyazi_staff::auth::{self, Principal};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub use input::{Invalid, LetterInput, LetterMode, LetterTemplateInput, LetterTemplatesInput};

use crate::LetterTemplates;
use crate::render::{Field, pick};
use input::invalid;

/// 422 unless every target is in the directory.
pub async fn check_targets(db: &PgPool, targets: &[Uuid]) -> anyhow::Result<Result<(), Invalid>> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM officials WHERE id = ANY($1)")
        .bind(targets)
        .fetch_one(db)
        .await?;
    Ok(if n as usize == targets.len() {
        Ok(())
    } else {
        Err(invalid("targets", "every target must be an official's id"))
    })
}

/// A letter row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Letter {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub mode: String,
    pub status: String,
    pub templates: sqlx::types::Json<LetterTemplates>,
    pub reply_to: Option<String>,
    pub send_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    pub official_interval_minutes: Option<i32>,
    pub domain_per_minute: Option<i32>,
    pub version: i32,
}

pub const COLUMNS: &str = "id, slug, name, mode, status, templates, reply_to, send_at, closes_at, \
     official_interval_minutes, domain_per_minute, version";

impl Letter {
    pub async fn load(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Letter>> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM letters WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await
    }

    pub async fn by_slug(db: &PgPool, slug: &str) -> sqlx::Result<Option<Letter>> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM letters WHERE slug = $1"))
            .bind(slug)
            .fetch_optional(db)
            .await
    }

    /// The newest letters first, at most `limit` (the API's list).
    pub async fn newest_first(db: &PgPool, limit: i64) -> sqlx::Result<Vec<Letter>> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM letters ORDER BY created_at DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(db)
        .await
    }

    /// The newest letters first with the cancelled ones last, at most
    /// `limit` (the console's list).
    pub async fn cancelled_last(db: &PgPool, limit: i64) -> sqlx::Result<Vec<Letter>> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM letters ORDER BY (status = 'cancelled'), created_at DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(db)
        .await
    }

    /// Whether signatures (and confirmations) are taken at `now`.
    pub fn collecting(&self, now: DateTime<Utc>) -> bool {
        self.status == "approved" && self.closes_at.is_none_or(|c| now < c)
    }

    /// The targets' official ids.
    pub async fn targets(&self, db: &PgPool) -> sqlx::Result<Vec<Uuid>> {
        sqlx::query_scalar(
            "SELECT official_id FROM letter_targets WHERE letter_id = $1 ORDER BY id",
        )
        .bind(self.id)
        .fetch_all(db)
        .await
    }

    /// draft, collecting, sending, done or cancelled (see ARCHITECTURE.md).
    pub async fn derived_status(&self, db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<String> {
        if self.status != "approved" {
            return Ok(self.status.clone());
        }
        let (in_flight, queued_any): (bool, bool) = sqlx::query_as(
            "SELECT coalesce(bool_or(d.status IN ('queued', 'retry', 'sending')), false), count(d.id) > 0
             FROM letter_targets t JOIN deliveries d ON d.kind = 'letter' AND d.ref_id = t.id
             WHERE t.letter_id = $1",
        )
        .bind(self.id)
        .fetch_one(db)
        .await?;
        let due_collective =
            self.mode == "collective" && self.send_at.is_some_and(|at| at <= now) && !queued_any;
        Ok(if in_flight || due_collective {
            "sending"
        } else if self.collecting(now) {
            "collecting"
        } else {
            "done"
        }
        .into())
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    NotFound,
    State(&'static str),
    Slug,
}

async fn slug_taken(conn: &mut PgConnection, slug: &str, not: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM letters WHERE slug = $1 AND id <> $2)")
        .bind(slug)
        .bind(not)
        .fetch_one(conn)
        .await
}

async fn write(
    conn: &mut PgConnection,
    id: Uuid,
    v: &LetterInput,
    insert: bool,
) -> sqlx::Result<()> {
    let sql = if insert {
        "INSERT INTO letters (id, slug, name, mode, templates, reply_to, send_at, closes_at,
             official_interval_minutes, domain_per_minute)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    } else {
        "UPDATE letters SET slug = $2, name = $3, mode = $4, templates = $5, reply_to = $6, send_at = $7,
             closes_at = $8, official_interval_minutes = $9, domain_per_minute = $10,
             version = version + 1, updated_at = now()
         WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(id)
        .bind(&v.slug)
        .bind(&v.name)
        .bind(&v.mode)
        .bind(sqlx::types::Json(&v.templates))
        .bind(&v.reply_to)
        .bind(v.send_at)
        .bind(v.closes_at)
        .bind(v.official_interval_minutes.map(|n| n as i32))
        .bind(v.domain_per_minute.map(|n| n as i32))
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM letter_targets WHERE letter_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO letter_targets (id, letter_id, official_id)
         SELECT gen_random_uuid(), $1, o FROM unnest($2::uuid[]) AS o",
    )
    .bind(id)
    .bind(&v.targets)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts a draft.
pub async fn create(
    db: &PgPool,
    who: &Principal,
    v: &LetterInput,
) -> anyhow::Result<Result<Uuid, Conflict>> {
    let id = Uuid::now_v7();
    let mut tx = db.begin().await?;
    if slug_taken(&mut tx, &v.slug, id).await? {
        return Ok(Err(Conflict::Slug));
    }
    write(&mut tx, id, v, true).await?;
    audit(&mut tx, who, "letter.create", id).await?;
    tx.commit().await?;
    Ok(Ok(id))
}

/// Replaces a draft's definition.
pub async fn update(
    db: &PgPool,
    who: &Principal,
    id: Uuid,
    v: &LetterInput,
) -> anyhow::Result<Result<(), Conflict>> {
    let mut tx = db.begin().await?;
    match lock_status(&mut tx, id).await? {
        None => return Ok(Err(Conflict::NotFound)),
        Some(s) if s != "draft" => return Ok(Err(Conflict::State("only a draft can be edited"))),
        _ => {}
    }
    if slug_taken(&mut tx, &v.slug, id).await? {
        return Ok(Err(Conflict::Slug));
    }
    write(&mut tx, id, v, false).await?;
    audit(&mut tx, who, "letter.update", id).await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// An organiser's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// draft -> approved: signing opens.
    Approve,
    /// Signing ends now (each mode: the letters already signed still go).
    Close,
    /// Nothing more is signed or sent.
    Cancel,
}

pub async fn step(
    db: &PgPool,
    who: &Principal,
    id: Uuid,
    step: Step,
) -> anyhow::Result<Result<(), Conflict>> {
    let mut tx = db.begin().await?;
    let Some(status) = lock_status(&mut tx, id).await? else {
        return Ok(Err(Conflict::NotFound));
    };
    let now = Utc::now();
    let (sql, action) = match (step, status.as_str()) {
        (Step::Approve, "draft") => {
            let letter: Letter =
                sqlx::query_as(&format!("SELECT {COLUMNS} FROM letters WHERE id = $1"))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            let targets: i64 =
                sqlx::query_scalar("SELECT count(*) FROM letter_targets WHERE letter_id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            if targets == 0 {
                return Ok(Err(Conflict::State("a letter needs at least one target")));
            }
            if pick(&letter.templates, Lang::Ru, Field::Subject).is_none()
                || pick(&letter.templates, Lang::Ru, Field::Body).is_none()
            {
                return Ok(Err(Conflict::State(
                    "a letter needs a subject and a body in at least one language",
                )));
            }
            if letter.mode == "collective" && letter.send_at.is_some_and(|t| t <= now) {
                return Ok(Err(Conflict::State("send_at has passed; edit it first")));
            }
            (
                "UPDATE letters SET status = 'approved', approved_at = $2, version = version + 1, updated_at = now() WHERE id = $1",
                "letter.approve",
            )
        }
        (Step::Approve, _) => return Ok(Err(Conflict::State("only a draft can be approved"))),
        (Step::Close, "approved") => (
            "UPDATE letters SET closes_at = least(coalesce(closes_at, $2), $2), version = version + 1, updated_at = now() WHERE id = $1",
            "letter.close",
        ),
        (Step::Close, _) => {
            return Ok(Err(Conflict::State(
                "only an approved letter can be closed",
            )));
        }
        (Step::Cancel, "cancelled") => {
            return Ok(Err(Conflict::State("the letter is already cancelled")));
        }
        (Step::Cancel, _) => (
            "UPDATE letters SET status = 'cancelled', version = version + 1, updated_at = $2 WHERE id = $1",
            "letter.cancel",
        ),
    };
    sqlx::query(sql)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    crate::wake_sender(&mut tx).await?;
    audit(&mut tx, who, action, id).await?;
    tx.commit().await?;
    Ok(Ok(()))
}

async fn lock_status(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT status FROM letters WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
}

async fn audit(tx: &mut PgConnection, who: &Principal, action: &str, id: Uuid) -> sqlx::Result<()> {
    auth::audit(
        tx,
        &who.actor(),
        Some(who.role),
        action,
        Some(&id.to_string()),
        serde_json::json!({}),
    )
    .await
}
