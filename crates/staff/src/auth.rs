//! Admin API tokens and the audit log.
//!
//! A token is `nsv_` + 32 random bytes (base64url), shown once at creation;
//! only its SHA-256 is stored (tokens are high-entropy, so a fast hash is
//! enough, as for GitHub's). Roles: admin (everything), organiser
//! (campaigns, letters, supporters), caseworker (appeals).

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use nasvyazi_crypto::{random_token, token_hash};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Organiser,
    Caseworker,
    Consultant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Organiser => "organiser",
            Role::Caseworker => "caseworker",
            Role::Consultant => "consultant",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "organiser" => Some(Role::Organiser),
            "caseworker" => Some(Role::Caseworker),
            "consultant" => Some(Role::Consultant),
            _ => None,
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(s).ok_or_else(|| format!("unknown role `{s}` (admin, organiser, caseworker)"))
    }
}

/// Who is calling the admin API.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's id, or the console user's id (see `kind`).
    pub token_id: Uuid,
    pub role: Role,
    pub kind: PrincipalKind,
}

/// An API token, or a person signed in to the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    Token,
    User,
}

impl Principal {
    /// Admin may do everything; others only what `allowed` lists.
    pub fn may(&self, allowed: &[Role]) -> bool {
        self.role == Role::Admin || allowed.contains(&self.role)
    }

    /// A person signed in to the console.
    pub fn user(id: Uuid, role: Role) -> Principal {
        Principal {
            token_id: id,
            role,
            kind: PrincipalKind::User,
        }
    }

    /// The audit actor string: `token:<id>` or `user:<id>`, never a
    /// person's name.
    pub fn actor(&self) -> String {
        match self.kind {
            PrincipalKind::Token => format!("token:{}", self.token_id),
            PrincipalKind::User => format!("user:{}", self.token_id),
        }
    }
}

/// A created token: the only time the secret exists outside the caller.
pub struct NewToken {
    pub id: Uuid,
    pub token: secrecy::SecretString,
}

/// Creates a token in the caller's transaction.
pub async fn create_token(
    conn: &mut PgConnection,
    role: Role,
    name: &str,
    created_by: &str,
) -> sqlx::Result<NewToken> {
    let id = Uuid::now_v7();
    let token = format!("nsv_{}", random_token(32));
    sqlx::query(
        "INSERT INTO admin_tokens (id, name, role, token_hash, created_by) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(name)
    .bind(role.as_str())
    .bind(token_hash(&token))
    .bind(created_by)
    .execute(conn)
    .await?;
    Ok(NewToken {
        id,
        token: token.into(),
    })
}

/// Looks a presented token up; revoked and unknown tokens are `None`.
pub async fn verify_token(db: &PgPool, token: &str) -> sqlx::Result<Option<Principal>> {
    if !token.starts_with("nsv_") || token.len() > 100 {
        return Ok(None);
    }
    let row: Option<(Uuid, String)> = sqlx::query_as(
        "UPDATE admin_tokens SET last_used_at = now()
         WHERE token_hash = $1 AND revoked_at IS NULL
         RETURNING id, role",
    )
    .bind(token_hash(token))
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|(token_id, role)| {
        Role::parse(&role).map(|role| Principal {
            token_id,
            role,
            kind: PrincipalKind::Token,
        })
    }))
}

/// Writes an audit row in the caller's transaction. `details` holds ids and
/// settings, never personal data.
pub async fn audit(
    conn: &mut PgConnection,
    actor: &str,
    actor_role: Option<Role>,
    action: &str,
    target: Option<&str>,
    details: serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (actor, actor_role, action, target, details) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(actor)
    .bind(actor_role.map(Role::as_str))
    .bind(action)
    .bind(target)
    .bind(details)
    .execute(conn)
    .await?;
    Ok(())
}
