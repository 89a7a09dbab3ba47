//! Telegram end to end, against the local Bot API fake: the bot (sign-up by
//! buttons, /stop, /lang, /help, blocks, webhook secret), the sender (429,
//! 400, escaping, splitting, rate limits, the one lease holder), channel
//! posts, and the canary that no chat id is ever stored or told in plain
//! text. Helpers here; the tests in `telegram/`.

mod bot;
mod people_first;
mod sender;

use std::time::Duration;

use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_shared::telegram::BLIND_INDEX_KIND;
use nasvyazi_telegram_fake::{ChatKind, FakeConfig, NewChat, TelegramFake};
use nasvyazi_tests::{TestApp, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

pub const TOKEN: &str = "5550001:TEST-token_for_nasvyazi";
pub const SECRET: &str = "webhook-Secret_123";
pub const WAIT: Duration = Duration::from_secs(20);

pub async fn fake() -> TelegramFake {
    TelegramFake::start(FakeConfig {
        tokens: vec![TOKEN.into()],
        rate_limits: true,
    })
    .await
    .expect("the fake starts")
}

/// TOML for an app that talks to `fake`; `extra` goes into `[telegram]`.
pub fn config(fake: &TelegramFake, extra: &str) -> String {
    format!(
        "[telegram]\napi_base = \"{}\"\ntoken = \"{TOKEN}\"\n{extra}\n\
         [organisation]\nname = \"Forum <KZ>\"\ncontact = \"help@forum.example.kz\"\n",
        fake.base_url()
    )
}

/// A chat id no other test uses: 13 digits, so it cannot turn up in a
/// dump by chance.
pub fn new_chat() -> i64 {
    5_000_000_000_000 + (Uuid::new_v4().as_u128() % 1_000_000_000_000) as i64
}

/// Declares a private chat every bot may write to.
pub fn declare(fake: &TelegramFake, chat: i64) {
    fake.add_chat(NewChat {
        id: chat,
        kind: ChatKind::Private,
        title: None,
        username: None,
    })
    .unwrap();
}

/// Calls a Bot API method on the fake as the bot.
pub async fn bot_call(fake: &TelegramFake, method: &str, params: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{}/bot{TOKEN}/{method}", fake.base_url()))
        .json(&params)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub fn keys(app: &TestApp) -> Keyring {
    Keyring::from_config(&app.config.crypto).unwrap()
}

/// The chat's contact: (id, status, language, topics, start_param).
pub async fn contact(
    app: &TestApp,
    chat: i64,
) -> Option<(Uuid, String, String, Vec<String>, Option<String>)> {
    let bi = keys(app).blind_index(BLIND_INDEX_KIND, &chat.to_string());
    sqlx::query_as(
        "SELECT id, status, language, topics, start_param FROM contacts
         WHERE channel = 'telegram' AND blind_index = $1",
    )
    .bind(bi)
    .fetch_optional(&app.infra.db)
    .await
    .unwrap()
}

/// Waits until the contact's status is `status`.
pub async fn wait_status(app: &TestApp, chat: i64, status: &str) {
    eventually(WAIT, || async {
        contact(app, chat)
            .await
            .filter(|c| c.1 == status)
            .map(|_| ())
    })
    .await
}

/// Waits until the chat has received `n` messages; returns them.
pub async fn wait_sent(fake: &TelegramFake, chat: i64, n: usize) -> Vec<Value> {
    eventually(WAIT, || async {
        let sent = fake.sent_to(chat);
        (sent.len() >= n).then_some(sent)
    })
    .await
}

/// Waits until the chat's message `index` has text containing `needle`.
pub async fn wait_text(fake: &TelegramFake, chat: i64, index: usize, needle: &str) -> Value {
    eventually(WAIT, || async {
        fake.sent_to(chat)
            .get(index)
            .filter(|m| m["text"].as_str().is_some_and(|t| t.contains(needle)))
            .cloned()
    })
    .await
}

/// The callback data of every button of a message.
pub fn buttons(message: &Value) -> Vec<String> {
    message["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["callback_data"].as_str().map(str::to_string))
        .collect()
}

/// The callback data of the ticked topic buttons of a message.
pub fn ticked(message: &Value) -> Vec<String> {
    message["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .filter(|b| b["text"].as_str().is_some_and(|t| t.starts_with('✅')))
        .filter_map(|b| b["callback_data"].as_str().map(str::to_string))
        .collect()
}

/// A person signs up through the bot: /start, Kazakh, two topics, done.
/// Returns the contact id.
pub async fn sign_up(app: &TestApp, fake: &TelegramFake, chat: i64) -> Uuid {
    let before = fake.sent_to(chat).len();
    fake.inject_text(TOKEN, chat, chat, "/start spring-2026")
        .unwrap();
    let welcome = wait_sent(fake, chat, before + 1).await[before].clone();
    assert_eq!(buttons(&welcome), ["lang:ru", "lang:kk", "lang:en"]);
    let id = welcome["message_id"].as_i64().unwrap();
    let press = |data: &str| fake.inject_callback(TOKEN, chat, chat, id, data).unwrap();
    press("lang:kk");
    let topics = wait_text(fake, chat, before, "Тақырыптар").await;
    assert!(buttons(&topics).contains(&"topic:ost".to_string()));
    assert_eq!(buttons(&topics).last().map(String::as_str), Some("done"));
    // Tick ost and hiv (a returning person may have them ticked already).
    for topic in ["topic:ost", "topic:hiv"] {
        if !ticked(&fake.sent_to(chat)[before])
            .iter()
            .any(|t| t == topic)
        {
            press(topic);
            eventually(WAIT, || async {
                ticked(&fake.sent_to(chat)[before])
                    .iter()
                    .any(|t| t == topic)
                    .then_some(())
            })
            .await;
        }
    }
    press("done");
    wait_text(fake, chat, before, "Сіз жазылдыңыз").await;
    wait_status(app, chat, "active").await;
    contact(app, chat).await.unwrap().0
}

/// Creates an active Telegram contact directly (as the bot would), for
/// sender tests that need many.
pub async fn active_contact(app: &TestApp, chat: i64) -> Uuid {
    use nasvyazi_front::bot::store;
    let mut tx = app.infra.db.begin().await.unwrap();
    let c = store::create_pending(&mut tx, &keys(app), chat, Lang::Ru, None)
        .await
        .unwrap();
    assert!(store::activate(&mut tx, c.id).await.unwrap());
    tx.commit().await.unwrap();
    c.id
}

/// A campaign with one occurrence and a delivery per (contact, channel);
/// returns the occurrence id. `telegram` is the Russian Telegram template.
pub async fn queue_campaign(app: &TestApp, telegram: &str, rows: &[(Uuid, &str)]) -> Uuid {
    let (campaign, occurrence) = (Uuid::now_v7(), Uuid::now_v7());
    let db = &app.infra.db;
    sqlx::query(
        "INSERT INTO campaigns (id, name, status, schedule_kind, time_zone, channels, templates, quiet_start, quiet_end)
         VALUES ($1, 'Day <of> remembrance', 'draft', 'once', 'Asia/Almaty', ARRAY['telegram', 'telegram_channel'],
                 $2, '00:00', '00:00')",
    )
    .bind(campaign)
    .bind(json!({ "ru": { "telegram": telegram } }))
    .execute(db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO occurrences (id, campaign_id, scheduled_at, status) VALUES ($1, $2, now(), 'triggered')",
    )
    .bind(occurrence)
    .bind(campaign)
    .execute(db)
    .await
    .unwrap();
    for (contact, channel) in rows {
        sqlx::query(
            "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
             VALUES (gen_random_uuid(), 'campaign', $1, $2, $3)",
        )
        .bind(occurrence)
        .bind(contact)
        .bind(channel)
        .execute(db)
        .await
        .unwrap();
    }
    sqlx::query("SELECT pg_notify('deliveries_wake', '')")
        .execute(db)
        .await
        .unwrap();
    occurrence
}

/// Waits until every delivery of the occurrence is final; returns
/// (status, last_error) per contact.
pub async fn wait_final(app: &TestApp, occurrence: Uuid) -> Vec<(Uuid, String, Option<String>)> {
    eventually(WAIT, || async {
        let rows: Vec<(Uuid, String, Option<String>)> = sqlx::query_as(
            "SELECT contact_id, status, last_error FROM deliveries WHERE ref_id = $1 ORDER BY contact_id",
        )
        .bind(occurrence)
        .fetch_all(&app.infra.db)
        .await
        .unwrap();
        rows.iter()
            .all(|r| ["sent", "failed", "skipped"].contains(&r.1.as_str()))
            .then_some(rows)
    })
    .await
}

/// Waits until `table` (an outbox) has published everything.
pub async fn wait_published(app: &TestApp, table: &str) {
    eventually(WAIT, || async {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE published_at IS NULL"
        ))
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
        (n == 0).then_some(())
    })
    .await
}

/// The event types an outbox holds for `contact_id`, in order.
pub async fn events_of(app: &TestApp, table: &str, contact_id: Uuid) -> Vec<String> {
    sqlx::query_scalar(&format!(
        "SELECT event_type FROM {table} WHERE payload->'data'->>'contact_id' = $1 ORDER BY seq"
    ))
    .bind(contact_id.to_string())
    .fetch_all(&app.infra.db)
    .await
    .unwrap()
}
