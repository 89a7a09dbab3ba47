//! Files, copies, forwards and forum topics in the Telegram fake: each
//! method driven over HTTP, its success shape and each refusal checked.

use nasvyazi_telegram_fake::{BotRights, FakeConfig, Media, NewForum, TelegramFake};
use serde_json::{Value, json};

use super::{TOKEN, USER, assert_refused, call};

const FORUM: i64 = -1_009_876_543_210;
const STAFF: i64 = 5_552_002;

/// A fake without flood limits (these tests send several messages a
/// second to one chat), where USER has started the bot.
async fn fake() -> TelegramFake {
    let fake = TelegramFake::start(FakeConfig {
        tokens: vec![TOKEN.to_string()],
        rate_limits: false,
    })
    .await
    .expect("the fake starts");
    fake.inject_text(TOKEN, USER, USER, "/start")
        .expect("inject /start");
    fake
}

fn forum(fake: &TelegramFake, can_manage_topics: bool) {
    fake.add_forum(NewForum {
        id: FORUM,
        title: Some("Консультации".into()),
        username: None,
        bot_rights: BotRights {
            can_manage_topics,
            can_pin_messages: true,
        },
    })
    .expect("declare the forum");
}

/// A tiny PNG header of `width` x `height` followed by `extra` bytes.
fn png(width: u32, height: u32, extra: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend_from_slice(&width.to_be_bytes());
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes.extend((0..extra).map(|i| (i % 200) as u8));
    bytes
}

/// A multipart body: text fields, then one file part.
fn multipart(fields: &[(&str, String)], file: (&str, &str, &str, &[u8])) -> (String, Vec<u8>) {
    let boundary = "FakeBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    let (name, filename, content_type, data) = file;
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    fake: &TelegramFake,
    method: &str,
    content_type: String,
    body: Vec<u8>,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/bot{TOKEN}/{method}", fake.base_url()))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("the fake answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

async fn download(fake: &TelegramFake, token: &str, path: &str) -> (u16, Vec<u8>) {
    let response = reqwest::get(format!("{}/file/bot{token}/{path}", fake.base_url()))
        .await
        .expect("GET file");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("bytes").to_vec())
}

#[tokio::test]
async fn a_users_photo_document_voice_and_video_note_can_be_downloaded() {
    let fake = fake().await;
    let photo = png(1600, 1200, 3000);
    let update = fake
        .inject_photo(TOKEN, USER, photo.clone(), 1600, 1200, Some("Справка"))
        .expect("inject a photo");
    let message = &update["message"];
    assert_eq!(message["caption"], json!("Справка"));
    let sizes = message["photo"].as_array().expect("PhotoSize array");
    assert_eq!(sizes.len(), 4, "{sizes:?}");
    assert_eq!(sizes[0]["width"], json!(90));
    assert_eq!(sizes[0]["height"], json!(67));
    let largest = sizes.last().expect("the photo");
    assert_eq!(
        (largest["width"].clone(), largest["height"].clone()),
        (json!(1600), json!(1200))
    );
    assert_eq!(largest["file_size"], json!(photo.len()));
    assert!(largest["file_unique_id"].is_string());
    let file_id = largest["file_id"].as_str().expect("file_id");

    let (status, body) = call(&fake, "getFile", json!({"file_id": file_id})).await;
    assert_eq!(status, 200, "{body}");
    let file = &body["result"];
    assert_eq!(file["file_id"], json!(file_id));
    assert_eq!(file["file_unique_id"], largest["file_unique_id"]);
    assert_eq!(file["file_size"], json!(photo.len()));
    let path = file["file_path"].as_str().expect("file_path");
    assert!(path.starts_with("photos/file_"), "{path}");
    assert_eq!(download(&fake, TOKEN, path).await, (200, photo));
    assert_eq!(download(&fake, "1:wrong", path).await.0, 404);
    assert_eq!(download(&fake, TOKEN, "photos/nothing.jpg").await.0, 404);
    assert_refused(
        &call(
            &fake,
            "getFile",
            json!({"file_id": "AgACAgIAAxkBAAIunknown"}),
        )
        .await,
        400,
        "Bad Request: invalid file_id",
    );

    let pdf = b"%PDF-1.4 test".to_vec();
    let update = fake
        .inject_document(
            TOKEN,
            USER,
            pdf.clone(),
            "анализ.pdf",
            "application/pdf",
            None,
        )
        .expect("inject a document");
    let document = &update["message"]["document"];
    assert_eq!(document["file_name"], json!("анализ.pdf"));
    assert_eq!(document["mime_type"], json!("application/pdf"));
    assert_eq!(document["file_size"], json!(pdf.len()));
    assert!(update["message"].get("caption").is_none());
    let (_, body) = call(&fake, "getFile", json!({"file_id": document["file_id"]})).await;
    let path = body["result"]["file_path"].as_str().expect("file_path");
    assert_eq!(download(&fake, TOKEN, path).await, (200, pdf));

    let voice = fake
        .inject_voice(TOKEN, USER, vec![1, 2, 3], 7, Some("голосом"))
        .expect("inject a voice");
    let voice = &voice["message"]["voice"];
    assert_eq!(voice["duration"], json!(7));
    assert_eq!(voice["mime_type"], json!("audio/ogg"));
    assert_eq!(voice["file_size"], json!(3));
    let note = fake
        .inject_video_note(TOKEN, USER, vec![9; 10], 240, 5)
        .expect("inject a video note");
    let note = &note["message"]["video_note"];
    assert_eq!(
        (note["length"].clone(), note["duration"].clone()),
        (json!(240), json!(5))
    );
    let (_, body) = call(&fake, "getFile", json!({"file_id": note["file_id"]})).await;
    assert!(
        body["result"]["file_path"]
            .as_str()
            .is_some_and(|p| p.starts_with("video_notes/"))
    );
    // A video note has no caption in Telegram.
    let media = Media {
        kind: "video_note".into(),
        ..Media::default()
    };
    assert!(
        fake.inject_media(TOKEN, USER, USER, media, Some("x"))
            .is_err()
    );

    // Bots may download up to 20 MB.
    let big = Media {
        kind: "document".into(),
        size: Some(20 * 1024 * 1024 + 1),
        ..Media::default()
    };
    let update = fake
        .inject_media(TOKEN, USER, USER, big, None)
        .expect("inject");
    assert_refused(
        &call(
            &fake,
            "getFile",
            json!({"file_id": update["message"]["document"]["file_id"]}),
        )
        .await,
        400,
        "Bad Request: file is too big",
    );
}

#[tokio::test]
async fn send_photo_document_and_voice_by_upload_and_by_file_id() {
    let fake = fake().await;
    let image = png(640, 480, 500);
    let (content_type, body) = multipart(
        &[
            ("chat_id", USER.to_string()),
            ("caption", "<b>Ответ</b> врача".into()),
            ("parse_mode", "HTML".into()),
            ("protect_content", "true".into()),
        ],
        ("photo", "scan.png", "image/png", &image),
    );
    let (status, body) = upload(&fake, "sendPhoto", content_type, body).await;
    assert_eq!(status, 200, "{body}");
    let message = &body["result"];
    assert_eq!(message["caption"], json!("Ответ врача"));
    assert_eq!(
        message["caption_entities"],
        json!([{"offset": 0, "length": 5, "type": "bold"}])
    );
    assert_eq!(message["has_protected_content"], json!(true));
    let sizes = message["photo"].as_array().expect("sizes");
    let largest = sizes.last().expect("largest");
    assert_eq!(
        (largest["width"].clone(), largest["height"].clone()),
        (json!(640), json!(480))
    );
    let file_id = largest["file_id"].as_str().expect("file_id").to_string();
    assert_eq!(fake.file_bytes(&file_id), Some(image));

    // Sent again by file_id: the same photo, no new file.
    let (status, again) = call(
        &fake,
        "sendPhoto",
        json!({"chat_id": USER, "photo": file_id}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["result"]["photo"], message["photo"]);
    assert!(again["result"].get("has_protected_content").is_none());

    let records = fake.sent_records(Some(USER));
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["method"], json!("sendPhoto"));
    assert_eq!(records[0]["protect_content"], json!(true));
    assert_eq!(records[1]["protect_content"], json!(false));

    // A document and a voice message, uploaded.
    let (content_type, body) = multipart(
        &[("chat_id", USER.to_string())],
        ("document", "итог.pdf", "application/pdf", b"%PDF-1.7"),
    );
    let (status, body) = upload(&fake, "sendDocument", content_type, body).await;
    assert_eq!(status, 200, "{body}");
    let document = &body["result"]["document"];
    assert_eq!(document["file_name"], json!("итог.pdf"));
    assert_eq!(document["mime_type"], json!("application/pdf"));
    assert_eq!(document["file_size"], json!(8));
    let (content_type, body) = multipart(
        &[("chat_id", USER.to_string()), ("duration", "4".into())],
        ("voice", "a.ogg", "audio/ogg", b"OggS...."),
    );
    let (status, body) = upload(&fake, "sendVoice", content_type, body).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["voice"]["mime_type"], json!("audio/ogg"));
    assert_eq!(body["result"]["voice"]["duration"], json!(4));

    // Refusals.
    assert_refused(
        &call(
            &fake,
            "sendPhoto",
            json!({"chat_id": USER, "photo": "AgACnotafile"}),
        )
        .await,
        400,
        "Bad Request: wrong file identifier/HTTP URL specified",
    );
    assert_refused(
        &call(
            &fake,
            "sendDocument",
            json!({"chat_id": USER, "document": file_id}),
        )
        .await,
        400,
        "Bad Request: type of file mismatch",
    );
    assert_refused(
        &call(&fake, "sendPhoto", json!({"chat_id": USER})).await,
        400,
        "Bad Request: there is no photo in the request",
    );
    assert_refused(
        &call(
            &fake,
            "sendPhoto",
            json!({"chat_id": USER, "photo": file_id, "caption": "ж".repeat(1025)}),
        )
        .await,
        400,
        "Bad Request: message caption is too long",
    );
    // 1024 characters after entity parsing are fine.
    let (status, _) = call(
        &fake,
        "sendPhoto",
        json!({"chat_id": USER, "photo": file_id, "caption": format!("<i>{}</i>", "ж".repeat(1024)), "parse_mode": "HTML"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_refused(
        &call(&fake, "sendPhoto", json!({"chat_id": 42, "photo": file_id})).await,
        400,
        "Bad Request: chat not found",
    );
    let (content_type, body) = multipart(
        &[("chat_id", USER.to_string())],
        (
            "photo",
            "big.png",
            "image/png",
            &png(100, 100, 10 * 1024 * 1024),
        ),
    );
    assert_refused(
        &upload(&fake, "sendPhoto", content_type, body).await,
        400,
        "Bad Request: file is too big",
    );
    let (content_type, body) = multipart(
        &[("chat_id", USER.to_string())],
        (
            "document",
            "big.bin",
            "application/octet-stream",
            &vec![0u8; 50 * 1024 * 1024 + 1],
        ),
    );
    assert_refused(
        &upload(&fake, "sendDocument", content_type, body).await,
        413,
        "Request Entity Too Large",
    );
    fake.block(TOKEN, USER).expect("block");
    assert_refused(
        &call(
            &fake,
            "sendPhoto",
            json!({"chat_id": USER, "photo": file_id}),
        )
        .await,
        403,
        "Forbidden: bot was blocked by the user",
    );
    assert_eq!(fake.sent_to(USER).len(), 5);
}

#[tokio::test]
async fn copy_message_carries_no_forward_origin_and_forward_message_does() {
    let fake = fake().await;
    forum(&fake, true);
    let (_, topic) = call(
        &fake,
        "createForumTopic",
        json!({"chat_id": FORUM, "name": "Обращение 17"}),
    )
    .await;
    let thread = topic["result"]["message_thread_id"]
        .as_i64()
        .expect("thread");
    let update = fake
        .inject_photo(
            TOKEN,
            USER,
            png(800, 600, 100),
            800,
            600,
            Some("мой вопрос"),
        )
        .expect("inject");
    let source_id = update["message"]["message_id"].clone();

    let (status, body) = call(
        &fake,
        "copyMessage",
        json!({"chat_id": FORUM, "from_chat_id": USER, "message_id": source_id, "message_thread_id": thread, "protect_content": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let copy_id = body["result"]["message_id"].as_i64().expect("message_id");
    assert_eq!(body["result"], json!({"message_id": copy_id}));
    let copy = fake
        .sent_to(FORUM)
        .into_iter()
        .find(|m| m["message_id"] == json!(copy_id))
        .expect("the copy");
    assert!(copy.get("forward_origin").is_none(), "{copy}");
    assert_eq!(copy["photo"], update["message"]["photo"]);
    assert_eq!(copy["caption"], json!("мой вопрос"));
    assert_eq!(copy["message_thread_id"], json!(thread));
    assert_eq!(copy["is_topic_message"], json!(true));
    assert!(copy["from"]["is_bot"].as_bool().unwrap_or(false));

    // A new caption replaces the old one; a text message copies as text.
    let (status, body) = call(
        &fake,
        "copyMessage",
        json!({"chat_id": FORUM, "from_chat_id": USER, "message_id": source_id, "message_thread_id": thread, "caption": "<u>скрыто</u>", "parse_mode": "HTML"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let text = fake
        .inject_text(TOKEN, USER, USER, "Болит голова")
        .expect("inject");
    let (status, _) = call(
        &fake,
        "copyMessage",
        json!({"chat_id": FORUM, "from_chat_id": USER, "message_id": text["message"]["message_id"], "message_thread_id": thread}),
    )
    .await;
    assert_eq!(status, 200);
    let sent = fake.sent_to(FORUM);
    let n = sent.len();
    assert_eq!(sent[n - 2]["caption"], json!("скрыто"));
    assert_eq!(
        sent[n - 2]["caption_entities"][0]["type"],
        json!("underline")
    );
    assert_eq!(sent[n - 1]["text"], json!("Болит голова"));

    let (status, body) = call(
        &fake,
        "forwardMessage",
        json!({"chat_id": FORUM, "from_chat_id": USER, "message_id": source_id, "message_thread_id": thread}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["forward_origin"]["type"], json!("user"));
    assert_eq!(
        body["result"]["forward_origin"]["sender_user"]["id"],
        json!(USER)
    );

    let records = fake.sent_records(Some(FORUM));
    let methods: Vec<&str> = records
        .iter()
        .filter_map(|r| r["method"].as_str())
        .collect();
    assert_eq!(
        methods,
        [
            "createForumTopic",
            "copyMessage",
            "copyMessage",
            "copyMessage",
            "forwardMessage"
        ]
    );
    let forwarded: Vec<bool> = records
        .iter()
        .filter_map(|r| r["has_forward_origin"].as_bool())
        .collect();
    assert_eq!(forwarded, [false, false, false, false, true]);
    assert_eq!(records[1]["protect_content"], json!(true));
    assert_eq!(records[1]["message_thread_id"], json!(thread));

    // Refusals.
    assert_refused(
        &call(
            &fake,
            "copyMessage",
            json!({"chat_id": FORUM, "from_chat_id": USER, "message_id": 999}),
        )
        .await,
        400,
        "Bad Request: message to copy not found",
    );
    assert_refused(
        &call(
            &fake,
            "copyMessage",
            json!({"chat_id": 42, "from_chat_id": USER, "message_id": source_id}),
        )
        .await,
        400,
        "Bad Request: chat not found",
    );
    assert_refused(
        &call(
            &fake,
            "copyMessage",
            json!({"chat_id": FORUM, "from_chat_id": 42, "message_id": source_id}),
        )
        .await,
        400,
        "Bad Request: chat not found",
    );
    // The service message that opened the topic can't be copied.
    assert_refused(
        &call(
            &fake,
            "copyMessage",
            json!({"chat_id": USER, "from_chat_id": FORUM, "message_id": thread}),
        )
        .await,
        400,
        "Bad Request: message can't be copied",
    );
    // A staff answer in the topic goes back to the user as a copy.
    let answer = fake
        .inject_topic_text(TOKEN, STAFF, FORUM, thread, "Выпейте воды")
        .expect("inject in the topic");
    assert_eq!(answer["message"]["message_thread_id"], json!(thread));
    assert_eq!(answer["message"]["is_topic_message"], json!(true));
    assert_eq!(answer["message"]["chat"]["is_forum"], json!(true));
    assert_eq!(
        answer["message"]["reply_to_message"]["forum_topic_created"]["name"],
        json!("Обращение 17")
    );
    fake.block(TOKEN, USER).expect("block");
    assert_refused(
        &call(&fake, "copyMessage", json!({"chat_id": USER, "from_chat_id": FORUM, "message_id": answer["message"]["message_id"]})).await,
        403,
        "Forbidden: bot was blocked by the user",
    );
    fake.unblock(TOKEN, USER).expect("unblock");
    let (status, body) = call(
        &fake,
        "copyMessage",
        json!({"chat_id": USER, "from_chat_id": FORUM, "message_id": answer["message"]["message_id"], "protect_content": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let delivered = fake.sent_to(USER).pop().expect("the copy");
    assert_eq!(delivered["text"], json!("Выпейте воды"));
    assert!(delivered.get("forward_origin").is_none());
    assert_eq!(delivered["has_protected_content"], json!(true));
}

#[tokio::test]
async fn forum_topics_are_created_closed_and_reopened() {
    let fake = fake().await;
    assert_refused(
        &call(
            &fake,
            "createForumTopic",
            json!({"chat_id": USER, "name": "x"}),
        )
        .await,
        400,
        "Bad Request: the chat is not a forum",
    );
    forum(&fake, true);
    let (status, body) = call(
        &fake,
        "createForumTopic",
        json!({"chat_id": FORUM, "name": "Обращение 1", "icon_color": 16_749_490}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let thread = body["result"]["message_thread_id"]
        .as_i64()
        .expect("thread");
    assert_eq!(
        body["result"],
        json!({"message_thread_id": thread, "name": "Обращение 1", "icon_color": 16_749_490})
    );
    let created = fake.sent_to(FORUM).pop().expect("service message");
    assert_eq!(created["message_id"], json!(thread));
    assert_eq!(
        created["forum_topic_created"],
        json!({"name": "Обращение 1", "icon_color": 16_749_490})
    );
    // The bot gets its own topic's service message as an update, as the
    // Bot API server passes a bot's forum_topic_* messages on.
    let (_, updates) = call(&fake, "getUpdates", json!({})).await;
    let own = updates["result"]
        .as_array()
        .expect("updates")
        .iter()
        .find(|u| u["message"]["chat"]["id"] == json!(FORUM))
        .expect("the forum_topic_created update")
        .clone();
    assert_eq!(own["message"]["message_id"], json!(thread));
    assert_eq!(own["message"]["from"]["is_bot"], json!(true));
    assert_eq!(
        own["message"]["forum_topic_created"]["name"],
        json!("Обращение 1")
    );
    let (_, default) = call(
        &fake,
        "createForumTopic",
        json!({"chat_id": FORUM, "name": "Другое"}),
    )
    .await;
    assert_eq!(default["result"]["icon_color"], json!(7_322_096));
    assert_refused(
        &call(
            &fake,
            "createForumTopic",
            json!({"chat_id": FORUM, "name": "x", "icon_color": 1}),
        )
        .await,
        400,
        "Bad Request: TOPIC_ICON_COLOR_INVALID",
    );
    assert_refused(
        &call(
            &fake,
            "createForumTopic",
            json!({"chat_id": FORUM, "name": "я".repeat(129)}),
        )
        .await,
        400,
        "Bad Request: TOPIC_TITLE_TOO_LONG",
    );

    let (status, body) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": FORUM, "message_thread_id": thread, "text": "Новое обращение"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["message_thread_id"], json!(thread));
    assert_eq!(body["result"]["is_topic_message"], json!(true));
    assert_eq!(
        fake.sent_records(Some(FORUM)).last().expect("a record")["message_thread_id"],
        json!(thread)
    );

    let close = json!({"chat_id": FORUM, "message_thread_id": thread});
    let (status, body) = call(&fake, "closeForumTopic", close.clone()).await;
    assert_eq!((status, body["result"].clone()), (200, json!(true)));
    assert_eq!(
        fake.sent_to(FORUM).pop().expect("service")["forum_topic_closed"],
        json!({})
    );
    assert_refused(
        &call(&fake, "closeForumTopic", close.clone()).await,
        400,
        "Bad Request: TOPIC_NOT_MODIFIED",
    );
    assert_refused(
        &call(
            &fake,
            "sendMessage",
            json!({"chat_id": FORUM, "message_thread_id": thread, "text": "ещё"}),
        )
        .await,
        400,
        "Bad Request: TOPIC_CLOSED",
    );
    let (status, _) = call(&fake, "reopenForumTopic", close.clone()).await;
    assert_eq!(status, 200);
    assert_refused(
        &call(&fake, "reopenForumTopic", close).await,
        400,
        "Bad Request: TOPIC_NOT_MODIFIED",
    );
    let (status, _) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": FORUM, "message_thread_id": thread, "text": "ещё"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_refused(
        &call(
            &fake,
            "closeForumTopic",
            json!({"chat_id": FORUM, "message_thread_id": 9999}),
        )
        .await,
        400,
        "Bad Request: message thread not found",
    );
    assert_refused(
        &call(
            &fake,
            "sendMessage",
            json!({"chat_id": FORUM, "message_thread_id": 9999, "text": "x"}),
        )
        .await,
        400,
        "Bad Request: message thread not found",
    );
    let topics = fake.topics(TOKEN, FORUM);
    assert_eq!(topics.len(), 2);
    assert_eq!(topics[0]["is_closed"], json!(false));

    // Without can_manage_topics the bot can't create topics.
    forum(&fake, false);
    assert_refused(
        &call(
            &fake,
            "createForumTopic",
            json!({"chat_id": FORUM, "name": "x"}),
        )
        .await,
        400,
        "Bad Request: not enough rights to create a topic",
    );
}

#[tokio::test]
async fn the_new_control_endpoints_work_over_http() {
    let fake = fake().await;
    let http = reqwest::Client::new();
    let control = |path: &str| format!("{}/control/{path}", fake.base_url());
    let response = http
        .post(control("forums"))
        .json(&json!({"id": FORUM, "title": "Консультации"}))
        .send()
        .await
        .expect("POST forums");
    assert_eq!(response.status().as_u16(), 200);
    let (_, topic) = call(
        &fake,
        "createForumTopic",
        json!({"chat_id": FORUM, "name": "Т"}),
    )
    .await;
    let thread = topic["result"]["message_thread_id"].clone();
    let update: Value = http
        .post(control("updates"))
        .json(&json!({"token": TOKEN, "kind": "media", "from": USER, "caption": "скан", "media": {"kind": "document", "data": [37, 80, 68, 70], "file_name": "a.pdf", "mime_type": "application/pdf"}}))
        .send()
        .await
        .expect("POST updates")
        .json()
        .await
        .expect("JSON");
    let file_id = update["message"]["document"]["file_id"]
        .as_str()
        .expect("file_id");
    let bytes = http
        .get(control(&format!("files/{file_id}")))
        .send()
        .await
        .expect("GET file")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(&bytes[..], b"%PDF");
    let update: Value = http
        .post(control("updates"))
        .json(&json!({"token": TOKEN, "kind": "topic_message", "from": STAFF, "chat_id": FORUM, "message_thread_id": thread, "text": "ответ"}))
        .send()
        .await
        .expect("POST updates")
        .json()
        .await
        .expect("JSON");
    assert_eq!(update["message"]["message_thread_id"], thread);
    let refused = http
        .post(control("updates"))
        .json(&json!({"token": TOKEN, "kind": "topic_message", "from": STAFF, "chat_id": FORUM, "message_thread_id": 777, "text": "x"}))
        .send()
        .await
        .expect("POST updates");
    assert_eq!(refused.status().as_u16(), 400);
    let records: Value = http
        .get(control(&format!("sent_records?chat_id={FORUM}")))
        .send()
        .await
        .expect("GET sent_records")
        .json()
        .await
        .expect("JSON");
    assert_eq!(records[0]["method"], json!("createForumTopic"));
    assert_eq!(records[0]["has_forward_origin"], json!(false));
    assert_eq!(
        records[0]["message"]["forum_topic_created"]["name"],
        json!("Т")
    );
}

#[tokio::test]
async fn delete_message_removes_the_bots_message() {
    let fake = fake().await;
    let (_, sent) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": USER, "text": "удалить"}),
    )
    .await;
    let id = sent["result"]["message_id"].clone();
    let delete = json!({"chat_id": USER, "message_id": id});
    let (status, body) = call(&fake, "deleteMessage", delete.clone()).await;
    assert_eq!((status, body["result"].clone()), (200, json!(true)));
    assert!(fake.sent_to(USER).is_empty());
    assert_refused(
        &call(&fake, "deleteMessage", delete).await,
        400,
        "Bad Request: message to delete not found",
    );
    forum(&fake, true);
    let (_, topic) = call(
        &fake,
        "createForumTopic",
        json!({"chat_id": FORUM, "name": "Т"}),
    )
    .await;
    let thread = topic["result"]["message_thread_id"]
        .as_i64()
        .expect("thread");
    let staff = fake
        .inject_topic_text(TOKEN, STAFF, FORUM, thread, "чужое")
        .expect("inject");
    let theirs = json!({"chat_id": FORUM, "message_id": staff["message"]["message_id"]});
    // Another member's message takes can_delete_messages in a supergroup.
    fake.set_bot_membership(nasvyazi_telegram_fake::BotMembership {
        chat_id: FORUM,
        status: nasvyazi_telegram_fake::BotStatus::Administrator,
        can_manage_topics: true,
        can_pin_messages: true,
        ..Default::default()
    })
    .expect("membership");
    assert_refused(
        &call(&fake, "deleteMessage", theirs.clone()).await,
        400,
        "Bad Request: message can't be deleted",
    );
    fake.set_bot_membership(nasvyazi_telegram_fake::BotMembership {
        chat_id: FORUM,
        status: nasvyazi_telegram_fake::BotStatus::Administrator,
        can_manage_topics: true,
        can_pin_messages: true,
        can_delete_messages: true,
        ..Default::default()
    })
    .expect("membership");
    let (status, body) = call(&fake, "deleteMessage", theirs).await;
    assert_eq!((status, body["result"].clone()), (200, json!(true)));
    // The topic's creation can't be deleted, whatever the rights.
    assert_refused(
        &call(
            &fake,
            "deleteMessage",
            json!({"chat_id": FORUM, "message_id": thread}),
        )
        .await,
        400,
        "Bad Request: message can't be deleted",
    );
}
