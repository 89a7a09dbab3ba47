//! The staff forum in the Telegram fake, as the Bot API has it: the
//! service messages bots get (a topic renamed, closed, reopened, a pin,
//! members joining and leaving, a new title: from members, and from the
//! bot's own topic changes and pins), editForumTopic, deleteForumTopic
//! (every message of the topic gone; the rights Telegram asks; errors in
//! its words), and a group made public or private again.

use nasvyazi_telegram_fake::{
    BotMembership, BotRights, BotStatus, FakeConfig, NewForum, ServiceAction, TelegramFake,
};
use serde_json::{Value, json};

use super::{TOKEN, USER, assert_refused, call};

const FORUM: i64 = -1_007_654_321_098;
const STAFF: i64 = 5_553_003;
const OTHER: i64 = 5_553_004;

async fn fake() -> TelegramFake {
    let fake = TelegramFake::start(FakeConfig {
        tokens: vec![TOKEN.to_string()],
        rate_limits: false,
    })
    .await
    .expect("the fake starts");
    fake.inject_text(TOKEN, USER, USER, "/start")
        .expect("inject /start");
    fake.add_forum(NewForum {
        id: FORUM,
        title: Some("Консультанты".into()),
        username: None,
        bot_rights: BotRights {
            can_manage_topics: true,
            can_pin_messages: true,
        },
    })
    .expect("declare the forum");
    fake
}

/// The bot's rights in the forum, `can_delete_messages` as given.
fn rights(fake: &TelegramFake, can_delete_messages: bool) {
    fake.set_bot_membership(BotMembership {
        chat_id: FORUM,
        status: BotStatus::Administrator,
        can_manage_topics: true,
        can_pin_messages: true,
        can_delete_messages,
        ..Default::default()
    })
    .expect("membership");
}

async fn topic(fake: &TelegramFake, name: &str) -> i64 {
    let (status, body) = call(
        fake,
        "createForumTopic",
        json!({"chat_id": FORUM, "name": name}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["result"]["message_thread_id"]
        .as_i64()
        .expect("thread")
}

/// The pending updates in the forum, confirmed as read.
async fn forum_updates(fake: &TelegramFake) -> Vec<Value> {
    let (_, body) = call(fake, "getUpdates", json!({})).await;
    let updates = body["result"].as_array().expect("updates").clone();
    if let Some(last) = updates.last() {
        let next = last["update_id"].as_i64().expect("id") + 1;
        call(fake, "getUpdates", json!({"offset": next})).await;
    }
    updates
        .into_iter()
        .filter(|u| u["message"]["chat"]["id"] == json!(FORUM))
        .map(|u| u["message"].clone())
        .collect()
}

#[tokio::test]
async fn members_service_actions_reach_the_bot_as_telegram_sends_them() {
    let fake = fake().await;
    let thread = topic(&fake, "Гость 7F3K · NS-AAAA-BBBB").await;
    let answer = fake
        .inject_topic_text(TOKEN, STAFF, FORUM, thread, "Ответ")
        .expect("a message");
    let answer_id = answer["message"]["message_id"].as_i64().expect("id");
    forum_updates(&fake).await;

    // A member renames the topic: forum_topic_edited in the topic, from
    // the member, replying to the topic's creation, no text.
    let edit = ServiceAction::EditTopic {
        name: Some("Переименовано".into()),
        icon_custom_emoji_id: None,
    };
    let renamed = fake
        .inject_service(TOKEN, STAFF, FORUM, Some(thread), edit.clone())
        .expect("rename");
    let m = &renamed["message"];
    assert_eq!(m["forum_topic_edited"], json!({"name": "Переименовано"}));
    assert_eq!(m["message_thread_id"], json!(thread));
    assert_eq!(m["is_topic_message"], json!(true));
    assert_eq!(m["from"]["id"], json!(STAFF));
    assert_eq!(
        m["reply_to_message"]["forum_topic_created"]["name"],
        json!("Гость 7F3K · NS-AAAA-BBBB")
    );
    assert!(m.get("text").is_none() && m.get("caption").is_none());
    assert_eq!(fake.topics(TOKEN, FORUM)[0]["name"], json!("Переименовано"));
    // The same name again changes nothing.
    assert!(
        fake.inject_service(TOKEN, STAFF, FORUM, Some(thread), edit)
            .unwrap_err()
            .to_string()
            .contains("TOPIC_NOT_MODIFIED")
    );

    // Closing and reopening, in the topic.
    let closed = fake
        .inject_service(TOKEN, STAFF, FORUM, Some(thread), ServiceAction::CloseTopic)
        .expect("close");
    assert_eq!(closed["message"]["forum_topic_closed"], json!({}));
    assert_eq!(fake.topics(TOKEN, FORUM)[0]["is_closed"], json!(true));
    let reopened = fake
        .inject_service(
            TOKEN,
            STAFF,
            FORUM,
            Some(thread),
            ServiceAction::ReopenTopic,
        )
        .expect("reopen");
    assert_eq!(reopened["message"]["forum_topic_reopened"], json!({}));

    // A pin: pinned_message in the pinned message's topic, no reply.
    let pin = fake
        .inject_service(
            TOKEN,
            STAFF,
            FORUM,
            None,
            ServiceAction::Pin {
                message_id: answer_id,
            },
        )
        .expect("pin");
    let m = &pin["message"];
    assert_eq!(m["pinned_message"]["text"], json!("Ответ"));
    assert_eq!(m["message_thread_id"], json!(thread));
    assert!(m.get("reply_to_message").is_none(), "{m}");
    assert_eq!(fake.pinned(TOKEN, FORUM), vec![answer_id]);

    // Members join and leave; the chat is renamed: in the General topic.
    let joined = fake
        .inject_service(
            TOKEN,
            STAFF,
            FORUM,
            None,
            ServiceAction::Join {
                members: vec![OTHER],
            },
        )
        .expect("join");
    let m = &joined["message"];
    assert_eq!(m["new_chat_members"][0]["id"], json!(OTHER));
    assert_eq!(m["new_chat_member"]["id"], json!(OTHER));
    assert_eq!(m["new_chat_participant"]["id"], json!(OTHER));
    assert!(m.get("message_thread_id").is_none());
    let left = fake
        .inject_service(
            TOKEN,
            OTHER,
            FORUM,
            None,
            ServiceAction::Leave { member: None },
        )
        .expect("leave");
    assert_eq!(left["message"]["left_chat_member"]["id"], json!(OTHER));
    assert_eq!(left["message"]["left_chat_participant"]["id"], json!(OTHER));
    let title = fake
        .inject_service(
            TOKEN,
            STAFF,
            FORUM,
            None,
            ServiceAction::Title {
                title: "Дежурные".into(),
            },
        )
        .expect("title");
    assert_eq!(title["message"]["new_chat_title"], json!("Дежурные"));
    assert_eq!(title["message"]["chat"]["title"], json!("Дежурные"));

    let fields: Vec<&str> = [
        "forum_topic_edited",
        "forum_topic_closed",
        "forum_topic_reopened",
        "pinned_message",
        "new_chat_members",
        "left_chat_member",
        "new_chat_title",
    ]
    .to_vec();
    let updates = forum_updates(&fake).await;
    assert_eq!(updates.len(), fields.len());
    for (update, field) in updates.iter().zip(fields) {
        assert!(update.get(field).is_some(), "{field}: {update}");
    }

    // Over the control API too.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/control/updates", fake.base_url()))
        .json(
            &json!({"token": TOKEN, "kind": "service", "from": STAFF, "chat_id": FORUM,
                      "message_thread_id": thread,
                      "action": {"type": "edit_topic", "name": "Снова"}}),
        )
        .send()
        .await
        .expect("POST updates");
    assert_eq!(r.status().as_u16(), 200);
    let update: Value = r.json().await.expect("JSON");
    assert_eq!(
        update["message"]["forum_topic_edited"]["name"],
        json!("Снова")
    );
}

#[tokio::test]
async fn the_bots_own_topic_changes_and_pins_reach_it_as_updates() {
    let fake = fake().await;
    let thread = topic(&fake, "Тема").await;
    let (status, body) = call(
        &fake,
        "editForumTopic",
        json!({"chat_id": FORUM, "message_thread_id": thread, "name": "Новое имя"}),
    )
    .await;
    assert_eq!((status, body["result"].clone()), (200, json!(true)));
    assert_eq!(fake.topics(TOKEN, FORUM)[0]["name"], json!("Новое имя"));
    assert_refused(
        &call(
            &fake,
            "editForumTopic",
            json!({"chat_id": FORUM, "message_thread_id": thread, "name": "Новое имя"}),
        )
        .await,
        400,
        "Bad Request: TOPIC_NOT_MODIFIED",
    );
    assert_refused(
        &call(
            &fake,
            "editForumTopic",
            json!({"chat_id": FORUM, "message_thread_id": 4242, "name": "x"}),
        )
        .await,
        400,
        "Bad Request: TOPIC_ID_INVALID",
    );
    // Nothing to change: true, and no service message.
    let (status, _) = call(
        &fake,
        "editForumTopic",
        json!({"chat_id": FORUM, "message_thread_id": thread}),
    )
    .await;
    assert_eq!(status, 200);
    call(
        &fake,
        "closeForumTopic",
        json!({"chat_id": FORUM, "message_thread_id": thread}),
    )
    .await;
    call(
        &fake,
        "reopenForumTopic",
        json!({"chat_id": FORUM, "message_thread_id": thread}),
    )
    .await;
    let (_, sent) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": FORUM, "message_thread_id": thread, "text": "закрепить"}),
    )
    .await;
    call(
        &fake,
        "pinChatMessage",
        json!({"chat_id": FORUM, "message_id": sent["result"]["message_id"]}),
    )
    .await;
    let updates = forum_updates(&fake).await;
    let kinds: Vec<&str> = updates
        .iter()
        .map(|m| {
            [
                "forum_topic_created",
                "forum_topic_edited",
                "forum_topic_closed",
                "forum_topic_reopened",
                "pinned_message",
                "text",
            ]
            .into_iter()
            .find(|f| m.get(*f).is_some())
            .unwrap_or("?")
        })
        .collect();
    // The bot's plain message is no update; its service messages are.
    assert_eq!(
        kinds,
        [
            "forum_topic_created",
            "forum_topic_edited",
            "forum_topic_closed",
            "forum_topic_reopened",
            "pinned_message"
        ]
    );
    assert!(updates.iter().all(|m| m["from"]["is_bot"] == json!(true)));
    assert!(
        updates
            .iter()
            .all(|m| m["message_thread_id"] == json!(thread))
    );
}

#[tokio::test]
async fn delete_forum_topic_deletes_every_message_and_needs_the_right() {
    let fake = fake().await;
    let thread = topic(&fake, "Стереть").await;
    let photo = fake
        .inject_photo(TOKEN, USER, vec![7; 300], 40, 30, Some("личное"))
        .expect("a photo");
    let (status, copy) = call(
        &fake,
        "copyMessage",
        json!({"chat_id": FORUM, "from_chat_id": USER, "message_id": photo["message"]["message_id"],
               "message_thread_id": thread}),
    )
    .await;
    assert_eq!(status, 200, "{copy}");
    let copy_id = copy["result"]["message_id"].as_i64().expect("id");
    let staff = fake
        .inject_topic_text(TOKEN, STAFF, FORUM, thread, "ответ сотрудника")
        .expect("a reply");
    let staff_id = staff["message"]["message_id"].as_i64().expect("id");
    call(
        &fake,
        "pinChatMessage",
        json!({"chat_id": FORUM, "message_id": copy_id}),
    )
    .await;
    let other = topic(&fake, "Другая").await;
    let delete = json!({"chat_id": FORUM, "message_thread_id": thread});

    // Without can_delete_messages: a member wrote there, so Telegram refuses.
    rights(&fake, false);
    assert_refused(
        &call(&fake, "deleteForumTopic", delete.clone()).await,
        400,
        "Bad Request: not enough rights to delete the topic",
    );
    assert!(fake.has_message(TOKEN, FORUM, copy_id));
    // The bot's own topic where nobody else wrote, up to 11 messages, goes
    // without the right (TDLib's exception).
    let (status, _) = call(
        &fake,
        "deleteForumTopic",
        json!({"chat_id": FORUM, "message_thread_id": other}),
    )
    .await;
    assert_eq!(status, 200);

    rights(&fake, true);
    let (status, body) = call(&fake, "deleteForumTopic", delete.clone()).await;
    assert_eq!((status, body["result"].clone()), (200, json!(true)));
    for id in [thread, copy_id, staff_id] {
        assert!(!fake.has_message(TOKEN, FORUM, id), "message {id} stays");
    }
    assert!(fake.topic_messages(TOKEN, FORUM, thread).is_empty());
    assert!(fake.topics(TOKEN, FORUM).is_empty());
    assert!(fake.pinned(TOKEN, FORUM).is_empty());
    assert!(
        !fake
            .sent_to(FORUM)
            .iter()
            .any(|m| m.to_string().contains("личное"))
    );
    // Gone: Telegram's TOPIC_ID_INVALID; sends to it: thread not found.
    assert_refused(
        &call(&fake, "deleteForumTopic", delete).await,
        400,
        "Bad Request: TOPIC_ID_INVALID",
    );
    assert_refused(
        &call(
            &fake,
            "sendMessage",
            json!({"chat_id": FORUM, "message_thread_id": thread, "text": "x"}),
        )
        .await,
        400,
        "Bad Request: message thread not found",
    );
    assert_refused(
        &call(
            &fake,
            "deleteForumTopic",
            json!({"chat_id": USER, "message_thread_id": 1}),
        )
        .await,
        400,
        "Bad Request: the chat is not a forum",
    );
}

#[tokio::test]
async fn delete_message_keeps_the_48_hour_rule_for_bots() {
    let fake = fake().await;
    let thread = topic(&fake, "Старое").await;
    let (_, sent) = call(
        &fake,
        "sendMessage",
        json!({"chat_id": FORUM, "message_thread_id": thread, "text": "давнее"}),
    )
    .await;
    let id = sent["result"]["message_id"].clone();
    let backdate = reqwest::Client::new()
        .post(format!("{}/control/backdate", fake.base_url()))
        .json(&json!({"token": TOKEN, "chat_id": FORUM, "message_id": id, "seconds": 48 * 3600}))
        .send()
        .await
        .expect("backdate");
    assert_eq!(backdate.status().as_u16(), 200);
    // Even an administrator with can_delete_messages: a bot's limit.
    rights(&fake, true);
    assert_refused(
        &call(
            &fake,
            "deleteMessage",
            json!({"chat_id": FORUM, "message_id": id}),
        )
        .await,
        400,
        "Bad Request: message can't be deleted",
    );
    // The whole topic still goes: deleteForumTopic has no such limit.
    let (status, _) = call(
        &fake,
        "deleteForumTopic",
        json!({"chat_id": FORUM, "message_thread_id": thread}),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_group_is_made_public_and_private_again() {
    let fake = fake().await;
    let (_, chat) = call(&fake, "getChat", json!({"chat_id": FORUM})).await;
    assert!(chat["result"].get("username").is_none(), "{chat}");
    assert!(chat["result"].get("active_usernames").is_none());

    let r = reqwest::Client::new()
        .post(format!("{}/control/chat_username", fake.base_url()))
        .json(&json!({"chat_id": FORUM, "username": "open_staff_room"}))
        .send()
        .await
        .expect("POST chat_username");
    assert_eq!(r.status().as_u16(), 200);
    let (_, chat) = call(&fake, "getChat", json!({"chat_id": FORUM})).await;
    assert_eq!(chat["result"]["username"], json!("open_staff_room"));
    assert_eq!(
        chat["result"]["active_usernames"],
        json!(["open_staff_room"])
    );
    // Anyone can name it now, and every update shows it.
    let (status, _) = call(&fake, "getChat", json!({"chat_id": "@open_staff_room"})).await;
    assert_eq!(status, 200);
    let thread = topic(&fake, "Т").await;
    let update = fake
        .inject_topic_text(TOKEN, STAFF, FORUM, thread, "ответ")
        .expect("inject");
    assert_eq!(
        update["message"]["chat"]["username"],
        json!("open_staff_room")
    );

    fake.set_chat_username(FORUM, None).expect("private");
    let (_, chat) = call(&fake, "getChat", json!({"chat_id": FORUM})).await;
    assert!(chat["result"].get("username").is_none(), "{chat}");
    assert_refused(
        &call(&fake, "getChat", json!({"chat_id": "@open_staff_room"})).await,
        400,
        "Bad Request: chat not found",
    );
    assert!(fake.set_chat_username(FORUM, Some("x!")).is_err());
    assert!(
        fake.set_chat_username(USER, Some("someone_private"))
            .is_err()
    );
}
