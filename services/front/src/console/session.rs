//! Console sessions over HTTP: the session's secret in a cookie
//! (`HttpOnly; Secure; SameSite=Strict`, path `/admin`), the extractors
//! that find its row, and a CSRF token derived from the secret (so it
//! needs no storage and dies with the session). The rows (only the
//! secret's SHA-256, the idle and absolute limits, the `second_factor` and
//! `full` stages) are `nasvyazi_staff::sessions`.

use axum::extract::FromRequestParts;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use nasvyazi_shared::auth::{Principal, Role};
use sqlx::{PgConnection, PgPool};

use super::page::Problem;
use crate::AppState;
use crate::pages;

pub use nasvyazi_staff::sessions::{
    ABSOLUTE, IDLE, SECOND_FACTOR, User, end_all, end_waiting, start,
};

/// The session cookie.
pub const COOKIE: &str = "nsv_session";

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
        nasvyazi_staff::sessions::end_others(conn, self.user.id, &self.id_hash).await
    }

    /// Ends this session.
    pub async fn end(&self, db: &PgPool) -> sqlx::Result<()> {
        nasvyazi_staff::sessions::end(db, &self.id_hash).await
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

/// The secret in the request's cookie, if it looks like one of ours.
pub fn secret(headers: &HeaderMap) -> Option<String> {
    pages::cookie(headers, COOKIE).filter(|s| (40..=50).contains(&s.len()))
}

/// The session behind `secret` at `stage`, renewed, with the CSRF token
/// of its forms; `None` if there is none.
pub async fn find(db: &PgPool, secret: &str, stage: &str) -> sqlx::Result<Option<Session>> {
    let found = nasvyazi_staff::sessions::find(db, secret, stage).await?;
    Ok(found.map(|f| Session {
        user: f.user,
        csrf: crate::csrf::of_session(secret),
        id_hash: f.id_hash,
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

/// Adds `Set-Cookie` for `secret` to a response.
pub fn set(res: &mut axum::response::Response, secret: Option<&str>) {
    res.headers_mut().append(header::SET_COOKIE, cookie(secret));
}
