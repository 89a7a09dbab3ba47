//! Campaigns as organisers define them: validation, the life cycle
//! (draft -> approved, pause / resume / cancel), awareness days, test sends.
//! Every change bumps `version` and rings `campaigns_changed`, so the
//! scheduler recomputes; every change is audited by the caller's route.

use crate::{COLUMNS, Campaign};
use chrono::Utc;
use nasvyazi_platform::events::Event;
use nasvyazi_platform::outbox::{self, Outbox};
use nasvyazi_staff::auth::{self, Principal};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::input;

/// Inserts a draft.
pub async fn create(db: &PgPool, who: &Principal, input: &input::Valid) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO campaigns (id, name, schedule_kind, cron_expr, once_at, day_code, send_time, time_zone,
             topics, languages, regions, channels, templates, quiet_start, quiet_end, series)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(id)
    .bind(&input.name)
    .bind(&input.schedule_kind)
    .bind(&input.cron_expr)
    .bind(&input.once_at)
    .bind(&input.day_code)
    .bind(input.send_time)
    .bind(&input.time_zone)
    .bind(&input.topics)
    .bind(&input.languages)
    .bind(&input.regions)
    .bind(&input.channels)
    .bind(sqlx::types::Json(&input.templates))
    .bind(input.quiet_start)
    .bind(input.quiet_end)
    .bind(sqlx::types::Json(&input.series))
    .execute(&mut *tx)
    .await?;
    audit(&mut tx, who, "campaign.create", id).await?;
    tx.commit().await?;
    Ok(id)
}

/// Replaces a draft's or a paused campaign's definition.
pub async fn update(
    db: &PgPool,
    who: &Principal,
    id: Uuid,
    input: &input::Valid,
) -> anyhow::Result<Result<(), Conflict>> {
    let mut tx = db.begin().await?;
    let Some(status) = lock_status(&mut tx, id).await? else {
        return Ok(Err(Conflict::NotFound));
    };
    if !matches!(status.as_str(), "draft" | "paused") {
        return Ok(Err(Conflict::State(
            "only a draft or a paused campaign can be edited; pause it first",
        )));
    }
    sqlx::query(
        "UPDATE campaigns SET name = $2, schedule_kind = $3, cron_expr = $4, once_at = $5, day_code = $6,
             send_time = $7, time_zone = $8, topics = $9, languages = $10, regions = $11, channels = $12,
             templates = $13, quiet_start = $14, quiet_end = $15, series = $16, version = version + 1,
             updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&input.name)
    .bind(&input.schedule_kind)
    .bind(&input.cron_expr)
    .bind(&input.once_at)
    .bind(&input.day_code)
    .bind(input.send_time)
    .bind(&input.time_zone)
    .bind(&input.topics)
    .bind(&input.languages)
    .bind(&input.regions)
    .bind(&input.channels)
    .bind(sqlx::types::Json(&input.templates))
    .bind(input.quiet_start)
    .bind(input.quiet_end)
    .bind(sqlx::types::Json(&input.series))
    .execute(&mut *tx)
    .await?;
    changed(&mut tx).await?;
    audit(&mut tx, who, "campaign.update", id).await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    NotFound,
    State(&'static str),
}

/// A life-cycle step: approve, pause, resume, cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Approve,
    Pause,
    Resume,
    Cancel,
}

impl Step {
    fn apply(self, from: &str) -> Result<&'static str, &'static str> {
        match (self, from) {
            (Step::Approve, "draft") => Ok("approved"),
            (Step::Approve, _) => Err("only a draft can be approved"),
            (Step::Pause, "approved") => Ok("paused"),
            (Step::Pause, _) => Err("only an approved campaign can be paused"),
            (Step::Resume, "paused") => Ok("approved"),
            (Step::Resume, _) => Err("only a paused campaign can be resumed"),
            (Step::Cancel, "cancelled") => Err("the campaign is already cancelled"),
            (Step::Cancel, _) => Ok("cancelled"),
        }
    }

    fn action(self) -> &'static str {
        match self {
            Step::Approve => "campaign.approve",
            Step::Pause => "campaign.pause",
            Step::Resume => "campaign.resume",
            Step::Cancel => "campaign.cancel",
        }
    }
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
    let to = match step.apply(&status) {
        Ok(to) => to,
        Err(why) => return Ok(Err(Conflict::State(why))),
    };
    if step == Step::Approve {
        let c: Campaign = sqlx::query_as(&format!("SELECT {COLUMNS} FROM campaigns WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        if let Err(why) = input::ready_to_approve(&c) {
            return Ok(Err(Conflict::State(why)));
        }
    }
    sqlx::query(
        "UPDATE campaigns SET status = $2, version = version + 1, updated_at = now(),
             approved_at = CASE WHEN $2 = 'approved' THEN coalesce(approved_at, $3) ELSE approved_at END
         WHERE id = $1",
    )
    .bind(id)
    .bind(to)
    .bind(Utc::now())
    .execute(&mut *tx)
    .await?;
    changed(&mut tx).await?;
    audit(&mut tx, who, step.action(), id).await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Asks the notifier to queue the failed deliveries again.
pub async fn resend_failed(db: &PgPool, who: &Principal, id: Uuid) -> anyhow::Result<bool> {
    let mut tx = db.begin().await?;
    if lock_status(&mut tx, id).await?.is_none() {
        return Ok(false);
    }
    outbox::enqueue(
        &mut tx,
        Outbox::Front,
        Event::CampaignResendRequested { campaign_id: id },
    )
    .await?;
    audit(&mut tx, who, "campaign.resend_failed", id).await?;
    tx.commit().await?;
    Ok(true)
}

/// Records a test send (the address sealed) and asks the notifier for it.
pub async fn test_send(
    db: &PgPool,
    keys: &nasvyazi_crypto::Keyring,
    who: &Principal,
    id: Uuid,
    channel: &str,
    address: &str,
    language: &str,
) -> anyhow::Result<bool> {
    let mut tx = db.begin().await?;
    if lock_status(&mut tx, id).await?.is_none() {
        return Ok(false);
    }
    let test_id = Uuid::now_v7();
    let (key, wrapped) = keys.new_data_key();
    let sealed = key.seal(
        address.as_bytes(),
        format!("campaign_test:{test_id}:address").as_bytes(),
    );
    sqlx::query(
        "INSERT INTO campaign_test_sends (id, campaign_id, channel, language, data_key, address_ct)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(test_id)
    .bind(id)
    .bind(channel)
    .bind(language)
    .bind(wrapped)
    .bind(sealed)
    .execute(&mut *tx)
    .await?;
    outbox::enqueue(
        &mut tx,
        Outbox::Front,
        Event::CampaignTestRequested {
            test_send_id: test_id,
        },
    )
    .await?;
    audit(&mut tx, who, "campaign.test_send", id).await?;
    tx.commit().await?;
    Ok(true)
}

async fn lock_status(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT status FROM campaigns WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
}

async fn changed(tx: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify('campaigns_changed', '')")
        .execute(&mut *tx)
        .await?;
    Ok(())
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
