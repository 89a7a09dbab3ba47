//! Item 6: a sign-in flood ran argon2 (19 MiB each) for every request at
//! once, also for unknown and locked addresses (100 parallel requests took
//! the process from 249 MB to 1.9 GB). Now at most one hash per core runs,
//! a few wait, the rest are refused; a locked account spends no hash.

use nasvyazi_front::console::users;
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_tests::spawn_app;
use reqwest::StatusCode;

use super::agent::{Agent, csrf_in, form_urlencoded};

const PASSWORD: &str = "correct horse battery staple";

/// The process's peak resident memory (VmHWM), in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb / 1024
}

#[tokio::test]
async fn a_sign_in_flood_hashes_one_per_core_and_a_locked_account_none() {
    let app = spawn_app().await;
    let keys = Keyring::from_config(&app.config.crypto).unwrap();
    let email = EmailAddress::parse("flooded@forum.example.kz").unwrap();
    let mut tx = app.infra.db.begin().await.unwrap();
    let id = users::create(
        &mut tx,
        &keys,
        &users::NewUser {
            name: "Flooded",
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

    // A locked account: even the right password costs no hash.
    sqlx::query("UPDATE console_users SET locked_until = now() + interval '1 hour' WHERE id = $1")
        .bind(id)
        .execute(&app.infra.db)
        .await
        .unwrap();
    let mut a = Agent::new(&app);
    let (hashed_before, _) = users::hash_stats();
    for _ in 0..3 {
        let r = a.sign_in("flooded@forum.example.kz", PASSWORD).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        users::hash_stats().0,
        hashed_before,
        "a locked account was hashed for"
    );

    // The flood: many parallel sign-ins for addresses nobody has.
    let html = a.get("/admin/sign-in").await.text().await.unwrap();
    let csrf = csrf_in(&html);
    let cookies = a.cookies();
    let rss_before = peak_rss_mib();
    let flood = 64;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..flood {
        let http = app.http.clone();
        let url = app.url("/admin/sign-in");
        let cookies = cookies.clone();
        let body = form_urlencoded(&[
            ("csrf", &csrf),
            ("email", &format!("nobody{i}@forum.example.kz")),
            ("password", "a wrong password"),
        ]);
        tasks.spawn(async move {
            http.post(url)
                .header("cookie", cookies)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::UNAUTHORIZED);
    }
    let (hashed, peak) = users::hash_stats();
    let cores = std::thread::available_parallelism().unwrap().get();
    assert!(peak <= cores, "{peak} hashes at once on {cores} cores");
    assert!(
        hashed - hashed_before <= (cores + users::HASH_QUEUE) as u64,
        "{} hashes for {flood} requests",
        hashed - hashed_before
    );
    let grown = peak_rss_mib().saturating_sub(rss_before);
    // 19 MiB of argon2 memory per hashing thread, and some slack. Before:
    // 64 hashes at once (over 1 GiB); with a bound on the blocking pool
    // still 19 MiB more per hash, as each hash allocated afresh.
    let allowed = cores as u64 * 19 + 64;
    assert!(
        grown < allowed,
        "peak memory grew by {grown} MiB (allowed {allowed})"
    );
    app.stop().await;
}
