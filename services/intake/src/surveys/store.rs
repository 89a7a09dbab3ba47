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
    .bind(who.actor())
    .bind(input.invited_only)
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

fn aad(response: Uuid, question: &str) -> Vec<u8> {
    format!("survey_answer:{response}:{question}").into_bytes()
}

/// Answers are written again in batches of at least this many (see
/// [`settle`]): the smallest set a settled answer hides in.
pub const BATCH: i64 = 5;

/// Stores one response; `false` if `token` was already used for it. The
/// caller has checked the token ([`token_valid`]).
///
/// Unlinkable, even against a copy of the database and every key: the
/// invitation's use is not written beside the answer (a shared
/// transaction id, `xmin`, would join them). It joins the survey's pending
/// invitations, one sorted array per survey (which ones, not in what
/// order); the answer is stored "unsettled". When [`BATCH`] answers are
/// unsettled, [`settle`] writes the pending invitations to
/// `survey_token_uses` and the answers again, in an order that carries
/// nothing, in one transaction. A token can never be used twice: the pending array and
/// the settled uses are both checked under the array's row lock.
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
    // Every answer of a survey passes here one at a time (the batch's row
    // lock), so that a batch is settled exactly when it is full.
    sqlx::query("INSERT INTO survey_token_pending (survey_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(survey)
        .execute(&mut *tx)
        .await?;
    let mut pending: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT macs FROM survey_token_pending WHERE survey_id = $1 FOR UPDATE")
            .bind(survey)
            .fetch_one(&mut *tx)
            .await?;
    if let Some(t) = token {
        let mac = token_mac(keys, survey, t);
        let settled: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM survey_token_uses WHERE survey_id = $1 AND token_mac = $2)",
        )
        .bind(survey)
        .bind(&mac)
        .fetch_one(&mut *tx)
        .await?;
        if settled || pending.contains(&mac) {
            return Ok(false);
        }
        pending.push(mac);
        pending.sort();
        sqlx::query("UPDATE survey_token_pending SET macs = $2 WHERE survey_id = $1")
            .bind(survey)
            .bind(&pending)
            .execute(&mut *tx)
            .await?;
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
    let unsettled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM survey_responses WHERE survey_id = $1 AND NOT settled",
    )
    .bind(survey)
    .fetch_one(&mut *tx)
    .await?;
    if unsettled >= BATCH {
        settle(&mut tx, survey).await?;
    }
    tx.commit().await?;
    tracing::info!(survey_id = %survey, "survey answered");
    metrics::counter!("nasvyazi_survey_responses_total").increment(1);
    Ok(true)
}

/// Settles a survey's batch in the caller's transaction (which holds the
/// pending array's row lock): the pending invitations go to
/// `survey_token_uses`, and every unsettled answer is deleted and written
/// again, in the order of their random ids and with today's date.
/// Afterwards every row of the batch carries this transaction's id, and
/// nothing tells which answer came with which invitation, or in what order
/// they came.
async fn settle(tx: &mut sqlx::PgConnection, survey: Uuid) -> sqlx::Result<()> {
    let mut responses: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT id, language FROM survey_responses WHERE survey_id = $1 AND NOT settled",
    )
    .bind(survey)
    .fetch_all(&mut *tx)
    .await?;
    let ids: Vec<Uuid> = responses.iter().map(|r| r.0).collect();
    type AnswerRow = (Uuid, String, Option<String>, Option<Vec<u8>>);
    let mut answers: Vec<AnswerRow> = sqlx::query_as(
        "SELECT response_id, question_id, value, text_ct FROM survey_answers
          WHERE response_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut macs: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT macs FROM survey_token_pending WHERE survey_id = $1")
            .bind(survey)
            .fetch_one(&mut *tx)
            .await?;
    // Written again in an order that carries nothing: the responses by
    // their random ids, the invitations by their keyed hashes, never in
    // the order they came.
    responses.sort();
    answers.sort();
    macs.sort();
    // The answers go with their responses (ON DELETE CASCADE).
    sqlx::query("DELETE FROM survey_responses WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    let (ids, languages): (Vec<Uuid>, Vec<String>) = responses.into_iter().unzip();
    sqlx::query(
        "INSERT INTO survey_responses (id, survey_id, language, submitted_at, settled)
         SELECT r.id, $1, r.language, current_date, true
           FROM unnest($2::uuid[], $3::text[]) WITH ORDINALITY AS r (id, language, n)
          ORDER BY r.n",
    )
    .bind(survey)
    .bind(&ids)
    .bind(&languages)
    .execute(&mut *tx)
    .await?;
    let mut response_ids = Vec::with_capacity(answers.len());
    let mut questions = Vec::with_capacity(answers.len());
    let mut values = Vec::with_capacity(answers.len());
    let mut texts = Vec::with_capacity(answers.len());
    for (r, q, v, t) in answers {
        response_ids.push(r);
        questions.push(q);
        values.push(v);
        // An empty array stands for "no text" (unnest cannot carry a NULL
        // bytea inside a bytea[] from here).
        texts.push(t.unwrap_or_default());
    }
    sqlx::query(
        "INSERT INTO survey_answers (response_id, question_id, value, text_ct)
         SELECT a.r, a.q, a.v, nullif(a.t, ''::bytea)
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[]) WITH ORDINALITY AS a (r, q, v, t, n)
          ORDER BY a.n",
    )
    .bind(&response_ids)
    .bind(&questions)
    .bind(&values)
    .bind(&texts)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO survey_token_uses (survey_id, token_mac)
         SELECT $1, m.mac FROM unnest($2::bytea[]) WITH ORDINALITY AS m (mac, n)
          ORDER BY m.n ON CONFLICT DO NOTHING",
    )
    .bind(survey)
    .bind(&macs)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE survey_token_pending SET macs = '{}' WHERE survey_id = $1")
        .bind(survey)
        .execute(&mut *tx)
        .await?;
    tracing::info!(survey_id = %survey, "survey answers settled in a batch");
    Ok(())
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
