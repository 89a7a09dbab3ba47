//! The supporter's email flow end to end, against the loopback SMTP server:
//! subscribe -> confirmation mail -> confirm -> one-click unsubscribe ->
//! forget; no enumeration; retries and suppression; canaries.

use std::time::Duration;

use nasvyazi_shared::crypto::{Keyring, decode_key};
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_tests::smtp::{Behaviour, Received, SmtpServer};
use nasvyazi_tests::{TestApp, assert_no_plaintext, eventually, spawn_app_with};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use secrecy::ExposeSecret;
use serde_json::json;
use uuid::Uuid;

async fn app_with_smtp(smtp: &SmtpServer) -> TestApp {
    spawn_app_with(&format!(
        "[email]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\nfrom = \"Forum KZ <noreply@forum.example.kz>\"\nunsubscribe_mailto = \"unsubscribe@forum.example.kz\"\ntimeout_secs = 5\n",
        smtp.url()
    ))
    .await
}

fn canary() -> String {
    format!("canary-{}@example.kz", Uuid::new_v4().simple())
}

async fn subscribe(app: &TestApp, email: &str, lang: &str) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/subscriptions"))
        .json(&json!({ "email": email, "language": lang, "topics": ["ost", "overdose"], "region": "pavlodar" }))
        .send()
        .await
        .unwrap()
}

fn keys(app: &TestApp) -> Keyring {
    Keyring::from_config(&app.config.crypto).unwrap()
}

async fn status_of(app: &TestApp, email: &str) -> Option<String> {
    let bi = keys(app).blind_index("email", &EmailAddress::parse(email).unwrap().normalised());
    sqlx::query_scalar("SELECT status FROM contacts WHERE blind_index = $1")
        .bind(bi)
        .fetch_optional(&app.infra.db)
        .await
        .unwrap()
}

/// The first link in `text` that starts with `prefix`.
fn link(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in:\n{text}"));
    text[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .next()
        .unwrap()
        .to_string()
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

fn check_confirmation_mail(m: &Received, app: &TestApp, email: &str) {
    assert_eq!(m.rcpt_to, vec![email.to_string()]);
    assert_eq!(m.mail_from, "noreply@forum.example.kz");
    assert!(
        m.header("From")
            .unwrap()
            .contains("noreply@forum.example.kz")
    );
    assert_eq!(m.header("Subject").unwrap(), "Подтвердите подписку");
    assert!(m.header("Date").is_some());
    let mid = m.header("Message-ID").unwrap();
    assert!(
        mid.ends_with("@forum.example.kz") || mid.ends_with("@forum.example.kz>"),
        "{mid}"
    );
    assert_eq!(m.header("Content-Language").as_deref(), Some("ru"));
    let lu = m.header_values_raw("List-Unsubscribe").join(" ");
    assert!(lu.contains(&format!("<{}/u/", app.url(""))), "{lu}");
    assert!(lu.contains("<mailto:unsubscribe@forum.example.kz"), "{lu}");
    assert_eq!(
        m.header_values_raw("List-Unsubscribe-Post"),
        vec!["List-Unsubscribe=One-Click".to_string()]
    );
    let text = m.text_body().expect("a text part");
    let html = m.html_body().expect("an HTML part");
    assert!(
        text.contains("/confirm/") && html.contains("/confirm/"),
        "{}",
        m.data_str()
    );
}

#[tokio::test]
async fn subscribe_confirm_unsubscribe_and_forget_over_smtp_leave_no_plain_address() {
    let smtp = SmtpServer::start().await;
    let app = app_with_smtp(&smtp).await;
    let email = canary();

    let r = subscribe(&app, &email, "ru").await;
    assert_eq!(r.status(), 202);
    let mail = smtp.wait_for(1, Duration::from_secs(15)).await.remove(0);
    check_confirmation_mail(&mail, &app, &email);
    assert_eq!(status_of(&app, &email).await.as_deref(), Some("pending"));

    // Opening the link (as a mail scanner would) confirms nothing.
    let confirm = link(&mail.text_body().unwrap(), &app.url("/confirm/"));
    let (token, cookie) = csrf(&app, &confirm).await;
    assert_eq!(status_of(&app, &email).await.as_deref(), Some("pending"));
    // A POST without the CSRF token is refused.
    let r = app
        .http
        .post(&confirm)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .http
        .post(&confirm)
        .header(COOKIE, &cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("csrf={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(status_of(&app, &email).await.as_deref(), Some("active"));
    // The link is single-use.
    let r = app
        .http
        .post(&confirm)
        .header(COOKIE, &cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("csrf={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // RFC 8058 one-click unsubscribe: a POST with no cookie, no question.
    let lu = mail.header_values_raw("List-Unsubscribe").join(" ");
    let unsubscribe = link(&lu, &app.url("/u/"));
    let r = app
        .http
        .post(&unsubscribe)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        status_of(&app, &email).await.as_deref(),
        Some("unsubscribed")
    );

    // Forget me: the row and its data key go; the old ciphertext no longer
    // opens with anything the system holds.
    let (id, data_key, address_ct): (Uuid, Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT id, data_key, address_ct FROM contacts")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    let forget = link(&mail.text_body().unwrap(), &app.url("/forget/"));
    let (token, cookie) = csrf(&app, &forget).await;
    let r = app
        .http
        .post(&forget)
        .header(COOKIE, &cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("csrf={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(status_of(&app, &email).await, None);
    let keyring = keys(&app);
    assert!(
        nasvyazi_supporters::contacts::load_for_sending(&app.infra.db, &keyring, id)
            .await
            .unwrap()
            .is_none()
    );
    let master = decode_key(
        app.config
            .crypto
            .master_key
            .as_ref()
            .unwrap()
            .expose_secret(),
    )
    .unwrap();
    assert!(
        master
            .open(
                &address_ct,
                &nasvyazi_supporters::contacts::aad(id, "address")
            )
            .is_err()
    );
    let key_left: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts WHERE data_key = $1")
        .bind(&data_key)
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(key_left, 0, "the wrapped data key is gone");

    // Canary: the address in plain text nowhere but the SMTP server.
    wait_for_outbox_drained(&app).await;
    assert_no_plaintext(&app, &email).await;
    app.stop().await;
}

async fn wait_for_outbox_drained(app: &TestApp) {
    eventually(Duration::from_secs(10), || async {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM front_outbox WHERE published_at IS NULL")
                .fetch_one(&app.infra.db)
                .await
                .unwrap();
        (n == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn every_state_gets_the_byte_identical_answer() {
    let smtp = SmtpServer::start().await;
    let app = app_with_smtp(&smtp).await;
    let (new, pending, active, unsubscribed, suppressed) =
        (canary(), canary(), canary(), canary(), canary());
    for e in [&pending, &unsubscribed] {
        assert_eq!(subscribe(&app, e, "kk").await.status(), 202);
    }
    // Active: inserted directly, so no confirmation mail is in flight.
    app.insert_contact(nasvyazi_tests::NewContact {
        language: "kk",
        ..nasvyazi_tests::NewContact::email(&active)
    })
    .await;
    let k = keys(&app);
    let bi = |e: &str| k.blind_index("email", &EmailAddress::parse(e).unwrap().normalised());
    sqlx::query("UPDATE contacts SET status = 'unsubscribed' WHERE blind_index = $1")
        .bind(bi(&unsubscribed))
        .execute(&app.infra.db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO suppressions (channel, blind_index, reason) VALUES ('email', $1, 'test')",
    )
    .bind(bi(&suppressed))
    .execute(&app.infra.db)
    .await
    .unwrap();

    let mut answers = Vec::new();
    for e in [&new, &pending, &active, &unsubscribed, &suppressed] {
        let r = subscribe(&app, e, "kk").await;
        let status = r.status();
        let ctype = r.headers()[CONTENT_TYPE].clone();
        answers.push((status, ctype, r.bytes().await.unwrap()));
    }
    for a in &answers[1..] {
        assert_eq!(a, &answers[0]);
    }
    assert_eq!(answers[0].0, 202);
    // The form answers alike too.
    let (token, cookie) = csrf(&app, &app.url("/subscribe?lang=en")).await;
    let mut pages = Vec::new();
    for e in [&new, &pending, &active, &unsubscribed, &suppressed] {
        let r = app
            .http
            .post(app.url("/subscribe?lang=en"))
            .header(COOKIE, &cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!(
                "csrf={token}&email={}&language=en&topics=hiv&region=",
                e.replace('@', "%40")
            ))
            .send()
            .await
            .unwrap();
        pages.push((r.status(), r.bytes().await.unwrap()));
    }
    for p in &pages[1..] {
        assert_eq!(p, &pages[0]);
    }
    assert_eq!(pages[0].0, 200);
    // Nothing was sent to the suppressed address, and the active one was
    // not asked to confirm again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for m in smtp.messages() {
        assert!(!m.rcpt_to.contains(&suppressed) && !m.rcpt_to.contains(&active));
    }
    app.stop().await;
}

#[tokio::test]
async fn a_4xx_is_retried_and_delivered_once() {
    let smtp = SmtpServer::start().await;
    smtp.set_behaviour(Behaviour::TempFail {
        code: 451,
        times: 1,
    });
    let app = app_with_smtp(&smtp).await;
    let email = canary();
    assert_eq!(subscribe(&app, &email, "en").await.status(), 202);
    let got = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1);
    let (status, attempts, reply): (String, i32, Option<String>) =
        eventually(Duration::from_secs(5), || async {
            let row: (String, i32, Option<String>) =
                sqlx::query_as("SELECT status, attempts, provider_reply FROM deliveries")
                    .fetch_one(&app.infra.db)
                    .await
                    .unwrap();
            (row.0 == "sent").then_some(row)
        })
        .await;
    assert_eq!((status.as_str(), attempts), ("sent", 2));
    assert!(reply.unwrap().starts_with("250"));
    assert_eq!(smtp.attempts(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_5xx_fails_at_once_and_suppresses_the_address() {
    let smtp = SmtpServer::start().await;
    smtp.set_behaviour(Behaviour::PermFail { code: 550 });
    let app = app_with_smtp(&smtp).await;
    let email = canary();
    assert_eq!(subscribe(&app, &email, "ru").await.status(), 202);
    let (status, error): (String, String) = eventually(Duration::from_secs(15), || async {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT status, last_error FROM deliveries")
                .fetch_optional(&app.infra.db)
                .await
                .unwrap();
        row.filter(|r| r.0 == "failed").map(|r| (r.0, r.1.unwrap()))
    })
    .await;
    assert_eq!(status, "failed");
    assert!(error.contains("550"), "{error}");
    assert!(!error.to_lowercase().contains(&email.to_lowercase()));
    let suppressed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM suppressions WHERE channel = 'email'")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(suppressed, 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.attempts(), 1, "a 5xx is not retried");

    // Subscribing again is refused silently: same 202, no mail.
    smtp.set_behaviour(Behaviour::Accept);
    assert_eq!(subscribe(&app, &email, "ru").await.status(), 202);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.attempts(), 1);
    assert!(smtp.messages().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn pages_exist_in_three_languages_with_a_strict_csp_and_no_third_parties() {
    let app = nasvyazi_tests::spawn_app().await;
    for lang in ["ru", "kk", "en"] {
        for path in ["/", "/subscribe"] {
            let r = app
                .http
                .get(app.url(&format!("{path}?lang={lang}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let csp = r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .to_string();
            assert!(
                csp.contains("default-src 'none'") && !csp.contains("unsafe"),
                "{csp}"
            );
            let html = r.text().await.unwrap();
            assert!(html.contains(&format!("<html lang=\"{lang}\">")));
            assert!(!html.contains("<script"), "no JavaScript needed");
            assert!(
                !html.contains("src=\"http") && !html.contains("href=\"http"),
                "nothing from third parties"
            );
        }
    }
    let kk = app
        .http
        .get(app.url("/subscribe?lang=kk"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(kk.contains("Жаңалықтарға жазылу"));
    // A form posted without its CSRF token is refused and stores nothing.
    let r = app
        .http
        .post(app.url("/subscribe"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("email=a%40b.kz&language=ru")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
    // Bad input: a clear error, nothing stored.
    let r = app
        .http
        .post(app.url("/api/v1/subscriptions"))
        .json(&json!({"email": "not-an-address", "language": "ru"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("email:")
    );
    let r = app
        .http
        .post(app.url("/api/v1/subscriptions"))
        .json(&json!({"email": "a@b.kz", "language": "ru", "region": "atlantis"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    app.stop().await;
}

#[tokio::test]
async fn folder_outbox_writes_eml_files_and_the_cli_erases_by_address() {
    let dir = std::env::temp_dir().join(nasvyazi_tests::unique_name("outbox"));
    let app = spawn_app_with(&format!(
        "[email]\ntransport = \"outbox\"\noutbox_dir = \"{}\"\n",
        dir.display()
    ))
    .await;
    let email = canary();
    assert_eq!(subscribe(&app, &email, "kk").await.status(), 202);
    let eml = eventually(Duration::from_secs(15), || async {
        std::fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| e.ok())
            .find(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .map(|e| e.path())
    })
    .await;
    let raw = std::fs::read(&eml).unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(parsed.subject(), Some("Жазылымды растаңыз"));
    let index = std::fs::read_to_string(dir.join("messages.jsonl")).unwrap();
    assert!(index.contains(".eml") && !index.contains(&email), "{index}");

    // `nasvyazi erase --email` with this app's database and keys.
    let cfg = dir.join("cli.toml");
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
        "erase",
        "--email",
        &email,
    ]);
    let mut out = Vec::new();
    nasvyazi_cli::execute(cli, &mut out).await.unwrap();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .starts_with("erased contact")
    );
    assert_eq!(status_of(&app, &email).await, None);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'contact.erase' AND actor = 'cli'",
    )
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    app.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn key_rotation_rewraps_data_keys_without_touching_contents() {
    let app = nasvyazi_tests::spawn_app().await;
    let email = canary();
    assert_eq!(subscribe(&app, &email, "en").await.status(), 202);
    let (id, address_ct): (Uuid, Vec<u8>) = sqlx::query_as("SELECT id, address_ct FROM contacts")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    let fresh = Keyring::generate();
    let new_master = fresh.master_base64().expose_secret().to_string();
    let old_master = app
        .config
        .crypto
        .master_key
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_string();
    let blind = app
        .config
        .crypto
        .blind_index_key
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_string();
    let dir = std::env::temp_dir().join(nasvyazi_tests::unique_name("rotate"));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("cli.toml");
    std::fs::write(
        &cfg,
        format!(
            "[database]\nurl = \"{}\"\n[crypto]\nmaster_key = \"{new_master}\"\nblind_index_key = \"{blind}\"\nprevious_master_keys = [\"{old_master}\"]\n",
            app.config.database.url.expose_secret(),
        ),
    )
    .unwrap();
    use clap::Parser;
    let cli = nasvyazi_cli::Cli::parse_from([
        "nasvyazi",
        "--config",
        cfg.to_str().unwrap(),
        "keys",
        "rewrap",
    ]);
    let mut out = Vec::new();
    nasvyazi_cli::execute(cli, &mut out).await.unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("contacts: 1\n"), "{out}");
    assert!(out.trim().ends_with("re-wrapped 1 data keys"), "{out}");
    // The contents were not re-encrypted; only the new key is needed now.
    let (after_ct,): (Vec<u8>,) = sqlx::query_as("SELECT address_ct FROM contacts")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(after_ct, address_ct);
    let only_new = nasvyazi_shared::config::CryptoConfig {
        master_key: Some(new_master.into()),
        blind_index_key: Some(blind.into()),
        previous_master_keys: vec![],
    };
    let keys = Keyring::from_config(&only_new).unwrap();
    let contact = nasvyazi_supporters::contacts::load_for_sending(&app.infra.db, &keys, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.address, email);
    assert!(
        nasvyazi_supporters::contacts::load_for_sending(&app.infra.db, &self::keys(&app), id)
            .await
            .is_err(),
        "the old key alone no longer opens it"
    );
    std::fs::remove_dir_all(&dir).ok();
    app.stop().await;
}

#[tokio::test]
async fn unconfirmed_contacts_are_deleted_after_the_pending_period() {
    let app = nasvyazi_tests::spawn_app().await;
    let (old, fresh) = (canary(), canary());
    for e in [&old, &fresh] {
        assert_eq!(subscribe(&app, e, "ru").await.status(), 202);
    }
    let k = keys(&app);
    let bi = k.blind_index("email", &EmailAddress::parse(&old).unwrap().normalised());
    sqlx::query("UPDATE contacts SET created_at = now() - interval '8 days', confirm_issued_at = now() - interval '8 days' WHERE blind_index = $1")
        .bind(bi)
        .execute(&app.infra.db)
        .await
        .unwrap();
    let ttl = chrono::Duration::hours(app.config.subscriptions.pending_ttl_hours as i64);
    let n = nasvyazi_supporters::subscriptions::delete_stale_pending(&app.infra.db, ttl)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(status_of(&app, &old).await, None);
    assert_eq!(status_of(&app, &fresh).await.as_deref(), Some("pending"));
    app.stop().await;
}
