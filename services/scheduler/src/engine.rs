//! The scheduling engine: keeps `schedule_state` in step with approved
//! campaigns and turns due instants into occurrences.
//!
//! Exactly one trigger per occurrence: each due state row is claimed with
//! `FOR UPDATE SKIP LOCKED`, the occurrence row is unique per (campaign,
//! instant) and its `campaign.triggered` event is written only when the row
//! was inserted, in the same transaction, with the occurrence id as the
//! event id (the `Nats-Msg-Id`). Any number of schedulers may run.

use std::time::Duration;

use chrono::{DateTime, Utc};
use nasvyazi_campaigns::schedule::AwarenessDay;
use nasvyazi_campaigns::{self as campaigns, COLUMNS, Campaign};
use nasvyazi_shared::events::{Envelope, Event, VERSION};
use nasvyazi_shared::outbox::Outbox;
use sqlx::PgPool;
use uuid::Uuid;

/// The channel front notifies when a campaign changes.
pub const CHANGED: &str = "campaigns_changed";

/// Due rows handled per transaction.
const BATCH: i64 = 2000;

pub struct Engine {
    pub db: PgPool,
    /// A missed occurrence still fires if it is at most this late.
    pub grace: Duration,
}

/// What one `fire_due` pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fired {
    pub triggered: u64,
    pub skipped: u64,
}

impl Engine {
    /// Brings `schedule_state` in line with the campaigns: drops campaigns
    /// no longer approved, computes the next instant of new or edited ones
    /// (from now: instants before approval or an edit are not fired).
    pub async fn sync(&self, now: DateTime<Utc>) -> anyhow::Result<usize> {
        sqlx::query(
            "DELETE FROM schedule_state s WHERE NOT EXISTS (
                 SELECT 1 FROM campaigns c WHERE c.id = s.campaign_id AND c.status = 'approved')",
        )
        .execute(&self.db)
        .await?;
        let stale: Vec<Campaign> = sqlx::query_as(&format!(
            "SELECT {} FROM campaigns c LEFT JOIN schedule_state s ON s.campaign_id = c.id
             WHERE c.status = 'approved' AND (s.campaign_id IS NULL OR s.version <> c.version)",
            COLUMNS
                .split(", ")
                .map(|c| format!("c.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .fetch_all(&self.db)
        .await?;
        if stale.is_empty() {
            return Ok(0);
        }
        let days = campaigns::calendar(&self.db).await?;
        let (mut ids, mut versions, mut nexts) = (Vec::new(), Vec::new(), Vec::new());
        for c in &stale {
            ids.push(c.id);
            versions.push(c.version);
            nexts.push(next_instant(c, &days, now));
        }
        sqlx::query(
            "INSERT INTO schedule_state (campaign_id, version, next_at)
             SELECT * FROM UNNEST($1::uuid[], $2::int[], $3::timestamptz[])
             ON CONFLICT (campaign_id) DO UPDATE
                SET version = EXCLUDED.version, next_at = EXCLUDED.next_at, computed_at = now()",
        )
        .bind(&ids)
        .bind(&versions)
        .bind(&nexts)
        .execute(&self.db)
        .await?;
        Ok(stale.len())
    }

    /// Fires (or skips, if later than the grace window) every instant due
    /// at `now`, batch by batch.
    pub async fn fire_due(&self, now: DateTime<Utc>) -> anyhow::Result<Fired> {
        let mut total = Fired::default();
        let mut days: Option<Vec<AwarenessDay>> = None;
        loop {
            let mut tx = self.db.begin().await?;
            let due: Vec<(DateTime<Utc>, Campaign)> = sqlx::query_as::<_, DueRow>(&format!(
                "SELECT s.next_at AS due_at, {} FROM schedule_state s
                 JOIN campaigns c ON c.id = s.campaign_id AND c.version = s.version AND c.status = 'approved'
                 WHERE s.next_at <= $1
                 ORDER BY s.next_at LIMIT $2
                 FOR UPDATE OF s SKIP LOCKED",
                COLUMNS
                    .split(", ")
                    .map(|c| format!("c.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .bind(now)
            .bind(BATCH)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| (r.due_at, r.campaign))
            .collect();
            if due.is_empty() {
                tx.commit().await?;
                return Ok(total);
            }
            if days.is_none() {
                days = Some(campaigns::calendar(&self.db).await?);
            }
            let days = days.as_deref().unwrap_or_default();
            let n = due.len();
            let grace =
                chrono::Duration::from_std(self.grace).unwrap_or(chrono::Duration::hours(1));
            let (mut occ_ids, mut campaign_ids, mut instants, mut statuses, mut reasons) = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            let mut next_ats = Vec::with_capacity(n);
            for (due_at, c) in &due {
                let late = now - *due_at;
                occ_ids.push(Uuid::now_v7());
                campaign_ids.push(c.id);
                instants.push(*due_at);
                if late <= grace {
                    statuses.push("triggered".to_string());
                    reasons.push(None::<String>);
                } else {
                    statuses.push("skipped".to_string());
                    reasons.push(Some(format!(
                        "missed by {} s, more than the grace window of {} s",
                        late.num_seconds(),
                        grace.num_seconds()
                    )));
                }
                // The following instant, after this one.
                next_ats.push(next_instant(c, days, *due_at));
            }
            let inserted: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
                "INSERT INTO occurrences (id, campaign_id, scheduled_at, status, reason, triggered_at)
                 SELECT u.id, u.campaign_id, u.scheduled_at, u.status, u.reason, clock_timestamp()
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[])
                      AS u(id, campaign_id, scheduled_at, status, reason)
                 ON CONFLICT (campaign_id, scheduled_at) DO NOTHING
                 RETURNING id, campaign_id, status",
            )
            .bind(&occ_ids)
            .bind(&campaign_ids)
            .bind(&instants)
            .bind(&statuses)
            .bind(&reasons)
            .fetch_all(&mut *tx)
            .await?;
            let (mut ev_ids, mut ev_payloads) = (Vec::new(), Vec::new());
            for (occurrence_id, campaign_id, status) in &inserted {
                if status == "triggered" {
                    let envelope = Envelope {
                        v: VERSION,
                        id: *occurrence_id,
                        occurred_at: Utc::now(),
                        event: Event::CampaignTriggered {
                            campaign_id: *campaign_id,
                            occurrence_id: *occurrence_id,
                        },
                    };
                    ev_ids.push(*occurrence_id);
                    ev_payloads.push(serde_json::to_string(&envelope)?);
                    total.triggered += 1;
                } else {
                    total.skipped += 1;
                    tracing::warn!(campaign_id = %campaign_id, occurrence_id = %occurrence_id, "occurrence skipped: outside the grace window");
                }
            }
            if !ev_ids.is_empty() {
                sqlx::query(&format!(
                    "INSERT INTO {} (id, event_type, payload)
                     SELECT u.id, 'campaign.triggered', u.payload::jsonb
                     FROM UNNEST($1::uuid[], $2::text[]) AS u(id, payload)",
                    Outbox::Scheduler.table()
                ))
                .bind(&ev_ids)
                .bind(&ev_payloads)
                .execute(&mut *tx)
                .await?;
                sqlx::query("SELECT pg_notify($1, '')")
                    .bind(Outbox::Scheduler.channel())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "UPDATE schedule_state s SET next_at = u.next_at, computed_at = now()
                 FROM UNNEST($1::uuid[], $2::timestamptz[]) AS u(campaign_id, next_at)
                 WHERE s.campaign_id = u.campaign_id",
            )
            .bind(&campaign_ids)
            .bind(&next_ats)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            for (due_at, _) in &due {
                let late = (now - *due_at).num_milliseconds().max(0) as f64 / 1000.0;
                metrics::histogram!("nasvyazi_trigger_lateness_seconds").record(late);
            }
            metrics::counter!("nasvyazi_occurrences_total", "status" => "triggered")
                .increment(total.triggered);
            if (n as i64) < BATCH {
                return Ok(total);
            }
        }
    }

    /// The earliest instant any live campaign is due, if any.
    pub async fn next_due(&self) -> sqlx::Result<Option<DateTime<Utc>>> {
        sqlx::query_scalar("SELECT min(next_at) FROM schedule_state")
            .fetch_one(&self.db)
            .await
    }
}

#[derive(sqlx::FromRow)]
struct DueRow {
    due_at: DateTime<Utc>,
    #[sqlx(flatten)]
    campaign: Campaign,
}

/// The campaign's next instant after `after`; `None` when it has no more
/// (or its schedule cannot be read, which front's validation prevents).
fn next_instant(
    c: &Campaign,
    days: &[AwarenessDay],
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let schedule = c.schedule(days).ok()?;
    let tz = c.tz().ok()?;
    schedule.next_after(tz, after)
}
