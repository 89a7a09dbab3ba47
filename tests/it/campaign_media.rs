//! Campaign posts with media (issue 16, second part): a photo uploaded to
//! the library goes with a campaign to two registered channels (each in
//! its own language) and to Telegram subscribers, once per chat, uploaded
//! once and then sent by Telegram's file_id; an album of three with a text
//! longer than a caption, split as the preview shows; what is refused; the
//! `campaign_posts` rows. Against the Telegram fake with its real limits.

use std::time::Duration;

use chrono::Utc;
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_telegram_fake::{ChatKind, FakeConfig, NewChat, TelegramFake};
use nasvyazi_tests::media::{minimal_pdf, noise_jpeg, upload_media};
use nasvyazi_tests::{NewContact, TestApp, eventually, spawn_app_with};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::security::agent::Agent;

const TOKEN: &str = "5550016:CAMPAIGN-MEDIA-token_for_nasvyazi";
const BOT_ID: &str = "5550016";
const WAIT: Duration = Duration::from_secs(30);

fn jpeg(seed: u32) -> Vec<u8> {
    noise_jpeg(32, 24, seed)
}

async fn upload(app: &TestApp, token: &str, file: &[u8], name: &str) -> Uuid {
    upload_media(app, token, file, name, &[("alt_ru", "Картинка")]).await
}

async fn register_channel(app: &TestApp, token: &str, chat: &str, language: &str) -> Uuid {
    let r = app
        .admin(token)
        .post(
            "/api/v1/admin/channels",
            json!({"chat": chat, "title": "Канал", "language": language}),
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn fake() -> TelegramFake {
    TelegramFake::start(FakeConfig {
        tokens: vec![TOKEN.into()],
        rate_limits: true,
    })
    .await
    .expect("the fake starts")
}

fn channel(fake: &TelegramFake, id: i64, username: &str) {
    fake.add_chat(NewChat {
        id,
        kind: ChatKind::Channel,
        title: Some("Канал".into()),
        username: Some(username.into()),
    })
    .unwrap();
}

/// A private chat no other test uses, declared, and its subscriber.
async fn subscriber(app: &TestApp, fake: &TelegramFake, language: &str) -> i64 {
    let chat = 5_000_000_000_000 + (Uuid::new_v4().as_u128() % 1_000_000_000_000) as i64;
    fake.add_chat(NewChat {
        id: chat,
        kind: ChatKind::Private,
        title: None,
        username: None,
    })
    .unwrap();
    let address = chat.to_string();
    app.insert_contact(NewContact {
        channel: "telegram",
        language,
        ..NewContact::email(&address)
    })
    .await;
    chat
}

async fn app_for(fake: &TelegramFake) -> TestApp {
    spawn_app_with(&format!(
        "[telegram]\napi_base = \"{}\"\ntoken = \"{TOKEN}\"\n\
         [campaigns]\nquiet_hours_start = \"00:00\"\nquiet_hours_end = \"00:00\"\n",
        fake.base_url()
    ))
    .await
}

/// A one-shot campaign two seconds from now.
fn campaign(channels: &[String], templates: Value) -> Value {
    let at = (Utc::now().with_timezone(&chrono_tz::Asia::Almaty) + chrono::Duration::seconds(2))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    json!({
        "name": "Фото дня",
        "schedule": {"kind": "once", "at": [at]},
        "audience": {"channels": channels},
        "templates": templates,
    })
}

async fn create(app: &TestApp, token: &str, body: Value) -> Uuid {
    let r = app.admin(token).post("/api/v1/admin/campaigns", body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn approve(app: &TestApp, token: &str, id: Uuid) {
    let r = app
        .admin(token)
        .post(&format!("/api/v1/admin/campaigns/{id}/approve"), json!({}))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// The chat's messages once it has `n` (then a moment more, so a
/// duplicate would show).
async fn wait_sent(fake: &TelegramFake, chat: i64, n: usize) -> Vec<Value> {
    eventually(WAIT, || async {
        let sent = fake.sent_to(chat);
        (sent.len() >= n).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    fake.sent_to(chat)
}

/// A `campaign_posts` row: channel id, chat, message ids, the text's
/// message, caption or not, kind.
type PostRow = (Option<Uuid>, String, Vec<i64>, i64, bool, String);

/// The largest size's file id of a photo message.
fn photo_file_id(message: &Value) -> String {
    message["photo"]
        .as_array()
        .and_then(|sizes| sizes.last())
        .and_then(|s| s["file_id"].as_str())
        .unwrap_or_else(|| panic!("no photo: {message}"))
        .to_string()
}

#[tokio::test]
async fn a_photo_reaches_two_channels_and_subscribers_once_and_is_uploaded_once() {
    let fake = fake().await;
    let (news, volunteers) = (-1_001_556_016_001_i64, -1_001_556_016_002_i64);
    channel(&fake, news, "media16_news");
    channel(&fake, volunteers, "media16_volunteers");
    let app = app_for(&fake).await;
    let token = app.token(Role::Organiser).await;
    let photo = upload(&app, &token, &jpeg(1), "photo.jpg").await;
    let news_id = register_channel(&app, &token, "@media16_news", "ru").await;
    let volunteers_id = register_channel(&app, &token, &volunteers.to_string(), "kk").await;
    let (ru_chat, kk_chat) = (
        subscriber(&app, &fake, "ru").await,
        subscriber(&app, &fake, "kk").await,
    );

    let channels = vec![
        "telegram".to_string(),
        format!("telegram_channel:{news_id}"),
        format!("telegram_channel:{volunteers_id}"),
    ];
    let id = create(
        &app,
        &token,
        campaign(
            &channels,
            json!({
                "ru": {"telegram": "<b>{{ campaign }}</b>: по-русски", "telegram_media": [photo]},
                "kk": {"telegram": "<b>{{ campaign }}</b>: қазақша", "telegram_media": [photo]},
            }),
        ),
    )
    .await;
    let view: Value = app
        .http
        .get(app.url(&format!("/api/v1/admin/campaigns/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["templates"]["ru"]["telegram_media"], json!([photo]));
    approve(&app, &token, id).await;

    let mut file_ids = Vec::new();
    for (chat, text) in [
        (news, "Фото дня: по-русски"),
        (volunteers, "Фото дня: қазақша"),
        (ru_chat, "Фото дня: по-русски"),
        (kk_chat, "Фото дня: қазақша"),
    ] {
        let sent = wait_sent(&fake, chat, 1).await;
        assert_eq!(sent.len(), 1, "exactly once to each chat: {sent:?}");
        assert_eq!(sent[0]["caption"], json!(text), "{}", sent[0]);
        assert!(sent[0].get("text").is_none());
        file_ids.push(photo_file_id(&sent[0]));
    }
    // One upload: every later send reused its file_id (an upload would
    // have made a new one).
    file_ids.dedup();
    assert_eq!(file_ids.len(), 1, "{file_ids:?}");
    let methods: Vec<Value> = fake
        .sent_records(None)
        .into_iter()
        .map(|r| r["method"].clone())
        .collect();
    assert_eq!(methods, vec![json!("sendPhoto"); 4]);
    let stored: String = sqlx::query_scalar(
        "SELECT file_id FROM media_telegram_files WHERE media_id = $1 AND bot_id = $2",
    )
    .bind(photo)
    .bind(BOT_ID)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(stored, file_ids[0]);

    // One post row per channel, the caption on the one message.
    let posts: Vec<PostRow> = sqlx::query_as(
        "SELECT channel_id, chat, message_ids, text_message_id, text_is_caption, kind
         FROM campaign_posts WHERE campaign_id = $1 ORDER BY chat",
    )
    .bind(id)
    .fetch_all(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(posts.len(), 2, "{posts:?}");
    let news_msg = fake.sent_to(news)[0]["message_id"].as_i64().unwrap();
    let vol_msg = fake.sent_to(volunteers)[0]["message_id"].as_i64().unwrap();
    assert_eq!(
        posts[0],
        (
            Some(volunteers_id),
            volunteers.to_string(),
            vec![vol_msg],
            vol_msg,
            true,
            "media".to_string()
        )
    );
    assert_eq!(
        posts[1],
        (
            Some(news_id),
            "@media16_news".to_string(),
            vec![news_msg],
            news_msg,
            true,
            "media".to_string()
        )
    );
    assert_eq!(fake.count_429(), 0);
    app.stop().await;
}

#[tokio::test]
async fn an_album_with_a_long_text_is_split_as_the_preview_shows() {
    let fake = fake().await;
    let news = -1_001_556_016_011_i64;
    channel(&fake, news, "media16_album");
    let app = app_for(&fake).await;
    let token = app.token(Role::Organiser).await;
    let mut album = Vec::new();
    for seed in [11, 12, 13] {
        album.push(upload(&app, &token, &jpeg(seed), "p.jpg").await);
    }
    let news_id = register_channel(&app, &token, "@media16_album", "ru").await;
    let chat = subscriber(&app, &fake, "ru").await;
    // 2 x 600 characters: the caption takes the first paragraph only.
    let first = "Первый абзац о безопасности. ".repeat(21);
    let second = "Второй абзац с подробностями. ".repeat(20);
    let (first, second) = (first.trim(), second.trim());
    let text = format!("<b>{first}</b>\n\n{second}");
    let id = create(
        &app,
        &token,
        campaign(
            &[
                "telegram".to_string(),
                format!("telegram_channel:{news_id}"),
            ],
            json!({"ru": {"telegram": text, "telegram_media": album}}),
        ),
    )
    .await;
    let preview: Value = app
        .admin(&token)
        .post(
            &format!("/api/v1/admin/campaigns/{id}/preview"),
            json!({"language": "ru", "channel": format!("telegram_channel:{news_id}")}),
        )
        .await
        .json()
        .await
        .unwrap();
    let shown = &preview["telegram_post"];
    assert_eq!(shown["kind"], "album", "{preview}");
    assert_eq!(shown["media"], json!(album));
    assert_eq!(shown["caption"], json!(format!("<b>{first}</b>")));
    assert_eq!(shown["following"], json!([second]));
    // The console's editor says how long a caption may be, and its
    // preview shows the same split, in each language.
    for (lang, email, says) in [
        (
            Lang::Ru,
            "ru-organiser@forum.example.kz",
            "подпись ≤ 1024 символов",
        ),
        (
            Lang::Kk,
            "kk-organiser@forum.example.kz",
            "жазу ≤ 1024 таңба",
        ),
        (
            Lang::En,
            "en-organiser@forum.example.kz",
            "caption ≤ 1024 characters",
        ),
    ] {
        crate::console::user(&app, Role::Organiser, "Организатор", email, lang).await;
        let mut agent = Agent::new(&app);
        agent.sign_in(email, crate::console::PASSWORD).await;
        let r = agent.get(&format!("/admin/campaigns/{id}")).await;
        assert_eq!(r.status(), 200);
        let page = agent
            .get(&format!("/admin/campaigns/{id}/texts?lang=ru"))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains(says), "{lang:?}: {page}");
        let caption = page
            .split("id=\"preview-telegram-caption\">")
            .nth(1)
            .and_then(|rest| rest.split("</div>").next())
            .unwrap_or_else(|| panic!("no caption preview: {page}"));
        assert_eq!(caption, format!("<b>{first}</b>"));
        assert!(page.contains(&format!("preview-telegram-following\">{second}</div>")));
    }
    approve(&app, &token, id).await;

    for to in [news, chat] {
        let sent = wait_sent(&fake, to, 4).await;
        assert_eq!(sent.len(), 4, "an album of 3 and one text: {sent:?}");
        let group = &sent[0]["media_group_id"];
        assert!(group.is_string());
        for m in &sent[..3] {
            assert_eq!(&m["media_group_id"], group);
        }
        // The caption on the first item, as the preview showed it.
        assert_eq!(sent[0]["caption"], json!(first));
        assert_eq!(sent[0]["caption_entities"][0]["type"], "bold");
        assert!(sent[1].get("caption").is_none());
        assert_eq!(sent[3]["text"], json!(second));
    }
    let records = fake.sent_records(None);
    let albums = records
        .iter()
        .filter(|r| r["method"] == "sendMediaGroup")
        .count();
    assert_eq!(albums, 6);
    // Three uploads in all: the second album reused every file id.
    let mut ids: Vec<String> = records
        .iter()
        .filter(|r| r["method"] == "sendMediaGroup")
        .map(|r| photo_file_id(&r["message"]))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{ids:?}");

    let (message_ids, text_id, caption, kind): (Vec<i64>, i64, bool, String) = sqlx::query_as(
        "SELECT message_ids, text_message_id, text_is_caption, kind FROM campaign_posts
         WHERE campaign_id = $1 AND channel_id = $2",
    )
    .bind(id)
    .bind(news_id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    let in_channel: Vec<i64> = fake
        .sent_to(news)
        .iter()
        .map(|m| m["message_id"].as_i64().unwrap())
        .collect();
    assert_eq!(message_ids, in_channel);
    assert_eq!(
        (text_id, caption, kind.as_str()),
        (in_channel[0], true, "media")
    );
    assert_eq!(fake.count_429(), 0);
    app.stop().await;
}

#[tokio::test]
async fn unknown_media_unfit_albums_and_unregistered_channels_are_refused() {
    let app = spawn_app_with("").await;
    let token = app.token(Role::Organiser).await;
    let photo = upload(&app, &token, &jpeg(21), "a.jpg").await;
    let pdf = upload(&app, &token, &minimal_pdf("minimal document"), "a.pdf").await;
    let refused = |templates: Value, channels: Vec<String>| {
        let app = &app;
        let token = &token;
        async move {
            let r = app
                .admin(token)
                .post("/api/v1/admin/campaigns", campaign(&channels, templates))
                .await;
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let tg = || vec!["telegram".to_string()];
    let (status, e) = refused(
        json!({"ru": {"telegram": "x", "telegram_media": [Uuid::now_v7()]}}),
        tg(),
    )
    .await;
    assert_eq!(status, 422, "{e}");
    assert!(e.to_string().contains("templates.telegram_media"), "{e}");
    assert!(e.to_string().contains("not in the media library"), "{e}");

    let (status, e) = refused(
        json!({"ru": {"telegram": "x", "telegram_media": [photo, pdf]}}),
        tg(),
    )
    .await;
    assert_eq!(status, 422, "{e}");
    assert!(e.to_string().contains("documents"), "{e}");

    let eleven: Vec<Uuid> = (0..11).map(|_| photo).collect();
    let (status, e) = refused(
        json!({"ru": {"telegram": "x", "telegram_media": eleven}}),
        tg(),
    )
    .await;
    assert_eq!(status, 422, "{e}");

    let (status, e) = refused(
        json!({"ru": {"telegram": "x"}}),
        vec![format!("telegram_channel:{}", Uuid::now_v7())],
    )
    .await;
    assert_eq!(status, 422, "{e}");
    assert!(e.to_string().contains("audience.channels"), "{e}");
    let (status, _) = refused(
        json!({"ru": {"telegram": "x"}}),
        vec!["telegram_channel:nonsense".to_string()],
    )
    .await;
    assert_eq!(status, 422);

    // A document alone, and a photo: fine.
    for media in [json!([pdf]), json!([photo])] {
        let (status, e) = refused(
            json!({"ru": {"telegram": "x", "telegram_media": media}}),
            tg(),
        )
        .await;
        assert_eq!(status, 201, "{e}");
    }
    app.stop().await;
}
