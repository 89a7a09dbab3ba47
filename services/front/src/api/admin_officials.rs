//! `/api/v1/admin/officials` (role organiser or admin, every change
//! audited): the directory, and its CSV import (all rows or none, with a
//! per-row error report) and export. The directory is `nasvyazi-letters`'
//! (`officials`); these handlers only adapt HTTP to it and must never put
//! a name or an address in an error or a log line.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nasvyazi_letters::Official;
use nasvyazi_letters::officials::csv_io::{self, RowError};
use nasvyazi_letters::officials::{self, Imported, OfficialInput, Refused};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::error::{ApiError, ApiJson, ErrorDetail};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Admin;

const ROLES: &[Role] = &[Role::Organiser];
type E = nasvyazi_shared::error::ErrorBody;

/// An official as the API shows it (to organisers only).
#[derive(Debug, Serialize, ToSchema)]
pub struct OfficialView {
    pub id: Uuid,
    pub name: String,
    pub position: String,
    pub organisation: String,
    pub email: String,
    pub language: String,
    pub time_zone: String,
    pub office_hours: String,
    pub daily_cap: Option<i32>,
    pub version: i32,
}

impl From<Official> for OfficialView {
    fn from(o: Official) -> Self {
        OfficialView {
            id: o.id,
            email: o.email.expose().to_string(),
            language: o.language.code().into(),
            time_zone: o.time_zone.name().into(),
            office_hours: o.hours.to_string(),
            name: o.name,
            position: o.position,
            organisation: o.organisation,
            daily_cap: o.daily_cap,
            version: o.version,
        }
    }
}

fn refused(r: Refused) -> ApiError {
    match r {
        Refused::NotFound => ApiError::not_found(),
        Refused::Duplicate => ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            "another official has this email address",
        ),
        Refused::InUse => ApiError::new(
            StatusCode::CONFLICT,
            "in_use",
            "an approved letter targets this official",
        ),
    }
}

async fn load(state: &AppState, id: Uuid) -> Result<OfficialView, ApiError> {
    nasvyazi_letters::records::load_official(&state.infra.db, &state.keys, id)
        .await
        .map_err(|e| ApiError::internal(e.into()))?
        .map(OfficialView::from)
        .ok_or_else(ApiError::not_found)
}

fn validate(state: &AppState, input: &OfficialInput) -> Result<officials::Valid, ApiError> {
    input
        .validate(&state.infra.config)
        .map_err(|e| ApiError::validation(format!("{}: {}", e.column, e.reason)))
}

/// The directory, by organisation and name.
#[utoipa::path(get, path = "/api/v1/admin/officials", tag = "letters", security(("bearer" = [])),
    responses((status = 200, body = [OfficialView]), (status = 401, body = E), (status = 403, body = E)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<ApiJson<Vec<OfficialView>>, ApiError> {
    admin.require(ROLES)?;
    let all = officials::list(&state.infra.db, &state.keys).await?;
    Ok(ApiJson(all.into_iter().map(OfficialView::from).collect()))
}

/// Adds an official.
#[utoipa::path(post, path = "/api/v1/admin/officials", tag = "letters", security(("bearer" = [])),
    request_body = OfficialInput,
    responses((status = 201, body = OfficialView), (status = 401, body = E), (status = 403, body = E),
              (status = 409, body = E), (status = 422, body = E)))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(input): ApiJson<OfficialInput>,
) -> Result<(StatusCode, ApiJson<OfficialView>), ApiError> {
    let who = admin.require(ROLES)?;
    let v = validate(&state, &input)?;
    let id = officials::create(&state.infra.db, &state.keys, who, &v)
        .await?
        .map_err(refused)?;
    Ok((StatusCode::CREATED, ApiJson(load(&state, id).await?)))
}

/// One official.
#[utoipa::path(get, path = "/api/v1/admin/officials/{id}", tag = "letters", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = OfficialView), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E)))]
pub async fn get_one(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<OfficialView>, ApiError> {
    admin.require(ROLES)?;
    Ok(ApiJson(load(&state, id).await?))
}

/// Replaces an official's entry.
#[utoipa::path(put, path = "/api/v1/admin/officials/{id}", tag = "letters", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = OfficialInput,
    responses((status = 200, body = OfficialView), (status = 401, body = E), (status = 403, body = E),
              (status = 404, body = E), (status = 409, body = E), (status = 422, body = E)))]
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    ApiJson(input): ApiJson<OfficialInput>,
) -> Result<ApiJson<OfficialView>, ApiError> {
    let who = admin.require(ROLES)?;
    let v = validate(&state, &input)?;
    officials::update(&state.infra.db, &state.keys, who, id, &v)
        .await?
        .map_err(refused)?;
    Ok(ApiJson(load(&state, id).await?))
}

/// Removes an official no approved letter targets.
#[utoipa::path(delete, path = "/api/v1/admin/officials/{id}", tag = "letters", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E), (status = 409, body = E)))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let who = admin.require(ROLES)?;
    officials::delete(&state.infra.db, who, id)
        .await?
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

/// An officials CSV file (UTF-8, RFC 4180): a header row naming the
/// columns (`name`, `position`, `organisation` and `email` required;
/// `language`, `time_zone`, `office_hours`, `daily_cap` optional; `id`
/// ignored), then one row per official, each address once, at most 5000
/// rows. The pattern shows the simplest such file: the four required
/// columns and one plain row.
#[derive(ToSchema)]
#[schema(
    as = OfficialsCsv,
    pattern = r#"^name,position,organisation,email(\r?\n[^\s,"\x00-\x1f\x7f-\x9f]([^,"\x00-\x1f\x7f-\x9f]{0,298}[^\s,"\x00-\x1f\x7f-\x9f])?,[^\s,"\x00-\x1f\x7f-\x9f]([^,"\x00-\x1f\x7f-\x9f]{0,298}[^\s,"\x00-\x1f\x7f-\x9f])?,[^\s,"\x00-\x1f\x7f-\x9f]([^,"\x00-\x1f\x7f-\x9f]{0,298}[^\s,"\x00-\x1f\x7f-\x9f])?,[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,30}(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}){0,2}@([A-Za-z0-9]{1,20}\.){1,3}[A-Za-z]{2,10})?(\r?\n)?$"#
)]
#[allow(dead_code)]
pub struct OfficialsCsv(String);

/// The answer to an import with bad rows: nothing was stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportRejected {
    pub error: ErrorDetail,
    /// Every bad row: line in the file (header = 1), column, reason.
    pub rows: Vec<RowError>,
}

/// Imports a CSV file (`Content-Type: text/csv`): every row is stored in
/// one transaction, or, if any row is bad, none (422 with every bad row).
/// A row whose address is in the directory updates that official.
#[utoipa::path(post, path = "/api/v1/admin/officials/import", tag = "letters", security(("bearer" = [])),
    request_body(content = OfficialsCsv, content_type = "text/csv"),
    responses((status = 200, body = Imported), (status = 401, body = E), (status = 403, body = E),
              (status = 415, body = E), (status = 422, body = ImportRejected)))]
pub async fn import(
    State(state): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = admin.require(ROLES)?;
    let csv_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    if !csv_type {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: text/csv",
        ));
    }
    match csv_io::parse(&state.infra.config, &body) {
        Ok(rows) => {
            let done = officials::import(
                &state.infra.db,
                &state.keys,
                &who.actor(),
                Some(who.role),
                &rows,
            )
            .await?;
            Ok(ApiJson(done).into_response())
        }
        Err(rows) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            ApiJson(ImportRejected {
                error: ErrorDetail {
                    code: "invalid_rows".into(),
                    message: format!("{} bad row(s); nothing was imported", rows.len()),
                },
                rows,
            }),
        )
            .into_response()),
    }
}

/// The directory as CSV (the import's format, with ids).
#[utoipa::path(get, path = "/api/v1/admin/officials/export", tag = "letters", security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = E), (status = 403, body = E)))]
pub async fn export(State(state): State<AppState>, admin: Admin) -> Result<Response, ApiError> {
    admin.require(ROLES)?;
    let all = officials::list(&state.infra.db, &state.keys).await?;
    let bytes = csv_io::export(&all)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"officials.csv\"",
            ),
        ],
        bytes,
    )
        .into_response())
}
