//! The person's side in the bot and the consultant's side in the admin API.

use nasvyazi_telegram_fake::Inject;
use nasvyazi_tests::{assert_no_plaintext, eventually, spawn_app_with, spawn_app_without_notifier};
use serde_json::json;

use super::*;
use crate::telegram::{declare, fake, new_chat, wait_sent};

#[tokio::test]
async fn a_person_writes_and_a_consultant_answers_without_either_being_exposed() {
    let fake = fake().await;
    let app = spawn_app_with(&config(&fake, "")).await;
    let token = consultant(&app).await;
    let chat = new_chat();
    declare(&fake, chat);
    let canary = format!(
        "друг передозировал canary-{}",
        uuid::Uuid::new_v4().simple()
    );

    // The person writes; the automatic answer comes at once, with the
    // emergency lines, and nobody on staff had to be there.
    fake.inject(Inject::Message {
        token: TOKEN.into(),
        from: chat,
        chat_id: Some(chat),
        text: format!("Здравствуйте, мне нужна помощь, {canary}"),
        first_name: Some("Канат Секретов".into()),
        username: Some("kanat_secret_acc".into()),
        language_code: Some("ru".into()),
    })
    .unwrap();
    let auto = wait_sent(&fake, chat, 1).await[0].clone();
    let text = auto["text"].as_str().unwrap();
    assert!(text.contains("103"), "the emergency text: {text}");
    assert!(text.contains("Mon-Sun 00:00-24:00"), "the hours: {text}");
    assert!(
        !text.contains("/start, /lang"),
        "not a list of commands: {text}"
    );

    // The inbox: a pseudonym, never the chat id.
    let list = inbox(&app, &token, 1).await;
    let item = &list[0];
    assert_eq!(item["state"], "open");
    assert_eq!(item["channel"], "telegram");
    assert_eq!(item["waiting_for"], "staff");
    assert!(item["assigned_to"].is_null());
    let pseudonym = item["pseudonym"].as_str().unwrap();
    assert!(pseudonym.starts_with("Гость "), "{pseudonym}");
    assert!(
        !list
            .iter()
            .any(|c| c.to_string().contains(&chat.to_string()))
    );
    let id = item["id"].as_str().unwrap().to_string();
    let number = item["number"].as_str().unwrap().to_string();

    // Reading it shows the message and the automatic answer, and is audited.
    let c = conversation_where(&app, &token, &number, |_| true).await;
    let messages = c["messages"].as_array().unwrap();
    assert_eq!(messages[0]["from"], "person");
    assert!(messages[0]["text"].as_str().unwrap().contains(&canary));
    assert_eq!(messages[1]["from"], "system");
    let shown = c.to_string();
    assert!(!shown.contains(&chat.to_string()), "no chat id shown");
    assert!(
        !shown.contains("Канат") && !shown.contains("kanat_secret_acc"),
        "no name or username shown"
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'conversation.read' AND target = $1",
    )
    .bind(format!("conversation:{id}"))
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(audited, 1);

    // Claim, reply: from the bot, as the organisation, protected, never
    // forwarded; delivered once and recorded as sent.
    assert_eq!(
        post(
            &app,
            &token,
            &format!("/api/v1/admin/conversations/{id}/claim"),
            json!({})
        )
        .await
        .0,
        204
    );
    let (status, stored) = post(
        &app,
        &token,
        &format!("/api/v1/admin/conversations/{id}/replies"),
        reply("<b>Вызовите 103.</b> Положите друга на бок и оставайтесь рядом."),
    )
    .await;
    assert_eq!(status, 201, "{stored}");
    let answer = wait_sent(&fake, chat, 2).await[1].clone();
    assert!(answer["text"].as_str().unwrap().contains("Вызовите 103"));
    let rec = records(&fake, chat);
    assert!(
        rec.iter().all(|r| r["has_forward_origin"] == false),
        "{rec:?}"
    );
    assert!(rec.iter().all(|r| r["method"] != "forwardMessage"));
    assert_eq!(rec[1]["protect_content"], true, "{:?}", rec[1]);
    let c = conversation_where(&app, &token, &id, |c| {
        c["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["delivery"] == "sent")
    })
    .await;
    assert_eq!(c["waiting_for"], "person");
    assert!(!c["assigned_to"].is_null());

    // The person answers with a photo; the console fetches it through the
    // proxy (the bot token never leaves the server).
    let photo = b"\xff\xd8\xff\xe0 not really a jpeg, but bytes".to_vec();
    fake.inject_photo(
        TOKEN,
        chat,
        photo.clone(),
        640,
        480,
        Some("вот что он принял"),
    )
    .unwrap();
    let c = conversation_where(&app, &token, &id, |c| {
        c["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["media"]["kind"] == "photo")
    })
    .await;
    assert_eq!(c["waiting_for"], "staff");
    let m = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["media"]["kind"] == "photo")
        .unwrap()
        .clone();
    assert_eq!(m["text"], "вот что он принял");
    assert!(
        m["media"].get("file_id").is_none(),
        "the file id stays inside"
    );
    let url = m["media"]["url"].as_str().unwrap();
    let r = app
        .http
        .get(app.url(url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.bytes().await.unwrap().to_vec(), photo);
    let r = app.http.get(app.url(url)).send().await.unwrap();
    assert_eq!(r.status(), 401, "no token, no file");

    // A canned answer, a note (never sent), tags, a referral.
    let (status, canned) = post(
        &app,
        &token,
        "/api/v1/admin/canned-answers",
        json!({"language": "ru", "title": "Налоксон", "body": "Налоксон выдают бесплатно: <b>пункты</b> на сайте."}),
    )
    .await;
    assert_eq!(status, 201, "{canned}");
    let (_, all) = get(&app, &token, "/api/v1/admin/canned-answers?language=ru").await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    let (status, _) = post(
        &app,
        &token,
        "/api/v1/admin/canned-answers",
        json!({"language": "ru", "title": "x", "body": "<script>x</script>"}),
    )
    .await;
    assert_eq!(status, 422, "Telegram would refuse it");
    let sent_before = fake.sent_to(chat).len();
    assert_eq!(
        post(
            &app,
            &token,
            &format!("/api/v1/admin/conversations/{id}/notes"),
            reply("похоже на опиоиды")
        )
        .await
        .0,
        201
    );
    assert_eq!(
        post(
            &app,
            &token,
            &format!("/api/v1/admin/conversations/{id}/tags"),
            json!({"tags": ["overdose"]})
        )
        .await
        .0,
        204
    );
    assert_eq!(
        post(
            &app,
            &token,
            &format!("/api/v1/admin/conversations/{id}/tags"),
            json!({"tags": ["nope"]})
        )
        .await
        .0,
        422
    );
    assert_eq!(
        post(
            &app,
            &token,
            &format!("/api/v1/admin/conversations/{id}/refer"),
            json!({"to": "lawyer"})
        )
        .await
        .0,
        204
    );
    let c = conversation_where(&app, &token, &id, |c| {
        c["notes"].as_array().unwrap().len() == 1
    })
    .await;
    assert_eq!(c["referred_to"], "lawyer");
    assert_eq!(c["tags"], json!(["overdose"]));
    assert!(
        c["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["text"] != "похоже на опиоиды")
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        fake.sent_to(chat).len(),
        sent_before,
        "notes are never sent"
    );

    // An organiser cannot read conversations.
    let organiser = app.token(Role::Organiser).await;
    assert_eq!(
        get(
            &app,
            &organiser,
            &format!("/api/v1/admin/conversations/{id}")
        )
        .await
        .0,
        403
    );
    // Not on the public listener at all.
    let r = app
        .http
        .get(app.public_url("/api/v1/admin/conversations"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Close: the person writing again opens a new conversation.
    assert_eq!(
        post(
            &app,
            &token,
            &format!("/api/v1/admin/conversations/{id}/close"),
            json!({})
        )
        .await
        .0,
        204
    );
    let (_, closed) = get(&app, &token, "/api/v1/admin/conversations?state=closed").await;
    assert_eq!(closed.as_array().unwrap().len(), 1);
    let (status, _) = post(
        &app,
        &token,
        &format!("/api/v1/admin/conversations/{id}/replies"),
        reply("поздно"),
    )
    .await;
    assert_eq!(status, 409, "a closed conversation takes no reply");

    // Retention: 91 days after closing it is erased, counted first.
    sqlx::query(
        "UPDATE conversations SET closed_at = now() - interval '91 days' WHERE id = $1::uuid",
    )
    .bind(&id)
    .execute(&app.infra.db)
    .await
    .unwrap();
    let erased =
        nasvyazi_front::consultations::retention::erase_expired(&app.infra.db, 90, "Asia/Almaty")
            .await
            .unwrap();
    assert_eq!(erased, 1);
    assert_eq!(
        get(&app, &token, &format!("/api/v1/admin/conversations/{id}"))
            .await
            .0,
        404
    );
    let counted: i64 = sqlx::query_scalar(
        "SELECT sum(conversations)::bigint FROM consultation_stats WHERE tag = 'overdose' AND resolution = 'answered'",
    )
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(counted, 1);
    let (status, stats) = get(&app, &token, "/api/v1/admin/conversations-stats").await;
    assert_eq!(status, 200);
    assert!(
        stats["total"].is_null(),
        "one conversation is a small cell: {stats}"
    );

    // Nothing of the person in logs, NATS or the database in plain text.
    assert_no_plaintext(&app, &canary).await;
    assert_no_plaintext(&app, &chat.to_string()).await;
    assert_no_plaintext(&app, "вот что он принял").await;
    assert_no_plaintext(&app, "kanat_secret_acc").await;
    assert_no_plaintext(&app, "Канат Секретов").await;
    app.stop().await;
    fake.stop().await.unwrap();
}

#[tokio::test]
async fn forget_erases_the_person_and_every_conversation() {
    let fake = fake().await;
    let app = spawn_app_with(&config(&fake, "")).await;
    let token = consultant(&app).await;
    let chat = new_chat();
    declare(&fake, chat);
    // A client in a language we do not have: the language is asked.
    fake.inject(Inject::Message {
        token: TOKEN.into(),
        from: chat,
        chat_id: Some(chat),
        text: "нужен юрист".into(),
        first_name: None,
        username: None,
        language_code: Some("de".into()),
    })
    .unwrap();
    wait_sent(&fake, chat, 1).await;
    let list = inbox(&app, &token, 1).await;
    let id = list[0]["id"].as_str().unwrap().to_string();
    // The language question was asked once (no language known).
    let sent = wait_sent(&fake, chat, 2).await;
    assert!(crate::telegram::buttons(&sent[1]).contains(&"clang:kk".to_string()));
    let mid = sent[1]["message_id"].as_i64().unwrap();
    fake.inject_callback(TOKEN, chat, chat, mid, "clang:kk")
        .unwrap();
    eventually(WAIT, || async {
        let (_, c) = get(&app, &token, &format!("/api/v1/admin/conversations/{id}")).await;
        (c["language"] == "kk").then_some(())
    })
    .await;

    fake.inject_text(TOKEN, chat, chat, "/forget").unwrap();
    let sent = wait_sent(&fake, chat, 3).await;
    assert!(
        sent[2]["text"].as_str().unwrap().contains("өшірдік"),
        "{}",
        sent[2]
    );
    let people: i64 = sqlx::query_scalar("SELECT count(*) FROM consultation_people")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(people, 0);
    assert_eq!(
        get(&app, &token, &format!("/api/v1/admin/conversations/{id}"))
            .await
            .0,
        404
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'consultation.person_erased' AND target IS NULL",
    )
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(audited, 1, "the audit says it happened, never whom");
    assert_no_plaintext(&app, "нужен юрист").await;
    app.stop().await;
    fake.stop().await.unwrap();
}

#[tokio::test]
async fn a_blocked_person_gets_no_answer_and_nothing_is_stored() {
    let fake = fake().await;
    let app = spawn_app_with(&config(&fake, "")).await;
    let token = consultant(&app).await;
    let chat = new_chat();
    declare(&fake, chat);
    fake.inject_text(TOKEN, chat, chat, "первое").unwrap();
    wait_sent(&fake, chat, 1).await;
    let id = inbox(&app, &token, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        post(
            &app,
            &token,
            &format!("/api/v1/admin/conversations/{id}/block"),
            json!({})
        )
        .await
        .0,
        204
    );
    let before = fake.sent_to(chat).len();
    fake.inject_text(TOKEN, chat, chat, "abuse abuse").unwrap();
    fake.inject_text(TOKEN, chat, chat, "/help").unwrap();
    // The /help answer proves the abuse message was processed before it.
    eventually(WAIT, || async {
        (fake.sent_to(chat).len() > before).then_some(())
    })
    .await;
    let messages: i64 =
        sqlx::query_scalar("SELECT count(*) FROM conversation_messages WHERE author = 'person'")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(messages, 1);
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM conversations WHERE state = 'open'")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(open, 0);
    app.stop().await;
    fake.stop().await.unwrap();
}

#[tokio::test]
async fn a_reply_whose_fate_is_unknown_after_a_crash_is_shown_so_and_never_sent_twice() {
    let fake = fake().await;
    let app = spawn_app_without_notifier(&config(&fake, "[letters]\nlease_secs = 2\n")).await;
    let token = consultant(&app).await;
    let chat = new_chat();
    declare(&fake, chat);
    fake.inject_text(TOKEN, chat, chat, "помогите").unwrap();
    wait_sent(&fake, chat, 1).await;
    let id = inbox(&app, &token, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = post(
        &app,
        &token,
        &format!("/api/v1/admin/conversations/{id}/replies"),
        reply("первый ответ"),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = post(
        &app,
        &token,
        &format!("/api/v1/admin/conversations/{id}/replies"),
        reply("второй ответ"),
    )
    .await;
    assert_eq!(status, 201);
    // The first was claimed by a notifier that died while sending.
    sqlx::query(
        "UPDATE conversation_messages SET delivery = 'sending', sending_at = now() - interval '1 hour'
         WHERE id = (SELECT id FROM conversation_messages WHERE author = 'staff' ORDER BY created_at LIMIT 1)",
    )
    .execute(&app.infra.db)
    .await
    .unwrap();
    let notifier = app.start_notifier().await;
    let c = conversation_where(&app, &token, &id, |c| {
        let d: Vec<_> = c["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["delivery"].as_str())
            .collect();
        d == ["unknown", "sent"]
    })
    .await;
    let unknown = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["delivery"] == "unknown")
        .unwrap()
        .clone();
    assert!(
        unknown["delivery_error"]
            .as_str()
            .unwrap()
            .contains("may or may not")
    );
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let texts: Vec<String> = fake
        .sent_to(chat)
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .collect();
    assert!(
        !texts.iter().any(|t| t.contains("первый ответ")),
        "never sent by itself: {texts:?}"
    );
    assert_eq!(
        texts.iter().filter(|t| t.contains("второй ответ")).count(),
        1
    );
    notifier.kill().await;
    app.stop().await;
    fake.stop().await.unwrap();
}

#[tokio::test]
async fn staff_are_alerted_with_the_number_only_and_floods_are_dropped() {
    let fake = fake().await;
    let staff_chat: i64 = -1_009_000_000_001;
    fake.add_chat(nasvyazi_telegram_fake::NewChat {
        id: staff_chat,
        kind: nasvyazi_telegram_fake::ChatKind::Supergroup,
        title: Some("Staff".into()),
        username: None,
    })
    .unwrap();
    let extra = format!(
        "{}\n[consultations]\nhours = \"Mon-Sun 00:00-24:00\"\nperson_messages_per_minute = 2\n",
        crate::telegram::config(&fake, &format!("staff_chat = \"{staff_chat}\""))
    );
    let app = spawn_app_with(&extra).await;
    let chat = new_chat();
    declare(&fake, chat);
    let secret = "героин передоз canary-alert";
    for i in 0..4 {
        fake.inject_text(TOKEN, chat, chat, &format!("{secret} {i}"))
            .unwrap();
    }
    let alert = eventually(WAIT, || async { fake.sent_to(staff_chat).first().cloned() }).await;
    let text = alert["text"].as_str().unwrap();
    assert!(text.contains("NS-"), "{text}");
    assert!(
        !text.contains("canary") && !text.contains(&chat.to_string()),
        "{text}"
    );
    // Two messages a minute from one person: the rest dropped unanswered.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM conversation_messages WHERE author = 'person'")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(stored, 2);
    assert_eq!(
        fake.sent_to(staff_chat).len(),
        1,
        "one alert per new conversation"
    );
    app.stop().await;
    fake.stop().await.unwrap();
}

#[tokio::test]
async fn a_conversation_waiting_too_long_alerts_staff_once_per_wait_even_without_telegram() {
    let app = spawn_app_with(
        "[consultations]\nhours = \"Mon-Sun 00:00-24:00\"\nstaff_email = \"staff@forum.example.kz\"\nalert_after_minutes = 30\n",
    )
    .await;
    let r = app
        .http
        .post(app.url("/api/v1/talk"))
        .json(&json!({"text": "жду ответа", "language": "ru"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let waiting = || async {
        nasvyazi_notifier::consultations::alert_waiting(&app.infra.db, &app.config)
            .await
            .unwrap()
    };
    assert_eq!(waiting().await, 0, "not waiting long yet");
    // The opening's page went out.
    eventually(WAIT, || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM conversation_alerts WHERE paged_at IS NOT NULL",
        )
        .fetch_one(&app.infra.db)
        .await
        .ok()
        .filter(|n| *n == 1)
    })
    .await;
    // 31 minutes pass: for the conversation and for the page its opening
    // sent (at most one page per alert_after_minutes).
    sqlx::query("UPDATE conversations SET waiting_since = now() - interval '31 minutes'")
        .execute(&app.infra.db)
        .await
        .unwrap();
    sqlx::query("UPDATE conversation_alerts SET paged_at = paged_at - interval '31 minutes'")
        .execute(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(waiting().await, 1);
    assert_eq!(waiting().await, 0, "once per wait");
    let queued: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deliveries d JOIN conversation_alerts a ON a.id = d.ref_id
         WHERE d.kind = 'consultation_alert' AND a.reason = 'waiting' AND d.channel = 'email'",
    )
    .fetch_one(&app.infra.db)
    .await
    .unwrap();
    assert_eq!(queued, 1);
    app.stop().await;
}
