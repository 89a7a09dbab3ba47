//! Consultations without Telegram, through the pages (`/talk`): the form,
//! the number and access code shown once, the conversation with the pair,
//! writing again, a consultant's reply (admin API) shown as from the
//! organisation; every wrong pair the same page; no IP address stored;
//! canaries; ru / kk / en; the honeypot, CSRF and the per-client budget;
//! screenshots at 360 px in ru and kk (`target/screenshots/talk-*.png`).

use nasvyazi_shared::auth::{self, Role};
use nasvyazi_tests::webdriver::Browser;
use nasvyazi_tests::{TestApp, assert_no_plaintext, spawn_app_with};
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, SET_COOKIE};
use secrecy::ExposeSecret;
use serde_json::json;
use uuid::Uuid;

/// Consultants always on duty; the organisation has a name to show.
const CONFIG: &str = "[consultations]\nhours = \"Mon-Sun 00:00-24:00\"\n\
                      [organisation]\nname = \"Forum KZ\"\n\
                      [limits]\npublic_posts_per_minute = 200\n";

/// GETs a page: (csrf token, cookie header to send back, html).
async fn form(app: &TestApp, path: &str) -> (String, String, String) {
    form_with(app, path, "").await
}

/// As [`form`], sending `cookie` (the token stays the cookie's).
async fn form_with(app: &TestApp, path: &str, cookie: &str) -> (String, String, String) {
    let r = app
        .http
        .get(app.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
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
        .expect("the form carries a csrf field")
        .to_string();
    let cookies = if cookies.iter().any(|c| c.starts_with("nsv_csrf=")) {
        cookies.join("; ")
    } else {
        cookie.to_string()
    };
    (token, cookies, html)
}

async fn post(
    app: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let body: String = form_urlencoded_pairs(fields);
    app.http
        .post(app.url(path))
        .header(COOKIE, cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

fn form_urlencoded_pairs(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `<code>` values of the created page: (number, access code).
fn pair(html: &str) -> (String, String) {
    let codes: Vec<&str> = html
        .split("<code>")
        .skip(1)
        .filter_map(|s| s.split("</code>").next())
        .collect();
    assert_eq!(codes.len(), 2, "number and code on the page: {html}");
    (codes[0].to_string(), codes[1].to_string())
}

fn no_store(r: &reqwest::Response) {
    assert_eq!(
        r.headers().get(CACHE_CONTROL).map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "{}",
        r.url()
    );
}

/// Opens a conversation through the form in `lang`: (number, code, html
/// of the created page, cookie).
async fn open(app: &TestApp, lang: &str, text: &str) -> (String, String, String, String) {
    let (csrf, cookie, _) = form(app, &format!("/talk?lang={lang}")).await;
    let r = post(
        app,
        &format!("/talk?lang={lang}"),
        &cookie,
        &[("csrf", &csrf), ("text", text), ("language", lang)],
    )
    .await;
    assert_eq!(r.status(), 200);
    no_store(&r);
    let html = r.text().await.unwrap();
    let (number, code) = pair(&html);
    (number, code, html, cookie)
}

#[tokio::test]
async fn a_person_without_telegram_reads_the_answer_and_writes_again() {
    let app = spawn_app_with(CONFIG).await;
    let canary = format!("мой друг передозировал canary-{}", Uuid::new_v4().simple());

    // The form: emergency text (its <b> kept), the hours, no script.
    let (_, _, html) = form(&app, "/talk?lang=ru").await;
    assert!(html.contains("Написать консультанту"), "{html}");
    assert!(
        html.contains("<b>Если это передозировка — звоните 103 прямо сейчас.</b>"),
        "{html}"
    );
    assert!(html.contains("Mon-Sun 00:00-24:00"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    let home = app.http.get(app.url("/?lang=ru")).send().await.unwrap();
    assert!(
        home.text()
            .await
            .unwrap()
            .contains("<a href=\"/talk?lang=ru\">Написать консультанту</a>")
    );

    // The pair, once, with the advice.
    let (number, code, created, cookie) = open(&app, "ru", &canary).await;
    assert!(number.starts_with("NS-") && number.len() == 12, "{number}");
    assert_eq!(code.len(), 19, "{code}");
    assert!(created.contains("Запишите номер и код"), "{created}");
    assert!(
        created.contains("Мы никогда не спрашиваем ваше имя"),
        "{created}"
    );
    assert!(created.contains("103"), "{created}");
    assert!(!created.contains("canary-"), "the text is not echoed");

    // The conversation: the person's message and the automatic answer.
    let (csrf, _, _) = form_with(&app, "/talk/status?lang=ru", &cookie).await;
    let status = |csrf: String, cookie: String, number: String, code: String| {
        let app = &app;
        async move {
            post(
                app,
                "/talk/status?lang=ru",
                &cookie,
                &[("csrf", &csrf), ("number", &number), ("access_code", &code)],
            )
            .await
        }
    };
    let r = status(csrf.clone(), cookie.clone(), number.clone(), code.clone()).await;
    assert_eq!(r.status(), 200);
    no_store(&r);
    let html = r.text().await.unwrap();
    assert!(html.contains(&canary), "{html}");
    assert!(html.contains("Автоматический ответ"), "{html}");
    // Typed loosely, the pair still opens it.
    let r = status(
        csrf.clone(),
        cookie.clone(),
        number.to_lowercase(),
        code.replace('-', " "),
    )
    .await;
    assert_eq!(r.status(), 200);

    // Writing again shows the conversation with the new message.
    let again = format!("ещё одно сообщение {}", Uuid::new_v4().simple());
    let r = post(
        &app,
        "/talk/status/add?lang=ru",
        &cookie,
        &[
            ("csrf", &csrf),
            ("number", &number),
            ("access_code", &code),
            ("text", &again),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    no_store(&r);
    let html = r.text().await.unwrap();
    assert!(html.contains(&again) && html.contains(&canary), "{html}");
    // An empty message: the conversation again, with the error, 422.
    let r = post(
        &app,
        "/talk/status/add?lang=ru",
        &cookie,
        &[
            ("csrf", &csrf),
            ("number", &number),
            ("access_code", &code),
            ("text", "   "),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("Напишите сообщение"));

    // A consultant replies (and notes) from the admin API, under a name
    // the person must never see.
    let staff_name = format!("Айгерим-{}", Uuid::new_v4().simple());
    let mut tx = app.infra.db.begin().await.unwrap();
    let token = auth::create_token(&mut tx, Role::Consultant, &staff_name, "test")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let bearer = format!("Bearer {}", token.token.expose_secret());
    let reply = format!(
        "<b>Налоксон</b> есть в аптеках &amp; у нас {}",
        Uuid::new_v4().simple()
    );
    let note = format!("internal-note-{}", Uuid::new_v4().simple());
    for (what, text) in [("replies", &reply), ("notes", &note)] {
        let r = app
            .http
            .post(app.url(&format!("/api/v1/admin/conversations/{number}/{what}")))
            .header("authorization", &bearer)
            .json(&json!({ "text": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{what}");
    }
    let r = status(csrf.clone(), cookie.clone(), number.clone(), code.clone()).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    // Its <b> kept, its entity still escaped.
    assert!(html.contains(&reply), "the reply: {html}");
    let signed = html
        .split("<section")
        .find(|s| s.contains("Налоксон"))
        .expect("the reply has its section");
    assert!(
        signed.contains("Forum KZ"),
        "from the organisation: {signed}"
    );
    assert!(!html.contains(&staff_name), "no consultant's name");
    assert!(!html.contains(&token.id.to_string()), "no consultant's id");
    assert!(!html.contains(&note), "notes stay with staff");

    // Every wrong pair: the same page, byte for byte.
    let (other_number, other_code, _, _) = open(&app, "ru", "другой разговор").await;
    let wrong = [
        (number.clone(), other_code.clone()),
        (other_number.clone(), code.clone()),
        ("NS-2222-2222".to_string(), code.clone()),
        (number.clone(), String::new()),
        ("not a number".to_string(), "not a code".to_string()),
        (number.clone(), code[..18].to_string()),
    ];
    let mut pages = Vec::new();
    for (n, c) in &wrong {
        let r = status(csrf.clone(), cookie.clone(), n.clone(), c.clone()).await;
        pages.push((r.status(), r.bytes().await.unwrap()));
    }
    let r = post(
        &app,
        "/talk/status/add?lang=ru",
        &cookie,
        &[
            ("csrf", &csrf),
            ("number", &number),
            ("access_code", &other_code),
            ("text", "x"),
        ],
    )
    .await;
    pages.push((r.status(), r.bytes().await.unwrap()));
    for p in &pages {
        assert_eq!(p, &pages[0]);
    }
    assert_eq!(pages[0].0, 404);
    assert!(String::from_utf8_lossy(&pages[0].1).contains("не найден"));
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM conversation_messages m JOIN conversations c ON c.id = m.conversation_id
         WHERE c.number = $1",
    )
    .bind(&number)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(
        count, 5,
        "two from the person, the automatic answer, a reply, a note"
    );

    // No client address can be stored: no address-typed column at all.
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = current_schema()
           AND table_name IN ('consultation_people', 'conversations', 'conversation_messages')",
    )
    .fetch_all(&app.infra.db)
    .await
    .unwrap();
    for table in [
        "consultation_people",
        "conversations",
        "conversation_messages",
    ] {
        assert!(columns.iter().any(|c| c.0 == table), "{table} exists");
    }
    let addresses: Vec<_> = columns
        .iter()
        .filter(|c| c.2 == "inet" || c.2 == "cidr" || c.1.contains("ip_") || c.1 == "ip")
        .collect();
    assert!(addresses.is_empty(), "address columns: {addresses:?}");

    // The person's words are nowhere in plain text.
    assert_no_plaintext(&app, &canary).await;
    assert_no_plaintext(&app, &again).await;
    app.stop().await;
}

#[tokio::test]
async fn the_pages_speak_kazakh_and_english() {
    let app = spawn_app_with(CONFIG).await;
    for (lang, strings) in [
        (
            "kk",
            &[
                "Кеңесшіге жазу",
                "Жауап тілі",
                "Егер бұл дозаның асып кетуі болса",
            ][..],
        ),
        (
            "en",
            &[
                "Write to a consultant",
                "Language of the answers",
                "If this is an overdose, call 103 now.",
            ][..],
        ),
    ] {
        let (_, _, html) = form(&app, &format!("/talk?lang={lang}")).await;
        assert!(html.contains(&format!("<html lang=\"{lang}\"")), "{html}");
        for s in strings {
            assert!(html.contains(s), "{lang}: {s}: {html}");
        }
        assert!(!html.contains("talk."), "{lang}: no raw key: {html}");
        let (number, code, created, cookie) = open(&app, lang, "Сәлеметсіз бе").await;
        let expect = if lang == "kk" {
            "Кіру коды"
        } else {
            "Access code"
        };
        assert!(created.contains(expect), "{created}");
        let (csrf, _, status_form) =
            form_with(&app, &format!("/talk/status?lang={lang}"), &cookie).await;
        let expect = if lang == "kk" {
            "Әңгімені ашу"
        } else {
            "Open the conversation"
        };
        assert!(status_form.contains(expect), "{status_form}");
        let r = post(
            &app,
            &format!("/talk/status?lang={lang}"),
            &cookie,
            &[("csrf", &csrf), ("number", &number), ("access_code", &code)],
        )
        .await;
        let html = r.text().await.unwrap();
        let expect = if lang == "kk" {
            ["Сіз", "Автоматты жауап", "Тағы жазу"]
        } else {
            ["You", "Automatic answer", "Write again"]
        };
        for s in expect {
            assert!(html.contains(s), "{lang}: {s}: {html}");
        }
        let home = app
            .http
            .get(app.url(&format!("/?lang={lang}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            home.contains(&format!("href=\"/talk?lang={lang}\"")),
            "{home}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn bots_forged_forms_and_floods_are_turned_away() {
    let app = spawn_app_with(
        "[consultations]\nhours = \"Mon-Sun 00:00-24:00\"\n[limits]\npublic_posts_per_minute = 6\n",
    )
    .await;
    let (csrf, cookie, _) = form(&app, "/talk?lang=en").await;
    let stored = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM conversations")
            .fetch_one(&app.infra.db)
            .await
            .unwrap()
    };
    // 1. A filled honeypot: a plausible pair, nothing stored.
    let r = post(
        &app,
        "/talk?lang=en",
        &cookie,
        &[
            ("csrf", &csrf),
            ("text", "buy now"),
            ("website", "http://spam"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let (number, _) = pair(&r.text().await.unwrap());
    assert!(number.starts_with("NS-"));
    assert_eq!(stored().await, 0);
    // 2. No CSRF token: refused, nothing stored.
    let r = post(&app, "/talk?lang=en", "", &[("text", "hello")]).await;
    assert_eq!(r.status(), 403);
    let r = post(
        &app,
        "/talk?lang=en",
        &cookie,
        &[("csrf", "forged"), ("text", "hello")],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(stored().await, 0);
    // 3. An empty message: the form again with what was chosen, 422.
    let r = post(
        &app,
        "/talk?lang=en",
        &cookie,
        &[("csrf", &csrf), ("text", "  "), ("language", "kk")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Write a message: 1 to 4000 characters."),
        "{html}"
    );
    assert!(
        html.contains("<option value=\"kk\" lang=\"kk\" selected>"),
        "{html}"
    );
    assert_eq!(stored().await, 0);
    // 4. The per-client budget of public POSTs covers these pages: four
    // spent above, the fifth and sixth pass, the seventh is refused.
    for _ in 0..2 {
        let r = post(&app, "/talk/status?lang=en", &cookie, &[("csrf", &csrf)]).await;
        assert_eq!(r.status(), 404);
    }
    let r = post(&app, "/talk/status?lang=en", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 429);
    let r = post(
        &app,
        "/talk/status/add?lang=en",
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status(), 429);
    app.stop().await;
}

/// The form, the pair and the conversation in a 360-pixel browser, in ru
/// and kk: nothing wider than the screen; the screenshots are for eyes.
#[tokio::test]
async fn the_pages_fit_a_small_phone_in_russian_and_kazakh() {
    let app = spawn_app_with(CONFIG).await;
    let b = Browser::start().await;
    let shot = |name: &'static str| {
        let b = &b;
        async move {
            // The honeypot is off screen on purpose.
            let wide: Vec<String> = b
                .overflowing()
                .await
                .into_iter()
                .filter(|e| !e.starts_with("div.hp"))
                .collect();
            assert!(wide.is_empty(), "{name}: wider than the screen: {wide:?}");
            b.screenshot_full(&format!("talk-{name}")).await;
        }
    };
    for lang in ["ru", "kk"] {
        b.goto(&app.url(&format!("/talk?lang={lang}"))).await;
        b.find("textarea[name=text]").await;
        shot(if lang == "ru" { "form-ru" } else { "form-kk" }).await;
    }
    // Russian: write, get the pair, open the conversation.
    b.goto(&app.url("/talk?lang=ru")).await;
    b.find("textarea[name=text]")
        .await
        .send_keys("Здравствуйте, мне нужна помощь, друг передозировал. Что делать?")
        .await;
    b.find("form[action^='/talk?'] button[type=submit]")
        .await
        .click()
        .await;
    b.find("dl.codes").await;
    let codes = b.find_all("dl.codes code").await;
    assert_eq!(codes.len(), 2);
    let number = codes[0].text().await;
    let code = codes[1].text().await;
    shot("created-ru").await;
    let mut tx = app.infra.db.begin().await.unwrap();
    let token = auth::create_token(&mut tx, Role::Consultant, "staff", "test")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let r = app
        .http
        .post(app.url(&format!("/api/v1/admin/conversations/{number}/replies")))
        .bearer_auth(token.token.expose_secret())
        .json(&json!({ "text": "Вызовите 103. <b>Положите друга на бок</b> и следите за дыханием. Мы здесь, пишите." }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    b.goto(&app.url("/talk/status?lang=ru")).await;
    b.find("input[name=number]").await.send_keys(&number).await;
    b.find("input[name=access_code]")
        .await
        .send_keys(&code)
        .await;
    b.find("form[action^='/talk/status?'] button[type=submit]")
        .await
        .click()
        .await;
    b.wait_text("main", "Положите друга на бок").await;
    shot("status-ru").await;
    b.quit().await;
    app.stop().await;
}
