//! Appeals end to end: an anonymous appeal and its (case number, access
//! code) pair; identical answers for every wrong pair; the staff alert over
//! the loopback SMTP server and in the Telegram fake's staff chat, without
//! text or contact; canaries; roles and audited reads; retention that
//! erases and still counts; the rate limit; the reconciliation path.

use std::time::Duration;

use nasvyazi_shared::auth::Role;
use nasvyazi_shared::crypto::decode_key;
use nasvyazi_telegram_fake::{ChatKind, FakeConfig, NewChat, TelegramFake};
use nasvyazi_tests::smtp::{Received, SmtpServer};
use nasvyazi_tests::{TestApp, assert_no_plaintext, eventually, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use uuid::Uuid;

const STAFF: &str = "staff@forum.example.kz";
const WAIT: Duration = Duration::from_secs(20);

fn smtp_config(smtp: &SmtpServer) -> String {
    format!(
        "[email]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\nfrom = \"Forum KZ <noreply@forum.example.kz>\"\ntimeout_secs = 5\n\
         [appeals]\nstaff_email = \"{STAFF}\"\n",
        smtp.url()
    )
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

fn appeal(text: &str, contact: Option<Value>) -> Value {
    let mut body = json!({
        "category": "police",
        "region": "pavlodar",
        "city": "ekibastuz",
        "text": text,
        "consent_to_forward": false,
    });
    if let Some(c) = contact {
        body["contact"] = c;
    }
    body
}

async fn submit(app: &TestApp, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/appeals"))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Submits and returns (case number, access code).
async fn submit_ok(app: &TestApp, body: &Value) -> (String, String) {
    let r = submit(app, body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    (
        v["case_number"].as_str().unwrap().to_string(),
        v["access_code"].as_str().unwrap().to_string(),
    )
}

async fn appeal_id(app: &TestApp, case_number: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM appeals WHERE case_number = $1")
        .bind(case_number)
        .fetch_one(&app.infra.db)
        .await
        .unwrap()
}

/// (status, content type, body) of `POST /api/v1/appeals/status`.
async fn status_json(app: &TestApp, case: &str, code: &str) -> (StatusCode, String, Vec<u8>) {
    let r = app
        .http
        .post(app.url("/api/v1/appeals/status"))
        .json(&json!({ "case_number": case, "access_code": code }))
        .send()
        .await
        .unwrap();
    let ctype = r.headers()[CONTENT_TYPE].to_str().unwrap().to_string();
    (r.status(), ctype, r.bytes().await.unwrap().to_vec())
}

/// GETs a page and returns (csrf token, cookie header to send back).
async fn csrf(app: &TestApp, url: &str) -> (String, String) {
    let r = app.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
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
        .expect("form carries a csrf field")
        .to_string();
    (token, cookies.join("; "))
}

async fn post_form(app: &TestApp, path: &str, cookie: &str, body: String) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header(COOKIE, cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every part of a received message a reader could see.
fn visible(m: &Received) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        m.header("Subject").unwrap_or_default(),
        m.text_body().unwrap_or_default(),
        m.html_body().unwrap_or_default(),
        m.data_str()
    )
}

#[tokio::test]
async fn an_anonymous_appeal_gets_a_pair_and_every_wrong_pair_the_same_answer() {
    let app = spawn_app().await;
    let (case, code) = submit_ok(&app, &appeal("Мне отказали в метадоне в больнице.", None)).await;
    let shape = |s: &str| {
        let b = s.as_bytes();
        s.len() == 12 && s.starts_with("KZ-") && b[7] == b'-'
    };
    assert!(shape(&case), "{case}");
    assert_eq!(code.len(), 19, "{code}");
    let (contact, access_hash): (Option<String>, Vec<u8>) =
        sqlx::query_as("SELECT contact_channel, access_hash FROM appeals")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(contact, None, "anonymous: no contact stored");
    assert_ne!(access_hash, code.as_bytes(), "only a hash of the code");

    // The right pair, also typed loosely.
    let (status, _, body) = status_json(&app, &case, &code).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["status"], "new");
    assert_eq!(v["case_number"], case.as_str());
    let loose = status_json(&app, &case.to_lowercase(), &code.replace('-', " ")).await;
    assert_eq!(loose.0, 200);

    // Every wrong pair: byte-identical answers.
    let (other_case, other_code) = submit_ok(&app, &appeal("Другое обращение.", None)).await;
    let wrong = [
        (case.clone(), other_code.clone()),
        (other_case.clone(), code.clone()),
        ("KZ-2222-2222".to_string(), code.clone()),
        (case.clone(), "".to_string()),
        ("not a case".to_string(), "not a code".to_string()),
        (case.clone(), code[..18].to_string()),
    ];
    let mut answers = Vec::new();
    for (c, k) in &wrong {
        answers.push(status_json(&app, c, k).await);
    }
    for a in &answers {
        assert_eq!(a, &answers[0]);
    }
    assert_eq!(answers[0].0, 404);

    // The same on the page, and adding information works with the pair only.
    let (token, cookie) = csrf(&app, &app.url("/appeal/status?lang=en")).await;
    let page =
        |c: &str, k: &str| format!("csrf={token}&case_number={}&access_code={}", enc(c), enc(k));
    let r = post_form(&app, "/appeal/status?lang=en", &cookie, page(&case, &code)).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains(&case) && html.contains("Received"), "{html}");
    let mut pages = Vec::new();
    for (c, k) in &wrong {
        let r = post_form(&app, "/appeal/status?lang=en", &cookie, page(c, k)).await;
        pages.push((r.status(), r.bytes().await.unwrap()));
    }
    for p in &pages {
        assert_eq!(p, &pages[0]);
    }
    assert_eq!(pages[0].0, 404);
    let add = |c: &str, k: &str| json!({ "case_number": c, "access_code": k, "text": "Ещё одна деталь." });
    let r = app
        .http
        .post(app.url("/api/v1/appeals/information"))
        .json(&add(&case, &other_code))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.bytes().await.unwrap().to_vec(), answers[0].2);
    let r = app
        .http
        .post(app.url("/api/v1/appeals/information"))
        .json(&add(&case, &code))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (_, _, body) = status_json(&app, &case, &code).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["additions"], 1);

    // The form: CSRF required; a valid post answers with a new pair.
    let (token, cookie) = csrf(&app, &app.url("/appeal?lang=kk")).await;
    let form = format!(
        "csrf={token}&category=take_home_refused&place=pavlodar%2Fpavlodar&site=&text={}&contact_kind=none&contact=",
        enc("Дозаны үйге бермеді.")
    );
    let r = post_form(&app, "/appeal?lang=kk", "", form.clone()).await;
    assert_eq!(r.status(), 403);
    let r = post_form(&app, "/appeal?lang=kk", &cookie, form).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Өтініш қабылданды") && html.contains("KZ-"),
        "{html}"
    );
    assert!(!html.contains("<script"));
    // A filled honeypot stores nothing.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM appeals")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    let bot = format!(
        "csrf={token}&category=other&place=pavlodar%2Fpavlodar&text=spam&contact_kind=none&website=http%3A%2F%2Fspam"
    );
    assert_eq!(post_form(&app, "/appeal", &cookie, bot).await.status(), 200);
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM appeals")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(after, before);

    // Bad input: clear errors, nothing stored.
    for (body, field) in [
        (
            json!({ "category": "weather", "region": "pavlodar", "city": "pavlodar", "text": "x" }),
            "category",
        ),
        (
            json!({ "category": "police", "region": "pavlodar", "city": "taraz", "text": "x" }),
            "region/city",
        ),
        (
            json!({ "category": "police", "region": "pavlodar", "city": "pavlodar", "text": "x".repeat(10_001) }),
            "text",
        ),
        (
            json!({ "category": "police", "region": "pavlodar", "city": "pavlodar", "text": "x", "contact": { "email": "nope" } }),
            "contact",
        ),
        (
            json!({ "category": "police", "region": "pavlodar", "city": "pavlodar", "text": "x", "site": "nowhere" }),
            "site",
        ),
    ] {
        let r = submit(&app, &body).await;
        assert_eq!(r.status(), 422, "{field}");
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"]["message"].as_str().unwrap().starts_with(field),
            "{e}"
        );
    }
    // 10,000 Cyrillic characters fit, through the form too.
    let long = "ж".repeat(10_000);
    assert_eq!(submit(&app, &appeal(&long, None)).await.status(), 201);
    let (token, cookie) = csrf(&app, &app.url("/appeal")).await;
    let form = format!(
        "csrf={token}&category=other&place=pavlodar%2Fpavlodar&text={}&contact_kind=none",
        enc(&long)
    );
    assert_eq!(
        post_form(&app, "/appeal", &cookie, form).await.status(),
        200
    );

    // Every route is in the OpenAPI document.
    let doc: Value = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/appeals",
        "/api/v1/appeals/status",
        "/api/v1/appeals/information",
        "/api/v1/sites",
        "/api/v1/admin/appeals",
        "/api/v1/admin/appeals/{id}",
        "/api/v1/admin/appeals/{id}/status",
        "/api/v1/admin/appeals/{id}/forward",
        "/api/v1/admin/appeals/stats",
        "/api/v1/admin/appeals/stats.csv",
        "/api/v1/admin/sites",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    app.stop().await;
}

const TELEGRAM_TOKEN: &str = "5550007:APPEALS-token_for_nasvyazi";

/// The fake Bot API with the staff group declared; returns the group's id.
async fn telegram_fake() -> (TelegramFake, i64) {
    let fake = TelegramFake::start(FakeConfig {
        tokens: vec![TELEGRAM_TOKEN.into()],
        rate_limits: true,
    })
    .await
    .expect("the fake starts");
    let staff = -1_007_000_000_000 - (Uuid::new_v4().as_u128() % 1_000_000) as i64;
    fake.add_chat(NewChat {
        id: staff,
        kind: ChatKind::Supergroup,
        title: Some("Staff".into()),
        username: None,
    })
    .unwrap();
    (fake, staff)
}

fn telegram_config(fake: &TelegramFake, staff_chat: i64) -> String {
    format!(
        "[telegram]\napi_base = \"{}\"\ntoken = \"{TELEGRAM_TOKEN}\"\nstaff_chat = \"{staff_chat}\"\n",
        fake.base_url()
    )
}

#[tokio::test]
async fn the_staff_alert_reaches_email_and_telegram_without_text_or_contact() {
    let smtp = SmtpServer::start().await;
    let (fake, staff_chat) = telegram_fake().await;
    let app = spawn_app_with(&format!(
        "{}{}",
        smtp_config(&smtp),
        telegram_config(&fake, staff_chat)
    ))
    .await;
    let text = unique("appeal-text-canary");
    let email = format!("{}@example.kz", unique("appellant"));
    let (case, code) = submit_ok(
        &app,
        &appeal(
            &format!("В больнице сказали: {text}"),
            Some(json!({ "email": email })),
        ),
    )
    .await;
    let id = appeal_id(&app, &case).await;

    // Two emails: the alert to staff, the acknowledgement to the appellant.
    let mails = smtp.wait_for(2, WAIT).await;
    let alert = mails
        .iter()
        .find(|m| m.rcpt_to == [STAFF])
        .expect("a staff alert");
    let ack = mails
        .iter()
        .find(|m| m.rcpt_to == [email.clone()])
        .expect("an ack");
    assert_eq!(
        alert.header("Subject").unwrap(),
        format!("Новое обращение {case}")
    );
    let seen = visible(alert);
    for must in [
        case.as_str(),
        "Полиция",
        "Павлодарская область",
        &format!("/api/v1/admin/appeals/{id}"),
    ] {
        assert!(seen.contains(must), "{must} not in the alert:\n{seen}");
    }
    for never in [text.as_str(), email.as_str(), code.as_str(), "больнице"] {
        assert!(!seen.contains(never), "{never} in the alert");
    }
    let seen = visible(ack);
    assert!(
        seen.contains(&case) && seen.contains("/appeal/status"),
        "{seen}"
    );
    assert!(!seen.contains(&text) && !seen.contains(&code), "{seen}");
    assert!(ack.header("List-Unsubscribe").is_none());

    // The staff group in the Telegram fake got the alert too.
    let sent = eventually(WAIT, || async {
        let sent = fake.sent_to(staff_chat);
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    let tg = sent[0]["text"].as_str().unwrap().to_string();
    assert!(tg.contains(&case) && tg.contains("Полиция"), "{tg}");
    for never in [text.as_str(), email.as_str(), code.as_str()] {
        assert!(!tg.contains(never), "{never} in the Telegram alert");
    }

    // A status change reaches the appellant, with the new status only.
    let caseworker = app.token(Role::Caseworker).await;
    let (s, _) = app
        .admin(&caseworker)
        .post_json(
            &format!("/api/v1/admin/appeals/{case}/status"),
            json!({ "status": "triaged" }),
        )
        .await;
    assert_eq!(s, 200);
    let mails = smtp.wait_for(3, WAIT).await;
    let update = mails
        .iter()
        .filter(|m| m.rcpt_to == [email.clone()])
        .find(|m| m.header("Subject").is_some_and(|s| s.contains("статус")))
        .expect("a status message");
    let seen = visible(update);
    assert!(
        seen.contains("На рассмотрении") && seen.contains(&case),
        "{seen}"
    );
    assert!(!seen.contains(&text));
    let kinds: Vec<(String, String, String)> =
        sqlx::query_as("SELECT kind, channel, status FROM deliveries ORDER BY kind, channel")
            .fetch_all(&app.infra.db)
            .await
            .unwrap();
    let kinds: Vec<(&str, &str)> = kinds.iter().map(|k| (k.0.as_str(), k.1.as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("appeal_ack", "email"),
            ("appeal_status", "email"),
            ("staff_alert", "email"),
            ("staff_alert", "telegram")
        ]
    );
    app.stop().await;
    fake.stop().await.unwrap();
}

#[tokio::test]
async fn canaries_in_text_contact_notes_and_additions_are_nowhere_in_plain_text() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&smtp_config(&smtp)).await;
    let text = unique("canary-text");
    let email = format!("{}@example.kz", unique("canary-mail"));
    let telegram = format!("@c{}", &Uuid::new_v4().simple().to_string()[..20]);
    let addition = unique("canary-addition");
    let note = unique("canary-note");
    let official = unique("canary-official");

    let mut body = appeal(&format!("Текст {text}"), Some(json!({ "email": email })));
    body["consent_to_forward"] = json!(true);
    let (case, code) = submit_ok(&app, &body).await;
    let (tg_case, _) = submit_ok(&app, &appeal(&text, Some(json!({ "telegram": telegram })))).await;
    // Through the page too, with an addition on the status page.
    let (token, cookie) = csrf(&app, &app.url("/appeal")).await;
    let form = format!(
        "csrf={token}&category=police&place=almaty%2Falmaty&text={}&contact_kind=email&contact={}",
        enc(&text),
        enc(&email)
    );
    assert_eq!(
        post_form(&app, "/appeal", &cookie, form).await.status(),
        200
    );
    let form = format!(
        "csrf={token}&case_number={}&access_code={}&text={}",
        enc(&case),
        enc(&code),
        enc(&addition)
    );
    assert_eq!(
        post_form(&app, "/appeal/status/add", &cookie, form)
            .await
            .status(),
        200
    );

    let caseworker = app.token(Role::Caseworker).await;
    let path = format!("/api/v1/admin/appeals/{case}");
    let (s, _) = app
        .admin(&caseworker)
        .post_json(&format!("{path}/notes"), json!({ "text": note }))
        .await;
    assert_eq!(s, 201);
    let (s, _) = app
        .admin(&caseworker)
        .post_json(&format!("{path}/forward"), json!({ "official": official }))
        .await;
    assert_eq!(s, 200);
    let (s, read) = app.admin(&caseworker).get_json(&path).await;
    assert_eq!(s, 200);
    assert!(read["text"].as_str().unwrap().contains(&text));
    assert_eq!(read["contact"]["value"], email.to_lowercase());
    assert_eq!(read["forward"]["official"], official.as_str());
    let notes: Vec<&str> = read["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap())
        .collect();
    assert_eq!(notes, [addition.as_str(), note.as_str()]);
    let (s, read) = app
        .admin(&caseworker)
        .get_json(&format!("/api/v1/admin/appeals/{tg_case}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(read["contact"]["value"], telegram.as_str());

    // Let the messages go out (two staff alerts, two acks, a status).
    smtp.wait_for(5, WAIT).await;
    eventually(WAIT, || async {
        let pending: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM front_outbox WHERE published_at IS NULL)
                  + (SELECT count(*) FROM deliveries WHERE status IN ('queued', 'sending', 'retry'))",
        )
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
        (pending == 0).then_some(())
    })
    .await;
    for canary in [&text, &email, &telegram, &addition, &note, &official, &code] {
        assert_no_plaintext(&app, canary).await;
    }
    // Audit rows carry ids only.
    let audit: Vec<String> =
        sqlx::query_scalar("SELECT concat_ws(' ', action, target, details::text) FROM audit_log")
            .fetch_all(&app.infra.db)
            .await
            .unwrap();
    for row in &audit {
        for canary in [&text, &email, &note, &official] {
            assert!(!row.contains(canary.as_str()), "{row}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_caseworker_reads_an_organiser_cannot_and_every_read_is_audited() {
    let app = spawn_app().await;
    let organiser = app.token(Role::Organiser).await;
    let caseworker = app.token(Role::Caseworker).await;
    let text = unique("read-me");

    // Organisers keep the OST sites; the public list shows them.
    let site = json!({ "code": "ekibastuz_ost", "region": "pavlodar", "city": "ekibastuz",
                       "name": { "ru": "Пункт ОЗТ Экибастуз", "kk": "Екібастұз ОАТ пункті", "en": "Ekibastuz OST site" } });
    let (s, _) = app
        .admin(&organiser)
        .post_json("/api/v1/admin/sites", site)
        .await;
    assert_eq!(s, 201);
    let sites: Value = app
        .http
        .get(app.url("/api/v1/sites?region=pavlodar"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sites[0]["code"], "ekibastuz_ost");
    let mut body = appeal(&text, Some(json!({ "telegram": "@appellant_one" })));
    body["site"] = json!("ekibastuz_ost");
    let (case, code) = submit_ok(&app, &body).await;
    let mut elsewhere = appeal("x", None);
    elsewhere["region"] = json!("jambyl");
    elsewhere["city"] = json!("taraz");
    elsewhere["site"] = json!("ekibastuz_ost");
    assert_eq!(
        submit(&app, &elsewhere).await.status(),
        422,
        "a site of another region"
    );
    // The same writer again: staff see the repeat, not who.
    submit_ok(
        &app,
        &appeal("again", Some(json!({ "telegram": "@Appellant_One" }))),
    )
    .await;
    let id = appeal_id(&app, &case).await;
    let path = format!("/api/v1/admin/appeals/{id}");

    for p in [
        path.as_str(),
        "/api/v1/admin/appeals",
        "/api/v1/admin/appeals/stats",
    ] {
        let (s, e) = app.admin(&organiser).get_json(p).await;
        assert_eq!(s, 403, "{p}");
        assert_eq!(e["error"]["code"], "forbidden");
    }
    let r = app.http.get(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let reads = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM audit_log WHERE action = 'appeal.read' AND target = $1",
        )
        .bind(id.to_string())
        .fetch_one(&app.infra.db)
        .await
        .unwrap()
    };
    assert_eq!(reads().await, 0, "a refused read reads nothing");

    let (s, one) = app.admin(&caseworker).get_json(&path).await;
    assert_eq!(s, 200);
    assert_eq!(one["text"], text.as_str());
    assert_eq!(one["case_number"], case.as_str());
    assert_eq!(one["site"], "ekibastuz_ost");
    assert_eq!(one["same_contact_appeals"], 1);
    assert_eq!(reads().await, 1);
    let (s, _) = app
        .admin(&caseworker)
        .get_json(&format!("/api/v1/admin/appeals/{case}"))
        .await;
    assert_eq!(s, 200, "by case number too");
    assert_eq!(reads().await, 2);
    let (actor, role): (String, Option<String>) = sqlx::query_as(
        "SELECT actor, actor_role FROM audit_log WHERE action = 'appeal.read' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert!(actor.starts_with("token:"));
    assert_eq!(role.as_deref(), Some("caseworker"));

    // The list filters; it shows no text.
    let (s, list) = app
        .admin(&caseworker)
        .get_json("/api/v1/admin/appeals?status=new&site=ekibastuz_ost")
        .await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("text").is_none());
    let (s, list) = app
        .admin(&caseworker)
        .get_json("/api/v1/admin/appeals?category=discrimination")
        .await;
    assert_eq!((s, list.as_array().unwrap().len()), (StatusCode::OK, 0));
    let today = chrono::Utc::now().date_naive();
    let (_, list) = app
        .admin(&caseworker)
        .get_json(&format!(
            "/api/v1/admin/appeals?from={today}&to={today}&region=pavlodar"
        ))
        .await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (s, _) = app
        .admin(&caseworker)
        .get_json("/api/v1/admin/appeals?status=lost")
        .await;
    assert_eq!(s, 422);

    // Assign, note, status; forwarding needs consent.
    let (_, me) = app
        .admin(&caseworker)
        .get_json("/api/v1/admin/whoami")
        .await;
    let r = app
        .http
        .post(app.url(&format!("{path}/assign")))
        .bearer_auth(&caseworker)
        .json(&json!({ "to": me["token_id"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, _) = app
        .admin(&caseworker)
        .post_json(&format!("{path}/assign"), json!({ "to": Uuid::new_v4() }))
        .await;
    assert_eq!(s, 422);
    let (s, _) = app
        .admin(&caseworker)
        .post_json(&format!("{path}/forward"), json!({ "official": "Akimat" }))
        .await;
    assert_eq!(s, 409, "no consent, no forwarding");
    let (s, _) = app
        .admin(&caseworker)
        .post_json(&format!("{path}/status"), json!({ "status": "forwarded" }))
        .await;
    assert_eq!(s, 422);
    let (s, v) = app
        .admin(&caseworker)
        .post_json(&format!("{path}/status"), json!({ "status": "resolved" }))
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("resolved"))
    );
    let changed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM front_outbox WHERE event_type = 'appeal.status_changed' AND payload->'data'->>'appeal_id' = $1",
    )
    .bind(id.to_string())
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(changed, 1);
    let (_, _, status) = status_json(&app, &case, &code).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&status).unwrap()["status"],
        "resolved"
    );
    let (_, one) = app.admin(&caseworker).get_json(&path).await;
    assert_eq!(one["assigned_to"], me["token_id"]);
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE target = $1 ORDER BY id")
            .bind(id.to_string())
            .fetch_all(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(
        actions,
        [
            "appeal.read",
            "appeal.read",
            "appeal.assign",
            "appeal.status",
            "appeal.read"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_closed_appeal_past_retention_is_erased_and_still_counted() {
    let app = spawn_app().await;
    let caseworker = app.token(Role::Caseworker).await;
    let mut pairs = Vec::new();
    for i in 0..6 {
        pairs.push(
            submit_ok(
                &app,
                &appeal(
                    &format!("appeal {i}"),
                    Some(json!({ "email": format!("a{i}@example.kz") })),
                ),
            )
            .await,
        );
    }
    let mut lone = appeal("lone", None);
    lone["region"] = json!("almaty");
    lone["city"] = json!("almaty");
    lone["category"] = json!("other");
    submit_ok(&app, &lone).await;
    let (case, code) = pairs[0].clone();
    let id = appeal_id(&app, &case).await;
    let (s, _) = app
        .admin(&caseworker)
        .post_json(
            &format!("/api/v1/admin/appeals/{id}/status"),
            json!({ "status": "closed" }),
        )
        .await;
    assert_eq!(s, 200);
    let (wrapped, text_ct): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT data_key, text_ct FROM appeals WHERE id = $1")
            .bind(id)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    let (_, before) = app
        .admin(&caseworker)
        .get_json("/api/v1/admin/appeals/stats")
        .await;
    assert_eq!(before["total"], 7);

    // Not yet due: nothing happens. Past the period: erased.
    let tz = app.config.campaigns.default_time_zone.clone();
    let days = app.config.appeals.retention_days;
    assert_eq!(days, 365);
    let erase = || nasvyazi_front::appeals::retention::erase_expired(&app.infra.db, days, &tz);
    assert_eq!(erase().await.unwrap(), 0);
    sqlx::query("UPDATE appeals SET closed_at = now() - interval '366 days' WHERE id = $1")
        .bind(id)
        .execute(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(erase().await.unwrap(), 1);
    assert_eq!(erase().await.unwrap(), 0, "once");

    // Gone: no row, no notes, no data key anywhere; the pair opens nothing.
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM appeals WHERE id = $1 OR data_key = $2")
            .bind(id)
            .bind(&wrapped)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(left, 0);
    let (s, _) = app
        .admin(&caseworker)
        .get_json(&format!("/api/v1/admin/appeals/{id}"))
        .await;
    assert_eq!(s, 404);
    let (s, _, _) = status_json(&app, &case, &code).await;
    assert_eq!(s, 404);
    let keys = nasvyazi_shared::crypto::Keyring::from_config(&app.config.crypto).unwrap();
    let contact = nasvyazi_cases::appeals::stored::load_contact(&app.infra.db, &keys, id)
        .await
        .unwrap();
    assert!(contact.is_none(), "nothing left to decrypt");
    let master = decode_key(
        app.config
            .crypto
            .master_key
            .as_ref()
            .unwrap()
            .expose_secret(),
    )
    .unwrap();
    let aad = nasvyazi_cases::appeals::stored::aad(id, "text");
    assert!(
        master.open(&text_ct, &aad).is_err(),
        "the master key alone opens nothing"
    );

    // The statistics still count it; small cells are suppressed.
    let (_, after) = app
        .admin(&caseworker)
        .get_json("/api/v1/admin/appeals/stats")
        .await;
    assert_eq!(after["total"], 7);
    let region = |v: &Value, code: &str| {
        v["by_region"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["key"] == code)
            .unwrap()["count"]
            .clone()
    };
    // With the total (7) shown, pavlodar's 6 would give almaty's 1 away:
    // it is hidden as its complement.
    assert_eq!(region(&after, "pavlodar"), "<5");
    assert_eq!(region(&after, "almaty"), "<5");
    let month: String = sqlx::query_scalar("SELECT to_char(now() AT TIME ZONE $1, 'YYYY-MM')")
        .bind(&tz)
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    let r = app
        .http
        .get(app.url("/api/v1/admin/appeals/stats.csv"))
        .bearer_auth(&caseworker)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    assert!(
        csv.starts_with("month,region,site,category,count\n"),
        "{csv}"
    );
    assert!(
        csv.contains(&format!("{month},pavlodar,,police,<5\n")),
        "{csv}"
    );
    assert!(
        csv.contains(&format!("{month},almaty,,other,<5\n")),
        "{csv}"
    );
    let r = app
        .http
        .get(app.url("/api/v1/admin/appeals/stats?format=csv&region=almaty"))
        .bearer_auth(&caseworker)
        .send()
        .await
        .unwrap();
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    let kept: i64 = sqlx::query_scalar("SELECT sum(n) FROM appeal_counts")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(kept, 1);
    app.stop().await;
}

#[tokio::test]
async fn the_21st_appeal_in_a_minute_is_refused_and_nothing_is_lost() {
    let app = spawn_app().await;
    assert_eq!(app.config.appeals.rate_limit_per_minute, 20);
    // All at once, so the limiter sees them within the same second.
    let bodies: Vec<Value> = (0..21)
        .map(|i| appeal(&format!("burst {i}"), None))
        .collect();
    let answers = futures::future::join_all(bodies.iter().map(|b| async {
        let r = submit(&app, b).await;
        let status = r.status();
        let retry = r.headers().get("retry-after").cloned();
        (status, retry, r.json::<Value>().await.unwrap())
    }))
    .await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|a| a.0 == 201)
        .map(|a| &a.2)
        .collect();
    let refused: Vec<_> = answers.iter().filter(|a| a.0 == 429).collect();
    assert_eq!((created.len(), refused.len()), (20, 1));
    let (_, retry, body) = refused[0];
    assert!(retry.is_some(), "Retry-After");
    assert_eq!(body["error"]["code"], "rate_limited");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Too many") && message.contains("Nothing already sent was lost"),
        "{message}"
    );

    // Every accepted appeal is there.
    let stored: Vec<String> = sqlx::query_scalar("SELECT case_number FROM appeals")
        .fetch_all(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 20);
    for c in &created {
        assert!(stored.contains(&c["case_number"].as_str().unwrap().to_string()));
    }
    // The page says so too; status look-ups have a budget of their own.
    let (token, cookie) = csrf(&app, &app.url("/appeal?lang=ru")).await;
    let form =
        format!("csrf={token}&category=other&place=pavlodar%2Fpavlodar&text=x&contact_kind=none");
    let r = post_form(&app, "/appeal?lang=ru", &cookie, form).await;
    assert_eq!(r.status(), 429);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Всё, что уже отправлено, сохранено")
    );
    let (s, _, _) = status_json(&app, "KZ-2222-2222", "x").await;
    assert_eq!(s, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_lost_appeal_event_is_made_up_for_from_postgresql() {
    let app = spawn_app_with(&format!("[appeals]\nstaff_email = \"{STAFF}\"\n")).await;
    let (case, _) = submit_ok(
        &app,
        &appeal("x", Some(json!({ "email": "someone@example.kz" }))),
    )
    .await;
    let id = appeal_id(&app, &case).await;
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM deliveries WHERE contact_id = $1")
            .bind(id)
            .fetch_one(&app.infra.db)
            .await
            .unwrap()
    };
    eventually(WAIT, || async { (count().await == 2).then_some(()) }).await;
    // As if JetStream had lost `appeal.received`: no ledger rows.
    sqlx::query("DELETE FROM deliveries WHERE contact_id = $1")
        .bind(id)
        .execute(&app.infra.db)
        .await
        .unwrap();
    let staff = nasvyazi_notifier::appeals::staff_channels(&app.config);
    let grace = Duration::from_secs(120);
    assert_eq!(
        nasvyazi_notifier::appeals::reconcile(&app.infra.db, &staff, grace)
            .await
            .unwrap(),
        0,
        "within the grace period"
    );
    sqlx::query("UPDATE appeals SET created_at = now() - interval '5 minutes', status_changed_at = now() - interval '5 minutes' WHERE id = $1")
        .bind(id)
        .execute(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(
        nasvyazi_notifier::appeals::reconcile(&app.infra.db, &staff, grace)
            .await
            .unwrap(),
        2
    );
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM deliveries WHERE contact_id = $1 ORDER BY kind")
            .bind(id)
            .fetch_all(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(kinds, ["appeal_ack", "staff_alert"]);
    assert_eq!(
        nasvyazi_notifier::appeals::reconcile(&app.infra.db, &staff, grace)
            .await
            .unwrap(),
        0
    );
    app.stop().await;
}
