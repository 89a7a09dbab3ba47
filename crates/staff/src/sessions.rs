//! Console sessions, as rows: only the SHA-256 of a session's secret is
//! stored, with an idle limit renewed on use and an absolute limit. A
//! session is `second_factor` between a correct password (or link) and the
//! TOTP code, and `full` after; a new secret is issued at that step and at
//! every sign-in, so a secret seen before sign-in is worth nothing after.
//! (The cookie that carries the secret, and the CSRF token derived from
//! it, are the front's: `console::session`.)
//!
//! It must never log a secret or store one in clear.

use chrono::{Duration, Utc};
use nasvyazi_crypto::{random_token, token_hash};
use nasvyazi_platform::i18n::Lang;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::auth::{Principal, Role};

/// A session ends after this long without a request...
pub const IDLE: Duration = Duration::hours(12);
/// ... and this long after sign-in in any case.
pub const ABSOLUTE: Duration = Duration::days(7);
/// Between the password and the TOTP code.
pub const SECOND_FACTOR: Duration = Duration::minutes(5);

/// The signed-in person, as pages need them.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub lang: Lang,
    pub has_totp: bool,
}

impl User {
    /// As the domain functions and the audit log know them: `user:<id>`.
    pub fn principal(&self) -> Principal {
        Principal::user(self.id, self.role)
    }
}

/// A live session: whose it is, and the hash that names its row.
pub struct Found {
    pub user: User,
    pub id_hash: Vec<u8>,
}

/// Starts a session for `user_id` at `stage`; returns the secret.
/// Expired sessions of anyone are swept on the way (sign-ins are rare).
pub async fn start(conn: &mut PgConnection, user_id: Uuid, stage: &str) -> sqlx::Result<String> {
    sqlx::query("DELETE FROM console_sessions WHERE expires_at < now()")
        .execute(&mut *conn)
        .await?;
    let secret = random_token(32);
    let now = Utc::now();
    let (expires, max) = if stage == "full" {
        (now + IDLE, now + ABSOLUTE)
    } else {
        (now + SECOND_FACTOR, now + SECOND_FACTOR)
    };
    sqlx::query(
        "INSERT INTO console_sessions (id_hash, user_id, stage, expires_at, max_expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(&secret))
    .bind(user_id)
    .bind(stage)
    .bind(expires)
    .bind(max)
    .execute(&mut *conn)
    .await?;
    Ok(secret)
}

type Row = (Uuid, String, String, String, bool, String);

/// The session behind `secret` at `stage`, renewed; `None` if there is none.
pub async fn find(db: &PgPool, secret: &str, stage: &str) -> sqlx::Result<Option<Found>> {
    let id_hash = token_hash(secret);
    let row: Option<Row> = sqlx::query_as(
        "WITH s AS (
             UPDATE console_sessions
             SET last_seen_at = now(),
                 expires_at = CASE WHEN stage = 'full' THEN least(max_expires_at, now() + make_interval(secs => $3))
                                   ELSE expires_at END
             WHERE id_hash = $1 AND stage = $2 AND expires_at > now()
             RETURNING user_id)
         SELECT u.id, u.name, u.role, u.language, u.totp_ct IS NOT NULL, $2
         FROM s JOIN console_users u ON u.id = s.user_id
         WHERE u.disabled_at IS NULL",
    )
    .bind(&id_hash)
    .bind(stage)
    .bind(IDLE.num_seconds() as f64)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|(id, name, role, language, has_totp, _)| {
        Some(Found {
            user: User {
                id,
                name,
                role: Role::parse(&role)?,
                lang: Lang::parse(&language).unwrap_or(Lang::Ru),
                has_totp,
            },
            id_hash,
        })
    }))
}

/// Ends every session of `user_id` but the one whose hash is `id_hash`
/// (after a new password).
pub async fn end_others(
    conn: &mut PgConnection,
    user_id: Uuid,
    id_hash: &[u8],
) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM console_sessions WHERE user_id = $1 AND id_hash <> $2")
            .bind(user_id)
            .bind(id_hash)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Ends the session whose hash is `id_hash`.
pub async fn end(db: &PgPool, id_hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes every session of a user ("sign out everywhere", a disabled
/// account, a new password). Returns how many.
pub async fn end_all(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM console_sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Ends every session of a user still waiting for its TOTP code (one
/// waiting session per user; all end at a lock or a complete sign-in).
pub async fn end_waiting(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM console_sessions WHERE user_id = $1 AND stage = 'second_factor'")
            .bind(user_id)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
