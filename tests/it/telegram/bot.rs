//! The bot: sign-up by buttons, /lang, /help, /stop, blocks (at once by
//! my_chat_member, or at the next send by 403), webhook mode and its
//! secret, and the chat-id canary.

use nasvyazi_tests::{assert_no_plaintext, eventually, spawn_app_with};
use serde_json::json;

use super::*;

#[tokio::test]
async fn start_buttons_make_an_active_contact_and_lang_help_stop_work() {
    let fake = fake().await;
    let app = spawn_app_with(&config(&fake, "")).await;
    let chat = new_chat();

    let id = sign_up(&app, &fake, chat).await;
    let (_, status, lang, mut topics, code) = contact(&app, chat).await.unwrap();
    topics.sort();
    assert_eq!(
        (status.as_str(), lang.as_str(), topics, code.as_deref()),
        (
            "active",
            "kk",
            vec!["hiv".to_string(), "ost".to_string()],
            Some("spring-2026")
        )
    );
    assert_eq!(
        events_of(&app, "front_outbox", id).await,
        ["contact.confirmed"]
    );
    assert_eq!(
        fake.callback_answers().len(),
        4,
        "every button press is answered"
    );
    let lease: Option<String> =
        sqlx::query_scalar("SELECT name FROM leases WHERE name LIKE 'telegram-poll:%'")
            .fetch_optional(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(lease.as_deref(), Some("telegram-poll:5550001"));

    // /lang: buttons, then English.
    fake.inject_text(TOKEN, chat, chat, "/lang").unwrap();
    let m = wait_sent(&fake, chat, 2).await[1].clone();
    assert_eq!(buttons(&m), ["setlang:ru", "setlang:kk", "setlang:en"]);
    let mid = m["message_id"].as_i64().unwrap();
    fake.inject_callback(TOKEN, chat, chat, mid, "setlang:en")
        .unwrap();
    wait_text(&fake, chat, 1, "English").await;
    assert_eq!(contact(&app, chat).await.unwrap().2, "en");

    // /help: who we are and how to reach us, the name escaped.
    fake.inject_text(TOKEN, chat, chat, "/help").unwrap();
    let help = wait_text(&fake, chat, 2, "help@forum.example.kz").await;
    let text = help["text"].as_str().unwrap();
    assert!(
        text.contains("Forum <KZ>") && text.contains("/stop"),
        "{text}"
    );

    // /stop: unsubscribed, announced, answered.
    fake.inject_text(TOKEN, chat, chat, "/stop").unwrap();
    wait_status(&app, chat, "unsubscribed").await;
    wait_text(&fake, chat, 3, "unsubscribed").await;
    assert_eq!(
        events_of(&app, "front_outbox", id).await,
        ["contact.confirmed", "contact.unsubscribed"]
    );
    // A button from before /stop no longer does anything.
    fake.inject_callback(TOKEN, chat, chat, mid, "setlang:ru")
        .unwrap();
    wait_text(&fake, chat, 1, "/start").await;
    assert_eq!(contact(&app, chat).await.unwrap().1, "unsubscribed");
    app.stop().await;
}

#[tokio::test]
async fn blocking_the_bot_unsubscribes_at_once() {
    let fake = fake().await;
    let app = spawn_app_with(&config(&fake, "")).await;
    let chat = new_chat();
    let id = sign_up(&app, &fake, chat).await;
    fake.block(TOKEN, chat).unwrap();
    wait_status(&app, chat, "unsubscribed").await;
    assert_eq!(
        events_of(&app, "front_outbox", id).await,
        ["contact.confirmed", "contact.unsubscribed"]
    );
    app.stop().await;
}

fn webhook(fake: &TelegramFake) -> String {
    config(
        fake,
        &format!("mode = \"webhook\"\nwebhook_secret = \"{SECRET}\""),
    )
}

/// Waits until front has registered its webhook with the fake.
async fn wait_webhook(app: &TestApp, fake: &TelegramFake) {
    let url = app.url("/telegram/webhook");
    eventually(WAIT, || async {
        let info = bot_call(fake, "getWebhookInfo", json!({})).await;
        (info["result"]["url"] == json!(url)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_blocked_chat_is_unsubscribed_at_the_next_send_and_can_come_back() {
    let fake = fake().await;
    let app = spawn_app_with(&webhook(&fake)).await;
    wait_webhook(&app, &fake).await;
    let chat = new_chat();
    let id = sign_up(&app, &fake, chat).await;

    // The webhook goes, so the my_chat_member update of the block waits at
    // Telegram: only the 403 of the next send can tell.
    bot_call(&fake, "deleteWebhook", json!({})).await;
    fake.block(TOKEN, chat).unwrap();
    let occurrence = queue_campaign(&app, "<b>{{ campaign }}</b>", &[(id, "telegram")]).await;
    let rows = wait_final(&app, occurrence).await;
    assert_eq!(rows[0].1, "failed");
    assert_eq!(
        rows[0].2.as_deref(),
        Some("telegram 403: Forbidden: bot was blocked by the user")
    );
    wait_status(&app, chat, "unsubscribed").await;
    assert_eq!(
        events_of(&app, "notifier_outbox", id).await,
        ["contact.blocked"]
    );
    let reason: Option<String> = sqlx::query_scalar(
        "SELECT reason FROM suppressions WHERE channel = 'telegram' AND blind_index = $1",
    )
    .bind(keys(&app).blind_index(BLIND_INDEX_KIND, &chat.to_string()))
    .fetch_optional(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(reason.as_deref(), Some("blocked"));

    // The person comes back: /start again lifts the suppression, and the
    // next campaign reaches them.
    bot_call(
        &fake,
        "setWebhook",
        json!({"url": app.url("/telegram/webhook"), "secret_token": SECRET, "max_connections": 1}),
    )
    .await;
    sign_up(&app, &fake, chat).await;
    eventually(WAIT, || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM suppressions")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
        (n == 0).then_some(())
    })
    .await;
    let occurrence = queue_campaign(&app, "<b>{{ campaign }}</b>", &[(id, "telegram")]).await;
    assert_eq!(wait_final(&app, occurrence).await[0].1, "sent");
    let last = fake.sent_to(chat).pop().unwrap();
    assert_eq!(last["text"], json!("Day <of> remembrance"));
    app.stop().await;
}

#[tokio::test]
async fn the_webhook_wants_the_secret_and_stores_nothing_without_it() {
    let fake = fake().await;
    let app = spawn_app_with(&webhook(&fake)).await;
    wait_webhook(&app, &fake).await;
    let chat = new_chat();
    let update = json!({"update_id": 900_000_001_i64, "message": {"message_id": 1, "date": 0,
        "text": "/start", "from": {"id": chat, "is_bot": false, "first_name": "X"},
        "chat": {"id": chat, "type": "private"}}});
    for secret in [None, Some("wrong"), Some("webhook-Secret_12")] {
        let mut request = app.http.post(app.url("/telegram/webhook")).json(&update);
        if let Some(s) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", s);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 401, "{secret:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let stored: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM contacts) + (SELECT count(*) FROM telegram_bot_state)",
    )
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(stored, 0, "nothing stored without the secret");

    // Telegram (the fake) sends the secret: the update is applied.
    fake.inject_text(TOKEN, chat, chat, "/start").unwrap();
    wait_status(&app, chat, "pending").await;
    wait_sent(&fake, chat, 1).await;
    app.stop().await;

    // In polling mode there is no webhook at all.
    let app = spawn_app_with(&config(&fake, "")).await;
    let r = app
        .http
        .post(app.url("/telegram/webhook"))
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn a_chat_id_never_appears_in_plain_text() {
    let fake = fake().await;
    let app = spawn_app_with(&config(&fake, "")).await;
    let chat = new_chat();
    let id = sign_up(&app, &fake, chat).await;
    let occurrence = queue_campaign(&app, "{{ campaign }}", &[(id, "telegram")]).await;
    assert_eq!(wait_final(&app, occurrence).await[0].1, "sent");
    fake.inject_text(TOKEN, chat, chat, "/stop").unwrap();
    wait_status(&app, chat, "unsubscribed").await;
    wait_published(&app, "front_outbox").await;
    wait_published(&app, "notifier_outbox").await;
    assert_no_plaintext(&app, &chat.to_string()).await;
    app.stop().await;
}
