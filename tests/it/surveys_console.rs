//! Surveys, issue 17, second part: invitations whose tokens are checked
//! against the ones issued (a forged one is refused, a valid one works
//! once); a campaign inviting to a survey puts each recipient's own link in
//! the email (real notifier, loopback SMTP), and a reminder skips the
//! contact who answered and reaches the one who did not, with nothing
//! recording who was invited; the console creates the built-in example
//! "Access to OST in hospitals", opens it, and shows results and a
//! printable page with server-drawn SVG charts and suppressed cells as
//! "<5". Screenshots at 360 px: `target/screenshots/survey-results-ru.png`
//! and `survey-example-kk.png`.

use std::time::Duration;

use chrono::Utc;
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_surveys::tokens as survey_tokens;
use nasvyazi_telegram_fake::{ChatKind, FakeConfig, NewChat, TelegramFake};
use nasvyazi_tests::smtp::SmtpServer;
use nasvyazi_tests::webdriver::Browser;
use nasvyazi_tests::{NewContact, TestApp, eventually, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::security::agent::{Agent, csrf_in, location};

const CONFIG: &str = "[limits]\npublic_posts_per_minute = 1000\n";

fn keys(app: &TestApp) -> Keyring {
    Keyring::from_config(&app.config.crypto).unwrap()
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    token: Option<&str>,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    // Every survey answer carries a proof of work.
    let answer = method == reqwest::Method::POST && path.ends_with("/answers");
    let mut r = app.http.request(method, app.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if answer {
        r = r.header("x-proof-of-work", app.proof_of_work().await);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, token: Option<&str>, path: &str, body: Value) -> (StatusCode, Value) {
    send(app, reqwest::Method::POST, token, path, Some(body)).await
}

/// The built-in example, created through the admin API and opened.
async fn open_example(app: &TestApp, organiser: &str) -> Uuid {
    let (s, v) = post(
        app,
        Some(organiser),
        "/api/v1/admin/surveys/examples/ost-access",
        json!({}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["slug"], "ost-access");
    assert_eq!(v["state"], "draft");
    assert_eq!(v["title"]["kk"], "Ауруханаларда ОАТ қолжетімділігі");
    let id: Uuid = v["id"].as_str().unwrap().parse().unwrap();
    let (s, v) = post(
        app,
        Some(organiser),
        &format!("/api/v1/admin/surveys/{id}/open"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    id
}

/// A short answer to the example (no hospital stay: q2 and q3 skipped).
fn short_answer(region: &str) -> Value {
    json!({"q1": "no", "q4": region, "q6": ["order", "peer"]})
}

#[tokio::test]
async fn invitations_are_checked_against_the_issued_ones_and_used_once() {
    let app = spawn_app_with(CONFIG).await;
    let organiser = app.token(Role::Organiser).await;
    let id = open_example(&app, &organiser).await;
    let (s, _) = post(
        &app,
        Some(&organiser),
        "/api/v1/admin/surveys/examples/ost-access",
        json!({}),
    )
    .await;
    assert_eq!(s, 409, "the example exists already");
    let keys = keys(&app);
    let token = survey_tokens::issue(&keys, id, Uuid::new_v4());
    assert!(token.len() <= 40, "fits a bot deep link: {token}");
    let path = "/api/v1/surveys/ost-access/answers";

    // Forged, mistyped and made-up tokens are refused, clearly.
    let mut forged: Vec<char> = token.chars().collect();
    forged[25] = if forged[25] == 'x' { 'y' } else { 'x' };
    let forged: String = forged.into_iter().collect();
    for bad in [
        forged.as_str(),
        "invitation_token_0123456789",
        &token[..31],
        &survey_tokens::issue(&keys, Uuid::new_v4(), Uuid::new_v4()),
    ] {
        let (s, v) = post(
            &app,
            None,
            path,
            json!({"answers": short_answer("pavlodar"), "token": bad}),
        )
        .await;
        assert_eq!(s, 403, "{bad}: {v}");
        assert_eq!(v["error"]["code"], "invalid_token", "{v}");
    }
    // The web page says so at once, in the person's language.
    let r = app
        .http
        .get(app.url(&format!("/surveys/ost-access?lang=kk&t={forged}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Сілтеме жарамсыз"));

    // The issued one: accepted once.
    let body = json!({"answers": short_answer("pavlodar"), "token": token});
    let (s, v) = post(&app, None, path, body.clone()).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = post(&app, None, path, body).await;
    assert_eq!(s, 409, "{v}");
    // The page does not tell whoever holds the link that it was used
    // (issue 24): only a submission does.
    let r = app
        .http
        .get(app.url(&format!("/surveys/ost-access?t={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the page does not say it was used");
    assert!(!r.text().await.unwrap().contains("Ответ уже отправлен"));
    // The form refuses it too (a second tab).
    let r = app
        .http
        .get(app.url("/surveys/ost-access?lang=ru"))
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let csrf = csrf_in(&r.text().await.unwrap());
    let form = |t: &str| {
        vec![
            ("csrf".to_string(), csrf.clone()),
            ("token".to_string(), t.to_string()),
            ("q_q1".to_string(), "no".to_string()),
            ("q_q4".to_string(), "pavlodar".to_string()),
        ]
    };
    for (t, status, text) in [
        (forged.as_str(), 403, "Ссылка недействительна"),
        (token.as_str(), 409, "Ответ уже отправлен"),
    ] {
        let mut fields = form(t);
        fields.push(("pow".to_string(), app.proof_of_work().await));
        let r = app
            .http
            .post(app.url("/surveys/ost-access?lang=ru"))
            .header("cookie", &cookie)
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status);
        assert!(r.text().await.unwrap().contains(text));
    }

    // What is kept: one used-token hash, apart from the response (pending
    // in the survey's batch until five answers settle it); the response
    // row has no token at all.
    let uses: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM survey_token_uses WHERE survey_id = $1)
              + (SELECT coalesce(sum(cardinality(macs)), 0) FROM survey_token_pending WHERE survey_id = $1)",
    )
    .bind(id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(uses, 1);
    let with_token: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM survey_responses WHERE survey_id = $1 AND token_mac IS NOT NULL",
    )
    .bind(id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(with_token, 0);
    nasvyazi_tests::assert_no_plaintext(&app, &token).await;

    // The new paths are in the OpenAPI document.
    let doc: Value = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in [
        "/api/v1/admin/surveys/examples/ost-access",
        "/api/v1/admin/campaigns/{id}/survey",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing");
    }
    assert!(doc["paths"]["/api/v1/surveys/{slug}/answers"]["post"]["responses"]["403"].is_object());
    app.stop().await;
}

const TELEGRAM_TOKEN: &str = "5550017:SURVEYS-token_for_nasvyazi";

fn smtp_config(smtp: &SmtpServer, fake: &TelegramFake) -> String {
    format!(
        "[email]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\nfrom = \"Forum KZ <noreply@forum.example.kz>\"\ntimeout_secs = 5\n\
         [campaigns]\nquiet_hours_start = \"00:00\"\nquiet_hours_end = \"00:00\"\n\
         [telegram]\napi_base = \"{}\"\ntoken = \"{TELEGRAM_TOKEN}\"\n{CONFIG}",
        smtp.url(),
        fake.base_url()
    )
}

/// A one-shot email campaign to the `surveys` topic, two seconds from now,
/// inviting to `survey` (as a reminder or not), approved.
async fn invitation(
    app: &TestApp,
    organiser: &str,
    name: &str,
    survey: Uuid,
    reminder: bool,
) -> Uuid {
    let at = (Utc::now().with_timezone(&chrono_tz::Asia::Almaty) + chrono::Duration::seconds(2))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let body = json!({
        "name": name,
        "schedule": { "kind": "once", "at": [at] },
        "audience": { "topics": ["hiv"], "languages": [], "regions": [], "channels": ["email", "telegram"] },
        "templates": { "ru": {
            "email_subject": "Опрос о доступе к ОЗТ",
            "email_text": "Ответьте, пожалуйста: {{ survey_url }}\n\nОтписаться: {{ unsubscribe_url }}",
            "telegram": "Ответьте на опрос: {{ survey_url }}"
        } }
    });
    let (s, v) = post(app, Some(organiser), "/api/v1/admin/campaigns", body).await;
    assert_eq!(s, 201, "{v}");
    let id: Uuid = v["id"].as_str().unwrap().parse().unwrap();
    let link = format!("/api/v1/admin/campaigns/{id}/survey");
    let (s, v) = send(
        app,
        reqwest::Method::PUT,
        Some(organiser),
        &link,
        Some(json!({"survey": "no-such-survey"})),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = send(
        app,
        reqwest::Method::PUT,
        Some(organiser),
        &link,
        Some(json!({"survey": "ost-access", "reminder": reminder})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["survey_id"], survey.to_string());
    assert_eq!(v["reminder"], reminder);
    let (s, v) = post(
        app,
        Some(organiser),
        &format!("/api/v1/admin/campaigns/{id}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // Approved: the invitation is not changed under a running campaign.
    let (s, _) = send(
        app,
        reqwest::Method::PUT,
        Some(organiser),
        &link,
        Some(json!({"survey": null})),
    )
    .await;
    assert_eq!(s, 409);
    id
}

/// The token in an email's survey link.
fn token_in(text: &str) -> String {
    let at = text.find("/surveys/ost-access?t=").expect("a survey link") + 22;
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test]
async fn a_reminder_reaches_everyone_and_records_nothing_about_who_answered() {
    let smtp = SmtpServer::start().await;
    let fake = TelegramFake::start(FakeConfig {
        tokens: vec![TELEGRAM_TOKEN.into()],
        rate_limits: true,
    })
    .await
    .expect("the fake starts");
    let app = spawn_app_with(&smtp_config(&smtp, &fake)).await;
    let chat = 5_000_000_000_000 + (Uuid::new_v4().as_u128() % 1_000_000_000_000) as i64;
    fake.add_chat(NewChat {
        id: chat,
        kind: ChatKind::Private,
        title: None,
        username: None,
    })
    .unwrap();
    let chat_text = chat.to_string();
    let in_telegram = app
        .insert_contact(NewContact {
            channel: "telegram",
            topics: &["hiv"],
            ..NewContact::email(&chat_text)
        })
        .await;
    let bot: Value = app
        .http
        .get(format!("{}/bot{TELEGRAM_TOKEN}/getMe", fake.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bot = bot["result"]["username"].as_str().unwrap().to_string();
    let organiser = app.token(Role::Organiser).await;
    let survey = open_example(&app, &organiser).await;
    let answered_address = "answered@example.kz";
    let silent_address = "silent@example.kz";
    let answered = app
        .insert_contact(NewContact {
            topics: &["hiv"],
            ..NewContact::email(answered_address)
        })
        .await;
    let silent = app
        .insert_contact(NewContact {
            topics: &["hiv"],
            ..NewContact::email(silent_address)
        })
        .await;
    let keys = keys(&app);

    // The invitation: each their own link, the token derived from the
    // survey and the contact (nothing stored when it is sent).
    invitation(&app, &organiser, "Invitation", survey, false).await;
    let got = smtp.wait_for(2, Duration::from_secs(30)).await;
    let mut tokens = std::collections::HashMap::new();
    for m in &got {
        let text = m.text_body().unwrap();
        assert!(
            text.contains(&format!(
                "{}/surveys/ost-access?t=",
                app.config.public_base()
            )),
            "{text}"
        );
        tokens.insert(m.rcpt_to[0].clone(), token_in(&text));
    }
    assert_eq!(
        tokens[answered_address],
        survey_tokens::issue(&keys, survey, answered)
    );
    assert_eq!(
        tokens[silent_address],
        survey_tokens::issue(&keys, survey, silent)
    );
    assert_ne!(tokens[answered_address], tokens[silent_address]);
    // In Telegram: the bot's deep link with the chat's own token.
    let deep_link = format!(
        "https://t.me/{bot}?start=survey_ost-access_{}",
        survey_tokens::issue(&keys, survey, in_telegram)
    );
    let sent = eventually(Duration::from_secs(20), || async {
        let sent = fake.sent_to(chat);
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert!(
        sent[0]["text"].as_str().unwrap().contains(&deep_link),
        "{sent:?} / {deep_link}"
    );
    let used: i64 = sqlx::query_scalar("SELECT count(*) FROM survey_token_uses")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(used, 0, "sending stores nothing");

    // One of them answers with their link.
    let (s, v) = post(
        &app,
        None,
        "/api/v1/surveys/ost-access/answers",
        json!({"answers": short_answer("almaty"), "token": tokens[answered_address]}),
    )
    .await;
    assert_eq!(s, 201, "{v}");

    // The reminder reaches both, the one who answered too (issue 24:
    // skipping them would record who answered), and leaves the same trace
    // for each: one sent delivery, nothing skipped.
    smtp.clear_messages();
    let reminder = invitation(&app, &organiser, "Reminder", survey, true).await;
    let got = smtp.wait_for(2, Duration::from_secs(30)).await;
    let mut to: Vec<String> = got.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    let mut both = vec![answered_address.to_string(), silent_address.to_string()];
    both.sort();
    assert_eq!(to, both);
    for m in &got {
        let address = &m.rcpt_to[0];
        assert_eq!(token_in(&m.text_body().unwrap()), tokens[address.as_str()]);
    }
    eventually(Duration::from_secs(20), || async {
        (fake.sent_to(chat).len() == 2).then_some(())
    })
    .await;
    let traces: Vec<(String, Option<String>)> = eventually(Duration::from_secs(15), || async {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT d.status, d.last_error FROM deliveries d JOIN occurrences o ON o.id = d.ref_id
              WHERE o.campaign_id = $1 AND d.channel = 'email'",
        )
        .bind(reminder)
        .fetch_all(&app.infra.db)
        .await
        .ok()?;
        (rows.len() == 2 && rows.iter().all(|r| r.0 == "sent")).then_some(rows)
    })
    .await;
    assert_eq!(traces[0], traces[1], "the same trace for both: {traces:?}");
    let skipped: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'skipped'")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(skipped, 0, "nothing records who answered");
    // The one who answered learns it only by answering again.
    let (s, v) = post(
        &app,
        None,
        "/api/v1/surveys/ost-access/answers",
        json!({"answers": short_answer("almaty"), "token": tokens[answered_address]}),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    app.stop().await;
}

/// Signs a browser in as `email` (password form).
async fn browser_sign_in(b: &Browser, app: &TestApp, email: &str) {
    b.goto(&app.url("/admin")).await;
    b.wait_url("/admin/sign-in").await;
    b.find("input[name=email]").await.send_keys(email).await;
    b.find("input[name=password]")
        .await
        .send_keys(crate::console::PASSWORD)
        .await;
    b.find("form[action^='/admin/sign-in?'] button[type=submit]")
        .await
        .click()
        .await;
    b.find("nav.menu").await;
}

#[tokio::test]
async fn the_console_creates_the_example_and_prints_its_results_with_charts() {
    let app = spawn_app_with(CONFIG).await;
    let email = "organiser@forum.example.kz";
    crate::console::user(&app, Role::Organiser, "Айгуль", email, Lang::Ru).await;
    crate::console::user(
        &app,
        Role::Caseworker,
        "Case",
        "case@forum.example.kz",
        Lang::Ru,
    )
    .await;
    let site = json!({ "code": "pavlodar_ost", "region": "pavlodar", "city": "pavlodar",
        "name": {"ru": "Пункт ОЗТ Павлодар", "kk": "Павлодар ОАТ пункті", "en": "Pavlodar OST site"} });
    let organiser = app.token(Role::Organiser).await;
    let (s, v) = post(&app, Some(&organiser), "/api/v1/admin/sites", site).await;
    assert_eq!(s, 201, "{v}");

    // The example with one click, then open.
    let mut a = Agent::new(&app);
    let r = a.sign_in(email, crate::console::PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = a.get("/admin").await.text().await.unwrap();
    assert!(html.contains("href=\"/admin/surveys\""), "menu entry");
    let csrf = a.csrf("/admin/surveys/new").await;
    let r = a.post("/admin/surveys/new", &[("csrf", "wrong")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "CSRF checked");
    let r = a.post("/admin/surveys/new", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).ends_with("done=created"));
    let id: Uuid = sqlx::query_scalar("SELECT id FROM surveys WHERE slug = 'ost-access'")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    let list = a.get("/admin/surveys").await.text().await.unwrap();
    assert!(list.contains("Доступ к ОЗТ в больницах"), "{list}");
    let r = a
        .post(&format!("/admin/surveys/{id}/open"), &[("csrf", &csrf)])
        .await;
    assert!(location(&r).ends_with("done=opened"));

    // Answers: six through the API, one in a browser in Kazakh.
    for region in [
        "pavlodar", "pavlodar", "pavlodar", "almaty", "almaty", "pavlodar",
    ] {
        let (s, v) = post(
            &app,
            None,
            "/api/v1/surveys/ost-access/answers",
            json!({"answers": {"q1": "yes", "q2": "no", "q3": "yes", "q4": region,
                               "q5": "pavlodar_ost", "q6": ["order", "delivery"],
                               "q7": "В больнице отказали в дозе."}, "language": "ru"}),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    let b = Browser::start().await;
    b.goto(&app.url("/surveys/ost-access?lang=kk")).await;
    b.find("textarea[name=q_q7]").await;
    let wide = b.overflowing().await;
    let wide: Vec<&String> = wide.iter().filter(|e| !e.starts_with("div.hp")).collect();
    assert!(wide.is_empty(), "wider than the screen: {wide:?}");
    b.screenshot_full("survey-example-kk").await;
    b.find("input[name=q_q1][value=no]").await.click().await;
    b.find("select[name=q_q4] option[value=pavlodar]")
        .await
        .click()
        .await;
    b.find("input[name=q_q6][value=peer]").await.click().await;
    b.find("form[action^='/surveys/'] button[type=submit]")
        .await
        .click()
        .await;
    b.wait_text("h1", "Рахмет").await;

    // The results: charts drawn on the server, small cells hidden.
    let results = a
        .get(&format!("/admin/surveys/{id}/results"))
        .await
        .text()
        .await
        .unwrap();
    assert!(results.contains("<svg"), "a chart");
    assert!(results.contains("Павлодарская"), "region names: {results}");
    assert!(results.contains("&lt;5"), "small cells shown as <5");
    assert!(
        !results.contains("В больнице отказали"),
        "no free text here"
    );
    let by = a
        .get(&format!("/admin/surveys/{id}/results?by=q4"))
        .await
        .text()
        .await
        .unwrap();
    assert!(by.contains("table class=\"counts cross\""), "a cross table");
    // The printable page: no menu, no script, its own stylesheet.
    let r = a
        .get(&format!("/admin/surveys/{id}/print?by=language"))
        .await;
    assert_eq!(r.status(), 200);
    let print = r.text().await.unwrap();
    assert!(print.contains("<svg"));
    assert!(print.contains("survey-print.css"));
    assert!(!print.contains("<nav") && !print.contains("<script"));
    // Also with an admin API token (for scripts that make a report).
    let r = app
        .http
        .get(app.url(&format!("/admin/surveys/{id}/print?lang=en")))
        .bearer_auth(&organiser)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Access to OST in hospitals")
    );
    let csv = a
        .get(&format!("/admin/surveys/{id}/results.csv"))
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("question,option,by,by_value,count"));
    // Free text: a separate page, and the read is audited.
    let texts = a
        .get(&format!("/admin/surveys/{id}/texts"))
        .await
        .text()
        .await
        .unwrap();
    assert!(texts.contains("В больнице отказали в дозе."));
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'survey.texts.read' AND target = $1",
    )
    .bind(id.to_string())
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    // A caseworker sees none of it.
    let mut c = Agent::new(&app);
    c.sign_in("case@forum.example.kz", crate::console::PASSWORD)
        .await;
    for p in ["/admin/surveys", &format!("/admin/surveys/{id}/results")] {
        assert_eq!(c.get(p).await.status(), StatusCode::FORBIDDEN, "{p}");
    }

    // The results page on a phone, in Russian.
    browser_sign_in(&b, &app, email).await;
    b.goto(&app.url(&format!("/admin/surveys/{id}/results?by=q4")))
        .await;
    b.find("svg.chart").await;
    let wide = b.overflowing().await;
    assert!(wide.is_empty(), "results wider than the screen: {wide:?}");
    b.screenshot_full("survey-results-ru").await;
    for (path, name) in [
        ("/admin/surveys", "surveys-ru"),
        ("/admin/surveys/new", "survey-new-ru"),
    ] {
        b.goto(&app.url(path)).await;
        b.find("main h1").await;
        let wide = b.overflowing().await;
        assert!(wide.is_empty(), "{path} wider than the screen: {wide:?}");
        b.screenshot_full(name).await;
    }
    b.goto(&app.url(&format!("/admin/surveys/{id}/print")))
        .await;
    b.find("svg.chart").await;
    b.screenshot_full("survey-print-ru").await;
    b.quit().await;
    app.stop().await;
}
