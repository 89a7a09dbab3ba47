//! The survey changes and reads that staff make, each audited in the same
//! transaction as the change or the read (`nasvyazi_surveys` runs them in
//! the caller's transaction): create, open / close, read the free texts.
//! The audit line names the survey's id and the actor, never an answer.

use nasvyazi_shared::auth::{self, Principal};
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_surveys::model::SurveyInput;
use nasvyazi_surveys::responses;
use nasvyazi_surveys::store::{self, StepRefused};
use sqlx::PgPool;
use uuid::Uuid;

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

/// Creates a draft; `None` if the slug is taken. Audited.
pub async fn create(
    db: &PgPool,
    keys: &Keyring,
    who: &Principal,
    input: &SurveyInput,
) -> anyhow::Result<Option<Uuid>> {
    let mut tx = db.begin().await?;
    let Some(id) = store::create(&mut tx, keys, &who.actor(), input).await? else {
        return Ok(None);
    };
    audit(&mut tx, who, "survey.create", id).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Opens (from draft or closed) or closes (from open) a survey. Audited.
pub async fn step(
    db: &PgPool,
    who: &Principal,
    id: Uuid,
    open: bool,
) -> anyhow::Result<Result<(), StepRefused>> {
    let mut tx = db.begin().await?;
    if let Err(refused) = store::step(&mut tx, id, open).await? {
        return Ok(Err(refused));
    }
    let action = if open { "survey.open" } else { "survey.close" };
    audit(&mut tx, who, action, id).await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// The free-text answers of a survey, opened, per question (in a random
/// order), the read audited in the same transaction.
pub async fn texts(
    db: &PgPool,
    keys: &Keyring,
    who: &Principal,
    survey: Uuid,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut tx = db.begin().await?;
    let out = responses::texts(&mut tx, keys, survey).await?;
    audit(&mut tx, who, "survey.texts.read", survey).await?;
    tx.commit().await?;
    Ok(out)
}
