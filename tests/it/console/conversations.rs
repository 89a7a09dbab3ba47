//! Consultations in the console: a consultant's inbox and a conversation
//! over plain HTTP (a person writes through the public `/api/v1/talk`, the
//! consultant reads, answers, notes, tags, refers, sends a canned answer,
//! closes and reopens; the person sees the answers and never the notes),
//! who may open what, a Telegram conversation's files and delivery states
//! (no Telegram name or chat id anywhere), and the inbox and a
//! conversation in a browser at 360 px in ru and kk.

use nasvyazi_front::consultations::store::{self, Media, NewMessage};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_telegram_fake::{Inject, TelegramFake};
use nasvyazi_tests::TestApp;
use nasvyazi_tests::smtp::SmtpServer;
use nasvyazi_tests::webdriver::Browser;
use nasvyazi_tests::{eventually, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{PASSWORD, config, shot, sign_in, switch_language, user};
use crate::security::agent::{Agent, csrf_in, location};
use crate::telegram::{TOKEN, WAIT, declare, fake, new_chat, wait_sent};

/// A person opens a conversation from the web: (number, access code).
async fn talk(app: &TestApp, text: &str, lang: &str) -> (String, String) {
    let r = app
        .http
        .post(app.url("/api/v1/talk"))
        .json(&json!({ "text": text, "language": lang }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    (
        v["number"].as_str().unwrap().to_string(),
        v["access_code"].as_str().unwrap().to_string(),
    )
}

/// What the person sees with their pair.
async fn status(app: &TestApp, number: &str, code: &str) -> Value {
    let r = app
        .http
        .post(app.url("/api/v1/talk/status"))
        .json(&json!({ "number": number, "access_code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn texts(v: &Value) -> Vec<(String, String)> {
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["from"].as_str().unwrap().to_string(),
                m["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn id_of(app: &TestApp, number: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM conversations WHERE number = $1")
        .bind(number)
        .fetch_one(&app.infra.db)
        .await
        .unwrap()
}

async fn html(a: &mut Agent<'_>, path: &str) -> (StatusCode, String) {
    let r = a.get(path).await;
    // The template engine writes `/` in values as `&#x2f;`.
    (r.status(), r.text().await.unwrap().replace("&#x2f;", "/"))
}

/// Posts `form` (with the page's token) and expects the redirect back
/// with `done`.
async fn act(a: &mut Agent<'_>, page: &str, action: &str, form: &[(&str, &str)], done: &str) {
    let csrf = a.csrf(page).await;
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(form);
    let r = a.post(action, &all).await;
    let status = r.status();
    let to = location(&r);
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "{action}: {}",
        r.text().await.unwrap()
    );
    assert!(to.ends_with(&format!("done={done}")), "{action} -> {to}");
}

#[tokio::test]
async fn a_consultant_answers_a_web_conversation_from_the_inbox() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&config(&smtp, None)).await;
    let me = user(
        &app,
        Role::Consultant,
        "Асель",
        "asel@forum.example.kz",
        Lang::Ru,
    )
    .await;
    let (number, code) = talk(
        &app,
        "Здравствуйте, мне нужна помощь, друг передозировал",
        "ru",
    )
    .await;
    let id = id_of(&app, &number).await;

    let mut a = Agent::new(&app);
    a.sign_in("asel@forum.example.kz", PASSWORD).await;

    // The inbox: the conversation, unassigned and waiting for us; no text.
    let (st, page) = html(&mut a, "/admin/conversations").await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains(&number), "{page}");
    assert!(page.contains("Обращения в чате"), "the menu entry");
    assert!(page.contains("ничей") && page.contains("ждёт ответа"));
    assert!(!page.contains("передозировал"), "no text in the list");
    for (view, listed) in [
        ("unassigned", true),
        ("mine", false),
        ("waiting_for_us", true),
        ("waiting_for_person", false),
        ("closed", false),
    ] {
        let (_, page) = html(&mut a, &format!("/admin/conversations?view={view}")).await;
        assert_eq!(page.contains(&number), listed, "{view}");
    }
    // Opening by number.
    let r = a
        .get(&format!(
            "/admin/conversations?number={}",
            number.to_lowercase()
        ))
        .await;
    assert_eq!(location(&r), format!("/admin/conversations/{id}"));

    // The conversation: decrypted, the read audited.
    let c = format!("/admin/conversations/{id}");
    let (st, page) = html(&mut a, &c).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("друг передозировал"));
    assert!(page.contains("class=\"from-person\""));
    assert!(
        page.contains("class=\"from-system\""),
        "the automatic answer"
    );
    // The automatic answer's Telegram HTML is shown as text.
    assert!(page.contains("Если это передозировка — звоните 103"));
    assert!(!page.contains("&lt;b&gt;Если"), "{page}");
    let reads: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'conversation.read' AND actor = $1 AND target = $2",
    )
    .bind(format!("user:{me}"))
    .bind(format!("conversation:{id}"))
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert!(reads >= 1);

    // Without the form's token: refused, nothing sent.
    let r = a
        .post(&format!("{c}/reply"), &[("text", "Без токена не уходит.")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Claim, then the reply; the person sees it as the organisation's.
    act(&mut a, &c, &format!("{c}/claim"), &[], "claimed").await;
    let (_, page) = html(&mut a, "/admin/conversations?view=mine").await;
    assert!(page.contains(&number));
    let answer = "Мы на связи. Если друг не дышит — звоните 103, положите на бок.";
    act(
        &mut a,
        &c,
        &format!("{c}/reply"),
        &[("text", answer)],
        "replied",
    )
    .await;
    let (_, page) = html(&mut a, &format!("{c}?done=replied")).await;
    assert!(page.contains("Ответ отправлен"));
    assert!(page.contains("class=\"from-staff\""));
    let (_, page) = html(&mut a, "/admin/conversations?view=waiting_for_person").await;
    assert!(page.contains(&number));
    let seen = texts(&status(&app, &number, &code).await);
    assert!(
        seen.iter().any(|(from, t)| from == "staff" && t == answer),
        "{seen:?}"
    );
    let raw = status(&app, &number, &code).await.to_string();
    assert!(!raw.contains("Асель") && !raw.contains(&me.to_string()));

    // A note: staff only.
    let secret_note = "Похоже на опиоиды, уточнить про налоксон";
    act(
        &mut a,
        &c,
        &format!("{c}/note"),
        &[("text", secret_note)],
        "noted",
    )
    .await;
    let (_, page) = html(&mut a, &c).await;
    assert!(page.contains(secret_note));
    let raw = status(&app, &number, &code).await.to_string();
    assert!(!raw.contains("опиоиды"), "{raw}");

    // Topics and referral.
    act(
        &mut a,
        &c,
        &format!("{c}/tags"),
        &[("tag", "overdose"), ("tag", "hiv")],
        "tagged",
    )
    .await;
    let tags: Vec<String> = sqlx::query_scalar("SELECT tags FROM conversations WHERE id = $1")
        .bind(id)
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(tags, ["hiv", "overdose"]);
    let (_, page) = html(&mut a, &c).await;
    assert!(page.contains("Передозировка, ВИЧ") || page.contains("ВИЧ, Передозировка"));
    let csrf = a.csrf(&c).await;
    let r = a
        .post(
            &format!("{c}/tags"),
            &[("csrf", &csrf), ("tag", "not_a_tag")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    act(
        &mut a,
        &c,
        &format!("{c}/refer"),
        &[("to", "lawyer")],
        "referred",
    )
    .await;
    let referred: Option<String> =
        sqlx::query_scalar("SELECT referred_to FROM conversations WHERE id = $1")
            .bind(id)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(referred.as_deref(), Some("lawyer"));

    // A reply that is not Telegram HTML: refused with why, nothing sent.
    let csrf = a.csrf(&c).await;
    let r = a
        .post(
            &format!("{c}/reply"),
            &[("csrf", &csrf), ("text", "<script>x</script>")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Ответ не отправлен"));

    // A canned answer in the conversation's language, sent with one button.
    act(
        &mut a,
        "/admin/canned-answers",
        "/admin/canned-answers",
        &[
            ("language", "ru"),
            ("title", "Налоксон"),
            ("body", "Налоксон бесплатно: <b>пункт на Абая, 10</b>."),
        ],
        "canned_saved",
    )
    .await;
    act(
        &mut a,
        "/admin/canned-answers",
        "/admin/canned-answers",
        &[
            ("language", "kk"),
            ("title", "Налоксон kk"),
            ("body", "Налоксон тегін."),
        ],
        "canned_saved",
    )
    .await;
    let (_, page) = html(&mut a, &c).await;
    assert!(page.contains("Отправить этот ответ"));
    assert!(page.contains("Налоксон бесплатно"));
    assert!(
        !page.contains("Налоксон тегін"),
        "only the conversation's language"
    );
    let body = "Налоксон бесплатно: <b>пункт на Абая, 10</b>.";
    act(
        &mut a,
        &c,
        &format!("{c}/reply"),
        &[("text", body)],
        "replied",
    )
    .await;
    let seen = texts(&status(&app, &number, &code).await);
    assert!(
        seen.iter()
            .any(|(from, t)| from == "staff" && t.contains("Абая, 10")),
        "{seen:?}"
    );

    // Blocking needs "I am sure".
    let csrf = a.csrf(&c).await;
    let r = a.post(&format!("{c}/block"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Hand over, close, reopen.
    act(&mut a, &c, &format!("{c}/unassign"), &[], "unassigned").await;
    act(&mut a, &c, &format!("{c}/close"), &[], "closed").await;
    let (_, page) = html(&mut a, "/admin/conversations?view=closed").await;
    assert!(page.contains(&number));
    let (_, page) = html(&mut a, "/admin/conversations").await;
    assert!(!page.contains(&number), "not among the open ones");
    let (_, page) = html(&mut a, &c).await;
    assert!(page.contains("Разговор закрыт: чтобы ответить"));
    assert!(!page.contains(&format!("action=\"{c}/reply\"")));
    let csrf = csrf_in(&page);
    let r = a
        .post(&format!("{c}/reply"), &[("csrf", &csrf), ("text", "ещё")])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    act(&mut a, &c, &format!("{c}/reopen"), &[], "reopened").await;
    let state: String = sqlx::query_scalar("SELECT state FROM conversations WHERE id = $1")
        .bind(id)
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(state, "open");

    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE actor = $1 ORDER BY id")
            .bind(format!("user:{me}"))
            .fetch_all(&app.infra.db)
            .await
            .unwrap();
    for x in [
        "conversation.read",
        "conversation.assigned",
        "conversation.replied",
        "conversation.noted",
        "conversation.tagged",
        "conversation.referred",
        "conversation.closed",
        "conversation.reopened",
        "canned_answer.saved",
    ] {
        assert!(actions.iter().any(|a| a == x), "{x} not in {actions:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn only_consultants_and_admins_open_conversations() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&config(&smtp, None)).await;
    user(
        &app,
        Role::Consultant,
        "Консультант",
        "c@forum.example.kz",
        Lang::En,
    )
    .await;
    user(
        &app,
        Role::Organiser,
        "Организатор",
        "o@forum.example.kz",
        Lang::En,
    )
    .await;
    user(
        &app,
        Role::Caseworker,
        "Кейс",
        "w@forum.example.kz",
        Lang::En,
    )
    .await;
    user(&app, Role::Admin, "Админ", "a@forum.example.kz", Lang::En).await;
    let (number, _) = talk(&app, "Нужен тест на ВИЧ", "kk").await;
    let id = id_of(&app, &number).await;
    let c = format!("/admin/conversations/{id}");
    let media = format!("{c}/media/{}", Uuid::now_v7());

    // A consultant: the inbox, not campaigns; the menu says so.
    let mut consultant = Agent::new(&app);
    consultant.sign_in("c@forum.example.kz", PASSWORD).await;
    // Their home is the inbox.
    let (st, _) = html(&mut consultant, "/admin").await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let (st, page) = html(&mut consultant, "/admin/conversations").await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("href=\"/admin/conversations\""));
    assert!(!page.contains("href=\"/admin/campaigns\""));
    assert!(!page.contains("href=\"/admin/appeals\""));
    for path in [
        "/admin/campaigns",
        "/admin/appeals",
        "/admin/supporters",
        "/admin/users",
    ] {
        assert_eq!(
            consultant.get(path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    assert_eq!(html(&mut consultant, &c).await.0, StatusCode::OK);
    assert_eq!(
        consultant.get("/admin/canned-answers").await.status(),
        StatusCode::OK
    );
    // A message that is not there (or has no file): 404, not a crash.
    assert_eq!(consultant.get(&media).await.status(), StatusCode::NOT_FOUND);

    // An organiser: canned answers (they write them), not conversations.
    let mut organiser = Agent::new(&app);
    organiser.sign_in("o@forum.example.kz", PASSWORD).await;
    let (_, page) = html(&mut organiser, "/admin").await;
    assert!(!page.contains("href=\"/admin/conversations\""));
    assert!(page.contains("href=\"/admin/canned-answers\""));
    for path in ["/admin/conversations", c.as_str(), media.as_str()] {
        assert_eq!(
            organiser.get(path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let csrf = organiser.csrf("/admin/canned-answers").await;
    let r = organiser
        .post(&format!("{c}/claim"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    act(
        &mut organiser,
        "/admin/canned-answers",
        "/admin/canned-answers",
        &[
            ("language", "en"),
            ("title", "HIV test"),
            ("body", "Free HIV tests: Mon-Fri."),
        ],
        "canned_saved",
    )
    .await;
    let canned: Uuid = sqlx::query_scalar("SELECT id FROM canned_answers")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    // Edited, then deleted.
    act(
        &mut organiser,
        "/admin/canned-answers",
        "/admin/canned-answers",
        &[
            ("id", &canned.to_string()),
            ("language", "en"),
            ("title", "HIV test"),
            ("body", "Free HIV tests: every day."),
        ],
        "canned_saved",
    )
    .await;
    let (_, page) = html(&mut organiser, "/admin/canned-answers").await;
    assert!(page.contains("every day") && !page.contains("Mon-Fri"));
    act(
        &mut organiser,
        "/admin/canned-answers",
        &format!("/admin/canned-answers/{canned}/delete"),
        &[],
        "canned_deleted",
    )
    .await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM canned_answers")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(left, 0);

    // A caseworker: neither.
    let mut caseworker = Agent::new(&app);
    caseworker.sign_in("w@forum.example.kz", PASSWORD).await;
    for path in ["/admin/conversations", "/admin/canned-answers", c.as_str()] {
        assert_eq!(
            caseworker.get(path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }

    // An admin: everything, and adds a consultant with a speciality.
    let mut admin = Agent::new(&app);
    admin.sign_in("a@forum.example.kz", PASSWORD).await;
    let (st, page) = html(&mut admin, "/admin/conversations").await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains(&number));
    let (_, page) = html(&mut admin, "/admin/users").await;
    assert!(page.contains("<option value=\"consultant\">"));
    assert!(page.contains("<option value=\"lawyer\">"));
    let csrf = csrf_in(&page);
    let r = admin
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("name", "Юрист"),
                ("email", "lawyer@forum.example.kz"),
                ("role", "consultant"),
                ("speciality", "lawyer"),
                ("language", "ru"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (role, speciality): (String, Option<String>) =
        sqlx::query_as("SELECT role, speciality FROM console_users WHERE name = 'Юрист'")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(
        (role.as_str(), speciality.as_deref()),
        ("consultant", Some("lawyer"))
    );
    app.stop().await;
}

/// A conversation from Telegram made directly in the store (no fake
/// needed): the person's photo and document, a reply whose fate is
/// unknown, one that failed. Returns (id, chat id, the photo's message).
async fn telegram_conversation(app: &TestApp) -> (Uuid, i64, Uuid) {
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    let chat = 7_000_000_000 + (Uuid::new_v4().as_u128() % 1_000_000_000) as i64;
    let mut tx = app.infra.db.begin().await.unwrap();
    let person = store::create_person(&mut tx, &keys, Some(chat), Some(Lang::Kk))
        .await
        .unwrap();
    let opened = store::open_for(&mut tx, &keys, &person, "telegram", Lang::Kk, None)
        .await
        .unwrap();
    let key = store::conversation_key(&mut tx, &keys, opened.id)
        .await
        .unwrap()
        .unwrap();
    let mut photo = Uuid::nil();
    for (text, media) in [
        (Some("Сәлеметсіз бе, досым есінен танып қалды"), None),
        (
            None,
            Some(Media {
                kind: "photo".into(),
                file_id: "AgACAgIAAxkBAAIBfakefileid".into(),
                file_name: None,
                mime_type: None,
                file_size: Some(12_345),
            }),
        ),
        (
            Some("Анализ нәтижесі"),
            Some(Media {
                kind: "document".into(),
                file_id: "BQACAgIAAxkBAAIBfakedocid".into(),
                file_name: Some("analysis.pdf".into()),
                mime_type: Some("application/pdf".into()),
                file_size: Some(54_321),
            }),
        ),
    ] {
        let mid = store::add_message(
            &mut tx,
            &key,
            opened.id,
            NewMessage {
                author: "person",
                staff_id: None,
                text,
                media: media.as_ref(),
                delivery: None,
                copy_of: None,
            },
        )
        .await
        .unwrap();
        if media.as_ref().is_some_and(|m| m.kind == "photo") {
            photo = mid;
        }
    }
    for (text, delivery, error) in [
        (
            "Біз байланыстамыз, 103-ке қоңырау шалыңыз.",
            "unknown",
            None,
        ),
        (
            "Налоксон бар ма?",
            "failed",
            Some("Forbidden: bot was blocked by the user"),
        ),
    ] {
        let mid = store::add_message(
            &mut tx,
            &key,
            opened.id,
            NewMessage {
                author: "staff",
                staff_id: None,
                text: Some(text),
                media: None,
                delivery: Some("queued"),
                copy_of: None,
            },
        )
        .await
        .unwrap();
        sqlx::query(
            "UPDATE conversation_messages SET delivery = $2, delivery_error = $3 WHERE id = $1",
        )
        .bind(mid)
        .bind(delivery)
        .bind(error)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    (opened.id, chat, photo)
}

#[tokio::test]
async fn a_telegram_conversation_shows_its_files_and_delivery_but_never_the_chat() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&config(&smtp, None)).await;
    user(
        &app,
        Role::Consultant,
        "Дана",
        "dana@forum.example.kz",
        Lang::Kk,
    )
    .await;
    let (id, chat, photo) = telegram_conversation(&app).await;
    let mut a = Agent::new(&app);
    a.sign_in("dana@forum.example.kz", PASSWORD).await;
    let c = format!("/admin/conversations/{id}");
    let (st, page) = html(&mut a, &c).await;
    assert_eq!(st, StatusCode::OK);
    // The photo inline through the console's own proxy; the document a link.
    assert!(
        page.contains(&format!("<img src=\"{c}/media/{photo}\"")),
        "{page}"
    );
    assert!(page.contains("analysis.pdf"));
    assert!(page.contains("Анализ нәтижесі"));
    // Delivery: unknown with its explanation, failed with Telegram's words.
    assert!(page.contains("d-unknown") && page.contains("қайта жіберілмейді"));
    assert!(page.contains("d-failed") && page.contains("bot was blocked by the user"));
    // Never the chat id, the file ids, or the API's bearer-only route.
    for secret in [
        chat.to_string(),
        "AgACAgIAAxkBAAIBfakefileid".into(),
        "BQACAgIAAxkBAAIBfakedocid".into(),
        "/api/v1/admin".into(),
    ] {
        assert!(!page.contains(&secret), "{secret} on the page");
    }
    let (_, list) = html(&mut a, "/admin/conversations").await;
    assert!(!list.contains(&chat.to_string()));
    // Without Telegram configured the proxy says so (502), audited first.
    let r = a.get(&format!("{c}/media/{photo}")).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'conversation.media_read' AND target = $1",
    )
    .bind(format!("conversation:{id}"))
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    app.stop().await;
}

/// A 160 x 100 PNG: the photo a person sends.
const PHOTO: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0xa0, 0x00, 0x00, 0x00, 0x64, 0x08, 0x02, 0x00, 0x00, 0x00, 0x8e, 0xd4, 0xac,
    0xd8, 0x00, 0x00, 0x00, 0xe0, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0xed, 0xd1, 0x31, 0x0d, 0x00,
    0x20, 0x0c, 0x00, 0xc1, 0xee, 0x78, 0x61, 0xc0, 0x00, 0x12, 0xf0, 0x43, 0x82, 0x47, 0xc4, 0x20,
    0x00, 0x15, 0x5d, 0xe0, 0x92, 0x57, 0xf0, 0x17, 0x65, 0x4c, 0x3d, 0x5c, 0x58, 0x00, 0x58, 0x80,
    0x05, 0x58, 0x80, 0x05, 0x58, 0x80, 0x05, 0x18, 0xb0, 0x00, 0x0b, 0xb0, 0x00, 0x0b, 0xb0, 0x00,
    0x0b, 0x30, 0x60, 0x01, 0x16, 0x60, 0x01, 0x16, 0x60, 0x01, 0x16, 0x60, 0x01, 0x06, 0x2c, 0xc0,
    0x02, 0x2c, 0xc0, 0x02, 0x2c, 0xc0, 0x02, 0x0c, 0x58, 0x80, 0x05, 0x58, 0x80, 0x05, 0x58, 0x80,
    0x05, 0x18, 0xb0, 0x00, 0x0b, 0xb0, 0x00, 0x0b, 0xb0, 0x00, 0x0b, 0xb0, 0x00, 0x03, 0x16, 0x60,
    0x01, 0x16, 0x60, 0x25, 0x02, 0x9f, 0xdd, 0xbf, 0xaa, 0xae, 0xf6, 0x55, 0x80, 0x01, 0x03, 0x06,
    0x0c, 0x18, 0x30, 0x60, 0xc0, 0x80, 0x01, 0x03, 0x06, 0x0c, 0x18, 0x30, 0x60, 0xc0, 0x80, 0x01,
    0x03, 0x06, 0x0c, 0x18, 0x30, 0x60, 0xc0, 0x80, 0x01, 0x03, 0x06, 0x0c, 0x18, 0x30, 0x60, 0xc0,
    0x80, 0x01, 0x03, 0x06, 0x0c, 0x18, 0x30, 0x60, 0xc0, 0x80, 0x01, 0x03, 0x06, 0x0c, 0x18, 0x30,
    0x60, 0xc0, 0x80, 0x01, 0x03, 0x06, 0x0c, 0x18, 0x30, 0x60, 0xc0, 0x80, 0x01, 0x03, 0x06, 0x0c,
    0x18, 0x30, 0x60, 0xc0, 0x80, 0x01, 0x03, 0x06, 0x0c, 0x18, 0x30, 0x60, 0xc0, 0x80, 0x01, 0x03,
    0x06, 0x0c, 0x18, 0x30, 0x60, 0xc0, 0x80, 0x01, 0x03, 0x06, 0x0c, 0x18, 0x30, 0x60, 0xc0, 0x80,
    0x01, 0x03, 0x4e, 0xec, 0x02, 0x49, 0x24, 0xd1, 0x1b, 0x60, 0x8b, 0x8d, 0x15, 0x00, 0x00, 0x00,
    0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A person writes to the bot (with a Telegram name and username that must
/// never show) and sends a photo: (chat, conversation id).
async fn bot_conversation(app: &TestApp, fake: &TelegramFake) -> (i64, Uuid) {
    let chat = new_chat();
    declare(fake, chat);
    fake.inject(Inject::Message {
        token: TOKEN.into(),
        from: chat,
        chat_id: Some(chat),
        text: "Сәлеметсіз бе, досым есінен танып қалды, не істеу керек?".into(),
        first_name: Some("Канат Секретов".into()),
        username: Some("kanat_secret_acc".into()),
        language_code: Some("kk".into()),
    })
    .unwrap();
    wait_sent(fake, chat, 1).await;
    fake.inject_photo(
        TOKEN,
        chat,
        PHOTO.to_vec(),
        160,
        100,
        Some("осыны қабылдады"),
    )
    .unwrap();
    let id = eventually(WAIT, || async {
        sqlx::query_scalar::<_, Uuid>(
            "SELECT conversation_id FROM conversation_messages WHERE media_ct IS NOT NULL",
        )
        .fetch_optional(&app.infra.db)
        .await
        .unwrap()
    })
    .await;
    (chat, id)
}

#[tokio::test]
async fn a_photo_from_telegram_shows_in_the_console_and_the_answer_reaches_the_chat() {
    let fake = fake().await;
    let app = spawn_app_with(&crate::consultations::config(&fake, "")).await;
    user(
        &app,
        Role::Consultant,
        "Дана",
        "dana@forum.example.kz",
        Lang::Kk,
    )
    .await;
    let (chat, id) = bot_conversation(&app, &fake).await;
    let mut a = Agent::new(&app);
    a.sign_in("dana@forum.example.kz", PASSWORD).await;
    let c = format!("/admin/conversations/{id}");
    let (_, page) = html(&mut a, &c).await;
    assert!(page.contains("осыны қабылдады"));
    for secret in [chat.to_string(), "Канат".into(), "kanat_secret_acc".into()] {
        assert!(!page.contains(&secret), "{secret} on the page");
    }
    let start = page
        .find(&format!("<img src=\"{c}/media/"))
        .expect("the photo inline");
    let src = page[start + 10..].split('"').next().unwrap().to_string();
    // The photo through the console session (not a bearer token).
    let r = a.get(&src).await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("sandbox"), "the proxy's own policy: {csp}");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), PHOTO);
    // Not without a session.
    let mut stranger = Agent::new(&app);
    assert_eq!(stranger.get(&src).await.status(), StatusCode::SEE_OTHER);

    // The answer from the console goes to the chat from the bot, once.
    let answer = "Жедел жәрдемге 103 қоңырау шалыңыз, досыңызды бүйірімен жатқызыңыз.";
    act(
        &mut a,
        &c,
        &format!("{c}/reply"),
        &[("text", answer)],
        "replied",
    )
    .await;
    let sent = wait_sent(&fake, chat, 2).await;
    assert_eq!(sent[1]["text"], answer);
    assert!(!sent.iter().any(|m| m.to_string().contains("Дана")));
    eventually(WAIT, || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT 1::bigint FROM conversation_messages WHERE delivery = 'sent'",
        )
        .fetch_optional(&app.infra.db)
        .await
        .unwrap()
    })
    .await;
    let (_, page) = html(&mut a, &c).await;
    assert!(page.contains("d-sent") && page.contains("Telegram-ға жеткізілді"));
    app.stop().await;
}

#[tokio::test]
async fn the_inbox_and_a_conversation_fit_a_phone_in_russian_and_kazakh() {
    let fake = fake().await;
    let app = spawn_app_with(&crate::consultations::config(&fake, "")).await;
    user(
        &app,
        Role::Consultant,
        "Айгерим",
        "aigerim@forum.example.kz",
        Lang::Ru,
    )
    .await;
    let (number, _) = talk(
        &app,
        "Здравствуйте, мне нужна помощь, друг передозировал. Что делать, пока едет скорая?",
        "ru",
    )
    .await;
    talk(&app, "Қай жерде АИТВ-ға тегін тест тапсыруға болады?", "kk").await;
    let (_, tg) = bot_conversation(&app, &fake).await;
    telegram_conversation(&app).await;
    let id = id_of(&app, &number).await;

    let b = Browser::start().await;
    sign_in(&b, &app, "aigerim@forum.example.kz").await;
    b.find("nav.menu a[href='/admin/conversations']")
        .await
        .click()
        .await;
    b.wait_text("ul.conversations", &number).await;
    shot(&b, "conversations-ru").await;
    // A canned answer, added from a phone.
    b.find("a[href='/admin/canned-answers']")
        .await
        .click()
        .await;
    b.find("select[name=language] option[value=ru]")
        .await
        .click()
        .await;
    b.find("#add input[name=title]")
        .await
        .send_keys("Налоксон: где взять")
        .await;
    b.find("#add textarea[name=body]")
        .await
        .send_keys(
            "Налоксон бесплатно выдают в пунктах доверия: <b>ул. Абая, 10</b>, с 10:00 до 18:00.",
        )
        .await;
    b.find("#add-canned").await.click().await;
    b.wait_text("p.notice", "Готовый ответ сохранён").await;
    shot(&b, "canned-ru").await;
    b.goto(&app.url("/admin/conversations")).await;
    b.find(&format!("a[href='/admin/conversations/{id}']"))
        .await
        .click()
        .await;
    b.wait_text("ol.messages", "друг передозировал").await;
    b.find("textarea[name=text]")
        .await
        .send_keys("Положите друга на бок и следите за дыханием. Если есть налоксон — введите.")
        .await;
    b.find("#send-reply").await.click().await;
    b.wait_text("p.notice", "Ответ отправлен").await;
    b.find("#notes textarea[name=text]")
        .await
        .send_keys("Уточнить район, подсказать ближайший пункт.")
        .await;
    b.find("#add-note").await.click().await;
    b.wait_text("ul.notes", "Уточнить район").await;
    b.find("#canned ul.canned button").await.click().await;
    b.wait_text("ol.messages", "ул. Абая, 10").await;
    shot(&b, "conversation-ru").await;
    switch_language(&b, "kk").await;
    shot(&b, "conversation-kk").await;
    b.goto(&app.url(&format!("/admin/conversations/{tg}")))
        .await;
    b.wait_text("ol.messages", "есінен танып қалды").await;
    // The photo loaded through the console's proxy.
    let loaded = b
        .execute(
            "const i = document.querySelector('ol.messages img'); return i && i.complete && i.naturalWidth;",
            vec![],
        )
        .await;
    assert_eq!(loaded, serde_json::json!(160), "the photo is shown");
    shot(&b, "conversation-telegram-kk").await;
    b.goto(&app.url("/admin/conversations")).await;
    b.wait_text("ul.conversations", &number).await;
    shot(&b, "conversations-kk").await;
    b.goto(&app.url("/admin/canned-answers")).await;
    b.find("#add-canned").await;
    shot(&b, "canned-kk").await;
    b.quit().await;
    app.stop().await;
}
