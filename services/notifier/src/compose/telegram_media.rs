//! The media of a campaign's Telegram posts, loaded once per cached
//! campaign: for each file Telegram's `file_id` for this bot when one is
//! known (`media_telegram_files`), else its bytes, for the adapter to
//! upload (it reports the new file id, which the worker stores, so the
//! bytes are read again only until the first upload is recorded).

use std::collections::HashMap;

use crate::channels::{TelegramMedia, TelegramMediaKind};
use nasvyazi_campaigns::{self as campaigns, Templates};
use nasvyazi_shared::i18n::Lang;
use sqlx::PgPool;
use uuid::Uuid;

/// The campaign's media by id.
pub type Media = HashMap<Uuid, TelegramMedia>;

/// The file name an upload carries: the id and the type's extension.
fn filename(id: Uuid, mime: &str) -> String {
    let ext = match mime {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "video/mp4" => "mp4",
        "application/pdf" => "pdf",
        _ => "bin",
    };
    format!("{}.{ext}", id.simple())
}

/// Loads every file any language's Telegram template names.
pub async fn load(db: &PgPool, bot_id: &str, templates: &Templates) -> sqlx::Result<Media> {
    let mut ids: Vec<Uuid> = templates
        .values()
        .flat_map(|t| t.telegram_media.iter().copied())
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Media::new());
    }
    type Row = (Uuid, String, String, Option<String>, Option<Vec<u8>>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT m.id, m.kind, m.mime, f.file_id, CASE WHEN f.file_id IS NULL THEN m.content END
         FROM media m
         LEFT JOIN media_telegram_files f ON f.media_id = m.id AND f.bot_id = $2
         WHERE m.id = ANY($1)",
    )
    .bind(&ids)
    .bind(bot_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, kind, mime, file_id, bytes)| {
            let kind = TelegramMediaKind::of_library(&kind)?;
            Some((
                id,
                TelegramMedia {
                    media_id: id,
                    kind,
                    filename: filename(id, &mime),
                    mime,
                    file_id,
                    bytes: bytes.map(Into::into),
                },
            ))
        })
        .collect())
}

/// The media of the message in `lang`, in the template's order. `Err`
/// names a file that is gone (deleted from the library after approval):
/// the post is not sent without it.
pub fn for_lang(
    media: &Media,
    templates: &Templates,
    lang: Lang,
) -> Result<Vec<TelegramMedia>, String> {
    campaigns::pick_telegram_media(templates, lang)
        .iter()
        .map(|id| {
            media
                .get(id)
                .cloned()
                .ok_or_else(|| format!("media {id} is no longer in the library"))
        })
        .collect()
}
