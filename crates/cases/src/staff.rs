//! The staff-action core both kinds of case share: why an action was
//! refused ([`StaffError`], one type for appeals and consultations, with
//! one answer to API clients) and the audit row every action writes
//! ([`audit`], naming the case, never the person).
//!
//! It must never put a personal value in an error or an audit row: ids,
//! field names and limits only.

use nasvyazi_shared::auth::{self, Principal};
use sqlx::PgConnection;
use uuid::Uuid;

/// Why a staff action on a case was refused.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("not found")]
    NotFound,
    /// The request is malformed; what is wrong (a field and its limits).
    #[error("{0}")]
    Invalid(String),
    /// The case's state forbids it now.
    #[error("{0}")]
    Conflict(&'static str),
    /// The appellant did not consent to forwarding.
    #[error("the appellant did not consent to forwarding")]
    NoConsent,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// How a refusal answers an API client (a stable code, logged once).
impl From<StaffError> for nasvyazi_shared::error::ApiError {
    fn from(e: StaffError) -> Self {
        use nasvyazi_shared::error::ApiError;
        match e {
            StaffError::NotFound => ApiError::not_found(),
            StaffError::Invalid(m) => ApiError::validation(m),
            StaffError::Conflict(m) => ApiError::conflict(m),
            StaffError::NoConsent => ApiError::conflict(e.to_string()).coded("no_consent"),
            StaffError::Internal(e) => ApiError::internal(e),
        }
    }
}

impl From<sqlx::Error> for StaffError {
    fn from(e: sqlx::Error) -> Self {
        StaffError::Internal(e.into())
    }
}

/// The case an audit row names.
#[derive(Debug, Clone, Copy)]
pub enum Case {
    Appeal(Uuid),
    Conversation(Uuid),
}

impl Case {
    /// The audit log's target: an appeal by its id, a conversation as
    /// `conversation:<id>`.
    fn target(self) -> String {
        match self {
            Case::Appeal(id) => id.to_string(),
            Case::Conversation(id) => format!("conversation:{id}"),
        }
    }
}

/// Audits a staff action `action` by `who` on `case` (none: a listing).
pub async fn audit(
    conn: &mut PgConnection,
    who: &Principal,
    action: &str,
    case: Option<Case>,
    details: serde_json::Value,
) -> sqlx::Result<()> {
    auth::audit(
        conn,
        &who.actor(),
        Some(who.role),
        action,
        case.map(Case::target).as_deref(),
        details,
    )
    .await
}

/// Audits a staff action as [`audit`] does, in the transaction that made
/// it, and commits that transaction: the action and its row land together.
pub async fn commit_audited(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    who: &Principal,
    action: &str,
    case: Option<Case>,
    details: serde_json::Value,
) -> Result<(), StaffError> {
    audit(&mut tx, who, action, case, details).await?;
    tx.commit().await?;
    Ok(())
}
