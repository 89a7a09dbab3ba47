//! The caseworkers' side: list and filter, read one (decrypting, and the
//! read itself audited), assign, internal notes (sealed), status changes
//! and forwarding (only with the appellant's consent).
//!
//! Every function writes its audit row in the same transaction as what it
//! does or reads; audit rows carry ids and status names, never text or
//! contact. Status changes announce `appeal.status_changed` through the
//! outbox in that transaction too.

use crate::appeals::stored::aad;
use chrono::{DateTime, NaiveDate, Utc};
use nasvyazi_crypto::Key;
use nasvyazi_platform::events::Event;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

pub use crate::staff::Staff;
pub use crate::staff::StaffError;
use crate::staff::{Action, Case, audit};

/// Filters of the list; every one optional.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub status: Option<String>,
    pub category: Option<String>,
    pub region: Option<String>,
    pub site: Option<String>,
    /// Received on or after this day (UTC).
    pub from: Option<NaiveDate>,
    /// Received on or before this day (UTC).
    pub to: Option<NaiveDate>,
    pub limit: i64,
    pub offset: i64,
}

/// One line of the list: no text, no contact.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AppealItem {
    pub id: Uuid,
    pub case_number: String,
    pub status: String,
    pub category: String,
    pub region: String,
    pub city: String,
    pub site: Option<String>,
    /// `email`, `telegram`, or absent for an anonymous appeal.
    pub contact_channel: Option<String>,
    /// How many other appeals came from the same contact (by blind index).
    pub same_contact_appeals: i64,
    pub consent_to_forward: bool,
    pub assigned_to: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

const ITEM_COLUMNS: &str = "a.id, a.case_number, a.status, a.category, a.region, a.city, a.site, a.contact_channel,
    CASE WHEN a.contact_bi IS NULL THEN 0
         ELSE (SELECT count(*) FROM appeals b WHERE b.contact_bi = a.contact_bi AND b.id <> a.id) END
        AS same_contact_appeals,
    a.consent_to_forward, a.assigned_to, a.created_at, a.updated_at, a.closed_at";

/// The filtered list, newest first (the listing is audited with its
/// filters).
pub async fn list(st: Staff<'_>, f: &Filter) -> sqlx::Result<Vec<AppealItem>> {
    let mut tx = st.db.begin().await?;
    let rows = sqlx::query_as::<_, AppealItem>(&format!(
        "SELECT {ITEM_COLUMNS} FROM appeals a
         WHERE ($1::text IS NULL OR a.status = $1) AND ($2::text IS NULL OR a.category = $2)
           AND ($3::text IS NULL OR a.region = $3) AND ($4::text IS NULL OR a.site = $4)
           AND ($5::date IS NULL OR a.created_at >= $5::date)
           AND ($6::date IS NULL OR a.created_at < $6::date + 1)
         ORDER BY a.created_at DESC, a.id DESC LIMIT $7 OFFSET $8"
    ))
    .bind(&f.status)
    .bind(&f.category)
    .bind(&f.region)
    .bind(&f.site)
    .bind(f.from)
    .bind(f.to)
    .bind(f.limit)
    .bind(f.offset)
    .fetch_all(&mut *tx)
    .await?;
    audit(
        &mut tx,
        st.who,
        "appeal.list",
        None,
        serde_json::json!({
            "status": f.status, "category": f.category, "region": f.region, "site": f.site,
            "from": f.from, "to": f.to, "returned": rows.len(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// A contact as a caseworker sees it.
#[derive(Serialize, ToSchema)]
pub struct ContactView {
    pub channel: String,
    pub value: String,
}

/// A note or an addition, decrypted.
#[derive(Serialize, ToSchema)]
pub struct NoteView {
    pub id: Uuid,
    /// `addition` (from the appellant) or `internal` (staff only).
    pub kind: String,
    /// `appellant` or `token:<id>`.
    pub author: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// Where a case was forwarded, decrypted.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ForwardView {
    /// The official or office, as the caseworker described them.
    pub official: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default)]
    pub forwarded_at: Option<DateTime<Utc>>,
}

/// One appeal, decrypted.
#[derive(Serialize, ToSchema)]
pub struct AppealDetail {
    #[serde(flatten)]
    pub item: AppealItem,
    pub language: String,
    pub text: String,
    pub contact: Option<ContactView>,
    pub notes: Vec<NoteView>,
    pub forward: Option<ForwardView>,
}

fn open(key: &Key, ct: &[u8], id: Uuid, field: &str) -> anyhow::Result<String> {
    key.open_string(ct, &aad(id, field))
        .map_err(|e| anyhow::anyhow!("appeal {id}: {field}: {e}"))
}

/// Reads and decrypts one appeal (by id or case number); the read is
/// audited in the same transaction, before anything is returned.
pub async fn read(st: Staff<'_>, id: Uuid) -> Result<AppealDetail, StaffError> {
    let mut act = st.act(Case::Appeal(id)).await?;
    let item = sqlx::query_as::<_, AppealItem>(&format!(
        "SELECT {ITEM_COLUMNS} FROM appeals a WHERE a.id = $1"
    ))
    .bind(id)
    .fetch_optional(act.conn())
    .await?
    .ok_or(StaffError::NotFound)?;
    type Sealed = (
        String,
        Vec<u8>,
        Vec<u8>,
        Option<String>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<DateTime<Utc>>,
    );
    let (language, wrapped, text_ct, channel, contact_ct, forward_ct, forwarded_at): Sealed =
        sqlx::query_as(
            "SELECT language, data_key, text_ct, contact_channel, contact_ct, forward_ct, forwarded_at
             FROM appeals WHERE id = $1",
        )
        .bind(id)
        .fetch_one(act.conn())
        .await?;
    type NoteRow = (Uuid, String, String, Vec<u8>, DateTime<Utc>);
    let notes: Vec<NoteRow> = sqlx::query_as(
        "SELECT id, kind, author, body_ct, created_at FROM appeal_notes WHERE appeal_id = $1 ORDER BY created_at, id",
    )
    .bind(id)
    .fetch_all(act.conn())
    .await?;
    act.commit("appeal.read", serde_json::json!({})).await?;

    let key = st
        .keys
        .unwrap_data_key(&wrapped)
        .map_err(|e| anyhow::anyhow!("appeal {id}: data key: {e}"))?;
    let contact = match (channel, contact_ct) {
        (Some(channel), Some(ct)) => Some(ContactView {
            value: open(&key, &ct, id, "contact")?,
            channel,
        }),
        _ => None,
    };
    let forward = match forward_ct {
        Some(ct) => {
            let json = open(&key, &ct, id, "forward")?;
            let mut f: ForwardView = serde_json::from_str(&json)
                .map_err(|_| anyhow::anyhow!("appeal {id}: forward record unreadable"))?;
            f.forwarded_at = forwarded_at;
            Some(f)
        }
        None => None,
    };
    let notes = notes
        .into_iter()
        .map(|(nid, kind, author, ct, created_at)| {
            Ok(NoteView {
                text: open(&key, &ct, id, &format!("note:{nid}"))?,
                id: nid,
                kind,
                author,
                created_at,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(AppealDetail {
        text: open(&key, &text_ct, id, "text")?,
        item,
        language,
        contact,
        notes,
        forward,
    })
}

/// The id of the appeal with this case number.
pub async fn id_of(db: &PgPool, case_number: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM appeals WHERE case_number = $1")
        .bind(case_number)
        .fetch_optional(db)
        .await
}

/// Locks the appeal's row: (status, consent, wrapped data key).
async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<(String, bool, Vec<u8>), StaffError> {
    sqlx::query_as(
        "SELECT status, consent_to_forward, data_key FROM appeals WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StaffError::NotFound)
}

/// Adds an internal note (sealed under the appeal's key). Returns its id.
pub async fn add_note(st: Staff<'_>, id: Uuid, text: &str) -> Result<Uuid, StaffError> {
    let mut act = st.act(Case::Appeal(id)).await?;
    let (_, _, wrapped) = lock(act.conn(), id).await?;
    let key = st
        .keys
        .unwrap_data_key(&wrapped)
        .map_err(|e| anyhow::anyhow!("appeal {id}: data key: {e}"))?;
    let note_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO appeal_notes (id, appeal_id, kind, author, body_ct) VALUES ($1, $2, 'internal', $3, $4)",
    )
    .bind(note_id)
    .bind(id)
    .bind(st.who.actor())
    .bind(key.seal(text.as_bytes(), &aad(id, &format!("note:{note_id}"))))
    .execute(act.conn())
    .await?;
    act.update("updated_at = now()").await?;
    act.commit("appeal.note", serde_json::json!({ "note_id": note_id }))
        .await?;
    Ok(note_id)
}

/// Writes a new status (after the caller's checks), announces it, audits.
async fn write_status(
    act: &mut Action<'_>,
    id: Uuid,
    from: &str,
    to: &str,
) -> Result<(), StaffError> {
    sqlx::query(
        "UPDATE appeals SET status = $2, status_nonce = $3, status_changed_at = now(), updated_at = now(),
             closed_at = CASE WHEN $2 = 'closed' THEN now() END
         WHERE id = $1",
    )
    .bind(id)
    .bind(to)
    .bind(Uuid::new_v4())
    .execute(act.conn())
    .await?;
    act.announce(Event::AppealStatusChanged { appeal_id: id })
        .await?;
    act.audit(
        "appeal.status",
        serde_json::json!({ "from": from, "to": to }),
    )
    .await?;
    tracing::info!(appeal_id = %id, from, to, "appeal status changed");
    Ok(())
}

/// Changes the status (`new`, `triaged`, `resolved`, `closed`; `forwarded`
/// only through [`forward`]). The same status again changes nothing.
/// Returns the status now.
pub async fn set_status(
    st: Staff<'_>,
    id: Uuid,
    to: &'static str,
) -> Result<&'static str, StaffError> {
    if to == "forwarded" {
        return Err(StaffError::Invalid(
            "use the forward action to set the status `forwarded`".into(),
        ));
    }
    let mut act = st.act(Case::Appeal(id)).await?;
    let (from, _, _) = lock(act.conn(), id).await?;
    if from != to {
        write_status(&mut act, id, &from, to).await?;
    }
    act.done().await?;
    Ok(to)
}

/// What a caseworker records when forwarding.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardRequest {
    /// The official or office the case goes to: 1 to 500 characters, not
    /// only spaces, no NUL (sealed).
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    pub official: String,
    /// Anything else to remember about it: at most 10,000 characters, no
    /// NUL (sealed).
    #[schema(max_length = 10000, pattern = r"^[^\x00]*$")]
    pub note: Option<String>,
}

/// Records the intent to forward the case to an official and sets the
/// status `forwarded`; only with the appellant's consent. (Sending the
/// letter is the letters feature's work.)
pub async fn forward(st: Staff<'_>, id: Uuid, request: &ForwardRequest) -> Result<(), StaffError> {
    let mut act = st.act(Case::Appeal(id)).await?;
    let (from, consent, wrapped) = lock(act.conn(), id).await?;
    if !consent {
        return Err(StaffError::NoConsent);
    }
    let key = st
        .keys
        .unwrap_data_key(&wrapped)
        .map_err(|e| anyhow::anyhow!("appeal {id}: data key: {e}"))?;
    let record = serde_json::to_string(&ForwardView {
        official: request.official.trim().to_string(),
        note: request.note.as_ref().map(|n| n.trim().to_string()),
        forwarded_at: None,
    })
    .map_err(anyhow::Error::from)?;
    let sealed = key.seal(record.as_bytes(), &aad(id, "forward"));
    act.set("forward_ct = $2, forwarded_at = now()", sealed)
        .await?;
    if from != "forwarded" {
        write_status(&mut act, id, &from, "forwarded").await?;
    }
    act.commit("appeal.forward", serde_json::json!({})).await
}
