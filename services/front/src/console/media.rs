//! The media library in the console (organisers, admins): `/admin/media`
//! lists the files with thumbnails (served through the session, never a
//! public address), how full the library is and the limits, and takes an
//! upload (multipart, with alt texts in ru / kk / en) through the same
//! [`crate::media::store`] as the admin API: judged by content, metadata
//! stripped, stored once.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::error::ApiError;
use serde::Deserialize;
use uuid::Uuid;

use super::page::{PageResult, Problem, done, render_status};
use super::session::Session;
use super::words;
use crate::AppState;
use crate::media;

const ROLES: &[Role] = &[Role::Organiser];

#[derive(Deserialize)]
pub struct MediaQuery {
    pub done: Option<String>,
}

/// The notices this page shows after a redirect.
fn notice(done: Option<&str>) -> Option<String> {
    done.filter(|d| ["uploaded", "already"].contains(d))
        .map(|d| format!("console.media.done.{d}"))
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: String,
    mime: String,
    bytes: i64,
    alt_ru: String,
    alt_kk: String,
    alt_en: String,
    created_at: DateTime<Utc>,
}

/// Megabytes, one decimal place at most.
fn mb(bytes: u64) -> String {
    let tenths = (bytes * 10 + 524_288) / 1_048_576;
    if tenths.is_multiple_of(10) {
        format!("{}", tenths / 10)
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    }
}

/// `GET /admin/media`.
pub async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<MediaQuery>,
) -> PageResult {
    s.require(ROLES)?;
    list_page(
        &state,
        &s,
        &uri,
        StatusCode::OK,
        notice(q.done.as_deref()),
        None,
    )
    .await
}

async fn list_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    status: StatusCode,
    notice: Option<String>,
    error: Option<(String, Option<String>)>,
) -> PageResult {
    let lang = s.user.lang;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, kind, mime, bytes, alt_ru, alt_kk, alt_en, created_at FROM media \
         ORDER BY created_at DESC, id DESC LIMIT 500",
    )
    .fetch_all(&state.infra.db)
    .await?;
    let used: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(bytes), 0)::bigint FROM media")
        .fetch_one(&state.infra.db)
        .await?;
    let tz = chrono_tz::Asia::Almaty;
    let files: Vec<_> = rows
        .iter()
        .map(|r| {
            // The alt text in the reader's language, else any.
            let own = match lang.code() {
                "kk" => &r.alt_kk,
                "en" => &r.alt_en,
                _ => &r.alt_ru,
            };
            let shown = [own, &r.alt_ru, &r.alt_kk, &r.alt_en]
                .into_iter()
                .find(|a| !a.is_empty())
                .map(String::as_str)
                .unwrap_or("");
            let (size, unit) = if r.bytes < 1_048_576 {
                (((r.bytes + 1023) / 1024).to_string(), "kb")
            } else {
                (mb(r.bytes as u64), "mb")
            };
            minijinja::context! {
                id => r.id, kind => &r.kind, mime => &r.mime, size, unit,
                bytes => r.bytes, alt => shown,
                has_alt => [&r.alt_ru, &r.alt_kk, &r.alt_en].iter().filter(|a| !a.is_empty()).count(),
                thumb => r.kind == "image" || r.mime == "image/gif",
                when => words::datetime(lang, r.created_at, tz),
            }
        })
        .collect();
    let limits = &state.infra.config.media;
    let (error, error_detail) = match error {
        Some((k, d)) => (Some(k), d),
        None => (None, None),
    };
    Ok(render_status(
        state,
        s,
        uri,
        "media",
        "console/media.html",
        status,
        minijinja::context! {
            files, notice, error, error_detail,
            used => if used > 0 && used < 104_858 { "< 0.1".to_string() } else { mb(used as u64) },
            quota => mb(limits.quota_bytes),
            full => (used as u64) >= limits.quota_bytes,
            photo_max => mb(limits.photo_max_bytes as u64),
            file_max => mb(limits.file_max_bytes as u64),
        },
    ))
}

/// An API refusal as this page's error: a problem page for a missing
/// record or an internal failure, else the form again with the reason.
fn refusal(e: ApiError) -> Result<(StatusCode, String, Option<String>), Problem> {
    let key = match (e.status, e.code) {
        (StatusCode::NOT_FOUND, _) => return Err(Problem::NotFound),
        (_, "quota_exceeded") => "console.media.quota_full",
        (StatusCode::PAYLOAD_TOO_LARGE, _) => "console.media.too_large",
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, _) => "console.media.unsupported",
        (s, _) if s.is_server_error() => {
            return Err(Problem::Internal(anyhow::anyhow!(
                "media upload: {}",
                e.message
            )));
        }
        _ => "console.media.invalid",
    };
    Ok((e.status, key.to_string(), Some(e.message)))
}

/// `POST /admin/media` (multipart: csrf, file, alt_ru, alt_kk, alt_en).
pub async fn upload(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    mut form: Multipart,
) -> PageResult {
    s.require(ROLES)?;
    let read = media::read_upload(&mut form, &state.infra.config.media).await;
    let stored = match read {
        Ok(upload) => {
            if !upload.csrf.as_deref().is_some_and(|t| s.csrf_ok(t)) {
                return Err(Problem::Csrf);
            }
            media::store(&state, &s.principal(), upload).await
        }
        Err(e) => Err(e),
    };
    match stored {
        Ok((StatusCode::CREATED, _)) => Ok(done("/admin/media", "uploaded")),
        Ok(_) => Ok(done("/admin/media", "already")),
        Err(e) => {
            let (status, key, detail) = refusal(e)?;
            list_page(&state, &s, &uri, status, None, Some((key, detail))).await
        }
    }
}

/// `GET /admin/media/{id}/file`: the stored bytes, for thumbnails and
/// opening a file.
pub async fn file(State(state): State<AppState>, s: Session, Path(id): Path<Uuid>) -> PageResult {
    s.require(ROLES)?;
    match media::file_response(&state, id).await {
        Ok(response) => Ok::<Response, Problem>(response),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(Problem::NotFound),
        Err(e) => Err(Problem::Internal(anyhow::anyhow!(
            "media file: {}",
            e.message
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::mb;

    #[test]
    fn sizes_in_megabytes() {
        assert_eq!(mb(10 * 1024 * 1024), "10");
        assert_eq!(mb(50 * 1024 * 1024), "50");
        assert_eq!(mb(1_572_864), "1.5");
        assert_eq!(mb(10_000), "0");
    }
}
