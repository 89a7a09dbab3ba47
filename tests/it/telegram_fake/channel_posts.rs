//! Albums, captions, pins and membership in the Telegram fake, as a
//! campaign's channel posts use them: each method over HTTP, its success
//! shape and each refusal checked.

use nasvyazi_telegram_fake::{
    BotMembership, BotStatus, ChatKind, FakeConfig, NewChat, TelegramFake,
};
use serde_json::{Value, json};

use super::{TOKEN, USER, assert_refused, call};

const CHANNEL: i64 = -1_001_234_567_890;
const GROUP: i64 = -1_005_555_000_111;
const BOT: i64 = 123_456;
const NO_PIN_RIGHTS: &str = "Bad Request: not enough rights to manage pinned messages in the chat";

/// A fake without flood limits, with a public channel and a supergroup
/// declared and USER's private chat started.
async fn fake() -> TelegramFake {
    let fake = TelegramFake::start(FakeConfig {
        tokens: vec![TOKEN.to_string()],
        rate_limits: false,
    })
    .await
    .expect("the fake starts");
    fake.inject_text(TOKEN, USER, USER, "/start")
        .expect("inject /start");
    fake.add_chat(NewChat {
        id: CHANNEL,
        kind: ChatKind::Channel,
        title: Some("Новости".into()),
        username: Some("nasvyazi_news".into()),
    })
    .expect("declare the channel");
    fake.add_chat(NewChat {
        id: GROUP,
        kind: ChatKind::Supergroup,
        title: Some("Волонтёры".into()),
        username: None,
    })
    .expect("declare the group");
    fake
}

/// A tiny PNG header of `width` x `height` followed by `extra` bytes.
fn png(width: u32, height: u32, extra: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend_from_slice(&width.to_be_bytes());
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes.extend((0..extra).map(|i| (i % 200) as u8));
    bytes
}

/// Calls a method with a multipart body: text fields, then file parts
/// `(name, filename, bytes)`.
async fn multipart(
    fake: &TelegramFake,
    method: &str,
    fields: &[(&str, String)],
    files: &[(&str, &str, &[u8])],
) -> (u16, Value) {
    let boundary = "AlbumBoundary0f9e8d7c6b5a";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (name, filename, data) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let response = reqwest::Client::new()
        .post(format!("{}/bot{TOKEN}/{method}", fake.base_url()))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("the fake answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// The file_id of the largest size of a photo message.
fn photo_id(message: &Value) -> String {
    message["photo"]
        .as_array()
        .and_then(|sizes| sizes.last())
        .and_then(|size| size["file_id"].as_str())
        .expect("a photo")
        .to_string()
}

#[tokio::test]
async fn an_album_is_uploaded_once_and_sent_again_by_file_id() {
    let fake = fake().await;
    let media = json!([
        {"type": "photo", "media": "attach://one", "caption": "<b>Акция</b> 31 августа", "parse_mode": "HTML"},
        {"type": "photo", "media": "attach://two"},
        {"type": "video", "media": "attach://clip", "duration": 5, "width": 640, "height": 360}
    ]);
    let (status, body) = multipart(
        &fake,
        "sendMediaGroup",
        &[
            ("chat_id", "@nasvyazi_news".into()),
            ("media", media.to_string()),
        ],
        &[
            ("one", "one.png", &png(1600, 1200, 500)),
            ("two", "two.png", &png(800, 600, 300)),
            ("clip", "clip.mp4", b"\0\0\0\x18ftypmp42 not really a video"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let album = body["result"].as_array().expect("an array of messages");
    assert_eq!(album.len(), 3);
    let group = album[0]["media_group_id"]
        .as_str()
        .expect("a media_group_id");
    for (i, message) in album.iter().enumerate() {
        assert_eq!(message["media_group_id"], json!(group));
        assert_eq!(message["message_id"], json!(i + 1));
        assert_eq!(message["sender_chat"]["id"], json!(CHANNEL));
        assert_eq!(message["chat"]["type"], json!("channel"));
        assert!(message.get("from").is_none(), "{message}");
        assert!(message.get("author_signature").is_none(), "{message}");
    }
    assert_eq!(album[0]["caption"], json!("Акция 31 августа"));
    assert_eq!(
        album[0]["caption_entities"],
        json!([{"offset": 0, "length": 5, "type": "bold"}])
    );
    assert!(album[1].get("caption").is_none());
    assert_eq!(album[2]["video"]["duration"], json!(5));
    assert_eq!(album[2]["video"]["width"], json!(640));
    assert_eq!(fake.sent_to(CHANNEL), album.clone());

    // The second send reuses the file_ids: the same files, a new group.
    let video_id = album[2]["video"]["file_id"]
        .as_str()
        .expect("video file_id");
    let (status, again) = call(
        &fake,
        "sendMediaGroup",
        json!({"chat_id": CHANNEL, "protect_content": true, "disable_notification": true, "media": [
            {"type": "photo", "media": photo_id(&album[0])},
            {"type": "video", "media": video_id, "caption": "Видео"}
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    let second = again["result"].as_array().expect("an array");
    assert_eq!(second[0]["photo"], album[0]["photo"]);
    assert_eq!(second[1]["video"], album[2]["video"]);
    assert_eq!(second[1]["caption"], json!("Видео"));
    assert_eq!(second[0]["has_protected_content"], json!(true));
    assert_ne!(second[0]["media_group_id"], json!(group));
    assert_eq!(second[0]["media_group_id"], second[1]["media_group_id"]);

    // A document album, and a single item, which is no album.
    let (status, docs) = multipart(
        &fake,
        "sendMediaGroup",
        &[
            ("chat_id", USER.to_string()),
            ("media", json!([{"type": "document", "media": "attach://a"}, {"type": "document", "media": "attach://b", "caption": "Памятка"}]).to_string()),
        ],
        &[("a", "a.pdf", b"%PDF-1.4 a"), ("b", "b.pdf", b"%PDF-1.4 b")],
    )
    .await;
    assert_eq!(status, 200, "{docs}");
    assert_eq!(docs["result"][0]["document"]["file_name"], json!("a.pdf"));
    assert_eq!(docs["result"][0]["from"]["id"], json!(BOT));
    assert!(docs["result"][1]["media_group_id"].is_string());
    let (status, one) = call(
        &fake,
        "sendMediaGroup",
        json!({"chat_id": CHANNEL, "media": [{"type": "photo", "media": photo_id(&album[1])}]}),
    )
    .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["result"].as_array().map(Vec::len), Some(1));
    assert!(one["result"][0].get("media_group_id").is_none());

    // The post's public link, in process and over the control API.
    assert_eq!(
        fake.post_link(CHANNEL, 1).as_deref(),
        Some("https://t.me/nasvyazi_news/1")
    );
    assert_eq!(
        fake.post_link(GROUP, 7).as_deref(),
        Some("https://t.me/c/5555000111/7")
    );
    assert_eq!(fake.post_link(USER, 1), None);
    let link: Value = reqwest::get(format!(
        "{}/control/post_link?chat_id={CHANNEL}&message_id=2",
        fake.base_url()
    ))
    .await
    .expect("GET post_link")
    .json()
    .await
    .expect("JSON");
    assert_eq!(link, json!({"url": "https://t.me/nasvyazi_news/2"}));
    let none = reqwest::get(format!(
        "{}/control/post_link?chat_id={USER}&message_id=2",
        fake.base_url()
    ))
    .await
    .expect("GET post_link");
    assert_eq!(none.status().as_u16(), 404);
}

#[tokio::test]
async fn albums_are_refused_as_telegram_refuses_them() {
    let fake = fake().await;
    let update = fake
        .inject_photo(TOKEN, USER, png(640, 480, 100), 640, 480, None)
        .expect("a photo");
    let photo = photo_id(&update["message"]);
    let item = json!({"type": "photo", "media": photo});
    let refused = |media: Value| {
        call(
            &fake,
            "sendMediaGroup",
            json!({"chat_id": USER, "media": media}),
        )
    };
    assert_refused(
        &call(&fake, "sendMediaGroup", json!({"chat_id": USER})).await,
        400,
        "Bad Request: parameter \"media\" is required",
    );
    assert_refused(
        &refused(json!([])).await,
        400,
        "Bad Request: there are no messages to send",
    );
    assert_refused(
        &refused(json!(vec![item.clone(); 11])).await,
        400,
        "Bad Request: too many messages to send as an album",
    );
    assert_refused(
        &refused(json!({"type": "photo"})).await,
        400,
        "Bad Request: expected an Array of InputMedia",
    );
    let pdf = fake
        .inject_document(
            TOKEN,
            USER,
            b"%PDF".to_vec(),
            "a.pdf",
            "application/pdf",
            None,
        )
        .expect("a document");
    let document = pdf["message"]["document"]["file_id"].clone();
    assert_refused(
        &refused(json!([item, {"type": "document", "media": document}])).await,
        400,
        "Bad Request: document can't be mixed with other media types",
    );
    assert_refused(
        &refused(json!([{"type": "audio", "media": "x"}, item])).await,
        400,
        "Bad Request: audio can't be mixed with other media types",
    );
    assert_refused(
        &refused(json!([item, {"type": "animation", "media": photo}])).await,
        400,
        "Bad Request: can't parse InputMedia: type \"animation\" can't be used in sendMediaGroup",
    );
    assert_refused(
        &refused(json!([item, {"type": "photo"}])).await,
        400,
        "Bad Request: can't parse InputMedia: media not found",
    );
    assert_refused(
        &refused(json!([item, {"type": "photo", "media": photo, "caption": "ж".repeat(1025)}]))
            .await,
        400,
        "Bad Request: message caption is too long",
    );
    assert_refused(
        &refused(json!([item, {"type": "photo", "media": "AgACAgIAAxkBAAIunknown"}])).await,
        400,
        "Bad Request: failed to send message #2 with the error message \"Wrong file identifier/HTTP URL specified\"",
    );
    assert_refused(
        &refused(json!([{"type": "video", "media": photo}, item])).await,
        400,
        "Bad Request: failed to send message #1 with the error message \"Type of file mismatch\"",
    );
    // A caption of exactly 1024 characters is accepted.
    let (status, body) =
        refused(json!([item, {"type": "photo", "media": photo, "caption": "ж".repeat(1024)}]))
            .await;
    assert_eq!(status, 200, "{body}");

    let big = png(100, 100, 10 * 1024 * 1024);
    let media = json!([{"type": "photo", "media": "attach://big"}, item]).to_string();
    assert_refused(
        &multipart(
            &fake,
            "sendMediaGroup",
            &[("chat_id", USER.to_string()), ("media", media.clone())],
            &[("big", "big.png", &big)],
        )
        .await,
        400,
        "Bad Request: file is too big",
    );
    assert_refused(
        &multipart(
            &fake,
            "sendMediaGroup",
            &[("chat_id", USER.to_string()), ("media", media)],
            &[],
        )
        .await,
        400,
        "Bad Request: wrong file identifier/HTTP URL specified",
    );
    // Nothing of the refused albums went out: only the accepted one.
    assert_eq!(fake.sent_to(USER).len(), 2);
}

#[tokio::test]
async fn a_caption_is_edited_and_text_and_caption_edits_are_not_confused() {
    let fake = fake().await;
    let update = fake
        .inject_photo(TOKEN, USER, png(640, 480, 100), 640, 480, None)
        .expect("a photo");
    let (_, sent) = call(
        &fake,
        "sendPhoto",
        json!({"chat_id": CHANNEL, "photo": photo_id(&update["message"]), "caption": "Вебинар"}),
    )
    .await;
    let id = sent["result"]["message_id"].clone();
    let (status, body) = call(
        &fake,
        "editMessageCaption",
        json!({"chat_id": CHANNEL, "message_id": id, "caption": "Вебинар <i>перенесён</i>", "parse_mode": "HTML"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let edited = &body["result"];
    assert_eq!(edited["caption"], json!("Вебинар перенесён"));
    assert_eq!(
        edited["caption_entities"],
        json!([{"offset": 8, "length": 9, "type": "italic"}])
    );
    assert!(edited["edit_date"].is_i64());
    assert_eq!(edited["photo"], sent["result"]["photo"]);
    assert_eq!(fake.sent_to(CHANNEL), vec![edited.clone()]);
    assert_refused(
        &call(
            &fake,
            "editMessageCaption",
            json!({"chat_id": CHANNEL, "message_id": id, "caption": "Вебинар <i>перенесён</i>", "parse_mode": "HTML"}),
        )
        .await,
        400,
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
    );
    assert_refused(
        &call(
            &fake,
            "editMessageCaption",
            json!({"chat_id": CHANNEL, "message_id": id, "caption": "ж".repeat(1025)}),
        )
        .await,
        400,
        "Bad Request: MEDIA_CAPTION_TOO_LONG",
    );
    assert_refused(
        &call(
            &fake,
            "editMessageCaption",
            json!({"chat_id": CHANNEL, "message_id": 999, "caption": "x"}),
        )
        .await,
        400,
        "Bad Request: message to edit not found",
    );
    assert_refused(
        &call(
            &fake,
            "editMessageText",
            json!({"chat_id": CHANNEL, "message_id": id, "text": "x"}),
        )
        .await,
        400,
        "Bad Request: there is no text in the message to edit",
    );
    // No caption removes it.
    let (status, body) = call(
        &fake,
        "editMessageCaption",
        json!({"chat_id": CHANNEL, "message_id": id}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["result"].get("caption").is_none());

    let (_, text) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": CHANNEL, "text": "Только текст"}),
    )
    .await;
    assert_refused(
        &call(
            &fake,
            "editMessageCaption",
            json!({"chat_id": CHANNEL, "message_id": text["result"]["message_id"], "caption": "x"}),
        )
        .await,
        400,
        "Bad Request: there is no caption in the message to edit",
    );
    // A user's own message is not the bot's to edit.
    assert_refused(
        &call(
            &fake,
            "editMessageCaption",
            json!({"chat_id": USER, "message_id": update["message"]["message_id"], "caption": "x"}),
        )
        .await,
        400,
        "Bad Request: message can't be edited",
    );
}

#[tokio::test]
async fn pins_need_the_right_to_pin_and_show_in_get_chat() {
    let fake = fake().await;
    let (_, post) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": CHANNEL, "text": "Главное"}),
    )
    .await;
    let id = post["result"]["message_id"].as_i64().expect("message_id");
    let (status, body) = call(
        &fake,
        "pinChatMessage",
        json!({"chat_id": CHANNEL, "message_id": id, "disable_notification": true}),
    )
    .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
    assert_eq!(fake.pinned(TOKEN, CHANNEL), vec![id]);
    let sent = fake.sent_to(CHANNEL);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["pinned_message"]["text"], json!("Главное"));
    assert_eq!(sent[1]["sender_chat"]["id"], json!(CHANNEL));
    let (_, chat) = call(&fake, "getChat", json!({"chat_id": "@nasvyazi_news"})).await;
    assert_eq!(chat["result"]["id"], json!(CHANNEL));
    assert_eq!(chat["result"]["type"], json!("channel"));
    assert_eq!(chat["result"]["title"], json!("Новости"));
    assert_eq!(chat["result"]["username"], json!("nasvyazi_news"));
    assert_eq!(chat["result"]["pinned_message"]["message_id"], json!(id));
    let pinned: Value = reqwest::get(format!(
        "{}/control/pinned?token={TOKEN}&chat_id={CHANNEL}",
        fake.base_url()
    ))
    .await
    .expect("GET pinned")
    .json()
    .await
    .expect("JSON");
    assert_eq!(pinned, json!({"pinned": [id]}));

    assert_refused(
        &call(
            &fake,
            "pinChatMessage",
            json!({"chat_id": CHANNEL, "message_id": 999}),
        )
        .await,
        400,
        "Bad Request: message to pin not found",
    );
    assert_refused(
        &call(
            &fake,
            "unpinChatMessage",
            json!({"chat_id": CHANNEL, "message_id": 999}),
        )
        .await,
        400,
        "Bad Request: message to unpin not found",
    );
    let (status, _) = call(&fake, "unpinChatMessage", json!({"chat_id": CHANNEL})).await;
    assert_eq!(status, 200);
    assert!(fake.pinned(TOKEN, CHANNEL).is_empty());
    let (_, chat) = call(&fake, "getChat", json!({"chat_id": CHANNEL})).await;
    assert!(chat["result"].get("pinned_message").is_none());

    // In a channel pinning takes can_edit_messages.
    fake.set_bot_membership(BotMembership {
        chat_id: CHANNEL,
        status: BotStatus::Administrator,
        can_post_messages: true,
        ..BotMembership::default()
    })
    .expect("rights");
    assert_refused(
        &call(
            &fake,
            "pinChatMessage",
            json!({"chat_id": CHANNEL, "message_id": id}),
        )
        .await,
        400,
        NO_PIN_RIGHTS,
    );
    // In a supergroup, can_pin_messages; a member may not pin at all.
    let (_, note) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": GROUP, "text": "Сбор"}),
    )
    .await;
    let note_id = note["result"]["message_id"].clone();
    fake.set_bot_membership(BotMembership {
        chat_id: GROUP,
        status: BotStatus::Administrator,
        can_delete_messages: true,
        ..BotMembership::default()
    })
    .expect("rights");
    assert_refused(
        &call(
            &fake,
            "pinChatMessage",
            json!({"chat_id": GROUP, "message_id": note_id}),
        )
        .await,
        400,
        NO_PIN_RIGHTS,
    );
    assert_refused(
        &call(&fake, "unpinAllChatMessages", json!({"chat_id": GROUP})).await,
        400,
        NO_PIN_RIGHTS,
    );
    fake.set_bot_membership(BotMembership {
        chat_id: GROUP,
        status: BotStatus::Administrator,
        can_pin_messages: true,
        ..BotMembership::default()
    })
    .expect("rights");
    let (status, _) = call(
        &fake,
        "pinChatMessage",
        json!({"chat_id": GROUP, "message_id": note_id}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(&fake, "unpinAllChatMessages", json!({"chat_id": GROUP})).await;
    assert_eq!(status, 200);
    assert!(fake.pinned(TOKEN, GROUP).is_empty());

    // A private chat needs no rights; a deleted message is no longer pinned.
    let (_, reminder) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": USER, "text": "Приём в 10:00"}),
    )
    .await;
    let reminder_id = reminder["result"]["message_id"].clone();
    let (status, _) = call(
        &fake,
        "pinChatMessage",
        json!({"chat_id": USER, "message_id": reminder_id}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        fake.pinned(TOKEN, USER),
        vec![reminder_id.as_i64().expect("id")]
    );
    let (status, _) = call(
        &fake,
        "deleteMessage",
        json!({"chat_id": USER, "message_id": reminder_id}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(fake.pinned(TOKEN, USER).is_empty());
}

#[tokio::test]
async fn get_chat_member_shows_the_bots_status_and_rights() {
    let fake = fake().await;
    let (status, body) = call(
        &fake,
        "getChatMember",
        json!({"chat_id": CHANNEL, "user_id": BOT}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let member = &body["result"];
    assert_eq!(member["status"], json!("administrator"));
    assert_eq!(member["user"]["id"], json!(BOT));
    assert_eq!(member["user"]["is_bot"], json!(true));
    assert_eq!(member["can_post_messages"], json!(true));
    assert_eq!(member["can_edit_messages"], json!(true));
    assert_eq!(member["can_delete_messages"], json!(true));
    assert!(member.get("can_pin_messages").is_none(), "{member}");

    // Declared over the control API: an administrator without the right
    // to post, then a member, then gone.
    let http = reqwest::Client::new();
    let declare = |body: Value| {
        http.post(format!("{}/control/chat_member", fake.base_url()))
            .json(&body)
            .send()
    };
    let answer = declare(json!({"chat_id": GROUP, "status": "administrator", "can_pin_messages": true, "can_manage_topics": true}))
        .await
        .expect("POST chat_member");
    assert_eq!(answer.status().as_u16(), 200);
    let (_, group) = call(
        &fake,
        "getChatMember",
        json!({"chat_id": GROUP, "user_id": BOT}),
    )
    .await;
    assert_eq!(group["result"]["can_pin_messages"], json!(true));
    assert_eq!(group["result"]["can_manage_topics"], json!(true));
    assert_eq!(group["result"]["can_delete_messages"], json!(false));
    assert!(group["result"].get("can_post_messages").is_none());

    declare(json!({"chat_id": CHANNEL, "status": "administrator", "can_edit_messages": true}))
        .await
        .expect("POST chat_member");
    assert_refused(
        &call(
            &fake,
            "sendMessage",
            json!({"chat_id": CHANNEL, "text": "x"}),
        )
        .await,
        400,
        "Bad Request: need administrator rights in the channel chat",
    );
    declare(json!({"chat_id": CHANNEL, "status": "member"}))
        .await
        .expect("POST chat_member");
    let (_, channel) = call(
        &fake,
        "getChatMember",
        json!({"chat_id": CHANNEL, "user_id": BOT}),
    )
    .await;
    assert_eq!(
        channel["result"],
        json!({"user": channel["result"]["user"], "status": "member"})
    );
    declare(json!({"chat_id": CHANNEL, "status": "left"}))
        .await
        .expect("POST chat_member");
    let (_, channel) = call(
        &fake,
        "getChatMember",
        json!({"chat_id": CHANNEL, "user_id": BOT}),
    )
    .await;
    assert_eq!(channel["result"]["status"], json!("left"));
    assert_refused(
        &call(
            &fake,
            "sendMessage",
            json!({"chat_id": CHANNEL, "text": "x"}),
        )
        .await,
        403,
        "Forbidden: bot is not a member of the channel chat",
    );
    // POST /control/chats declares a chat and the bots' place in it at once.
    let chat = http
        .post(format!("{}/control/chats", fake.base_url()))
        .json(&json!({"id": -1_007_000_000_001_i64, "type": "channel", "title": "Кампании", "username": "campaigns", "can_post_messages": false}))
        .send()
        .await
        .expect("POST chats");
    assert_eq!(chat.status().as_u16(), 200);
    let (_, campaigns) = call(
        &fake,
        "getChatMember",
        json!({"chat_id": "@campaigns", "user_id": BOT}),
    )
    .await;
    assert_eq!(campaigns["result"]["status"], json!("administrator"));
    assert_eq!(campaigns["result"]["can_post_messages"], json!(false));
    assert_eq!(campaigns["result"]["can_edit_messages"], json!(true));
    http.post(format!("{}/control/chats", fake.base_url()))
        .json(&json!({"id": -1_007_000_000_001_i64, "type": "channel", "bot_status": "left"}))
        .send()
        .await
        .expect("POST chats");
    let (_, campaigns) = call(
        &fake,
        "getChatMember",
        json!({"chat_id": -1_007_000_000_001_i64, "user_id": BOT}),
    )
    .await;
    assert_eq!(campaigns["result"]["status"], json!("left"));
    let unknown = declare(json!({"chat_id": -100_999, "status": "member"}))
        .await
        .expect("POST chat_member");
    assert_eq!(unknown.status().as_u16(), 400);

    // Users: one who wrote is a member, one who did not has left.
    let (_, user) = call(
        &fake,
        "getChatMember",
        json!({"chat_id": USER, "user_id": USER}),
    )
    .await;
    assert_eq!(user["result"]["status"], json!("member"));
    assert_eq!(user["result"]["user"]["id"], json!(USER));
    let (_, outside) = call(
        &fake,
        "getChatMember",
        json!({"chat_id": GROUP, "user_id": USER}),
    )
    .await;
    assert_eq!(outside["result"]["status"], json!("left"));
    assert_refused(
        &call(
            &fake,
            "getChatMember",
            json!({"chat_id": GROUP, "user_id": 424_242}),
        )
        .await,
        400,
        "Bad Request: user not found",
    );
    assert_refused(
        &call(
            &fake,
            "getChatMember",
            json!({"chat_id": -100_424_242, "user_id": BOT}),
        )
        .await,
        400,
        "Bad Request: chat not found",
    );
    assert_refused(
        &call(&fake, "getChat", json!({"chat_id": "@nobody_here"})).await,
        400,
        "Bad Request: chat not found",
    );
}
