//! Console sessions: a random id in a cookie (`HttpOnly; Secure;
//! SameSite=Strict`, path `/admin`), only its SHA-256 in the database, an
//! idle limit renewed on use and an absolute limit, and a CSRF token derived
//! from the id (so it needs no storage and dies with the session).
//!
//! A session is `second_factor` between a correct password (or link) and
//! the TOTP code, and `full` after; the id changes at that step and at
//! every sign-in, so an id seen before sign-in is worth nothing after.

use axum::extract::FromRequestParts;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use chrono::{Duration, Utc};
use nasvyazi_shared::auth::{Principal, Role};
use nasvyazi_shared::crypto::{random_token, token_hash};
use nasvyazi_shared::i18n::Lang;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::page::Problem;
use crate::AppState;
use crate::pages;

/// The session cookie.
pub const COOKIE: &str = "nsv_session";
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

/// A signed-in request (stage `full`).
pub struct Session {
    pub user: User,
    /// The token every form of this session carries.
    pub csrf: String,
    id_hash: Vec<u8>,
}

impl Session {
    pub fn csrf_ok(&self, posted: &str) -> bool {
        crate::csrf::session_ok(&self.csrf, posted)
    }

    /// 403 unless the person is admin or has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), Problem> {
        if self.user.role == Role::Admin || roles.contains(&self.user.role) {
            Ok(())
        } else {
            Err(Problem::Forbidden)
        }
    }

    pub fn principal(&self) -> Principal {
        self.user.principal()
    }

    /// Ends every other session of this person (after a new password).
    pub async fn end_others(&self, conn: &mut PgConnection) -> sqlx::Result<u64> {
        Ok(
            sqlx::query("DELETE FROM console_sessions WHERE user_id = $1 AND id_hash <> $2")
                .bind(self.user.id)
                .bind(&self.id_hash)
                .execute(conn)
                .await?
                .rows_affected(),
        )
    }

    /// Ends this session.
    pub async fn end(&self, db: &PgPool) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(&self.id_hash)
            .execute(db)
            .await?;
        Ok(())
    }
}

/// The cookie that holds `secret` (or, with `None`, removes it).
pub fn cookie(secret: Option<&str>) -> HeaderValue {
    let v = match secret {
        Some(s) => format!("{COOKIE}={s}; Path=/admin; HttpOnly; Secure; SameSite=Strict"),
        None => format!("{COOKIE}=; Path=/admin; HttpOnly; Secure; SameSite=Strict; Max-Age=0"),
    };
    HeaderValue::from_str(&v).expect("cookie is ASCII")
}

/// Starts a session for `user_id` at `stage`; returns the cookie's secret.
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

/// The secret in the request's cookie, if it looks like one of ours.
pub fn secret(headers: &HeaderMap) -> Option<String> {
    pages::cookie(headers, COOKIE).filter(|s| (40..=50).contains(&s.len()))
}

type Row = (Uuid, String, String, String, bool, String);

/// The session behind `secret` at `stage`, renewed; `None` if there is none.
pub async fn find(db: &PgPool, secret: &str, stage: &str) -> sqlx::Result<Option<Session>> {
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
        Some(Session {
            user: User {
                id,
                name,
                role: Role::parse(&role)?,
                lang: Lang::parse(&language).unwrap_or(Lang::Ru),
                has_totp,
            },
            csrf: crate::csrf::of_session(secret),
            id_hash,
        })
    }))
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let secret = secret(&parts.headers).ok_or(Problem::SignIn)?;
        find(&state.infra.db, &secret, "full")
            .await?
            .ok_or(Problem::SignIn)
    }
}

/// A session waiting for its TOTP code.
pub struct Pending(pub Session);

impl FromRequestParts<AppState> for Pending {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let secret = secret(&parts.headers).ok_or(Problem::SignIn)?;
        find(&state.infra.db, &secret, "second_factor")
            .await?
            .map(Pending)
            .ok_or(Problem::SignIn)
    }
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

/// Adds `Set-Cookie` for `secret` to a response.
pub fn set(res: &mut axum::response::Response, secret: Option<&str>) {
    res.headers_mut().append(header::SET_COOKIE, cookie(secret));
}
