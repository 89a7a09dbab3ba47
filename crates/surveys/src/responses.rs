//! The answers: `survey_responses` and `survey_answers` (free text sealed
//! under the survey's data key), the invitations used
//! (`survey_token_pending`, then `survey_token_uses`, as keyed hashes
//! only), the values that results count and the free texts that staff
//! read. It must never store anything that links a response to a person,
//! a chat, an invitation or the moment it came (see [`submit`]).

use nasvyazi_crypto::Keyring;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::answers::Answer;
use crate::tokens;

fn aad(response: Uuid, question: &str) -> Vec<u8> {
    format!("survey_answer:{response}:{question}").into_bytes()
}

/// Answers are written again in batches of at least this many (see
/// [`settle`]): the smallest set a settled answer hides in.
pub const BATCH: i64 = 5;

/// Stores one response; `false` if `token` was already used for it. The
/// caller has checked the token ([`tokens::issued`]).
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
        let mac = tokens::token_mac(keys, survey, t);
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
/// order: the response ids are random), read in the caller's transaction,
/// which the front audits (`survey.texts.read`) before it commits.
pub async fn texts(
    tx: &mut PgConnection,
    keys: &Keyring,
    survey: Uuid,
) -> anyhow::Result<Vec<(String, String)>> {
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
    let key = keys.unwrap_data_key(&wrapped)?;
    let mut out = Vec::with_capacity(rows.len());
    for (response, question, ct) in rows {
        out.push((
            question.clone(),
            key.open_string(&ct, &aad(response, &question))?,
        ));
    }
    Ok(out)
}
