//! The staff-action core both kinds of case share: why an action was
//! refused ([`StaffError`], one type for appeals and consultations, with
//! one answer to API clients), the audit row every action writes
//! ([`audit`], naming the case, never the person), the transaction an
//! action runs in ([`Action`]: lock, change, audit, commit), who acts with
//! what ([`Staff`]), and the one
//! action both kinds share as it is ([`assign`]).
//!
//! It must never put a personal value in an error or an audit row: ids,
//! field names and limits only.

use nasvyazi_crypto::Keyring;
use nasvyazi_platform::events::Event;
use nasvyazi_platform::outbox::{self, Outbox};
use nasvyazi_staff::auth::{self, Principal};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
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
impl From<StaffError> for nasvyazi_platform::error::ApiError {
    fn from(e: StaffError) -> Self {
        use nasvyazi_platform::error::ApiError;
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
    /// The table that holds the case's row.
    fn table(self) -> &'static str {
        match self {
            Case::Appeal(_) => "appeals",
            Case::Conversation(_) => "conversations",
        }
    }

    fn id(self) -> Uuid {
        match self {
            Case::Appeal(id) | Case::Conversation(id) => id,
        }
    }

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

/// Who acts, and with what: the database, the keys that open the cases'
/// sealed fields, and the principal every audit row names. Every staff
/// function of both kinds of case takes one.
#[derive(Clone, Copy)]
pub struct Staff<'a> {
    pub db: &'a PgPool,
    pub keys: &'a Keyring,
    pub who: &'a Principal,
}

impl<'a> Staff<'a> {
    /// Begins an action on `case`.
    pub async fn act(&self, case: Case) -> Result<Action<'a>, StaffError> {
        Action::begin(self.db, self.who, case).await
    }
}

/// One staff action on one case ([`Staff::act`] begins it): its
/// transaction, who acts and on what.
/// The work runs on [`Action::conn`] (the caller locks the case's row
/// first, reading what it needs); [`Action::commit`] writes the audit row
/// in that transaction and commits, so the action and its row land
/// together. Dropped without a commit, nothing happened.
pub struct Action<'a> {
    tx: Transaction<'static, Postgres>,
    who: &'a Principal,
    case: Case,
}

impl<'a> Action<'a> {
    async fn begin(db: &PgPool, who: &'a Principal, case: Case) -> Result<Self, StaffError> {
        Ok(Action {
            tx: db.begin().await?,
            who,
            case,
        })
    }

    /// Locks the case's row for the action; not found when there is none.
    /// (A kind that needs the row's columns locks it with its own read.)
    pub async fn lock(&mut self) -> Result<(), StaffError> {
        let sql = format!(
            "SELECT true FROM {} WHERE id = $1 FOR UPDATE",
            self.case.table()
        );
        let found: Option<bool> = sqlx::query_scalar(&sql)
            .bind(self.case.id())
            .fetch_optional(&mut *self.tx)
            .await?;
        found.map(drop).ok_or(StaffError::NotFound)
    }

    /// `UPDATE` of the case's row by the `SET` clause `set` (`$1`: its id).
    fn update_sql(&self, set: &str) -> String {
        format!("UPDATE {} SET {set} WHERE id = $1", self.case.table())
    }

    /// The transaction, for the action's own statements.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Changes the case's row: `set` is the `SET` clause, the case's id is
    /// `$1` and `value` is `$2`.
    pub async fn set<V>(&mut self, set: &str, value: V) -> sqlx::Result<()>
    where
        V: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send,
    {
        let sql = self.update_sql(set);
        let query = sqlx::query(&sql).bind(self.case.id()).bind(value);
        query.execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Changes the case's row by a `SET` clause without a value.
    pub async fn update(&mut self, set: &str) -> sqlx::Result<()> {
        let sql = self.update_sql(set);
        sqlx::query(&sql)
            .bind(self.case.id())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Announces `event` through the front's outbox, in the transaction:
    /// it goes out only if the action commits.
    pub async fn announce(&mut self, event: Event) -> sqlx::Result<()> {
        outbox::enqueue(&mut self.tx, Outbox::Front, event).await?;
        Ok(())
    }

    /// Audits `action` on the case with `details` (ids and names only), in
    /// the transaction, for an action that writes more than one row.
    pub async fn audit(&mut self, action: &str, details: serde_json::Value) -> sqlx::Result<()> {
        audit(&mut self.tx, self.who, action, Some(self.case), details).await
    }

    /// Audits `action` with `details` and commits.
    pub async fn commit(
        mut self,
        action: &str,
        details: serde_json::Value,
    ) -> Result<(), StaffError> {
        self.audit(action, details).await?;
        self.tx.commit().await?;
        Ok(())
    }

    /// Commits what was done (its audit rows already written).
    pub async fn done(self) -> Result<(), StaffError> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// Assigns a case to a principal (`None` unassigns; a conversation's claim
/// assigns it to the caller). An appeal's assignee must be an active
/// caseworker or admin token.
pub async fn assign(st: Staff<'_>, case: Case, to: Option<Uuid>) -> Result<(), StaffError> {
    let mut act = st.act(case).await?;
    act.lock().await?;
    let set = match case {
        Case::Appeal(_) => {
            if let Some(to) = to {
                let ok: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM admin_tokens WHERE id = $1 AND revoked_at IS NULL
                         AND role IN ('caseworker', 'admin'))",
                )
                .bind(to)
                .fetch_one(act.conn())
                .await?;
                if !ok {
                    return Err(StaffError::Invalid(
                        "the assignee must be an active caseworker or admin token".into(),
                    ));
                }
            }
            "assigned_to = $2, updated_at = now()"
        }
        Case::Conversation(_) => "assigned_to = $2",
    };
    act.set(set, to).await?;
    let action = match case {
        Case::Appeal(_) => "appeal.assign",
        Case::Conversation(_) => "conversation.assigned",
    };
    act.commit(action, serde_json::json!({ "to": to })).await
}
