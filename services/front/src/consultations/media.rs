//! Files a person sent, shown to staff on demand: the console asks this
//! proxy (staff listener), which asks Telegram (`getFile`, then the file
//! path) with the bot token server-side. Nothing is written to disk; the
//! token never reaches the browser; each fetch is audited.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use nasvyazi_shared::auth::{self, Principal, Role};
use nasvyazi_shared::error::{ApiError, ErrorBody};
use uuid::Uuid;

use super::store;
use crate::AppState;
use crate::auth::Admin;

/// The Bot API serves files up to 20 MB.
const MAX_BYTES: usize = 20 * 1024 * 1024;

/// The content type to serve: the file's own when it is one a browser can
/// show safely, else a download.
fn content_type(media: &store::Media) -> (&'static str, bool) {
    let declared = media.mime_type.as_deref().unwrap_or_default();
    let inline = [
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "audio/ogg",
        "audio/mpeg",
        "video/mp4",
    ];
    if let Some(t) = inline.iter().find(|t| **t == declared) {
        return (t, true);
    }
    match media.kind.as_str() {
        "photo" => ("image/jpeg", true),
        "voice" => ("audio/ogg", true),
        "video_note" | "video" | "animation" => ("video/mp4", true),
        "sticker" => ("image/webp", true),
        _ => ("application/octet-stream", false),
    }
}

/// A file of a message, through the server.
#[utoipa::path(get, path = "/api/v1/admin/conversations/{id}/media/{message}", tag = "consultations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "conversation id or number"),
           ("message" = Uuid, Path, description = "the message's id")),
    responses((status = 200, description = "the file's bytes"), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 502, body = ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    admin: Admin,
    Path((key, message)): Path<(String, Uuid)>,
) -> Result<Response, ApiError> {
    let who = admin.require(&[Role::Consultant])?;
    let id = store::resolve(&state.infra.db, &key).await?;
    fetch(&state, who, id, message).await
}

/// The file of `message` in conversation `id`, fetched for `who` (whose
/// role the caller has checked: the API's token or the console's session).
/// The fetch is audited as `who`.
pub async fn fetch(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    message: Uuid,
) -> Result<Response, ApiError> {
    let media = {
        let mut tx = state.infra.db.begin().await?;
        let Some(ckey) = store::conversation_key(&mut tx, &state.keys, id)
            .await
            .map_err(ApiError::internal)?
        else {
            return Err(ApiError::not_found());
        };
        let sealed: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT media_ct FROM conversation_messages WHERE id = $1 AND conversation_id = $2",
        )
        .bind(message)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .flatten();
        let Some(sealed) = sealed else {
            return Err(ApiError::not_found());
        };
        let json = ckey
            .open(&sealed, &super::message_aad(id, message, "media"))
            .map_err(|e| ApiError::internal(e.into()))?;
        let media: store::Media =
            serde_json::from_slice(&json).map_err(|e| ApiError::internal(e.into()))?;
        auth::audit(
            &mut tx,
            &who.actor(),
            Some(who.role),
            "conversation.media_read",
            Some(&format!("conversation:{id}")),
            serde_json::json!({ "message": message }),
        )
        .await?;
        tx.commit().await?;
        media
    };
    let Some(bot) = state.telegram.as_ref() else {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "telegram_off",
            "Telegram is not configured: the file cannot be fetched",
        ));
    };
    let unavailable = |e: nasvyazi_shared::telegram::api::ApiError| {
        tracing::warn!(conversation_id = %id, error = %e, "file not fetched from Telegram");
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "telegram_file",
            "Telegram did not give the file (too big, expired or Telegram unreachable)",
        )
    };
    let file = bot
        .api()
        .call("getFile", &serde_json::json!({ "file_id": media.file_id }))
        .await
        .map_err(unavailable)?;
    let path = file["file_path"].as_str().unwrap_or_default();
    let bytes = bot
        .api()
        .download(path, MAX_BYTES)
        .await
        .map_err(unavailable)?;
    let (ctype, inline) = content_type(&media);
    let disposition = if inline { "inline" } else { "attachment" };
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (header::CONTENT_DISPOSITION, disposition.to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}
