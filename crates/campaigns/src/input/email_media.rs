//! `email_media` of a campaign's templates (issue 16): images from the
//! media library sent inline (CID) in the email. Checked at save against
//! the `media` table: images only (JPEG, PNG, GIF, WebP), at most
//! [`EMAIL_MEDIA_MAX`] per language, each once, and a total size every
//! recipient's mailbox accepts.

use crate::{EMAIL_MEDIA_MAX, EMAIL_MEDIA_MIMES, Templates};
use sqlx::PgPool;
use uuid::Uuid;

use super::Invalid;

/// The most bytes of images one email carries (before base64, which adds
/// a third): mailbox providers refuse messages over 10-25 MB, and every
/// recipient downloads them.
pub const EMAIL_MEDIA_MAX_BYTES: i64 = 5 * 1024 * 1024;

fn invalid(reason: String) -> Invalid {
    Invalid {
        field: "templates.email_media",
        reason,
    }
}

/// Refuses `email_media` that are not images of the library, too many, or
/// too big together.
pub async fn check(db: &PgPool, templates: &Templates) -> anyhow::Result<Result<(), Invalid>> {
    for (lang, t) in templates {
        let ids = &t.email_media;
        if ids.is_empty() {
            continue;
        }
        if ids.len() > EMAIL_MEDIA_MAX {
            return Ok(Err(invalid(format!(
                "{lang}: at most {EMAIL_MEDIA_MAX} images per email"
            ))));
        }
        let mut seen: Vec<Uuid> = Vec::with_capacity(ids.len());
        for id in ids {
            if seen.contains(id) {
                return Ok(Err(invalid(format!("{lang}: image {id} is listed twice"))));
            }
            seen.push(*id);
        }
        let rows: Vec<(Uuid, String, i64)> =
            sqlx::query_as("SELECT id, mime, bytes FROM media WHERE id = ANY($1)")
                .bind(ids)
                .fetch_all(db)
                .await?;
        for id in ids {
            match rows.iter().find(|(r, ..)| r == id) {
                None => {
                    return Ok(Err(invalid(format!(
                        "{lang}: {id} is not in the media library (GET /api/v1/admin/media)"
                    ))));
                }
                Some((_, mime, _)) if !EMAIL_MEDIA_MIMES.contains(&mime.as_str()) => {
                    return Ok(Err(invalid(format!(
                        "{lang}: {id} is {mime}; an email carries images only (JPEG, PNG, GIF or WebP)"
                    ))));
                }
                Some(_) => {}
            }
        }
        let total: i64 = rows.iter().map(|(_, _, b)| b).sum();
        if total > EMAIL_MEDIA_MAX_BYTES {
            return Ok(Err(invalid(format!(
                "{lang}: the images add up to {} KB; an email carries at most {} KB of images",
                total / 1024,
                EMAIL_MEDIA_MAX_BYTES / 1024
            ))));
        }
    }
    Ok(Ok(()))
}
