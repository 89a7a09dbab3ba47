//! Tests of the Telegram Bot API fake: each shows that it answers on the
//! wire as the real Bot API does.

use std::time::{Duration, Instant};

use nasvyazi_telegram_fake::{ChatKind, FakeConfig, NewChat, TelegramFake};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

mod channel_posts;
mod files;
mod staff_forum;

const TOKEN: &str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";
const USER: i64 = 5_551_001;
const CHANNEL: i64 = -1_001_234_567_890;

async fn fake() -> TelegramFake {
    TelegramFake::start(FakeConfig {
        tokens: vec![TOKEN.to_string()],
        rate_limits: true,
    })
    .await
    .expect("the fake starts")
}

/// Calls a method with a JSON body; returns the HTTP status and the body.
async fn call(fake: &TelegramFake, method: &str, params: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/bot{TOKEN}/{method}", fake.base_url()))
        .json(&params)
        .send()
        .await
        .expect("the fake answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// Asserts a refusal: status, error_code and description as Telegram's.
fn assert_refused(answer: &(u16, Value), code: u16, description: &str) {
    assert_eq!(answer.0, code, "{}", answer.1);
    assert_eq!(answer.1["ok"], json!(false));
    assert_eq!(answer.1["error_code"], json!(code));
    assert_eq!(answer.1["description"], json!(description));
}

/// A fake where USER has written to the bot (so their private chat exists).
async fn fake_with_user() -> TelegramFake {
    let fake = fake().await;
    fake.inject_text(TOKEN, USER, USER, "/start")
        .expect("inject /start");
    fake
}

#[tokio::test]
async fn get_me_describes_the_bot() {
    let fake = fake().await;
    let (status, body) = call(&fake, "getMe", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["ok"], json!(true));
    assert_eq!(body["result"]["id"], json!(123_456));
    assert_eq!(body["result"]["is_bot"], json!(true));
    assert!(body["result"]["first_name"].is_string());
    assert!(
        body["result"]["username"]
            .as_str()
            .is_some_and(|u| u.ends_with("bot"))
    );

    // GET and a lower-case method name work too, as in Telegram.
    let response = reqwest::get(format!("{}/bot{TOKEN}/getme", fake.base_url()))
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn unknown_token_is_401_and_unknown_method_404() {
    let fake = fake().await;
    let response = reqwest::get(format!("{}/bot999:nope/getMe", fake.base_url()))
        .await
        .expect("GET");
    let answer = (
        response.status().as_u16(),
        response.json::<Value>().await.expect("JSON"),
    );
    assert_refused(&answer, 401, "Unauthorized");
    assert_refused(
        &call(&fake, "sendTelepathy", json!({})).await,
        404,
        "Not Found",
    );
    assert_eq!(fake.stats().client_errors, 2);
}

#[tokio::test]
async fn long_poll_answers_as_soon_as_an_update_arrives() {
    let fake = fake().await;
    let started = Instant::now();
    let (poll, ()) = tokio::join!(call(&fake, "getUpdates", json!({"timeout": 10})), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        fake.inject_text(TOKEN, USER, USER, "привет")
            .expect("inject");
    });
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(poll.0, 200);
    let updates = poll.1["result"].as_array().expect("an array");
    assert_eq!(updates.len(), 1);
    let message = &updates[0]["message"];
    assert_eq!(message["text"], json!("привет"));
    assert_eq!(message["from"]["id"], json!(USER));
    assert_eq!(message["from"]["is_bot"], json!(false));
    assert_eq!(message["chat"]["type"], json!("private"));
    assert_eq!(message["chat"]["id"], json!(USER));
    assert!(message["date"].as_i64().is_some_and(|d| d > 1_600_000_000));
}

#[tokio::test]
async fn long_poll_is_empty_after_the_timeout() {
    let fake = fake().await;
    let started = Instant::now();
    let (status, body) = call(&fake, "getUpdates", json!({"timeout": 1})).await;
    let waited = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(body["result"], json!([]));
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}

#[tokio::test]
async fn offset_confirms_earlier_updates() {
    let fake = fake().await;
    for text in ["one", "two", "three"] {
        fake.inject_text(TOKEN, USER, USER, text).expect("inject");
    }
    let (_, body) = call(&fake, "getUpdates", json!({})).await;
    let ids: Vec<i64> = body["result"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|u| u["update_id"].as_i64().expect("an id"))
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");

    // Without an offset nothing is confirmed: the same updates again.
    let (_, again) = call(&fake, "getUpdates", json!({"limit": 2})).await;
    assert_eq!(again["result"].as_array().map(Vec::len), Some(2));
    assert_eq!(again["result"][0]["update_id"], json!(ids[0]));

    // offset = last + 1 confirms all of them, for good.
    let (_, next) = call(&fake, "getUpdates", json!({"offset": ids[1] + 1})).await;
    assert_eq!(next["result"].as_array().map(Vec::len), Some(1));
    assert_eq!(next["result"][0]["message"]["text"], json!("three"));
    let (_, none) = call(&fake, "getUpdates", json!({"offset": ids[2] + 1})).await;
    assert_eq!(none["result"], json!([]));
    let (_, still_none) = call(&fake, "getUpdates", json!({})).await;
    assert_eq!(still_none["result"], json!([]));
}

#[tokio::test]
async fn send_message_with_html_and_an_inline_keyboard() {
    let fake = fake_with_user().await;
    let keyboard = json!({"inline_keyboard": [[
        {"text": "Да", "callback_data": "confirm:42"},
        {"text": "Сайт", "url": "https://example.org"}
    ]]});
    let (status, body) = call(
        &fake,
        "sendMessage",
        json!({
            "chat_id": USER,
            "text": "<b>Напоминание</b>: приём &amp; консультация <a href=\"https://example.org/x\">здесь</a>",
            "parse_mode": "HTML",
            "reply_markup": keyboard,
            "link_preview_options": {"is_disabled": true},
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let message = &body["result"];
    // The private chat's first message id went to /start.
    assert_eq!(message["message_id"], json!(2));
    assert_eq!(message["chat"]["id"], json!(USER));
    assert_eq!(message["from"]["is_bot"], json!(true));
    assert_eq!(
        message["text"],
        json!("Напоминание: приём & консультация здесь")
    );
    assert_eq!(
        message["entities"],
        json!([
            {"offset": 0, "length": 11, "type": "bold"},
            {"offset": 34, "length": 5, "type": "text_link", "url": "https://example.org/x"}
        ])
    );
    assert_eq!(
        message["reply_markup"]["inline_keyboard"][0][0],
        keyboard["inline_keyboard"][0][0]
    );
    // Telegram normalises a URL without a path.
    assert_eq!(
        message["reply_markup"]["inline_keyboard"][0][1]["url"],
        json!("https://example.org/")
    );
    assert_eq!(fake.sent_to(USER), vec![message.clone()]);

    // Form-encoded parameters (reply_markup as JSON text) work the same.
    let response = reqwest::Client::new()
        .post(format!("{}/bot{TOKEN}/sendMessage", fake.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "chat_id={USER}&text=second&reply_markup=%7B%22inline_keyboard%22%3A%5B%5B%7B%22text%22%3A%22x%22%7D%5D%5D%7D"
        ))
        .send()
        .await
        .expect("POST");
    let answer = (
        response.status().as_u16(),
        response.json::<Value>().await.expect("JSON"),
    );
    assert_refused(
        &answer,
        400,
        "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
    );
    let (status, body) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": USER, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "x", "callback_data": "d".repeat(65)}]]}}),
    )
    .await;
    assert_refused(&(status, body), 400, "Bad Request: BUTTON_DATA_INVALID");
}

#[tokio::test]
async fn text_of_4096_characters_is_accepted_and_4097_refused() {
    let fake = fake().await;
    fake.add_chat(NewChat {
        id: CHANNEL,
        kind: ChatKind::Channel,
        title: Some("Новости".into()),
        username: Some("nasvyazi_news".into()),
    })
    .expect("declare the channel");
    let long = "ж".repeat(4097);
    let too_long = call(
        &fake,
        "sendMessage",
        json!({"chat_id": CHANNEL, "text": long}),
    )
    .await;
    assert_refused(&too_long, 400, "Bad Request: message is too long");
    // Tags don't count: the limit is on the text after entity parsing.
    let exact = format!("<b>{}</b>", "ж".repeat(4096));
    let (status, body) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": "@nasvyazi_news", "text": exact, "parse_mode": "HTML"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["text"].as_str().map(|t| t.chars().count()),
        Some(4096)
    );
    assert_eq!(body["result"]["sender_chat"]["id"], json!(CHANNEL));
    assert_eq!(body["result"]["chat"]["type"], json!("channel"));
    assert_refused(
        &call(
            &fake,
            "sendMessage",
            json!({"chat_id": CHANNEL, "text": "  \n "}),
        )
        .await,
        400,
        "Bad Request: message text is empty",
    );
    assert_refused(
        &call(&fake, "sendMessage", json!({"chat_id": CHANNEL})).await,
        400,
        "Bad Request: message text is empty",
    );
}

#[tokio::test]
async fn bad_html_is_refused_with_telegrams_words() {
    let fake = fake_with_user().await;
    let send = |text: &'static str| {
        call(
            &fake,
            "sendMessage",
            json!({"chat_id": USER, "text": text, "parse_mode": "HTML"}),
        )
    };
    assert_refused(
        &send("<b>Приём").await,
        400,
        "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
    );
    assert_refused(
        &send("<p>Приём</p>").await,
        400,
        "Bad Request: can't parse entities: Unsupported start tag \"p\" at byte offset 0",
    );
    assert_refused(
        &send("<b>x</i>").await,
        400,
        "Bad Request: can't parse entities: Unmatched end tag at byte offset 4, expected \"</b>\", found \"</i>\"",
    );
    assert_refused(
        &send("доза < 5 мг").await,
        400,
        "Bad Request: can't parse entities: Unsupported start tag \"\" at byte offset 9",
    );
    // A bare '&' is kept, as Telegram keeps it.
    let (status, body) = send("A&B &nbsp;").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["text"], json!("A&B &nbsp;"));
    // Nothing was sent but that.
    assert_eq!(fake.sent_to(USER).len(), 1);
}

#[tokio::test]
async fn unknown_chat_and_blocked_user() {
    let fake = fake_with_user().await;
    assert_refused(
        &call(&fake, "sendMessage", json!({"chat_id": 42, "text": "hi"})).await,
        400,
        "Bad Request: chat not found",
    );
    assert_refused(
        &call(
            &fake,
            "sendMessage",
            json!({"chat_id": "@nobody_here", "text": "hi"}),
        )
        .await,
        400,
        "Bad Request: chat not found",
    );
    fake.block(TOKEN, USER).expect("block");
    assert_refused(
        &call(&fake, "sendMessage", json!({"chat_id": USER, "text": "hi"})).await,
        403,
        "Forbidden: bot was blocked by the user",
    );
    // The bot hears of it as from Telegram: a my_chat_member update.
    let (_, updates) = call(&fake, "getUpdates", json!({})).await;
    let last = updates["result"]
        .as_array()
        .and_then(|u| u.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        last["my_chat_member"]["new_chat_member"]["status"],
        json!("kicked")
    );
    fake.unblock(TOKEN, USER).expect("unblock");
    let (status, _) = call(&fake, "sendMessage", json!({"chat_id": USER, "text": "hi"})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_second_quick_message_to_one_private_chat_is_429() {
    let fake = fake_with_user().await;
    let (status, _) = call(&fake, "sendMessage", json!({"chat_id": USER, "text": "1"})).await;
    assert_eq!(status, 200);
    let (status, body) = call(&fake, "sendMessage", json!({"chat_id": USER, "text": "2"})).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error_code"], json!(429));
    let retry_after = body["parameters"]["retry_after"]
        .as_u64()
        .expect("retry_after");
    assert!(retry_after >= 1);
    assert_eq!(
        body["description"],
        json!(format!("Too Many Requests: retry after {retry_after}"))
    );
    assert_eq!(fake.count_429(), 1);
    // Only the message that went out counts.
    assert_eq!(fake.sent_to(USER).len(), 1);
}

#[tokio::test]
async fn thirty_one_messages_in_a_second_hit_the_bot_limit() {
    let fake = fake().await;
    let users: Vec<i64> = (0..31).map(|i| 7_000_000 + i).collect();
    for user in &users {
        fake.inject_text(TOKEN, *user, *user, "/start")
            .expect("inject");
    }
    let started = Instant::now();
    let mut refused = Vec::new();
    for user in &users {
        let (status, body) = call(
            &fake,
            "sendMessage",
            json!({"chat_id": user, "text": "Напоминание"}),
        )
        .await;
        if status == 429 {
            refused.push(body);
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "too slow to test the limit"
    );
    assert!(
        !refused.is_empty(),
        "31 messages in a second must hit the limit"
    );
    assert!(
        refused
            .iter()
            .all(|b| b["parameters"]["retry_after"].as_u64() >= Some(1))
    );
    assert_eq!(fake.stats().sent, 30);
}

#[tokio::test]
async fn twenty_one_messages_to_a_channel_in_a_minute_is_429() {
    let fake = fake().await;
    fake.add_chat(NewChat {
        id: CHANNEL,
        kind: ChatKind::Channel,
        title: Some("Новости".into()),
        username: None,
    })
    .expect("declare the channel");
    for i in 0..20 {
        let (status, body) = call(
            &fake,
            "sendMessage",
            json!({"chat_id": CHANNEL, "text": format!("{i}")}),
        )
        .await;
        assert_eq!(status, 200, "message {i}: {body}");
    }
    let (status, body) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": CHANNEL, "text": "21"}),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    let retry_after = body["parameters"]["retry_after"]
        .as_u64()
        .expect("retry_after");
    assert!(retry_after > 1 && retry_after <= 60, "{retry_after}");
}

/// A webhook receiver: answers 500 to the first `failures` POSTs and 200 to
/// the others, and passes on the secret header and the JSON body of each
/// POST it accepts.
async fn webhook_receiver(failures: usize) -> (String, mpsc::Receiver<(Option<String>, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut seen = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            seen += 1;
            let fail = seen <= failures;
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let header = |name: &str| {
                        head.lines().find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.trim()
                                .eq_ignore_ascii_case(name)
                                .then(|| v.trim().to_string())
                        })
                    };
                    let length: usize = header("content-length")
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + length {
                        continue;
                    }
                    let body = serde_json::from_slice(&buf[end + 4..end + 4 + length])
                        .unwrap_or(Value::Null);
                    let status = if fail {
                        "500 Internal Server Error"
                    } else {
                        let _ = tx
                            .send((header("x-telegram-bot-api-secret-token"), body))
                            .await;
                        "200 OK"
                    };
                    let reply = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                    return;
                }
            });
        }
    });
    (url, rx)
}

#[tokio::test]
async fn webhook_gets_updates_with_the_secret_and_locks_out_get_updates() {
    let fake = fake().await;
    let (url, mut received) = webhook_receiver(0).await;
    assert_refused(
        &call(
            &fake,
            "setWebhook",
            json!({"url": url, "secret_token": "not allowed!"}),
        )
        .await,
        400,
        "Bad Request: secret token contains unallowed characters",
    );
    let (status, body) = call(
        &fake,
        "setWebhook",
        json!({"url": url, "secret_token": "s3cr3t_-X"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"ok": true, "result": true, "description": "Webhook was set"})
    );

    fake.inject_text(TOKEN, USER, USER, "через вебхук")
        .expect("inject");
    let (secret, update) = tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .expect("delivered in time")
        .expect("delivered");
    assert_eq!(secret.as_deref(), Some("s3cr3t_-X"));
    assert_eq!(update["message"]["text"], json!("через вебхук"));
    assert!(update["update_id"].is_i64());

    assert_refused(
        &call(&fake, "getUpdates", json!({})).await,
        409,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
    );
    let (_, info) = call(&fake, "getWebhookInfo", json!({})).await;
    assert_eq!(info["result"]["url"], json!(url));
    let (_, deleted) = call(&fake, "deleteWebhook", json!({})).await;
    assert_eq!(deleted["description"], json!("Webhook was deleted"));
    let (status, _) = call(&fake, "getUpdates", json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn callback_queries_are_answered_once() {
    let fake = fake_with_user().await;
    assert_refused(
        &call(
            &fake,
            "answerCallbackQuery",
            json!({"callback_query_id": "4382bfdwdsb323b2d9"}),
        )
        .await,
        400,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    );
    let (_, sent) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": USER, "text": "Придёте?", "reply_markup": {"inline_keyboard": [[{"text": "Да", "callback_data": "yes"}]]}}),
    )
    .await;
    let message_id = sent["result"]["message_id"].as_i64().expect("message_id");
    let update = fake
        .inject_callback(TOKEN, USER, USER, message_id, "yes")
        .expect("press");
    let query = &update["callback_query"];
    assert_eq!(query["data"], json!("yes"));
    assert_eq!(query["message"]["message_id"], json!(message_id));
    let id = query["id"].as_str().expect("an id");
    let (status, body) = call(
        &fake,
        "answerCallbackQuery",
        json!({"callback_query_id": id, "text": "Спасибо"}),
    )
    .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)));
    assert_refused(
        &call(
            &fake,
            "answerCallbackQuery",
            json!({"callback_query_id": id}),
        )
        .await,
        400,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    );
    assert_eq!(fake.callback_answers().len(), 1);
}

#[tokio::test]
async fn edit_message_text_refuses_an_identical_edit() {
    let fake = fake_with_user().await;
    let keyboard = json!({"inline_keyboard": [[{"text": "Да", "callback_data": "yes"}]]});
    let (_, sent) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": USER, "text": "<i>Придёте?</i>", "parse_mode": "HTML", "reply_markup": keyboard}),
    )
    .await;
    let message_id = sent["result"]["message_id"].clone();
    let same = json!({"chat_id": USER, "message_id": message_id, "text": "<i>Придёте?</i>", "parse_mode": "HTML", "reply_markup": keyboard});
    assert_refused(
        &call(&fake, "editMessageText", same).await,
        400,
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
    );
    // Same text without the keyboard is a change: the keyboard goes.
    let (status, body) = call(
        &fake,
        "editMessageText",
        json!({"chat_id": USER, "message_id": message_id, "text": "<i>Придёте?</i>", "parse_mode": "HTML"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["result"].get("reply_markup").is_none());
    assert!(body["result"]["edit_date"].is_i64());
    assert_eq!(fake.sent_to(USER), vec![body["result"].clone()]);
    assert_refused(
        &call(
            &fake,
            "editMessageText",
            json!({"chat_id": USER, "message_id": 999, "text": "x"}),
        )
        .await,
        400,
        "Bad Request: message to edit not found",
    );
}

#[tokio::test]
async fn the_control_api_works_over_http() {
    let fake = fake().await;
    let http = reqwest::Client::new();
    let control = |path: &str| format!("{}/control/{path}", fake.base_url());
    let chat = http
        .post(control("chats"))
        .json(&json!({"id": -100_777, "type": "supergroup", "title": "Волонтёры", "username": "volunteers"}))
        .send()
        .await
        .expect("POST chats");
    assert_eq!(chat.status().as_u16(), 200);
    let update: Value = http
        .post(control("updates"))
        .json(&json!({"token": TOKEN, "kind": "message", "from": USER, "text": "/start"}))
        .send()
        .await
        .expect("POST updates")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        update["message"]["entities"][0]["type"],
        json!("bot_command")
    );
    let (status, _) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": "@volunteers", "text": "Сбор в 10:00"}),
    )
    .await;
    assert_eq!(status, 200);
    let sent: Value = http
        .get(control("sent?chat_id=-100777"))
        .send()
        .await
        .expect("GET sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(sent[0]["text"], json!("Сбор в 10:00"));
    let stats: Value = http
        .get(control("stats"))
        .send()
        .await
        .expect("GET stats")
        .json()
        .await
        .expect("JSON");
    assert_eq!(stats["sent"], json!(1));
    let unknown = http
        .post(control("block"))
        .json(&json!({"token": "1:x", "chat_id": USER}))
        .send()
        .await
        .expect("POST block");
    assert_eq!(unknown.status().as_u16(), 404);
    http.post(control("reset"))
        .send()
        .await
        .expect("POST reset");
    assert!(fake.sent().is_empty());
    assert_refused(
        &call(&fake, "sendMessage", json!({"chat_id": USER, "text": "hi"})).await,
        400,
        "Bad Request: chat not found",
    );
}

#[tokio::test]
async fn a_failed_webhook_delivery_is_retried() {
    let fake = fake().await;
    let (url, mut received) = webhook_receiver(2).await;
    let (status, _) = call(&fake, "setWebhook", json!({"url": url})).await;
    assert_eq!(status, 200);
    fake.inject_text(TOKEN, USER, USER, "ещё раз")
        .expect("inject");
    let (secret, update) = tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .expect("delivered in time")
        .expect("delivered");
    assert_eq!(secret, None);
    assert_eq!(update["message"]["text"], json!("ещё раз"));
    // The fake counts the delivery once it has read the receiver's answer.
    let deadline = Instant::now() + Duration::from_secs(2);
    while fake.stats().webhook_deliveries == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fake.stats().webhook_deliveries, 1);
    assert_eq!(fake.stats().webhook_failures, 2);
    let (_, info) = call(&fake, "getWebhookInfo", json!({})).await;
    assert_eq!(
        info["result"]["last_error_message"],
        json!("Wrong response from the webhook: 500 Internal Server Error")
    );
    assert!(info["result"]["last_error_date"].is_i64());
    assert_eq!(info["result"]["pending_update_count"], json!(0));
}
