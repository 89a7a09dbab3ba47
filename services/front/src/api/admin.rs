//! The admin API's foundation: who am I, tokens, places, the audit log.
//! Every change writes an audit row in the same transaction.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use nasvyazi_shared::auth::{self, Role};
use nasvyazi_shared::error::{ApiError, ApiJson};
use nasvyazi_supporters::regions::{self, Names};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Admin;

/// Tokens, places, the audit log and who the caller is (staff listener).
pub fn routes() -> super::Api {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(whoami))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(add_place))
        .routes(routes!(audit_log))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    pub token_id: Uuid,
    pub role: Role,
}

/// The calling token's id and role.
#[utoipa::path(get, path = "/api/v1/admin/whoami", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = WhoAmI), (status = 401, body = nasvyazi_shared::error::ErrorBody)))]
pub async fn whoami(admin: Admin) -> ApiJson<WhoAmI> {
    ApiJson(WhoAmI {
        token_id: admin.0.token_id,
        role: admin.0.role,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub role: Role,
    /// A label for the token, e.g. "console" or "aigerim-laptop".
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: Uuid,
    pub role: Role,
    pub name: String,
    /// The bearer token: shown this once, stored only as a hash.
    pub token: String,
}

/// Creates a token (admin only). The token is in this answer and nowhere else.
#[utoipa::path(post, path = "/api/v1/admin/tokens", tag = "admin", security(("bearer" = [])),
    request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 401, body = nasvyazi_shared::error::ErrorBody),
              (status = 403, body = nasvyazi_shared::error::ErrorBody), (status = 422, body = nasvyazi_shared::error::ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, ApiJson<CreatedToken>), ApiError> {
    let who = admin.require(&[])?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::validation("name: 1 to 100 characters"));
    }
    let mut tx = state.infra.db.begin().await?;
    let new = auth::create_token(&mut tx, body.role, name, &who.actor()).await?;
    auth::audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "token.create",
        Some(&new.id.to_string()),
        serde_json::json!({ "role": body.role.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedToken {
            id: new.id,
            role: body.role,
            name: name.to_string(),
            token: new.token.expose_secret().to_string(),
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Lists tokens (never their secrets; admin only).
#[utoipa::path(get, path = "/api/v1/admin/tokens", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [TokenInfo]), (status = 401, body = nasvyazi_shared::error::ErrorBody),
              (status = 403, body = nasvyazi_shared::error::ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<ApiJson<Vec<TokenInfo>>, ApiError> {
    admin.require(&[])?;
    let rows = sqlx::query_as::<_, TokenInfo>(
        "SELECT id, name, role, created_at, revoked_at, last_used_at FROM admin_tokens ORDER BY created_at",
    )
    .fetch_all(&state.infra.db)
    .await?;
    Ok(ApiJson(rows))
}

/// Revokes a token (admin only).
#[utoipa::path(delete, path = "/api/v1/admin/tokens/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "token id")),
    responses((status = 204), (status = 401, body = nasvyazi_shared::error::ErrorBody),
              (status = 403, body = nasvyazi_shared::error::ErrorBody), (status = 404, body = nasvyazi_shared::error::ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let who = admin.require(&[])?;
    let mut tx = state.infra.db.begin().await?;
    let n = sqlx::query(
        "UPDATE admin_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(ApiError::not_found());
    }
    auth::audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "token.revoke",
        Some(&id.to_string()),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlace {
    /// Region code: an existing one to add a city, or a new one.
    #[schema(pattern = "^[a-z0-9_]{1,40}$")]
    pub region: String,
    /// City code to add inside `region`; absent to add a region.
    #[schema(pattern = "^[a-z0-9_]{1,40}$")]
    pub city: Option<String>,
    pub name: Names,
}

fn valid_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Adds a region or a city to the reference list (organiser or admin).
#[utoipa::path(post, path = "/api/v1/admin/places", tag = "admin", security(("bearer" = [])),
    request_body = NewPlace,
    responses((status = 201, description = "added"), (status = 401, body = nasvyazi_shared::error::ErrorBody),
              (status = 403, body = nasvyazi_shared::error::ErrorBody), (status = 409, body = nasvyazi_shared::error::ErrorBody),
              (status = 422, body = nasvyazi_shared::error::ErrorBody)))]
pub async fn add_place(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<NewPlace>,
) -> Result<StatusCode, ApiError> {
    let who = admin.require(&[Role::Organiser])?;
    let city = body.city.clone().unwrap_or_default();
    if !valid_code(&body.region) || !(city.is_empty() || valid_code(&city)) {
        return Err(ApiError::validation(
            "region and city codes: 1-40 of a-z, 0-9 and _",
        ));
    }
    for (lang, n) in [
        ("ru", &body.name.ru),
        ("kk", &body.name.kk),
        ("en", &body.name.en),
    ] {
        if n.trim().is_empty() || n.chars().count() > 200 {
            return Err(ApiError::validation(format!(
                "name.{lang}: 1 to 200 characters"
            )));
        }
    }
    let existing = nasvyazi_supporters::regions::load(&state.infra.db).await?;
    let known = if city.is_empty() {
        regions::is_known(&existing, &body.region, None)
    } else {
        if !regions::is_known(&existing, &body.region, None) {
            return Err(ApiError::validation("region: no such region; add it first"));
        }
        regions::is_known(&existing, &body.region, Some(&city))
    };
    if known {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            "this place already exists",
        ));
    }
    let mut tx = state.infra.db.begin().await?;
    sqlx::query(
        "INSERT INTO custom_places (region_code, city_code, name_ru, name_kk, name_en) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING",
    )
    .bind(&body.region)
    .bind(&city)
    .bind(body.name.ru.trim())
    .bind(body.name.kk.trim())
    .bind(body.name.en.trim())
    .execute(&mut *tx)
    .await?;
    auth::audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "place.add",
        Some(&format!("{}/{}", body.region, city)),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At most this many rows, newest first (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_role: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub details: serde_json::Value,
}

/// The audit log, newest first (admin only).
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("bearer" = [])),
    params(AuditQuery),
    responses((status = 200, body = [AuditRow]), (status = 401, body = nasvyazi_shared::error::ErrorBody),
              (status = 403, body = nasvyazi_shared::error::ErrorBody)))]
pub async fn audit_log(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<AuditQuery>,
) -> Result<ApiJson<Vec<AuditRow>>, ApiError> {
    admin.require(&[])?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = sqlx::query_as::<_, AuditRow>(
        "SELECT id, at, actor, actor_role, action, target, details FROM audit_log ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&state.infra.db)
    .await?;
    Ok(ApiJson(rows))
}
