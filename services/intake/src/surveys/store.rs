//! The survey tables: definitions, anonymous responses, answers.

use chrono::{DateTime, Utc};
use nasvyazi_shared::auth::{self, Principal};
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::survey_tokens;
use sqlx::PgPool;
use uuid::Uuid;

use super::model::{Answer, Question, SurveyInput, Texts};

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
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, slug, title, intro, questions, state, opens_at, closes_at, created_at, updated_at";

impl Survey {
    /// Whether answers are taken now.
    pub fn accepting(&self, now: DateTime<Utc>) -> bool {
        self.state == "open"
            && self.opens_at.is_none_or(|t| t <= now)
            && self.closes_at.is_none_or(|t| t > now)
    }
}

async fn audit(
    conn: &mut sqlx::PgConnection,
    who: &Principal,
    action: &str,
    id: Uuid,
) -> sqlx::Result<()> {
    auth::audit(
        conn,
        &who.actor(),
        Some(who.role),
        action,
        Some(&id.to_string()),
        serde_json::json!({}),
    )
    .await
}

/// Creates a draft; `None` if the slug is taken.
pub async fn create(
    db: &PgPool,
    keys: &Keyring,
    who: &Principal,
    input: &SurveyInput,
) -> anyhow::Result<Option<Uuid>> {
    let id = Uuid::now_v7();
    let (_, wrapped) = keys.new_data_key();
    let mut tx = db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO surveys (id, slug, title, intro, questions, opens_at, closes_at, data_key, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (slug) DO NOTHING",
    )
    .bind(id)
    .bind(&input.slug)
    .bind(sqlx::types::Json(&input.title))
    .bind(sqlx::types::Json(&input.intro))
    .bind(sqlx::types::Json(&input.questions))
    .bind(input.opens_at)
    .bind(input.closes_at)
    .bind(&wrapped)
    .bind(who.actor())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(None);
    }
    audit(&mut tx, who, "survey.create", id).await?;
    tx.commit().await?;
    Ok(Some(id))
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

/// Opens (from draft or closed) or closes (from open) a survey. Audited.
pub async fn step(
    db: &PgPool,
    who: &Principal,
    id: Uuid,
    open: bool,
) -> anyhow::Result<Result<(), StepRefused>> {
    let mut tx = db.begin().await?;
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
    audit(
        &mut tx,
        who,
        if open { "survey.open" } else { "survey.close" },
        id,
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// The survey-scoped keyed hash of an invitation token.
pub fn token_mac(keys: &Keyring, survey: Uuid, token: &str) -> Vec<u8> {
    survey_tokens::token_mac(keys, survey, token)
}

/// Whether an invitation token was issued for this survey
/// ([`survey_tokens::verify`]); a token that was not is refused.
pub fn token_valid(keys: &Keyring, survey: Uuid, token: &str) -> bool {
    survey_tokens::verify(keys, survey, token)
}

/// Whether an invitation token was already used to answer.
pub async fn token_used(
    db: &PgPool,
    keys: &Keyring,
    survey: Uuid,
    token: &str,
) -> sqlx::Result<bool> {
    survey_tokens::used(db, keys, survey, token).await
}

fn aad(response: Uuid, question: &str) -> Vec<u8> {
    format!("survey_answer:{response}:{question}").into_bytes()
}

/// Stores one response; `false` if `token` was already used for it. The
/// caller has checked the token ([`token_valid`]).
pub async fn submit(
    db: &PgPool,
    keys: &Keyring,
    survey: Uuid,
    language: &str,
    token: Option<&str>,
    answers: &[(String, Answer)],
) -> anyhow::Result<bool> {
    // Random, not time-ordered: the id must not tell when it was given.
    let id = Uuid::new_v4();
    let mut tx = db.begin().await?;
    let wrapped: Vec<u8> = sqlx::query_scalar("SELECT data_key FROM surveys WHERE id = $1")
        .bind(survey)
        .fetch_one(&mut *tx)
        .await?;
    // A used invitation is kept apart from the response (no link between
    // the two rows): it says "used", never which answers came with it.
    if let Some(t) = token {
        let fresh = sqlx::query(
            "INSERT INTO survey_token_uses (survey_id, token_mac) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
        )
        .bind(survey)
        .bind(token_mac(keys, survey, t))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if fresh == 0 {
            return Ok(false);
        }
    }
    sqlx::query("INSERT INTO survey_responses (id, survey_id, language) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(survey)
        .bind(language)
        .execute(&mut *tx)
        .await?;
    let mut key = None;
    for (question, answer) in answers {
        match answer {
            Answer::Values(values) => {
                for v in values {
                    sqlx::query(
                        "INSERT INTO survey_answers (response_id, question_id, value) VALUES ($1, $2, $3)",
                    )
                    .bind(id)
                    .bind(question)
                    .bind(v)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            Answer::Text(text) => {
                if key.is_none() {
                    key = Some(keys.unwrap_data_key(&wrapped)?);
                }
                let sealed = key
                    .as_ref()
                    .map(|k| k.seal(text.as_bytes(), &aad(id, question)))
                    .unwrap_or_default();
                sqlx::query(
                    "INSERT INTO survey_answers (response_id, question_id, text_ct) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(question)
                .bind(sealed)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    tx.commit().await?;
    tracing::info!(survey_id = %survey, "survey answered");
    metrics::counter!("nasvyazi_survey_responses_total").increment(1);
    Ok(true)
}

/// Every stored value of a survey: (response id, question id, value),
/// plus each response's language as question `language`.
pub async fn values(db: &PgPool, survey: Uuid) -> sqlx::Result<Vec<(Uuid, String, String)>> {
    sqlx::query_as(
        "SELECT a.response_id, a.question_id, a.value FROM survey_answers a
           JOIN survey_responses r ON r.id = a.response_id
          WHERE r.survey_id = $1 AND a.value IS NOT NULL
         UNION ALL
         SELECT id, 'language', language FROM survey_responses WHERE survey_id = $1",
    )
    .bind(survey)
    .fetch_all(db)
    .await
}

/// The free-text answers of a survey, opened, per question (in a random
/// order: the response ids are random), the read audited in the same
/// transaction.
pub async fn texts(
    db: &PgPool,
    keys: &Keyring,
    who: &Principal,
    survey: Uuid,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut tx = db.begin().await?;
    let wrapped: Vec<u8> = sqlx::query_scalar("SELECT data_key FROM surveys WHERE id = $1")
        .bind(survey)
        .fetch_one(&mut *tx)
        .await?;
    let rows: Vec<(Uuid, String, Vec<u8>)> = sqlx::query_as(
        "SELECT a.response_id, a.question_id, a.text_ct FROM survey_answers a
           JOIN survey_responses r ON r.id = a.response_id
          WHERE r.survey_id = $1 AND a.text_ct IS NOT NULL
          ORDER BY a.response_id",
    )
    .bind(survey)
    .fetch_all(&mut *tx)
    .await?;
    audit(&mut tx, who, "survey.texts.read", survey).await?;
    let key = keys.unwrap_data_key(&wrapped)?;
    let mut out = Vec::with_capacity(rows.len());
    for (response, question, ct) in rows {
        out.push((
            question.clone(),
            key.open_string(&ct, &aad(response, &question))?,
        ));
    }
    tx.commit().await?;
    Ok(out)
}

/// A survey by id or slug.
pub async fn find(db: &PgPool, id_or_slug: &str) -> sqlx::Result<Option<Survey>> {
    match id_or_slug.parse::<Uuid>() {
        Ok(id) => load(db, id).await,
        Err(_) => by_slug(db, id_or_slug).await,
    }
}

/// Why a campaign's survey was not set.
pub enum LinkRefused {
    NotFound,
    State,
}

/// The survey a campaign invites to: (survey id, slug, reminder).
pub async fn campaign_survey(
    db: &PgPool,
    campaign: Uuid,
) -> sqlx::Result<Option<Option<(Uuid, String, bool)>>> {
    let row: Option<(Option<Uuid>, Option<String>, bool)> = sqlx::query_as(
        "SELECT c.survey_id, s.slug, c.survey_reminder
           FROM campaigns c LEFT JOIN surveys s ON s.id = c.survey_id WHERE c.id = $1",
    )
    .bind(campaign)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(id, slug, reminder)| id.zip(slug).map(|(id, slug)| (id, slug, reminder))))
}

/// Sets (or, with `None`, removes) the survey a draft or paused campaign
/// invites to. Audited. (The schedule does not change: no new version.)
pub async fn set_campaign_survey(
    db: &PgPool,
    who: &Principal,
    campaign: Uuid,
    survey: Option<Uuid>,
    reminder: bool,
) -> anyhow::Result<Result<(), LinkRefused>> {
    let mut tx = db.begin().await?;
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM campaigns WHERE id = $1 FOR UPDATE")
            .bind(campaign)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(status) = status else {
        return Ok(Err(LinkRefused::NotFound));
    };
    if !matches!(status.as_str(), "draft" | "paused") {
        return Ok(Err(LinkRefused::State));
    }
    sqlx::query(
        "UPDATE campaigns SET survey_id = $2, survey_reminder = $3, updated_at = now() WHERE id = $1",
    )
    .bind(campaign)
    .bind(survey)
    .bind(reminder && survey.is_some())
    .execute(&mut *tx)
    .await?;
    auth::audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "campaign.survey",
        Some(&campaign.to_string()),
        serde_json::json!({ "survey_id": survey, "reminder": reminder }),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}
