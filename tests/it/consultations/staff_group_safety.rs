//! Issue 24, the staff group's attacks, each reproduced through the Bot API
//! fake: a topic's service message (a rename, a pin, a close...) taken for
//! a consultant's answer; `/forget` and retention leaving the person's
//! words in the group (and Telegram refusing to delete them); a
//! `@username` (public) staff group; a group made public later; and the
//! audit naming only `telegram-staff-group`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::Parser;
use nasvyazi_front::consultations::staff_group;
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_telegram_fake::{
    BotMembership, BotRights, BotStatus, NewForum, ServiceAction, TelegramFake,
};
use nasvyazi_tests::{TestApp, assert_no_plaintext, eventually, spawn_app_with};
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::console::{PASSWORD, user};
use crate::security::agent::Agent;
use crate::telegram::{declare, fake, keys, new_chat, wait_sent};

const GROUP: i64 = -1_002_345_678_901;

/// A staff member's Telegram user id no other test uses (10 digits).
fn staff_member() -> i64 {
    7_000_000_000 + (Uuid::new_v4().as_u128() % 1_000_000_000) as i64
}

/// The bot's rights in the group: an administrator that manages topics and
/// pins, and deletes messages when `can_delete`.
fn rights(fake: &TelegramFake, can_delete: bool) {
    fake.set_bot_membership(BotMembership {
        chat_id: GROUP,
        status: BotStatus::Administrator,
        can_manage_topics: true,
        can_pin_messages: true,
        can_delete_messages: can_delete,
        ..Default::default()
    })
    .unwrap();
}

/// The fake with the private staff forum, and the app using it.
async fn setup(can_delete: bool) -> (TelegramFake, TestApp) {
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
    .unwrap();
    rights(&fake, can_delete);
    let app = spawn_app_with(&config(&fake, &format!("staff_group = \"{GROUP}\"\n"))).await;
    (fake, app)
}

/// A new person writes `text`; waits for the automatic answer and the copy
/// in the group. Returns (chat, thread, the copy's message id).
async fn person_writes(fake: &TelegramFake, text: &str) -> (i64, i64, i64) {
    let chat = new_chat();
    declare(fake, chat);
    fake.inject_text(TOKEN, chat, chat, text).unwrap();
    wait_sent(fake, chat, 1).await;
    let copy = eventually(WAIT, || async {
        records(fake, GROUP)
            .into_iter()
            .find(|r| r["method"] == "copyMessage" && r["message"]["text"] == text)
    })
    .await;
    (
        chat,
        copy["message_thread_id"].as_i64().unwrap(),
        copy["message_id"].as_i64().unwrap(),
    )
}

/// The conversation whose topic is `thread`.
async fn conversation_of(app: &TestApp, thread: i64) -> String {
    let id: Uuid = sqlx::query_scalar("SELECT id FROM conversations WHERE staff_thread_id = $1")
        .bind(thread)
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    id.to_string()
}

/// (first_response_at, replies queued or sent) of a conversation.
async fn answered(app: &TestApp, id: &str) -> (Option<DateTime<Utc>>, i64) {
    sqlx::query_as(
        "SELECT c.first_response_at,
                (SELECT count(*) FROM conversation_messages m
                 WHERE m.conversation_id = c.id AND m.delivery IS NOT NULL)
         FROM conversations c WHERE c.id = $1::uuid",
    )
    .bind(id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap()
}

/// Topics waiting to be deleted: (rows, rows with a refused attempt).
async fn cleanup_rows(app: &TestApp) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE attempts > 0) FROM staff_group_cleanup")
        .fetch_one(&app.infra.db)
        .await
        .unwrap()
}

/// The inbox page as a consultant signed in to the console sees it.
async fn inbox_page(app: &TestApp, email: &str) -> String {
    let mut a = Agent::new(app);
    a.sign_in(email, PASSWORD).await;
    let r = a.get("/admin/conversations").await;
    assert_eq!(r.status().as_u16(), 200);
    r.text().await.unwrap()
}

#[tokio::test]
async fn a_topic_service_message_is_no_answer() {
    let (fake, app) = setup(true).await;
    let token = consultant(&app).await;
    let (chat, thread, copy_id) = person_writes(&fake, "мне страшно, что делать").await;
    let id = conversation_of(&app, thread).await;
    let staff = staff_member();

    // A staff member renames the topic, pins the person's message, closes
    // and reopens the topic; someone joins and leaves; the group is
    // renamed. Telegram sends each as a message with no text.
    let actions: Vec<(Option<i64>, ServiceAction)> = vec![
        (
            Some(thread),
            ServiceAction::EditTopic {
                name: Some("Срочно".into()),
                icon_custom_emoji_id: None,
            },
        ),
        (
            None,
            ServiceAction::Pin {
                message_id: copy_id,
            },
        ),
        (Some(thread), ServiceAction::CloseTopic),
        (Some(thread), ServiceAction::ReopenTopic),
        (
            None,
            ServiceAction::Join {
                members: vec![staff + 1],
            },
        ),
        (
            None,
            ServiceAction::Leave {
                member: Some(staff + 1),
            },
        ),
        (
            None,
            ServiceAction::Title {
                title: "Консультанты 2".into(),
            },
        ),
    ];
    for (in_thread, action) in actions {
        let update = fake
            .inject_service(TOKEN, staff, GROUP, in_thread, action)
            .unwrap();
        assert!(update["message"].get("text").is_none());
    }
    // Updates are applied in order: once this note is in, all are.
    fake.inject_topic_text(TOKEN, staff, GROUP, thread, "/note отметка")
        .unwrap();
    let c = conversation_where(&app, &token, &id, |c| {
        c["notes"].as_array().is_some_and(|n| !n.is_empty())
    })
    .await;
    // Nothing changed: still waiting for us, nothing queued, no answer.
    assert_eq!(c["state"], "open");
    assert_eq!(c["waiting_for"], "staff");
    assert!(
        c["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["from"] != "staff"),
        "{c}"
    );
    assert_eq!(answered(&app, &id).await, (None, 0));
    assert_eq!(fake.sent_to(chat).len(), 1, "the automatic answer only");
    // ... so the waiting alert still fires.
    sqlx::query(
        "UPDATE conversations SET waiting_since = now() - interval '31 minutes' WHERE id = $1::uuid",
    )
    .bind(&id)
    .execute(&app.infra.db)
    .await
    .unwrap();
    nasvyazi_notifier::consultations::alert_waiting(&app.infra.db, &app.config)
        .await
        .unwrap();
    let alerts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM conversation_alerts WHERE conversation_id = $1::uuid AND reason = 'waiting'",
    )
    .bind(&id)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(alerts, 1);

    // A real answer still is one; the audit names the staff member only
    // sealed.
    fake.inject_topic_text(TOKEN, staff, GROUP, thread, "Мы рядом, пейте воду")
        .unwrap();
    let answer = wait_sent(&fake, chat, 2).await[1].clone();
    assert_eq!(answer["text"], "Мы рядом, пейте воду");
    assert!(answered(&app, &id).await.0.is_some());
    let target = format!("conversation:{id}");
    let rows: Vec<(String, String, Value)> = sqlx::query_as(
        "SELECT action, actor, details FROM audit_log WHERE target = $1
           AND action IN ('conversation.replied', 'conversation.noted') ORDER BY id",
    )
    .bind(&target)
    .fetch_all(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let keys = keys(&app);
    let mut conn = app.infra.db.acquire().await.unwrap();
    for (action, actor, details) in &rows {
        assert_eq!(actor, staff_group::ACTOR, "{action}");
        assert!(
            !details.to_string().contains(&staff.to_string()),
            "{details}"
        );
        let identity: Uuid = details["staff"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            staff_group::open_staff_identity(&mut conn, &keys, identity)
                .await
                .unwrap(),
            Some(staff),
            "{action}"
        );
    }
    // One staff member, one identity.
    assert_eq!(rows[0].2["staff"], rows[1].2["staff"]);
    drop(conn);
    assert_no_plaintext(&app, &staff.to_string()).await;
    app.stop().await;
    fake.stop().await.unwrap();
}

#[tokio::test]
async fn forget_and_retention_delete_the_topic_from_the_staff_group() {
    let (fake, app) = setup(true).await;
    let token = consultant(&app).await;
    let staff = staff_member();

    // /forget: the topic goes with every message in it.
    let (chat, thread, copy_id) = person_writes(&fake, "первый: моё личное").await;
    fake.inject_topic_text(TOKEN, staff, GROUP, thread, "ответ сотрудника")
        .unwrap();
    wait_sent(&fake, chat, 2).await;
    assert!(fake.has_message(TOKEN, GROUP, copy_id));
    fake.inject_text(TOKEN, chat, chat, "/forget").unwrap();
    wait_sent(&fake, chat, 3).await;
    eventually(WAIT, || async {
        fake.topic_messages(TOKEN, GROUP, thread)
            .is_empty()
            .then_some(())
    })
    .await;
    assert!(!fake.has_message(TOKEN, GROUP, copy_id));
    assert!(
        fake.topics(TOKEN, GROUP)
            .iter()
            .all(|t| t["message_thread_id"] != thread)
    );
    assert!(
        !fake
            .sent_to(GROUP)
            .iter()
            .any(|m| m.to_string().contains("моё личное"))
    );
    eventually(WAIT, || async {
        (cleanup_rows(&app).await == (0, 0)).then_some(())
    })
    .await;

    // Retention: a closed conversation erased 90 days later takes its
    // topic with it.
    let (_, thread2, copy2) = person_writes(&fake, "второй: тоже личное").await;
    let id2 = conversation_of(&app, thread2).await;
    let (status, _) = post(
        &app,
        &token,
        &format!("/api/v1/admin/conversations/{id2}/close"),
        json!({}),
    )
    .await;
    assert_eq!(status, 204);
    sqlx::query(
        "UPDATE conversations SET closed_at = now() - interval '91 days' WHERE id = $1::uuid",
    )
    .bind(&id2)
    .execute(&app.infra.db)
    .await
    .unwrap();
    let erased =
        nasvyazi_front::consultations::retention::erase_expired(&app.infra.db, 90, "Asia/Almaty")
            .await
            .unwrap();
    assert_eq!(erased, 1);
    eventually(WAIT, || async {
        (!fake.has_message(TOKEN, GROUP, copy2)).then_some(())
    })
    .await;
    assert!(fake.topic_messages(TOKEN, GROUP, thread2).is_empty());
    assert!(fake.topics(TOKEN, GROUP).is_empty());
    eventually(WAIT, || async {
        (cleanup_rows(&app).await == (0, 0)).then_some(())
    })
    .await;
    app.stop().await;
    fake.stop().await.unwrap();
}

#[tokio::test]
async fn a_refused_deletion_is_counted_on_the_console_and_retried() {
    // The bot may not delete messages: Telegram refuses to delete a topic
    // where a staff member wrote.
    let (fake, app) = setup(false).await;
    let email = "aigerim.staffgroup@forum.example.kz";
    user(&app, Role::Consultant, "Айгерим", email, Lang::Ru).await;
    let (chat, thread, copy_id) = person_writes(&fake, "третий: не для чужих глаз").await;
    let number: String =
        sqlx::query_scalar("SELECT number FROM conversations WHERE staff_thread_id = $1")
            .bind(thread)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    fake.inject_topic_text(TOKEN, staff_member(), GROUP, thread, "держитесь")
        .unwrap();
    wait_sent(&fake, chat, 2).await;
    fake.inject_text(TOKEN, chat, chat, "/forget").unwrap();
    wait_sent(&fake, chat, 3).await;
    eventually(WAIT, || async {
        (cleanup_rows(&app).await == (1, 1)).then_some(())
    })
    .await;
    assert!(fake.has_message(TOKEN, GROUP, copy_id), "Telegram refused");
    // Only the thread id waits for the retry: nothing of the person.
    let kept: (Option<i64>, i64) =
        sqlx::query_as("SELECT group_id, thread_id FROM staff_group_cleanup")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(kept, (Some(GROUP), thread));
    assert_no_plaintext(&app, &chat.to_string()).await;

    // The console says how many, never which; and why.
    let page = inbox_page(&app, email).await;
    assert!(
        page.contains(
            "1 стёртый здесь разговор пока не удалось убрать из группы сотрудников; пробуем снова."
        ),
        "{page}"
    );
    assert!(page.contains("«Удаление сообщений»"), "{page}");
    assert!(!page.contains(&number));

    // The right is given; the retry deletes the topic and the count goes.
    rights(&fake, true);
    sqlx::query("UPDATE staff_group_cleanup SET next_attempt_at = now()")
        .execute(&app.infra.db)
        .await
        .unwrap();
    sqlx::query(&format!("NOTIFY {}", staff_group::CLEANUP_WAKE))
        .execute(&app.infra.db)
        .await
        .unwrap();
    eventually(WAIT, || async {
        (!fake.has_message(TOKEN, GROUP, copy_id)).then_some(())
    })
    .await;
    assert!(fake.topic_messages(TOKEN, GROUP, thread).is_empty());
    eventually(WAIT, || async {
        (cleanup_rows(&app).await == (0, 0)).then_some(())
    })
    .await;
    let page = inbox_page(&app, email).await;
    assert!(!page.contains("staff-group-cleanup"), "{page}");
    app.stop().await;
    fake.stop().await.unwrap();
}

#[tokio::test]
async fn a_staff_group_username_is_refused_at_start_up() {
    let dir = std::env::temp_dir().join(nasvyazi_tests::unique_name("staffgroup"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("nasvyazi.toml");
    std::fs::write(
        &file,
        "[consultations]\nstaff_group = \"@forum_staff_room\"\n",
    )
    .unwrap();
    let cli = nasvyazi_cli::Cli::parse_from(["nasvyazi", "--config", file.to_str().unwrap(), "up"]);
    let mut out = Vec::new();
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        nasvyazi_cli::execute(cli, &mut out),
    )
    .await
    .expect("refused at once, not started");
    let e = format!("{:#}", refused.expect_err("a public group is refused"));
    assert!(e.contains("`consultations.staff_group`"), "{e}");
    assert!(e.contains("private supergroup"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_staff_group_made_public_gets_nothing_and_is_not_listened_to() {
    let (fake, app) = setup(true).await;
    let email = "dana.staffgroup@forum.example.kz";
    user(&app, Role::Consultant, "Дана", email, Lang::Ru).await;
    let (chat, thread, _) = person_writes(&fake, "до: можно").await;
    let id = conversation_of(&app, thread).await;
    let copies = || {
        records(&fake, GROUP)
            .iter()
            .filter(|r| r["method"] == "copyMessage")
            .count()
    };
    assert_eq!(copies(), 1);

    // Someone gives the group a username: anyone can join and read it.
    fake.set_chat_username(GROUP, Some("forum_staff_open"))
        .unwrap();
    // The app checks every minute; here at once.
    let bot = nasvyazi_front::bot::Bot::from_config(&app.infra, Arc::new(keys(&app)))
        .unwrap()
        .unwrap();
    let state = staff_group::check(&bot).await.unwrap().unwrap();
    assert!(state.public);

    // The person writes: nothing is copied into the public group.
    fake.inject_text(TOKEN, chat, chat, "после: тайное")
        .unwrap();
    fake.inject_text(TOKEN, chat, chat, "/help").unwrap();
    wait_sent(&fake, chat, 2).await;
    assert_eq!(copies(), 1);
    assert!(
        !fake
            .sent_to(GROUP)
            .iter()
            .any(|m| m.to_string().contains("тайное"))
    );
    // A "reply" from the public group is refused: stored nowhere, sent to
    // nobody, nothing said in the group.
    let sent_to_group = fake.sent_to(GROUP).len();
    fake.inject_topic_text(
        TOKEN,
        staff_member(),
        GROUP,
        thread,
        "ответ из открытой группы",
    )
    .unwrap();
    fake.inject_text(TOKEN, chat, chat, "/help").unwrap();
    wait_sent(&fake, chat, 3).await;
    assert!(
        !fake
            .sent_to(chat)
            .iter()
            .any(|m| m.to_string().contains("ответ из открытой группы"))
    );
    assert_eq!(answered(&app, &id).await, (None, 0));
    assert_eq!(fake.sent_to(GROUP).len(), sent_to_group);
    // The console warns, and the log says so (no personal data).
    let page = inbox_page(&app, email).await;
    assert!(page.contains("Группа сотрудников публичная"), "{page}");
    assert!(
        nasvyazi_tests::logs::captured().contains("the staff group is public"),
        "logged"
    );

    // Private again: mirroring resumes.
    fake.set_chat_username(GROUP, None).unwrap();
    assert!(!staff_group::check(&bot).await.unwrap().unwrap().public);
    fake.inject_text(TOKEN, chat, chat, "снова: видно").unwrap();
    eventually(WAIT, || async { (copies() == 2).then_some(()) }).await;
    let page = inbox_page(&app, email).await;
    assert!(!page.contains("Группа сотрудников публичная"), "{page}");
    app.stop().await;
    fake.stop().await.unwrap();
}
