//! The staff supergroup with forum topics: one topic per conversation, the
//! person's messages copied in without their identity, a consultant's
//! message in the topic copied to the person from the bot, `/close`.

use nasvyazi_telegram_fake::{BotRights, NewForum};
use nasvyazi_tests::spawn_app_with;
use serde_json::json;

use super::*;
use crate::telegram::{declare, fake, new_chat, wait_sent};

const GROUP: i64 = -1_001_234_567_890;
const CONSULTANT: i64 = 4_444_000_111;

#[tokio::test]
async fn the_staff_group_and_the_console_stay_in_step() {
    let fake = fake().await;
    fake.add_forum(NewForum {
        id: GROUP,
        title: Some("Консультанты".into()),
        username: None,
        bot_rights: BotRights {
            can_manage_topics: true,
            can_pin_messages: true,
        },
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let app = spawn_app_with(&config(&fake, &format!("staff_group = \"{GROUP}\"\n"))).await;
    let token = consultant(&app).await;
    let chat = new_chat();
    declare(&fake, chat);

    fake.inject_text(TOKEN, chat, chat, "мне плохо после вчерашнего")
        .unwrap();
    wait_sent(&fake, chat, 1).await;
    // A topic named by pseudonym and number only; the message copied in.
    let topic = eventually(WAIT, || async {
        fake.topics(TOKEN, GROUP).first().cloned()
    })
    .await;
    let name = topic["name"].as_str().unwrap();
    assert!(name.starts_with("Гость ") && name.contains("NS-"), "{name}");
    assert!(!name.contains(&chat.to_string()));
    let thread = topic["message_thread_id"].as_i64().unwrap();
    let copied = eventually(WAIT, || async {
        records(&fake, GROUP)
            .into_iter()
            .find(|r| r["method"] == "copyMessage")
    })
    .await;
    assert_eq!(copied["message_thread_id"], thread);
    assert_eq!(copied["has_forward_origin"], false);
    assert!(!copied.to_string().contains(&chat.to_string()), "{copied}");

    // A consultant answers in the topic: the person gets a copy from the
    // bot, with no trace of the consultant's account.
    fake.inject_topic_text(
        TOKEN,
        CONSULTANT,
        GROUP,
        thread,
        "Пейте воду и не оставайтесь один.",
    )
    .unwrap();
    let answer = wait_sent(&fake, chat, 2).await[1].clone();
    assert!(answer["text"].as_str().unwrap().contains("Пейте воду"));
    let rec = records(&fake, chat);
    let last = rec.last().unwrap();
    assert_eq!(last["method"], "copyMessage");
    assert_eq!(last["has_forward_origin"], false);
    assert!(
        !last.to_string().contains(&CONSULTANT.to_string()),
        "{last}"
    );
    // ... and the console shows it, delivered.
    let list = inbox(&app, &token, 1).await;
    let id = list[0]["id"].as_str().unwrap().to_string();
    conversation_where(&app, &token, &id, |c| {
        c["messages"].as_array().unwrap().iter().any(|m| {
            m["from"] == "staff"
                && m["delivery"] == "sent"
                && m["text"] == "Пейте воду и не оставайтесь один."
        })
    })
    .await;

    // A reply from the console appears in the topic too.
    let (status, _) = post(
        &app,
        &token,
        &format!("/api/v1/admin/conversations/{id}/replies"),
        reply("Мы на связи."),
    )
    .await;
    assert_eq!(status, 201);
    eventually(WAIT, || async {
        records(&fake, GROUP)
            .into_iter()
            .find(|r| r["message_thread_id"] == thread && r.to_string().contains("Мы на связи."))
    })
    .await;

    // /note in the topic is internal; /close closes both.
    fake.inject_topic_text(TOKEN, CONSULTANT, GROUP, thread, "/note звонил брат")
        .unwrap();
    fake.inject_topic_text(TOKEN, CONSULTANT, GROUP, thread, "/close")
        .unwrap();
    let c = conversation_where(&app, &token, &id, |c| c["state"] == "closed").await;
    assert_eq!(c["notes"][0]["text"], "звонил брат");
    eventually(WAIT, || async {
        fake.topics(TOKEN, GROUP)
            .first()
            .filter(|t| t["is_closed"] == true)
            .map(|_| ())
    })
    .await;
    // The person never got the note.
    assert!(
        !fake
            .sent_to(chat)
            .iter()
            .any(|m| m.to_string().contains("звонил брат"))
    );
    // Reopening from the console reopens the topic.
    let (status, _) = post(
        &app,
        &token,
        &format!("/api/v1/admin/conversations/{id}/reopen"),
        json!({}),
    )
    .await;
    assert_eq!(status, 204);
    eventually(WAIT, || async {
        fake.topics(TOKEN, GROUP)
            .first()
            .filter(|t| t["is_closed"] == false)
            .map(|_| ())
    })
    .await;
    app.stop().await;
    fake.stop().await.unwrap();
}
