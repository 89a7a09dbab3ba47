//! Item 2: the second factor could be brute-forced (a guess per waiting
//! session, even while locked, and a correct code during the lock signed in
//! and lifted it; the same for turning TOTP off). Item 7 (second half): a
//! correct password forgave the address's failures before the code.

use nasvyazi_front::console::throttle::{ADDRESS_FREE, USER_FREE};
use nasvyazi_front::console::{totp, users};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::crypto::{Keyring, token_hash};
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_tests::{TestApp, spawn_app};
use reqwest::StatusCode;
use uuid::Uuid;

use super::agent::{Agent, location};

const PASSWORD: &str = "correct horse battery staple";
const SECRET: &[u8] = b"12345678901234567890";

/// A console user with [`PASSWORD`], and TOTP on when `with_totp`.
async fn user(app: &TestApp, email: &str, with_totp: bool) -> Uuid {
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    let email = EmailAddress::parse(email).unwrap();
    let mut tx = app.infra.db.begin().await.unwrap();
    let id = users::create(
        &mut tx,
        &keys,
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
    if with_totp {
        let sealed = users::seal_totp(&app.infra.db, &keys, id, SECRET)
            .await
            .unwrap();
        sqlx::query("UPDATE console_users SET totp_ct = $2 WHERE id = $1")
            .bind(id)
            .bind(sealed)
            .execute(&app.infra.db)
            .await
            .unwrap();
    }
    id
}

fn code_at(offset: i64) -> String {
    totp::code(SECRET, (chrono::Utc::now().timestamp() + offset) as u64)
}

/// A wrong code: the right one for a minute from now is outside the window
/// the server accepts... unless the clock ticks; a fixed far-off step is.
fn wrong_code() -> String {
    code_at(3600)
}

async fn post_code(a: &mut Agent<'_>, code: &str) -> reqwest::Response {
    let csrf = a.csrf("/admin/sign-in/code").await;
    a.post("/admin/sign-in/code", &[("csrf", &csrf), ("code", code)])
        .await
}

async fn locked(app: &TestApp, id: Uuid) -> bool {
    sqlx::query_scalar(
        "SELECT coalesce(locked_until > now(), false) FROM console_users WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap()
}

async fn waiting_sessions(app: &TestApp, id: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM console_sessions WHERE user_id = $1 AND stage = 'second_factor'",
    )
    .bind(id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_locked_account_takes_no_code_and_its_waiting_sessions_end() {
    let app = spawn_app().await;
    let email = "totp-victim@forum.example.kz";
    let id = user(&app, email, true).await;

    // The attacker knows the password and opens many waiting sessions.
    let mut sessions = Vec::new();
    for _ in 0..USER_FREE + 2 {
        let mut a = Agent::new(&app);
        let r = a.sign_in(email, PASSWORD).await;
        assert_eq!(location(&r), "/admin/sign-in/code");
        sessions.push(a);
    }
    assert_eq!(
        waiting_sessions(&app, id).await,
        1,
        "one waiting session per user"
    );
    let r = sessions[0].get("/admin/sign-in/code").await;
    assert_eq!(
        location(&r),
        "/admin/sign-in",
        "an older waiting session ended"
    );

    // Wrong codes in the one live session until the account locks.
    let mut last = sessions.pop().unwrap();
    for i in 0..USER_FREE {
        let r = post_code(&mut last, &wrong_code()).await;
        if i + 1 < USER_FREE {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        } else {
            assert_eq!(location(&r), "/admin/sign-in", "locked: the session ends");
        }
    }
    assert!(locked(&app, id).await);
    assert_eq!(waiting_sessions(&app, id).await, 0);

    // While locked a waiting session can still come from an emailed link;
    // even the right code is refused there, and the lock stays.
    let token = "link-token-for-the-locked-account-test-0001";
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
    let mut b = Agent::new(&app);
    let path = format!("/admin/sign-in/link/{token}");
    let csrf = b.csrf(&path).await;
    let r = b.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(location(&r), "/admin/sign-in/code");
    let r = post_code(&mut b, &code_at(0)).await;
    assert_ne!(
        location(&r),
        "/admin",
        "a correct code while locked signs in"
    );
    assert_eq!(b.get("/admin").await.status(), StatusCode::SEE_OTHER);
    assert!(locked(&app, id).await, "the lock was lifted by a code");
    app.stop().await;
}

#[tokio::test]
async fn turning_totp_off_takes_no_code_while_locked() {
    let app = spawn_app().await;
    let email = "totp-off@forum.example.kz";
    let id = user(&app, email, true).await;
    let mut a = Agent::new(&app);
    a.sign_in(email, PASSWORD).await;
    let r = post_code(&mut a, &code_at(0)).await;
    assert_eq!(location(&r), "/admin");
    // A stolen full session guesses the code to turn TOTP off.
    let csrf = a.csrf("/admin/account").await;
    for _ in 0..USER_FREE {
        let r = a
            .post(
                "/admin/account/totp",
                &[("csrf", &csrf), ("action", "off"), ("code", &wrong_code())],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert!(locked(&app, id).await);
    // The right code (a later step than the one used) while locked.
    let r = a
        .post(
            "/admin/account/totp",
            &[("csrf", &csrf), ("action", "off"), ("code", &code_at(30))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let on: bool =
        sqlx::query_scalar("SELECT totp_ct IS NOT NULL FROM console_users WHERE id = $1")
            .bind(id)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert!(on, "TOTP was turned off during the lock");
    app.stop().await;
}

#[tokio::test]
async fn a_correct_password_before_the_code_does_not_forgive_the_address() {
    let app = spawn_app().await;
    // The attacker's own account, with TOTP; the victim's without.
    user(&app, "own@forum.example.kz", true).await;
    user(&app, "victim@forum.example.kz", false).await;
    let mut a = Agent::new(&app);
    for _ in 0..ADDRESS_FREE - 1 {
        let r = a
            .sign_in("victim@forum.example.kz", "wrong password!")
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // The victim's own lock is not what this test is about.
        sqlx::query("UPDATE console_users SET failed_attempts = 0, locked_until = NULL")
            .execute(&app.infra.db)
            .await
            .unwrap();
    }
    // The attacker's own correct password (the code never given).
    let mut own = Agent::new(&app);
    let r = own.sign_in("own@forum.example.kz", PASSWORD).await;
    assert_eq!(location(&r), "/admin/sign-in/code");
    // One more failure: the address's allowance is used up.
    let r = a
        .sign_in("victim@forum.example.kz", "wrong password!")
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    sqlx::query("UPDATE console_users SET failed_attempts = 0, locked_until = NULL")
        .execute(&app.infra.db)
        .await
        .unwrap();
    let r = a.sign_in("victim@forum.example.kz", PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the address is locked; its failures were forgiven by a half sign-in"
    );
    app.stop().await;
}
