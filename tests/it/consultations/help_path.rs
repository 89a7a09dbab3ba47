//! The help path is never silenced (issue 24, item 1): a flood of `/talk`
//! cannot spend the bot's budget, whoever writes to the bot gets the
//! emergency text whatever a budget says (and nothing is stored when it
//! refuses), `/talk` takes proof of work and a per-client budget of its
//! own, and a flood of junk conversations pages staff once per
//! `alert_after_minutes`, then as one digest.

use nasvyazi_telegram_fake::{ChatKind, NewChat};
use nasvyazi_tests::{TestApp, eventually, spawn_app_with};
use serde_json::json;

use super::*;
use crate::telegram::{declare, fake, new_chat, wait_sent};

/// Opens a conversation on the web from `client` (an `X-Forwarded-For`
/// address the app trusts), with or without a proof of work.
async fn talk(app: &TestApp, client: &str, proof: bool) -> u16 {
    let mut r = app
        .http
        .post(app.public_url("/api/v1/talk"))
        .header("x-forwarded-for", client)
        .json(&json!({"text": "junk junk junk", "language": "ru"}));
    if proof {
        r = r.header("x-proof-of-work", app.proof_of_work().await);
    }
    r.send().await.unwrap().status().as_u16()
}

async fn stored_person_messages(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM conversation_messages WHERE author = 'person'")
        .fetch_one(&app.infra.db)
        .await
        .unwrap()
}

/// What the bot sent to `chat`, as texts.
fn texts(fake: &nasvyazi_telegram_fake::TelegramFake, chat: i64) -> Vec<String> {
    fake.sent_to(chat)
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_flood_of_talk_never_silences_the_bot_and_every_writer_gets_the_emergency_text() {
    let fake = fake().await;
    let app = spawn_app_with(&config(
        &fake,
        "new_conversations_per_minute = 3\nperson_messages_per_minute = 2\n\
         web_conversations_per_client_per_hour = 1000\n\
         [limits]\npublic_posts_per_minute = 1000\nproof_of_work = \"on\"\n\
         [http]\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
    ))
    .await;

    // The attack: three addresses post /talk until the web's budget of new
    // conversations is spent. Without a proof of work nothing is taken.
    assert_eq!(talk(&app, "198.51.100.1", false).await, 429);
    let mut busy = 0;
    for i in 0..12 {
        let client = format!("198.51.100.{}", 1 + i % 3);
        match talk(&app, &client, true).await {
            201 => {}
            503 => busy += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy >= 8, "the web's budget is spent: {busy} refusals");

    // A person writes to the bot now: the automatic answer with the
    // emergency text, and the message is stored for a consultant.
    let before = stored_person_messages(&app).await;
    let person = new_chat();
    declare(&fake, person);
    fake.inject_text(TOKEN, person, person, "Передозировка, друг не дышит")
        .unwrap();
    let first = wait_sent(&fake, person, 1).await[0].clone();
    let text = first["text"].as_str().unwrap();
    assert!(text.contains("103"), "the emergency text: {text}");
    eventually(WAIT, || async {
        (stored_person_messages(&app).await == before + 1).then_some(())
    })
    .await;

    // The bot's own budget (3 a minute here) spent by more people: each of
    // them still gets the emergency text; nothing of theirs is stored.
    let others: Vec<i64> = (0..4).map(|_| new_chat()).collect();
    for chat in &others {
        declare(&fake, *chat);
        fake.inject_text(TOKEN, *chat, *chat, "помогите, передоз")
            .unwrap();
    }
    for chat in &others {
        let m = wait_sent(&fake, *chat, 1).await;
        let text = m[0]["text"].as_str().unwrap();
        assert!(text.contains("103"), "every writer: {text}");
    }
    let conversations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM conversations WHERE channel = 'telegram'")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(conversations, 3, "the bot's budget: 3 a minute");
    let refused = texts(&fake, others[3]);
    assert!(
        refused[0].contains("напишите ещё раз"),
        "told to write again: {refused:?}"
    );

    // One person over their own flood limit: the refused messages are not
    // stored, and each is answered with the emergency text all the same.
    for i in 0..3 {
        fake.inject_text(TOKEN, person, person, &format!("ещё {i}"))
            .unwrap();
    }
    let m = wait_sent(&fake, person, 3).await;
    assert!(
        m[1..]
            .iter()
            .all(|m| m["text"].as_str().unwrap().contains("103")),
        "{m:?}"
    );
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("nasvyazi_emergency_answers_total{reason=\"global\"}"),
        "counted"
    );
    app.stop().await;
    fake.stop().await.unwrap();
}

#[tokio::test]
async fn talk_has_a_per_client_budget_of_its_own() {
    let app = spawn_app_with(
        "[consultations]\nweb_conversations_per_client_per_hour = 2\n\
         [limits]\npublic_posts_per_minute = 1000\n[http]\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
    )
    .await;
    assert_eq!(talk(&app, "203.0.113.7", true).await, 201);
    assert_eq!(talk(&app, "203.0.113.7", true).await, 201);
    assert_eq!(talk(&app, "203.0.113.7", true).await, 429, "the third");
    assert_eq!(talk(&app, "203.0.113.8", true).await, 201, "another client");
    // The page: the form again, with the emergency text, the proof of work
    // field, and what was typed kept when it cannot be taken.
    let html = app
        .http
        .get(app.public_url("/talk?lang=ru"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("103"), "the emergency text on the form");
    app.stop().await;
}

#[tokio::test]
async fn junk_conversations_page_staff_once_per_window_then_as_one_digest() {
    let fake = fake().await;
    let staff_chat: i64 = -1_009_000_000_077;
    fake.add_chat(NewChat {
        id: staff_chat,
        kind: ChatKind::Supergroup,
        title: Some("Staff".into()),
        username: None,
    })
    .unwrap();
    let app = spawn_app_with(&format!(
        "{}\n[consultations]\nhours = \"Mon-Sun 00:00-24:00\"\nalert_after_minutes = 30\n\
         web_conversations_per_client_per_hour = 1000\n[limits]\npublic_posts_per_minute = 1000\n",
        crate::telegram::config(&fake, &format!("staff_chat = \"{staff_chat}\""))
    ))
    .await;
    const JUNK: i64 = 12;
    for _ in 0..JUNK {
        assert_eq!(talk(&app, "127.0.0.1", true).await, 201);
    }
    // Every conversation has its "new" alert; one was paged.
    eventually(WAIT, || async {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM conversation_alerts WHERE reason = 'new'")
                .fetch_one(&app.infra.db)
                .await
                .ok()?;
        (n == JUNK).then_some(())
    })
    .await;
    let page = eventually(WAIT, || async { fake.sent_to(staff_chat).first().cloned() }).await;
    assert!(page["text"].as_str().unwrap().contains("NS-"), "{page}");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(fake.sent_to(staff_chat).len(), 1, "one page per window");
    let held: i64 =
        sqlx::query_scalar("SELECT count(*) FROM conversation_alerts WHERE paged_at IS NULL")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(held, JUNK - 1);

    // Within the window nothing more; once it has passed, one digest.
    nasvyazi_notifier::consultations::alert_waiting(&app.infra.db, &app.config)
        .await
        .unwrap();
    sqlx::query("UPDATE conversation_alerts SET paged_at = paged_at - interval '31 minutes'")
        .execute(&app.infra.db)
        .await
        .unwrap();
    nasvyazi_notifier::consultations::alert_waiting(&app.infra.db, &app.config)
        .await
        .unwrap();
    let digest = eventually(WAIT, || async { fake.sent_to(staff_chat).get(1).cloned() }).await;
    let text = digest["text"].as_str().unwrap();
    assert!(text.contains(&(JUNK - 1).to_string()), "{text}");
    nasvyazi_notifier::consultations::alert_waiting(&app.infra.db, &app.config)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(fake.sent_to(staff_chat).len(), 2, "no third page");
    app.stop().await;
    fake.stop().await.unwrap();
}
