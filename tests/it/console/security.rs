//! The console's security over plain HTTP (no browser needed): the session
//! cookie's flags, the CSP on every page, forms refused without their CSRF
//! token, roles (403), lock-out with back-off, sign-out everywhere, the
//! emailed one-time link, and the TOTP second factor with replay refused.

use std::time::Duration;

use nasvyazi_front::console::{page::CSP, totp, users};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_tests::smtp::SmtpServer;
use nasvyazi_tests::{assert_no_plaintext, spawn_app_with};
use reqwest::StatusCode;
use uuid::Uuid;

use super::{PASSWORD, config, user};
use crate::security::agent::{Agent, csrf_in, location};

#[tokio::test]
async fn every_console_page_sends_the_csp_and_forms_need_their_token() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&config(&smtp, None)).await;
    let admin = user(
        &app,
        Role::Admin,
        "Admin",
        "admin@forum.example.kz",
        Lang::Ru,
    )
    .await;
    user(
        &app,
        Role::Caseworker,
        "Case",
        "case@forum.example.kz",
        Lang::Kk,
    )
    .await;

    let mut anonymous = Agent::new(&app);
    let r = anonymous.get("/admin/campaigns").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin/sign-in");

    let mut a = Agent::new(&app);
    let r = a.sign_in("admin@forum.example.kz", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin");
    let session = a
        .set_cookies
        .iter()
        .find(|c| c.starts_with("nsv_session="))
        .expect("a session cookie");
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/admin"] {
        assert!(session.contains(flag), "{session} lacks {flag}");
    }

    // A campaign made through the console (with its token), then refused
    // without it and with another session's.
    let csrf = a.csrf("/admin/campaigns/new").await;
    let r = a
        .post(
            "/admin/campaigns/new",
            &[("csrf", &csrf), ("preset", "world_aids_day")],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let id = location(&r)
        .trim_start_matches("/admin/campaigns/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let r = a
        .post("/admin/campaigns/new", &[("preset", "world_aids_day")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("Форма устарела"));
    let mut other = Agent::new(&app);
    other.sign_in("admin@forum.example.kz", PASSWORD).await;
    let foreign = other.csrf("/admin").await;
    assert_ne!(foreign, csrf, "the token is bound to the session");
    let r = a
        .post(
            &format!("/admin/campaigns/{id}/action"),
            &[("csrf", &foreign), ("action", "cancel")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (n, status): (i64, String) =
        sqlx::query_as("SELECT count(*) OVER (), status FROM campaigns")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!((n, status.as_str()), (1, "draft"));
    let actor: String =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE action = 'campaign.create'")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(actor, format!("user:{admin}"));

    // Every page, signed in or not, found or not: the console's CSP.
    for path in [
        "/admin".to_string(),
        "/admin/campaigns".into(),
        "/admin/campaigns/new".into(),
        format!("/admin/campaigns/{id}"),
        format!("/admin/campaigns/{id}/schedule"),
        format!("/admin/campaigns/{id}/audience"),
        format!("/admin/campaigns/{id}/audience/count?channels=email"),
        format!("/admin/campaigns/{id}/texts?lang=kk"),
        format!("/admin/campaigns/{id}/progress"),
        "/admin/appeals".into(),
        "/admin/appeals/stats".into(),
        "/admin/appeals/stats.csv".into(),
        "/admin/supporters".into(),
        "/admin/supporters/export.csv".into(),
        "/admin/letters".into(),
        "/admin/officials".into(),
        "/admin/officials/export.csv".into(),
        "/admin/users".into(),
        "/admin/audit".into(),
        "/admin/settings".into(),
        "/admin/account".into(),
        format!("/admin/campaigns/{}", Uuid::nil()),
        "/static/console.css".into(),
        "/static/console.js".into(),
    ] {
        let r = a.get(&path).await;
        let expected = if path.contains(&Uuid::nil().to_string()) {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(r.status(), expected, "{path}");
        assert_eq!(r.headers()["content-security-policy"], CSP, "{path}");
        assert_eq!(r.headers()["x-frame-options"], "DENY", "{path}");
        if r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
        {
            let html = r.text().await.unwrap().replace("/static/console.", "");
            assert!(!html.contains("console."), "an untranslated key on {path}");
            assert!(!html.contains("<script>"), "an inline script on {path}");
        }
    }
    // axum's own refusals are pages too, not JSON.
    let r = a.get("/admin/campaigns/not-an-id").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["content-security-policy"], CSP);
    assert!(r.text().await.unwrap().contains("Не найдено"));
    for path in ["/admin/sign-in", "/admin/sign-in/link/nothing"] {
        let r = anonymous.get(path).await;
        assert_eq!(r.headers()["content-security-policy"], CSP, "{path}");
    }
    assert!(CSP.starts_with("default-src 'none'") && !CSP.contains("unsafe"));

    // A caseworker may not open campaign editing, nor admin pages.
    let mut c = Agent::new(&app);
    c.sign_in("case@forum.example.kz", PASSWORD).await;
    for path in [
        format!("/admin/campaigns/{id}/texts?lang=ru"),
        format!("/admin/campaigns/{id}"),
        "/admin/users".into(),
        "/admin/supporters".into(),
    ] {
        let r = c.get(&path).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(
            r.text().await.unwrap().contains("Қолжетімділік жоқ"),
            "{path}: in Kazakh"
        );
    }
    let token = c.csrf("/admin/appeals").await;
    let r = c
        .post(
            &format!("/admin/campaigns/{id}/action"),
            &[("csrf", &token), ("action", "approve")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn repeated_failures_lock_out_and_sign_out_everywhere_ends_every_session() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&config(&smtp, None)).await;
    let id = user(
        &app,
        Role::Organiser,
        "Org",
        "org@forum.example.kz",
        Lang::En,
    )
    .await;
    let mut a = Agent::new(&app);
    let mut answers = Vec::new();
    for _ in 0..users_free() {
        let r = a.sign_in("org@forum.example.kz", "wrong password!").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        answers.push(r.text().await.unwrap());
    }
    let unknown = a
        .sign_in("nobody@forum.example.kz", "wrong password!")
        .await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown.text().await.unwrap(),
        answers[0],
        "an unknown address gets the same answer"
    );
    // Locked now: even the right password is refused, with the same answer.
    let r = a.sign_in("org@forum.example.kz", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.text().await.unwrap(), answers[0]);
    let (failures, locked): (i32, bool) = sqlx::query_as(
        "SELECT failed_attempts, locked_until > now() FROM console_users WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    // The attempt while locked counted too (the back-off grows while
    // someone keeps trying).
    assert_eq!((failures, locked), (users_free() + 1, true));
    // The back-off ends (made to end now); then two devices sign in.
    sqlx::query(
        "UPDATE console_users SET locked_until = now() - interval '1 second' WHERE id = $1",
    )
    .bind(id)
    .execute(&app.infra.db)
    .await
    .unwrap();
    let mut phone = Agent::new(&app);
    let mut laptop = Agent::new(&app);
    assert_eq!(
        phone
            .sign_in("org@forum.example.kz", PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        laptop
            .sign_in("org@forum.example.kz", PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(laptop.get("/admin").await.status(), StatusCode::OK);
    let token = phone.csrf("/admin/account").await;
    let r = phone
        .post("/admin/account/sign-out-everywhere", &[("csrf", &token)])
        .await;
    assert_eq!(location(&r), "/admin/sign-in");
    for agent in [&mut phone, &mut laptop] {
        let r = agent.get("/admin").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/admin/sign-in");
    }
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE actor = $1 ORDER BY id")
            .bind(format!("user:{id}"))
            .fetch_all(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "user.sign_in_failed")
            .count(),
        users_free() as usize + 1
    );
    assert!(actions.contains(&"user.sign_out_everywhere".to_string()));
    app.stop().await;
}

fn users_free() -> i32 {
    nasvyazi_front::console::throttle::USER_FREE
}

#[tokio::test]
async fn an_emailed_link_signs_in_once_and_a_second_factor_is_asked_and_never_replayed() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&config(&smtp, None)).await;
    let email = format!("link-{}@forum.example.kz", Uuid::new_v4().simple());
    let id = user(&app, Role::Caseworker, "Link", &email, Lang::Ru).await;

    let mut a = Agent::new(&app);
    let csrf = a.csrf("/admin/sign-in").await;
    let known = a
        .post("/admin/sign-in/link", &[("csrf", &csrf), ("email", &email)])
        .await
        .text()
        .await
        .unwrap();
    let unknown = a
        .post(
            "/admin/sign-in/link",
            &[("csrf", &csrf), ("email", "nobody@forum.example.kz")],
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        known, unknown,
        "no way to tell whether the address is known"
    );
    let mail = smtp.wait_for(1, Duration::from_secs(20)).await.remove(0);
    assert_eq!(mail.rcpt_to, std::slice::from_ref(&email));
    assert!(mail.header("List-Unsubscribe").is_none());
    let text = mail.text_body().unwrap();
    let link = text
        .lines()
        .find(|l| l.contains("/admin/sign-in/link/"))
        .expect("the link")
        .trim()
        .to_string();
    let path = link
        .split_once(&format!("{}", app.console_addr))
        .unwrap()
        .1
        .to_string();
    let mut b = Agent::new(&app);
    let page = b.get(&path).await;
    assert_eq!(page.status(), StatusCode::OK, "GET only shows a button");
    let token = csrf_in(&page.text().await.unwrap());
    let r = b.post(&path, &[("csrf", &token)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin");
    assert_eq!(b.get("/admin").await.status(), StatusCode::OK);
    let again = b.post(&path, &[("csrf", &token)]).await;
    assert_eq!(again.status(), StatusCode::GONE, "a link works once");

    // The second factor: set up with a code, then asked at every sign-in.
    let csrf = b.csrf("/admin/account").await;
    b.post(
        "/admin/account/totp",
        &[("csrf", &csrf), ("action", "start")],
    )
    .await;
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    let (secret, _) = users::totp_secret(&app.infra.db, &keys, id, true)
        .await
        .unwrap()
        .expect("a secret being set up");
    let now = chrono::Utc::now().timestamp() as u64;
    let r = b
        .post(
            "/admin/account/totp",
            &[
                ("csrf", &csrf),
                ("action", "confirm"),
                ("code", &totp::code(&secret, now)),
            ],
        )
        .await;
    assert!(location(&r).contains("done=totp_on"), "{}", location(&r));
    let mut c = Agent::new(&app);
    let r = c.sign_in(&email, PASSWORD).await;
    assert_eq!(location(&r), "/admin/sign-in/code");
    let r = c.get("/admin").await;
    assert_eq!(
        location(&r),
        "/admin/sign-in",
        "not signed in before the code"
    );
    let csrf = c.csrf("/admin/sign-in/code").await;
    let used = totp::code(&secret, now);
    let r = c
        .post("/admin/sign-in/code", &[("csrf", &csrf), ("code", &used)])
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a code is never accepted twice"
    );
    let next = totp::code(&secret, now + 30);
    let r = c
        .post("/admin/sign-in/code", &[("csrf", &csrf), ("code", &next)])
        .await;
    assert_eq!(location(&r), "/admin");
    assert_eq!(c.get("/admin").await.status(), StatusCode::OK);
    assert_no_plaintext(&app, &email).await;
    app.stop().await;
}

#[tokio::test]
async fn the_first_admin_comes_from_the_cli_and_signs_in_with_the_printed_password() {
    use clap::Parser;
    use secrecy::ExposeSecret;
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&config(&smtp, None)).await;
    let dir = std::env::temp_dir().join(format!("nasvyazi-cli-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("cli.toml");
    let secret =
        |k: &Option<secrecy::SecretString>| k.as_ref().unwrap().expose_secret().to_string();
    std::fs::write(
        &cfg,
        format!(
            "[database]\nurl = \"{}\"\n[crypto]\nmaster_key = \"{}\"\nblind_index_key = \"{}\"\n[log]\nfilter = \"warn\"\n",
            app.config.database.url.expose_secret(),
            secret(&app.config.crypto.master_key),
            secret(&app.config.crypto.blind_index_key),
        ),
    )
    .unwrap();
    let create = |email: &str| {
        nasvyazi_cli::Cli::parse_from([
            "nasvyazi",
            "--config",
            cfg.to_str().unwrap(),
            "user",
            "create",
            "--role",
            "admin",
            "--name",
            "First admin",
            "--email",
            email,
        ])
    };
    let mut out = Vec::new();
    nasvyazi_cli::execute(create("first@forum.example.kz"), &mut out)
        .await
        .unwrap();
    let password = String::from_utf8(out).unwrap().trim().to_string();
    assert_eq!(password.len(), 19, "a generated password: {password}");
    let again = nasvyazi_cli::execute(create("First@Forum.example.kz"), &mut Vec::new()).await;
    assert!(again.is_err(), "one user per address");
    let mut a = Agent::new(&app);
    let r = a.sign_in("first@forum.example.kz", &password).await;
    assert_eq!(location(&r), "/admin");
    let html = a.get("/admin/users").await.text().await.unwrap();
    assert!(html.contains("First admin"));
    let actor: String =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE action = 'user.create'")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(actor, "cli");
    let _ = std::fs::remove_dir_all(&dir);
    app.stop().await;
}
