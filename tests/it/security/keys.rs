//! Item 1: key rotation lost every table but `contacts`. README's steps run
//! end to end here (new key in, old key to `previous_master_keys`,
//! `nasvyazi keys rewrap`, old key dropped), then every kind of sealed data
//! is read with the new key alone; start-up refuses while any stored key
//! needs the dropped one; and the rewrap list is checked against the
//! schema, so a new table with a data key cannot be forgotten.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use nasvyazi_front::console::users;
use nasvyazi_letters::signature_aad;
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::config::Config;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_shared::rewrap;
use nasvyazi_tests::{NewContact, TestApp, spawn_app};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn secret(k: &Option<secrecy::SecretString>) -> String {
    k.as_ref().unwrap().expose_secret().to_string()
}

/// A CLI configuration file on the app's database with these keys.
fn cli_config(dir: &Path, name: &str, app: &TestApp, master: &str, previous: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let previous = previous
        .iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"{}\"\n[crypto]\nmaster_key = \"{master}\"\nblind_index_key = \"{}\"\nprevious_master_keys = [{previous}]\n[log]\nfilter = \"warn\"\n",
            app.config.database.url.expose_secret(),
            secret(&app.config.crypto.blind_index_key),
        ),
    )
    .unwrap();
    path
}

async fn cli(config: &Path, args: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec!["nasvyazi", "--config", config.to_str().unwrap()];
    argv.extend_from_slice(args);
    let mut out = Vec::new();
    nasvyazi_cli::execute(nasvyazi_cli::Cli::parse_from(argv), &mut out).await?;
    Ok(String::from_utf8(out).unwrap())
}

async fn post(app: &TestApp, token: Option<&str>, path: &str, body: Value) -> reqwest::Response {
    let mut r = app.http.post(app.url(path)).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    // Every survey answer carries a proof of work.
    if path.ends_with("/answers") {
        r = r.header("x-proof-of-work", app.proof_of_work().await);
    }
    r.send().await.unwrap()
}

fn id_of(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

/// Whether front starts with `config`: `Err` with its message if it
/// refuses, `Ok` once it answers `/readyz`.
async fn front_starts(config: Config) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let listeners = nasvyazi_front::Listeners {
        public: listener,
        console: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let task = tokio::spawn(nasvyazi_front::run(
        std::sync::Arc::new(config),
        listeners,
        shutdown.clone(),
    ));
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if task.is_finished() {
            return match task.await.unwrap() {
                Ok(()) => Err("stopped without an error".into()),
                Err(e) => Err(format!("{e:#}")),
            };
        }
        if let Ok(r) = http.get(format!("http://{addr}/readyz")).send().await
            && r.status().is_success()
        {
            shutdown.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("front neither started nor refused");
}

#[tokio::test]
async fn readme_key_rotation_keeps_every_kind_of_sealed_data() {
    let app = spawn_app().await;
    let old = secret(&app.config.crypto.master_key);
    let old_keys = Keyring::from_config(&app.config.crypto).unwrap();
    let admin = app.token(Role::Admin).await;
    let dir = std::env::temp_dir().join(nasvyazi_tests::unique_name("rotation"));
    std::fs::create_dir_all(&dir).unwrap();

    // One of every kind, each sealed under the old master key.
    let contact = app
        .insert_contact(NewContact::email("rotate-contact@example.kz"))
        .await;
    let r = post(
        &app,
        None,
        "/api/v1/appeals",
        json!({ "category": "police", "region": "pavlodar", "city": "ekibastuz",
                "text": "rotation appeal", "consent_to_forward": false,
                "contact": { "email": "rotate-appellant@example.kz" } }),
    )
    .await;
    assert_eq!(r.status(), 201);
    let case: String = r.json::<Value>().await.unwrap()["case_number"]
        .as_str()
        .unwrap()
        .to_string();
    let appeal: Uuid = sqlx::query_scalar("SELECT id FROM appeals WHERE case_number = $1")
        .bind(&case)
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    let r = post(
        &app,
        Some(&admin),
        "/api/v1/admin/officials",
        json!({ "name": "Rotation Official", "position": "Minister", "organisation": "Ministry of Health",
                "email": "rotate-official@gov.example.kz", "language": "ru", "time_zone": "Asia/Almaty",
                "office_hours": "Mon-Fri 09:00-18:00", "daily_cap": null }),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let official = id_of(&r.json().await.unwrap());
    let r = post(
        &app,
        Some(&admin),
        "/api/v1/admin/letters",
        json!({ "name": "Rotation letter", "slug": "rotation", "mode": "each",
                "templates": { "ru": { "subject": "S", "body": "B {{ signer.name }}", "page_text": "P" } },
                "targets": [official], "reply_to": "office@forum.example.kz" }),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let letter = id_of(&r.json().await.unwrap());
    let signing = nasvyazi_letters::signatures::Signing {
        name: "Rotation Signer".into(),
        city: "Almaty".into(),
        note: None,
        email: EmailAddress::parse("rotate-signer@example.kz").unwrap(),
        language: Lang::Ru,
        allow_reply_to: false,
    };
    nasvyazi_letters::signatures::sign(
        &app.infra.db,
        &old_keys,
        nasvyazi_supporters::subscriptions::Timing::from_config(&app.config.subscriptions),
        letter,
        &signing,
    )
    .await
    .unwrap();
    let email = EmailAddress::parse("rotate-staff@forum.example.kz").unwrap();
    let mut tx = app.infra.db.begin().await.unwrap();
    let user = users::create(
        &mut tx,
        &old_keys,
        &users::NewUser {
            name: "Rotation",
            email: &email,
            role: Role::Organiser,
            language: Lang::En,
        },
        Some("correct horse battery staple"),
        "test",
        None,
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    let totp = users::seal_totp(&app.infra.db, &old_keys, user, b"twenty bytes secret!")
        .await
        .unwrap();
    sqlx::query("UPDATE console_users SET totp_ct = $2 WHERE id = $1")
        .bind(user)
        .bind(totp)
        .execute(&app.infra.db)
        .await
        .unwrap();
    let r = post(
        &app,
        Some(&admin),
        "/api/v1/admin/campaigns",
        json!({ "name": "Rotation campaign",
                "schedule": { "kind": "day", "day": "overdose_awareness_day", "time": "10:00" },
                "audience": { "topics": ["overdose"], "languages": [], "regions": [], "channels": ["email"] },
                "templates": { "ru": { "email_subject": "S", "email_text": "T {{ unsubscribe_url }}" } } }),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let campaign = id_of(&r.json().await.unwrap());
    let r = post(
        &app,
        Some(&admin),
        &format!("/api/v1/admin/campaigns/{campaign}/test-send"),
        json!({"channel": "email", "address": "rotate-test@forum.example.kz", "language": "ru"}),
    )
    .await;
    assert_eq!(r.status(), 202);
    // A consultation from the web: a person and a conversation, sealed.
    let r = app
        .http
        .post(app.url("/api/v1/talk"))
        .json(&json!({"text": "rotate-talk: нужна помощь", "language": "ru"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // A survey with a free-text answer, sealed under the survey's key.
    let r = post(
        &app,
        Some(&admin),
        "/api/v1/admin/surveys",
        json!({ "slug": "rotation", "title": { "ru": "R" },
                "questions": [{ "id": "q1", "kind": "text", "text": { "ru": "?" } }] }),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let survey = id_of(&r.json().await.unwrap());
    let open = format!("/api/v1/admin/surveys/{survey}/open");
    assert_eq!(
        post(&app, Some(&admin), &open, json!({})).await.status(),
        200
    );
    let answer = json!({ "answers": { "q1": "rotate-survey" } });
    let r = post(&app, None, "/api/v1/surveys/rotation/answers", answer).await;
    assert_eq!(r.status(), 201);
    // A survey in progress in the bot: its progress sealed under its key.
    let (key, wrapped) = old_keys.new_data_key();
    let session = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO survey_bot_sessions (id, chat_bi, survey_id, language, data_key, progress_ct, expires_at)
         VALUES ($1, $2, $3, 'ru', $4, $5, now() + interval '1 day')",
    )
    .bind(session)
    .bind(nasvyazi_surveys::bot::chat_index(&old_keys, 1))
    .bind(survey)
    .bind(&wrapped)
    .bind(key.seal(b"{}", format!("survey_bot_session:{session}").as_bytes()))
    .execute(&app.infra.db)
    .await
    .unwrap();
    // A staff member of the staff group: the Telegram id sealed under the
    // row's key (what audit rows name).
    let (key, wrapped) = old_keys.new_data_key();
    let staff = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO staff_identities (id, user_bi, data_key, user_ct) VALUES ($1, $2, $3, $4)",
    )
    .bind(staff)
    .bind(old_keys.blind_index("staff_telegram_user", "4242"))
    .bind(&wrapped)
    .bind(key.seal(
        b"4242",
        format!("staff_identity:{staff}:telegram_user").as_bytes(),
    ))
    .execute(&app.infra.db)
    .await
    .unwrap();
    // A bot answer waiting for the bot's sender (bot 9999: no sender runs).
    let answer = nasvyazi_shared::telegram::answers::Answer {
        class: nasvyazi_shared::telegram::budget::Class::Answer,
        method: "sendMessage".into(),
        params: json!({"chat_id": 4343, "text": "rotate-answer"}),
    };
    let mut tx = app.infra.db.begin().await.unwrap();
    nasvyazi_shared::telegram::answers::enqueue(
        &mut tx,
        &old_keys,
        "9999",
        std::slice::from_ref(&answer),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for c in rewrap::WRAPPED_KEY_COLUMNS {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {} WHERE {} IS NOT NULL",
            c.table, c.column
        ))
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
        assert!(n >= 1, "{}: nothing sealed to rotate", c.table);
    }
    let counts_before = counts(&app).await;

    // README: a new key from `nasvyazi keygen` becomes crypto.master_key,
    // the old one moves to crypto.previous_master_keys.
    let new = Keyring::generate()
        .master_base64()
        .expose_secret()
        .to_string();
    let rotating = cli_config(&dir, "rotating.toml", &app, &new, &[&old]);
    let dropped = cli_config(&dir, "dropped.toml", &app, &new, &[]);
    let only_new = |c: &Config| {
        let mut c = c.clone();
        c.crypto.master_key = Some(new.clone().into());
        c.crypto.previous_master_keys = vec![];
        c
    };
    // Dropping the old key before the rewrap: front refuses to start,
    // naming the tables (never a row's content).
    let refused = front_starts(only_new(&app.config)).await.unwrap_err();
    for c in rewrap::WRAPPED_KEY_COLUMNS {
        assert!(refused.contains(c.table), "{refused}");
    }
    assert!(!refused.contains("example.kz"), "{refused}");

    let out = cli(&rotating, &["keys", "rewrap"]).await.unwrap();
    for (table, n) in &counts_before {
        assert!(out.contains(&format!("{table}: {n}\n")), "{out}");
    }
    let total: i64 = counts_before.iter().map(|(_, n)| n).sum();
    assert!(
        out.trim_end()
            .ends_with(&format!("re-wrapped {total} data keys")),
        "{out}"
    );

    // The old key is gone: everything still opens, and front starts.
    let keys = Keyring::from_config(&only_new(&app.config).crypto).unwrap();
    rewrap::check_all_open(&app.infra.db, &keys).await.unwrap();
    front_starts(only_new(&app.config)).await.unwrap();
    let c = nasvyazi_supporters::contacts::load_for_sending(&app.infra.db, &keys, contact)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.address, "rotate-contact@example.kz");
    let a = nasvyazi_cases::appeals::stored::load_contact(&app.infra.db, &keys, appeal)
        .await
        .unwrap();
    assert!(a.is_some(), "the appellant's contact opens");
    let export = cli(&dropped, &["officials", "export"]).await.unwrap();
    assert!(export.contains("Rotation Official"), "{export}");
    let (sid, wrapped, name_ct): (Uuid, Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT id, data_key, name_ct FROM letter_signatures WHERE letter_id = $1")
            .bind(letter)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    let name = keys
        .unwrap_data_key(&wrapped)
        .unwrap()
        .open_string(&name_ct, &signature_aad(sid, "name"))
        .unwrap();
    assert_eq!(name, "Rotation Signer");
    let (totp, _) = users::totp_secret(&app.infra.db, &keys, user, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&*totp, b"twenty bytes secret!");
    let (tid, wrapped, address_ct): (Uuid, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT id, data_key, address_ct FROM campaign_test_sends WHERE campaign_id = $1",
    )
    .bind(campaign)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    let address = keys
        .unwrap_data_key(&wrapped)
        .unwrap()
        .open_string(
            &address_ct,
            format!("campaign_test:{tid}:address").as_bytes(),
        )
        .unwrap();
    assert_eq!(address, "rotate-test@forum.example.kz");
    let conversation: Uuid = sqlx::query_scalar("SELECT id FROM conversations")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    let talk = nasvyazi_front::consultations::web::read(&app.infra.db, &keys, conversation)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(talk.messages[0].text, "rotate-talk: нужна помощь");
    let reader = nasvyazi_shared::auth::Principal::user(Uuid::nil(), Role::Admin);
    let texts = nasvyazi_front::surveys::audited::texts(&app.infra.db, &keys, &reader, survey)
        .await
        .unwrap();
    assert_eq!(texts, vec![("q1".to_string(), "rotate-survey".to_string())]);
    let mut conn = app.infra.db.acquire().await.unwrap();
    let member =
        nasvyazi_front::consultations::staff_group::open_staff_identity(&mut conn, &keys, staff)
            .await
            .unwrap();
    assert_eq!(member, Some(4242));
    drop(conn);
    let queued = nasvyazi_shared::telegram::answers::claim(&app.infra.db, &keys, "9999", 10)
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].answer, answer);
    // And the old key alone opens nothing any more.
    let wrapped: Vec<u8> = sqlx::query_scalar("SELECT data_key FROM officials WHERE id = $1")
        .bind(official)
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert!(old_keys.unwrap_data_key(&wrapped).is_err());
    let _ = std::fs::remove_dir_all(&dir);
    app.stop().await;
}

async fn counts(app: &TestApp) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for c in rewrap::WRAPPED_KEY_COLUMNS {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {} WHERE {} IS NOT NULL",
            c.table, c.column
        ))
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
        out.push((c.table, n));
    }
    out
}

#[tokio::test]
async fn every_data_key_column_of_the_schema_is_in_the_rewrap_list() {
    let (url, name) = nasvyazi_tests::create_database().await;
    let config = nasvyazi_tests::test_config(&url, "");
    let db = nasvyazi_shared::db::connect(&config.database, "test")
        .await
        .unwrap();
    nasvyazi_shared::db::migrate(&db).await.unwrap();
    assert_eq!(
        rewrap::unknown_columns(&db).await.unwrap(),
        Vec::<String>::new()
    );
    // A table added with a data key the list does not know is caught.
    sqlx::query("CREATE TABLE later_feature (id uuid PRIMARY KEY, owner_data_key bytea)")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(
        rewrap::unknown_columns(&db).await.unwrap(),
        vec!["later_feature.owner_data_key".to_string()]
    );
    db.close().await;
    nasvyazi_tests::drop_database(&name).await;
}
