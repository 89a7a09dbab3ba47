//! The day of the push (issue 26): a campaign to 10,000 Telegram
//! subscribers and the configured channel; during its first two minutes
//! 500 different people write free text to the bot (evenly spread) and 200
//! subscribers press a button. Against the Bot API fake with Telegram's
//! limits enforced strictly, with the release `nasvyazi front` and
//! `nasvyazi notifier` as two processes (the notifier holds the bot's
//! sending lease; front hands it the answers).
//!
//! Targets: no 429 from the fake; the automatic answer's delay (the
//! person's message to the fake receiving the answer) p99 < 2 s, and every
//! writer got the emergency text; a button's answer (answerCallbackQuery)
//! p99 < 2 s; the bot's total sending rate while the broadcast runs
//! (broadcast + answers, / elapsed) >= 29 a second; the two processes'
//! peak resident memory. `BENCH_PUSH_SUBSCRIBERS` makes it smaller.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use nasvyazi_shared::crypto::random_token;
use nasvyazi_supporters::contacts::aad;
use nasvyazi_telegram_fake::{ChatKind, FakeConfig, NewChat, TelegramFake};
use uuid::Uuid;

use crate::results::Results;
use crate::support::{BenchDb, peak_rss_mib, percentile, spawn_service, stop};

const TOKEN: &str = "7000002:BENCH-push_token";
const WRITERS: usize = 500;
const PRESSERS: usize = 200;
/// The people write and press during this much of the broadcast's start.
const WINDOW: Duration = Duration::from_secs(120);
const FIRST_SUBSCRIBER: i64 = 6_100_000_000_000;
const FIRST_WRITER: i64 = 6_200_000_000_000;
const CHANNEL: i64 = -1_007_100_000_001;

/// `n` active Telegram subscribers, sealed as the bot seals them.
async fn insert_subscribers(db: &BenchDb, n: usize) -> anyhow::Result<()> {
    let mut i = 0;
    while i < n {
        let end = (i + 5_000).min(n);
        let (mut ids, mut bis, mut dks, mut cts, mut uh, mut uc) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for j in i..end {
            let id = Uuid::now_v7();
            let chat = (FIRST_SUBSCRIBER + j as i64).to_string();
            let (key, wrapped) = db.keys.new_data_key();
            let unsub = random_token(32);
            ids.push(id);
            bis.push(
                db.keys
                    .blind_index(nasvyazi_shared::telegram::BLIND_INDEX_KIND, &chat),
            );
            dks.push(wrapped);
            cts.push(key.seal(chat.as_bytes(), &aad(id, "address")));
            uh.push(db.keys.token_mac(&unsub));
            uc.push(key.seal(unsub.as_bytes(), &aad(id, "unsubscribe")));
        }
        sqlx::query(
            "INSERT INTO contacts (id, channel, status, blind_index, data_key, address_ct, language, topics,
                 unsub_token_hash, unsub_token_ct, confirmed_at)
             SELECT u.id, 'telegram', 'active', u.bi, u.dk, u.ct, 'ru', '{overdose}', u.uh, u.uc, now()
             FROM UNNEST($1::uuid[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[])
                  AS u(id, bi, dk, ct, uh, uc)",
        )
        .bind(&ids)
        .bind(&bis)
        .bind(&dks)
        .bind(&cts)
        .bind(&uh)
        .bind(&uc)
        .execute(&db.pool)
        .await?;
        i = end;
    }
    Ok(())
}

/// The campaign's occurrence with a delivery per subscriber and one to the
/// configured channel; the notifier is woken.
async fn queue_campaign(db: &BenchDb) -> anyhow::Result<Uuid> {
    let (campaign, occurrence) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO campaigns (id, name, status, schedule_kind, time_zone, channels, templates, quiet_start, quiet_end)
         VALUES ($1, 'push', 'approved', 'once', 'Asia/Almaty', ARRAY['telegram', 'telegram_channel'], $2, '00:00', '00:00')",
    )
    .bind(campaign)
    .bind(serde_json::json!({"ru": {"telegram":
        "<b>31 августа — Международный день информирования о передозировках.</b> Налоксон спасает жизни."}}))
    .execute(&db.pool)
    .await?;
    sqlx::query(
        "INSERT INTO occurrences (id, campaign_id, scheduled_at, status) VALUES ($1, $2, now(), 'triggered')",
    )
    .bind(occurrence)
    .bind(campaign)
    .execute(&db.pool)
    .await?;
    sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
         SELECT gen_random_uuid(), 'campaign', $1, id, 'telegram' FROM contacts WHERE channel = 'telegram'
         UNION ALL SELECT gen_random_uuid(), 'campaign', $1, $2, 'telegram_channel'",
    )
    .bind(occurrence)
    .bind(Uuid::nil())
    .execute(&db.pool)
    .await?;
    sqlx::query("SELECT pg_notify('deliveries_wake', '')")
        .execute(&db.pool)
        .await?;
    Ok(occurrence)
}

async fn wait_until(
    what: &str,
    limit: Duration,
    mut ok: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while !ok() {
        anyhow::ensure!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

pub async fn run() -> anyhow::Result<Results> {
    let mut results = Results::child();
    let subscribers: usize = std::env::var("BENCH_PUSH_SUBSCRIBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let fake = TelegramFake::start(FakeConfig {
        tokens: vec![TOKEN.into()],
        rate_limits: true,
    })
    .await?;
    let chat = |id: i64, kind: ChatKind| NewChat {
        id,
        kind,
        title: (kind != ChatKind::Private).then(|| "Форум".to_string()),
        username: None,
    };
    for j in 0..subscribers {
        fake.add_chat(chat(FIRST_SUBSCRIBER + j as i64, ChatKind::Private))?;
    }
    for w in 0..WRITERS {
        fake.add_chat(chat(FIRST_WRITER + w as i64, ChatKind::Private))?;
    }
    fake.add_chat(chat(CHANNEL, ChatKind::Channel))?;
    let db = BenchDb::new().await?;
    insert_subscribers(&db, subscribers).await?;

    let mut env = db.env();
    env.extend([
        ("NASVYAZI_TELEGRAM__API_BASE".into(), fake.base_url()),
        ("NASVYAZI_TELEGRAM__TOKEN".into(), TOKEN.into()),
        ("NASVYAZI_TELEGRAM__CHANNEL".into(), CHANNEL.to_string()),
        (
            "NASVYAZI_CONSULTATIONS__HOURS".into(),
            "Mon-Sun 00:00-24:00".into(),
        ),
        (
            "NASVYAZI_CONSULTATIONS__NEW_CONVERSATIONS_PER_MINUTE".into(),
            "100000".into(),
        ),
        (
            "NASVYAZI_CAMPAIGNS__QUIET_HOURS_START".into(),
            "00:00".into(),
        ),
        ("NASVYAZI_CAMPAIGNS__QUIET_HOURS_END".into(), "00:00".into()),
    ]);
    let front = spawn_service("front", &env)?;
    let notifier = spawn_service("notifier", &env)?;
    let (front_pid, notifier_pid) = (front.id(), notifier.id());
    let outcome = measure(&mut results, &fake, &db, subscribers).await;
    let peaks = (peak_rss_mib(front_pid), peak_rss_mib(notifier_pid));
    stop(front).await;
    stop(notifier).await;
    fake.stop().await?;
    db.drop().await;
    outcome?;
    if let (Some(i), Some(n)) = peaks {
        results.target(
            "push: front peak RSS",
            i,
            "MiB",
            "during the push (no target set; reported)",
            true,
        );
        results.target(
            "push: notifier peak RSS",
            n,
            "MiB",
            "during the push (no target set; reported)",
            true,
        );
    }
    Ok(results)
}

async fn measure(
    results: &mut Results,
    fake: &TelegramFake,
    db: &BenchDb,
    subscribers: usize,
) -> anyhow::Result<()> {
    // The notifier holds the sending lease, front the poller's.
    let leased = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM leases WHERE name LIKE 'telegram-%' AND expires_at > now()",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap_or(0)
    };
    let started = Instant::now();
    while leased().await < 2 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the services did not start"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Warm-up: the pressers ask to change their language, so that each has
    // a message with buttons under it.
    let pressers: Vec<i64> = (0..PRESSERS.min(subscribers))
        .map(|j| FIRST_SUBSCRIBER + j as i64)
        .collect();
    for p in &pressers {
        fake.inject_text(TOKEN, *p, *p, "/lang")?;
    }
    wait_until("the language keyboards", Duration::from_secs(120), || {
        pressers.iter().all(|p| !fake.sent_to(*p).is_empty())
    })
    .await?;
    let keyboards: Vec<(i64, i64)> = pressers
        .iter()
        .map(|p| (*p, fake.sent_to(*p)[0]["message_id"].as_i64().unwrap_or(0)))
        .collect();
    let warm = fake.timeline().len();
    let sent_before = fake.stats().sent;

    eprintln!(
        "   a campaign to {subscribers} subscribers and the channel; {WRITERS} writers and {PRESSERS} buttons in its first {} s ...",
        WINDOW.as_secs()
    );
    let occurrence = queue_campaign(db).await?;
    wait_until("the broadcast's start", Duration::from_secs(60), || {
        fake.timeline().len() > warm
    })
    .await?;
    let broadcast_start = Instant::now();
    let writers: Vec<i64> = (0..WRITERS).map(|w| FIRST_WRITER + w as i64).collect();
    let writes = async {
        let mut at = HashMap::new();
        let gap = WINDOW / WRITERS as u32;
        for (i, w) in writers.iter().enumerate() {
            tokio::time::sleep_until((broadcast_start + gap * i as u32).into()).await;
            at.insert(*w, Instant::now());
            let _ = fake.inject_text(TOKEN, *w, *w, "Помогите, друг не дышит");
        }
        at
    };
    let presses = async {
        let mut at = HashMap::new();
        let gap = WINDOW / keyboards.len().max(1) as u32;
        for (i, (chat, message)) in keyboards.iter().enumerate() {
            tokio::time::sleep_until((broadcast_start + gap * i as u32 + gap / 2).into()).await;
            let pressed = Instant::now();
            if let Ok(update) = fake.inject_callback(TOKEN, *chat, *chat, *message, "setlang:kk")
                && let Some(id) = update["callback_query"]["id"].as_str()
            {
                at.insert(id.to_string(), pressed);
            }
        }
        at
    };
    let (written, pressed) = tokio::join!(writes, presses);
    // The end: every delivery final and every writer answered.
    let final_count = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM deliveries WHERE ref_id = $1 AND status IN ('sent', 'failed', 'skipped')",
        )
        .bind(occurrence)
        .fetch_one(&db.pool)
        .await
        .unwrap_or(0)
    };
    let started = Instant::now();
    while final_count().await < subscribers as i64 + 1
        || writers.iter().any(|w| fake.sent_to(*w).is_empty())
    {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "the push did not finish in 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let timeline = fake.timeline();
    let mut answer_delays = Vec::new();
    let mut with_emergency = 0;
    for w in &writers {
        if let (Some(sent), Some(wrote)) =
            (timeline.iter().find(|m| m.chat_id == *w), written.get(w))
        {
            answer_delays.push(sent.at.saturating_duration_since(*wrote).as_secs_f64());
        }
        if fake
            .sent_to(*w)
            .first()
            .and_then(|m| m["text"].as_str())
            .is_some_and(|t| t.contains("103"))
        {
            with_emergency += 1;
        }
    }
    let mut button_delays: Vec<f64> = timeline
        .iter()
        .filter_map(|m| {
            let id = m.callback_query_id.as_ref()?;
            Some(
                m.at.saturating_duration_since(*pressed.get(id)?)
                    .as_secs_f64(),
            )
        })
        .collect();
    answer_delays.sort_by(f64::total_cmp);
    button_delays.sort_by(f64::total_cmp);
    // The bot's rate while the broadcast ran: every message it sent from
    // the broadcast's first to its last, over that time.
    let audience: HashSet<i64> = (0..subscribers as i64)
        .map(|j| FIRST_SUBSCRIBER + j)
        .chain([CHANNEL])
        .collect();
    let messages: Vec<_> = timeline[warm..]
        .iter()
        .filter(|m| m.callback_query_id.is_none())
        .collect();
    let first = messages.iter().position(|m| audience.contains(&m.chat_id));
    let last = messages.iter().rposition(|m| audience.contains(&m.chat_id));
    let rate = match (first, last) {
        (Some(f), Some(l)) if l > f => {
            let secs = messages[l]
                .at
                .saturating_duration_since(messages[f].at)
                .as_secs_f64();
            (l - f) as f64 / secs
        }
        _ => 0.0,
    };
    let refused = fake.count_429();
    eprintln!(
        "   {} messages sent in all, {} during the push",
        fake.stats().sent,
        fake.stats().sent - sent_before
    );
    results.target(
        "push: 429 answers from the Bot API fake",
        refused as f64,
        "count",
        "Telegram's limits enforced strictly; target 0",
        refused == 0,
    );
    let p50 = percentile(&answer_delays, 50.0);
    let p99 = percentile(&answer_delays, 99.0);
    results.target(
        &format!("push: automatic answer delay p99 ({WRITERS} writers during the broadcast)"),
        p99,
        "s",
        &format!(
            "target < 2 s and every writer given the emergency text (got {with_emergency}/{WRITERS}, {} answered; p50 {p50:.2} s)",
            answer_delays.len()
        ),
        p99 < 2.0 && with_emergency == WRITERS,
    );
    let b99 = percentile(&button_delays, 99.0);
    results.target(
        &format!("push: button answer delay p99 ({PRESSERS} presses during the broadcast)"),
        b99,
        "s",
        &format!(
            "target < 2 s ({} of {} answered; p50 {:.2} s)",
            button_delays.len(),
            pressed.len(),
            percentile(&button_delays, 50.0)
        ),
        b99 < 2.0 && button_delays.len() == pressed.len(),
    );
    results.target(
        "push: the bot's total sending rate while the broadcast runs",
        rate,
        "msg/s",
        "broadcast and answers over the broadcast's time; Bot API limit 30/s, target >= 29/s",
        rate >= 29.0,
    );
    Ok(())
}
