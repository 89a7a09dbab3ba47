//! Campaign emails with an image inline (issue 16): the loopback SMTP
//! server receives `multipart/alternative` (text, `multipart/related`
//! (HTML, image)); `mail-parser` finds the text part complete, the HTML
//! pointing at `cid:X` with the alt text in the recipient's language, and
//! a part with `Content-ID: <X>` carrying the library's stored bytes.
//! Front refuses what an email cannot carry with a clear 422.

use std::time::Duration;

use chrono::Utc;
use mail_parser::{MimeHeaders, PartType};
use nasvyazi_shared::auth::Role;
use nasvyazi_tests::media::{noise_jpeg, upload_media};
use nasvyazi_tests::smtp::SmtpServer;
use nasvyazi_tests::{NewContact, TestApp, spawn_app_with};
use serde_json::{Value, json};
use uuid::Uuid;

use super::email_config;

const ALT_RU: &str = "Набор налоксона на столе";
const ALT_KK: &str = "Үстелдегі налоксон жинағы";
const ALT_EN: &str = "A naloxone kit on a table";

fn jpeg(w: u16, h: u16) -> Vec<u8> {
    noise_jpeg(w, h, 0x9E37_79B9)
}

async fn upload(app: &TestApp, token: &str, file: &[u8], alts: &[(&str, &str)]) -> Uuid {
    upload_media(app, token, file, "kit.jpg", alts).await
}

fn campaign(at: &str, media: Value) -> Value {
    json!({
        "name": "Naloxone saves lives",
        "schedule": { "kind": "once", "at": [at] },
        "audience": { "channels": ["email"] },
        "templates": {
            "ru": { "email_subject": "Налоксон", "email_text": "Налоксон спасает жизни.\n\nОтписаться: {{ unsubscribe_url }}",
                    "email_media": media },
            "kk": { "email_subject": "Налоксон", "email_text": "Налоксон өмірді сақтайды.\n\nЖазылымнан бас тарту: {{ unsubscribe_url }}" },
            "en": { "email_subject": "Naloxone", "email_text": "Naloxone saves lives.\n\nUnsubscribe: {{ unsubscribe_url }}" }
        }
    })
}

async fn create(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/admin/campaigns"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_campaign_email_carries_its_image_inline_with_alt_text_in_the_recipients_language() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&email_config(
        &smtp,
        "[campaigns]\nquiet_hours_start = \"00:00\"\nquiet_hours_end = \"00:00\"\n",
    ))
    .await;
    let organiser = app.token(Role::Organiser).await;
    let image = upload(
        &app,
        &organiser,
        &jpeg(64, 48),
        &[("alt_ru", ALT_RU), ("alt_kk", ALT_KK), ("alt_en", ALT_EN)],
    )
    .await;
    let stored = app
        .http
        .get(app.url(&format!("/api/v1/admin/media/{image}/file")))
        .bearer_auth(&organiser)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    assert!(stored.starts_with(&[0xFF, 0xD8]), "the stored JPEG");

    // What an email cannot carry is refused, naming the field.
    let at = "2030-01-01T10:00";
    for (media, why) in [
        (json!([Uuid::now_v7()]), "not in the media library"),
        (json!([image, image]), "listed twice"),
        (json!(vec![image; 6]), "at most 5"),
    ] {
        let r = create(&app, &organiser, campaign(at, media)).await;
        assert_eq!(r.status(), 422);
        let text = r.text().await.unwrap();
        assert!(
            text.contains("templates.email_media") && text.contains(why),
            "{text}"
        );
    }

    for (lang, address) in [
        ("ru", "inline-ru@example.kz"),
        ("kk", "inline-kk@example.kz"),
        ("en", "inline-en@example.kz"),
    ] {
        app.insert_contact(NewContact {
            language: lang,
            ..NewContact::email(address)
        })
        .await;
    }
    let at = (Utc::now().with_timezone(&chrono_tz::Asia::Almaty) + chrono::Duration::seconds(2))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let r = create(&app, &organiser, campaign(&at, json!([image]))).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["templates"]["ru"]["email_media"], json!([image]));
    assert!(
        view["templates"]["kk"].get("email_media").is_none(),
        "an empty list is not shown"
    );
    let id = view["id"].as_str().unwrap();
    let r = app
        .http
        .post(app.url(&format!("/api/v1/admin/campaigns/{id}/approve")))
        .bearer_auth(&organiser)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let got = smtp.wait_for(3, Duration::from_secs(30)).await;
    let cid = format!("{}@nasvyazi", image.simple());
    for (address, alt, text) in [
        ("inline-ru@example.kz", ALT_RU, "Налоксон спасает жизни."),
        ("inline-kk@example.kz", ALT_KK, "Налоксон өмірді сақтайды."),
        ("inline-en@example.kz", ALT_EN, "Naloxone saves lives."),
    ] {
        let m = got
            .iter()
            .find(|m| m.rcpt_to.iter().any(|r| r == address))
            .unwrap_or_else(|| panic!("a message to {address}"));
        super::assert_verifies(address, m).await;
        let parsed = m.parsed();
        // multipart/alternative (text/plain, multipart/related (text/html, image/jpeg)).
        let ct = |p: &mail_parser::MessagePart| {
            p.content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
                .unwrap_or_default()
                .to_ascii_lowercase()
        };
        let root = &parsed.parts[0];
        assert_eq!(ct(root), "multipart/alternative", "{address}");
        let PartType::Multipart(children) = &root.body else {
            panic!("{address}: the root is multipart");
        };
        let children: Vec<&mail_parser::MessagePart> = children
            .iter()
            .map(|i| &parsed.parts[*i as usize])
            .collect();
        assert_eq!(children.len(), 2, "{address}");
        assert_eq!(ct(children[0]), "text/plain", "{address}");
        assert_eq!(ct(children[1]), "multipart/related", "{address}");
        let PartType::Multipart(related) = &children[1].body else {
            panic!("{address}: related is multipart");
        };
        let related: Vec<&mail_parser::MessagePart> =
            related.iter().map(|i| &parsed.parts[*i as usize]).collect();
        assert_eq!(related.len(), 2, "{address}");
        assert_eq!(ct(related[0]), "text/html", "{address}");
        assert_eq!(ct(related[1]), "image/jpeg", "{address}");

        // The text part is complete and knows nothing of the image.
        let plain = parsed.body_text(0).unwrap();
        assert!(plain.starts_with(text), "{address}: {plain}");
        assert!(plain.contains("/u/"), "{address}: the unsubscribe link");
        assert!(!plain.contains("cid:"), "{address}: {plain}");
        // The HTML shows the image first, with the alt text in the
        // recipient's language (kk has no email_media of its own: ru's).
        let html = parsed.body_html(0).unwrap();
        let img = format!("<img src=\"cid:{cid}\" alt=\"{alt}\"");
        let (at_img, at_text) = (html.find(&img), html.find(text));
        assert!(
            at_img.is_some() && at_text.is_some() && at_img < at_text,
            "{address}: {html}"
        );
        // The image part: Content-ID <cid>, inline, the stored bytes.
        let part = related[1];
        assert_eq!(
            part.content_id().map(|c| c.trim_matches(['<', '>'])),
            Some(cid.as_str()),
            "{address}"
        );
        assert_eq!(
            part.content_disposition().map(|d| d.ctype()),
            Some("inline"),
            "{address}"
        );
        assert_eq!(part.contents(), stored.as_slice(), "{address}: the bytes");
        assert!(
            m.data_str().contains(&format!("Content-ID: <{cid}>")),
            "{address}: the raw header"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), 3, "once each");
    app.stop().await;
}
