//! Item 8 ("lower, also to fix"), one test per finding: each did what the
//! review describes before its fix and fails to now.

use std::time::Duration;

use nasvyazi_front::console::throttle::{ADDRESS_FREE, USER_FREE};
use nasvyazi_front::console::{sign_in, users};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::crypto::{Keyring, token_hash};
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_tests::{TestApp, eventually, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::agent::{Agent, csrf_in, location};

const PASSWORD: &str = "correct horse battery staple";
const WRONG: &str = "not the right password";

fn keys(app: &TestApp) -> Keyring {
    Keyring::from_config(&app.config.crypto).unwrap()
}

/// A console user (no TOTP) with [`PASSWORD`].
async fn user(app: &TestApp, email: &str) -> Uuid {
    let email = EmailAddress::parse(email).unwrap();
    let mut tx = app.infra.db.begin().await.unwrap();
    let id = users::create(
        &mut tx,
        &keys(app),
        &users::NewUser {
            name: "Staff",
            email: &email,
            role: Role::Organiser,
            language: Lang::En,
        },
        Some(PASSWORD),
        "test",
        None,
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    id
}

/// The sign-in statements counter once nothing has moved it for 300 ms
/// (the link is made after the answer).
async fn settled_statements() -> u64 {
    let mut last = sign_in::statements();
    let mut still = 0;
    while still < 6 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = sign_in::statements();
        if now == last {
            still += 1;
        } else {
            (last, still) = (now, 0);
        }
    }
    last
}

// a. Timing told staff addresses from others: now the same work.

#[tokio::test]
async fn a_known_and_an_unknown_address_cost_the_same_work_for_the_same_answer() {
    let app = spawn_app().await;
    let email = "timing-staff@forum.example.kz";
    let id = user(&app, email).await;
    let mut a = Agent::new(&app);
    // The decoy hash is made on first use: not inside the comparison.
    a.sign_in("warm-up@forum.example.kz", WRONG).await;

    // Password sign-in: one argon2 verification and the same statements.
    let work = || (users::hash_stats().0, sign_in::statements());
    let before = work();
    let known = a.sign_in(email, WRONG).await;
    let between = work();
    let unknown = a.sign_in("nobody-at-all@forum.example.kz", WRONG).await;
    let after = work();
    assert_eq!(known.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(between.0 - before.0, 1, "a known address: one verification");
    assert_eq!(
        after.0 - between.0,
        1,
        "an unknown address: one verification"
    );
    assert!(between.1 > before.1);
    assert_eq!(
        between.1 - before.1,
        after.1 - between.1,
        "the same statements for a known and an unknown address"
    );
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    // The known address's failure was counted; the unknown one's left
    // nothing behind (its writes were rolled back).
    let failures: i32 =
        sqlx::query_scalar("SELECT failed_attempts FROM console_users WHERE id = $1")
            .bind(id)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(failures, 1);

    // The sign-in-link request: the same statements (after the answer).
    let mut b = Agent::new(&app);
    let before = settled_statements().await;
    let known = link(&mut b, "timing-staff@forum.example.kz").await;
    let known_body = known.text().await.unwrap();
    let between = settled_statements().await;
    let unknown = link(&mut b, "nobody-else@forum.example.kz").await;
    let unknown_body = unknown.text().await.unwrap();
    let after = settled_statements().await;
    assert!(between > before);
    assert_eq!(between - before, after - between);
    assert_eq!(known_body, unknown_body);
    let links: i64 =
        sqlx::query_scalar("SELECT count(*) FROM console_sign_in_links WHERE user_id = $1")
            .bind(id)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(links, 1, "the known address got its link");
    let all: i64 = sqlx::query_scalar("SELECT count(*) FROM console_sign_in_links")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(all, 1, "the unknown address's link was rolled back");
    app.stop().await;
}

async fn link(a: &mut Agent<'_>, email: &str) -> reqwest::Response {
    let csrf = a.csrf("/admin/sign-in").await;
    a.post("/admin/sign-in/link", &[("csrf", &csrf), ("email", email)])
        .await
}

// b. Anyone could keep a staff account locked forever.

#[tokio::test]
async fn strangers_cannot_lock_the_owner_out_and_are_throttled_by_their_own_address() {
    let app = spawn_app_with("[http]\ntrusted_proxies = [\"127.0.0.1/32\"]\n").await;
    let email = "lockout-victim@forum.example.kz";
    let id = user(&app, email).await;

    // The owner signed in here before (behind the same proxy).
    let mut owner = Agent::new(&app);
    owner
        .headers
        .push(("x-forwarded-for", "198.51.100.4".into()));
    assert_eq!(location(&owner.sign_in(email, PASSWORD).await), "/admin");
    let device = owner
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-nsv_device="))
        .expect("a device cookie")
        .clone();
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(device.contains(attr), "{device}");
    }
    assert!(!device.contains("Domain"), "{device}");
    owner.jar.retain(|(n, _)| n != "nsv_session");

    // A stranger (another client address) fails until the account locks,
    // and on until their own address is throttled.
    let mut stranger = Agent::new(&app);
    stranger
        .headers
        .push(("x-forwarded-for", "203.0.113.9".into()));
    for _ in 0..ADDRESS_FREE.max(USER_FREE as u32 + 1) {
        let r = stranger.sign_in(email, WRONG).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let locked: bool = sqlx::query_scalar(
        "SELECT coalesce(locked_until > now(), false) FROM console_users WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert!(locked, "the account lock still holds against strangers");
    let r = stranger.sign_in(email, PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the stranger stays out"
    );
    // A new browser is out too while the lock lasts.
    let mut other = Agent::new(&app);
    other
        .headers
        .push(("x-forwarded-for", "198.51.100.77".into()));
    assert_eq!(
        other.sign_in(email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The owner, from their own address and browser, signs in.
    let r = owner.sign_in(email, PASSWORD).await;
    assert_eq!(location(&r), "/admin", "the owner was locked out");
    assert_eq!(owner.get("/admin").await.status(), StatusCode::OK);
    // A forged device cookie (another user's id, or no MAC) counts for
    // nothing.
    let mut forger = Agent::new(&app);
    forger
        .headers
        .push(("x-forwarded-for", "198.51.100.99".into()));
    forger.jar.push((
        "__Host-nsv_device".into(),
        format!("{id}.9999999999.00000000000000000000000000000000"),
    ));
    // (The owner's sign-in lifted the lock: set it again.)
    sqlx::query("UPDATE console_users SET locked_until = now() + interval '1 hour' WHERE id = $1")
        .bind(id)
        .execute(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(
        forger.sign_in(email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // When the lock began, the owner was emailed an unlock link: in a new
    // browser it lifts the lock (once), and that browser is known since.
    let dir = app.config.email.outbox_dir.clone();
    let token = eventually(Duration::from_secs(15), || async {
        for e in std::fs::read_dir(&dir).ok()?.filter_map(|e| e.ok()) {
            let raw = std::fs::read(e.path()).ok()?;
            let Some(m) = mail_parser::MessageParser::default().parse(&raw) else {
                continue;
            };
            let text = m.body_text(0).map(|t| t.to_string()).unwrap_or_default();
            if let Some(i) = text.find("/admin/unlock/") {
                let token: String = text[i + "/admin/unlock/".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                return Some(token);
            }
        }
        None
    })
    .await;
    let unlock_links: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM console_sign_in_links WHERE user_id = $1 AND purpose = 'unlock'",
    )
    .bind(id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(
        unlock_links, 1,
        "one unlock email, however often the lock was set off"
    );
    let mut fresh = Agent::new(&app);
    fresh
        .headers
        .push(("x-forwarded-for", "198.51.100.123".into()));
    let path = format!("/admin/unlock/{token}");
    let csrf = fresh.csrf(&path).await;
    let r = fresh.post(&path, &[("csrf", &csrf)]).await;
    assert!(
        location(&r).starts_with("/admin/sign-in"),
        "{}",
        location(&r)
    );
    let locked: bool = sqlx::query_scalar(
        "SELECT coalesce(locked_until > now(), false) FROM console_users WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert!(!locked, "the unlock link left the lock");
    sqlx::query("UPDATE console_users SET locked_until = now() + interval '1 hour' WHERE id = $1")
        .bind(id)
        .execute(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(location(&fresh.sign_in(email, PASSWORD).await), "/admin");
    let mut again = Agent::new(&app);
    let csrf = again.csrf(&path).await;
    let r = again.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::GONE, "the unlock link worked twice");
    app.stop().await;
}

// c. The pre-sign-in CSRF token accepted any value the client chose.

#[tokio::test]
async fn the_sign_in_form_takes_only_a_token_the_server_made_from_its_own_origin() {
    let app = spawn_app().await;
    let email = "csrf-staff@forum.example.kz";
    user(&app, email).await;
    let mut a = Agent::new(&app);
    let csrf = a.csrf("/admin/sign-in").await;
    let cookie = a
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-nsv_sign_in="))
        .expect("a __Host- cookie")
        .clone();
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    let form = |t: &str| {
        super::agent::form_urlencoded(&[("csrf", t), ("email", email), ("password", PASSWORD)])
    };
    let post = |cookie: String, body: String, extra: Option<(&'static str, String)>| {
        let app = &app;
        async move {
            let mut req = app
                .http
                .post(app.url("/admin/sign-in"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookie)
                .body(body);
            if let Some((k, v)) = extra {
                req = req.header(k, v);
            }
            req.send().await.unwrap().status()
        }
    };
    let chosen = "attacker-chosen-token-0123456789abcdef";
    // A value the client chose, in the cookie (a sibling host set it) and
    // the form: refused, as is the old double-submit cookie.
    let forged = format!("__Host-nsv_sign_in={chosen}");
    assert_eq!(
        post(forged, form(chosen), None).await,
        StatusCode::FORBIDDEN
    );
    let old = format!("nsv_csrf={chosen}");
    assert_eq!(post(old, form(chosen), None).await, StatusCode::FORBIDDEN);
    // A real token without its cookie: refused.
    assert_eq!(
        post(String::new(), form(&csrf), None).await,
        StatusCode::FORBIDDEN
    );
    // A real pair from another origin: refused.
    let good = a.cookies();
    for (h, v) in [
        ("origin", "http://attacker.example"),
        ("referer", "http://attacker.example/admin/sign-in"),
        ("referer", "http://127.0.0.1:8083.attacker.example/"),
    ] {
        assert_eq!(
            post(good.clone(), form(&csrf), Some((h, v.into()))).await,
            StatusCode::FORBIDDEN,
            "{h}: {v}"
        );
    }
    // `Origin: null` (what a browser sends from our no-referrer pages)
    // with the cookie from another site: no cookie, refused.
    assert_eq!(
        post(String::new(), form(&csrf), Some(("origin", "null".into()))).await,
        StatusCode::FORBIDDEN
    );
    // From the console's own origin (`console.url`) it signs in.
    let own = app.config.console.url.trim_end_matches('/').to_string();
    assert_eq!(
        post(good.clone(), form(&csrf), Some(("origin", own.clone()))).await,
        StatusCode::SEE_OTHER
    );
    let mut b = Agent::new(&app);
    let csrf = b.csrf("/admin/sign-in").await;
    assert_eq!(
        post(
            b.cookies(),
            form(&csrf),
            Some(("referer", format!("{own}/admin/sign-in")))
        )
        .await,
        StatusCode::SEE_OTHER
    );
    app.stop().await;
}

// d. The outbox folder kept every email in plain text forever.

#[tokio::test]
async fn the_outbox_folder_expires_its_files_and_forgets_an_erased_person() {
    let app = spawn_app().await;
    let dir = app.config.email.outbox_dir.clone();
    assert_eq!(app.config.email.outbox_retention_days, 7, "the default");
    let email = format!("outbox-{}@forum.example.kz", Uuid::new_v4().simple());
    let r = app
        .http
        .post(app.url("/api/v1/subscriptions"))
        .json(&json!({ "email": email, "language": "en", "topics": ["ost"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let contact: Uuid = eventually(Duration::from_secs(15), || async {
        sqlx::query_scalar(
            "SELECT contact_id FROM deliveries WHERE status = 'sent' AND provider_message_id IS NOT NULL",
        )
        .fetch_optional(&app.infra.db)
        .await
        .unwrap()
    })
    .await;
    let emls = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect()
    };
    assert_eq!(emls().len(), 1);
    let mine = emls()[0].clone();
    assert!(std::fs::read_to_string(&mine).unwrap().contains(&email));

    // A file older than the retention goes; a fresh one stays.
    let old = dir.join("20200101T000000.000Z-oldmessage.eml");
    std::fs::write(&old, "To: someone-else@example.org\r\n\r\nold").unwrap();
    let f = std::fs::File::options().write(true).open(&old).unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(8 * 86_400))
        .unwrap();
    drop(f);
    let n = nasvyazi_notifier::channels::folder::sweep(&dir, &app.infra.db, 7)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(!old.exists(), "an expired file stayed");
    assert!(mine.exists(), "a fresh file went");

    // The person is erased: their file and its index line go.
    let mut tx = app.infra.db.begin().await.unwrap();
    assert!(
        nasvyazi_supporters::subscriptions::erase(&mut tx, contact)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let n = nasvyazi_notifier::channels::folder::sweep(&dir, &app.infra.db, 7)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(
        !mine.exists(),
        "an erased person's email stayed in the folder"
    );
    let name = mine.file_name().unwrap().to_string_lossy().to_string();
    let index = std::fs::read_to_string(dir.join("messages.jsonl")).unwrap();
    assert!(!index.contains(&name), "{index}");
    app.stop().await;
}

// e. Unkeyed token hashes and the delivery id as Message-ID.

#[tokio::test]
async fn emailed_tokens_are_stored_keyed_and_the_message_id_names_no_row() {
    let app = spawn_app().await;
    let email = format!("tokens-{}@forum.example.kz", Uuid::new_v4().simple());
    let r = app
        .http
        .post(app.url("/api/v1/subscriptions"))
        .json(&json!({ "email": email, "language": "en", "topics": ["ost"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let dir = app.config.email.outbox_dir.clone();
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
    let text = parsed.body_text(0).unwrap().to_string();
    let token_after = |prefix: &str| -> String {
        let start = text
            .find(prefix)
            .unwrap_or_else(|| panic!("{prefix} in {text}"))
            + prefix.len();
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    };
    let confirm = token_after("/confirm/");
    let unsub = token_after("/u/");
    assert!(confirm.len() > 30 && unsub.len() > 30);

    // A seized mailbox's tokens do not find their row by plain SHA-256.
    let by_sha: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM contacts WHERE confirm_token_hash = $1 OR unsub_token_hash = $2",
    )
    .bind(token_hash(&confirm))
    .bind(token_hash(&unsub))
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(by_sha, 0, "a token's SHA-256 finds its row");
    let k = keys(&app);
    let (stored_confirm, stored_unsub, id): (Vec<u8>, Vec<u8>, Uuid) = sqlx::query_as(
        "SELECT confirm_token_hash, unsub_token_hash, id FROM contacts WHERE channel = 'email'",
    )
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(stored_confirm, k.token_mac(&confirm));
    assert_eq!(stored_unsub, k.token_mac(&unsub));
    assert_eq!(
        nasvyazi_supporters::subscriptions::confirm(&app.infra.db, &k, &confirm)
            .await
            .unwrap(),
        Some(id)
    );

    // The Message-ID is opaque: not the delivery id, nor the contact's.
    let message_id = parsed.message_id().unwrap().to_string();
    let (delivery, provider): (Uuid, String) =
        sqlx::query_as("SELECT id, provider_message_id FROM deliveries WHERE contact_id = $1")
            .bind(id)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert!(provider.contains(&message_id));
    for row in [delivery, id] {
        assert!(
            !message_id.contains(&row.to_string())
                && !message_id.contains(&row.simple().to_string()),
            "the Message-ID {message_id} names row {row}"
        );
    }

    // A row from before (unkeyed) still unsubscribes, and is then keyed.
    let legacy = "legacy-unsubscribe-token-from-before-the-migration";
    sqlx::query("UPDATE contacts SET unsub_token_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(token_hash(legacy))
        .execute(&app.infra.db)
        .await
        .unwrap();
    assert!(
        nasvyazi_supporters::subscriptions::unsubscribe(&app.infra.db, &k, legacy)
            .await
            .unwrap()
    );
    let now: Vec<u8> = sqlx::query_scalar("SELECT unsub_token_hash FROM contacts WHERE id = $1")
        .bind(id)
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(now, k.token_mac(legacy));
    app.stop().await;
}

// f. Organisers' HTML could embed a tracking pixel.

#[tokio::test]
async fn remote_resources_in_email_html_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let organiser = app.token(Role::Organiser).await;
    let campaign = |html: &str| {
        json!({
            "name": "Pixel",
            "schedule": { "kind": "cron", "cron": "0 10 * * *" },
            "audience": { "channels": ["email"] },
            "templates": { "ru": {
                "email_subject": "Hi", "email_text": "Hi {{ unsubscribe_url }}", "email_html": html
            } }
        })
    };
    for html in [
        "<p>Hi</p><img src=\"https://tracker.example/p.gif?r=1\">",
        "<td background=\"http://tracker.example/bg.png\">x</td>",
        "<div style=\"background:url(https://tracker.example/x)\">x</div>",
        "<img srcset=\"https://tracker.example/a.png 2x\">",
        "<link rel=\"stylesheet\" href=\"https://tracker.example/s.css\">",
        // Put together by the template: only the rendered output shows it.
        "<img src=\"{{ 'ht' ~ 'tps://tracker.example/p.gif' }}\">",
    ] {
        let r = app
            .http
            .post(app.url("/api/v1/admin/campaigns"))
            .bearer_auth(&organiser)
            .json(&campaign(html))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{html}");
        let v: Value = r.json().await.unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("email_html") && message.contains("remote"),
            "{message}"
        );
    }
    // Links are fine.
    let r = app
        .http
        .post(app.url("/api/v1/admin/campaigns"))
        .bearer_auth(&organiser)
        .json(&campaign(
            "<p><a href=\"https://forum.example.kz/\">site</a></p>",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // A pixel already stored (before the check) is refused when the
    // console's editor saves the campaign, and never rendered.
    sqlx::query(
        "UPDATE campaigns SET templates = jsonb_set(templates, '{ru,email_html}', to_jsonb($2::text))
         WHERE id = $1::uuid",
    )
    .bind(&id)
    .bind("<img src=\"https://tracker.example/p.gif\">")
    .execute(&app.infra.db)
    .await
    .unwrap();
    let staff = "pixel-organiser@forum.example.kz";
    user(&app, staff).await;
    let mut a = Agent::new(&app);
    assert_eq!(location(&a.sign_in(staff, PASSWORD).await), "/admin");
    let page = format!("/admin/campaigns/{id}/texts?lang=ru");
    let html = a.get(&page).await.text().await.unwrap();
    let csrf = csrf_in(&html);
    let r = a
        .post(
            &format!("/admin/campaigns/{id}/texts?lang=ru"),
            &[
                ("csrf", &csrf),
                ("lang", "ru"),
                ("email_subject", "Hi"),
                ("email_text", "Hi"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("email_html"));
    app.stop().await;
}

// g. A password change left emailed sign-in links working.

#[tokio::test]
async fn a_new_password_revokes_sign_in_links_and_every_other_session() {
    let app = spawn_app().await;
    let email = "rotate@forum.example.kz";
    let id = user(&app, email).await;
    let mut here = Agent::new(&app);
    let mut elsewhere = Agent::new(&app);
    assert_eq!(location(&here.sign_in(email, PASSWORD).await), "/admin");
    assert_eq!(
        location(&elsewhere.sign_in(email, PASSWORD).await),
        "/admin"
    );
    // A link sitting in the (read) mailbox.
    let token = "sign-in-link-read-from-the-mailbox-0001";
    sqlx::query(
        "INSERT INTO console_sign_in_links (id, user_id, token_hash, token_ct, expires_at)
         VALUES ($1, $2, $3, '\\x00', now() + interval '10 minutes')",
    )
    .bind(Uuid::now_v7())
    .bind(id)
    .bind(token_hash(token))
    .execute(&app.infra.db)
    .await
    .unwrap();

    let csrf = here.csrf("/admin/account").await;
    let new = "a brand new passphrase 42";
    let r = here
        .post(
            "/admin/account/password",
            &[
                ("csrf", &csrf),
                ("current", PASSWORD),
                ("new", new),
                ("again", new),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        here.get("/admin").await.status(),
        StatusCode::OK,
        "this session stays"
    );
    let r = elsewhere.get("/admin").await;
    assert_eq!(
        location(&r),
        "/admin/sign-in",
        "another session outlived the change"
    );

    let mut thief = Agent::new(&app);
    let path = format!("/admin/sign-in/link/{token}");
    let csrf = thief.csrf(&path).await;
    let r = thief.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::GONE, "the link still signed in");
    assert_ne!(thief.get("/admin").await.status(), StatusCode::OK);
    app.stop().await;
}

// h. Public timestamps to the microsecond.

#[tokio::test]
async fn the_public_appeal_status_rounds_its_times_to_the_hour() {
    let app = spawn_app().await;
    let r = app
        .http
        .post(app.url("/api/v1/appeals"))
        .json(&json!({
            "category": "police", "region": "pavlodar", "city": "ekibastuz",
            "text": "Timestamps test.", "consent_to_forward": false
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let r = app
        .http
        .post(app.url("/api/v1/appeals/status"))
        .json(&json!({ "case_number": v["case_number"], "access_code": v["access_code"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s: Value = r.json().await.unwrap();
    for field in ["received_at", "updated_at"] {
        let t = chrono::DateTime::parse_from_rfc3339(s[field].as_str().unwrap()).unwrap();
        use chrono::Timelike;
        assert_eq!(
            (t.minute(), t.second(), t.nanosecond()),
            (0, 0, 0),
            "{field}: {t}"
        );
    }
    app.stop().await;
}
