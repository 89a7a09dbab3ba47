//! Claiming letters, at most once: in one transaction, the oldest due
//! letter of each official whose official and recipient domain are free
//! (`letter_pacing`), checked against office hours (in the official's time
//! zone), the daily cap, a cancelled letter and a withdrawn signature, then
//! marked `sending` with a lease. The pacing rows of the official and the
//! domain are reserved until the send finishes (`release` then sets the
//! next start to finish + gap), so the spacing holds even when a server is
//! slow, and across any number of notifiers (the pacing rows are locked).
//!
//! Unlike the broadcast claim, an expired `sending` row is never taken
//! again: [`super::queue::flag_unknown`] marks it `unknown`.
//!
//! The pacing rows and the signatures' share lock are the letters crate's
//! (`nasvyazi_letters::pacing`, `signatures::share_lock_for_sending`): this
//! module writes only the ledger, and must never send or log a name.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use nasvyazi_letters::pacing::{self, Pacing};
use nasvyazi_letters::signatures::share_lock_for_sending;
use nasvyazi_letters::{COLLECTIVE, OfficeHours};
use nasvyazi_shared::config::LettersConfig;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A letter claimed for sending.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub letter_id: Uuid,
    pub official_id: Uuid,
    /// Nil for a collective letter.
    pub signer_id: Uuid,
    /// Including this one.
    pub attempts: i32,
    pub official_key: String,
    pub domain_key: String,
    /// Pause after this letter before the next to the same official.
    pub official_gap: Duration,
    /// Pause after this letter before the next to the same domain.
    pub domain_gap: Duration,
    /// The official's local day (the daily cap counts it).
    pub day: NaiveDate,
}

#[derive(sqlx::FromRow)]
struct Candidate {
    id: Uuid,
    contact_id: Uuid,
    attempts: i32,
    letter_id: Uuid,
    letter_status: String,
    official_id: Uuid,
    time_zone: String,
    office_days: Vec<i32>,
    office_start: i32,
    office_end: i32,
    daily_cap: Option<i32>,
    domain_key: String,
    interval_minutes: Option<i32>,
    domain_per_minute: Option<i32>,
}

/// What one claim did.
#[derive(Debug, Default)]
pub struct ClaimOutcome {
    pub claimed: Vec<Claimed>,
    /// Rows settled without sending (cancelled, withdrawn) or deferred to
    /// office hours: the caller may claim again at once.
    pub settled: usize,
}

pub async fn claim(
    db: &PgPool,
    now: DateTime<Utc>,
    limits: &LettersConfig,
    lease: Duration,
) -> sqlx::Result<ClaimOutcome> {
    let mut tx = db.begin().await?;
    let candidates: Vec<Candidate> = sqlx::query_as(
        "WITH due AS (
             SELECT DISTINCT ON (t.official_id) d.id
             FROM deliveries d
             JOIN letter_targets t ON t.id = d.ref_id
             JOIN officials o ON o.id = t.official_id
             LEFT JOIN letter_pacing po ON po.key = 'o:' || t.official_id::text
             LEFT JOIN letter_pacing pd ON pd.key = 'd:' || encode(o.domain_bi, 'hex')
             WHERE d.kind = 'letter' AND d.status IN ('queued', 'retry') AND d.next_attempt_at <= $1
               AND (po.next_at IS NULL OR po.next_at <= $1) AND (pd.next_at IS NULL OR pd.next_at <= $1)
             ORDER BY t.official_id, d.next_attempt_at, d.id)
         SELECT d.id, d.contact_id, d.attempts, t.letter_id, l.status AS letter_status, t.official_id,
                o.time_zone, o.office_days, o.office_start, o.office_end, o.daily_cap,
                'd:' || encode(o.domain_bi, 'hex') AS domain_key,
                l.official_interval_minutes AS interval_minutes, l.domain_per_minute
         FROM due
         JOIN deliveries d ON d.id = due.id
         JOIN letter_targets t ON t.id = d.ref_id
         JOIN letters l ON l.id = t.letter_id
         JOIN officials o ON o.id = t.official_id
         WHERE d.status IN ('queued', 'retry')
         ORDER BY d.next_attempt_at, d.id
         LIMIT 200
         FOR UPDATE OF d SKIP LOCKED",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    if candidates.is_empty() {
        return Ok(ClaimOutcome::default());
    }
    let mut pacing = lock_pacing(&mut tx, &candidates).await?;
    let withdrawn = lock_signatures(&mut tx, &candidates).await?;
    let mut out = ClaimOutcome::default();
    let mut sending = Vec::new();
    for c in &candidates {
        if c.letter_status == "cancelled" {
            settle(&mut tx, c.id, "letter cancelled").await?;
            out.settled += 1;
            continue;
        }
        if c.contact_id != COLLECTIVE && withdrawn.contains(&c.id) {
            settle(&mut tx, c.id, "signature withdrawn").await?;
            out.settled += 1;
            continue;
        }
        let tz: Tz = c.time_zone.parse().unwrap_or(chrono_tz::Asia::Almaty);
        let hours = OfficeHours::from_columns(c.office_days.clone(), c.office_start, c.office_end)
            .unwrap_or_default();
        if !hours.is_open(tz, now) {
            defer(
                &mut tx,
                c.official_id,
                hours.next_open(tz, now).max(now + Duration::minutes(1)),
            )
            .await?;
            out.settled += 1;
            continue;
        }
        let official_key = pacing::official_key(c.official_id);
        let day = OfficeHours::local_date(tz, now);
        let official = pacing[&official_key].clone();
        let sent_today = if official.day == Some(day) {
            official.sent_on_day
        } else {
            0
        };
        let cap = c
            .daily_cap
            .or((limits.official_daily_cap > 0).then_some(limits.official_daily_cap as i32));
        if cap.is_some_and(|cap| sent_today >= cap) {
            defer(
                &mut tx,
                c.official_id,
                hours.next_day_open(tz, now).max(now + Duration::minutes(1)),
            )
            .await?;
            out.settled += 1;
            continue;
        }
        if official.next_at > now || pacing[&c.domain_key].next_at > now {
            continue; // another letter to the official or the domain is under way
        }
        let reserved = now + lease;
        pacing.insert(
            official_key.clone(),
            Pacing {
                key: official_key.clone(),
                next_at: reserved,
                day: Some(day),
                sent_on_day: sent_today + 1,
            },
        );
        if let Some(p) = pacing.get_mut(&c.domain_key) {
            p.next_at = reserved;
        }
        let per_minute = c
            .domain_per_minute
            .map(|n| n.max(1) as u32)
            .unwrap_or(limits.domain_per_minute.max(1));
        sending.push(c.id);
        out.claimed.push(Claimed {
            id: c.id,
            letter_id: c.letter_id,
            official_id: c.official_id,
            signer_id: c.contact_id,
            attempts: c.attempts + 1,
            official_key,
            domain_key: c.domain_key.clone(),
            official_gap: Duration::minutes(
                c.interval_minutes
                    .map(|m| m.max(0) as i64)
                    .unwrap_or(limits.official_interval_minutes as i64),
            ),
            domain_gap: Duration::milliseconds(60_000 / per_minute as i64),
            day,
        });
    }
    pacing::save(&mut tx, pacing.values()).await?;
    sqlx::query(
        "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, locked_until = $2, updated_at = now()
         WHERE id = ANY($1)",
    )
    .bind(&sending)
    .bind(now + lease)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(out)
}

/// Creates missing pacing rows and locks all involved, in key order (so two
/// claimers never wait on each other in a circle).
async fn lock_pacing(
    tx: &mut PgConnection,
    candidates: &[Candidate],
) -> sqlx::Result<HashMap<String, Pacing>> {
    let keys: Vec<String> = candidates
        .iter()
        .flat_map(|c| [pacing::official_key(c.official_id), c.domain_key.clone()])
        .collect();
    pacing::lock(tx, &keys).await
}

/// Share-locks the signatures the letters carry, so a withdrawal (which
/// locks its signature for update) is ordered before or after this claim:
/// before, the letter is skipped; after, the withdrawal sees the letter on
/// its way and is refused. Returns the deliveries whose signer withdrew.
async fn lock_signatures(
    tx: &mut PgConnection,
    candidates: &[Candidate],
) -> sqlx::Result<Vec<Uuid>> {
    let signers: Vec<Uuid> = candidates
        .iter()
        .filter(|c| c.contact_id != COLLECTIVE)
        .map(|c| c.contact_id)
        .collect();
    let collective: Vec<Uuid> = candidates
        .iter()
        .filter(|c| c.contact_id == COLLECTIVE)
        .map(|c| c.letter_id)
        .collect();
    let live: BTreeSet<Uuid> = share_lock_for_sending(tx, &signers, &collective)
        .await?
        .into_iter()
        .collect();
    Ok(candidates
        .iter()
        .filter(|c| c.contact_id != COLLECTIVE && !live.contains(&c.contact_id))
        .map(|c| c.id)
        .collect())
}

async fn settle(tx: &mut PgConnection, id: Uuid, reason: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE deliveries SET status = 'skipped', last_error = $2, locked_until = NULL, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    tracing::info!(delivery_id = %id, reason, "letter skipped");
    Ok(())
}

/// Every due letter to an official outside its office hours (or over its
/// daily cap) waits for the next opening: one statement, no busy loop.
async fn defer(tx: &mut PgConnection, official_id: Uuid, until: DateTime<Utc>) -> sqlx::Result<()> {
    let n = sqlx::query(
        "UPDATE deliveries d SET next_attempt_at = $2, updated_at = now()
         FROM letter_targets t
         WHERE t.id = d.ref_id AND t.official_id = $1 AND d.kind = 'letter'
           AND d.status IN ('queued', 'retry') AND d.next_attempt_at < $2",
    )
    .bind(official_id)
    .bind(until)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tracing::debug!(%official_id, letters = n, %until, "letters wait for office hours");
    Ok(())
}

/// After a send: the next letter to the official and to the domain may
/// start `gap` after `finished` (at once if the server was never `talked`
/// to). A letter the server did not take (`uncount`) gives its place in
/// the daily cap back.
pub async fn release(
    db: &PgPool,
    c: &Claimed,
    finished: DateTime<Utc>,
    talked: bool,
    uncount: bool,
) -> sqlx::Result<()> {
    pacing::release(
        db,
        (&c.official_key, c.official_gap),
        (&c.domain_key, c.domain_gap),
        c.day,
        finished,
        talked,
        uncount,
    )
    .await
}
