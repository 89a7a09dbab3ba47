//! The media library (issue 16, first part): organisers upload images,
//! GIF/MP4 animations, videos and PDFs once; campaigns will refer to them
//! by id. `/api/v1/admin/media` on the staff listener, role organiser or
//! admin, every change audited.
//!
//! A file is taken by its content alone ([`content::sniff`]), within
//! Telegram's bot limits (`media.photo_max_bytes`, `media.file_max_bytes`)
//! and the library's quota (`media.quota_bytes`), its metadata stripped
//! ([`content::strip`]: one allowlist walker per format; a file it cannot
//! clean is refused, 415, with the reason), and stored once per SHA-256 of the stored bytes in
//! PostgreSQL (`media.content`, bytea): uploading the same file again
//! answers 200 with the existing entry (its alt texts unchanged) instead
//! of 201. The quota is checked under a transaction-scoped advisory lock,
//! so two uploads at once cannot both squeeze under it.

pub use nasvyazi_media::content;

use axum::body::Bytes;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use nasvyazi_shared::auth::{Principal, Role, audit};
use nasvyazi_shared::config::MediaConfig;
use nasvyazi_shared::error::{ApiError, ApiJson};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::api::body_limit;
use crate::auth::Admin;
use content::Kind;

const ROLES: &[Role] = &[Role::Organiser];
type E = nasvyazi_shared::error::ErrorBody;

/// Longest alt text, in characters.
const ALT_MAX_CHARS: usize = 1000;
/// The transaction-scoped advisory lock the quota check holds.
const QUOTA_LOCK: i64 = 0x6d65_6469_6171; // "mediaq"

/// The media library's routes and the channels registry's (one merge in
/// `api::staff_router`).
pub fn routes() -> crate::api::Api {
    // The largest file Telegram takes, plus room for the form's other
    // fields and boundaries; the configured limits are checked as it reads.
    let upload = MediaConfig::TELEGRAM_FILE_MAX + 256 * 1024;
    OpenApiRouter::new()
        .routes(body_limit(routes!(upload_file, list), upload))
        .routes(routes!(usage))
        .routes(routes!(get_one, delete))
        .routes(routes!(file))
        .merge(crate::channels::routes())
        .merge(crate::posts::routes())
}

/// A file in the library, as the API shows it (never its bytes).
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct MediaView {
    pub id: Uuid,
    /// image, animation, video or document.
    pub kind: String,
    pub mime: String,
    /// Size as stored (after metadata was removed).
    pub bytes: i64,
    /// SHA-256 of the stored bytes, hex.
    pub sha256: String,
    pub alt_ru: String,
    pub alt_kk: String,
    pub alt_en: String,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, kind, mime, bytes, sha256, alt_ru, alt_kk, alt_en, created_at";

/// Documentation only: the upload form.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file: JPEG, PNG, WebP (at most `media.photo_max_bytes`), GIF,
    /// MP4 or PDF (at most `media.file_max_bytes`), by content.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Alt text in Russian (at most 1000 characters).
    alt_ru: Option<String>,
    alt_kk: Option<String>,
    alt_en: Option<String>,
}

/// How full the library is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    pub files: i64,
    pub used_bytes: i64,
    pub quota_bytes: u64,
}

fn too_large(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
}

fn unsupported(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        message,
    )
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large("the request body is too large")
    } else {
        ApiError::bad_request("the body is not a valid multipart form")
    }
}

/// A field's bytes, `None` once they pass `max` (the rest is not read).
async fn read_capped(field: &mut Field<'_>, max: usize) -> Result<Option<Vec<u8>>, ApiError> {
    let mut out = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if out.len() + chunk.len() > max {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

/// Uploads a file to the library.
#[utoipa::path(post, path = "/api/v1/admin/media", tag = "media", security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, description = "stored", body = MediaView),
              (status = 200, description = "the same file was stored already", body = MediaView),
              (status = 401, body = E), (status = 403, body = E),
              (status = 413, description = "over the size limit or the quota", body = E),
              (status = 415, description = "not an allowed type (by content), or its metadata cannot be removed (the message says why)", body = E),
              (status = 422, body = E)))]
pub async fn upload_file(
    State(state): State<AppState>,
    admin: Admin,
    mut form: Multipart,
) -> Result<(StatusCode, ApiJson<MediaView>), ApiError> {
    let who = admin.require(ROLES)?;
    let upload = read_upload(&mut form, &state.infra.config.media).await?;
    let (status, view) = store(&state, who, upload).await?;
    Ok((status, ApiJson(view)))
}

/// An upload form as read: the file, the alt texts (ru, kk, en) and, from
/// the console's form, its CSRF token.
pub struct Upload {
    pub file: Option<Vec<u8>>,
    pub alt: [String; 3],
    pub csrf: Option<String>,
}

/// Reads an upload form within the configured size limit.
pub async fn read_upload(form: &mut Multipart, limits: &MediaConfig) -> Result<Upload, ApiError> {
    let mut file: Option<Vec<u8>> = None;
    let mut alt = [String::new(), String::new(), String::new()];
    let mut csrf = None;
    while let Some(mut field) = form.next_field().await.map_err(multipart_error)? {
        let slot = match field.name() {
            Some("file") => None,
            Some("alt_ru") => Some(0),
            Some("alt_kk") => Some(1),
            Some("alt_en") => Some(2),
            Some("csrf") => {
                csrf = read_capped(&mut field, 256)
                    .await?
                    .and_then(|b| String::from_utf8(b).ok());
                continue;
            }
            _ => continue,
        };
        match slot {
            None => {
                let bytes = read_capped(&mut field, limits.file_max_bytes)
                    .await?
                    .ok_or_else(|| {
                        too_large(format!(
                            "files may be at most {} bytes (photos {})",
                            limits.file_max_bytes, limits.photo_max_bytes
                        ))
                    })?;
                file = Some(bytes);
            }
            Some(n) => {
                let text = read_capped(&mut field, ALT_MAX_CHARS * 4)
                    .await?
                    .and_then(|b| String::from_utf8(b).ok())
                    .map(|t| t.trim().to_string())
                    .filter(|t| t.chars().count() <= ALT_MAX_CHARS && !t.contains('\0'))
                    .ok_or_else(|| {
                        ApiError::validation("alt texts: at most 1000 characters of text")
                    })?;
                alt[n] = text;
            }
        }
    }
    Ok(Upload { file, alt, csrf })
}

/// Stores an uploaded file (201), or finds it stored already (200).
pub async fn store(
    state: &AppState,
    who: &Principal,
    upload: Upload,
) -> Result<(StatusCode, MediaView), ApiError> {
    let limits = &state.infra.config.media;
    let Upload { file, alt, .. } = upload;
    let file = file
        .filter(|f| !f.is_empty())
        .ok_or_else(|| ApiError::validation("file: a non-empty file is required"))?;
    let sniffed = content::sniff(&file).ok_or_else(|| {
        unsupported("the file's content is not a JPEG, PNG, WebP, GIF, MP4 or PDF")
    })?;
    if sniffed.kind == Kind::Image && file.len() > limits.photo_max_bytes {
        return Err(too_large(format!(
            "photos may be at most {} bytes",
            limits.photo_max_bytes
        )));
    }
    // A file whose metadata cannot be removed is not stored at all; the
    // reason is fixed text (nothing read from the file). Parsing a 50 MB
    // PDF takes a while: off the async threads.
    let stored = tokio::task::spawn_blocking(move || content::strip(sniffed, Bytes::from(file)))
        .await
        .map_err(|e| ApiError::internal(e.into()))?
        .map_err(|refused| unsupported(format!("not stored: {}", refused.0)))?;
    let sha256 = format!("{:x}", Sha256::digest(&stored));
    let size = stored.len() as i64;

    let mut tx = state.infra.db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(QUOTA_LOCK)
        .execute(&mut *tx)
        .await?;
    let existing: Option<MediaView> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM media WHERE sha256 = $1"))
            .bind(&sha256)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(existing) = existing {
        tx.commit().await?;
        return Ok((StatusCode::OK, existing));
    }
    let used: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(bytes), 0)::bigint FROM media")
        .fetch_one(&mut *tx)
        .await?;
    if (used as u64).saturating_add(size as u64) > limits.quota_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "quota_exceeded",
            format!(
                "the media library is full ({used} of {} bytes used); delete files first",
                limits.quota_bytes
            ),
        ));
    }
    let id = Uuid::now_v7();
    let [alt_ru, alt_kk, alt_en] = alt;
    let view: MediaView = sqlx::query_as(&format!(
        "INSERT INTO media (id, kind, mime, bytes, sha256, content, alt_ru, alt_kk, alt_en, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(sniffed.kind.as_str())
    .bind(sniffed.mime)
    .bind(size)
    .bind(&sha256)
    .bind(stored.as_ref())
    .bind(alt_ru)
    .bind(alt_kk)
    .bind(alt_en)
    .bind(who.actor())
    .fetch_one(&mut *tx)
    .await?;
    audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "media.upload",
        Some(&id.to_string()),
        serde_json::json!({ "kind": view.kind, "bytes": size }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, view))
}

/// Lists the library, newest first (at most 500).
#[utoipa::path(get, path = "/api/v1/admin/media", tag = "media", security(("bearer" = [])),
    responses((status = 200, body = [MediaView]), (status = 401, body = E), (status = 403, body = E)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<ApiJson<Vec<MediaView>>, ApiError> {
    admin.require(ROLES)?;
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM media ORDER BY created_at DESC, id DESC LIMIT 500"
    ))
    .fetch_all(&state.infra.db)
    .await?;
    Ok(ApiJson(rows))
}

/// How much of the quota the library uses.
#[utoipa::path(get, path = "/api/v1/admin/media/usage", tag = "media", security(("bearer" = [])),
    responses((status = 200, body = Usage), (status = 401, body = E), (status = 403, body = E)))]
pub async fn usage(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<ApiJson<Usage>, ApiError> {
    admin.require(ROLES)?;
    let (files, used_bytes): (i64, i64) =
        sqlx::query_as("SELECT count(*), COALESCE(SUM(bytes), 0)::bigint FROM media")
            .fetch_one(&state.infra.db)
            .await?;
    Ok(ApiJson(Usage {
        files,
        used_bytes,
        quota_bytes: state.infra.config.media.quota_bytes,
    }))
}

/// One file's entry.
#[utoipa::path(get, path = "/api/v1/admin/media/{id}", tag = "media", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = MediaView), (status = 401, body = E), (status = 403, body = E),
              (status = 404, body = E)))]
pub async fn get_one(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<MediaView>, ApiError> {
    admin.require(ROLES)?;
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM media WHERE id = $1"))
        .bind(id)
        .fetch_optional(&state.infra.db)
        .await?
        .map(ApiJson)
        .ok_or_else(ApiError::not_found)
}

/// The stored bytes (metadata removed), with their type; sandboxed so a
/// file opened in the browser can run nothing.
#[utoipa::path(get, path = "/api/v1/admin/media/{id}/file", tag = "media", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "the file", content_type = "application/octet-stream", body = Vec<u8>),
              (status = 401, body = E), (status = 403, body = E), (status = 404, body = E)))]
pub async fn file(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    admin.require(ROLES)?;
    file_response(&state, id).await
}

/// A stored file as a response, sandboxed (also the console's thumbnails).
pub async fn file_response(state: &AppState, id: Uuid) -> Result<Response, ApiError> {
    let (mime, content): (String, Vec<u8>) =
        sqlx::query_as("SELECT mime, content FROM media WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.infra.db)
            .await?
            .ok_or_else(ApiError::not_found)?;
    let ext = match mime.as_str() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "video/mp4" => "mp4",
        _ => "pdf",
    };
    let disposition = HeaderValue::from_str(&format!("inline; filename=\"{id}.{ext}\""))
        .map_err(|e| ApiError::internal(e.into()))?;
    let content_type = HeaderValue::from_str(&mime).map_err(|e| ApiError::internal(e.into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        content,
    )
        .into_response())
}

/// Deletes a file from the library (and Telegram's file ids of it).
#[utoipa::path(delete, path = "/api/v1/admin/media/{id}", tag = "media", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "deleted"), (status = 401, body = E),
              (status = 403, body = E), (status = 404, body = E)))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let who = admin.require(ROLES)?;
    let mut tx = state.infra.db.begin().await?;
    let gone = sqlx::query("DELETE FROM media WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if gone == 0 {
        return Err(ApiError::not_found());
    }
    audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "media.delete",
        Some(&id.to_string()),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
