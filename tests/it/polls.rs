//! Native Telegram polls (issue 17): the fake's sendPoll and stopPoll keep
//! Telegram's limits and words; an anonymous poll is sent to a registered
//! channel through the admin API, votes cast through the fake come back as
//! `poll` updates, and the counts and percentages show in the admin API
//! and as bars on the console page; a stopped poll takes no more votes.
//! A campaign's channel post can be a poll (`telegram_poll`): the channel
//! gets the text then the anonymous poll, subscribers the text only, and
//! the poll is counted and listed with its campaign.

use nasvyazi_shared::auth::Role;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_telegram_fake::{ChatKind, NewChat};
use nasvyazi_tests::webdriver::Browser;
use nasvyazi_tests::{NewContact, TestApp, eventually, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

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
        // The final state only: after 103's first vote the total is 3 too.
        (v["total_voter_count"] == 3 && v["options"][1]["voter_count"] == 1).then_some(v)
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

/// A one-shot campaign two seconds from now.
fn poll_campaign(channels: &[String], templates: Value) -> Value {
    let at = (chrono::Utc::now().with_timezone(&chrono_tz::Asia::Almaty)
        + chrono::Duration::seconds(2))
    .format("%Y-%m-%dT%H:%M:%S")
    .to_string();
    json!({
        "name": "Опрос недели",
        "schedule": {"kind": "once", "at": [at]},
        "audience": {"channels": channels},
        "templates": templates,
    })
}

#[tokio::test]
async fn a_campaign_posts_a_poll_to_its_channel_and_the_text_to_subscribers() {
    let fake = fake().await;
    let app = spawn_app_with(&config(
        &fake,
        "[campaigns]\nquiet_hours_start = \"00:00\"\nquiet_hours_end = \"00:00\"\n",
    ))
    .await;
    let organiser = app.token(Role::Organiser).await;
    let news = -1_001_777_000_171_i64;
    fake.add_chat(NewChat {
        id: news,
        kind: ChatKind::Channel,
        title: Some("Forum news".into()),
        username: Some("forum_campaign_polls".into()),
    })
    .unwrap();
    let (s, channel) = call(
        &app,
        &organiser,
        "POST",
        "/api/v1/admin/channels",
        Some(json!({"chat": "@forum_campaign_polls", "title": "Forum", "language": "ru"})),
    )
    .await;
    assert_eq!(s, 201, "{channel}");
    let channel_id: Uuid = channel["id"].as_str().unwrap().parse().unwrap();
    let person = 5_000_000_000_000 + (Uuid::new_v4().as_u128() % 1_000_000_000_000) as i64;
    fake.add_chat(NewChat {
        id: person,
        kind: ChatKind::Private,
        title: None,
        username: None,
    })
    .unwrap();
    let address = person.to_string();
    app.insert_contact(NewContact {
        channel: "telegram",
        language: "ru",
        ..NewContact::email(&address)
    })
    .await;
    let channels = vec![
        "telegram".to_string(),
        format!("telegram_channel:{channel_id}"),
    ];
    let poll = json!({"question": "Что публиковать чаще?",
        "options": ["Новости о ВИЧ", "Гепатит C", "Права пациентов ОЗТ"],
        "allows_multiple_answers": false});

    // Refused before anything is saved, naming the template's poll.
    for bad in [
        json!({"question": "Q?", "options": ["only one"]}),
        json!({"question": "q".repeat(301), "options": ["a", "b"]}),
        json!({"question": "Q?", "options": ["a", "b".repeat(101)]}),
        json!({"question": "Q?", "options": (0..13).map(|i| format!("o{i}")).collect::<Vec<_>>()}),
    ] {
        let (s, v) = call(
            &app,
            &organiser,
            "POST",
            "/api/v1/admin/campaigns",
            Some(poll_campaign(
                &channels,
                json!({"ru": {"telegram": "x", "telegram_poll": bad}}),
            )),
        )
        .await;
        assert_eq!(s, 422, "{v}");
        assert!(v.to_string().contains("templates.ru.telegram_poll"), "{v}");
    }

    let (s, created) = call(
        &app,
        &organiser,
        "POST",
        "/api/v1/admin/campaigns",
        Some(poll_campaign(
            &channels,
            json!({"ru": {"telegram": "<b>{{ campaign }}</b>: ответьте анонимно", "telegram_poll": poll}}),
        )),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["templates"]["ru"]["telegram_poll"], poll);
    let campaign = created["id"].as_str().unwrap().to_string();
    // The preview shows the poll for the channel post, not for direct messages.
    let preview = format!("/api/v1/admin/campaigns/{campaign}/preview");
    let (s, v) = call(
        &app,
        &organiser,
        "POST",
        &preview,
        Some(json!({"language": "ru", "channel": format!("telegram_channel:{channel_id}")})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["telegram_poll"], poll, "{v}");
    let (_, v) = call(
        &app,
        &organiser,
        "POST",
        &preview,
        Some(json!({"language": "ru", "channel": "telegram"})),
    )
    .await;
    assert_eq!(
        v["telegram"], "<b>Опрос недели</b>: ответьте анонимно",
        "{v}"
    );
    assert!(v.get("telegram_poll").is_none(), "{v}");
    let (s, v) = call(
        &app,
        &organiser,
        "POST",
        &format!("/api/v1/admin/campaigns/{campaign}/approve"),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    // The channel: the text, then the anonymous poll; once.
    eventually(WAIT, || async {
        (fake.sent_to(news).len() >= 2).then_some(())
    })
    .await;
    eventually(WAIT, || async {
        (!fake.sent_to(person).is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let records = fake.sent_records(Some(news));
    let methods: Vec<&str> = records
        .iter()
        .map(|r| r["method"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(methods, ["sendMessage", "sendPoll"], "{records:?}");
    let sent = fake.sent_to(news);
    assert_eq!(sent[0]["text"], "Опрос недели: ответьте анонимно");
    let tg = &sent[1]["poll"];
    assert_eq!(tg["is_anonymous"], true, "{tg}");
    assert_eq!(tg["question"], "Что публиковать чаще?");
    assert_eq!(tg["options"].as_array().unwrap().len(), 3);
    assert_eq!(tg["allows_multiple_answers"], false);
    let poll_id = tg["id"].as_str().unwrap().to_string();
    // The subscriber: the text only, never a poll.
    let direct = fake.sent_to(person);
    assert_eq!(direct.len(), 1, "{direct:?}");
    assert_eq!(direct[0]["text"], "Опрос недели: ответьте анонимно");
    assert!(direct[0].get("poll").is_none());
    let methods: Vec<Value> = fake
        .sent_records(Some(person))
        .into_iter()
        .map(|r| r["method"].clone())
        .collect();
    assert_eq!(methods, [json!("sendMessage")]);

    // The post: kind poll, both messages, the text's first.
    let ids = [
        sent[0]["message_id"].as_i64().unwrap(),
        sent[1]["message_id"].as_i64().unwrap(),
    ];
    let post: (Option<Uuid>, Vec<i64>, i64, bool, String) = sqlx::query_as(
        "SELECT channel_id, message_ids, text_message_id, text_is_caption, kind
         FROM campaign_posts WHERE campaign_id = $1::uuid",
    )
    .bind(&campaign)
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(
        post,
        (
            Some(channel_id),
            ids.to_vec(),
            ids[0],
            false,
            "poll".to_string()
        )
    );

    // Listed with its campaign; votes through the fake come back as counts.
    let (s, list) = call(&app, &organiser, "GET", "/api/v1/admin/polls", None).await;
    assert_eq!(s, 200);
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["campaign"] == campaign.as_str())
        .unwrap_or_else(|| panic!("the campaign's poll is listed: {list}"))
        .clone();
    assert_eq!(listed["channel"], channel_id.to_string());
    assert_eq!(listed["message_id"], ids[1]);
    assert_eq!(listed["is_anonymous"], true);
    fake.vote(&poll_id, 301, &[2]).unwrap();
    fake.vote(&poll_id, 302, &[2]).unwrap();
    fake.vote(&poll_id, 303, &[0]).unwrap();
    fake.vote(&poll_id, 304, &[2]).unwrap();
    let path = format!("/api/v1/admin/polls/{}", listed["id"].as_str().unwrap());
    let shown = eventually(WAIT, || async {
        let (_, v) = call(&app, &organiser, "GET", &path, None).await;
        (v["total_voter_count"] == 4).then_some(v)
    })
    .await;
    let counts: Vec<i64> = shown["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["voter_count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [1, 0, 3]);
    assert_eq!(shown["options"][2]["percent"], 75.0);
    assert_eq!(shown["campaign"], campaign.as_str());
    assert_eq!(fake.count_429(), 0);
    app.stop().await;
}
