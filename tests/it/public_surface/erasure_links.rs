//! "Forget me" links in messages to appellants and signers: the link
//! opens a page with a button (opening it erases nothing), the POST erases
//! (the appellant's contact; the signer's sealed data and key), once; the
//! audit says that an erasure happened, never whom.

use std::time::Duration;

use nasvyazi_shared::auth::Role;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_tests::smtp::{Received, SmtpServer};
use nasvyazi_tests::{TestApp, assert_no_plaintext, spawn_app_with};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use uuid::Uuid;

use super::smtp_config;

const WAIT: Duration = Duration::from_secs(20);

/// The first link in `text` that starts with `prefix`.
pub fn link(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in:\n{text}"));
    text[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .unwrap()
        .to_string()
}

/// GETs a page with a form: (status, csrf token, cookie header, body).
pub async fn page(app: &TestApp, url: &str) -> (u16, String, String, String) {
    let r = app.http.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let cookies: Vec<String> = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    let html = r.text().await.unwrap();
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string();
    (status, token, cookies.join("; "), html)
}

/// Opens `url` and presses its button: (status, body).
pub async fn press(app: &TestApp, url: &str) -> (u16, String) {
    let (status, csrf, cookie, html) = page(app, url).await;
    assert_eq!(status, 200, "{url}: {html}");
    let r = app
        .http
        .post(url)
        .header(COOKIE, cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn mail_to(smtp: &SmtpServer, to: &str, n: usize) -> Received {
    let all = smtp.wait_for(n, WAIT).await;
    all.into_iter()
        .rev()
        .find(|m| m.rcpt_to == vec![to.to_string()])
        .unwrap_or_else(|| panic!("no mail to the test address"))
}

async fn audits(app: &TestApp, action: &str) -> Vec<(String, Option<String>, Value)> {
    sqlx::query_as("SELECT actor, target, details FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_all(&app.infra.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_appellants_link_erases_the_contact_and_keeps_the_anonymous_appeal() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&smtp_config(&smtp)).await;
    let email = format!("appellant-{}@example.kz", Uuid::new_v4().simple());
    let r = app
        .http
        .post(app.public_url("/api/v1/appeals"))
        .json(&json!({
            "category": "police", "region": "pavlodar", "city": "ekibastuz",
            "text": "Мне отказали в метадоне.", "consent_to_forward": false,
            "contact": { "email": email }, "language": "en",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let created: Value = r.json().await.unwrap();
    let case = created["case_number"].as_str().unwrap().to_string();
    let code = created["access_code"].as_str().unwrap().to_string();
    let ack = mail_to(&smtp, &email, 1).await;
    let text = ack.text_body().unwrap();
    let forget = link(&text, &app.public_url("/appeal/forget/"));
    assert!(forget.ends_with("?lang=en"), "{forget}");
    assert!(
        ack.html_body()
            .unwrap()
            .contains(&format!("href=\"{forget}\"")),
        "the HTML part links too"
    );
    let (id, contact_ct): (Uuid, Option<Vec<u8>>) =
        sqlx::query_as("SELECT id, contact_ct FROM appeals WHERE case_number = $1")
            .bind(&case)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    let contact_ct = contact_ct.expect("a contact before");

    // Opening the link (what a mail scanner does) erases nothing.
    let (status, _, _, html) = page(&app, &forget).await;
    assert_eq!(status, 200);
    assert!(html.contains("Erase my contact"), "{html}");
    let still: Option<Vec<u8>> = sqlx::query_scalar("SELECT contact_ct FROM appeals WHERE id = $1")
        .bind(id)
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(still.as_deref(), Some(&contact_ct[..]));
    // A POST without the CSRF token is refused.
    let r = app.http.post(&forget).send().await.unwrap();
    assert_eq!(r.status(), 403);

    let (status, body) = press(&app, &forget).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Your contact is erased"), "{body}");
    type After = (
        Option<String>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Vec<u8>,
    );
    let (channel, ct, bi, token, text_ct): After = sqlx::query_as(
        "SELECT contact_channel, contact_ct, contact_bi, forget_token_hash, text_ct FROM appeals WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert!(channel.is_none() && ct.is_none() && bi.is_none() && token.is_none());
    // The contact's ciphertext is in no row any more; the text still opens.
    let anywhere: i64 =
        sqlx::query_scalar("SELECT count(*) FROM appeals WHERE contact_ct = $1 OR text_ct = $1")
            .bind(&contact_ct)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(anywhere, 0);
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    let wrapped: Vec<u8> = sqlx::query_scalar("SELECT data_key FROM appeals WHERE id = $1")
        .bind(id)
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    let key = keys.unwrap_data_key(&wrapped).unwrap();
    assert_eq!(
        key.open_string(&text_ct, &nasvyazi_cases::appeals::stored::aad(id, "text"))
            .unwrap(),
        "Мне отказали в метадоне."
    );
    // The anonymous appeal still answers its pair.
    let r = app
        .http
        .post(app.public_url("/api/v1/appeals/status"))
        .json(&json!({ "case_number": case, "access_code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Once only.
    let (status, _, _, _) = page(&app, &forget).await;
    assert_eq!(status, 404);
    // The audit: an erasure, by a link, of nobody in particular.
    let rows = audits(&app, "appeal.contact_erase").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "link");
    assert_eq!(rows[0].1, None);
    assert_eq!(rows[0].2, json!({}));
    assert!(!format!("{rows:?}").contains(&id.to_string()));
    assert_no_plaintext(&app, &email).await;
    app.stop().await;
}

#[tokio::test]
async fn the_signers_link_erases_the_signatures_data() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&smtp_config(&smtp)).await;
    let token = app.token(Role::Organiser).await;
    let post = |path: &str, body: Value| {
        app.http
            .post(app.url(path))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = post(
        "/api/v1/admin/officials",
        json!({ "name": "Minister", "position": "Minister", "organisation": "Ministry of Health",
                "email": "minister@moh.gov.kz", "language": "ru", "time_zone": "Asia/Almaty",
                "office_hours": "Mon-Sun 00:00-24:00" }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let official = r.json::<Value>().await.unwrap()["id"].clone();
    let slug = format!("f{}", &Uuid::new_v4().simple().to_string()[..10]);
    let r = post(
        "/api/v1/admin/letters",
        json!({
            "name": "Letter", "slug": slug, "mode": "each",
            "templates": { "ru": { "subject": "S", "body": "{{ signer.name }}", "page_text": "P" } },
            "targets": [official], "reply_to": "office@forum.example.kz",
            "official_interval_minutes": 0,
            "send_at": chrono::Utc::now() + chrono::Duration::hours(1),
        }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let letter = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(
        &format!("/api/v1/admin/letters/{letter}/approve"),
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);

    let email = format!("signer-{}@example.kz", Uuid::new_v4().simple());
    let name = format!("Canary{}", Uuid::new_v4().simple());
    let url = app.public_url(&format!("/letters/{slug}?lang=ru"));
    let (_, csrf, cookie, _) = page(&app, &url).await;
    let r = app
        .http
        .post(&url)
        .header(COOKIE, cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={csrf}&name={name}&city=Pavlodar&email={}&consent=yes",
            email.replace('@', "%40")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mail = mail_to(&smtp, &email, 1).await;
    let text = mail.text_body().unwrap();
    let confirm = link(&text, &app.public_url("/letters/confirm/"));
    let forget = link(&text, &app.public_url("/letters/forget/"));
    assert!(mail.html_body().unwrap().contains(&forget));
    let (status, _) = press(&app, &confirm).await;
    assert_eq!(status, 200);
    let count = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM letter_signatures WHERE letter_id = $1::text::uuid
                 AND confirmed_at IS NOT NULL AND withdrawn_at IS NULL",
        )
        .bind(&letter)
        .fetch_one(&app.infra.db)
        .await
        .unwrap()
    };
    assert_eq!(count().await, 1);
    let (id, wrapped, email_bi): (Uuid, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT id, data_key, email_bi FROM letter_signatures WHERE letter_id = $1::text::uuid",
    )
    .bind(&letter)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();

    // Opening the page erases nothing.
    let (status, _, _, html) = page(&app, &forget).await;
    assert_eq!(status, 200);
    assert!(html.contains("Удалить мои данные"), "{html}");
    assert_eq!(count().await, 1);

    let (status, body) = press(&app, &forget).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Данные удалены"), "{body}");
    type After = (
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Vec<u8>,
    );
    let (key, name_ct, email_ct, forget_hash, bi): After = sqlx::query_as(
        "SELECT data_key, name_ct, email_ct, forget_token_hash, email_bi FROM letter_signatures WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert!(key.is_none() && name_ct.is_none() && email_ct.is_none() && forget_hash.is_none());
    assert_ne!(bi, email_bi, "nothing links the row to the address");
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM letter_signatures WHERE data_key = $1 OR email_bi = $2",
    )
    .bind(&wrapped)
    .bind(&email_bi)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(left, 0);
    assert_eq!(count().await, 0, "the signature no longer counts");
    assert_eq!(page(&app, &forget).await.0, 404, "once only");
    let rows = audits(&app, "signature.erase").await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].0.as_str(), rows[0].1.as_deref()), ("link", None));
    assert_no_plaintext(&app, &name).await;
    app.stop().await;
}
