//! The `surveys` table: definitions, their state (draft, open, closed)
//! and each survey's wrapped data key. Changes run in the caller's
//! transaction, so that the front writes its audit line in the same one.
//! It must never read an answer (that is [`crate::responses`]).

use chrono::{DateTime, Utc};
use nasvyazi_crypto::Keyring;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::model::{Question, SurveyInput, Texts};

/// A survey as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Survey {
    pub id: Uuid,
    pub slug: String,
    pub title: sqlx::types::Json<Texts>,
    pub intro: sqlx::types::Json<Texts>,
    pub questions: sqlx::types::Json<Vec<Question>>,
    pub state: String,
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    /// Only answers with an invitation are taken (and counted).
    pub invited_only: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, slug, title, intro, questions, state, opens_at, closes_at, invited_only, created_at, updated_at";

impl Survey {
    /// Whether answers are taken now.
    pub fn accepting(&self, now: DateTime<Utc>) -> bool {
        self.state == "open"
            && self.opens_at.is_none_or(|t| t <= now)
            && self.closes_at.is_none_or(|t| t > now)
    }
}

/// Creates a draft in the caller's transaction; `None` if the slug is
/// taken. `created_by` is the staff member's actor id (never a name).
pub async fn create(
    tx: &mut PgConnection,
    keys: &Keyring,
    created_by: &str,
    input: &SurveyInput,
) -> sqlx::Result<Option<Uuid>> {
    let id = Uuid::now_v7();
    let (_, wrapped) = keys.new_data_key();
    let inserted = sqlx::query(
        "INSERT INTO surveys (id, slug, title, intro, questions, opens_at, closes_at, data_key, created_by, invited_only)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (slug) DO NOTHING",
    )
    .bind(id)
    .bind(&input.slug)
    .bind(sqlx::types::Json(&input.title))
    .bind(sqlx::types::Json(&input.intro))
    .bind(sqlx::types::Json(&input.questions))
    .bind(input.opens_at)
    .bind(input.closes_at)
    .bind(&wrapped)
    .bind(created_by)
    .bind(input.invited_only)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok((inserted > 0).then_some(id))
}

pub async fn load(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Survey>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM surveys WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn by_slug(db: &PgPool, slug: &str) -> sqlx::Result<Option<Survey>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM surveys WHERE slug = $1"))
        .bind(slug)
        .fetch_optional(db)
        .await
}

pub async fn list(db: &PgPool) -> sqlx::Result<Vec<Survey>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM surveys ORDER BY created_at DESC LIMIT 500"
    ))
    .fetch_all(db)
    .await
}

pub async fn response_count(db: &PgPool, id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM survey_responses WHERE survey_id = $1")
        .bind(id)
        .fetch_one(db)
        .await
}

/// Why a state change was refused.
pub enum StepRefused {
    NotFound,
    State,
}

/// Opens (from draft or closed) or closes (from open) a survey, in the
/// caller's transaction (which the front audits).
pub async fn step(
    tx: &mut PgConnection,
    id: Uuid,
    open: bool,
) -> sqlx::Result<Result<(), StepRefused>> {
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM surveys WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(state) = state else {
        return Ok(Err(StepRefused::NotFound));
    };
    let (allowed, to) = if open {
        (state == "draft" || state == "closed", "open")
    } else {
        (state == "open", "closed")
    };
    if !allowed {
        return Ok(Err(StepRefused::State));
    }
    sqlx::query("UPDATE surveys SET state = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(to)
        .execute(&mut *tx)
        .await?;
    Ok(Ok(()))
}

/// A survey by id or slug.
pub async fn find(db: &PgPool, id_or_slug: &str) -> sqlx::Result<Option<Survey>> {
    match id_or_slug.parse::<Uuid>() {
        Ok(id) => load(db, id).await,
        Err(_) => by_slug(db, id_or_slug).await,
    }
}
