//! `letter_pacing` (this crate owns it; the notifier's letter claim calls
//! these functions inside its own transaction): one row per official
//! (`o:<official id>`) and per recipient domain (`d:<hex of the domain's
//! blind index>`), holding when the next letter to it may start and, for
//! an official, how many letters it got on its local day (the daily cap).
//!
//! A claim locks the rows of the officials and domains it may send to
//! ([`lock`]), reserves them until the send finishes ([`save`]), and the
//! sender then sets the next start to finish + gap ([`release`]), so the
//! spacing holds when a server is slow and across any number of notifiers.
//!
//! It must never hold a key that names a person: keys carry ids and blind
//! indexes only.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// One pacing row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Pacing {
    /// `o:<official id>` or `d:<hex of the domain's blind index>`.
    pub key: String,
    /// The next letter to this official or domain may start then.
    pub next_at: DateTime<Utc>,
    /// The official's local day `sent_on_day` counts (domains: none).
    pub day: Option<NaiveDate>,
    pub sent_on_day: i32,
}

/// The pacing key of an official.
pub fn official_key(official_id: Uuid) -> String {
    format!("o:{official_id}")
}

/// A new row's `next_at`: long past.
fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap()
}

/// Creates the missing rows of `keys` and locks them all, in key order (so
/// two claimers never wait on each other in a circle), in the caller's
/// transaction.
pub async fn lock(
    conn: &mut PgConnection,
    keys: &[String],
) -> sqlx::Result<HashMap<String, Pacing>> {
    let mut keys = keys.to_vec();
    keys.sort();
    keys.dedup();
    sqlx::query(
        "INSERT INTO letter_pacing (key, next_at) SELECT k, $2 FROM unnest($1::text[]) AS k ORDER BY k
         ON CONFLICT DO NOTHING",
    )
    .bind(&keys)
    .bind(epoch())
    .execute(&mut *conn)
    .await?;
    let rows: Vec<Pacing> = sqlx::query_as(
        "SELECT key, next_at, day, sent_on_day FROM letter_pacing WHERE key = ANY($1) ORDER BY key FOR UPDATE",
    )
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|p| (p.key.clone(), p)).collect())
}

/// Writes back rows [`lock`]ed and changed by a claim, in its transaction.
pub async fn save<'a>(
    conn: &mut PgConnection,
    rows: impl IntoIterator<Item = &'a Pacing>,
) -> sqlx::Result<()> {
    for p in rows {
        sqlx::query(
            "UPDATE letter_pacing SET next_at = $2, day = $3, sent_on_day = $4 WHERE key = $1",
        )
        .bind(&p.key)
        .bind(p.next_at)
        .bind(p.day)
        .bind(p.sent_on_day)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// After a send: the next letter to the official and to the domain may
/// start `gap` after `finished` (at once if the server was never `talked`
/// to). A letter the server did not take (`uncount`) gives its place in
/// the official's daily cap of `day` back.
pub async fn release(
    db: &PgPool,
    official: (&str, Duration),
    domain: (&str, Duration),
    day: NaiveDate,
    finished: DateTime<Utc>,
    talked: bool,
    uncount: bool,
) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    for (key, gap, is_official) in [(official.0, official.1, true), (domain.0, domain.1, false)] {
        let gap = if talked { gap } else { Duration::zero() };
        sqlx::query(
            "UPDATE letter_pacing SET next_at = $2,
                 sent_on_day = CASE WHEN $3 AND day = $4 THEN greatest(sent_on_day - 1, 0) ELSE sent_on_day END
             WHERE key = $1",
        )
        .bind(key)
        .bind(finished + gap)
        .bind(uncount && is_official)
        .bind(day)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}
