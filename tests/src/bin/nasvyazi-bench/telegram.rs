//! Telegram: the notifier's adapter against the local Bot API fake, which
//! answers 429 to the first message over any of Telegram's limits. 3,000
//! direct messages to 3,000 chats (target: at least 29 per second of the
//! bot's 30, no 429 at all) and 60 messages to one group (target: Telegram's
//! 20 per minute, no 429; about three minutes).

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use nasvyazi_notifier::channels::telegram::Telegram;
use nasvyazi_notifier::channels::{Channel, Outgoing, TelegramMessage};
use nasvyazi_shared::Config;
use nasvyazi_telegram_fake::{ChatKind, FakeConfig, NewChat, TelegramFake};

use crate::results::Results;

const TOKEN: &str = "7000001:BENCH-token";
const CHATS: i64 = 3_000;
const GROUP_MESSAGES: usize = 60;

fn message(chat: i64, i: usize) -> Outgoing {
    Outgoing::Telegram(TelegramMessage {
        chat: chat.to_string(),
        html: format!("<b>День памяти</b>\nСообщение кампании № {i}: &lt;текст&gt;."),
        reply_markup: None,
        media: Vec::new(),
    })
}

/// Sends every message with up to `concurrency` at once; returns the
/// seconds from the first send to the last answer.
async fn send_all(
    tg: Arc<Telegram>,
    messages: Vec<Outgoing>,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let failures = futures::stream::iter(messages)
        .map(|m| {
            let tg = tg.clone();
            async move { tg.send(&m).await.err() }
        })
        .buffer_unordered(concurrency)
        .filter_map(|e| async move { e })
        .collect::<Vec<_>>()
        .await;
    anyhow::ensure!(
        failures.is_empty(),
        "{} sends failed, e.g. {}",
        failures.len(),
        failures[0]
    );
    Ok(started.elapsed().as_secs_f64())
}

pub async fn run() -> anyhow::Result<Results> {
    let mut results = Results::child();
    let fake = TelegramFake::start(FakeConfig {
        tokens: vec![TOKEN.into()],
        rate_limits: true,
    })
    .await?;
    let config = Config::from_toml(&format!(
        "[telegram]\napi_base = \"{}\"\ntoken = \"{TOKEN}\"\n",
        fake.base_url()
    ))?;
    // One adapter for both parts, as one notifier (the lease holder) sends:
    // a second one would not know the first's sends of the last second.
    let adapter = Arc::new(
        Telegram::from_config(&config.telegram)?.ok_or_else(|| anyhow::anyhow!("no token"))?,
    );

    // 3,000 people, one message each: the per-bot limit is what binds.
    let first = 6_000_000_000_000_i64;
    for chat in first..first + CHATS {
        fake.add_chat(NewChat {
            id: chat,
            kind: ChatKind::Private,
            title: None,
            username: None,
        })?;
    }
    let messages = (0..CHATS).map(|i| message(first + i, i as usize)).collect();
    eprintln!("   {CHATS} direct messages (about 100 s) ...");
    let secs = send_all(adapter.clone(), messages, 64).await?;
    let rate = CHATS as f64 / secs;
    let refused = fake.count_429();
    results.target(
        &format!("telegram: {CHATS} direct messages to {CHATS} chats"),
        rate,
        "msg/s",
        &format!("Bot API limit 30/s; target >= 29/s and no 429 (got {refused} x 429)"),
        rate >= 29.0 && refused == 0,
    );
    anyhow::ensure!(
        fake.stats().sent == CHATS as u64,
        "the fake did not get every message"
    );

    // One group: the 20-a-minute limit binds.
    let group = -1_007_000_000_001_i64;
    fake.add_chat(NewChat {
        id: group,
        kind: ChatKind::Supergroup,
        title: Some("Bench group".into()),
        username: None,
    })?;
    let before = fake.count_429();
    eprintln!("   {GROUP_MESSAGES} messages to one group (about 3 minutes) ...");
    // The clock starts when the first message has gone: the rate is that
    // of the 59 that each waited their turn behind it.
    adapter
        .send(&message(group, 0))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let messages = (1..GROUP_MESSAGES).map(|i| message(group, i)).collect();
    let secs = send_all(adapter, messages, 4).await?;
    let per_minute = (GROUP_MESSAGES - 1) as f64 / secs * 60.0;
    let refused = fake.count_429() - before;
    results.target(
        &format!("telegram: {GROUP_MESSAGES} messages to one group"),
        per_minute,
        "msg/min",
        &format!(
            "Bot API limit 20/min per group; target >= 19.5/min and no 429 (got {refused} x 429)"
        ),
        per_minute >= 19.5 && refused == 0,
    );
    fake.stop().await?;
    Ok(results)
}
