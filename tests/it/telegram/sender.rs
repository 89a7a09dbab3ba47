//! The sender: the adapter against the fake (429, 400, escaping, splitting,
//! the rate limits), channel posts and staff alerts, the lease, and the one
//! notifier that sends while another waits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nasvyazi_notifier::channels::telegram::Telegram;
use nasvyazi_notifier::channels::{Channel, Outgoing, SendError, TelegramMessage};
use nasvyazi_notifier::telegram::posts;
use nasvyazi_shared::lease::Lease;
use nasvyazi_shared::telegram::text::fill_html;
use nasvyazi_shared::{Config, Infra};
use nasvyazi_tests::{eventually, spawn_app_with};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::*;

fn adapter(fake: &TelegramFake) -> Telegram {
    let config = Config::from_toml(&config(fake, "")).unwrap();
    Telegram::from_config(&config.telegram).unwrap().unwrap()
}

fn message(chat: i64, html: &str) -> Outgoing {
    Outgoing::Telegram(TelegramMessage {
        chat: chat.to_string(),
        html: html.to_string(),
        reply_markup: None,
        media: Vec::new(),
    })
}

#[tokio::test]
async fn a_429_is_transient_with_telegrams_retry_after() {
    let fake = fake().await;
    let chat = new_chat();
    declare(&fake, chat);
    // Two processes that do not share limits (what the lease prevents).
    let (a, b) = (adapter(&fake), adapter(&fake));
    a.send(&message(chat, "one")).await.unwrap();
    match b.send(&message(chat, "two")).await {
        Err(SendError::Transient {
            retry_after: Some(d),
            reason,
        }) => {
            assert_eq!(d, Duration::from_secs(1));
            assert!(
                reason.starts_with("telegram 429: Too Many Requests"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    // One adapter spaces messages to one chat itself.
    let started = Instant::now();
    a.send(&message(chat, "three")).await.unwrap();
    a.send(&message(chat, "four")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(fake.count_429(), 1);
}

#[tokio::test]
async fn a_400_is_permanent_with_the_description() {
    let fake = fake().await;
    let chat = new_chat();
    declare(&fake, chat);
    match adapter(&fake)
        .send(&message(chat, "<blink>x</blink>"))
        .await
    {
        Err(SendError::Permanent { reason, suppress }) => {
            assert!(!suppress);
            assert!(
                reason.starts_with("telegram 400: Bad Request: can't parse entities"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    match adapter(&fake).send(&message(new_chat(), "hello")).await {
        Err(SendError::Permanent { reason, .. }) => {
            assert_eq!(reason, "telegram 400: Bad Request: chat not found")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn values_are_escaped_and_long_messages_split_at_paragraphs() {
    let fake = fake().await;
    let chat = new_chat();
    declare(&fake, chat);
    let tg = adapter(&fake);
    let value = "<script>alert('x')</script> & \"Forum\" <b>";
    let html = fill_html("<b>{org}</b>: {value}", &[("org", "A&B"), ("value", value)]);
    tg.send(&message(chat, &html)).await.unwrap();
    let sent = wait_sent(&fake, chat, 1).await;
    assert_eq!(sent[0]["text"], json!(format!("A&B: {value}")));
    assert_eq!(sent[0]["entities"][0]["type"], json!("bold"));

    let paragraph = |c: &str| format!("<i>{}</i>", format!("{c} ").repeat(450).trim_end());
    let long = [paragraph("абв"), paragraph("где"), paragraph("жзи")].join("\n\n");
    let sent = tg.send(&message(chat, &long)).await.unwrap();
    assert_eq!(sent.provider_message_id.unwrap().split(',').count(), 2);
    let parts = wait_sent(&fake, chat, 3).await;
    let texts: Vec<&str> = parts[1..]
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert!(texts.iter().all(|t| t.chars().count() <= 4096));
    assert!(
        texts[0].starts_with("абв") && texts[0].ends_with("где"),
        "at a paragraph"
    );
    assert!(texts[1].starts_with("жзи") && texts[1].ends_with("жзи"));
    assert_eq!(parts[2]["entities"][0]["type"], json!("italic"));
    assert_eq!(fake.count_429(), 0);
}

#[tokio::test]
async fn forty_chats_at_once_get_no_429_and_the_bot_limit_holds() {
    let fake = fake().await;
    let chats: Vec<i64> = (0..40).map(|_| new_chat()).collect();
    for c in &chats {
        declare(&fake, *c);
    }
    let tg = Arc::new(adapter(&fake));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in chats.clone() {
        let tg = tg.clone();
        tasks.spawn(async move { tg.send(&message(c, "Сообщение")).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    // 40 > 30: the last ten waited for the window to move.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.count_429(), 0);
    assert_eq!(fake.sent().len(), 40);
}

#[tokio::test]
async fn channel_posts_staff_alerts_and_a_400_in_the_ledger() {
    let fake = fake().await;
    let (channel, staff) = (-1_001_234_567_890_i64, -1_009_876_543_210_i64);
    fake.add_chat(NewChat {
        id: channel,
        kind: ChatKind::Channel,
        title: Some("Forum news".into()),
        username: Some("forum_kz_news".into()),
    })
    .unwrap();
    fake.add_chat(NewChat {
        id: staff,
        kind: ChatKind::Supergroup,
        title: Some("Staff".into()),
        username: None,
    })
    .unwrap();
    let app = spawn_app_with(&config(
        &fake,
        &format!("channel = \"@forum_kz_news\"\nstaff_chat = \"{staff}\""),
    ))
    .await;

    // Through the ledger: one post per occurrence to the channel.
    let occurrence = queue_campaign(
        &app,
        "<b>{{ campaign }}</b>",
        &[(Uuid::nil(), "telegram_channel")],
    )
    .await;
    assert_eq!(wait_final(&app, occurrence).await[0].1, "sent");
    let post = wait_sent(&fake, channel, 1).await.remove(0);
    assert_eq!(post["text"], json!("Day <of> remembrance"));
    assert_eq!(post["sender_chat"]["id"], json!(channel));

    // A template Telegram refuses: failed for good, Telegram's words kept.
    let occurrence = queue_campaign(
        &app,
        "<blink>{{ campaign }}</blink>",
        &[(Uuid::nil(), "telegram_channel")],
    )
    .await;
    let row = wait_final(&app, occurrence).await.remove(0);
    assert_eq!(row.1, "failed");
    assert!(
        row.2
            .as_deref()
            .unwrap()
            .starts_with("telegram 400: Bad Request: can't parse entities"),
        "{:?}",
        row.2
    );

    // A staff alert, as the appeals work produces it.
    let alert =
        posts::staff_alert(&app.config, "Новое обращение <b>A-2026-0001</b>".into()).unwrap();
    adapter(&fake).send(&alert).await.unwrap();
    let sent = wait_sent(&fake, staff, 1).await;
    assert_eq!(sent[0]["text"], json!("Новое обращение A-2026-0001"));
    assert_eq!(fake.count_429(), 0);
    app.stop().await;
}

#[tokio::test]
async fn the_lease_is_exclusive_renewed_and_taken_over_after_expiry() {
    let app = spawn_app_with("").await;
    let db = &app.infra.db;
    let ttl = Duration::from_millis(800);
    let (a, b) = (Lease::new("test-lease", ttl), Lease::new("test-lease", ttl));
    assert!(a.acquire(db).await.unwrap());
    assert!(!b.acquire(db).await.unwrap());
    assert!(a.acquire(db).await.unwrap(), "the holder renews");
    assert!(a.is_held() && !b.is_held());
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    assert!(!a.is_held(), "a holder stops trusting an expired lease");
    assert!(
        b.acquire(db).await.unwrap(),
        "an expired lease is taken over"
    );
    assert!(!a.acquire(db).await.unwrap());
    b.release(db).await.unwrap();
    assert!(
        a.acquire(db).await.unwrap(),
        "a released lease is free at once"
    );
    app.stop().await;
}

#[tokio::test]
async fn with_two_notifiers_only_the_lease_holder_sends() {
    let (fake_a, fake_b) = (fake().await, fake().await);
    let app = spawn_app_with(&config(&fake_a, "")).await;
    let holder: uuid::Uuid = eventually(WAIT, || async {
        sqlx::query_scalar("SELECT holder FROM leases WHERE name = 'telegram-send:5550001'")
            .fetch_optional(&app.infra.db)
            .await
            .unwrap()
    })
    .await;

    // A second notifier on the same database and bot token, whose Bot API
    // is another fake: whatever it sends lands there.
    let mut other = (*app.config).clone();
    other.telegram.api_base = fake_b.base_url();
    let other = Arc::new(other);
    let stop_b = CancellationToken::new();
    let infra_b = Infra::connect(other.clone(), "notifier-b").await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b = tokio::spawn(nasvyazi_notifier::run_with(
        infra_b,
        listener,
        stop_b.clone(),
    ));

    let chats: Vec<i64> = (0..6).map(|_| new_chat()).collect();
    let mut rows = Vec::new();
    for c in &chats {
        declare(&fake_a, *c);
        declare(&fake_b, *c);
        rows.push((active_contact(&app, *c).await, "telegram"));
    }
    let occurrence = queue_campaign(&app, "{{ campaign }}", &rows).await;
    let done = wait_final(&app, occurrence).await;
    assert!(done.iter().all(|r| r.1 == "sent"), "{done:?}");
    assert_eq!(fake_a.sent().len(), 6);
    assert!(
        fake_b.sent().is_empty(),
        "the notifier without the lease sent nothing"
    );
    let still: uuid::Uuid =
        sqlx::query_scalar("SELECT holder FROM leases WHERE name = 'telegram-send:5550001'")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(still, holder);
    stop_b.cancel();
    b.await.unwrap().unwrap();
    app.stop().await;
}
