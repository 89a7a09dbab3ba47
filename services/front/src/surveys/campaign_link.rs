//! Which survey a campaign invites to (`campaigns.survey_id`,
//! `campaigns.survey_reminder`): read and set for the admin API and the
//! console. These are columns of the campaigns table, so the SQL stays
//! with the campaigns' writers (here, until the campaigns domain has its
//! own crate); the survey itself is found through `nasvyazi_surveys`.
//! The change is audited; it must never record who was invited.

use nasvyazi_shared::auth::{self, Principal};
use sqlx::PgPool;
use uuid::Uuid;

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
