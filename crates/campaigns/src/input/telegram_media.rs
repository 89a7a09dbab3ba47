//! `telegram_media` of a campaign's templates and the registered channels
//! in its audience (issue 16), checked at save against the database.
//!
//! Media: each id in the library (`media`); one file is a photo (JPEG,
//! PNG, WebP), an animation (GIF, silent MP4), a video or a document; 2-10
//! make an album (`sendMediaGroup`), where photos and videos may mix,
//! documents go only with documents and animations not at all (Telegram
//! refuses them in albums). A text longer than a caption (1024) is not
//! refused: the media carry its first part and the rest follows, as the
//! preview shows.
//!
//! Channels: `telegram_channel:<id>` must name a row of the registry
//! (`GET /api/v1/admin/channels`).

use crate::{TELEGRAM_MEDIA_MAX, Templates};
use sqlx::PgPool;
use uuid::Uuid;

use super::Invalid;

/// The prefix of a registered channel in `audience.channels`.
pub const CHANNEL_PREFIX: &str = "telegram_channel:";

fn invalid(field: &'static str, reason: String) -> Invalid {
    Invalid { field, reason }
}

/// The registered channel an `audience.channels` entry names, if it is one
/// (`Some(None)`: the prefix with no valid id).
pub fn registered_channel(entry: &str) -> Option<Option<Uuid>> {
    entry
        .strip_prefix(CHANNEL_PREFIX)
        .map(|id| Uuid::parse_str(id.trim()).ok())
}

/// What Telegram makes of a library item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Photo,
    Animation,
    Video,
    Document,
}

fn kind_of(kind: &str, mime: &str) -> Option<Kind> {
    Some(match (kind, mime) {
        ("image", "image/jpeg" | "image/png" | "image/webp") => Kind::Photo,
        ("animation", _) => Kind::Animation,
        ("video", _) => Kind::Video,
        ("document", _) => Kind::Document,
        _ => return None,
    })
}

/// Whether `kinds` may go together as one post; `Err` says why not.
fn album_rule(kinds: &[Kind]) -> Result<(), &'static str> {
    if kinds.len() < 2 {
        return Ok(());
    }
    if kinds.contains(&Kind::Animation) {
        return Err(
            "an animation (GIF) cannot be part of an album: send it alone, or use photos and videos",
        );
    }
    let documents = kinds.iter().filter(|k| **k == Kind::Document).count();
    if documents > 0 && documents < kinds.len() {
        return Err("documents can be grouped only with documents, not with photos or videos");
    }
    Ok(())
}

/// Refuses unknown media, unfit combinations, and unregistered channels.
pub async fn check(
    db: &PgPool,
    templates: &Templates,
    channels: &[String],
) -> anyhow::Result<Result<(), Invalid>> {
    let mut registered = Vec::new();
    for c in channels {
        match registered_channel(c) {
            Some(Some(id)) => registered.push(id),
            Some(None) => {
                return Ok(Err(invalid(
                    "audience.channels",
                    format!("`{c}`: telegram_channel:<id of GET /api/v1/admin/channels>"),
                )));
            }
            None => {}
        }
    }
    if !registered.is_empty() {
        let known: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM telegram_channels WHERE id = ANY($1)")
                .bind(&registered)
                .fetch_all(db)
                .await?;
        if let Some(id) = registered.iter().find(|id| !known.contains(id)) {
            return Ok(Err(invalid(
                "audience.channels",
                format!(
                    "telegram_channel:{id} is not a registered channel (GET /api/v1/admin/channels)"
                ),
            )));
        }
    }
    for (lang, t) in templates {
        let ids = &t.telegram_media;
        if ids.is_empty() {
            continue;
        }
        let field = "templates.telegram_media";
        if ids.len() > TELEGRAM_MEDIA_MAX {
            return Ok(Err(invalid(
                field,
                format!("{lang}: at most {TELEGRAM_MEDIA_MAX} files per post (an album)"),
            )));
        }
        let mut seen: Vec<Uuid> = Vec::with_capacity(ids.len());
        for id in ids {
            if seen.contains(id) {
                return Ok(Err(invalid(field, format!("{lang}: {id} is listed twice"))));
            }
            seen.push(*id);
        }
        let rows: Vec<(Uuid, String, String)> =
            sqlx::query_as("SELECT id, kind, mime FROM media WHERE id = ANY($1)")
                .bind(ids)
                .fetch_all(db)
                .await?;
        let mut kinds = Vec::with_capacity(ids.len());
        for id in ids {
            let Some((_, kind, mime)) = rows.iter().find(|(r, ..)| r == id) else {
                return Ok(Err(invalid(
                    field,
                    format!("{lang}: {id} is not in the media library (GET /api/v1/admin/media)"),
                )));
            };
            match kind_of(kind, mime) {
                Some(k) => kinds.push(k),
                None => {
                    return Ok(Err(invalid(
                        field,
                        format!("{lang}: {id} ({mime}) cannot be sent to Telegram"),
                    )));
                }
            }
        }
        if let Err(why) = album_rule(&kinds) {
            return Ok(Err(invalid(field, format!("{lang}: {why}"))));
        }
    }
    Ok(Ok(()))
}

/// How the post of `text` in `lang` goes with its media, as the notifier
/// sends it; `None` without media.
pub async fn preview(
    db: &PgPool,
    templates: &Templates,
    lang: nasvyazi_platform::i18n::Lang,
    text: &str,
) -> anyhow::Result<Option<TelegramPostPreview>> {
    use nasvyazi_telegram::text::{MAX_CAPTION_CHARS, split_caption};
    let media = crate::pick_telegram_media(templates, lang).to_vec();
    if media.is_empty() {
        return Ok(None);
    }
    let kind = if media.len() > 1 {
        "album".to_string()
    } else {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT kind, mime FROM media WHERE id = $1")
                .bind(media[0])
                .fetch_optional(db)
                .await?;
        match row.and_then(|(k, m)| kind_of(&k, &m)) {
            Some(Kind::Photo) => "photo",
            Some(Kind::Animation) => "animation",
            Some(Kind::Video) => "video",
            Some(Kind::Document) => "document",
            None => "missing",
        }
        .to_string()
    };
    let (caption, following) = split_caption(text, MAX_CAPTION_CHARS);
    Ok(Some(TelegramPostPreview {
        media,
        kind,
        caption,
        following,
    }))
}

/// A Telegram post with media: the caption the (first) file carries, at
/// most 1024 characters, and the text messages that follow it when the
/// text is longer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TelegramPostPreview {
    pub media: Vec<Uuid>,
    /// `photo`/`animation`/`video`/`document` with one file, `album` with more.
    pub kind: String,
    pub caption: String,
    pub following: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn albums_follow_telegrams_rules() {
        use Kind::*;
        assert!(album_rule(&[Animation]).is_ok());
        assert!(album_rule(&[Document]).is_ok());
        assert!(album_rule(&[Photo, Video, Photo]).is_ok());
        assert!(album_rule(&[Document, Document]).is_ok());
        assert!(album_rule(&[Photo, Document]).is_err());
        assert!(album_rule(&[Photo, Animation]).is_err());
        assert_eq!(kind_of("image", "image/gif"), None);
        assert_eq!(kind_of("animation", "image/gif"), Some(Animation));
        assert_eq!(registered_channel("telegram"), None);
        assert_eq!(registered_channel("telegram_channel:x"), Some(None));
        let id = Uuid::now_v7();
        assert_eq!(
            registered_channel(&format!("telegram_channel:{id}")),
            Some(Some(id))
        );
    }
}
