//! A campaign email's inline images (issue 16): the templates' `email_media`
//! ids, loaded from the `media` table once per cached campaign occurrence
//! (not per recipient), sent as `cid:` parts of a `multipart/related` and
//! shown at the top of the HTML part with their alt text in the
//! recipient's language. The text part is left as it is: it stays
//! complete without them.

use std::collections::HashMap;
use std::sync::Arc;

use crate::channels::InlineImage;
use nasvyazi_campaigns::{self as campaigns, EMAIL_MEDIA_MIMES, Templates, escape_html};
use nasvyazi_shared::i18n::Lang;
use sqlx::PgPool;
use uuid::Uuid;

/// One image as stored: bytes shared by every message that carries it.
pub struct Image {
    mime: String,
    bytes: Arc<[u8]>,
    alt_ru: String,
    alt_kk: String,
    alt_en: String,
}

/// The images of every language of a campaign's templates, by media id.
pub type Images = HashMap<Uuid, Image>;

/// The Content-ID of a media file (without angle brackets).
pub fn cid(id: Uuid) -> String {
    format!("{}@nasvyazi", id.simple())
}

/// Loads every image any language's `email_media` names. Files that are
/// gone (deleted from the library since) or are not images are left out:
/// the email goes without them, its text complete.
pub async fn load(db: &PgPool, templates: &Templates) -> sqlx::Result<Images> {
    let mut ids: Vec<Uuid> = templates
        .values()
        .flat_map(|t| t.email_media.iter().copied())
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Images::new());
    }
    let rows: Vec<(Uuid, String, Vec<u8>, String, String, String)> = sqlx::query_as(
        "SELECT id, mime, content, alt_ru, alt_kk, alt_en FROM media WHERE id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(db)
    .await?;
    let images: Images = rows
        .into_iter()
        .filter(|(_, mime, ..)| EMAIL_MEDIA_MIMES.contains(&mime.as_str()))
        .map(|(id, mime, content, alt_ru, alt_kk, alt_en)| {
            (
                id,
                Image {
                    mime,
                    bytes: content.into(),
                    alt_ru,
                    alt_kk,
                    alt_en,
                },
            )
        })
        .collect();
    if images.len() < ids.len() {
        tracing::warn!(
            missing = ids.len() - images.len(),
            "inline images no longer in the media library; emails go without them"
        );
    }
    Ok(images)
}

impl Image {
    /// The alt text in `lang`, else the first of its fallbacks that has one.
    fn alt(&self, lang: Lang) -> &str {
        lang.fallbacks()
            .iter()
            .map(|l| match l {
                Lang::Ru => self.alt_ru.as_str(),
                Lang::Kk => self.alt_kk.as_str(),
                Lang::En => self.alt_en.as_str(),
            })
            .find(|a| !a.trim().is_empty())
            .unwrap_or("")
    }
}

/// The inline images of the email in `lang`, in the template's order.
pub fn for_lang(images: &Images, templates: &Templates, lang: Lang) -> Vec<InlineImage> {
    campaigns::pick_email_media(templates, lang)
        .iter()
        .filter_map(|id| {
            let image = images.get(id)?;
            Some(InlineImage {
                cid: cid(*id),
                mime: image.mime.clone(),
                bytes: image.bytes.clone(),
                alt: image.alt(lang).to_string(),
            })
        })
        .collect()
}

/// `html` with the images at the top of its body (right after `<body ...>`
/// when it has one, else in front of everything).
pub fn place(html: &str, images: &[InlineImage]) -> String {
    if images.is_empty() {
        return html.to_string();
    }
    let tags: String = images
        .iter()
        .map(|i| {
            format!(
                "<p style=\"margin:0 0 1em 0\"><img src=\"cid:{}\" alt=\"{}\" style=\"max-width:100%;height:auto\"></p>\n",
                i.cid,
                escape_html(&i.alt)
            )
        })
        .collect();
    let lower = html.to_ascii_lowercase();
    let at = lower
        .find("<body")
        .and_then(|b| lower[b..].find('>').map(|e| b + e + 1))
        .unwrap_or(0);
    let (head, rest) = html.split_at(at);
    let newline = if at > 0 && !rest.starts_with('\n') {
        "\n"
    } else {
        ""
    };
    format!("{head}{newline}{tags}{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(alt: &str) -> InlineImage {
        InlineImage {
            cid: "abc@nasvyazi".into(),
            mime: "image/png".into(),
            bytes: Arc::from(&b"x"[..]),
            alt: alt.into(),
        }
    }

    #[test]
    fn images_go_to_the_top_of_the_body_with_escaped_alt() {
        let html = campaigns::text_to_html("Привет");
        let out = place(&html, &[image("Шприц & <игла>")]);
        let body = out.find("<body").unwrap();
        let img = out.find("<img src=\"cid:abc@nasvyazi\"").unwrap();
        let text = out.find("Привет").unwrap();
        assert!(body < img && img < text, "{out}");
        assert!(out.contains("alt=\"Шприц &amp; &lt;игла&gt;\""), "{out}");
        assert_eq!(campaigns::remote_resource(&out), None);
        // A fragment without <body>: in front.
        assert!(place("<p>x</p>", &[image("a")]).starts_with("<p style"));
        assert_eq!(place("<p>x</p>", &[]), "<p>x</p>");
    }

    #[test]
    fn alt_falls_back_by_language() {
        let i = Image {
            mime: "image/png".into(),
            bytes: Arc::from(&b"x"[..]),
            alt_ru: "ru".into(),
            alt_kk: String::new(),
            alt_en: "en".into(),
        };
        assert_eq!(i.alt(Lang::Kk), "ru");
        assert_eq!(i.alt(Lang::En), "en");
    }
}
