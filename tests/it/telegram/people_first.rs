//! One budget per bot, people first (issue 26): during a broadcast, what
//! the bot answers to people who write goes ahead of the broadcast's next
//! message; nothing they are owed is dropped, and Telegram (the fake,
//! strict) never answers 429.

use nasvyazi_tests::{eventually, spawn_app_with};

use super::*;

#[tokio::test]
async fn during_a_broadcast_every_writer_is_answered_first_and_nothing_is_dropped() {
    const SUBSCRIBERS: usize = 240;
    const WRITERS: usize = 8;
    let fake = fake().await;
    let app = spawn_app_with(&format!(
        "{}\n[consultations]\nhours = \"Mon-Sun 00:00-24:00\"\n",
        config(&fake, "")
    ))
    .await;
    // The sending lease is the notifier's: front hands its answers over.
    eventually(WAIT, || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM leases WHERE name LIKE 'telegram-send:%' AND expires_at > now()",
        )
        .fetch_one(&app.infra.db)
        .await
        .ok()
        .filter(|n| *n == 1)
    })
    .await;
    let mut rows = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let chat = new_chat();
        declare(&fake, chat);
        rows.push((active_contact(&app, chat).await, "telegram"));
    }
    let writers: Vec<i64> = (0..WRITERS).map(|_| new_chat()).collect();
    for w in &writers {
        declare(&fake, *w);
    }
    let broadcast = |fake: &TelegramFake| -> Vec<i64> {
        fake.sent_records(None)
            .iter()
            .filter(|r| {
                r["message"]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("Broadcast"))
            })
            .filter_map(|r| r["chat_id"].as_i64())
            .collect()
    };
    let occurrence = queue_campaign(&app, "Broadcast {{ campaign }}", &rows).await;
    // The broadcast is under way (about 8 s at 30 a second).
    eventually(WAIT, || async {
        (broadcast(&fake).len() >= 30).then_some(())
    })
    .await;
    for w in &writers {
        fake.inject_text(TOKEN, *w, *w, "Помогите, друг не дышит")
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Every writer gets the automatic answer with the emergency text.
    for w in &writers {
        let m = wait_sent(&fake, *w, 1).await;
        let text = m[0]["text"].as_str().unwrap();
        assert!(text.contains("103"), "{text}");
    }
    let done = wait_final(&app, occurrence).await;
    assert!(done.iter().all(|r| r.1 == "sent"), "{done:?}");
    // Each answer went while the broadcast was still going: ahead of the
    // broadcast's remaining messages, not after them.
    let log = fake.sent_records(None);
    let position = |pred: &dyn Fn(&serde_json::Value) -> bool| log.iter().position(pred);
    let last_broadcast = log
        .iter()
        .rposition(|r| {
            r["message"]["text"]
                .as_str()
                .is_some_and(|t| t.contains("Broadcast"))
        })
        .unwrap();
    for w in &writers {
        let at = position(&|r| r["chat_id"].as_i64() == Some(*w)).unwrap();
        let behind = log[at..]
            .iter()
            .filter(|r| {
                r["message"]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("Broadcast"))
            })
            .count();
        assert!(
            at < last_broadcast && behind > 0,
            "the answer waited for the broadcast to end ({at} of {})",
            log.len()
        );
    }
    assert_eq!(
        fake.count_429(),
        0,
        "one budget: never over Telegram's limits"
    );
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM bot_answers")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(queued, 0, "every queued answer was sent");
    app.stop().await;
    fake.stop().await.unwrap();
}
