//! Audience expansion: a triggered occurrence becomes deliveries with one
//! set-based `INSERT ... SELECT ... ON CONFLICT DO NOTHING` (one row per
//! occurrence x recipient x channel). Never a loop over recipients in
//! Rust, never the audience in memory.

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use nasvyazi_campaigns::Campaign;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::deliveries;

/// The audience statement. Parameters: $1 occurrence id, $2 first attempt
/// time (after quiet hours), $3 contact channels (email, telegram), $4
/// topics (empty: everyone), $5 languages (empty: all), $6 regions (empty:
/// all). A contact with no topics chose general updates only.
pub static AUDIENCE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel, next_attempt_at)
SELECT gen_random_uuid(), 'campaign', $1, c.id, c.channel, $2
FROM contacts c
WHERE {}
ON CONFLICT DO NOTHING",
        nasvyazi_campaigns::audience_condition(3)
    )
});

/// When the first attempt may be made: now, or the end of the quiet hours
/// if now falls inside them (in the campaign's time zone: Kazakhstan has
/// one zone, and contacts carry no zone of their own).
pub fn first_attempt(
    now: DateTime<Utc>,
    tz: Tz,
    quiet_start: NaiveTime,
    quiet_end: NaiveTime,
) -> DateTime<Utc> {
    if quiet_start == quiet_end {
        return now;
    }
    let local = now.with_timezone(&tz);
    let t = local.time();
    let inside = if quiet_start < quiet_end {
        t >= quiet_start && t < quiet_end
    } else {
        t >= quiet_start || t < quiet_end
    };
    if !inside {
        return now;
    }
    let mut end_date = local.date_naive();
    if quiet_start > quiet_end && t >= quiet_start {
        end_date = end_date.succ_opt().unwrap_or(end_date);
    }
    nasvyazi_campaigns::schedule::local_to_instant(tz, end_date.and_time(quiet_end))
}

/// Expands one occurrence (idempotent). Returns the deliveries queued.
pub async fn expand(
    conn: &mut PgConnection,
    campaign: &Campaign,
    occurrence_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let done: Option<i64> =
        sqlx::query_scalar("SELECT deliveries FROM fanouts WHERE occurrence_id = $1")
            .bind(occurrence_id)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(n) = done {
        return Ok(n as u64);
    }
    // A series' occurrence: its post's channels (and templates).
    let effective =
        nasvyazi_campaigns::series::for_occurrence(&mut *conn, campaign, occurrence_id).await?;
    let campaign: &Campaign = &effective;
    let tz: Tz = campaign.tz().unwrap_or(chrono_tz::Asia::Almaty);
    let at = first_attempt(now, tz, campaign.quiet_start, campaign.quiet_end);
    let contact_channels = nasvyazi_campaigns::contact_channels(&campaign.channels);
    let mut n = sqlx::query(&AUDIENCE_SQL)
        .bind(occurrence_id)
        .bind(at)
        .bind(&contact_channels)
        .bind(&campaign.topics)
        .bind(&campaign.languages)
        .bind(&campaign.regions)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    // One post to each registered channel the campaign names.
    n += crate::telegram::posts::queue_registered_posts(
        &mut *conn,
        occurrence_id,
        &crate::telegram::posts::registered_channels(&campaign.channels),
        now,
    )
    .await?;
    if campaign.channels.iter().any(|c| c == "telegram_channel") {
        // One post to the configured channel per occurrence.
        n += sqlx::query(
            "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel, next_attempt_at)
             VALUES (gen_random_uuid(), 'campaign', $1, $2, 'telegram_channel', $3) ON CONFLICT DO NOTHING",
        )
        .bind(occurrence_id)
        .bind(Uuid::nil())
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    sqlx::query(
        "INSERT INTO fanouts (occurrence_id, deliveries) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(occurrence_id)
    .bind(n as i64)
    .execute(&mut *conn)
    .await?;
    deliveries::wake(conn).await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_defer_to_their_end() {
        let tz = chrono_tz::Asia::Almaty;
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // 23:30 local (18:30Z) -> 09:00 next day local (04:00Z).
        assert_eq!(
            first_attempt(utc("2026-08-30T18:30:00Z"), tz, t(22, 0), t(9, 0)),
            utc("2026-08-31T04:00:00Z")
        );
        // 07:00 local (02:00Z) -> 09:00 the same day.
        assert_eq!(
            first_attempt(utc("2026-08-31T02:00:00Z"), tz, t(22, 0), t(9, 0)),
            utc("2026-08-31T04:00:00Z")
        );
        // 10:00 local: now.
        assert_eq!(
            first_attempt(utc("2026-08-31T05:00:00Z"), tz, t(22, 0), t(9, 0)),
            utc("2026-08-31T05:00:00Z")
        );
    }
}
