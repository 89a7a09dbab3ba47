//! The admin API's bearer-token extractor. A missing or unknown token is
//! 401, a known token of the wrong role 403 (checked by the handler with
//! [`require`]); both answer in the JSON error shape.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use nasvyazi_shared::auth::{Principal, Role, verify_token};
use nasvyazi_shared::error::ApiError;

use crate::AppState;

/// The authenticated caller of an admin route.
pub struct Admin(pub Principal);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(ApiError::unauthorized)?
            .trim();
        let principal = verify_token(&state.infra.db, token)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Admin(principal))
    }
}

impl Admin {
    /// 403 unless the caller is admin or one of `allowed`.
    pub fn require(&self, allowed: &[Role]) -> Result<&Principal, ApiError> {
        if self.0.may(allowed) {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden())
        }
    }
}
