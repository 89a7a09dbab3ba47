//! Native Telegram polls (issue 17): the fake's sendPoll and stopPoll keep
//! Telegram's limits and words; an anonymous poll is sent to a registered
//! channel through the admin API, votes cast through the fake come back as
//! `poll` updates, and the counts and percentages show in the admin API
//! and as bars on the console page; a stopped poll takes no more votes.

use nasvyazi_shared::auth::Role;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_telegram_fake::{ChatKind, NewChat};
use nasvyazi_tests::webdriver::Browser;
use nasvyazi_tests::{TestApp, eventually, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::console::{PASSWORD, user};
use crate::security::agent::{Agent, location};
use crate::telegram::{WAIT, bot_call, config, fake};

const CHANNEL: i64 = -1_001_777_000_017;

async fn call(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = match method {
        "POST" => app.http.post(app.url(path)),
        _ => app.http.get(app.url(path)),
    }
    .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_fake_keeps_telegrams_poll_limits() {
    let fake = fake().await;
    fake.add_chat(NewChat {
        id: CHANNEL,
        kind: ChatKind::Channel,
        title: Some("Forum".into()),
        username: Some("forum_polls_fake".into()),
    })
    .unwrap();
    let refused = |v: &Value| v["description"].as_str().unwrap_or_default().to_string();
    let v = bot_call(
        &fake,
        "sendPoll",
        json!({"chat_id": CHANNEL, "question": "Q?", "options": ["one"]}),
    )
    .await;
    assert_eq!(refused(&v), "Bad Request: poll must have at least 2 option");
    let many: Vec<String> = (0..13).map(|i| format!("o{i}")).collect();
    let v = bot_call(
        &fake,
        "sendPoll",
        json!({"chat_id": CHANNEL, "question": "Q?", "options": many}),
    )
    .await;
    assert_eq!(
        refused(&v),
        "Bad Request: poll can't have more than 12 options"
    );
    let v = bot_call(
        &fake,
        "sendPoll",
        json!({"chat_id": CHANNEL, "question": "q".repeat(301), "options": ["a", "b"]}),
    )
    .await;
    assert_eq!(
        refused(&v),
        "Bad Request: poll question length must not exceed 300"
    );
    let v = bot_call(
        &fake,
        "sendPoll",
        json!({"chat_id": CHANNEL, "question": "Q?", "options": ["a", "b".repeat(101)]}),
    )
    .await;
    assert_eq!(
        refused(&v),
        "Bad Request: poll options length must not exceed 100"
    );
    let v = bot_call(
        &fake,
        "sendPoll",
        json!({"chat_id": CHANNEL, "question": "Q?", "options": ["a", "b"], "is_anonymous": false}),
    )
    .await;
    assert_eq!(v["ok"], false, "{v}");

    // Anonymous by default; InputPollOption objects or strings.
    let v = bot_call(
        &fake,
        "sendPoll",
        json!({"chat_id": "@forum_polls_fake", "question": " Q? ",
        "options": [{"text": "a"}, "b"], "allows_multiple_answers": true}),
    )
    .await;
    assert_eq!(v["ok"], true, "{v}");
    let poll = &v["result"]["poll"];
    assert_eq!(poll["question"], "Q?");
    assert_eq!(poll["is_anonymous"], true);
    assert_eq!(poll["allows_multiple_answers"], true);
    assert_eq!(
        poll["options"],
        json!([{"text": "a", "voter_count": 0}, {"text": "b", "voter_count": 0}])
    );
    let id = poll["id"].as_str().unwrap().to_string();
    let message_id = v["result"]["message_id"].as_i64().unwrap();
    let after = fake.vote(&id, 7, &[0, 1]).unwrap();
    assert_eq!(after["total_voter_count"], 1);
    assert!(fake.vote(&id, 7, &[5]).is_err());

    let v = bot_call(
        &fake,
        "stopPoll",
        json!({"chat_id": CHANNEL, "message_id": message_id}),
    )
    .await;
    assert_eq!(v["result"]["is_closed"], true, "{v}");
    assert_eq!(v["result"]["options"][1]["voter_count"], 1);
    let v = bot_call(
        &fake,
        "stopPoll",
        json!({"chat_id": CHANNEL, "message_id": message_id}),
    )
    .await;
    assert_eq!(refused(&v), "Bad Request: poll has already been closed");
    assert!(
        fake.vote(&id, 8, &[0]).is_err(),
        "a closed poll takes no votes"
    );
    // The channel's message shows the closed poll.
    assert_eq!(
        fake.sent_to(CHANNEL).last().unwrap()["poll"]["is_closed"],
        true
    );
}

#[tokio::test]
async fn a_channel_poll_is_sent_counted_from_poll_updates_and_shown() {
    let fake = fake().await;
    let app = spawn_app_with(&config(&fake, "")).await;
    let organiser = app.token(Role::Organiser).await;
    let caseworker = app.token(Role::Caseworker).await;
    fake.add_chat(NewChat {
        id: CHANNEL,
        kind: ChatKind::Channel,
        title: Some("Forum news".into()),
        username: Some("forum_polls".into()),
    })
    .unwrap();
    let (s, channel) = call(
        &app,
        &organiser,
        "POST",
        "/api/v1/admin/channels",
        Some(json!({"chat": "@forum_polls", "title": "Forum polls", "language": "ru"})),
    )
    .await;
    assert_eq!(s, 201, "{channel}");
    let channel = channel["id"].as_str().unwrap().to_string();

    // Checked before anything is sent; caseworkers may not.
    let bad = json!({"channel": channel, "question": "Q?", "options": ["only one"]});
    let (s, v) = call(&app, &organiser, "POST", "/api/v1/admin/polls", Some(bad)).await;
    assert_eq!(s, 422, "{v}");
    let good = json!({"channel": channel, "question": "Что публиковать чаще?",
        "options": ["Новости о ВИЧ", "Гепатит C", "Права пациентов ОЗТ"], "allows_multiple_answers": false});
    let (s, _) = call(
        &app,
        &caseworker,
        "POST",
        "/api/v1/admin/polls",
        Some(good.clone()),
    )
    .await;
    assert_eq!(s, 403);
    assert!(fake.sent_to(CHANNEL).is_empty());

    // Sent now, anonymous.
    let (s, poll) = call(&app, &organiser, "POST", "/api/v1/admin/polls", Some(good)).await;
    assert_eq!(s, 201, "{poll}");
    assert_eq!(poll["total_voter_count"], 0);
    assert_eq!(poll["is_anonymous"], true);
    assert_eq!(poll["closed"], false);
    let id = poll["id"].as_str().unwrap().to_string();
    let sent = fake.sent_to(CHANNEL);
    assert_eq!(sent.len(), 1);
    let tg = &sent[0]["poll"];
    assert_eq!(tg["is_anonymous"], true);
    assert_eq!(tg["question"], "Что публиковать чаще?");
    let poll_id = tg["id"].as_str().unwrap().to_string();

    // Votes through the fake: a change of mind and a retracted vote too.
    fake.vote(&poll_id, 101, &[0]).unwrap();
    fake.vote(&poll_id, 102, &[0]).unwrap();
    fake.vote(&poll_id, 103, &[2]).unwrap();
    fake.vote(&poll_id, 104, &[2]).unwrap();
    fake.vote(&poll_id, 104, &[1]).unwrap();
    fake.vote(&poll_id, 103, &[]).unwrap();
    assert!(
        fake.vote(&poll_id, 105, &[0, 1]).is_err(),
        "one answer only"
    );
    let path = format!("/api/v1/admin/polls/{id}");
    let shown = eventually(WAIT, || async {
        let (_, v) = call(&app, &organiser, "GET", &path, None).await;
        (v["total_voter_count"] == 3).then_some(v)
    })
    .await;
    let counts: Vec<i64> = shown["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["voter_count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [2, 1, 0]);
    let percents: Vec<f64> = shown["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["percent"].as_f64().unwrap())
        .collect();
    assert_eq!(percents, [66.7, 33.3, 0.0]);
    let (s, list) = call(&app, &organiser, "GET", "/api/v1/admin/polls", None).await;
    assert_eq!(s, 200);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == id.as_str())
    );
    let (s, _) = call(&app, &caseworker, "GET", "/api/v1/admin/polls", None).await;
    assert_eq!(s, 403);

    // The console shows the bars (server-side SVG), in the person's language.
    user(
        &app,
        Role::Organiser,
        "Organiser",
        "polls-org@forum.example.kz",
        Lang::Kk,
    )
    .await;
    let mut a = Agent::new(&app);
    let r = a.sign_in("polls-org@forum.example.kz", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = a.get("/admin/polls").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Что публиковать чаще?"), "{html}");
    assert!(html.contains("Арналардағы сауалнамалар"), "in Kazakh");
    assert!(
        html.contains("<svg") && html.contains("width=\"66.7\""),
        "a bar of 66.7%"
    );
    assert!(html.contains("2 · 66.7%"), "{html}");
    // Sent from the console too (options one per line); refused when short.
    let csrf = a.csrf("/admin/polls").await;
    let r = a
        .post(
            "/admin/polls",
            &[
                ("csrf", csrf.as_str()),
                ("channel", channel.as_str()),
                ("question", "Ещё вопрос?"),
                ("options", "Да\r\nНет\r\n"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).ends_with("done=sent"), "{}", location(&r));
    assert_eq!(fake.sent_to(CHANNEL).len(), 2);
    let r = a
        .post(
            "/admin/polls",
            &[
                ("csrf", csrf.as_str()),
                ("channel", channel.as_str()),
                ("question", "Третий?"),
                ("options", "Один"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fake.sent_to(CHANNEL).len(), 2);

    // Stopped: closed, final counts kept, no more votes, a second stop 409.
    let (s, stopped) = call(
        &app,
        &organiser,
        "POST",
        &format!("{path}/stop"),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 200, "{stopped}");
    assert_eq!(stopped["closed"], true);
    assert_eq!(stopped["total_voter_count"], 3);
    assert!(fake.vote(&poll_id, 106, &[1]).is_err());
    let (s, _) = call(
        &app,
        &organiser,
        "POST",
        &format!("{path}/stop"),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 409);
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action IN ('poll.create', 'poll.stop') AND target = $1")
        .bind(&id)
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(audited, 2);
    app.stop().await;
}

/// The console page in Kazakh on a 360-pixel screen: nothing wider than
/// the screen (`target/screenshots/console-polls-kk.png`, for eyes).
#[tokio::test]
async fn the_polls_page_fits_a_small_phone() {
    let fake = fake().await;
    let app = spawn_app_with(&config(&fake, "")).await;
    let organiser = app.token(Role::Organiser).await;
    fake.add_chat(NewChat {
        id: CHANNEL,
        kind: ChatKind::Channel,
        title: Some("Forum news".into()),
        username: Some("forum_polls".into()),
    })
    .unwrap();
    let (_, channel) = call(
        &app,
        &organiser,
        "POST",
        "/api/v1/admin/channels",
        Some(json!({"chat": "@forum_polls", "title": "Forum polls", "language": "kk"})),
    )
    .await;
    let poll = json!({"channel": channel["id"], "question": "Арнада не туралы жиірек жазу керек? Гепатит, АИТВ немесе ОАТ пациенттерінің құқықтары туралы ұзын сұрақ",
        "options": ["АИТВ туралы жаңалықтар мен профилактика", "С гепатиті", "ОАТ пациенттерінің құқықтары және ауруханадағы метадон"]});
    let (s, poll) = call(&app, &organiser, "POST", "/api/v1/admin/polls", Some(poll)).await;
    assert_eq!(s, 201, "{poll}");
    let poll_id = fake.sent_to(CHANNEL)[0]["poll"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    fake.vote(&poll_id, 201, &[2]).unwrap();
    fake.vote(&poll_id, 202, &[0]).unwrap();
    let path = format!("/api/v1/admin/polls/{}", poll["id"].as_str().unwrap());
    eventually(WAIT, || async {
        let (_, v) = call(&app, &organiser, "GET", &path, None).await;
        (v["total_voter_count"] == 2).then_some(())
    })
    .await;
    user(
        &app,
        Role::Organiser,
        "Ұйымдастырушы",
        "polls-kk@forum.example.kz",
        Lang::Kk,
    )
    .await;
    let b = Browser::start().await;
    b.goto(&app.url("/admin")).await;
    b.wait_url("/admin/sign-in").await;
    b.find("input[name=email]")
        .await
        .send_keys("polls-kk@forum.example.kz")
        .await;
    b.find("input[name=password]")
        .await
        .send_keys(PASSWORD)
        .await;
    b.find("form[action^='/admin/sign-in?'] button[type=submit]")
        .await
        .click()
        .await;
    b.find("nav.menu").await;
    b.goto(&app.url("/admin/polls")).await;
    b.wait_text("h1", "Арналардағы сауалнамалар").await;
    let wide = b.overflowing().await;
    assert!(wide.is_empty(), "wider than the screen: {wide:?}");
    b.screenshot_full("console-polls-kk").await;
    b.quit().await;
    app.stop().await;
}
