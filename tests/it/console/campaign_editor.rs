//! The campaign editor's issue-16 controls over plain HTTP (session and
//! CSRF, as an organiser's phone sends the forms): a photo from the media
//! library for the Telegram post and an image for the email on the texts
//! page (an album the API's rules refuse is shown next to the boxes, with
//! what was typed kept), a registered channel on the audience page, and the
//! survey invitation on the campaign page (only while it may change); the
//! admin API then shows all of them. The texts page with its media boxes
//! is photographed at 360 px in Russian.

use nasvyazi_shared::auth::Role;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_tests::media::{noise_jpeg, upload_media};
use nasvyazi_tests::smtp::SmtpServer;
use nasvyazi_tests::webdriver::Browser;
use nasvyazi_tests::{TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{config, shot, sign_in, switch_language, telegram_fake, user};
use crate::security::agent::{Agent, location};

const EMAIL: &str = "aigerim@forum.example.kz";

fn jpeg(w: u16, h: u16) -> Vec<u8> {
    noise_jpeg(w, h, 1)
}

/// A one-pixel GIF (an animation for the library).
fn gif() -> Vec<u8> {
    let mut g = b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xFF\xFF\xFF".to_vec();
    g.extend_from_slice(b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\0\0\0");
    g.extend_from_slice(b"\x2C\0\0\0\0\x01\0\x01\0\0\x02\x02\x44\x01\0\x3B");
    g
}

async fn upload(app: &TestApp, token: &str, file: &[u8], name: &str, alt_ru: &str) -> Uuid {
    upload_media(app, token, file, name, &[("alt_ru", alt_ru)]).await
}

async fn api_get(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

async fn api_post(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let r = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{path}");
    r.json().await.unwrap()
}

async fn html(a: &mut Agent<'_>, path: &str) -> String {
    let r = a.get(path).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    // The template engine writes `/` in values as `&#x2f;`.
    r.text().await.unwrap().replace("&#x2f;", "/")
}

/// Posts `form` with the token of `page`; returns the status and, for a
/// redirect, where to, else the page.
async fn send(
    a: &mut Agent<'_>,
    page: &str,
    action: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let csrf = a.csrf(page).await;
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(form);
    let r = a.post(action, &all).await;
    let status = r.status();
    if status == StatusCode::SEE_OTHER {
        (status, location(&r))
    } else {
        (status, r.text().await.unwrap().replace("&#x2f;", "/"))
    }
}

/// The `<input>` tag carrying `value` in `page` (its attributes).
fn input_with<'p>(page: &'p str, name: &str, value: &str) -> &'p str {
    let needle = format!("name=\"{name}\" value=\"{value}\"");
    let at = page
        .find(&needle)
        .unwrap_or_else(|| panic!("no box {name}={value}"));
    let end = page[at..].find('>').unwrap() + at;
    &page[at..end]
}

#[tokio::test]
async fn an_organiser_picks_media_a_channel_and_a_survey_in_the_console() {
    let smtp = SmtpServer::start().await;
    let fake = telegram_fake().await;
    let app = spawn_app_with(&config(&smtp, Some(&fake))).await;
    user(&app, Role::Organiser, "Айгерим", EMAIL, Lang::Ru).await;
    let token = app.token(Role::Organiser).await;

    let photo = upload(
        &app,
        &token,
        &jpeg(320, 200),
        "naloxone.jpg",
        "Набор налоксона",
    )
    .await;
    let animation = upload(&app, &token, &gif(), "wave.gif", "").await;
    let channel = api_post(
        &app,
        &token,
        "/api/v1/admin/channels",
        json!({"chat": "@forum_news_kz", "title": "Новости форума", "language": "kk"}),
    )
    .await;
    let channel_entry = format!("telegram_channel:{}", channel["id"].as_str().unwrap());
    let survey = api_post(
        &app,
        &token,
        "/api/v1/admin/surveys/examples/ost-access",
        json!({}),
    )
    .await;
    let survey_id = survey["id"].as_str().unwrap().to_string();

    let mut a = Agent::new(&app);
    a.sign_in(EMAIL, super::PASSWORD).await;
    let (status, to) = send(
        &mut a,
        "/admin/campaigns/new",
        "/admin/campaigns/new",
        &[("preset", "world_aids_day")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{to}");
    let id: Uuid = to
        .trim_start_matches("/admin/campaigns/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let campaign = format!("/admin/campaigns/{id}");

    // The audience: the registered channel is a box (title, chat, language).
    let audience = format!("{campaign}/audience");
    let page = html(&mut a, &audience).await;
    assert!(page.contains("Новости форума"), "{page}");
    assert!(page.contains("@forum_news_kz"));
    assert!(!input_with(&page, "channels", &channel_entry).contains("checked"));
    let (status, to) = send(
        &mut a,
        &audience,
        &audience,
        &[
            ("channels", "email"),
            ("channels", "telegram"),
            ("channels", &channel_entry),
            ("action", "save"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{to}");
    assert!(to.ends_with("done=saved"), "{to}");
    let page = html(&mut a, &audience).await;
    assert!(input_with(&page, "channels", &channel_entry).contains("checked"));
    assert!(input_with(&page, "channels", "telegram").contains("checked"));

    // The texts: the boxes, with thumbnails through the session; the email
    // offers images only (the GIF is one; a video would not be).
    let texts = format!("{campaign}/texts?lang=ru");
    let page = html(&mut a, &texts).await;
    for part in ["telegram_media", "email_media"] {
        for m in [photo, animation] {
            assert!(!input_with(&page, part, &m.to_string()).contains("checked"));
        }
    }
    assert!(page.contains(&format!("src=\"/admin/media/{photo}/file\"")));
    assert!(page.contains("Набор налоксона"));
    let r = a.get(&format!("/admin/media/{photo}/file")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");

    // A GIF in an album: refused by the API's rule, said next to the boxes,
    // and what was typed and ticked is still there.
    let typed = "Проверка: 1 декабря — тест на ВИЧ бесплатно.";
    let photo_s = photo.to_string();
    let animation_s = animation.to_string();
    let mut form = vec![
        ("text_lang", "ru"),
        ("email_subject", "1 декабря"),
        ("email_text", "Тест на ВИЧ бесплатно и анонимно."),
        ("telegram", typed),
        ("telegram_media_shown", "1"),
        ("telegram_media", photo_s.as_str()),
        ("telegram_media", animation_s.as_str()),
        ("email_media_shown", "1"),
    ];
    let (status, page) = send(&mut a, &texts, &texts, &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("id=\"telegram-media-error\""), "{page}");
    assert!(page.contains("GIF нельзя отправить альбомом"), "{page}");
    assert!(page.contains(typed), "the typed text stays");
    assert!(input_with(&page, "telegram_media", &photo_s).contains("checked"));
    assert!(input_with(&page, "telegram_media", &animation_s).contains("checked"));

    // The photo alone for Telegram, and for the email.
    form.retain(|(k, v)| !(*k == "telegram_media" && *v == animation_s));
    form.push(("email_media", photo_s.as_str()));
    let (status, to) = send(&mut a, &texts, &texts, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{to}");
    assert!(to.ends_with("done=saved"), "{to}");
    let page = html(&mut a, &texts).await;
    assert!(input_with(&page, "telegram_media", &photo_s).contains("checked"));
    assert!(input_with(&page, "email_media", &photo_s).contains("checked"));
    assert!(!input_with(&page, "telegram_media", &animation_s).contains("checked"));
    assert!(page.contains("Медиа: 1"), "the preview counts the photo");

    // The survey invitation: a reminder needs a survey; then the survey.
    let (status, page) = send(
        &mut a,
        &campaign,
        &format!("{campaign}/action"),
        &[("action", "survey"), ("survey", ""), ("reminder", "on")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Для напоминания выберите опрос."), "{page}");
    let (status, to) = send(
        &mut a,
        &campaign,
        &format!("{campaign}/action"),
        &[
            ("action", "survey"),
            ("survey", &survey_id),
            ("reminder", "on"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{to}");
    let page = html(&mut a, &campaign).await;
    assert!(page.contains("id=\"survey-form\""));
    assert!(
        page.contains(&format!("<option value=\"{survey_id}\" selected>")),
        "{page}"
    );
    assert!(input_with(&page, "reminder", "on").contains("checked"));
    assert!(
        page.contains("Пост в Telegram-канале · Новости форума"),
        "{page}"
    );

    // The admin API shows what the forms chose.
    let v = api_get(&app, &token, &format!("/api/v1/admin/campaigns/{id}")).await;
    assert_eq!(
        v["templates"]["ru"]["telegram_media"],
        json!([photo]),
        "{v}"
    );
    assert_eq!(v["templates"]["ru"]["email_media"], json!([photo]), "{v}");
    assert_eq!(v["templates"]["ru"]["telegram"], typed);
    assert_eq!(
        v["channels"],
        json!(["email", "telegram", channel_entry]),
        "{v}"
    );
    let s = api_get(
        &app,
        &token,
        &format!("/api/v1/admin/campaigns/{id}/survey"),
    )
    .await;
    assert_eq!(s["survey_id"], survey_id, "{s}");
    assert_eq!(s["reminder"], true, "{s}");

    // At 360 px in Russian: the texts page with its boxes, the audience.
    let b = Browser::start().await;
    sign_in(&b, &app, EMAIL).await;
    b.goto(&app.url(&texts)).await;
    b.find("#telegram-media img").await;
    shot(&b, "campaign-texts-media-ru").await;
    b.goto(&app.url(&audience)).await;
    b.find("#registered-hint").await;
    shot(&b, "campaign-audience-channels-ru").await;
    b.goto(&app.url(&campaign)).await;
    b.find("#survey-form").await;
    shot(&b, "campaign-survey-ru").await;
    // Kazakh words are longer: still within the screen.
    b.goto(&app.url(&texts)).await;
    switch_language(&b, "kk").await;
    b.find("#telegram-media img").await;
    shot(&b, "campaign-texts-media-kk").await;
    b.quit().await;

    // Approved, the campaign shows its survey but no longer offers the form.
    let (status, to) = send(
        &mut a,
        &campaign,
        &format!("{campaign}/action"),
        &[("action", "approve")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{to}");
    let page = html(&mut a, &campaign).await;
    assert!(!page.contains("id=\"survey-form\""));
    assert!(page.contains("id=\"survey-current\""));
    assert!(page.contains("ost-access"), "{page}");
}
