//! Letters to officials, against the loopback SMTP server: the officials
//! directory and its CSV import, signing through the page with email
//! confirmation and withdrawal, each-signer and collective letters, office
//! hours on an injected clock, the domain throttle, and at-most-once after
//! a crash.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use nasvyazi_letters::{COLLECTIVE, message_id, signature_aad};
use nasvyazi_notifier::letters::{Clock, LetterSender, ManualClock, SystemClock, queue};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::crypto::{Keyring, random_token, token_hash};
use nasvyazi_shared::events::Event;
use nasvyazi_shared::outbox::{self, Outbox};
use nasvyazi_tests::smtp::{Behaviour, Received, SmtpServer};
use nasvyazi_tests::{TestApp, eventually, spawn_app_with, spawn_app_without_notifier};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use uuid::Uuid;

const FROM: &str = "Forum KZ <noreply@forum.example.kz>";
const ALWAYS: &str = "Mon-Sun 00:00-24:00";

fn smtp_config(smtp: &SmtpServer, extra: &str) -> String {
    format!(
        "[email]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\nfrom = \"{FROM}\"\ntimeout_secs = 5\n\
         max_per_second = 100000\nmax_per_domain_per_minute = 1000000\n{extra}",
        smtp.url()
    )
}

fn keys(app: &TestApp) -> Keyring {
    Keyring::from_config(&app.config.crypto).unwrap()
}

fn short() -> String {
    Uuid::new_v4().simple().to_string()[..10].to_string()
}

async fn official(
    app: &TestApp,
    token: &str,
    name: &str,
    email: &str,
    hours: &str,
    cap: Option<u32>,
) -> Uuid {
    let r = app.admin(token).post("/api/v1/admin/officials",
        json!({ "name": name, "position": format!("position of {name}"), "organisation": "Ministry of Health",
                "email": email, "language": "ru", "time_zone": "Asia/Almaty", "office_hours": hours, "daily_cap": cap }),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn letter_body(slug: &str, mode: &str, targets: &[Uuid], extra: Value) -> Value {
    let mut body = json!({
        "name": format!("Letter {slug}"),
        "slug": slug,
        "mode": mode,
        "templates": {
            "ru": {
                "subject": "Обращение: {{ official.position }}",
                "body": "Уважаемый(ая) {{ official.name }}!\n\nПросим обеспечить ОЗТ в больницах.\n\n{{ signer.note }}\n\n{{ signer.name }}, {{ signer.city }}",
                "page_text": "Письмо о доступе к ОЗТ в больницах."
            }
        },
        "targets": targets,
        "reply_to": "office@forum.example.kz",
        "official_interval_minutes": 0,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn approved_letter(app: &TestApp, token: &str, body: Value) -> Uuid {
    let r = app.admin(token).post("/api/v1/admin/letters", body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let id: Uuid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let r = app
        .admin(token)
        .post(&format!("/api/v1/admin/letters/{id}/approve"), json!({}))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    id
}

/// A signer inserted as front stores one (sealed); `confirmed` also
/// writes the `signature.confirmed` event in the same transaction.
struct TestSigner {
    id: Uuid,
    name: String,
    city: String,
    email: String,
    allow_reply_to: bool,
    withdraw_token: String,
}

async fn insert_signer(
    app: &TestApp,
    letter: Uuid,
    i: usize,
    allow_reply_to: bool,
    confirmed: bool,
    emit: bool,
) -> TestSigner {
    let keys = keys(app);
    let s = TestSigner {
        id: Uuid::now_v7(),
        name: format!("Signer{i}-{}", short()),
        city: format!("City{i}"),
        email: format!("signer{i}-{}@example.kz", short()),
        allow_reply_to,
        withdraw_token: random_token(32),
    };
    let (key, wrapped) = keys.new_data_key();
    let seal = |v: &str, f| key.seal(v.as_bytes(), &signature_aad(s.id, f));
    let mut tx = app.infra.db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO letter_signatures (id, letter_id, email_bi, data_key, name_ct, city_ct, note_ct, email_ct,
             language, allow_reply_to, consent_at, withdraw_token_hash, withdraw_token_ct, confirmed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ru', $9, now(), $10, $11, CASE WHEN $12 THEN now() END)",
    )
    .bind(s.id)
    .bind(letter)
    .bind(keys.blind_index("email", &s.email))
    .bind(wrapped)
    .bind(seal(&s.name, "name"))
    .bind(seal(&s.city, "city"))
    .bind(seal(&format!("Note of {}", s.name), "note"))
    .bind(seal(&s.email, "email"))
    .bind(allow_reply_to)
    .bind(token_hash(&s.withdraw_token))
    .bind(seal(&s.withdraw_token, "withdraw"))
    .bind(confirmed)
    .execute(&mut *tx)
    .await
    .unwrap();
    if emit {
        outbox::enqueue(
            &mut tx,
            Outbox::Front,
            Event::SignatureConfirmed { signature_id: s.id },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    s
}

fn sender(app: &TestApp, clock: Arc<dyn Clock>) -> LetterSender {
    LetterSender {
        infra: app.infra.clone(),
        keys: Arc::new(keys(app)),
        email: nasvyazi_notifier::channels::email_channel(&app.config).unwrap(),
        clock,
    }
}

async fn statuses(app: &TestApp, letter: Uuid) -> HashMap<String, i64> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT d.status, count(*) FROM deliveries d JOIN letter_targets t ON t.id = d.ref_id
         WHERE d.kind = 'letter' AND t.letter_id = $1 GROUP BY 1",
    )
    .bind(letter)
    .fetch_all(&app.infra.db)
    .await
    .unwrap();
    rows.into_iter().collect()
}

fn letters_only(all: Vec<Received>) -> Vec<Received> {
    all.into_iter()
        .filter(|m| {
            m.header("Message-ID")
                .is_some_and(|id| id.contains("letter-"))
        })
        .collect()
}

#[tokio::test]
async fn two_hundred_signers_to_three_officials_make_exactly_six_hundred_letters_once() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&smtp_config(&smtp, "[letters]\nofficial_daily_cap = 0\n")).await;
    let token = app.token(Role::Organiser).await;
    let officials = [
        official(
            &app,
            &token,
            "Minister",
            "minister@moh.gov.kz",
            ALWAYS,
            None,
        )
        .await,
        official(&app, &token, "Head", "head@narcology.kz", ALWAYS, None).await,
        official(
            &app,
            &token,
            "Ombudsman",
            "ombudsman@ombudsman.kz",
            ALWAYS,
            None,
        )
        .await,
    ];
    let letter = approved_letter(
        &app,
        &token,
        letter_body(
            "six-hundred",
            "each",
            &officials,
            json!({ "domain_per_minute": 60000 }),
        ),
    )
    .await;
    let mut signers = Vec::new();
    for i in 0..200 {
        signers.push(insert_signer(&app, letter, i, i % 2 == 0, true, true).await);
    }
    let started = std::time::Instant::now();
    let got = letters_only(smtp.wait_for(600, Duration::from_secs(90)).await);
    let took = started.elapsed();
    eprintln!("600 letters (3 domains) in {took:?}");
    assert_eq!(got.len(), 600);

    // Each letter: from the organisation, to an official, Reply-To the
    // signer exactly when allowed, a distinct Message-ID derived from
    // (letter, signer, official).
    let emails = [
        "minister@moh.gov.kz",
        "head@narcology.kz",
        "ombudsman@ombudsman.kz",
    ];
    let mut expected: HashMap<String, (&TestSigner, &str)> = HashMap::new();
    for s in &signers {
        for (o, e) in officials.iter().zip(emails) {
            expected.insert(message_id(letter, s.id, *o, FROM), (s, e));
        }
    }
    let mut seen = HashSet::new();
    for m in &got {
        let mid = m.header("Message-ID").unwrap();
        let mid = mid.trim_matches(['<', '>']).to_string();
        let (s, to) = expected
            .get(&mid)
            .unwrap_or_else(|| panic!("unexpected Message-ID {mid}"));
        assert!(seen.insert(mid.clone()), "Message-ID {mid} twice");
        assert_eq!(m.mail_from, "noreply@forum.example.kz");
        assert_eq!(m.rcpt_to, vec![to.to_string()]);
        assert!(
            m.header("From")
                .unwrap()
                .contains("noreply@forum.example.kz")
        );
        let reply_to = m.header("Reply-To").unwrap();
        if s.allow_reply_to {
            assert_eq!(reply_to, s.email);
        } else {
            assert_eq!(reply_to, "office@forum.example.kz");
        }
        assert!(m.header("Date").is_some());
        assert_eq!(m.header("Content-Language").as_deref(), Some("ru"));
        let text = m.text_body().unwrap();
        assert!(text.contains(&s.name) && text.contains(&s.city), "{text}");
        assert!(
            m.header("Subject")
                .unwrap()
                .starts_with("Обращение: position of ")
        );
    }
    assert_eq!(seen.len(), 600);
    eventually(Duration::from_secs(10), || async {
        (statuses(&app, letter).await.get("sent") == Some(&600)).then_some(())
    })
    .await;

    // Again: the same events once more, the reconciliation, and a second
    // sender. Nothing more goes out.
    let mut tx = app.infra.db.begin().await.unwrap();
    for s in &signers {
        outbox::enqueue(
            &mut tx,
            Outbox::Front,
            Event::SignatureConfirmed { signature_id: s.id },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    queue::reconcile(&app.infra.db, Duration::ZERO)
        .await
        .unwrap();
    sender(&app, Arc::new(SystemClock)).drain().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(letters_only(smtp.messages()).len(), 600);
    assert_eq!(
        statuses(&app, letter).await,
        HashMap::from([("sent".to_string(), 600)])
    );

    // Progress per official, and the CSV report for the records.
    let p: Value = app
        .http
        .get(app.url(&format!("/api/v1/admin/letters/{letter}/progress")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["totals"]["sent"], 600);
    assert_eq!(p["signatures"]["confirmed"], 200);
    for o in p["officials"].as_array().unwrap() {
        assert_eq!(
            (
                o["sent"].as_i64(),
                o["pending"].as_i64(),
                o["unknown"].as_i64()
            ),
            (Some(200), Some(0), Some(0))
        );
    }
    let r = app
        .http
        .get(app.url(&format!("/api/v1/admin/letters/{letter}/report.csv")))
        .bearer_auth(&token)
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
    assert_eq!(csv.lines().count(), 601);
    assert!(csv.contains(&signers[7].name));
    app.stop().await;
}

#[tokio::test]
async fn a_crash_after_the_server_took_a_letter_leaves_it_unknown_and_never_resends_it() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_without_notifier(&smtp_config(&smtp, "[letters]\nlease_secs = 3\n")).await;
    let token = app.token(Role::Organiser).await;
    let o = official(
        &app,
        &token,
        "Commissioner",
        "commissioner@ombudsman.kz",
        ALWAYS,
        None,
    )
    .await;
    let letter = approved_letter(&app, &token, letter_body("crash", "each", &[o], json!({}))).await;
    let first = app.start_notifier().await;
    smtp.set_behaviour(Behaviour::Stall(Duration::from_secs(2)));
    insert_signer(&app, letter, 1, true, true, true).await;
    // The letter's data is at the server, which holds its answer: crash.
    eventually(Duration::from_secs(15), || async {
        (smtp.attempts() >= 1).then_some(())
    })
    .await;
    first.kill().await;
    smtp.wait_for(1, Duration::from_secs(5)).await;
    smtp.set_behaviour(Behaviour::Accept);
    assert_eq!(
        statuses(&app, letter).await,
        HashMap::from([("sending".to_string(), 1)])
    );

    // A new notifier finds it past its lease: unknown, not resent.
    let second = app.start_notifier().await;
    eventually(Duration::from_secs(15), || async {
        (statuses(&app, letter).await.get("unknown") == Some(&1)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(smtp.attempts(), 1);
    let p: Value = app
        .http
        .get(app.url(&format!("/api/v1/admin/letters/{letter}/progress")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["officials"][0]["unknown"], 1);
    let unknown = &p["unknown"][0];
    assert!(
        smtp.messages()[0]
            .header("Message-ID")
            .unwrap()
            .contains(unknown["message_id"].as_str().unwrap())
    );

    // The organiser checked with the office: it arrived. Audited.
    let delivery = unknown["delivery_id"].as_str().unwrap();
    let path = format!("/api/v1/admin/letters/{letter}/deliveries/{delivery}/resolve");
    let r = app
        .admin(&token)
        .post(&path, json!({ "resolution": "maybe" }))
        .await;
    assert_eq!(r.status(), 422);
    let r = app
        .admin(&token)
        .post(&path, json!({ "resolution": "sent" }))
        .await;
    assert_eq!(r.status(), 202);
    eventually(Duration::from_secs(10), || async {
        (statuses(&app, letter).await.get("sent") == Some(&1)).then_some(())
    })
    .await;
    let r = app
        .admin(&token)
        .post(&path, json!({ "resolution": "requeue" }))
        .await;
    assert_eq!(r.status(), 409, "only an unknown letter is resolved");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'letter.resolve_unknown' AND target = $1",
    )
    .bind(letter.to_string())
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    assert_eq!(smtp.messages().len(), 1);
    second.shutdown.cancel();
    let _ = second.task.await;
    app.stop().await;
}

fn almaty(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Almaty
        .with_ymd_and_hms(y, m, d, h, min, s)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn a_letter_due_on_saturday_in_almaty_waits_until_monday_nine_and_the_daily_cap_holds() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_without_notifier(&smtp_config(&smtp, "")).await;
    let token = app.token(Role::Organiser).await;
    // Default office hours (Mon-Fri 09:00-18:00), Asia/Almaty, one a day.
    let o = official(&app, &token, "Akim", "akim@pavlodar.gov.kz", "", Some(1)).await;
    let letter = approved_letter(
        &app,
        &token,
        letter_body("office-hours", "each", &[o], json!({})),
    )
    .await;
    let mut conn = app.infra.db.acquire().await.unwrap();
    for i in 0..2 {
        let s = insert_signer(&app, letter, i, false, true, false).await;
        queue::queue_signature(&mut conn, s.id).await.unwrap();
    }
    // Saturday 1 June 2030, 11:00 in Almaty.
    let clock = Arc::new(ManualClock::new(almaty(2030, 6, 1, 11, 0, 0)));
    let sender = sender(&app, clock.clone());
    sender.drain().await.unwrap();
    assert!(smtp.messages().is_empty());
    let next: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT next_attempt_at FROM deliveries WHERE kind = 'letter'")
            .fetch_all(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(next, vec![almaty(2030, 6, 3, 9, 0, 0); 2]);
    clock.set(almaty(2030, 6, 3, 8, 59, 59));
    sender.drain().await.unwrap();
    assert!(smtp.messages().is_empty(), "not a second before 09:00");
    clock.set(almaty(2030, 6, 3, 9, 0, 0));
    sender.drain().await.unwrap();
    assert_eq!(smtp.messages().len(), 1, "Monday 09:00: one, the daily cap");
    clock.set(almaty(2030, 6, 3, 17, 0, 0));
    sender.drain().await.unwrap();
    assert_eq!(smtp.messages().len(), 1, "the cap holds all Monday");
    clock.set(almaty(2030, 6, 4, 9, 0, 0));
    sender.drain().await.unwrap();
    assert_eq!(smtp.messages().len(), 2, "Tuesday 09:00: the next");
    assert_eq!(
        statuses(&app, letter).await,
        HashMap::from([("sent".to_string(), 2)])
    );
    app.stop().await;
}

#[tokio::test]
async fn letters_to_one_domain_are_never_closer_than_the_configured_spacing() {
    let smtp = SmtpServer::start().await;
    // 30 a minute to one domain: one every 2 s at most.
    let app = spawn_app_with(&smtp_config(&smtp, "[letters]\ndomain_per_minute = 30\n")).await;
    let token = app.token(Role::Organiser).await;
    let a = official(&app, &token, "A", "a@gov.kz", ALWAYS, None).await;
    let b = official(&app, &token, "B", "b@gov.kz", ALWAYS, None).await;
    let letter = approved_letter(
        &app,
        &token,
        letter_body("spacing", "each", &[a, b], json!({})),
    )
    .await;
    for i in 0..2 {
        insert_signer(&app, letter, i, false, true, true).await;
    }
    let got = smtp.wait_for(4, Duration::from_secs(30)).await;
    let mut times: Vec<std::time::Instant> = got.iter().map(|m| m.received_at).collect();
    times.sort();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("domain throttle (30/min = 2 s): measured gaps {gaps:?}");
    for g in &gaps {
        assert!(*g >= Duration::from_secs(2), "{gaps:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_collective_letter_goes_once_per_official_with_every_confirmed_signatory() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_without_notifier(&smtp_config(&smtp, "")).await;
    let token = app.token(Role::Organiser).await;
    let a = official(
        &app,
        &token,
        "Minister",
        "minister@moh.gov.kz",
        ALWAYS,
        None,
    )
    .await;
    let b = official(
        &app,
        &token,
        "Ombudsman",
        "ombudsman@ombudsman.kz",
        ALWAYS,
        None,
    )
    .await;
    let send_at = Utc::now() + chrono::Duration::hours(1);
    let body = letter_body(
        "collective",
        "collective",
        &[a, b],
        json!({
            "send_at": send_at,
            "templates": { "ru": { "subject": "Коллективное обращение", "body": "Уважаемый(ая) {{ official.name }}!\n\nПросим обеспечить ОЗТ. Подписали {{ count }}." } }
        }),
    );
    let letter = approved_letter(&app, &token, body).await;
    let mut confirmed = Vec::new();
    for i in 0..4 {
        confirmed.push(insert_signer(&app, letter, i, true, true, false).await);
    }
    let withdrawn = insert_signer(&app, letter, 10, true, true, false).await;
    let pending = insert_signer(&app, letter, 11, true, false, false).await;
    use nasvyazi_letters::signatures::{Withdrawal, withdraw};
    assert_eq!(
        withdraw(&app.infra.db, &withdrawn.withdraw_token)
            .await
            .unwrap(),
        Withdrawal::Done
    );

    let clock = Arc::new(ManualClock::new(send_at - chrono::Duration::minutes(1)));
    let sender = sender(&app, clock.clone());
    sender.drain().await.unwrap();
    assert!(smtp.messages().is_empty(), "not before send_at");
    clock.set(send_at);
    sender.drain().await.unwrap();
    let got = smtp.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2);
    let mut to: Vec<String> = got.iter().map(|m| m.rcpt_to[0].clone()).collect();
    to.sort();
    assert_eq!(to, ["minister@moh.gov.kz", "ombudsman@ombudsman.kz"]);
    for m in &got {
        let text = m.text_body().unwrap();
        assert!(text.contains("Подписали 4."), "{text}");
        for s in &confirmed {
            assert!(text.contains(&format!("{}, {}", s.name, s.city)), "{text}");
        }
        assert!(
            !text.contains(&withdrawn.name) && !text.contains(&pending.name),
            "{text}"
        );
        assert_eq!(
            m.header("Reply-To").as_deref(),
            Some("office@forum.example.kz")
        );
        let mid = m.header("Message-ID").unwrap();
        let official = if m.rcpt_to[0].starts_with("minister") {
            a
        } else {
            b
        };
        assert!(
            mid.contains(&message_id(letter, COLLECTIVE, official, FROM)),
            "{mid}"
        );
    }
    // Once: later passes send nothing; a signatory can no longer withdraw.
    clock.set(send_at + chrono::Duration::hours(1));
    sender.drain().await.unwrap();
    assert_eq!(smtp.messages().len(), 2);
    assert_eq!(
        withdraw(&app.infra.db, &confirmed[0].withdraw_token)
            .await
            .unwrap(),
        Withdrawal::TooLate
    );
    assert_eq!(
        statuses(&app, letter).await,
        HashMap::from([("sent".to_string(), 2)])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_csv_with_one_bad_row_reports_that_row_and_imports_nothing() {
    let app = spawn_app_without_notifier("").await;
    let token = app.token(Role::Organiser).await;
    let import = |body: &'static str| {
        app.http
            .post(app.url("/api/v1/admin/officials/import"))
            .bearer_auth(&token)
            .header(CONTENT_TYPE, "text/csv")
            .body(body)
            .send()
    };
    let bad = "name,position,organisation,email,language,time_zone,office_hours,daily_cap\n\
               Асель Нурланова,Министр,Минздрав,minister@moh.gov.kz,ru,Asia/Almaty,Mon-Fri 09:00-18:00,20\n\
               Ерлан Ахметов,Главный нарколог,РНПЦ,head@narcology.kz,kk,Asia/Almaty,Sat-Mon 09:00-18:00,\n\
               Омбудсмен,Уполномоченный по правам человека,Аппарат,ombudsman@ombudsman.kz,ru,,,\n";
    let r = import(bad).await.unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_rows");
    assert_eq!(
        v["rows"],
        json!([{ "row": 3, "column": "office_hours", "reason": "days and hours like Mon-Fri 09:00-18:00" }])
    );
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM officials")
            .fetch_one(&app.infra.db)
            .await
            .unwrap()
    };
    assert_eq!(count().await, 0, "nothing half-imported");

    let good = "name,position,organisation,email,language,time_zone,office_hours,daily_cap\n\
                Асель Нурланова,Министр,Минздрав,minister@moh.gov.kz,ru,Asia/Almaty,Mon-Fri 09:00-18:00,20\n\
                Ерлан Ахметов,Главный нарколог,РНПЦ,head@narcology.kz,kk,Asia/Almaty,Mon-Fri 10:00-17:00,\n\
                Омбудсмен,Уполномоченный по правам человека,Аппарат,ombudsman@ombudsman.kz,ru,,,\n";
    let r = import(good).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({ "created": 3, "updated": 0 })
    );
    // Sealed at rest: no name or address in the table in clear.
    let dump: Vec<Vec<u8>> = sqlx::query_scalar("SELECT name_ct || email_ct FROM officials")
        .fetch_all(&app.infra.db)
        .await
        .unwrap();
    assert!(
        dump.iter()
            .all(|b| !String::from_utf8_lossy(b).contains("moh.gov.kz"))
    );
    // Export round-trips; importing it again updates, never duplicates.
    let r = app
        .http
        .get(app.url("/api/v1/admin/officials/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let exported = r.text().await.unwrap();
    assert!(exported.starts_with(
        "id,name,position,organisation,email,language,time_zone,office_hours,daily_cap\n"
    ));
    assert!(exported.contains(
        "Ерлан Ахметов,Главный нарколог,РНПЦ,head@narcology.kz,kk,Asia/Almaty,Mon-Fri 10:00-17:00,"
    ));
    let r = app
        .http
        .post(app.url("/api/v1/admin/officials/import"))
        .bearer_auth(&token)
        .header(CONTENT_TYPE, "text/csv")
        .body(exported)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({ "created": 0, "updated": 3 })
    );
    assert_eq!(count().await, 3);

    // The CLI: the same report, nothing stored.
    let dir = std::env::temp_dir().join(format!("letters-cli-{}", short()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("officials.csv");
    std::fs::write(
        &file,
        "name,position,organisation,email\nX,Y,Z,x@new.kz\nBad,Row,Here,not-an-address\n",
    )
    .unwrap();
    let cfg = dir.join("cli.toml");
    use secrecy::ExposeSecret;
    std::fs::write(
        &cfg,
        format!(
            "[database]\nurl = \"{}\"\n[crypto]\nmaster_key = \"{}\"\nblind_index_key = \"{}\"\n",
            app.config.database.url.expose_secret(),
            app.config
                .crypto
                .master_key
                .as_ref()
                .unwrap()
                .expose_secret(),
            app.config
                .crypto
                .blind_index_key
                .as_ref()
                .unwrap()
                .expose_secret(),
        ),
    )
    .unwrap();
    use clap::Parser;
    let cli = nasvyazi_cli::Cli::parse_from([
        "nasvyazi",
        "--config",
        cfg.to_str().unwrap(),
        "officials",
        "import",
        file.to_str().unwrap(),
    ]);
    let mut out = Vec::new();
    let e = nasvyazi_cli::execute(cli, &mut out).await.unwrap_err();
    assert!(e.to_string().contains("nothing was imported"), "{e}");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "row 3, column email: not a valid email address\n"
    );
    assert_eq!(count().await, 3);
    let audit: Vec<(String, Value)> = sqlx::query_as(
        "SELECT action, details FROM audit_log WHERE action = 'official.import' ORDER BY id",
    )
    .fetch_all(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(audit.len(), 2, "one audit row per stored import");
    let doc = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for path in [
        "/api/v1/admin/officials/import",
        "/api/v1/admin/letters/{id}/progress",
    ] {
        assert!(doc.contains(path), "{path} in the OpenAPI document");
    }
    assert!(!audit.iter().any(|(_, d)| d.to_string().contains('@')));
    app.stop().await;
}

/// GETs a page and returns (csrf token, cookie header to send back, body).
async fn page(app: &TestApp, url: &str) -> (String, String, String) {
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
    (token, cookies.join("; "), html)
}

async fn form(app: &TestApp, url: &str, cookie: &str, body: String) -> reqwest::Response {
    app.http
        .post(url)
        .header(COOKIE, cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

fn link(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in:\n{text}"));
    text[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .unwrap()
        .to_string()
}

/// `application/x-www-form-urlencoded` for one value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Signs `slug` through the page; returns the confirmation email.
async fn sign(
    app: &TestApp,
    smtp: &SmtpServer,
    slug: &str,
    name: &str,
    email: &str,
    reply_to: bool,
) -> Received {
    let url = app.url(&format!("/letters/{slug}?lang=ru"));
    let (csrf, cookie, html) = page(app, &url).await;
    assert!(
        html.contains("Письмо о доступе к ОЗТ") && html.contains("position of Minister"),
        "{html}"
    );
    let before = smtp.messages().len();
    let body = format!(
        "csrf={csrf}&name={}&city={}&email={}&note={}&consent=yes{}",
        enc(name),
        enc("Павлодар"),
        enc(email),
        enc("Моему брату отказали в ОЗТ в больнице."),
        if reply_to { "&reply_to=yes" } else { "" }
    );
    let r = form(app, &url, &cookie, body).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Проверьте почту"));
    let all = smtp.wait_for(before + 1, Duration::from_secs(15)).await;
    all.into_iter()
        .rev()
        .find(|m| m.rcpt_to == vec![email.to_string()])
        .expect("a confirmation email")
}

async fn click(app: &TestApp, url: &str) -> reqwest::Response {
    let (csrf, cookie, _) = page(app, url).await;
    form(app, url, &cookie, format!("csrf={csrf}")).await
}

#[tokio::test]
async fn signing_through_the_page_with_email_confirmation_and_withdrawal() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&smtp_config(&smtp, "")).await;
    let token = app.token(Role::Organiser).await;
    let o = official(
        &app,
        &token,
        "Minister",
        "minister@moh.gov.kz",
        ALWAYS,
        None,
    )
    .await;
    // A draft is not signable.
    let r = app
        .admin(&token)
        .post(
            "/api/v1/admin/letters",
            letter_body("now", "each", &[o], json!({})),
        )
        .await;
    let now_id: Uuid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        app.http
            .get(app.url("/letters/now"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Preview before approval, for any official and signer.
    let r = app.admin(&token).post(&format!("/api/v1/admin/letters/{now_id}/preview"),
        json!({ "official_id": o, "signer": { "name": "Айгерим", "city": "Павлодар", "note": "Прошу." } })).await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["subject"], "Обращение: position of Minister");
    assert!(p["text"].as_str().unwrap().contains("Айгерим, Павлодар"));
    assert_eq!(p["from"], FROM);
    app.admin(&token)
        .post(
            &format!("/api/v1/admin/letters/{now_id}/approve"),
            json!({}),
        )
        .await;
    // A second letter whose letters wait an hour: time to withdraw.
    let later = approved_letter(
        &app,
        &token,
        letter_body(
            "later",
            "each",
            &[o],
            json!({ "send_at": Utc::now() + chrono::Duration::hours(1) }),
        ),
    )
    .await;

    let email = format!("canary-{}@example.kz", short());
    let name = format!("Canary{}", short());
    let mail = sign(&app, &smtp, "now", &name, &email, true).await;
    assert_eq!(
        mail.header("Subject").unwrap(),
        "Подтвердите подпись под письмом"
    );
    assert_eq!(mail.mail_from, "noreply@forum.example.kz");
    let text = mail.text_body().unwrap();
    let confirm = link(&text, &app.url("/letters/confirm/"));
    let withdraw = link(&text, &app.url("/letters/withdraw/"));
    // Before confirmation, nothing goes to the official.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(letters_only(smtp.messages()).is_empty());
    // A CSRF-less POST is refused; opening the link confirms nothing.
    let r = form(&app, &confirm, "", String::new()).await;
    assert_eq!(r.status(), 403);
    let r = click(&app, &confirm).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Подпись подтверждена"));
    assert_eq!(click(&app, &confirm).await.status(), 404, "single use");
    let letter = letters_only(smtp.wait_for(2, Duration::from_secs(15)).await).remove(0);
    assert_eq!(letter.rcpt_to, vec!["minister@moh.gov.kz".to_string()]);
    assert_eq!(letter.header("Reply-To").as_deref(), Some(email.as_str()));
    assert!(
        letter
            .text_body()
            .unwrap()
            .contains(&format!("{name}, Павлодар"))
    );
    assert!(letter.text_body().unwrap().contains("Моему брату отказали"));
    // Sent: too late to withdraw.
    let r = click(&app, &withdraw).await;
    assert_eq!(r.status(), 409);

    // The later letter: sign, confirm, withdraw before it is sent.
    let email2 = format!("canary-{}@example.kz", short());
    let mail = sign(
        &app,
        &smtp,
        "later",
        &format!("Canary{}", short()),
        &email2,
        false,
    )
    .await;
    let text = mail.text_body().unwrap();
    assert_eq!(
        click(&app, &link(&text, &app.url("/letters/confirm/")))
            .await
            .status(),
        200
    );
    eventually(Duration::from_secs(10), || async {
        (statuses(&app, later).await.get("queued") == Some(&1)).then_some(())
    })
    .await;
    let r = click(&app, &link(&text, &app.url("/letters/withdraw/"))).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Подпись отозвана"));
    let wiped: (Option<Vec<u8>>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT data_key, email_ct FROM letter_signatures WHERE letter_id = $1")
            .bind(later)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(wiped, (None, None), "withdrawal wipes the signer's data");
    // Its time comes (moved forward here): skipped, not sent.
    sqlx::query(
        "UPDATE deliveries SET next_attempt_at = now() WHERE kind = 'letter' AND status = 'queued'",
    )
    .execute(&app.infra.db)
    .await
    .unwrap();
    sqlx::query("SELECT pg_notify('letters_wake', '')")
        .execute(&app.infra.db)
        .await
        .unwrap();
    eventually(Duration::from_secs(10), || async {
        (statuses(&app, later).await.get("skipped") == Some(&1)).then_some(())
    })
    .await;
    assert_eq!(letters_only(smtp.messages()).len(), 1);

    // Same form, same answer for a known address (no enumeration).
    let url = app.url("/letters/now?lang=en");
    let (csrf, cookie, _) = page(&app, &url).await;
    let again = format!(
        "csrf={csrf}&name=X&city=Y&email={}&consent=yes",
        enc(&email)
    );
    let fresh = format!(
        "csrf={csrf}&name=X&city=Y&email={}&consent=yes",
        enc(&format!("other-{}@example.kz", short()))
    );
    let a = form(&app, &url, &cookie, again).await;
    let b = form(&app, &url, &cookie, fresh).await;
    assert_eq!(
        (a.status(), b.status()),
        (reqwest::StatusCode::OK, reqwest::StatusCode::OK)
    );
    assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
    // Consent is required.
    let (csrf, cookie, _) = page(&app, &url).await;
    let r = form(
        &app,
        &url,
        &cookie,
        format!("csrf={csrf}&name=X&city=Y&email=z%40example.kz"),
    )
    .await;
    assert_eq!(r.status(), 422);

    // Canaries: no signer's address or name in any log line.
    let logs = nasvyazi_tests::logs::captured();
    assert!(!logs.contains(&email) && !logs.contains(&email2) && !logs.contains(&name));
    app.stop().await;
}
