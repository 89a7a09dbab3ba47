//! Letter campaigns as organisers define them (intake owns `letters` and
//! `letter_targets`): validation, the organisers' decisions (draft ->
//! approved, close, cancel), and the derived status (collecting, sending,
//! done) read from signatures and the ledger, so the table has one writer.
//! Every change is audited in its transaction.

pub mod progress;
pub mod signatures;

use chrono::{DateTime, Utc};
use nasvyazi_shared::auth::{self, Principal};
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_shared::letters::LetterTemplates;
use nasvyazi_shared::letters::render::{Field, check, pick};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

/// A letter campaign as created or edited through the API.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LetterInput {
    /// 1 to 200 characters, not only spaces, no NUL.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    pub name: String,
    /// The public page is `/letters/{slug}`: 2-60 of a-z, 0-9 and `-`, not
    /// starting with `-`; not `confirm` or `withdraw`.
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]{1,59}$")]
    pub slug: String,
    /// `each` (one letter per signer per official) or `collective` (one
    /// letter per official listing the signatories, at `send_at`).
    #[schema(value_type = LetterMode)]
    pub mode: String,
    /// Per language code: subject, body, page_text.
    #[schema(value_type = LetterTemplatesInput)]
    pub templates: LetterTemplates,
    /// Ids of officials in the directory.
    #[serde(default)]
    pub targets: Vec<Uuid>,
    /// The organisation's address for replies (when a signer's is not used);
    /// blank for none.
    #[schema(
        max_length = 254,
        pattern = "^([\\t\\n\\r ]*|[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,30}(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}){0,2}@([A-Za-z0-9]{1,20}\\.){1,3}[A-Za-z]{2,10})$"
    )]
    pub reply_to: Option<String>,
    /// each: not before (optional); collective: when (required).
    pub send_at: Option<DateTime<Utc>>,
    /// Signing ends (collective: at `send_at` at the latest).
    pub closes_at: Option<DateTime<Utc>>,
    /// Minutes between two letters to one official (default from config).
    #[schema(minimum = 0, maximum = 2147483647)]
    pub official_interval_minutes: Option<u32>,
    /// Letters per minute to one recipient domain, at least 1 (default from
    /// config).
    #[schema(minimum = 1, maximum = 2147483647)]
    pub domain_per_minute: Option<u32>,
}

/// How a letter is sent.
#[derive(ToSchema)]
#[schema(as = LetterMode)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum LetterMode {
    Each,
    Collective,
}

// Documentation only: the shape `LetterTemplates` accepts.
/// A letter's templates per language (`ru`, `kk`, `en`; each optional).
#[derive(ToSchema)]
#[schema(as = LetterTemplatesInput)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
pub struct LetterTemplatesInput {
    #[serde(default)]
    ru: LetterTemplateInput,
    #[serde(default)]
    kk: LetterTemplateInput,
    #[serde(default)]
    en: LetterTemplateInput,
}

// Documentation only: the shape `LetterTemplate` accepts.
/// The texts of one language. `subject` and `body` are minijinja
/// templates (placeholders such as `{{ official.name }}`,
/// `{{ signer.name }}`, `{{ signatories }}`, `{{ count }}`); the pattern
/// shows the plain text and placeholders every such template may hold.
#[derive(ToSchema, Default)]
#[schema(as = LetterTemplateInput)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
pub struct LetterTemplateInput {
    #[schema(
        pattern = r"^([^{\x00]|\{[^{%#\x00]|\{\{ ?(official\.(name|position|organisation)|signer\.(name|city|note)|signatories|count|org|letter) ?\}\})*\{?$"
    )]
    subject: Option<String>,
    #[schema(
        pattern = r"^([^{\x00]|\{[^{%#\x00]|\{\{ ?(official\.(name|position|organisation)|signer\.(name|city|note)|signatories|count|org|letter) ?\}\})*\{?$"
    )]
    body: Option<String>,
    /// Shown on the public signing page above the form (plain text).
    #[schema(pattern = r"^[^\x00]*$")]
    page_text: Option<String>,
}

/// A field that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        field,
        reason: reason.into(),
    }
}

/// Slugs that are paths of their own.
const RESERVED: [&str; 2] = ["confirm", "withdraw"];

impl LetterInput {
    /// Checks everything but the targets' existence (see [`check_targets`]).
    pub fn validate(&self) -> Result<LetterInput, Invalid> {
        let mut v = self.clone();
        v.name = v.name.trim().to_string();
        if v.name.is_empty() || v.name.chars().count() > 200 {
            return Err(invalid("name", "1 to 200 characters"));
        }
        v.slug = v.slug.trim().to_ascii_lowercase();
        let slug_ok = (2..=60).contains(&v.slug.len())
            && v.slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !v.slug.starts_with('-')
            && !RESERVED.contains(&v.slug.as_str());
        if !slug_ok {
            return Err(invalid(
                "slug",
                "2-60 of a-z, 0-9 and -, not starting with -",
            ));
        }
        if !matches!(v.mode.as_str(), "each" | "collective") {
            return Err(invalid("mode", "each or collective"));
        }
        check(&v.templates).map_err(|e| invalid("templates", e))?;
        if let Some(r) = &v.reply_to {
            let r = r.trim();
            v.reply_to = if r.is_empty() {
                None
            } else {
                EmailAddress::parse(r)
                    .map_err(|_| invalid("reply_to", "not a valid email address"))?;
                Some(r.to_string())
            };
        }
        if v.mode == "collective" {
            let Some(at) = v.send_at else {
                return Err(invalid(
                    "send_at",
                    "a collective letter needs the time it is sent",
                ));
            };
            match v.closes_at {
                Some(c) if c > at => {
                    return Err(invalid("closes_at", "signing must end by send_at"));
                }
                None => v.closes_at = Some(at),
                _ => {}
            }
        }
        if v.domain_per_minute == Some(0) {
            return Err(invalid("domain_per_minute", "at least 1"));
        }
        let mut targets = Vec::new();
        for t in &v.targets {
            if !targets.contains(t) {
                targets.push(*t);
            }
        }
        v.targets = targets;
        Ok(v)
    }
}

/// 422 unless every target is in the directory.
pub async fn check_targets(db: &PgPool, targets: &[Uuid]) -> anyhow::Result<Result<(), Invalid>> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM officials WHERE id = ANY($1)")
        .bind(targets)
        .fetch_one(db)
        .await?;
    Ok(if n as usize == targets.len() {
        Ok(())
    } else {
        Err(invalid("targets", "every target must be an official's id"))
    })
}

/// A letter row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Letter {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub mode: String,
    pub status: String,
    pub templates: sqlx::types::Json<LetterTemplates>,
    pub reply_to: Option<String>,
    pub send_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    pub official_interval_minutes: Option<i32>,
    pub domain_per_minute: Option<i32>,
    pub version: i32,
}

pub const COLUMNS: &str = "id, slug, name, mode, status, templates, reply_to, send_at, closes_at, \
     official_interval_minutes, domain_per_minute, version";

impl Letter {
    pub async fn load(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Letter>> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM letters WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await
    }

    pub async fn by_slug(db: &PgPool, slug: &str) -> sqlx::Result<Option<Letter>> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM letters WHERE slug = $1"))
            .bind(slug)
            .fetch_optional(db)
            .await
    }

    /// Whether signatures (and confirmations) are taken at `now`.
    pub fn collecting(&self, now: DateTime<Utc>) -> bool {
        self.status == "approved" && self.closes_at.is_none_or(|c| now < c)
    }

    /// The targets' official ids.
    pub async fn targets(&self, db: &PgPool) -> sqlx::Result<Vec<Uuid>> {
        sqlx::query_scalar(
            "SELECT official_id FROM letter_targets WHERE letter_id = $1 ORDER BY id",
        )
        .bind(self.id)
        .fetch_all(db)
        .await
    }

    /// draft, collecting, sending, done or cancelled (see ARCHITECTURE.md).
    pub async fn derived_status(&self, db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<String> {
        if self.status != "approved" {
            return Ok(self.status.clone());
        }
        let (in_flight, queued_any): (bool, bool) = sqlx::query_as(
            "SELECT coalesce(bool_or(d.status IN ('queued', 'retry', 'sending')), false), count(d.id) > 0
             FROM letter_targets t JOIN deliveries d ON d.kind = 'letter' AND d.ref_id = t.id
             WHERE t.letter_id = $1",
        )
        .bind(self.id)
        .fetch_one(db)
        .await?;
        let due_collective =
            self.mode == "collective" && self.send_at.is_some_and(|at| at <= now) && !queued_any;
        Ok(if in_flight || due_collective {
            "sending"
        } else if self.collecting(now) {
            "collecting"
        } else {
            "done"
        }
        .into())
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    NotFound,
    State(&'static str),
    Slug,
}

async fn slug_taken(conn: &mut PgConnection, slug: &str, not: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM letters WHERE slug = $1 AND id <> $2)")
        .bind(slug)
        .bind(not)
        .fetch_one(conn)
        .await
}

async fn write(
    conn: &mut PgConnection,
    id: Uuid,
    v: &LetterInput,
    insert: bool,
) -> sqlx::Result<()> {
    let sql = if insert {
        "INSERT INTO letters (id, slug, name, mode, templates, reply_to, send_at, closes_at,
             official_interval_minutes, domain_per_minute)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    } else {
        "UPDATE letters SET slug = $2, name = $3, mode = $4, templates = $5, reply_to = $6, send_at = $7,
             closes_at = $8, official_interval_minutes = $9, domain_per_minute = $10,
             version = version + 1, updated_at = now()
         WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(id)
        .bind(&v.slug)
        .bind(&v.name)
        .bind(&v.mode)
        .bind(sqlx::types::Json(&v.templates))
        .bind(&v.reply_to)
        .bind(v.send_at)
        .bind(v.closes_at)
        .bind(v.official_interval_minutes.map(|n| n as i32))
        .bind(v.domain_per_minute.map(|n| n as i32))
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM letter_targets WHERE letter_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO letter_targets (id, letter_id, official_id)
         SELECT gen_random_uuid(), $1, o FROM unnest($2::uuid[]) AS o",
    )
    .bind(id)
    .bind(&v.targets)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts a draft.
pub async fn create(
    db: &PgPool,
    who: &Principal,
    v: &LetterInput,
) -> anyhow::Result<Result<Uuid, Conflict>> {
    let id = Uuid::now_v7();
    let mut tx = db.begin().await?;
    if slug_taken(&mut tx, &v.slug, id).await? {
        return Ok(Err(Conflict::Slug));
    }
    write(&mut tx, id, v, true).await?;
    audit(&mut tx, who, "letter.create", id).await?;
    tx.commit().await?;
    Ok(Ok(id))
}

/// Replaces a draft's definition.
pub async fn update(
    db: &PgPool,
    who: &Principal,
    id: Uuid,
    v: &LetterInput,
) -> anyhow::Result<Result<(), Conflict>> {
    let mut tx = db.begin().await?;
    match lock_status(&mut tx, id).await? {
        None => return Ok(Err(Conflict::NotFound)),
        Some(s) if s != "draft" => return Ok(Err(Conflict::State("only a draft can be edited"))),
        _ => {}
    }
    if slug_taken(&mut tx, &v.slug, id).await? {
        return Ok(Err(Conflict::Slug));
    }
    write(&mut tx, id, v, false).await?;
    audit(&mut tx, who, "letter.update", id).await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// An organiser's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// draft -> approved: signing opens.
    Approve,
    /// Signing ends now (each mode: the letters already signed still go).
    Close,
    /// Nothing more is signed or sent.
    Cancel,
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
    let now = Utc::now();
    let (sql, action) = match (step, status.as_str()) {
        (Step::Approve, "draft") => {
            let letter: Letter =
                sqlx::query_as(&format!("SELECT {COLUMNS} FROM letters WHERE id = $1"))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            let targets: i64 =
                sqlx::query_scalar("SELECT count(*) FROM letter_targets WHERE letter_id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            if targets == 0 {
                return Ok(Err(Conflict::State("a letter needs at least one target")));
            }
            if pick(&letter.templates, Lang::Ru, Field::Subject).is_none()
                || pick(&letter.templates, Lang::Ru, Field::Body).is_none()
            {
                return Ok(Err(Conflict::State(
                    "a letter needs a subject and a body in at least one language",
                )));
            }
            if letter.mode == "collective" && letter.send_at.is_some_and(|t| t <= now) {
                return Ok(Err(Conflict::State("send_at has passed; edit it first")));
            }
            (
                "UPDATE letters SET status = 'approved', approved_at = $2, version = version + 1, updated_at = now() WHERE id = $1",
                "letter.approve",
            )
        }
        (Step::Approve, _) => return Ok(Err(Conflict::State("only a draft can be approved"))),
        (Step::Close, "approved") => (
            "UPDATE letters SET closes_at = least(coalesce(closes_at, $2), $2), version = version + 1, updated_at = now() WHERE id = $1",
            "letter.close",
        ),
        (Step::Close, _) => {
            return Ok(Err(Conflict::State(
                "only an approved letter can be closed",
            )));
        }
        (Step::Cancel, "cancelled") => {
            return Ok(Err(Conflict::State("the letter is already cancelled")));
        }
        (Step::Cancel, _) => (
            "UPDATE letters SET status = 'cancelled', version = version + 1, updated_at = $2 WHERE id = $1",
            "letter.cancel",
        ),
    };
    sqlx::query(sql)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    wake_sender(&mut tx).await?;
    audit(&mut tx, who, action, id).await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Wakes the notifier's letter sender (collective fan-out, cancellations,
/// resolutions) on commit.
pub async fn wake_sender(tx: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify('letters_wake', '')")
        .execute(tx)
        .await?;
    Ok(())
}

async fn lock_status(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT status FROM letters WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
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
