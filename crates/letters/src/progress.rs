//! What happened to a letter campaign's letters, read from the ledger (the
//! notifier's table; this crate only reads it): counts per official, the
//! letters whose fate is unknown, the CSV report for the organisers'
//! records, and the organisers' resolutions of unknown letters (recorded
//! here in `letter_resolutions`, applied by the notifier, audited).
//!
//! It must never write the ledger, nor put a name in a log line; the CSV
//! report neutralises every cell (names come from the public).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use nasvyazi_crypto::Keyring;
use nasvyazi_platform::csv_cell;
use nasvyazi_staff::auth::{self, Principal};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::campaign::Letter;
use crate::records::{OFFICIAL_COLUMNS, OfficialRow, SIGNER_COLUMNS, SignerRow};
use crate::{COLLECTIVE, Official, Signer, message_id};

/// Letters per state. `pending`: queued, retrying or being sent;
/// `skipped`: withdrawn, cancelled or erased before sending.
#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
#[schema(as = LetterCounts)]
pub struct Counts {
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
    pub unknown: i64,
    pub skipped: i64,
}

impl Counts {
    fn add(&mut self, status: &str, n: i64) {
        match status {
            "queued" | "retry" | "sending" => self.pending += n,
            "sent" => self.sent += n,
            "failed" => self.failed += n,
            "unknown" => self.unknown += n,
            _ => self.skipped += n,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OfficialProgress {
    pub official_id: Uuid,
    pub name: String,
    pub position: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// A letter an organiser must check (it may or may not have arrived).
#[derive(Debug, Serialize, ToSchema)]
pub struct UnknownLetter {
    pub delivery_id: Uuid,
    pub official_id: Uuid,
    /// Nil for a collective letter.
    pub signature_id: Uuid,
    pub message_id: String,
    pub since: DateTime<Utc>,
    pub last_error: Option<String>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Signatures {
    pub pending: i64,
    pub confirmed: i64,
    pub withdrawn: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LetterProgress)]
pub struct Progress {
    pub letter_id: Uuid,
    pub status: String,
    pub signatures: Signatures,
    pub totals: Counts,
    pub officials: Vec<OfficialProgress>,
    pub unknown: Vec<UnknownLetter>,
}

async fn officials(db: &PgPool, keys: &Keyring, letter_id: Uuid) -> anyhow::Result<Vec<Official>> {
    let rows: Vec<OfficialRow> = sqlx::query_as(&format!(
        "SELECT {OFFICIAL_COLUMNS} FROM officials
         WHERE id IN (SELECT official_id FROM letter_targets WHERE letter_id = $1) ORDER BY id"
    ))
    .bind(letter_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| r.open(keys))
        .collect::<Result<_, _>>()?)
}

/// Ledger rows of a letter: (delivery, official, signature, status as
/// shown, attempts, updated, sent, error or reply).
type Row = (
    Uuid,
    Uuid,
    Uuid,
    String,
    i32,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<String>,
);

async fn rows(db: &PgPool, letter_id: Uuid) -> sqlx::Result<Vec<Row>> {
    // A withdrawn signer's letter still queued is skipped in effect.
    sqlx::query_as(
        "SELECT d.id, t.official_id, d.contact_id,
                CASE WHEN d.status IN ('queued', 'retry') AND (l.status = 'cancelled' OR s.withdrawn_at IS NOT NULL)
                     THEN 'skipped' ELSE d.status END,
                d.attempts, d.updated_at, d.sent_at, coalesce(d.last_error, d.provider_reply)
         FROM letter_targets t
         JOIN letters l ON l.id = t.letter_id
         JOIN deliveries d ON d.kind = 'letter' AND d.ref_id = t.id
         LEFT JOIN letter_signatures s ON s.id = d.contact_id
         WHERE t.letter_id = $1
         ORDER BY t.official_id, d.created_at, d.id",
    )
    .bind(letter_id)
    .fetch_all(db)
    .await
}

pub async fn progress(
    db: &PgPool,
    keys: &Keyring,
    letter: &Letter,
    from: &str,
) -> anyhow::Result<Progress> {
    let (pending, confirmed, withdrawn): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE confirmed_at IS NULL AND withdrawn_at IS NULL),
                count(*) FILTER (WHERE confirmed_at IS NOT NULL AND withdrawn_at IS NULL),
                count(*) FILTER (WHERE withdrawn_at IS NOT NULL)
         FROM letter_signatures WHERE letter_id = $1",
    )
    .bind(letter.id)
    .fetch_one(db)
    .await?;
    let mut per: BTreeMap<Uuid, Counts> = BTreeMap::new();
    let mut totals = Counts::default();
    let mut unknown = Vec::new();
    for (id, official, signer, status, _, updated, _, error) in rows(db, letter.id).await? {
        per.entry(official).or_default().add(&status, 1);
        totals.add(&status, 1);
        if status == "unknown" {
            unknown.push(UnknownLetter {
                delivery_id: id,
                official_id: official,
                signature_id: signer,
                message_id: message_id(letter.id, signer, official, from),
                since: updated,
                last_error: error,
            });
        }
    }
    let officials = officials(db, keys, letter.id)
        .await?
        .into_iter()
        .map(|o| OfficialProgress {
            counts: per.get(&o.id).copied().unwrap_or_default(),
            official_id: o.id,
            name: o.name,
            position: o.position,
        })
        .collect();
    Ok(Progress {
        letter_id: letter.id,
        status: letter.derived_status(db, Utc::now()).await?,
        signatures: Signatures {
            pending,
            confirmed,
            withdrawn,
        },
        totals,
        officials,
        unknown,
    })
}

/// The organisers' record: one line per letter.
pub async fn report_csv(
    db: &PgPool,
    keys: &Keyring,
    letter: &Letter,
    from: &str,
) -> anyhow::Result<Vec<u8>> {
    let officials: BTreeMap<Uuid, Official> = officials(db, keys, letter.id)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let signer_rows: Vec<SignerRow> = sqlx::query_as(&format!(
        "SELECT {SIGNER_COLUMNS} FROM letter_signatures WHERE letter_id = $1"
    ))
    .bind(letter.id)
    .fetch_all(db)
    .await?;
    let mut signers: BTreeMap<Uuid, Signer> = BTreeMap::new();
    for r in signer_rows {
        if let Some(s) = r.open(keys)? {
            signers.insert(s.id, s);
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "delivery_id",
        "official",
        "position",
        "organisation",
        "signer",
        "city",
        "status",
        "attempts",
        "sent_at",
        "message_id",
        "server_reply",
    ])?;
    for (id, official, signer, status, attempts, _, sent_at, reply) in rows(db, letter.id).await? {
        let o = officials.get(&official);
        let (name, city) = if signer == COLLECTIVE {
            ("(collective)".to_string(), String::new())
        } else {
            signers
                .get(&signer)
                .map(|s| (s.name.clone(), s.city.clone()))
                .unwrap_or_else(|| ("(withdrawn)".into(), String::new()))
        };
        // Names come from the public (a signer may be called
        // `=HYPERLINK(...)`): every cell neutralised.
        let record = [
            id.to_string(),
            o.map(|o| o.name.clone()).unwrap_or_default(),
            o.map(|o| o.position.clone()).unwrap_or_default(),
            o.map(|o| o.organisation.clone()).unwrap_or_default(),
            name,
            city,
            status,
            attempts.to_string(),
            sent_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            message_id(letter.id, signer, official, from),
            reply.unwrap_or_default(),
        ];
        w.write_record(record.iter().map(|c| csv_cell::neutralise(c).into_owned()))?;
    }
    w.into_inner()
        .map_err(|e| anyhow::anyhow!("CSV: {}", e.error()))
}

/// Why a resolution was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    NotFound,
    NotUnknown,
}

/// Records an organiser's decision about an `unknown` letter: `sent` (it
/// arrived) or `requeue` (send it again). The notifier applies it.
pub async fn resolve(
    db: &PgPool,
    who: &Principal,
    letter_id: Uuid,
    delivery_id: Uuid,
    resolution: &str,
) -> anyhow::Result<Result<(), Refused>> {
    let mut tx = db.begin().await?;
    let status: Option<String> = sqlx::query_scalar(
        "SELECT d.status FROM deliveries d JOIN letter_targets t ON t.id = d.ref_id
         WHERE d.id = $1 AND d.kind = 'letter' AND t.letter_id = $2",
    )
    .bind(delivery_id)
    .bind(letter_id)
    .fetch_optional(&mut *tx)
    .await?;
    match status.as_deref() {
        None => return Ok(Err(Refused::NotFound)),
        Some("unknown") => {}
        Some(_) => return Ok(Err(Refused::NotUnknown)),
    }
    sqlx::query(
        "INSERT INTO letter_resolutions (id, delivery_id, resolution, actor) VALUES ($1, $2, $3, $4)",
    )
    .bind(Uuid::now_v7())
    .bind(delivery_id)
    .bind(resolution)
    .bind(who.actor())
    .execute(&mut *tx)
    .await?;
    crate::wake_sender(&mut tx).await?;
    auth::audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "letter.resolve_unknown",
        Some(&letter_id.to_string()),
        serde_json::json!({ "delivery_id": delivery_id, "resolution": resolution }),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}
