//! A campaign's channel posts after sending (issue 16): listed with their
//! links, the text and the caption edited, deleted, pinned and unpinned in
//! the Telegram fake through `/api/v1/admin/campaigns/{id}/posts`; a post
//! older than 48 hours cannot be deleted; organisers only; and the console:
//! the media library (an upload through the form, its thumbnail), the
//! channels page, the campaign's "Posts" section, with screenshots at
//! 360 px in ru and kk.
//!
//! The posts are made here as the notifier makes them: sent through the
//! fake's Bot API with the same token, then recorded in `campaign_posts`.

use nasvyazi_shared::auth::Role;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_telegram_fake::{
    BotMembership, BotStatus, ChatKind, FakeConfig, NewChat, TelegramFake,
};
use nasvyazi_tests::webdriver::Browser;
use nasvyazi_tests::{TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console::{PASSWORD, user};
use crate::security::agent::{Agent, csrf_in, location};

const TOKEN: &str = "5550161:POSTS-token_for_nasvyazi";
/// A public channel (`@forum_posts_kz`).
const NEWS: i64 = -1_001_616_000_001;
/// A private channel, known by its id only.
const CLOSED: i64 = -1_001_616_000_002;
const BOUNDARY: &str = "PostsTestBoundary5c1d";
/// The picture `deploy/dev/demo.sh` tells the organiser to upload.
const DEMO_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAbUlEQVR4nBXOUREAUQhCUaMYhShEMcqNQhSi7Fs/OQzjzLCDBg83MGToMLPsosXLLSxZug/ECgmLE4iI6oFZI2NzBhNTPzj20OHjDo4cvQf/7Bt41Rf+F+h7YsIGBYfLHyc0D8oWFZfrX05p+QDeqGABsIj8kAAAAABJRU5ErkJggg==";

struct World {
    fake: TelegramFake,
    app: TestApp,
    organiser: String,
    campaign: Uuid,
    /// The registry row of `@forum_posts_kz`.
    news: Uuid,
}

async fn world() -> World {
    let fake = TelegramFake::start(FakeConfig {
        tokens: vec![TOKEN.into()],
        rate_limits: false,
    })
    .await
    .expect("the fake starts");
    fake.add_chat(NewChat {
        id: NEWS,
        kind: ChatKind::Channel,
        title: Some("Новости форума".into()),
        username: Some("forum_posts_kz".into()),
    })
    .unwrap();
    fake.add_chat(NewChat {
        id: CLOSED,
        kind: ChatKind::Channel,
        title: Some("Волонтёры".into()),
        username: None,
    })
    .unwrap();
    let app = spawn_app_with(&format!(
        "[telegram]\napi_base = \"{}\"\ntoken = \"{TOKEN}\"\n\
         [campaigns]\nquiet_hours_start = \"00:00\"\nquiet_hours_end = \"00:00\"\n",
        fake.base_url()
    ))
    .await;
    let organiser = app.token(Role::Organiser).await;
    let r = app
        .http
        .post(app.url("/api/v1/admin/campaigns"))
        .bearer_auth(&organiser)
        .json(&json!({
            "name": "26 June: support, don't punish",
            "schedule": { "kind": "day", "day": "support_dont_punish", "time": "10:00" },
            "audience": { "topics": [], "languages": [], "regions": [], "channels": ["telegram"] },
            "templates": { "ru": { "telegram": "<b>26 июня</b>" } }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let campaign: Uuid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let r = app
        .http
        .post(app.url("/api/v1/admin/channels"))
        .bearer_auth(&organiser)
        .json(&json!({"chat": "@forum_posts_kz", "title": "Новости форума", "language": "ru"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let news: Uuid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    World {
        fake,
        app,
        organiser,
        campaign,
        news,
    }
}

/// A real (small) JPEG.
fn jpeg(seed: u8) -> Vec<u8> {
    let pixels: Vec<u8> = (0..16 * 16 * 3)
        .map(|i: usize| (i as u8).wrapping_mul(seed))
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&pixels, 16, 16, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// A multipart body of text fields and one file field.
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((name, filename, bytes)) = file {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: image/jpeg\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Calls the fake's Bot API as the notifier would; the result.
async fn bot(method: &str, request: reqwest::RequestBuilder) -> Value {
    let v: Value = request.send().await.unwrap().json().await.unwrap();
    assert_eq!(v["ok"], true, "{method}: {v}");
    v["result"].clone()
}

fn api_url(w: &World, method: &str) -> String {
    format!("{}/bot{TOKEN}/{method}", w.fake.base_url())
}

/// A text post in `chat`, recorded as the notifier records it.
async fn text_post(w: &World, chat: &str, channel: Option<Uuid>, text: &str) -> (Uuid, i64) {
    let chat_id: Value = chat.parse::<i64>().map_or(json!(chat), |n| json!(n));
    let m = bot(
        "sendMessage",
        w.app
            .http
            .post(api_url(w, "sendMessage"))
            .json(&json!({"chat_id": chat_id, "text": text, "parse_mode": "HTML"})),
    )
    .await;
    let id = m["message_id"].as_i64().unwrap();
    (record(w, chat, channel, &[id], id, false, "text").await, id)
}

/// A photo with a caption in `@forum_posts_kz`, recorded.
async fn photo_post(w: &World, caption: &str) -> (Uuid, i64) {
    let body = multipart(
        &[
            ("chat_id", "@forum_posts_kz"),
            ("caption", caption),
            ("parse_mode", "HTML"),
        ],
        Some(("photo", "day.jpg", &jpeg(7))),
    );
    let m = bot(
        "sendPhoto",
        w.app
            .http
            .post(api_url(w, "sendPhoto"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body),
    )
    .await;
    let id = m["message_id"].as_i64().unwrap();
    (
        record(w, "@forum_posts_kz", Some(w.news), &[id], id, true, "media").await,
        id,
    )
}

async fn record(
    w: &World,
    chat: &str,
    channel: Option<Uuid>,
    ids: &[i64],
    text_id: i64,
    caption: bool,
    kind: &str,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO campaign_posts (id, delivery_id, campaign_id, occurrence_id, channel_id, chat, \
         message_ids, text_message_id, text_is_caption, kind) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id)
    .bind(Uuid::now_v7())
    .bind(w.campaign)
    .bind(Uuid::now_v7())
    .bind(channel)
    .bind(chat)
    .bind(ids)
    .bind(text_id)
    .bind(caption)
    .bind(kind)
    .execute(&w.app.infra.db)
    .await
    .unwrap();
    id
}

fn post_url(w: &World, post: Uuid, tail: &str) -> String {
    w.app.url(&format!(
        "/api/v1/admin/campaigns/{}/posts/{post}{tail}",
        w.campaign
    ))
}

async fn put_text(w: &World, token: &str, post: Uuid, text: &str) -> (StatusCode, Value) {
    let r = w
        .app
        .http
        .put(post_url(w, post, ""))
        .bearer_auth(token)
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn act(w: &World, token: &str, post: Uuid, what: &str) -> (StatusCode, Value) {
    let req = match what {
        "delete" => w.app.http.delete(post_url(w, post, "")),
        pin => w.app.http.post(post_url(w, post, &format!("/{pin}"))),
    };
    let r = req.bearer_auth(token).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn list(w: &World, token: &str) -> (StatusCode, Value) {
    let r = w
        .app
        .http
        .get(
            w.app
                .url(&format!("/api/v1/admin/campaigns/{}/posts", w.campaign)),
        )
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// The message as the fake shows it now (edits applied), if it is there.
fn in_fake(w: &World, chat: i64, message_id: i64) -> Option<Value> {
    w.fake
        .sent_to(chat)
        .into_iter()
        .find(|m| m["message_id"] == json!(message_id))
}

#[tokio::test]
async fn a_post_text_and_a_caption_are_edited_in_telegram() {
    let w = world().await;
    let (text, text_id) = text_post(&w, "@forum_posts_kz", Some(w.news), "Вебинар в 19:00").await;
    let (photo, photo_id) = photo_post(&w, "Фото дня").await;

    let (status, posts) = list(&w, &w.organiser).await;
    assert_eq!(status, 200);
    let posts = posts.as_array().unwrap().clone();
    assert_eq!(posts.len(), 2);
    let first = posts.iter().find(|p| p["id"] == json!(text)).unwrap();
    assert_eq!(
        first["link"],
        format!("https://t.me/forum_posts_kz/{text_id}")
    );
    assert_eq!(
        first["link"].as_str(),
        w.fake.post_link(NEWS, text_id).as_deref()
    );
    assert_eq!(first["channel_title"], "Новости форума");
    assert_eq!(first["message_ids"], json!([text_id]));
    assert_eq!(
        (&first["kind"], &first["state"], &first["pinned"]),
        (&json!("text"), &json!("posted"), &json!(false))
    );
    assert!(first["edited_at"].is_null());

    let (status, edited) = put_text(&w, &w.organiser, text, "Вебинар <b>в 20:00</b>").await;
    assert_eq!(status, 200, "{edited}");
    assert!(edited["edited_at"].is_string());
    let m = in_fake(&w, NEWS, text_id).unwrap();
    assert_eq!(m["text"], "Вебинар в 20:00");
    assert!(m["edit_date"].is_i64(), "{m}");
    // The same text again: nothing to change, and not an error.
    let (status, _) = put_text(&w, &w.organiser, text, "Вебинар <b>в 20:00</b>").await;
    assert_eq!(status, 200);

    let (status, _) = put_text(&w, &w.organiser, photo, "Новая <i>подпись</i>").await;
    assert_eq!(status, 200);
    let m = in_fake(&w, NEWS, photo_id).unwrap();
    assert_eq!(m["caption"], "Новая подпись");
    assert!(m["photo"].is_array());

    // A caption over 1024 characters, a message over 4096, bad HTML: 422
    // with the reason, and nothing changes in Telegram.
    let (status, e) = put_text(&w, &w.organiser, photo, &"я".repeat(1025)).await;
    assert_eq!(status, 422);
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("1025") && message.contains("at most 1024"),
        "{message}"
    );
    let (status, _) = put_text(&w, &w.organiser, text, &"я".repeat(1025)).await;
    assert_eq!(status, 200, "a message may be longer than a caption");
    let (status, e) = put_text(&w, &w.organiser, text, &"я".repeat(4097)).await;
    assert_eq!(status, 422);
    assert!(e["error"]["message"].as_str().unwrap().contains("4096"));
    let (status, e) = put_text(&w, &w.organiser, text, "<div>x</div>").await;
    assert_eq!(status, 422);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Telegram HTML")
    );
    assert_eq!(
        in_fake(&w, NEWS, photo_id).unwrap()["caption"],
        "Новая подпись"
    );

    // Deleted in the channel by hand: Telegram's words come back.
    let r = w
        .app
        .http
        .post(api_url(&w, "deleteMessage"))
        .json(&json!({"chat_id": NEWS, "message_id": text_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, e) = put_text(&w, &w.organiser, text, "Ещё раз").await;
    assert_eq!(status, 409);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Bad Request: message to edit not found"),
        "{e}"
    );

    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'post.edit' AND target = $1",
    )
    .bind(photo.to_string())
    .fetch_one(&w.app.infra.db)
    .await
    .unwrap();
    assert_eq!(n, 1);
    w.app.stop().await;
}

#[tokio::test]
async fn posts_are_pinned_unpinned_and_deleted_but_not_after_48_hours() {
    let w = world().await;
    let (post, message_id) = text_post(&w, &CLOSED.to_string(), None, "Пост").await;
    let (_, posts) = list(&w, &w.organiser).await;
    assert_eq!(
        posts[0]["link"],
        format!("https://t.me/c/1616000002/{message_id}")
    );
    assert!(posts[0]["channel_title"].is_null());

    let (status, pinned) = act(&w, &w.organiser, post, "pin").await;
    assert_eq!(status, 200, "{pinned}");
    assert_eq!(pinned["pinned"], true);
    assert_eq!(w.fake.pinned(TOKEN, CLOSED), vec![message_id]);
    let r: Value = w
        .app
        .http
        .get(format!(
            "{}/control/pinned?token={TOKEN}&chat_id={CLOSED}",
            w.fake.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["pinned"], json!([message_id]));
    let (status, unpinned) = act(&w, &w.organiser, post, "unpin").await;
    assert_eq!(status, 200);
    assert_eq!(unpinned["pinned"], false);
    assert!(w.fake.pinned(TOKEN, CLOSED).is_empty());

    // Without the right to edit others' messages the bot may not pin: 409
    // in Telegram's words, and the post stays unpinned.
    w.fake
        .set_bot_membership(BotMembership {
            chat_id: CLOSED,
            status: BotStatus::Administrator,
            can_post_messages: true,
            ..BotMembership::default()
        })
        .unwrap();
    let (status, e) = act(&w, &w.organiser, post, "pin").await;
    assert_eq!(status, 409);
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("not enough rights"), "{message}");
    assert!(message.contains("administrator"), "{message}");
    assert_eq!(list(&w, &w.organiser).await.1[0]["pinned"], false);

    let (status, deleted) = act(&w, &w.organiser, post, "delete").await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["state"], "deleted");
    assert!(deleted["deleted_at"].is_string());
    assert!(in_fake(&w, CLOSED, message_id).is_none());
    let (status, e) = act(&w, &w.organiser, post, "delete").await;
    assert_eq!(status, 409);
    assert_eq!(e["error"]["code"], "deleted");

    // Two days later Telegram refuses to delete: said clearly, the post
    // stays as it was.
    let (old, old_id) = text_post(&w, "@forum_posts_kz", Some(w.news), "Старый пост").await;
    let r = w
        .app
        .http
        .post(format!("{}/control/backdate", w.fake.base_url()))
        .json(&json!({"token": TOKEN, "chat_id": NEWS, "message_id": old_id, "seconds": 49 * 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, e) = act(&w, &w.organiser, old, "delete").await;
    assert_eq!(status, 409);
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Bad Request: message can't be deleted") && message.contains("48 hours"),
        "{message}"
    );
    assert!(in_fake(&w, NEWS, old_id).is_some());
    let (_, posts) = list(&w, &w.organiser).await;
    let old_now = posts
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == json!(old))
        .unwrap();
    assert_eq!(old_now["state"], "posted");
    w.app.stop().await;
}

#[tokio::test]
async fn only_organisers_and_admins_change_posts_and_unknown_ones_are_404() {
    let w = world().await;
    let (post, message_id) = text_post(&w, "@forum_posts_kz", Some(w.news), "Пост").await;
    let consultant = w.app.token(Role::Consultant).await;
    assert_eq!(list(&w, &consultant).await.0, 403);
    assert_eq!(put_text(&w, &consultant, post, "x").await.0, 403);
    for what in ["delete", "pin", "unpin"] {
        assert_eq!(act(&w, &consultant, post, what).await.0, 403, "{what}");
    }
    assert_eq!(
        in_fake(&w, NEWS, message_id).unwrap()["text"],
        "Пост",
        "nothing changed"
    );
    let admin = w.app.token(Role::Admin).await;
    assert_eq!(act(&w, &admin, post, "pin").await.0, 200);

    let doc: Value = w
        .app
        .http
        .get(w.app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = &doc["paths"];
    assert!(paths["/api/v1/admin/campaigns/{id}/posts"]["get"].is_object());
    let one = &paths["/api/v1/admin/campaigns/{id}/posts/{post}"];
    assert!(one["put"].is_object() && one["delete"].is_object());
    for tail in ["pin", "unpin"] {
        assert!(
            paths[format!("/api/v1/admin/campaigns/{{id}}/posts/{{post}}/{tail}")]["post"]
                .is_object()
        );
    }

    let unknown = Uuid::now_v7();
    assert_eq!(put_text(&w, &w.organiser, unknown, "x").await.0, 404);
    for what in ["delete", "pin", "unpin"] {
        assert_eq!(act(&w, &w.organiser, unknown, what).await.0, 404, "{what}");
    }
    // A post of this campaign asked for under another campaign.
    let r = w
        .app
        .http
        .delete(w.app.url(&format!(
            "/api/v1/admin/campaigns/{}/posts/{post}",
            Uuid::now_v7()
        )))
        .bearer_auth(&w.organiser)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = w
        .app
        .http
        .get(
            w.app
                .url(&format!("/api/v1/admin/campaigns/{}/posts", Uuid::now_v7())),
        )
        .bearer_auth(&w.organiser)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(in_fake(&w, NEWS, message_id).is_some());
    w.app.stop().await;
}

#[tokio::test]
async fn a_photo_post_the_campaign_sent_is_edited_pinned_and_deleted() {
    let w = world().await;
    let body = multipart(
        &[("alt_ru", "Плакат")],
        Some(("file", "poster.jpg", &jpeg(11))),
    );
    let r = w
        .app
        .http
        .post(w.app.url("/api/v1/admin/media"))
        .bearer_auth(&w.organiser)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let photo = r.json::<Value>().await.unwrap()["id"].clone();
    let at = (chrono::Utc::now().with_timezone(&chrono_tz::Asia::Almaty)
        + chrono::Duration::seconds(2))
    .format("%Y-%m-%dT%H:%M:%S")
    .to_string();
    let r = w
        .app
        .http
        .post(w.app.url("/api/v1/admin/campaigns"))
        .bearer_auth(&w.organiser)
        .json(&json!({
            "name": "Фото дня",
            "schedule": {"kind": "once", "at": [at]},
            "audience": {"channels": [format!("telegram_channel:{}", w.news)]},
            "templates": {"ru": {"telegram": "<b>Фото дня</b>", "telegram_media": [photo]}},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let campaign: Uuid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let r = w
        .app
        .http
        .post(
            w.app
                .url(&format!("/api/v1/admin/campaigns/{campaign}/approve")),
        )
        .bearer_auth(&w.organiser)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let posts_url = w
        .app
        .url(&format!("/api/v1/admin/campaigns/{campaign}/posts"));
    let post: Value = nasvyazi_tests::eventually(std::time::Duration::from_secs(30), || async {
        let v: Value = w
            .app
            .http
            .get(&posts_url)
            .bearer_auth(&w.organiser)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array().and_then(|a| a.first().cloned())
    })
    .await;
    let sent = w.fake.sent_to(NEWS);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let message_id = sent[0]["message_id"].as_i64().unwrap();
    assert_eq!(sent[0]["caption"], "Фото дня");
    assert_eq!(post["message_ids"], json!([message_id]));
    assert_eq!(post["kind"], "media");
    assert_eq!(
        post["link"].as_str(),
        w.fake.post_link(NEWS, message_id).as_deref()
    );
    let id = post["id"].as_str().unwrap();
    let one = format!("{posts_url}/{id}");

    let r = w
        .app
        .http
        .put(&one)
        .bearer_auth(&w.organiser)
        .json(&json!({"text": "Фото дня: <i>площадь Абая</i>"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        in_fake(&w, NEWS, message_id).unwrap()["caption"],
        "Фото дня: площадь Абая"
    );
    let r = w
        .app
        .http
        .post(format!("{one}/pin"))
        .bearer_auth(&w.organiser)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(w.fake.pinned(TOKEN, NEWS), vec![message_id]);
    let r = w
        .app
        .http
        .delete(&one)
        .bearer_auth(&w.organiser)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(in_fake(&w, NEWS, message_id).is_none());
    assert!(w.fake.pinned(TOKEN, NEWS).is_empty());
    w.app.stop().await;
}

/// An organiser signed in to the console over plain HTTP.
async fn console_agent(w: &World) -> Agent<'_> {
    user(
        &w.app,
        Role::Organiser,
        "Дана",
        "dana@forum.example.kz",
        Lang::Ru,
    )
    .await;
    let mut a = Agent::new(&w.app);
    let r = a.sign_in("dana@forum.example.kz", PASSWORD).await;
    assert_eq!(r.status(), 303);
    a
}

async fn page(a: &mut Agent<'_>, path: &str) -> (StatusCode, String) {
    let r = a.get(path).await;
    (r.status(), r.text().await.unwrap().replace("&#x2f;", "/"))
}

#[tokio::test]
async fn the_console_uploads_a_picture_registers_a_channel_and_manages_posts() {
    let w = world().await;
    let mut a = console_agent(&w).await;

    // The media library: an upload through the form, with alt texts.
    let (status, html) = page(&mut a, "/admin/media").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("10 МБ") && html.contains("50 МБ"),
        "limits stated"
    );
    let csrf = csrf_in(&html);
    let picture = jpeg(3);
    let upload = |csrf: String, alt: &'static str| {
        let body = multipart(
            &[
                ("csrf", &csrf),
                ("alt_ru", alt),
                ("alt_kk", "Форум логотипі"),
            ],
            Some(("file", "logo.jpg", &picture)),
        );
        w.app
            .http
            .post(w.app.url("/admin/media"))
            .header("cookie", a.cookies())
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
            .send()
    };
    let r = upload("not-the-token".into(), "Логотип").await.unwrap();
    assert_eq!(r.status(), 403, "no upload without the form's token");
    let r = upload(csrf.clone(), "Логотип форума").await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).ends_with("done=uploaded"), "{}", location(&r));
    let id: Uuid = sqlx::query_scalar("SELECT id FROM media WHERE alt_ru = 'Логотип форума'")
        .fetch_one(&w.app.infra.db)
        .await
        .unwrap();
    let (_, html) = page(&mut a, "/admin/media?done=uploaded").await;
    assert!(html.contains("Логотип форума"));
    assert!(html.contains(&format!("/admin/media/{id}/file")));
    let r = a.get(&format!("/admin/media/{id}/file")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    // Not a picture, named .jpg: refused with the reason, on the page.
    let body = multipart(
        &[("csrf", &csrf)],
        Some((
            "file",
            "trip.jpg",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        )),
    );
    let r = w
        .app
        .http
        .post(w.app.url("/admin/media"))
        .header("cookie", a.cookies())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert!(r.text().await.unwrap().contains("не принимается"));

    // The channels page: register, then check the bot's rights.
    let (status, html) = page(&mut a, "/admin/channels").await;
    assert_eq!(status, 200);
    assert!(html.contains("Новости форума"));
    let csrf = csrf_in(&html);
    let r = a
        .post(
            "/admin/channels",
            &[
                ("csrf", &csrf),
                ("chat", &CLOSED.to_string()),
                ("title", "Волонтёры"),
                ("language", "kk"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = a
        .post(
            "/admin/channels",
            &[
                ("csrf", &csrf),
                ("chat", "@no"),
                ("title", "x"),
                ("language", "ru"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let (_, html) = page(&mut a, &format!("/admin/channels?check={}", w.news)).await;
    assert!(html.contains("администратор"), "the check shows the status");
    assert!(html.contains("может закреплять"));

    // The campaign's page lists its posts with their links; edit and
    // delete from the console.
    let (post, message_id) = text_post(&w, "@forum_posts_kz", Some(w.news), "Пост").await;
    let campaign = format!("/admin/campaigns/{}", w.campaign);
    let (status, html) = page(&mut a, &campaign).await;
    assert_eq!(status, 200);
    let link = format!("https://t.me/forum_posts_kz/{message_id}");
    assert!(html.contains(&link), "the post's link on the campaign page");
    let one = format!("{campaign}/posts/{post}");
    let (status, html) = page(&mut a, &one).await;
    assert_eq!(status, 200);
    let csrf = csrf_in(&html);
    let r = a
        .post(
            &format!("{one}/edit"),
            &[("csrf", &csrf), ("text", "Новый <b>текст</b>")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).ends_with("done=post_edited"));
    assert_eq!(
        in_fake(&w, NEWS, message_id).unwrap()["text"],
        "Новый текст"
    );
    let r = a
        .post(
            &format!("{one}/edit"),
            &[("csrf", &csrf), ("text", "<div>")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let r = a.post(&format!("{one}/pin"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(w.fake.pinned(TOKEN, NEWS), vec![message_id]);
    let (status, html) = page(&mut a, &format!("{one}/delete")).await;
    assert_eq!(status, 200);
    assert!(html.contains("48"));
    let r = a.post(&format!("{one}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).ends_with("done=post_deleted"));
    assert!(in_fake(&w, NEWS, message_id).is_none());
    let (_, html) = page(&mut a, &campaign).await;
    assert!(!html.contains(&link), "a deleted post shows no link");

    // A consultant may not open these pages.
    user(
        &w.app,
        Role::Consultant,
        "Асель",
        "asel@forum.example.kz",
        Lang::Ru,
    )
    .await;
    let mut c = Agent::new(&w.app);
    assert_eq!(
        c.sign_in("asel@forum.example.kz", PASSWORD).await.status(),
        303
    );
    for path in ["/admin/media", "/admin/channels", one.as_str()] {
        assert_eq!(c.get(path).await.status(), 403, "{path}");
    }
    w.app.stop().await;
}

/// Signs in through the browser's form.
async fn browser_sign_in(b: &Browser, app: &TestApp, email: &str) {
    b.goto(&app.url("/admin")).await;
    b.wait_url("/admin/sign-in").await;
    b.find("input[name=email]").await.send_keys(email).await;
    b.find("input[name=password]")
        .await
        .send_keys(PASSWORD)
        .await;
    b.find("form[action^='/admin/sign-in?'] button[type=submit]")
        .await
        .click()
        .await;
    b.find("nav.menu").await;
}

#[tokio::test]
async fn the_media_and_channels_pages_fit_a_phone_in_ru_and_kk() {
    let w = world().await;
    text_post(&w, "@forum_posts_kz", Some(w.news), "Пост").await;
    // Two files with alt texts, one without.
    let token = &w.organiser;
    // The demo's picture (deploy/dev/demo.sh) is taken too.
    use base64::Engine as _;
    let demo_png = base64::engine::general_purpose::STANDARD
        .decode(DEMO_PNG)
        .unwrap();
    for (file, alt) in [
        (
            jpeg(5),
            "Люди держат плакат «Поддержка, а не наказание» на площади",
        ),
        (demo_png, ""),
    ] {
        let body = multipart(&[("alt_ru", alt)], Some(("file", "a.jpg", &file)));
        let r = w
            .app
            .http
            .post(w.app.url("/api/v1/admin/media"))
            .bearer_auth(token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    user(
        &w.app,
        Role::Organiser,
        "Айгерим",
        "aigerim@forum.example.kz",
        Lang::Ru,
    )
    .await;
    let b = Browser::start().await;
    browser_sign_in(&b, &w.app, "aigerim@forum.example.kz").await;
    for lang in ["ru", "kk"] {
        if lang == "kk" {
            b.find("form.langs button[value=kk]").await.click().await;
            b.find("html[lang=kk]").await;
        }
        b.goto(&w.app.url("/admin/media")).await;
        b.find("ul.media-files img").await;
        let wide = b.overflowing().await;
        assert!(
            wide.is_empty(),
            "media {lang}: wider than the screen: {wide:?}"
        );
        b.screenshot_full(&format!("console-media-{lang}")).await;

        b.goto(&w.app.url(&format!("/admin/channels?check={}", w.news)))
            .await;
        b.find("ul.rights").await;
        let wide = b.overflowing().await;
        assert!(
            wide.is_empty(),
            "channels {lang}: wider than the screen: {wide:?}"
        );
        b.screenshot_full(&format!("console-channels-{lang}")).await;

        b.goto(&w.app.url(&format!("/admin/campaigns/{}", w.campaign)))
            .await;
        b.find("#posts a.post-link").await;
        let wide = b.overflowing().await;
        assert!(
            wide.is_empty(),
            "campaign {lang}: wider than the screen: {wide:?}"
        );
        b.screenshot_full(&format!("console-campaign-posts-{lang}"))
            .await;

        b.find("#posts a.button[href$='/delete']")
            .await
            .click()
            .await;
        b.find("#confirm-delete").await;
        let wide = b.overflowing().await;
        assert!(
            wide.is_empty(),
            "delete {lang}: wider than the screen: {wide:?}"
        );
        b.screenshot_full(&format!("console-post-delete-{lang}"))
            .await;
    }
    b.quit().await;
    w.app.stop().await;
}
